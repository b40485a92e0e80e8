//! The stream relay as an AWS Lambda function: the function of an event source mapping on the
//! outbox table's DynamoDB Stream. Build it for Lambda's `provided.al2023` runtime (for example
//! with cargo-lambda: `cargo lambda build --release --bin stream_relay_lambda`) and deploy it as
//! the guide of `outbox-runtime` says (`outbox_runtime::guide::relays`, "On AWS Lambda").
//!
//! Settings, from the environment: `OUTBOX_TABLE` (default `StreamOutbox`),
//! `OUTBOX_STREAM_MODE` (`with-sweeper`, the default, or `stream-only`), `OUTBOX_ROUTES`
//! (`topic=queue-url` pairs, comma separated); region and credentials from the function's role.

use outbox_examples::relay;
use outbox_runtime::lambda::{StreamHandler, lambda_runtime};
use outbox_runtime::{DynamoDb, MarkMode, Outbox, Postbox};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::info!("stream relay function starting");
    let config = relay::outbox_config_from_env()?;
    let outbox = Outbox::new(DynamoDb::from_env().await, config)?;
    let producer = relay::producer(&relay::routes_from_env()?).await;
    // Nothing may run between invocations: marks complete before each returns.
    let postbox = Postbox::new(outbox, producer).with_mark_mode(MarkMode::Inline);
    let handler = StreamHandler::new(&postbox)?;
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| handler.call(event))).await
}
