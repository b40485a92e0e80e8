//! Failed sends: attempt counts, backoff until the next attempt, dead letters and their replay.

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::FutureExt as _;

use crate::backoff::Backoff;
use crate::error::Result;
use crate::message::MessageId;
use crate::table::attributes as attr;
use crate::table::handle::TableHandle;
use crate::table::handle::condition_failed;
use crate::table::layout::number;
use crate::table::list::{ContinuationToken, Page, ScanFilter};
use crate::time::to_millis;

/// How failed sends are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts before a message is dead-lettered (at least 1).
    pub max_attempts: u32,
    /// The ceiling of the first backoff; it doubles with each attempt.
    pub base_delay: Duration,
    /// The largest backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Ten attempts, backoff from 1 s doubling up to 5 minutes (with jitter).
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Ten attempts, backoff from 1 s doubling up to 5 minutes: the default. Change it with the
    /// `with_` methods.
    ///
    /// ```
    /// use std::time::Duration;
    /// use outbox_runtime::RetryPolicy;
    ///
    /// let quick = RetryPolicy::new()
    ///     .with_max_attempts(3)
    ///     .with_base_delay(Duration::from_millis(100))
    ///     .with_max_delay(Duration::from_secs(5));
    /// assert_eq!(quick.max_attempts, 3);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the attempts before a message is dead-lettered (at least 1).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets the ceiling of the first backoff.
    pub fn with_base_delay(mut self, base_delay: Duration) -> Self {
        self.base_delay = base_delay;
        self
    }

    /// Sets the largest backoff.
    pub fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The delay after the `attempts`-th failure: the ceiling doubles from `base_delay` up to
    /// `max_delay`, and the delay is drawn between half the ceiling and the ceiling.
    pub fn delay_after(&self, attempts: u32) -> Duration {
        let mut backoff = Backoff::new(self.base_delay, self.max_delay);
        let mut delay = Duration::ZERO;
        for _ in 0..attempts.max(1) {
            delay = backoff.next_delay();
        }
        delay
    }
}

/// What recording a failed send did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureOutcome {
    /// The message stays outstanding and is due again at `next_attempt_at`.
    WillRetry {
        /// Failed attempts so far.
        attempts: u32,
        /// The earliest next attempt.
        next_attempt_at: SystemTime,
    },
    /// The message reached the maximum and left the outstanding index.
    DeadLettered {
        /// Failed attempts, the last included.
        attempts: u32,
    },
    /// The message was no longer outstanding (sent meanwhile, or gone): nothing recorded.
    NotOutstanding,
}

