//! The stream relay's examples: the outbox they relay (a table of its own, with its DynamoDB
//! Stream), the relay's state table, and the settings the example binaries read from the
//! environment (`stream_relay`, self-hosted; `stream_relay_lambda` and `sweep_lambda`, on AWS
//! Lambda). `cargo xtask provision` creates both tables locally.

use std::time::Duration;

use outbox_runtime::OutboxConfig;
use outbox_runtime::StreamMode;
use outbox_runtime::stream::StreamRelayConfig;
use outbox_runtime::table::TableSchema;
use outbox_runtime::transport::{SqsProducer, sqs};

/// The example relay's outbox table.
pub const RELAY_OUTBOX_TABLE: &str = "StreamOutbox";

/// `OUTBOX_TABLE`: the outbox table (default [`RELAY_OUTBOX_TABLE`]).
pub const TABLE_ENV: &str = "OUTBOX_TABLE";
/// `OUTBOX_STREAM_MODE`: `with-sweeper` (the default) or `stream-only`.
pub const MODE_ENV: &str = "OUTBOX_STREAM_MODE";
/// `OUTBOX_ROUTES`: `topic=queue-url` pairs, comma separated.
pub const ROUTES_ENV: &str = "OUTBOX_ROUTES";

/// The example outbox with its stream, in the configuration with the sweeper as safety net.
///
/// ```
/// let config = outbox_examples::relay::outbox_config();
/// assert!(config.table_schema().stream.is_some());
/// ```
pub fn outbox_config() -> OutboxConfig {
    OutboxConfig::new(RELAY_OUTBOX_TABLE).with_stream(StreamMode::WithSweeper)
}

/// The example relay's state table.
pub fn state_table_schema() -> TableSchema {
    StreamRelayConfig::default().state_table_schema(&outbox_config())
}

/// The outbox the binaries relay: [`TABLE_ENV`] and [`MODE_ENV`] over [`outbox_config`].
///
/// # Errors
/// A line naming the variable and the values it takes.
pub fn outbox_config_from_env() -> Result<OutboxConfig, String> {
    let table = std::env::var(TABLE_ENV).unwrap_or_else(|_| RELAY_OUTBOX_TABLE.to_owned());
    let mode = match std::env::var(MODE_ENV).as_deref() {
        Err(_) | Ok("with-sweeper") => StreamMode::WithSweeper,
        // Three days: well past the stream's 24 hours and the sweeper's retries.
        Ok("stream-only") => StreamMode::stream_only(Duration::from_secs(3 * 24 * 3600)),
        Ok(other) => {
            return Err(format!(
                "{MODE_ENV}={other}: expected `with-sweeper` or `stream-only`"
            ));
        }
    };
    Ok(OutboxConfig::new(table).with_stream(mode))
}

/// The routes in [`ROUTES_ENV`], as `(topic, queue URL)`.
///
/// # Errors
/// A line naming the entry that is not `topic=url`.
pub fn routes_from_env() -> Result<Vec<(String, String)>, String> {
    let Ok(routes) = std::env::var(ROUTES_ENV) else {
        return Ok(Vec::new());
    };
    routes
        .split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            entry
                .trim()
                .split_once('=')
                .map(|(topic, url)| (topic.to_owned(), url.to_owned()))
                .ok_or_else(|| format!("{ROUTES_ENV}: `{entry}` is not `topic=queue-url`"))
        })
        .collect()
}

/// An SQS producer from the standard AWS chain with `routes`.
pub async fn producer(routes: &[(String, String)]) -> SqsProducer {
    routes.iter().fold(
        SqsProducer::new(sqs::client_from_env().await),
        |producer, (topic, url)| producer.with_route(topic, url),
    )
}
