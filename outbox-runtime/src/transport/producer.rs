//! The [`Producer`] trait, which users implement with plain `async fn`, and the type-erased
//! form the runtime stores it in.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::message::Message;
use crate::transport::error::ProducerError;

/// Sends messages to a transport (SQS, SNS, a broker, an HTTP endpoint). Implement it with
/// plain `async fn`; no other crate is needed.
///
/// ```
/// use outbox_runtime::Message;
/// use outbox_runtime::transport::{Producer, ProducerError};
///
/// struct Stdout;
///
/// impl Producer for Stdout {
///     async fn send(&self, message: &Message) -> Result<(), ProducerError> {
///         println!("{} {}", message.topic(), message.id());
///         Ok(())
///     }
/// }
/// ```
///
/// A failure is transient unless made with [`ProducerError::permanent`]: transient ones are
/// tried again with backoff up to the retry policy's attempts, a permanent one (a message the
/// transport can never take) is dead-lettered at once.
pub trait Producer: Send + Sync + 'static {
    /// Sends one message.
    fn send(&self, message: &Message) -> impl Future<Output = Result<(), ProducerError>> + Send;

    /// Sends several, one result per message in order. Override where the transport has a
    /// batch API; the default sends one at a time, in order.
    fn send_batch(
        &self,
        messages: &[Message],
    ) -> impl Future<Output = Vec<Result<(), ProducerError>>> + Send {
        async move {
            let mut results = Vec::with_capacity(messages.len());
            for message in messages {
                results.push(self.send(message).await);
            }
            results
        }
    }
}

/// A shared producer is a producer, so a test can keep a handle on what its postbox sent.
impl<P: Producer> Producer for Arc<P> {
    fn send(&self, message: &Message) -> impl Future<Output = Result<(), ProducerError>> + Send {
        (**self).send(message)
    }

    fn send_batch(
        &self,
        messages: &[Message],
    ) -> impl Future<Output = Vec<Result<(), ProducerError>>> + Send {
        (**self).send_batch(messages)
    }
}

/// [`Producer`] in a form that can live behind `dyn`: the runtime keeps one producer per
/// postbox without a type parameter.
pub(crate) trait DynProducer: Send + Sync {
    fn send_batch<'a>(
        &'a self,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Vec<Result<(), ProducerError>>>;
}

impl<P: Producer> DynProducer for P {
    fn send_batch<'a>(
        &'a self,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Vec<Result<(), ProducerError>>> {
        Box::pin(Producer::send_batch(self, messages))
    }
}
