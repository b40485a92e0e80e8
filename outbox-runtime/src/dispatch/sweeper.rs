//! The sweeper: finds committed messages that were not sent (the process died after the commit,
//! or the transport failed) and sends them, at least once, in order per partition key.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, SystemTime};

use tracing::Instrument;

use crate::dispatch::dispatcher::{Dispatcher, Path};
use crate::dispatch::postbox::Postbox;
use crate::error::Result;
use crate::message::{Message, MessageId};
use crate::table::attempts::FailureOutcome;
use crate::table::handle::TableHandle;
use crate::table::layout::StoredMessage;
use crate::table::lease::Leases;
use crate::time::to_millis;

/// How a sweeper works. The defaults suit a service that clears immediately after commits and
/// runs the sweeper as a safety net; change them with the `with_` methods.
///
/// ```
/// use std::time::Duration;
/// use outbox_runtime::SweeperConfig;
///
/// let config = SweeperConfig::default()
///     .with_interval(Duration::from_millis(500))
///     .with_owner("orders-sweeper-1");
/// assert_eq!(config.min_age, Duration::from_secs(10));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweeperConfig {
    /// Pause between passes.
    pub interval: Duration,
    /// Only messages at least this old are swept, leaving the immediate path time to clear.
    pub min_age: Duration,
    /// Messages read per shard per page.
    pub batch_size: usize,
    /// Pages read per shard per pass at most (a page can be all held back by backoff).
    pub max_pages: usize,
    /// How long a shard lease lasts without renewal; a dead sweeper's shards are taken over
    /// after this.
    pub lease_duration: Duration,
    /// This sweeper's name in the lease items, unique per process. `None` (the default): made
    /// when the sweeper is made, as `host-pid-random`.
    pub owner: Option<String>,
}

impl Default for SweeperConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            min_age: Duration::from_secs(10),
            batch_size: 100,
            max_pages: 10,
            lease_duration: Duration::from_secs(30),
            owner: None,
        }
    }
}

impl SweeperConfig {
    /// Sets the pause between passes.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets the age below which messages are left to the immediate path.
    pub fn with_min_age(mut self, min_age: Duration) -> Self {
        self.min_age = min_age;
        self
    }

    /// Sets how many messages a shard's page holds.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets how many pages of a shard one pass reads at most.
    pub fn with_max_pages(mut self, max_pages: usize) -> Self {
        self.max_pages = max_pages;
        self
    }

    /// Sets how long a lease lasts without renewal.
    pub fn with_lease_duration(mut self, lease_duration: Duration) -> Self {
        self.lease_duration = lease_duration;
        self
    }

    /// Sets this sweeper's name in the lease items; it must be unique per process.
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
}

/// `host-pid-random`: unique per process, readable in the table.
fn default_owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// The shards this sweeper held when the pass ended. A pass can give shards away midway
    /// (a rebalance after another sweeper joined), so this is read at the end, never at the
    /// start: a shard listed here is not held by any other sweeper at that moment.
    pub shards: Vec<u16>,
    /// Outstanding messages read.
    pub examined: usize,
    /// Sent and marked dispatched.
    pub sent: Vec<MessageId>,
    /// Send failures recorded (they will be retried after a backoff).
    pub failed: usize,
    /// Messages dead-lettered in this pass.
    pub dead_lettered: usize,
    /// Messages held back: in backoff, or behind an unsent earlier message of their key.
    pub held_back: usize,
    /// When the oldest outstanding message seen in this pass was made.
    pub oldest_outstanding: Option<SystemTime>,
}

