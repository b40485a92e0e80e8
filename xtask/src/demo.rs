//! `cargo xtask demo`: the greetings example end to end against local services.

use std::process::{Command, ExitCode};

use crate::Result;
use crate::paths::target_dir;
use crate::provision::provision;
use crate::services::{LocalServices, cargo, step};

pub(crate) fn run() -> Result<ExitCode> {
    // Build first, so the services are not kept waiting through a first (slow) build. Both
    // binaries are needed: the demo starts the sweeper as a process of its own.
    step("building the greetings example and the sweeper");
    // Built together with xtask (already built, so fresh), the examples resolve the same
    // dependency features as xtask did and share its compiled SDK.
    let status = cargo()
        .args([
            "build",
            "--package",
            "xtask",
            "--package",
            "outbox-examples",
            "--bins",
        ])
        .status()?;
    if !status.success() {
        return Err(format!("building the examples failed ({status})").into());
    }

    let services = LocalServices::start()?;
    step("provisioning tables");
    provision(&services.dynamodb_endpoint())?;

    step("running the greetings demo");
    let status = services.run_child(Command::new(target_dir().join("debug").join("greetings")))?;
    services.stop()?;
    if status.success() {
        step("demo finished: every step was verified against the tables and the queue");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("==> the demo failed ({status})");
        Ok(ExitCode::FAILURE)
    }
}
