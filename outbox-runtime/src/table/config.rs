//! Where the outbox lives and how it behaves: table and index names, shard count, cleanup.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::table::attributes as attr;
use crate::table::schema::{IndexSchema, KeyAttribute, KeyKind, TableSchema};
use crate::table::stream_mode::StreamMode;

/// What happens to a message once it has been dispatched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Delete it (the cheapest: no storage, nothing left to read). A re-deposit of the same
    /// message id after deletion is accepted as new.
    Delete,
    /// Keep it, marked dispatched, with a TTL counted from the dispatch (never from creation,
    /// which would silently expire messages that were never sent). While kept, a re-deposit
    /// of the same id is refused.
    Keep {
        /// How long a dispatched message stays before DynamoDB's TTL removes it.
        retention: Duration,
    },
}

/// The outbox table's configuration. The defaults suit most services: table `Outbox`, index
/// `Outstanding`, 16 shards, dispatched messages kept for a day.
///
/// ```
/// use outbox_runtime::{Cleanup, OutboxConfig};
///
/// let config = OutboxConfig::new("Orders-Outbox").with_shards(32).with_cleanup(Cleanup::Delete);
/// assert_eq!(config.table_schema().name, "Orders-Outbox");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxConfig {
    /// The outbox table.
    pub table_name: String,
    /// The sparse, sharded index of undispatched messages.
    pub index_name: String,
    /// How many shards the outstanding index is spread over (1 to [`MAX_SHARDS`]).
    pub shard_count: u16,
    /// What happens to dispatched messages.
    pub cleanup: Cleanup,
    /// The table's DynamoDB Stream, for a stream relay ([`StreamMode::Off`] by default).
    pub stream: StreamMode,
    /// Bodies larger than this many bytes are stored gzip-compressed, when that makes them
    /// smaller; `None` (the default) stores every body as it is. See
    /// [`with_compression_above`](Self::with_compression_above).
    pub compress_above: Option<usize>,
}

/// The most shards an outbox may have. Each shard costs the sweeper one query per pass.
pub const MAX_SHARDS: u16 = 1024;

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            table_name: "Outbox".to_owned(),
            index_name: "Outstanding".to_owned(),
            shard_count: 16,
            cleanup: Cleanup::Keep {
                retention: Duration::from_secs(24 * 60 * 60),
            },
            stream: StreamMode::Off,
            compress_above: None,
        }
    }
}

impl OutboxConfig {
    /// The defaults with another table name.
    pub fn new(table_name: impl Into<String>) -> Self {
        Self {
            table_name: table_name.into(),
            ..Self::default()
        }
    }

    /// Sets the outbox table's name.
    pub fn with_table_name(mut self, table_name: impl Into<String>) -> Self {
        self.table_name = table_name.into();
        self
    }

    /// Sets the number of shards of the outstanding index.
    pub fn with_shards(mut self, shard_count: u16) -> Self {
        self.shard_count = shard_count;
        self
    }

    /// Sets the outstanding index's name.
    pub fn with_index_name(mut self, index_name: impl Into<String>) -> Self {
        self.index_name = index_name.into();
        self
    }

    /// Sets what happens to dispatched messages.
    pub fn with_cleanup(mut self, cleanup: Cleanup) -> Self {
        self.cleanup = cleanup;
        self
    }

    /// Enables the table's DynamoDB Stream for a stream relay, in one of its two configurations
    /// (see [`StreamMode`] and the [`stream`](crate::stream) module). With a stream mode on,
    /// [`Outbox::ensure_table`](crate::Outbox::ensure_table) creates the table with the stream
    /// (`NEW_IMAGE`) or adds it to an existing table, and postboxes leave the sending to the
    /// relay (the immediate clear is off unless turned on with
    /// [`Postbox::with_immediate_clear`](crate::Postbox::with_immediate_clear)).
    ///
    /// ```
    /// use outbox_runtime::OutboxConfig;
    /// use outbox_runtime::StreamMode;
    ///
    /// let config = OutboxConfig::default().with_stream(StreamMode::WithSweeper);
    /// assert!(config.table_schema().stream.is_some());
    /// ```
    pub fn with_stream(mut self, stream: StreamMode) -> Self {
        self.stream = stream;
        self
    }

