//! The benchmark scenarios. Each builds its own tables, measures, and returns rows that the
//! `bench` binary prints and writes as JSON; the cost tests call the same functions and assert
//! the counts, which do not depend on the machine.
//!
//! One file per scenario: `overhead` (1, the macro handler against the hand-written one),
//! `per_message` (2 and 3, requests and capacity units per delivered message), `drain` (4,
//! with the naive sequential sweeper as its baseline), `idle` (5, the idle sweep), `latency`
//! (6), `rmw` (7, the read-modify-write handler against the hand-written one), `marks` (8,
//! background marks against inline ones), `stream_relay` (9, the stream relay beside the
//! sweeper), `consume` (10, a consumer handler with its inbox record against one without) and
//! `instructions` (11, scenario 1's calls counted in instructions by callgrind), `scheduled`
//! (12, messages due later: how late they go, and a pass over many due tomorrow), `large`
//! (13, bodies of 1 KB to 1 MiB compressed against plain);
//! `round_trip` measures the delaying proxy against a direct connection. `compare`
//! runs two sides and an A/A control in interleaved rounds with their client CPU; `paths`
//! measures what delivering messages costs on each path (the cost tests call it too), and
//! `measure` holds the statistics and the concurrent runner they share.

mod compare;
mod consume;
mod drain;
mod idle;
mod instructions;
mod large;
mod latency;
mod marks;
mod measure;
mod overhead;
mod paths;
mod per_message;
mod rmw;
mod round_trip;
mod scheduled;
mod stream_relay;

pub use compare::{ComparisonRow, Side, Spread};
pub use consume::{ConsumedCostRow, consume, consumed_costs};
pub use drain::{DrainRatio, DrainRow, Relay, drain, drain_ratios};
pub use idle::{IdleRow, idle_sweep};
pub use instructions::{
    INSTRUCTION_WARM_UP_CALLS, INSTRUCTIONS_ARG, InstructionsRow, check_valgrind, instructions,
    instructions_main,
};
pub use large::{LARGE_BODY_SIZES, LargeBodyRow, large_bodies};
pub use latency::{LatencyRow, Percentiles, latency};
pub use marks::coalesced_marks;
pub use measure::{Progress, percentile, run_concurrently};
pub use overhead::macro_overhead;
pub use paths::{
    LONG_LEASE, PathCost, cleanup_name, cleanups, hand_written_path, immediate_path, sweeper_path,
    warm_sweeper,
};
pub use per_message::{CostRow, capacity_per_message, requests_per_message, short_body_bytes};
pub use rmw::read_modify_write;
pub use round_trip::{RoundTripRow, round_trip};
pub use scheduled::{ScheduledRow, scheduled};
pub use stream_relay::{StreamRelayRow, stream_relay};
