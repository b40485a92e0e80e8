//! The unit of work against DynamoDB Local: commit, rollback, cancellation and limits.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::error::CancellationCode;
use outbox_runtime::limits::{LimitError, MAX_ACTIONS, MAX_ITEM_BYTES};
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::{
    DynamoDb, Error, Expr, Message, MessageId, Outbox, OutboxConfig, Transaction,
};
use outbox_tests::{create_table, dynamodb, fresh_outbox, unique_name};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Person {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Greetings")]
    greetings: Vec<String>,
}

struct Fixture {
    outbox: Outbox,
    people: TableSchema,
}

async fn fixture() -> Fixture {
    let db = dynamodb().await;
    let config = fresh_outbox(&db).await;
    let people = TableSchema::new(
        unique_name("people"),
        KeyAttribute::new("Name", KeyKind::String),
    );
    create_table(&db, &people).await;
    Fixture {
        outbox: Outbox::new(db, config).unwrap(),
        people,
    }
}

fn name_key(name: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("Name".to_owned(), AttributeValue::S(name.to_owned()))])
}

impl Fixture {
    async fn person(&self, name: &str) -> Option<Person> {
        let item = self
            .outbox
            .db()
            .client()
            .get_item()
            .table_name(&self.people.name)
            .set_key(Some(name_key(name)))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item?;
        Some(serde_dynamo::from_item(item).unwrap())
    }

    async fn outstanding(&self) -> usize {
        self.outbox.outstanding_count(1000).await.unwrap().count
    }
}

fn tyrion() -> Person {
    Person {
        name: "Tyrion".into(),
        greetings: vec!["Hello".into()],
    }
}

#[tokio::test]
async fn commit_stores_the_entity_and_the_message_together() {
    let f = fixture().await;
    let mut tx = Transaction::begin(&f.outbox);
    assert!(tx.is_empty() && tx.messages().is_empty());
    tx.put(&f.people, &tyrion()).unwrap();
    assert!(!tx.is_empty() && tx.messages().is_empty());
    let id = tx
        .deposit_message(Message::new(
            "greeting.made",
            b"{\"name\":\"Tyrion\"}".to_vec(),
        ))
        .unwrap();
    assert_eq!(tx.len(), 2, "the put and the deposit");
    let deposited: Vec<&MessageId> = tx.messages().iter().map(Message::id).collect();
    assert_eq!(
        deposited,
        [&id],
        "the deposit is kept to be sent after the commit"
    );
    let committed = tx.commit().await.unwrap();

    assert_eq!(committed.messages.len(), 1);
    assert_eq!(committed.messages[0].id(), &id);
    assert_eq!(f.person("Tyrion").await, Some(tyrion()));
    let stored = f.outbox.get(&id).await.unwrap().expect("message stored");
    assert_eq!(stored.message, committed.messages[0]);
}

#[tokio::test]
async fn rollback_and_drop_store_nothing() {
    let f = fixture().await;
    let mut tx = Transaction::begin(&f.outbox);
    tx.put(&f.people, &tyrion()).unwrap();
    tx.deposit_message(Message::new("greeting.made", b"{}".to_vec()))
        .unwrap();
    tx.rollback();

    {
        let mut tx = Transaction::begin(&f.outbox);
        tx.put(&f.people, &tyrion()).unwrap();
        tx.deposit_message(Message::new("greeting.made", b"{}".to_vec()))
            .unwrap();
        // Dropped while open.
    }
    assert_eq!(f.person("Tyrion").await, None);
    assert_eq!(f.outstanding().await, 0);
}

