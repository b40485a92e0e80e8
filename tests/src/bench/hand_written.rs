//! The greeting handlers written by hand against aws-sdk-dynamodb, with no library in between:
//! what the macro handlers are measured against.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, BatchStatementRequest, DeleteRequest, Put, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, WriteRequest,
};
use outbox_runtime::table::attributes as attr;
use outbox_runtime::table::shard_of_key;
use outbox_runtime::transport::Producer;
use outbox_runtime::{Cleanup, DynamoDb, Message, OutboxConfig};

use super::fixtures::{AddGreeting, GREETING_TOPIC, Greet, GreetingMade, VERSION};

/// An error of the hand-written handler.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The greeting handlers written by hand against aws-sdk-dynamodb: the same items, the same
/// conditional put of each message, the same client request token and consumed-capacity
/// setting, the same send, and the same marking as the runtime, with no library in between.
/// [`HandWritten::handle`] is [`MacroHandler::handle`](super::MacroHandler::handle);
/// [`HandWritten::greet`] (over a versioned people table) is
/// [`ReadModifyWrite::handle`](super::ReadModifyWrite::handle).
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
        let created_ms = now_ms();
        let mut messages = Vec::with_capacity(call.messages);
        for n in 0..call.messages {
            let (action, message) = self.deposit(&call.event(n), n, created_ms)?;
            actions.push(action);
            messages.push(message);
        }
        self.commit_send_and_mark(actions, &messages).await
    }

    /// The read-modify-write handler ([`Greet`]): reads the person consistently (`GetItem`),
    /// appends the greeting, and puts the person back under the condition that its version is
    /// the one read (the condition and the version the runtime writes for a table declared
    /// with `TableSchema::with_version("Version")`), with the message's conditional put in the
    /// same `TransactWriteItems`; then the same send and mark.
    ///
    /// # Errors
    /// A person that does not exist, or is not a person; the SDK's error (a changed version
    /// included: this handler does not run again).
    pub async fn greet(&self, call: Greet) -> Result<(), BoxError> {
        let output = self
            .db
            .client()
            .get_item()
            .table_name(&self.people)
            .key("Name", AttributeValue::S(call.name.clone()))
            .consistent_read(true)
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .send()
            .await?;
        let item = output
            .item
            .ok_or_else(|| format!("there is no person named `{}`", call.name))?;
        let Some(AttributeValue::L(greetings)) = item.get("Greetings") else {
            return Err(format!("person `{}` has no list of greetings", call.name).into());
        };
        let version: u64 = match item.get(VERSION) {
            None => 0,
            Some(AttributeValue::N(number)) => number.parse()?,
            Some(_) => {
                return Err(
                    format!("person `{}` has a version that is no number", call.name).into(),
                );
            }
        };
        let mut greetings = greetings.clone();
        greetings.push(AttributeValue::S(call.greeting.clone()));
        // The runtime's guard: an item at version 0 may also lack the attribute.
        let condition = if version == 0 {
            "attribute_exists(#__outbox_key) AND (attribute_not_exists(#__outbox_version) OR \
             #__outbox_version = :__outbox_version_read)"
        } else {
            "#__outbox_version = :__outbox_version_read"
        };
        let mut put = Put::builder()
            .table_name(&self.people)
            .item("Name", AttributeValue::S(call.name.clone()))
            .item("Greetings", AttributeValue::L(greetings))
            .item(VERSION, AttributeValue::N((version + 1).to_string()))
            .condition_expression(condition)
            .expression_attribute_names("#__outbox_version", VERSION)
            .expression_attribute_values(
                ":__outbox_version_read",
                AttributeValue::N(version.to_string()),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if version == 0 {
            put = put.expression_attribute_names("#__outbox_key", "Name");
        }
        let (deposit, message) = self.deposit(&call.event(), 0, now_ms())?;
        let actions = vec![
            TransactWriteItem::builder().put(put.build()?).build(),
            deposit,
        ];
        self.commit_send_and_mark(actions, &[message]).await
    }

    /// The conditional put of the `n`-th message of a call, as the runtime stores it, and the
    /// message to send.
    fn deposit(
        &self,
        event: &GreetingMade,
        n: usize,
        created_ms: u128,
    ) -> Result<(TransactWriteItem, Message), BoxError> {
        let body = serde_json::to_vec(event)?;
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
                AttributeValue::N(shard_of_key(&event.name, self.outbox.shard_count).to_string()),
            )
            .item(attr::ORDER_KEY, order.clone())
            .item(attr::OUTSTANDING_SINCE, order)
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", attr::MESSAGE_ID)
            .build()?;
        let message = Message::new(GREETING_TOPIC, body)
            .with_id(id)
            .with_partition_key(event.name.clone());
        Ok((TransactWriteItem::builder().put(put).build(), message))
    }

    /// Commits `actions` in one `TransactWriteItems` (with a client request token and the
    /// consumed capacity asked for), sends `messages` in one batch, marks the sent ones.
    async fn commit_send_and_mark(
        &self,
        actions: Vec<TransactWriteItem>,
        messages: &[Message],
    ) -> Result<(), BoxError> {
        self.db
            .client()
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
        let results = self.producer.send_batch(messages).await;
        let sent: Vec<String> = messages
            .iter()
            .zip(results)
            .filter(|(_, result)| result.is_ok())
            .map(|(message, _)| message.header.id.to_string())
            .collect();
        self.mark(&sent).await
    }

    async fn mark(&self, ids: &[String]) -> Result<(), BoxError> {
        match self.outbox.cleanup {
            Cleanup::Delete => {
                for chunk in ids.chunks(BATCH_WRITE_LIMIT) {
                    mark_chunk(&self.db, &self.outbox, chunk).await?;
                }
            }
            Cleanup::Keep { .. } => {
                let calls = ids
                    .chunks(BATCH_WRITE_LIMIT)
                    .map(|chunk| mark_chunk(&self.db, &self.outbox, chunk));
                for result in futures_util::future::join_all(calls).await {
                    result?;
                }
            }
        }
        Ok(())
    }
}

