//! Running the outbox: metrics and logs, IAM permissions, pointing at real AWS, local
//! emulators, and OpenTelemetry.
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
//! | `outbox_outstanding_backlog` | gauge | `owner` | outstanding messages the last pass examined (bounded by what a pass reads; only what is due: a message due next month pages no one tonight) |
//! | `outbox_oldest_outstanding_age_seconds` | gauge | `owner` | age of the oldest outstanding message the last pass saw (a scheduled message's age counts from its due time) |
//! | `outbox_scheduled_due_to_sent_seconds` | histogram | | how late after its due time a scheduled message was sent |
//! | `outbox_stream_*` | | | the stream relay's: iterator age, records read and filtered, leases (listed in [`stream`](crate::stream)) |
//! | `outbox_inbox_duplicates_total`, `outbox_consumer_*` | | | the consumer side's: duplicates absorbed, handler failures, unreadable deliveries (listed in [`consumer`](crate::consumer)) |
//!
//! Alarm on `outbox_oldest_outstanding_age_seconds` (messages waiting too long) and on
//! `outbox_dead_lettered_total`; with a stream relay, on `outbox_stream_iterator_age_seconds`
//! too, well below the stream's 24 hours.
//!
//! Logs are [`tracing`](https://docs.rs/tracing) events: `warn` for a failed send, a failed
//! mark, a failed sweep pass, a lost lease and a dead-lettered message; `error` for an
//! unreadable item set aside; `info` for a sweeper's start, stop and leases taken; `debug` spans
//! `outbox.commit`, `outbox.clear` and `outbox.sweep_shard`. Message bodies and credentials are
//! never logged.
//!
//! # IAM permissions
//!
//! The least-privilege policy of a configuration is a library function,
//! [`iam::IamPolicy`](crate::iam::IamPolicy): exact actions on the exact table, index, queue,
//! topic and KMS key ARNs, one statement per part, derived from the SDK calls the runtime makes,
//! so infrastructure code can generate it. The [`iam`](crate::iam) module's page lists what each
//! [`Part`](crate::iam::Part) calls. Run the service with the default parts (handler, immediate
//! send, sweeper) and create the tables with a separate role; a queue or topic encrypted with an
//! AWS managed key (`alias/aws/sqs`, `alias/aws/sns`) needs no KMS statement. In the repository,
//! `cargo xtask iam-policy --help` prints a policy from the command line.
//!
//! # Pointing at real AWS
//!
//! [`DynamoDb::from_env`](crate::DynamoDb::from_env),
//! [`transport::sqs::client_from_env`](crate::transport::sqs::client_from_env) (and its SNS and
//! DynamoDB Streams counterparts) use the standard AWS chain: `AWS_REGION`, `AWS_PROFILE` or the
//! instance's role for credentials, and the variables every AWS SDK reads for endpoints:
//! `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL_SNS`,
//! `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`, or `AWS_ENDPOINT_URL` for all. Or build the SDK clients
//! yourself and pass them in ([`DynamoDb::from_client`](crate::DynamoDb::from_client),
//! [`SqsProducer::new`](crate::transport::SqsProducer::new)); the crate re-exports the SDK crates
//! it is built with ([`aws_sdk_dynamodb`] and the others), so versions
//! match. Create the tables once with [`Outbox::ensure_table`](crate::Outbox::ensure_table), or
//! with your infrastructure code from the same schema (see [`outbox_table`](super::outbox_table)).
//!
//! # Local emulators
//!
//! DynamoDB Local is AWS's own emulator; start it with `-sharedDb`, or each access key and region
//! sees tables of its own (a classic source of "table not found"). It serves the DynamoDB Streams
//! API on the same port. moto (`moto[server]` from PyPI) serves SQS and SNS on one port. With the
//! feature `testing`, [`DynamoDb::local`](crate::DynamoDb::local),
//! [`transport::sqs::local_client`](crate::transport::sqs::local_client),
//! [`transport::sns::local_client`](crate::transport::sns::local_client) and
//! [`DynamoDbStreams::local`](crate::stream::DynamoDbStreams::local) make clients for an explicit
//! endpoint, with dummy credentials and short timeouts, and
//! [`transport::InMemoryProducer`](crate::transport::InMemoryProducer) keeps what it is sent.
//!
//! In the repository, xtask runs both emulators:
//!
//! ```sh
//! cargo xtask dynamodb start     # in memory on 127.0.0.1:8000 (or a free port); reused if running
//! cargo xtask moto start         # SQS and SNS on 127.0.0.1:5000 (or a free port)
//! cargo xtask provision          # the tables of the tests and the demo (idempotent)
//! cargo xtask dynamodb status    # what runs where (and `stop` stops what `start` started)
//! ```
//!
//! With servers started this way, plain `cargo test` works too: the tests read
//! `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL_SQS`, or use `http://127.0.0.1:8000` and
//! `http://127.0.0.1:5000` when they are not set. A test that finds no server fails and says how
//! to start one; none passes by skipping.
//!
//! # OpenTelemetry
//!
//! With the feature `opentelemetry`, a message deposited inside a span that OpenTelemetry tracks
//! (through tracing-opentelemetry) carries its W3C trace context: the producers send it as the
//! SQS and SNS message attribute `traceparent`
//! ([`transport::wire::TRACE_PARENT`](crate::transport::wire::TRACE_PARENT)), and a consumer
//! reads it back into the message's header, so the consumer's tracing continues the producer's
//! trace. Outside such a span nothing is made up. The service installs the tracing side itself,
//! with versions compatible with this release's:
//!
//! ```toml
//! [dependencies]
//! outbox-runtime = { version = "0.1", features = ["opentelemetry"] }
//! opentelemetry = { version = "0.33", default-features = false, features = ["trace"] }
//! opentelemetry_sdk = { version = "0.33", default-features = false, features = ["trace"] }
//! tracing-opentelemetry = { version = "0.34", default-features = false }
//! tracing-subscriber = "0.3"
//! ```
//!
//! and a subscriber with tracing-opentelemetry's layer over an SDK tracer provider, such as
//! `tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("orders")))`
//! (with `opentelemetry::trace::TracerProvider` and `tracing_subscriber::layer::SubscriberExt` in
//! scope). Then whatever is deposited inside a span carries the span's context:
//!
//! ```no_run
//! use outbox_runtime::{ClearMode, Message, Postbox};
//! use tracing::Instrument;
//!
//! # async fn run(postbox: Postbox) -> outbox_runtime::Result<()> {
//! async {
//!     let mut tx = postbox.begin();
//!     tx.deposit_message(Message::new("order.placed", r#"{"order":7}"#))?;
//!     postbox.commit_and_send(tx, ClearMode::Immediate).await?;
//!     Ok::<(), outbox_runtime::Error>(())
//! }
//! .instrument(tracing::info_span!("place order"))
//! .await?;
//! # Ok(()) }
//! ```

// Some links lead to items of optional features. A build without them (`cargo doc -p
// outbox-runtime` takes the default features) cannot resolve those links; docs.rs and the
// workspace's build, with every feature, check them all.
#![cfg_attr(
    not(all(feature = "streams", feature = "lambda", feature = "testing")),
    allow(rustdoc::broken_intra_doc_links)
)]
