//! `cargo xtask chaos --commands 10000`: the fault-injection run at a size beyond the test
//! suite's, against DynamoDB Local, with its figures printed (see `outbox_tests::chaos`).
//! Exits non-zero when a committed message was lost, a rolled-back one delivered, or any other
//! promise broken.
//!
//! `cargo xtask chaos --consumer-side`: the consumer side under faults, against DynamoDB Local
//! and moto (see `outbox_tests::chaos::consumer`); exits non-zero when an effect was lost or
//! applied twice.

use std::process::ExitCode;

use crate::Result;
use crate::services::{LocalServices, cargo, step};

/// The chaos binary's flags, printed by `--help` without building or starting anything.
const FLAGS: &str = include_str!("../../tests/src/bin/chaos_usage.txt");

/// Runs the `chaos` binary of the test package with `args` (`--commands N`, ...).
pub(crate) fn run(args: &[&str]) -> Result<ExitCode> {
    if args.iter().any(|arg| matches!(*arg, "--help" | "-h")) {
        println!("usage: cargo xtask chaos [flags]\n\n{FLAGS}");
        return Ok(ExitCode::SUCCESS);
    }
    // The run makes its own tables; the in-process run starts and restarts a DynamoDB Local of
    // its own too, so the shared one serves `--no-restart` and the sweeper processes. The
    // consumer side reads its messages from SQS: moto as well.
    let consumer_side = args.contains(&"--consumer-side");
    let services = if consumer_side {
        LocalServices::start()?
    } else {
        LocalServices::start_dynamodb()?
    };
    step(&format!("running the chaos run: {}", args.join(" ")));
    let mut command = cargo();
    command
        .args([
            "run",
            "--quiet",
            "-p",
            "outbox-tests",
            "--bin",
            "chaos",
            "--",
        ])
        .args(args);
    let status = services.run_child(command)?;
    services.stop()?;
    if status.success() && consumer_side {
        step(
            "consumer-side chaos run passed: every effect applied exactly once, every \
             duplicate absorbed by the inbox",
        );
        Ok(ExitCode::SUCCESS)
    } else if status.success() {
        step("chaos run passed: nothing lost, nothing phantom, every duplicate explained");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("==> the chaos run found broken promises ({status}); see BROKEN above");
        Ok(ExitCode::FAILURE)
    }
}
