//! What the stream relay does with messages that have a partition key.

use std::time::Duration;

/// How long DynamoDB keeps a stream record: a relay further behind than this loses records.
pub const STREAM_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Whether the stream relay sends messages that have a partition key, or leaves them to the
/// sweeper for strict order per key (see the [`stream`](crate::stream) module on order).
///
/// ```
/// use outbox_runtime::stream::KeyedMessages;
/// assert_eq!(KeyedMessages::default(), KeyedMessages::Send);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyedMessages {
    /// The relay sends every message: in stream order within a stream shard, a key's messages
    /// of one batch in order (the default).
    #[default]
    Send,
    /// The relay sends only messages without a partition key; keyed messages stay outstanding
    /// for the sweeper, which sends each key's messages strictly in order. Needs
    /// [`StreamMode::WithSweeper`](crate::StreamMode::WithSweeper) (the marker is what the
    /// sweeper finds).
    LeaveToSweeper,
}
