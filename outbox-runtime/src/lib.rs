//! A transactional outbox for Amazon DynamoDB.
//!
//! A service changes entities in DynamoDB and announces what happened as messages. Both happen
//! or neither: entity writes and outgoing messages commit in one `TransactWriteItems`
//! ([`Transaction`]). Right after the commit the messages go to a transport (SQS, SNS, or a
//! [`Producer`](transport::Producer) of your own); if the process dies first, they stay
//! outstanding in the [`Outbox`] table for a [`Sweeper`] or a stream relay to send later. Reads
//! belong to the unit of work too: a write after a read is conditional on the version read, so a
//! handler that lost a race runs again instead of losing another's update.
//!
//! ```no_run
//! use outbox_runtime::table::TableSchema;
//! use outbox_runtime::{OutboxMessage, Postbox, Transaction, transactional_handler};
//!
//! #[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
//! #[outbox(topic = "greeting.made")]
//! struct GreetingMade {
//!     #[outbox(partition_key)] // same key, same order
//!     name: String,
//!     greeting: String,
//! }
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Person {
//!     #[serde(rename = "Name")]
//!     name: String,
//!     greetings: Vec<String>,
//! }
//!
//! struct Greeter {
//!     postbox: Postbox,
//!     people: TableSchema, // keyed by `Name`, versioned: `.with_version("Version")`
//! }
//!
//! impl Greeter {
//!     // Callers write `greeter.greet(name, greeting).await`: the macro begins the unit of work,
//!     // commits it, runs the body again after a conflict, and sends the message.
//!     #[transactional_handler(postbox = self.postbox, tx = tx)]
//!     async fn greet(
//!         &self,
//!         tx: &mut Transaction,
//!         name: String,
//!         greeting: String,
//!     ) -> outbox_runtime::Result<()> {
//!         let mut person = tx
//!             .get::<Person>(&self.people, &name)
//!             .await?
//!             .unwrap_or_else(|| Person {
//!                 name: name.clone(),
//!                 greetings: Vec::new(),
//!             });
//!         person.greetings.push(greeting.clone());
//!         tx.put(&self.people, &person)?; // only if the person is as read
//!         tx.deposit(&GreetingMade { name, greeting })?;
//!         Ok(())
//!     }
//! }
//! ```
//!
//! The README's quick start is the same service as a whole program, with the outbox table, the
//! SQS producer and the sweeper wired up.
//!
//! # The guide
//!
//! The reference is on each item's page; the [`guide`] ties them together:
//!
//! | page | what it covers |
//! | --- | --- |
//! | [`guide::unit_of_work`] | what a handler does: reads and versions, writes, conflicts and retries, DynamoDB's limits, errors, what happens after the commit |
//! | [`guide::outbox_table`] | the outbox table: items, the outstanding index and its shards, cleanup and TTL, failed sends, dead letters and replay |
//! | [`guide::relays`] | the sweeper, the stream relay (self-hosted or on AWS Lambda), and how to choose |
//! | [`guide::consumers`] | the inbox, [`consumer::SqsConsumer`], the AWS Lambda SQS entry |
//! | [`guide::operations`] | metrics and logs, IAM permissions, pointing at real AWS, local emulators, OpenTelemetry |
//! | [`guide::reliability`] | what the fault-injection runs check, and how to run them |
//!
//! The two macros' pages, [`OutboxMessage`](derive@OutboxMessage) and
//! [`transactional_handler`], are the reference of every key and argument.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `sqs` | yes | [`transport::SqsProducer`], [`transport::sqs::received_message`] and [`consumer::SqsConsumer`] (aws-sdk-sqs) |
//! | `aws-config` | yes | [`DynamoDb::from_env`] and `client_from_env` for the producers: clients from the standard AWS chain (aws-config) |
//! | `sns` | no | `transport::SnsProducer` (aws-sdk-sns) |
//! | `s3` | no | `claim_check`: bodies over a threshold kept in an S3 bucket, the message carrying a reference; consumers fetch them ([`guide::large_messages`]) (aws-sdk-s3, sha2) |
//! | `testing` | no | `transport::InMemoryProducer`, `DynamoDb::local` and `local_client` for the producers, `lambda::stream_event` (with `lambda` and `streams`): for tests and examples against local emulators |
//! | `streams` | no | [`stream::StreamRelay`]: a self-hosted relay on the outbox table's DynamoDB Stream (aws-sdk-dynamodbstreams) |
//! | `lambda` | no | [`lambda`]: AWS Lambda entries for the stream relay (a DynamoDB stream event to the partial-batch response), for a scheduled sweep pass, and for a consumer (an SQS event to the partial-batch response) (aws_lambda_events, lambda_runtime) |
//! | `opentelemetry` | no | a message deposited inside a span OpenTelemetry tracks (through tracing-opentelemetry) carries its W3C trace context; producers send it as the message attribute `traceparent` ([`guide::operations`] says how to set it up) |
//!
//! With `default-features = false` the crate needs only aws-sdk-dynamodb; bring a
//! [`transport::Producer`] of your own (plain `async fn`s). With `default-features = false,
//! features = ["sqs"]` neither aws-sdk-sns nor aws-config is built. The SDK crates are built
//! without their default features, with one HTTP and TLS stack (`default-https-client`) on tokio.
//!
//! The SDK crates whose types appear in this crate's API are re-exported
//! ([`aws_sdk_dynamodb`], `aws_sdk_sqs`, `aws_sdk_sns`, `aws_sdk_s3`, [`serde_dynamo`]), so a service can
//! name them without pinning versions of its own.

extern crate self as outbox_runtime;

pub use aws_sdk_dynamodb;
#[cfg(feature = "streams")]
pub use aws_sdk_dynamodbstreams;
#[cfg(feature = "s3")]
pub use aws_sdk_s3;
#[cfg(feature = "sns")]
pub use aws_sdk_sns;
#[cfg(feature = "sqs")]
pub use aws_sdk_sqs;
pub use serde_dynamo;

// Every SDK request is awaited boxed (`.send().boxed().await`). The SDK's request futures run
// to kilobytes; awaited in place, each makes every async fn around it as large, and those
// futures are copied as they are made and handed down the layers of a handler's call. Counted
// with callgrind (`cargo xtask bench --only instructions`), that copying was most of what a
// macro handler's call executed beyond the same requests written by hand; one allocation per
// request costs far less.
pub(crate) mod backoff;
#[cfg(feature = "s3")]
pub mod claim_check;
pub mod client;
pub mod consumer;
pub mod dispatch;
pub mod error;
pub mod guide;
pub mod iam;
pub mod limits;
pub mod message;
pub mod stream;
pub mod table;
pub(crate) mod time;
pub(crate) mod trace;
pub mod transaction;
pub mod transport;

#[cfg(feature = "lambda")]
pub mod lambda;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use client::DynamoDb;
pub use dispatch::{
    ClearMode, ClearReport, HandlerReport, MarkMode, Postbox, SweepReport, Sweeper, SweeperConfig,
    capture_reports,
};
pub use error::{ActionFailure, Error, Result};
pub use message::{Body, Header, Message, MessageId, MessageType, OutboxMessage};
/// Derives [`OutboxMessage`](trait@OutboxMessage) for a struct or enum: a type that travels as
/// outbox messages. The type derives serde's `Serialize` and `Deserialize` too; the message body
/// is its serde form.
///
/// # Keys
///
/// `#[outbox(...)]` goes on the type, on an enum's variants and on fields:
///
/// | key | on | value | default |
/// | --- | --- | --- | --- |
/// | `topic` | struct, enum, variant | a string literal: where the message goes; producers route by it | required: on a struct; on an enum, on the enum or on every variant |
/// | `message_type` | struct, enum, variant | `"event"`, `"command"` or `"document"` ([`MessageType`]) | `"event"` |
/// | `content_type` | struct, enum | a string literal: the body's MIME type (not with `body = "dynamo"`, whose content type is always `application/x-amz-dynamodb-item`) | `"application/json"` |
/// | `body` | struct, enum | `"json"`: bytes through serde_json, stored as a binary; `"dynamo"`: a native DynamoDB map through serde_dynamo, readable in the console | `"json"` |
/// | `partition_key` | field | the ordering key: messages with the same key are sent in order | none: no order with other messages |
/// | `id` | field | the message id; a deposit of an id already stored never overwrites it | a fresh UUID v7 per message |
/// | `correlation_id` | field | the correlation id | none (a consumer handler carries the incoming message's over) |
///
/// A variant's `topic` and `message_type` take precedence over the enum's; `body` and
/// `content_type` go on the enum, because the body is the serde form of the whole enum. A field
/// key appears at most once per struct or variant, on a named or a tuple field; the field becomes
/// a string with `ToString` (a `String`, a number, a UUID), and a field of type `Option<T>` sets
/// the header only when it is `Some`. A mistake (an unknown or repeated key, a missing topic, a
/// value not in the list) is a compile error on the offending token that says what is expected.
///
/// # What it generates
///
/// An implementation of [`OutboxMessage`](trait@OutboxMessage) (`TOPICS`, `topic`,
/// `message_type`, `to_message`, `from_message`) and, for a type with one topic, an inherent
/// `TOPIC` constant with the type's visibility, for routing and consumers. Decoding a message of
/// another topic or type is [`Error::WrongMessage`], naming both; a body that fails to encode or
/// decode is [`Error::Serialization`], naming the type and the topic.
///
/// # Examples
///
/// ```
/// use outbox_runtime::{MessageType, OutboxMessage};
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, OutboxMessage)]
/// #[outbox(topic = "greeting.made")]
/// pub struct GreetingMade {
///     #[outbox(partition_key)]
///     pub name: String,
///     pub greeting: String,
/// }
///
/// let made = GreetingMade {
///     name: "Tyrion".into(),
///     greeting: "Hello".into(),
/// };
/// let message = made.to_message()?;
/// assert_eq!(message.topic(), GreetingMade::TOPIC);
/// assert_eq!(message.header.partition_key.as_deref(), Some("Tyrion"));
/// assert_eq!(message.header.message_type, MessageType::Event);
/// assert_eq!(GreetingMade::from_message(&message)?, made);
/// # Ok::<(), outbox_runtime::Error>(())
/// ```
///
/// An enum whose variants go to different topics, with a body stored as a DynamoDB map:
///
/// ```
/// use outbox_runtime::{Body, MessageType, OutboxMessage};
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, OutboxMessage)]
/// #[outbox(message_type = "command", body = "dynamo")]
/// enum Account {
///     #[outbox(topic = "account.open")]
///     Open {
///         #[outbox(partition_key)]
///         owner: String,
///     },
///     #[outbox(topic = "account.close")]
///     Close {
///         #[outbox(partition_key)]
///         owner: String,
///         #[outbox(correlation_id)]
///         request: Option<u64>,
///     },
/// }
///
/// assert_eq!(Account::TOPICS, ["account.open", "account.close"]);
/// let close = Account::Close {
///     owner: "Sansa".into(),
///     request: Some(7),
/// };
/// let message = close.to_message()?;
/// assert_eq!(message.topic(), "account.close");
/// assert_eq!(message.header.message_type, MessageType::Command);
/// assert_eq!(message.header.correlation_id.as_deref(), Some("7"));
/// assert!(matches!(message.body, Body::Item(_)));
/// assert_eq!(Account::from_message(&message)?, close);
/// # Ok::<(), outbox_runtime::Error>(())
/// ```
///
/// An id of your own, a content type, and an optional ordering key:
///
/// ```
/// use outbox_runtime::OutboxMessage;
///
/// #[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
/// #[outbox(topic = "invoice.sent", content_type = "application/vnd.invoice+json")]
/// struct InvoiceSent {
///     #[outbox(id)]
///     invoice: String,
///     #[outbox(partition_key)]
///     customer: Option<u64>,
///     cents: u64,
/// }
///
/// let sent = InvoiceSent {
///     invoice: "inv-7".into(),
///     customer: None,
///     cents: 1_500,
/// };
/// let message = sent.to_message()?;
/// assert_eq!(message.id().as_str(), "inv-7");
/// assert_eq!(message.header.content_type, "application/vnd.invoice+json");
/// assert_eq!(message.header.partition_key, None);
/// # Ok::<(), outbox_runtime::Error>(())
/// ```
pub use outbox_derive::OutboxMessage;
/// Runs an `async fn` as one unit of work: its entity writes and deposited messages commit
/// together in one `TransactWriteItems`, then the messages are sent.
///
/// ```text
/// #[transactional_handler(postbox = <expr>, tx = <parameter>)]
/// #[transactional_handler(postbox = <expr>, tx = <parameter>, retries = <n>, clear = "<mode>")]
/// #[transactional_handler(postbox = <expr>, tx = <parameter>, incoming = <parameter>, inbox = <expr>)]
/// ```
///
/// # Arguments
///
/// | argument | meaning | default |
/// | --- | --- | --- |
/// | `postbox` | an expression giving a `&`[`Postbox`] (or something that derefs to one), evaluated once per call: `self.postbox`, `&state.postbox`, a parameter | required |
/// | `tx` | the parameter of type `&mut `[`Transaction`] the body writes to; it is removed from the signature callers see | required |
/// | `retries` | how many more times the body runs after a conflict (another transaction on the same items at the same time, or an item the body read changed before the commit), with backoff; `0` never runs it twice ([`HandlerRun::new`](dispatch::HandlerRun::new) says why 10) | `10` |
/// | `clear` | `"immediate"`: send the messages right after the commit; `"sweeper"`: leave them to the sweeper ([`ClearMode`]) | `"immediate"` |
/// | `incoming` | for a consumer handler: the parameter of type `&`[`Message`] it handles; its id goes to the inbox and becomes the causation id of every message the body deposits, and its correlation id is carried over | none |
/// | `inbox` | with `incoming`: an expression giving the `&`[`Inbox`](consumer::Inbox) the handling is recorded in, evaluated once per call | none |
///
/// The function is `async`, free or a method, and returns `Result<T, E>` with
/// `E: From<outbox_runtime::Error>`; a consumer handler's `T` is `Default` (usually `()`).
/// Because the body may run more than once, parameters taken by value are cloned for each run:
/// they must be `Clone`, or be taken by reference, or the handler has `retries = 0`. Callers do
/// not pass a transaction. A mistake is a compile error on the offending token that says what is
/// expected; the body's own `?`, `return` and type errors point at the body.
///
/// # What happens
///
/// - A transaction is begun, and the body runs with the `tx` parameter bound to it.
/// - `Ok`: the transaction commits (one `TransactWriteItems`); with `clear = "immediate"` the
///   deposited messages are sent from memory (a failed send is recorded and left to the
///   sweeper; it does not fail the call), and the value is returned.
/// - `Err` (by `?` or by `return`): the transaction is dropped and the error returned unchanged.
///   Nothing was sent to DynamoDB, so nothing is stored and nothing is delivered.
/// - A panic, or the call's future dropped before it finishes: the transaction is dropped;
///   nothing is written or sent.
/// - A commit cancelled by a conflict: the body runs again with a fresh transaction and fresh
///   reads, up to `retries` more times; then the call returns
///   [`Error::ConflictRetriesExhausted`], saying how often it ran and keeping the last conflict.
///   A condition the body wrote itself (`put_if`, `condition_check`) that fails is never run
///   again, and its error names the condition. Any other commit error is returned at once.
/// - With `incoming` and `inbox`, the transaction also writes the incoming message's inbox item,
///   on condition that it does not exist. A duplicate delivery fails that condition: nothing of
///   it is applied, and the handler returns `Ok(T::default())`, so the caller acknowledges it.
///
/// The generated code is a loop of a few lines around the body that calls
/// [`HandlerRun`](dispatch::HandlerRun), which owns the commit, the retry decision and the send;
/// its page shows the same loop written by hand. What became of the messages is the call's
/// [`HandlerReport`], which [`capture_reports`] collects without changing the handler's return
/// type. The [`guide::unit_of_work`] covers reads, conflicts, marks and order per key; the
/// [`guide::consumers`] page has a consumer handler.
///
/// # Examples
///
/// ```no_run
/// use outbox_runtime::table::TableSchema;
/// use outbox_runtime::{OutboxMessage, Postbox, Transaction, transactional_handler};
///
/// #[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
/// #[outbox(topic = "greeting.made")]
/// struct GreetingMade {
///     #[outbox(partition_key)]
///     name: String,
///     greeting: String,
/// }
///
/// #[derive(Clone)]
/// struct AddGreeting {
///     name: String,
///     greeting: String,
/// }
///
/// #[derive(serde::Serialize)]
/// struct Person {
///     #[serde(rename = "Name")]
///     name: String,
///     greetings: Vec<String>,
/// }
///
/// #[derive(Debug)]
/// enum AppError {
///     Outbox(outbox_runtime::Error),
/// }
///
/// impl From<outbox_runtime::Error> for AppError {
///     fn from(err: outbox_runtime::Error) -> Self {
///         AppError::Outbox(err)
///     }
/// }
///
/// struct AddGreetingHandler {
///     postbox: Postbox,
///     people: TableSchema,
/// }
///
/// impl AddGreetingHandler {
///     #[transactional_handler(postbox = self.postbox, tx = tx)]
///     async fn handle(&self, tx: &mut Transaction, cmd: AddGreeting) -> Result<(), AppError> {
///         let person = Person {
///             name: cmd.name.clone(),
///             greetings: vec![cmd.greeting.clone()],
///         };
///         tx.put(&self.people, &person)?;
///         tx.deposit(&GreetingMade {
///             name: cmd.name,
///             greeting: cmd.greeting,
///         })?;
///         Ok(())
///     }
/// }
///
/// # async fn run(handler: AddGreetingHandler) -> Result<(), AppError> {
/// // Callers do not pass a transaction.
/// let cmd = AddGreeting {
///     name: "Tyrion".into(),
///     greeting: "Hello".into(),
/// };
/// handler.handle(cmd).await?;
/// # Ok(()) }
/// ```
///
/// A free function that leaves sending to the sweeper (which keeps each key's order even across
/// transport failures) and never runs its body twice, so its by-value argument need not be
/// `Clone`:
///
/// ```no_run
/// use outbox_runtime::{Message, Postbox, Transaction, transactional_handler};
///
/// struct Audit(Vec<u8>);
///
/// #[transactional_handler(postbox = postbox, tx = tx, retries = 0, clear = "sweeper")]
/// async fn record(
///     postbox: &Postbox,
///     tx: &mut Transaction,
///     audit: Audit,
/// ) -> outbox_runtime::Result<()> {
///     tx.deposit_message(Message::new("audit.recorded", audit.0).with_partition_key("audit"))?;
///     Ok(())
/// }
///
/// # async fn run(postbox: Postbox) -> outbox_runtime::Result<()> {
/// record(&postbox, Audit(b"{}".to_vec())).await?;
/// # Ok(()) }
/// ```
pub use outbox_derive::transactional_handler;
pub use table::{
    BoundedCount, Cleanup, ContinuationToken, FailureOutcome, Outbox, OutboxConfig, Page,
    RetryPolicy, ScheduleOutcome, StoreOutcome, StoredMessage, StreamMode, TableSchema,
};
pub use transaction::{Committed, Expr, Transaction};

/// The README's code is compiled as a doctest, so the quick start cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeQuickStart;
