//! The consumer service of the greetings example: it counts the greetings each person has
//! received, one per `GreetingMade`, exactly once however often SQS delivers it.

use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::consumer::Inbox;
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::{
    DynamoDb, Expr, Message, OutboxMessage, Postbox, Transaction, transactional_handler,
};

use crate::greetings::GreetingMade;

/// The table of counts: one item per person, `Name` (S) and `Count` (N).
pub const GREETING_COUNTS_TABLE: &str = "GreetingCounts";

/// The consumer's name in the inbox.
pub const CONSUMER: &str = "greeting-counter";

/// The counts table's schema.
///
/// ```
/// let schema = outbox_examples::counter::table_schema();
/// assert_eq!(schema.name, "GreetingCounts");
/// ```
pub fn table_schema() -> TableSchema {
    TableSchema::new(
        GREETING_COUNTS_TABLE,
        KeyAttribute::new("Name", KeyKind::String),
    )
}

/// The consumer's inbox, in the default inbox table.
pub fn inbox() -> Inbox {
    Inbox::new(CONSUMER)
}

/// Handles `GreetingMade`: adds one to the person's count, with the inbox record in the same
/// transaction.
#[derive(Clone, Debug)]
pub struct GreetingCounter {
    /// Where the handler's unit of work commits (it deposits nothing).
    pub postbox: Postbox,
    /// Where handled messages are recorded.
    pub inbox: Inbox,
    /// The counts table.
    pub counts: TableSchema,
}

impl GreetingCounter {
    /// A counter over `postbox`'s DynamoDB, with the default inbox and counts table.
    pub fn new(postbox: Postbox) -> Self {
        Self {
            postbox,
            inbox: inbox(),
            counts: table_schema(),
        }
    }

    /// Counts one greeting. A message handled before applies nothing and returns `Ok`.
    ///
    /// # Errors
    /// A message that is not a `GreetingMade`, or the commit's error.
    #[transactional_handler(postbox = self.postbox, tx = tx, incoming = message, inbox = self.inbox)]
    pub async fn handle(
        &self,
        tx: &mut Transaction,
        message: &Message,
    ) -> Result<(), outbox_runtime::Error> {
        let made = GreetingMade::from_message(message)?;
        tx.update(
            &self.counts,
            made.name.as_str(),
            Expr::new("ADD #count :one")
                .name("#count", "Count")
                .value(":one", AttributeValue::N("1".into())),
            None,
        )?;
        Ok(())
    }

    /// The count of `name` (0 when none was counted), read strongly consistent.
    ///
    /// # Errors
    /// The read's error.
    pub async fn count(&self, db: &DynamoDb, name: &str) -> Result<u64, aws_sdk_dynamodb::Error> {
        let output = db
            .client()
            .get_item()
            .table_name(&self.counts.name)
            .key("Name", AttributeValue::S(name.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws_sdk_dynamodb::Error::from)?;
        Ok(output
            .item()
            .and_then(|item| item.get("Count"))
            .and_then(|count| count.as_n().ok())
            .and_then(|count| count.parse().ok())
            .unwrap_or(0))
    }
}
