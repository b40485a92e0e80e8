//! The figures of a consumer-side run, what it found broken
//! ([`ConsumerChaosReport::violations`]), and how they are printed.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::ConsumerChaosConfig;
use super::check::{Records, Stored};

/// The messages of a queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Visible: waiting to be received.
    pub visible: usize,
    /// Received and not deleted (in flight).
    pub in_flight: usize,
    /// Delayed.
    pub delayed: usize,
}

impl QueueDepth {
    /// Nothing left.
    pub fn is_empty(&self) -> bool {
        self.visible == 0 && self.in_flight == 0 && self.delayed == 0
    }

    /// All of them.
    pub fn total(&self) -> usize {
        self.visible + self.in_flight + self.delayed
    }
}

/// A SIGKILL of a consumer process.
#[derive(Clone, Debug)]
pub struct Kill {
    /// The process.
    pub name: String,
    /// The handlings all processes had recorded when it was killed.
    pub at_handlings: usize,
    /// The handlings it had recorded itself.
    pub own_handlings: usize,
}

/// The figures of a consumer-side run and every promise found broken.
#[derive(Clone, Debug, Default)]
pub struct ConsumerChaosReport {
    /// Distinct outbox messages put in the queue.
    pub messages: usize,
    /// Of those, sent a second time with the same outbox id.
    pub duplicates_injected: usize,
    /// Copies sent in all (`messages + duplicates_injected`).
    pub copies: usize,
    /// Sends SQS refused and the fill repeated.
    pub resent: usize,
    /// Rounds the copies were sent in (each drained before the next was sent).
    pub rounds: usize,
    /// Consumer processes running at a time, and messages in flight in each.
    pub consumers: usize,
    /// Messages in flight per process.
    pub concurrency: usize,
    /// Consumer processes started in all (the first ones and every replacement).
    pub processes: usize,
    /// The SIGKILLs.
    pub kills: Vec<Kill>,
    /// Processes that exited on their own right after a handler's `Ok`, before the delete.
    pub died_after_ok: usize,
    /// `Ok`s recorded as followed by such an exit.
    pub dying: usize,
    /// Processes that exited for a reason nobody injected.
    pub unexpected_exits: Vec<String>,
    /// Processes that did not stop cleanly on SIGTERM at the end.
    pub unclean_stops: Vec<String>,
    /// Handlings recorded as committed (first handlings).
    pub done: usize,
    /// Deliveries recorded as absorbed by the inbox (nothing applied, acknowledged).
    pub duplicates_absorbed: usize,
    /// The fewest absorbed duplicates the deletes require:
    /// `copies + dying - done` (see the module's documentation).
    pub duplicates_required: usize,
    /// Handlings that failed (left to the queue), and the most frequent reasons.
    pub failed: usize,
    /// The reasons of the failures, most frequent first, with their counts.
    pub failures: Vec<(String, usize)>,
    /// Messages whose effect was applied exactly once.
    pub applied_once: usize,
    /// Messages whose effect was never applied.
    pub lost: Vec<String>,
    /// Of those, the ones no consumer ever received (`ReceiveMessage` never returned them).
    pub lost_never_received: usize,
    /// Deletes SQS confirmed and the consumers recorded (a process that exits with a delete in
    /// flight records none for it, so this may be under the copies).
    pub deleted: usize,
    /// Deletes by a process of a message it had not recorded as many `Ok`s for.
    pub deleted_without_ok: Vec<String>,
    /// Messages whose effect was applied more than once: id, times, first applier.
    pub applied_twice: Vec<String>,
    /// Effects of messages that were never sent.
    pub phantom: Vec<String>,
    /// Messages recorded as committed by more than one handling.
    pub handled_twice: Vec<String>,
    /// Messages in the inbox.
    pub inbox_recorded: usize,
    /// Messages missing from the inbox.
    pub inbox_missing: Vec<String>,
    /// Inbox items of messages that were never sent.
    pub inbox_extra: Vec<String>,
    /// What was left in the queue after the run (`None`: it could not be read).
    pub left: Option<QueueDepth>,
    /// What the dead-letter queue held after the run.
    pub dead_lettered: Option<QueueDepth>,
    /// True when the drain did not finish in time.
    pub timed_out: bool,
    /// Wall time of the fill (every round's sends).
    pub fill_phase: Duration,
    /// Wall time of the drains (every round's, from the consumers' start to their stop).
    pub drain_phase: Duration,
    /// Where the records are.
    pub record_dir: PathBuf,
}

