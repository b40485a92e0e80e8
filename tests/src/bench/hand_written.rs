//! The greeting handler written by hand against aws-sdk-dynamodb, with no library in between:
//! what the macro handler is measured against.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, BatchStatementRequest, DeleteRequest, Put, ReturnConsumedCapacity,
    TransactWriteItem, WriteRequest,
};
use outbox_runtime::table::attributes as attr;
use outbox_runtime::table::shard_of_key;
use outbox_runtime::transport::Producer;
use outbox_runtime::{Cleanup, DynamoDb, Message, OutboxConfig};

use super::fixtures::{AddGreeting, GREETING_TOPIC};

/// An error of the hand-written handler.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The greeting handler written by hand against aws-sdk-dynamodb: the same items, the same
/// conditional put of each message, the same client request token and consumed-capacity
/// setting, the same send, and the same marking as the runtime, with no library in between.
pub struct HandWritten<P> {
    db: DynamoDb,
    outbox: OutboxConfig,
    people: String,
    producer: Arc<P>,
}

impl<P> std::fmt::Debug for HandWritten<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandWritten")
            .field("outbox", &self.outbox.table_name)
            .finish_non_exhaustive()
    }
}

/// Items per `BatchWriteItem`, statements per `BatchExecuteStatement` (DynamoDB's limits).
const BATCH_WRITE_LIMIT: usize = 25;

impl<P: Producer> HandWritten<P> {
    /// A handler writing to `outbox` and `people` through `db`, sending with `producer`.
    pub fn new(
        db: DynamoDb,
        outbox: OutboxConfig,
        people: impl Into<String>,
        producer: Arc<P>,
    ) -> Self {
        Self {
            db,
            outbox,
            people: people.into(),
            producer,
        }
    }

    /// Puts the person (when asked) and the messages in one `TransactWriteItems`, sends the
    /// messages, marks the sent ones.
    ///
    /// # Errors
    /// The SDK's error, or a body that does not serialize.
    pub async fn handle(&self, call: AddGreeting) -> Result<(), BoxError> {
        let client = self.db.client();
        let mut actions = Vec::with_capacity(call.messages + 1);
        if call.entity {
            let put = Put::builder()
                .table_name(&self.people)
                .item("Name", AttributeValue::S(call.name.clone()))
                .item(
                    "Greetings",
                    AttributeValue::L(vec![AttributeValue::S(call.greeting.clone())]),
                )
                .build()?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        let created_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis());
        let mut messages = Vec::with_capacity(call.messages);
        for n in 0..call.messages {
            let event = call.event(n);
            let body = serde_json::to_vec(&event)?;
            let id = event.id.to_string();
            let order = AttributeValue::N(format!("{created_ms}.{n:09}"));
            let put = Put::builder()
                .table_name(&self.outbox.table_name)
                .item(attr::MESSAGE_ID, AttributeValue::S(id.clone()))
                .item(attr::TOPIC, AttributeValue::S(GREETING_TOPIC.to_owned()))
                .item(attr::MESSAGE_TYPE, AttributeValue::S("event".to_owned()))
                .item(
                    attr::CONTENT_TYPE,
                    AttributeValue::S("application/json".to_owned()),
                )
                .item(attr::PARTITION_KEY, AttributeValue::S(event.name.clone()))
                .item(attr::CREATED_AT, AttributeValue::N(created_ms.to_string()))
                .item(attr::BODY, AttributeValue::B(Blob::new(body.clone())))
                .item(
                    attr::SHARD,
                    AttributeValue::N(
                        shard_of_key(&event.name, self.outbox.shard_count).to_string(),
                    ),
                )
                .item(attr::ORDER_KEY, order.clone())
                .item(attr::OUTSTANDING_SINCE, order)
                .condition_expression("attribute_not_exists(#id)")
                .expression_attribute_names("#id", attr::MESSAGE_ID)
                .build()?;
            actions.push(TransactWriteItem::builder().put(put).build());
            messages.push(
                Message::new(GREETING_TOPIC, body)
                    .with_id(id)
                    .with_partition_key(event.name),
            );
        }
        client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .client_request_token(uuid::Uuid::now_v7().to_string())
            .return_consumed_capacity(
                self.db
                    .consumed_capacity()
                    .unwrap_or(ReturnConsumedCapacity::Total),
            )
            .send()
            .await?;
        let results = self.producer.send_batch(&messages).await;
        let sent: Vec<String> = messages
            .iter()
            .zip(results)
            .filter(|(_, result)| result.is_ok())
            .map(|(message, _)| message.header.id.to_string())
            .collect();
        self.mark(&sent).await
    }

    async fn mark(&self, ids: &[String]) -> Result<(), BoxError> {
        let client = self.db.client();
        match self.outbox.cleanup {
            Cleanup::Delete => {
                for chunk in ids.chunks(BATCH_WRITE_LIMIT) {
                    let requests = chunk
                        .iter()
                        .map(|id| {
                            let delete = DeleteRequest::builder()
                                .key(attr::MESSAGE_ID, AttributeValue::S(id.clone()))
                                .build()?;
                            Ok(WriteRequest::builder().delete_request(delete).build())
                        })
                        .collect::<Result<Vec<_>, BoxError>>()?;
                    let output = client
                        .batch_write_item()
                        .request_items(&self.outbox.table_name, requests)
                        .set_return_consumed_capacity(self.db.consumed_capacity())
                        .send()
                        .await?;
                    if output
                        .unprocessed_items()
                        .is_some_and(|tables| !tables.is_empty())
                    {
                        return Err("BatchWriteItem left deletes unprocessed".into());
                    }
                }
            }
            Cleanup::Keep { retention } => {
                let now = SystemTime::now();
                let dispatched = now
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.as_millis());
                let expires = (now + retention)
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.as_secs());
                let statement = format!(
                    "UPDATE \"{}\" SET \"{}\" = ? SET \"{}\" = ? REMOVE \"{since}\" WHERE \"{}\" = ? \
                     AND \"{since}\" IS NOT MISSING",
                    self.outbox.table_name,
                    attr::DISPATCHED_AT,
                    attr::EXPIRES_AT,
                    attr::MESSAGE_ID,
                    since = attr::OUTSTANDING_SINCE,
                );
                let calls = ids
                    .chunks(BATCH_WRITE_LIMIT)
                    .map(|chunk| {
                        let statements = chunk
                            .iter()
                            .map(|id| {
                                BatchStatementRequest::builder()
                                    .statement(&statement)
                                    .parameters(AttributeValue::N(dispatched.to_string()))
                                    .parameters(AttributeValue::N(expires.to_string()))
                                    .parameters(AttributeValue::S(id.clone()))
                                    .build()
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok(client
                            .batch_execute_statement()
                            .set_statements(Some(statements))
                            .set_return_consumed_capacity(self.db.consumed_capacity())
                            .send())
                    })
                    .collect::<Result<Vec<_>, BoxError>>()?;
                for output in futures_util::future::join_all(calls).await {
                    let refused = output?
                        .responses()
                        .iter()
                        .filter_map(|response| response.error()?.code())
                        .any(|code| code.as_str() != "ConditionalCheckFailed");
                    if refused {
                        return Err("BatchExecuteStatement refused a mark".into());
                    }
                }
            }
        }
        Ok(())
    }
}
