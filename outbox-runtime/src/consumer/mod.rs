//! The consumer side: an [`Inbox`] in the handler's own transaction, so that each incoming
//! message's effect is applied once however often it is delivered, and the runners that feed
//! handlers from a queue ([`SqsConsumer`]; on Lambda, `lambda::SqsHandler`).
//!
//! # Exactly-once effects over at-least-once delivery
//!
//! The outbox delivers every committed message at least once. A consumer handler declared with
//! `#[transactional_handler(postbox = ..., tx = tx, incoming = message, inbox = ...)]` writes
//! the inbox item of the incoming message (keyed by its outbox id and the consumer's name, on
//! condition that it does not exist) in the same `TransactWriteItems` as its entity writes and
//! deposits. A duplicate delivery fails that condition: nothing of it is applied, the handler
//! returns `Ok`, and the runner deletes it from the queue. What the handler deposits carries the
//! incoming id as causation id and its correlation id, and the inbox item lists their ids: a
//! duplicate gets them back with its failed condition and re-sends those still outstanding (a
//! first handling that committed and died before its sends), read with one `BatchGetItem`.
//!
//! ```no_run
//! use outbox_runtime::consumer::Inbox;
//! use outbox_runtime::{Expr, Message, OutboxMessage, Postbox, Transaction, transactional_handler};
//! use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
//! use aws_sdk_dynamodb::types::AttributeValue;
//!
//! #[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
//! #[outbox(topic = "greeting.made")]
//! struct GreetingMade {
//!     #[outbox(partition_key)]
//!     name: String,
//!     greeting: String,
//! }
//!
//! struct GreetingCounter {
//!     postbox: Postbox,
//!     inbox: Inbox,
//!     counts: TableSchema,
//! }
//!
//! impl GreetingCounter {
//!     #[transactional_handler(postbox = self.postbox, tx = tx, incoming = message, inbox = self.inbox)]
//!     async fn handle(&self, tx: &mut Transaction, message: &Message) -> outbox_runtime::Result<()> {
//!         let made = GreetingMade::from_message(message)?;
//!         tx.update(
//!             &self.counts,
//!             made.name.as_str(),
//!             Expr::new("ADD #c :one").name("#c", "Count").value(":one", AttributeValue::N("1".into())),
//!             None,
//!         )?;
//!         Ok(())
//!     }
//! }
//! ```
//!
//! # Metrics
//!
//! | name | kind | labels | counts |
//! | --- | --- | --- | --- |
//! | `outbox_inbox_duplicates_total` | counter | `consumer` | duplicate deliveries absorbed (nothing applied) |
//! | `outbox_consumer_failed_total` | counter | `source` (the queue) | handler failures, left to the queue |
//! | `outbox_consumer_undecodable_total` | counter | `source` | deliveries that are not readable outbox messages |
//!
//! Each handling runs in the `info` span `outbox.consume` with the incoming `message_id`,
//! `topic` and `source`.

#[cfg(any(feature = "sqs", feature = "lambda"))]
pub(crate) mod body_fetch;
mod handling;
pub mod incoming;
#[cfg(feature = "sqs")]
mod sqs;

pub use crate::table::inbox::{DEFAULT_INBOX_TABLE, DEFAULT_RETENTION, Inbox};
pub use handling::MessageHandler;
#[cfg(feature = "lambda")]
pub(crate) use handling::handle_one;
#[cfg(feature = "sqs")]
pub use sqs::{ConsumerError, ConsumerReport, QueueSettings, SqsConsumer};
