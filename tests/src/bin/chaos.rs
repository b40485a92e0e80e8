//! The fault-injection run at any size: `cargo xtask chaos --commands 10000`, or
//! `cargo run -p outbox-tests --bin chaos -- --commands 10000`. Prints the figures; exits
//! non-zero when a promise was broken.
//!
//! By default the run starts a DynamoDB Local of its own with its data on disk and kills and
//! restarts it twice (see `outbox_tests::restartable`); `--no-restart` runs against the shared
//! `DYNAMODB_ENDPOINT` instead and never stops it.
//!
//! `--sweeper-processes N [--kill-one]` runs N sweepers as processes of this binary over a
//! committed backlog instead (see `outbox_tests::chaos::processes`).
//!
//! `--consumer-side [--messages N]` fills an SQS queue (moto) with outbox messages, some sent
//! twice, and drains it with consumer processes of this binary that are killed and restarted
//! (see `outbox_tests::chaos::consumer`).

use std::process::ExitCode;

use std::time::Duration;

use outbox_tests::chaos::consumer::{self, ConsumerChildArgs};
use outbox_tests::chaos::processes::{self, ChildArgs, ProcessesConfig};
use outbox_tests::chaos::{self, ChaosConfig, ConsumerChaosConfig};
use outbox_tests::dynamodb;
use outbox_tests::moto::moto;

/// The flags, shared with `cargo xtask chaos --help`, which prints them without building.
const USAGE: &str = include_str!("chaos_usage.txt");

/// What to run.
enum Mode {
    InProcess(ChaosConfig),
    Stream(ChaosConfig),
    Processes(ProcessesConfig),
    ConsumerSide(ConsumerChaosConfig),
}

/// The flags of `--consumer-side`.
fn parse_consumer_side(args: &[String]) -> Result<Mode, String> {
    let mut config = ConsumerChaosConfig {
        progress: true,
        ..ConsumerChaosConfig::default()
    };
    let mut rest = args.iter().filter(|arg| *arg != "--consumer-side");
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value\n{USAGE}"))?;
        let n: u64 = value
            .parse()
            .map_err(|_| format!("`{flag} {value}`: expected a whole number\n{USAGE}"))?;
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        match flag.as_str() {
            "--messages" => config.messages = count(n),
            "--duplicate-percent" => {
                config.duplicate_percent = u32::try_from(n.min(100)).unwrap_or(100)
            }
            "--consumers" => config.consumers = count(n.max(1)),
            "--concurrency" => config.concurrency = count(n.max(1)),
            "--kills" => config.kills = count(n),
            "--die-every" => config.die_every = count(n),
            "--visibility-timeout" => {
                config.visibility_timeout = Duration::from_secs(n.clamp(1, 43_200))
            }
            "--timeout" => config.timeout = Duration::from_secs(n.max(1)),
            "--send-concurrency" => config.send_concurrency = count(n.max(1)),
            "--round" => config.round = count(n),
            "--seed" => config.seed = n,
            _ => {
                return Err(format!(
                    "unknown option `{flag}` for --consumer-side\n{USAGE}"
                ));
            }
        }
    }
    Ok(Mode::ConsumerSide(config))
}

