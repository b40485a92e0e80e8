//! Shared support for the integration tests: reaching DynamoDB Local and making tables that no
//! other test touches.
//!
//! A test that cannot reach DynamoDB fails with a message saying how to start it; it never
//! passes by skipping.

pub mod bench;
pub mod chaos;
pub mod corpus;
pub mod inject;
pub mod logs;
pub mod moto;
pub mod paths;
pub mod restartable;

pub use logs::capture_logs;

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

/// Every record of `table`'s stream so far (its first shard: DynamoDB Local has one), as the
/// event a Lambda function gets from its event source mapping.
pub async fn lambda_stream_event(
    streams: &outbox_runtime::stream::DynamoDbStreams,
    table: &str,
) -> outbox_runtime::lambda::aws_lambda_events::event::dynamodb::Event {
    let client = streams.client();
    let list = client
        .list_streams()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let arn = list.streams()[0].stream_arn().unwrap().to_owned();
    let described = client
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap();
    let shard = described.stream_description().unwrap().shards()[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let mut iterator = client
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let mut records = Vec::new();
    loop {
        let output = client
            .get_records()
            .shard_iterator(&iterator)
            .send()
            .await
            .unwrap();
        if output.records().is_empty() {
            break;
        }
        records.extend_from_slice(output.records());
        match output.next_shard_iterator() {
            Some(next) => iterator = next.to_owned(),
            None => break,
        }
    }
    outbox_runtime::lambda::stream_event(&arn, "us-east-1", &records)
}

/// The event Lambda's SQS event source mapping hands a function, made of messages as SQS
/// delivered them (attributes and message attributes included).
///
/// # Panics
/// Never for messages SQS returned.
pub fn lambda_sqs_event(
    queue_arn: &str,
    received: &[aws_sdk_sqs::types::Message],
) -> outbox_runtime::lambda::aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<serde_json::Value> = received
        .iter()
        .map(|message| {
            let attributes: serde_json::Map<String, serde_json::Value> = message
                .attributes()
                .into_iter()
                .flatten()
                .map(|(name, value)| (name.as_str().to_owned(), value.clone().into()))
                .collect();
            let message_attributes: serde_json::Map<String, serde_json::Value> = message
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(name, value)| {
                    (
                        name.clone(),
                        serde_json::json!({
                            "stringValue": value.string_value(),
                            "dataType": value.data_type(),
                        }),
                    )
                })
                .collect();
            serde_json::json!({
                "messageId": message.message_id(),
                "receiptHandle": message.receipt_handle(),
                "body": message.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("an SQS event")
}