/// Sends outstanding messages of the shards it holds. Run one or several per outbox: they
/// split the shards between them through leases.
///
/// ```no_run
/// # async fn run(postbox: outbox_runtime::Postbox) -> outbox_runtime::Result<()> {
/// use outbox_runtime::{Sweeper, SweeperConfig};
///
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let sweeper = Sweeper::new(&postbox, SweeperConfig::default());
/// let task = tokio::spawn(sweeper.run(async {
///     let _ = stopped.await;
/// }));
/// // ... on shutdown:
/// let _ = stop.send(());
/// task.await.expect("sweeper task")?;
/// # Ok(()) }
/// ```
pub struct Sweeper {
    dispatcher: Dispatcher,
    config: SweeperConfig,
    owner: String,
    leases: Leases,
    next_rebalance: Option<tokio::time::Instant>,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper")
            .field("config", &self.config)
            .field("leases", &self.leases)
            .finish_non_exhaustive()
    }
}

impl Sweeper {
    /// A sweeper over the postbox's outbox and producer, retrying failed sends by the
    /// postbox's [`RetryPolicy`](crate::RetryPolicy) (see [`Postbox::with_retry_policy`]).
    pub fn new(postbox: &Postbox, config: SweeperConfig) -> Self {
        let dispatcher = postbox.dispatcher().clone();
        let owner = config.owner.clone().unwrap_or_else(default_owner);
        let leases = Leases::new(
            dispatcher.table().clone(),
            owner.clone(),
            config.lease_duration,
        );
        Self {
            dispatcher,
            config,
            owner,
            leases,
            next_rebalance: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SweeperConfig {
        &self.config
    }

    /// This sweeper's name in the lease items.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Sweeps until `stop` completes (any future: a signal, a channel, a cancellation token's
    /// `cancelled()`), then gives back its leases so other sweepers take its shards at once. A
    /// pass under way when `stop` completes is finished first. Errors of a pass are logged and
    /// the next pass goes on; only a failure to give back the leases is returned.
    ///
    /// # Errors
    /// The error of releasing the leases at the end (they then lapse on their own).
    pub async fn run(mut self, stop: impl Future<Output = ()> + Send) -> Result<()> {
        let mut stop = std::pin::pin!(stop);
        tracing::info!(owner = %self.owner, "sweeper started");
        loop {
            match self.sweep_once().await {
                Ok(report) if !report.sent.is_empty() || report.failed > 0 => tracing::debug!(
                    sent = report.sent.len(),
                    failed = report.failed,
                    dead_lettered = report.dead_lettered,
                    "sweep"
                ),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "sweep failed; trying again next pass"),
            }
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(self.config.interval) => {}
            }
        }
        tracing::info!(owner = %self.owner, "sweeper stopping; releasing leases");
        self.leases.release_all().await
    }

    /// Gives back every lease now (what `run` does when stopped).
    ///
    /// # Errors
    /// The request's error.
    pub async fn release(&mut self) -> Result<()> {
        self.next_rebalance = None;
        self.leases.release_all().await
    }

    /// One pass: keep the leases fair, then for each shard held send what is due.
    ///
    /// # Errors
    /// The first DynamoDB error of the pass.
    pub async fn sweep_once(&mut self) -> Result<SweepReport> {
        self.keep_leases().await?;
        let mut report = SweepReport::default();
        for shard in self.leases.shards() {
            // A long pass renews its leases as it goes, and skips a shard it no longer holds.
            self.keep_leases().await?;
            if !self.leases.shards().contains(&shard) {
                continue;
            }
            let span = tracing::debug_span!("outbox.sweep_shard", shard);
            self.sweep_shard(shard, &mut report)
                .instrument(span)
                .await?;
        }
        report.shards = self.leases.shards();
        // Bounded by what one pass reads (batch size x pages x shards held): never a full count.
        metrics::gauge!("outbox_outstanding_backlog", "owner" => self.owner.clone())
            .set(report.examined as f64);
        let oldest_age = report
            .oldest_outstanding
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .unwrap_or_default();
        metrics::gauge!("outbox_oldest_outstanding_age_seconds", "owner" => self.owner.clone())
            .set(oldest_age.as_secs_f64());
        Ok(report)
    }

