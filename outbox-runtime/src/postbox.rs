//! The producer side of the outbox: begin and commit transactions, then clear (send and mark)
//! the committed messages from memory.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::attempts::RetryPolicy;
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::message::{Message, MessageId};
use crate::outbox::{AddOutcome, Outbox};
use crate::producer::Producer;
use crate::transaction::{Committed, Transaction};

/// When committed messages are sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClearMode {
    /// Right after the commit, from memory (the default).
    #[default]
    Immediate,
    /// Not by the handler: the sweeper sends them.
    Sweeper,
}

/// What a clear did. A send failure never fails the caller: the message stays outstanding for
/// the sweeper.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClearReport {
    /// Sent and marked dispatched.
    pub sent: Vec<MessageId>,
    /// Not sent; left for the sweeper, the failed attempt recorded (when DynamoDB could be
    /// reached to record it).
    pub left_outstanding: Vec<MessageId>,
    /// Sent, but marking them dispatched failed (DynamoDB unavailable, say): they stay
    /// outstanding and the sweeper sends them a second time. Delivery is at least once; these
    /// are the messages a consumer will see twice.
    pub sent_unmarked: Vec<MessageId>,
}

/// An outbox with a producer: what a handler needs to commit and then send.
///
/// ```no_run
/// # async fn run() -> outbox_runtime::Result<()> {
/// use outbox_runtime::{DynamoDb, Message, Outbox, OutboxConfig, Postbox};
/// use outbox_runtime::producer::InMemoryProducer;
///
/// let outbox = Outbox::new(DynamoDb::from_env().await, OutboxConfig::default())?;
/// let postbox = Postbox::new(outbox, InMemoryProducer::new());
/// let mut tx = postbox.begin();
/// tx.deposit_message(Message::new("greeting.made", b"{}".to_vec()))?;
/// let committed = tx.commit().await?;
/// let report = postbox.clear(&committed.messages).await;
/// assert_eq!(report.sent.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Postbox {
    outbox: Outbox,
    producer: Arc<dyn Producer>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Postbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postbox")
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

impl Postbox {
    /// A postbox over `outbox` sending with `producer`.
    pub fn new(outbox: Outbox, producer: impl Producer) -> Self {
        Self {
            outbox,
            producer: Arc::new(producer),
            retry: RetryPolicy::default(),
        }
    }

    /// Sets how failed sends are counted and backed off (it should match the sweeper's).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The producer, shared.
    pub(crate) fn producer(&self) -> Arc<dyn Producer> {
        Arc::clone(&self.producer)
    }

    /// Begins a transaction.
    pub fn begin(&self) -> Transaction {
        self.outbox.begin()
    }

    /// Commits `tx` and, with [`ClearMode::Immediate`], sends its messages at once. A failed
    /// send is logged and left to the sweeper: it never fails the commit.
    ///
    /// # Errors
    /// The commit's error (see [`Transaction::commit`]).
    pub async fn commit(&self, tx: Transaction, mode: ClearMode) -> Result<Committed> {
        let committed = tx.commit().await?;
        if mode == ClearMode::Immediate && !committed.messages.is_empty() {
            self.clear(&committed.messages).await;
        }
        Ok(committed)
    }

    /// Sends messages from memory (no read back) and marks the sent ones dispatched in
    /// batches. Whatever fails stays outstanding for the sweeper: a failed send with its attempt
    /// recorded, a failed mark as [`ClearReport::sent_unmarked`] (sent again later).
    pub async fn clear(&self, messages: &[Message]) -> ClearReport {
        self.clear_after(messages, &vec![0; messages.len()]).await
    }

    /// [`Postbox::clear`] for messages that already failed `attempts[i]` times.
    async fn clear_after(&self, messages: &[Message], attempts: &[u32]) -> ClearReport {
        let span = tracing::debug_span!("outbox.clear", messages = messages.len());
        self.send_and_mark(messages, attempts)
            .instrument(span)
            .await
    }

