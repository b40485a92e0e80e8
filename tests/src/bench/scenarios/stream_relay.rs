//! Scenario 7, the stream relay beside the sweeper: commit-to-send latency (one message at a
//! time, the relay running with its defaults), requests and capacity units per delivered
//! message (a burst committed first, then relayed), and requests per minute while idle, for the
//! relay in each of its two configurations and for the sweeper. Requests count both APIs: the
//! DynamoDB calls (commits, marks, the relay's leases and checkpoints) and the `dynamodbstreams`
//! calls (`GetRecords`, `GetShardIterator`, `DescribeStream`, `ListStreams`), which DynamoDB
//! bills as stream read requests, not capacity units.

use std::time::{Duration, Instant};

use outbox_runtime::StreamMode;
use outbox_runtime::stream::{DynamoDbStreams, StreamRelay, StreamRelayConfig};
use outbox_runtime::{ClearMode, DynamoDb, Message, OutboxConfig, SweeperConfig};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::latency::Percentiles;
use super::measure::{Progress, percentile, ratio};
use crate::bench::{BoxError, Counts, Rig};
use crate::create_table;

/// One relay's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StreamRelayRow {
    /// `stream relay (with sweeper)`, `stream relay (stream only)` or `sweeper`.
    pub relay: String,
    /// Its settings, in words.
    pub settings: String,
    /// Messages timed one at a time.
    pub samples: usize,
    /// From the commit's start to the message in the producer's hands.
    pub commit_to_send: Percentiles,
    /// Messages of the burst.
    pub messages: usize,
    /// Requests per delivered message (DynamoDB and DynamoDB Streams, the commit included).
    pub requests_per_message: f64,
    /// Of which `dynamodbstreams` requests.
    pub stream_requests_per_message: f64,
    /// Capacity units per delivered message (DynamoDB Local reports none for PartiQL marks).
    pub capacity_per_message: f64,
    /// Every request of the burst.
    pub burst: Counts,
    /// Requests per minute with nothing to send, at the default settings.
    pub idle_requests_per_minute: f64,
}

const STREAM_OPS: [&str; 4] = [
    "GetRecords",
    "GetShardIterator",
    "DescribeStream",
    "ListStreams",
];

fn percentiles(values: &[Duration]) -> Percentiles {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Percentiles {
        p50_ms: ms(percentile(values, 50.0)),
        p99_ms: ms(percentile(values, 99.0)),
    }
}

fn stream_requests(counts: &Counts) -> u64 {
    STREAM_OPS.iter().map(|op| counts.requests_of(op)).sum()
}

/// Commits one message of its own key; the postbox sends it only when `clear` says so.
async fn commit_one(rig: &Rig, n: usize, clear: ClearMode) -> Result<String, BoxError> {
    let mut tx = rig.handler.postbox.begin();
    let id = tx.deposit_message(
        Message::new("greeting.made", format!("{{\"n\":{n}}}").into_bytes())
            .with_partition_key(format!("key-{n}")),
    )?;
    rig.handler.postbox.commit_and_send(tx, clear).await?;
    Ok(id.to_string())
}

