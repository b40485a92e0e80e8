//! Scenario 6, latency: commit-to-send on the immediate path, one call at a time, against the
//! producer's own send time.

use std::time::{Duration, Instant};

use outbox_runtime::{DynamoDb, OutboxConfig};
use serde::Serialize;

use super::measure::percentile;
use crate::bench::{AddGreeting, BoxError, Rig};

/// Percentiles of one latency, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

impl Percentiles {
    fn of(values: &[Duration]) -> Self {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Self {
            p50_ms: ms(percentile(values, 50.0)),
            p99_ms: ms(percentile(values, 99.0)),
        }
    }
}

/// Latencies of the immediate path, one call at a time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyRow {
    /// Calls measured.
    pub samples: usize,
    /// From the start of the commit (`TransactWriteItems` about to be built) to the message in
    /// the producer's hands.
    pub commit_to_send: Percentiles,
    /// The commit alone: its request and response.
    pub commit: Percentiles,
    /// From the commit's response to the message in the producer's hands: the library's own
    /// time on the immediate path.
    pub after_commit: Percentiles,
    /// The in-memory producer's own send.
    pub producer_send: Percentiles,
    /// The whole handler call, marking included.
    pub handler_call: Percentiles,
}

/// Scenario 6: commit-to-send latency on the immediate path (one entity, one message per
/// call, one call at a time), against the producer's own send time.
///
/// # Errors
/// A handler's error; a message whose times were not recorded.
pub async fn latency(db: &DynamoDb, samples: usize) -> Result<LatencyRow, BoxError> {
    let rig = Rig::new(db, OutboxConfig::default()).await?;
    for n in 0..20 {
        rig.handler
            .handle(AddGreeting::new(format!("w{n}"), 1))
            .await?;
    }
    rig.meter.time_commits(true);
    rig.producer.time_sends(true);
    let (mut commit_to_send, mut commit, mut after_commit, mut calls) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in 0..samples {
        let started = Instant::now();
        rig.handler
            .handle(AddGreeting::new(format!("l{n}"), 1))
            .await?;
        calls.push(started.elapsed());
        let (id, arrived) = rig.producer.last_arrival().ok_or("nothing was sent")?;
        let (Some(begun), Some(ended)) = (
            rig.meter.commit_started(&id),
            rig.meter.last_commit_finished(),
        ) else {
            return Err(format!("the times of message {id} were not recorded").into());
        };
        commit_to_send.push(arrived - begun);
        commit.push(ended - begun);
        after_commit.push(arrived.saturating_duration_since(ended));
    }
    let sends = rig.producer.send_times();
    rig.drop_tables(db).await;
    Ok(LatencyRow {
        samples,
        commit_to_send: Percentiles::of(&commit_to_send),
        commit: Percentiles::of(&commit),
        after_commit: Percentiles::of(&after_commit),
        producer_send: Percentiles::of(&sends),
        handler_call: Percentiles::of(&calls),
    })
}
