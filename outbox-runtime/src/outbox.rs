//! The outbox table: adding, reading, marking, paging and deleting messages.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::{
    AttributeValue, BatchStatementRequest, DeleteRequest, KeysAndAttributes,
    ReturnValuesOnConditionCheckFailure, Select, WriteRequest,
};
use futures_util::StreamExt;

use crate::attributes as attr;
use crate::backoff::Backoff;
use crate::config::{Cleanup, OutboxConfig};
use crate::connection::DynamoDb;
use crate::error::{Error, Result};
use crate::item::{self, StoredMessage, number};
use crate::message::{Item, Message, MessageId, now_millis, to_millis};
use crate::schema::EnsureOutcome;
use crate::shard;
use crate::transaction::{Transaction, validate_message};

/// Items per `BatchGetItem` call (DynamoDB's limit).
const BATCH_GET_LIMIT: usize = 100;
/// Items per `BatchWriteItem` call (DynamoDB's limit).
const BATCH_WRITE_LIMIT: usize = 25;
/// Statements per `BatchExecuteStatement` call (DynamoDB's limit).
const BATCH_STATEMENT_LIMIT: usize = 25;
/// Concurrent batch calls when marking many messages dispatched.
const MARK_CONCURRENCY: usize = 4;
/// Per-statement error codes of a batch that a later attempt may get past.
const RETRYABLE_STATEMENT_CODES: [&str; 5] = [
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
    "InternalServerError",
    "TransactionConflict",
];
/// How often unprocessed batch items are retried before giving up.
const UNPROCESSED_RETRIES: u32 = 8;

/// The outbox table and the operations on it. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> outbox_runtime::Result<()> {
/// use outbox_runtime::{DynamoDb, Message, Outbox, OutboxConfig};
///
/// let outbox = Outbox::new(DynamoDb::from_env().await, OutboxConfig::default())?;
/// outbox.ensure_table().await?;
/// let message = Message::new("greeting.made", b"{}".to_vec());
/// outbox.add(&message).await?;
/// assert!(outbox.get(message.id()).await?.unwrap().is_outstanding());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Outbox {
    db: DynamoDb,
    config: Arc<OutboxConfig>,
    /// Set once DynamoDB refused a PartiQL mark for want of permission: from then on this
    /// outbox (and its clones) marks with `UpdateItem` and spends no request on PartiQL.
    partiql_denied: Arc<AtomicBool>,
}

/// A position in a listing, to be passed back for the next page. It holds no server state: a
/// token from one `Outbox` (or process) works in any other over the same table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContinuationToken(String);

impl ContinuationToken {
    /// The token as text, to hand to a client or store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A token from its text form.
    pub fn parse(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

impl std::fmt::Display for ContinuationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of messages and where the next page starts (`None` after the last).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    /// The messages of this page, read consistently from the base table.
    pub messages: Vec<StoredMessage>,
    /// Pass back to get the next page.
    pub next: Option<ContinuationToken>,
    /// Items of this page that this library cannot read (missing or mistyped attributes),
    /// with the reason; they are left out of `messages` rather than failing the page.
    pub unreadable: Vec<(MessageId, String)>,
}

/// The filter of a listing that scans the table (dispatched messages, dead letters).
pub(crate) struct ScanFilter<'a> {
    /// The filter expression.
    pub(crate) expression: &'a str,
    /// Its name placeholders.
    pub(crate) names: &'a [(&'a str, &'a str)],
    /// Its value placeholders.
    pub(crate) values: Vec<(&'a str, AttributeValue)>,
    /// What the listing's continuation tokens start with.
    pub(crate) token_prefix: &'a str,
}

/// A count that stops at a cap, because DynamoDB bills a count as a read of every item counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundedCount {
    /// The count, at most the cap.
    pub count: usize,
    /// True when counting stopped at the cap: there are at least `count`, maybe more.
    pub capped: bool,
}

/// What [`Outbox::add`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    /// The message was stored.
    Added,
    /// The very same message (id, header and body) was already stored: nothing was written.
    AlreadyPresent,
}

