//! The producer side of the outbox: begin and commit transactions, then clear (send and mark)
//! the committed messages from memory.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::dispatch::dispatcher::{Dispatcher, Marking, Path};
use crate::dispatch::marker::Marker;
use crate::error::Result;
use crate::message::{Message, MessageId};
use crate::table::attempts::RetryPolicy;
use crate::table::outbox::Outbox;
use crate::transaction::{Committed, Transaction};
use crate::transport::Producer;

/// When committed messages are sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClearMode {
    /// Right after the commit, from memory (the default).
    #[default]
    Immediate,
    /// Not by the handler: the sweeper sends them.
    Sweeper,
}

/// When the messages a postbox sent at once are marked dispatched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MarkMode {
    /// By a background task of the postbox that gathers the sent ids of every handler and marks
    /// them 25 to a request, each at most `max_delay` after its send (the default, 10 ms): a
    /// handler call returns right after its send, and under load a message costs its commit
    /// plus a twenty-fifth of a mark request. [`Postbox::flush`] waits for what is pending; call
    /// it on shutdown. A mark lost to a crash only means the sweeper sends that message again.
    Background {
        /// The longest an id waits for others to share its request.
        max_delay: Duration,
    },
    /// Before the call that sent them returns: one mark request per call. For where nothing may
    /// run between calls (AWS Lambda freezes the process after each invocation).
    Inline,
}

impl Default for MarkMode {
    fn default() -> Self {
        MarkMode::Background {
            max_delay: Duration::from_millis(10),
        }
    }
}

/// What a clear did. A send failure never fails the caller: the message stays outstanding for
/// the sweeper.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClearReport {
    /// Sent and marked dispatched (see [`ClearReport::handed_over`] for everything sent).
    pub sent: Vec<MessageId>,
    /// Sent; the mark is pending with the postbox's background marker ([`MarkMode::Background`]),
    /// done within its delay, or at [`Postbox::flush`].
    pub mark_pending: Vec<MessageId>,
    /// Not sent; left for the sweeper, the failed attempt recorded (when DynamoDB could be
    /// reached to record it).
    pub left_outstanding: Vec<MessageId>,
    /// Sent, but marking them dispatched failed (DynamoDB unavailable, say): they stay
    /// outstanding and the sweeper sends them a second time. Delivery is at least once; these
    /// are the messages a consumer will see twice.
    pub sent_unmarked: Vec<MessageId>,
}

impl ClearReport {
    /// Every message the transport accepted, whatever became of its mark: [`sent`](Self::sent),
    /// [`mark_pending`](Self::mark_pending) and [`sent_unmarked`](Self::sent_unmarked), in
    /// that order. With the default background marker a clear's `sent` is empty and what went
    /// out is in `mark_pending`; this is the list to read for "what was sent".
    ///
    /// ```
    /// use outbox_runtime::{ClearReport, MessageId};
    ///
    /// let mut report = ClearReport::default();
    /// report.mark_pending.push(MessageId::from("m-1"));
    /// assert!(report.sent.is_empty());
    /// assert_eq!(report.handed_over().collect::<Vec<_>>(), [&MessageId::from("m-1")]);
    /// ```
    pub fn handed_over(&self) -> impl Iterator<Item = &MessageId> {
        self.sent
            .iter()
            .chain(&self.mark_pending)
            .chain(&self.sent_unmarked)
    }
}

