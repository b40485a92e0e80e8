//! `#[transactional_handler]` against DynamoDB Local, for every way out of a handler: `Ok`, an
//! early `return Ok`, `Err` through `?`, a panic, the call's future dropped half way, a
//! transaction conflict that a retry overcomes, and one that never goes away.
//!
//! DynamoDB Local runs transactions one at a time, so concurrent transactions never conflict
//! there (60 concurrent 100-action transactions on one item, mixed with updates and
//! transactional reads of it, gave no `TransactionConflict`). The conflict tests therefore
//! inject the answer DynamoDB gives to a conflicting `TransactWriteItems`: an SDK interceptor
//! diverts the chosen attempts to a read-only `ListTables` before they leave the client, so
//! they write nothing, and replaces the answer with a `TransactionCanceledException` carrying
//! one cancellation reason per action, `TransactionConflict` on the first. Everything else,
//! the retried commit included, runs against DynamoDB Local.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use futures_util::FutureExt;
use outbox_runtime::error::CancellationCode;
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::transport::InMemoryProducer;
use outbox_runtime::{
    DynamoDb, Error, Expr, MessageId, Outbox, OutboxMessage, Postbox, Transaction,
    transactional_handler,
};
use outbox_tests::inject::{TARGET, answer, divert_to_read_only};
use outbox_tests::{create_table, dynamodb, fresh_outbox, unique_name};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
struct GreetingMade {
    #[outbox(partition_key)]
    name: String,
    greeting: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Person {
    #[serde(rename = "Name")]
    name: String,
    greetings: Vec<String>,
}

#[derive(Clone, Debug)]
struct AddGreeting {
    name: String,
    greeting: String,
}

#[derive(Debug)]
enum AppError {
    Outbox(Error),
    Rejected(String),
}

impl From<Error> for AppError {
    fn from(err: Error) -> Self {
        AppError::Outbox(err)
    }
}

/// The service under test: each handler writes a person and deposits a greeting, then leaves
/// in its own way.
struct Greetings {
    postbox: Postbox,
    people: TableSchema,
    /// How many times a body ran.
    runs: AtomicU32,
    /// Told when `add_then_wait` has written everything and starts waiting.
    reached: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Greetings {
    fn write(&self, tx: &mut Transaction, cmd: &AddGreeting) -> Result<MessageId, AppError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        tx.put(
            &self.people,
            &Person {
                name: cmd.name.clone(),
                greetings: vec![cmd.greeting.clone()],
            },
        )?;
        Ok(tx.deposit(&GreetingMade {
            name: cmd.name.clone(),
            greeting: cmd.greeting.clone(),
        })?)
    }

    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn add(&self, tx: &mut Transaction, cmd: AddGreeting) -> Result<MessageId, AppError> {
        self.write(tx, &cmd)
    }

    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn add_early(
        &self,
        cmd: AddGreeting,
        tx: &mut Transaction,
    ) -> Result<MessageId, AppError> {
        if !cmd.greeting.is_empty() {
            let id = self.write(tx, &cmd)?;
            return Ok(id);
        }
        Err(AppError::Rejected("reached the end".into()))
    }

    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn add_then_reject(
        &self,
        tx: &mut Transaction,
        cmd: AddGreeting,
    ) -> Result<MessageId, AppError> {
        let id = self.write(tx, &cmd)?;
        reject(&cmd)?;
        Ok(id)
    }

    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn add_then_panic(
        &self,
        tx: &mut Transaction,
        cmd: AddGreeting,
    ) -> Result<MessageId, AppError> {
        self.write(tx, &cmd)?;
        panic!("the handler fails after writing");
    }

    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn add_then_wait(
        &self,
        tx: &mut Transaction,
        cmd: AddGreeting,
    ) -> Result<MessageId, AppError> {
        let id = self.write(tx, &cmd)?;
        if let Some(reached) = self.reached.lock().unwrap().take() {
            reached.send(()).unwrap();
        }
        std::future::pending::<()>().await;
        Ok(id)
    }

    #[transactional_handler(postbox = self.postbox, tx = tx, retries = 2)]
    async fn add_twice_more(
        &self,
        tx: &mut Transaction,
        cmd: AddGreeting,
    ) -> Result<MessageId, AppError> {
        self.write(tx, &cmd)
    }

