//! The outbox table's operations, against DynamoDB Local through the real SDK.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::table::shard_of_key;
use outbox_runtime::transport::InMemoryProducer;
use outbox_runtime::{
    Body, Cleanup, ContinuationToken, Error, Message, MessageId, MessageType, Outbox, OutboxConfig,
    Postbox, StoreOutcome,
};
use outbox_tests::{create_table, dynamodb, unique_name};

async fn outbox_with(config: OutboxConfig) -> Outbox {
    let db = dynamodb().await;
    create_table(&db, &config.table_schema()).await;
    Outbox::new(db, config).unwrap()
}

async fn fresh() -> Outbox {
    outbox_with(OutboxConfig::new(unique_name("outbox"))).await
}

fn full_message() -> Message {
    let mut message = Message::new("orders.placed", vec![0xff, 0x00, 0xfe, 0x80, b'{'])
        .with_message_type(MessageType::Command)
        .with_partition_key("customer-7")
        .with_correlation_id("corr-1")
        .with_content_type("application/octet-stream")
        .with_header("tenant", "north")
        .with_header("attempt", "1");
    message.header.causation_id = Some("cause-1".into());
    message.header.reply_to = Some("orders.replies".into());
    message.header.trace_parent =
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    message.header.trace_state = Some("congo=t61rcWkgMzE".into());
    message
}

fn aged(message: Message, age: Duration) -> Message {
    let mut message = message;
    let created = SystemTime::now() - age;
    // The table keeps milliseconds.
    let millis = created
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    message.header.created_at = SystemTime::UNIX_EPOCH + Duration::from_millis(millis);
    message
}

#[tokio::test]
async fn add_then_get_round_trips_every_field_and_binary_bodies() {
    let outbox = fresh().await;
    let binary = full_message();
    let text = Message::new("greeting.made", "{\"name\":\"Zoë 👋\"}".as_bytes().to_vec());
    let map = Message::new("greeting.made", Vec::new()).with_body(Body::Item(
        [("Name".to_owned(), AttributeValue::S("Tyrion".into()))].into(),
    ));
    for message in [&binary, &text, &map] {
        assert_eq!(outbox.store(message).await.unwrap(), StoreOutcome::Added);
        let stored = outbox.get(message.id()).await.unwrap().expect("stored");
        assert_eq!(&stored.message, message);
        assert!(stored.is_outstanding());
        assert_eq!(stored.expires_at, None, "no TTL before dispatch");
    }
}

#[tokio::test]
async fn get_of_a_missing_id_is_none() {
    let outbox = fresh().await;
    assert_eq!(outbox.get(&MessageId::new()).await.unwrap(), None);
}

#[tokio::test]
async fn get_many_returns_exactly_the_requested_ones_dispatched_or_not() {
    let outbox = fresh().await;
    let messages: Vec<Message> = (0..130)
        .map(|n| Message::new("t", format!("{n}").into_bytes()))
        .collect();
    for message in &messages {
        outbox.store(message).await.unwrap();
    }
    outbox
        .mark_dispatched(&[messages[3].id().clone()])
        .await
        .unwrap();
    // 120 ids (two BatchGetItem calls), one missing, one repeated, in a chosen order.
    let mut wanted: Vec<MessageId> = messages[5..125]
        .iter()
        .rev()
        .map(|m| m.id().clone())
        .collect();
    wanted.push(messages[3].id().clone());
    wanted.push(MessageId::from("not-there"));
    let got = outbox.get_many(&wanted).await.unwrap();
    let got_ids: Vec<&MessageId> = got.iter().map(|s| s.message.id()).collect();
    let expected: Vec<&MessageId> = wanted
        .iter()
        .filter(|id| id.as_str() != "not-there")
        .collect();
    assert_eq!(got_ids, expected);
    assert!(
        !got.last().unwrap().is_outstanding(),
        "dispatched ones are returned too"
    );
}

