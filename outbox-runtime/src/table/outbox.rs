//! [`Outbox`]: the outbox table and what can be done with it, in one place. Each method hands
//! the work to the module of its concern (`items`, `mark`, `list`, `attempts`).

use std::time::{Duration, SystemTime};

use crate::client::DynamoDb;
use crate::error::Result;
use crate::message::{Message, MessageId};
use crate::table::attempts::FailureOutcome;
use crate::table::config::OutboxConfig;
use crate::table::handle::TableHandle;
use crate::table::items::StoreOutcome;
use crate::table::layout::StoredMessage;
use crate::table::list::{BoundedCount, ContinuationToken, IndexRange, Page};
use crate::table::schedule::{ScheduleOutcome, cancel_action, reschedule_action};
use crate::table::schema::EnsureOutcome;

/// The outbox table and the operations on it. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> outbox_runtime::Result<()> {
/// use outbox_runtime::{DynamoDb, Message, Outbox, OutboxConfig};
///
/// let outbox = Outbox::new(DynamoDb::from_env().await, OutboxConfig::default())?;
/// outbox.ensure_table().await?;
/// let message = Message::new("greeting.made", b"{}".to_vec());
/// outbox.store(&message).await?;
/// assert!(outbox.get(message.id()).await?.unwrap().is_outstanding());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Outbox {
    table: TableHandle,
}

