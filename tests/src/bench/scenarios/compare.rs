//! Two ways of doing the same work, measured against each other with their noise floor: side
//! A against side B, and A against itself (A/A), in interleaved rounds, with the client's CPU
//! time per call beside each throughput.
//!
//! Each round runs B, A and A again (A′), in that order in even rounds and reversed in odd
//! ones, so that A meets B and A′ as often before as after: a drift of the machine over the run
//! touches both ratios alike. A′ runs the very code A runs: its ratio to A shows how far two
//! measurements of one thing fall apart in this run, the floor below which A against B says
//! nothing.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use super::measure::{Progress, median, ratios};
use crate::bench::cpu::process_cpu;
use crate::bench::{BoxError, Counts, Meter};

/// The middle of per-round values and how sure it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    /// The median over rounds.
    pub median: f64,
    /// The lower end of the median's confidence interval (order statistics, no assumption on
    /// the distribution).
    pub low: f64,
    /// Its upper end.
    pub high: f64,
    /// The interval's coverage: about 0.95 from 6 rounds on, with fewer the min–max range
    /// and less coverage.
    pub confidence: f64,
    /// The lowest value.
    pub min: f64,
    /// The highest value.
    pub max: f64,
}

impl Spread {
    /// The median of `values` and its distribution-free confidence interval: the `k`-th
    /// lowest and `k`-th highest values for the largest `k` that keeps the coverage at 95 %
    /// or more (or `k = 1` when no `k` does).
    pub fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        // P(X <= j) for X ~ Binomial(n, 1/2).
        let below = |j: usize| -> f64 {
            let mut term = 0.5_f64.powi(i32::try_from(n).unwrap_or(i32::MAX));
            let mut sum = term;
            for i in 0..j {
                term *= (n - i) as f64 / (i + 1) as f64;
                sum += term;
            }
            sum
        };
        let mut k = 1;
        while k < n.div_ceil(2) && below(k) <= 0.025 {
            k += 1;
        }
        Self {
            median: median(values),
            low: sorted[k - 1],
            high: sorted[n - k],
            confidence: 1.0 - 2.0 * below(k - 1),
            min: sorted[0],
            max: sorted[n - 1],
        }
    }

    /// `0.987 (0.95–1.02)`.
    pub fn show(&self) -> String {
        format!("{:.3} ({:.3}–{:.3})", self.median, self.low, self.high)
    }
}

/// One of the three sides of a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// What is measured.
    A,
    /// What it is measured against.
    B,
    /// A again: the control.
    AAgain,
}

impl Side {
    /// A letter for names the side writes (`a`, `b`, `c`): each side its own items, of the
    /// same size.
    pub fn letter(self) -> char {
        match self {
            Side::A => 'a',
            Side::B => 'b',
            Side::AAgain => 'c',
        }
    }
}

/// A against B (and A against A) at one setting.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComparisonRow {
    /// The modeled round trip in milliseconds (0: none).
    pub rtt_ms: f64,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// What side A is.
    pub a: String,
    /// What side B is.
    pub b: String,
    /// Rounds, each running B, A and A′ (in alternating order).
    pub rounds: usize,
    /// Calls per side per round.
    pub calls_per_round: usize,
    /// A's calls per second (median over rounds).
    pub a_calls_per_s: f64,
    /// B's calls per second (median over rounds).
    pub b_calls_per_s: f64,
    /// A's throughput over B's, per round.
    pub throughput_ratio: Spread,
    /// A's throughput over A′'s, per round: the noise floor of `throughput_ratio`.
    pub aa_throughput_ratio: Spread,
    /// A's client CPU time per call in microseconds (median over rounds).
    pub a_cpu_us_per_call: f64,
    /// B's client CPU time per call in microseconds (median over rounds).
    pub b_cpu_us_per_call: f64,
    /// A's CPU per call over B's, per round.
    pub cpu_ratio: Spread,
    /// A's CPU per call over A′'s, per round: the noise floor of `cpu_ratio`.
    pub aa_cpu_ratio: Spread,
    /// A's requests per call.
    pub a_requests_per_call: f64,
    /// B's requests per call.
    pub b_requests_per_call: f64,
    /// A's requests, by operation, over every round (A′'s not included).
    pub a_requests: Counts,
    /// B's requests, by operation, over every round.
    pub b_requests: Counts,
    /// True when A, B and A′ made the same requests, operation by operation.
    pub same_requests: bool,
    /// True when A, B and A′ spent the same capacity units, operation by operation.
    pub same_capacity: bool,
}