fn parse(args: &[String]) -> Result<Mode, String> {
    if args.iter().any(|arg| arg == "--consumer-side") {
        return parse_consumer_side(args);
    }
    let mut config = ChaosConfig {
        progress: true,
        restart_dynamodb: true,
        ..ChaosConfig::default()
    };
    let mut processes: Option<usize> = None;
    let mut kill_one = false;
    let mut keys = None;
    let mut shards = None;
    let mut lease_ms = None;
    let mut stream_relay = false;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if flag == "--sweeper-only" {
            config.clear_immediately = false;
            continue;
        }
        if flag == "--no-restart" {
            config.restart_dynamodb = false;
            continue;
        }
        if flag == "--stream-relay" {
            stream_relay = true;
            continue;
        }
        if flag == "--kill-one" {
            kill_one = true;
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
            "--keys" => keys = Some(usize::try_from(n.max(1)).unwrap_or(1)),
            "--sweeper-processes" => processes = Some(usize::try_from(n.max(1)).unwrap_or(1)),
            "--shards" => shards = Some(u16::try_from(n.clamp(1, 1000)).unwrap_or(16)),
            "--lease-ms" => lease_ms = Some(n.max(100)),
            "--concurrency" => config.concurrency = usize::try_from(n.max(1)).unwrap_or(1),
            "--sweepers" => config.sweepers = usize::try_from(n.max(2)).unwrap_or(2),
            "--seed" => config.seed = n,
            "--fault-percent" => config.command_fault_percent = small(n),
            "--send-fail-percent" => config.send_fail_percent = small(n),
            "--send-then-fail-percent" => config.send_then_fail_percent = small(n),
            _ => return Err(format!("unknown option `{flag}`\n{USAGE}")),
        }
    }
    let Some(processes) = processes else {
        if kill_one || lease_ms.is_some() {
            return Err(format!(
                "`--kill-one` and `--lease-ms` go with `--sweeper-processes`\n{USAGE}"
            ));
        }
        config.keys = keys.unwrap_or(config.keys);
        config.shards = shards.unwrap_or(config.shards);
        if stream_relay {
            return Ok(Mode::Stream(config));
        }
        return Ok(Mode::InProcess(config));
    };
    let defaults = ProcessesConfig::default();
    Ok(Mode::Processes(ProcessesConfig {
        commands: config.commands,
        keys: keys.unwrap_or(defaults.keys),
        shards: shards.unwrap_or(defaults.shards),
        processes,
        kill_one,
        lease_duration: lease_ms.map_or(defaults.lease_duration, Duration::from_millis),
        seed: config.seed,
        ..defaults
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(ChildArgs::FLAG) {
        return sweeper_child(&args[1..]).await;
    }
    if args.first().map(String::as_str) == Some(ConsumerChildArgs::FLAG) {
        return consumer_child(&args[1..]).await;
    }
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let config = match parse(&args) {
        Ok(Mode::InProcess(config)) => config,
        Ok(Mode::Processes(config)) => return run_processes(&config).await,
        Ok(Mode::Stream(config)) => return run_stream(&config).await,
        Ok(Mode::ConsumerSide(config)) => return run_consumer_side(&config).await,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "chaos: {} commands over {} keys, {} at a time; {} % of commands, {} % of sends fail, \
         {} % delivered then reported failed; {} sweepers, one killed; {}; seed {}{}",
        config.commands,
        config.keys,
        config.concurrency,
        config.command_fault_percent,
        config.send_fail_percent,
        config.send_then_fail_percent,
        config.sweepers,
        if config.restart_dynamodb {
            "DynamoDB Local killed and restarted twice (its own server, data on disk)"
        } else {
            "DynamoDB never stopped (the shared endpoint)"
        },
        config.seed,
        if config.clear_immediately {
            ""
        } else {
            "; the sweepers send everything"
        }
    );
    let report = chaos::run(&config).await;
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

/// Sweeper mode, started by `run_processes`.
async fn sweeper_child(args: &[String]) -> ExitCode {
    let args = match ChildArgs::parse(args) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    match processes::sweeper_child(dynamodb().await, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Consumer mode, started by `run_consumer_side`.
async fn consumer_child(args: &[String]) -> ExitCode {
    let args = match ConsumerChildArgs::parse(args) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    match consumer::consumer_child(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The consumer-side mode: a queue with duplicates drained by consumer processes that are
/// killed and restarted.
async fn run_consumer_side(config: &ConsumerChaosConfig) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("error: cannot find this binary to start the consumers: {err}");
            return ExitCode::FAILURE;
        }
    };
    // `target/<profile>/chaos`: the records go to `target/chaos/`.
    let Some(target) = exe.parent().and_then(std::path::Path::parent) else {
        eprintln!("error: {} is not inside a target folder", exe.display());
        return ExitCode::FAILURE;
    };
    let db = dynamodb().await;
    let moto = moto().await;
    eprintln!(
        "chaos: {} outbox messages in an SQS queue (moto), {} % sent twice; {} consumer \
         processes of {} in flight, {} killed with SIGKILL at random, each dying after about {} \
         Oks between the commit and the delete, restarted until the queue is empty; visibility \
         timeout {} s; seed {}",
        config.messages,
        config.duplicate_percent,
        config.consumers,
        config.concurrency,
        config.kills,
        config.die_every,
        config.visibility_timeout.as_secs(),
        config.seed
    );
    let report = chaos::run_consumer_side(&db, &moto, config, &exe, &target.join("chaos")).await;
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

/// The stream-relay mode: two relays on the outbox table's stream, one killed.
async fn run_stream(config: &ChaosConfig) -> ExitCode {
    eprintln!(
        "chaos: {} commands over {} keys, {} at a time, sent by two stream relays (StreamMode::\
         WithSweeper), the first killed between a send and its checkpoint; {} % of commands, {} % \
         of sends fail, {} % delivered then reported failed; the shared DynamoDB Local; seed {}",
        config.commands,
        config.keys,
        config.concurrency,
        config.command_fault_percent,
        config.send_fail_percent,
        config.send_then_fail_percent,
        config.seed
    );
    let report = chaos::run_stream(config).await;
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

async fn run_processes(config: &ProcessesConfig) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("error: cannot find this binary to start the sweepers: {err}");
            return ExitCode::FAILURE;
        }
    };
    // `target/<profile>/chaos`: the records go to `target/chaos/`.
    let Some(target) = exe.parent().and_then(std::path::Path::parent) else {
        eprintln!("error: {} is not inside a target folder", exe.display());
        return ExitCode::FAILURE;
    };
    let db = dynamodb().await;
    eprintln!(
        "chaos: {} commands over {} keys committed, nothing sent; {} sweeper processes over {} \
         shards, lease {} ms{}; seed {}",
        config.commands,
        config.keys,
        config.processes,
        config.shards,
        config.lease_duration.as_millis(),
        if config.kill_one {
            ", the first killed with SIGKILL mid-run"
        } else {
            ""
        },
        config.seed
    );
    let report = processes::run(&db, config, &exe, &target.join("chaos")).await;
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
