//! One shard's part of a sweeper's pass: page by page through the outstanding index, each page
//! read consistently from the base table, its due messages sent in order per key, the next page
//! read while the current one is sent, the marks sent 25 to a request while the sends go on.
//!
//! Order per key: a round sends at most one message per key (the earliest unsent), and a key
//! with a message that failed or waits for its backoff sends nothing more in the pass. A mark
//! that fails never lets a later message of a key out before an earlier one: the earlier one
//! was sent first. It does leave the earlier one outstanding, so the next pass sends it again,
//! after the later ones (a duplicate, out of order, as every duplicate of an at-least-once
//! relay can be).

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use crate::dispatch::dispatcher::{Dispatcher, Marking, Path};
use crate::dispatch::marker::MarkBatches;
use crate::dispatch::sweeper::config::SweeperConfig;
use crate::dispatch::sweeper::lease_keeper::LeaseKeeper;
use crate::dispatch::sweeper::report::SweepReport;
use crate::error::{Error, Result};
use crate::message::{Item, Message, MessageId};
use crate::table::attempts::FailureOutcome;
use crate::table::handle::TableHandle;
use crate::table::layout::StoredMessage;
use crate::table::list::IndexRange;
use crate::time::to_millis;

/// What every shard's pass shares.
pub(crate) struct ShardPass<'a> {
    pub(crate) dispatcher: &'a Dispatcher,
    pub(crate) config: &'a SweeperConfig,
    pub(crate) leases: &'a tokio::sync::Mutex<LeaseKeeper>,
}

impl ShardPass<'_> {
    fn table(&self) -> &TableHandle {
        self.dispatcher.table()
    }

    /// Whether `shard` is still this sweeper's, renewing the leases when due. A renewal (or
    /// waiting for another shard's) takes round trips: the ids gathered in `marks` go out
    /// first, so that a lease lost meanwhile leaves the next owner fewer sent messages that
    /// still look outstanding to send again.
    async fn still_holds(&self, shard: u16, marks: &mut MarkBatches) -> Result<bool> {
        // A guard whose renewal is due is dropped here, before the wait below.
        let ready = self
            .leases
            .try_lock()
            .ok()
            .filter(|keeper| !keeper.renewal_due());
        let mut keeper = match ready {
            Some(keeper) => keeper,
            None => {
                marks.start().await;
                self.leases.lock().await
            }
        };
        keeper.still_holds(shard).await
    }
}

/// One page of a shard: the messages read back, what could not be read, and where the next
/// page starts.
struct Page {
    stored: Vec<StoredMessage>,
    unreadable: Vec<(MessageId, Error)>,
    last: Option<Item>,
}

/// Reads a page of the index (ids only) and its messages from the base table, consistently:
/// the index lags the table.
async fn fetch(
    work: &ShardPass<'_>,
    shard: u16,
    cutoff_ms: u64,
    start: Option<Item>,
) -> Result<Page> {
    let (ids, last) = work
        .table()
        .query_shard(
            shard,
            IndexRange::DueBy(cutoff_ms),
            work.config.batch_size,
            start,
        )
        .await?;
    let mut page = Page {
        stored: Vec::new(),
        unreadable: Vec::new(),
        last,
    };
    if ids.is_empty() {
        page.last = None;
        return Ok(page);
    }
    for (id, read) in work.table().read_many(&ids).await? {
        match read {
            Ok(message) => page.stored.push(message),
            Err(err) => page.unreadable.push((id, err)),
        }
    }
    Ok(page)
}

/// Sweeps one shard: what is due, in order per key, while the shard stays this sweeper's.
pub(crate) async fn pass(work: &ShardPass<'_>, shard: u16) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let mut marks = MarkBatches::new(work.table().clone());
    if !work.still_holds(shard, &mut marks).await? {
        return Ok(report);
    }
    // From here until its marks are written the shard is not given away (see
    // `SweeperLeases::rebalance`).
    work.leases.lock().await.busy.insert(shard);
    let now = SystemTime::now();
    // The index is read up to now, so that a scheduled message goes out on the first pass
    // after it falls due; a message deposited to be sent at once is left to the immediate
    // clear until it is `min_age` old (`process`), as the index alone cannot tell the two apart.
    let cutoff = to_millis(now);
    // Keys with an earlier message not sent (yet): their later messages wait.
    let mut blocked: HashSet<String> = HashSet::new();
    let mut page = fetch(work, shard, cutoff, None).await;
    let mut pages_left = work.config.max_pages.max(1) - 1;
    let result = loop {
        let current = match page {
            Ok(current) => current,
            Err(err) => break Err(err),
        };
        if current.stored.is_empty() && current.unreadable.is_empty() {
            break Ok(());
        }
        // The next page is read while this one is sent.
        let next_start = current.last.clone().filter(|_| pages_left > 0);
        let (sent_all, next) = tokio::join!(
            process(
                work,
                shard,
                now,
                current,
                &mut blocked,
                &mut marks,
                &mut report
            ),
            async {
                match next_start {
                    Some(start) => Some(fetch(work, shard, cutoff, Some(start)).await),
                    None => None,
                }
            }
        );
        match (sent_all, next) {
            (Err(err), _) => break Err(err),
            // The lease was lost: whatever the next page holds is the new owner's.
            (Ok(false), _) | (Ok(true), None) => break Ok(()),
            (Ok(true), Some(next)) => {
                pages_left -= 1;
                page = next;
            }
        }
    };
    // The marks of the pass end with it: a failed one fails the pass, after all was counted.
    let unmarked = marks.finish().await;
    work.leases.lock().await.busy.remove(&shard);
    if let Some(err) = unmarked.error {
        tracing::warn!(error = %err, count = unmarked.ids.len(), "sent, but marking dispatched failed; the next pass sends these again");
        metrics::counter!("outbox_sent_unmarked_total", "path" => "sweeper")
            .increment(unmarked.ids.len() as u64);
        result?;
        return Err(err);
    }
    result.map(|()| report)
}

