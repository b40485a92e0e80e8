//! Scenario 12, messages due later: how late after its due time a scheduled message goes out
//! with the default sweeper (one pass a second, `min_age` 10 s) while messages fall due at a
//! steady rate, and what a pass costs over an outbox holding many messages due tomorrow, with
//! an empty outbox as its baseline.

use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt as _;
use outbox_runtime::{Message, OutboxConfig, Sweeper, SweeperConfig};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::latency::Percentiles;
use super::measure::ratio;
use crate::bench::{BoxError, Counts, Link, Rig};

/// How many stores are in flight while the outbox is filled.
const STORE_CONCURRENCY: usize = 64;

/// What messages due later cost and how late they go.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScheduledRow {
    /// The modeled round trip in milliseconds (0: none).
    pub rtt_ms: f64,
    /// Shards of the outbox (all held by the one sweeper).
    pub shards: u16,
    /// Messages falling due per second.
    pub rate_per_s: u32,
    /// Messages timed.
    pub timed: usize,
    /// The sweeper's pause between passes, in milliseconds (the default).
    pub interval_ms: f64,
    /// From a message's due time to the message in the producer's hands.
    pub due_to_sent: Percentiles,
    /// Messages due tomorrow in the outbox of the cost rows.
    pub due_tomorrow: usize,
    /// Requests of a pass over the outbox holding them.
    pub requests_per_pass: f64,
    /// Items read by such a pass.
    pub items_read_per_pass: f64,
    /// Requests of a pass over an empty outbox: the baseline.
    pub empty_requests_per_pass: f64,
    /// Items read by a pass over an empty outbox.
    pub empty_items_read_per_pass: f64,
}

/// Stores `count` messages, the `n`th due at `due(n)`.
async fn store_due(rig: &Rig, count: usize, due: impl Fn(usize) -> SystemTime) {
    futures_util::stream::iter(0..count)
        .map(|n| {
            let at = due(n);
            async move {
                let message = Message::new("reminder.due", format!("{{\"n\":{n}}}"));
                rig.outbox.store_at(&message, at).await
            }
        })
        .buffer_unordered(STORE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<outbox_runtime::Result<Vec<_>>>()
        .expect("storing a scheduled message");
}

/// `passes` passes of `sweeper`, and what they cost per pass.
async fn per_pass(rig: &Rig, sweeper: &mut Sweeper, passes: usize) -> Result<Counts, BoxError> {
    let before = rig.meter.counts();
    for _ in 0..passes {
        sweeper.sweep_once().await?;
    }
    Ok(rig.meter.counts().since(&before))
}

/// Scenario 12: `passes` passes over an empty outbox, then over one holding `due_tomorrow`
/// messages due tomorrow; then `rate` messages a second falling due for `seconds`, sent by a
/// sweeper with the default settings, each timed from its due time to the producer.
///
/// # Errors
/// A pass's error, or the sweeper's.
pub async fn scheduled(
    link: &Link,
    shards: u16,
    rate: u32,
    seconds: u32,
    due_tomorrow: usize,
    passes: usize,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<ScheduledRow, BoxError> {
    let rig = Rig::on(link, OutboxConfig::default().with_shards(shards)).await?;
    let defaults = SweeperConfig::default();
    let mut sweeper = Sweeper::new(
        &rig.handler.postbox,
        defaults.clone().with_owner("scheduled-bench"),
    );
    sweeper.sweep_once().await?;
    let empty = per_pass(&rig, &mut sweeper, passes).await?;
    progress(&format!("   storing {due_tomorrow} messages due tomorrow"));
    let tomorrow = SystemTime::now() + Duration::from_secs(24 * 3600);
    store_due(&rig, due_tomorrow, |_| tomorrow).await;
    let full = per_pass(&rig, &mut sweeper, passes).await?;
    sweeper.release().await?;
    drop(sweeper);

    // Due times from `lead` on, `rate` a second: the outbox is filled before the first falls
    // due (stores run far faster than `rate`), so every message waits in the table.
    let timed = usize::try_from(rate * seconds).unwrap_or(usize::MAX);
    let lead = Duration::from_secs(3) + Duration::from_millis(timed as u64 * 2);
    let (start_wall, start) = (SystemTime::now(), Instant::now());
    let due =
        move |n: usize| start_wall + lead + Duration::from_secs_f64(n as f64 / f64::from(rate));
    progress(&format!(
        "   storing {timed} messages falling due {rate} a second, from {:.1} s on",
        lead.as_secs_f64()
    ));
    store_due(&rig, timed, due).await;
    let filled = start.elapsed();
    if filled >= lead {
        return Err(format!(
            "filling the outbox took {:.1} s, past the first due time ({:.1} s): the figures \
             would count the fill; run with a lower rate or fewer seconds",
            filled.as_secs_f64(),
            lead.as_secs_f64()
        )
        .into());
    }
    rig.producer.time_sends(true);
    let stop = CancellationToken::new();
    let run = Sweeper::new(
        &rig.handler.postbox,
        defaults.clone().with_owner("scheduled-bench-run"),
    )
    .run(stop.clone().cancelled_owned());
    let task = tokio::spawn(run);
    // The last falls due at `lead + seconds`; a few passes more, and whatever is missing then
    // is reported rather than waited for.
    let deadline = start
        + lead
        + Duration::from_secs(u64::from(seconds))
        + 3 * defaults.interval
        + Duration::from_secs(30);
    while rig.producer.sent().len() < timed && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    task.await??;
    let mut late = Vec::with_capacity(timed);
    for message in rig.producer.sent() {
        let Some(arrived) = rig.producer.sent_at(message.id().as_str()) else {
            continue;
        };
        let stored = rig.outbox.get(message.id()).await?;
        let Some(due_at) = stored.and_then(|stored| stored.due_at) else {
            continue;
        };
        let due_instant = start + due_at.duration_since(start_wall).unwrap_or_default();
        late.push(arrived.saturating_duration_since(due_instant));
    }
    if late.len() < timed {
        return Err(format!(
            "only {} of {timed} scheduled messages were sent within {:.0} s of the last due time",
            late.len(),
            (3 * defaults.interval + Duration::from_secs(30)).as_secs_f64()
        )
        .into());
    }
    rig.drop_tables(&link.direct).await;
    let per = |value: f64| ratio(value, passes as f64);
    Ok(ScheduledRow {
        rtt_ms: link.rtt_ms,
        shards,
        rate_per_s: rate,
        timed,
        interval_ms: defaults.interval.as_secs_f64() * 1000.0,
        due_to_sent: Percentiles::of(&late),
        due_tomorrow,
        requests_per_pass: per(full.requests() as f64),
        items_read_per_pass: per(full.items_read() as f64),
        empty_requests_per_pass: per(empty.requests() as f64),
        empty_items_read_per_pass: per(empty.items_read() as f64),
    })
}