/// Waits until `id` reached the producer; returns the commit-to-send time.
async fn arrival(rig: &Rig, id: &str) -> Result<Duration, BoxError> {
    for _ in 0..100_000 {
        if let (Some(sent), Some(begun)) = (rig.producer.sent_at(id), rig.meter.commit_started(id))
        {
            return Ok(sent - begun);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(format!("message {id} never arrived").into())
}

/// Scenario 7: the stream relay in both configurations and the sweeper: `samples` messages
/// timed one at a time, a burst of `messages`, and an idle `window`.
///
/// # Errors
/// A request's error; a message that never arrived.
pub async fn stream_relay(
    db: &DynamoDb,
    streams_endpoint: &str,
    samples: usize,
    messages: usize,
    window: Duration,
    progress: Progress<'_>,
) -> Result<Vec<StreamRelayRow>, BoxError> {
    let mut rows = Vec::new();
    for (name, mode) in [
        ("stream relay (with sweeper)", StreamMode::WithSweeper),
        (
            "stream relay (stream only)",
            StreamMode::stream_only(Duration::from_secs(3 * 24 * 3600)),
        ),
    ] {
        let rig = Rig::new(db, OutboxConfig::default().with_stream(mode)).await?;
        let relay_config = StreamRelayConfig::default().with_owner("bench-relay");
        create_table(db, &relay_config.state_table_schema(rig.config())).await;
        let streams = DynamoDbStreams::local(streams_endpoint).with_interceptor(rig.meter.clone());
        let relay =
            || StreamRelay::new(&rig.handler.postbox, streams.clone(), relay_config.clone());

        // Latency: the relay runs with its defaults (a poll every 250 ms).
        rig.meter.time_commits(true);
        rig.producer.time_sends(true);
        let stop = CancellationToken::new();
        let task = tokio::spawn(relay()?.run(stop.clone().cancelled_owned()));
        let mut times = Vec::new();
        for n in 0..samples {
            let id = commit_one(&rig, n, ClearMode::Immediate).await?;
            times.push(arrival(&rig, &id).await?);
        }
        // Idle: the same relay, caught up, for a whole window.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = rig.meter.counts();
        tokio::time::sleep(window).await;
        let idle = rig.meter.counts().since(&before);
        stop.cancel();
        task.await??;
        progress(&format!("{name}: latency and idle done"));

        // A burst committed with no relay running, then relayed by a fresh relay pass by pass.
        let before = rig.meter.counts();
        let delivered_before = rig.producer.delivered();
        for n in 0..messages {
            commit_one(&rig, samples + n, ClearMode::Immediate).await?;
        }
        let mut relay = relay()?;
        for _ in 0..100_000 {
            relay.relay_once().await?;
            if rig.producer.delivered() - delivered_before >= messages as u64 {
                break;
            }
        }
        relay.release().await?;
        let burst = rig.meter.counts().since(&before);
        let delivered = (rig.producer.delivered() - delivered_before) as f64;
        rows.push(StreamRelayRow {
            relay: name.to_owned(),
            settings: "poll every 250 ms per shard held, leases of 30 s".to_owned(),
            samples,
            commit_to_send: percentiles(&times),
            messages,
            requests_per_message: ratio(burst.requests() as f64, delivered),
            stream_requests_per_message: ratio(stream_requests(&burst) as f64, delivered),
            capacity_per_message: ratio(burst.capacity(), delivered),
            burst,
            idle_requests_per_minute: idle.requests() as f64 * 60.0 / window.as_secs_f64(),
        });
        let state = relay_config.state_table_name(rig.config());
        let _ = db.client().delete_table().table_name(state).send().await;
        rig.drop_tables(db).await;
    }

    // The sweeper, at its default pace (a pass a second) but sending at once (no minimum age).
    let rig = Rig::new(db, OutboxConfig::default()).await?;
    rig.meter.time_commits(true);
    rig.producer.time_sends(true);
    let stop = CancellationToken::new();
    let sweeper = outbox_runtime::Sweeper::new(
        &rig.handler.postbox,
        SweeperConfig::default()
            .with_min_age(Duration::ZERO)
            .with_owner("bench-sweeper"),
    );
    let task = tokio::spawn(sweeper.run(stop.clone().cancelled_owned()));
    let mut times = Vec::new();
    for n in 0..samples {
        let id = commit_one(&rig, n, ClearMode::Sweeper).await?;
        times.push(arrival(&rig, &id).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rig.meter.counts();
    tokio::time::sleep(window).await;
    let idle = rig.meter.counts().since(&before);
    stop.cancel();
    task.await??;
    let before = rig.meter.counts();
    let delivered_before = rig.producer.delivered();
    for n in 0..messages {
        commit_one(&rig, samples + n, ClearMode::Sweeper).await?;
    }
    let mut sweeper = rig.sweeper("bench-burst", Duration::from_secs(30), Duration::ZERO);
    let started = Instant::now();
    while rig.producer.delivered() - delivered_before < messages as u64
        && started.elapsed() < Duration::from_secs(600)
    {
        sweeper.sweep_once().await?;
    }
    sweeper.release().await?;
    let burst = rig.meter.counts().since(&before);
    let delivered = (rig.producer.delivered() - delivered_before) as f64;
    rows.push(StreamRelayRow {
        relay: "sweeper".to_owned(),
        settings: "a pass a second over 16 shards, minimum age 0, leases of 30 s".to_owned(),
        samples,
        commit_to_send: percentiles(&times),
        messages,
        requests_per_message: ratio(burst.requests() as f64, delivered),
        stream_requests_per_message: 0.0,
        capacity_per_message: ratio(burst.capacity(), delivered),
        burst,
        idle_requests_per_minute: idle.requests() as f64 * 60.0 / window.as_secs_f64(),
    });
    rig.drop_tables(db).await;
    progress("sweeper: latency, burst and idle done");
    Ok(rows)
}
