//! The claim check against DynamoDB Local and moto (SQS and S3): bodies over the threshold kept
//! in S3 through the immediate path, the sweeper and the stream relay, fetched and checked by
//! the SQS consumer and read by a boto3 consumer from the documented format; what a commit that
//! did not happen leaves (nothing), and what a consumer does with a corrupt or missing object.

use std::time::Duration;

use outbox_runtime::claim_check::{ClaimCheck, local_client};
use outbox_runtime::consumer::SqsConsumer;
use outbox_runtime::table::{KeyAttribute, KeyKind, StoreOutcome, TableSchema};
use outbox_runtime::transport::SqsProducer;
use outbox_runtime::{
    Body, ClearMode, DynamoDb, Error, Expr, Message, MessageId, Outbox, OutboxConfig, Postbox,
    Transaction,
};
use outbox_tests::corpus::{incompressible, json_document};
use outbox_tests::moto::{Moto, moto, run_python};
use outbox_tests::paths::{Recorder, send_on_every_path};
use outbox_tests::{create_table, dynamodb, fresh_outbox, unique_name};

const TOPIC: &str = "document.archived";

/// Bodies over 64 KB go to `bucket`; over 512 bytes they are compressed first.
fn claim_check(moto: &Moto, bucket: &str) -> ClaimCheck {
    ClaimCheck::new(moto.s3.clone(), bucket).with_threshold(64 * 1024)
}

fn outbox(db: &DynamoDb, config: OutboxConfig, moto: &Moto, bucket: &str) -> Outbox {
    Outbox::new(db.clone(), config.with_compression_above(512))
        .unwrap()
        .with_claim_check(claim_check(moto, bucket))
}

/// A queue whose deliveries come back after a second.
async fn queue(moto: &Moto, prefix: &str) -> String {
    moto.queue_redelivering_after_a_second(prefix).await
}

#[tokio::test]
async fn bodies_over_the_threshold_round_trip_through_s3_on_every_path() {
    let db = dynamodb().await;
    let moto = moto().await;
    let bucket = moto.bucket("claims").await;
    let queue = queue(&moto, "claims").await;
    // 10 KB of JSON stays in the item, compressed; 1 MiB of random bytes and 32 MiB of JSON go
    // to S3.
    let bodies = [
        json_document(10 * 1024, 1),
        incompressible(1 << 20, 2),
        json_document(32 << 20, 3),
    ];
    let sent = send_on_every_path(
        &db,
        |config| outbox(&db, config, &moto, &bucket),
        || SqsProducer::new(moto.sqs.clone()).with_route(TOPIC, &queue),
        TOPIC,
        &bodies,
    )
    .await;

    // Two objects a path (one each for the 1 MiB and the 32 MiB body), each referenced by the
    // item of its message.
    let objects = moto.objects(&bucket).await;
    assert_eq!(objects.len(), 6, "{objects:?}");
    for (id, (path, n)) in &sent.messages {
        let body = &bodies[*n];
        let stored = sent.outbox_of(*path).get(id).await.unwrap().expect("kept");
        match &stored.message.body {
            Body::S3(reference) => {
                assert!(
                    body.len() >= 1 << 20,
                    "{path:?}: {} bytes in S3",
                    body.len()
                );
                assert_eq!(reference.size, body.len() as u64);
                assert!(objects.contains(&reference.key), "{path:?}: {reference:?}");
                assert!(reference.key.contains(id.as_str()));
            }
            Body::Compressed(_) => assert_eq!(body.len(), 10 * 1024, "{path:?}"),
            other => panic!("{path:?}: {other:?}"),
        }
    }

    let recorder = Recorder::new(&db).await;
    let consumer = SqsConsumer::new(moto.sqs.clone(), &queue)
        .with_wait_time(Duration::from_secs(1))
        .with_claim_check(moto.s3.clone());
    recorder.consume(&consumer, sent.messages.len()).await;
    recorder.assert_handed(&sent, &bodies);
}

