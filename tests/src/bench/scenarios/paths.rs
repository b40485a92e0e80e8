//! What delivering messages costs on each path: the macro handler sending at once, the
//! hand-written handler, and the macro handler leaving its messages to a sweeper. The cost
//! scenarios and the cost tests measure through these.

use std::time::Duration;

use outbox_runtime::Sweeper;
use outbox_runtime::{Cleanup, OutboxConfig};
use serde::Serialize;

use super::measure::ratio;
use crate::bench::{AddGreeting, BoxError, Counts, Rig};

/// A lease so long that no rebalance happens while a few passes are measured.
pub const LONG_LEASE: Duration = Duration::from_secs(600);

/// The cleanup modes, as the tables name them.
pub fn cleanup_name(cleanup: Cleanup) -> &'static str {
    match cleanup {
        Cleanup::Delete => "delete",
        Cleanup::Keep { .. } => "keep",
    }
}

/// The default `Keep` (a day's retention) and `Delete`.
pub fn cleanups() -> [Cleanup; 2] {
    [OutboxConfig::default().cleanup, Cleanup::Delete]
}

/// What delivering some messages cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PathCost {
    /// Handler calls made.
    pub calls: usize,
    /// Messages each call deposited.
    pub messages_per_call: usize,
    /// Messages the producer received.
    pub delivered: u64,
    /// Sweeper passes made (0 on the immediate path).
    pub passes: usize,
    /// Every request, by operation, with capacity units.
    pub counts: Counts,
}

impl PathCost {
    /// Requests per delivered message.
    pub fn requests_per_message(&self) -> f64 {
        ratio(self.counts.requests() as f64, self.delivered as f64)
    }

    /// Requests per handler call.
    pub fn requests_per_call(&self) -> f64 {
        ratio(self.counts.requests() as f64, self.calls as f64)
    }

    /// Capacity units per delivered message.
    pub fn capacity_per_message(&self) -> f64 {
        ratio(self.counts.capacity(), self.delivered as f64)
    }
}

/// Runs `calls` calls of the macro handler (sending at once) and counts what they cost.
///
/// # Errors
/// A handler's error.
pub async fn immediate_path(
    rig: &Rig,
    calls: usize,
    call: impl Fn(usize) -> AddGreeting,
) -> Result<PathCost, BoxError> {
    let before = rig.meter.counts();
    let delivered = rig.producer.delivered();
    let mut messages_per_call = 0;
    for n in 0..calls {
        let call = call(n);
        messages_per_call = call.messages;
        rig.handler.handle(call).await?;
    }
    Ok(PathCost {
        calls,
        messages_per_call,
        delivered: rig.producer.delivered() - delivered,
        passes: 0,
        counts: rig.meter.counts().since(&before),
    })
}

/// Runs `calls` calls of the hand-written handler and counts what they cost.
///
/// # Errors
/// A handler's error.
pub async fn hand_written_path(
    rig: &Rig,
    calls: usize,
    call: impl Fn(usize) -> AddGreeting,
) -> Result<PathCost, BoxError> {
    let handler = rig.hand_written();
    let before = rig.meter.counts();
    let delivered = rig.producer.delivered();
    let mut messages_per_call = 0;
    for n in 0..calls {
        let call = call(n);
        messages_per_call = call.messages;
        handler.handle(call).await?;
    }
    Ok(PathCost {
        calls,
        messages_per_call,
        delivered: rig.producer.delivered() - delivered,
        passes: 0,
        counts: rig.meter.counts().since(&before),
    })
}

/// Runs `calls` calls of the macro handler that leave the messages to the sweeper, then sweeps
/// with `sweeper` (which should already hold its leases: see [`warm_sweeper`]) until all are
/// delivered, and counts the commits and the passes.
///
/// # Errors
/// A handler's or a pass's error; messages still undelivered after 20 passes.
pub async fn sweeper_path(
    rig: &Rig,
    sweeper: &mut Sweeper,
    calls: usize,
    call: impl Fn(usize) -> AddGreeting,
) -> Result<PathCost, BoxError> {
    let before = rig.meter.counts();
    let delivered = rig.producer.delivered();
    let mut messages_per_call = 0;
    for n in 0..calls {
        let call = call(n);
        messages_per_call = call.messages;
        rig.handler.handle_later(call).await?;
    }
    let expected = (calls * messages_per_call) as u64;
    let mut passes = 0;
    while rig.producer.delivered() - delivered < expected {
        if passes == 20 {
            return Err(format!(
                "the sweeper delivered {} of {expected} messages in {passes} passes",
                rig.producer.delivered() - delivered
            )
            .into());
        }
        sweeper.sweep_once().await?;
        passes += 1;
    }
    Ok(PathCost {
        calls,
        messages_per_call,
        delivered: rig.producer.delivered() - delivered,
        passes,
        counts: rig.meter.counts().since(&before),
    })
}

/// A sweeper that has made its first pass (taking its leases) over an empty outbox, with a
/// lease long enough that the next passes do no lease work.
///
/// # Errors
/// The pass's error.
pub async fn warm_sweeper(rig: &Rig, owner: &str) -> Result<Sweeper, BoxError> {
    let mut sweeper = rig.sweeper(owner, LONG_LEASE, Duration::ZERO);
    sweeper.sweep_once().await?;
    Ok(sweeper)
}