    #[transactional_handler(postbox = self.postbox, tx = tx, retries = 0)]
    async fn add_once(
        &self,
        tx: &mut Transaction,
        cmd: AddGreeting,
    ) -> Result<MessageId, AppError> {
        self.write(tx, &cmd)
    }

    #[transactional_handler(postbox = self.postbox, tx = tx, clear = "sweeper")]
    async fn add_for_sweeper(
        &self,
        tx: &mut Transaction,
        cmd: AddGreeting,
    ) -> Result<MessageId, AppError> {
        self.write(tx, &cmd)
    }

    /// Only for someone new: a second call fails its condition, which is not a conflict.
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn add_newcomer(
        &self,
        tx: &mut Transaction,
        cmd: &AddGreeting,
    ) -> Result<MessageId, AppError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        tx.put_if(
            &self.people,
            &Person {
                name: cmd.name.clone(),
                greetings: vec![cmd.greeting.clone()],
            },
            Expr::new("attribute_not_exists(#n)").name("#n", "Name"),
        )?;
        Ok(tx.deposit(&GreetingMade {
            name: cmd.name.clone(),
            greeting: cmd.greeting.clone(),
        })?)
    }
}

fn reject(cmd: &AddGreeting) -> Result<(), AppError> {
    Err(AppError::Rejected(format!("{} is not welcome", cmd.name)))
}

fn tyrion() -> AddGreeting {
    AddGreeting {
        name: "Tyrion".into(),
        greeting: "Hello".into(),
    }
}

struct Fixture {
    handler: Greetings,
    producer: Arc<InMemoryProducer>,
    outbox: Outbox,
    db: DynamoDb,
    conflicts: Conflicts,
}

/// A fresh outbox table and people table, a client that can be made to answer commits with a
/// conflict, and an in-memory producer.
async fn fixture() -> Fixture {
    let conflicts = Conflicts::default();
    let db = dynamodb().await.with_interceptor(conflicts.clone());
    let outbox = Outbox::new(db.clone(), fresh_outbox(&db).await).unwrap();
    let people = TableSchema::new(
        unique_name("people"),
        KeyAttribute::new("Name", KeyKind::String),
    );
    create_table(&db, &people).await;
    let producer = Arc::new(InMemoryProducer::new());
    Fixture {
        handler: Greetings {
            postbox: Postbox::new(outbox.clone(), Arc::clone(&producer)),
            people,
            runs: AtomicU32::new(0),
            reached: Mutex::new(None),
        },
        producer,
        outbox,
        db,
        conflicts,
    }
}

impl Fixture {
    fn runs(&self) -> u32 {
        self.handler.runs.load(Ordering::SeqCst)
    }

    async fn count(&self, table: &str) -> i32 {
        self.db
            .client()
            .scan()
            .table_name(table)
            .select(Select::Count)
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .count()
    }