    async fn send_and_mark(&self, messages: &[Message], attempts: &[u32]) -> ClearReport {
        let mut report = ClearReport::default();
        let results = self.producer.send_batch(messages).await;
        let mut failures = Vec::new();
        for ((message, result), previous) in messages.iter().zip(results).zip(attempts) {
            match result {
                Ok(()) => report.sent.push(message.header.id.clone()),
                Err(err) => failures.push((message, err, *previous)),
            }
        }
        // Marked first: the sooner a sent message is marked, the less likely a second send.
        let unmarked = self.outbox.mark_dispatched_each(&report.sent).await;
        if let Some(err) = unmarked.error {
            tracing::warn!(error = %err, count = unmarked.ids.len(), "sent, but marking dispatched failed; the sweeper will send these again");
            report.sent.retain(|id| !unmarked.ids.contains(id));
            report.sent_unmarked = unmarked.ids;
        }
        for (message, err, previous) in failures {
            tracing::warn!(
                message_id = %message.header.id,
                topic = %message.header.topic,
                error = %err,
                "send failed; the message stays outstanding for the sweeper"
            );
            if let Err(record) = self
                .outbox
                .record_failure(&message.header.id, previous, &err.to_string(), &self.retry)
                .await
            {
                tracing::warn!(message_id = %message.header.id, error = %record, "recording the failed attempt failed");
            }
            report.left_outstanding.push(message.header.id.clone());
        }
        metrics::counter!("outbox_sent_total", "path" => "immediate")
            .increment((report.sent.len() + report.sent_unmarked.len()) as u64);
        metrics::counter!("outbox_sent_unmarked_total", "path" => "immediate")
            .increment(report.sent_unmarked.len() as u64);
        metrics::counter!("outbox_send_failed_total", "path" => "immediate")
            .increment(report.left_outstanding.len() as u64);
        report
    }

    /// Adds a message outside any transaction (see [`Outbox::add`]).
    ///
    /// # Errors
    /// As [`Outbox::add`].
    pub async fn deposit(&self, message: &Message) -> Result<AddOutcome> {
        self.outbox.add(message).await
    }

    /// Adds a message outside any transaction and sends it at once.
    ///
    /// # Errors
    /// As [`Outbox::add`]; a failed send is reported, not an error.
    pub async fn post(&self, message: &Message) -> Result<ClearReport> {
        self.outbox.add(message).await?;
        Ok(self.clear(std::slice::from_ref(message)).await)
    }

    /// Sends the outstanding messages among `ids`, read back consistently, and marks them.
    ///
    /// # Errors
    /// The read's error.
    pub async fn clear_ids(&self, ids: &[MessageId]) -> Result<ClearReport> {
        let (messages, attempts): (Vec<Message>, Vec<u32>) = self
            .outbox
            .get_many(ids)
            .await?
            .into_iter()
            .filter(|stored| stored.is_outstanding())
            .map(|stored| (stored.message, stored.attempts))
            .unzip();
        Ok(self.clear_after(&messages, &attempts).await)
    }
}

/// Decides whether a failed commit should be run again: only a transaction conflict, only a
/// bounded number of times, with a jittered, growing delay in between.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use outbox_runtime::{Error, postbox::ConflictRetry};
///
/// let mut retry = ConflictRetry::new(3);
/// let not_a_conflict = Error::TableNotFound { table: "Outbox".into() };
/// assert!(!retry.should_retry(&not_a_conflict).await);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct ConflictRetry {
    remaining: u32,
    backoff: Backoff,
}

impl ConflictRetry {
    /// Up to `retries` further runs after the first (0 disables retrying).
    pub fn new(retries: u32) -> Self {
        Self {
            remaining: retries,
            backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(500)),
        }
    }

    /// True, after waiting, when `err` is a conflict and runs remain.
    pub async fn should_retry(&mut self, err: &Error) -> bool {
        if !err.is_conflict() || self.remaining == 0 {
            return false;
        }
        self.remaining -= 1;
        tracing::debug!(
            remaining = self.remaining,
            "transaction conflict; running again"
        );
        self.backoff.wait().await;
        true
    }
}
