//! The greetings demo must keep working: this runs the real `greetings` and `sweeper` binaries
//! against DynamoDB Local and the local SQS, exactly as `cargo xtask demo` does.

use std::process::Command;

/// The endpoints the demo reads, with the defaults `cargo xtask ... start` uses.
const SERVICES: [(&str, &str, &str); 2] = [
    (
        "AWS_ENDPOINT_URL_DYNAMODB",
        "http://127.0.0.1:8000",
        "cargo xtask dynamodb start",
    ),
    (
        "AWS_ENDPOINT_URL_SQS",
        "http://127.0.0.1:5000",
        "cargo xtask moto start",
    ),
];

/// What the demo's clients (made from the standard AWS chain) need besides the endpoints, for
/// local servers, when the environment does not say.
const LOCAL_DEFAULTS: [(&str, &str); 3] = [
    ("AWS_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "local"),
    ("AWS_SECRET_ACCESS_KEY", "local"),
];

#[test]
fn the_greetings_demo_verifies_every_step() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_greetings"));
    for (variable, default, start) in SERVICES {
        let endpoint = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
        let address = endpoint.trim_start_matches("http://");
        assert!(
            std::net::TcpStream::connect(address).is_ok(),
            "the demo needs a server at {endpoint} ({variable}); run the whole suite with \
             `cargo xtask test`, or start one with `{start}` and `cargo xtask provision`"
        );
        command.env(variable, endpoint);
    }
    for (variable, local) in LOCAL_DEFAULTS {
        if std::env::var_os(variable).is_none() {
            command.env(variable, local);
        }
    }
    let output = command.output().expect("the greetings binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for step in [
        "ok: the consumer received exactly that GreetingMade",
        "ok: no message was left in the outbox",
        "ok: the process died between commit and send",
        "ok: the consumer received Cersei's greeting",
        "ok: Arya holds exactly the 32 greetings, none lost",
        "ok: the consumer received 32 GreetingMade for Arya, one per greeting",
        "every step verified against the tables and the queue",
    ] {
        assert!(stdout.contains(step), "missing `{step}` in:\n{stdout}");
    }
}
