//! The greetings demo must keep working: this runs the real `greetings` and `sweeper` binaries
//! against DynamoDB Local and the local SQS, exactly as `cargo xtask demo` does.

use std::process::Command;

/// The endpoints the demo reads, with the defaults `cargo xtask ... start` uses.
const SERVICES: [(&str, &str, &str); 2] = [
    (
        "DYNAMODB_ENDPOINT",
        "http://127.0.0.1:8000",
        "cargo xtask dynamodb start",
    ),
    (
        "SQS_SNS_ENDPOINT",
        "http://127.0.0.1:5000",
        "cargo xtask moto start",
    ),
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
