//! Watching the marks: an SDK interceptor on every client of a chaos run that notes each message
//! whose mark failed (DynamoDB killed, restarting, not answering). Such a message was sent and
//! stays outstanding, so a sweeper sends it again: the note is what explains that duplicate.
//! Failures are noted, and so are the marks DynamoDB acknowledged: a kill of DynamoDB Local
//! right after can lose an acknowledged write (it answers before the write is on disk), and the
//! message, outstanding again after the restart, is sent again.
//!
//! Under `Cleanup::Keep` (the chaos run's cleanup) the runtime marks with `BatchExecuteStatement`:
//! one PartiQL `UPDATE` per message setting `DispatchedAt`, its message id the last parameter.
//! A failed attempt of the request notes every mark in it (a retry that succeeds later may come
//! after another sweeper took the shard over); a statement refused for good inside a batch that
//! succeeded notes that one. Statements refused for throttling are not noted: the runtime sends
//! them again (DynamoDB Local never throttles, so a chaos run never sees one).

use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_execute_statement::{
    BatchExecuteStatementInput, BatchExecuteStatementOutput,
};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use outbox_runtime::MessageId;
use outbox_runtime::table::attributes as attr;

use super::Recorder;

/// The interceptor; its notes go to the run's [`Recorder`].
pub(crate) struct MarkWatcher {
    recorder: Arc<Recorder>,
}

impl std::fmt::Debug for MarkWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MarkWatcher")
    }
}

impl MarkWatcher {
    pub(crate) fn new(recorder: &Arc<Recorder>) -> Self {
        Self {
            recorder: Arc::clone(recorder),
        }
    }
}

/// The messages a mark request is about, in statement order, kept in the request's own state
/// between its start and its end.
#[derive(Clone, Debug)]
struct MarksOf(Vec<MessageId>);

impl Storable for MarksOf {
    type Storer = StoreReplace<Self>;
}

/// Set once a failed attempt of the request was noted, so that its retries are not noted again.
#[derive(Clone, Debug)]
struct Noted;

impl Storable for Noted {
    type Storer = StoreReplace<Self>;
}

impl Intercept for MarkWatcher {
    fn name(&self) -> &'static str {
        "ChaosMarkWatcher"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(batch) = context.input().downcast_ref::<BatchExecuteStatementInput>() else {
            return Ok(());
        };
        let ids: Vec<MessageId> = batch
            .statements()
            .iter()
            .filter(|statement| statement.statement().contains(attr::DISPATCHED_AT))
            .filter_map(|statement| match statement.parameters().last() {
                Some(AttributeValue::S(id)) => Some(MessageId::from(id.as_str())),
                _ => None,
            })
            .collect();
        if !ids.is_empty() {
            cfg.interceptor_state().store_put(MarksOf(ids));
        }
        Ok(())
    }

    /// An attempt that failed: the mark is late at best (the SDK may retry it after DynamoDB is
    /// back, by which time another sweeper may have taken the shard and sent the message again).
    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let attempt_failed = !matches!(context.output_or_error(), Some(Ok(_)));
        if attempt_failed && cfg.load::<Noted>().is_none() {
            if let Some(MarksOf(ids)) = cfg.load::<MarksOf>() {
                for id in ids {
                    self.recorder.note_failed_mark(id.clone());
                }
            }
            cfg.interceptor_state().store_put(Noted);
        }
        Ok(())
    }

    /// A request that succeeded can still refuse single statements.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(MarksOf(ids)) = cfg.load::<MarksOf>() else {
            return Ok(());
        };
        let Some(Ok(output)) = context.output_or_error() else {
            return Ok(());
        };
        let responses = output
            .downcast_ref::<BatchExecuteStatementOutput>()
            .map(BatchExecuteStatementOutput::responses)
            .unwrap_or_default();
        for (index, id) in ids.iter().enumerate() {
            let refused = match responses.get(index) {
                None => true,
                // Already marked needs no explaining; throttling the runtime retries itself.
                Some(response) => response.error().is_some_and(|error| {
                    !matches!(
                        error.code().map(|code| code.as_str()),
                        Some(
                            "ConditionalCheckFailed"
                                | "ThrottlingError"
                                | "ProvisionedThroughputExceeded"
                                | "RequestLimitExceeded"
                                | "InternalServerError"
                                | "TransactionConflict"
                        )
                    )
                }),
            };
            if refused {
                self.recorder.note_failed_mark(id.clone());
            } else if responses.get(index).is_some_and(|r| r.error().is_none()) {
                self.recorder.note_acknowledged_mark(id.clone());
            }
        }
        Ok(())
    }
}
