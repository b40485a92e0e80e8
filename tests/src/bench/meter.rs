//! Counting what the outbox costs: an SDK interceptor that sees every HTTP call the DynamoDB
//! client makes (retries included), and reads the consumed capacity the responses report.
//!
//! [`Meter::attach`] adds the interceptor to a [`DynamoDb`] and asks, through
//! [`DynamoDb::with_consumed_capacity`], for `ReturnConsumedCapacity=INDEXES` on every call, so
//! that table and per-index capacity units can be summed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_execute_statement::BatchExecuteStatementOutput;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity};
use outbox_runtime::DynamoDb;
use outbox_runtime::table::attributes as attr;
use serde::Serialize;

/// What the calls of one operation cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct OpCount {
    /// HTTP requests sent (each retry is one more).
    pub requests: u64,
    /// Capacity units reported in total (table and indexes).
    pub capacity: f64,
    /// Of which the base tables'.
    pub table_capacity: f64,
    /// Of which the global secondary indexes'.
    pub index_capacity: f64,
    /// Items read: returned by `GetItem` and `BatchGetItem`, scanned by `Query` and `Scan`.
    pub items_read: u64,
    /// Answers that carried no consumed capacity although it was asked for: DynamoDB Local
    /// reports none for PartiQL (`BatchExecuteStatement`) nor for a query that reads nothing, so
    /// their units are missing from the figures above, not zero.
    pub unreported: u64,
}

impl OpCount {
    fn minus(self, earlier: OpCount) -> OpCount {
        OpCount {
            requests: self.requests - earlier.requests,
            capacity: self.capacity - earlier.capacity,
            table_capacity: self.table_capacity - earlier.table_capacity,
            index_capacity: self.index_capacity - earlier.index_capacity,
            items_read: self.items_read - earlier.items_read,
            unreported: self.unreported - earlier.unreported,
        }
    }
}

/// Costs by operation name (`TransactWriteItems`, `UpdateItem`, ...).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Each operation's costs.
    pub ops: BTreeMap<String, OpCount>,
}

impl Counts {
    /// Requests of every operation.
    pub fn requests(&self) -> u64 {
        self.ops.values().map(|op| op.requests).sum()
    }

    /// Requests of one operation.
    pub fn requests_of(&self, operation: &str) -> u64 {
        self.ops.get(operation).map_or(0, |op| op.requests)
    }

    /// Capacity units of every operation.
    pub fn capacity(&self) -> f64 {
        total(self.ops.values().map(|op| op.capacity))
    }

    /// Capacity units of the base tables.
    pub fn table_capacity(&self) -> f64 {
        total(self.ops.values().map(|op| op.table_capacity))
    }

    /// Capacity units of the indexes.
    pub fn index_capacity(&self) -> f64 {
        total(self.ops.values().map(|op| op.index_capacity))
    }

    /// Capacity units of the reading operations (`GetItem`, `BatchGetItem`, `Query`, `Scan`).
    pub fn read_capacity(&self) -> f64 {
        total(
            self.ops
                .iter()
                .filter(|(name, _)| is_read(name))
                .map(|(_, op)| op.capacity),
        )
    }

    /// Capacity units of the writing operations.
    pub fn write_capacity(&self) -> f64 {
        total(
            self.ops
                .iter()
                .filter(|(name, _)| !is_read(name))
                .map(|(_, op)| op.capacity),
        )
    }

    /// Answers without a capacity figure (see [`OpCount::unreported`]).
    pub fn unreported(&self) -> u64 {
        self.ops.values().map(|op| op.unreported).sum()
    }

    /// Items read by every operation.
    pub fn items_read(&self) -> u64 {
        self.ops.values().map(|op| op.items_read).sum()
    }

    /// Requests by operation, as `(name, count)` pairs in name order, without the empty ones.
    pub fn requests_by_op(&self) -> Vec<(String, u64)> {
        self.ops
            .iter()
            .filter(|(_, op)| op.requests > 0)
            .map(|(name, op)| (name.clone(), op.requests))
            .collect()
    }

