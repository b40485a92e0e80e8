//! A producer that keeps what it is sent, for tests and examples.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::message::Message;
use crate::transport::error::ProducerError;
use crate::transport::producer::Producer;

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
