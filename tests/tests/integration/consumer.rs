//! The consumer side against DynamoDB Local and moto: the inbox in the handler's transaction
//! (a redelivery applies nothing), the links of what a consumer deposits, two consumers of one
//! message, and the SQS consumer and the Lambda SQS entry over real queues: delete after the
//! commit, a failed handler and an unreadable delivery left to the queue, SNS envelopes, FIFO
//! groups, shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use outbox_runtime::consumer::{Inbox, SqsConsumer};
use outbox_runtime::lambda::SqsHandler;
use outbox_runtime::lambda::aws_lambda_events::event::sqs::SqsEvent;
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::transport::{InMemoryProducer, Producer, SqsProducer};
use outbox_runtime::{
    DynamoDb, Error, Expr, Message, MessageId, Outbox, OutboxMessage, Postbox, Transaction,
    capture_reports, transactional_handler,
};
use outbox_tests::moto::{Moto, moto};
use outbox_tests::{create_table, dynamodb, fresh_outbox, unique_name};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
struct GreetingMade {
    #[outbox(partition_key)]
    name: String,
    greeting: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.counted")]
struct GreetingCounted {
    #[outbox(partition_key)]
    name: String,
}

/// Counts greetings per person, once per message, and announces each count.
struct GreetingCounter {
    postbox: Postbox,
    inbox: Inbox,
    counts: TableSchema,
    fail: AtomicBool,
}

impl GreetingCounter {
    #[transactional_handler(postbox = self.postbox, tx = tx, incoming = message, inbox = self.inbox)]
    async fn handle(&self, tx: &mut Transaction, message: &Message) -> Result<(), Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::InvalidConfig("the handler was told to fail".into()));
        }
        let made = GreetingMade::from_message(message)?;
        tx.update(
            &self.counts,
            made.name.as_str(),
            Expr::new("ADD #c :one")
                .name("#c", "Count")
                .value(":one", AttributeValue::N("1".into())),
            None,
        )?;
        tx.deposit(&GreetingCounted { name: made.name })?;
        Ok(())
    }
}

struct Fixture {
    db: DynamoDb,
    counter: Arc<GreetingCounter>,
    producer: Arc<InMemoryProducer>,
}

async fn fixture(consumer: &str) -> Fixture {
    let db = dynamodb().await;
    let config = fresh_outbox(&db).await;
    let inbox = Inbox::new(consumer).with_table_name(unique_name("inbox"));
    inbox.ensure_table(&db).await.expect("inbox table");
    let counts = TableSchema::new(
        unique_name("counts"),
        KeyAttribute::new("Name", KeyKind::String),
    );
    create_table(&db, &counts).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(
        Outbox::new(db.clone(), config).expect("outbox"),
        Arc::clone(&producer),
    );
    Fixture {
        db,
        counter: Arc::new(GreetingCounter {
            postbox,
            inbox,
            counts,
            fail: AtomicBool::new(false),
        }),
        producer,
    }
}

