//! Scenario 7, read-modify-write: the greetings handler that reads the person in the unit of
//! work, appends a greeting and writes it back under a version condition, written with
//! `#[transactional_handler]`, against the same handler written by hand with the SDK, and
//! against itself (the A/A row), in interleaved rounds at each concurrency.

use std::sync::Arc;
use std::time::Duration;

use outbox_runtime::OutboxConfig;
use outbox_runtime::table::TableSchema;

use super::compare::{ComparisonRow, Side, interleave};
use super::measure::{Progress, run_concurrently};
use crate::bench::fixtures::{seed_people, versioned_people};
use crate::bench::{BoxError, Greet, Link, Rig};

/// Scenario 7: throughput, client CPU, requests and capacity units per call of the macro
/// read-modify-write handler (side A) against the hand-written one (side B) and against
/// itself. Each side greets people of its own, one call per person per round, so no call ever
/// conflicts with another and both sides make exactly the same requests (`GetItem`,
/// `TransactWriteItems`, the mark); a warm-up round first gives every person a version.
///
/// # Errors
/// A handler's error; seeding the people.
pub async fn read_modify_write(
    link: &Link,
    concurrency: &[usize],
    rounds: usize,
    calls_per_round: usize,
    progress: Progress<'_>,
) -> Result<Vec<ComparisonRow>, BoxError> {
    let rig = Arc::new(Rig::on(link, OutboxConfig::default()).await?);
    let people = Arc::new(versioned_people(&link.direct).await?);
    let mut rows = Vec::new();
    for &level in concurrency {
        let mut names = Vec::new();
        for side in [Side::A, Side::B, Side::AAgain] {
            names.extend((0..calls_per_round).map(|n| person(side, level, n)));
        }
        seed_people(&link.direct, &people.name, &names).await?;
        // Warm-up: one round on every person of each side, which also moves every version
        // from none (0) to 1, so that all rounds write at a version read.
        for side in [Side::A, Side::B, Side::AAgain] {
            run_side(&rig, &people, side, level, calls_per_round).await?;
        }
        let row = interleave(
            &rig.meter,
            link.rtt_ms,
            level,
            ("macro", "hand-written"),
            rounds,
            calls_per_round,
            |side, _tag, calls| run_side(&rig, &people, side, level, calls),
            "read-modify-write",
            progress,
        )
        .await?;
        rows.push(row);
    }
    let _ = link
        .direct
        .client()
        .delete_table()
        .table_name(&people.name)
        .send()
        .await;
    if let Ok(rig) = Arc::try_unwrap(rig) {
        rig.drop_tables(&link.direct).await;
    }
    Ok(rows)
}

/// The `n`-th person of a side at a concurrency: names of one length on every side.
fn person(side: Side, concurrency: usize, n: usize) -> String {
    format!("{}-c{concurrency:03}-{n:06}", side.letter())
}

fn run_side(
    rig: &Arc<Rig>,
    people: &Arc<TableSchema>,
    side: Side,
    concurrency: usize,
    calls: usize,
) -> impl std::future::Future<Output = Result<Duration, BoxError>> + use<> {
    let rig = Arc::clone(rig);
    let people = Arc::clone(people);
    async move {
        match side {
            Side::B => {
                let handler = Arc::new(rig.hand_written_over(&people.name));
                run_concurrently(calls, concurrency, move |n| {
                    let handler = Arc::clone(&handler);
                    let call = Greet::new(person(side, concurrency, n));
                    async move { handler.greet(call).await }
                })
                .await
            }
            Side::A | Side::AAgain => {
                let handler = Arc::new(rig.read_modify_write(&people));
                run_concurrently(calls, concurrency, move |n| {
                    let handler = Arc::clone(&handler);
                    let call = Greet::new(person(side, concurrency, n));
                    async move { handler.handle(call).await }
                })
                .await
            }
        }
    }
}
