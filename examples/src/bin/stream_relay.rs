//! The stream relay as a process of its own: reads the outbox table's DynamoDB Stream and sends
//! each new message. Run several: they split the stream's shards through leases in the relay's
//! state table.
//!
//! ```text
//! stream_relay [--route TOPIC=QUEUE_URL]...
//! ```
//!
//! Settings, from the environment: `OUTBOX_TABLE`, `OUTBOX_STREAM_MODE`, `OUTBOX_ROUTES` (see
//! `outbox_examples::relay`); `AWS_ENDPOINT_URL_DYNAMODB` and
//! `AWS_ENDPOINT_URL_DYNAMODB_STREAMS` to point elsewhere. It runs until Ctrl-C or SIGTERM,
//! then gives back its shard leases.

use std::process::ExitCode;

use outbox_examples::relay;
use outbox_runtime::stream::{DynamoDbStreams, StreamRelay, StreamRelayConfig};
use outbox_runtime::{DynamoDb, Outbox, Postbox};

type Failure = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stream_relay: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Failure> {
    let mut routes = relay::routes_from_env()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--route" => {
                let value = args.next().ok_or("--route needs TOPIC=QUEUE_URL")?;
                let (topic, url) = value
                    .split_once('=')
                    .ok_or_else(|| format!("--route {value}: expected TOPIC=QUEUE_URL"))?;
                routes.push((topic.to_owned(), url.to_owned()));
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: stream_relay [--route TOPIC=QUEUE_URL]..."
                )
                .into());
            }
        }
    }
    let outbox = Outbox::new(DynamoDb::from_env().await, relay::outbox_config_from_env()?)?;
    let postbox = Postbox::new(outbox, relay::producer(&routes).await);
    let relay = StreamRelay::new(
        &postbox,
        DynamoDbStreams::from_env().await,
        StreamRelayConfig::default(),
    )?;
    relay.ensure_state_table().await?;
    println!(
        "stream_relay {}: relaying the stream of `{}`",
        relay.owner(),
        postbox.outbox().config().table_name
    );
    relay
        .run(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        })
        .await?;
    Ok(())
}
