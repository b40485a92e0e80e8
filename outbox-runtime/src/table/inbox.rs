//! The inbox: one item per incoming message and consumer, written in the consumer's own
//! transaction, so that a duplicate delivery applies nothing.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use futures_util::FutureExt as _;

use crate::client::DynamoDb;
use crate::error::{Error, Result};
use crate::message::{Item, Message, MessageId};
use crate::table::attributes::inbox::{CONSUMER, DEPOSITED, EXPIRES_AT, HANDLED_AT, MESSAGE_ID};
use crate::table::{EnsureOutcome, KeyAttribute, KeyKind, TableSchema};
use crate::time::{now_millis, to_millis};

/// The inbox table's name when none is given.
pub const DEFAULT_INBOX_TABLE: &str = "OutboxInbox";

/// How long an inbox item is kept when no retention is given: 15 days, a day more than the
/// longest time SQS keeps a message (14 days), so no delivery outlives the record of its
/// first handling.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(15 * 24 * 60 * 60);

/// Where a consumer records the messages it handled.
///
/// Handling an incoming message adds one conditional put to the handler's
/// `TransactWriteItems`: the item keyed by the message's outbox id (stable across re-sends,
/// unlike a queue's own message id) and the consumer's name, on condition that it does not
/// exist. A second delivery of the same message fails that condition, so the transaction,
/// with the handler's entity writes and deposits, applies nothing, and the commit returns
/// [`Error::DuplicateDelivery`]: acknowledge the delivery. The happy path costs no read: one
/// more item in the transaction, two write units (a transactional write of an item under 1 KB).
///
/// The inbox has a table of its own, so the outbox table's stream, its index and the sweeper's
/// queries never see inbox items, and the retention (a TTL) is the inbox's alone. Several
/// consumers of one message share the table: each has its own item, and each handles the
/// message once.
///
/// ```
/// use std::time::Duration;
/// use outbox_runtime::consumer::Inbox;
///
/// let inbox = Inbox::new("greeting-counter").with_retention(Duration::from_secs(20 * 86_400));
/// assert_eq!(inbox.table_name(), "OutboxInbox");
/// assert_eq!(inbox.consumer(), "greeting-counter");
/// let schema = inbox.table_schema();
/// assert_eq!(schema.ttl_attribute.as_deref(), Some("ExpiresAt"));
/// # inbox.validate()?;
/// # Ok::<(), outbox_runtime::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbox {
    table_name: String,
    consumer: String,
    retention: Duration,
}

impl Inbox {
    /// The inbox of consumer `consumer`, in the table [`DEFAULT_INBOX_TABLE`], kept
    /// [`DEFAULT_RETENTION`].
    pub fn new(consumer: impl Into<String>) -> Self {
        Self {
            table_name: DEFAULT_INBOX_TABLE.to_owned(),
            consumer: consumer.into(),
            retention: DEFAULT_RETENTION,
        }
    }

    /// Keeps the items in another table.
    pub fn with_table_name(mut self, table_name: impl Into<String>) -> Self {
        self.table_name = table_name.into();
        self
    }

    /// Keeps each item `retention` after its handling (its TTL). Keep it at least as long as
    /// the longest a message can be delivered again: the queue's retention, plus any time in a
    /// dead-letter queue before a redrive.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The inbox table.
    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    /// The consumer's name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// How long an item is kept.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an empty table or consumer name, or a retention under one
    /// second.
    pub fn validate(&self) -> Result<()> {
        if self.table_name.trim().is_empty() {
            return Err(Error::InvalidConfig(
                "the inbox table name is empty; leave the default `OutboxInbox` or name a table"
                    .to_owned(),
            ));
        }
        if self.consumer.trim().is_empty() {
            return Err(Error::InvalidConfig(
                "the inbox's consumer name is empty; name the consumer (it keys the inbox items, \
                 so two consumers of one message each handle it once)"
                    .to_owned(),
            ));
        }
        if self.retention < Duration::from_secs(1) {
            return Err(Error::InvalidConfig(format!(
                "inbox retention {:?} is under one second; keep items at least as long as a \
                 message can be delivered again (the default is 15 days)",
                self.retention
            )));
        }
        Ok(())
    }

    /// The inbox table's schema: hash key `MessageId`, range key `Consumer`, TTL `ExpiresAt`.
    pub fn table_schema(&self) -> TableSchema {
        TableSchema::new(
            self.table_name.clone(),
            KeyAttribute::new(MESSAGE_ID, KeyKind::String),
        )
        .with_range_key(KeyAttribute::new(CONSUMER, KeyKind::String))
        .with_ttl(EXPIRES_AT)
    }

