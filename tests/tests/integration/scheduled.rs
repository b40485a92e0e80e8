//! Messages due later against DynamoDB Local: never sent before they are due (not by the
//! immediate clear, not by a sweep, not by a stream relay), sent by the first sweep after, with
//! the default `min_age`; order per key by due time.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use outbox_runtime::consumer::Inbox;
use outbox_runtime::lambda::StreamHandler;
use outbox_runtime::stream::{StreamRelay, StreamRelayConfig};
use outbox_runtime::transport::{InMemoryProducer, Producer, ProducerError};
use outbox_runtime::{
    Cleanup, ClearMode, ContinuationToken, Error, Message, MessageId, Outbox, OutboxConfig,
    Postbox, ScheduleOutcome, StoreOutcome, StreamMode, Sweeper, SweeperConfig, Transaction,
    capture_reports, transactional_handler,
};
use outbox_tests::{create_table, dynamodb, dynamodb_streams, unique_name};

async fn outbox(config: OutboxConfig) -> Outbox {
    let db = dynamodb().await;
    create_table(&db, &config.table_schema()).await;
    Outbox::new(db, config).unwrap()
}

/// The default sweeper settings (`min_age` 10 s) with an owner of the test's own.
fn default_sweeper(owner: &str) -> SweeperConfig {
    SweeperConfig::default().with_owner(owner)
}

fn message(key: &str, n: u32) -> Message {
    Message::new("reminder.due", format!("{{\"n\":{n}}}").into_bytes()).with_partition_key(key)
}

fn sent_ids(producer: &InMemoryProducer) -> Vec<MessageId> {
    producer.sent().iter().map(|m| m.id().clone()).collect()
}

#[tokio::test]
async fn a_scheduled_message_waits_for_its_due_time_and_then_not_for_min_age() {
    let outbox = outbox(OutboxConfig::new(unique_name("scheduled")).with_shards(4)).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let now = SystemTime::now();
    let mut tx = postbox.begin();
    let tomorrow = tx
        .deposit_message_at(message("a", 1), now + Duration::from_secs(24 * 3600))
        .unwrap();
    let soon = tx
        .deposit_message_at(message("b", 2), now + Duration::from_millis(1500))
        .unwrap();
    let overdue = tx
        .deposit_message_at(message("c", 3), now - Duration::from_secs(1))
        .unwrap();
    assert!(tx.messages().is_empty());
    assert_eq!(
        tx.scheduled(),
        [tomorrow.clone(), soon.clone(), overdue.clone()]
    );
    let committed = postbox
        .commit_and_send(tx, ClearMode::Immediate)
        .await
        .unwrap();
    assert_eq!(committed.scheduled.len(), 3);
    assert!(
        producer.sent().is_empty(),
        "the immediate clear leaves scheduled messages to the sweeper"
    );
    let stored = outbox.get(&tomorrow).await.unwrap().unwrap();
    assert!(stored.is_outstanding());
    assert!(stored.due_at.is_some_and(|due| due > now));

    // With the default min_age (10 s), a message already due goes on the first sweep: min_age
    // keeps the sweeper off what the immediate clear is sending, and it sends no scheduled one.
    let mut sweeper = Sweeper::new(&postbox, default_sweeper("scheduled-a"));
    let first = sweeper.sweep_once().await.unwrap();
    assert_eq!(first.sent, vec![overdue.clone()], "{first:?}");
    assert_eq!(sent_ids(&producer), vec![overdue.clone()]);

    // Not yet due: not sent, however often the sweeper passes.
    assert!(sweeper.sweep_once().await.unwrap().sent.is_empty());
    let due = outbox.get(&soon).await.unwrap().unwrap().due_at.unwrap();
    tokio::time::sleep(
        due.duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_add(Duration::from_millis(50)),
    )
    .await;
    let after = sweeper.sweep_once().await.unwrap();
    assert_eq!(
        after.sent,
        vec![soon.clone()],
        "the first sweep after its due time"
    );
    assert!(
        producer.sent().iter().all(|sent| sent.id() != &tomorrow),
        "a message due tomorrow is not sent today"
    );
    assert!(
        outbox
            .get(&tomorrow)
            .await
            .unwrap()
            .unwrap()
            .is_outstanding()
    );
    sweeper.release().await.unwrap();
}

