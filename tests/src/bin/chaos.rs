//! The fault-injection run at any size: `cargo xtask chaos --commands 10000` (which starts
//! DynamoDB Local), or `cargo run -p outbox-tests --bin chaos -- --commands 10000` against
//! `DYNAMODB_ENDPOINT`. Prints the figures; exits non-zero when a promise was broken.

use std::process::ExitCode;

use outbox_tests::chaos::{self, ChaosConfig};
use outbox_tests::dynamodb;

const USAGE: &str = "\
usage: chaos [--commands N] [--keys N] [--concurrency N] [--sweepers N] [--seed N]
             [--fault-percent N] [--send-fail-percent N] [--send-then-fail-percent N]
             [--sweeper-only]";

fn parse(args: &[String]) -> Result<ChaosConfig, String> {
    let mut config = ChaosConfig {
        progress: true,
        ..ChaosConfig::default()
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if flag == "--sweeper-only" {
            config.clear_immediately = false;
            continue;
        }
        let value = rest
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value\n{USAGE}"))?;
        let number = |v: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("`{flag} {v}`: expected a whole number\n{USAGE}"))
        };
        let n = number(value)?;
        let small = |n: u64| u32::try_from(n.min(100)).unwrap_or(100);
        match flag.as_str() {
            "--commands" => config.commands = usize::try_from(n).unwrap_or(usize::MAX),
            "--keys" => config.keys = usize::try_from(n.max(1)).unwrap_or(1),
            "--concurrency" => config.concurrency = usize::try_from(n.max(1)).unwrap_or(1),
            "--sweepers" => config.sweepers = usize::try_from(n.max(2)).unwrap_or(2),
            "--seed" => config.seed = n,
            "--fault-percent" => config.command_fault_percent = small(n),
            "--send-fail-percent" => config.send_fail_percent = small(n),
            "--send-then-fail-percent" => config.send_then_fail_percent = small(n),
            _ => return Err(format!("unknown option `{flag}`\n{USAGE}")),
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse(&args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let db = dynamodb().await;
    eprintln!(
        "chaos: {} commands over {} keys, {} at a time; {} % of commands, {} % of sends fail, \
         {} % delivered then reported failed; {} sweepers, one killed; seed {}{}",
        config.commands,
        config.keys,
        config.concurrency,
        config.command_fault_percent,
        config.send_fail_percent,
        config.send_then_fail_percent,
        config.sweepers,
        config.seed,
        if config.clear_immediately {
            ""
        } else {
            "; the sweepers send everything"
        }
    );
    let report = chaos::run(&db, &config).await;
    println!("{report}");
    let violations = report.violations();
    if violations.is_empty() {
        println!("every promise kept");
        ExitCode::SUCCESS
    } else {
        for violation in violations {
            println!("BROKEN: {violation}");
        }
        ExitCode::FAILURE
    }
}