/// Reads one message with boto3 and the SQS Extended Client's pointer format: the body is
/// `[class, {"s3BucketName", "s3Key"}]`, the size in `ExtendedPayloadSize`, the checksum the
/// key's last segment. Prints `id size sha256-matches-key`.
const BOTO3_CONSUMER: &str = r#"
import hashlib, json, sys
import boto3

queue = sys.argv[1]
sqs, s3 = boto3.client("sqs"), boto3.client("s3")
for _ in range(30):
    reply = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                MessageAttributeNames=["All"])
    for message in reply.get("Messages", []):
        attributes = message["MessageAttributes"]
        size = int(attributes["ExtendedPayloadSize"]["StringValue"])
        cls, pointer = json.loads(message["Body"])
        assert cls == "software.amazon.payloadoffloading.PayloadS3Pointer", cls
        data = s3.get_object(Bucket=pointer["s3BucketName"], Key=pointer["s3Key"])["Body"].read()
        assert len(data) == size, (len(data), size)
        checksum_ok = hashlib.sha256(data).hexdigest() == pointer["s3Key"].rsplit("/", 1)[1]
        print(attributes["outbox-message-id"]["StringValue"], len(data), checksum_ok)
        sys.exit(0)
sys.exit("no message arrived")
"#;

#[tokio::test]
async fn a_boto3_consumer_reads_a_claim_checked_body_from_the_pointer() {
    let db = dynamodb().await;
    let moto = moto().await;
    let bucket = moto.bucket("claims-boto3").await;
    let queue = queue(&moto, "claims-boto3").await;
    let postbox = Postbox::new(
        outbox(&db, fresh_outbox(&db).await, &moto, &bucket),
        SqsProducer::new(moto.sqs.clone()).with_route(TOPIC, &queue),
    );
    let mut tx = postbox.begin();
    let id = tx
        .deposit_message(Message::new(TOPIC, incompressible(300 * 1024, 4)))
        .unwrap();
    postbox
        .commit_and_send(tx, ClearMode::Immediate)
        .await
        .unwrap();
    let printed = run_python(&moto, BOTO3_CONSUMER, &[&queue]);
    assert_eq!(printed.trim(), format!("{id} {} True", 300 * 1024));
}

