//! AWS Lambda entries (feature `lambda`): the stream relay as the function of a DynamoDB event
//! source mapping on the outbox table's stream ([`StreamHandler`]), a sweep pass per
//! scheduled invocation ([`ScheduledSweep`]), for services that keep the index sweeper, and a
//! consumer as the function of an SQS event source mapping ([`SqsHandler`]).
//!
//! Lambda freezes the process between invocations, so nothing may be left running: both entries
//! finish their marks before they return, and a postbox used by handlers that run on Lambda
//! marks inline (`Postbox::with_mark_mode(MarkMode::Inline)`).
//!
//! The event source mapping does the leasing, checkpointing and retrying. Set it up with
//! `FunctionResponseTypes: ["ReportBatchItemFailures"]`, so that a record whose message could
//! not be handed over is retried from that record on instead of blocking or failing the whole
//! batch, and with the filter criteria of
//! [`lambda_filter_criteria`](crate::stream::lambda_filter_criteria), so that the records of
//! marks, failures and leases never invoke the function. The guide's
//! [relays on AWS Lambda](crate::guide::relays#on-aws-lambda) lists the other settings and the
//! IAM policy.
//!
//! ```no_run
//! use outbox_runtime::lambda::{StreamHandler, lambda_runtime};
//! use outbox_runtime::StreamMode;
//! use outbox_runtime::transport::{SqsProducer, sqs};
//! use outbox_runtime::{DynamoDb, MarkMode, Outbox, OutboxConfig, Postbox};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     let config = OutboxConfig::default().with_stream(StreamMode::WithSweeper);
//!     let outbox = Outbox::new(DynamoDb::from_env().await, config)?;
//!     let producer = SqsProducer::new(sqs::client_from_env().await)
//!         .with_route("greeting.made", "https://sqs.eu-west-1.amazonaws.com/123456789012/greetings");
//!     let postbox = Postbox::new(outbox, producer).with_mark_mode(MarkMode::Inline);
//!     let handler = StreamHandler::new(&postbox)?;
//!     let handler = &handler;
//!     lambda_runtime::run(lambda_runtime::service_fn(move |event| handler.call(event))).await
//! }
//! ```

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

pub use aws_lambda_events;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
pub use lambda_runtime;
use lambda_runtime::LambdaEvent;
use tracing::Instrument;

use crate::dispatch::dispatcher::Dispatcher;
use crate::dispatch::postbox::Postbox;
use crate::dispatch::sweeper::{SweepReport, Sweeper, SweeperConfig};
use crate::error::{Error, Result};
use crate::message::Item;
use crate::stream::{Event as RecordEvent, KeyedMessages, Record, relay_batch};

mod sqs;
#[cfg(all(feature = "testing", feature = "streams"))]
mod stream_event;

pub use sqs::SqsHandler;
#[cfg(all(feature = "testing", feature = "streams"))]
pub use stream_event::stream_event;

/// The stream relay as a Lambda function: a batch of the outbox table's stream records in, the
/// partial-batch response out.
///
/// Each record that is a newly written message is sent through the postbox's dispatcher, marked
/// (in `StreamMode::WithSweeper`) before the call returns, and a send the transport refuses is
/// recorded as a failed attempt for the sweeper, as on every other path. A record is reported
/// as a batch item failure only when its message could not be handed over at all: its send
/// failed and recording the failure failed too (DynamoDB unreachable), in `StreamMode::StreamOnly`
/// where no marker is left for the sweeper. With `ReportBatchItemFailures` the event source
/// mapping then retries from that record on; no bad record blocks its shard (one that cannot be
/// read is dead-lettered, a message the transport refuses for good too).
pub struct StreamHandler {
    dispatcher: Dispatcher,
    keyed: KeyedMessages,
}

impl std::fmt::Debug for StreamHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamHandler")
            .field("keyed", &self.keyed)
            .finish_non_exhaustive()
    }
}

impl StreamHandler {
    /// A handler over the postbox's outbox and producer (failed sends are retried by the
    /// postbox's retry policy).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the outbox has no stream mode
    /// (`OutboxConfig::with_stream`).
    pub fn new(postbox: &Postbox) -> Result<Self> {
        let config = postbox.outbox().config();
        if !config.stream.is_enabled() {
            return Err(Error::InvalidConfig(format!(
                "the outbox `{}` has no stream mode; set `OutboxConfig::with_stream` to the \
                 configuration the table's stream serves before making a stream handler",
                config.table_name
            )));
        }
        Ok(Self {
            dispatcher: postbox.dispatcher().clone(),
            keyed: KeyedMessages::Send,
        })
    }

    /// Sets whether keyed messages are sent or left to the sweeper for strict order.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for [`KeyedMessages::LeaveToSweeper`] in
    /// `StreamMode::StreamOnly`.
    pub fn with_keyed(mut self, keyed: KeyedMessages) -> Result<Self> {
        if keyed == KeyedMessages::LeaveToSweeper
            && !self.dispatcher.table().config.stream.marks_deposits()
        {
            return Err(Error::InvalidConfig(
                "`KeyedMessages::LeaveToSweeper` needs `StreamMode::WithSweeper`".to_owned(),
            ));
        }
        self.keyed = keyed;
        Ok(self)
    }