impl Fixture {
    async fn count(&self, name: &str) -> u64 {
        let item = self
            .db
            .client()
            .get_item()
            .table_name(&self.counter.counts.name)
            .key("Name", AttributeValue::S(name.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
            .unwrap_or_default();
        item.get("Count")
            .map_or(0, |count| count.as_n().unwrap().parse().unwrap())
    }
}

fn greeting(name: &str) -> Message {
    GreetingMade {
        name: name.into(),
        greeting: "Hello".into(),
    }
    .to_message()
    .unwrap()
    .with_correlation_id("conversation-7")
}

#[tokio::test]
async fn a_redelivered_message_is_absorbed_by_the_inbox_and_applies_nothing() {
    let fixture = fixture("greeting-counter").await;
    let message = greeting("Tyrion");

    let (first, reports) = capture_reports(fixture.counter.handle(&message)).await;
    first.expect("the first delivery is handled");
    assert!(!reports[0].duplicate);
    assert_eq!(reports[0].committed.len(), 1);

    let (second, reports) = capture_reports(fixture.counter.handle(&message)).await;
    second.expect("a duplicate delivery returns Ok, to be acknowledged");
    assert!(reports[0].duplicate, "{reports:?}");
    assert!(reports[0].committed.is_empty());

    assert_eq!(fixture.count("Tyrion").await, 1, "applied once");
    assert!(
        fixture
            .counter
            .inbox
            .contains(&fixture.db, message.id())
            .await
            .unwrap()
    );
    let sent = fixture.producer.sent();
    assert_eq!(sent.len(), 1, "only the first handling deposited: {sent:?}");
    assert_eq!(
        sent[0].header.causation_id.as_deref(),
        Some(message.id().as_str()),
        "what a consumer deposits is caused by the incoming message"
    );
    assert_eq!(
        sent[0].header.correlation_id.as_deref(),
        Some("conversation-7"),
        "the correlation id is carried over"
    );
}

#[tokio::test]
async fn a_duplicate_re_sends_what_the_first_handling_deposited_and_left_outstanding() {
    let fixture = fixture("resend").await;
    let message = greeting("Brienne");
    // The first handling commits, and its send fails: its deposit stays outstanding, as if
    // the process had died between the commit and the send.
    fixture.producer.set_failing(true);
    let (first, reports) = capture_reports(fixture.counter.handle(&message)).await;
    first.unwrap();
    let deposited = reports[0].committed.clone();
    assert_eq!(deposited.len(), 1);
    assert_eq!(
        reports[0].clear.as_ref().unwrap().left_outstanding,
        deposited,
        "{reports:?}"
    );
    assert!(fixture.producer.sent().is_empty());

    // The redelivery is absorbed, and re-sends that deposit: its id came back with the
    // failed condition of the inbox record, the message itself with one BatchGetItem.
    fixture.producer.set_failing(false);
    let (second, reports) = capture_reports(fixture.counter.handle(&message)).await;
    second.unwrap();
    assert!(reports[0].duplicate);
    let clear = reports[0].clear.as_ref().expect("a re-send");
    let resent: Vec<MessageId> = clear.handed_over().cloned().collect();
    assert_eq!(resent, deposited, "{clear:?}");
    let sent = fixture.producer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id(), &deposited[0]);
    assert_eq!(fixture.count("Brienne").await, 1);

    // A third delivery finds nothing outstanding, and sends nothing.
    fixture.counter.postbox.flush().await;
    let (third, reports) = capture_reports(fixture.counter.handle(&message)).await;
    third.unwrap();
    let clear = reports[0].clear.as_ref().expect("the read-back");
    assert_eq!(clear.handed_over().count(), 0, "{clear:?}");
    assert_eq!(fixture.producer.sent().len(), 1);
}

#[tokio::test]
async fn two_consumers_of_one_message_each_handle_it_once() {
    let fixture = fixture("first").await;
    let second = GreetingCounter {
        postbox: fixture.counter.postbox.clone(),
        inbox: Inbox::new("second").with_table_name(fixture.counter.inbox.table_name()),
        counts: fixture.counter.counts.clone(),
        fail: AtomicBool::new(false),
    };
    let message = greeting("Sansa");
    for _ in 0..2 {
        fixture.counter.handle(&message).await.unwrap();
        second.handle(&message).await.unwrap();
    }
    assert_eq!(fixture.count("Sansa").await, 2, "once per consumer");
}

#[tokio::test]
async fn the_inbox_record_costs_two_write_units_and_no_extra_request() {
    let fixture = fixture("costs").await;
    let (result, reports) = capture_reports(fixture.counter.handle(&greeting("Arya"))).await;
    result.unwrap();
    let with_inbox = reports[0].capacity_units.expect("units reported");

    // The same writes without the inbox record.
    let mut tx = fixture.counter.postbox.begin();
    tx.update(
        &fixture.counter.counts,
        "Arya",
        Expr::new("ADD #c :one")
            .name("#c", "Count")
            .value(":one", AttributeValue::N("1".into())),
        None,
    )
    .unwrap();
    tx.deposit(&GreetingCounted {
        name: "Arya".into(),
    })
    .unwrap();
    let without = tx.commit().await.unwrap().capacity_units.unwrap();
    assert_eq!(
        with_inbox - without,
        2.0,
        "one more item under 1 KB in the transaction: two write units"
    );
}

#[tokio::test]
async fn receiving_after_a_deposit_or_twice_is_refused_with_what_to_do() {
    let fixture = fixture("order").await;
    let inbox = &fixture.counter.inbox;
    let mut tx = fixture.counter.postbox.begin();
    tx.deposit(&GreetingCounted { name: "A".into() }).unwrap();
    let err = tx.receive(inbox, &greeting("A")).unwrap_err().to_string();
    assert!(err.contains("receive first"), "{err}");

    let mut tx = fixture.counter.postbox.begin();
    tx.receive(inbox, &greeting("A")).unwrap();
    let err = tx.receive(inbox, &greeting("B")).unwrap_err().to_string();
    assert!(err.contains("one incoming message"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The SQS consumer over moto
// ---------------------------------------------------------------------------------------------

/// A queue with a dead-letter queue (redrive after 3 receives) and a short visibility
/// timeout, so that what is left to the queue comes back within the test.
async fn queue_with_redrive(moto: &Moto, fifo: bool) -> String {
    let dlq = moto.queue("consumer-dlq", fifo).await;
    let dlq_arn = moto.queue_arn(&dlq).await;
    let queue = moto.queue("consumer", fifo).await;
    moto.sqs
        .set_queue_attributes()
        .queue_url(&queue)
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"3"}}"#),
        )
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .unwrap();
    queue
}

fn handler_of(
    counter: &Arc<GreetingCounter>,
) -> impl Fn(Message) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>
+ Send
+ Sync
+ 'static {
    let counter = Arc::clone(counter);
    move |message: Message| {
        let counter = Arc::clone(&counter);
        Box::pin(async move { counter.handle(&message).await })
    }
}

