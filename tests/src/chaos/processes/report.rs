//! The figures of a run of sweeper processes, what it found broken
//! ([`ProcessesReport::violations`]), and how they are printed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::chaos::ChaosReport;

/// The figures of a run of sweeper processes and what it found broken.
#[derive(Debug, Default)]
pub struct ProcessesReport {
    /// The checks shared with the in-process harness (lost, phantom, order, torn, dispatched).
    pub check: ChaosReport,
    /// Sweeper processes.
    pub processes: usize,
    /// Sends recorded per process, by owner.
    pub sends: Vec<(String, usize)>,
    /// The killed process, and its sends before it died.
    pub killed: Option<(String, usize)>,
    /// Shards the killed process held when it died.
    pub killed_shards: Vec<u16>,
    /// Those shards' owners once the backlog was drained.
    pub taken_over: BTreeMap<u16, Option<String>>,
    /// How long before its death a send of the killed process may have been unmarked: one
    /// lease duration.
    pub unmarked_window: std::time::Duration,
    /// The killed process's sends within that window.
    pub unmarked_window_sends: usize,
    /// Duplicates whose first copy is not among the killed process's sends of that window.
    pub outside_in_flight: Vec<String>,
    /// Processes that did not stop cleanly on SIGTERM: owner and status.
    pub unclean_stops: Vec<String>,
    /// True when the drain did not finish in time.
    pub timed_out: bool,
    /// Where the delivery records are.
    pub record_dir: PathBuf,
}

impl ProcessesReport {
    /// Every broken promise, one line each.
    pub fn violations(&self) -> Vec<String> {
        let mut found = self.check.violations();
        if !self.outside_in_flight.is_empty() {
            found.push(format!(
                "duplicates not first sent by the killed sweeper within {} ms before it died: {} \
                 (first: {})",
                self.unmarked_window.as_millis(),
                self.outside_in_flight.len(),
                self.outside_in_flight
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.unclean_stops.is_empty() {
            found.push(format!(
                "sweepers that did not stop cleanly on SIGTERM: {}",
                self.unclean_stops.join("; ")
            ));
        }
        if self.timed_out {
            found.push("the backlog was not drained in time".to_owned());
        }
        let untaken: Vec<String> = self
            .taken_over
            .iter()
            .filter(|(_, owner)| {
                owner.is_none() || owner.as_deref() == self.killed.as_ref().map(|(o, _)| o.as_str())
            })
            .map(|(shard, _)| shard.to_string())
            .collect();
        if !untaken.is_empty() {
            found.push(format!(
                "shards of the killed sweeper nobody took over: {}",
                untaken.join(", ")
            ));
        }
        found
    }
}

impl fmt::Display for ProcessesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.check;
        writeln!(f, "commands        {}", c.commands)?;
        writeln!(f, "committed       {}", c.committed)?;
        writeln!(f, "uncertain       {}", c.uncertain.len())?;
        for line in &c.uncertain {
            writeln!(f, "          {line}")?;
        }
        writeln!(f, "backlog         {} (nothing sent at commit)", c.backlog)?;
        writeln!(f, "processes       {}", self.processes)?;
        for (owner, sends) in &self.sends {
            writeln!(f, "  {sends:>6}  sends by {owner}")?;
        }
        match &self.killed {
            Some((owner, sends)) => writeln!(
                f,
                "killed          {owner} (SIGKILL after {sends} sends), holding shards {:?}",
                self.killed_shards
            )?,
            None => writeln!(f, "killed          none")?,
        }
        let taken: Vec<String> = self
            .taken_over
            .iter()
            .map(|(shard, owner)| format!("{shard}->{}", owner.as_deref().unwrap_or("nobody")))
            .collect();
        writeln!(
            f,
            "taken over      {} of {} shards ({})",
            self.taken_over
                .values()
                .filter(|owner| owner.is_some()
                    && owner.as_deref() != self.killed.as_ref().map(|(o, _)| o.as_str()))
                .count(),
            self.killed_shards.len(),
            taken.join(", ")
        )?;
        writeln!(f, "delivered       {}", c.delivered)?;
        writeln!(f, "deliveries      {}", c.deliveries)?;
        writeln!(f, "lost            {}", c.lost.len())?;
        writeln!(f, "phantom         {}", c.phantom.len())?;
        writeln!(
            f,
            "duplicates      {} ({} explained by the kill: first sent by the killed sweeper \
             in its last {} ms ({} sends), then by another; {} not)",
            c.duplicate_count(),
            c.duplicate_count()
                .saturating_sub(self.outside_in_flight.len()),
            self.unmarked_window.as_millis(),
            self.unmarked_window_sends,
            self.outside_in_flight.len()
        )?;
        writeln!(
            f,
            "order per key   {} later messages of a key delivered before an earlier one",
            c.sweeper_overtakes.len()
        )?;
        writeln!(f, "torn commits    {}", c.torn_commits.len())?;
        writeln!(f, "not dispatched  {}", c.not_dispatched.len())?;
        writeln!(
            f,
            "stopped         {} of {} cleanly on SIGTERM",
            self.processes - usize::from(self.killed.is_some()) - self.unclean_stops.len(),
            self.processes - usize::from(self.killed.is_some())
        )?;
        writeln!(f, "records         {}", self.record_dir.display())?;
        write!(
            f,
            "time            {:.1} s commands, {:.1} s drain",
            c.command_phase.as_secs_f64(),
            c.drain_phase.as_secs_f64()
        )
    }
}
