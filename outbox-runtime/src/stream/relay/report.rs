//! What one relay pass did: [`RelayReport`].

use std::time::Duration;

use crate::message::MessageId;

/// What one relay pass did (a poll of every shard held).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayReport {
    /// The shards this relay held when the pass ended.
    pub shards: Vec<String>,
    /// Shards of the stream waiting for their parent to be read to its end.
    pub shards_waiting: usize,
    /// Records read.
    pub records: usize,
    /// Records that were not new messages (marks, failures, leases, deletes).
    pub filtered: usize,
    /// Messages sent.
    pub sent: Vec<MessageId>,
    /// Sends the transport refused, recorded as failed attempts (the sweeper retries them).
    pub failed: usize,
    /// Messages dead-lettered.
    pub dead_lettered: usize,
    /// Messages left to the sweeper unsent.
    pub held_back: Vec<MessageId>,
    /// Sent, but their mark failed: the sweeper sends them again.
    pub sent_unmarked: Vec<MessageId>,
    /// Sent while the shard's lease was being lost: the checkpoint after the send was refused,
    /// so the relay that took the shard over sends these again (counted duplicates).
    pub sent_after_lease_lost: Vec<MessageId>,
    /// How far behind the newest record read is (`None` when nothing was read and nothing is
    /// held); zero when every shard held was read to its tip.
    pub iterator_age: Option<Duration>,
    /// True when a shard gave a full batch: more records are waiting (`run` reads on without
    /// pausing).
    pub more_waiting: bool,
}
