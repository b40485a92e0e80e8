//! Client settings for local emulators (feature `testing`): a dead endpoint is reported within
//! seconds instead of hanging.

use std::time::Duration;

use aws_smithy_types::{retry::RetryConfig, timeout::TimeoutConfig};

/// Short timeouts and few retries for local clients, so a dead endpoint is reported within
/// seconds instead of hanging.
pub(crate) fn local_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .build()
}

/// Few retries for local clients.
pub(crate) fn local_retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}
