//! [`StreamMode`]: whether the outbox table has a DynamoDB Stream, and so how a deposit is laid
//! out and what the stream relay may rely on when it reads it. It is the table's configuration
//! ([`OutboxConfig::with_stream`](crate::OutboxConfig::with_stream)).

use std::time::Duration;

use crate::error::{Error, Result};

/// The outbox table's DynamoDB Stream and the two configurations of the stream relay. Set it
/// with [`OutboxConfig::with_stream`](crate::OutboxConfig::with_stream); the default is
/// [`StreamMode::Off`].
///
/// ```
/// use std::time::Duration;
/// use outbox_runtime::OutboxConfig;
/// use outbox_runtime::StreamMode;
///
/// // The relay sends, marks what it sent; the sweeper finds what it missed.
/// let with_sweeper = OutboxConfig::default().with_stream(StreamMode::WithSweeper);
/// assert!(with_sweeper.stream.is_enabled());
/// // The cheapest: no outstanding marker, no mark, TTL cleanup three days after the deposit.
/// let stream_only = OutboxConfig::default()
///     .with_stream(StreamMode::stream_only(Duration::from_secs(3 * 24 * 3600)));
/// assert!(!stream_only.stream.marks_deposits());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamMode {
    /// No stream: the immediate clear and the sweeper send (the default).
    #[default]
    Off,
    /// The table's stream is enabled (`NEW_IMAGE`) and a stream relay sends each new message.
    /// Messages keep the outstanding marker; the relay marks what it sent (25 to a request),
    /// and the index sweeper, kept as the safety net, sends whatever the relay missed, even past
    /// the stream's 24 hours. A message costs its transactional put, its share of a mark
    /// request, and the index entry; the sweeper's idle polling stays.
    WithSweeper,
    /// The table's stream is enabled and the stream relay is the only sender of new messages,
    /// the cheapest configuration: a message is deposited without the outstanding marker (it
    /// never enters the index), is never marked, and is removed by DynamoDB's TTL `retention`
    /// after its deposit, which must be well past the stream's 24 hours. A failed send is
    /// recorded as on the other paths, which puts the message in the index for the sweeper
    /// (keep one running, at a slow pace: it finds only these). The risk: a relay that falls
    /// more than 24 hours behind loses records for good, so alarm on its iterator age
    /// (`outbox_stream_iterator_age_seconds`).
    StreamOnly {
        /// How long after its deposit a message is removed by TTL (at least 48 hours).
        retention: Duration,
    },
}

impl StreamMode {
    /// The shortest retention [`StreamMode::StreamOnly`] accepts: twice the stream's 24 hours,
    /// so a message outlives every record of it.
    pub const MIN_STREAM_ONLY_RETENTION: Duration = Duration::from_secs(48 * 60 * 60);

    /// [`StreamMode::StreamOnly`] with messages removed by TTL `retention` after their deposit.
    pub fn stream_only(retention: Duration) -> Self {
        StreamMode::StreamOnly { retention }
    }

    /// True when the table has a stream for the relay to read.
    pub fn is_enabled(self) -> bool {
        !matches!(self, StreamMode::Off)
    }

    /// True when deposits carry the outstanding marker (every mode but
    /// [`StreamMode::StreamOnly`]).
    pub fn marks_deposits(self) -> bool {
        !matches!(self, StreamMode::StreamOnly { .. })
    }

    /// The attribute (and its DynamoDB type) that every new message's item carries in this
    /// mode and no other item does: the outstanding marker, or in
    /// [`StreamMode::StreamOnly`] the topic. A stream record's new image with it is a message
    /// to send.
    pub(crate) fn new_message_attribute(self) -> (&'static str, &'static str) {
        if self.marks_deposits() {
            (crate::table::attributes::OUTSTANDING_SINCE, "N")
        } else {
            (crate::table::attributes::TOPIC, "S")
        }
    }

    /// The TTL of a new message, counted from its deposit ([`StreamMode::StreamOnly`] only).
    pub fn deposit_retention(self) -> Option<Duration> {
        match self {
            StreamMode::StreamOnly { retention } => Some(retention),
            _ => None,
        }
    }

    /// The mode's name in logs and metrics: `off`, `with-sweeper`, `stream-only`.
    pub fn name(self) -> &'static str {
        match self {
            StreamMode::Off => "off",
            StreamMode::WithSweeper => "with-sweeper",
            StreamMode::StreamOnly { .. } => "stream-only",
        }
    }

    /// Checks the retention of [`StreamMode::StreamOnly`].
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a retention shorter than
    /// [`StreamMode::MIN_STREAM_ONLY_RETENTION`].
    pub fn validate(self) -> Result<()> {
        if let StreamMode::StreamOnly { retention } = self
            && retention < Self::MIN_STREAM_ONLY_RETENTION
        {
            return Err(Error::InvalidConfig(format!(
                "a stream-only retention of {} s is too short: a message must outlive the \
                 stream's 24 hours and the sweeper's retries of a failed send; use at least \
                 {} s (48 hours)",
                retention.as_secs(),
                Self::MIN_STREAM_ONLY_RETENTION.as_secs()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_only_retention_shorter_than_two_days_is_refused() {
        let err = StreamMode::stream_only(Duration::from_secs(25 * 3600))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("at least 172800 s"), "{err}");
        assert!(
            StreamMode::stream_only(StreamMode::MIN_STREAM_ONLY_RETENTION)
                .validate()
                .is_ok()
        );
        assert!(StreamMode::WithSweeper.marks_deposits());
        assert_eq!(StreamMode::default(), StreamMode::Off);
    }
}