    /// `TransactWriteItems 1 + UpdateItem 10`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .requests_by_op()
            .into_iter()
            .map(|(name, count)| format!("{name} {count}"))
            .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(" + ")
        }
    }

    /// What was spent since `earlier` (a snapshot of the same meter).
    pub fn since(&self, earlier: &Counts) -> Counts {
        let ops = self
            .ops
            .iter()
            .map(|(name, op)| {
                let before = earlier.ops.get(name).copied().unwrap_or_default();
                (name.clone(), op.minus(before))
            })
            .filter(|(_, op)| op.requests > 0 || op.capacity > 0.0)
            .collect();
        Counts { ops }
    }
}

/// A sum starting at +0.0 (an empty `Iterator::sum` of floats is -0.0).
fn total(units: impl Iterator<Item = f64>) -> f64 {
    units.fold(0.0, |sum, value| sum + value)
}

fn is_read(operation: &str) -> bool {
    matches!(
        operation,
        "GetItem" | "BatchGetItem" | "Query" | "Scan" | "TransactGetItems"
    )
}

#[derive(Debug, Default)]
struct Inner {
    ops: Mutex<BTreeMap<String, OpCount>>,
    /// While [`Meter::time_commits`] is on.
    clock: Mutex<Option<CommitClock>>,
}

#[derive(Debug, Default)]
struct CommitClock {
    /// Message id to when the commit that carried it started.
    started: HashMap<String, Instant>,
    /// When the last commit's response was read.
    last_finished: Option<Instant>,
}

/// Counts every request a DynamoDB client sends and sums the capacity units its responses
/// report. Cheap to clone; clones share the counts.
///
/// ```no_run
/// # async fn run() -> outbox_runtime::Result<()> {
/// use outbox_runtime::DynamoDb;
/// use outbox_tests::bench::Meter;
///
/// let meter = Meter::new();
/// let db = meter.attach(DynamoDb::local("http://127.0.0.1:8000"));
/// let before = meter.counts();
/// db.check_reachable().await?;
/// assert_eq!(meter.counts().since(&before).requests_of("ListTables"), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Meter {
    inner: Arc<Inner>,
}

impl Meter {
    /// A meter with nothing counted.
    pub fn new() -> Self {
        Self::default()
    }

    /// `db` with this meter on its client, asking for `INDEXES` capacity on every call.
    pub fn attach(&self, db: DynamoDb) -> DynamoDb {
        db.with_interceptor(self.clone())
            .with_consumed_capacity(ReturnConsumedCapacity::Indexes)
    }

    /// Everything counted so far.
    pub fn counts(&self) -> Counts {
        Counts {
            ops: self.inner.ops.lock().expect("not poisoned").clone(),
        }
    }

    /// Starts (or stops, and forgets) timing commits: when each commit that carries messages
    /// starts, by message id, and when the last commit's response was read.
    pub fn time_commits(&self, on: bool) {
        *self.inner.clock.lock().expect("not poisoned") = on.then(CommitClock::default);
    }

    /// When the commit that carried `message_id` started (before its request was built),
    /// while commits are timed.
    pub fn commit_started(&self, message_id: &str) -> Option<Instant> {
        self.inner
            .clock
            .lock()
            .expect("not poisoned")
            .as_ref()?
            .started
            .get(message_id)
            .copied()
    }

    /// When the response of the last commit was read, while commits are timed. With one
    /// handler call at a time, that is the end of the call's own commit.
    pub fn last_commit_finished(&self) -> Option<Instant> {
        self.inner
            .clock
            .lock()
            .expect("not poisoned")
            .as_ref()?
            .last_finished
    }

    fn add(&self, operation: &str, f: impl FnOnce(&mut OpCount)) {
        let mut ops = self.inner.ops.lock().expect("not poisoned");
        f(ops.entry(operation.to_owned()).or_default());
    }
}