    /// Relays one event's records and says which must be retried.
    ///
    /// ```no_run
    /// # async fn run(handler: outbox_runtime::lambda::StreamHandler) {
    /// use outbox_runtime::lambda::aws_lambda_events::event::dynamodb::Event;
    ///
    /// let response = handler.handle(Event::default()).await;
    /// assert!(response.batch_item_failures.is_empty());
    /// # }
    /// ```
    pub async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let records: Vec<Record> = event.records.into_iter().map(record).collect();
        let span = tracing::info_span!("outbox.lambda_stream", records = records.len());
        // Boxed: the future is deep, and a binary's `main` would hit the recursion limit.
        let outcome =
            Box::pin(relay_batch(&self.dispatcher, &records, self.keyed).instrument(span)).await;
        if let Some(err) = &outcome.error {
            tracing::warn!(error = %err, "the stream batch met an error (see above); what could not be handed over is retried");
        }
        let mut response = DynamoDbEventResponse::default();
        if let Some(first) = outcome.first_unsafe {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(records[first].sequence_number.clone());
            response.batch_item_failures.push(failure);
        }
        response
    }

    /// [`StreamHandler::handle`] in the shape `lambda_runtime::service_fn` takes.
    ///
    /// # Errors
    /// None: a failure is reported per record in the response.
    pub async fn call(
        &self,
        event: LambdaEvent<Event>,
    ) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
        Ok(self.handle(event.payload).await)
    }
}

/// A Lambda event record as the relay's.
fn record(record: aws_lambda_events::event::dynamodb::EventRecord) -> Record {
    let change = record.change;
    let new_image: Item = HashMap::from(change.new_image);
    let created_at = change.approximate_creation_date_time;
    Record {
        event: RecordEvent::from_name(&record.event_name),
        sequence_number: change
            .sequence_number
            .unwrap_or_else(|| record.event_id.clone()),
        new_image: (!new_image.is_empty()).then_some(new_image),
        created_at: u64::try_from(created_at.timestamp_millis())
            .ok()
            .filter(|ms| *ms > 0)
            .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms)),
    }
}

/// A sweep pass per invocation, for a function run on a schedule (an EventBridge rule or
/// EventBridge Scheduler, every minute, say): it takes its share of the shard leases, sends
/// what is due, marks it, and gives the leases back before returning, so that nothing is left
/// between invocations and overlapping invocations split the shards.
///
/// ```no_run
/// use outbox_runtime::lambda::{ScheduledSweep, lambda_runtime};
/// use outbox_runtime::transport::{SqsProducer, sqs};
/// use outbox_runtime::{DynamoDb, Outbox, OutboxConfig, Postbox, SweeperConfig};
///
/// #[tokio::main]
/// async fn main() -> Result<(), lambda_runtime::Error> {
///     let outbox = Outbox::new(DynamoDb::from_env().await, OutboxConfig::default())?;
///     let producer = SqsProducer::new(sqs::client_from_env().await)
///         .with_route("greeting.made", "https://sqs.eu-west-1.amazonaws.com/123456789012/greetings");
///     let sweep = ScheduledSweep::new(&Postbox::new(outbox, producer), SweeperConfig::default());
///     let sweep = &sweep;
///     lambda_runtime::run(lambda_runtime::service_fn(move |event| sweep.call(event))).await
/// }
/// ```
pub struct ScheduledSweep {
    sweeper: tokio::sync::Mutex<Sweeper>,
}

impl std::fmt::Debug for ScheduledSweep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScheduledSweep").finish_non_exhaustive()
    }
}

impl ScheduledSweep {
    /// A sweep over the postbox's outbox and producer.
    pub fn new(postbox: &Postbox, config: SweeperConfig) -> Self {
        Self {
            sweeper: tokio::sync::Mutex::new(Sweeper::new(postbox, config)),
        }
    }

    /// One pass, then the leases given back.
    ///
    /// # Errors
    /// The pass's error (the leases are given back all the same), or that of giving them back.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let mut sweeper = self.sweeper.lock().await;
        let pass = Box::pin(
            sweeper
                .sweep_once()
                .instrument(tracing::info_span!("outbox.lambda_sweep")),
        )
        .await;
        let released = sweeper.release().await;
        let report = pass?;
        released?;
        Ok(report)
    }

    /// [`ScheduledSweep::sweep`] in the shape `lambda_runtime::service_fn` takes: any payload
    /// in, a summary of the pass out.
    ///
    /// # Errors
    /// The pass's error: the invocation fails, and the next scheduled one tries again.
    pub async fn call(
        &self,
        _event: LambdaEvent<serde_json::Value>,
    ) -> Result<serde_json::Value, lambda_runtime::Error> {
        let report = self.sweep().await?;
        Ok(serde_json::json!({
            "shards": report.shards,
            "examined": report.examined,
            "sent": report.sent.len(),
            "failed": report.failed,
            "dead_lettered": report.dead_lettered,
            "held_back": report.held_back,
        }))
    }
}