#[tokio::test]
async fn the_sqs_consumer_deletes_after_the_commit_and_absorbs_a_redelivery() {
    let moto = moto().await;
    let fixture = fixture("sqs-consumer").await;
    let queue = queue_with_redrive(&moto, false).await;
    let producer = SqsProducer::new(moto.sqs.clone()).with_route("greeting.made", &queue);
    let message = greeting("Bran");
    producer.send(&message).await.unwrap();

    let consumer =
        SqsConsumer::new(moto.sqs.clone(), &queue).with_wait_time(Duration::from_secs(2));
    let handler = handler_of(&fixture.counter);
    let report = consumer.poll_once(&handler).await.unwrap();
    assert_eq!(
        (report.received, report.handled, report.deleted),
        (1, 1, 1),
        "{report:?}"
    );

    // The producer sends it again (a sweeper after a lost mark): absorbed and deleted.
    producer.send(&message).await.unwrap();
    let report = consumer.poll_once(&handler).await.unwrap();
    assert_eq!((report.duplicates, report.deleted), (1, 1), "{report:?}");
    assert_eq!(fixture.count("Bran").await, 1);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        moto.receive_once(&queue).await.is_empty(),
        "nothing left in the queue"
    );
}

#[tokio::test]
async fn a_failed_handler_and_an_unreadable_delivery_are_left_to_the_queue() {
    let moto = moto().await;
    let fixture = fixture("sqs-failures").await;
    let queue = queue_with_redrive(&moto, false).await;
    SqsProducer::new(moto.sqs.clone())
        .with_route("greeting.made", &queue)
        .send(&greeting("Rickon"))
        .await
        .unwrap();
    moto.sqs
        .send_message()
        .queue_url(&queue)
        .message_body("not an outbox message")
        .send()
        .await
        .unwrap();

    fixture.counter.fail.store(true, Ordering::SeqCst);
    let consumer =
        SqsConsumer::new(moto.sqs.clone(), &queue).with_wait_time(Duration::from_secs(2));
    let handler = handler_of(&fixture.counter);
    let mut report = consumer.poll_once(&handler).await.unwrap();
    if report.received < 2 {
        let more = consumer.poll_once(&handler).await.unwrap();
        report.received += more.received;
        report.failed += more.failed;
        report.undecodable += more.undecodable;
        report.deleted += more.deleted;
    }
    assert_eq!(
        (
            report.received,
            report.failed,
            report.undecodable,
            report.deleted
        ),
        (2, 1, 1, 0),
        "{report:?}"
    );

    // Both come back after the visibility timeout; the handler now succeeds.
    fixture.counter.fail.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut handled = 0;
    let mut undecodable = 0;
    for _ in 0..3 {
        let report = consumer.poll_once(&handler).await.unwrap();
        handled += report.handled;
        undecodable += report.undecodable;
        if handled == 1 && undecodable >= 1 {
            break;
        }
    }
    assert_eq!(handled, 1, "the failed message came back and was handled");
    assert!(
        undecodable >= 1,
        "the unreadable one came back too: never deleted"
    );
    assert_eq!(fixture.count("Rickon").await, 1);
}

#[tokio::test]
async fn a_delivery_wrapped_in_an_sns_envelope_is_read_from_it() {
    let moto = moto().await;
    let fixture = fixture("sns-envelope").await;
    let queue = queue_with_redrive(&moto, false).await;
    let topic = moto.topic("consumer", false).await;
    let queue_arn = moto.queue_arn(&queue).await;
    // Without raw message delivery: SNS wraps the message in its JSON envelope.
    moto.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    outbox_runtime::transport::SnsProducer::new(moto.sns.clone())
        .with_route("greeting.made", &topic)
        .send(&greeting("Hodor"))
        .await
        .unwrap();

    let consumer =
        SqsConsumer::new(moto.sqs.clone(), &queue).with_wait_time(Duration::from_secs(2));
    let report = consumer
        .poll_once(&handler_of(&fixture.counter))
        .await
        .unwrap();
    assert_eq!((report.handled, report.deleted), (1, 1), "{report:?}");
    assert_eq!(fixture.count("Hodor").await, 1);
}

