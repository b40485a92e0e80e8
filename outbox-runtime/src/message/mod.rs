//! The message model: a header and a body ([`Message`]), its id, and the [`OutboxMessage`]
//! trait that `#[derive(OutboxMessage)]` implements.

mod codec;
pub(crate) mod compression;
pub(crate) mod id;
pub(crate) mod model;
pub(crate) mod s3_body;

pub use codec::{OutboxMessage, expect_topic};
pub use compression::{CompressedBody, InflateError, MAX_INFLATED_BYTES};
pub use id::MessageId;
pub use model::{
    Body, DYNAMODB_CONTENT_TYPE, Header, Item, JSON_CONTENT_TYPE, Message, MessageType,
};
pub use s3_body::{EXTENDED_PAYLOAD_SIZE, POINTER_CLASS, S3Body};
