//! Scenario 4, sweeper drain: a backlog of outstanding messages drained by one or more
//! sweepers that split the shards between them, or by the naive sequential sweeper (the
//! in-run baseline), at each modeled round trip; and the ratios the throughput targets name.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use outbox_runtime::Sweeper;
use outbox_runtime::{Cleanup, Outbox, OutboxConfig, Transaction};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::compare::Spread;
use super::measure::{Progress, ratio, run_concurrently};
use super::paths::cleanup_name;
use crate::bench::naive_sweeper::NaiveSweeper;
use crate::bench::{BoxError, Counts, GreetingMade, Link, Rig};

/// What drains the backlog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relay {
    /// This many of the runtime's sweepers, passes back to back.
    Sweepers(usize),
    /// The naive sequential sweeper ([`NaiveSweeper`]).
    Naive,
}

/// Draining a backlog.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrainRow {
    /// `sweeper` or `naive`.
    pub relay: &'static str,
    /// Sweepers sharing the work (1 for the naive one).
    pub sweepers: usize,
    /// The modeled round trip in milliseconds (0: none).
    pub rtt_ms: f64,
    /// Which repetition of the drain this is (from 0).
    pub round: usize,
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
/// in-memory producer by `relay` through `link`. The backlog is committed through the direct
/// client first, 100 messages a transaction; the sweepers split the shards between them before
/// the clock starts.
///
/// # Errors
/// A request's error; a drain that does not finish in ten minutes.
#[allow(clippy::too_many_arguments)]
pub async fn drain(
    link: &Link,
    relay: Relay,
    round: usize,
    cleanup: Cleanup,
    messages: usize,
    keys: usize,
    shards: u16,
    progress: Progress<'_>,
) -> Result<DrainRow, BoxError> {
    let config = OutboxConfig::default()
        .with_shards(shards)
        .with_cleanup(cleanup);
    let rig = Arc::new(Rig::on(link, config).await?);
    let (name, sweepers) = match relay {
        Relay::Sweepers(n) => ("sweeper", n),
        Relay::Naive => ("naive", 1),
    };
    let what = format!(
        "drain: {messages} messages, {} at {} ms, cleanup {}, round {}",
        match relay {
            Relay::Sweepers(1) => "1 sweeper".to_owned(),
            Relay::Sweepers(n) => format!("{n} sweepers"),
            Relay::Naive => "the naive sweeper".to_owned(),
        },
        link.rtt_ms,
        cleanup_name(cleanup),
        round + 1
    );
    progress(&format!("{what}: filling the backlog"));
    fill(link, &rig, messages, keys).await?;
    progress(&format!("{what}: sweeping"));
    let before = rig.meter.counts();
    let delivered = rig.producer.delivered();
    let (seconds, passes) = match relay {
        Relay::Sweepers(n) => sweep(&rig, n, shards, delivered + messages as u64).await?,
        Relay::Naive => naive(&rig, delivered + messages as u64).await?,
    };
    let counts = rig.meter.counts().since(&before);
    let sent = rig.producer.delivered() - delivered;
    if sent < messages as u64 {
        return Err(format!("the drain delivered {sent} of {messages} messages").into());
    }
    if let Ok(rig) = Arc::try_unwrap(rig) {
        rig.drop_tables(&link.direct).await;
    }
    Ok(DrainRow {
        relay: name,
        sweepers,
        rtt_ms: link.rtt_ms,
        round,
        cleanup: cleanup_name(cleanup),
        shards,
        messages,
        keys,
        seconds,
        messages_per_s: messages as f64 / seconds,
        passes,
        requests_per_message: ratio(counts.requests() as f64, messages as f64),
        capacity_per_message: ratio(counts.capacity(), messages as f64),
        counts,
    })
}

