//! How a stream relay works: [`StreamRelayConfig`] and where it starts reading a new shard
//! ([`StartingPosition`]).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::stream::KeyedMessages;
use crate::table::config::OutboxConfig;
use crate::table::lease::stream::LEASE_KEY;
use crate::table::schema::{KeyAttribute, KeyKind, TableSchema};

/// Where a relay starts reading a shard that has no checkpoint yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartingPosition {
    /// The oldest record the stream keeps (up to 24 hours back): nothing written since the
    /// stream was enabled is missed (the default).
    #[default]
    TrimHorizon,
    /// Only records written from now on: for a relay added to an outbox whose older messages
    /// the sweeper already sent.
    Latest,
}

/// How a stream relay works. The defaults: leases of 30 s, a poll of each shard held every
/// 250 ms (four `GetRecords` a second, under DynamoDB's five per shard), up to 1,000 records a
/// poll, shards listed again every minute and whenever one closes.
///
/// ```
/// use std::time::Duration;
/// use outbox_runtime::stream::StreamRelayConfig;
///
/// let config = StreamRelayConfig::default()
///     .with_poll_interval(Duration::from_millis(500))
///     .with_owner("orders-relay-1");
/// assert_eq!(config.lease_duration, Duration::from_secs(30));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamRelayConfig {
    /// The relay's state table (leases and checkpoints); `None`: `<outbox table>-relay`.
    pub state_table: Option<String>,
    /// How long a shard lease lasts without renewal; a dead relay's shards are taken over
    /// after this.
    pub lease_duration: Duration,
    /// Pause between polls of a shard that had nothing new (the latency of a quiet stream).
    pub poll_interval: Duration,
    /// Records read per `GetRecords` (1 to 1,000).
    pub batch_size: i32,
    /// How often the stream's shards are listed (`DescribeStream`), besides when one closes.
    pub shard_refresh: Duration,
    /// Shards polled at the same time.
    pub shard_concurrency: usize,
    /// Where a shard without a checkpoint is read from.
    pub starting_position: StartingPosition,
    /// Whether keyed messages are sent by the relay or left to the sweeper for strict order.
    pub keyed: KeyedMessages,
    /// This relay's name in the lease items, unique per process; `None`: `host-pid-random`.
    pub owner: Option<String>,
}

impl Default for StreamRelayConfig {
    fn default() -> Self {
        Self {
            state_table: None,
            lease_duration: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
            batch_size: 1000,
            shard_refresh: Duration::from_secs(60),
            shard_concurrency: 8,
            starting_position: StartingPosition::TrimHorizon,
            keyed: KeyedMessages::Send,
            owner: None,
        }
    }
}

impl StreamRelayConfig {
    /// Names the state table.
    pub fn with_state_table(mut self, table: impl Into<String>) -> Self {
        self.state_table = Some(table.into());
        self
    }

    /// Sets how long a lease lasts without renewal.
    pub fn with_lease_duration(mut self, lease_duration: Duration) -> Self {
        self.lease_duration = lease_duration;
        self
    }

    /// Sets the pause between polls of a quiet shard.
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Sets the records read per `GetRecords` (1 to 1,000).
    pub fn with_batch_size(mut self, batch_size: i32) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets how often the shards are listed.
    pub fn with_shard_refresh(mut self, shard_refresh: Duration) -> Self {
        self.shard_refresh = shard_refresh;
        self
    }

    /// Sets how many shards are polled at the same time (at least 1).
    pub fn with_shard_concurrency(mut self, shard_concurrency: usize) -> Self {
        self.shard_concurrency = shard_concurrency;
        self
    }

    /// Sets where a shard without a checkpoint is read from.
    pub fn with_starting_position(mut self, starting_position: StartingPosition) -> Self {
        self.starting_position = starting_position;
        self
    }

    /// Sets whether keyed messages are sent by the relay or left to the sweeper.
    pub fn with_keyed(mut self, keyed: KeyedMessages) -> Self {
        self.keyed = keyed;
        self
    }

    /// Sets this relay's name in the lease items; it must be unique per process.
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// The state table's name for an outbox: the one set, or `<outbox table>-relay`.
    pub fn state_table_name(&self, outbox: &OutboxConfig) -> String {
        self.state_table
            .clone()
            .unwrap_or_else(|| format!("{}-relay", outbox.table_name))
    }

    /// The state table's definition: hash key `LeaseKey` (S), on demand, no stream (the relay's
    /// writes never feed a stream it reads).
    ///
    /// ```
    /// use outbox_runtime::OutboxConfig;
    /// use outbox_runtime::stream::StreamRelayConfig;
    ///
    /// let schema = StreamRelayConfig::default().state_table_schema(&OutboxConfig::default());
    /// assert_eq!(schema.name, "Outbox-relay");
    /// assert!(schema.stream.is_none());
    /// ```
    pub fn state_table_schema(&self, outbox: &OutboxConfig) -> TableSchema {
        TableSchema::new(
            self.state_table_name(outbox),
            KeyAttribute::new(LEASE_KEY, KeyKind::String),
        )
    }

    /// Checks the settings against the outbox before anything is sent.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the setting.
    pub fn validate(&self, outbox: &OutboxConfig) -> Result<()> {
        if !outbox.stream.is_enabled() {
            return Err(Error::InvalidConfig(format!(
                "the outbox `{}` has no stream mode; set `OutboxConfig::with_stream` (and run \
                 `Outbox::ensure_table`) before starting a stream relay",
                outbox.table_name
            )));
        }
        if !(1..=1000).contains(&self.batch_size) {
            return Err(Error::InvalidConfig(format!(
                "a stream relay's batch size of {} is out of range; use 1 to 1000 (GetRecords' \
                 limit)",
                self.batch_size
            )));
        }
        if self.keyed == KeyedMessages::LeaveToSweeper && !outbox.stream.marks_deposits() {
            return Err(Error::InvalidConfig(
                "`KeyedMessages::LeaveToSweeper` needs `StreamMode::WithSweeper`: in stream-only \
                 mode keyed messages carry no marker for the sweeper to find"
                    .to_owned(),
            ));
        }
        if self.lease_duration < Duration::from_millis(100) {
            return Err(Error::InvalidConfig(format!(
                "a lease of {} ms is too short to be renewed; use at least 100 ms (30 s suits \
                 most relays)",
                self.lease_duration.as_millis()
            )));
        }
        Ok(())
    }
}
