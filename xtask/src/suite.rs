//! `cargo xtask test`: start the local services, provision, run the whole suite (unit,
//! integration, UI and doc tests), stop what was started, exit with the suite's status.

use std::process::ExitCode;

use crate::Result;
use crate::provision::provision;
use crate::services::{LocalServices, cargo, step};

/// Runs the suite; extra arguments go to `cargo test` (for example a test name filter).
pub(crate) fn run(extra: &[&str]) -> Result<ExitCode> {
    let services = LocalServices::start()?;
    step("provisioning tables");
    provision(&services.dynamodb_endpoint())?;

    step("running every test: cargo test --workspace");
    let mut command = cargo();
    command.args(["test", "--workspace"]).args(extra);
    let status = services.run_child(command)?;
    services.stop()?;

    if status.success() {
        step("all tests passed");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("==> the test suite failed ({status})");
        Ok(ExitCode::from(
            status
                .code()
                .and_then(|code| u8::try_from(code).ok())
                .unwrap_or(1)
                .max(1),
        ))
    }
}
