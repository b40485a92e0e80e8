//! Getting committed messages out when the send right after the commit did not: the sweeper, the
//! stream relay, running either on AWS Lambda, and how to choose.
//!
//! # The sweeper
//!
//! A [`Sweeper`](crate::Sweeper) queries the sparse outstanding index of the shards it holds
//! (see [`outbox_table`](super::outbox_table)) for messages older than its `min_age`, reads them
//! again consistently from the table, sends them and marks them. `min_age` (10 s by default)
//! leaves a message to the send right after its commit; a failed send of that path is recorded,
//! and the sweeper picks the message up once its backoff is over.
//!
//! - **Leases.** Several sweepers, in one process or many, split the shards through lease items
//!   written conditionally (an owner, an expiry, a version), so no shard is swept by two at
//!   once. A new sweeper joins a membership item, and the others give shards up down to their
//!   fair share. A sweeper that stops gives its leases back at once; a dead one's shards are
//!   taken over when its leases lapse (`lease_duration`, 30 s by default).
//! - **Concurrency.** It works `shard_concurrency` shards at once (8 by default), reads a shard's
//!   next page while it sends the current one, and marks 25 to a request while the sends go on.
//! - **Order per key.** A key's messages all live on one shard, and the sweeper never sends a
//!   later message of a key before an earlier one has been sent: a failed send holds the rest of
//!   its key back. A mark that fails leaves the earlier message outstanding, so the next pass
//!   sends it again, after the later ones: a duplicate out of order, which a consumer handles as
//!   it handles any duplicate of an at-least-once relay.
//! - **Failures.** Attempts, backoff and dead letters are the postbox's
//!   [`RetryPolicy`](crate::RetryPolicy) (see [`outbox_table`](super::outbox_table)).
//!
//! Its settings are a [`SweeperConfig`](crate::SweeperConfig). Like every configuration of this
//! crate it is `#[non_exhaustive]`, so struct-update syntax (`SweeperConfig { min_age, ..
//! Default::default() }`) does not compile outside the crate: change the defaults with the
//! `with_` methods.
//!
//! ```no_run
//! use outbox_runtime::{Postbox, Sweeper, SweeperConfig};
//! use std::time::Duration;
//!
//! # async fn run(postbox: Postbox) -> outbox_runtime::Result<()> {
//! let config = SweeperConfig::default()
//!     .with_min_age(Duration::from_secs(60))
//!     .with_interval(Duration::from_secs(5))
//!     .with_shard_concurrency(16)
//!     .with_owner("orders-sweeper-1");
//! let sweeper = Sweeper::new(&postbox, config);
//! // Runs until the future completes, then gives its leases back.
//! sweeper
//!     .run(async {
//!         tokio::signal::ctrl_c().await.ok();
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! [`Sweeper::sweep_once`](crate::Sweeper::sweep_once) runs one pass and returns its
//! [`SweepReport`](crate::SweepReport); `examples/src/bin/sweeper.rs` in the repository is the
//! sweeper as a process of its own.
//!
//! # The stream relay
//!
//! A relay without polling the index: the outbox table's DynamoDB Stream, read by a process of
//! your own ([`StreamRelay`](crate::stream::StreamRelay), feature `streams`) or by AWS Lambda
//! (feature `lambda`, below). [`OutboxConfig::with_stream`](crate::OutboxConfig::with_stream)
//! picks one of two [`StreamMode`](crate::table::StreamMode)s, and
//! [`Outbox::ensure_table`](crate::Outbox::ensure_table) creates the table with its stream, or
//! adds the stream to an existing table
//! ([`EnsureOutcome::StreamEnabled`](crate::table::EnsureOutcome::StreamEnabled)). With a stream
//! mode, the send right after the commit is off by default: the relay sends within milliseconds
//! of the commit. Which records mean "send this", what the two modes cost and risk, and where
//! order per key holds are on the [`stream`](crate::stream) module's page.
//!
//! The self-hosted relay leases the stream's shards among relay processes in a state table of
//! its own ([`StreamRelayConfig::state_table_schema`](crate::stream::StreamRelayConfig::state_table_schema),
//! `<outbox table>-relay` by default; never the outbox table, whose writes feed the stream).
//! Each lease carries a fencing token, moved on by whoever takes the shard, and every renewal and
//! checkpoint is conditional on it: a relay whose lease was taken over cannot checkpoint, and
//! what it sent since its last checkpoint is sent again by the new owner and counted
//! ([`RelayReport::sent_after_lease_lost`](crate::stream::RelayReport::sent_after_lease_lost)).
//! A child shard is read only once its parent has been read to its end. A checkpoint follows each
//! batch; a record whose message could not be handed over (its send failed, and recording the
//! failure failed too) stops the checkpoint before it, and is read again.
//!
//! ```no_run
//! # #[cfg(feature = "streams")]
//! # async fn run(postbox: outbox_runtime::Postbox) -> outbox_runtime::Result<()> {
//! use outbox_runtime::stream::{DynamoDbStreams, StreamRelay, StreamRelayConfig};
//! use std::time::Duration;
//!
//! let config = StreamRelayConfig::default()
//!     .with_poll_interval(Duration::from_millis(100))
//!     .with_owner("orders-relay-1");
//! // From the standard AWS chain: AWS_ENDPOINT_URL_DYNAMODB_STREAMS points it elsewhere.
//! let streams = DynamoDbStreams::from_env().await;
//! let relay = StreamRelay::new(&postbox, streams, config)?;
//! relay.ensure_state_table().await?;
//! relay
//!     .run(async {
//!         tokio::signal::ctrl_c().await.ok();
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Against a local emulator, point the streams client where the table is: DynamoDB Local serves
//! the `dynamodbstreams` API on its own port, so set `AWS_ENDPOINT_URL_DYNAMODB_STREAMS` to the
//! same URL as `AWS_ENDPOINT_URL_DYNAMODB` (the variable is
//! [`STREAMS_ENDPOINT_ENV`](crate::stream::STREAMS_ENDPOINT_ENV)), or build the client with
//! [`DynamoDbStreams::local`](crate::stream::DynamoDbStreams::local) (feature `testing`).
//! DynamoDB Local has one stream shard only, truncates record timestamps to the minute, and
//! never expires TTL items. In the repository, `examples/src/bin/stream_relay.rs` is the relay as
//! a process (`cargo run -p outbox-examples --bin stream_relay -- --route TOPIC=QUEUE_URL`; it
//! reads `OUTBOX_TABLE`, `OUTBOX_STREAM_MODE` and `OUTBOX_ROUTES`).
//!
//! # On AWS Lambda
//!
//! With the feature `lambda`, [`lambda::StreamHandler`](crate::lambda::StreamHandler) is the
//! relay as the function of an event source mapping on the table's stream (the stream event in,
//! the partial-batch response out), and [`lambda::ScheduledSweep`](crate::lambda::ScheduledSweep)
//! a sweep pass per scheduled invocation, for services that keep the index sweeper on Lambda.
//! Both finish their marks before they return: Lambda freezes the process between invocations,
//! and for the same reason a handler running on Lambda marks inline
//! (`Postbox::with_mark_mode(MarkMode::Inline)`). In the repository,
//! `examples/src/bin/stream_relay_lambda.rs` and `examples/src/bin/sweep_lambda.rs` are the two
//! functions, reading `OUTBOX_TABLE`, `OUTBOX_STREAM_MODE` (`with-sweeper` or `stream-only`) and
//! `OUTBOX_ROUTES` (`topic=queue-url`, comma separated).
//!
//! The event source mapping on the outbox table's stream:
//!
//! | setting | value | why |
//! | --- | --- | --- |
//! | `StartingPosition` | `TRIM_HORIZON` | nothing written since the stream was enabled is missed |
//! | `FunctionResponseTypes` | `["ReportBatchItemFailures"]` | a record that could not be handed over is retried from that record on, instead of the whole batch or a blocked shard |
//! | `FilterCriteria` | [`stream::lambda_filter_criteria`](crate::stream::lambda_filter_criteria) | the records of marks, failures and leases never invoke the function |
//! | `BatchSize`, `MaximumBatchingWindowInSeconds` | 100, 0 | latency; raise the window to save invocations |
//! | `BisectBatchOnFunctionError`, `MaximumRetryAttempts` | `true`, `-1` | a function error (a crash) retries until the record expires; only a record that could not be handed over is ever reported |
//! | `ParallelizationFactor` | 1 | more than 1 handles one shard's records concurrently and loses the order within a shard |
//!
//! The function's role is [`iam::Part::StreamRelay`](crate::iam::Part::StreamRelay) of the
//! configuration's [`IamPolicy`](crate::iam::IamPolicy) (without a state table: on Lambda the
//! event source mapping keeps the leases and checkpoints), plus the
//! `AWSLambdaBasicExecutionRole` managed policy for its logs. With an AWS account and
//! cargo-lambda, building and wiring it looks like this:
//!
//! ```sh
//! cargo lambda build --release --bin stream_relay_lambda
//! aws lambda create-function --function-name outbox-relay --runtime provided.al2023 \
//!     --handler bootstrap --role ROLE_ARN \
//!     --zip-file fileb://target/lambda/stream_relay_lambda/bootstrap.zip \
//!     --environment 'Variables={OUTBOX_TABLE=Outbox,OUTBOX_ROUTES=greeting.made=QUEUE_URL}'
//! aws lambda create-event-source-mapping --function-name outbox-relay \
//!     --event-source-arn STREAM_ARN --starting-position TRIM_HORIZON --batch-size 100 \
//!     --function-response-types ReportBatchItemFailures --filter-criteria file://filter.json
//! ```
//!
//! where `filter.json` holds what `stream::lambda_filter_criteria` returns. To run a stream
//! function's handler locally, read the records of DynamoDB Local's stream and hand it the event
//! `lambda::stream_event` makes of them (features `lambda`, `streams` and `testing`): the
//! crate's own tests do exactly that.
//!
//! # Choosing
//!
//! | | send after the commit + sweeper (the default) | [`StreamMode::WithSweeper`](crate::table::StreamMode::WithSweeper) | [`StreamMode::StreamOnly`](crate::table::StreamMode::StreamOnly) |
//! | --- | --- | --- | --- |
//! | who sends | the handler, right after its commit; the sweeper what it missed | the stream relay; the sweeper what it missed | the stream relay; the sweeper only failed sends |
//! | a message costs | its transactional put with the index entry, a share of a mark request | the same | its transactional put alone: no index entry, no mark |
//! | latency after the commit | the send | the self-hosted relay's poll (every 250 ms by default) | the same |
//! | what the first sender missed | the sweeper sends it after `min_age` | the sweeper sends it, also past the stream's 24 hours | only failed sends reach the sweeper: with the relay down nothing is sent until it is back, and more than 24 hours behind, records are lost for good |
//! | idle cost | a query per shard per sweeper pass | the relay's polls and the sweeper's queries | the relay's polls, and a slow sweeper |
//! | order per key | the sweeper's path keeps it; a send after the commit can overtake messages waiting for the sweeper | per stream shard only, or strict with [`KeyedMessages::LeaveToSweeper`](crate::stream::KeyedMessages::LeaveToSweeper) | per stream shard only |
//! | runs on Lambda | handlers with inline marks and [`ScheduledSweep`](crate::lambda::ScheduledSweep) | [`StreamHandler`](crate::lambda::StreamHandler), and a scheduled sweep | the same |
//!
//! `clear = "sweeper"` on a handler leaves its messages to the sweeper alone, for strict order
//! per key across transport failures.

// Some links lead to items of optional features. A build without them (`cargo doc -p
// outbox-runtime` takes the default features) cannot resolve those links; docs.rs and the
// workspace's build, with every feature, check them all.
#![cfg_attr(
    not(all(feature = "streams", feature = "lambda", feature = "testing")),
    allow(rustdoc::broken_intra_doc_links)
)]
