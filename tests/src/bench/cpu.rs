//! Client CPU time: what the bench process itself spends (user and system time of all its
//! threads), which leaves out DynamoDB Local's own process and the delaying proxy's.

use std::time::Duration;

/// User and system CPU time this process has used so far, to the nanosecond
/// (`CLOCK_PROCESS_CPUTIME_ID`, the sum `getrusage` reports as `ru_utime + ru_stime`).
pub fn process_cpu() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}