#[tokio::test]
async fn mark_dispatched_sets_the_ttl_from_dispatch_and_leaves_the_index() {
    let retention = Duration::from_secs(3600);
    let outbox = outbox_with(
        OutboxConfig::new(unique_name("outbox")).with_cleanup(Cleanup::Keep { retention }),
    )
    .await;
    // Created long ago: the TTL must still count from the dispatch.
    let message = aged(
        Message::new("t", b"{}".to_vec()),
        Duration::from_secs(90 * 24 * 3600),
    );
    outbox.store(&message).await.unwrap();
    let before = outbox.outstanding(Duration::ZERO, 10, None).await.unwrap();
    assert_eq!(before.messages.len(), 1);

    let now_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    outbox
        .mark_dispatched(&[message.id().clone()])
        .await
        .unwrap();
    let stored = outbox.get(message.id()).await.unwrap().unwrap();
    let expires = stored.expires_at.expect("TTL set at dispatch");
    assert!(
        (now_s + 3600 - 5..=now_s + 3600 + 5).contains(&expires),
        "TTL {expires} should be about {} (epoch seconds, from dispatch)",
        now_s + 3600
    );
    assert!(stored.dispatched_at.is_some());
    let after = outbox.outstanding(Duration::ZERO, 10, None).await.unwrap();
    assert!(after.messages.is_empty(), "{after:?}");

    // Idempotent: a second mark changes nothing.
    outbox
        .mark_dispatched(&[message.id().clone()])
        .await
        .unwrap();
    assert_eq!(outbox.get(message.id()).await.unwrap().unwrap(), stored);
}

#[tokio::test]
async fn outstanding_and_dispatched_filter_by_age() {
    let outbox = fresh().await;
    let old = aged(Message::new("t", b"old".to_vec()), Duration::from_secs(600));
    let new = Message::new("t", b"new".to_vec());
    outbox.store(&old).await.unwrap();
    outbox.store(&new).await.unwrap();

    let page = outbox
        .outstanding(Duration::from_secs(60), 10, None)
        .await
        .unwrap();
    let ids: Vec<&MessageId> = page.messages.iter().map(|s| s.message.id()).collect();
    assert_eq!(ids, vec![old.id()]);
    assert_eq!(
        outbox
            .outstanding(Duration::ZERO, 10, None)
            .await
            .unwrap()
            .messages
            .len(),
        2
    );

    outbox.mark_dispatched(&[old.id().clone()]).await.unwrap();
    let dispatched_now = outbox.dispatched(Duration::ZERO, 10, None).await.unwrap();
    assert_eq!(dispatched_now.messages.len(), 1);
    assert_eq!(dispatched_now.messages[0].message.id(), old.id());
    let dispatched_long_ago = outbox
        .dispatched(Duration::from_secs(60), 10, None)
        .await
        .unwrap();
    assert!(dispatched_long_ago.messages.is_empty());
}

#[tokio::test]
async fn paging_over_three_pages_sees_every_message_once_even_across_instances() {
    let config = OutboxConfig::new(unique_name("outbox")).with_shards(4);
    let first = outbox_with(config.clone()).await;
    let second = Outbox::new(dynamodb().await, config).unwrap();
    let mut added = HashSet::new();
    for n in 0..25 {
        let message = Message::new("t", format!("{n}").into_bytes())
            .with_partition_key(format!("key-{}", n % 7));
        first.store(&message).await.unwrap();
        added.insert(message.id().clone());
    }
    let mut seen = Vec::new();
    let mut token: Option<ContinuationToken> = None;
    let mut pages = 0;
    loop {
        // Alternate instances: a token is plain text and carries no server state.
        let outbox = if pages % 2 == 0 { &first } else { &second };
        let text = token.as_ref().map(|t| ContinuationToken::parse(t.as_str()));
        let page = outbox
            .outstanding(Duration::ZERO, 10, text.as_ref())
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.messages.into_iter().map(|s| s.message.id().clone()));
        match page.next {
            Some(next) => token = Some(next),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3, "25 messages at 10 a page");
    assert_eq!(seen.len(), 25, "no message twice");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), added);
}

#[tokio::test]
async fn a_foreign_continuation_token_is_a_clear_error() {
    let outbox = fresh().await;
    for bad in ["garbage", "o1:99", "o1:2:abc", "d1:"] {
        let err = outbox
            .outstanding(Duration::ZERO, 10, Some(&ContinuationToken::parse(bad)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidContinuationToken { .. }),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains(bad), "{err}");
    }
}

