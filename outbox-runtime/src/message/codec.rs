//! The [`OutboxMessage`] trait that `#[derive(OutboxMessage)]` implements: a Rust type that
//! travels as outbox messages.

use crate::error::{Error, Result};
use crate::message::model::{Message, MessageType};

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