#[tokio::test]
async fn a_keys_messages_go_in_the_order_of_their_due_times() {
    let outbox = outbox(OutboxConfig::new(unique_name("scheduled-order")).with_shards(2)).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let now = SystemTime::now();
    let mut tx = postbox.begin();
    // Deposited first, due last: it holds nothing back.
    let later = tx
        .deposit_message_at(message("k", 1), now + Duration::from_secs(3600))
        .unwrap();
    let at_once = tx.deposit_message(message("k", 2)).unwrap();
    // Deposited last, due first.
    let overdue = tx
        .deposit_message_at(message("k", 3), now - Duration::from_secs(5))
        .unwrap();
    postbox
        .commit_and_send(tx, ClearMode::Sweeper)
        .await
        .unwrap();

    let mut sweeper = Sweeper::new(
        &postbox,
        default_sweeper("scheduled-order").with_min_age(Duration::ZERO),
    );
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(
        report.sent,
        [overdue.clone(), at_once.clone()],
        "{report:?}"
    );
    assert_eq!(sent_ids(&producer), [overdue, at_once]);
    assert!(outbox.get(&later).await.unwrap().unwrap().is_outstanding());
    sweeper.release().await.unwrap();
}

#[tokio::test]
async fn neither_stream_mode_sends_a_scheduled_message_the_sweeper_does_when_due() {
    for mode in [
        StreamMode::WithSweeper,
        StreamMode::stream_only(Duration::from_secs(3 * 24 * 3600)),
    ] {
        let db = dynamodb().await;
        let streams = dynamodb_streams().await;
        let config = OutboxConfig::new(unique_name("scheduled-stream"))
            .with_shards(2)
            .with_stream(mode);
        let outbox = Outbox::new(db.clone(), config).unwrap();
        outbox.ensure_table().await.unwrap();
        create_table(
            &db,
            &StreamRelayConfig::default().state_table_schema(outbox.config()),
        )
        .await;
        let producer = Arc::new(InMemoryProducer::new());
        let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
        let mut tx = postbox.begin();
        let overdue = tx
            .deposit_message_at(message("s", 1), SystemTime::now() - Duration::from_secs(1))
            .unwrap();
        let at_once = tx.deposit_message(message("t", 2)).unwrap();
        postbox
            .commit_and_send(tx, ClearMode::Immediate)
            .await
            .unwrap();
        let stored = outbox.get(&overdue).await.unwrap().unwrap();
        assert_eq!(
            stored.expires_at, None,
            "{mode:?}: no TTL may delete a scheduled message before it is sent"
        );

        let mut relay = StreamRelay::new(
            &postbox,
            streams,
            StreamRelayConfig::default()
                .with_owner("scheduled-relay")
                .with_poll_interval(Duration::from_millis(10)),
        )
        .unwrap();
        let mut relayed = Vec::new();
        let mut filtered = 0;
        for _ in 0..200 {
            let report = relay.relay_once().await.unwrap();
            relayed.extend(report.sent.iter().cloned());
            filtered += report.filtered;
            if !relayed.is_empty() && filtered > 0 {
                break;
            }
        }
        assert_eq!(relayed, vec![at_once.clone()], "{mode:?}");
        assert!(
            outbox
                .get(&overdue)
                .await
                .unwrap()
                .unwrap()
                .is_outstanding()
        );
        relay.release().await.unwrap();

        let mut sweeper = Sweeper::new(&postbox, default_sweeper("scheduled-stream"));
        let report = sweeper.sweep_once().await.unwrap();
        assert_eq!(report.sent, vec![overdue.clone()], "{mode:?}");
        sweeper.release().await.unwrap();
        assert_eq!(sent_ids(&producer), [at_once, overdue], "{mode:?}");
    }
}

