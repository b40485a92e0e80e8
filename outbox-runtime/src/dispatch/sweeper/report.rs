//! What a sweeper's pass did: [`SweepReport`].

use std::time::SystemTime;

use crate::message::MessageId;

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

impl SweepReport {
    /// Adds what one shard's pass did.
    pub(crate) fn add(&mut self, shard: SweepReport) {
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