/// What [`build`] makes the report of.
pub(super) struct Inputs<'a> {
    pub(super) config: &'a ConsumerChaosConfig,
    pub(super) ids: &'a [String],
    pub(super) duplicated: usize,
    pub(super) copies: usize,
    pub(super) resent: usize,
    pub(super) rounds: usize,
    pub(super) processes: usize,
    pub(super) kills: Vec<Kill>,
    pub(super) died_after_ok: usize,
    pub(super) unexpected_exits: Vec<String>,
    pub(super) unclean_stops: Vec<String>,
    pub(super) records: Records,
    pub(super) stored: Stored,
    pub(super) left: Option<QueueDepth>,
    pub(super) dead_lettered: Option<QueueDepth>,
    pub(super) timed_out: bool,
    pub(super) fill_phase: Duration,
    pub(super) drain_phase: Duration,
    pub(super) record_dir: PathBuf,
}

/// Checks the records and the tables against the messages sent.
pub(super) fn build(inputs: Inputs<'_>) -> ConsumerChaosReport {
    let Inputs {
        config,
        ids,
        duplicated,
        copies,
        resent,
        rounds,
        processes,
        kills,
        died_after_ok,
        unexpected_exits,
        unclean_stops,
        mut records,
        stored,
        left,
        dead_lettered,
        timed_out,
        fill_phase,
        drain_phase,
        record_dir,
    } = inputs;
    let sent: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut report = ConsumerChaosReport {
        messages: ids.len(),
        duplicates_injected: duplicated,
        copies,
        resent,
        rounds,
        consumers: config.consumers,
        concurrency: config.concurrency,
        processes,
        kills,
        died_after_ok,
        dying: records.dying,
        unexpected_exits,
        unclean_stops,
        done: records.done,
        duplicates_absorbed: records.duplicates,
        duplicates_required: (copies + records.dying).saturating_sub(records.done),
        failed: records.failed,
        deleted: records.deleted,
        inbox_recorded: stored.inbox.len(),
        left,
        dead_lettered,
        timed_out,
        fill_phase,
        drain_phase,
        record_dir,
        ..ConsumerChaosReport::default()
    };
    let mut failures: Vec<(String, usize)> = records.failures.into_iter().collect();
    failures.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    report.failures = failures;
    for id in ids {
        match stored.applied.get(id) {
            None | Some((0, _)) => {
                if !records.received_by_id.contains_key(id) {
                    report.lost_never_received += 1;
                }
                report.lost.push(id.clone());
            }
            Some((1, _)) => report.applied_once += 1,
            Some((n, by)) => report
                .applied_twice
                .push(format!("{id} ({n} times, first by {by})")),
        }
        if !stored.inbox.contains(id) {
            report.inbox_missing.push(id.clone());
        }
        if records.done_by_id.get(id).is_some_and(|n| *n > 1) {
            report.handled_twice.push(format!(
                "{id} ({} commits recorded)",
                records.done_by_id[id]
            ));
        }
    }
    report.deleted_without_ok = std::mem::take(&mut records.deleted_without_ok);
    report.phantom = stored
        .applied
        .keys()
        .filter(|id| !sent.contains(id.as_str()))
        .cloned()
        .collect();
    report.inbox_extra = stored
        .inbox
        .iter()
        .filter(|id| !sent.contains(id.as_str()))
        .cloned()
        .collect();
    report
}

