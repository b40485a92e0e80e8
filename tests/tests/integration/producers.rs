//! The SQS and SNS producers against a local server that speaks both protocols (moto), read
//! back with the SDK: bodies byte for byte, every attribute, FIFO groups, batch calls and
//! per-message results.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use aws_sdk_sns::operation::publish_batch::PublishBatchInput;
use aws_sdk_sqs::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept};
use aws_sdk_sqs::error::BoxError;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use outbox_runtime::transport::wire::{self, BASE64};
use outbox_runtime::transport::{Producer, SnsProducer, SqsProducer, sqs};
use outbox_runtime::{Body, Message, MessageType};
use outbox_tests::moto::{moto, unique};

/// Counts the batch calls a client makes and the entries in each.
#[derive(Clone, Debug, Default)]
struct BatchCalls(Arc<Mutex<Vec<usize>>>);

impl BatchCalls {
    fn sizes(&self) -> Vec<usize> {
        self.0.lock().unwrap().clone()
    }
}

impl Intercept for BatchCalls {
    fn name(&self) -> &'static str {
        "BatchCalls"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let entries = if let Some(input) = input.downcast_ref::<SendMessageBatchInput>() {
            input.entries().len()
        } else if let Some(input) = input.downcast_ref::<PublishBatchInput>() {
            input.publish_batch_request_entries().len()
        } else {
            return Ok(());
        };
        self.0.lock().unwrap().push(entries);
        Ok(())
    }
}