/// `sweepers` of the runtime's sweepers, passes back to back until `target` messages are
/// delivered; the time and the passes made.
async fn sweep(
    rig: &Arc<Rig>,
    sweepers: usize,
    shards: u16,
    target: u64,
) -> Result<(f64, usize), BoxError> {
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

    let passes = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let finished = CancellationToken::new();
    let tasks: Vec<_> = owners
        .iter()
        .map(|owner| {
            let mut sweeper = rig.sweeper(owner, Duration::from_secs(30), Duration::ZERO);
            let rig = Arc::clone(rig);
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
    Ok((seconds, passes.load(Ordering::SeqCst)))
}

/// The naive sequential sweeper, passes back to back until `target` messages are delivered.
async fn naive(rig: &Rig, target: u64) -> Result<(f64, usize), BoxError> {
    let sweeper = NaiveSweeper::new(
        rig.db.clone(),
        rig.config().clone(),
        Arc::clone(&rig.producer),
    );
    let started = Instant::now();
    let mut passes = 0;
    while rig.producer.delivered() < target {
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the naive drain took over ten minutes".into());
        }
        if sweeper.sweep_once().await? == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        passes += 1;
    }
    Ok((started.elapsed().as_secs_f64(), passes))
}

/// Commits `messages` messages for the sweeper through the direct client, 100 per
/// transaction, 4 transactions at once: the backlog is ready before the clock starts, and
/// filling it never waits for the modeled round trip.
async fn fill(link: &Link, rig: &Rig, messages: usize, keys: usize) -> Result<(), BoxError> {
    const PER_TRANSACTION: usize = 100;
    let outbox = Outbox::new(link.direct.clone(), rig.config().clone())?;
    let transactions = messages.div_ceil(PER_TRANSACTION);
    run_concurrently(transactions, 4, move |t| {
        let outbox = outbox.clone();
        async move {
            let mut tx = Transaction::begin(&outbox);
            for n in t * PER_TRANSACTION..((t + 1) * PER_TRANSACTION).min(messages) {
                tx.deposit(&GreetingMade {
                    id: uuid::Uuid::now_v7(),
                    name: format!("customer-{:05}", n % keys.max(1)),
                    greeting: "Hello".to_owned(),
                })?;
            }
            tx.commit().await?;
            Ok(())
        }
    })
    .await?;
    Ok(())
}

/// A throughput ratio the drain's targets name, over the rounds of the drain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrainRatio {
    /// `keep` or `delete`.
    pub cleanup: &'static str,
    /// Outstanding messages at the start.
    pub messages: usize,
    /// The runtime's sweepers draining.
    pub sweepers: usize,
    /// The modeled round trip of the numerator, in milliseconds.
    pub rtt_ms: f64,
    /// What it is divided by: `no delay` (the same sweepers without a modeled round trip)
    /// or `naive` (the naive sequential sweeper at the same round trip).
    pub against: &'static str,
    /// The per-round ratios.
    pub ratio: Spread,
}

/// Every ratio of `rows`: each drain by the runtime's sweepers at a modeled round trip
/// against the same drain without one, and every drain by them against the naive sweeper at
/// the same round trip; paired round by round.
pub fn drain_ratios(rows: &[DrainRow]) -> Vec<DrainRatio> {
    // (relay, sweepers, rtt in µs, cleanup, messages) to the rate of each round.
    type Drain<'a> = (&'a str, usize, u64, &'a str, usize);
    let mut rates: HashMap<Drain<'_>, Vec<(usize, f64)>> = HashMap::new();
    for row in rows {
        rates
            .entry((
                row.relay,
                row.sweepers,
                (row.rtt_ms * 1000.0).round() as u64,
                row.cleanup,
                row.messages,
            ))
            .or_default()
            .push((row.round, row.messages_per_s));
    }
    let paired = |a: &[(usize, f64)], b: &[(usize, f64)]| -> Vec<f64> {
        a.iter()
            .filter_map(|(round, rate)| {
                let other = b.iter().find(|(r, _)| r == round)?.1;
                Some(ratio(*rate, other))
            })
            .collect()
    };
    let mut ratios = Vec::new();
    let mut keys: Vec<_> = rates
        .keys()
        .filter(|key| key.0 == "sweeper")
        .copied()
        .collect();
    keys.sort_by_key(|&(_, sweepers, rtt, cleanup, messages)| (cleanup, messages, sweepers, rtt));
    for key @ (_, sweepers, rtt, cleanup, messages) in keys {
        let row = |against, values: Vec<f64>| DrainRatio {
            cleanup,
            messages,
            sweepers,
            rtt_ms: rtt as f64 / 1000.0,
            against,
            ratio: Spread::of(&values),
        };
        let this = &rates[&key];
        if rtt > 0
            && let Some(undelayed) = rates.get(&("sweeper", sweepers, 0, cleanup, messages))
        {
            ratios.push(row("no delay", paired(this, undelayed)));
        }
        if let Some(naive) = rates.get(&("naive", 1, rtt, cleanup, messages)) {
            ratios.push(row("naive", paired(this, naive)));
        }
    }
    ratios
}
