//! Running a consumer's handler on one delivery, the same way for every way a message arrives
//! (the SQS consumer, the Lambda SQS entry): decode, run inside a span carrying the incoming id,
//! classify the result.

use std::fmt;
use std::future::Future;

#[cfg(any(feature = "sqs", feature = "lambda"))]
use tracing::Instrument;

#[cfg(any(feature = "sqs", feature = "lambda"))]
use crate::dispatch::capture_reports;
use crate::message::Message;

/// What a consumer runs for each incoming message: usually a closure calling a
/// `#[transactional_handler(incoming = ..., inbox = ...)]` method.
///
/// `Ok` acknowledges the delivery (it is deleted from the queue), also for a duplicate the
/// inbox absorbed (counted in the consumer's report from the handler's `HandlerReport`; a
/// handler that wraps its own calls in `capture_reports` keeps those reports to itself, and
/// its duplicates are then not counted there); `Err` leaves it to the queue, which delivers it again after its visibility
/// timeout and, after the redrive policy's `maxReceiveCount`, moves it to the dead-letter queue.
///
/// ```no_run
/// use std::sync::Arc;
/// use outbox_runtime::consumer::MessageHandler;
/// use outbox_runtime::Message;
///
/// fn handler() -> impl MessageHandler {
///     |message: Message| async move {
///         println!("{} on {}", message.id(), message.topic());
///         Ok::<(), outbox_runtime::Error>(())
///     }
/// }
/// ```
pub trait MessageHandler: Send + Sync + 'static {
    /// Why a message could not be handled; logged, never sent anywhere.
    type Error: fmt::Display + Send;

    /// Handles one message.
    fn handle(&self, message: Message) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

impl<F, Fut, E> MessageHandler for F
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: fmt::Display + Send,
{
    type Error = E;

    fn handle(&self, message: Message) -> impl Future<Output = Result<(), E>> + Send {
        self(message)
    }
}

/// How the handling of one delivery ended.
#[cfg(any(feature = "sqs", feature = "lambda"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Handled {
    /// Handled and committed: acknowledge.
    Done,
    /// Handled before: the inbox absorbed it; acknowledge.
    Duplicate,
    /// The handler failed: leave it to the queue.
    Failed(String),
}

#[cfg(any(feature = "sqs", feature = "lambda"))]
impl Handled {
    pub(crate) fn acknowledge(&self) -> bool {
        !matches!(self, Handled::Failed(_))
    }
}

#[cfg(any(feature = "sqs", feature = "lambda"))]
/// Runs `handler` on `message` inside the span `outbox.consume` (message id, topic, source).
pub(crate) async fn handle_one<H: MessageHandler>(
    handler: &H,
    message: Message,
    source: &str,
) -> Handled {
    let span = tracing::info_span!(
        "outbox.consume",
        message_id = %message.id(),
        topic = message.topic(),
        source,
    );
    let id = message.id().clone();
    // Boxed: a handler's future (a unit of work with its retries, the commit, the send) can
    // be tens of KB, too much for the stack of a tokio worker in a debug build once it is
    // nested in the consumer's own futures.
    let (result, reports) = capture_reports(Box::pin(handler.handle(message)))
        .instrument(span)
        .await;
    match result {
        Ok(()) if reports.iter().any(|report| report.duplicate) => Handled::Duplicate,
        Ok(()) => Handled::Done,
        Err(err) => {
            metrics::counter!("outbox_consumer_failed_total", "source" => source.to_owned())
                .increment(1);
            tracing::warn!(message_id = %id, source, error = %err, "handler failed; the queue delivers the message again");
            Handled::Failed(err.to_string())
        }
    }
}
