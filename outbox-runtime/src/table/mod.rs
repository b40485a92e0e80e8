//! Everything that knows the outbox table's item layout: the table's definition, how a message
//! becomes an item and back, shards, marking, listings, failed attempts and sweeper leases.
//!
//! [`Outbox`] is the table's public face; each of its methods hands the work to the module of
//! its concern.

pub(crate) mod attempts;
pub mod attributes;
pub(crate) mod batch_read;
pub(crate) mod config;
pub(crate) mod deposit;
pub(crate) mod handle;
pub(crate) mod inbox;
pub(crate) mod items;
pub(crate) mod key;
pub(crate) mod layout;
pub(crate) mod lease;
pub(crate) mod list;
pub(crate) mod mark;
pub(crate) mod outbox;
pub(crate) mod schedule;
pub(crate) mod schema;
pub(crate) mod shard;
pub(crate) mod stream_mode;

pub use attempts::{FailureOutcome, RetryPolicy};
pub use config::{Cleanup, MAX_SHARDS, OutboxConfig};
pub use items::StoreOutcome;
pub use key::{IntoKey, Key, KeyValue};
pub use layout::StoredMessage;
pub use list::{BoundedCount, ContinuationToken, Page};
pub use outbox::Outbox;
pub use schedule::ScheduleOutcome;
pub use schema::{EnsureOutcome, IndexSchema, KeyAttribute, KeyKind, TableSchema};
pub use shard::shard_of_key;
pub use stream_mode::StreamMode;
