//! Transports: the [`Producer`] trait that sends a message, and its implementations.
//!
//! [`InMemoryProducer`] keeps what it is sent, for tests; [`SqsProducer`] and [`SnsProducer`]
//! send to Amazon SQS queues and SNS topics, routed by topic (one [`RoutedProducer`] over either
//! [`Service`]). How a message looks on SQS and SNS (body, attributes, FIFO ids, batches), and
//! how a consumer reads it back, is the contract in [`wire`].

pub(crate) mod routed;
pub mod sns;
pub mod sqs;
pub mod wire;

pub use routed::{RoutedProducer, Service};
pub use sns::SnsProducer;
pub use sqs::SqsProducer;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::BoxError;
use crate::message::Message;

/// Why a producer could not send a message.
#[derive(Debug, thiserror::Error)]
#[error("sending message {message_id} on topic `{topic}` failed: {reason}")]
pub struct ProducerError {
    /// The message.
    pub message_id: String,
    /// Its topic.
    pub topic: String,
    /// What went wrong.
    pub reason: String,
    /// The transport's own error, if any.
    #[source]
    pub source: Option<BoxError>,
}

impl ProducerError {
    /// An error for `message` with a reason.
    pub fn new(message: &Message, reason: impl Into<String>) -> Self {
        Self {
            message_id: message.header.id.to_string(),
            topic: message.header.topic.clone(),
            reason: reason.into(),
            source: None,
        }
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

/// The environment variable that names a local endpoint speaking both SQS and SNS (the server
/// `cargo xtask moto start` runs), read by [`sqs::client_from_env`] and [`sns::client_from_env`].
///
/// ```
/// use outbox_runtime::transport::{ENDPOINT_ENV, sqs};
///
/// let endpoint = std::env::var(ENDPOINT_ENV).unwrap_or_else(|_| "http://127.0.0.1:5000".into());
/// let client = sqs::local_client(endpoint);
/// # let _ = client;
/// ```
pub const ENDPOINT_ENV: &str = "SQS_SNS_ENDPOINT";

/// Sends messages to a transport (SQS, SNS, ...).
///
/// ```
/// use outbox_runtime::{Message, transport::{Producer, ProducerError}};
///
/// struct Stdout;
/// #[async_trait::async_trait]
/// impl Producer for Stdout {
///     async fn send(&self, message: &Message) -> Result<(), ProducerError> {
///         println!("{} {}", message.topic(), message.id());
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Producer: Send + Sync + 'static {
    /// Sends one message.
    async fn send(&self, message: &Message) -> Result<(), ProducerError>;

    /// Sends several, one result per message in order. Override where the transport has a
    /// batch API; the default sends one at a time.
    async fn send_batch(&self, messages: &[Message]) -> Vec<Result<(), ProducerError>> {
        let mut results = Vec::with_capacity(messages.len());
        for message in messages {
            results.push(self.send(message).await);
        }
        results
    }
}

/// A producer that keeps what it was sent, for tests and examples. It can be told to fail.
///
/// ```
/// # tokio_test_block_on(async {
/// use outbox_runtime::{Message, transport::{InMemoryProducer, Producer}};
///
/// let producer = InMemoryProducer::new();
/// producer.send(&Message::new("t", b"{}".to_vec())).await.unwrap();
/// assert_eq!(producer.sent().len(), 1);
/// producer.set_failing(true);
/// assert!(producer.send(&Message::new("t", b"{}".to_vec())).await.is_err());
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Default)]
pub struct InMemoryProducer {
    sent: Mutex<Vec<Message>>,
    failing: AtomicBool,
}

impl InMemoryProducer {
    /// An empty producer that succeeds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<Message> {
        self.sent.lock().expect("not poisoned").clone()
    }

    /// When `true`, every send fails (a transport outage).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Producer for InMemoryProducer {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(ProducerError::new(
                message,
                "the in-memory producer is set to fail",
            ));
        }
        self.sent
            .lock()
            .expect("not poisoned")
            .push(message.clone());
        Ok(())
    }
}

/// A shared producer is a producer, so a test can keep a handle on what its postbox sent.
#[async_trait::async_trait]
impl<P: Producer> Producer for std::sync::Arc<P> {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        (**self).send(message).await
    }

    async fn send_batch(&self, messages: &[Message]) -> Vec<Result<(), ProducerError>> {
        (**self).send_batch(messages).await
    }
}
