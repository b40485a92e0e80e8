//! The sweeper: finds committed messages that were not sent (the process died after the commit,
//! or the transport failed) and sends them, at least once, in order per partition key.

mod config;
mod lease_keeper;
mod report;
mod shard_pass;

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::StreamExt;
use tracing::Instrument;

pub use config::SweeperConfig;
pub use report::SweepReport;

use crate::dispatch::dispatcher::Dispatcher;
use crate::dispatch::postbox::Postbox;
use crate::error::Result;
use crate::table::lease::default_owner;
use crate::table::lease::sweeper::SweeperLeases;
use lease_keeper::LeaseKeeper;
use shard_pass::{ShardPass, pass};

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
        let leases = SweeperLeases::new(
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
                busy: std::collections::BTreeSet::new(),
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
