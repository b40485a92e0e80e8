//! `cargo xtask demo`: the greetings example end to end against local services.

use std::process::ExitCode;

use crate::Result;
use crate::provision::provision;
use crate::services::{LocalServices, cargo, step};

pub(crate) fn run() -> Result<ExitCode> {
    let services = LocalServices::start()?;
    step("provisioning tables");
    provision(&services.dynamodb_endpoint())?;

    step("building and running the greetings example");
    let mut command = cargo();
    command.args([
        "run",
        "--quiet",
        "--package",
        "outbox-examples",
        "--bin",
        "greetings",
    ]);
    let status = services.run_child(command)?;
    services.stop()?;
    if status.success() {
        step("demo finished: every step was verified against the table");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("==> the demo failed ({status})");
        Ok(ExitCode::FAILURE)
    }
}
