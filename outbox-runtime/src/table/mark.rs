//! Marking sent messages dispatched: kept with a TTL (conditional PartiQL updates, 25 to a
//! `BatchExecuteStatement`, with an `UpdateItem` fallback where PartiQL is denied) or deleted
//! (`BatchWriteItem`, 25 to a call).

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::{AttributeValue, BatchStatementRequest, DeleteRequest, WriteRequest};
use futures_util::FutureExt as _;
use futures_util::StreamExt;

use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::message::MessageId;
use crate::table::attributes as attr;
use crate::table::config::Cleanup;
use crate::table::handle::condition_failed;
use crate::table::handle::{TableHandle, UNPROCESSED_RETRIES, key, unique_ids};
use crate::table::layout::number;
use crate::time::to_millis;

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

impl TableHandle {
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
                let batches: Vec<_> = unique
                    .chunks(BATCH_STATEMENT_LIMIT)
                    .map(|chunk| self.mark_batch(chunk, dispatched, expires))
                    .collect();
                for batch in concurrently(batches).await {
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
                .boxed()
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
                     on the table (see `iam::policy`) and restart to mark 25 per \
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
            .boxed()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => {
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

    /// [`Outbox::delete`], saying which ids may still be present.
    pub(crate) async fn delete_each(&self, ids: &[MessageId]) -> Unmarked {
        let mut left = Unmarked::default();
        let unique = unique_ids(ids);
        let batches: Vec<_> = unique
            .chunks(BATCH_WRITE_LIMIT)
            .map(|chunk| self.delete_batch(chunk))
            .collect();
        for batch in concurrently(batches).await {
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
                .boxed()
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
                        unprocessed: left.iter().map(ToString::to_string).collect(),
                        retries: UNPROCESSED_RETRIES,
                    };
                    return Err((left, err));
                }
                backoff.wait().await;
            }
        }
        Ok(())
    }
}

/// Runs the batch requests, at most [`MARK_CONCURRENCY`] at a time. A single one is awaited
/// directly: a `FuturesUnordered` wakes its own task each time it returns `Pending`, two context
/// switches a call that the common case (one batch) need not pay.
async fn concurrently<F: std::future::Future<Output = Unmarked>>(batches: Vec<F>) -> Vec<Unmarked> {
    if batches.len() <= 1 {
        let mut results = Vec::with_capacity(1);
        for batch in batches {
            results.push(batch.await);
        }
        return results;
    }
    futures_util::stream::iter(batches)
        .buffer_unordered(MARK_CONCURRENCY)
        .collect()
        .await
}

/// The message ids a batch of delete requests names.
fn deleted_ids(requests: &[WriteRequest]) -> Vec<MessageId> {
    requests
        .iter()
        .filter_map(|r| r.delete_request()?.key().get(attr::MESSAGE_ID)?.as_s().ok())
        .map(|id| MessageId::from(id.as_str()))
        .collect()
}
