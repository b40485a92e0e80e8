//! Large bodies against DynamoDB Local and moto: bodies stored compressed and sent compressed
//! to SQS, through the immediate path, the sweeper and the stream relay, read back byte for
//! byte by the SQS consumer with its inbox and by a boto3 consumer that knows only the
//! documented format; what a corrupt or oversized compressed delivery gets.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use outbox_runtime::consumer::SqsConsumer;
use outbox_runtime::message::CompressedBody;
use outbox_runtime::transport::SqsProducer;
use outbox_runtime::transport::wire;
use outbox_runtime::{Body, ClearMode, Error, Message, Outbox, OutboxConfig, Postbox, Transaction};
use outbox_tests::corpus::{incompressible, json_document};
use outbox_tests::dynamodb;
use outbox_tests::moto::{Moto, moto, run_python};
use outbox_tests::paths::{Recorder, send_on_every_path};

const TOPIC: &str = "document.stored";

/// Bodies over 1 KB are compressed.
fn compressing(config: OutboxConfig) -> OutboxConfig {
    config.with_compression_above(1024)
}

#[tokio::test]
async fn compressed_bodies_round_trip_byte_for_byte_through_every_path_to_an_sqs_consumer() {
    let db = dynamodb().await;
    let moto = moto().await;
    let queue = moto.queue("large", false).await;
    // 10 KB, and 1 MiB: over DynamoDB's 400 KB item limit until compressed. The random body
    // does not shrink and is stored as it is.
    let bodies = [
        json_document(10 * 1024, 1),
        json_document(1 << 20, 2),
        incompressible(10 * 1024, 3),
    ];
    let sent = send_on_every_path(
        &db,
        |config| Outbox::new(db.clone(), compressing(config)).unwrap(),
        || SqsProducer::new(moto.sqs.clone()).with_route(TOPIC, &queue),
        TOPIC,
        &bodies,
    )
    .await;

    // What each table holds: the JSON compressed, the random bytes as they are.
    for (id, (path, n)) in &sent.messages {
        let body = &bodies[*n];
        let stored = sent.outbox_of(*path).get(id).await.unwrap().expect("kept");
        let json = serde_json::from_slice::<serde_json::Value>(body).is_ok();
        match &stored.message.body {
            Body::Compressed(compressed) => {
                assert!(json, "{path:?}: random bytes were stored compressed");
                assert!(
                    compressed.gzip().len() * 4 < body.len(),
                    "{path:?}: {} bytes stored for {}",
                    compressed.gzip().len(),
                    body.len()
                );
            }
            Body::Bytes(bytes) => {
                assert!(bytes == body, "{path:?}: stored as it is");
                assert!(!json, "{path:?}: a JSON body was stored uncompressed");
            }
            other => panic!("{path:?}: {other:?}"),
        }
    }

    // The consumer is handed the original bytes, each message once.
    let recorder = Recorder::new(&db).await;
    let consumer =
        SqsConsumer::new(moto.sqs.clone(), &queue).with_wait_time(Duration::from_secs(1));
    recorder.consume(&consumer, sent.messages.len()).await;
    recorder.assert_handed(&sent, &bodies);
}

/// Reads `count` messages from a queue with boto3 and decodes each body with the standard
/// library alone, as the wire format documents it; prints `id size sha256` per message.
const BOTO3_CONSUMER: &str = r#"
import base64, gzip, hashlib, sys
import boto3

queue, count = sys.argv[1], int(sys.argv[2])
sqs = boto3.client("sqs")
seen = 0
for _ in range(30):
    if seen == count:
        break
    reply = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                MessageAttributeNames=["All"])
    for message in reply.get("Messages", []):
        attributes = message.get("MessageAttributes", {})
        encoding = attributes.get("outbox-body-encoding", {}).get("StringValue")
        body = message["Body"]
        if encoding is None:
            data = body.encode("utf-8")
        elif encoding == "base64":
            data = base64.b64decode(body)
        elif encoding == "gzip+base64":
            data = gzip.decompress(base64.b64decode(body))
        else:
            raise SystemExit("unknown encoding " + encoding)
        message_id = attributes["outbox-message-id"]["StringValue"]
        print(message_id, encoding, len(data), hashlib.sha256(data).hexdigest())
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        seen += 1
"#;

