//! Reading a consumer-side run back: the outcomes the children recorded, and what DynamoDB
//! holds (the effect items and the inbox items).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::DynamoDb;
use outbox_runtime::consumer::Inbox;
use outbox_runtime::table::TableSchema;
use outbox_runtime::table::attributes::inbox::{CONSUMER, MESSAGE_ID};

use super::child::{APPLIED, APPLIED_BY, EFFECT_KEY};

/// The outcomes every child recorded, summed, and per message id; and what their SQS clients
/// received and deleted.
#[derive(Debug, Default)]
pub(super) struct Records {
    /// `done` lines: first handlings, committed.
    pub(super) done: usize,
    /// `duplicate` lines: deliveries the inbox absorbed.
    pub(super) duplicates: usize,
    /// `failed` lines: the handler returned `Err`, left to the queue.
    pub(super) failed: usize,
    /// `dying` lines: `Ok`s after which the process exited before the delete.
    pub(super) dying: usize,
    /// The failures' reasons, with how often each was seen.
    pub(super) failures: HashMap<String, usize>,
    /// `done` lines per message id.
    pub(super) done_by_id: HashMap<String, usize>,
    /// Receives per message id (every process's `ReceiveMessage` answers).
    pub(super) received_by_id: HashMap<String, usize>,
    /// Deletes SQS confirmed, in all.
    pub(super) deleted: usize,
    /// Deletes by a process of a message it had not recorded as many `Ok`s for: process, id.
    pub(super) deleted_without_ok: Vec<String>,
}

/// Reads every process's record files: `(name, outcomes, sqs calls)`. A process killed
/// mid-write leaves at most a partial last line, which is skipped (an outcome line is written
/// before the handler returns, so a partial one never reached the consumer).
pub(super) fn read_records<'a>(processes: impl Iterator<Item = (&'a str, &'a Path)>) -> Records {
    let mut records = Records::default();
    for (name, path) in processes {
        let mut oks: HashMap<String, usize> = HashMap::new();
        for (outcome, id, detail) in lines(path) {
            match outcome.as_str() {
                "done" => {
                    records.done += 1;
                    *records.done_by_id.entry(id.clone()).or_default() += 1;
                    *oks.entry(id).or_default() += 1;
                }
                "duplicate" => {
                    records.duplicates += 1;
                    *oks.entry(id).or_default() += 1;
                }
                "failed" => {
                    records.failed += 1;
                    let reason: String = detail.chars().take(160).collect();
                    *records.failures.entry(reason).or_default() += 1;
                }
                "dying" => records.dying += 1,
                _ => {}
            }
        }
        let mut deletes: HashMap<String, usize> = HashMap::new();
        for (call, id, _) in lines(&super::child::sqs_record(path)) {
            match call.as_str() {
                "received" => *records.received_by_id.entry(id).or_default() += 1,
                "deleted" => {
                    records.deleted += 1;
                    *deletes.entry(id).or_default() += 1;
                }
                _ => {}
            }
        }
        for (id, n) in deletes {
            if n > oks.get(&id).copied().unwrap_or(0) {
                records
                    .deleted_without_ok
                    .push(format!("{id} by {name} ({n} deletes)"));
            }
        }
    }
    records
}

/// The complete lines of a record file: `(kind, id, detail)`.
fn lines(path: &Path) -> Vec<(String, String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.split_inclusive('\n')
        .filter_map(|line| {
            let mut fields = line.strip_suffix('\n')?.splitn(4, '\t');
            let _at = fields.next()?;
            let kind = fields.next()?.to_owned();
            let id = fields.next()?.to_owned();
            Some((kind, id, fields.next().unwrap_or_default().to_owned()))
        })
        .collect()
}

/// What DynamoDB holds after the run.
#[derive(Debug, Default)]
pub(super) struct Stored {
    /// Per message id: how often its effect was applied, and by which process first.
    pub(super) applied: HashMap<String, (u64, String)>,
    /// The message ids in the consumer's inbox.
    pub(super) inbox: HashSet<String>,
}

/// Scans the effects table and the inbox table (strongly consistent).
///
/// # Panics
/// When a scan fails.
pub(super) async fn read_back(db: &DynamoDb, effects: &TableSchema, inbox: &Inbox) -> Stored {
    let mut stored = Stored::default();
    for item in scan(db, &effects.name).await {
        let Some(AttributeValue::S(id)) = item.get(EFFECT_KEY) else {
            continue;
        };
        let applied = item
            .get(APPLIED)
            .and_then(|n| n.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let by = item
            .get(APPLIED_BY)
            .and_then(|s| s.as_s().ok())
            .cloned()
            .unwrap_or_default();
        stored.applied.insert(id.clone(), (applied, by));
    }
    for item in scan(db, inbox.table_name()).await {
        let consumer = item.get(CONSUMER).and_then(|s| s.as_s().ok());
        if let (Some(AttributeValue::S(id)), Some(consumer)) = (item.get(MESSAGE_ID), consumer)
            && consumer == inbox.consumer()
        {
            stored.inbox.insert(id.clone());
        }
    }
    stored
}

async fn scan(db: &DynamoDb, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = db
            .client()
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "Scan of `{table}`: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(err)
                )
            });
        items.extend(output.items().iter().cloned());
        match output.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return items,
        }
    }
}
