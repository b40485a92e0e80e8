//! The stream relay against DynamoDB Local's streams (served on its own port): the stream
//! enabled on an existing table, the self-hosted relay with two relays and one killed, fencing,
//! the records that never trigger a send, failed sends handed to the attempts machinery, the
//! stream-only layout, and the Lambda adapter fed with events built from real stream records.
//! DynamoDB Local keeps one shard per stream; the parent-before-child logic is unit-tested in
//! the runtime on synthesized shard lists.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::StreamMode;
use outbox_runtime::lambda::StreamHandler;
use outbox_runtime::lambda::aws_lambda_events::event::dynamodb::Event;
use outbox_runtime::stream::{KeyedMessages, RelayReport, StreamRelay, StreamRelayConfig};
use outbox_runtime::table::EnsureOutcome;
use outbox_runtime::table::attributes as attr;
use outbox_runtime::transport::{InMemoryProducer, Producer, ProducerError};
use outbox_runtime::{
    ClearMode, DynamoDb, Error, MarkMode, Message, MessageId, Outbox, OutboxConfig, Postbox,
    RetryPolicy, Sweeper, SweeperConfig,
};
use outbox_tests::{create_table, dynamodb, dynamodb_streams, unique_name};

fn stream_only() -> StreamMode {
    StreamMode::stream_only(Duration::from_secs(3 * 24 * 3600))
}

/// A fresh outbox with its stream in `mode`, and the relay's state table.
async fn stream_outbox(db: &DynamoDb, mode: StreamMode) -> Outbox {
    let config = OutboxConfig::new(unique_name("stream-outbox"))
        .with_shards(4)
        .with_stream(mode);
    let outbox = Outbox::new(db.clone(), config).unwrap();
    outbox.ensure_table().await.unwrap();
    create_table(
        db,
        &StreamRelayConfig::default().state_table_schema(outbox.config()),
    )
    .await;
    outbox
}

fn relay_config(owner: &str) -> StreamRelayConfig {
    StreamRelayConfig::default()
        .with_owner(owner)
        .with_lease_duration(Duration::from_millis(600))
        .with_poll_interval(Duration::from_millis(10))
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy::new()
        .with_max_attempts(5)
        .with_base_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(2))
}

fn sweeper_config(owner: &str) -> SweeperConfig {
    SweeperConfig::default()
        .with_min_age(Duration::ZERO)
        .with_lease_duration(Duration::from_secs(2))
        .with_owner(owner)
}

/// Commits `count` messages of key `key` (one per transaction); the postbox's immediate clear
/// is off under a stream mode, so nothing is sent.
async fn commit(postbox: &Postbox, key: &str, count: usize) -> Vec<MessageId> {
    let mut ids = Vec::new();
    for n in 0..count {
        let mut tx = postbox.begin();
        let id = tx
            .deposit_message(
                Message::new("stream.test", format!("{{\"n\":{n}}}").into_bytes())
                    .with_partition_key(key),
            )
            .unwrap();
        let committed = postbox
            .commit_and_send(tx, ClearMode::Immediate)
            .await
            .unwrap();
        assert_eq!(committed.messages.len(), 1);
        ids.push(id);
    }
    ids
}

