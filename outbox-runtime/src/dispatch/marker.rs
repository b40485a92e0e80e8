//! Marking sent messages dispatched without making the sender wait: ids are gathered into mark
//! requests of 25 ([`MarkBatches`]), and on the immediate path one background task per postbox
//! ([`Marker`]) gathers the ids of every concurrent handler, so that a call returns right after
//! its send and a message costs its commit plus a twenty-fifth of a mark request.
//!
//! A mark lost to a crash only means that the sweeper sends the message again (a duplicate,
//! counted as today); `Postbox::flush` waits for every mark handed over before it.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::message::MessageId;
use crate::table::handle::TableHandle;
use crate::table::mark::Unmarked;

/// Ids per mark request: DynamoDB's limit for `BatchExecuteStatement` and `BatchWriteItem`.
const BATCH: usize = 25;
/// Mark requests in flight at once.
const CONCURRENT_REQUESTS: usize = 8;

/// Mark requests of at most 25 ids, each started as soon as it is full, run concurrently.
pub(crate) struct MarkBatches {
    table: TableHandle,
    open: Vec<MessageId>,
    running: JoinSet<Unmarked>,
    unmarked: Unmarked,
}

impl MarkBatches {
    pub(crate) fn new(table: TableHandle) -> Self {
        Self {
            table,
            open: Vec::new(),
            running: JoinSet::new(),
            unmarked: Unmarked::default(),
        }
    }

    /// Ids waiting for a request, and ids whose request runs.
    pub(crate) fn len(&self) -> usize {
        self.open.len() + self.running.len() * BATCH
    }

    /// Adds ids; every full batch of 25 is started at once.
    pub(crate) async fn add(&mut self, ids: impl IntoIterator<Item = MessageId>) {
        for id in ids {
            self.open.push(id);
            if self.open.len() == BATCH {
                self.start().await;
            }
        }
    }

    /// Starts a request for what is open (if anything), waiting first while as many requests
    /// as allowed run.
    pub(crate) async fn start(&mut self) {
        if self.open.is_empty() {
            return;
        }
        while self.running.len() >= CONCURRENT_REQUESTS {
            self.reap_one().await;
        }
        let ids = std::mem::take(&mut self.open);
        let table = self.table.clone();
        self.running
            .spawn(async move { table.mark_dispatched_each(&ids).await });
    }

    /// Waits for one running request and keeps what it could not mark.
    async fn reap_one(&mut self) {
        match self.running.join_next().await {
            Some(Ok(unmarked)) => {
                self.unmarked.ids.extend(unmarked.ids);
                if let Some(err) = unmarked.error {
                    self.unmarked.error.get_or_insert(err);
                }
            }
            // A mark task only panics if the runtime is shutting down: its ids stay
            // outstanding and the sweeper sends them again.
            Some(Err(err)) => tracing::warn!(error = %err, "a mark request did not finish"),
            None => {}
        }
    }

    /// Starts what is open, waits for every request, and says what could not be marked.
    pub(crate) async fn finish(&mut self) -> Unmarked {
        self.start().await;
        while !self.running.is_empty() {
            self.reap_one().await;
        }
        std::mem::take(&mut self.unmarked)
    }
}

/// What the background marker is told.
enum Command {
    /// Ids sent at `sent_at`, to be marked.
    Mark(Vec<MessageId>, Instant),
    /// Mark everything handed over so far now, and answer when it is done.
    Flush(oneshot::Sender<()>),
}

/// The background task of a postbox that marks what its handlers sent, the ids of all of them
/// together, 25 to a request, each id at most `max_delay` after it was handed over. Started
/// on first use, on the runtime of the first send; it ends when the last clone of its postbox
/// is dropped, after marking what it holds.
#[derive(Debug)]
pub(crate) struct Marker {
    table: TableHandle,
    max_delay: Duration,
    queue: std::sync::OnceLock<mpsc::UnboundedSender<Command>>,
}

impl Marker {
    pub(crate) fn new(table: TableHandle, max_delay: Duration) -> Self {
        Self {
            table,
            max_delay,
            queue: std::sync::OnceLock::new(),
        }
    }

    fn queue(&self) -> &mpsc::UnboundedSender<Command> {
        self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(run(self.table.clone(), self.max_delay, receiver));
            sender
        })
    }

    /// Hands sent ids over to be marked.
    pub(crate) fn mark(&self, ids: Vec<MessageId>) {
        if ids.is_empty() {
            return;
        }
        // The task only stops when every sender is gone, and this is one.
        let _ = self.queue().send(Command::Mark(ids, Instant::now()));
    }

    /// Waits until every id handed over before the call is marked (or its mark failed, which
    /// is logged and counted in `outbox_sent_unmarked_total`).
    pub(crate) async fn flush(&self) {
        let Some(queue) = self.queue.get() else {
            return;
        };
        let (done, answered) = oneshot::channel();
        if queue.send(Command::Flush(done)).is_ok() {
            let _ = answered.await;
        }
    }
}

async fn run(table: TableHandle, max_delay: Duration, mut queue: mpsc::UnboundedReceiver<Command>) {
    let mut batches = MarkBatches::new(table);
    // When the oldest id not yet in a request was handed over.
    let mut oldest: Option<Instant> = None;
    loop {
        let deadline = oldest.map(|at| at + max_delay);
        tokio::select! {
            command = queue.recv() => match command {
                Some(Command::Mark(ids, sent_at)) => {
                    let filled = batches.open.len() + ids.len() >= BATCH;
                    oldest.get_or_insert(sent_at);
                    batches.add(ids).await;
                    if batches.open.is_empty() {
                        oldest = None;
                    } else if filled {
                        // What is left open came with this command.
                        oldest = Some(sent_at);
                    }
                }
                Some(Command::Flush(done)) => {
                    start_open(&mut batches, &mut oldest).await;
                    report(batches.finish().await);
                    let _ = done.send(());
                }
                None => {
                    start_open(&mut batches, &mut oldest).await;
                    report(batches.finish().await);
                    return;
                }
            },
            () = sleep_until(deadline) => start_open(&mut batches, &mut oldest).await,
            () = reap(&mut batches), if !batches.running.is_empty() => {}
        }
        metrics::gauge!("outbox_marker_queue_depth").set(batches.len() as f64);
    }
}

/// Starts the open batch, recording how long its oldest id waited.
async fn start_open(batches: &mut MarkBatches, oldest: &mut Option<Instant>) {
    if let Some(at) = oldest.take() {
        metrics::histogram!("outbox_marker_flush_delay_seconds").record(at.elapsed().as_secs_f64());
    }
    batches.start().await;
}

/// Waits for one running request; what it could not mark is reported at once.
async fn reap(batches: &mut MarkBatches) {
    batches.reap_one().await;
    let unmarked = std::mem::take(&mut batches.unmarked);
    report(unmarked);
}

fn report(unmarked: Unmarked) {
    if let Some(err) = unmarked.error {
        tracing::warn!(error = %err, count = unmarked.ids.len(), "sent, but marking dispatched failed; the sweeper will send these again");
        metrics::counter!("outbox_sent_unmarked_total", "path" => "immediate")
            .increment(unmarked.ids.len() as u64);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
