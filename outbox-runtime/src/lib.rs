//! A transactional outbox for Amazon DynamoDB.
//!
//! A service changes entities in DynamoDB and announces what happened as messages. Both happen
//! or neither: entity writes and outgoing messages commit in one `TransactWriteItems`
//! ([`Transaction`]). Right after the commit the messages go to a transport; if the process dies
//! first, they stay outstanding in the [`Outbox`] table for a sweeper to send later.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `sqs` | yes | [`transport::SqsProducer`], [`transport::sqs::received_message`] and [`consumer::SqsConsumer`] (aws-sdk-sqs) |
//! | `aws-config` | yes | [`DynamoDb::from_env`] and `client_from_env` for the producers: clients from the standard AWS chain (aws-config) |
//! | `sns` | no | `transport::SnsProducer` (aws-sdk-sns) |
//! | `testing` | no | `transport::InMemoryProducer`, `DynamoDb::local` and `local_client` for the producers: for tests and examples against local emulators |
//! | `streams` | no | [`stream::StreamRelay`]: a self-hosted relay on the outbox table's DynamoDB Stream (aws-sdk-dynamodbstreams) |
//! | `lambda` | no | [`lambda`]: AWS Lambda entries for the stream relay (a DynamoDB stream event to the partial-batch response), for a scheduled sweep pass, and for a consumer (an SQS event to the partial-batch response) (aws_lambda_events, lambda_runtime) |
//! | `opentelemetry` | no | a message deposited inside a span OpenTelemetry tracks (through tracing-opentelemetry) carries its W3C trace context; producers send it as the message attribute `traceparent` |
//!
//! With `default-features = false` the crate needs only aws-sdk-dynamodb; bring a
//! [`transport::Producer`] of your own. The SDK crates are built without their default
//! features, with one HTTP and TLS stack (`default-https-client`) on tokio.
//!
//! The SDK crates whose types appear in this crate's API are re-exported
//! ([`aws_sdk_dynamodb`], `aws_sdk_sqs`, `aws_sdk_sns`, [`serde_dynamo`]), so a service can
//! name them without pinning versions of its own.
//!
//! # Metrics and logs
//!
//! Metrics go through the [`metrics`](https://docs.rs/metrics) facade: install any recorder
//! (Prometheus, StatsD, CloudWatch EMF) in the service and they appear; without one they cost
//! nothing.
//!
//! | name | kind | labels | counts |
//! | --- | --- | --- | --- |
//! | `outbox_sent_total` | counter | `path` = `immediate` or `sweeper` | messages handed to the transport |
//! | `outbox_send_failed_total` | counter | `path` | sends the transport refused (retried later) |
//! | `outbox_sent_unmarked_total` | counter | `path` | sent, but the mark failed: each will be sent again (a duplicate) |
//! | `outbox_marker_queue_depth` | gauge | | ids the background marker holds or is marking |
//! | `outbox_marker_flush_delay_seconds` | histogram | | how long the oldest id of a mark request waited for it |
//! | `outbox_dead_lettered_total` | counter | | messages set aside after the last attempt, or unreadable |
//! | `outbox_lease_acquired_total`, `outbox_lease_lost_total` | counter | | shard leases taken and lost by sweepers |
//! | `outbox_outstanding_backlog` | gauge | `owner` | outstanding messages the last pass examined (bounded by what a pass reads) |
//! | `outbox_oldest_outstanding_age_seconds` | gauge | `owner` | age of the oldest outstanding message the last pass saw |
//! | `outbox_stream_*` | | | the stream relay's: iterator age, records read and filtered, leases (listed in [`stream`]) |
//! | `outbox_inbox_duplicates_total`, `outbox_consumer_*` | | | the consumer side's: duplicates absorbed, handler failures, unreadable deliveries (listed in [`consumer`]) |
//!
//! Logs are [`tracing`](https://docs.rs/tracing) events: `warn` for a failed send, a failed
//! mark, a failed sweep pass, a lost lease and a dead-lettered message; `error` for an
//! unreadable item set aside; `info` for a sweeper's start, stop and leases taken; `debug` spans
//! `outbox.commit`, `outbox.clear` and `outbox.sweep_shard`. Message bodies and credentials are
//! never logged.

extern crate self as outbox_runtime;

pub use aws_sdk_dynamodb;
#[cfg(feature = "streams")]
pub use aws_sdk_dynamodbstreams;
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
pub mod client;
pub mod consumer;
pub mod dispatch;
pub mod error;
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
/// Derives [`OutboxMessage`](trait@OutboxMessage); the keys of `#[outbox(...)]` are listed on
/// the macro's own page and in the README.
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
/// let made = GreetingMade { name: "Tyrion".into(), greeting: "Hello".into() };
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
///     Open { #[outbox(partition_key)] owner: String },
///     #[outbox(topic = "account.close")]
///     Close { #[outbox(partition_key)] owner: String, #[outbox(correlation_id)] request: Option<u64> },
/// }
///
/// assert_eq!(Account::TOPICS, ["account.open", "account.close"]);
/// let close = Account::Close { owner: "Sansa".into(), request: Some(7) };
/// let message = close.to_message()?;
/// assert_eq!(message.topic(), "account.close");
/// assert_eq!(message.header.message_type, MessageType::Command);
/// assert_eq!(message.header.correlation_id.as_deref(), Some("7"));
/// assert!(matches!(message.body, Body::Item(_)));
/// assert_eq!(Account::from_message(&message)?, close);
/// # Ok::<(), outbox_runtime::Error>(())
/// ```
pub use outbox_derive::OutboxMessage;
/// Runs an `async fn` as one unit of work: entity writes and deposited messages commit
/// together, then the messages are sent. Arguments and behaviour are on the macro's own page and
/// in the README.
///
/// # Examples
///
/// ```no_run
/// use outbox_runtime::{OutboxMessage, Postbox, Transaction, transactional_handler};
/// use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
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
///         let person = Person { name: cmd.name.clone(), greetings: vec![cmd.greeting.clone()] };
///         tx.put(&self.people, &person)?;
///         tx.deposit(&GreetingMade { name: cmd.name, greeting: cmd.greeting })?;
///         Ok(())
///     }
/// }
///
/// # async fn run(handler: AddGreetingHandler) -> Result<(), AppError> {
/// // Callers do not pass a transaction.
/// handler
///     .handle(AddGreeting { name: "Tyrion".into(), greeting: "Hello".into() })
///     .await?;
/// # Ok(()) }
/// ```
pub use outbox_derive::transactional_handler;
pub use table::{
    BoundedCount, Cleanup, ContinuationToken, FailureOutcome, Outbox, OutboxConfig, Page,
    RetryPolicy, StoreOutcome, StoredMessage, StreamMode, TableSchema,
};
pub use transaction::{Committed, Expr, Transaction};

/// The README's code is compiled as a doctest, so the quick start cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeQuickStart;