impl Outbox {
    /// An outbox over `config`'s table, after checking the configuration.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad setting.
    pub fn new(db: DynamoDb, config: OutboxConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            db,
            config: Arc::new(config),
            partiql_denied: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OutboxConfig {
        &self.config
    }

    /// The client.
    pub fn db(&self) -> &DynamoDb {
        &self.db
    }

    /// Creates the table (and index, and TTL) if it does not exist; see
    /// [`TableSchema::ensure`](crate::schema::TableSchema::ensure).
    ///
    /// # Errors
    /// As `TableSchema::ensure`.
    pub async fn ensure_table(&self) -> Result<EnsureOutcome> {
        self.config.table_schema().ensure(&self.db).await
    }

    /// Begins a transaction whose deposits go to this outbox.
    pub fn begin(&self) -> Transaction {
        Transaction::new(self.db.clone(), Arc::clone(&self.config))
    }

    fn table(&self) -> &str {
        &self.config.table_name
    }

    fn sdk_error<E>(
        &self,
        operation: &'static str,
        err: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> Error
    where
        aws_sdk_dynamodb::Error: From<
            aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
        >,
    {
        Error::from_sdk(operation, self.db.endpoint(), self.table(), err)
    }

    /// Adds a message outside any transaction, with a conditional put: an id already present
    /// is never overwritten. Adding the very same message again is an idempotent no-op; another
    /// message under that id is [`Error::DuplicateMessage`].
    ///
    /// # Errors
    /// [`Error::DuplicateMessage`], [`Error::InvalidMessage`], [`Error::Limit`] for an item over
    /// 400 KB (checked before anything is sent), or the request's error.
    pub async fn add(&self, message: &Message) -> Result<AddOutcome> {
        validate_message(message)?;
        let item = item::to_item(message, shard::shard_of(message, self.config.shard_count));
        // Checked here as a deposit is, so the error names the limit and the message instead of
        // DynamoDB's bare "Item size has exceeded the maximum allowed size".
        let size = crate::limits::item_size(&item);
        if size > crate::limits::MAX_ITEM_BYTES {
            return Err(crate::limits::LimitError::ItemTooLarge {
                limit: crate::limits::MAX_ITEM_BYTES,
                size,
                action: format!(
                    "add to table `{}`, key {}={:?}",
                    self.table(),
                    attr::MESSAGE_ID,
                    message.header.id.as_str()
                ),
            }
            .into());
        }
        let result = self
            .db
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", attr::MESSAGE_ID)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .send()
            .await;
        match result {
            Ok(_) => Ok(AddOutcome::Added),
            Err(err) => {
                if let Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(failed)) = err.as_service_error() {
                    let same = failed
                        .item()
                        .and_then(|existing| item::from_item(self.table(), existing).ok())
                        .is_some_and(|existing| existing.message == *message);
                    return if same {
                        Ok(AddOutcome::AlreadyPresent)
                    } else {
                        Err(Error::DuplicateMessage {
                            table: self.table().to_owned(),
                            message_id: message.header.id.clone(),
                        })
                    };
                }
                Err(self.sdk_error("PutItem", err))
            }
        }
    }

    /// Reads one message, consistently. `None` when there is no such id.
    ///
    /// # Errors
    /// [`Error::CorruptItem`] for an item this library cannot read; the request's error.
    pub async fn get(&self, id: &MessageId) -> Result<Option<StoredMessage>> {
        let output = self
            .db
            .client()
            .get_item()
            .table_name(self.table())
            .key(attr::MESSAGE_ID, AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .send()
            .await
            .map_err(|err| self.sdk_error("GetItem", err))?;
        output
            .item()
            .map(|item| item::from_item(self.table(), item))
            .transpose()
    }

    /// Reads many messages consistently with `BatchGetItem` (100 per call, unprocessed keys
    /// retried with backoff). Returns the ones that exist, in the order asked for.
    ///
    /// # Errors
    /// [`Error::CorruptItem`]; the request's error; an error naming the keys still unprocessed
    /// after the retries.
    pub async fn get_many(&self, ids: &[MessageId]) -> Result<Vec<StoredMessage>> {
        self.read_many(ids)
            .await?
            .into_iter()
            .map(|(_, stored)| stored)
            .collect()
    }

    /// Reads many messages like [`Outbox::get_many`], but decodes each on its own: an item this
    /// library cannot read comes back as that id's error instead of failing the whole read, so
    /// one bad item cannot stop the messages around it.
    pub(crate) async fn read_many(
        &self,
        ids: &[MessageId],
    ) -> Result<Vec<(MessageId, Result<StoredMessage>)>> {
        let mut found: HashMap<String, Result<StoredMessage>> = HashMap::new();
        let mut unique: Vec<&MessageId> = Vec::new();
        for id in ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        for chunk in unique.chunks(BATCH_GET_LIMIT) {
            let mut keys: Vec<Item> = chunk.iter().map(|id| key(id)).collect();
            let mut backoff = Backoff::new(Duration::from_millis(25), Duration::from_secs(2));
            while !keys.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|err| Error::InvalidConfig(err.to_string()))?;
                let output = self
                    .db
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), request)
                    .set_return_consumed_capacity(self.db.consumed_capacity())
                    .send()
                    .await
                    .map_err(|err| self.sdk_error("BatchGetItem", err))?;
                for item in output
                    .responses()
                    .and_then(|tables| tables.get(self.table()))
                    .into_iter()
                    .flatten()
                {
                    if let Some(AttributeValue::S(id)) = item.get(attr::MESSAGE_ID) {
                        found.insert(id.clone(), item::from_item(self.table(), item));
                    }
                }
                keys = output
                    .unprocessed_keys()
                    .and_then(|tables| tables.get(self.table()))
                    .map(|rest| rest.keys().to_vec())
                    .unwrap_or_default();
                if !keys.is_empty() {
                    if backoff.attempts() >= UNPROCESSED_RETRIES {
                        return Err(Error::Throttled {
                            operation: "BatchGetItem",
                            table: self.table().to_owned(),
                            unprocessed: keys
                                .iter()
                                .filter_map(|key| key.get(attr::MESSAGE_ID)?.as_s().ok())
                                .map(|id| MessageId::from(id.as_str()))
                                .collect(),
                            retries: UNPROCESSED_RETRIES,
                        });
                    }
                    backoff.wait().await;
                }
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| Some((id.clone(), found.remove(id.as_str())?)))
            .collect())
    }

    /// Marks messages dispatched, 25 per request. With [`Cleanup::Delete`] they are deleted
    /// (`BatchWriteItem`); with [`Cleanup::Keep`] each gets `DispatchedAt` and a TTL counted from
    /// now, and leaves the outstanding index (a conditional PartiQL `UPDATE` per message in one
    /// `BatchExecuteStatement`, which needs `dynamodb:PartiQLUpdate` on the table). Idempotent:
    /// ids already dispatched or absent are left alone.
    ///
    /// A failed request does not stop the others: every id gets its request, because each
    /// message left unmarked is one the sweeper will send a second time.
    ///
    /// # Errors
    /// The first error, once every id was tried ([`Error::ItemFailed`] when DynamoDB refused
    /// one message of a batch); the ids whose request succeeded stay marked.
    pub async fn mark_dispatched(&self, ids: &[MessageId]) -> Result<()> {
        let unmarked = self.mark_dispatched_each(ids).await;
        match unmarked.error {
            None => Ok(()),
            Some(err) => {
                tracing::warn!(failed = unmarked.ids.len(), of = ids.len(), error = %err, "marking dispatched failed for some messages");
                Err(err)
            }
        }
    }

    /// [`Outbox::mark_dispatched`], saying which ids may not be marked.
    pub(crate) async fn mark_dispatched_each(&self, ids: &[MessageId]) -> Unmarked {
        let mut unmarked = Unmarked::default();
        match self.config.cleanup {
            Cleanup::Delete => return self.delete_each(ids).await,
            Cleanup::Keep { retention } => {
                let now = SystemTime::now();
                let expires = now
                    .checked_add(retention)
                    .map_or(u64::MAX, |at| to_millis(at) / 1000);
                let dispatched = to_millis(now);
                let unique = unique_ids(ids);
                // Collected first: a lazy iterator of futures would keep the caller's future
                // from being `Send` (its closure borrows across the await).
                let batches: Vec<_> = unique
                    .chunks(BATCH_STATEMENT_LIMIT)
                    .map(|chunk| self.mark_batch(chunk, dispatched, expires))
                    .collect();
                let results: Vec<Unmarked> = futures_util::stream::iter(batches)
                    .buffer_unordered(MARK_CONCURRENCY)
                    .collect()
                    .await;
                for batch in results {
                    unmarked.ids.extend(batch.ids);
                    if let Some(err) = batch.error {
                        unmarked.error.get_or_insert(err);
                    }
                }
            }
        }
        unmarked
    }

    /// Marks up to 25 messages with one PartiQL `BatchExecuteStatement`: per message the same
    /// conditional update an `UpdateItem` would make (set `DispatchedAt` and the TTL, leave the
    /// index; only while still outstanding, so it is idempotent and never recreates an item), in
    /// one request instead of 25. Statements refused for throttling are sent again with backoff.
    /// Statements refused for want of `dynamodb:PartiQLUpdate` (a role granted only what an
    /// earlier release needed) fall back to one `UpdateItem` each, with a warning; this outbox
    /// then marks with `UpdateItem` only (one request per message) until the process restarts.
    async fn mark_batch(
        &self,
        chunk: &[&MessageId],
        dispatched_ms: u64,
        expires_s: u64,
    ) -> Unmarked {
        let statement = format!(
            "UPDATE \"{table}\" SET \"{dispatched}\" = ? SET \"{expires}\" = ? REMOVE \"{since}\" \
             WHERE \"{id}\" = ? AND \"{since}\" IS NOT MISSING",
            table = self.table(),
            dispatched = attr::DISPATCHED_AT,
            expires = attr::EXPIRES_AT,
            since = attr::OUTSTANDING_SINCE,
            id = attr::MESSAGE_ID,
        );
        let mut unmarked = Unmarked::default();
        let mut denied: Vec<&MessageId> = Vec::new();
        let mut pending: Vec<&MessageId> = chunk.to_vec();
        if self.partiql_denied.load(Ordering::Relaxed) {
            denied.append(&mut pending);
        }
        let mut backoff = Backoff::new(Duration::from_millis(25), Duration::from_secs(2));
        while !pending.is_empty() {
            let statements = pending
                .iter()
                .map(|id| {
                    BatchStatementRequest::builder()
                        .statement(&statement)
                        .parameters(number(dispatched_ms))
                        .parameters(number(expires_s))
                        .parameters(AttributeValue::S(id.to_string()))
                        .build()
                        .expect("the statement is set")
                })
                .collect();
            let output = match self
                .db
                .client()
                .batch_execute_statement()
                .set_statements(Some(statements))
                .set_return_consumed_capacity(self.db.consumed_capacity())
                .send()
                .await
            {
                Ok(output) => output,
                Err(err)
                    if aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&err)
                        == Some("AccessDeniedException") =>
                {
                    denied.append(&mut pending);
                    break;
                }
                Err(err) => {
                    let err = self.sdk_error("BatchExecuteStatement", err);
                    unmarked.add(pending.drain(..).cloned(), err);
                    // Those denied in an earlier round still get their fallback below.
                    break;
                }
            };
            // One response per statement, in the order sent.
            let mut retry: Vec<(&MessageId, String)> = Vec::new();
            for (index, id) in pending.iter().enumerate() {
                let Some(response) = output.responses().get(index) else {
                    let err =
                        self.item_failed(id, "MissingResponse", "no answer to this statement");
                    unmarked.add([(*id).clone()], err);
                    continue;
                };
                let Some(error) = response.error() else {
                    continue;
                };
                let code = error.code().map_or("Unknown", |code| code.as_str());
                match code {
                    // No longer outstanding: already marked, or deleted. Marking is idempotent.
                    "ConditionalCheckFailed" => {}
                    "AccessDenied" => denied.push(id),
                    _ if RETRYABLE_STATEMENT_CODES.contains(&code) => {
                        retry.push((id, code.to_owned()));
                    }
                    _ => {
                        let reason = error.message().unwrap_or_default();
                        unmarked.add([(*id).clone()], self.item_failed(id, code, reason));
                    }
                }
            }
            if !retry.is_empty() && backoff.attempts() >= UNPROCESSED_RETRIES {
                let reason = format!("still refused after {UNPROCESSED_RETRIES} retries");
                for (id, code) in retry.drain(..) {
                    unmarked.add([id.clone()], self.item_failed(id, &code, &reason));
                }
            }
            if !retry.is_empty() {
                backoff.wait().await;
            }
            pending = retry.into_iter().map(|(id, _)| id).collect();
        }
        if !denied.is_empty() {
            if !self.partiql_denied.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    table = %self.table(),
                    "marking dispatched with BatchExecuteStatement was denied: this outbox marks \
                     with one UpdateItem per message from now on; grant dynamodb:PartiQLUpdate \
                     on the table (see `cargo xtask iam-policy`) and restart to mark 25 per \
                     request"
                );
            }
            let calls = denied
                .iter()
                .map(|id| self.mark_one(id, dispatched_ms, expires_s));
            for (id, result) in denied
                .iter()
                .zip(futures_util::future::join_all(calls).await)
            {
                if let Err(err) = result {
                    unmarked.add([(*id).clone()], err);
                }
            }
        }
        unmarked
    }

    /// The conditional `UpdateItem` a batch statement stands for.
    async fn mark_one(&self, id: &MessageId, dispatched_ms: u64, expires_s: u64) -> Result<()> {
        let result = self
            .db
            .client()
            .update_item()
            .table_name(self.table())
            .key(attr::MESSAGE_ID, AttributeValue::S(id.to_string()))
            .update_expression("SET #dispatched = :dispatched, #expires = :expires REMOVE #since")
            .condition_expression("attribute_exists(#since)")
            .expression_attribute_names("#dispatched", attr::DISPATCHED_AT)
            .expression_attribute_names("#expires", attr::EXPIRES_AT)
            .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
            .expression_attribute_values(":dispatched", number(dispatched_ms))
            .expression_attribute_values(":expires", number(expires_s))
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // Already dispatched, or gone: marking is idempotent.
                Ok(())
            }
            Err(err) => Err(self.sdk_error("UpdateItem", err)),
        }
    }

    fn item_failed(&self, id: &MessageId, code: &str, reason: &str) -> Error {
        Error::ItemFailed {
            operation: "BatchExecuteStatement",
            table: self.table().to_owned(),
            message_id: id.clone(),
            code: code.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// Outstanding messages created at least `min_age` ago, across every shard, shard by shard
    /// and oldest first within a shard, at most `limit` per page.
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
    /// [`Error::InvalidContinuationToken`]; the request's error.
    pub async fn outstanding(
        &self,
        min_age: Duration,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        let (mut shard, mut start) = match token {
            Some(token) => self.parse_outstanding_token(token)?,
            None => (0, None),
        };
        let cutoff = to_millis(
            now_millis()
                .checked_sub(min_age)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        );
        let mut ids = Vec::new();
        let limit = limit.max(1);
        let next = loop {
            let (page_ids, last) = self
                .query_shard(shard, cutoff, limit - ids.len(), start.take())
                .await?;
            ids.extend(page_ids);
            match last {
                Some(last) if ids.len() >= limit => {
                    break Some(self.outstanding_token(shard, Some(&last))?);
                }
                Some(last) => start = Some(last),
                None if shard + 1 >= self.config.shard_count => break None,
                None => {
                    shard += 1;
                    if ids.len() >= limit {
                        break Some(self.outstanding_token(shard, None)?);
                    }
                }
            }
        };
        let mut messages = Vec::new();
        let mut unreadable = Vec::new();
        for (id, read) in self.read_many(&ids).await? {
            match read {
                // The index lags the table: keep only what is still outstanding now.
                Ok(stored) if stored.is_outstanding() => messages.push(stored),
                Ok(_) => {}
                Err(err) => unreadable.push((id, err.to_string())),
            }
        }
        Ok(Page {
            messages,
            next,
            unreadable,
        })
    }

    /// Outstanding message ids of one shard (keys only), oldest first, at most `limit`; and the
    /// index key to continue from.
    pub(crate) async fn query_shard(
        &self,
        shard: u16,
        cutoff_ms: u64,
        limit: usize,
        start: Option<Item>,
    ) -> Result<(Vec<MessageId>, Option<Item>)> {
        let output = self
            .db
            .client()
            .query()
            .table_name(self.table())
            .index_name(&self.config.index_name)
            .key_condition_expression("#shard = :shard AND #since <= :cutoff")
            .expression_attribute_names("#shard", attr::SHARD)
            .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
            .expression_attribute_values(":shard", number(shard))
            .expression_attribute_values(":cutoff", number(cutoff_ms))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .send()
            .await
            .map_err(|err| self.sdk_error("Query", err))?;
        let ids = output
            .items()
            .iter()
            .filter_map(|item| match item.get(attr::MESSAGE_ID) {
                Some(AttributeValue::S(id)) => Some(MessageId::from(id.as_str())),
                _ => None,
            })
            .collect();
        Ok((ids, output.last_evaluated_key().cloned()))
    }

    /// `o1:<shard>` or `o1:<shard>:<order key>:<message id>`.
    fn outstanding_token(&self, shard: u16, last: Option<&Item>) -> Result<ContinuationToken> {
        let Some(last) = last else {
            return Ok(ContinuationToken(format!("o1:{shard}")));
        };
        let since = match last.get(attr::OUTSTANDING_SINCE) {
            Some(AttributeValue::N(since)) => since.clone(),
            _ => {
                return Err(Error::InvalidConfig(
                    "index page without its range key".into(),
                ));
            }
        };
        let id = match last.get(attr::MESSAGE_ID) {
            Some(AttributeValue::S(id)) => id.clone(),
            _ => {
                return Err(Error::InvalidConfig(
                    "index page without the message id".into(),
                ));
            }
        };
        Ok(ContinuationToken(format!("o1:{shard}:{since}:{id}")))
    }

    fn parse_outstanding_token(&self, token: &ContinuationToken) -> Result<(u16, Option<Item>)> {
        let invalid = |reason: &str| Error::InvalidContinuationToken {
            token: token.0.clone(),
            reason: reason.to_owned(),
        };
        let mut parts = token.0.splitn(4, ':');
        if parts.next() != Some("o1") {
            return Err(invalid("it is not a token of `outstanding`"));
        }
        let shard: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("the shard is missing"))?;
        if shard >= self.config.shard_count {
            return Err(invalid(&format!(
                "shard {shard} does not exist in an outbox of {} shards",
                self.config.shard_count
            )));
        }
        match (parts.next(), parts.next()) {
            (None, None) => Ok((shard, None)),
            (Some(since), Some(id))
                if !since.is_empty()
                    && since.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && !id.is_empty() =>
            {
                let start = Item::from([
                    (attr::SHARD.to_owned(), number(shard)),
                    (
                        attr::OUTSTANDING_SINCE.to_owned(),
                        AttributeValue::N(since.to_owned()),
                    ),
                    (
                        attr::MESSAGE_ID.to_owned(),
                        AttributeValue::S(id.to_owned()),
                    ),
                ]);
                Ok((shard, Some(start)))
            }
            _ => Err(invalid("the position is cut short")),
        }
    }

    /// Dispatched messages kept by [`Cleanup::Keep`] that were dispatched at least `min_age`
    /// ago. This scans the table (dispatched messages are deliberately not indexed, so the
    /// sweeper never pays for them): use it for audits and repair, not on a hot path.
    ///
    /// # Errors
    /// [`Error::InvalidContinuationToken`]; the request's error.
    pub async fn dispatched(
        &self,
        min_age: Duration,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        let cutoff = to_millis(
            now_millis()
                .checked_sub(min_age)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        );
        let filter = ScanFilter {
            expression: "#dispatched <= :cutoff",
            names: &[("#dispatched", attr::DISPATCHED_AT)],
            values: vec![(":cutoff", number(cutoff))],
            token_prefix: "d1:",
        };
        self.scan_filtered(&filter, limit, token).await
    }

    /// A page of a filtered consistent scan, continuing from `token`. Items this library cannot
    /// read go to [`Page::unreadable`].
    pub(crate) async fn scan_filtered(
        &self,
        filter: &ScanFilter<'_>,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        let mut start = match token {
            None => None,
            Some(token) => Some(self.scan_start(token, filter.token_prefix)?),
        };
        let limit = limit.max(1);
        let mut page = Page::default();
        loop {
            let mut request = self
                .db
                .client()
                .scan()
                .table_name(self.table())
                .filter_expression(filter.expression)
                .consistent_read(true)
                .limit(i32::try_from(limit - page.messages.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .set_return_consumed_capacity(self.db.consumed_capacity());
            for (placeholder, name) in filter.names {
                request = request.expression_attribute_names(*placeholder, *name);
            }
            for (placeholder, value) in &filter.values {
                request = request.expression_attribute_values(*placeholder, value.clone());
            }
            let output = request
                .send()
                .await
                .map_err(|err| self.sdk_error("Scan", err))?;
            for found in output.items() {
                match item::from_item(self.table(), found) {
                    Ok(stored) => page.messages.push(stored),
                    Err(err) => {
                        let id = match found.get(attr::MESSAGE_ID) {
                            Some(AttributeValue::S(id)) => MessageId::from(id.as_str()),
                            _ => MessageId::from("?"),
                        };
                        page.unreadable.push((id, err.to_string()));
                    }
                }
            }
            match output.last_evaluated_key() {
                None => return Ok(page),
                Some(last) if page.messages.len() >= limit => {
                    page.next = Some(self.scan_token(filter.token_prefix, last)?);
                    return Ok(page);
                }
                Some(last) => start = Some(last.clone()),
            }
        }
    }

    /// The table key to continue a scan from, out of a token with `prefix`.
    pub(crate) fn scan_start(&self, token: &ContinuationToken, prefix: &str) -> Result<Item> {
        match token.0.strip_prefix(prefix) {
            Some(id) if !id.is_empty() => Ok(key(&MessageId::from(id))),
            _ => Err(Error::InvalidContinuationToken {
                token: token.0.clone(),
                reason: format!("it is not a token of this listing (those start with `{prefix}`)"),
            }),
        }
    }

    /// A token continuing a scan after `last`.
    pub(crate) fn scan_token(&self, prefix: &str, last: &Item) -> Result<ContinuationToken> {
        match last.get(attr::MESSAGE_ID) {
            Some(AttributeValue::S(id)) => Ok(ContinuationToken(format!("{prefix}{id}"))),
            _ => Err(Error::InvalidConfig("scan page without its key".into())),
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
        self.delete_each(ids).await.error.map_or(Ok(()), Err)
    }

    /// [`Outbox::delete`], saying which ids may still be present.
    async fn delete_each(&self, ids: &[MessageId]) -> Unmarked {
        let mut left = Unmarked::default();
        for chunk in unique_ids(ids).chunks(BATCH_WRITE_LIMIT) {
            let batch = self.delete_batch(chunk).await;
            left.ids.extend(batch.ids);
            if let Some(err) = batch.error {
                left.error.get_or_insert(err);
            }
        }
        left
    }

    /// One `BatchWriteItem` of at most 25 deletes, retried while items come back unprocessed;
    /// says which ids may still be present.
    async fn delete_batch(&self, chunk: &[&MessageId]) -> Unmarked {
        match self.try_delete_batch(chunk).await {
            Ok(()) => Unmarked::default(),
            Err((left, err)) => Unmarked {
                ids: left,
                error: Some(err),
            },
        }
    }

    async fn try_delete_batch(
        &self,
        chunk: &[&MessageId],
    ) -> std::result::Result<(), (Vec<MessageId>, Error)> {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|id| {
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(key(id)))
                            .build()
                            .expect("the key is set"),
                    )
                    .build()
            })
            .collect();
        let mut backoff = Backoff::new(Duration::from_millis(25), Duration::from_secs(2));
        while !requests.is_empty() {
            // On a failed retry round only what that round carried may still be present.
            let left = deleted_ids(&requests);
            let output = self
                .db
                .client()
                .batch_write_item()
                .request_items(self.table(), requests)
                .set_return_consumed_capacity(self.db.consumed_capacity())
                .send()
                .await
                .map_err(|err| (left, self.sdk_error("BatchWriteItem", err)))?;
            requests = output
                .unprocessed_items()
                .and_then(|tables| tables.get(self.table()))
                .cloned()
                .unwrap_or_default();
            if !requests.is_empty() {
                if backoff.attempts() >= UNPROCESSED_RETRIES {
                    let left = deleted_ids(&requests);
                    let err = Error::Throttled {
                        operation: "BatchWriteItem",
                        table: self.table().to_owned(),
                        unprocessed: left.clone(),
                        retries: UNPROCESSED_RETRIES,
                    };
                    return Err((left, err));
                }
                backoff.wait().await;
            }
        }
        Ok(())
    }

    /// Counts outstanding messages (of any age), stopping at `cap`. A count reads every item
    /// it counts, so keep the cap small on a hot path.
    ///
    /// # Errors
    /// The request's error.
    pub async fn outstanding_count(&self, cap: usize) -> Result<BoundedCount> {
        let mut count = 0;
        for shard in 0..self.config.shard_count {
            let mut start = None;
            loop {
                if count >= cap {
                    // At the cap: there may be more, and finding out would cost more reads.
                    return Ok(BoundedCount {
                        count: cap,
                        capped: true,
                    });
                }
                let output = self
                    .db
                    .client()
                    .query()
                    .table_name(self.table())
                    .index_name(&self.config.index_name)
                    .key_condition_expression("#shard = :shard")
                    .expression_attribute_names("#shard", attr::SHARD)
                    .expression_attribute_values(":shard", number(shard))
                    .select(Select::Count)
                    .limit(i32::try_from(cap - count).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start.take())
                    .set_return_consumed_capacity(self.db.consumed_capacity())
                    .send()
                    .await
                    .map_err(|err| self.sdk_error("Query", err))?;
                count += usize::try_from(output.count()).unwrap_or(0);
                match output.last_evaluated_key() {
                    Some(last) => start = Some(last.clone()),
                    None => break,
                }
            }
        }
        Ok(BoundedCount {
            count,
            capped: false,
        })
    }
}

fn key(id: &MessageId) -> Item {
    Item::from([(
        attr::MESSAGE_ID.to_owned(),
        AttributeValue::S(id.to_string()),
    )])
}

/// The ids a mark may have missed (its request failed, or its outcome is unknown) and the first
/// error.
#[derive(Debug, Default)]
pub(crate) struct Unmarked {
    pub(crate) ids: Vec<MessageId>,
    pub(crate) error: Option<Error>,
}

impl Unmarked {
    fn add(&mut self, ids: impl IntoIterator<Item = MessageId>, err: Error) {
        self.ids.extend(ids);
        self.error.get_or_insert(err);
    }
}

/// `ids` without repeats, in their first order: a batch naming one item twice is refused.
fn unique_ids(ids: &[MessageId]) -> Vec<&MessageId> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().filter(|id| seen.insert(*id)).collect()
}

/// The message ids a batch of delete requests names.
fn deleted_ids(requests: &[WriteRequest]) -> Vec<MessageId> {
    requests
        .iter()
        .filter_map(|r| r.delete_request()?.key().get(attr::MESSAGE_ID)?.as_s().ok())
        .map(|id| MessageId::from(id.as_str()))
        .collect()
}
