//! The message model: a header and a body, and the [`OutboxMessage`] trait that
//! `#[derive(OutboxMessage)]` implements.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::{Error, Result};

/// A DynamoDB item: attribute name to value.
pub type Item = HashMap<String, AttributeValue>;

/// What a message means to its receivers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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

/// A message id: any non-empty string; new ids are UUID v7 (time-ordered).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// A fresh UUID v7.
    ///
    /// ```
    /// let a = outbox_runtime::MessageId::new();
    /// let b = outbox_runtime::MessageId::new();
    /// assert_ne!(a, b);
    /// assert_eq!(a.as_str().len(), 36);
    /// ```
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for MessageId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for MessageId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl From<uuid::Uuid> for MessageId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id.to_string())
    }
}

/// The body of a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// Bytes, stored byte for byte as a DynamoDB binary (`B`).
    Bytes(Vec<u8>),
    /// A native DynamoDB map (`M`), readable in the console; sent to transports as JSON.
    Item(Item),
}

impl Body {
    /// The bytes a transport sends: the bytes themselves, or a map rendered as JSON.
    ///
    /// # Errors
    /// [`Error::InvalidMessage`] when a map holds a value JSON cannot carry.
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
        }
    }

    /// The size in bytes the body takes in the item.
    pub fn len(&self) -> usize {
        match self {
            Body::Bytes(bytes) => bytes.len(),
            Body::Item(item) => crate::limits::item_size(item),
        }
    }

    /// True when the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything about a message but its body.
#[derive(Clone, Debug, PartialEq)]
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

/// The current time truncated to the millisecond, the precision the table stores.
pub(crate) fn now_millis() -> SystemTime {
    from_millis(to_millis(SystemTime::now()))
}

/// Epoch milliseconds of a time (0 before the epoch).
pub(crate) fn to_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| {
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    })
}

/// The time at epoch milliseconds.
pub(crate) fn from_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

/// A type that travels as outbox messages. Implement it with `#[derive(OutboxMessage)]`.
///
/// ```
/// use outbox_runtime::{Message, MessageType, OutboxMessage, Result};
///
/// // What the derive writes, by hand.
/// struct Ping;
/// impl OutboxMessage for Ping {
///     const TOPICS: &'static [&'static str] = &["ping"];
///     fn topic(&self) -> &'static str { "ping" }
///     fn message_type(&self) -> MessageType { MessageType::Event }
///     fn to_message(&self) -> Result<Message> { Ok(Message::new("ping", b"{}".to_vec())) }
///     fn from_message(message: &Message) -> Result<Self> {
///         outbox_runtime::message::expect_topic::<Self>(message, MessageType::Event)?;
///         Ok(Ping)
///     }
/// }
/// let message = Ping.to_message()?;
/// assert!(Ping::from_message(&message).is_ok());
/// # Ok::<(), outbox_runtime::Error>(())
/// ```
pub trait OutboxMessage: Sized {
    /// Every topic values of this type are sent on (one for a struct, one per variant for an
    /// enum whose variants name their own).
    const TOPICS: &'static [&'static str];

    /// The topic of this value.
    fn topic(&self) -> &'static str;

    /// The message type of this value.
    fn message_type(&self) -> MessageType;

    /// Encodes the value as a message with a fresh id (or the value's own id field).
    ///
    /// # Errors
    /// [`Error::Serialization`] naming the type and topic when the body cannot be encoded.
    fn to_message(&self) -> Result<Message>;

    /// Decodes a message. A message of another topic or type is an error naming both.
    ///
    /// # Errors
    /// [`Error::WrongMessage`] or [`Error::Serialization`].
    fn from_message(message: &Message) -> Result<Self>;
}

/// Checks that a message carries one of `T`'s topics and the expected type.
///
/// # Errors
/// [`Error::WrongMessage`] naming what was expected and what was found.
pub fn expect_topic<T: OutboxMessage>(message: &Message, message_type: MessageType) -> Result<()> {
    let topic_ok = T::TOPICS.contains(&message.header.topic.as_str());
    if topic_ok && message.header.message_type == message_type {
        return Ok(());
    }
    Err(Error::WrongMessage {
        type_name: std::any::type_name::<T>(),
        expected: format!("{} on topic {}", message_type, T::TOPICS.join(" or ")),
        found: format!(
            "{} on topic {}",
            message.header.message_type, message.header.topic
        ),
        message_id: message.header.id.clone(),
    })
}