/// The operation a request calls, from its `X-Amz-Target` header (`DynamoDB_20120810.Query`).
fn operation(target: Option<&str>) -> String {
    target
        .and_then(|target| target.rsplit('.').next())
        .unwrap_or("unknown")
        .to_owned()
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "outbox-bench-meter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(input) = context.input().downcast_ref::<TransactWriteItemsInput>() else {
            return Ok(());
        };
        let mut clock = self.inner.clock.lock().expect("not poisoned");
        if let Some(clock) = clock.as_mut() {
            let started = Instant::now();
            for action in input.transact_items() {
                if let Some(AttributeValue::S(id)) = action
                    .put()
                    .and_then(|put| put.item().get(attr::MESSAGE_ID))
                {
                    clock.started.insert(id.clone(), started);
                }
            }
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = operation(context.request().headers().get("x-amz-target"));
        self.add(&operation, |op| op.requests += 1);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let found: Option<(&str, Vec<&ConsumedCapacity>, u64)> =
            if let Some(out) = output.downcast_ref::<TransactWriteItemsOutput>() {
                if let Some(clock) = self.inner.clock.lock().expect("not poisoned").as_mut() {
                    clock.last_finished = Some(Instant::now());
                }
                Some((
                    "TransactWriteItems",
                    out.consumed_capacity().iter().collect(),
                    0,
                ))
            } else if let Some(out) = output.downcast_ref::<PutItemOutput>() {
                Some(("PutItem", out.consumed_capacity().into_iter().collect(), 0))
            } else if let Some(out) = output.downcast_ref::<UpdateItemOutput>() {
                Some((
                    "UpdateItem",
                    out.consumed_capacity().into_iter().collect(),
                    0,
                ))
            } else if let Some(out) = output.downcast_ref::<DeleteItemOutput>() {
                Some((
                    "DeleteItem",
                    out.consumed_capacity().into_iter().collect(),
                    0,
                ))
            } else if let Some(out) = output.downcast_ref::<BatchWriteItemOutput>() {
                Some((
                    "BatchWriteItem",
                    out.consumed_capacity().iter().collect(),
                    0,
                ))
            } else if let Some(out) = output.downcast_ref::<BatchExecuteStatementOutput>() {
                Some((
                    "BatchExecuteStatement",
                    out.consumed_capacity().iter().collect(),
                    0,
                ))
            } else if let Some(out) = output.downcast_ref::<GetItemOutput>() {
                Some((
                    "GetItem",
                    out.consumed_capacity().into_iter().collect(),
                    u64::from(out.item().is_some()),
                ))
            } else if let Some(out) = output.downcast_ref::<BatchGetItemOutput>() {
                let items = out
                    .responses()
                    .map_or(0, |tables| tables.values().map(Vec::len).sum::<usize>());
                Some((
                    "BatchGetItem",
                    out.consumed_capacity().iter().collect(),
                    items as u64,
                ))
            } else if let Some(out) = output.downcast_ref::<QueryOutput>() {
                Some((
                    "Query",
                    out.consumed_capacity().into_iter().collect(),
                    u64::try_from(out.scanned_count()).unwrap_or(0),
                ))
            } else if let Some(out) = output.downcast_ref::<ScanOutput>() {
                Some((
                    "Scan",
                    out.consumed_capacity().into_iter().collect(),
                    u64::try_from(out.scanned_count()).unwrap_or(0),
                ))
            } else {
                None
            };
        if let Some((operation, consumed, items)) = found {
            self.add(operation, |op| {
                op.items_read += items;
                op.unreported += u64::from(consumed.is_empty());
                for capacity in consumed {
                    op.capacity += capacity.capacity_units().unwrap_or(0.0);
                    op.table_capacity += capacity
                        .table()
                        .and_then(|table| table.capacity_units())
                        .unwrap_or(0.0);
                    op.index_capacity += capacity
                        .global_secondary_indexes()
                        .into_iter()
                        .flat_map(|indexes| indexes.values())
                        .chain(
                            capacity
                                .local_secondary_indexes()
                                .into_iter()
                                .flat_map(|indexes| indexes.values()),
                        )
                        .filter_map(|index| index.capacity_units())
                        .sum::<f64>();
                }
            });
        }
        Ok(())
    }
}
