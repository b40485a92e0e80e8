//! Runnable examples of `outbox-runtime`, and the table definitions they need (which
//! `cargo xtask provision` creates).

pub mod people;
