//! The benchmark scenarios. Each builds its own tables, measures, and returns rows that the
//! `bench` binary prints and writes as JSON; the cost tests call the same functions and assert
//! the counts, which do not depend on the machine.
//!
//! One file per scenario: `overhead` (1, the macro handler against the hand-written one),
//! `per_message` (2 and 3, requests and capacity units per delivered message), `drain` (4),
//! `idle` (5, the idle sweep), `latency` (6) and `stream_relay` (7, the stream relay beside
//! the sweeper); `paths` measures what delivering messages
//! costs on each path (the cost tests call it too), and `measure` holds the statistics and the
//! concurrent runner they share.

mod drain;
mod idle;
mod latency;
mod measure;
mod overhead;
mod paths;
mod per_message;
mod stream_relay;

pub use drain::{DrainRow, drain};
pub use idle::{IdleRow, idle_sweep};
pub use latency::{LatencyRow, Percentiles, latency};
pub use measure::{Progress, percentile, run_concurrently};
pub use overhead::{OverheadRow, macro_overhead};
pub use paths::{
    LONG_LEASE, PathCost, cleanup_name, cleanups, hand_written_path, immediate_path, sweeper_path,
    warm_sweeper,
};
pub use per_message::{CostRow, capacity_per_message, requests_per_message, short_body_bytes};
pub use stream_relay::{StreamRelayRow, stream_relay};
