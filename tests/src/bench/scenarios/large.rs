//! Scenario 13, large bodies: one message a call, with a JSON body of 1 KB, 10 KB, 100 KB and
//! 1 MiB from the fixed corpus, committed and sent on the immediate path by an outbox that
//! compresses bodies over 512 bytes (A) against one that stores them as they are (B), on the same
//! table; A′ is the compressing outbox again. Marks delete (`Cleanup::Delete`), so that they
//! are billed and counted. A 1 MiB body does not fit an item uncompressed: its row measures
//! the compressing outbox alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// What a body of one size costs, compressed and plain.
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
    let compressing = Postbox::new(
        Outbox::new(
            rig.db.clone(),
            rig.config().clone().with_compression_above(COMPRESS_ABOVE),
        )?,
        Arc::clone(&rig.producer),
    )
    .with_mark_mode(outbox_runtime::MarkMode::Inline);
    let mut rows = Vec::new();
    for size in LARGE_BODY_SIZES {
        let body = Arc::new(json_document(size, 13));
        let stored_bytes = outbox_runtime::message::CompressedBody::compress(&body)
            .gzip()
            .len();
        let run = |side: Side, _tag: String, calls: usize| {
            let postbox = match side {
                Side::B => plain.clone(),
                Side::A | Side::AAgain => compressing.clone(),
            };
            commit_calls(postbox, Arc::clone(&body), calls)
        };
        if size <= 300 * 1024 {
            for side in [Side::A, Side::B] {
                run(side, String::new(), CONCURRENCY * 2).await?;
            }
            let row = interleave(
                &rig.meter,
                link.rtt_ms,
                CONCURRENCY,
                ("compressed", "plain"),
                rounds,
                calls_per_round,
                run,
                &format!("{} KB bodies", size / 1024),
                progress,
            )
            .await?;
            let total = (rounds * calls_per_round) as f64;
            rows.push(LargeBodyRow {
                body_bytes: size,
                stored_bytes,
                compressed_write_units: row.a_requests.write_capacity() / total,
                plain_write_units: Some(row.b_requests.write_capacity() / total),
                compressed_cpu_us_per_call: row.a_cpu_us_per_call,
                comparison: Some(row),
            });
        } else {
            let calls = rounds * calls_per_round;
            run(Side::A, String::new(), CONCURRENCY * 2).await?;
            let before = rig.meter.counts();
            let cpu = process_cpu();
            run(Side::A, String::new(), calls).await?;
            let cpu = process_cpu().saturating_sub(cpu);
            let counts = rig.meter.counts().since(&before);
            progress(&format!(
                "{} KB bodies: compressed only (plain does not fit an item), {calls} calls",
                size / 1024
            ));
            rows.push(LargeBodyRow {
                body_bytes: size,
                stored_bytes,
                compressed_write_units: counts.write_capacity() / calls as f64,
                plain_write_units: None,
                compressed_cpu_us_per_call: cpu.as_secs_f64() * 1e6 / calls as f64,
                comparison: None,
            });
        }
    }
    rig.drop_tables(&link.direct).await;
    Ok(rows)
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
