//! Watching a consumer child's SQS calls: an SDK interceptor on its client that appends a line
//! per message each `ReceiveMessage` returned (`received`) and per entry each
//! `DeleteMessageBatch` deleted (`deleted`), by outbox id, to a file of the process's own,
//! written through like the outcome records. The check tells by them a message no consumer ever
//! received from one received and then lost, and finds any delete without a recorded `Ok`.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_sdk_sqs::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::operation::delete_message_batch::{
    DeleteMessageBatchInput, DeleteMessageBatchOutput,
};
use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use outbox_runtime::transport::wire;

use crate::chaos::processes::records::unix_nanos;

/// The interceptor: the file, and the outbox id of every receipt handle received.
pub(super) struct SqsWatcher {
    file: Mutex<std::fs::File>,
    receipts: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for SqsWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqsWatcher")
    }
}

impl SqsWatcher {
    pub(super) fn open(path: &Path) -> Result<Self, String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|err| format!("{}: {err}", path.display()))?;
        Ok(Self {
            file: Mutex::new(file),
            receipts: Mutex::default(),
        })
    }

    fn write(&self, what: &str, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        let at = unix_nanos(SystemTime::now());
        let text: String = ids
            .iter()
            .map(|id| format!("{at}\t{what}\t{id}\n"))
            .collect();
        let mut file = self.file.lock().expect("not poisoned");
        // A line that cannot be written shows as a message never received: reported, not hidden.
        let _ = file.write_all(text.as_bytes()).and_then(|()| file.flush());
    }
}

/// The outbox ids of a `DeleteMessageBatch`'s entries, by entry id, kept in the request's state.
#[derive(Clone, Debug)]
struct Deleting(HashMap<String, String>);

impl Storable for Deleting {
    type Storer = StoreReplace<Self>;
}

impl Intercept for SqsWatcher {
    fn name(&self) -> &'static str {
        "ChaosSqsWatcher"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(batch) = context.input().downcast_ref::<DeleteMessageBatchInput>() else {
            return Ok(());
        };
        let receipts = self.receipts.lock().expect("not poisoned");
        let ids = batch
            .entries()
            .iter()
            .map(|entry| {
                let id = receipts
                    .get(entry.receipt_handle())
                    .cloned()
                    .unwrap_or_else(|| "unknown-receipt".to_owned());
                (entry.id().to_owned(), id)
            })
            .collect();
        cfg.interceptor_state().store_put(Deleting(ids));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(Ok(output)) = context.output_or_error() else {
            return Ok(());
        };
        if let Some(received) = output.downcast_ref::<ReceiveMessageOutput>() {
            let mut receipts = self.receipts.lock().expect("not poisoned");
            let ids: Vec<String> = received
                .messages()
                .iter()
                .map(|message| {
                    let id = message
                        .message_attributes()
                        .and_then(|attributes| attributes.get(wire::MESSAGE_ID))
                        .and_then(|value| value.string_value())
                        .unwrap_or("no-outbox-id")
                        .to_owned();
                    if let Some(receipt) = message.receipt_handle() {
                        receipts.insert(receipt.to_owned(), id.clone());
                    }
                    id
                })
                .collect();
            drop(receipts);
            self.write("received", &ids);
        } else if let Some(deleted) = output.downcast_ref::<DeleteMessageBatchOutput>()
            && let Some(Deleting(ids)) = cfg.load::<Deleting>()
        {
            let ids: Vec<String> = deleted
                .successful()
                .iter()
                .filter_map(|entry| ids.get(entry.id()).cloned())
                .collect();
            self.write("deleted", &ids);
        }
        Ok(())
    }
}