fn counted_sqs(client: &aws_sdk_sqs::Client, calls: &BatchCalls) -> aws_sdk_sqs::Client {
    let config = client
        .config()
        .to_builder()
        .interceptor(calls.clone())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

fn counted_sns(client: &aws_sdk_sns::Client, calls: &BatchCalls) -> aws_sdk_sns::Client {
    let config = client
        .config()
        .to_builder()
        .interceptor(calls.clone())
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

/// A message with every header field set.
fn full_message(topic: &str) -> Message {
    let mut message = Message::new(
        topic,
        br#"{"name":"Tyrion","greeting":"h\u00e9llo"}"#.to_vec(),
    )
    .with_message_type(MessageType::Command)
    .with_partition_key("customer-7")
    .with_correlation_id("corr-1")
    .with_header("tenant", "north")
    .with_header("attempt", "1");
    message.header.causation_id = Some("cause-1".into());
    message.header.reply_to = Some("orders.replies".into());
    message.header.trace_parent =
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    message.header.trace_state = Some("congo=t61rcWkgMzE".into());
    message
}

fn attributes(received: &aws_sdk_sqs::types::Message) -> HashMap<String, (String, String)> {
    received
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            (
                name.clone(),
                (
                    value.data_type().to_owned(),
                    value.string_value().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect()
}

/// Checks that `received` carries `sent`: the body byte for byte and exactly the attributes the
/// wire format promises, with their types.
fn assert_carries(received: &aws_sdk_sqs::types::Message, sent: &Message) {
    let attributes = attributes(received);
    let string = |value: &str| ("String".to_owned(), value.to_owned());
    let header = &sent.header;
    let mut expected = HashMap::from([
        (wire::MESSAGE_ID.to_owned(), string(header.id.as_str())),
        (wire::TOPIC.to_owned(), string(&header.topic)),
        (
            wire::MESSAGE_TYPE.to_owned(),
            string(header.message_type.as_str()),
        ),
        (wire::CONTENT_TYPE.to_owned(), string(&header.content_type)),
        (
            wire::CREATED_AT.to_owned(),
            (
                "Number".to_owned(),
                header
                    .created_at
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    .to_string(),
            ),
        ),
    ]);
    if let Some(id) = &header.correlation_id {
        expected.insert(wire::CORRELATION_ID.to_owned(), string(id));
    }
    if let Some(key) = &header.partition_key {
        expected.insert(wire::PARTITION_KEY.to_owned(), string(key));
    }
    let bytes = sent.body.to_bytes().unwrap();
    // The characters SQS accepts in a body; anything else is sent as base64.
    let text = std::str::from_utf8(&bytes).ok().filter(|text| {
        text.chars().all(|c| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        })
    });
    if text.is_none() {
        expected.insert(wire::BODY_ENCODING.to_owned(), string(BASE64));
    }
    if let Some(parent) = &header.trace_parent {
        expected.insert(wire::TRACE_PARENT.to_owned(), string(parent));
    }
    let mut rest = serde_json::Map::new();
    for (key, value) in [
        ("causation-id", &header.causation_id),
        ("reply-to", &header.reply_to),
        ("tracestate", &header.trace_state),
    ] {
        if let Some(value) = value {
            rest.insert(key.into(), value.clone().into());
        }
    }
    if !header.headers.is_empty() {
        rest.insert(
            "headers".into(),
            serde_json::to_value(&header.headers).unwrap(),
        );
    }
    let header_json = attributes
        .get(wire::HEADER)
        .map(|(_, json)| serde_json::from_str::<serde_json::Value>(json).unwrap());
    if rest.is_empty() {
        assert_eq!(header_json, None);
    } else {
        assert_eq!(header_json, Some(serde_json::Value::Object(rest)));
        expected.insert(
            wire::HEADER.to_owned(),
            attributes.get(wire::HEADER).unwrap().clone(),
        );
    }
    assert_eq!(attributes, expected, "attributes of {}", header.id);
    assert!(attributes.len() <= 10);

    let body = received.body().expect("a body");
    match text {
        Some(text) => assert_eq!(body, text),
        None => assert_ne!(body.as_bytes(), bytes.as_slice(), "a base64 body"),
    }
    let encoding = attributes
        .get(wire::BODY_ENCODING)
        .map(|(_, value)| value.as_str());
    assert_eq!(wire::decode_body(body, encoding).unwrap(), bytes);
}

/// The received message with the given outbox message id.
fn by_id<'a>(
    received: &'a [aws_sdk_sqs::types::Message],
    sent: &Message,
) -> &'a aws_sdk_sqs::types::Message {
    received
        .iter()
        .find(|message| {
            attributes(message)
                .get(wire::MESSAGE_ID)
                .is_some_and(|(_, id)| id == sent.id().as_str())
        })
        .unwrap_or_else(|| panic!("message {} was not received", sent.id()))
}

fn system_attribute(
    received: &aws_sdk_sqs::types::Message,
    name: MessageSystemAttributeName,
) -> Option<&str> {
    received
        .attributes()
        .and_then(|attributes| attributes.get(&name))
        .map(String::as_str)
}

#[tokio::test]
async fn sqs_send_carries_the_body_and_every_attribute() {
    let moto = moto().await;
    let queue = moto.queue("sqs-single", false).await;
    let producer = SqsProducer::new(moto.sqs.clone()).with_route("orders.placed", &queue);
    let full = full_message("orders.placed");
    let bare = Message::new("orders.placed", b"[1,2,3]".to_vec());
    producer.send(&full).await.unwrap();
    producer.send(&bare).await.unwrap();

    let received = moto.receive(&queue, 2).await;
    assert_carries(by_id(&received, &full), &full);
    assert_carries(by_id(&received, &bare), &bare);
    // A standard queue has no group.
    assert_eq!(
        system_attribute(&received[0], MessageSystemAttributeName::MessageGroupId),
        None
    );
}

#[tokio::test]
async fn sqs_bodies_that_are_not_text_travel_as_base64() {
    let moto = moto().await;
    let queue = moto.queue("sqs-binary", false).await;
    let producer = SqsProducer::new(moto.sqs.clone()).with_route("blobs", &queue);
    let binary = Message::new("blobs", vec![0xff, 0x00, 0xfe, 0x80, b'{'])
        .with_content_type("application/octet-stream");
    // Valid UTF-8, but SQS refuses a NUL in a body.
    let nul = Message::new("blobs", b"a\0b".to_vec()).with_content_type("text/plain");
    // A map body is sent as its JSON.
    let item = Message::new("blobs", Vec::new()).with_body(Body::Item(HashMap::from([(
        "name".to_owned(),
        aws_sdk_dynamodb::types::AttributeValue::S("Tyrion".into()),
    )])));
    let results = producer
        .send_batch(&[binary.clone(), nul.clone(), item.clone()])
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let received = moto.receive(&queue, 3).await;
    assert_eq!(by_id(&received, &binary).body(), Some("/wD+gHs="));
    assert_eq!(by_id(&received, &nul).body(), Some("YQBi"));
    assert_eq!(by_id(&received, &item).body(), Some(r#"{"name":"Tyrion"}"#));
    for sent in [&binary, &nul, &item] {
        assert_carries(by_id(&received, sent), sent);
    }
}

#[tokio::test]
async fn sqs_batch_of_25_takes_three_calls_and_delivers_each_message() {
    let moto = moto().await;
    let queue = moto.queue("sqs-batch", false).await;
    let calls = BatchCalls::default();
    let producer =
        SqsProducer::new(counted_sqs(&moto.sqs, &calls)).with_route("greeting.made", &queue);
    let messages: Vec<Message> = (0..25)
        .map(|n| {
            Message::new("greeting.made", format!("{{\"n\":{n}}}"))
                .with_partition_key(format!("key-{}", n % 3))
                .with_header("n", n.to_string())
        })
        .collect();

    let results = producer.send_batch(&messages).await;
    assert_eq!(results.len(), 25);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(calls.sizes(), [10, 10, 5]);

    let received = moto.receive(&queue, 25).await;
    for sent in &messages {
        assert_carries(by_id(&received, sent), sent);
    }
}

#[tokio::test]
async fn sqs_batches_stay_under_256_kib() {
    let moto = moto().await;
    let queue = moto.queue("sqs-large", false).await;
    let calls = BatchCalls::default();
    let producer = SqsProducer::new(counted_sqs(&moto.sqs, &calls)).with_route("large", &queue);
    // 100 KB each: two fit in 256 KiB, three do not.
    let messages: Vec<Message> = (0..5)
        .map(|n| Message::new("large", format!("\"{}\"", n.to_string().repeat(100_000))))
        .collect();

    let results = producer.send_batch(&messages).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(calls.sizes(), [2, 2, 1]);
    let received = moto.receive(&queue, 5).await;
    for sent in &messages {
        assert_carries(by_id(&received, sent), sent);
    }
}

#[tokio::test]
async fn sqs_fifo_group_is_the_partition_key() {
    let moto = moto().await;
    let queue = moto.queue("sqs-fifo", true).await;
    assert!(queue.ends_with(".fifo"));
    let producer = SqsProducer::new(moto.sqs.clone()).with_route("orders.placed", &queue);
    let keyed: Vec<Message> = (0..12)
        .map(|n| {
            Message::new("orders.placed", format!("{{\"n\":{n}}}")).with_partition_key(
                if n % 2 == 0 {
                    "customer-a"
                } else {
                    "customer-b"
                },
            )
        })
        .collect();
    let unkeyed = Message::new("orders.placed", b"{}".to_vec());

    let results = producer.send_batch(&keyed).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    producer.send(&unkeyed).await.unwrap();

    let received = moto.receive(&queue, 13).await;
    for sent in keyed.iter().chain([&unkeyed]) {
        let message = by_id(&received, sent);
        assert_carries(message, sent);
        let expected_group = sent
            .header
            .partition_key
            .as_deref()
            .unwrap_or(sent.id().as_str());
        assert_eq!(
            system_attribute(message, MessageSystemAttributeName::MessageGroupId),
            Some(expected_group)
        );
        assert_eq!(
            system_attribute(message, MessageSystemAttributeName::MessageDeduplicationId),
            Some(sent.id().as_str())
        );
    }
    // Within each group, the order sent.
    for key in ["customer-a", "customer-b"] {
        let sent: Vec<&str> = keyed
            .iter()
            .filter(|message| message.header.partition_key.as_deref() == Some(key))
            .map(|message| message.id().as_str())
            .collect();
        let arrived: Vec<String> = received
            .iter()
            .filter(|message| {
                system_attribute(message, MessageSystemAttributeName::MessageGroupId) == Some(key)
            })
            .map(|message| attributes(message)[wire::MESSAGE_ID].1.clone())
            .collect();
        assert_eq!(arrived, sent, "order of group {key}");
    }
}

#[tokio::test]
async fn sqs_fifo_refuses_a_key_that_cannot_be_a_group_id() {
    let moto = moto().await;
    let queue = moto.queue("sqs-fifo-key", true).await;
    let producer = SqsProducer::new(moto.sqs.clone()).with_route("people", &queue);
    let spaced = Message::new("people", b"{}".to_vec()).with_partition_key("Tyrion Lannister");
    let fine = Message::new("people", b"{}".to_vec()).with_partition_key("Tyrion");

    let results = producer.send_batch(&[spaced.clone(), fine.clone()]).await;
    let err = results[0].as_ref().unwrap_err();
    assert!(err.reason.contains("`Tyrion Lannister`"), "{err}");
    assert!(err.reason.contains("MessageGroupId"), "{err}");
    assert!(results[1].is_ok(), "{results:?}");
    assert!(producer.send(&spaced).await.is_err());

    let received = moto.receive(&queue, 1).await;
    assert_carries(&received[0], &fine);
}

#[tokio::test]
async fn an_unknown_topic_is_an_error_naming_the_routed_ones() {
    let moto = moto().await;
    let message = Message::new("nobody.listens", b"{}".to_vec());

    let producer = SqsProducer::new(moto.sqs.clone())
        .with_route("b.topic", moto.missing_queue_url())
        .with_route("a.topic", moto.missing_queue_url());
    let err = producer.send(&message).await.unwrap_err();
    assert_eq!(err.topic, "nobody.listens");
    assert_eq!(err.message_id, message.id().as_str());
    assert!(
        err.reason
            .contains("no queue URL is routed for topic `nobody.listens`"),
        "{err}"
    );
    assert!(
        err.reason.contains("routed topics: `a.topic`, `b.topic`"),
        "{err}"
    );
    let results = producer.send_batch(std::slice::from_ref(&message)).await;
    assert!(
        results[0]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("`a.topic`")
    );

    let producer = SnsProducer::new(moto.sns.clone())
        .with_route("greeting.made", "arn:aws:sns:us-east-1:123456789012:x");
    let err = producer.send(&message).await.unwrap_err();
    assert!(
        err.reason.contains(
            "no topic ARN is routed for topic `nobody.listens`; routed topics: `greeting.made`"
        ),
        "{err}"
    );
    let err = SnsProducer::new(moto.sns.clone())
        .send(&message)
        .await
        .unwrap_err();
    assert!(err.reason.contains("the producer has no routes"), "{err}");
}

#[tokio::test]
async fn sqs_batch_with_one_missing_queue_fails_only_that_message() {
    let moto = moto().await;
    let queue = moto.queue("sqs-partial", false).await;
    let missing = moto.missing_queue_url();
    let producer = SqsProducer::new(moto.sqs.clone())
        .with_route("good", &queue)
        .with_route("lost", &missing);
    let messages: Vec<Message> = (0..5)
        .map(|n| Message::new(if n == 2 { "lost" } else { "good" }, format!("{n}")))
        .collect();

    let results = producer.send_batch(&messages).await;
    for (n, result) in results.iter().enumerate() {
        if n == 2 {
            let err = result.as_ref().unwrap_err();
            assert_eq!(err.message_id, messages[2].id().as_str());
            assert_eq!(err.topic, "lost");
            assert!(err.reason.contains(&missing), "{err}");
            assert!(err.reason.contains("NonExistentQueue"), "{err}");
            assert!(std::error::Error::source(err).is_some());
        } else {
            assert!(result.is_ok(), "message {n}: {result:?}");
        }
    }
    let received = moto.receive(&queue, 4).await;
    for (n, sent) in messages.iter().enumerate().filter(|(n, _)| *n != 2) {
        assert_eq!(by_id(&received, sent).body(), Some(n.to_string().as_str()));
    }
    // The single call names the queue too.
    let err = producer.send(&messages[2]).await.unwrap_err();
    assert!(err.reason.contains("SendMessage to queue"), "{err}");
}

#[tokio::test]
async fn sns_publish_reaches_a_raw_sqs_subscription() {
    let moto = moto().await;
    let topic = moto.topic("sns-raw", false).await;
    let queue = moto.queue("sns-raw-sub", false).await;
    moto.subscribe_raw(&topic, &queue).await;
    let calls = BatchCalls::default();
    let producer = SnsProducer::new(counted_sns(&moto.sns, &calls))
        .with_route("orders.placed", &topic)
        .with_route("blobs", &topic);
    let full = full_message("orders.placed");
    producer.send(&full).await.unwrap();
    let mut batch: Vec<Message> = (0..11)
        .map(|n| Message::new("orders.placed", format!("{{\"n\":{n}}}")).with_partition_key("k"))
        .collect();
    batch.push(Message::new("blobs", vec![0xff, 0x00]));

    let results = producer.send_batch(&batch).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(calls.sizes(), [10, 2]);

    let received = moto.receive(&queue, 13).await;
    for sent in batch.iter().chain([&full]) {
        assert_carries(by_id(&received, sent), sent);
    }
}

#[tokio::test]
async fn sns_fifo_topic_delivers_with_the_partition_key_as_group() {
    let moto = moto().await;
    let topic = moto.topic("sns-fifo", true).await;
    let queue = moto.queue("sns-fifo-sub", true).await;
    moto.subscribe_raw(&topic, &queue).await;
    let producer = SnsProducer::new(moto.sns.clone()).with_route("orders.placed", &topic);
    let messages: Vec<Message> =
        (0..6)
            .map(|n| {
                Message::new("orders.placed", format!("{{\"n\":{n}}}"))
                    .with_partition_key(if n < 3 { "customer-a" } else { "customer-b" })
            })
            .collect();

    let results = producer.send_batch(&messages).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let single = Message::new("orders.placed", b"{}".to_vec()).with_partition_key("customer-c");
    producer.send(&single).await.unwrap();

    let received = moto.receive(&queue, 7).await;
    for sent in messages.iter().chain([&single]) {
        let message = by_id(&received, sent);
        assert_carries(message, sent);
        assert_eq!(
            system_attribute(message, MessageSystemAttributeName::MessageGroupId),
            sent.header.partition_key.as_deref()
        );
        assert_eq!(
            system_attribute(message, MessageSystemAttributeName::MessageDeduplicationId),
            Some(sent.id().as_str())
        );
    }
}

#[tokio::test]
async fn sns_batch_maps_per_entry_failures_and_missing_topics_to_their_messages() {
    let moto = moto().await;
    let topic = moto.topic("sns-partial", false).await;
    let queue = moto.queue("sns-partial-sub", false).await;
    moto.subscribe_raw(&topic, &queue).await;
    let missing = format!("arn:aws:sns:us-east-1:123456789012:{}", unique("missing"));
    let producer = SnsProducer::new(moto.sns.clone())
        .with_route("good", &topic)
        .with_route("lost", &missing);
    // Over the SNS limit of 256 KiB: sent alone, and the service refuses that entry.
    let too_large = Message::new("good", format!("\"{}\"", "x".repeat(300_000)));
    let messages = vec![
        Message::new("good", b"0".to_vec()),
        too_large,
        Message::new("lost", b"2".to_vec()),
        Message::new("good", b"3".to_vec()),
    ];

    let results = producer.send_batch(&messages).await;
    assert!(results[0].is_ok(), "{results:?}");
    let err = results[1].as_ref().unwrap_err();
    assert!(err.reason.contains("PublishBatch to SNS topic"), "{err}");
    assert!(err.reason.contains("rejected this entry"), "{err}");
    assert!(err.reason.contains("InvalidParameter"), "{err}");
    let err = results[2].as_ref().unwrap_err();
    assert!(err.reason.contains(&missing), "{err}");
    assert!(err.reason.contains("NotFound"), "{err}");
    assert!(results[3].is_ok(), "{results:?}");

    let received = moto.receive(&queue, 2).await;
    assert_eq!(by_id(&received, &messages[0]).body(), Some("0"));
    assert_eq!(by_id(&received, &messages[3]).body(), Some("3"));
    let err = producer.send(&messages[2]).await.unwrap_err();
    assert!(err.reason.contains("Publish to SNS topic"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_message_deposited_in_a_traced_span_arrives_on_sqs_with_its_traceparent() {
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use tracing::Instrument;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    // OpenTelemetry behind tracing, for this thread only (the test runs on one).
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("outbox-tests")));
    let _default = tracing::subscriber::set_default(subscriber);

    let moto = moto().await;
    let queue = moto.queue("traced", false).await;
    let db = outbox_tests::dynamodb().await;
    let config = outbox_tests::fresh_outbox(&db).await;
    let outbox = outbox_runtime::Outbox::new(db, config).unwrap();
    let producer = SqsProducer::new(moto.sqs.clone()).with_route("order.placed", &queue);
    let postbox = outbox_runtime::Postbox::new(outbox.clone(), producer);

    let span = tracing::info_span!("place order");
    let context = span.context();
    let span_context = context.span().span_context().clone();
    assert!(
        span_context.is_valid(),
        "the span is tracked by OpenTelemetry"
    );
    let expected = format!(
        "00-{}-{}-{:02x}",
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags().to_u8()
    );
    let id = async {
        let mut tx = postbox.begin();
        let id = tx
            .deposit_message(Message::new("order.placed", b"{\"order\":7}".to_vec()))
            .unwrap();
        postbox
            .commit_and_send(tx, outbox_runtime::ClearMode::Immediate)
            .await
            .unwrap();
        id
    }
    .instrument(span)
    .await;

    let stored = outbox.get(&id).await.unwrap().expect("stored");
    assert_eq!(
        stored.message.header.trace_parent.as_deref(),
        Some(&*expected)
    );
    let received = moto.receive(&queue, 1).await;
    let attribute = received[0]
        .message_attributes()
        .and_then(|attributes| attributes.get(wire::TRACE_PARENT))
        .and_then(|value| value.string_value());
    assert_eq!(
        attribute,
        Some(&*expected),
        "the W3C name, as its own attribute"
    );
    let message = sqs::received_message(&received[0]).unwrap();
    assert_eq!(message.id(), &id);
    assert_eq!(message.header.trace_parent.as_deref(), Some(&*expected));

    // Outside a tracked span nothing is made up.
    let mut tx = postbox.begin();
    let plain = tx
        .deposit_message(Message::new("order.placed", b"{}".to_vec()))
        .unwrap();
    postbox
        .commit_and_send(tx, outbox_runtime::ClearMode::Immediate)
        .await
        .unwrap();
    let stored = outbox.get(&plain).await.unwrap().expect("stored");
    assert_eq!(stored.message.header.trace_parent, None);
    let received = moto.receive(&queue, 1).await;
    assert_eq!(
        sqs::received_message(&received[0])
            .unwrap()
            .header
            .trace_parent,
        None
    );
}
