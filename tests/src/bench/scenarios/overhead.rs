//! Scenario 1, macro overhead: the macro handler against the hand-written one, and against
//! itself (the A/A row), in interleaved rounds at each concurrency.

use std::sync::Arc;
use std::time::Duration;

use outbox_runtime::OutboxConfig;

use super::compare::{ComparisonRow, Side, interleave};
use super::measure::{Progress, run_concurrently};
use crate::bench::{AddGreeting, BoxError, Link, Rig};

/// Scenario 1: throughput and client CPU per call of the macro handler (side A) against the
/// hand-written one (side B) and against itself, `rounds` interleaved rounds of
/// `calls_per_round` calls per side at each concurrency, each call putting one entity and
/// depositing `messages_per_call` messages.
///
/// # Errors
/// A handler's error.
pub async fn macro_overhead(
    link: &Link,
    concurrency: &[usize],
    rounds: usize,
    calls_per_round: usize,
    messages_per_call: usize,
    progress: Progress<'_>,
) -> Result<Vec<ComparisonRow>, BoxError> {
    let rig = Arc::new(Rig::on(link, OutboxConfig::default()).await?);
    let mut rows = Vec::new();
    for &level in concurrency {
        // Warm-up: connections, JIT of the emulator, allocator.
        for side in [Side::A, Side::B] {
            let calls = (2 * level).max(10);
            run_side(&rig, side, "warm", level, calls, messages_per_call).await?;
        }
        let row = interleave(
            &rig.meter,
            link.rtt_ms,
            level,
            ("macro", "hand-written"),
            rounds,
            calls_per_round,
            |side, tag, calls| run_side(&rig, side, &tag, level, calls, messages_per_call),
            "macro overhead",
            progress,
        )
        .await?;
        rows.push(row);
    }
    if let Ok(rig) = Arc::try_unwrap(rig) {
        rig.drop_tables(&link.direct).await;
    }
    Ok(rows)
}

/// One side's `calls` calls, `concurrency` at once, each putting one entity and depositing
/// `messages` messages under names made of the side's letter, `tag` and the call number.
pub(super) fn run_side(
    rig: &Arc<Rig>,
    side: Side,
    tag: &str,
    concurrency: usize,
    calls: usize,
    messages: usize,
) -> impl std::future::Future<Output = Result<Duration, BoxError>> + use<> {
    let rig = Arc::clone(rig);
    let tag = format!("{}{tag}", side.letter());
    async move {
        match side {
            Side::B => {
                let handler = Arc::new(rig.hand_written());
                run_concurrently(calls, concurrency, move |n| {
                    let handler = Arc::clone(&handler);
                    let call = AddGreeting::new(format!("{tag}-{n}"), messages);
                    async move { handler.handle(call).await }
                })
                .await
            }
            Side::A | Side::AAgain => {
                run_concurrently(calls, concurrency, move |n| {
                    let rig = Arc::clone(&rig);
                    let call = AddGreeting::new(format!("{tag}-{n}"), messages);
                    async move { rig.handler.handle(call).await.map_err(BoxError::from) }
                })
                .await
            }
        }
    }
}