#[tokio::test]
async fn a_message_stored_outside_a_transaction_can_be_scheduled_too() {
    let outbox = outbox(OutboxConfig::new(unique_name("scheduled-store")).with_shards(2)).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let now = SystemTime::now();
    let later = message("x", 1);
    let in_an_hour = now + Duration::from_secs(3600);
    assert_eq!(
        outbox.store_at(&later, in_an_hour).await.unwrap(),
        StoreOutcome::Added
    );
    assert_eq!(
        outbox.store_at(&later, in_an_hour).await.unwrap(),
        StoreOutcome::AlreadyPresent,
        "the same message due at the same time"
    );
    let moved = outbox
        .store_at(&later, in_an_hour + Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(moved, Error::DuplicateMessage { .. }), "{moved}");
    let overdue = message("y", 2);
    outbox
        .store_at(&overdue, now - Duration::from_secs(1))
        .await
        .unwrap();

    let mut sweeper = Sweeper::new(&postbox, default_sweeper("scheduled-store"));
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(report.sent, vec![overdue.id().clone()], "{report:?}");
    assert!(
        outbox
            .get(later.id())
            .await
            .unwrap()
            .unwrap()
            .is_outstanding()
    );
    sweeper.release().await.unwrap();
}

/// An outbox of `cleanup` with one message scheduled an hour from now and one overdue.
async fn with_two_scheduled(
    cleanup: Cleanup,
) -> (Outbox, Postbox, Arc<InMemoryProducer>, MessageId, MessageId) {
    let outbox = outbox(
        OutboxConfig::new(unique_name("scheduled-cancel"))
            .with_shards(2)
            .with_cleanup(cleanup),
    )
    .await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let mut tx = postbox.begin();
    let later = tx
        .deposit_message_at(
            message("p", 1),
            SystemTime::now() + Duration::from_secs(3600),
        )
        .unwrap();
    let overdue = tx
        .deposit_message_at(message("q", 2), SystemTime::now() - Duration::from_secs(1))
        .unwrap();
    postbox
        .commit_and_send(tx, ClearMode::Immediate)
        .await
        .unwrap();
    (outbox, postbox, producer, later, overdue)
}

fn keep() -> Cleanup {
    OutboxConfig::default().cleanup
}

#[tokio::test]
async fn a_cancel_in_a_unit_of_work_applies_with_its_commit_and_not_without() {
    for cleanup in [keep(), Cleanup::Delete] {
        let (outbox, postbox, producer, _, overdue) = with_two_scheduled(cleanup).await;

        // The handler fails after its cancel: nothing of it is written.
        let mut tx = postbox.begin();
        assert_eq!(tx.cancel(&overdue).await.unwrap(), ScheduleOutcome::Applied);
        tx.rollback();
        assert!(
            outbox
                .get(&overdue)
                .await
                .unwrap()
                .unwrap()
                .is_outstanding()
        );

        // The handler commits: the message is never sent.
        let mut tx = postbox.begin();
        assert_eq!(tx.cancel(&overdue).await.unwrap(), ScheduleOutcome::Applied);
        tx.commit().await.unwrap();
        let mut sweeper = Sweeper::new(&postbox, default_sweeper("scheduled-cancel"));
        assert!(sweeper.sweep_once().await.unwrap().sent.is_empty());
        assert!(producer.sent().is_empty(), "{cleanup:?}");
        let stored = outbox.get(&overdue).await.unwrap();
        let again = postbox.begin().cancel(&overdue).await.unwrap();
        match cleanup {
            Cleanup::Delete => {
                assert!(stored.is_none());
                assert_eq!(again, ScheduleOutcome::NotFound);
            }
            _ => {
                let stored = stored.unwrap();
                assert!(stored.cancelled_at.is_some() && !stored.is_outstanding());
                assert!(
                    stored.expires_at.is_some(),
                    "a cancelled message follows Cleanup::Keep"
                );
                assert_eq!(again, ScheduleOutcome::AlreadyCancelled);
            }
        }
        sweeper.release().await.unwrap();
    }
}

