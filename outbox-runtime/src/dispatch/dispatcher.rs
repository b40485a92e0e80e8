//! The one way messages go out, on the immediate path and the sweeper's alike: send, mark what
//! was sent, record what was not.

use std::sync::Arc;

use crate::dispatch::marker::{MarkBatches, Marker};
use crate::error::Error;
use crate::message::{Message, MessageId};
use crate::table::attempts::{FailureOutcome, RetryPolicy};
use crate::table::handle::TableHandle;
use crate::transport::producer::DynProducer;

/// Which relay sends: the label of the `path` metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Right after the commit, from memory.
    Immediate,
    /// The sweeper, from the table.
    Sweeper,
    /// The stream relay (self-hosted or on AWS Lambda), from the table's stream.
    #[cfg(any(feature = "streams", feature = "lambda"))]
    Stream,
}

impl Path {
    fn label(self) -> &'static str {
        match self {
            Path::Immediate => "immediate",
            Path::Sweeper => "sweeper",
            #[cfg(any(feature = "streams", feature = "lambda"))]
            Path::Stream => "stream",
        }
    }
}

/// How the sent messages of a dispatch are marked dispatched.
pub(crate) enum Marking<'a> {
    /// Before the dispatch returns.
    Now,
    /// In the caller's batches (a sweeper's page), which the caller finishes.
    Into(&'a mut MarkBatches),
    /// By the postbox's background marker, with the sends of other handlers.
    Background(&'a Marker),
    /// Not at all: a message deposited without the outstanding marker
    /// (`StreamMode::StreamOnly`) has nothing to remove, and its TTL cleans it up.
    #[cfg(any(feature = "streams", feature = "lambda"))]
    Skip,
}

/// A message the transport refused, and what recording the failed attempt did (`None` when
/// recording it failed too: the message then keeps its old count and backoff).
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) id: MessageId,
    pub(crate) partition_key: Option<String>,
    pub(crate) recorded: Option<FailureOutcome>,
}

/// What one dispatch did, message by message.
#[derive(Debug, Default)]
pub(crate) struct Dispatched {
    /// Sent and marked dispatched.
    pub(crate) sent: Vec<MessageId>,
    /// Sent, but the mark failed: they stay outstanding and will be sent again.
    pub(crate) sent_unmarked: Vec<MessageId>,
    /// Sent, their mark handed to batches or the background marker.
    pub(crate) mark_pending: Vec<MessageId>,
    /// Not sent: left outstanding for a later attempt.
    pub(crate) failed: Vec<Failed>,
    /// The first error of the mark, else of recording a failure; each was logged.
    pub(crate) error: Option<Error>,
}

/// Sends through one producer and keeps the table's account of each message: the only code
/// that sends and marks.
#[derive(Clone)]
pub(crate) struct Dispatcher {
    table: TableHandle,
    producer: Arc<dyn DynProducer>,
    retry: RetryPolicy,
}

impl Dispatcher {
    pub(crate) fn new(
        table: TableHandle,
        producer: Arc<dyn DynProducer>,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            table,
            producer,
            retry,
        }
    }

    pub(crate) fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub(crate) fn table(&self) -> &TableHandle {
        &self.table
    }

    /// Sends `messages` (which failed `attempts[i]` times before) in one batch, then marks the
    /// sent ones dispatched (now, or hands them over as `marking` says), then records each
    /// failed send (a permanent failure dead-letters the message at once). The mark goes first: the sooner a
    /// sent message is marked, the less likely a second send. Each failure is recorded whatever
    /// became of the others and of the mark: its backoff and its way to the dead letters must
    /// not depend on DynamoDB's answer to another request.
    pub(crate) async fn dispatch(
        &self,
        messages: &[Message],
        attempts: &[u32],
        path: Path,
        marking: Marking<'_>,
    ) -> Dispatched {
        let mut dispatched = Dispatched::default();
        let results = self.producer.send_batch(messages).await;
        let mut refused = Vec::new();
        for ((message, result), previous) in messages.iter().zip(results).zip(attempts) {
            match result {
                Ok(()) => dispatched.sent.push(message.header.id.clone()),
                Err(err) => refused.push((message, err, *previous)),
            }
        }
        match marking {
            Marking::Now => {
                let unmarked = self.table.mark_dispatched_each(&dispatched.sent).await;
                if let Some(err) = unmarked.error {
                    tracing::warn!(error = %err, count = unmarked.ids.len(), "sent, but marking dispatched failed; these will be sent again");
                    dispatched.sent.retain(|id| !unmarked.ids.contains(id));
                    dispatched.sent_unmarked = unmarked.ids;
                    dispatched.error = Some(err);
                }
            }
            Marking::Into(batches) => {
                dispatched.mark_pending = std::mem::take(&mut dispatched.sent);
                batches.add(dispatched.mark_pending.iter().cloned()).await;
            }
            Marking::Background(marker) => {
                dispatched.mark_pending = std::mem::take(&mut dispatched.sent);
                marker.mark(dispatched.mark_pending.clone());
            }
            #[cfg(any(feature = "streams", feature = "lambda"))]
            Marking::Skip => {}
        }
        let label = path.label();
        metrics::counter!("outbox_sent_total", "path" => label).increment(
            (dispatched.sent.len() + dispatched.sent_unmarked.len() + dispatched.mark_pending.len())
                as u64,
        );
        metrics::counter!("outbox_sent_unmarked_total", "path" => label)
            .increment(dispatched.sent_unmarked.len() as u64);
        metrics::counter!("outbox_send_failed_total", "path" => label)
            .increment(refused.len() as u64);
        for (message, err, previous) in refused {
            let id = &message.header.id;
            tracing::warn!(
                message_id = %id,
                topic = %message.header.topic,
                error = %err,
                "send failed; the message stays outstanding"
            );
            // A message the transport will never take waits for a fix and a replay, not for
            // the backoff of attempts that cannot succeed.
            let record = if err.is_permanent() {
                self.table.dead_letter(id, &err.to_string()).await
            } else {
                self.table
                    .record_failure(id, previous, &err.to_string(), &self.retry)
                    .await
            };
            let recorded = match record {
                Ok(outcome) => Some(outcome),
                Err(record) => {
                    tracing::warn!(message_id = %id, error = %record, "recording the failed attempt failed");
                    dispatched.error.get_or_insert(record);
                    None
                }
            };
            dispatched.failed.push(Failed {
                id: id.clone(),
                partition_key: message.header.partition_key.clone(),
                recorded,
            });
        }
        dispatched
    }
}
