//! The benchmarks' machinery, shared by the `bench` binary (`cargo xtask bench`) and the cost
//! tests (`tests/integration/costs.rs`): a [`Meter`] that counts every request and the capacity
//! units DynamoDB reports, the handlers measured, and the scenarios.
//!
//! Counts (requests, items read, capacity units) do not depend on the machine and are asserted
//! by the cost tests; times do, and are only reported.

mod fixtures;
mod hand_written;
mod meter;
pub mod scenarios;

pub use fixtures::{
    AddGreeting, BenchProducer, GREETING_TOPIC, GreetingMade, MacroHandler, Person, Rig,
};
pub use hand_written::{BoxError, HandWritten};
pub use meter::{Counts, Meter, OpCount};