#[tokio::test]
async fn a_message_sent_or_being_sent_is_never_reported_cancelled() {
    let (outbox, postbox, producer, _, overdue) = with_two_scheduled(keep()).await;

    // The unit of work reads the message as cancellable; the sweeper claims, sends and marks it
    // before the commit: the commit is refused as a conflict, and the next run finds it sent.
    let mut tx = postbox.begin();
    assert_eq!(tx.cancel(&overdue).await.unwrap(), ScheduleOutcome::Applied);
    let mut sweeper = Sweeper::new(
        &postbox
            .clone()
            .with_mark_mode(outbox_runtime::MarkMode::Inline),
        default_sweeper("scheduled-race"),
    );
    assert_eq!(
        sweeper.sweep_once().await.unwrap().sent,
        vec![overdue.clone()]
    );
    let err = tx.commit().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string().contains("scheduled message changed"),
        "{err}"
    );
    assert_eq!(
        postbox.begin().cancel(&overdue).await.unwrap(),
        ScheduleOutcome::AlreadySent
    );
    assert_eq!(
        outbox.cancel(&overdue).await.unwrap(),
        ScheduleOutcome::AlreadySent
    );
    assert_eq!(sent_ids(&producer), vec![overdue.clone()]);

    // A message sent at once is not a scheduled one.
    let mut tx = postbox.begin();
    let at_once = tx.deposit_message(message("r", 3)).unwrap();
    postbox
        .commit_and_send(tx, ClearMode::Sweeper)
        .await
        .unwrap();
    assert_eq!(
        outbox.cancel(&at_once).await.unwrap(),
        ScheduleOutcome::NotScheduled
    );
    assert_eq!(
        outbox
            .cancel(&MessageId::from("no-such-message"))
            .await
            .unwrap(),
        ScheduleOutcome::NotFound
    );
    sweeper.release().await.unwrap();
}

#[tokio::test]
async fn a_rescheduled_message_goes_at_its_new_due_time() {
    let (outbox, postbox, producer, later, overdue) = with_two_scheduled(keep()).await;
    // Earlier: due now instead of in an hour. Later: in an hour instead of now.
    let mut tx = postbox.begin();
    assert_eq!(
        tx.reschedule(&later, SystemTime::now() - Duration::from_millis(10))
            .await
            .unwrap(),
        ScheduleOutcome::Applied
    );
    assert_eq!(
        tx.reschedule(&overdue, SystemTime::now() + Duration::from_secs(3600))
            .await
            .unwrap(),
        ScheduleOutcome::Applied
    );
    tx.commit().await.unwrap();
    let mut sweeper = Sweeper::new(&postbox, default_sweeper("scheduled-move"));
    assert_eq!(
        sweeper.sweep_once().await.unwrap().sent,
        vec![later.clone()]
    );
    assert_eq!(sent_ids(&producer), vec![later]);
    let moved = outbox.get(&overdue).await.unwrap().unwrap();
    assert!(moved.is_outstanding());
    assert!(moved.due_at.unwrap() > SystemTime::now() + Duration::from_secs(3000));
    // Plain `Outbox` calls do the same, outside a unit of work.
    assert_eq!(
        outbox
            .reschedule(&overdue, SystemTime::now() - Duration::from_millis(10))
            .await
            .unwrap(),
        ScheduleOutcome::Applied
    );
    assert_eq!(sweeper.sweep_once().await.unwrap().sent, vec![overdue]);
    sweeper.release().await.unwrap();
}

/// Holds every send until released, and says when one has begun.
#[derive(Default)]
struct HeldProducer {
    started: tokio::sync::Notify,
    release: tokio::sync::Notify,
    inner: InMemoryProducer,
}

impl Producer for HeldProducer {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        self.started.notify_one();
        self.release.notified().await;
        self.inner.send(message).await
    }
}

