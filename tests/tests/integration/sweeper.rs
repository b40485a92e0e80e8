//! Dispatch against DynamoDB Local: the immediate clear, the sweeper, retries, dead letters,
//! order per key, and leases shared by several sweepers.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outbox_runtime::transport::{InMemoryProducer, Producer, ProducerError};
use outbox_runtime::{
    ClearMode, Message, MessageId, Outbox, OutboxConfig, Postbox, RetryPolicy, Sweeper,
    SweeperConfig,
};
use outbox_tests::{create_table, dynamodb, unique_name};

/// Fails chosen messages a chosen number of times, then sends them.
#[derive(Default)]
struct FlakyProducer {
    inner: InMemoryProducer,
    failures_left: Mutex<HashMap<MessageId, u32>>,
}

impl FlakyProducer {
    fn fail(&self, id: &MessageId, times: u32) {
        self.failures_left.lock().unwrap().insert(id.clone(), times);
    }
}

impl Producer for FlakyProducer {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        if let Some(left) = self.failures_left.lock().unwrap().get_mut(message.id())
            && *left > 0
        {
            *left -= 1;
            return Err(ProducerError::new(message, "injected failure"));
        }
        self.inner.send(message).await
    }
}

async fn outbox(shards: u16) -> Outbox {
    let db = dynamodb().await;
    let config = OutboxConfig::new(unique_name("outbox")).with_shards(shards);
    create_table(&db, &config.table_schema()).await;
    Outbox::new(db, config).unwrap()
}

fn sweeper_config(owner: &str) -> SweeperConfig {
    SweeperConfig::default()
        .with_interval(Duration::from_millis(20))
        .with_min_age(Duration::ZERO)
        .with_lease_duration(Duration::from_secs(2))
        .with_owner(owner)
}

fn quick_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::new()
        .with_max_attempts(max_attempts)
        .with_base_delay(Duration::from_millis(2))
        .with_max_delay(Duration::from_millis(2))
}

fn slow_retry() -> RetryPolicy {
    RetryPolicy::new()
        .with_max_attempts(5)
        .with_base_delay(Duration::from_secs(3600))
        .with_max_delay(Duration::from_secs(3600))
}

#[tokio::test]
async fn a_committed_message_whose_clear_never_ran_is_delivered_by_the_sweeper() {
    let outbox = outbox(4).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let mut tx = postbox.begin();
    let id = tx
        .deposit_message(Message::new("greeting.made", b"{}".to_vec()))
        .unwrap();
    // As if the process died right after the commit: nobody clears.
    postbox
        .commit_and_send(tx, ClearMode::Sweeper)
        .await
        .unwrap();
    assert!(producer.sent().is_empty());
    assert!(outbox.get(&id).await.unwrap().unwrap().is_outstanding());

    let mut sweeper = Sweeper::new(
        &postbox.clone().with_retry_policy(quick_retry(3)),
        sweeper_config("solo"),
    );
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(report.sent, vec![id.clone()]);
    assert_eq!(report.shards.len(), 4, "a lone sweeper holds every shard");
    let stored_created = outbox
        .get(&id)
        .await
        .unwrap()
        .unwrap()
        .message
        .header
        .created_at;
    assert_eq!(report.oldest_outstanding, Some(stored_created));
    assert_eq!(producer.sent().len(), 1);
    assert!(!outbox.get(&id).await.unwrap().unwrap().is_outstanding());
    // Nothing is sent twice.
    assert!(sweeper.sweep_once().await.unwrap().sent.is_empty());
    assert_eq!(producer.sent().len(), 1);
}

#[tokio::test]
async fn the_immediate_clear_sends_from_memory_and_records_a_failed_attempt() {
    let outbox = outbox(2).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));

    let mut tx = postbox.begin();
    let sent = tx
        .deposit_message(Message::new("t", b"1".to_vec()))
        .unwrap();
    postbox
        .commit_and_send(tx, ClearMode::Immediate)
        .await
        .unwrap();
    assert_eq!(producer.sent()[0].id(), &sent);
    postbox.flush().await;
    assert!(!outbox.get(&sent).await.unwrap().unwrap().is_outstanding());

    producer.set_failing(true);
    let mut tx = postbox.begin();
    let failed = tx
        .deposit_message(Message::new("t", b"2".to_vec()))
        .unwrap();
    // A failed send does not fail the commit.
    postbox
        .commit_and_send(tx, ClearMode::Immediate)
        .await
        .unwrap();
    let stored = outbox.get(&failed).await.unwrap().unwrap();
    assert!(stored.is_outstanding());
    assert_eq!(stored.attempts, 1);
    assert!(stored.last_error.unwrap().contains("set to fail"));
}