    async fn person(&self, name: &str) -> Option<Person> {
        let item = self
            .db
            .client()
            .get_item()
            .table_name(&self.handler.people.name)
            .key("Name", AttributeValue::S(name.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item?;
        Some(serde_dynamo::from_item(item).unwrap())
    }

    /// Nothing in either table, nothing sent.
    async fn assert_nothing_happened(&self) {
        assert_eq!(self.count(&self.handler.people.name).await, 0, "people");
        assert_eq!(
            self.count(&self.outbox.config().table_name).await,
            0,
            "outbox"
        );
        assert!(self.producer.sent().is_empty(), "sent");
    }

    /// The person is stored, the message is stored (sent and marked, or still outstanding),
    /// and it was sent exactly once or not at all.
    async fn assert_committed(&self, id: &MessageId, sent: bool) {
        // Marks are the background marker's: every one handed over is done after a flush.
        self.handler.postbox.flush().await;
        let cmd = tyrion();
        assert_eq!(
            self.person(&cmd.name).await,
            Some(Person {
                name: cmd.name.clone(),
                greetings: vec![cmd.greeting.clone()]
            })
        );
        assert_eq!(self.count(&self.outbox.config().table_name).await, 1);
        let stored = self.outbox.get(id).await.unwrap().expect("the message");
        assert_eq!(stored.message.topic(), GreetingMade::TOPIC);
        assert_eq!(
            stored.message.header.partition_key.as_deref(),
            Some("Tyrion")
        );
        let expected = GreetingMade {
            name: cmd.name,
            greeting: cmd.greeting,
        };
        assert_eq!(
            GreetingMade::from_message(&stored.message).unwrap(),
            expected
        );
        assert_eq!(stored.is_outstanding(), !sent);
        let delivered = self.producer.sent();
        if sent {
            assert_eq!(delivered.len(), 1);
            assert_eq!(delivered[0].id(), id);
            assert_eq!(GreetingMade::from_message(&delivered[0]).unwrap(), expected);
        } else {
            assert!(delivered.is_empty());
        }
    }
}

#[tokio::test]
async fn ok_commits_the_entity_and_the_message_then_sends_it() {
    let fx = fixture().await;
    let id = fx.handler.add(tyrion()).await.unwrap();
    assert_eq!(fx.runs(), 1);
    fx.assert_committed(&id, true).await;
}

#[tokio::test]
async fn an_early_return_ok_commits() {
    let fx = fixture().await;
    let id = fx.handler.add_early(tyrion()).await.unwrap();
    fx.assert_committed(&id, true).await;
}

#[tokio::test]
async fn err_through_question_mark_stores_and_sends_nothing() {
    let fx = fixture().await;
    let err = fx.handler.add_then_reject(tyrion()).await.unwrap_err();
    assert!(
        matches!(&err, AppError::Rejected(reason) if reason == "Tyrion is not welcome"),
        "the body's error comes back unchanged: {err:?}"
    );
    assert_eq!(fx.runs(), 1);
    fx.assert_nothing_happened().await;
}

#[tokio::test]
async fn a_panic_stores_and_sends_nothing() {
    let fx = fixture().await;
    let outcome = AssertUnwindSafe(fx.handler.add_then_panic(tyrion()))
        .catch_unwind()
        .await;
    let panic = outcome.expect_err("the body panics");
    assert_eq!(
        panic.downcast_ref::<&str>(),
        Some(&"the handler fails after writing")
    );
    assert_eq!(fx.runs(), 1);
    fx.assert_nothing_happened().await;
}

#[tokio::test]
async fn dropping_the_call_half_way_stores_and_sends_nothing() {
    let fx = fixture().await;
    let (reached, wait) = tokio::sync::oneshot::channel();
    *fx.handler.reached.lock().unwrap() = Some(reached);
    tokio::select! {
        result = fx.handler.add_then_wait(tyrion()) => panic!("the call never finishes: {result:?}"),
        _ = wait => {}
    }
    // The call's future is dropped here, after the body wrote and deposited.
    assert_eq!(fx.runs(), 1);
    fx.assert_nothing_happened().await;
}

#[tokio::test]
async fn a_conflict_runs_the_body_again_and_commits_once() {
    let fx = fixture().await;
    fx.conflicts.inject(1);
    let id = fx.handler.add(tyrion()).await.unwrap();
    assert_eq!(fx.conflicts.injected(), 1);
    assert_eq!(fx.runs(), 2, "one run per attempt");
    // One message (each run deposits a fresh id: a diverted attempt that wrote would show).
    fx.assert_committed(&id, true).await;
}

#[tokio::test]
async fn a_conflict_on_every_try_returns_the_reasons_and_stores_nothing() {
    let fx = fixture().await;
    fx.conflicts.inject(u32::MAX);
    let err = fx.handler.add_twice_more(tyrion()).await.unwrap_err();
    assert_eq!(fx.runs(), 3, "the first run and two retries");
    assert_eq!(fx.conflicts.injected(), 3);
    let AppError::Outbox(err) = err else {
        panic!("the runtime's error: {err:?}")
    };
    // The bound is reached: the error says so, and keeps the last conflict with its reasons.
    let Error::ConflictRetriesExhausted {
        runs: 3,
        retries: 2,
        source,
    } = &err
    else {
        panic!("the exhausted retries: {err:?}")
    };
    assert!(source.is_conflict(), "{source:?}");
    let Error::TransactionCancelled { reasons } = source.as_ref() else {
        panic!("the cancellation with its reasons: {source:?}")
    };
    assert_eq!(reasons.len(), 2, "a put and a deposit: {reasons:?}");
    assert_eq!(reasons[0].code, CancellationCode::TransactionConflict);
    assert_eq!(reasons[0].table, fx.handler.people.name);
    assert_eq!(reasons[0].key.as_deref(), Some("Name=\"Tyrion\""));
    assert_eq!(reasons[1].code, CancellationCode::None);
    assert_eq!(reasons[1].table, fx.outbox.config().table_name);
    let text = err.to_string();
    assert!(text.contains("TransactionConflict"), "{text}");
    assert!(text.contains(&fx.handler.people.name), "{text}");
    fx.conflicts.inject(0);
    fx.assert_nothing_happened().await;
}

#[tokio::test]
async fn without_retries_a_conflict_is_returned_at_once() {
    let fx = fixture().await;
    fx.conflicts.inject(1);
    let err = fx.handler.add_once(tyrion()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            AppError::Outbox(Error::ConflictRetriesExhausted { runs: 1, retries: 0, source })
                if source.is_conflict()
        ),
        "{err:?}"
    );
    assert_eq!(fx.runs(), 1);
    fx.assert_nothing_happened().await;
}

#[tokio::test]
async fn a_commit_error_that_is_no_conflict_is_returned_at_once() {
    let fx = fixture().await;
    let first = fx.handler.add_newcomer(&tyrion()).await.unwrap();
    let err = fx.handler.add_newcomer(&tyrion()).await.unwrap_err();
    assert_eq!(fx.runs(), 2, "no retry for a failed condition");
    let AppError::Outbox(Error::TransactionCancelled { reasons }) = &err else {
        panic!("the cancellation: {err:?}")
    };
    assert_eq!(reasons[0].code, CancellationCode::ConditionalCheckFailed);
    fx.assert_committed(&first, true).await;
}

#[tokio::test]
async fn clear_by_sweeper_leaves_the_message_outstanding() {
    let fx = fixture().await;
    let id = fx.handler.add_for_sweeper(tyrion()).await.unwrap();
    fx.assert_committed(&id, false).await;
}

#[tokio::test]
async fn a_failed_send_does_not_fail_the_handler() {
    let fx = fixture().await;
    fx.producer.set_failing(true);
    let id = fx.handler.add(tyrion()).await.unwrap();
    fx.assert_committed(&id, false).await;
}

/// Makes the next `n` `TransactWriteItems` calls of a client fail as DynamoDB fails a
/// transaction that conflicts with another, without writing anything.
#[derive(Clone, Debug, Default)]
struct Conflicts(Arc<ConflictState>);

#[derive(Debug, Default)]
struct ConflictState {
    remaining: AtomicU32,
    injected: AtomicU32,
    /// The action count of the request being diverted, between transmit and deserialization.
    diverted: Mutex<Option<usize>>,
}

const TRANSACT_WRITE_ITEMS: &str = "DynamoDB_20120810.TransactWriteItems";

impl Conflicts {
    fn inject(&self, n: u32) {
        self.0.remaining.store(n, Ordering::SeqCst);
    }

