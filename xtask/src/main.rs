//! Project automation, run as `cargo xtask <command>`: the local DynamoDB and SQS/SNS servers,
//! table provisioning, the test suite and the demo. Every command is built from argument lists, never shell strings.

mod bench;
mod chaos;
mod demo;
mod dynamodb_local;
mod iam_policy;
mod local_server;
mod moto;
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
                                phantom and duplicate messages; non-zero exit if any is broken
  demo                          run the greetings demo against a local DynamoDB
  test                          start local services, provision tables, run every test, stop
  provision                     create every table the tests and the demo need (idempotent)
  iam-policy [--account ID ...] print the least-privilege IAM policy (`iam-policy --help`)
  dynamodb start [--port N]     start DynamoDB Local on a loopback port (reused if running)
  dynamodb stop                 stop the DynamoDB Local that `start` started
  dynamodb status               say what is running where
  moto start [--port N]         start the local SQS and SNS server (moto, installed once into
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
    let outcome = match args.as_slice() {
        ["bench", rest @ ..] => bench::run(rest),
        ["chaos", rest @ ..] => chaos::run(rest),
        ["demo"] => demo::run(),
        ["test", rest @ ..] => suite::run(rest),
        ["provision"] => provision::run().map(|()| ExitCode::SUCCESS),
        ["iam-policy", rest @ ..] => iam_policy::run(rest),
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