#[tokio::test]
async fn a_boto3_consumer_reads_a_compressed_body_with_the_standard_library() {
    let db = dynamodb().await;
    let moto = moto().await;
    let queue = moto.queue("large-boto3", false).await;
    let outbox = Outbox::new(
        db.clone(),
        compressing(outbox_tests::fresh_outbox(&db).await),
    )
    .unwrap();
    let postbox = Postbox::new(
        outbox,
        SqsProducer::new(moto.sqs.clone()).with_route(TOPIC, &queue),
    );
    let bodies = [json_document(10 * 1024, 4), incompressible(2048, 5)];
    let mut expected = Vec::new();
    for body in &bodies {
        let mut tx = postbox.begin();
        let id = tx
            .deposit_message(Message::new(TOPIC, body.clone()))
            .unwrap();
        postbox
            .commit_and_send(tx, ClearMode::Immediate)
            .await
            .unwrap();
        expected.push((id, body));
    }
    let printed = run_python(&moto, BOTO3_CONSUMER, &[&queue, "2"]);
    let lines: HashMap<&str, Vec<&str>> = printed
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            (fields[0], fields[1..].to_vec())
        })
        .collect();
    assert_eq!(lines.len(), 2, "{printed}");
    let sha256 = |bytes: &[u8]| {
        // The same digest Python prints, computed here without a crate of its own.
        let output = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(bytes)?;
                child.wait_with_output()
            })
            .expect("sha256sum");
        String::from_utf8(output.stdout).unwrap()[..64].to_owned()
    };
    let (json_id, json) = &expected[0];
    assert_eq!(
        lines[json_id.as_str()],
        ["gzip+base64", &json.len().to_string(), &sha256(json)],
        "{printed}"
    );
    let (random_id, random) = &expected[1];
    assert_eq!(
        lines[random_id.as_str()],
        ["base64", &random.len().to_string(), &sha256(random)],
        "{printed}"
    );
}

