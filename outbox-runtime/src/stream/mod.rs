//! A relay without polling: the outbox table's DynamoDB Stream, read by a self-hosted
//! [`StreamRelay`] (feature `streams`) or by AWS Lambda through an event source mapping
//! (feature `lambda`, [`crate::lambda`]).
//!
//! # Which records mean "send this"
//!
//! An `INSERT` of an outstanding message: in [`StreamMode::WithSweeper`](crate::table::StreamMode::WithSweeper) a new image with
//! `OutstandingSince`, in [`StreamMode::StreamOnly`](crate::table::StreamMode::StreamOnly) one with `Topic`; never an item of the
//! library's own (ids starting with `__outbox`: sweeper leases). The `MODIFY` records of marks,
//! failed attempts, replays and leases, and the `REMOVE` records of deletes and TTL, are
//! filtered out (`outbox_stream_records_filtered_total`); on Lambda, by the event source
//! mapping's filter criteria ([`lambda_filter_criteria`]), so they cost no invocation.
//!
//! # Two configurations
//!
//! | | [`StreamMode::WithSweeper`](crate::table::StreamMode::WithSweeper) | [`StreamMode::StreamOnly`](crate::table::StreamMode::StreamOnly) |
//! | --- | --- | --- |
//! | deposit | the transactional put with the outstanding marker (its index entry: two more write units) | the put alone, without the marker, with a TTL from the deposit |
//! | after the send | a mark, 25 to a request | nothing |
//! | a failed send | recorded (attempts, backoff, dead letters); the sweeper retries | recorded, which gives the message the marker: the sweeper retries |
//! | a relay down or behind | the sweeper sends what is older than its `min_age`, also past the stream's 24 hours | nothing is sent until the relay is back; past 24 hours behind, records are lost for good |
//! | idle cost | the relay's polls plus the sweeper's (one query per shard per pass) | the relay's polls, and a sweeper at a slow pace |
//! | alarm on | `outbox_stream_iterator_age_seconds`, `outbox_oldest_outstanding_age_seconds` | `outbox_stream_iterator_age_seconds` (well below 24 hours) |
//!
//! With either, the immediate clear is off by default
//! ([`Postbox::with_immediate_clear`](crate::Postbox::with_immediate_clear)): the stream
//! delivers within milliseconds, and both sending would deliver every message twice.
//!
//! # Order per partition key
//!
//! DynamoDB orders a stream's records per item, and a key's messages are different items: each
//! lands in the stream shard of the table partition its id hashes to. What the relay
//! guarantees:
//!
//! - the records of one stream shard are handled in stream order, and a batch is sent in rounds
//!   of at most one message per key, so a key's messages read from one shard go out in the
//!   order they were written, and a failed send holds the rest of its key's messages in the
//!   batch back for the sweeper, which sends them in order (never the later one first);
//! - messages of one key read from different shards (by one relay or two) have no order
//!   between them: a later message can be sent before an earlier one, even when the two were
//!   committed one after the other. A table with one stream shard (DynamoDB Local always; a
//!   small table on AWS between shard rollovers) keeps every key's order, as the immediate
//!   clear does when no send fails.
//!
//! For strict order per key, relay with [`KeyedMessages::LeaveToSweeper`] in
//! [`StreamMode::WithSweeper`](crate::table::StreamMode::WithSweeper): the relay sends only messages without a key, at stream latency,
//! and the sweeper sends each key's messages strictly in order (as with `clear = "sweeper"`).
//!
//! # Metrics
//!
//! | name | kind | labels | counts |
//! | --- | --- | --- | --- |
//! | `outbox_sent_total` | counter | `path` = `stream` | messages the relay handed to the transport |
//! | `outbox_stream_records_total` | counter | | records the self-hosted relay read |
//! | `outbox_stream_records_filtered_total` | counter | `reason` | records that were not new messages |
//! | `outbox_stream_iterator_age_seconds` | gauge | `owner` | how far behind the newest record read is; alarm well below 24 hours |
//! | `outbox_stream_lease_acquired_total`, `outbox_stream_lease_lost_total` | counter | | stream shard leases |
//! | `outbox_stream_sent_after_lease_lost_total` | counter | | sends whose checkpoint was refused: the next owner sends them again |
//! | `outbox_stream_trimmed_total` | counter | | shards whose checkpoint was past the stream's 24 hours |

#[cfg(any(feature = "streams", feature = "lambda"))]
mod batch;
mod filter;
mod keyed;

#[cfg(feature = "streams")]
mod client;
#[cfg(feature = "streams")]
pub(crate) mod records;
#[cfg(feature = "streams")]
mod relay;
#[cfg(feature = "streams")]
mod shards;

#[cfg(feature = "lambda")]
pub(crate) use batch::{Record, relay_batch};
#[cfg(feature = "lambda")]
pub(crate) use filter::Event;
pub use filter::{lambda_filter_criteria, lambda_filter_pattern};
pub use keyed::{KeyedMessages, STREAM_RETENTION};

#[cfg(feature = "streams")]
pub use client::{DynamoDbStreams, STREAMS_ENDPOINT_ENV};
#[cfg(feature = "streams")]
pub use relay::{RelayReport, StartingPosition, StreamRelay, StreamRelayConfig};
