//! What a modeled round trip is, and what the delaying proxy itself costs: small requests one
//! at a time straight to DynamoDB and through the proxy (alternately, so that a drift of the
//! machine touches both alike), and many at once, which must overlap rather than queue.

use std::time::{Duration, Instant};

use outbox_runtime::DynamoDb;
use serde::Serialize;

use super::latency::Percentiles;
use crate::bench::BoxError;
use crate::bench::proxy::Proxy;

/// Requests sent at once to see that the proxy overlaps them.
const AT_ONCE: usize = 32;

/// One proxy measured against a direct connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoundTripRow {
    /// The round trip the proxy models, in milliseconds (0: the proxy with no delay, which
    /// shows what it costs by itself).
    pub rtt_ms: f64,
    /// Requests (`ListTables`, one table asked for) timed on each connection.
    pub samples: usize,
    /// One request straight to DynamoDB.
    pub direct: Percentiles,
    /// One request through the proxy.
    pub proxied: Percentiles,
    /// What the proxy added to the median request, in milliseconds: the modeled round trip
    /// plus the proxy's own cost.
    pub added_p50_ms: f64,
    /// The proxy process's CPU time per request, in microseconds.
    pub proxy_cpu_us_per_request: f64,
    /// How many requests were sent at once below.
    pub at_once: usize,
    /// Milliseconds until all of them were answered, straight to DynamoDB.
    pub at_once_direct_ms: f64,
    /// Milliseconds until all of them were answered, through the proxy: about one round trip
    /// more than straight when the proxy overlaps them, many more if it queued them.
    pub at_once_proxied_ms: f64,
}

/// Measures `proxy` against `direct` with `samples` requests on each.
///
/// # Errors
/// A request's error; a proxy that does not answer.
pub async fn round_trip(
    direct: &DynamoDb,
    proxy: &Proxy,
    samples: usize,
) -> Result<RoundTripRow, BoxError> {
    let proxied = DynamoDb::local(proxy.endpoint());
    // Connections open and warm on both sides.
    for _ in 0..10 {
        request(direct).await?;
        request(&proxied).await?;
    }
    let cpu_before = proxy.cpu()?;
    let (mut straight, mut through) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        straight.push(request(direct).await?);
        through.push(request(&proxied).await?);
    }
    let cpu = proxy.cpu()?.saturating_sub(cpu_before);
    let at_once_direct = at_once(direct).await?;
    let at_once_proxied = at_once(&proxied).await?;
    let (direct, proxied) = (Percentiles::of(&straight), Percentiles::of(&through));
    Ok(RoundTripRow {
        rtt_ms: proxy.rtt().as_secs_f64() * 1000.0,
        samples,
        added_p50_ms: proxied.p50_ms - direct.p50_ms,
        direct,
        proxied,
        proxy_cpu_us_per_request: cpu.as_secs_f64() * 1e6 / samples as f64,
        at_once: AT_ONCE,
        at_once_direct_ms: at_once_direct.as_secs_f64() * 1000.0,
        at_once_proxied_ms: at_once_proxied.as_secs_f64() * 1000.0,
    })
}

async fn request(db: &DynamoDb) -> Result<Duration, BoxError> {
    let started = Instant::now();
    db.client().list_tables().limit(1).send().await?;
    Ok(started.elapsed())
}

/// The time until [`AT_ONCE`] requests sent together are all answered (the best of three).
async fn at_once(db: &DynamoDb) -> Result<Duration, BoxError> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let results = futures_util::future::join_all((0..AT_ONCE).map(|_| request(db))).await;
        for result in results {
            result?;
        }
        best = best.min(started.elapsed());
    }
    Ok(best)
}