/// Sets aside what cannot be read, then sends the page's due messages in rounds. Returns
/// `false` when it stopped because the shard's lease was lost.
async fn process(
    work: &ShardPass<'_>,
    shard: u16,
    now: SystemTime,
    page: Page,
    blocked: &mut HashSet<String>,
    marks: &mut MarkBatches,
    report: &mut SweepReport,
) -> Result<bool> {
    for (id, err) in page.unreadable {
        // It can never be sent: set it aside rather than block the shard.
        tracing::error!(message_id = %id, error = %err, "unreadable outbox item dead-lettered");
        work.table().dead_letter(&id, &err.to_string()).await?;
        report.dead_lettered += 1;
    }
    report.examined += page.stored.len();
    let mut due = Vec::new();
    for message in page
        .stored
        .into_iter()
        .filter(StoredMessage::is_outstanding)
    {
        let key = message.message.header.partition_key.clone();
        let is_blocked = key.as_ref().is_some_and(|k| blocked.contains(k));
        // Sent at once by whoever committed it, unless it is `min_age` old by now.
        let is_young = message.due_at.is_none()
            && now
                .duration_since(message.message.header.created_at)
                .unwrap_or_default()
                < work.config.min_age;
        // Outstanding since it fell due: a scheduled message waits from its due time, and one
        // still in the immediate clear's hands is not the sweeper's backlog.
        let since = message.due_at.unwrap_or(message.message.header.created_at);
        if !is_young && since <= now {
            report.oldest_outstanding = Some(
                report
                    .oldest_outstanding
                    .map_or(since, |oldest| oldest.min(since)),
            );
        }
        if is_blocked || is_young || !message.is_due(now) {
            report.held_back += 1;
            blocked.extend(key);
            continue;
        }
        due.push(message);
    }
    send_in_order(work, shard, due, blocked, marks, report).await
}

/// Claims the scheduled messages of a round right before it is sent, so that from here on a
/// cancel or a reschedule is refused; those no longer outstanding (cancelled or rescheduled
/// since they were read) are dropped. The claim outlasts the send: it holds for a lease.
async fn claim_scheduled(
    work: &ShardPass<'_>,
    round: Vec<StoredMessage>,
) -> Result<Vec<StoredMessage>> {
    let hold = work.config.lease_duration;
    let claims = round.iter().map(|stored| async move {
        match stored.due_at {
            Some(_) => work.table().claim(stored.message.id(), hold).await,
            None => Ok(true),
        }
    });
    let claimed = futures_util::future::join_all(claims).await;
    let mut kept = Vec::with_capacity(round.len());
    for (stored, claimed) in round.into_iter().zip(claimed) {
        if claimed? {
            if let Some(due) = stored.due_at {
                let late = SystemTime::now().duration_since(due).unwrap_or_default();
                metrics::histogram!("outbox_scheduled_due_to_sent_seconds")
                    .record(late.as_secs_f64());
            }
            kept.push(stored);
        } else {
            tracing::debug!(message_id = %stored.message.id(), "scheduled message cancelled or rescheduled before its send");
        }
    }
    Ok(kept)
}

/// Sends in rounds: each round holds at most one message per partition key (the earliest
/// unsent), so a batch never carries a later message of a key next to an earlier one that
/// might fail. A failure blocks the rest of its key for this pass. Returns `false` when it
/// stopped because the shard's lease was lost.
async fn send_in_order(
    work: &ShardPass<'_>,
    shard: u16,
    due: Vec<StoredMessage>,
    blocked: &mut HashSet<String>,
    marks: &mut MarkBatches,
    report: &mut SweepReport,
) -> Result<bool> {
    let mut queues: Vec<Vec<StoredMessage>> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for message in due {
        match message.message.header.partition_key.clone() {
            Some(key) => {
                let slot = *by_key.entry(key).or_insert_with(|| {
                    queues.push(Vec::new());
                    queues.len() - 1
                });
                queues[slot].push(message);
            }
            None => queues.push(vec![message]),
        }
    }
    for queue in &mut queues {
        queue.reverse();
    }
    loop {
        let round: Vec<StoredMessage> = queues
            .iter_mut()
            .filter_map(|queue| {
                let next = queue.last()?;
                let key_blocked = next
                    .message
                    .header
                    .partition_key
                    .as_ref()
                    .is_some_and(|key| blocked.contains(key));
                if key_blocked {
                    report.held_back += queue.len();
                    queue.clear();
                    return None;
                }
                queue.pop()
            })
            .collect();
        if round.is_empty() {
            return Ok(true);
        }
        if !work.still_holds(shard, marks).await? {
            return Ok(false);
        }
        let round = claim_scheduled(work, round).await?;
        let messages: Vec<Message> = round.iter().map(|s| s.message.clone()).collect();
        let attempts: Vec<u32> = round.iter().map(|s| s.attempts).collect();
        let dispatched = work
            .dispatcher
            .dispatch(&messages, &attempts, Path::Sweeper, Marking::Into(marks))
            .await;
        report.sent.extend(dispatched.mark_pending);
        for failed in dispatched.failed {
            report.failed += 1;
            blocked.extend(failed.partition_key);
            if let Some(FailureOutcome::DeadLettered { .. }) = failed.recorded {
                report.dead_lettered += 1;
            }
        }
        // A failed record fails the pass; what it did is already counted.
        if let Some(err) = dispatched.error {
            return Err(err);
        }
    }
}
