//! Scenarios 2 and 3: requests and capacity units per delivered message, on the immediate path
//! and the sweeper path, with each cleanup mode.

use outbox_runtime::{Cleanup, OutboxConfig};
use serde::Serialize;

use super::measure::{Progress, ratio};
use super::paths::{PathCost, cleanup_name, cleanups, immediate_path, sweeper_path, warm_sweeper};
use crate::bench::{AddGreeting, BoxError, Link, Rig};

/// What delivering messages cost on one path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostRow {
    /// The modeled round trip in milliseconds (0: none); the counts do not depend on it.
    pub rtt_ms: f64,
    /// `immediate` or `sweeper`.
    pub path: &'static str,
    /// `keep` or `delete`.
    pub cleanup: &'static str,
    /// Bytes of each message body.
    pub body_bytes: usize,
    /// Whether each call also put an entity.
    pub entity: bool,
    /// Shards of the outbox.
    pub shards: u16,
    /// Requests per delivered message.
    pub requests_per_message: f64,
    /// Requests per handler call (for the sweeper path, one pass shared by all the calls).
    pub requests_per_call: f64,
    /// Capacity units per delivered message, in total.
    pub capacity_per_message: f64,
    /// Of which written (`TransactWriteItems`, `UpdateItem`, `BatchWriteItem`, ...).
    pub write_capacity_per_message: f64,
    /// Of which read (`Query`, `BatchGetItem`, ...).
    pub read_capacity_per_message: f64,
    /// Of which on the outstanding index.
    pub index_capacity_per_message: f64,
    /// Answers that carried no capacity figure, so the units above leave them out.
    pub unreported_requests: u64,
    /// The measurement.
    pub cost: PathCost,
}

impl CostRow {
    fn new(
        rtt_ms: f64,
        path: &'static str,
        cleanup: Cleanup,
        body_bytes: usize,
        entity: bool,
        shards: u16,
        cost: PathCost,
    ) -> Self {
        let per = |value: f64| ratio(value, cost.delivered as f64);
        Self {
            rtt_ms,
            path,
            cleanup: cleanup_name(cleanup),
            body_bytes,
            entity,
            shards,
            requests_per_message: cost.requests_per_message(),
            requests_per_call: cost.requests_per_call(),
            capacity_per_message: cost.capacity_per_message(),
            write_capacity_per_message: per(cost.counts.write_capacity()),
            read_capacity_per_message: per(cost.counts.read_capacity()),
            index_capacity_per_message: per(cost.counts.index_capacity()),
            unreported_requests: cost.counts.unreported(),
            cost,
        }
    }
}

/// The size of the body [`AddGreeting::new`] gives a message (about 100 bytes).
pub fn short_body_bytes() -> usize {
    let call = AddGreeting::new("c0000", 1);
    serde_json::to_vec(&call.event(0))
        .expect("a greeting serializes")
        .len()
}

/// Scenario 2: requests per delivered message on the immediate path and the sweeper path, for
/// handlers that put one entity and deposit each of `messages_per_call` messages, `calls` calls
/// per figure, with each cleanup mode, on an outbox of `shards` shards.
///
/// # Errors
/// A handler's or a pass's error.
pub async fn requests_per_message(
    link: &Link,
    messages_per_call: &[usize],
    calls: usize,
    shards: u16,
    progress: Progress<'_>,
) -> Result<Vec<CostRow>, BoxError> {
    let mut rows = Vec::new();
    for cleanup in cleanups() {
        let config = OutboxConfig::default()
            .with_shards(shards)
            .with_cleanup(cleanup);
        let rig = Rig::on(link, config).await?;
        let mut sweeper = warm_sweeper(&rig, "bench-sweeper").await?;
        for &messages in messages_per_call {
            let name = |n: usize| format!("c{n:04}");
            let cost = immediate_path(&rig, calls, |n| AddGreeting::new(name(n), messages)).await?;
            rows.push(CostRow::new(
                link.rtt_ms,
                "immediate",
                cleanup,
                short_body_bytes(),
                true,
                shards,
                cost,
            ));
            let cost = sweeper_path(&rig, &mut sweeper, calls, |n| {
                AddGreeting::new(name(n), messages)
            })
            .await?;
            rows.push(CostRow::new(
                link.rtt_ms,
                "sweeper",
                cleanup,
                short_body_bytes(),
                true,
                shards,
                cost,
            ));
            progress(&format!(
                "requests per message: cleanup {}, {messages} messages per call done",
                cleanup_name(cleanup)
            ));
        }
        rig.drop_tables(&link.direct).await;
    }
    Ok(rows)
}

/// Scenario 3: capacity units per delivered message for bodies of each of `body_bytes`, on
/// both paths, with each cleanup mode; handlers deposit `messages_per_call` messages and put no
/// entity, so that every unit counted is the outbox's. Keep to one message per call against
/// DynamoDB Local: it reports a `TransactWriteItems` that writes several items to one table
/// with the units of one item.
///
/// # Errors
/// A handler's or a pass's error.
pub async fn capacity_per_message(
    link: &Link,
    body_bytes: &[usize],
    calls: usize,
    messages_per_call: usize,
    shards: u16,
    progress: Progress<'_>,
) -> Result<Vec<CostRow>, BoxError> {
    let mut rows = Vec::new();
    for cleanup in cleanups() {
        let config = OutboxConfig::default()
            .with_shards(shards)
            .with_cleanup(cleanup);
        let rig = Rig::on(link, config).await?;
        let mut sweeper = warm_sweeper(&rig, "bench-sweeper").await?;
        for &bytes in body_bytes {
            let call =
                |n: usize| AddGreeting::messages_only(format!("c{n:04}"), messages_per_call, bytes);
            let cost = immediate_path(&rig, calls, call).await?;
            rows.push(CostRow::new(
                link.rtt_ms,
                "immediate",
                cleanup,
                bytes,
                false,
                shards,
                cost,
            ));
            let cost = sweeper_path(&rig, &mut sweeper, calls, call).await?;
            rows.push(CostRow::new(
                link.rtt_ms,
                "sweeper",
                cleanup,
                bytes,
                false,
                shards,
                cost,
            ));
            progress(&format!(
                "capacity per message: cleanup {}, {bytes}-byte bodies done",
                cleanup_name(cleanup)
            ));
        }
        rig.drop_tables(&link.direct).await;
    }
    Ok(rows)
}