/// Sends a delivery flagged `gzip+base64` whose body is `gzip`, with the outbox attributes.
async fn send_raw_gzip(moto: &Moto, queue: &str, id: &str, gzip: Vec<u8>) {
    let attribute = |value: &str| {
        aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .unwrap()
    };
    moto.sqs
        .send_message()
        .queue_url(queue)
        .message_body(base64::engine::general_purpose::STANDARD.encode(gzip))
        .message_attributes(wire::MESSAGE_ID, attribute(id))
        .message_attributes(wire::TOPIC, attribute(TOPIC))
        .message_attributes(wire::MESSAGE_TYPE, attribute("event"))
        .message_attributes(
            wire::CREATED_AT,
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("Number")
                .string_value("1700000000000")
                .build()
                .unwrap(),
        )
        .message_attributes(wire::BODY_ENCODING, attribute(wire::GZIP_BASE64))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_corrupt_or_oversized_compressed_delivery_is_refused_and_left_to_the_queue() {
    let db = dynamodb().await;
    let moto = moto().await;
    let queue = moto.queue_redelivering_after_a_second("large-bad").await;
    // 100 MiB of zeros is about 100 KB of gzip: past the cap of 64 MiB.
    let bomb = CompressedBody::compress(&vec![0; 100 << 20]).into_gzip();
    assert!(bomb.len() < 200 * 1024);
    send_raw_gzip(&moto, &queue, "bomb", bomb).await;
    let mut truncated = CompressedBody::compress(&json_document(4096, 6)).into_gzip();
    truncated.truncate(truncated.len() / 2);
    send_raw_gzip(&moto, &queue, "truncated", truncated).await;

    let recorder = Recorder::new(&db).await;
    let handler = recorder.handler();
    let consumer =
        SqsConsumer::new(moto.sqs.clone(), &queue).with_wait_time(Duration::from_secs(1));
    let (mut undecodable, mut deleted) = (0, 0);
    for _ in 0..5 {
        let report = consumer.poll_once(&handler).await.unwrap();
        undecodable += report.undecodable;
        deleted += report.deleted;
        if undecodable >= 2 {
            break;
        }
    }
    assert_eq!((undecodable, deleted), (2, 0));
    assert!(recorder.bodies.lock().unwrap().is_empty());

    // The error names the cap and the corruption; both deliveries are still in the queue.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let received = moto.receive(&queue, 2).await;
    for delivery in &received {
        let err = outbox_runtime::transport::sqs::received_message(delivery).unwrap_err();
        let id = delivery.message_attributes().unwrap()[wire::MESSAGE_ID]
            .string_value()
            .unwrap();
        let text = err.to_string();
        match id {
            "bomb" => assert!(text.contains("more than 67108864 bytes"), "{text}"),
            _ => assert!(text.contains("not valid gzip"), "{text}"),
        }
    }
}

#[tokio::test]
async fn a_compressed_body_published_to_sns_reaches_raw_and_enveloped_subscriptions_intact() {
    let db = dynamodb().await;
    let moto = moto().await;
    let topic = moto.topic("large", false).await;
    let raw = moto.queue("large-raw", false).await;
    moto.subscribe_raw(&topic, &raw).await;
    // Without raw message delivery: SNS wraps the message in its JSON envelope, attributes
    // included.
    let enveloped = moto.queue("large-envelope", false).await;
    moto.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(moto.queue_arn(&enveloped).await)
        .send()
        .await
        .unwrap();
    let outbox = Outbox::new(
        db.clone(),
        compressing(outbox_tests::fresh_outbox(&db).await),
    )
    .unwrap();
    let postbox = Postbox::new(
        outbox,
        outbox_runtime::transport::SnsProducer::new(moto.sns.clone()).with_route(TOPIC, &topic),
    );
    let body = json_document(100 * 1024, 7);
    let mut tx = postbox.begin();
    let id = tx
        .deposit_message(Message::new(TOPIC, body.clone()))
        .unwrap();
    postbox
        .commit_and_send(tx, ClearMode::Immediate)
        .await
        .unwrap();
    for queue in [&raw, &enveloped] {
        let recorder = Recorder::new(&db).await;
        let consumer =
            SqsConsumer::new(moto.sqs.clone(), queue).with_wait_time(Duration::from_secs(1));
        recorder.consume(&consumer, 1).await;
        let received = recorder.bodies.lock().unwrap();
        assert!(received[&id] == Body::Bytes(body.clone()), "{queue}");
    }
}

#[tokio::test]
async fn a_message_too_large_even_compressed_is_refused_saying_what_to_do() {
    let db = dynamodb().await;
    let plain = Outbox::new(db.clone(), outbox_tests::fresh_outbox(&db).await).unwrap();
    let compressing = Outbox::new(
        db.clone(),
        compressing(outbox_tests::fresh_outbox(&db).await),
    )
    .unwrap();
    let json = Message::new(TOPIC, json_document(1 << 20, 8));
    let random = Message::new(TOPIC, incompressible(500 * 1024, 9));
    let advice = |outbox: &Outbox, message: &Message| {
        let mut tx = Transaction::begin(outbox);
        match tx.deposit_message(message.clone()).unwrap_err() {
            Error::Limit(outbox_runtime::limits::LimitError::MessageTooLarge {
                advice,
                action,
                ..
            }) => {
                assert!(action.contains(message.id().as_str()), "{action}");
                advice
            }
            other => panic!("{other:?}"),
        }
    };
    assert!(
        advice(&plain, &json).contains("with_compression_above"),
        "the plain outbox says compression would help"
    );
    assert!(advice(&plain, &random).contains("with_compression_above"));
    assert!(
        advice(&compressing, &random).contains("does not compress"),
        "a compressing outbox does not suggest compression again"
    );
    // The 1 MiB document fits once compressed.
    let mut tx = Transaction::begin(&compressing);
    tx.deposit_message(json).unwrap();
    tx.commit().await.unwrap();
}