#[tokio::test]
async fn a_failing_condition_on_the_entity_cancels_the_message_and_is_named() {
    let f = fixture().await;
    let mut tx = Transaction::begin(&f.outbox);
    tx.update(
        &f.people,
        name_key("Nobody"),
        Expr::new("SET #g = :g")
            .name("#g", "Greetings")
            .value(":g", AttributeValue::L(vec![])),
        Some(Expr::new("attribute_exists(#n)").name("#n", "Name")),
    )
    .unwrap();
    tx.deposit_message(Message::new("greeting.made", b"{}".to_vec()))
        .unwrap();
    let err = tx.commit().await.unwrap_err();

    let Error::TransactionCancelled { reasons } = &err else {
        panic!("expected a cancellation, got {err:?}");
    };
    assert_eq!(reasons.len(), 2, "one reason per action");
    assert_eq!(reasons[0].code, CancellationCode::ConditionalCheckFailed);
    assert_eq!(reasons[0].table, f.people.name);
    assert_eq!(reasons[0].key.as_deref(), Some("Name=\"Nobody\""));
    assert_eq!(reasons[1].code, CancellationCode::None);
    let text = err.to_string();
    assert!(
        text.contains("action 1 (update to table") && text.contains("ConditionalCheckFailed"),
        "{text}"
    );
    assert!(!err.is_conflict());
    assert_eq!(f.outstanding().await, 0, "the message was cancelled too");
    assert_eq!(f.person("Nobody").await, None);
}

#[tokio::test]
async fn a_deposit_of_an_existing_id_is_a_duplicate_and_writes_nothing() {
    let f = fixture().await;
    let first = Message::new("t", b"first".to_vec());
    f.outbox.store(&first).await.unwrap();

    let mut tx = Transaction::begin(&f.outbox);
    tx.put(&f.people, &tyrion()).unwrap();
    tx.deposit_message(Message::new("t", b"second".to_vec()).with_id(first.id().clone()))
        .unwrap();
    let err = tx.commit().await.unwrap_err();
    assert!(matches!(err, Error::DuplicateMessage { .. }), "{err:?}");
    assert_eq!(f.person("Tyrion").await, None);
    assert_eq!(
        f.outbox.get(first.id()).await.unwrap().unwrap().message,
        first
    );
}

#[tokio::test]
async fn an_empty_transaction_commits_without_a_request() {
    // Nothing listens on port 9: any request would fail.
    let dead = DynamoDb::local("http://127.0.0.1:9");
    let outbox = Outbox::new(dead, OutboxConfig::default()).unwrap();
    let committed = Transaction::begin(&outbox).commit().await.unwrap();
    assert!(committed.messages.is_empty());
}

#[tokio::test]
async fn one_hundred_actions_commit_and_the_hundred_and_first_is_refused() {
    let f = fixture().await;
    let mut tx = Transaction::begin(&f.outbox);
    for n in 0..MAX_ACTIONS - 1 {
        tx.put(
            &f.people,
            &Person {
                name: format!("p{n}"),
                greetings: vec![],
            },
        )
        .unwrap();
    }
    tx.deposit_message(Message::new("t", b"{}".to_vec()))
        .unwrap();
    assert_eq!(tx.len(), MAX_ACTIONS);
    let err = tx
        .put(
            &f.people,
            &Person {
                name: "one-too-many".into(),
                greetings: vec![],
            },
        )
        .unwrap_err();
    match &err {
        Error::Limit(LimitError::TooManyActions {
            limit,
            count,
            action,
        }) => {
            assert_eq!((*limit, *count), (100, 101));
            assert!(action.contains("one-too-many"), "{action}");
        }
        other => panic!("expected TooManyActions, got {other:?}"),
    }
    // The refused action left the transaction as it was: the 100 still commit.
    tx.commit().await.unwrap();
    assert!(f.person("p98").await.is_some());
    assert_eq!(f.outstanding().await, 1);
}

/// A person whose item is `size` bytes by DynamoDB's rules.
fn person_of_size(name: &str, size: usize) -> HashMap<String, AttributeValue> {
    let fixed = "Name".len() + name.len() + "Pad".len();
    HashMap::from([
        ("Name".to_owned(), AttributeValue::S(name.to_owned())),
        (
            "Pad".to_owned(),
            AttributeValue::S("x".repeat(size - fixed)),
        ),
    ])
}

