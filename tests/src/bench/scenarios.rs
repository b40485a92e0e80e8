//! The benchmark scenarios. Each builds its own tables, measures, and returns rows that the
//! `bench` binary prints and writes as JSON; the cost tests call the same functions and assert
//! the counts, which do not depend on the machine.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use outbox_runtime::postbox::ClearMode;
use outbox_runtime::sweeper::{CancellationToken, Sweeper};
use outbox_runtime::{Cleanup, DynamoDb, OutboxConfig};
use serde::Serialize;

use super::fixtures::{AddGreeting, BoxError, GreetingMade, Rig};
use super::meter::Counts;

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

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
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

/// Runs `ops` calls of `op` (given the call number) with `concurrency` at once; returns the
/// time they took.
///
/// # Errors
/// The first call's error.
pub async fn run_concurrently<F, Fut>(
    ops: usize,
    concurrency: usize,
    op: F,
) -> Result<Duration, BoxError>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let op = Arc::clone(&op);
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= ops {
                        return Ok::<(), BoxError>(());
                    }
                    op(n).await?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    Ok(started.elapsed())
}

/// The `p`-th percentile (0 to 100) of `values`, by nearest rank.
pub fn percentile(values: &[Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// Progress lines for a person watching a long run.
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

// ---------------------------------------------------------------------------------------------
// 1. Macro overhead
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// 2 and 3. Requests and capacity units per delivered message
// ---------------------------------------------------------------------------------------------

/// What delivering messages cost on one path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostRow {
    /// `immediate` or `sweeper`.
    pub path: &'static str,
    /// `keep` or `delete`.
    pub cleanup: &'static str,
    /// Bytes of each message body.
    pub body_bytes: usize,
    /// Whether each call also put an entity.
    pub entity: bool,
    /// Shards of the outbox.
    pub shards: u16,
    /// Requests per delivered message.
    pub requests_per_message: f64,
    /// Requests per handler call (for the sweeper path, one pass shared by all the calls).
    pub requests_per_call: f64,
    /// Capacity units per delivered message, in total.
    pub capacity_per_message: f64,
    /// Of which written (`TransactWriteItems`, `UpdateItem`, `BatchWriteItem`, ...).
    pub write_capacity_per_message: f64,
    /// Of which read (`Query`, `BatchGetItem`, ...).
    pub read_capacity_per_message: f64,
    /// Of which on the outstanding index.
    pub index_capacity_per_message: f64,
    /// Answers that carried no capacity figure, so the units above leave them out.
    pub unreported_requests: u64,
    /// The measurement.
    pub cost: PathCost,
}

impl CostRow {
    fn new(
        path: &'static str,
        cleanup: Cleanup,
        body_bytes: usize,
        entity: bool,
        shards: u16,
        cost: PathCost,
    ) -> Self {
        let per = |value: f64| ratio(value, cost.delivered as f64);
        Self {
            path,
            cleanup: cleanup_name(cleanup),
            body_bytes,
            entity,
            shards,
            requests_per_message: cost.requests_per_message(),
            requests_per_call: cost.requests_per_call(),
            capacity_per_message: cost.capacity_per_message(),
            write_capacity_per_message: per(cost.counts.write_capacity()),
            read_capacity_per_message: per(cost.counts.read_capacity()),
            index_capacity_per_message: per(cost.counts.index_capacity()),
            unreported_requests: cost.counts.unreported(),
            cost,
        }
    }
}

/// The size of the body [`AddGreeting::new`] gives a message (about 100 bytes).
pub fn short_body_bytes() -> usize {
    let call = AddGreeting::new("c0000", 1);
    serde_json::to_vec(&call.event(0))
        .expect("a greeting serializes")
        .len()
}

/// Scenario 2: requests per delivered message on the immediate path and the sweeper path, for
/// handlers that put one entity and deposit each of `messages_per_call` messages, `calls` calls
/// per figure, with each cleanup mode, on an outbox of `shards` shards.
///
/// # Errors
/// A handler's or a pass's error.
pub async fn requests_per_message(
    db: &DynamoDb,
    messages_per_call: &[usize],
    calls: usize,
    shards: u16,
    progress: Progress<'_>,
) -> Result<Vec<CostRow>, BoxError> {
    let mut rows = Vec::new();
    for cleanup in cleanups() {
        let config = OutboxConfig::default()
            .with_shards(shards)
            .with_cleanup(cleanup);
        let rig = Rig::new(db, config).await?;
        let mut sweeper = warm_sweeper(&rig, "bench-sweeper").await?;
        for &messages in messages_per_call {
            let name = |n: usize| format!("c{n:04}");
            let cost = immediate_path(&rig, calls, |n| AddGreeting::new(name(n), messages)).await?;
            rows.push(CostRow::new(
                "immediate",
                cleanup,
                short_body_bytes(),
                true,
                shards,
                cost,
            ));
            let cost = sweeper_path(&rig, &mut sweeper, calls, |n| {
                AddGreeting::new(name(n), messages)
            })
            .await?;
            rows.push(CostRow::new(
                "sweeper",
                cleanup,
                short_body_bytes(),
                true,
                shards,
                cost,
            ));
            progress(&format!(
                "requests per message: cleanup {}, {messages} messages per call done",
                cleanup_name(cleanup)
            ));
        }
        rig.drop_tables(db).await;
    }
    Ok(rows)
}

/// Scenario 3: capacity units per delivered message for bodies of each of `body_bytes`, on
/// both paths, with each cleanup mode; handlers deposit `messages_per_call` messages and put no
/// entity, so that every unit counted is the outbox's. Keep to one message per call against
/// DynamoDB Local: it reports a `TransactWriteItems` that writes several items to one table
/// with the units of one item.
///
/// # Errors
/// A handler's or a pass's error.
pub async fn capacity_per_message(
    db: &DynamoDb,
    body_bytes: &[usize],
    calls: usize,
    messages_per_call: usize,
    shards: u16,
    progress: Progress<'_>,
) -> Result<Vec<CostRow>, BoxError> {
    let mut rows = Vec::new();
    for cleanup in cleanups() {
        let config = OutboxConfig::default()
            .with_shards(shards)
            .with_cleanup(cleanup);
        let rig = Rig::new(db, config).await?;
        let mut sweeper = warm_sweeper(&rig, "bench-sweeper").await?;
        for &bytes in body_bytes {
            let call =
                |n: usize| AddGreeting::messages_only(format!("c{n:04}"), messages_per_call, bytes);
            let cost = immediate_path(&rig, calls, call).await?;
            rows.push(CostRow::new(
                "immediate",
                cleanup,
                bytes,
                false,
                shards,
                cost,
            ));
            let cost = sweeper_path(&rig, &mut sweeper, calls, call).await?;
            rows.push(CostRow::new("sweeper", cleanup, bytes, false, shards, cost));
            progress(&format!(
                "capacity per message: cleanup {}, {bytes}-byte bodies done",
                cleanup_name(cleanup)
            ));
        }
        rig.drop_tables(db).await;
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// 4. Sweeper drain
// ---------------------------------------------------------------------------------------------

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
            postbox.commit(tx, ClearMode::Sweeper).await?;
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

// ---------------------------------------------------------------------------------------------
// 5. Idle sweep
// ---------------------------------------------------------------------------------------------

/// What sweeping an empty outbox costs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IdleRow {
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
    db: &DynamoDb,
    shards: u16,
    passes: usize,
    window: Duration,
) -> Result<IdleRow, BoxError> {
    let rig = Rig::new(db, OutboxConfig::default().with_shards(shards)).await?;
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
        outbox_runtime::SweeperConfig {
            interval: Duration::from_millis(100),
            min_age: Duration::ZERO,
            lease_duration: Duration::from_secs(3),
            owner: "idle-timed".to_owned(),
            ..outbox_runtime::SweeperConfig::default()
        },
    );
    let stop = CancellationToken::new();
    // The first pass takes the leases: wait for it, then count a whole window.
    let task = tokio::spawn(fast.run(stop.clone()));
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
    rig.drop_tables(db).await;
    Ok(IdleRow {
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

// ---------------------------------------------------------------------------------------------
// 6. Latency
// ---------------------------------------------------------------------------------------------

/// Percentiles of one latency, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

impl Percentiles {
    fn of(values: &[Duration]) -> Self {
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
    /// The whole handler call, marking included.
    pub handler_call: Percentiles,
}

/// Scenario 6: commit-to-send latency on the immediate path (one entity, one message per
/// call, one call at a time), against the producer's own send time.
///
/// # Errors
/// A handler's error; a message whose times were not recorded.
pub async fn latency(db: &DynamoDb, samples: usize) -> Result<LatencyRow, BoxError> {
    let rig = Rig::new(db, OutboxConfig::default()).await?;
    for n in 0..20 {
        rig.handler
            .handle(AddGreeting::new(format!("w{n}"), 1))
            .await?;
    }
    rig.meter.time_commits(true);
    rig.producer.time_sends(true);
    let (mut commit_to_send, mut commit, mut after_commit, mut calls) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in 0..samples {
        let started = Instant::now();
        rig.handler
            .handle(AddGreeting::new(format!("l{n}"), 1))
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
    rig.drop_tables(db).await;
    Ok(LatencyRow {
        samples,
        commit_to_send: Percentiles::of(&commit_to_send),
        commit: Percentiles::of(&commit),
        after_commit: Percentiles::of(&after_commit),
        producer_send: Percentiles::of(&sends),
        handler_call: Percentiles::of(&calls),
    })
}
