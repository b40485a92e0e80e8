//! Project automation, run as `cargo xtask <command>`: the local DynamoDB and SQS/SNS servers,
//! table provisioning, the test suite and the demo. Every command is built from argument lists, never shell strings.

mod bench;
mod chaos;
mod demo;
mod dynamodb_local;
mod iam_policy;
mod local_server;
mod moto;
mod mutants;
mod paths;
mod provision;
mod services;
mod suite;

use std::process::ExitCode;

use dynamodb_local::DynamoDbLocal;
use local_server::LocalServer;
use moto::Moto;

/// Errors are shown to a person: each says what failed and what to do next.
type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  bench [--quick] [--skip-codec] run the benchmarks against DynamoDB Local; figures in
                                target/bench/latest.json (`bench --help` for every flag)
  chaos [--commands N] [...]    fault-injection run (default 1,000 commands): figures of lost,
                                phantom and duplicate messages; non-zero exit if any is broken;
                                `--stream-relay`, `--consumer-side` for the other modes
                                (`chaos --help` for every flag)
  demo                          run the greetings demo against a local DynamoDB
  test                          start local services, provision tables, run every test, stop
  provision                     create every table the tests and the demo need (idempotent)
  iam-policy [--account ID ...] print the least-privilege IAM policy (`iam-policy --help`)
  mutants [MODULE ...]          the mutation audit of the runtime (hours; not in CI):
                                faults no test notices, in results/mutants/ (`mutants --help`)
  dynamodb start [--port N]     start DynamoDB Local on a loopback port (reused if running)
  dynamodb stop                 stop the DynamoDB Local that `start` started
  dynamodb status               say what is running where
  moto start [--port N]         start the local SQS, SNS and S3 server (moto, installed once into
                                target/moto/venv) on a loopback port (reused if running)
  moto stop                     stop the moto server that `start` started
  moto status                   say what is running where

environment:
  AWS_ENDPOINT_URL_DYNAMODB     use this DynamoDB endpoint and start nothing (a container,
                                a remote emulator, a real region)
  AWS_ENDPOINT_URL_SQS          use this SQS endpoint (and AWS_ENDPOINT_URL_SNS, or the same
                                for SNS) and start no moto";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let help = |usage: &str| {
        println!("{usage}");
        Ok(ExitCode::SUCCESS)
    };
    let asks_help = |rest: &[&str]| {
        rest.iter()
            .any(|arg| matches!(*arg, "--help" | "-h" | "help"))
    };
    let outcome = match args.as_slice() {
        ["demo", rest @ ..] if asks_help(rest) => help(DEMO_USAGE),
        ["test", rest @ ..] if asks_help(rest) => help(TEST_USAGE),
        ["provision", rest @ ..] if asks_help(rest) => help(PROVISION_USAGE),
        [server @ ("dynamodb" | "moto"), rest @ ..] if asks_help(rest) => {
            help(&server_usage(server))
        }
        [server @ ("dynamodb" | "moto")] => {
            Err(format!("`{server}` needs a subcommand\n\n{}", server_usage(server)).into())
        }
        ["bench", rest @ ..] => bench::run(rest),
        ["chaos", rest @ ..] => chaos::run(rest),
        ["demo"] => demo::run(),
        ["test", rest @ ..] => suite::run(rest),
        ["provision"] => provision::run().map(|()| ExitCode::SUCCESS),
        ["iam-policy", rest @ ..] => iam_policy::run(rest),
        ["mutants", rest @ ..] => mutants::run(rest),
        ["dynamodb", rest @ ..] => server_command::<DynamoDbLocal>(rest, &args),
        ["moto", rest @ ..] => server_command::<Moto>(rest, &args),
        [] | ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(format!("unknown command `{}`\n\n{USAGE}", args.join(" ")).into()),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

const DEMO_USAGE: &str = "\
usage: cargo xtask demo

Builds the greetings example and its sweeper, starts DynamoDB Local and moto (or uses the
endpoints in AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS), provisions the tables, runs
the demo, which verifies every step against the tables and the queue, and stops what it
started.";

const TEST_USAGE: &str = "\
usage: cargo xtask test [arguments of cargo nextest run]

Starts DynamoDB Local and moto (or uses the endpoints in AWS_ENDPOINT_URL_DYNAMODB and
AWS_ENDPOINT_URL_SQS), provisions the tables, runs `cargo nextest run --workspace` (every
test in a process of its own; a test still running after 5 minutes is killed and fails), then
`cargo test --workspace --doc`, and stops what it started. Given arguments (a test name filter,
`--no-capture`) go to nextest, and the doc tests are left out. Needs cargo-nextest
(`cargo install cargo-nextest --locked`).";

const PROVISION_USAGE: &str = "\
usage: cargo xtask provision

Creates every table the tests and the demo need on the DynamoDB in AWS_ENDPOINT_URL_DYNAMODB, or
on the DynamoDB Local `cargo xtask dynamodb start` started. Idempotent; a table of the same name
with another schema is an error naming every difference.";

fn server_usage(server: &str) -> String {
    let what = if server == "dynamodb" {
        "DynamoDB Local (fetched once into target/dynamodb-local), in memory"
    } else {
        "moto, SQS, SNS and S3 on one port (installed once into target/moto/venv)"
    };
    format!(
        "usage: cargo xtask {server} start [--port N] | stop | status\n\n\
         start    start {what} on 127.0.0.1 (the default port, or a free one), or reuse it\n\
         stop     stop the server `start` started, and nothing else\n\
         status   say what is running where"
    )
}

/// `start [--port N] | stop | status` of a local server.
fn server_command<S: LocalServer>(rest: &[&str], args: &[&str]) -> Result<ExitCode> {
    match rest {
        ["start"] => S::start_command(None),
        ["start", "--port", port] => match port.parse() {
            Ok(port) => S::start_command(Some(port)),
            Err(_) => Err(format!("`--port {port}` is not a port number (1-65535)").into()),
        },
        ["stop"] => S::stop_command(),
        ["status"] => S::status_command(),
        _ => Err(format!("unknown command `{}`\n\n{USAGE}", args.join(" ")).into()),
    }
}

/// A current-thread runtime for the few async SDK calls xtask makes.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime builds")
        .block_on(future)
}