#[tokio::test]
async fn the_item_size_limit_at_its_edge_and_one_past() {
    let f = fixture().await;
    let mut tx = Transaction::begin(&f.outbox);
    tx.put_item(&f.people, person_of_size("edge", MAX_ITEM_BYTES), None)
        .expect("exactly 400 KB is allowed");
    tx.commit()
        .await
        .expect("DynamoDB Local accepts a 400 KB item");

    let mut tx = Transaction::begin(&f.outbox);
    let err = tx
        .put_item(&f.people, person_of_size("over", MAX_ITEM_BYTES + 1), None)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::Limit(LimitError::ItemTooLarge { size, .. }) if size == MAX_ITEM_BYTES + 1)
    );
    assert!(
        text.contains("Name=\"over\"") && text.contains("409601 bytes"),
        "{text}"
    );
    assert!(tx.is_empty());

    let big = Message::new("t", vec![0; MAX_ITEM_BYTES]);
    let err = tx.deposit_message(big).unwrap_err();
    assert!(err.to_string().contains("deposit to table"), "{err}");
}

#[tokio::test]
async fn the_request_size_limit_at_its_edge_and_one_past() {
    let f = fixture().await;
    let mut tx = Transaction::begin(&f.outbox);
    // Ten items of 400 KB and one of 96 KB: exactly 4 MB.
    for n in 0..10 {
        tx.put_item(
            &f.people,
            person_of_size(&format!("big{n}"), MAX_ITEM_BYTES),
            None,
        )
        .unwrap();
    }
    tx.put_item(&f.people, person_of_size("rest", 96 * 1024), None)
        .expect("exactly 4 MB is allowed");
    let err = tx
        .put_item(&f.people, person_of_size("last", 100), None)
        .unwrap_err();
    assert!(
        matches!(err, Error::Limit(LimitError::RequestTooLarge { size, .. }) if size == 4 * 1024 * 1024 + 100),
        "{err:?}"
    );
    assert!(err.to_string().contains("Name=\"last\""), "{err}");
    assert_eq!(tx.len(), 11);
}

