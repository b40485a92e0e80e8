//! A transactional outbox for Amazon DynamoDB.
//!
//! A service changes entities in DynamoDB and announces what happened as messages. Both happen
//! or neither: entity writes and outgoing messages commit in one `TransactWriteItems`
//! ([`Transaction`]). Right after the commit the messages go to a transport; if the process dies
//! first, they stay outstanding in the [`Outbox`] table for a sweeper to send later.

extern crate self as outbox_runtime;

pub mod attempts;
pub mod attributes;
pub mod backoff;
pub mod config;
pub mod connection;
pub mod error;
pub mod item;
mod lease;
pub mod limits;
pub mod message;
pub mod outbox;
pub mod postbox;
pub mod producer;
pub mod schema;
pub mod shard;
pub mod sweeper;
pub mod transaction;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use attempts::{FailureOutcome, RetryPolicy};
pub use config::{Cleanup, OutboxConfig};
pub use connection::DynamoDb;
pub use error::{Error, Result};
pub use item::StoredMessage;
pub use message::{Body, Header, Message, MessageId, MessageType, OutboxMessage};
pub use outbox::{AddOutcome, BoundedCount, ContinuationToken, Outbox, Page};
pub use outbox_derive::{OutboxMessage, transactional_handler};
pub use postbox::{ClearMode, ClearReport, Postbox};
pub use sweeper::{SweepReport, Sweeper, SweeperConfig};
pub use transaction::{ActionFailure, Committed, Expr, Transaction};

/// The README's code is compiled as a doctest, so the quick start cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeQuickStart;
