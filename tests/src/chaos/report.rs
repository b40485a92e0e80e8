//! The figures of a run and every promise it found broken ([`ChaosReport::violations`]), and
//! how they are printed.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use outbox_runtime::MessageId;

use super::config::CommandFault;
use super::outage::Outage;
use super::recorder::DuplicateCause;

/// The figures of a run and every promise found broken.
#[derive(Clone, Debug, Default)]
pub struct ChaosReport {
    /// Commands handled.
    pub commands: usize,
    /// Commands whose handler returned `Ok` (or whose uncertain commit is in the table).
    pub committed: usize,
    /// Commands per injected fault.
    pub faults: BTreeMap<CommandFault, usize>,
    /// Commands that failed with an error nobody injected, and how they resolved.
    pub uncertain: Vec<String>,
    /// Commits that got no answer (DynamoDB down): the caller saw an error and cannot know
    /// whether they were applied.
    pub commits_unanswered: usize,
    /// Of those, the ones the table holds: committed after all, so they must be delivered.
    pub commits_unanswered_applied: usize,
    /// Requests marking a sent message dispatched that failed.
    pub failed_marks: usize,
    /// Sweeper passes that stopped at an error (the next pass carries on).
    pub failed_sweeps: usize,
    /// The kills and restarts of DynamoDB Local.
    pub outages: Vec<Outage>,
    /// Sends the transport failed without delivering.
    pub injected_send_failures: usize,
    /// Distinct committed messages delivered.
    pub delivered: usize,
    /// Deliveries in all, duplicates included.
    pub deliveries: usize,
    /// Committed messages never delivered.
    pub lost: Vec<MessageId>,
    /// Delivered messages of commands that did not commit.
    pub phantom: Vec<MessageId>,
    /// Duplicates by the fault that explains them.
    pub duplicates: BTreeMap<DuplicateCause, usize>,
    /// Duplicates no fault explains.
    pub unexplained_duplicates: Vec<MessageId>,
    /// Messages first sent from memory by their handler (the immediate clear) before an earlier
    /// message of their key that was left to the sweeper (the exception to order per key).
    pub immediate_overtakes: usize,
    /// Messages first delivered by a sweeper before an earlier message of their key.
    pub sweeper_overtakes: Vec<MessageId>,
    /// Messages first sent by a stream relay before an earlier message of their key that was
    /// left to the sweeper (its send had failed in an earlier batch): the relay's exception to
    /// order per key, as the immediate clear's.
    pub relay_overtakes: usize,
    /// In a stream-relay run: the deliveries of the relay killed before it died, when it was.
    pub relay_killed: Option<usize>,
    /// The killed relay had lost its lease before its kill point (it stalled longer than the
    /// lease), and was killed when the other relay took the shard.
    pub relay_lease_lapsed_before_kill: bool,
    /// Commands whose entity and message were not stored together (one without the other).
    pub torn_commits: Vec<String>,
    /// Committed messages still outstanding or dead-lettered at the end, each with its state.
    pub not_dispatched: Vec<String>,
    /// Messages the backlog held when the sweepers started.
    pub backlog: usize,
    /// Deliveries by the killed sweeper, and whether the kill happened.
    pub killed_sweeper_deliveries: usize,
    /// True when a sweeper was killed between a send and its mark.
    pub sweeper_killed: bool,
    /// Wall time of the command phase and of the drain.
    pub command_phase: Duration,
    /// Wall time the sweepers took to drain the backlog.
    pub drain_phase: Duration,
}

impl ChaosReport {
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
        let ids = |ids: &[MessageId]| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
        list("lost (committed, never delivered)", &ids(&self.lost));
        list("phantom (delivered, never committed)", &ids(&self.phantom));
        list(
            "duplicates no fault explains",
            &ids(&self.unexplained_duplicates),
        );
        list(
            "sweeper delivered a later message of a key first",
            &ids(&self.sweeper_overtakes),
        );
        list("entity and message not stored together", &self.torn_commits);
        list("committed but not marked dispatched", &self.not_dispatched);
        found
    }

    /// Duplicates in all.
    pub fn duplicate_count(&self) -> usize {
        self.duplicates.values().sum::<usize>() + self.unexplained_duplicates.len()
    }
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "commands        {}", self.commands)?;
        writeln!(f, "committed       {}", self.committed)?;
        writeln!(
            f,
            "rolled back     {}",
            self.faults
                .iter()
                .filter(|(fault, _)| fault.rolls_back())
                .map(|(_, n)| n)
                .sum::<usize>()
        )?;
        for (fault, count) in &self.faults {
            if *fault != CommandFault::None {
                writeln!(f, "  {count:>6}  {}", fault.describe())?;
            }
        }
        writeln!(f, "uncertain       {}", self.uncertain.len())?;
        for line in &self.uncertain {
            writeln!(f, "          {line}")?;
        }
        if !self.outages.is_empty() || self.commits_unanswered > 0 {
            for outage in &self.outages {
                writeln!(
                    f,
                    "DynamoDB killed during the {}, down {:.1} s, restarted on its data",
                    outage.during,
                    outage.down.as_secs_f64()
                )?;
            }
            writeln!(
                f,
                "  commits unanswered {} ({} applied after all, delivered; the rest never \
                 delivered)",
                self.commits_unanswered, self.commits_unanswered_applied
            )?;
            writeln!(f, "  marks failed       {}", self.failed_marks)?;
            writeln!(f, "  sweeps failed      {}", self.failed_sweeps)?;
        }
        writeln!(f, "send failures   {}", self.injected_send_failures)?;
        if let Some(before) = self.relay_killed {
            writeln!(
                f,
                "relay killed    yes ({before} deliveries before it died, between a send and its \
                 checkpoint{}); the other relay resumed the stream at its checkpoint",
                if self.relay_lease_lapsed_before_kill {
                    "; its lease had lapsed first, in a stall longer than the lease"
                } else {
                    ""
                }
            )?;
        }
        if self.relay_overtakes > 0 {
            writeln!(
                f,
                "relay overtakes {} (a later message of a key sent by the relay while an earlier \
                 one waited for the sweeper after a failed send)",
                self.relay_overtakes
            )?;
        }
        writeln!(f, "backlog         {} (left to the sweepers)", self.backlog)?;
        writeln!(
            f,
            "sweeper killed  {} ({} deliveries before it died)",
            if self.sweeper_killed { "yes" } else { "no" },
            self.killed_sweeper_deliveries
        )?;
        writeln!(f, "delivered       {}", self.delivered)?;
        writeln!(f, "deliveries      {}", self.deliveries)?;
        writeln!(f, "lost            {}", self.lost.len())?;
        writeln!(f, "phantom         {}", self.phantom.len())?;
        writeln!(f, "duplicates      {}", self.duplicate_count())?;
        for (cause, count) in &self.duplicates {
            writeln!(f, "  {count:>6}  {cause}")?;
        }
        if !self.unexplained_duplicates.is_empty() {
            writeln!(f, "  {:>6}  UNEXPLAINED", self.unexplained_duplicates.len())?;
        }
        writeln!(
            f,
            "order per key   {} overtakes by the immediate clear (an earlier message of the key \
             was left to the sweeper), {} by a sweeper",
            self.immediate_overtakes,
            self.sweeper_overtakes.len()
        )?;
        writeln!(f, "torn commits    {}", self.torn_commits.len())?;
        writeln!(f, "not dispatched  {}", self.not_dispatched.len())?;
        write!(
            f,
            "time            {:.1} s commands, {:.1} s drain",
            self.command_phase.as_secs_f64(),
            self.drain_phase.as_secs_f64()
        )
    }
}
