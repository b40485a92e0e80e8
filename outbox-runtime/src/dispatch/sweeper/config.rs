//! How a sweeper works: [`SweeperConfig`].

use std::time::Duration;

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