#[tokio::test]
async fn conditions_and_update_expressions_count_toward_the_request_size() {
    let f = fixture().await;
    let mut tx = Transaction::begin(&f.outbox);
    // Ten items of 400 KB leave 98,304 bytes of the 4 MB.
    for n in 0..10 {
        tx.put_item(
            &f.people,
            person_of_size(&format!("big{n}"), MAX_ITEM_BYTES),
            None,
        )
        .unwrap();
    }
    let left = 4 * 1024 * 1024 - 10 * MAX_ITEM_BYTES;
    // A small item whose condition carries nearly all of what is left: text (10 bytes), the name
    // placeholder and its attribute (2 + 4), the value placeholder and its value (4 + n).
    let condition = |n: usize| {
        Expr::new("#n <> :big")
            .name("#n", "Name")
            .value(":big", AttributeValue::S("x".repeat(n)))
    };
    let err = tx
        .put_item(
            &f.people,
            person_of_size("conditioned", 100),
            Some(condition(left)),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Limit(LimitError::RequestTooLarge { size, .. }) if size == 4 * 1024 * 1024 + 100 + 10 + 6 + 4),
        "{err:?}"
    );
    tx.put_item(
        &f.people,
        person_of_size("conditioned", 100),
        Some(condition(left - 100 - 10 - 6 - 4)),
    )
    .expect("exactly 4 MB with the condition is allowed");

    // An update counts its key, its expression and its condition.
    let mut tx = Transaction::begin(&f.outbox);
    for n in 0..10 {
        tx.put_item(
            &f.people,
            person_of_size(&format!("big{n}"), MAX_ITEM_BYTES),
            None,
        )
        .unwrap();
    }
    let update = Expr::new("SET #p = :p")
        .name("#p", "Pad")
        .value(":p", AttributeValue::S("x".repeat(left)));
    // The condition: its text (24 bytes) and its name placeholder and attribute (2 + 1).
    let condition = Expr::new("attribute_not_exists(#q)").name("#q", "Q");
    let err = tx
        .update(&f.people, "upd", update, Some(condition))
        .unwrap_err();
    assert!(
        matches!(err, Error::Limit(LimitError::RequestTooLarge { size, .. }) if size == 4 * 1024 * 1024 + (4 + 3) + 11 + (2 + 3) + 2 + 24 + (2 + 1)),
        "{err:?}"
    );

    // A delete counts its key and its condition: 34 bytes where 33 are left.
    let mut tx = Transaction::begin(&f.outbox);
    for n in 0..10 {
        tx.put_item(
            &f.people,
            person_of_size(&format!("big{n}"), MAX_ITEM_BYTES),
            None,
        )
        .unwrap();
    }
    tx.put_item(&f.people, person_of_size("filler", left - 33), None)
        .unwrap();
    let condition = Expr::new("attribute_not_exists(#q)").name("#q", "Q");
    let err = tx.delete(&f.people, "del", Some(condition)).unwrap_err();
    assert!(
        matches!(err, Error::Limit(LimitError::RequestTooLarge { size, .. }) if size == 4 * 1024 * 1024 + 1),
        "{err:?}"
    );
    // So does a condition check.
    let condition = Expr::new("attribute_not_exists(#q)").name("#q", "Q");
    let err = tx.condition_check(&f.people, "chk", condition).unwrap_err();
    assert!(
        matches!(err, Error::Limit(LimitError::RequestTooLarge { size, .. }) if size == 4 * 1024 * 1024 + 1),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_deposited_ids_an_inbox_record_carries_count_toward_the_request_size() {
    let f = fixture().await;
    let inbox =
        outbox_runtime::consumer::Inbox::new("size-check").with_table_name(unique_name("inbox"));
    let incoming = Message::new("order.placed", "{}");
    let mut tx = Transaction::begin(&f.outbox);
    tx.receive(&inbox, &incoming).unwrap();
    tx.deposit_message(Message::new("order.acknowledged", "{}"))
        .unwrap();
    for n in 0..10 {
        tx.put_item(
            &f.people,
            person_of_size(&format!("big{n}"), MAX_ITEM_BYTES),
            None,
        )
        .unwrap();
    }
    // What the request holds so far, as a refused probe reports it; then exactly 4 MB.
    let probe = tx
        .put_item(&f.people, person_of_size("probe", 200_000), None)
        .unwrap_err();
    let Error::Limit(LimitError::RequestTooLarge { size, .. }) = probe else {
        panic!("{probe:?}");
    };
    let held = size - 200_000;
    tx.put_item(
        &f.people,
        person_of_size("rest", 4 * 1024 * 1024 - held),
        None,
    )
    .expect("exactly 4 MB is allowed");
    // The commit adds the deposited id to the inbox record: past the limit, refused before
    // anything is sent, naming the inbox record.
    let err = tx.commit().await.unwrap_err();
    assert!(
        matches!(&err, Error::Limit(LimitError::RequestTooLarge { size, action, .. })
            if *size > 4 * 1024 * 1024 && action.contains("inbox record")),
        "{err:?}"
    );
}

#[tokio::test]
async fn two_actions_on_one_item_are_refused_before_sending() {
    let f = fixture().await;
    let mut tx = Transaction::begin(&f.outbox);
    tx.put(&f.people, &tyrion()).unwrap();
    let err = tx.delete(&f.people, name_key("Tyrion"), None).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            Error::Limit(LimitError::DuplicateItem { first: 1, .. })
        ),
        "{err:?}"
    );
    assert!(
        text.contains("action 2 (delete to table") && text.contains("Name=\"Tyrion\""),
        "{text}"
    );

    let message = Message::new("t", b"{}".to_vec());
    tx.deposit_message(message.clone()).unwrap();
    let err = tx.deposit_message(message).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limit(LimitError::DuplicateItem { first: 2, .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_entity_that_is_not_a_map_is_a_serialization_error() {
    let f = fixture().await;
    let mut tx = Transaction::begin(&f.outbox);
    let err = tx.put(&f.people, &42_u32).unwrap_err();
    assert!(matches!(err, Error::Serialization { .. }), "{err:?}");
    assert!(err.to_string().contains("u32"), "{err}");
    let err = tx
        .put(&f.people, &serde_json::json!({"NoName": "x"}))
        .unwrap_err();
    assert!(err.to_string().contains("no key attribute `Name`"), "{err}");
}

#[tokio::test]
async fn condition_checks_and_deletes_commit_with_messages() {
    let f = fixture().await;
    let mut tx = Transaction::begin(&f.outbox);
    tx.put(&f.people, &tyrion()).unwrap();
    tx.commit().await.unwrap();

    let mut tx = Transaction::begin(&f.outbox);
    tx.condition_check(
        &f.people,
        name_key("Tyrion"),
        Expr::new("size(#g) = :one")
            .name("#g", "Greetings")
            .value(":one", AttributeValue::N("1".into())),
    )
    .unwrap();
    tx.put(
        &f.people,
        &Person {
            name: "Jaime".into(),
            greetings: vec![],
        },
    )
    .unwrap();
    tx.deposit_message(Message::new("person.added", b"{}".to_vec()))
        .unwrap();
    tx.commit().await.unwrap();
    assert!(f.person("Jaime").await.is_some());

    let mut tx = Transaction::begin(&f.outbox);
    tx.delete(&f.people, name_key("Jaime"), None).unwrap();
    tx.deposit_message(Message::new("person.removed", b"{}".to_vec()))
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(f.person("Jaime").await, None);
    assert_eq!(f.outstanding().await, 2);
}

/// Lets the first `TransactWriteItems` reach DynamoDB, then answers it with a retryable
/// `500 InternalServerError`, as a connection lost after DynamoDB applied the transaction looks
/// to the client: the SDK sends the same request again. Keeps each attempt's request body.
#[derive(Clone, Debug, Default)]
struct AnswerFirstCommitWith500(std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>);

impl aws_sdk_dynamodb::config::Intercept for AnswerFirstCommitWith500 {
    fn name(&self) -> &'static str {
        "AnswerFirstCommitWith500"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut<
            '_,
        >,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        if request.headers().get(outbox_tests::inject::TARGET)
            == Some("DynamoDB_20120810.TransactWriteItems")
        {
            let body = request.body().bytes().ok_or("a buffered request body")?;
            self.0.lock().unwrap().push(serde_json::from_slice(body)?);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.0.lock().unwrap().len() != 1 || !context.response().status().is_success() {
            return Ok(());
        }
        outbox_tests::inject::answer(
            context.response_mut(),
            500,
            &serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "message": "injected: the answer was lost after the transaction was applied"
            }),
        )
    }
}

