//! Scenario 13, large bodies: one message a call, with a JSON body of 1 KB, 10 KB, 100 KB and
//! 1 MiB from the fixed corpus, committed and sent on the immediate path, on one table, by an
//! outbox that compresses bodies over 512 bytes and by one that keeps every body in S3 (the
//! claim check, on moto), each against one that stores bodies as they are (B); A′ is the side
//! measured, again. Marks delete (`Cleanup::Delete`), so that they are billed and counted. A
//! 1 MiB body does not fit an item uncompressed: its rows measure each side alone.
use std::sync::Arc;
use std::time::{Duration, Instant};

use outbox_runtime::claim_check::ClaimCheck;

use outbox_runtime::{Cleanup, ClearMode, Message, Outbox, OutboxConfig, Postbox};
use serde::Serialize;

use super::compare::{ComparisonRow, Side, interleave};
use super::measure::{Progress, run_concurrently};
use crate::bench::cpu::process_cpu;
use crate::bench::{BoxError, Link, Rig};
use crate::corpus::json_document;

/// The threshold of the compressing side.
const COMPRESS_ABOVE: usize = 512;
/// Calls in flight at once.
const CONCURRENCY: usize = 4;

/// What a body of one size costs, compressed, in S3 and plain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LargeBodyRow {
    /// The body's size.
    pub body_bytes: usize,
    /// The body's size as stored compressed.
    pub stored_bytes: usize,
    /// Write units per message, compressed: commit, index entry and delete.
    pub compressed_write_units: f64,
    /// Write units per message, plain; `None` when the body does not fit an item.
    pub plain_write_units: Option<f64>,
    /// The compressing outbox's client CPU per call, in microseconds (median over rounds, or
    /// the one run when there is no plain side).
    pub compressed_cpu_us_per_call: f64,
    /// Compressed (A) against plain (B), when the plain side fits.
    pub comparison: Option<ComparisonRow>,
    /// Write units per message with the body in S3.
    pub claimed_write_units: f64,
    /// The claim check's client CPU per call, in microseconds (its put included).
    pub claimed_cpu_us_per_call: f64,
    /// In S3 (A) against plain (B), when the plain side fits.
    pub claimed_comparison: Option<ComparisonRow>,
}

/// One side's figures, measured alone.
struct Alone {
    write_units: f64,
    cpu_us_per_call: f64,
}

/// The body sizes measured.
pub const LARGE_BODY_SIZES: [usize; 4] = [1024, 10 * 1024, 100 * 1024, 1 << 20];