#[tokio::test]
async fn a_message_the_sweeper_is_sending_is_in_flight_not_cancellable() {
    let outbox = outbox(OutboxConfig::new(unique_name("scheduled-flight")).with_shards(1)).await;
    let producer = Arc::new(HeldProducer::default());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer))
        .with_mark_mode(outbox_runtime::MarkMode::Inline);
    let scheduled = message("f", 1);
    let id = scheduled.id().clone();
    outbox
        .store_at(&scheduled, SystemTime::now() - Duration::from_secs(1))
        .await
        .unwrap();
    // A unit of work reads it as cancellable, then the sweeper claims it: the commit is refused.
    let mut tx = postbox.begin();
    assert_eq!(tx.cancel(&id).await.unwrap(), ScheduleOutcome::Applied);
    let mut sweeper = Sweeper::new(&postbox, default_sweeper("scheduled-flight"));
    let sweep = tokio::spawn(async move {
        let report = sweeper.sweep_once().await.unwrap();
        sweeper.release().await.unwrap();
        report
    });
    producer.started.notified().await;
    let err = tx.commit().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(outbox.cancel(&id).await.unwrap(), ScheduleOutcome::InFlight);
    assert_eq!(
        postbox
            .begin()
            .reschedule(&id, SystemTime::now() + Duration::from_secs(60))
            .await
            .unwrap(),
        ScheduleOutcome::InFlight
    );
    producer.release.notify_one();
    let report = sweep.await.unwrap();
    assert_eq!(report.sent, vec![id.clone()]);
    assert_eq!(
        outbox.cancel(&id).await.unwrap(),
        ScheduleOutcome::AlreadySent
    );
}

#[tokio::test]
async fn listings_and_counts_tell_scheduled_messages_from_due_ones() {
    let outbox = outbox(OutboxConfig::new(unique_name("scheduled-list")).with_shards(4)).await;
    let now = SystemTime::now();
    let mut later = Vec::new();
    for n in 0..5 {
        let scheduled = message(&format!("l{n}"), n);
        outbox
            .store_at(&scheduled, now + Duration::from_secs(3600 + u64::from(n)))
            .await
            .unwrap();
        later.push(scheduled.id().clone());
    }
    let due = message("d", 9);
    outbox.store(&due).await.unwrap();

    assert_eq!(outbox.outstanding_count(100).await.unwrap().count, 1);
    assert_eq!(outbox.scheduled_count(100).await.unwrap().count, 5);
    let capped = outbox.scheduled_count(3).await.unwrap();
    assert!(capped.capped && capped.count == 3);
    let listed = outbox.outstanding(Duration::ZERO, 100, None).await.unwrap();
    assert_eq!(
        listed
            .messages
            .iter()
            .map(|m| m.message.id().clone())
            .collect::<Vec<_>>(),
        vec![due.id().clone()]
    );

    // Paged two at a time, every scheduled message once, each with its due time.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = outbox.scheduled(2, token.as_ref()).await.unwrap();
        for stored in &page.messages {
            assert!(stored.due_at.is_some_and(|at| at > now), "{stored:?}");
            seen.push(stored.message.id().clone());
        }
        match page.next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    seen.sort();
    later.sort();
    assert_eq!(seen, later);
    let wrong = outbox
        .outstanding(Duration::ZERO, 2, Some(&ContinuationToken::parse("s1:0")))
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains("`outstanding`"), "{wrong}");
}

/// A consumer that starts a saga: it acknowledges the order at once and schedules its timeout.
struct Saga {
    postbox: Postbox,
    inbox: Inbox,
}

impl Saga {
    #[transactional_handler(postbox = self.postbox, tx = tx, incoming = message, inbox = self.inbox)]
    async fn start(&self, tx: &mut Transaction, message: &Message) -> Result<(), Error> {
        let order = message.id().to_string();
        tx.deposit_message_at(
            Message::new("order.timed-out", order.clone()).with_partition_key("o-1"),
            SystemTime::now() + Duration::from_secs(3600),
        )?;
        tx.deposit_message(Message::new("order.acknowledged", order).with_partition_key("o-1"))?;
        Ok(())
    }
}

