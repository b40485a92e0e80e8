//! Why a producer could not send a message, and whether trying again can help.

use crate::error::BoxError;
use crate::message::Message;

/// Whether a failed send may succeed later.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProducerErrorKind {
    /// The transport may take the message later (unreachable, throttled, an outage): it is
    /// tried again with backoff.
    #[default]
    Transient,
    /// The transport will never take this message as it is (no route for its topic, a body it
    /// refuses): it is dead-lettered at once, to be replayed once the cause is fixed.
    Permanent,
}

/// Why a producer could not send a message.
#[derive(Debug, thiserror::Error)]
#[error("sending message {message_id} on topic `{topic}` failed: {reason}")]
#[non_exhaustive]
pub struct ProducerError {
    /// The message.
    pub message_id: String,
    /// Its topic.
    pub topic: String,
    /// What went wrong.
    pub reason: String,
    /// Whether trying again can help.
    pub kind: ProducerErrorKind,
    /// The transport's own error, if any.
    #[source]
    pub source: Option<BoxError>,
}

impl ProducerError {
    /// A transient failure for `message`, with a reason: it is tried again later.
    pub fn new(message: &Message, reason: impl Into<String>) -> Self {
        Self {
            message_id: message.header.id.to_string(),
            topic: message.header.topic.clone(),
            reason: reason.into(),
            kind: ProducerErrorKind::Transient,
            source: None,
        }
    }

    /// A permanent failure: the transport will never take `message` as it is, so it is
    /// dead-lettered at once instead of being tried again.
    ///
    /// ```
    /// use outbox_runtime::Message;
    /// use outbox_runtime::transport::ProducerError;
    ///
    /// let message = Message::new("t", b"{}".to_vec());
    /// assert!(ProducerError::permanent(&message, "no queue for topic `t`").is_permanent());
    /// assert!(!ProducerError::new(&message, "timed out").is_permanent());
    /// ```
    pub fn permanent(message: &Message, reason: impl Into<String>) -> Self {
        Self {
            kind: ProducerErrorKind::Permanent,
            ..Self::new(message, reason)
        }
    }

    /// True for a failure that trying again cannot fix.
    pub fn is_permanent(&self) -> bool {
        self.kind == ProducerErrorKind::Permanent
    }

    /// Keeps `source` as the error's source (the transport's own error).
    ///
    /// ```
    /// use outbox_runtime::{Message, transport::ProducerError};
    ///
    /// let message = Message::new("t", b"{}".to_vec());
    /// let io = std::io::Error::other("connection reset");
    /// let err = ProducerError::new(&message, "the queue did not answer").with_source(io);
    /// assert!(std::error::Error::source(&err).is_some());
    /// ```
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }
}