/// Scenario 13 (see the module documentation).
///
/// # Errors
/// A commit's error.
pub async fn large_bodies(
    link: &Link,
    rounds: usize,
    calls_per_round: usize,
    progress: Progress<'_>,
) -> Result<Vec<LargeBodyRow>, BoxError> {
    let rig = Rig::on(link, OutboxConfig::default().with_cleanup(Cleanup::Delete)).await?;
    let plain = rig.handler.postbox.clone();
    let side = |outbox: Outbox| {
        Postbox::new(outbox, Arc::clone(&rig.producer))
            .with_mark_mode(outbox_runtime::MarkMode::Inline)
    };
    let compressing = side(Outbox::new(
        rig.db.clone(),
        rig.config().clone().with_compression_above(COMPRESS_ABOVE),
    )?);
    let s3 = s3_client()?;
    let bucket = crate::unique_name("bench-bodies").to_lowercase();
    s3.create_bucket().bucket(&bucket).send().await?;
    let claiming = side(
        Outbox::new(rig.db.clone(), rig.config().clone())?
            .with_claim_check(ClaimCheck::new(s3, &bucket).with_threshold(0)),
    );
    let mut rows = Vec::new();
    for size in LARGE_BODY_SIZES {
        let body = Arc::new(json_document(size, 13));
        let stored_bytes = outbox_runtime::message::CompressedBody::compress(&body)
            .gzip()
            .len();
        let label = format!("{} KB bodies", size / 1024);
        let against_plain = |measured: &Postbox, name: &'static str| {
            let measured = measured.clone();
            let plain = plain.clone();
            let body = Arc::clone(&body);
            let label = format!("{label}, {name}");
            let meter = &rig.meter;
            async move {
                let run = |side: Side, _tag: String, calls: usize| {
                    let postbox = match side {
                        Side::B => plain.clone(),
                        Side::A | Side::AAgain => measured.clone(),
                    };
                    commit_calls(postbox, Arc::clone(&body), calls)
                };
                for side in [Side::A, Side::B] {
                    run(side, String::new(), CONCURRENCY * 2).await?;
                }
                interleave(
                    meter,
                    link.rtt_ms,
                    CONCURRENCY,
                    (name, "plain"),
                    rounds,
                    calls_per_round,
                    run,
                    &label,
                    progress,
                )
                .await
            }
        };
        let total = (rounds * calls_per_round) as f64;
        if size <= 300 * 1024 {
            let compressed = against_plain(&compressing, "compressed").await?;
            let claimed = against_plain(&claiming, "in S3").await?;
            rows.push(LargeBodyRow {
                body_bytes: size,
                stored_bytes,
                compressed_write_units: compressed.a_requests.write_capacity() / total,
                plain_write_units: Some(compressed.b_requests.write_capacity() / total),
                compressed_cpu_us_per_call: compressed.a_cpu_us_per_call,
                comparison: Some(compressed),
                claimed_write_units: claimed.a_requests.write_capacity() / total,
                claimed_cpu_us_per_call: claimed.a_cpu_us_per_call,
                claimed_comparison: Some(claimed),
            });
        } else {
            let calls = rounds * calls_per_round;
            let compressed = alone(&rig, &compressing, &body, calls).await?;
            let claimed = alone(&rig, &claiming, &body, calls).await?;
            progress(&format!(
                "{label}: compressed and in S3 alone (plain does not fit an item), {calls} calls \
                 each"
            ));
            rows.push(LargeBodyRow {
                body_bytes: size,
                stored_bytes,
                compressed_write_units: compressed.write_units,
                plain_write_units: None,
                compressed_cpu_us_per_call: compressed.cpu_us_per_call,
                comparison: None,
                claimed_write_units: claimed.write_units,
                claimed_cpu_us_per_call: claimed.cpu_us_per_call,
                claimed_comparison: None,
            });
        }
    }
    rig.drop_tables(&link.direct).await;
    Ok(rows)
}

/// `calls` calls of one side, after a warm-up, and what they cost per call.
async fn alone(
    rig: &Rig,
    postbox: &Postbox,
    body: &Arc<Vec<u8>>,
    calls: usize,
) -> Result<Alone, BoxError> {
    commit_calls(postbox.clone(), Arc::clone(body), CONCURRENCY * 2).await?;
    let before = rig.meter.counts();
    let cpu = process_cpu();
    commit_calls(postbox.clone(), Arc::clone(body), calls).await?;
    let cpu = process_cpu().saturating_sub(cpu);
    Ok(Alone {
        write_units: rig.meter.counts().since(&before).write_capacity() / calls as f64,
        cpu_us_per_call: cpu.as_secs_f64() * 1e6 / calls as f64,
    })
}

/// An S3 client for the local S3 (`AWS_ENDPOINT_URL_S3`, which `cargo xtask bench` sets).
fn s3_client() -> Result<outbox_runtime::aws_sdk_s3::Client, BoxError> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3").map_err(|_| {
        "scenario 13 keeps bodies in S3 and AWS_ENDPOINT_URL_S3 is not set: run it through \
         `cargo xtask bench`, which starts moto, or point the variable at an S3"
    })?;
    Ok(outbox_runtime::claim_check::local_client(endpoint))
}

/// `calls` commits of one message with `body`, `CONCURRENCY` at a time.
async fn commit_calls(
    postbox: Postbox,
    body: Arc<Vec<u8>>,
    calls: usize,
) -> Result<Duration, BoxError> {
    let started = Instant::now();
    run_concurrently(calls, CONCURRENCY, move |_| {
        let postbox = postbox.clone();
        let body = Arc::clone(&body);
        async move {
            let mut tx = postbox.begin();
            tx.deposit_message(Message::new("document.stored", body.as_slice()))?;
            postbox.commit_and_send(tx, ClearMode::Immediate).await?;
            Ok(())
        }
    })
    .await?;
    Ok(started.elapsed())
}
