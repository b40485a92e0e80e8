//! The benchmarks' machinery, shared by the `bench` binary (`cargo xtask bench`) and the cost
//! tests (`tests/integration/costs.rs`): a [`Meter`] that counts every request and the capacity
//! units DynamoDB reports, the handlers measured (written with the macros, and by hand), a
//! naive sequential sweeper as the drain's baseline, a delaying proxy that models a region's
//! round trip, and the scenarios.
//!
//! Counts (requests, items read, capacity units) do not depend on the machine and are asserted
//! by the cost tests; times do, and are only reported.

pub mod cpu;
mod fixtures;
mod hand_written;
mod link;
mod meter;
mod naive_sweeper;
pub mod proxy;
pub mod scenarios;

pub use fixtures::{
    AddGreeting, BenchProducer, GREETING_TOPIC, Greet, GreetingMade, MacroHandler, Person,
    ReadModifyWrite, Rig, VERSION, seed_people, versioned_people,
};
pub use hand_written::{BoxError, HandWritten};
pub use link::Link;
pub use meter::{Counts, Meter, OpCount};
pub use naive_sweeper::NaiveSweeper;
