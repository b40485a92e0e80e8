//! The leases of a sweeper whose shards are swept at once: one lease set behind a lock, renewed
//! and rebalanced on a schedule whichever shard asks first.

use std::time::Duration;

use crate::error::Result;
use crate::table::lease::sweeper::SweeperLeases;

/// The sweeper's leases, and when they are next rebalanced: shared by the shards it sweeps at
/// once, each of which checks before every round that its shard is still held.
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    pub(crate) leases: SweeperLeases,
    pub(crate) every: Duration,
    pub(crate) next_rebalance: Option<tokio::time::Instant>,
    /// Shards a pass is sweeping now: kept through a rebalance until the pass has written its
    /// marks.
    pub(crate) busy: std::collections::BTreeSet<u16>,
}

impl LeaseKeeper {
    /// Whether the next [`LeaseKeeper::keep`] rebalances.
    pub(crate) fn renewal_due(&self) -> bool {
        self.next_rebalance
            .is_none_or(|at| at <= tokio::time::Instant::now())
    }

    /// Rebalances (renewing membership and leases) when a quarter of the lease time has passed.
    pub(crate) async fn keep(&mut self) -> Result<()> {
        let now = tokio::time::Instant::now();
        if self.next_rebalance.is_none_or(|at| at <= now) {
            self.leases.rebalance(&self.busy).await?;
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