impl ConsumerChaosReport {
    /// Every broken promise, one line each; empty when the run kept them all.
    pub fn violations(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut list = |what: &str, ids: &[String]| {
            if !ids.is_empty() {
                found.push(format!(
                    "{what}: {} (first: {})",
                    ids.len(),
                    ids.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        };
        list(
            &format!(
                "lost (effect never applied; {} of them never received by a consumer)",
                self.lost_never_received
            ),
            &self.lost,
        );
        list(
            "deleted by a consumer without a recorded Ok",
            &self.deleted_without_ok,
        );
        list("applied more than once", &self.applied_twice);
        list("phantom (an effect of a message never sent)", &self.phantom);
        list("committed by more than one handling", &self.handled_twice);
        list("missing from the inbox", &self.inbox_missing);
        list("in the inbox but never sent", &self.inbox_extra);
        list(
            "consumer processes that exited for a reason nobody injected",
            &self.unexpected_exits,
        );
        list(
            "consumer processes that did not stop cleanly on SIGTERM",
            &self.unclean_stops,
        );
        match self.left {
            Some(left) if left.is_empty() => {}
            Some(left) => found.push(format!(
                "left in the queue: {} ({} visible, {} in flight, {} delayed)",
                left.total(),
                left.visible,
                left.in_flight,
                left.delayed
            )),
            None => found.push("the queue's depth could not be read".to_owned()),
        }
        match self.dead_lettered {
            Some(dead) if dead.is_empty() => {}
            Some(dead) => found.push(format!(
                "moved to the dead-letter queue: {} (received more than the redrive policy's \
                 maxReceiveCount)",
                dead.total()
            )),
            None => found.push("the dead-letter queue's depth could not be read".to_owned()),
        }
        if self.duplicates_absorbed < self.duplicates_required {
            found.push(format!(
                "duplicates absorbed {} < {} required by the deletes (copies {} + deaths after \
                 Ok {} - first handlings {})",
                self.duplicates_absorbed,
                self.duplicates_required,
                self.copies,
                self.dying,
                self.done
            ));
        }
        if self.timed_out {
            found.push("the queue was not drained in time".to_owned());
        }
        found
    }
}

impl fmt::Display for ConsumerChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "messages        {}", self.messages)?;
        writeln!(
            f,
            "sent twice      {} (the same outbox id, a second copy in the queue)",
            self.duplicates_injected
        )?;
        writeln!(
            f,
            "copies sent     {} in {} rounds, each drained before the next ({} sends repeated \
             after SQS refused them)",
            self.copies, self.rounds, self.resent
        )?;
        writeln!(
            f,
            "consumers       {} at a time, {} messages in flight each; {} processes started",
            self.consumers, self.concurrency, self.processes
        )?;
        writeln!(f, "killed          {} (SIGKILL)", self.kills.len())?;
        for kill in &self.kills {
            writeln!(
                f,
                "          {} at {} handlings, after {} of its own",
                kill.name, kill.at_handlings, kill.own_handlings
            )?;
        }
        writeln!(
            f,
            "died after Ok   {} (exited after the commit, before the delete; {} such Oks \
             recorded)",
            self.died_after_ok, self.dying
        )?;
        writeln!(
            f,
            "unexpected exit {}",
            self.unexpected_exits.len() + self.unclean_stops.len()
        )?;
        for line in self.unexpected_exits.iter().chain(&self.unclean_stops) {
            writeln!(f, "          {line}")?;
        }
        writeln!(
            f,
            "handlings       {}",
            self.done + self.duplicates_absorbed + self.failed
        )?;
        writeln!(
            f,
            "  {:>6}  committed (first handlings; {} more committed by processes that died \
             before recording them)",
            self.done,
            self.applied_once.saturating_sub(self.done)
        )?;
        writeln!(
            f,
            "  {:>6}  duplicates absorbed by the inbox (at least {} required: copies {} + \
             deaths after Ok {} - first handlings {})",
            self.duplicates_absorbed, self.duplicates_required, self.copies, self.dying, self.done
        )?;
        writeln!(f, "  {:>6}  failed, left to the queue", self.failed)?;
        for (reason, count) in self.failures.iter().take(3) {
            writeln!(f, "          {count:>6}  {reason}")?;
        }
        writeln!(f, "applied once    {}", self.applied_once)?;
        writeln!(
            f,
            "lost            {} ({} never received by a consumer)",
            self.lost.len(),
            self.lost_never_received
        )?;
        writeln!(
            f,
            "deleted         {} (confirmations the consumers recorded; a process that died \
             may miss some; {} without a recorded Ok)",
            self.deleted,
            self.deleted_without_ok.len()
        )?;
        writeln!(f, "applied twice   {}", self.applied_twice.len())?;
        writeln!(f, "phantom         {}", self.phantom.len())?;
        writeln!(
            f,
            "inbox           {} recorded, {} missing, {} never sent",
            self.inbox_recorded,
            self.inbox_missing.len(),
            self.inbox_extra.len()
        )?;
        let depth = |depth: Option<QueueDepth>| {
            depth.map_or_else(|| "unknown".to_owned(), |d| d.total().to_string())
        };
        writeln!(
            f,
            "left in queue   {} (dead-lettered {})",
            depth(self.left),
            depth(self.dead_lettered)
        )?;
        writeln!(f, "records         {}", self.record_dir.display())?;
        let handled = self.done + self.duplicates_absorbed;
        write!(
            f,
            "time            {:.1} s sending, {:.1} s draining ({:.1} ms per copy)",
            self.fill_phase.as_secs_f64(),
            self.drain_phase.as_secs_f64(),
            if handled == 0 {
                0.0
            } else {
                self.drain_phase.as_secs_f64() * 1000.0 / self.copies.max(1) as f64
            }
        )
    }
}
