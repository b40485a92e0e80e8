//! Credentials never show in `Debug` or `Display` output or in log lines, and message bodies are
//! logged at `trace` only: checked on the public types and on everything a handler, a failed
//! send and a sweeper pass log, captured at every level.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::transport::{InMemoryProducer, SnsProducer, SqsProducer};
use outbox_runtime::{
    DynamoDb, Outbox, OutboxConfig, OutboxMessage, Postbox, RetryPolicy, Sweeper, SweeperConfig,
    Transaction, transactional_handler,
};
use outbox_tests::{DEFAULT_LOCAL_ENDPOINT, create_table, dynamodb, unique_name};
use serde::{Deserialize, Serialize};

/// Made-up credentials, distinctive enough to be found in any output.
const ACCESS_KEY: &str = "AKIAOUTBOXTESTACCESS";
const SECRET_KEY: &str = "outbox/test/SECRET+key/never-printed";
const SESSION_TOKEN: &str = "outbox-test-SESSION-token-never-printed";
/// Text only the message bodies hold.
const BODY_MARKER: &str = "BODY-MARKER-7f3a";

fn credentials() -> Credentials {
    Credentials::new(
        ACCESS_KEY,
        SECRET_KEY,
        Some(SESSION_TOKEN.to_owned()),
        None,
        "outbox-security-test",
    )
}

/// A DynamoDB client for the test endpoint signed with [`credentials`].
fn dynamodb_with_credentials() -> DynamoDb {
    let endpoint = std::env::var(outbox_tests::ENDPOINT_ENV)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_LOCAL_ENDPOINT.to_owned());
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .build();
    DynamoDb::from_client(aws_sdk_dynamodb::Client::from_conf(config))
}

fn assert_no_credentials(what: &str, text: &str) {
    for secret in [SECRET_KEY, SESSION_TOKEN, ACCESS_KEY] {
        assert!(
            !text.contains(secret),
            "{what} shows the credential `{secret}`:\n{text}"
        );
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "secret.kept")]
struct SecretKept {
    #[outbox(partition_key)]
    owner: String,
    payload: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Vault {
    #[serde(rename = "Owner")]
    owner: String,
}

#[derive(Debug)]
struct AppError(#[allow(dead_code)] outbox_runtime::Error);

impl From<outbox_runtime::Error> for AppError {
    fn from(err: outbox_runtime::Error) -> Self {
        Self(err)
    }
}

struct Service {
    postbox: Postbox,
    vaults: TableSchema,
}

impl Service {
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn keep(&self, tx: &mut Transaction, owner: String) -> Result<(), AppError> {
        tx.put(
            &self.vaults,
            &Vault {
                owner: owner.clone(),
            },
        )?;
        tx.deposit(&SecretKept {
            owner,
            payload: BODY_MARKER.to_owned(),
        })?;
        Ok(())
    }
}

#[tokio::test]
async fn debug_and_display_of_clients_outboxes_producers_and_errors_hide_credentials() {
    let db = dynamodb_with_credentials();
    assert_no_credentials("Debug of DynamoDb", &format!("{db:?}"));
    let outbox = Outbox::new(db.clone(), OutboxConfig::default()).unwrap();
    assert_no_credentials("Debug of Outbox", &format!("{outbox:?}"));
    let postbox = Postbox::new(outbox.clone(), InMemoryProducer::new());
    assert_no_credentials("Debug of Postbox", &format!("{postbox:?}"));
    assert_no_credentials(
        "Debug of Sweeper",
        &format!("{:?}", Sweeper::new(&postbox, SweeperConfig::default())),
    );
    assert_no_credentials(
        "Debug of Transaction",
        &format!("{:?}", Transaction::begin(&outbox)),
    );

    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials())
            .build(),
    );
    let sqs = SqsProducer::new(sqs).with_route("t", "https://sqs.example/123/q");
    assert_no_credentials("Debug of SqsProducer", &format!("{sqs:?}"));
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials())
            .build(),
    );
    let sns = SnsProducer::new(sns).with_route("t", "arn:aws:sns:us-east-1:123:t");
    assert_no_credentials("Debug of SnsProducer", &format!("{sns:?}"));

    // Errors: a missing table (a service error), and a dead endpoint (a transport error).
    let missing = Outbox::new(db, OutboxConfig::new(unique_name("never-created"))).unwrap();
    let _ = dynamodb().await; // fails with instructions when DynamoDB Local is not running
    let err = missing
        .get(&outbox_runtime::MessageId::new())
        .await
        .unwrap_err();
    assert_no_credentials("an error", &format!("{err} / {err:?}"));
    let dead = DynamoDb::from_client(aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url("http://127.0.0.1:9")
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials())
            .build(),
    ));
    let err = dead.check_reachable().await.unwrap_err();
    assert_no_credentials("an unreachable error", &format!("{err} / {err:?}"));
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        assert_no_credentials("an error's source", &format!("{cause} / {cause:?}"));
        source = cause.source();
    }
}

