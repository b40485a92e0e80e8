//! A sweep pass per scheduled invocation, as an AWS Lambda function: for services that keep the
//! index sweeper (on its own, or as the stream relay's safety net) and run on Lambda, where no
//! background sweeper can live. Schedule it with an EventBridge rule or EventBridge Scheduler
//! (every minute, say); any payload is accepted. Build it like `stream_relay_lambda`.
//!
//! Settings, from the environment: `OUTBOX_TABLE`, `OUTBOX_STREAM_MODE`, `OUTBOX_ROUTES` (see
//! `stream_relay_lambda`).

use std::time::Duration;

use outbox_examples::relay;
use outbox_runtime::lambda::{ScheduledSweep, lambda_runtime};
use outbox_runtime::{DynamoDb, Outbox, Postbox, SweeperConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = relay::outbox_config_from_env()?;
    let outbox = Outbox::new(DynamoDb::from_env().await, config)?;
    let producer = relay::producer(&relay::routes_from_env()?).await;
    let postbox = Postbox::new(outbox, producer);
    // Leave the last minute to the stream relay: the sweeper sends only what it missed.
    let sweep = ScheduledSweep::new(
        &postbox,
        SweeperConfig::default().with_min_age(Duration::from_secs(60)),
    );
    let sweep = &sweep;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| sweep.call(event))).await
}
