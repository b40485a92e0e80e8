//! `cargo xtask mutants [MODULE ...]`: the mutation audit. cargo-mutants puts small faults into
//! the runtime one at a time (a condition dropped, an operator turned, a function that returns
//! a default) and runs the tests that guard that module against each; a fault no test notices
//! is a promise nothing checks. It takes hours, so it is not part of `cargo xtask test` or CI.
//!
//! Each module is audited against the runtime's own tests and the integration tests of the
//! concerns that use it (a nextest filter per module, below), in a copy of the workspace that
//! cargo-mutants makes, so the source tree can be worked on meanwhile. What each run found is
//! written to `results/mutants/<module>.txt`; `results/MUTANTS.md` judges the survivors.

use std::process::ExitCode;

use crate::Result;
use crate::provision::provision;
use crate::services::{LocalServices, cargo, step};

/// A module of the runtime that carries the outbox's promises, with the tests that guard it.
struct Module {
    name: &'static str,
    /// The integration test modules (of `tests/tests/integration/`) that exercise it.
    concerns: &'static str,
}

const MODULES: &[Module] = &[
    Module {
        name: "transaction",
        concerns: "unit_of_work|transaction|handler|bad_input|costs|outbox|consumer|security",
    },
    Module {
        name: "dispatch",
        concerns: "sweeper|marks|handler|outbox|costs|producers|faults|sweeper_chaos|consumer",
    },
    Module {
        name: "table",
        concerns: "outbox|sweeper|marks|costs|bad_input|unit_of_work|transaction|connection|streams",
    },
    Module {
        name: "consumer",
        concerns: "consumer|consumer_chaos",
    },
    Module {
        name: "lambda",
        concerns: "consumer|streams",
    },
];

const USAGE: &str = "\
usage: cargo xtask mutants [--list] [MODULE ...]

The mutation audit: cargo-mutants puts small faults into the runtime's MODULEs one at a time
(default: every module below) and runs the tests that guard each against every fault, with
DynamoDB Local and moto started as for `cargo xtask test`. Faults no test notices are listed in
results/mutants/<module>.txt, and judged in results/MUTANTS.md. It takes hours (about a minute
a fault on two cores; `--list` counts them first); it is not part of CI. Stopped, it continues
where it stopped the next time: faults already caught are not tried again (remove
target/mutants/<module> to start afresh).

modules: transaction, dispatch, table, consumer, lambda

  --list    list the faults each module would get, and run nothing

Needs cargo-mutants and cargo-nextest (`cargo install cargo-mutants cargo-nextest --locked`).";

/// Runs the audit of the named modules, or of every module.
pub(crate) fn run(args: &[&str]) -> Result<ExitCode> {
    if args
        .iter()
        .any(|arg| matches!(*arg, "--help" | "-h" | "help"))
    {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let list = args.contains(&"--list");
    let names: Vec<&str> = args.iter().copied().filter(|a| *a != "--list").collect();
    let modules: Vec<&Module> = if names.is_empty() {
        MODULES.iter().collect()
    } else {
        names
            .iter()
            .map(|name| {
                MODULES.iter().find(|m| m.name == *name).ok_or_else(|| {
                    format!(
                        "unknown module `{name}`; the audit knows {}\n\n{USAGE}",
                        MODULES
                            .iter()
                            .map(|m| m.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
            .collect::<Result<_, _>>()?
    };
    for tool in ["mutants", "nextest"] {
        let found = cargo()
            .args([tool, "--version"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !found {
            return Err(format!(
                "the audit needs cargo-{tool}; install it with `cargo install cargo-{tool} \
                 --locked` and run `cargo xtask mutants` again"
            )
            .into());
        }
    }
    if list {
        for module in &modules {
            let status = cargo()
                .args(["mutants", "--list", "--package", "outbox-runtime", "--file"])
                .arg(glob(module))
                .status()?;
            if !status.success() {
                return Ok(ExitCode::FAILURE);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let services = LocalServices::start()?;
    step("provisioning tables");
    provision(&services.dynamodb_endpoint())?;
    let results = crate::paths::workspace_root()
        .join("results")
        .join("mutants");
    std::fs::create_dir_all(&results)
        .map_err(|err| format!("cannot create {}: {err}", results.display()))?;
    let mut failed = false;
    for module in &modules {
        step(&format!(
            "auditing outbox-runtime/src/{}/ against the tests of {}",
            module.name, module.concerns
        ));
        let output = crate::paths::target_dir().join("mutants").join(module.name);
        std::fs::create_dir_all(&output)
            .map_err(|err| format!("cannot create {}: {err}", output.display()))?;
        let mut command = cargo();
        command
            .args(["mutants", "--package", "outbox-runtime", "--file"])
            .arg(glob(module))
            .args([
                "--test-tool",
                "nextest",
                "--test-package",
                "outbox-runtime",
                "--test-package",
                "outbox-tests",
                // Denied warnings would make a fault that leaves a variable unused unbuildable
                // instead of tested.
                "--cap-lints",
                "true",
                // The baseline runs the mutated package's tests alone, so the timeout it would
                // set is far too short for the integration tests; each test is bounded by
                // nextest's own timeout (`.config/nextest.toml`).
                "--minimum-test-timeout",
                "600",
                // A run continues where the last one of the module stopped: faults already
                // caught are not tried again (remove target/mutants/<module> to start afresh).
                "--iterate",
                "--output",
            ])
            .arg(&output)
            .args(["--", "--profile", "mutants", "-E"])
            .arg(filter(module));
        let status = services.run_child(command)?;
        // cargo-mutants exits 2 when some fault was missed: the audit's finding, not a failure.
        let missed = std::fs::read_to_string(output.join("mutants.out").join("missed.txt"))
            .unwrap_or_default();
        let summary = summary(module, &output, &missed);
        let file = results.join(format!("{}.txt", module.name));
        std::fs::write(&file, &summary)
            .map_err(|err| format!("cannot write {}: {err}", file.display()))?;
        println!("{summary}");
        if !matches!(status.code(), Some(0 | 2)) {
            eprintln!(
                "==> cargo-mutants failed on {} ({status}); its log is in {}",
                module.name,
                output.join("mutants.out").display()
            );
            failed = true;
        }
    }
    services.stop()?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn glob(module: &Module) -> String {
    format!("outbox-runtime/src/{}/**", module.name)
}

/// The tests run against each fault: the runtime's own and the concerns' integration tests.
fn filter(module: &Module) -> String {
    format!(
        "package(outbox-runtime) | (package(outbox-tests) & binary(integration) & test(/^({})::/))",
        module.concerns
    )
}

/// What a module's run found, from cargo-mutants' outcome files.
fn summary(module: &Module, output: &std::path::Path, missed: &str) -> String {
    let count = |file: &str| {
        std::fs::read_to_string(output.join("mutants.out").join(file))
            .map(|text| text.lines().filter(|line| !line.trim().is_empty()).count())
            .unwrap_or(0)
    };
    format!(
        "# outbox-runtime/src/{name}/\n\
         # cargo xtask mutants {name} (tests: the runtime's own and the integration tests of \
         {concerns})\n\
         # caught {caught}, missed {missed_count}, timed out {timeout}, unviable {unviable}\n\
         # missed:\n{missed}",
        name = module.name,
        concerns = module.concerns,
        caught = count("caught.txt"),
        missed_count = count("missed.txt"),
        timeout = count("timeout.txt"),
        unviable = count("unviable.txt"),
    )
}