    /// Creates the inbox table if it does not exist (with its TTL), and waits until it is
    /// ready; for local development and tests; in production, create it with the service's
    /// infrastructure code from [`Inbox::table_schema`].
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] when a table of that name exists with another key.
    pub async fn ensure_table(&self, db: &DynamoDb) -> Result<EnsureOutcome> {
        self.validate()?;
        self.table_schema().ensure(db).await
    }

    /// Whether this consumer's inbox holds `id` (one strongly consistent `GetItem`): for
    /// operations and tests; handling never reads the inbox.
    ///
    /// # Errors
    /// As any DynamoDB read: [`Error::Unreachable`], [`Error::TableNotFound`].
    pub async fn contains(&self, db: &DynamoDb, id: &MessageId) -> Result<bool> {
        let output = db
            .client()
            .get_item()
            .table_name(&self.table_name)
            .set_key(Some(self.key(id)))
            .projection_expression("#id")
            .expression_attribute_names("#id", MESSAGE_ID)
            .consistent_read(true)
            .send()
            .boxed()
            .await
            .map_err(|err| Error::from_sdk("GetItem", db.endpoint(), &self.table_name, err))?;
        Ok(output.item().is_some())
    }

    /// The key of the inbox item of message `id` for this consumer.
    pub(crate) fn key(&self, id: &MessageId) -> Item {
        Item::from([
            (
                MESSAGE_ID.to_owned(),
                AttributeValue::S(id.as_str().to_owned()),
            ),
            (
                CONSUMER.to_owned(),
                AttributeValue::S(self.consumer.clone()),
            ),
        ])
    }

    /// The item that records `incoming` as handled.
    pub(crate) fn record(&self, incoming: &Message) -> Result<Item> {
        self.validate()?;
        let id = incoming.id();
        if id.as_str().is_empty() {
            return Err(Error::InvalidMessage {
                message_id: None,
                reason: "the incoming message has an empty id, so the inbox cannot recognise \
                         its duplicates; only messages sent by an outbox producer can be \
                         received"
                    .to_owned(),
            });
        }
        let handled_ms = to_millis(now_millis());
        let expires = handled_ms / 1000 + self.retention.as_secs();
        let mut item = self.key(id);
        item.insert(
            HANDLED_AT.to_owned(),
            AttributeValue::N(handled_ms.to_string()),
        );
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N(expires.to_string()),
        );
        Ok(item)
    }
}

/// The conditional put of an inbox item into `table`. A failed condition returns the item
/// there (`ALL_OLD`), so a duplicate learns what the first handling deposited.
pub(crate) fn put(table: &str, item: Item) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#id)")
        .expression_attribute_names("#id", MESSAGE_ID)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .expect("table, item and condition are set");
    TransactWriteItem::builder().put(put).build()
}

/// `item` with the ids of the deposited messages (none: unchanged; a set cannot be empty).
pub(crate) fn with_deposited(mut item: Item, ids: &[MessageId]) -> Item {
    if !ids.is_empty() {
        item.insert(
            DEPOSITED.to_owned(),
            AttributeValue::Ss(ids.iter().map(|id| id.as_str().to_owned()).collect()),
        );
    }
    item
}

/// The deposited ids an inbox item holds.
pub(crate) fn deposited(item: &Item) -> Vec<MessageId> {
    match item.get(DEPOSITED) {
        Some(AttributeValue::Ss(ids)) => {
            ids.iter().map(|id| MessageId::from(id.as_str())).collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_keyed_by_outbox_id_and_consumer_and_expires_after_the_retention() {
        let inbox = Inbox::new("counter").with_retention(Duration::from_secs(3600));
        let incoming = Message::new("greeting.made", b"{}".to_vec()).with_id("m-1");
        let item = inbox.record(&incoming).unwrap();
        let action = put(inbox.table_name(), item.clone());
        let put = action.put().unwrap();
        assert_eq!(put.table_name(), "OutboxInbox");
        assert_eq!(
            put.condition_expression(),
            Some("attribute_not_exists(#id)")
        );
        assert!(deposited(&with_deposited(item.clone(), &[])).is_empty());
        let ids = [MessageId::from("d-1")];
        assert_eq!(deposited(&with_deposited(item.clone(), &ids)), ids);
        assert_eq!(item[MESSAGE_ID], AttributeValue::S("m-1".into()));
        assert_eq!(item[CONSUMER], AttributeValue::S("counter".into()));
        let handled: u64 = item[HANDLED_AT].as_n().unwrap().parse().unwrap();
        let expires: u64 = item[EXPIRES_AT].as_n().unwrap().parse().unwrap();
        assert_eq!(expires, handled / 1000 + 3600);
    }

    #[test]
    fn bad_settings_say_what_to_do() {
        let err = Inbox::new(" ").validate().unwrap_err().to_string();
        assert!(err.contains("name the consumer"), "{err}");
        let err = Inbox::new("c")
            .with_retention(Duration::ZERO)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("under one second"), "{err}");
        let err = Inbox::new("c")
            .record(&Message::new("t", b"{}".to_vec()).with_id(""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty id"), "{err}");
    }
}