#[tokio::test]
async fn a_failing_transport_backs_off_then_delivers() {
    let outbox = outbox(2).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let message = Message::new("t", b"{}".to_vec());
    outbox.store(&message).await.unwrap();

    producer.set_failing(true);
    let mut sweeper = Sweeper::new(
        &postbox.clone().with_retry_policy(slow_retry()),
        sweeper_config("backoff"),
    );
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(report.failed, 1);
    let stored = outbox.get(message.id()).await.unwrap().unwrap();
    assert!(stored.is_outstanding());
    assert_eq!(stored.attempts, 1);
    assert!(stored.next_attempt_at.is_some());

    // The transport is back, but the backoff (at least 30 minutes here) is not over.
    producer.set_failing(false);
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!((report.sent.len(), report.held_back), (0, 1));
    assert_eq!(outbox.get(message.id()).await.unwrap().unwrap().attempts, 1);

    // With a short backoff the next pass delivers it.
    sweeper.release().await.unwrap();
    let mut sweeper = Sweeper::new(
        &postbox.clone().with_retry_policy(quick_retry(5)),
        sweeper_config("backoff-2"),
    );
    let message2 = Message::new("t", b"{}".to_vec());
    outbox.store(&message2).await.unwrap();
    producer.set_failing(true);
    sweeper.sweep_once().await.unwrap();
    producer.set_failing(false);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(report.sent, vec![message2.id().clone()]);
    assert_eq!(producer.sent().len(), 1);
}

#[tokio::test]
async fn after_the_maximum_a_message_is_dead_lettered_and_replay_delivers_it() {
    let outbox = outbox(2).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let message = Message::new("t", b"{}".to_vec());
    outbox.store(&message).await.unwrap();
    producer.set_failing(true);

    let mut sweeper = Sweeper::new(
        &postbox.clone().with_retry_policy(quick_retry(3)),
        sweeper_config("dead"),
    );
    let mut dead_lettered = 0;
    for _ in 0..3 {
        dead_lettered += sweeper.sweep_once().await.unwrap().dead_lettered;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dead_lettered, 1);
    let stored = outbox.get(message.id()).await.unwrap().unwrap();
    assert!(stored.is_dead_lettered() && !stored.is_outstanding());
    assert_eq!(stored.attempts, 3);
    assert!(
        stored
            .last_error
            .as_deref()
            .unwrap()
            .contains("set to fail")
    );
    assert_eq!(
        outbox.outstanding_count(10).await.unwrap().count,
        0,
        "left the index"
    );
    let letters = outbox.dead_letters(10, None).await.unwrap();
    assert_eq!(letters.messages.len(), 1);
    assert_eq!(letters.messages[0].message.id(), message.id());

    // A further pass does not touch it.
    assert_eq!(sweeper.sweep_once().await.unwrap().examined, 0);

    producer.set_failing(false);
    assert_eq!(outbox.replay(&[message.id().clone()]).await.unwrap(), 1);
    let replayed = outbox.get(message.id()).await.unwrap().unwrap();
    assert!(replayed.is_outstanding());
    assert_eq!(replayed.attempts, 0);
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(report.sent, vec![message.id().clone()]);
    assert_eq!(producer.sent().len(), 1);
    assert!(
        outbox
            .dead_letters(10, None)
            .await
            .unwrap()
            .messages
            .is_empty()
    );
}

