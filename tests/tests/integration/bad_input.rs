//! Bad input against DynamoDB Local: each gets an error of its own type whose message names what
//! was wrong, and nothing is written or lost.
//!
//! Rows of the design's bad-input table already proven elsewhere are not repeated here: a missing
//! outbox table (`outbox.rs`), a dead endpoint (`connection.rs`), the four transaction limits and
//! a cancelled commit's reasons (`transaction.rs`), a duplicate id through `Outbox::store` and a
//! deposit (`outbox.rs`, `transaction.rs`), bodies that fail to encode or decode
//! (`tests/macros/tests/derive.rs`), invalid names and an empty topic through `Outbox`
//! (`outbox.rs`), an item missing its body (`outbox.rs`), bad macro use
//! (`tests/macros/tests/ui.rs`). What is here goes through the paths those do not: the generated
//! handler, the sweeper, and stored items read back.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::limits::{LimitError, MAX_ITEM_BYTES};
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::transport::{InMemoryProducer, Producer, ProducerError};
use outbox_runtime::{
    Body, DynamoDb, Error, Expr, Message, MessageId, Outbox, OutboxConfig, OutboxMessage, Postbox,
    RetryPolicy, Sweeper, SweeperConfig, Transaction, transactional_handler,
};
use outbox_tests::{create_table, dynamodb, fresh_outbox, unique_name};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Person {
    #[serde(rename = "Name")]
    name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
struct GreetingMade {
    #[outbox(id)]
    id: String,
    #[outbox(partition_key)]
    name: String,
    greeting: String,
}

/// JSON maps need string keys: this one cannot be encoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "odd.keys")]
struct OddKeys {
    counts: BTreeMap<(u8, u8), u8>,
}

#[derive(Clone, Debug)]
enum Deposit {
    Greeting(GreetingMade),
    Odd(OddKeys),
    Raw(Box<Message>),
}

#[derive(Debug)]
enum AppError {
    Outbox(Error),
}

impl From<Error> for AppError {
    fn from(err: Error) -> Self {
        Self::Outbox(err)
    }
}

impl AppError {
    fn outbox(self) -> Error {
        match self {
            Self::Outbox(err) => err,
        }
    }
}

struct Service {
    postbox: Postbox,
    people: TableSchema,
}

impl Service {
    /// Puts the person (only if it already exists, when `must_exist`), deposits the messages.
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn greet(
        &self,
        tx: &mut Transaction,
        person: Person,
        must_exist: bool,
        deposits: Vec<Deposit>,
    ) -> Result<(), AppError> {
        if must_exist {
            tx.put_if(
                &self.people,
                &person,
                Expr::new("attribute_exists(#n)").name("#n", "Name"),
            )?;
        } else {
            tx.put(&self.people, &person)?;
        }
        for deposit in deposits {
            match deposit {
                Deposit::Greeting(greeting) => tx.deposit(&greeting)?,
                Deposit::Odd(odd) => tx.deposit(&odd)?,
                Deposit::Raw(message) => tx.deposit_message(*message)?,
            };
        }
        Ok(())
    }
}

struct Fixture {
    outbox: Outbox,
    people: TableSchema,
    producer: Arc<InMemoryProducer>,
    service: Service,
}

async fn fixture() -> Fixture {
    let db = dynamodb().await;
    let config = fresh_outbox(&db).await;
    let people = TableSchema::new(
        unique_name("people"),
        KeyAttribute::new("Name", KeyKind::String),
    );
    create_table(&db, &people).await;
    let outbox = Outbox::new(db, config).unwrap();
    let producer = Arc::new(InMemoryProducer::new());
    let service = Service {
        postbox: Postbox::new(outbox.clone(), Arc::clone(&producer)),
        people: people.clone(),
    };
    Fixture {
        outbox,
        people,
        producer,
        service,
    }
}

fn person(name: &str) -> Person {
    Person {
        name: name.to_owned(),
    }
}

fn greeting(name: &str) -> GreetingMade {
    GreetingMade {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_owned(),
        greeting: "Hello".to_owned(),
    }
}

impl Fixture {
    async fn person_exists(&self, name: &str) -> bool {
        self.outbox
            .db()
            .client()
            .get_item()
            .table_name(&self.people.name)
            .key("Name", AttributeValue::S(name.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .is_some()
    }

    /// Every item of the outbox table (messages, and leases if a sweeper ran).
    async fn outbox_items(&self) -> usize {
        let output = self
            .outbox
            .db()
            .client()
            .scan()
            .table_name(&self.outbox.config().table_name)
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        output.items().len()
    }

    async fn set(&self, id: &MessageId, attribute: &str, value: Option<AttributeValue>) {
        let request = self
            .outbox
            .db()
            .client()
            .update_item()
            .table_name(&self.outbox.config().table_name)
            .key("MessageId", AttributeValue::S(id.to_string()))
            .expression_attribute_names("#a", attribute);
        let request = match value {
            Some(value) => request
                .update_expression("SET #a = :v")
                .expression_attribute_values(":v", value),
            None => request.update_expression("REMOVE #a"),
        };
        request.send().await.unwrap();
    }
}

fn quick_sweeper(owner: &str) -> SweeperConfig {
    SweeperConfig::default()
        .with_interval(Duration::from_millis(10))
        .with_min_age(Duration::ZERO)
        .with_lease_duration(Duration::from_secs(5))
        .with_owner(owner)
}

// --- missing table, wrong endpoint ------------------------------------------------------------

#[tokio::test]
async fn a_handler_writing_to_a_missing_entity_table_names_it_and_stores_no_message() {
    let f = fixture().await;
    let missing = TableSchema::new(
        unique_name("never-created"),
        KeyAttribute::new("Name", KeyKind::String),
    );
    let service = Service {
        postbox: f.service.postbox.clone(),
        people: missing.clone(),
    };
    let err = service
        .greet(
            person("Tyrion"),
            false,
            vec![Deposit::Greeting(greeting("Tyrion"))],
        )
        .await
        .unwrap_err()
        .outbox();
    assert!(matches!(err, Error::TableNotFound { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&missing.name) && text.contains("Outbox::ensure_table"),
        "{text}"
    );
    assert!(!text.contains("xtask"), "{text}");
    assert_eq!(f.outbox_items().await, 0, "no message without its entity");
    assert!(f.producer.sent().is_empty());
}

#[tokio::test]
async fn a_handler_against_a_dead_endpoint_names_it_and_how_to_start_dynamodb() {
    // Nothing listens on port 9.
    let outbox = Outbox::new(
        DynamoDb::local("http://127.0.0.1:9"),
        OutboxConfig::default(),
    )
    .unwrap();
    let producer = Arc::new(InMemoryProducer::new());
    let service = Service {
        postbox: Postbox::new(outbox, Arc::clone(&producer)),
        people: TableSchema::new("People", KeyAttribute::new("Name", KeyKind::String)),
    };
    let err = service
        .greet(
            person("Tyrion"),
            false,
            vec![Deposit::Greeting(greeting("Tyrion"))],
        )
        .await
        .unwrap_err()
        .outbox();
    // The outcome of a commit whose request got no answer is unknown by nature; here the
    // cause says that the endpoint never answered, and where.
    let Error::CommitUncertain { source, .. } = &err else {
        panic!("expected an uncertain commit, got {err:?}");
    };
    assert!(matches!(**source, Error::Unreachable { .. }), "{source:?}");
    let text = err.to_string();
    assert!(
        text.contains("http://127.0.0.1:9")
            && text.contains("start the local DynamoDB")
            && text.contains("AWS_ENDPOINT_URL_DYNAMODB"),
        "{text}"
    );
    assert!(producer.sent().is_empty(), "nothing sent without a commit");
}

// --- limits -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_header_map_too_large_for_the_item_is_refused_before_anything_is_sent() {
    let f = fixture().await;
    let mut message = Message::new("greeting.made", b"{}".to_vec());
    for n in 0..5 {
        message = message.with_header(format!("h{n}"), "x".repeat(MAX_ITEM_BYTES / 4));
    }
    let id = message.id().clone();

    let err = f
        .service
        .greet(
            person("Tyrion"),
            false,
            vec![Deposit::Raw(Box::new(message.clone()))],
        )
        .await
        .unwrap_err()
        .outbox();
    let Error::Limit(LimitError::MessageTooLarge {
        size,
        limit,
        action,
        advice,
    }) = &err
    else {
        panic!("expected MessageTooLarge, got {err:?}");
    };
    assert!(advice.contains("with_compression_above"), "{advice}");
    assert_eq!(*limit, MAX_ITEM_BYTES);
    assert!(*size > MAX_ITEM_BYTES, "{size}");
    assert!(
        action.contains("deposit") && action.contains(id.as_str()),
        "{action}"
    );
    assert!(err.to_string().contains(&format!("{size} bytes")), "{err}");

    // Outside a transaction too.
    let err = f.outbox.store(&message).await.unwrap_err();
    assert!(
        matches!(err, Error::Limit(LimitError::MessageTooLarge { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains(id.as_str()), "{err}");

    assert!(!f.person_exists("Tyrion").await);
    assert_eq!(f.outbox_items().await, 0);
    assert!(f.producer.sent().is_empty());
}

// --- a cancelled commit -----------------------------------------------------------------------

#[tokio::test]
async fn a_handler_whose_commit_is_cancelled_returns_every_reason_and_sends_nothing() {
    let f = fixture().await;
    let err = f
        .service
        .greet(
            person("Nobody"),
            true,
            vec![
                Deposit::Greeting(greeting("Nobody")),
                Deposit::Greeting(greeting("Nobody")),
            ],
        )
        .await
        .unwrap_err()
        .outbox();
    let Error::TransactionCancelled { reasons } = &err else {
        panic!("expected a cancellation, got {err:?}");
    };
    let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["ConditionalCheckFailed", "None", "None"]);
    assert_eq!(reasons[0].table, f.people.name);
    assert_eq!(reasons[0].key.as_deref(), Some("Name=\"Nobody\""));
    assert!(
        reasons[1].action.starts_with("deposit to table"),
        "{reasons:?}"
    );
    assert!(
        err.to_string().contains("action 1 (put to table") && err.to_string().contains("Nobody"),
        "{err}"
    );
    assert!(!err.is_conflict(), "a failed condition is not retried");
    assert_eq!(f.outbox_items().await, 0);
    assert!(f.producer.sent().is_empty());
}

// --- duplicate message id ---------------------------------------------------------------------

#[tokio::test]
async fn a_message_id_used_twice_by_a_handler_is_a_duplicate_and_overwrites_nothing() {
    let f = fixture().await;
    let first = greeting("Tyrion");
    f.service
        .greet(
            person("Tyrion"),
            false,
            vec![Deposit::Greeting(first.clone())],
        )
        .await
        .unwrap();

    let impostor = GreetingMade {
        greeting: "Goodbye".to_owned(),
        ..first.clone()
    };
    let err = f
        .service
        .greet(person("Jaime"), false, vec![Deposit::Greeting(impostor)])
        .await
        .unwrap_err()
        .outbox();
    assert!(matches!(err, Error::DuplicateMessage { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&first.id) && text.contains(&f.outbox.config().table_name),
        "{text}"
    );
    assert!(
        !f.person_exists("Jaime").await,
        "the second entity was not written"
    );
    let stored = f
        .outbox
        .get(&MessageId::from(first.id.as_str()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(GreetingMade::from_message(&stored.message).unwrap(), first);
    assert_eq!(f.producer.sent().len(), 1, "only the first was sent");
}

// --- bodies that cannot be encoded or decoded --------------------------------------------------

#[tokio::test]
async fn a_body_that_fails_to_encode_in_a_handler_names_type_and_topic_and_writes_nothing() {
    let f = fixture().await;
    let odd = OddKeys {
        counts: BTreeMap::from([((1, 2), 3)]),
    };
    let err = f
        .service
        .greet(
            person("Tyrion"),
            false,
            vec![Deposit::Greeting(greeting("Tyrion")), Deposit::Odd(odd)],
        )
        .await
        .unwrap_err()
        .outbox();
    assert!(
        matches!(
            err,
            Error::Serialization {
                action: "encode",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("OddKeys") && text.contains("`odd.keys`"),
        "{text}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "serde's error is kept"
    );
    assert!(!f.person_exists("Tyrion").await);
    assert_eq!(
        f.outbox_items().await,
        0,
        "the greeting before it was dropped too"
    );
}

#[tokio::test]
async fn a_stored_body_that_does_not_match_its_content_type_fails_to_decode_naming_type_and_topic()
{
    let f = fixture().await;
    // Declared JSON, but the bytes are not.
    let not_json = Message::new("greeting.made", vec![0x00, 0xff, 0x13, 0x37])
        .with_content_type("application/json");
    // Declared a DynamoDB map, but the map is not a `GreetingMade`.
    let wrong_map = Message::new("greeting.made", Vec::new())
        .with_content_type("application/x-amz-dynamodb-item")
        .with_body(Body::Item(HashMap::from([(
            "greeting".to_owned(),
            AttributeValue::Bool(true),
        )])));
    for message in [&not_json, &wrong_map] {
        f.outbox.store(message).await.unwrap();
        let stored = f.outbox.get(message.id()).await.unwrap().unwrap();
        assert_eq!(&stored.message, message, "stored byte for byte");
        let err = GreetingMade::from_message(&stored.message).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Serialization {
                    action: "decode",
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("GreetingMade") && text.contains("`greeting.made`"),
            "{text}"
        );
        // Nothing lost: the message is still there, outstanding, to be fixed or replayed.
        assert!(
            f.outbox
                .get(message.id())
                .await
                .unwrap()
                .unwrap()
                .is_outstanding()
        );
    }
}

// --- stored items the library cannot read ------------------------------------------------------

#[tokio::test]
async fn an_unknown_message_type_in_a_stored_item_is_named_with_the_item_and_attribute() {
    let f = fixture().await;
    let message = Message::new("greeting.made", b"{}".to_vec());
    f.outbox.store(&message).await.unwrap();
    f.set(
        message.id(),
        "MessageType",
        Some(AttributeValue::S("gossip".into())),
    )
    .await;

    let err = f.outbox.get(message.id()).await.unwrap_err();
    let Error::CorruptItem {
        attribute,
        message_id,
        table,
        ..
    } = &err
    else {
        panic!("expected a corrupt item, got {err:?}");
    };
    assert_eq!(*attribute, "MessageType");
    assert_eq!(message_id, message.id().as_str());
    assert_eq!(table, &f.outbox.config().table_name);
    let text = err.to_string();
    assert!(
        text.contains("`gossip`") && text.contains("`event`, `command` or `document`"),
        "{text}"
    );
}

#[tokio::test]
async fn items_missing_or_mistyping_required_attributes_are_named_never_a_panic() {
    let f = fixture().await;
    let cases: [(&str, Option<AttributeValue>); 5] = [
        ("Topic", None),
        ("CreatedAt", None),
        ("CreatedAt", Some(AttributeValue::S("yesterday".into()))),
        ("Shard", Some(AttributeValue::N("70000".into()))),
        (
            "Headers",
            Some(AttributeValue::M(HashMap::from([(
                "n".to_owned(),
                AttributeValue::N("1".into()),
            )]))),
        ),
    ];
    for (attribute, value) in cases {
        let message = Message::new("greeting.made", b"{}".to_vec());
        f.outbox.store(&message).await.unwrap();
        f.set(message.id(), attribute, value.clone()).await;
        let err = f.outbox.get(message.id()).await.unwrap_err();
        assert!(matches!(err, Error::CorruptItem { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(message.id().as_str()) && text.contains(&format!("`{attribute}`")),
            "{attribute} = {value:?}: {text}"
        );
    }
}

// --- invalid names, empty topic ----------------------------------------------------------------

#[tokio::test]
async fn table_and_index_names_outside_dynamodbs_rules_are_refused_naming_the_rule() {
    let db = dynamodb().await;
    for (config, named) in [
        (OutboxConfig::new("ab"), "table name `ab`"),
        (OutboxConfig::new("t".repeat(256)), "table name `tttt"),
        (OutboxConfig::new("Outbox/prod"), "table name `Outbox/prod`"),
        (
            OutboxConfig::new("Outbox").with_index_name("Out standing"),
            "index name `Out standing`",
        ),
        (
            OutboxConfig::new("Outbox").with_index_name(""),
            "index name ``",
        ),
    ] {
        let err = Outbox::new(db.clone(), config).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(named) && text.contains("3 to 255 characters"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_empty_topic_in_a_handler_is_refused_and_nothing_is_written() {
    let f = fixture().await;
    for topic in ["", "   "] {
        let err = f
            .service
            .greet(
                person("Tyrion"),
                false,
                vec![Deposit::Raw(Box::new(Message::new(topic, b"{}".to_vec())))],
            )
            .await
            .unwrap_err()
            .outbox();
        assert!(matches!(err, Error::InvalidMessage { .. }), "{err:?}");
        assert!(err.to_string().contains("the topic is empty"), "{err}");
    }
    assert!(!f.person_exists("Tyrion").await);
    assert_eq!(f.outbox_items().await, 0);
}

// --- a producer failing one message of a batch --------------------------------------------------

/// Sends everything but the messages with header `fail`, in one batch call.
#[derive(Default)]
struct FailsMarked {
    sent: Mutex<Vec<MessageId>>,
    batches: Mutex<Vec<usize>>,
}

impl Producer for FailsMarked {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        if message.header.headers.contains_key("fail") {
            return Err(ProducerError::new(message, "the queue refused this entry"));
        }
        self.sent.lock().unwrap().push(message.id().clone());
        Ok(())
    }

    async fn send_batch(&self, messages: &[Message]) -> Vec<Result<(), ProducerError>> {
        self.batches.lock().unwrap().push(messages.len());
        let mut results = Vec::new();
        for message in messages {
            results.push(self.send(message).await);
        }
        results
    }
}

#[tokio::test]
async fn one_message_of_a_batch_failing_leaves_only_it_outstanding_with_its_attempt() {
    let f = fixture().await;
    let producer = Arc::new(FailsMarked::default());
    let service = Service {
        postbox: Postbox::new(f.outbox.clone(), Arc::clone(&producer)),
        people: f.people.clone(),
    };
    let ok1 = Message::new("t", b"1".to_vec());
    let failing = Message::new("t", b"2".to_vec()).with_header("fail", "yes");
    let ok2 = Message::new("t", b"3".to_vec());
    service
        .greet(
            person("Tyrion"),
            false,
            vec![
                Deposit::Raw(Box::new(ok1.clone())),
                Deposit::Raw(Box::new(failing.clone())),
                Deposit::Raw(Box::new(ok2.clone())),
            ],
        )
        .await
        .expect("a failed send does not fail the handler");
    service.postbox.flush().await;
    assert_eq!(*producer.batches.lock().unwrap(), [3], "one batch of three");

    for sent in [&ok1, &ok2] {
        let stored = f.outbox.get(sent.id()).await.unwrap().unwrap();
        assert!(stored.dispatched_at.is_some(), "{} was marked", sent.id());
    }
    let stored = f.outbox.get(failing.id()).await.unwrap().unwrap();
    assert!(stored.is_outstanding());
    assert_eq!(stored.attempts, 1);
    let last_error = stored.last_error.unwrap();
    assert!(
        last_error.contains("the queue refused this entry")
            && last_error.contains(failing.id().as_str()),
        "{last_error}"
    );

    // The sweeper's batches behave alike: the failing one gains an attempt, nothing else moves.
    let other = Message::new("t", b"4".to_vec());
    f.outbox.store(&other).await.unwrap();
    let postbox = Postbox::new(f.outbox.clone(), Arc::clone(&producer));
    // Failed sends back off for an hour: a failed message stays out of the passes here.
    let slow_retry = RetryPolicy::new()
        .with_max_attempts(5)
        .with_base_delay(Duration::from_secs(3600))
        .with_max_delay(Duration::from_secs(3600));
    let mut sweeper = Sweeper::new(
        &postbox.clone().with_retry_policy(slow_retry),
        quick_sweeper("batch"),
    );
    // Its backoff is over.
    f.set(failing.id(), "NextAttemptAt", None).await;
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(report.sent, vec![other.id().clone()], "{report:?}");
    assert_eq!(report.failed, 1, "{report:?}");
    let stored = f.outbox.get(failing.id()).await.unwrap().unwrap();
    assert!(stored.is_outstanding());
    assert_eq!(stored.attempts, 2);
    assert!(
        f.outbox
            .get(other.id())
            .await
            .unwrap()
            .unwrap()
            .dispatched_at
            .is_some()
    );
}

// --- arbitrary items fed to the decoder ----------------------------------------------------------

mod decoder {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue;
    use outbox_runtime::{Error, Message, OutboxMessage, StoredMessage};
    use proptest::prelude::*;

    use super::GreetingMade;

    /// The attribute names the decoder reads, and a few it does not.
    const NAMES: &[&str] = &[
        "MessageId",
        "Topic",
        "MessageType",
        "ContentType",
        "CorrelationId",
        "CausationId",
        "ReplyTo",
        "PartitionKey",
        "CreatedAt",
        "TraceParent",
        "TraceState",
        "Headers",
        "Body",
        "BodyEncoding",
        "Shard",
        "OutstandingSince",
        "OrderKey",
        "DispatchedAt",
        "ExpiresAt",
        "Attempts",
        "NextAttemptAt",
        "LastError",
        "DeadLetteredAt",
        "Other",
        "",
    ];

    /// Numbers as DynamoDB would hold them, and text that is not one.
    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| n.to_string()),
            "[0-9]{1,40}(\\.[0-9]{1,5})?",
            ".*",
        ]
    }

    fn value() -> impl Strategy<Value = AttributeValue> {
        let leaf = prop_oneof![
            ".*".prop_map(AttributeValue::S),
            prop_oneof!["event", "command", "document", "application/json", "gzip"]
                .prop_map(|s| AttributeValue::S(s.to_owned())),
            number().prop_map(AttributeValue::N),
            proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|b| AttributeValue::B(Blob::new(b))),
            any::<bool>().prop_map(AttributeValue::Bool),
            Just(AttributeValue::Null(true)),
            proptest::collection::vec(".*", 0..4).prop_map(AttributeValue::Ss),
            proptest::collection::vec(number(), 0..4).prop_map(AttributeValue::Ns),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(AttributeValue::L),
                proptest::collection::hash_map(".{0,8}", inner, 0..6).prop_map(AttributeValue::M),
            ]
        })
    }

    fn item() -> impl Strategy<Value = HashMap<String, AttributeValue>> {
        proptest::collection::hash_map(
            prop_oneof![
                proptest::sample::select(NAMES).prop_map(str::to_owned),
                ".{0,12}",
            ],
            value(),
            0..24,
        )
    }

    /// A valid item, from a real message.
    fn valid_item() -> HashMap<String, AttributeValue> {
        let message = Message::new("greeting.made", br#"{"id":"x","name":"n","greeting":"g"}"#)
            .with_partition_key("n")
            .with_header("tenant", "north");
        let mut item = HashMap::from([
            (
                "MessageId".to_owned(),
                AttributeValue::S(message.id().to_string()),
            ),
            (
                "Topic".to_owned(),
                AttributeValue::S("greeting.made".into()),
            ),
            ("MessageType".to_owned(), AttributeValue::S("event".into())),
            (
                "ContentType".to_owned(),
                AttributeValue::S("application/json".into()),
            ),
            ("PartitionKey".to_owned(), AttributeValue::S("n".into())),
            (
                "CreatedAt".to_owned(),
                AttributeValue::N("1700000000000".into()),
            ),
            ("Shard".to_owned(), AttributeValue::N("3".into())),
            (
                "OutstandingSince".to_owned(),
                AttributeValue::N("1700000000000.000000001".into()),
            ),
        ]);
        item.insert(
            "Headers".to_owned(),
            AttributeValue::M(HashMap::from([(
                "tenant".to_owned(),
                AttributeValue::S("north".into()),
            )])),
        );
        let body = message.body.to_bytes().expect("a JSON body");
        item.insert("Body".to_owned(), AttributeValue::B(Blob::new(body)));
        item
    }

    /// Decodes as far as a consumer would: the item, the body as the transport sends it, and
    /// the typed message. Returns the item's error, if any.
    fn decode_all(item: &HashMap<String, AttributeValue>) -> Result<(), Error> {
        let stored = StoredMessage::from_item("Outbox", item)?;
        let _ = stored.message.body.to_bytes();
        let _ = GreetingMade::from_message(&stored.message);
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_items_never_panic_the_decoder(item in item()) {
            if let Err(err) = decode_all(&item) {
                prop_assert!(matches!(err, Error::CorruptItem { .. }), "{err:?}");
            }
        }

        #[test]
        fn a_valid_item_with_one_attribute_changed_decodes_or_names_that_attribute(
            name in proptest::sample::select(NAMES),
            replacement in proptest::option::of(value()),
        ) {
            let mut item = valid_item();
            match replacement {
                Some(value) => item.insert(name.to_owned(), value),
                None => item.remove(name),
            };
            if let Err(err) = decode_all(&item) {
                match &err {
                    Error::CorruptItem { attribute, table, .. } => {
                        prop_assert_eq!(*attribute, name, "{}", err);
                        prop_assert_eq!(table.as_str(), "Outbox");
                    }
                    other => prop_assert!(false, "not a CorruptItem: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn the_valid_item_decodes() {
        let stored = StoredMessage::from_item("Outbox", &valid_item()).unwrap();
        assert_eq!(
            GreetingMade::from_message(&stored.message).unwrap().name,
            "n"
        );
    }
}