#[tokio::test]
async fn delete_one_and_many() {
    let outbox = fresh().await;
    let messages: Vec<Message> = (0..60).map(|n| Message::new("t", vec![n])).collect();
    for message in &messages {
        outbox.store(message).await.unwrap();
    }
    outbox.delete(&[messages[0].id().clone()]).await.unwrap();
    assert_eq!(outbox.get(messages[0].id()).await.unwrap(), None);

    // 59 more (three BatchWriteItem calls) plus an absent id, which is not an error.
    let mut ids: Vec<MessageId> = messages[1..].iter().map(|m| m.id().clone()).collect();
    ids.push(MessageId::new());
    outbox.delete(&ids).await.unwrap();
    assert!(outbox.get_many(&ids).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_bounded_count_grows_by_added_minus_dispatched_and_stops_at_its_cap() {
    let outbox = fresh().await;
    assert_eq!(outbox.outstanding_count(100).await.unwrap().count, 0);
    let messages: Vec<Message> = (0..12).map(|n| Message::new("t", vec![n])).collect();
    for message in &messages {
        outbox.store(message).await.unwrap();
    }
    let dispatched: Vec<MessageId> = messages[..5].iter().map(|m| m.id().clone()).collect();
    outbox.mark_dispatched(&dispatched).await.unwrap();

    let count = outbox.outstanding_count(100).await.unwrap();
    assert_eq!((count.count, count.capped), (7, false));
    let capped = outbox.outstanding_count(4).await.unwrap();
    assert_eq!((capped.count, capped.capped), (4, true));
}

#[tokio::test]
async fn a_duplicate_id_never_overwrites() {
    let outbox = fresh().await;
    let original = Message::new("t", b"original".to_vec());
    assert_eq!(outbox.store(&original).await.unwrap(), StoreOutcome::Added);
    // The same message again: an idempotent no-op.
    assert_eq!(
        outbox.store(&original).await.unwrap(),
        StoreOutcome::AlreadyPresent
    );
    // Another message under the same id: refused.
    let impostor = Message::new("t", b"impostor".to_vec()).with_id(original.id().clone());
    let err = outbox.store(&impostor).await.unwrap_err();
    assert!(matches!(err, Error::DuplicateMessage { .. }), "{err}");
    assert!(err.to_string().contains(original.id().as_str()), "{err}");
    // Even a dispatched message is not reset by a re-deposit.
    outbox
        .mark_dispatched(&[original.id().clone()])
        .await
        .unwrap();
    assert!(outbox.store(&impostor).await.is_err());
    let stored = outbox.get(original.id()).await.unwrap().unwrap();
    assert_eq!(stored.message, original);
    assert!(!stored.is_outstanding());
}

#[tokio::test]
async fn keyed_messages_are_found_in_every_shard_and_unkeyed_ones_spread() {
    let outbox = outbox_with(OutboxConfig::new(unique_name("outbox")).with_shards(4)).await;
    // One key for each shard, found by the documented hash.
    let mut keys = BTreeMap::new();
    for n in 0.. {
        let key = format!("customer-{n}");
        keys.entry(shard_of_key(&key, 4)).or_insert(key);
        if keys.len() == 4 {
            break;
        }
    }
    for key in keys.values() {
        outbox
            .store(&Message::new("t", b"{}".to_vec()).with_partition_key(key))
            .await
            .unwrap();
    }
    for n in 0..40 {
        outbox.store(&Message::new("t", vec![n])).await.unwrap();
    }
    let page = outbox.outstanding(Duration::ZERO, 100, None).await.unwrap();
    assert_eq!(page.messages.len(), 44);
    let keyed_shards: HashSet<u16> = page
        .messages
        .iter()
        .filter(|s| s.message.header.partition_key.is_some())
        .map(|s| s.shard)
        .collect();
    assert_eq!(keyed_shards, HashSet::from([0, 1, 2, 3]));
    let mut unkeyed = [0; 4];
    for stored in page
        .messages
        .iter()
        .filter(|s| s.message.header.partition_key.is_none())
    {
        unkeyed[usize::from(stored.shard)] += 1;
    }
    assert!(
        unkeyed.iter().all(|count| *count > 0),
        "unkeyed per shard: {unkeyed:?}"
    );
}

#[tokio::test]
async fn delete_cleanup_removes_dispatched_messages() {
    let outbox =
        outbox_with(OutboxConfig::new(unique_name("outbox")).with_cleanup(Cleanup::Delete)).await;
    let message = Message::new("t", b"{}".to_vec());
    outbox.store(&message).await.unwrap();
    outbox
        .mark_dispatched(&[message.id().clone()])
        .await
        .unwrap();
    assert_eq!(outbox.get(message.id()).await.unwrap(), None);
}

#[tokio::test]
async fn a_missing_table_is_named_with_the_command_that_creates_it() {
    let table = unique_name("never-created");
    let outbox = Outbox::new(dynamodb().await, OutboxConfig::new(&table)).unwrap();
    let err = outbox.get(&MessageId::new()).await.unwrap_err();
    assert!(matches!(err, Error::TableNotFound { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&table) && text.contains("Outbox::ensure_table"),
        "{text}"
    );
    assert!(!text.contains("xtask"), "{text}");
}

#[tokio::test]
async fn an_item_missing_required_attributes_is_an_error_naming_them() {
    let outbox = fresh().await;
    outbox
        .db()
        .client()
        .put_item()
        .table_name(&outbox.config().table_name)
        .item("MessageId", AttributeValue::S("hand-made".into()))
        .item("MessageType", AttributeValue::S("event".into()))
        .send()
        .await
        .unwrap();
    let err = outbox.get(&MessageId::from("hand-made")).await.unwrap_err();
    assert!(matches!(err, Error::CorruptItem { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("hand-made") && text.contains("`Body`"),
        "{text}"
    );
}

#[tokio::test]
async fn invalid_names_and_empty_topics_are_refused_before_anything_is_sent() {
    let db = dynamodb().await;
    let err = Outbox::new(db.clone(), OutboxConfig::new("a b")).unwrap_err();
    assert!(err.to_string().contains("`a b`"), "{err}");
    let err =
        Outbox::new(db.clone(), OutboxConfig::new("Outbox").with_index_name("x")).unwrap_err();
    assert!(err.to_string().contains("index name `x`"), "{err}");
    let err = Outbox::new(db, OutboxConfig::new("Outbox").with_shards(0)).unwrap_err();
    assert!(err.to_string().contains("shard count 0"), "{err}");

    let outbox = fresh().await;
    let err = outbox
        .store(&Message::new(" ", b"{}".to_vec()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("topic is empty"), "{err}");
    assert_eq!(outbox.outstanding_count(10).await.unwrap().count, 0);
}

/// Fails, before it leaves the process, every mark request (`BatchExecuteStatement`) whose
/// body names `id`: the marks of that batch meeting an unavailable DynamoDB.
#[derive(Debug)]
struct FailMarksOf(String);

impl Intercept for FailMarksOf {
    fn name(&self) -> &'static str {
        "FailMarksOf"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        let is_mark = request.headers().get("x-amz-target")
            == Some("DynamoDB_20120810.BatchExecuteStatement");
        let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default());
        if is_mark && body.contains(&self.0) {
            return Err("injected: DynamoDB unavailable".into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn marks_go_25_to_a_request_and_a_failed_batch_stops_no_other_and_is_reported_unmarked() {
    let db = dynamodb().await;
    let config = OutboxConfig::new(unique_name("outbox"));
    create_table(&db, &config.table_schema()).await;
    // Two batches: the first (25) fails, the second (15) goes through.
    let messages: Vec<Message> = (0..40)
        .map(|n| Message::new("t", format!("{{\"n\":{n}}}").into_bytes()))
        .collect();
    let poisoned = messages[3].id().clone();
    let outbox = Outbox::new(
        db.with_interceptor(FailMarksOf(poisoned.to_string())),
        config,
    )
    .unwrap();
    for message in &messages {
        outbox.store(message).await.unwrap();
    }
    let producer = std::sync::Arc::new(InMemoryProducer::new());
    // Inline marks: the report says what became of each mark.
    let postbox = Postbox::new(outbox.clone(), std::sync::Arc::clone(&producer))
        .with_mark_mode(outbox_runtime::MarkMode::Inline);

    let report = postbox.clear(&messages).await;

    assert_eq!(producer.sent().len(), 40, "every message was sent");
    let first_batch: HashSet<MessageId> = messages[..25].iter().map(|m| m.id().clone()).collect();
    let unmarked: HashSet<MessageId> = report.sent_unmarked.iter().cloned().collect();
    assert_eq!(unmarked, first_batch, "{report:?}");
    assert_eq!(report.sent.len(), 15);
    assert!(report.left_outstanding.is_empty(), "{report:?}");
    let outstanding = outbox.outstanding(Duration::ZERO, 100, None).await.unwrap();
    let left: HashSet<MessageId> = outstanding
        .messages
        .iter()
        .map(|m| m.message.id().clone())
        .collect();
    assert_eq!(
        left, first_batch,
        "only the unmarked ones are left for the sweeper"
    );
    for message in &messages[25..] {
        let stored = outbox.get(message.id()).await.unwrap().unwrap();
        assert!(stored.dispatched_at.is_some() && stored.expires_at.is_some());
    }
    let err = outbox.mark_dispatched(&[poisoned]).await.unwrap_err();
    assert!(err.to_string().contains("cannot reach DynamoDB"), "{err}");
}

#[tokio::test]
async fn a_message_deposited_in_a_transaction_gets_its_ttl_at_dispatch_never_before() {
    let retention = Duration::from_secs(3600);
    let outbox = outbox_with(
        OutboxConfig::new(unique_name("outbox")).with_cleanup(Cleanup::Keep { retention }),
    )
    .await;
    let postbox = Postbox::new(outbox.clone(), InMemoryProducer::new());
    // Created long ago (a message that waited for a sweeper a long time): a TTL from its
    // creation would already have passed, and TTL would delete it unsent.
    let message = aged(
        Message::new("t", b"{}".to_vec()),
        Duration::from_secs(90 * 24 * 3600),
    );
    let mut tx = postbox.begin();
    tx.deposit_message(message.clone()).unwrap();
    postbox
        .commit_and_send(tx, outbox_runtime::ClearMode::Sweeper)
        .await
        .unwrap();
    let stored = outbox.get(message.id()).await.unwrap().unwrap();
    assert!(stored.is_outstanding());
    assert_eq!(
        stored.expires_at, None,
        "no TTL while outstanding: {stored:?}"
    );
    let raw = outbox
        .db()
        .client()
        .get_item()
        .table_name(&outbox.config().table_name)
        .key("MessageId", AttributeValue::S(message.id().to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(
        !raw.contains_key(outbox_runtime::table::attributes::EXPIRES_AT),
        "{raw:?}"
    );

    let now_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    outbox
        .mark_dispatched(&[message.id().clone()])
        .await
        .unwrap();
    let expires = outbox
        .get(message.id())
        .await
        .unwrap()
        .unwrap()
        .expires_at
        .expect("TTL set at dispatch");
    assert!(
        (now_s + 3600 - 5..=now_s + 3600 + 5).contains(&expires),
        "TTL {expires} should be about {} (epoch seconds, from dispatch)",
        now_s + 3600
    );
}

/// A transport that is slow to answer and then fails, while another sender (a sweeper, the
/// stream relay) sent the message and marked it meanwhile: the failure is recorded after the
/// message stopped being outstanding.
struct MarkedMeanwhileThenFails {
    outbox: Outbox,
}

impl outbox_runtime::transport::Producer for MarkedMeanwhileThenFails {
    async fn send(
        &self,
        message: &Message,
    ) -> Result<(), outbox_runtime::transport::ProducerError> {
        self.outbox
            .mark_dispatched(&[message.id().clone()])
            .await
            .unwrap();
        Err(outbox_runtime::transport::ProducerError::new(
            message,
            "injected: timed out",
        ))
    }
}

#[tokio::test]
async fn a_failed_send_recorded_after_another_sender_marked_the_message_changes_nothing() {
    // Deleted at dispatch: the late failure must not bring back an item of the message.
    let outbox =
        outbox_with(OutboxConfig::new(unique_name("outbox")).with_cleanup(Cleanup::Delete)).await;
    let postbox = Postbox::new(
        outbox.clone(),
        MarkedMeanwhileThenFails {
            outbox: outbox.clone(),
        },
    );
    let message = Message::new("t", b"{}".to_vec());
    outbox.store(&message).await.unwrap();
    let report = postbox.clear(std::slice::from_ref(&message)).await;
    assert_eq!(
        report.left_outstanding,
        vec![message.id().clone()],
        "{report:?}"
    );
    assert_eq!(
        outbox.get(message.id()).await.unwrap(),
        None,
        "the dispatched message stays deleted"
    );

    // Kept at dispatch, with a single attempt allowed: the late failure must not dead-letter a
    // dispatched message (a replay would send it again).
    let outbox = outbox_with(OutboxConfig::new(unique_name("outbox")).with_cleanup(
        Cleanup::Keep {
            retention: Duration::from_secs(3600),
        },
    ))
    .await;
    let postbox = Postbox::new(
        outbox.clone(),
        MarkedMeanwhileThenFails {
            outbox: outbox.clone(),
        },
    )
    .with_retry_policy(outbox_runtime::RetryPolicy::new().with_max_attempts(1));
    let message = Message::new("t", b"{}".to_vec());
    outbox.store(&message).await.unwrap();
    postbox.clear(std::slice::from_ref(&message)).await;
    let stored = outbox.get(message.id()).await.unwrap().unwrap();
    assert!(stored.dispatched_at.is_some(), "{stored:?}");
    assert!(!stored.is_dead_lettered(), "{stored:?}");
    assert!(!stored.is_outstanding(), "{stored:?}");
    assert_eq!(stored.attempts, 0, "{stored:?}");
    assert!(
        outbox
            .dead_letters(10, None)
            .await
            .unwrap()
            .messages
            .is_empty(),
        "nothing to replay"
    );
}
