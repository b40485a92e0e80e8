//! Runnable examples of `outbox-runtime`, and the table definitions they need (which
//! `cargo xtask provision` creates).
//!
//! The greetings service ([`greetings`]) is the scenario of Brighter's DynamoDB outbox
//! documentation, in Rust: `cargo xtask demo` runs it end to end.

pub mod consumer;
pub mod counter;
pub mod greetings;
pub mod people;
pub mod relay;