/// Runs `rounds` rounds of the three sides, each side a call of `run(side, tag, calls)` that
/// makes `calls` calls (the tag names the round, for unique keys) and returns how long they
/// took; `meter` counts their requests. `label` starts each progress line.
///
/// # Errors
/// A side's error.
#[allow(clippy::too_many_arguments)]
pub(super) async fn interleave<F, Fut>(
    meter: &Meter,
    rtt_ms: f64,
    concurrency: usize,
    sides: (&str, &str),
    rounds: usize,
    calls: usize,
    mut run: F,
    label: &str,
    progress: Progress<'_>,
) -> Result<ComparisonRow, BoxError>
where
    F: FnMut(Side, String, usize) -> Fut,
    Fut: Future<Output = Result<Duration, BoxError>>,
{
    let mut rates = [Vec::new(), Vec::new(), Vec::new()];
    let mut cpus = [Vec::new(), Vec::new(), Vec::new()];
    let mut counts = [Counts::default(), Counts::default(), Counts::default()];
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [Side::B, Side::A, Side::AAgain]
        } else {
            [Side::AAgain, Side::A, Side::B]
        };
        for side in order {
            let slot = side as usize;
            let before = meter.counts();
            let cpu = process_cpu();
            let elapsed = run(side, format!("c{concurrency}r{round}"), calls).await?;
            let cpu = process_cpu().saturating_sub(cpu);
            counts[slot] = add(&counts[slot], &meter.counts().since(&before));
            rates[slot].push(calls as f64 / elapsed.as_secs_f64());
            cpus[slot].push(cpu.as_secs_f64() * 1e6 / calls as f64);
        }
        progress(&format!(
            "{label}: concurrency {concurrency}, round {}/{rounds}: {} {:.0} calls/s ({:.0} µs \
             CPU a call), {} {:.0} ({:.0} µs), {} again {:.0} ({:.0} µs)",
            round + 1,
            sides.0,
            rates[0][round],
            cpus[0][round],
            sides.1,
            rates[1][round],
            cpus[1][round],
            sides.0,
            rates[2][round],
            cpus[2][round],
        ));
    }
    let total_calls = (rounds * calls) as f64;
    let ops = |counts: &Counts| counts.requests_by_op();
    let capacity = |counts: &Counts| -> Vec<(String, f64)> {
        counts
            .ops
            .iter()
            .map(|(name, op)| (name.clone(), op.capacity))
            .collect()
    };
    let [a, b, again] = counts;
    Ok(ComparisonRow {
        rtt_ms,
        concurrency,
        a: sides.0.to_owned(),
        b: sides.1.to_owned(),
        rounds,
        calls_per_round: calls,
        a_calls_per_s: median(&rates[0]),
        b_calls_per_s: median(&rates[1]),
        throughput_ratio: Spread::of(&ratios(&rates[0], &rates[1])),
        aa_throughput_ratio: Spread::of(&ratios(&rates[0], &rates[2])),
        a_cpu_us_per_call: median(&cpus[0]),
        b_cpu_us_per_call: median(&cpus[1]),
        cpu_ratio: Spread::of(&ratios(&cpus[0], &cpus[1])),
        aa_cpu_ratio: Spread::of(&ratios(&cpus[0], &cpus[2])),
        a_requests_per_call: a.requests() as f64 / total_calls,
        b_requests_per_call: b.requests() as f64 / total_calls,
        same_requests: ops(&a) == ops(&b) && ops(&a) == ops(&again),
        same_capacity: capacity(&a) == capacity(&b) && capacity(&a) == capacity(&again),
        a_requests: a,
        b_requests: b,
    })
}

/// `a` and `b` added, operation by operation.
pub(super) fn add(a: &Counts, b: &Counts) -> Counts {
    let mut sum = a.clone();
    for (name, op) in &b.ops {
        let entry = sum.ops.entry(name.clone()).or_default();
        entry.requests += op.requests;
        entry.capacity += op.capacity;
        entry.table_capacity += op.table_capacity;
        entry.index_capacity += op.index_capacity;
        entry.items_read += op.items_read;
        entry.unreported += op.unreported;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn the_interval_of_the_median_comes_from_order_statistics() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        let spread = Spread::of(&values);
        assert_eq!(spread.median, 10.5);
        // Binomial(20, 1/2): P(X <= 5) = 0.0207, P(X <= 6) = 0.0577.
        assert_eq!((spread.low, spread.high), (6.0, 15.0));
        assert!((spread.confidence - 0.9586).abs() < 1e-3, "{spread:?}");
        let few = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!((few.low, few.high, few.median), (1.0, 3.0, 2.0));
        assert!((few.confidence - 0.75).abs() < 1e-9);
    }
}
