//! Scenario 4, sweeper drain: a backlog of outstanding messages drained by one or more
//! sweepers that split the shards between them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use outbox_runtime::ClearMode;
use outbox_runtime::Sweeper;
use outbox_runtime::{Cleanup, DynamoDb, OutboxConfig};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::measure::{Progress, ratio, run_concurrently};
use super::paths::cleanup_name;
use crate::bench::{BoxError, Counts, GreetingMade, Rig};

/// Draining a backlog.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrainRow {
    /// Sweepers sharing the work.
    pub sweepers: usize,
    /// `keep` or `delete`.
    pub cleanup: &'static str,
    /// Shards of the outbox.
    pub shards: u16,
    /// Outstanding messages at the start.
    pub messages: usize,
    /// Distinct partition keys among them.
    pub keys: usize,
    /// Seconds from the first pass to the last message sent and marked.
    pub seconds: f64,
    /// Messages sent and marked per second.
    pub messages_per_s: f64,
    /// Passes made, all sweepers together.
    pub passes: usize,
    /// Requests per message.
    pub requests_per_message: f64,
    /// Capacity units per message.
    pub capacity_per_message: f64,
    /// Every request of the drain, by operation.
    pub counts: Counts,
}

/// Scenario 4: `messages` outstanding messages (with `keys` partition keys) drained to the
/// in-memory producer by `sweepers` sweepers, which split the shards between them first.
///
/// # Errors
/// A request's error; a drain that does not finish in ten minutes.
pub async fn drain(
    db: &DynamoDb,
    sweepers: usize,
    cleanup: Cleanup,
    messages: usize,
    keys: usize,
    shards: u16,
    progress: Progress<'_>,
) -> Result<DrainRow, BoxError> {
    let config = OutboxConfig::default()
        .with_shards(shards)
        .with_cleanup(cleanup);
    let rig = Arc::new(Rig::new(db, config).await?);
    fill(&rig, messages, keys, progress).await?;

    // Split the shards between the sweepers without sending anything: sweepers of the same
    // names that see no message as old enough (minimum age one hour) take and share the leases,
    // which the real sweepers then take over as their own.
    let owners: Vec<String> = (0..sweepers).map(|n| format!("drain-{n}")).collect();
    let mut warm: Vec<Sweeper> = owners
        .iter()
        .map(|owner| rig.sweeper(owner, Duration::from_secs(2), Duration::from_secs(3600)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut held = Vec::new();
        for sweeper in &mut warm {
            held.push(sweeper.sweep_once().await?.shards.len());
        }
        let (least, most) = (
            held.iter().copied().min().unwrap_or(0),
            held.iter().copied().max().unwrap_or(0),
        );
        if held.iter().sum::<usize>() == usize::from(shards) && most - least <= 1 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("the sweepers did not split the shards in 30 s: {held:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(warm);

    progress(&format!(
        "drain: {messages} messages, {sweepers} sweeper(s), cleanup {}: sweeping",
        cleanup_name(cleanup)
    ));
    let before = rig.meter.counts();
    let delivered = rig.producer.delivered();
    let target = delivered + messages as u64;
    let passes = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let finished = CancellationToken::new();
    let tasks: Vec<_> = owners
        .iter()
        .map(|owner| {
            let mut sweeper = rig.sweeper(owner, Duration::from_secs(30), Duration::ZERO);
            let rig = Arc::clone(&rig);
            let passes = Arc::clone(&passes);
            let finished = finished.clone();
            tokio::spawn(async move {
                while !finished.is_cancelled() {
                    let report = sweeper.sweep_once().await?;
                    passes.fetch_add(1, Ordering::SeqCst);
                    if rig.producer.delivered() >= target {
                        finished.cancel();
                    } else if report.sent.is_empty() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    if started.elapsed() > Duration::from_secs(600) {
                        return Err::<Duration, BoxError>("the drain took over ten minutes".into());
                    }
                }
                Ok(started.elapsed())
            })
        })
        .collect();
    let mut seconds: f64 = 0.0;
    for task in tasks {
        seconds = seconds.max(task.await??.as_secs_f64());
    }
    let counts = rig.meter.counts().since(&before);
    let sent = rig.producer.delivered() - delivered;
    if sent < messages as u64 {
        return Err(format!("the drain delivered {sent} of {messages} messages").into());
    }
    if let Ok(rig) = Arc::try_unwrap(rig) {
        rig.drop_tables(db).await;
    }
    Ok(DrainRow {
        sweepers,
        cleanup: cleanup_name(cleanup),
        shards,
        messages,
        keys,
        seconds,
        messages_per_s: messages as f64 / seconds,
        passes: passes.load(Ordering::SeqCst),
        requests_per_message: ratio(counts.requests() as f64, messages as f64),
        capacity_per_message: ratio(counts.capacity(), messages as f64),
        counts,
    })
}

/// Commits `messages` messages for the sweeper, 100 per transaction, 4 transactions at once.
async fn fill(
    rig: &Arc<Rig>,
    messages: usize,
    keys: usize,
    progress: Progress<'_>,
) -> Result<(), BoxError> {
    const PER_TRANSACTION: usize = 100;
    let transactions = messages.div_ceil(PER_TRANSACTION);
    let started = Instant::now();
    let fill_rig = Arc::clone(rig);
    run_concurrently(transactions, 4, move |t| {
        let rig = Arc::clone(&fill_rig);
        async move {
            let postbox = &rig.handler.postbox;
            let mut tx = postbox.begin();
            for n in t * PER_TRANSACTION..((t + 1) * PER_TRANSACTION).min(messages) {
                tx.deposit(&GreetingMade {
                    id: uuid::Uuid::now_v7(),
                    name: format!("customer-{:05}", n % keys.max(1)),
                    greeting: "Hello".to_owned(),
                })?;
            }
            postbox.commit_and_send(tx, ClearMode::Sweeper).await?;
            Ok(())
        }
    })
    .await?;
    progress(&format!(
        "drain: {messages} outstanding messages committed in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