    /// Rebalances (renewing membership and leases) when a quarter of the lease time has passed.
    async fn keep_leases(&mut self) -> Result<()> {
        let now = tokio::time::Instant::now();
        if self.next_rebalance.is_none_or(|at| at <= now) {
            self.leases.rebalance().await?;
            self.next_rebalance = Some(now + self.config.lease_duration / 4);
        }
        Ok(())
    }

    /// Renews the leases when due and says whether `shard` is still held. A shard pass can
    /// outlast the lease (many pages, a slow transport): it renews as it goes, and stops
    /// sending the moment the shard is no longer its own, so that two sweepers never send the
    /// same shard at once.
    async fn still_holds(&mut self, shard: u16) -> Result<bool> {
        self.keep_leases().await?;
        Ok(self.leases.shards().contains(&shard))
    }

    fn table(&self) -> &TableHandle {
        self.dispatcher.table()
    }

    async fn sweep_shard(&mut self, shard: u16, report: &mut SweepReport) -> Result<()> {
        let now = SystemTime::now();
        let cutoff = to_millis(
            now.checked_sub(self.config.min_age)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        );
        // Keys with an earlier message not sent (yet): their later messages wait.
        let mut blocked: HashSet<String> = HashSet::new();
        let mut start = None;
        for _ in 0..self.config.max_pages.max(1) {
            if !self.still_holds(shard).await? {
                break;
            }
            let (ids, last) = self
                .table()
                .query_shard(shard, cutoff, self.config.batch_size, start.take())
                .await?;
            if ids.is_empty() {
                break;
            }
            // The index lags: read each message consistently before deciding anything.
            let mut stored = Vec::new();
            for (id, read) in self.table().read_many(&ids).await? {
                match read {
                    Ok(message) => stored.push(message),
                    // It can never be sent: set it aside rather than block the shard.
                    Err(err) => {
                        tracing::error!(message_id = %id, error = %err, "unreadable outbox item dead-lettered");
                        self.table().dead_letter(&id, &err.to_string()).await?;
                        report.dead_lettered += 1;
                    }
                }
            }
            report.examined += stored.len();
            let mut due = Vec::new();
            for message in stored.into_iter().filter(StoredMessage::is_outstanding) {
                let created = message.message.header.created_at;
                report.oldest_outstanding = Some(
                    report
                        .oldest_outstanding
                        .map_or(created, |oldest| oldest.min(created)),
                );
                let key = message.message.header.partition_key.clone();
                let is_blocked = key.as_ref().is_some_and(|k| blocked.contains(k));
                if is_blocked || !message.is_due(now) {
                    report.held_back += 1;
                    blocked.extend(key);
                    continue;
                }
                due.push(message);
            }
            if !self.send_in_order(shard, due, &mut blocked, report).await? {
                break;
            }
            match last {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        Ok(())
    }

    /// Sends in rounds: each round holds at most one message per partition key (the earliest
    /// unsent), so a batch never carries a later message of a key next to an earlier one that
    /// might fail. A failure blocks the rest of its key for this pass. Returns `false` when it
    /// stopped because the shard's lease was lost.
    async fn send_in_order(
        &mut self,
        shard: u16,
        due: Vec<StoredMessage>,
        blocked: &mut HashSet<String>,
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
            if !self.still_holds(shard).await? {
                return Ok(false);
            }
            let messages: Vec<Message> = round.iter().map(|s| s.message.clone()).collect();
            let attempts: Vec<u32> = round.iter().map(|s| s.attempts).collect();
            let dispatched = self
                .dispatcher
                .dispatch(&messages, &attempts, Path::Sweeper)
                .await;
            report.sent.extend(dispatched.sent);
            report.sent.extend(dispatched.sent_unmarked);
            for failed in dispatched.failed {
                report.failed += 1;
                blocked.extend(failed.partition_key);
                if let Some(FailureOutcome::DeadLettered { .. }) = failed.recorded {
                    report.dead_lettered += 1;
                }
            }
            // A failed mark or record fails the pass; what it did is already counted.
            if let Some(err) = dispatched.error {
                return Err(err);
            }
        }
    }
}
