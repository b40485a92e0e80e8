//! Scenario 5, idle sweep: what one sweeper costs when nothing is outstanding, per pass and per
//! minute.

use std::time::Duration;

use outbox_runtime::OutboxConfig;
use outbox_runtime::Sweeper;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::measure::ratio;
use super::paths::warm_sweeper;
use crate::bench::{BoxError, Counts, Link, Rig};

/// What sweeping an empty outbox costs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IdleRow {
    /// The modeled round trip in milliseconds (0: none).
    pub rtt_ms: f64,
    /// Shards of the outbox (all held by the one sweeper).
    pub shards: u16,
    /// Requests of a pass that does no lease work.
    pub requests_per_pass: f64,
    /// Items read by such a pass.
    pub items_read_per_pass: f64,
    /// Capacity units of such a pass.
    pub capacity_per_pass: f64,
    /// The first pass of a new sweeper (membership, reading and taking every lease, querying).
    pub first_pass: Counts,
    /// Requests per minute of a sweeper with the default settings (a pass a second, leases of
    /// 30 s): a pass's queries sixty times, and the lease upkeep (membership heartbeat, reading
    /// the leases, renewing them) measured over a run ten times faster (a pass every 100 ms,
    /// leases of 3 s).
    pub requests_per_minute: f64,
    /// Of which lease upkeep.
    pub lease_requests_per_minute: f64,
    /// Items read per minute, likewise.
    pub items_read_per_minute: f64,
    /// Capacity units per minute, likewise.
    pub capacity_per_minute: f64,
}

/// Scenario 5: what one sweeper costs when nothing is outstanding: `passes` steady passes,
/// then the lease upkeep over a run of `window` at ten times the default speed, scaled to a
/// minute of the default settings.
///
/// # Errors
/// A pass's error.
pub async fn idle_sweep(
    link: &Link,
    shards: u16,
    passes: usize,
    window: Duration,
) -> Result<IdleRow, BoxError> {
    let rig = Rig::on(link, OutboxConfig::default().with_shards(shards)).await?;
    let before = rig.meter.counts();
    let mut sweeper = warm_sweeper(&rig, "idle-sweeper").await?;
    let first_pass = rig.meter.counts().since(&before);
    let before = rig.meter.counts();
    for _ in 0..passes {
        sweeper.sweep_once().await?;
    }
    let steady = rig.meter.counts().since(&before);
    sweeper.release().await?;
    drop(sweeper);

    // Ten times faster than the defaults: a pass every 100 ms, leases of 3 s.
    let fast = Sweeper::new(
        &rig.handler.postbox,
        outbox_runtime::SweeperConfig::default()
            .with_interval(Duration::from_millis(100))
            .with_min_age(Duration::ZERO)
            .with_lease_duration(Duration::from_secs(3))
            .with_owner("idle-timed"),
    );
    let stop = CancellationToken::new();
    // The first pass takes the leases: wait for it, then count a whole window.
    let task = tokio::spawn(fast.run(stop.clone().cancelled_owned()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rig.meter.counts();
    tokio::time::sleep(window).await;
    let timed = rig.meter.counts().since(&before);
    stop.cancel();
    task.await??;
    // `window` at ten times the speed is ten times `window` of the defaults. The queries are
    // counted per pass instead: at that speed a pass's own length would distort them.
    let scale = 60.0 / (10.0 * window.as_secs_f64());
    let mut upkeep = timed;
    upkeep.ops.remove("Query");
    let per_pass = |value: f64| ratio(value, passes as f64);
    rig.drop_tables(&link.direct).await;
    Ok(IdleRow {
        rtt_ms: link.rtt_ms,
        shards,
        requests_per_pass: per_pass(steady.requests() as f64),
        items_read_per_pass: per_pass(steady.items_read() as f64),
        capacity_per_pass: per_pass(steady.capacity()),
        first_pass,
        requests_per_minute: 60.0 * per_pass(steady.requests() as f64)
            + upkeep.requests() as f64 * scale,
        lease_requests_per_minute: upkeep.requests() as f64 * scale,
        items_read_per_minute: 60.0 * per_pass(steady.items_read() as f64)
            + upkeep.items_read() as f64 * scale,
        capacity_per_minute: 60.0 * per_pass(steady.capacity()) + upkeep.capacity() * scale,
    })
}