impl TableHandle {
    /// Records a failed send of a message that had failed `previous_attempts` times before:
    /// the count goes up by one and the error is kept; below the policy's maximum the message
    /// stays outstanding with a backoff, at the maximum it is dead-lettered.
    pub(crate) async fn record_failure(
        &self,
        id: &MessageId,
        previous_attempts: u32,
        error: &str,
        policy: &RetryPolicy,
    ) -> Result<FailureOutcome> {
        let attempts = previous_attempts.saturating_add(1);
        let now = SystemTime::now();
        let error: String = error.chars().take(1000).collect();
        let request = self
            .db
            .client()
            .update_item()
            .table_name(&self.config.table_name)
            .key(attr::MESSAGE_ID, AttributeValue::S(id.to_string()))
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
            .expression_attribute_names("#attempts", attr::ATTEMPTS)
            .expression_attribute_names("#error", attr::LAST_ERROR)
            .expression_attribute_values(":attempts", number(attempts))
            .expression_attribute_values(":error", AttributeValue::S(error));
        // A message deposited without the outstanding marker (`StreamMode::StreamOnly`) gets
        // it with its first failure, and loses its TTL from the deposit: from then on it is
        // the sweeper's, like any other.
        let stream_only = !self.config.stream.marks_deposits();
        let request = if stream_only {
            crate::table::deposit::unmarked_failure_condition(request)
        } else {
            request.condition_expression("attribute_exists(#since)")
        };
        let (request, outcome) = if attempts >= policy.max_attempts.max(1) {
            (
                request
                    .update_expression(if stream_only {
                        "SET #attempts = :attempts, #error = :error, #dead = :now \
                         REMOVE #since, #next, #expires"
                    } else {
                        "SET #attempts = :attempts, #error = :error, #dead = :now \
                         REMOVE #since, #next"
                    })
                    .expression_attribute_names("#dead", attr::DEAD_LETTERED_AT)
                    .expression_attribute_names("#next", attr::NEXT_ATTEMPT_AT)
                    .expression_attribute_values(":now", number(to_millis(now))),
                FailureOutcome::DeadLettered { attempts },
            )
        } else {
            let next_attempt_at = now + policy.delay_after(attempts);
            let request = if stream_only {
                request
                    .update_expression(
                        "SET #attempts = :attempts, #error = :error, #next = :next, \
                         #since = if_not_exists(#since, #order) REMOVE #expires, #claimed",
                    )
                    .expression_attribute_names("#order", attr::ORDER_KEY)
            } else {
                // A scheduled message's claim ends with its failed send: it can be cancelled
                // while it waits out its backoff.
                request.update_expression(
                    "SET #attempts = :attempts, #error = :error, #next = :next REMOVE #claimed",
                )
            };
            (
                request
                    .expression_attribute_names("#next", attr::NEXT_ATTEMPT_AT)
                    .expression_attribute_names("#claimed", attr::CLAIMED_UNTIL)
                    .expression_attribute_values(":next", number(to_millis(next_attempt_at))),
                FailureOutcome::WillRetry {
                    attempts,
                    next_attempt_at,
                },
            )
        };
        match request.send().boxed().await {
            Ok(_) => {
                if let FailureOutcome::DeadLettered { attempts } = outcome {
                    tracing::warn!(message_id = %id, attempts, "message dead-lettered");
                    metrics::counter!("outbox_dead_lettered_total").increment(1);
                }
                Ok(outcome)
            }
            Err(err) if condition_failed(&err) => Ok(FailureOutcome::NotOutstanding),
            Err(err) => Err(crate::Error::from_sdk(
                "UpdateItem",
                self.db.endpoint(),
                &self.config.table_name,
                err,
            )),
        }
    }

    /// Dead-letters a message now, whatever its attempt count, keeping `reason` as its last
    /// error: for a message that can never be sent (an item this library cannot read, a topic
    /// no producer routes). It leaves the outstanding index until replayed.
    pub(crate) async fn dead_letter(&self, id: &MessageId, reason: &str) -> Result<FailureOutcome> {
        let policy = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
        self.record_failure(id, 0, reason, &policy).await
    }

    /// Dead-lettered messages, with their attempt count and last error. This scans the table
    /// (dead letters are rare and deliberately not indexed).
    pub(crate) async fn dead_letters(
        &self,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        let filter = ScanFilter {
            expression: "attribute_exists(#dead)",
            names: &[("#dead", attr::DEAD_LETTERED_AT)],
            values: Vec::new(),
            token_prefix: "x1:",
        };
        self.scan_filtered(&filter, limit, token).await
    }

    /// Puts dead-lettered messages back in line: outstanding again at their original place in
    /// order, with the attempt count reset. Ids that are not dead-lettered are left alone.
    pub(crate) async fn replay(&self, ids: &[MessageId]) -> Result<usize> {
        let mut replayed = 0;
        for id in ids {
            let result = self
                .db
                .client()
                .update_item()
                .table_name(&self.config.table_name)
                .key(attr::MESSAGE_ID, AttributeValue::S(id.to_string()))
                .update_expression("SET #since = #order, #attempts = :zero REMOVE #dead, #next")
                .condition_expression("attribute_exists(#dead)")
                .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
                .expression_attribute_names("#order", attr::ORDER_KEY)
                .expression_attribute_names("#attempts", attr::ATTEMPTS)
                .expression_attribute_names("#dead", attr::DEAD_LETTERED_AT)
                .expression_attribute_names("#next", attr::NEXT_ATTEMPT_AT)
                .expression_attribute_values(":zero", number(0))
                .set_return_consumed_capacity(self.db.consumed_capacity())
                .send()
                .boxed()
                .await;
            match result {
                Ok(_) => replayed += 1,
                Err(err) if condition_failed(&err) => {}
                Err(err) => {
                    return Err(crate::Error::from_sdk(
                        "UpdateItem",
                        self.db.endpoint(),
                        &self.config.table_name,
                        err,
                    ));
                }
            }
        }
        Ok(replayed)
    }
}
