//! The path from the runtime to DynamoDB Local: client, reachability, errors.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::{DynamoDb, Error};
use outbox_tests::{create_table, dynamodb, unique_name};

#[tokio::test]
async fn transact_write_items_round_trip() {
    let db = dynamodb().await;
    let table = unique_name("roundtrip");
    create_table(
        &db,
        &TableSchema::new(&table, KeyAttribute::new("Id", KeyKind::String)),
    )
    .await;

    let put = |id: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&table)
                    .item("Id", AttributeValue::S(id.to_owned()))
                    .item("Payload", AttributeValue::B(vec![0, 159, 146, 150].into()))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    db.client()
        .transact_write_items()
        .transact_items(put("a"))
        .transact_items(put("b"))
        .send()
        .await
        .expect("TransactWriteItems against DynamoDB Local");

    for id in ["a", "b"] {
        let item = db
            .client()
            .get_item()
            .table_name(&table)
            .key("Id", AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("item {id} was not written"));
        assert_eq!(
            item["Payload"],
            AttributeValue::B(vec![0, 159, 146, 150].into())
        );
    }
}

#[tokio::test]
async fn a_dead_endpoint_is_named_in_the_error_without_hanging() {
    // Port 9 (discard) on loopback: nothing listens there.
    let db = DynamoDb::local("http://127.0.0.1:9");
    let result = tokio::time::timeout(Duration::from_secs(60), db.check_reachable())
        .await
        .expect("a dead endpoint must fail, not hang");
    let err = result.expect_err("nothing listens on port 9");
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("http://127.0.0.1:9"), "{message}");
    assert!(message.contains("start the local DynamoDB"), "{message}");
    assert!(
        !message.contains("xtask"),
        "a library names no repository tool: {message}"
    );
}

#[tokio::test]
async fn ensure_is_idempotent() {
    let db = dynamodb().await;
    let schema = outbox_runtime::OutboxConfig::new(unique_name("outbox")).table_schema();
    assert_eq!(
        schema.ensure(&db).await.unwrap(),
        outbox_runtime::table::EnsureOutcome::Created
    );
    assert_eq!(
        schema.ensure(&db).await.unwrap(),
        outbox_runtime::table::EnsureOutcome::AlreadyExisted
    );
    let ttl = db
        .client()
        .describe_time_to_live()
        .table_name(&schema.name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("ExpiresAt")
    );
}

#[tokio::test]
async fn ensure_names_every_difference_of_an_existing_table() {
    let db = dynamodb().await;
    let name = unique_name("outbox");
    // Same name, another key: what an old or foreign table would look like.
    create_table(
        &db,
        &TableSchema::new(&name, KeyAttribute::new("Id", KeyKind::Number)),
    )
    .await;

    let err = outbox_runtime::OutboxConfig::new(&name)
        .table_schema()
        .ensure(&db)
        .await
        .expect_err("the key schema differs");
    let message = err.to_string();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err:?}");
    assert!(message.contains(&name), "{message}");
    assert!(
        message.contains("expected hash MessageId (S), found hash Id (N)"),
        "{message}"
    );
    assert!(
        message.contains("index `Outstanding`: missing"),
        "{message}"
    );
}