    /// Stores bodies larger than `bytes` gzip-compressed, where DynamoDB bills them (a
    /// transactional write costs 2 write units per KB of the item), whenever compression makes
    /// them smaller; a body that does not shrink is stored as it is and costs no more than
    /// before. A compressed body travels compressed to SQS and SNS (flagged in the
    /// `outbox-body-encoding` attribute, see [`wire`](crate::transport::wire)) and is inflated
    /// by the consumer, which receives the original bytes: **upgrade consumers first**, because
    /// a consumer of a release before compression refuses such a message with an "unknown body
    /// encoding" error (and leaves it to its queue). Map bodies ([`Body::Item`](crate::Body::Item))
    /// stay native maps, readable in the console.
    ///
    /// 512 is a good threshold: DynamoDB bills an item per KB begun, header included, and a
    /// body of half a kilobyte is where compression starts to take an item below a kilobyte
    /// boundary.
    ///
    /// ```
    /// use outbox_runtime::OutboxConfig;
    ///
    /// let config = OutboxConfig::default().with_compression_above(512);
    /// assert_eq!(config.compress_above, Some(512));
    /// ```
    pub fn with_compression_above(mut self, bytes: usize) -> Self {
        self.compress_above = Some(bytes);
        self
    }

    /// Checks the names and numbers against DynamoDB's rules before anything is sent.
    ///
    /// ```
    /// let bad = outbox_runtime::OutboxConfig::new("no spaces allowed");
    /// assert!(bad.validate().unwrap_err().to_string().contains("no spaces allowed"));
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad value and the rule.
    pub fn validate(&self) -> Result<()> {
        validate_name("table", &self.table_name, 3)?;
        validate_name("index", &self.index_name, 3)?;
        if !(1..=MAX_SHARDS).contains(&self.shard_count) {
            return Err(Error::InvalidConfig(format!(
                "shard count {} is out of range; use 1 to {MAX_SHARDS}",
                self.shard_count
            )));
        }
        if let Cleanup::Keep { retention } = self.cleanup
            && retention.is_zero()
        {
            return Err(Error::InvalidConfig(
                "a retention of zero keeps nothing; use `Cleanup::Delete` instead".to_owned(),
            ));
        }
        self.stream.validate()?;
        Ok(())
    }

    /// The table definition: hash key `MessageId`; the sparse `Outstanding` index (hash
    /// `Shard`, range `OutstandingSince`, keys only), holding only undispatched messages; TTL
    /// on `ExpiresAt` (epoch seconds, set at dispatch).
    pub fn table_schema(&self) -> TableSchema {
        TableSchema::new(
            &self.table_name,
            KeyAttribute::new(attr::MESSAGE_ID, KeyKind::String),
        )
        .with_index(IndexSchema {
            name: self.index_name.clone(),
            hash_key: KeyAttribute::new(attr::SHARD, KeyKind::Number),
            range_key: Some(KeyAttribute::new(attr::OUTSTANDING_SINCE, KeyKind::Number)),
        })
        .with_ttl(attr::EXPIRES_AT)
        .with_stream_if(self.stream.is_enabled())
    }
}

/// DynamoDB's naming rule for tables and indexes: 3 to 255 characters of `a-z A-Z 0-9 _ - .`.
fn validate_name(what: &str, name: &str, min: usize) -> Result<()> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.len() < min || name.len() > 255 || !valid_chars {
        return Err(Error::InvalidConfig(format!(
            "{what} name `{name}` is not valid in DynamoDB; use {min} to 255 characters of \
             a-z, A-Z, 0-9, `_`, `-` and `.`"
        )));
    }
    Ok(())
}