/// Passes of `relay` until `done` says so; a bound keeps a broken relay from hanging the test.
async fn relay_until(
    relay: &mut StreamRelay,
    mut done: impl FnMut(&RelayReport) -> bool,
) -> RelayReport {
    let mut total = RelayReport::default();
    for _ in 0..2000 {
        let report = relay.relay_once().await.unwrap();
        total.records += report.records;
        total.filtered += report.filtered;
        total.failed += report.failed;
        total.sent.extend(report.sent.iter().cloned());
        total.held_back.extend(report.held_back.iter().cloned());
        total
            .sent_after_lease_lost
            .extend(report.sent_after_lease_lost.iter().cloned());
        total.shards = report.shards.clone();
        total.iterator_age = report.iterator_age;
        if done(&total) {
            return total;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the relay never got there: {total:?}");
}

/// One pass of a relay that reads to the stream's tip and finds nothing new.
async fn caught_up(relay: &mut StreamRelay) -> RelayReport {
    relay_until(relay, |r| {
        r.iterator_age == Some(Duration::ZERO) && !r.shards.is_empty()
    })
    .await
}

#[tokio::test]
async fn ensure_table_enables_the_stream_on_an_existing_table_and_says_so() {
    let db = dynamodb().await;
    let name = unique_name("stream-outbox");
    // A table made without the stream keeps working for an outbox without one.
    let plain = Outbox::new(db.clone(), OutboxConfig::new(&name)).unwrap();
    assert_eq!(plain.ensure_table().await.unwrap(), EnsureOutcome::Created);
    let streams = dynamodb_streams().await;
    let with_stream = OutboxConfig::new(&name).with_stream(StreamMode::WithSweeper);
    let outbox = Outbox::new(db.clone(), with_stream).unwrap();
    let postbox = Postbox::new(outbox.clone(), InMemoryProducer::new());
    let mut relay = StreamRelay::new(&postbox, streams.clone(), relay_config("r")).unwrap();
    let err = relay.relay_once().await.unwrap_err();
    assert!(matches!(err, Error::StreamNotEnabled { .. }), "{err}");
    assert!(err.to_string().contains("Outbox::ensure_table"), "{err}");

    assert_eq!(
        outbox.ensure_table().await.unwrap(),
        EnsureOutcome::StreamEnabled
    );
    assert_eq!(
        outbox.ensure_table().await.unwrap(),
        EnsureOutcome::AlreadyExisted
    );
    assert_eq!(
        plain.ensure_table().await.unwrap(),
        EnsureOutcome::AlreadyExisted
    );
    let described = db
        .client()
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let spec = described.table().unwrap().stream_specification().unwrap();
    assert!(spec.stream_enabled());
    assert_eq!(
        spec.stream_view_type(),
        Some(&aws_sdk_dynamodb::types::StreamViewType::NewImage)
    );

    // The outbox made before keeps working on the table with its stream.
    let message = Message::new("t", b"{}".to_vec());
    plain.store(&message).await.unwrap();
    assert!(
        plain
            .get(message.id())
            .await
            .unwrap()
            .unwrap()
            .is_outstanding()
    );
}

#[tokio::test]
async fn a_stream_mode_turns_the_immediate_clear_off_unless_asked() {
    let db = dynamodb().await;
    let outbox = stream_outbox(&db, StreamMode::WithSweeper).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    assert!(!postbox.clears_immediately());
    commit(&postbox, "k", 1).await;
    assert!(
        producer.sent().is_empty(),
        "the relay sends, not the handler"
    );
    let both = postbox.with_immediate_clear(true);
    commit(&both, "k", 1).await;
    assert_eq!(producer.sent().len(), 1);
}

/// Records every send; after `hang_after` sends by a relay marked doomed, it hangs for good
/// (the process is about to be killed between its send and its checkpoint).
#[derive(Default)]
struct Recording {
    sent: Mutex<Vec<(String, MessageId)>>,
    doomed_sends: AtomicUsize,
    hang_after: AtomicUsize,
    hung: tokio::sync::Notify,
}

struct RelayProducer {
    name: &'static str,
    doomed: bool,
    log: Arc<Recording>,
}

impl Producer for RelayProducer {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        self.log
            .sent
            .lock()
            .unwrap()
            .push((self.name.to_owned(), message.id().clone()));
        if self.doomed {
            let n = self.log.doomed_sends.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= self.log.hang_after.load(Ordering::SeqCst) {
                self.log.hung.notify_one();
                std::future::pending::<()>().await;
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_one_killed_lose_nothing_and_every_duplicate_is_the_killed_ones_unchecked_sends()
{
    let db = dynamodb().await;
    let streams = dynamodb_streams().await;
    let outbox = stream_outbox(&db, StreamMode::WithSweeper).await;
    let log = Arc::new(Recording::default());
    log.hang_after.store(70, Ordering::SeqCst);
    let committer = Postbox::new(outbox.clone(), InMemoryProducer::new());
    let mut ids: Vec<MessageId> = Vec::new();
    for key in ["a", "b", "c", "d"] {
        ids.extend(commit(&committer, key, 50).await);
    }

    // Relay A takes the one shard and is killed mid-batch: a send done, no checkpoint after it.
    let postbox_a = Postbox::new(
        outbox.clone(),
        RelayProducer {
            name: "a",
            doomed: true,
            log: Arc::clone(&log),
        },
    );
    let relay_a = StreamRelay::new(
        &postbox_a,
        streams.clone(),
        relay_config("relay-a").with_batch_size(40),
    )
    .unwrap();
    let a = tokio::spawn(relay_a.run(std::future::pending()));
    log.hung.notified().await;
    a.abort();
    let _ = a.await;

    // Relay B, started now, takes the shard once A's lease lapses and resumes at A's checkpoint.
    let postbox_b = Postbox::new(
        outbox.clone(),
        RelayProducer {
            name: "b",
            doomed: false,
            log: Arc::clone(&log),
        },
    );
    let mut relay_b = StreamRelay::new(&postbox_b, streams, relay_config("relay-b")).unwrap();
    let wanted: HashSet<MessageId> = ids.iter().cloned().collect();
    let log_b = Arc::clone(&log);
    relay_until(&mut relay_b, move |_| {
        let sent = log_b.sent.lock().unwrap();
        wanted.iter().all(|id| sent.iter().any(|(_, s)| s == id))
    })
    .await;

    // B stops gracefully: it gives its lease back, so another relay takes the shard at once.
    relay_b.release().await.unwrap();
    let sent = log.sent.lock().unwrap().clone();
    let by_a: Vec<&MessageId> = sent
        .iter()
        .filter(|(who, _)| who == "a")
        .map(|(_, id)| id)
        .collect();
    assert_eq!(by_a.len(), 70, "A sent until it was killed");
    let mut seen: HashMap<&MessageId, usize> = HashMap::new();
    for (_, id) in &sent {
        *seen.entry(id).or_default() += 1;
    }
    assert!(ids.iter().all(|id| seen.contains_key(id)), "0 lost");
    assert_eq!(seen.len(), ids.len(), "nothing but the committed messages");
    // A checkpoints after each batch of 40: its second batch was cut short after 30 sends.
    // Those 30 are the only duplicates, sent again by B from A's checkpoint.
    let duplicates: Vec<&MessageId> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(duplicates.len(), 30, "{duplicates:?}");
    let unchecked: HashSet<&MessageId> = by_a[40..].iter().copied().collect();
    assert!(duplicates.iter().all(|id| unchecked.contains(id)));
    // Every key in order on the one shard, A's and B's sends together.
    let position: HashMap<&MessageId, usize> = sent
        .iter()
        .enumerate()
        .rev()
        .map(|(n, (_, id))| (id, n))
        .collect();
    for key in ids.chunks(50) {
        assert!(key.windows(2).all(|w| position[&w[0]] < position[&w[1]]));
    }
    // B marked what it sent: nothing is left for the sweeper.
    assert_eq!(outbox.outstanding_count(10).await.unwrap().count, 0);
}

/// A producer that says when it is called, then waits at a gate before it sends.
struct Gated {
    entered: Arc<tokio::sync::Notify>,
    open: Arc<tokio::sync::Semaphore>,
    sent: Arc<Mutex<Vec<MessageId>>>,
}

impl Producer for Gated {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        self.entered.notify_one();
        let _permit = self.open.acquire().await.expect("never closed");
        self.sent.lock().unwrap().push(message.id().clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_whose_lease_was_taken_over_cannot_checkpoint_and_counts_what_it_sent() {
    let db = dynamodb().await;
    let streams = dynamodb_streams().await;
    let outbox = stream_outbox(&db, StreamMode::WithSweeper).await;
    let committer = Postbox::new(outbox.clone(), InMemoryProducer::new());
    let ids = commit(&committer, "k", 5).await;

    // A reads the batch and stalls in its send, cut off from DynamoDB (a paused process, a
    // network partition): it cannot renew its lease...
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let entered = Arc::new(tokio::sync::Notify::new());
    let sent_a = Arc::new(Mutex::new(Vec::new()));
    let cut_off = RefuseUpdates::default();
    let outbox_a = Outbox::new(
        db.clone().with_interceptor(cut_off.clone()),
        outbox.config().clone(),
    )
    .unwrap();
    let postbox_a = Postbox::new(
        outbox_a,
        Gated {
            entered: Arc::clone(&entered),
            open: Arc::clone(&gate),
            sent: Arc::clone(&sent_a),
        },
    );
    let mut relay_a =
        StreamRelay::new(&postbox_a, streams.clone(), relay_config("relay-a")).unwrap();
    let stalled = tokio::spawn(async move {
        let report = relay_a.relay_once().await;
        (relay_a, report)
    });
    entered.notified().await;
    cut_off.0.store(true, Ordering::SeqCst);
    // ... its lease lapses, and B takes the shard (the token moves on) and sends everything.
    let sent_b = Arc::new(InMemoryProducer::new());
    let postbox_b = Postbox::new(outbox.clone(), Arc::clone(&sent_b));
    let mut relay_b = StreamRelay::new(&postbox_b, streams, relay_config("relay-b")).unwrap();
    let report_b = relay_until(&mut relay_b, |r| r.sent.len() == ids.len()).await;
    assert_eq!(report_b.sent, ids);

    // A is back: its send goes out after all, its checkpoint is refused (the token moved on),
    // and it counts what it sent.
    cut_off.0.store(false, Ordering::SeqCst);
    gate.add_permits(1000);
    let (_relay_a, report_a) = stalled.await.unwrap();
    let report_a = report_a.unwrap();
    assert_eq!(report_a.sent_after_lease_lost, ids, "{report_a:?}");
    assert!(report_a.shards.is_empty(), "A no longer holds the shard");
    assert_eq!(*sent_a.lock().unwrap(), ids);
}

#[tokio::test]
async fn marks_failures_replays_and_leases_never_trigger_a_send() {
    let db = dynamodb().await;
    let streams = dynamodb_streams().await;
    let outbox = stream_outbox(&db, StreamMode::WithSweeper).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let ids = commit(&postbox, "k", 3).await;
    let mut relay = StreamRelay::new(&postbox, streams, relay_config("relay")).unwrap();
    let first = relay_until(&mut relay, |r| r.sent.len() == 3).await;
    assert_eq!(first.sent, ids);

    // Bookkeeping of every kind: the relay's own marks (MODIFY), a sweeper's leases and
    // membership (INSERT and MODIFY of `__outbox` items), a dead letter and its replay.
    let mut sweeper = Sweeper::new(&postbox, sweeper_config("sweeper"));
    let pass = sweeper.sweep_once().await.unwrap();
    assert!(pass.sent.is_empty(), "the relay marked what it sent");
    sweeper.release().await.unwrap();
    let extra = commit(&postbox, "k", 1).await;
    outbox
        .dead_letter(&extra[0], "set aside by hand")
        .await
        .unwrap();
    outbox.replay(&extra).await.unwrap();

    let after = relay_until(&mut relay, |r| {
        r.sent.len() == 1 && r.iterator_age == Some(Duration::ZERO)
    })
    .await;
    assert_eq!(after.sent, extra, "only the new message's INSERT is sent");
    assert!(
        after.filtered >= 4 + 3,
        "leases, membership, dead letter, replay, marks: {after:?}"
    );
    let sent: Vec<MessageId> = producer.sent().iter().map(|m| m.id().clone()).collect();
    assert_eq!(sent.len(), 4, "each message once: {sent:?}");
}

/// Fails chosen messages, and the `UpdateItem` recording a failure when told.
#[derive(Default)]
struct Failing {
    inner: InMemoryProducer,
    fail: Mutex<HashSet<MessageId>>,
}

impl Producer for Failing {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        if self.fail.lock().unwrap().contains(message.id()) {
            return Err(ProducerError::new(message, "injected failure"));
        }
        self.inner.send(message).await
    }
}

#[tokio::test]
async fn a_send_the_transport_refuses_is_recorded_and_the_sweeper_delivers_it_in_key_order() {
    for mode in [StreamMode::WithSweeper, stream_only()] {
        let db = dynamodb().await;
        let streams = dynamodb_streams().await;
        let outbox = stream_outbox(&db, mode).await;
        let producer = Arc::new(Failing::default());
        let postbox =
            Postbox::new(outbox.clone(), Arc::clone(&producer)).with_retry_policy(quick_retry());
        let keyed = commit(&postbox, "k", 3).await;
        let other = commit(&postbox, "other", 1).await;
        producer.fail.lock().unwrap().insert(keyed[0].clone());

        let mut relay = StreamRelay::new(&postbox, streams, relay_config("relay")).unwrap();
        let report = relay_until(&mut relay, |r| r.records >= 4).await;
        assert_eq!(report.failed, 1, "{mode:?}: {report:?}");
        // The rest of the failed message's key waits for the sweeper, behind it.
        assert_eq!(report.held_back, keyed[1..], "{mode:?}");
        assert_eq!(report.sent, other, "{mode:?}");
        let stored = outbox.get(&keyed[0]).await.unwrap().unwrap();
        assert_eq!(stored.attempts, 1, "{mode:?}");
        assert!(stored.last_error.unwrap().contains("injected failure"));

        producer.fail.lock().unwrap().clear();
        let mut sweeper = Sweeper::new(&postbox, sweeper_config("sweeper"));
        let mut swept = Vec::new();
        for _ in 0..50 {
            swept.extend(sweeper.sweep_once().await.unwrap().sent);
            if swept.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(swept, keyed, "{mode:?}: the key's messages in order");
        let delivered: Vec<MessageId> = producer
            .inner
            .sent()
            .iter()
            .map(|m| m.id().clone())
            .collect();
        assert_eq!(
            delivered,
            [other.clone(), keyed.clone()].concat(),
            "{mode:?}"
        );
        for id in &keyed {
            let stored = outbox.get(id).await.unwrap().unwrap();
            assert!(
                stored.dispatched_at.is_some(),
                "{mode:?}: marked by the sweeper"
            );
        }
    }
}

/// Reads an item's attributes straight from the table.
async fn raw_item(db: &DynamoDb, table: &str, id: &MessageId) -> HashMap<String, AttributeValue> {
    db.client()
        .get_item()
        .table_name(table)
        .key(attr::MESSAGE_ID, AttributeValue::S(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

#[tokio::test]
async fn stream_only_messages_cost_their_put_alone_and_expire_by_ttl() {
    let db = dynamodb().await;
    let streams = dynamodb_streams().await;
    let outbox = stream_outbox(&db, stream_only()).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let ids = commit(&postbox, "k", 2).await;
    let table = outbox.config().table_name.clone();
    let item = raw_item(&db, &table, &ids[0]).await;
    assert!(
        !item.contains_key(attr::OUTSTANDING_SINCE),
        "never in the index"
    );
    let AttributeValue::N(expires) = &item[attr::EXPIRES_AT] else {
        panic!("a TTL from the deposit: {item:?}");
    };
    let AttributeValue::N(created) = &item[attr::CREATED_AT] else {
        panic!("{item:?}");
    };
    let expires: u64 = expires.parse().unwrap();
    let created: u64 = created.parse().unwrap();
    assert_eq!(expires, created / 1000 + 3 * 24 * 3600);

    let mut relay = StreamRelay::new(&postbox, streams, relay_config("relay")).unwrap();
    let report = relay_until(&mut relay, |r| r.sent.len() == 2).await;
    assert_eq!(report.sent, ids);
    // No mark: the item is as deposited, and left to its TTL.
    assert_eq!(raw_item(&db, &table, &ids[0]).await, item);
    assert_eq!(outbox.outstanding_count(10).await.unwrap().count, 0);
}

/// Refuses every `UpdateItem` while `on` (DynamoDB unreachable for the failure's record).
#[derive(Clone, Debug, Default)]
struct RefuseUpdates(Arc<AtomicBool>);

impl Intercept for RefuseUpdates {
    fn name(&self) -> &'static str {
        "RefuseUpdates"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get(outbox_tests::inject::TARGET);
        if self.0.load(Ordering::SeqCst) && target.is_some_and(|t| t.ends_with(".UpdateItem")) {
            return Err("injected: DynamoDB unreachable".into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn the_lambda_handler_relays_events_built_from_real_stream_records() {
    let db = dynamodb().await;
    let streams = dynamodb_streams().await;
    let outbox = stream_outbox(&db, StreamMode::WithSweeper).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox =
        Postbox::new(outbox.clone(), Arc::clone(&producer)).with_mark_mode(MarkMode::Inline);
    let ids = commit(&postbox, "k", 3).await;
    let table = outbox.config().table_name.clone();
    let handler = StreamHandler::new(&postbox).unwrap();

    let event = outbox_tests::lambda_stream_event(&streams, &table).await;
    assert_eq!(event.records.len(), 3);
    let response = handler.handle(event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let sent: Vec<MessageId> = producer.sent().iter().map(|m| m.id().clone()).collect();
    assert_eq!(sent, ids);
    // Marked before the handler returned: nothing is left running, nothing outstanding.
    for id in &ids {
        assert!(
            outbox
                .get(id)
                .await
                .unwrap()
                .unwrap()
                .dispatched_at
                .is_some()
        );
    }

    // The same stream read again now holds the marks too: MODIFY records, never a send. (Lambda
    // would deliver them to nobody: the filter criteria keep them out.)
    let event = outbox_tests::lambda_stream_event(&streams, &table).await;
    assert_eq!(event.records.len(), 6);
    let marks: Vec<_> = event
        .records
        .iter()
        .filter(|r| r.event_name == "MODIFY")
        .cloned()
        .collect();
    let mut only_marks = Event::default();
    only_marks.records = marks;
    let response = handler.handle(only_marks).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(producer.sent().len(), 3);
}

#[tokio::test]
async fn a_record_whose_message_could_not_be_handed_over_is_the_batch_item_failure() {
    let db = dynamodb().await;
    let streams = dynamodb_streams().await;
    let refuse = RefuseUpdates::default();
    let outbox = stream_outbox(&db.clone().with_interceptor(refuse.clone()), stream_only()).await;
    let producer = Arc::new(Failing::default());
    let postbox =
        Postbox::new(outbox.clone(), Arc::clone(&producer)).with_mark_mode(MarkMode::Inline);
    let ids = commit(&postbox, "k", 1).await;
    let later = commit(&postbox, "other", 2).await;
    let table = outbox.config().table_name.clone();
    let handler = StreamHandler::new(&postbox).unwrap();

    // The transport refuses the first message and DynamoDB refuses to record it: in stream-only
    // mode no marker is left for the sweeper, so the record must come back.
    producer.fail.lock().unwrap().insert(ids[0].clone());
    refuse.0.store(true, Ordering::SeqCst);
    let event = outbox_tests::lambda_stream_event(&streams, &table).await;
    let first = event.records[0].change.sequence_number.clone();
    let response = handler.handle(event.clone()).await;
    assert_eq!(response.batch_item_failures.len(), 1, "{response:?}");
    assert_eq!(response.batch_item_failures[0].item_identifier, first);
    // The records after it were sent: a retry from the failed record sends them again.
    let sent: Vec<MessageId> = producer
        .inner
        .sent()
        .iter()
        .map(|m| m.id().clone())
        .collect();
    assert_eq!(sent, later);

    // Recording works again: the retry hands the failure to the sweeper and succeeds.
    refuse.0.store(false, Ordering::SeqCst);
    let response = handler.handle(event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let stored = outbox.get(&ids[0]).await.unwrap().unwrap();
    assert_eq!(stored.attempts, 1);
    assert_eq!(
        outbox.outstanding_count(10).await.unwrap().count,
        1,
        "the sweeper's now"
    );
}

#[tokio::test]
async fn keyed_messages_can_be_left_to_the_sweeper_for_strict_order() {
    let db = dynamodb().await;
    let streams = dynamodb_streams().await;
    let outbox = stream_outbox(&db, StreamMode::WithSweeper).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let keyed = commit(&postbox, "k", 2).await;
    let mut tx = postbox.begin();
    let unkeyed = tx
        .deposit_message(Message::new("t", b"{}".to_vec()))
        .unwrap();
    postbox
        .commit_and_send(tx, ClearMode::Immediate)
        .await
        .unwrap();

    let mut relay = StreamRelay::new(
        &postbox,
        streams,
        relay_config("relay").with_keyed(KeyedMessages::LeaveToSweeper),
    )
    .unwrap();
    let report = relay_until(&mut relay, |r| r.records >= 3).await;
    assert_eq!(report.sent, [unkeyed]);
    assert_eq!(report.held_back, keyed);
    let report = caught_up(&mut relay).await;
    assert!(report.sent.is_empty());
    let mut sweeper = Sweeper::new(&postbox, sweeper_config("sweeper"));
    assert_eq!(sweeper.sweep_once().await.unwrap().sent, keyed);

    let err = StreamRelay::new(
        &Postbox::new(
            Outbox::new(db, OutboxConfig::new("x-stream").with_stream(stream_only())).unwrap(),
            InMemoryProducer::new(),
        ),
        dynamodb_streams().await,
        StreamRelayConfig::default().with_keyed(KeyedMessages::LeaveToSweeper),
    )
    .unwrap_err();
    assert!(err.to_string().contains("StreamMode::WithSweeper"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chaos_run_in_stream_relay_mode_loses_nothing_and_explains_every_duplicate() {
    use outbox_tests::chaos::{self, ChaosConfig, DuplicateCause};
    let config = ChaosConfig {
        commands: 600,
        keys: 20,
        seed: 16,
        ..ChaosConfig::default()
    };
    let report = chaos::run_stream(&config).await;
    println!("{report}");
    assert_eq!(report.violations(), Vec::<String>::new(), "\n{report}");
    assert!(report.lost.is_empty() && report.phantom.is_empty());
    assert!(
        report.relay_killed.is_some(),
        "a relay was killed mid-run\n{report}"
    );
    assert!(report.unexplained_duplicates.is_empty());
    assert!(
        report
            .duplicates
            .get(&DuplicateCause::RelayKilled)
            .is_some_and(|n| *n > 0),
        "the killed relay's unchecked sends were sent again\n{report}"
    );
    assert!(report.injected_send_failures > 0, "{report}");
    assert!(report.uncertain.is_empty(), "{report}");
    assert_eq!(
        report.deliveries,
        report.delivered + report.duplicate_count(),
        "{report}"
    );
}