#[tokio::test]
async fn a_consumer_schedules_a_timeout_to_itself_and_a_redelivery_never_sends_it_early() {
    let db = dynamodb().await;
    let config = OutboxConfig::new(unique_name("scheduled-saga")).with_shards(2);
    create_table(&db, &config.table_schema()).await;
    let outbox = Outbox::new(db.clone(), config).unwrap();
    let inbox = Inbox::new("saga").with_table_name(unique_name("saga-inbox"));
    inbox.ensure_table(&db).await.unwrap();
    let producer = Arc::new(InMemoryProducer::new());
    let saga = Saga {
        postbox: Postbox::new(outbox.clone(), Arc::clone(&producer)),
        inbox,
    };
    let placed = Message::new("order.placed", "{\"order\":\"o-1\"}");

    // The first handling commits both; the acknowledgement's send fails.
    producer.set_failing(true);
    let (first, reports) = capture_reports(saga.start(&placed)).await;
    first.unwrap();
    assert_eq!(reports[0].committed.len(), 1, "{reports:?}");
    assert!(producer.sent().is_empty());

    // The redelivery is absorbed, and re-sends what was left outstanding: the acknowledgement,
    // never the timeout, which stays scheduled.
    producer.set_failing(false);
    let (second, reports) = capture_reports(saga.start(&placed)).await;
    second.unwrap();
    assert!(reports[0].duplicate);
    let sent: Vec<String> = producer
        .sent()
        .iter()
        .map(|m| m.topic().to_owned())
        .collect();
    assert_eq!(sent, ["order.acknowledged"]);
    assert_eq!(outbox.scheduled_count(10).await.unwrap().count, 1);
}

#[tokio::test]
async fn after_a_failed_send_a_scheduled_message_holds_its_key_and_can_still_be_cancelled() {
    let outbox = outbox(OutboxConfig::new(unique_name("scheduled-failed")).with_shards(1)).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let mut tx = postbox.begin();
    let first = tx
        .deposit_message_at(message("k", 1), SystemTime::now() - Duration::from_secs(2))
        .unwrap();
    let second = tx
        .deposit_message_at(message("k", 2), SystemTime::now() - Duration::from_secs(1))
        .unwrap();
    postbox
        .commit_and_send(tx, ClearMode::Immediate)
        .await
        .unwrap();

    // The first fails: it keeps its place, waits out its backoff (a second by default), and
    // the key's later message waits behind it.
    producer.set_failing(true);
    let mut sweeper = Sweeper::new(&postbox, default_sweeper("scheduled-failed"));
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!((report.failed, report.held_back), (1, 1), "{report:?}");
    producer.set_failing(false);
    let report = sweeper.sweep_once().await.unwrap();
    assert!(
        report.sent.is_empty(),
        "the backoff holds the key: {report:?}"
    );
    let stored = outbox.get(&first).await.unwrap().unwrap();
    assert!(stored.is_outstanding() && stored.attempts == 1);

    // Waiting out its backoff, it is no longer in flight: it can be cancelled, and then the
    // key's next message goes.
    assert_eq!(
        outbox.cancel(&first).await.unwrap(),
        ScheduleOutcome::Applied
    );
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(report.sent, vec![second.clone()], "{report:?}");
    assert_eq!(sent_ids(&producer), vec![second]);
    sweeper.release().await.unwrap();
}

#[tokio::test]
async fn the_lambda_stream_entry_leaves_a_scheduled_message_to_the_sweeper() {
    let db = dynamodb().await;
    let streams = dynamodb_streams().await;
    let config = OutboxConfig::new(unique_name("scheduled-lambda"))
        .with_shards(2)
        .with_stream(StreamMode::WithSweeper);
    let outbox = Outbox::new(db.clone(), config).unwrap();
    outbox.ensure_table().await.unwrap();
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer))
        .with_mark_mode(outbox_runtime::MarkMode::Inline);
    let mut tx = postbox.begin();
    let overdue = tx
        .deposit_message_at(message("s", 1), SystemTime::now() - Duration::from_secs(1))
        .unwrap();
    let at_once = tx.deposit_message(message("t", 2)).unwrap();
    postbox
        .commit_and_send(tx, ClearMode::Immediate)
        .await
        .unwrap();

    let event = outbox_tests::lambda_stream_event(&streams, &outbox.config().table_name).await;
    assert_eq!(event.records.len(), 2, "both inserts are in the stream");
    let handler = StreamHandler::new(&postbox).unwrap();
    let response = handler.handle(event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(sent_ids(&producer), vec![at_once.clone()]);
    assert!(
        outbox
            .get(&overdue)
            .await
            .unwrap()
            .unwrap()
            .is_outstanding()
    );
}
