//! `cargo xtask test`: start the local services, provision, run the whole suite (unit,
//! integration, UI tests through cargo-nextest, then the doc tests), stop what was started, exit
//! with the suite's status.
//!
//! nextest runs each test in a process of its own and kills a test that outlives its bound
//! (`.config/nextest.toml`), so a hang fails the run naming the test instead of sinking it.

use std::process::{ExitCode, ExitStatus};

use crate::Result;
use crate::provision::provision;
use crate::services::{LocalServices, cargo, step};

/// Runs the suite; extra arguments go to `cargo nextest run` (a test name filter,
/// `--no-capture`), and then the doc tests are left out.
pub(crate) fn run(extra: &[&str]) -> Result<ExitCode> {
    check_nextest()?;
    let services = LocalServices::start()?;
    step("provisioning tables");
    provision(&services.dynamodb_endpoint())?;

    step("running every test but the doc tests: cargo nextest run --workspace");
    let mut command = cargo();
    command.args(["nextest", "run", "--workspace"]).args(extra);
    let mut status = services.run_child(command)?;
    if status.success() && extra.is_empty() {
        step("running the doc tests: cargo test --workspace --doc");
        let mut command = cargo();
        command.args(["test", "--workspace", "--doc"]);
        status = services.run_child(command)?;
    }
    services.stop()?;
    finish(status)
}

fn finish(status: ExitStatus) -> Result<ExitCode> {
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

/// Says how to install cargo-nextest when it is missing, before anything is started.
fn check_nextest() -> Result<()> {
    let found = cargo()
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        return Ok(());
    }
    Err(
        "the suite runs through cargo-nextest, which is not installed; install it with \
         `cargo install cargo-nextest --locked` and run `cargo xtask test` again"
            .into(),
    )
}