impl Outbox {
    /// An outbox over `config`'s table, after checking the configuration.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming the bad setting.
    pub fn new(db: DynamoDb, config: OutboxConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            table: TableHandle::new(db, config),
        })
    }

    /// Keeps bodies over the claim check's threshold in S3 (see
    /// [`claim_check`](crate::claim_check)): a deposit then carries a reference, and the
    /// commit puts the body before `TransactWriteItems`.
    #[cfg(feature = "s3")]
    pub fn with_claim_check(mut self, claim_check: crate::claim_check::ClaimCheck) -> Self {
        self.table.claim_check = Some(std::sync::Arc::new(claim_check));
        self
    }

    /// The claim check, when one is set.
    #[cfg(feature = "s3")]
    pub fn claim_check(&self) -> Option<&crate::claim_check::ClaimCheck> {
        self.table.claim_check.as_deref()
    }

    /// The configuration.
    pub fn config(&self) -> &OutboxConfig {
        &self.table.config
    }

    /// The client.
    pub fn db(&self) -> &DynamoDb {
        &self.table.db
    }

    /// The table as the crate's operations see it.
    pub(crate) fn handle(&self) -> &TableHandle {
        &self.table
    }

    /// Creates the table (and index, and TTL) if it does not exist; see
    /// [`TableSchema::ensure`](crate::table::TableSchema::ensure).
    ///
    /// # Errors
    /// As `TableSchema::ensure`.
    pub async fn ensure_table(&self) -> Result<EnsureOutcome> {
        self.table
            .config
            .table_schema()
            .ensure(&self.table.db)
            .await
    }

    /// The configuration, shared with the units of work begun on this outbox.
    pub(crate) fn shared_config(&self) -> std::sync::Arc<OutboxConfig> {
        std::sync::Arc::clone(&self.table.config)
    }

    /// Stores a message outside any transaction, with a conditional put: an id already present
    /// is never overwritten. Storing the very same message again is an idempotent no-op;
    /// another message under that id is
    /// [`Error::DuplicateMessage`](crate::Error::DuplicateMessage). (Inside a unit of work, a
    /// message is deposited: [`Transaction::deposit`](crate::Transaction::deposit).)
    ///
    /// # Errors
    /// [`Error::DuplicateMessage`](crate::Error::DuplicateMessage),
    /// [`Error::InvalidMessage`](crate::Error::InvalidMessage),
    /// [`Error::Limit`](crate::Error::Limit) for an item over 400 KB (checked before anything is
    /// sent), or the request's error.
    pub async fn store(&self, message: &Message) -> Result<StoreOutcome> {
        self.table.store(message, None).await
    }

    /// [`Outbox::store`] for a message due at `due`: the sweeper sends it on its first pass
    /// over its shard once it is due, as a message scheduled in a unit of work
    /// ([`Transaction::deposit_at`](crate::Transaction::deposit_at)). Storing the same message
    /// with the same due time again is a no-op.
    ///
    /// # Errors
    /// As [`Outbox::store`].
    pub async fn store_at(&self, message: &Message, due: SystemTime) -> Result<StoreOutcome> {
        self.table.store(message, Some(due)).await
    }

    /// Cancels a scheduled message outside a unit of work: it is never sent. What the message
    /// was instead (in flight, sent, cancelled before, a message sent at once, ...) is the
    /// outcome; in a unit of work, atomically with other writes:
    /// [`Transaction::cancel`](crate::Transaction::cancel).
    ///
    /// # Errors
    /// The read's or the write's error.
    pub async fn cancel(&self, id: &MessageId) -> Result<ScheduleOutcome> {
        self.table
            .change_schedule(id, |config, now| cancel_action(config, id, now))
            .await
    }

    /// Moves a scheduled message to fall due at `due` instead, outside a unit of work; the
    /// outcomes are those of [`Outbox::cancel`].
    ///
    /// # Errors
    /// The read's or the write's error.
    pub async fn reschedule(&self, id: &MessageId, due: SystemTime) -> Result<ScheduleOutcome> {
        self.table
            .change_schedule(id, |config, now| reschedule_action(config, id, due, now))
            .await
    }

    /// Reads one message, consistently. `None` when there is no such id.
    ///
    /// # Errors
    /// [`Error::CorruptItem`](crate::Error::CorruptItem) for an item this library cannot read; the
    /// request's error.
    pub async fn get(&self, id: &MessageId) -> Result<Option<StoredMessage>> {
        self.table.get(id).await
    }

    /// Reads many messages consistently with `BatchGetItem` (100 per call, unprocessed keys retried
    /// with backoff). Returns the ones that exist, in the order asked for.
    ///
    /// # Errors
    /// [`Error::CorruptItem`](crate::Error::CorruptItem); the request's error; an error naming the
    /// keys still unprocessed after the retries.
    pub async fn get_many(&self, ids: &[MessageId]) -> Result<Vec<StoredMessage>> {
        self.table
            .read_many(ids)
            .await?
            .into_iter()
            .map(|(_, stored)| stored)
            .collect()
    }

    /// Marks messages dispatched, 25 per request. With [`Cleanup::Delete`](crate::Cleanup::Delete)
    /// they are deleted (`BatchWriteItem`); with [`Cleanup::Keep`](crate::Cleanup::Keep) each gets
    /// `DispatchedAt` and a TTL counted from now, and leaves the outstanding index (a conditional
    /// PartiQL `UPDATE` per message in one `BatchExecuteStatement`, which needs
    /// `dynamodb:PartiQLUpdate` on the table). Idempotent: ids already dispatched or absent are
    /// left alone.
    ///
    /// A failed request does not stop the others: every id gets its request, because each message
    /// left unmarked is one the sweeper will send a second time.
    ///
    /// # Errors
    /// The first error, once every id was tried ([`Error::ItemFailed`](crate::Error::ItemFailed)
    /// when DynamoDB refused one message of a batch); the ids whose request succeeded stay marked.
    pub async fn mark_dispatched(&self, ids: &[MessageId]) -> Result<()> {
        let unmarked = self.table.mark_dispatched_each(ids).await;
        match unmarked.error {
            None => Ok(()),
            Some(err) => {
                tracing::warn!(failed = unmarked.ids.len(), of = ids.len(), error = %err, "marking dispatched failed for some messages");
                Err(err)
            }
        }
    }

    /// Deletes messages with `BatchWriteItem`, 25 per call; unprocessed items are retried with
    /// backoff. Deleting an absent id is not an error.
    ///
    /// A failed batch does not stop the following ones.
    ///
    /// # Errors
    /// The first request error, or an error naming every id still unprocessed after the
    /// retries, once every batch was tried.
    pub async fn delete(&self, ids: &[MessageId]) -> Result<()> {
        self.table.delete_each(ids).await.error.map_or(Ok(()), Err)
    }

    /// Outstanding messages created at least `min_age` ago, across every shard, shard by shard and
    /// oldest first within a shard, at most `limit` per page.
    ///
    /// ```no_run
    /// # async fn run(outbox: outbox_runtime::Outbox) -> outbox_runtime::Result<()> {
    /// use std::time::Duration;
    /// let mut token = None;
    /// loop {
    ///     let page = outbox.outstanding(Duration::from_secs(30), 100, token.as_ref()).await?;
    ///     for stored in &page.messages { println!("{}", stored.message.id()); }
    ///     match page.next { Some(next) => token = Some(next), None => break }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidContinuationToken`](crate::Error::InvalidContinuationToken); the request's
    /// error.
    pub async fn outstanding(
        &self,
        min_age: Duration,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        self.table.outstanding(min_age, limit, token).await
    }

    /// Dispatched messages kept by [`Cleanup::Keep`](crate::Cleanup::Keep) that were dispatched at
    /// least `min_age` ago. This scans the table (dispatched messages are deliberately not indexed,
    /// so the sweeper never pays for them): use it for audits and repair, not on a hot path.
    ///
    /// # Errors
    /// [`Error::InvalidContinuationToken`](crate::Error::InvalidContinuationToken); the request's
    /// error.
    pub async fn dispatched(
        &self,
        min_age: Duration,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        self.table.dispatched(min_age, limit, token).await
    }

    /// Counts outstanding messages that are due (of any age; scheduled messages not yet due
    /// are [`Outbox::scheduled_count`]'s), stopping at `cap`. A count reads every item it
    /// counts, so keep the cap small on a hot path.
    ///
    /// # Errors
    /// The request's error.
    pub async fn outstanding_count(&self, cap: usize) -> Result<BoundedCount> {
        let now = crate::time::to_millis(SystemTime::now());
        self.table.index_count(IndexRange::DueBy(now), cap).await
    }

    /// Counts scheduled messages not yet due, stopping at `cap`.
    ///
    /// # Errors
    /// The request's error.
    pub async fn scheduled_count(&self, cap: usize) -> Result<BoundedCount> {
        let now = crate::time::to_millis(SystemTime::now());
        self.table.index_count(IndexRange::DueAfter(now), cap).await
    }

    /// Scheduled messages not yet due, with their due times
    /// ([`StoredMessage::due_at`](crate::StoredMessage::due_at)), shard by shard and soonest
    /// due first within a shard, at most `limit` per page; paged as
    /// [`Outbox::outstanding`] is.
    ///
    /// # Errors
    /// [`Error::InvalidContinuationToken`](crate::Error::InvalidContinuationToken); the request's
    /// error.
    pub async fn scheduled(&self, limit: usize, token: Option<&ContinuationToken>) -> Result<Page> {
        self.table.scheduled(limit, token).await
    }

    /// Dead-letters a message now, whatever its attempt count, keeping `reason` as its last
    /// error: for a message that can never be sent (an item this library cannot read, a topic
    /// no producer routes). It leaves the outstanding index until replayed.
    ///
    /// # Errors
    /// The request's error.
    pub async fn dead_letter(&self, id: &MessageId, reason: &str) -> Result<FailureOutcome> {
        self.table.dead_letter(id, reason).await
    }

    /// Dead-lettered messages, with their attempt count and last error. This scans the table
    /// (dead letters are rare and deliberately not indexed).
    ///
    /// # Errors
    /// [`crate::Error::InvalidContinuationToken`]; the request's error.
    pub async fn dead_letters(
        &self,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        self.table.dead_letters(limit, token).await
    }

    /// Puts dead-lettered messages back in line: outstanding again at their original place in
    /// order, with the attempt count reset. Ids that are not dead-lettered are left alone.
    ///
    /// # Errors
    /// The first request error.
    pub async fn replay(&self, ids: &[MessageId]) -> Result<usize> {
        self.table.replay(ids).await
    }
}
