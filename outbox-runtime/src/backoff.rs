//! Exponential backoff with jitter, for retrying unprocessed batch items and transaction
//! conflicts.

use std::time::Duration;

/// Delays growing from `base` by doubling up to `max`, each drawn at random between half the
/// current ceiling and the ceiling ("equal jitter"): clients retrying at once spread out, and
/// no delay is ever shorter than half its step.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `base`, capped at `max`.
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1_u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(nanos / 2 + fastrand::u64(0..=nanos - nanos / 2))
    }

    /// Sleeps for the next delay.
    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// How many delays were handed out.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_at_half_the_base_and_never_pass_the_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(80));
        let first = backoff.next_delay();
        assert!(first >= Duration::from_millis(5) && first <= Duration::from_millis(10));
        for _ in 0..10 {
            assert!(backoff.next_delay() <= Duration::from_millis(80));
        }
        assert_eq!(backoff.attempts(), 11);
    }
}
