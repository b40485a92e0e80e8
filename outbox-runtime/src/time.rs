//! Times as the table stores them: epoch milliseconds (TTLs are epoch seconds, see
//! `table::layout`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current time truncated to the millisecond, the precision the table stores.
pub(crate) fn now_millis() -> SystemTime {
    from_millis(to_millis(SystemTime::now()))
}

/// Epoch milliseconds of a time (0 before the epoch).
pub(crate) fn to_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| {
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    })
}

/// The time at epoch milliseconds.
pub(crate) fn from_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}
