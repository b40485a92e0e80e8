//! The integration tests, one module per concern, in one test binary (the AWS SDK is linked
//! once, not once per concern). They talk to DynamoDB Local, and `producers` to moto for SQS and
//! SNS; `cargo xtask test` starts both, provisions and runs them. A test that cannot reach its
//! server fails with a message saying how to start it; it never passes by skipping.
//!
//! Run one concern with its module path as the filter, for example
//! `cargo test --workspace --test integration faults::`.

mod bad_input;
mod claim_check;
mod connection;
mod consumer;
mod consumer_chaos;
mod costs;
mod faults;
mod handler;
mod large;
mod marks;
mod outbox;
mod producers;
mod scheduled;
mod security;
mod send;
mod streams;
mod sweeper;
mod sweeper_chaos;
mod transaction;
mod unit_of_work;
