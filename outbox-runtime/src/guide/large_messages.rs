//! Large bodies: compressed where DynamoDB bills them, kept in S3 when even that is too large
//! (the claim check), and the original bytes at every consumer.
//!
//! A message body lives in the outbox item. A transactional write bills 2 write units per KB of
//! the item, and marking it dispatched (an update, or a delete with
//! [`Cleanup::Delete`](crate::Cleanup::Delete)) 1 per KB: a 10 KB JSON body costs 36 write units
//! from deposit to delete, index entry included. JSON typically compresses 3 to
//! 10 times, so most of those units pay for redundancy.
//!
//! # Compression
//!
//! [`OutboxConfig::with_compression_above`](crate::OutboxConfig::with_compression_above) turns it
//! on: a byte body larger than the threshold is stored gzip-compressed when that makes it
//! smaller (the item says so in its `BodyEncoding` attribute), and is otherwise stored as it
//! is, so random or already compressed bodies never cost more than before. The item limit of
//! 400 KB applies to what is stored: a 1 MiB JSON document that compresses to 150 KB is
//! accepted. Map bodies ([`Body::Item`](crate::Body::Item)) stay native maps.
//!
//! What it saves, counted on DynamoDB Local (`costs::a_compressed_json_body_costs_…` in the
//! tests asserts it): a 10 KB JSON order document costs 12 write units instead of 36.
//!
//! ```no_run
//! use outbox_runtime::{Body, ClearMode, DynamoDb, Message, Outbox, OutboxConfig, Postbox};
//! use outbox_runtime::transport::InMemoryProducer;
//!
//! # async fn run(db: DynamoDb) -> outbox_runtime::Result<()> {
//! let config = OutboxConfig::default().with_compression_above(512);
//! let postbox = Postbox::new(Outbox::new(db, config)?, InMemoryProducer::new());
//!
//! let document = format!("{{\"lines\":[{}]}}", r#"{"sku":"SKU-1","quantity":2},"#.repeat(500));
//! let document = document.replace(",]", "]").into_bytes();
//! let mut tx = postbox.begin();
//! let id = tx.deposit_message(Message::new("order.placed", document.clone()))?;
//! postbox.commit_and_send(tx, ClearMode::Immediate).await?;
//!
//! // Read back from the table, the body is the stored gzip; `to_bytes` inflates it.
//! let stored = postbox.outbox().get(&id).await?.expect("kept for a day by default");
//! assert!(matches!(stored.message.body, Body::Compressed(_)));
//! assert_eq!(stored.message.body.to_bytes()?, document);
//! # Ok(()) }
//! ```
//!
//! # On the wire
//!
//! SQS and SNS carry the gzip bytes as they are stored, base64-encoded, flagged by the message
//! attribute `outbox-body-encoding` = `gzip+base64` (the [`wire`](crate::transport::wire) page
//! has the whole format); a body that compressed too little to survive base64's third is sent
//! inflated. Other consumers read it with their standard library, in Python
//! `gzip.decompress(base64.b64decode(body))`. A transport whose format has no place for an
//! encoding gets the original bytes from [`Body::to_bytes`](crate::Body::to_bytes), which is
//! also what a [`Producer`](crate::transport::Producer) of your own receives when it calls it.
//!
//! gzip is the one encoding: every language reads it without a library, which zstd and brotli
//! cannot claim, and the body sizes a message carries are far from where their better ratio
//! or speed would pay for a consumer that cannot read the message.
//!
//! # Consumers
//!
//! [`SqsConsumer`](crate::consumer::SqsConsumer), the AWS Lambda SQS entry,
//! [`read_delivery`](crate::consumer::incoming::read_delivery) and
//! [`sqs::received_message`](crate::transport::sqs::received_message) inflate a compressed body
//! before anything else sees it: a handler's [`Message::body`](crate::Message::body) is
//! [`Body::Bytes`](crate::Body::Bytes) holding the original bytes. A body that would inflate past
//! [`MAX_INFLATED_BYTES`](crate::message::MAX_INFLATED_BYTES) (64 MiB), or is not valid gzip, is
//! refused as undecodable, logged with the queue and the SQS message id, and left to the queue's
//! redrive policy: never deleted, never handed to the handler.
//!
//! **Upgrade consumers first.** A consumer of a release before compression refuses a compressed
//! message with "unknown body encoding `gzip+base64`" and leaves it to its queue, where the
//! redrive policy eventually moves it to the dead-letter queue; nothing is lost, but nothing is
//! handled until the consumer is upgraded (and the messages redriven).
//!
//! ```
//! use base64::Engine as _;
//! use outbox_runtime::message::CompressedBody;
//! use outbox_runtime::transport::wire::{GZIP_BASE64, decode_body};
//!
//! // What a producer sends for a compressed body, and what any consumer makes of it.
//! let json = br#"{"greeting":"hello"}"#.repeat(100);
//! let sent = base64::engine::general_purpose::STANDARD.encode(CompressedBody::compress(&json).gzip());
//! assert!(sent.len() < json.len() / 4);
//! assert_eq!(decode_body(&sent, Some(GZIP_BASE64))?, json);
//! # Ok::<(), outbox_runtime::transport::wire::DecodeError>(())
//! ```
//!
//! # The claim check
//!
//! A body larger than DynamoDB's item (400 KB) or a transport's message (SNS: 256 KB) goes to
//! S3 with the [`claim_check`](crate::claim_check) (feature `s3`): a deposit over the
//! threshold (200 KB on the wire by default, counted after compression and with base64's third
//! where the transport needs it) replaces the body by its reference, and the commit puts the
//! object before `TransactWriteItems`, under a key made of the message id and the body's
//! SHA-256, never overwriting an object. A commit that does not happen deletes the objects it
//! put; one whose outcome is unknown keeps them. The [`claim_check`](crate::claim_check) page
//! says how long objects live and why that outlasts every message that refers to them.
//!
//! ```no_run
//! # #[cfg(feature = "s3")]
//! # async fn run(db: outbox_runtime::DynamoDb, sqs: outbox_runtime::aws_sdk_sqs::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use outbox_runtime::claim_check::ClaimCheck;
//! use outbox_runtime::consumer::SqsConsumer;
//! use outbox_runtime::{ClearMode, Message, Outbox, OutboxConfig, Postbox};
//! use outbox_runtime::transport::InMemoryProducer;
//!
//! let s3 = outbox_runtime::aws_sdk_s3::Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await);
//! let claim_check = ClaimCheck::new(s3.clone(), "orders-message-bodies");
//! claim_check.ensure_lifecycle_rule().await?; // where the bucket is provisioned
//! let outbox = Outbox::new(db, OutboxConfig::default().with_compression_above(512))?
//!     .with_claim_check(claim_check);
//! let postbox = Postbox::new(outbox, InMemoryProducer::new());
//!
//! let scan = vec![0u8; 8 << 20]; // 8 MiB: far over any item or message
//! let mut tx = postbox.begin();
//! tx.deposit_message(Message::new("scan.archived", scan).with_content_type("image/tiff"))?;
//! postbox.commit_and_send(tx, ClearMode::Immediate).await?; // the object first, then the commit
//!
//! // The consumer fetches the body, checks its size and checksum, and hands the handler bytes.
//! let consumer = SqsConsumer::new(sqs, "https://sqs.eu-west-1.amazonaws.com/1/scans")
//!     .with_claim_check(s3);
//! # let _ = consumer;
//! # Ok(()) }
//! ```
//!
//! On SQS and SNS the reference travels in the format of AWS's extended clients (the SQS
//! Extended Client Library for Java and Python): Java and Python consumers that use them read
//! these messages as their own, and any other reads the pointer with two lines of JSON. The
//! [`wire`](crate::transport::wire) page has the format. The Lambda SQS entry fetches with
//! `lambda::SqsHandler::with_claim_check`; a message whose object is
//! missing or does not match its checksum is refused, logged with the message id, the bucket
//! and the key, and left to the queue.
//!
//! A claim-checked message costs the outbox what a body of a few hundred bytes costs: its item
//! holds only the reference (`costs::a_claim_checked_mebibyte_…` in the tests asserts it).