#[tokio::test]
async fn logs_at_every_level_hide_credentials_and_show_bodies_only_at_trace() {
    let setup = dynamodb().await;
    let config = OutboxConfig::new(unique_name("outbox")).with_shards(2);
    create_table(&setup, &config.table_schema()).await;
    let vaults = TableSchema::new(
        unique_name("vaults"),
        KeyAttribute::new("Owner", KeyKind::String),
    );
    create_table(&setup, &vaults).await;

    let captured = outbox_tests::logs::Captured::default();
    let subscriber = captured.subscriber();
    // This test runs on one thread, so every task it spawns logs to this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let outbox = Outbox::new(dynamodb_with_credentials(), config).unwrap();
    let producer = Arc::new(InMemoryProducer::new());
    let service = Service {
        postbox: Postbox::new(outbox.clone(), Arc::clone(&producer)).with_retry_policy(
            RetryPolicy::new()
                .with_max_attempts(3)
                .with_base_delay(Duration::from_millis(1))
                .with_max_delay(Duration::from_millis(1)),
        ),
        vaults,
    };
    // A commit and an immediate clear; a failed send (warned about); a sweeper pass that sends.
    service.keep("Tyrion".to_owned()).await.unwrap();
    producer.set_failing(true);
    service.keep("Jaime".to_owned()).await.unwrap();
    producer.set_failing(false);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut sweeper = Sweeper::new(
        &service.postbox,
        SweeperConfig::default()
            .with_min_age(Duration::ZERO)
            .with_owner("security"),
    );
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(report.sent.len(), 1, "{report:?}");
    sweeper.release().await.unwrap();
    assert_eq!(producer.sent().len(), 2);
    assert!(
        producer
            .sent()
            .iter()
            .all(|m| SecretKept::from_message(m).unwrap().payload == BODY_MARKER)
    );

    let lines = captured.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("send failed")),
        "the failed send was logged (the capture works): {} lines",
        lines.len()
    );
    for line in &lines {
        if line.contains(BODY_MARKER) {
            assert!(
                line.contains("TRACE"),
                "a message body logged above trace:\n{line}"
            );
        }
        // The secret key and the session token never show, at any level, in any crate's lines.
        for secret in [SECRET_KEY, SESSION_TOKEN] {
            assert!(!line.contains(secret), "a log line shows a secret:\n{line}");
        }
        // The access key id (an identifier, not a secret) shows only where the AWS SDK itself
        // traces the identity it signs with; never in this library's lines, never above trace.
        if line.contains(ACCESS_KEY) {
            assert!(
                line.contains(" TRACE ")
                    && (line.contains(" aws_smithy_runtime::") || line.contains(" aws_sigv4::")),
                "the access key id logged outside the SDK's own trace lines:\n{line}"
            );
        }
    }
    let ours: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains(" outbox_runtime::"))
        .collect();
    assert!(!ours.is_empty(), "the library's own lines were captured");
    for line in ours {
        assert_no_credentials("a log line of the library", line);
    }
}
