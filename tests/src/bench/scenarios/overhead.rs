//! Scenario 1, macro overhead: the macro handler against the hand-written one, in interleaved
//! rounds at each concurrency.

use std::sync::Arc;
use std::time::Duration;

use outbox_runtime::{DynamoDb, OutboxConfig};
use serde::Serialize;

use super::measure::{Progress, median, run_concurrently};
use crate::bench::{AddGreeting, BoxError, Counts, Rig};

/// The macro handler against the hand-written one at one concurrency.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OverheadRow {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Rounds, each running both handlers (in alternating order).
    pub rounds: usize,
    /// Calls per handler per round.
    pub calls_per_round: usize,
    /// Messages each call deposits (beside one entity put).
    pub messages_per_call: usize,
    /// The macro handler's calls per second (median over rounds).
    pub macro_calls_per_s: f64,
    /// The hand-written handler's calls per second (median over rounds).
    pub hand_calls_per_s: f64,
    /// Macro throughput over hand-written throughput, per round; the median.
    pub ratio: f64,
    /// The lowest per-round ratio.
    pub ratio_min: f64,
    /// The highest per-round ratio.
    pub ratio_max: f64,
    /// The macro handler's requests per call.
    pub macro_requests_per_call: f64,
    /// The hand-written handler's requests per call.
    pub hand_requests_per_call: f64,
    /// The macro handler's requests, by operation, over every round.
    pub macro_requests: Counts,
    /// The hand-written handler's requests, by operation, over every round.
    pub hand_requests: Counts,
    /// True when both made the same requests, operation by operation.
    pub same_requests: bool,
}

/// Scenario 1: throughput of the macro handler against the hand-written one, in interleaved
/// rounds at each concurrency.
///
/// # Errors
/// A handler's error.
pub async fn macro_overhead(
    db: &DynamoDb,
    concurrency: &[usize],
    rounds: usize,
    calls_per_round: usize,
    messages_per_call: usize,
    progress: Progress<'_>,
) -> Result<Vec<OverheadRow>, BoxError> {
    let rig = Arc::new(Rig::new(db, OutboxConfig::default()).await?);
    let mut rows = Vec::new();
    for &level in concurrency {
        // Warm-up: connections, JIT of the emulator, allocator.
        for hand in [false, true] {
            run_side(
                &rig,
                hand,
                "warm",
                level,
                (2 * level).max(10),
                messages_per_call,
            )
            .await?;
        }
        let mut macro_rates = Vec::new();
        let mut hand_rates = Vec::new();
        let mut ratios = Vec::new();
        let mut macro_counts = Counts::default();
        let mut hand_counts = Counts::default();
        for round in 0..rounds {
            let mut rates = [0.0; 2];
            let order = if round % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for hand in order {
                let before = rig.meter.counts();
                let tag = format!("c{level}r{round}");
                let elapsed =
                    run_side(&rig, hand, &tag, level, calls_per_round, messages_per_call).await?;
                let spent = rig.meter.counts().since(&before);
                let rate = calls_per_round as f64 / elapsed.as_secs_f64();
                if hand {
                    rates[1] = rate;
                    hand_counts = add(&hand_counts, &spent);
                } else {
                    rates[0] = rate;
                    macro_counts = add(&macro_counts, &spent);
                }
            }
            macro_rates.push(rates[0]);
            hand_rates.push(rates[1]);
            ratios.push(rates[0] / rates[1]);
            progress(&format!(
                "macro overhead: concurrency {level}, round {}/{rounds}: macro {:.0} calls/s, \
                 hand-written {:.0} calls/s",
                round + 1,
                rates[0],
                rates[1]
            ));
        }
        let total_calls = (rounds * calls_per_round) as f64;
        rows.push(OverheadRow {
            concurrency: level,
            rounds,
            calls_per_round,
            messages_per_call,
            macro_calls_per_s: median(&macro_rates),
            hand_calls_per_s: median(&hand_rates),
            ratio: median(&ratios),
            ratio_min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
            ratio_max: ratios.iter().copied().fold(0.0, f64::max),
            macro_requests_per_call: macro_counts.requests() as f64 / total_calls,
            hand_requests_per_call: hand_counts.requests() as f64 / total_calls,
            same_requests: macro_counts.requests_by_op() == hand_counts.requests_by_op(),
            macro_requests: macro_counts,
            hand_requests: hand_counts,
        });
    }
    if let Ok(rig) = Arc::try_unwrap(rig) {
        rig.drop_tables(db).await;
    }
    Ok(rows)
}

async fn run_side(
    rig: &Arc<Rig>,
    hand: bool,
    tag: &str,
    concurrency: usize,
    calls: usize,
    messages: usize,
) -> Result<Duration, BoxError> {
    if hand {
        let handler = Arc::new(rig.hand_written());
        let tag = format!("h{tag}");
        run_concurrently(calls, concurrency, move |n| {
            let handler = Arc::clone(&handler);
            let call = AddGreeting::new(format!("{tag}-{n}"), messages);
            async move { handler.handle(call).await }
        })
        .await
    } else {
        let rig = Arc::clone(rig);
        let tag = format!("m{tag}");
        run_concurrently(calls, concurrency, move |n| {
            let rig = Arc::clone(&rig);
            let call = AddGreeting::new(format!("{tag}-{n}"), messages);
            async move { rig.handler.handle(call).await.map_err(BoxError::from) }
        })
        .await
    }
}

fn add(a: &Counts, b: &Counts) -> Counts {
    let mut sum = a.clone();
    for (name, op) in &b.ops {
        let entry = sum.ops.entry(name.clone()).or_default();
        entry.requests += op.requests;
        entry.capacity += op.capacity;
        entry.table_capacity += op.table_capacity;
        entry.index_capacity += op.index_capacity;
        entry.items_read += op.items_read;
    }
    sum
}
