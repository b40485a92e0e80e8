//! The outbox table: one item per message, a sparse index of what is still to be sent, failed
//! sends and dead letters, and the library's own lease items.
//!
//! # Creating it
//!
//! [`Outbox::ensure_table`](crate::Outbox::ensure_table) creates the table, its index, its TTL
//! and (with a stream mode) its stream, in any account, from one definition:
//! [`OutboxConfig::table_schema`](crate::OutboxConfig::table_schema). Infrastructure code reads
//! the same definition. A table of the same name with another schema is
//! [`Error::SchemaMismatch`](crate::Error::SchemaMismatch), naming every difference; a missing
//! table at run time is [`Error::TableNotFound`](crate::Error::TableNotFound). Billing is on
//! demand.
//!
//! ```
//! use outbox_runtime::{Cleanup, OutboxConfig};
//! use std::time::Duration;
//!
//! let config = OutboxConfig::new("Orders-Outbox")
//!     .with_shards(32)
//!     .with_cleanup(Cleanup::Keep {
//!         retention: Duration::from_secs(3 * 24 * 3600),
//!     });
//! let schema = config.table_schema();
//! assert_eq!(schema.name, "Orders-Outbox");
//! assert_eq!(schema.ttl_attribute.as_deref(), Some("ExpiresAt"));
//! # config.validate()?;
//! # Ok::<(), outbox_runtime::Error>(())
//! ```
//!
//! # Items
//!
//! The hash key is the message id, one item per message. The deposit is a conditional put
//! (`attribute_not_exists`), so a re-deposit of an existing id never resets a message, sent or
//! not. The header is stored as attributes (topic, message type, content type, correlation,
//! causation and reply-to ids, partition key, creation time, W3C trace context, and the string
//! headers as a native map), the body byte for byte as a binary, or as a native map with
//! `body = "dynamo"`. Times are epoch milliseconds; TTL values are epoch seconds.
//!
//! Every attribute's name and type is a constant of [`table::attributes`](crate::table::attributes),
//! and [`StoredMessage::from_item`](crate::StoredMessage::from_item) reads an item you read
//! yourself (a scan, a stream record). The stored layout is a contract with data already
//! written: the changelog lists every change to it under **Layout**.
//!
//! # The outstanding index
//!
//! The index (`Outstanding` by default) has the shard as its hash key and the outstanding marker
//! as its range key, and projects keys only. The marker is present only while a message is
//! waiting to be sent: the mark removes it, so the index is sparse, and the sweeper never pays to
//! read a message that was sent. The marker's value is the message's place in line: its creation
//! time in milliseconds, with a fraction that grows with each deposit of the process, so the
//! messages of one transaction keep their deposit order. An index is only eventually consistent:
//! the sweeper reads keys from it, then the items themselves, consistently, from the table.
//!
//! # Shards
//!
//! A message's shard is a stable hash of its partition key
//! ([`shard_of_key`](crate::table::shard_of_key): the same key, the same shard, on every platform
//! and release), or of its id when it has no key. So one busy topic is not one hot partition,
//! and all of a key's messages share a shard, where the sweeper keeps their order. The count is
//! [`OutboxConfig::with_shards`](crate::OutboxConfig::with_shards) (16 by default, at most
//! [`MAX_SHARDS`](crate::table::MAX_SHARDS)); each shard costs a sweeper one query per pass, idle
//! or not.
//!
//! # Cleanup and TTL
//!
//! [`Cleanup`](crate::Cleanup) says what marking a message dispatched does:
//!
//! - [`Cleanup::Keep`](crate::Cleanup::Keep) (the default, kept one day): the message stays,
//!   with its dispatch time and a TTL counted from the dispatch, never from creation (a TTL from
//!   creation would silently delete messages that were never sent), and leaves the index. The
//!   mark is a conditional PartiQL `UPDATE` per message, 25 to a `BatchExecuteStatement`, and
//!   needs `dynamodb:PartiQLUpdate`. A role without it (one granted for an earlier release) keeps
//!   working: the outbox warns once and marks with one `UpdateItem` per message until the process
//!   restarts.
//! - [`Cleanup::Delete`](crate::Cleanup::Delete): the message is deleted, 25 to a
//!   `BatchWriteItem`: the cheapest.
//!
//! Under [`StreamMode::StreamOnly`](crate::table::StreamMode::StreamOnly) messages are never
//! marked: the TTL is set at the deposit, and removed when a failed send hands the message to the
//! sweeper.
//!
//! A failed mark never stops the others. What it leaves outstanding, the sweeper sends again: a
//! duplicate, reported as [`ClearReport::sent_unmarked`](crate::ClearReport::sent_unmarked) and
//! counted by `outbox_sent_unmarked_total`.
//!
//! # Failed sends, dead letters and replay
//!
//! A send the transport refuses is recorded on the message (its attempt count, the time of its
//! next attempt, its last error) and tried again with exponential backoff and jitter, by the
//! [`RetryPolicy`](crate::RetryPolicy) of the postbox
//! ([`Postbox::with_retry_policy`](crate::Postbox::with_retry_policy); ten attempts by default).
//! After the last attempt the message is dead-lettered: it leaves the index and waits. A failure
//! the transport calls permanent ([`ProducerError::permanent`](crate::transport::ProducerError::permanent):
//! no route for the topic, a body or FIFO id the transport refuses) dead-letters the message at
//! once, and so does an item this library cannot read.
//!
//! [`Outbox::dead_letters`](crate::Outbox::dead_letters) lists dead letters with their attempts
//! and last error (a scan: dead letters are rare and deliberately not indexed), and
//! [`Outbox::replay`](crate::Outbox::replay) puts them back in line once the cause is fixed, at
//! their original place in order and with the attempt count reset:
//!
//! ```no_run
//! # async fn run(outbox: outbox_runtime::Outbox) -> outbox_runtime::Result<()> {
//! let mut token = None;
//! let mut ids = Vec::new();
//! loop {
//!     let page = outbox.dead_letters(100, token.as_ref()).await?;
//!     for stored in &page.messages {
//!         println!(
//!             "{} on {}: {} attempts, last error {}",
//!             stored.message.id(),
//!             stored.message.topic(),
//!             stored.attempts,
//!             stored.last_error.as_deref().unwrap_or("none"),
//!         );
//!         ids.push(stored.message.id().clone());
//!     }
//!     match page.next {
//!         Some(next) => token = Some(next),
//!         None => break,
//!     }
//! }
//! let replayed = outbox.replay(&ids).await?;
//! println!("{replayed} messages back in line");
//! # Ok(()) }
//! ```
//!
//! [`Outbox::dead_letter`](crate::Outbox::dead_letter) sets a message aside by hand. Other
//! listings: [`Outbox::outstanding`](crate::Outbox::outstanding) (through the index, shard by
//! shard, oldest first), [`Outbox::dispatched`](crate::Outbox::dispatched) (kept messages, a
//! scan), [`Outbox::scheduled`](crate::Outbox::scheduled) (scheduled messages not yet due, with
//! their due times, through the index), [`Outbox::outstanding_count`](crate::Outbox::outstanding_count)
//! and [`Outbox::scheduled_count`](crate::Outbox::scheduled_count) (capped: a count reads every
//! item it counts). Their [`ContinuationToken`](crate::ContinuationToken)s hold no server
//! state, so a token from one process works in another.
//!
//! # The library's own items
//!
//! Sweeper leases and membership are items of the same table, with ids starting `__outbox`
//! ([`RESERVED_ID_PREFIX`](crate::table::attributes::RESERVED_ID_PREFIX): a message id may not
//! start with it). A lease, `__outbox_lease#<index>#<shard>`, holds `LeaseOwner` (S),
//! `LeaseExpiresAt` (N, epoch milliseconds) and `LeaseVersion` (N, moved on by every write, the
//! condition of the next); the membership item, `__outbox_sweepers#<index>`, holds `Members` (M),
//! the expiry of every live sweeper. None of them carries a shard or the outstanding marker, so
//! the index never sees them. The self-hosted stream relay keeps its own leases in a table of its
//! own (see [`relays`](super::relays)).