#[tokio::test]
async fn on_a_fifo_queue_a_failure_holds_the_rest_of_its_group_back() {
    let moto = moto().await;
    let fixture = fixture("fifo").await;
    let queue = queue_with_redrive(&moto, true).await;
    let producer = SqsProducer::new(moto.sqs.clone()).with_route("greeting.made", &queue);
    let first = greeting("Jon");
    let second = greeting("Jon");
    producer.send(&first).await.unwrap();
    producer.send(&second).await.unwrap();

    fixture.counter.fail.store(true, Ordering::SeqCst);
    let consumer =
        SqsConsumer::new(moto.sqs.clone(), &queue).with_wait_time(Duration::from_secs(2));
    let report = consumer
        .poll_once(&handler_of(&fixture.counter))
        .await
        .unwrap();
    // SQS hands out a FIFO group's messages together, so one receive holds both: the hold-back
    // is exercised, not a second receive that a failed group would block anyway.
    assert_eq!(
        report.received, 2,
        "one receive, the whole group: {report:?}"
    );
    assert_eq!(report.failed, 1, "{report:?}");
    assert_eq!(report.held_back, 1, "{report:?}");
    assert_eq!(report.deleted, 0);
    assert_eq!(fixture.count("Jon").await, 0);
}

#[tokio::test]
async fn run_handles_until_shutdown_and_finishes_what_is_in_flight() {
    let moto = moto().await;
    let fixture = fixture("run").await;
    let queue = queue_with_redrive(&moto, false).await;
    let producer = SqsProducer::new(moto.sqs.clone()).with_route("greeting.made", &queue);
    let messages: Vec<Message> = (0..25).map(|n| greeting(&format!("P{}", n % 5))).collect();
    producer.send_batch(&messages).await;

    let consumer = SqsConsumer::new(moto.sqs.clone(), &queue)
        .with_concurrency(20)
        .with_wait_time(Duration::from_secs(1));
    let counter = Arc::clone(&fixture.counter);
    let db = fixture.db.clone();
    let shutdown = async move {
        // Until every message's inbox item exists.
        loop {
            let mut all = true;
            for message in &messages {
                all &= counter.inbox.contains(&db, message.id()).await.unwrap();
            }
            if all {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        consumer.run(handler_of(&fixture.counter), shutdown),
    )
    .await
    .expect("the consumer stops after shutdown")
    .unwrap();
    assert_eq!(
        report.handled + report.duplicates,
        report.deleted,
        "{report:?}"
    );
    assert!(report.handled >= 25, "{report:?}");
    let mut total = 0;
    for n in 0..5 {
        total += fixture.count(&format!("P{n}")).await;
    }
    assert_eq!(total, 25, "each message applied once");
}

#[tokio::test]
async fn the_lambda_sqs_entry_reports_only_what_must_be_retried() {
    let fixture = fixture("lambda-sqs").await;
    let good = greeting("Ned");
    let attributes = |message: &Message| {
        // What Lambda hands over: the attributes as SQS received them from the producer.
        let mut map = serde_json::Map::new();
        for (name, value) in [
            ("outbox-message-id", message.id().as_str().to_owned()),
            ("outbox-topic", message.topic().to_owned()),
            ("outbox-message-type", "event".to_owned()),
            ("outbox-created-at", "1700000000000".to_owned()),
        ] {
            map.insert(
                name.to_owned(),
                serde_json::json!({"stringValue": value, "dataType": "String"}),
            );
        }
        serde_json::Value::Object(map)
    };
    let body = String::from_utf8(good.body.to_bytes().unwrap()).unwrap();
    let event: SqsEvent = serde_json::from_value(serde_json::json!({
        "Records": [
            {"messageId": "q-1", "body": body, "messageAttributes": attributes(&good),
             "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:greetings", "attributes": {}},
            {"messageId": "q-2", "body": body, "messageAttributes": attributes(&good),
             "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:greetings", "attributes": {}},
            {"messageId": "q-3", "body": "garbage", "messageAttributes": {},
             "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:greetings", "attributes": {}},
        ]
    }))
    .unwrap();
    let handler = SqsHandler::new(handler_of(&fixture.counter));
    let response = handler.handle(event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|failure| failure.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        ["q-3"],
        "the duplicate is acknowledged, the unreadable one retried"
    );
    assert_eq!(fixture.count("Ned").await, 1);
}

fn failed_records(
    response: &outbox_runtime::lambda::aws_lambda_events::event::sqs::SqsBatchResponse,
) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|failure| failure.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn the_lambda_sqs_entry_reports_a_failed_handler_so_the_queue_delivers_it_again() {
    let moto = moto().await;
    let fixture = fixture("lambda-failing").await;
    let queue = moto.queue("lambda-failing", false).await;
    let producer = SqsProducer::new(moto.sqs.clone()).with_route("greeting.made", &queue);
    for name in ["Arya", "Sansa"] {
        producer.send(&greeting(name)).await.unwrap();
    }
    let received = moto.receive(&queue, 2).await;
    let event = outbox_tests::lambda_sqs_event(&moto.queue_arn(&queue).await, &received);
    let handler = SqsHandler::new(handler_of(&fixture.counter));

    fixture.counter.fail.store(true, Ordering::SeqCst);
    let response = handler.handle(event.clone()).await;
    let mut failed = failed_records(&response);
    failed.sort();
    let mut all: Vec<String> = received
        .iter()
        .map(|m| m.message_id().unwrap().to_owned())
        .collect();
    all.sort();
    assert_eq!(
        failed, all,
        "a record whose handler failed is never acknowledged"
    );
    assert_eq!(
        fixture.count("Arya").await + fixture.count("Sansa").await,
        0
    );

    // Delivered again, and handled this time.
    fixture.counter.fail.store(false, Ordering::SeqCst);
    let response = handler.handle(event).await;
    assert!(failed_records(&response).is_empty(), "{response:?}");
    assert_eq!(fixture.count("Arya").await, 1);
    assert_eq!(fixture.count("Sansa").await, 1);
}

#[tokio::test]
async fn the_lambda_sqs_entry_reports_the_rest_of_a_fifo_group_after_a_failure_unhandled() {
    let moto = moto().await;
    let queue = moto.queue("lambda-fifo", true).await;
    let producer = SqsProducer::new(moto.sqs.clone()).with_route("greeting.made", &queue);
    // Group "Jon" (the partition key): three messages, the first of which fails; group "Ygritte":
    // one message.
    let jon: Vec<Message> = ["first", "second", "third"]
        .into_iter()
        .map(|greeting| {
            GreetingMade {
                name: "Jon".into(),
                greeting: greeting.into(),
            }
            .to_message()
            .unwrap()
        })
        .collect();
    let ygritte = greeting("Ygritte");
    for message in jon.iter().chain([&ygritte]) {
        producer.send(message).await.unwrap();
    }
    let received = moto.receive(&queue, 4).await;
    let groups: Vec<Option<&str>> = received
        .iter()
        .map(|m| {
            m.attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .map(String::as_str)
        })
        .collect();
    assert!(
        groups.iter().all(Option::is_some),
        "FIFO deliveries carry their group: {groups:?}"
    );
    let event = outbox_tests::lambda_sqs_event(&moto.queue_arn(&queue).await, &received);

    let handled: Arc<std::sync::Mutex<Vec<outbox_runtime::MessageId>>> = Arc::default();
    let failing = jon[0].id().clone();
    let handler = SqsHandler::new({
        let handled = Arc::clone(&handled);
        move |message: Message| {
            let handled = Arc::clone(&handled);
            let failing = failing.clone();
            async move {
                if *message.id() == failing {
                    return Err(Error::InvalidConfig("injected: the handler failed".into()));
                }
                handled.lock().unwrap().push(message.id().clone());
                Ok(())
            }
        }
    });
    let response = handler.handle(event).await;

    let record_of = |message: &Message| {
        received
            .iter()
            .find(|m| {
                m.message_attributes()
                    .and_then(|a| a.get("outbox-message-id"))
                    .and_then(|v| v.string_value())
                    == Some(message.id().as_str())
            })
            .and_then(|m| m.message_id())
            .expect("the message was received")
            .to_owned()
    };
    let mut failed = failed_records(&response);
    failed.sort();
    let mut expected: Vec<String> = jon.iter().map(record_of).collect();
    expected.sort();
    assert_eq!(
        failed, expected,
        "the failed record and the rest of its group come back, in order, for the next try"
    );
    assert_eq!(
        *handled.lock().unwrap(),
        vec![ygritte.id().clone()],
        "the rest of Jon's group was not handled out of order; Ygritte's group went on"
    );
}