/// An outbox with a producer: what a handler needs to commit and then send.
///
/// ```no_run
/// # async fn run() -> outbox_runtime::Result<()> {
/// use outbox_runtime::{DynamoDb, Message, Outbox, OutboxConfig, Postbox};
/// use outbox_runtime::transport::SqsProducer;
///
/// let outbox = Outbox::new(DynamoDb::from_env().await, OutboxConfig::default())?;
/// let sqs = aws_sdk_sqs::Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await);
/// let producer = SqsProducer::new(sqs)
///     .with_route("greeting.made", "https://sqs.eu-west-1.amazonaws.com/123456789012/greetings");
/// let postbox = Postbox::new(outbox, producer);
/// let mut tx = postbox.begin();
/// tx.deposit_message(Message::new("greeting.made", b"{}".to_vec()))?;
/// let committed = tx.commit().await?;
/// let report = postbox.clear(&committed.messages).await;
/// assert_eq!(report.mark_pending.len(), 1, "sent; the background marker marks it");
/// postbox.flush().await; // on shutdown: every pending mark done
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Postbox {
    outbox: Outbox,
    dispatcher: Dispatcher,
    mark_mode: MarkMode,
    marker: Arc<Marker>,
    /// Whether `ClearMode::Immediate` sends right after the commit: on, unless the outbox's
    /// stream relay sends (see [`Postbox::with_immediate_clear`]).
    immediate_clear: bool,
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
        let dispatcher = Dispatcher::new(
            outbox.handle().clone(),
            Arc::new(producer),
            RetryPolicy::default(),
        );
        let mark_mode = MarkMode::default();
        let marker = Arc::new(marker_for(&outbox, mark_mode));
        let immediate_clear = !outbox.config().stream.is_enabled();
        Self {
            outbox,
            dispatcher,
            mark_mode,
            marker,
            immediate_clear,
        }
    }

    /// Turns the immediate clear on or off for every handler of this postbox. It is on by
    /// default, and off by default when the outbox has a stream mode
    /// ([`OutboxConfig::with_stream`](crate::OutboxConfig::with_stream)): the stream relay
    /// sends each message within milliseconds, and both sending would deliver every message
    /// twice. Off, a handler's `ClearMode::Immediate` commits without sending, as
    /// `ClearMode::Sweeper` does; [`Postbox::clear`] still sends what it is given.
    ///
    /// ```no_run
    /// # async fn run(db: outbox_runtime::DynamoDb, producer: outbox_runtime::transport::SqsProducer)
    /// # -> outbox_runtime::Result<()> {
    /// use outbox_runtime::StreamMode;
    /// use outbox_runtime::{Outbox, OutboxConfig, Postbox};
    ///
    /// let config = OutboxConfig::default().with_stream(StreamMode::WithSweeper);
    /// let postbox = Postbox::new(Outbox::new(db, config)?, producer);
    /// assert!(!postbox.clears_immediately(), "the relay sends");
    /// # Ok(()) }
    /// ```
    pub fn with_immediate_clear(mut self, on: bool) -> Self {
        self.immediate_clear = on;
        self
    }

    /// True when a handler's `ClearMode::Immediate` sends right after the commit (see
    /// [`Postbox::with_immediate_clear`]).
    pub fn clears_immediately(&self) -> bool {
        self.immediate_clear
    }

    /// Sets when what the postbox sends at once is marked dispatched (see [`MarkMode`]).
    pub fn with_mark_mode(mut self, mark_mode: MarkMode) -> Self {
        self.mark_mode = mark_mode;
        self.marker = Arc::new(marker_for(&self.outbox, mark_mode));
        self
    }

    /// Waits until every message this postbox (or a clone of it) sent before the call is
    /// marked dispatched. With [`MarkMode::Background`], call it before the process ends, so
    /// that no sent message is left for the sweeper to send again; with [`MarkMode::Inline`]
    /// there is never anything to wait for.
    pub async fn flush(&self) {
        self.marker.flush().await;
    }

    /// Sets how failed sends are counted and backed off, on the immediate path and by every
    /// sweeper made from this postbox.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.dispatcher = self.dispatcher.with_retry_policy(retry);
        self
    }

    /// The outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// What sends and marks for this postbox, shared with its sweepers.
    pub(crate) fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Begins a transaction.
    pub fn begin(&self) -> Transaction {
        Transaction::begin(&self.outbox)
    }

    /// Commits `tx` ([`Transaction::commit`]) and, with [`ClearMode::Immediate`], sends its
    /// messages at once. A failed send is logged and left to the sweeper: it never fails the
    /// call.
    ///
    /// # Errors
    /// The commit's error (see [`Transaction::commit`]).
    pub async fn commit_and_send(&self, tx: Transaction, mode: ClearMode) -> Result<Committed> {
        self.commit_and_clear(tx, mode)
            .await
            .map(|(committed, _)| committed)
    }

    /// [`Postbox::commit_and_send`], also saying what the clear did (`None` when nothing was sent: clear
    /// mode `Sweeper`, or no messages).
    pub(crate) async fn commit_and_clear(
        &self,
        tx: Transaction,
        mode: ClearMode,
    ) -> Result<(Committed, Option<ClearReport>)> {
        let committed = tx.commit().await?;
        let report = if mode == ClearMode::Immediate
            && self.immediate_clear
            && !committed.messages.is_empty()
        {
            Some(self.clear(&committed.messages).await)
        } else {
            None
        };
        Ok((committed, report))
    }

    /// Sends messages from memory (no read back) and marks the sent ones dispatched in
    /// batches, at once or in the background as the [`MarkMode`] says. Whatever fails stays
    /// outstanding for the sweeper: a failed send with its attempt recorded, a failed mark as
    /// [`ClearReport::sent_unmarked`] (sent again later).
    pub async fn clear(&self, messages: &[Message]) -> ClearReport {
        self.clear_after(messages, &vec![0; messages.len()]).await
    }

    /// [`Postbox::clear`] for messages that already failed `attempts[i]` times.
    async fn clear_after(&self, messages: &[Message], attempts: &[u32]) -> ClearReport {
        let span = tracing::debug_span!("outbox.clear", messages = messages.len());
        let marking = match self.mark_mode {
            MarkMode::Background { .. } => Marking::Background(&self.marker),
            MarkMode::Inline => Marking::Now,
        };
        let dispatched = self
            .dispatcher
            .dispatch(messages, attempts, Path::Immediate, marking)
            .instrument(span)
            .await;
        ClearReport {
            sent: dispatched.sent,
            mark_pending: dispatched.mark_pending,
            left_outstanding: dispatched
                .failed
                .into_iter()
                .map(|failed| failed.id)
                .collect(),
            sent_unmarked: dispatched.sent_unmarked,
        }
    }

    /// Stores a message outside any transaction ([`Outbox::store`]) and sends it at once.
    ///
    /// # Errors
    /// As [`Outbox::store`]; a failed send is reported, not an error.
    pub async fn store_and_send(&self, message: &Message) -> Result<ClearReport> {
        self.outbox.store(message).await?;
        Ok(self.clear(std::slice::from_ref(message)).await)
    }

    /// Sends the outstanding messages among `ids`, read back consistently, and marks them.
    /// A scheduled message is left to the sweeper, due or not: the immediate clear never sends
    /// one.
    ///
    /// # Errors
    /// The read's error.
    pub async fn clear_ids(&self, ids: &[MessageId]) -> Result<ClearReport> {
        let (messages, attempts): (Vec<Message>, Vec<u32>) = self
            .outbox
            .get_many(ids)
            .await?
            .into_iter()
            .filter(|stored| stored.is_outstanding() && stored.due_at.is_none())
            .map(|stored| (stored.message, stored.attempts))
            .unzip();
        Ok(self.clear_after(&messages, &attempts).await)
    }
}

/// The background marker of a postbox in `mode` (one that is never started when marks are
/// inline).
fn marker_for(outbox: &Outbox, mode: MarkMode) -> Marker {
    let max_delay = match mode {
        MarkMode::Background { max_delay } => max_delay,
        MarkMode::Inline => Duration::ZERO,
    };
    Marker::new(outbox.handle().clone(), max_delay)
}
