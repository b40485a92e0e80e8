//! A transactional outbox for Amazon DynamoDB.
//!
//! A service changes entities in DynamoDB and announces what happened as messages. Both happen
//! or neither: entity writes and outgoing messages commit in one `TransactWriteItems`.

extern crate self as outbox_runtime;

pub mod attributes;
pub mod config;
pub mod connection;
pub mod error;
pub mod schema;

pub use config::{Cleanup, OutboxConfig};
pub use connection::DynamoDb;
pub use error::{Error, Result};
