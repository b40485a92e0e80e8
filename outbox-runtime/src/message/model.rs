//! A message: a header and a body.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::{Error, Result};
use crate::message::compression::{CompressedBody, MAX_INFLATED_BYTES};
use crate::message::id::MessageId;
use crate::message::s3_body::S3Body;
use crate::time::now_millis;

/// A DynamoDB item: attribute name to value.
pub type Item = HashMap<String, AttributeValue>;

/// What a message means to its receivers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// Something happened (the default).
    #[default]
    Event,
    /// Something is asked for.
    Command,
    /// A document is handed over.
    Document,
}

impl MessageType {
    /// Every message type, in declaration order.
    pub const ALL: [MessageType; 3] = [Self::Event, Self::Command, Self::Document];

    /// The stored name: `event`, `command` or `document`.
    ///
    /// ```
    /// assert_eq!(outbox_runtime::MessageType::Command.as_str(), "command");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Command => "command",
            Self::Document => "document",
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MessageType {
    type Err = Error;

    /// Parses a stored name; anything else is [`Error::InvalidMessage`] listing the valid names.
    fn from_str(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| Error::InvalidMessage {
                message_id: None,
                reason: format!(
                    "unknown message type `{name}`; expected `event`, `command` or `document`"
                ),
            })
    }
}

/// The body of a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// Bytes, stored byte for byte as a DynamoDB binary (`B`).
    Bytes(Vec<u8>),
    /// A native DynamoDB map (`M`), readable in the console; sent to transports as JSON.
    Item(Item),
    /// Bytes stored gzip-compressed, because the outbox compresses bodies above its
    /// [threshold](crate::OutboxConfig::with_compression_above): what a message read back from
    /// the table, or handed to a producer, holds. [`to_bytes`](Self::to_bytes) inflates it;
    /// consumers always receive the original bytes as [`Body::Bytes`].
    Compressed(CompressedBody),
    /// A reference to bytes kept in S3 (the claim check, feature `s3`): what a message over the
    /// claim check's threshold holds once deposited. Transports send the reference; the
    /// consumer runners fetch the bytes and hand handlers [`Body::Bytes`].
    S3(S3Body),
}

impl Body {
    /// The bytes a transport sends, as the message was made: the bytes themselves, a map
    /// rendered as JSON, or a compressed body inflated.
    ///
    /// ```
    /// use outbox_runtime::Body;
    /// use outbox_runtime::message::CompressedBody;
    ///
    /// let body = Body::Compressed(CompressedBody::compress(b"{\"a\":1}"));
    /// assert_eq!(body.to_bytes()?, b"{\"a\":1}");
    /// # Ok::<(), outbox_runtime::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidMessage`] when a map holds a value JSON cannot carry, or a compressed
    /// body is corrupt or inflates past [`MAX_INFLATED_BYTES`](crate::message::MAX_INFLATED_BYTES).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        match self {
            Body::Bytes(bytes) => Ok(bytes.clone()),
            Body::Item(item) => {
                let value: serde_json::Value =
                    serde_dynamo::from_item(item.clone()).map_err(|err| Error::InvalidMessage {
                        message_id: None,
                        reason: format!("map body cannot be rendered as JSON: {err}"),
                    })?;
                Ok(serde_json::to_vec(&value).expect("a JSON value always serializes"))
            }
            Body::Compressed(compressed) => {
                compressed
                    .inflate(MAX_INFLATED_BYTES)
                    .map_err(|err| Error::InvalidMessage {
                        message_id: None,
                        reason: err.to_string(),
                    })
            }
            Body::S3(s3) => Err(Error::InvalidMessage {
                message_id: None,
                reason: format!(
                    "the body is kept in S3 at {} ({} bytes) and reading it takes a request: \
                     send `S3Body::pointer_json` as the SQS and SNS producers do, or fetch it \
                     with `claim_check::fetch`",
                    s3.url(),
                    s3.size
                ),
            }),
        }
    }

    /// The size in bytes the body takes in the item (compressed, for a compressed body).
    pub fn len(&self) -> usize {
        match self {
            Body::Bytes(bytes) => bytes.len(),
            Body::Item(item) => crate::limits::item_size(item),
            Body::Compressed(compressed) => compressed.gzip().len(),
            Body::S3(s3) => s3.pointer_json().len(),
        }
    }

    /// True when the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything about a message but its body.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Header {
    /// Unique id; the outbox table's key.
    pub id: MessageId,
    /// Where the message goes (routed to a queue or topic by the producer).
    pub topic: String,
    /// Event, command or document.
    pub message_type: MessageType,
    /// When the message was made, to the millisecond.
    pub created_at: SystemTime,
    /// Ties together the messages of one conversation.
    pub correlation_id: Option<String>,
    /// The id of the message that caused this one.
    pub causation_id: Option<String>,
    /// Where replies should go.
    pub reply_to: Option<String>,
    /// MIME type of the body, `application/json` by default.
    pub content_type: String,
    /// The ordering key: messages with the same key are sent in the order they were made.
    pub partition_key: Option<String>,
    /// W3C trace context `traceparent`.
    pub trace_parent: Option<String>,
    /// W3C trace context `tracestate`.
    pub trace_state: Option<String>,
    /// Further string headers, stored as a native map.
    pub headers: BTreeMap<String, String>,
}

/// A message: header and body.
///
/// ```
/// use outbox_runtime::{Message, MessageType};
///
/// let message = Message::new("greeting.made", b"{\"name\":\"Tyrion\"}".to_vec())
///     .with_partition_key("Tyrion")
///     .with_header("tenant", "north");
/// assert_eq!(message.header.message_type, MessageType::Event);
/// assert_eq!(message.header.content_type, "application/json");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// The body.
    pub body: Body,
}

/// The content type of JSON bodies.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// The content type of bodies stored as a native DynamoDB map.
pub const DYNAMODB_CONTENT_TYPE: &str = "application/x-amz-dynamodb-item";

impl Message {
    /// An event on `topic` with a fresh id, created now, with a JSON content type.
    pub fn new(topic: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            header: Header {
                id: MessageId::new(),
                topic: topic.into(),
                message_type: MessageType::Event,
                created_at: now_millis(),
                correlation_id: None,
                causation_id: None,
                reply_to: None,
                content_type: JSON_CONTENT_TYPE.to_owned(),
                partition_key: None,
                trace_parent: None,
                trace_state: None,
                headers: BTreeMap::new(),
            },
            body: Body::Bytes(body.into()),
        }
    }

    /// Sets the id.
    pub fn with_id(mut self, id: impl Into<MessageId>) -> Self {
        self.header.id = id.into();
        self
    }

    /// Sets the message type.
    pub fn with_message_type(mut self, message_type: MessageType) -> Self {
        self.header.message_type = message_type;
        self
    }

    /// Sets the ordering key.
    pub fn with_partition_key(mut self, key: impl Into<String>) -> Self {
        self.header.partition_key = Some(key.into());
        self
    }

    /// Sets the correlation id.
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.header.correlation_id = Some(id.into());
        self
    }

    /// Sets the content type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.header.content_type = content_type.into();
        self
    }

    /// Adds a string header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.header.headers.insert(name.into(), value.into());
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// The id.
    pub fn id(&self) -> &MessageId {
        &self.header.id
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.header.topic
    }
}
