//! Shared support for the integration tests: reaching DynamoDB Local and making tables that no
//! other test touches.
//!
//! A test that cannot reach DynamoDB fails with a message saying how to start it; it never
//! passes by skipping.

pub mod bench;
pub mod chaos;
pub mod inject;
pub mod moto;
pub mod restartable;

use outbox_runtime::table::TableSchema;
use outbox_runtime::{DynamoDb, OutboxConfig};

/// The variable every AWS SDK reads for a DynamoDB endpoint, and that `cargo xtask` sets for the
/// servers it starts.
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_DYNAMODB";

/// The variable the AWS SDKs read for an SQS endpoint (moto serves SNS on the same one).
pub const SQS_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_SQS";

/// Where tests look when `AWS_ENDPOINT_URL_DYNAMODB` is not set: the port `cargo xtask dynamodb start`
/// uses by default.
pub const DEFAULT_LOCAL_ENDPOINT: &str = "http://127.0.0.1:8000";

/// A client for the test endpoint, proven to answer.
///
/// # Panics
/// When nothing answers, with the endpoint and the commands that start DynamoDB Local.
pub async fn dynamodb() -> DynamoDb {
    let endpoint = std::env::var(ENDPOINT_ENV)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_LOCAL_ENDPOINT.to_owned());
    let db = DynamoDb::local(&endpoint);
    if let Err(err) = db.check_reachable().await {
        panic!(
            "these tests need DynamoDB Local and none answers at {endpoint} \
             ({ENDPOINT_ENV} {}).\n{err}\n\nRun the whole suite with `cargo xtask test`, or start \
             a server with `cargo xtask dynamodb start` and export the {ENDPOINT_ENV} it prints.",
            if std::env::var_os(ENDPOINT_ENV).is_some() {
                "is set"
            } else {
                "is not set"
            }
        );
    }
    db
}

/// The variable the AWS SDKs read for a DynamoDB Streams endpoint; DynamoDB Local serves the
/// streams API on its own port, so it defaults to the DynamoDB endpoint.
pub const STREAMS_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_DYNAMODB_STREAMS";

/// A DynamoDB Streams client for the test endpoint (`AWS_ENDPOINT_URL_DYNAMODB_STREAMS`, else the
/// DynamoDB endpoint: DynamoDB Local serves both), after proving DynamoDB answers.
///
/// # Panics
/// When nothing answers, as [`dynamodb`] does.
pub async fn dynamodb_streams() -> outbox_runtime::stream::DynamoDbStreams {
    let db = dynamodb().await;
    let endpoint = std::env::var(STREAMS_ENDPOINT_ENV)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| db.endpoint().to_owned());
    outbox_runtime::stream::DynamoDbStreams::local(endpoint)
}

/// A table name no other test uses: `prefix-<uuid>`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Creates a table from `schema` and waits until it is ready.
///
/// # Panics
/// When the table cannot be created.
pub async fn create_table(db: &DynamoDb, schema: &TableSchema) {
    schema
        .ensure(db)
        .await
        .unwrap_or_else(|err| panic!("creating test table `{}`: {err}", schema.name));
}

/// An outbox of its own for one test (a fresh table, default settings).
pub async fn fresh_outbox(db: &DynamoDb) -> OutboxConfig {
    let config = OutboxConfig::new(unique_name("outbox"));
    create_table(db, &config.table_schema()).await;
    config
}
