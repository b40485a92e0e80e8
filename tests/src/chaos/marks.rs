//! Watching the marks: an SDK interceptor on every client of a chaos run that notes each
//! `UpdateItem` marking a message dispatched whose request failed (DynamoDB killed, restarting,
//! not answering). Such a message was sent and stays outstanding, so a sweeper sends it again:
//! the note is what explains that duplicate. Only failures are noted; a mark whose request
//! succeeded needs no explaining.
//!
//! The runtime marks with one `UpdateItem` per message under `Cleanup::Keep` (the chaos run's
//! cleanup), setting `DispatchedAt`; that attribute name in the request is what tells a mark
//! from the other updates (a recorded failed attempt, a dead-lettering).

use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use outbox_runtime::{MessageId, attributes as attr};

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

/// The message a mark request is about, kept in the request's own state between its start and
/// its end.
#[derive(Clone, Debug)]
struct MarkOf(MessageId);

impl Storable for MarkOf {
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
        let Some(update) = context.input().downcast_ref::<UpdateItemInput>() else {
            return Ok(());
        };
        let sets_dispatched = update
            .expression_attribute_names()
            .is_some_and(|names| names.values().any(|name| name == attr::DISPATCHED_AT));
        if let (true, Some(AttributeValue::S(id))) = (
            sets_dispatched,
            update.key().and_then(|key| key.get(attr::MESSAGE_ID)),
        ) {
            cfg.interceptor_state()
                .store_put(MarkOf(MessageId::from(id.as_str())));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(MarkOf(id)) = cfg.load::<MarkOf>() else {
            return Ok(());
        };
        // A refused condition means "already marked": the runtime treats it as done.
        let failed = match context.output_or_error() {
            Some(Ok(_)) => false,
            Some(Err(err)) => !format!("{err:?}").contains("ConditionalCheckFailed"),
            None => true,
        };
        if failed {
            self.recorder.note_failed_mark(id.clone());
        }
        Ok(())
    }
}