    fn injected(&self) -> u32 {
        self.0.injected.load(Ordering::SeqCst)
    }
}

impl Intercept for Conflicts {
    fn name(&self) -> &'static str {
        "InjectTransactionConflicts"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request_mut();
        if request.headers().get(TARGET) != Some(TRANSACT_WRITE_ITEMS)
            || self
                .0
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
        {
            return Ok(());
        }
        let body: serde_json::Value =
            serde_json::from_slice(request.body().bytes().ok_or("a buffered request body")?)?;
        let actions = body["TransactItems"]
            .as_array()
            .ok_or("TransactItems")?
            .len();
        divert_to_read_only(request);
        *self.0.diverted.lock().unwrap() = Some(actions);
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(actions) = self.0.diverted.lock().unwrap().take() else {
            return Ok(());
        };
        self.0.injected.fetch_add(1, Ordering::SeqCst);
        // What DynamoDB answers when another transaction holds the first item.
        let reasons: Vec<serde_json::Value> = (0..actions)
            .map(|index| {
                if index == 0 {
                    serde_json::json!({
                        "Code": "TransactionConflict",
                        "Message": "Transaction is ongoing for the item"
                    })
                } else {
                    serde_json::json!({ "Code": "None" })
                }
            })
            .collect();
        let body = serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific \
                        reasons [TransactionConflict]",
            "CancellationReasons": reasons,
        });
        answer(context.response_mut(), 400, &body)
    }
}