#[tokio::test]
async fn a_commit_that_did_not_happen_leaves_no_object() {
    let db = dynamodb().await;
    let moto = moto().await;
    let bucket = moto.bucket("claims-failed").await;
    let outbox = outbox(&db, fresh_outbox(&db).await, &moto, &bucket);
    let people = TableSchema::new(
        unique_name("people"),
        KeyAttribute::new("Name", KeyKind::String),
    );
    create_table(&db, &people).await;

    // Rolled back: nothing is put before the commit.
    let mut tx = Transaction::begin(&outbox);
    tx.deposit_message(Message::new(TOPIC, incompressible(200 * 1024, 5)))
        .unwrap();
    tx.rollback();
    assert!(moto.objects(&bucket).await.is_empty());

    // Cancelled, as a handler that loses a race is: the objects were put, then deleted.
    let mut tx = Transaction::begin(&outbox);
    for n in 0..3 {
        tx.deposit_message(Message::new(TOPIC, incompressible(200 * 1024, 10 + n)))
            .unwrap();
    }
    tx.condition_check(
        &people,
        "Tyrion",
        Expr::new("attribute_exists(#n)").name("#n", "Name"),
    )
    .unwrap();
    let err = tx.commit().await.unwrap_err();
    assert!(matches!(err, Error::TransactionCancelled { .. }), "{err:?}");
    assert!(moto.objects(&bucket).await.is_empty());
    assert_eq!(outbox.outstanding_count(10).await.unwrap().count, 0);

    // S3 unreachable at the commit: the commit fails, naming the message and the object, and
    // nothing is written.
    let unreachable = Outbox::new(db.clone(), outbox.config().clone())
        .unwrap()
        .with_claim_check(ClaimCheck::new(local_client("http://127.0.0.1:9"), &bucket));
    let mut tx = Transaction::begin(&unreachable);
    let id = tx
        .deposit_message(Message::new(TOPIC, incompressible(200 * 1024, 6)))
        .unwrap();
    let err = tx.commit().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::ClaimCheck { .. }), "{err:?}");
    assert!(
        text.contains(id.as_str())
            && text.contains(&bucket)
            && text.contains("nothing was committed"),
        "{text}"
    );
    assert!(unreachable.get(&id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_corrupt_or_missing_object_is_refused_naming_it_and_left_to_the_queue() {
    let db = dynamodb().await;
    let moto = moto().await;
    let bucket = moto.bucket("claims-corrupt").await;
    let queue = queue(&moto, "claims-corrupt").await;
    let outbox = outbox(&db, fresh_outbox(&db).await, &moto, &bucket);
    let postbox = Postbox::new(
        outbox.clone(),
        SqsProducer::new(moto.sqs.clone()).with_route(TOPIC, &queue),
    );
    let mut ids = Vec::new();
    for seed in [7, 8] {
        let mut tx = postbox.begin();
        ids.push(
            tx.deposit_message(Message::new(TOPIC, incompressible(100 * 1024, seed)))
                .unwrap(),
        );
        postbox
            .commit_and_send(tx, ClearMode::Immediate)
            .await
            .unwrap();
    }
    let objects = moto.objects(&bucket).await;
    let object_of = |id: &MessageId| {
        objects
            .iter()
            .find(|key| key.contains(id.as_str()))
            .expect("an object per message")
            .clone()
    };
    // One object replaced by other bytes (the checksum no longer matches), one deleted.
    let (corrupt, missing) = (object_of(&ids[0]), object_of(&ids[1]));
    moto.s3
        .put_object()
        .bucket(&bucket)
        .key(&corrupt)
        .body(incompressible(100 * 1024, 99).into())
        .send()
        .await
        .unwrap();
    moto.s3
        .delete_object()
        .bucket(&bucket)
        .key(&missing)
        .send()
        .await
        .unwrap();

    let recorder = Recorder::new(&db).await;
    let consumer = SqsConsumer::new(moto.sqs.clone(), &queue)
        .with_wait_time(Duration::from_secs(1))
        .with_claim_check(moto.s3.clone());
    let (logs, reports) = outbox_tests::capture_logs(async {
        let mut undecodable = 0;
        let mut deleted = 0;
        for _ in 0..5 {
            let report = consumer.poll_once(&recorder.handler()).await.unwrap();
            undecodable += report.undecodable;
            deleted += report.deleted;
            if undecodable >= 2 {
                break;
            }
        }
        (undecodable, deleted)
    })
    .await;
    assert_eq!(reports, (2, 0));
    assert!(recorder.bodies.lock().unwrap().is_empty());
    for (id, key, says) in [
        (&ids[0], &corrupt, "SHA-256"),
        (&ids[1], &missing, "cannot get"),
    ] {
        let line = logs
            .iter()
            .find(|line| line.contains("ERROR") && line.contains(id.as_str()))
            .unwrap_or_else(|| panic!("no log names {id}: {logs:#?}"));
        assert!(
            line.contains(&bucket) && line.contains(key.as_str()) && line.contains(says),
            "{line}"
        );
    }
    // Both deliveries are still in the queue.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(moto.receive(&queue, 2).await.len(), 2);
}

#[tokio::test]
async fn the_lambda_sqs_entry_fetches_a_claim_checked_body_and_retries_one_it_cannot_read() {
    let db = dynamodb().await;
    let moto = moto().await;
    let bucket = moto.bucket("claims-lambda").await;
    let queue = queue(&moto, "claims-lambda").await;
    let postbox = Postbox::new(
        outbox(&db, fresh_outbox(&db).await, &moto, &bucket),
        SqsProducer::new(moto.sqs.clone()).with_route(TOPIC, &queue),
    );
    let body = incompressible(150 * 1024, 20);
    let mut tx = postbox.begin();
    let id = tx
        .deposit_message(Message::new(TOPIC, body.clone()))
        .unwrap();
    postbox
        .commit_and_send(tx, ClearMode::Immediate)
        .await
        .unwrap();
    let received = moto.receive(&queue, 1).await;
    let event = outbox_tests::lambda_sqs_event(&moto.queue_arn(&queue).await, &received);

    // Without a client the record is retried, not handed over as a pointer.
    let recorder = Recorder::new(&db).await;
    let without = outbox_runtime::lambda::SqsHandler::new(recorder.handler());
    let response = without.handle(event.clone()).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(recorder.bodies.lock().unwrap().is_empty());

    let with = outbox_runtime::lambda::SqsHandler::new(recorder.handler())
        .with_claim_check(moto.s3.clone());
    let response = with.handle(event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert!(recorder.bodies.lock().unwrap()[&id] == Body::Bytes(body));
}

#[tokio::test]
async fn the_lifecycle_rule_joins_the_buckets_other_rules_and_bounds_how_far_ahead_a_body_is_kept()
{
    use outbox_runtime::aws_sdk_s3::types::{
        BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
        LifecycleRuleFilter,
    };
    use outbox_runtime::claim_check::LifecycleOutcome;

    let db = dynamodb().await;
    let moto = moto().await;
    let bucket = moto.bucket("claims-lifecycle").await;
    // A rule of the bucket's owner, for other objects.
    let theirs = LifecycleRule::builder()
        .id("logs")
        .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
        .status(ExpirationStatus::Enabled)
        .expiration(LifecycleExpiration::builder().days(7).build())
        .build()
        .unwrap();
    moto.s3
        .put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(theirs)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let rules = || async {
        let output = moto
            .s3
            .get_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        output
            .rules()
            .iter()
            .map(|rule| {
                (
                    rule.id().unwrap_or_default().to_owned(),
                    rule.filter()
                        .and_then(|f| f.prefix())
                        .unwrap_or_default()
                        .to_owned(),
                    rule.expiration().and_then(|e| e.days()),
                )
            })
            .collect::<Vec<_>>()
    };
    let check = claim_check(&moto, &bucket);
    assert_eq!(
        check.ensure_lifecycle_rule().await.unwrap(),
        LifecycleOutcome::Added
    );
    assert_eq!(
        check.ensure_lifecycle_rule().await.unwrap(),
        LifecycleOutcome::AlreadyPresent
    );
    let longer = claim_check(&moto, &bucket).with_retention_days(400);
    assert_eq!(
        longer.ensure_lifecycle_rule().await.unwrap(),
        LifecycleOutcome::Replaced
    );
    let mut found = rules().await;
    found.sort();
    assert_eq!(
        found,
        [
            ("logs".to_owned(), "logs/".to_owned(), Some(7)),
            (
                "outbox-claim-check:outbox-bodies/".to_owned(),
                "outbox-bodies/".to_owned(),
                Some(400)
            ),
        ]
    );

    // With the default 90 days, a body in S3 may fall due 60 days ahead, not 61.
    let outbox = outbox(&db, fresh_outbox(&db).await, &moto, &bucket);
    let day = Duration::from_secs(24 * 3600);
    let body = || Message::new(TOPIC, incompressible(100 * 1024, 30));
    let mut tx = Transaction::begin(&outbox);
    tx.deposit_message_at(body(), std::time::SystemTime::now() + 59 * day)
        .unwrap();
    let err = tx
        .deposit_message_at(body(), std::time::SystemTime::now() + 61 * day)
        .unwrap_err();
    assert!(err.to_string().contains("with_retention_days"), "{err}");
    // A small body is not kept in S3, and may fall due whenever.
    tx.deposit_message_at(
        Message::new(TOPIC, "{}"),
        std::time::SystemTime::now() + 365 * day,
    )
    .unwrap();
}

#[tokio::test]
async fn storing_the_same_large_message_again_is_a_no_op_that_keeps_its_object() {
    let db = dynamodb().await;
    let moto = moto().await;
    let bucket = moto.bucket("claims-again").await;
    let outbox = outbox(&db, fresh_outbox(&db).await, &moto, &bucket);
    let compressed = Message::new(TOPIC, json_document(20 * 1024, 40));
    let claimed = Message::new(TOPIC, incompressible(100 * 1024, 41));
    for message in [&compressed, &claimed] {
        assert_eq!(outbox.store(message).await.unwrap(), StoreOutcome::Added);
        assert_eq!(
            outbox.store(message).await.unwrap(),
            StoreOutcome::AlreadyPresent,
            "the same message, its body compressed or in S3, stored again"
        );
    }
    assert_eq!(moto.objects(&bucket).await.len(), 1);
    // Another body under the same id is refused, and leaves no object of its own.
    let other = Message::new(TOPIC, incompressible(100 * 1024, 42)).with_id(claimed.id().clone());
    let err = outbox.store(&other).await.unwrap_err();
    assert!(matches!(err, Error::DuplicateMessage { .. }), "{err:?}");
    assert_eq!(moto.objects(&bucket).await.len(), 1);
}

#[tokio::test]
async fn with_a_kms_key_the_objects_are_encrypted_with_it() {
    let db = dynamodb().await;
    let moto = moto().await;
    let bucket = moto.bucket("claims-kms").await;
    let key_arn = run_python(
        &moto,
        "import boto3; print(boto3.client('kms').create_key()['KeyMetadata']['Arn'])",
        &[],
    );
    let key_arn = key_arn.trim();
    let outbox = Outbox::new(db.clone(), fresh_outbox(&db).await)
        .unwrap()
        .with_claim_check(claim_check(&moto, &bucket).with_kms_key(key_arn));
    let body = incompressible(100 * 1024, 50);
    let message = Message::new(TOPIC, body.clone());
    outbox.store(&message).await.unwrap();
    let key = moto
        .objects(&bucket)
        .await
        .pop()
        .expect("the body's object");
    let head = moto
        .s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&outbox_runtime::aws_sdk_s3::types::ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(key_arn));
    let Body::S3(reference) = outbox
        .get(message.id())
        .await
        .unwrap()
        .unwrap()
        .message
        .body
    else {
        panic!("the body is in S3");
    };
    let fetched = outbox_runtime::claim_check::fetch(&moto.s3, &reference, 1 << 20)
        .await
        .unwrap();
    assert!(fetched == body);
}

#[tokio::test]
async fn a_claim_checked_body_published_to_sns_reaches_raw_and_enveloped_subscriptions() {
    let db = dynamodb().await;
    let moto = moto().await;
    let bucket = moto.bucket("claims-sns").await;
    let topic = moto.topic("claims", false).await;
    let raw = moto.queue("claims-raw", false).await;
    moto.subscribe_raw(&topic, &raw).await;
    let enveloped = moto.queue("claims-envelope", false).await;
    moto.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(moto.queue_arn(&enveloped).await)
        .send()
        .await
        .unwrap();
    // Over SNS's 256 KB: only a reference can be published.
    let body = incompressible(600 * 1024, 60);
    let postbox = Postbox::new(
        outbox(&db, fresh_outbox(&db).await, &moto, &bucket),
        outbox_runtime::transport::SnsProducer::new(moto.sns.clone()).with_route(TOPIC, &topic),
    );
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
        let consumer = SqsConsumer::new(moto.sqs.clone(), queue)
            .with_wait_time(Duration::from_secs(1))
            .with_claim_check(moto.s3.clone());
        recorder.consume(&consumer, 1).await;
        assert!(
            recorder.bodies.lock().unwrap()[&id] == Body::Bytes(body.clone()),
            "{queue}"
        );
    }
}