/// Milliseconds since the epoch.
fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis())
}

/// Marks up to 25 sent messages of `outbox` with one request, as the runtime does: a
/// `BatchWriteItem` of deletes (`delete`), or a `BatchExecuteStatement` of conditional PartiQL
/// updates that set the dispatch time and the TTL and leave the index (`keep`).
///
/// # Errors
/// The SDK's error; a delete left unprocessed, or a statement refused for another reason than
/// the message being marked already.
pub(super) async fn mark_chunk(
    db: &DynamoDb,
    outbox: &OutboxConfig,
    chunk: &[String],
) -> Result<(), BoxError> {
    let client = db.client();
    match outbox.cleanup {
        Cleanup::Delete => {
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
                .request_items(&outbox.table_name, requests)
                .set_return_consumed_capacity(db.consumed_capacity())
                .send()
                .await?;
            if output
                .unprocessed_items()
                .is_some_and(|tables| !tables.is_empty())
            {
                return Err("BatchWriteItem left deletes unprocessed".into());
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
                outbox.table_name,
                attr::DISPATCHED_AT,
                attr::EXPIRES_AT,
                attr::MESSAGE_ID,
                since = attr::OUTSTANDING_SINCE,
            );
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
            let output = client
                .batch_execute_statement()
                .set_statements(Some(statements))
                .set_return_consumed_capacity(db.consumed_capacity())
                .send()
                .await?;
            let refused = output
                .responses()
                .iter()
                .filter_map(|response| response.error()?.code())
                .any(|code| code.as_str() != "ConditionalCheckFailed");
            if refused {
                return Err("BatchExecuteStatement refused a mark".into());
            }
        }
    }
    Ok(())
}
