//! `cargo xtask chaos --commands 10000`: the fault-injection run at a size beyond the test
//! suite's, against the local services, with its figures printed (see `outbox_tests::chaos`).
//! Exits non-zero when a committed message was lost, a rolled-back one delivered, or any other
//! promise broken.

use std::process::ExitCode;

use crate::Result;
use crate::provision::provision;
use crate::services::{LocalServices, cargo, step};

/// Runs the `chaos` binary of the test package with `args` (`--commands N`, ...).
pub(crate) fn run(args: &[&str]) -> Result<ExitCode> {
    let services = LocalServices::start()?;
    step("provisioning tables");
    provision(&services.dynamodb_endpoint())?;
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
    if status.success() {
        step("chaos run passed: nothing lost, nothing phantom, every duplicate explained");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("==> the chaos run found broken promises ({status}); see BROKEN above");
        Ok(ExitCode::FAILURE)
    }
}
