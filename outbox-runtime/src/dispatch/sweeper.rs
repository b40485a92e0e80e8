//! The sweeper: finds committed messages that were not sent (the process died after the commit,
//! or the transport failed) and sends them, at least once, in order per partition key.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tracing::Instrument;

use crate::dispatch::dispatcher::Dispatcher;
use crate::dispatch::postbox::Postbox;
use crate::dispatch::shard_pass::{ShardPass, pass};
use crate::error::Result;
use crate::message::MessageId;
use crate::table::lease::Leases;

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
    /// Shards swept at the same time. Each shard keeps its own order per key; more at once
    /// hides the round trip of each request behind the others'.
    pub shard_concurrency: usize,
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
            shard_concurrency: 8,
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

    /// Sets how many shards are swept at the same time (at least 1).
    pub fn with_shard_concurrency(mut self, shard_concurrency: usize) -> Self {
        self.shard_concurrency = shard_concurrency;
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
    leases: Arc<tokio::sync::Mutex<LeaseKeeper>>,
}

/// The sweeper's leases, and when they are next rebalanced: shared by the shards it sweeps at
/// once, each of which checks before every round that its shard is still held.
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    leases: Leases,
    every: Duration,
    next_rebalance: Option<tokio::time::Instant>,
}

impl LeaseKeeper {
    /// Rebalances (renewing membership and leases) when a quarter of the lease time has passed.
    async fn keep(&mut self) -> Result<()> {
        let now = tokio::time::Instant::now();
        if self.next_rebalance.is_none_or(|at| at <= now) {
            self.leases.rebalance().await?;
            self.next_rebalance = Some(now + self.every);
        }
        Ok(())
    }

    /// Renews the leases when due and says whether `shard` is still held. A shard pass can
    /// outlast the lease (many pages, a slow transport): it renews as it goes, and stops
    /// sending the moment the shard is no longer its own, so that two sweepers never send the
    /// same shard at once.
    pub(crate) async fn still_holds(&mut self, shard: u16) -> Result<bool> {
        self.keep().await?;
        Ok(self.leases.shards().contains(&shard))
    }
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper")
            .field("config", &self.config)
            .field("owner", &self.owner)
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
            leases: Arc::new(tokio::sync::Mutex::new(LeaseKeeper {
                leases,
                every: config.lease_duration / 4,
                next_rebalance: None,
            })),
            config,
            owner,
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
        self.release().await
    }

    /// Gives back every lease now (what `run` does when stopped).
    ///
    /// # Errors
    /// The request's error.
    pub async fn release(&mut self) -> Result<()> {
        let mut keeper = self.leases.lock().await;
        keeper.next_rebalance = None;
        keeper.leases.release_all().await
    }

    /// One pass: keep the leases fair, then send what is due in every shard held, up to
    /// `shard_concurrency` shards at a time. Within a shard, messages of one key go out in
    /// order (a shard holds every message of its keys); the next page is read while the
    /// current one is sent, and marks go out 25 to a request while the sends go on.
    ///
    /// # Errors
    /// The first DynamoDB error of the pass, once every shard has finished (what the others
    /// sent is sent; the counts of the failed pass are lost, the metrics kept them).
    pub async fn sweep_once(&mut self) -> Result<SweepReport> {
        let shards = {
            let mut keeper = self.leases.lock().await;
            keeper.keep().await?;
            keeper.leases.shards()
        };
        let work = ShardPass {
            dispatcher: &self.dispatcher,
            config: &self.config,
            leases: &self.leases,
        };
        let passes: Vec<_> = shards
            .into_iter()
            .map(|shard| {
                let span = tracing::debug_span!("outbox.sweep_shard", shard);
                pass(&work, shard).instrument(span)
            })
            .collect();
        let results: Vec<Result<SweepReport>> = futures_util::stream::iter(passes)
            .buffer_unordered(self.config.shard_concurrency.max(1))
            .collect()
            .await;
        let mut report = SweepReport::default();
        let mut first_error = None;
        for result in results {
            match result {
                Ok(shard) => report.add(shard),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        if let Some(err) = first_error {
            return Err(err);
        }
        report.shards = self.leases.lock().await.leases.shards();
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
}

impl SweepReport {
    /// Adds what one shard's pass did.
    fn add(&mut self, shard: SweepReport) {
        self.examined += shard.examined;
        self.sent.extend(shard.sent);
        self.failed += shard.failed;
        self.dead_lettered += shard.dead_lettered;
        self.held_back += shard.held_back;
        self.oldest_outstanding = match (self.oldest_outstanding, shard.oldest_outstanding) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}
