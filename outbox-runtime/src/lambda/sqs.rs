//! The consumer as a Lambda function: an SQS event in, the partial-batch response out.

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::StreamExt;
use lambda_runtime::LambdaEvent;

use crate::consumer::body_fetch::BodyFetch;
use crate::consumer::incoming::read_delivery;
use crate::consumer::{MessageHandler, handle_one};

/// How many records of one event are handled at once when none is given.
const DEFAULT_CONCURRENCY: usize = 10;

/// A [`MessageHandler`] as the function of an SQS event source mapping: each record decoded
/// (directly, or from an SNS envelope), handled, and the records to retry reported as batch
/// item failures. Set the mapping up with `FunctionResponseTypes: ["ReportBatchItemFailures"]`:
/// Lambda then deletes the records that succeeded, duplicates the inbox absorbed included, and
/// only the failed ones come back.
///
/// - A record whose handler fails is a batch item failure: the queue delivers it again, and its
///   redrive policy moves it to the dead-letter queue after `maxReceiveCount`.
/// - A record that is not a readable outbox message is logged and reported as a failure too,
///   never acknowledged, so it reaches the dead-letter queue instead of vanishing.
/// - On a FIFO queue the records of one `MessageGroupId` are handled in order, and after a
///   failure the rest of its group are reported as failures without being handled, so the group's
///   order holds. Other records are handled up to 10 at once.
///
/// A postbox used by the handlers marks inline (`MarkMode::Inline`): Lambda freezes the
/// process between invocations.
///
/// ```no_run
/// use outbox_runtime::Message;
/// use outbox_runtime::lambda::{SqsHandler, lambda_runtime};
///
/// #[tokio::main]
/// async fn main() -> Result<(), lambda_runtime::Error> {
///     let handler = SqsHandler::new(|message: Message| async move {
///         println!("{}", message.id());
///         Ok::<(), outbox_runtime::Error>(())
///     });
///     let handler = &handler;
///     lambda_runtime::run(lambda_runtime::service_fn(move |event| handler.call(event))).await
/// }
/// ```
#[derive(Debug)]
pub struct SqsHandler<H> {
    handler: H,
    concurrency: usize,
    body_fetch: BodyFetch,
}

impl<H: MessageHandler> SqsHandler<H> {
    /// Runs `handler` on each record.
    pub fn new(handler: H) -> Self {
        Self {
            handler,
            concurrency: DEFAULT_CONCURRENCY,
            body_fetch: BodyFetch::default(),
        }
    }

    /// Fetches bodies the producer kept in S3 (the claim check, feature `s3`) with `client`,
    /// each checked against its size and checksum: handlers receive the bytes. Without it,
    /// such a record is reported as a failure, for the queue's redrive policy.
    #[cfg(feature = "s3")]
    pub fn with_claim_check(mut self, client: aws_sdk_s3::Client) -> Self {
        self.body_fetch = BodyFetch::with_client(client);
        self
    }

    /// Handles at most `concurrency` records (groups, on a FIFO queue) at once (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Handles one event's records and says which must be retried.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let fifo = event.records.iter().any(|record| {
            record
                .event_source_arn
                .as_deref()
                .is_some_and(|arn| arn.ends_with(".fifo"))
        });
        // A standard queue keeps no order: each record is a group of its own.
        let mut groups: BTreeMap<String, Vec<&SqsMessage>> = BTreeMap::new();
        for (index, record) in event.records.iter().enumerate() {
            let group = fifo
                .then(|| record.attributes.get("MessageGroupId").cloned())
                .flatten()
                .unwrap_or_else(|| format!("\u{0}{index}"));
            groups.entry(group).or_default().push(record);
        }
        // The futures are made before they are streamed: a closure that makes them inside the
        // stream leaves the whole future not `Send` (its lifetime cannot be named generally
        // enough), and a caller could not spawn it.
        let handling: Vec<_> = groups
            .into_values()
            .map(|group| self.handle_group(group))
            .collect();
        let failed: Vec<Vec<String>> = futures_util::stream::iter(handling)
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut response = SqsBatchResponse::default();
        for id in failed.into_iter().flatten() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
        response
    }

    /// [`SqsHandler::handle`] in the shape `lambda_runtime::service_fn` takes.
    ///
    /// # Errors
    /// Never: every failure is a batch item failure.
    pub async fn call(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        Ok(self.handle(event.payload).await)
    }

    /// The queue message ids of the group's records to retry: from the first one not
    /// acknowledged on.
    async fn handle_group(&self, group: Vec<&SqsMessage>) -> Vec<String> {
        let mut failed = Vec::new();
        for record in group {
            let id = record.message_id.clone().unwrap_or_default();
            if !failed.is_empty() {
                failed.push(id);
                continue;
            }
            let source = record.event_source_arn.as_deref().unwrap_or("sqs");
            let decoded = read_delivery(
                |name| record.message_attributes.get(name)?.string_value.as_deref(),
                record.body.as_deref().unwrap_or_default(),
            );
            let fetched = match decoded {
                Ok(message) => {
                    let message_id = message.id().clone();
                    self.body_fetch
                        .fetch(message, "SqsHandler::with_claim_check")
                        .await
                        .map_err(|err| {
                            format!("the body of message {message_id} cannot be read: {err}")
                        })
                }
                Err(err) => Err(err.to_string()),
            };
            let acknowledged = match fetched {
                Ok(message) => handle_one(&self.handler, message, source)
                    .await
                    .acknowledge(),
                Err(err) => {
                    metrics::counter!("outbox_consumer_undecodable_total", "source" => source.to_owned())
                        .increment(1);
                    tracing::error!(
                        sqs_message_id = %id,
                        error = %err,
                        "a record that is not a readable outbox message; reported as a failure \
                         for the queue's redrive policy"
                    );
                    false
                }
            };
            if !acknowledged {
                failed.push(id);
            }
        }
        failed
    }
}
