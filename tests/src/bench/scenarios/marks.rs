//! Scenario 8, coalesced marks: N handler calls at once on the immediate path with the
//! postbox's background marker (`MarkMode::Background`, the default), against the same calls
//! marking before they return (`MarkMode::Inline`), and against themselves (the A/A row).

use std::sync::Arc;
use std::time::{Duration, Instant};

use outbox_runtime::{MarkMode, OutboxConfig};

use super::compare::{ComparisonRow, Side, interleave};
use super::measure::{Progress, run_concurrently};
use crate::bench::{AddGreeting, BoxError, Link, MacroHandler, Rig};

/// Scenario 8: throughput and requests per message of `calls_per_round` calls (one entity and
/// one message each) at each concurrency, with background marks (side A, each id waiting at
/// most `max_delay` for others to share its request) and inline marks (side B). A background
/// side's time ends when `Postbox::flush` has marked all it sent, so that every request it
/// caused is counted, and timed, in its own round.
///
/// A mark request of the background marker carries the ids sent within `max_delay` of its
/// oldest one, up to 25: with calls ending at `r` a second, about `1 + 1 / min(25, r ×
/// max_delay)` requests per message.
///
/// # Errors
/// A handler's error.
pub async fn coalesced_marks(
    link: &Link,
    concurrency: &[usize],
    rounds: usize,
    calls_per_round: usize,
    max_delay: Duration,
    progress: Progress<'_>,
) -> Result<Vec<ComparisonRow>, BoxError> {
    let rig = Arc::new(Rig::on(link, OutboxConfig::default()).await?);
    let background = Arc::new(MacroHandler {
        postbox: rig
            .handler
            .postbox
            .clone()
            .with_mark_mode(MarkMode::Background { max_delay }),
        people: rig.handler.people.clone(),
    });
    let mut rows = Vec::new();
    for &level in concurrency {
        for side in [Side::A, Side::B] {
            let calls = (2 * level).max(10);
            run_side(&rig, &background, side, "warm", level, calls).await?;
        }
        let row = interleave(
            &rig.meter,
            link.rtt_ms,
            level,
            (
                &format!("background ({} ms)", max_delay.as_secs_f64() * 1000.0),
                "inline",
            ),
            rounds,
            calls_per_round,
            |side, tag, calls| run_side(&rig, &background, side, &tag, level, calls),
            "coalesced marks",
            progress,
        )
        .await?;
        rows.push(row);
    }
    drop(background);
    if let Ok(rig) = Arc::try_unwrap(rig) {
        rig.drop_tables(&link.direct).await;
    }
    Ok(rows)
}

fn run_side(
    rig: &Arc<Rig>,
    background: &Arc<MacroHandler>,
    side: Side,
    tag: &str,
    concurrency: usize,
    calls: usize,
) -> impl std::future::Future<Output = Result<Duration, BoxError>> + use<> {
    let rig = Arc::clone(rig);
    let background = Arc::clone(background);
    let tag = format!("{}{tag}", side.letter());
    async move {
        let started = Instant::now();
        match side {
            Side::B => {
                run_concurrently(calls, concurrency, move |n| {
                    let rig = Arc::clone(&rig);
                    let call = AddGreeting::new(format!("{tag}-{n}"), 1);
                    async move { rig.handler.handle(call).await.map_err(BoxError::from) }
                })
                .await?;
            }
            Side::A | Side::AAgain => {
                let handler = Arc::clone(&background);
                run_concurrently(calls, concurrency, move |n| {
                    let handler = Arc::clone(&handler);
                    let call = AddGreeting::new(format!("{tag}-{n}"), 1);
                    async move { handler.handle(call).await.map_err(BoxError::from) }
                })
                .await?;
                background.postbox.flush().await;
            }
        }
        Ok(started.elapsed())
    }
}