#[tokio::test]
async fn a_commit_applied_but_answered_with_an_error_is_retried_and_applied_once() {
    let db = dynamodb().await;
    let config = fresh_outbox(&db).await;
    let counters = TableSchema::new(
        unique_name("counters"),
        KeyAttribute::new("Name", KeyKind::String),
    );
    create_table(&db, &counters).await;
    let attempts = AnswerFirstCommitWith500::default();
    let outbox = Outbox::new(db.clone().with_interceptor(attempts.clone()), config).unwrap();

    let mut tx = Transaction::begin(&outbox);
    tx.update(
        &counters,
        "Tyrion",
        Expr::new("ADD #c :one")
            .name("#c", "Count")
            .value(":one", AttributeValue::N("1".into())),
        None,
    )
    .unwrap();
    let id = tx
        .deposit_message(Message::new("counted", b"{}".to_vec()))
        .unwrap();
    let committed = tx
        .commit()
        .await
        .expect("the retry finds the commit applied");
    assert_eq!(committed.messages.len(), 1);

    let bodies = attempts.0.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "the SDK sent the commit again");
    let token = &bodies[0]["ClientRequestToken"];
    assert!(token.is_string(), "{}", bodies[0]);
    assert_eq!(
        &bodies[1]["ClientRequestToken"], token,
        "the same token both times"
    );

    let count = db
        .client()
        .get_item()
        .table_name(&counters.name)
        .key("Name", AttributeValue::S("Tyrion".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()["Count"]
        .as_n()
        .unwrap()
        .clone();
    assert_eq!(count, "1", "the counter was incremented once");
    let stored = outbox
        .get(&id)
        .await
        .unwrap()
        .expect("the message is stored");
    assert!(stored.is_outstanding());
    assert_eq!(stored.attempts, 0);
}