#[tokio::test]
async fn a_later_message_of_a_key_never_overtakes_an_earlier_unsent_one() {
    let outbox = outbox(4).await;
    let producer = Arc::new(FlakyProducer::default());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    // Made in the same millisecond, as the deposits of one transaction are: deposit order
    // decides.
    let keyed: Vec<Message> = (0..3)
        .map(|n| Message::new("t", vec![n]).with_partition_key("customer-1"))
        .collect();
    let mut keyed = keyed;
    let created = keyed[0].header.created_at;
    for message in &mut keyed {
        message.header.created_at = created;
    }
    let other = Message::new("t", b"other".to_vec()).with_partition_key("customer-2");
    let mut tx = postbox.begin();
    for message in keyed.iter().chain([&other]) {
        tx.deposit_message(message.clone()).unwrap();
    }
    postbox
        .commit_and_send(tx, ClearMode::Sweeper)
        .await
        .unwrap();
    producer.fail(keyed[0].id(), 1);

    let mut sweeper = Sweeper::new(
        &postbox.clone().with_retry_policy(quick_retry(5)),
        sweeper_config("order"),
    );
    let first = sweeper.sweep_once().await.unwrap();
    assert_eq!(first.failed, 1);
    assert_eq!(
        first.sent,
        vec![other.id().clone()],
        "only the other key goes ahead"
    );
    assert_eq!(first.held_back, 2);

    tokio::time::sleep(Duration::from_millis(10)).await;
    let second = sweeper.sweep_once().await.unwrap();
    assert_eq!(second.sent.len(), 3);
    let order: Vec<MessageId> = producer
        .inner
        .sent()
        .iter()
        .filter(|m| m.header.partition_key.as_deref() == Some("customer-1"))
        .map(|m| m.id().clone())
        .collect();
    let expected: Vec<MessageId> = keyed.iter().map(|m| m.id().clone()).collect();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn two_sweepers_split_the_shards_and_deliver_a_thousand_messages_exactly_once() {
    let outbox = outbox(8).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox =
        Postbox::new(outbox.clone(), Arc::clone(&producer)).with_retry_policy(quick_retry(5));
    // Leases long enough that none lapses while the test is slow (a loaded machine): a shard
    // in both lists below is then really held twice, not a stale list.
    let config = |owner: &str| sweeper_config(owner).with_lease_duration(Duration::from_secs(10));
    let mut a = Sweeper::new(&postbox, config("sweeper-a"));
    let mut b = Sweeper::new(&postbox, config("sweeper-b"));

    // Let the leases settle: the second sweeper joins, the first gives up half (rebalancing
    // every quarter of the lease).
    let mut settled = false;
    for _ in 0..150 {
        let held_a = a.sweep_once().await.unwrap().shards;
        let held_b = b.sweep_once().await.unwrap().shards;
        let overlap: HashSet<_> = held_a.iter().filter(|s| held_b.contains(s)).collect();
        assert!(overlap.is_empty(), "a shard held twice: {overlap:?}");
        if held_a.len() == 4 && held_b.len() == 4 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(settled, "the two sweepers never split the 8 shards evenly");

    let messages: Vec<Message> = (0..1000)
        .map(|n| {
            Message::new("t", format!("{n}").into_bytes())
                .with_partition_key(format!("k{}", n % 97))
        })
        .collect();
    for chunk in messages.chunks(50) {
        let adds = chunk.iter().map(|m| outbox.store(m));
        for result in futures_util::future::join_all(adds).await {
            result.unwrap();
        }
    }

    // Both sweep at the same time, as two processes would.
    let drain = |mut sweeper: Sweeper| {
        let producer = Arc::clone(&producer);
        tokio::spawn(async move {
            let mut sent = 0;
            for _ in 0..500 {
                sent += sweeper.sweep_once().await.unwrap().sent.len();
                if producer.sent().len() >= 1000 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            sent
        })
    };
    let (task_a, task_b) = (drain(a), drain(b));
    let (sent_a, sent_b) = (task_a.await.unwrap(), task_b.await.unwrap());
    let mut deliveries: HashMap<MessageId, usize> = HashMap::new();
    for message in producer.sent() {
        *deliveries.entry(message.id().clone()).or_default() += 1;
    }
    assert_eq!(deliveries.len(), 1000, "every message delivered");
    assert!(
        deliveries.values().all(|n| *n == 1),
        "no message delivered twice"
    );
    assert_eq!(sent_a + sent_b, 1000);
    assert!(
        sent_a > 0 && sent_b > 0,
        "both sweepers worked: {sent_a} and {sent_b}"
    );
    assert_eq!(outbox.outstanding_count(10).await.unwrap().count, 0);
}

#[tokio::test]
async fn a_pass_that_gives_shards_away_midway_reports_only_what_it_still_holds() {
    let outbox = outbox(8).await;
    let delivered = Arc::new(InMemoryProducer::new());
    let producer = SlowProducer {
        inner: Arc::clone(&delivered),
        pause: Duration::from_millis(400),
    };
    let postbox = Postbox::new(outbox.clone(), producer).with_retry_policy(quick_retry(5));
    // One shard at a time, one message per shard at 400 ms a send: a's pass would take 3.2 s
    // while it holds all 8. It rebalances every 2 s (a quarter of the lease), so once b has
    // joined (after a's first send) a rebalances before its sixth shard, and gives half its
    // shards to b in the middle of the pass. The order of events makes it so, not timing.
    //
    // The lease is long so that a's leases outlive any pause of this machine until b's last
    // pass: with a 2 s lease, a pause of under a second (two cores shared with the rest of the
    // suite and DynamoDB Local) let a's leases lapse, and b took all 8.
    let lease = Duration::from_secs(8);
    let config = |owner: &str| {
        sweeper_config(owner)
            .with_lease_duration(lease)
            .with_shard_concurrency(1)
    };
    let mut a = Sweeper::new(&postbox, config("sweeper-a"));
    let mut b = Sweeper::new(&postbox, config("sweeper-b"));
    assert_eq!(a.sweep_once().await.unwrap().shards.len(), 8);
    for shard in 0..8 {
        let key = (0..)
            .map(|n| format!("key-{n}"))
            .find(|key| outbox_runtime::table::shard_of_key(key, 8) == shard)
            .unwrap();
        outbox
            .store(&Message::new("t", b"{}".to_vec()).with_partition_key(key))
            .await
            .unwrap();
    }

    let (held_a, joined) = tokio::join!(a.sweep_once(), async {
        while delivered.sent().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        b.sweep_once().await
    });
    let held_a = held_a.unwrap().shards;
    assert!(
        joined.unwrap().shards.is_empty(),
        "b joined while a held all 8"
    );
    // b takes what a gave away at its own next rebalance.
    tokio::time::sleep(lease / 4).await;
    let held_b = b.sweep_once().await.unwrap().shards;
    let overlap: Vec<_> = held_a.iter().filter(|s| held_b.contains(s)).collect();
    assert!(
        overlap.is_empty(),
        "a's report lists shards b holds now: a {held_a:?}, b {held_b:?}"
    );
    assert_eq!(held_a.len(), 4, "a gave half away: {held_a:?}");
    assert_eq!(held_b.len(), 4, "b took them: {held_b:?}");
    assert_eq!(delivered.sent().len(), 8, "every message sent once");
}

#[tokio::test]
async fn a_dead_sweepers_shards_are_taken_over_once_its_lease_lapses() {
    let outbox = outbox(4).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox =
        Postbox::new(outbox.clone(), Arc::clone(&producer)).with_retry_policy(quick_retry(3));
    let mut config = sweeper_config("doomed");
    // Long enough that the early look below comes well before the lapse, even on a busy machine.
    config.lease_duration = Duration::from_secs(3);
    let mut doomed = Sweeper::new(&postbox, config.clone());
    assert_eq!(doomed.sweep_once().await.unwrap().shards.len(), 4);
    drop(doomed); // dies without releasing anything

    let message = Message::new("t", b"{}".to_vec());
    outbox.store(&message).await.unwrap();
    config.owner = Some("heir".to_owned());
    let mut heir = Sweeper::new(&postbox, config);
    let early = heir.sweep_once().await.unwrap();
    assert!(
        early.shards.is_empty(),
        "the dead sweeper's leases still run"
    );
    assert!(early.sent.is_empty());

    tokio::time::sleep(Duration::from_millis(3300)).await;
    let late = heir.sweep_once().await.unwrap();
    assert_eq!(late.shards.len(), 4);
    assert_eq!(late.sent, vec![message.id().clone()]);
}

#[tokio::test]
async fn a_graceful_stop_hands_the_shards_over_at_once() {
    let outbox = outbox(4).await;
    let postbox = Postbox::new(outbox.clone(), InMemoryProducer::new());
    let mut first = Sweeper::new(
        &postbox.clone().with_retry_policy(quick_retry(3)),
        sweeper_config("first"),
    );
    assert_eq!(first.sweep_once().await.unwrap().shards.len(), 4);
    first.release().await.unwrap();

    let mut second = Sweeper::new(
        &postbox.clone().with_retry_policy(quick_retry(3)),
        sweeper_config("second"),
    );
    assert_eq!(second.sweep_once().await.unwrap().shards.len(), 4);
}

#[tokio::test]
async fn run_stops_on_cancellation_and_releases_its_leases() {
    let outbox = outbox(2).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let message = Message::new("t", b"{}".to_vec());
    outbox.store(&message).await.unwrap();

    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(
        Sweeper::new(
            &postbox.clone().with_retry_policy(quick_retry(3)),
            sweeper_config("runner"),
        )
        .run(stop.clone().cancelled_owned()),
    );
    for _ in 0..100 {
        if !producer.sent().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(producer.sent().len(), 1);

    let mut next = Sweeper::new(
        &postbox.clone().with_retry_policy(quick_retry(3)),
        sweeper_config("next"),
    );
    assert_eq!(
        next.sweep_once().await.unwrap().shards.len(),
        2,
        "leases were released"
    );
}

#[tokio::test]
async fn an_unreadable_item_is_dead_lettered_and_does_not_block_its_shard() {
    let outbox = outbox(1).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let messages: Vec<Message> = (0..3).map(|n| Message::new("t", vec![n])).collect();
    for message in &messages {
        outbox.store(message).await.unwrap();
    }
    // Damage the middle one, as a hand edit might.
    outbox
        .db()
        .client()
        .update_item()
        .table_name(&outbox.config().table_name)
        .key(
            "MessageId",
            aws_sdk_dynamodb::types::AttributeValue::S(messages[1].id().to_string()),
        )
        .update_expression("REMOVE #body")
        .expression_attribute_names("#body", "Body")
        .send()
        .await
        .unwrap();

    let listed = outbox.outstanding(Duration::ZERO, 10, None).await.unwrap();
    assert_eq!(listed.messages.len(), 2);
    assert_eq!(listed.unreadable.len(), 1);
    assert_eq!(&listed.unreadable[0].0, messages[1].id());
    assert!(
        listed.unreadable[0].1.contains("`Body`"),
        "{:?}",
        listed.unreadable
    );

    let mut sweeper = Sweeper::new(
        &postbox.clone().with_retry_policy(quick_retry(3)),
        sweeper_config("corrupt"),
    );
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(
        report.sent.len(),
        2,
        "the readable messages around it are delivered"
    );
    assert_eq!(report.dead_lettered, 1);
    let letters = outbox.dead_letters(10, None).await.unwrap();
    assert!(
        letters.messages.is_empty(),
        "the damaged item cannot be listed as a message"
    );
    assert_eq!(&letters.unreadable[0].0, messages[1].id());
    assert_eq!(outbox.outstanding_count(10).await.unwrap().count, 0);
}

/// Sends after a pause, like a slow transport.
struct SlowProducer {
    inner: Arc<InMemoryProducer>,
    pause: Duration,
}

impl Producer for SlowProducer {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        tokio::time::sleep(self.pause).await;
        self.inner.send(message).await
    }
}

#[tokio::test]
async fn a_shard_pass_longer_than_the_lease_keeps_the_shard_and_sends_nothing_twice() {
    // One shard, one key: a round holds one message, so ten rounds of 300 ms each take 3 s,
    // longer than the 1 s lease. The sweeper renews as it goes; the other never gets the shard.
    let outbox = outbox(1).await;
    let delivered = Arc::new(InMemoryProducer::new());
    let sweeper = |owner: &str| {
        let postbox = Postbox::new(
            outbox.clone(),
            SlowProducer {
                inner: Arc::clone(&delivered),
                pause: Duration::from_millis(300),
            },
        );
        Sweeper::new(
            &postbox.with_retry_policy(quick_retry(5)),
            sweeper_config(owner).with_lease_duration(Duration::from_secs(1)),
        )
    };
    let mut a = sweeper("slow-a");
    let mut b = sweeper("slow-b");
    assert_eq!(a.sweep_once().await.unwrap().shards, vec![0]);
    for n in 0..10 {
        outbox
            .store(&Message::new("t", format!("{n}").into_bytes()).with_partition_key("k"))
            .await
            .unwrap();
    }
    let long_pass = tokio::spawn(async move { a.sweep_once().await.unwrap() });
    let started = std::time::Instant::now();
    while !long_pass.is_finished() && started.elapsed() < Duration::from_secs(10) {
        b.sweep_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = long_pass.await.unwrap();
    assert_eq!(report.sent.len(), 10, "the long pass sent everything");
    let ids: Vec<MessageId> = delivered.sent().iter().map(|m| m.id().clone()).collect();
    let distinct: HashSet<&MessageId> = ids.iter().collect();
    assert_eq!(ids.len(), 10, "nothing sent twice: {} sends", ids.len());
    assert_eq!(distinct.len(), 10);
}

/// Counts the mark requests (`BatchExecuteStatement`) a client makes and, while set to fail,
/// fails each before it leaves the process.
#[derive(Clone, Debug, Default)]
struct MarkRequests {
    failing: Arc<std::sync::atomic::AtomicBool>,
    made: Arc<std::sync::atomic::AtomicUsize>,
}

impl MarkRequests {
    fn set_failing(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }

    fn count(&self) -> usize {
        self.made.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl aws_sdk_dynamodb::config::Intercept for MarkRequests {
    fn name(&self) -> &'static str {
        "MarkRequests"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut<
            '_,
        >,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let is_mark = context.request().headers().get("x-amz-target")
            == Some("DynamoDB_20120810.BatchExecuteStatement");
        if !is_mark {
            return Ok(());
        }
        self.made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("injected: DynamoDB unavailable".into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn the_marks_of_a_long_pass_go_out_before_each_lease_renewal() {
    // One shard, one key, four messages: four rounds of one message, each longer (300 ms) than
    // a quarter of the 1 s lease, so the leases are renewed before every round after the first.
    // The marks of what was sent before a renewal start before it, so that a lease lost in a
    // slow renewal leaves the next owner fewer sent messages that still look outstanding: one
    // mark request per round, where waiting for 25 ids or the end of the pass would make one
    // for all four.
    let db = dynamodb().await;
    let config = OutboxConfig::new(unique_name("outbox")).with_shards(1);
    create_table(&db, &config.table_schema()).await;
    let marks = MarkRequests::default();
    let outbox = Outbox::new(db.with_interceptor(marks.clone()), config).unwrap();
    let postbox = Postbox::new(
        outbox.clone(),
        SlowProducer {
            inner: Arc::new(InMemoryProducer::new()),
            pause: Duration::from_millis(300),
        },
    );
    let mut sweeper = Sweeper::new(
        &postbox,
        sweeper_config("renewing").with_lease_duration(Duration::from_secs(1)),
    );
    for n in 0..4 {
        outbox
            .store(&Message::new("t", format!("{n}").into_bytes()).with_partition_key("k"))
            .await
            .unwrap();
    }
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(report.sent.len(), 4, "{report:?}");
    assert_eq!(marks.count(), 4, "one mark request per round");
    for id in &report.sent {
        let stored = outbox.get(id).await.unwrap().unwrap();
        assert!(!stored.is_outstanding(), "{id} marked");
    }
}

#[tokio::test]
async fn a_failed_mark_fails_the_pass_but_failed_sends_are_recorded_and_the_next_pass_resends() {
    let db = dynamodb().await;
    let config = OutboxConfig::new(unique_name("outbox")).with_shards(1);
    create_table(&db, &config.table_schema()).await;
    let marks = MarkRequests::default();
    let outbox = Outbox::new(db.with_interceptor(marks.clone()), config).unwrap();
    let producer = Arc::new(FlakyProducer::default());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let refused = Message::new("t", b"{}".to_vec());
    let sent = Message::new("t", b"{}".to_vec());
    outbox.store(&refused).await.unwrap();
    outbox.store(&sent).await.unwrap();
    producer.fail(refused.id(), 1);
    let mut sweeper = Sweeper::new(
        &postbox.clone().with_retry_policy(slow_retry()),
        sweeper_config("marks-fail"),
    );

    marks.set_failing(true);
    let err = sweeper.sweep_once().await.unwrap_err();
    assert!(err.to_string().contains("cannot reach DynamoDB"), "{err}");
    // The failed send was recorded all the same: its backoff does not depend on the mark.
    let stored = outbox.get(refused.id()).await.unwrap().unwrap();
    assert_eq!(stored.attempts, 1);
    assert!(stored.next_attempt_at.is_some());
    // The sent one stays outstanding.
    assert!(
        outbox
            .get(sent.id())
            .await
            .unwrap()
            .unwrap()
            .is_outstanding()
    );

    marks.set_failing(false);
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(
        report.sent,
        vec![sent.id().clone()],
        "sent again, then marked"
    );
    assert_eq!(report.held_back, 1, "the refused one waits for its backoff");
    let copies = producer
        .inner
        .sent()
        .iter()
        .filter(|m| m.id() == sent.id())
        .count();
    assert_eq!(
        copies, 2,
        "at least once: the unmarked message went out twice"
    );
    assert!(
        outbox
            .get(sent.id())
            .await
            .unwrap()
            .unwrap()
            .dispatched_at
            .is_some()
    );
}

#[tokio::test]
async fn a_failed_mark_never_lets_a_later_message_of_a_key_out_first_it_sends_the_earlier_again() {
    // One shard, one key, three messages: three rounds of one message, their marks batched
    // together while the rounds go on, and failing.
    let db = dynamodb().await;
    let config = OutboxConfig::new(unique_name("outbox")).with_shards(1);
    create_table(&db, &config.table_schema()).await;
    let marks = MarkRequests::default();
    let outbox = Outbox::new(db.with_interceptor(marks.clone()), config).unwrap();
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    let messages: Vec<Message> = (0..3)
        .map(|n| Message::new("t", format!("{n}").into_bytes()).with_partition_key("k"))
        .collect();
    for message in &messages {
        outbox.store(message).await.unwrap();
    }
    let mut sweeper = Sweeper::new(&postbox, sweeper_config("order-marks"));

    marks.set_failing(true);
    sweeper
        .sweep_once()
        .await
        .expect_err("the marks failed: so does the pass");
    let ids =
        |sent: Vec<Message>| -> Vec<MessageId> { sent.iter().map(|m| m.id().clone()).collect() };
    let first: Vec<MessageId> = messages.iter().map(|m| m.id().clone()).collect();
    assert_eq!(
        ids(producer.sent()),
        first,
        "every message went out once, in order: no later one before an earlier one"
    );
    for message in &messages {
        let stored = outbox.get(message.id()).await.unwrap().unwrap();
        assert!(stored.is_outstanding(), "unmarked, so outstanding");
    }

    marks.set_failing(false);
    sweeper.sweep_once().await.unwrap();
    // What the failed marks cost: each earlier message again, after the later ones went out.
    let mut twice = first.clone();
    twice.extend(first.iter().cloned());
    assert_eq!(ids(producer.sent()), twice);
    for message in &messages {
        let stored = outbox.get(message.id()).await.unwrap().unwrap();
        assert!(stored.dispatched_at.is_some(), "marked by the second pass");
    }
}

#[tokio::test]
async fn shards_swept_at_once_keep_the_order_of_every_key() {
    let outbox = outbox(16).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer));
    // 40 keys over 16 shards, 10 messages each, pages of 7 so that a key spans pages.
    let mut made: HashMap<String, Vec<MessageId>> = HashMap::new();
    let messages: Vec<Message> = (0..400)
        .map(|n| {
            let key = format!("key-{}", n % 40);
            let message = Message::new("t", format!("{n}").into_bytes()).with_partition_key(&key);
            made.entry(key).or_default().push(message.id().clone());
            message
        })
        .collect();
    for chunk in messages.chunks(50) {
        for result in futures_util::future::join_all(chunk.iter().map(|m| outbox.store(m))).await {
            result.unwrap();
        }
    }
    let mut sweeper = Sweeper::new(
        &postbox,
        sweeper_config("concurrent")
            .with_batch_size(7)
            .with_max_pages(100)
            .with_shard_concurrency(16),
    );
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!(report.sent.len(), 400);
    let mut seen: HashMap<String, Vec<MessageId>> = HashMap::new();
    for message in producer.sent() {
        seen.entry(message.header.partition_key.clone().unwrap())
            .or_default()
            .push(message.id().clone());
    }
    assert_eq!(
        seen, made,
        "every key's messages in the order they were made"
    );
    assert_eq!(outbox.outstanding_count(10).await.unwrap().count, 0);
}

#[tokio::test]
async fn a_later_message_of_a_key_waits_while_an_earlier_one_waits_out_its_backoff() {
    let outbox = outbox(4).await;
    let producer = Arc::new(FlakyProducer::default());
    // The first failure puts the message an hour away: every later pass finds it not yet due.
    let postbox =
        Postbox::new(outbox.clone(), Arc::clone(&producer)).with_retry_policy(slow_retry());
    let created = std::time::SystemTime::now();
    let keyed: Vec<Message> = (0..3)
        .map(|n| {
            let mut message = Message::new("t", vec![n]).with_partition_key("customer-1");
            message.header.created_at = created;
            message
        })
        .collect();
    let other = Message::new("t", b"other".to_vec()).with_partition_key("customer-2");
    let mut tx = postbox.begin();
    for message in keyed.iter().chain([&other]) {
        tx.deposit_message(message.clone()).unwrap();
    }
    postbox
        .commit_and_send(tx, ClearMode::Sweeper)
        .await
        .unwrap();
    producer.fail(keyed[0].id(), 1);

    let mut sweeper = Sweeper::new(&postbox, sweeper_config("backoff"));
    let first = sweeper.sweep_once().await.unwrap();
    assert_eq!(first.failed, 1, "{first:?}");
    assert_eq!(first.sent, vec![other.id().clone()]);
    let stored = outbox.get(keyed[0].id()).await.unwrap().unwrap();
    assert!(
        stored
            .next_attempt_at
            .is_some_and(|at| at > std::time::SystemTime::now()),
        "the failed message waits out its backoff: {stored:?}"
    );

    // The earlier message is not due, so it is not sent; the later ones of its key wait with it.
    for _ in 0..3 {
        let pass = sweeper.sweep_once().await.unwrap();
        assert!(
            pass.sent.is_empty(),
            "nothing of customer-1 may go: {pass:?}"
        );
        assert_eq!(pass.held_back, 3, "{pass:?}");
    }
    let sent: Vec<MessageId> = producer
        .inner
        .sent()
        .iter()
        .map(|m| m.id().clone())
        .collect();
    assert_eq!(sent, vec![other.id().clone()]);
    for message in &keyed {
        assert!(
            outbox
                .get(message.id())
                .await
                .unwrap()
                .unwrap()
                .is_outstanding()
        );
    }
}

/// Holds a sweeper's first lease write (a `PutItem` on a lease item) until told to go on, so
/// that another sweeper can write its leases between this one's read of the leases and its
/// write, as a second process may at any time.
#[derive(Clone, Debug)]
struct HoldFirstLeaseWrite {
    reached: Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
    go: Arc<Mutex<Option<std::sync::mpsc::Receiver<()>>>>,
}

impl HoldFirstLeaseWrite {
    fn new() -> (
        Self,
        tokio::sync::oneshot::Receiver<()>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (reached, reached_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go) = std::sync::mpsc::channel();
        (
            Self {
                reached: Arc::new(Mutex::new(Some(reached))),
                go: Arc::new(Mutex::new(Some(go))),
            },
            reached_rx,
            go_tx,
        )
    }
}

impl aws_sdk_dynamodb::config::Intercept for HoldFirstLeaseWrite {
    fn name(&self) -> &'static str {
        "HoldFirstLeaseWrite"
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
        let is_lease_write = request.headers().get("x-amz-target")
            == Some("DynamoDB_20120810.PutItem")
            && request
                .body()
                .bytes()
                .is_some_and(|body| String::from_utf8_lossy(body).contains("_lease#"));
        if !is_lease_write {
            return Ok(());
        }
        let Some(reached) = self.reached.lock().unwrap().take() else {
            return Ok(());
        };
        let go = self
            .go
            .lock()
            .unwrap()
            .take()
            .expect("taken with `reached`");
        let _ = reached.send(());
        // The runtime goes on with its other tasks on another thread meanwhile.
        tokio::task::block_in_place(|| go.recv_timeout(Duration::from_secs(30)))
            .map_err(|_| "the test never let the held lease write go on".into())
    }
}

/// Sweeper a reads the leases; before it writes, sweeper b takes its share; then a writes.
/// Returns the shards each reports.
async fn lease_race(outbox: &Outbox, postbox: &Postbox) -> (Vec<u16>, Vec<u16>) {
    let (hold, reached, go) = HoldFirstLeaseWrite::new();
    let held_postbox = Postbox::new(
        Outbox::new(
            outbox.db().clone().with_interceptor(hold),
            outbox.config().clone(),
        )
        .unwrap(),
        InMemoryProducer::new(),
    );
    // Leases far longer than the test: the reports of both stay true until they are compared,
    // however slow this machine is (with 2 s, a pass of a delayed past b's lease took b's
    // shards over, as it should, and the comparison saw a stale report of b).
    let racer = |owner: &str| sweeper_config(owner).with_lease_duration(Duration::from_secs(60));
    let mut a = Sweeper::new(&held_postbox, racer("racer-a"));
    let mut b = Sweeper::new(postbox, racer("racer-b"));
    let a_pass = tokio::spawn(async move { a.sweep_once().await.unwrap().shards });
    reached.await.expect("a reached its lease write");
    let held_b = b.sweep_once().await.unwrap().shards;
    go.send(()).unwrap();
    let held_a = a_pass.await.unwrap();
    (held_a, held_b)
}

/// Who holds each shard's lease, read from the table.
async fn lease_owners(outbox: &Outbox) -> HashMap<u16, String> {
    let prefix = "__outbox_lease#";
    let items = outbox
        .db()
        .client()
        .scan()
        .table_name(&outbox.config().table_name)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|item| {
            let id = item["MessageId"].as_s().ok()?;
            let shard = id.strip_prefix(prefix)?.rsplit('#').next()?.parse().ok()?;
            Some((shard, item["LeaseOwner"].as_s().ok()?.clone()))
        })
        .collect()
}

fn assert_one_holder_each(held_a: &[u16], held_b: &[u16], owners: &HashMap<u16, String>) {
    let twice: Vec<&u16> = held_a.iter().filter(|s| held_b.contains(s)).collect();
    assert!(
        twice.is_empty(),
        "shards held by both sweepers: {twice:?} (a {held_a:?}, b {held_b:?})"
    );
    for (holder, shards) in [("racer-a", held_a), ("racer-b", held_b)] {
        for shard in shards {
            assert_eq!(
                owners.get(shard).map(String::as_str),
                Some(holder),
                "shard {shard}: {owners:?}"
            );
        }
    }
    assert_eq!(held_a.len() + held_b.len(), 8, "a {held_a:?}, b {held_b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_written_between_another_sweepers_read_and_write_is_never_held_twice() {
    // Free shards: no lease item yet, so each write is conditional on the item's absence.
    let free = outbox(8).await;
    let postbox = Postbox::new(free.clone(), InMemoryProducer::new());
    let (held_a, held_b) = lease_race(&free, &postbox).await;
    assert_eq!(
        held_b.len(),
        4,
        "b took its share while a was about to write: {held_b:?}"
    );
    assert_one_holder_each(&held_a, &held_b, &lease_owners(&free).await);

    // Lapsed leases: each write is conditional on the version read.
    let lapsed = outbox(8).await;
    let postbox = Postbox::new(lapsed.clone(), InMemoryProducer::new());
    let lease = Duration::from_millis(300);
    let mut doomed = Sweeper::new(
        &postbox,
        sweeper_config("doomed").with_lease_duration(lease),
    );
    assert_eq!(doomed.sweep_once().await.unwrap().shards.len(), 8);
    drop(doomed); // dies holding every shard
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let (held_a, held_b) = lease_race(&lapsed, &postbox).await;
    assert_eq!(held_b.len(), 4, "{held_b:?}");
    assert_one_holder_each(&held_a, &held_b, &lease_owners(&lapsed).await);
}
