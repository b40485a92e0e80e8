//! Scenario 6, latency: commit-to-send on the immediate path, one call at a time, against the
//! producer's own send time, with marks made inline and in the background.

use std::time::{Duration, Instant};

use outbox_runtime::{MarkMode, OutboxConfig};
use serde::Serialize;

use super::measure::percentile;
use crate::bench::{AddGreeting, BoxError, Link, MacroHandler, Rig};

/// Percentiles of one latency, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

impl Percentiles {
    /// The median and 99th percentile of `values`.
    pub fn of(values: &[Duration]) -> Self {
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
    /// The modeled round trip in milliseconds (0: none).
    pub rtt_ms: f64,
    /// `inline` (the mark before the call returns) or `background` (the postbox's marker,
    /// default delay).
    pub mark_mode: &'static str,
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
    /// The whole handler call: with inline marks, the mark included; with background marks,
    /// the commit and the send only.
    pub handler_call: Percentiles,
}

/// Scenario 6: commit-to-send latency on the immediate path (one entity and one message per
/// call, one call at a time), against the producer's own send time, for each mark mode (inline
/// first, then background).
///
/// # Errors
/// A handler's error; a message whose times were not recorded.
pub async fn latency(link: &Link, samples: usize) -> Result<Vec<LatencyRow>, BoxError> {
    let rig = Rig::on(link, OutboxConfig::default()).await?;
    let background = MacroHandler {
        postbox: rig
            .handler
            .postbox
            .clone()
            .with_mark_mode(MarkMode::default()),
        people: rig.handler.people.clone(),
    };
    let mut rows = Vec::new();
    for (mode, handler) in [("inline", &rig.handler), ("background", &background)] {
        rows.push(measure(&rig, handler, link.rtt_ms, mode, samples).await?);
    }
    background.postbox.flush().await;
    drop(background);
    rig.drop_tables(&link.direct).await;
    Ok(rows)
}

async fn measure(
    rig: &Rig,
    handler: &MacroHandler,
    rtt_ms: f64,
    mark_mode: &'static str,
    samples: usize,
) -> Result<LatencyRow, BoxError> {
    for n in 0..20 {
        handler
            .handle(AddGreeting::new(format!("w{mark_mode}{n}"), 1))
            .await?;
    }
    rig.meter.time_commits(true);
    rig.producer.time_sends(true);
    let (mut commit_to_send, mut commit, mut after_commit, mut calls) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in 0..samples {
        let started = Instant::now();
        handler
            .handle(AddGreeting::new(format!("l{mark_mode}{n}"), 1))
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
    rig.meter.time_commits(false);
    rig.producer.time_sends(false);
    Ok(LatencyRow {
        rtt_ms,
        mark_mode,
        samples,
        commit_to_send: Percentiles::of(&commit_to_send),
        commit: Percentiles::of(&commit),
        after_commit: Percentiles::of(&after_commit),
        producer_send: Percentiles::of(&sends),
        handler_call: Percentiles::of(&calls),
    })
}
