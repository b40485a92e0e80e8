//! The SQS consumer: long polling, decoding, bounded concurrency, per-group order on FIFO
//! queues, delete after the commit (batched), visibility extended for long handlers, and a
//! shutdown that finishes what is in flight.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use futures_util::FutureExt as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::backoff::Backoff;
use crate::consumer::body_fetch::BodyFetch;
use crate::consumer::handling::{Handled, MessageHandler, handle_one};
use crate::consumer::incoming::read_delivery;

/// SQS returns at most 10 messages per receive, and takes at most 10 entries per batch call.
const SQS_BATCH: usize = 10;

/// A failure of the SQS consumer's own calls, naming the queue and the call.
#[derive(Debug, thiserror::Error)]
#[error(
    "SQS {operation} on queue {queue_url} failed: {source}; check the queue URL, the consumer's \
     permissions, and that the endpoint answers (`AWS_ENDPOINT_URL_SQS` points the client at a \
     local server)"
)]
pub struct ConsumerError {
    /// The SQS operation.
    pub operation: &'static str,
    /// The queue.
    pub queue_url: String,
    /// What SQS or the connection said.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// What the consumer learnt of its queue at start.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueSettings {
    /// The queue's visibility timeout: how long a received message stays hidden.
    pub visibility_timeout: Duration,
    /// Whether the queue is FIFO (messages of one group are handled one after the other).
    pub fifo: bool,
    /// The redrive policy (JSON), when the queue has one.
    pub redrive_policy: Option<String>,
}

/// What a consumer did, summed over its polls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerReport {
    /// Messages received.
    pub received: usize,
    /// Handled and committed.
    pub handled: usize,
    /// Duplicates the inbox absorbed (acknowledged, nothing applied).
    pub duplicates: usize,
    /// The handler failed: left to the queue's redrive policy.
    pub failed: usize,
    /// Not an outbox message, or one that cannot be read: reported and left to the queue's
    /// redrive policy, never deleted.
    pub undecodable: usize,
    /// Left unhandled behind a failed message of the same FIFO group, to keep the group's order.
    pub held_back: usize,
    /// Deleted from the queue.
    pub deleted: usize,
}

impl ConsumerReport {
    fn add(&mut self, other: &ConsumerReport) {
        self.received += other.received;
        self.handled += other.handled;
        self.duplicates += other.duplicates;
        self.failed += other.failed;
        self.undecodable += other.undecodable;
        self.held_back += other.held_back;
        self.deleted += other.deleted;
    }
}

/// Runs a [`MessageHandler`] on the messages of one SQS queue.
///
/// - Long polling (20 s by default), 10 messages per receive, with the outbox attributes.
/// - Each delivery is decoded through the wire contract ([`read_delivery`]: directly, or from an
///   SNS envelope). One that cannot be read is reported (`error` log,
///   `outbox_consumer_undecodable_total`) and left in the queue: never deleted, so the
///   redrive policy moves it to the dead-letter queue after `maxReceiveCount` deliveries.
///   [`SqsConsumer::check`] warns at start about a queue without a redrive policy.
/// - At most `concurrency` messages are in flight (10 by default); on a FIFO queue the
///   messages of one `MessageGroupId` are handled one after the other, and a failure holds the
///   rest of its group back.
/// - A message whose handler returns `Ok` (a duplicate the inbox absorbed included) is deleted
///   after the handler's commit, with the others of its receive in one `DeleteMessageBatch`.
///   A failed one is left for the queue to deliver again.
/// - While handlers run, their messages' visibility is extended every half visibility timeout.
/// - [`SqsConsumer::run`] stops receiving when its shutdown future completes, finishes what is
///   in flight, deletes it, and returns the report.
///
/// ```no_run
/// # async fn run(sqs: aws_sdk_sqs::Client, queue_url: String) -> Result<(), Box<dyn std::error::Error>> {
/// use outbox_runtime::consumer::SqsConsumer;
/// use outbox_runtime::Message;
///
/// let consumer = SqsConsumer::new(sqs, queue_url).with_concurrency(20);
/// let report = consumer
///     .run(
///         |message: Message| async move {
///             println!("{}", message.id());
///             Ok::<(), outbox_runtime::Error>(())
///         },
///         async { tokio::signal::ctrl_c().await.ok(); },
///     )
///     .await?;
/// println!("handled {}, duplicates absorbed {}", report.handled, report.duplicates);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SqsConsumer {
    client: Client,
    queue_url: String,
    concurrency: usize,
    wait_time: Duration,
    // Read once, on the first poll (or run), and shared by clones: the settings of a queue do
    // not change under a running consumer often enough to pay a request per poll.
    settings: Arc<tokio::sync::OnceCell<Arc<QueueSettings>>>,
    /// Fetches bodies kept in S3.
    body_fetch: BodyFetch,
}

impl SqsConsumer {
    /// A consumer of the queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            concurrency: SQS_BATCH,
            wait_time: Duration::from_secs(20),
            settings: Arc::default(),
            body_fetch: BodyFetch::default(),
        }
    }

    /// Fetches bodies the producer kept in S3 (the claim check, feature `s3`) with `client`,
    /// each checked against its size and checksum, up to
    /// [`claim_check::MAX_BODY_BYTES`](crate::claim_check::MAX_BODY_BYTES): handlers receive
    /// the bytes. Without it, such a delivery is refused and left to the queue.
    #[cfg(feature = "s3")]
    pub fn with_claim_check(mut self, client: aws_sdk_s3::Client) -> Self {
        self.body_fetch = BodyFetch::with_client(client);
        self
    }

    /// At most `concurrency` messages in flight (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How long a receive waits for messages (long polling; SQS allows 0 to 20 s).
    pub fn with_wait_time(mut self, wait_time: Duration) -> Self {
        self.wait_time = wait_time.min(Duration::from_secs(20));
        self
    }

    /// The queue.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Reads the queue's settings (one `GetQueueAttributes`, each time it is called), and warns
    /// when it has no redrive policy: a message that never decodes, or whose handler always
    /// fails, would then be delivered again until the queue's retention ends.
    ///
    /// # Errors
    /// [`ConsumerError`] when the queue does not exist or cannot be reached.
    pub async fn check(&self) -> Result<QueueSettings, ConsumerError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .boxed()
            .await
            .map_err(|err| self.error("GetQueueAttributes", err))?;
        let attributes = output.attributes().cloned().unwrap_or_default();
        let visibility = attributes
            .get(&QueueAttributeName::VisibilityTimeout)
            .and_then(|value| value.parse().ok())
            .unwrap_or(30);
        let settings = QueueSettings {
            visibility_timeout: Duration::from_secs(visibility),
            fifo: attributes
                .get(&QueueAttributeName::FifoQueue)
                .is_some_and(|value| value == "true")
                || self.queue_url.ends_with(".fifo"),
            redrive_policy: attributes.get(&QueueAttributeName::RedrivePolicy).cloned(),
        };
        if settings.redrive_policy.is_none() {
            tracing::warn!(
                queue_url = %self.queue_url,
                "the queue has no redrive policy: a message that cannot be decoded or whose \
                 handler keeps failing is delivered again until the queue's retention ends; \
                 give the queue a dead-letter queue (RedrivePolicy with maxReceiveCount)"
            );
        }
        Ok(settings)
    }

    /// The settings of the first successful [`SqsConsumer::check`] of this consumer (or of the
    /// one it was cloned from).
    async fn settings(&self) -> Result<Arc<QueueSettings>, ConsumerError> {
        self.settings
            .get_or_try_init(|| async { self.check().await.map(Arc::new) })
            .await
            .cloned()
    }

    /// Receives and handles until `shutdown` completes, then finishes what is in flight and
    /// returns what was done. A receive still waiting when `shutdown` completes is abandoned
    /// (whatever it took comes back after the visibility timeout). A failed receive (the
    /// endpoint gone, throttling) is logged and retried with a growing delay, never in a hot
    /// loop.
    ///
    /// # Errors
    /// [`ConsumerError`] only from the start-up check ([`SqsConsumer::check`]).
    pub async fn run<H: MessageHandler>(
        &self,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> Result<ConsumerReport, ConsumerError> {
        let settings = self.settings().await?;
        let handler = Arc::new(handler);
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut batches: JoinSet<ConsumerReport> = JoinSet::new();
        let mut report = ConsumerReport::default();
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        tokio::pin!(shutdown);
        loop {
            while let Some(done) = batches.try_join_next() {
                report.add(&done.unwrap_or_default());
            }
            let want = self.concurrency.min(SQS_BATCH);
            let mut permit = tokio::select! {
                () = &mut shutdown => break,
                permit = Arc::clone(&permits).acquire_many_owned(want as u32) => {
                    permit.expect("the semaphore is never closed")
                }
            };
            let received = tokio::select! {
                () = &mut shutdown => break,
                received = self.receive(want) => received,
            };
            match received {
                Ok(messages) => {
                    backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
                    if messages.is_empty() {
                        continue;
                    }
                    // Hold one permit per message received; the rest go back at once.
                    let Some(permit) = permit.split(messages.len()) else {
                        continue;
                    };
                    let consumer = self.clone();
                    let handler = Arc::clone(&handler);
                    let settings = Arc::clone(&settings);
                    batches.spawn(async move {
                        let report = consumer.handle_batch(&*handler, &settings, messages).await;
                        drop(permit);
                        report
                    });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "receive failed; trying again");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = backoff.wait() => {}
                    }
                }
            }
        }
        while let Some(done) = batches.join_next().await {
            report.add(&done.unwrap_or_default());
        }
        Ok(report)
    }

    /// One receive (waiting up to the wait time), its messages handled and the handled ones
    /// deleted: for tests, batch jobs and schedulers that poll on their own. The queue's settings
    /// are read on the first poll only.
    ///
    /// # Errors
    /// [`ConsumerError`] when the queue cannot be read.
    pub async fn poll_once<H: MessageHandler>(
        &self,
        handler: &H,
    ) -> Result<ConsumerReport, ConsumerError> {
        let settings = self.settings().await?;
        let messages = self.receive(self.concurrency.min(SQS_BATCH)).await?;
        Ok(self.handle_batch(handler, &settings, messages).await)
    }

    async fn receive(&self, max: usize) -> Result<Vec<aws_sdk_sqs::types::Message>, ConsumerError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            .wait_time_seconds(i32::try_from(self.wait_time.as_secs()).unwrap_or(20))
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .boxed()
            .await
            .map_err(|err| self.error("ReceiveMessage", err))?;
        Ok(output.messages.unwrap_or_default())
    }

    /// Handles one receive's messages (groups concurrently, each group in order), extending
    /// their visibility while it runs, and deletes the acknowledged ones.
    async fn handle_batch<H: MessageHandler>(
        &self,
        handler: &H,
        settings: &QueueSettings,
        messages: Vec<aws_sdk_sqs::types::Message>,
    ) -> ConsumerReport {
        let mut report = ConsumerReport {
            received: messages.len(),
            ..ConsumerReport::default()
        };
        // A standard queue has no order to keep: each message is a group of its own.
        let mut groups: BTreeMap<String, Vec<(usize, &aws_sdk_sqs::types::Message)>> =
            BTreeMap::new();
        for (index, message) in messages.iter().enumerate() {
            let group = settings
                .fifo
                .then(|| {
                    message
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                        .cloned()
                })
                .flatten()
                .unwrap_or_else(|| format!("\u{0}{index}"));
            groups.entry(group).or_default().push((index, message));
        }
        let done: Vec<AtomicBool> = messages.iter().map(|_| AtomicBool::new(false)).collect();
        let handling = futures_util::future::join_all(groups.into_values().map(|group| {
            let done = &done;
            async move {
                let mut fates = Vec::new();
                let mut blocked = false;
                for (index, message) in group {
                    let fate = if blocked {
                        Fate::HeldBack
                    } else {
                        match self.handle_message(handler, message).await {
                            Some(handled) => Fate::Handled(handled),
                            None => Fate::Undecodable,
                        }
                    };
                    blocked = !matches!(&fate, Fate::Handled(handled) if handled.acknowledge());
                    done[index].store(true, Ordering::Relaxed);
                    fates.push((index, fate));
                }
                fates
            }
        }));
        let outcomes = self
            .extending_visibility(handling, &messages, &done, settings.visibility_timeout)
            .await;

        let mut acknowledged = Vec::new();
        for (index, fate) in outcomes.into_iter().flatten() {
            match fate {
                Fate::Handled(Handled::Done) => report.handled += 1,
                Fate::Handled(Handled::Duplicate) => report.duplicates += 1,
                Fate::Handled(Handled::Failed(_)) => report.failed += 1,
                Fate::Undecodable => report.undecodable += 1,
                Fate::HeldBack => report.held_back += 1,
            }
            if let Fate::Handled(handled) = fate
                && handled.acknowledge()
            {
                acknowledged.push(&messages[index]);
            }
        }
        report.deleted = self.delete(&acknowledged).await;
        report
    }

    /// `None` when the delivery cannot be read (reported here).
    async fn handle_message<H: MessageHandler>(
        &self,
        handler: &H,
        received: &aws_sdk_sqs::types::Message,
    ) -> Option<Handled> {
        let attributes = received.message_attributes();
        let decoded = read_delivery(
            |name| attributes?.get(name)?.string_value(),
            received.body().unwrap_or_default(),
        );
        let readable = match decoded {
            Ok(message) => {
                let id = message.id().clone();
                self.body_fetch
                    .fetch(message, "SqsConsumer::with_claim_check")
                    .await
                    .map_err(|err| format!("the body of message {id} cannot be read: {err}"))
            }
            Err(err) => Err(format!("not a readable outbox message: {err}")),
        };
        match readable {
            Ok(message) => Some(handle_one(handler, message, &self.queue_url).await),
            Err(err) => {
                metrics::counter!("outbox_consumer_undecodable_total", "source" => self.queue_url.clone())
                    .increment(1);
                tracing::error!(
                    queue_url = %self.queue_url,
                    sqs_message_id = received.message_id().unwrap_or_default(),
                    error = %err,
                    "a delivery that cannot be handled; left to the queue's redrive policy"
                );
                None
            }
        }
    }

    /// Runs `work`, extending the visibility of the messages not yet done every half timeout.
    async fn extending_visibility<T>(
        &self,
        work: impl Future<Output = T>,
        messages: &[aws_sdk_sqs::types::Message],
        done: &[AtomicBool],
        timeout: Duration,
    ) -> T {
        let every = (timeout / 2).max(Duration::from_secs(1));
        tokio::pin!(work);
        loop {
            tokio::select! {
                output = &mut work => return output,
                () = tokio::time::sleep(every) => {
                    let pending: Vec<_> = messages
                        .iter()
                        .zip(done)
                        .filter(|(_, done)| !done.load(Ordering::Relaxed))
                        .map(|(message, _)| message)
                        .collect();
                    self.extend(&pending, timeout).await;
                }
            }
        }
    }

    async fn extend(&self, messages: &[&aws_sdk_sqs::types::Message], timeout: Duration) {
        for chunk in messages.chunks(SQS_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(n, message)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(n.to_string())
                        .set_receipt_handle(message.receipt_handle().map(str::to_owned))
                        .visibility_timeout(i32::try_from(timeout.as_secs()).unwrap_or(30))
                        .build()
                        .ok()
                })
                .collect();
            if let Err(err) = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .boxed()
                .await
            {
                tracing::warn!(error = %self.error("ChangeMessageVisibilityBatch", err), "visibility not extended; the message may be delivered again while it is handled (the inbox absorbs it)");
            }
        }
    }

    /// Deletes `messages`, 10 to a call; returns how many SQS deleted. A delete that fails is
    /// logged: the message is delivered again, and the inbox absorbs it.
    async fn delete(&self, messages: &[&aws_sdk_sqs::types::Message]) -> usize {
        let mut deleted = 0;
        for chunk in messages.chunks(SQS_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(n, message)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(n.to_string())
                        .set_receipt_handle(message.receipt_handle().map(str::to_owned))
                        .build()
                        .ok()
                })
                .collect();
            match self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .boxed()
                .await
            {
                Ok(output) => {
                    deleted += output.successful().len();
                    for failed in output.failed() {
                        tracing::warn!(
                            code = failed.code(),
                            message = failed.message(),
                            "delete failed; the message will be delivered again (the inbox absorbs it)"
                        );
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %self.error("DeleteMessageBatch", err), "delete failed; the messages will be delivered again (the inbox absorbs them)");
                }
            }
        }
        deleted
    }

    fn error<E>(&self, operation: &'static str, err: E) -> ConsumerError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        ConsumerError {
            operation,
            queue_url: self.queue_url.clone(),
            source: DisplayErrorContext(err).to_string().into(),
        }
    }
}

/// What became of one message of a receive.
enum Fate {
    Handled(Handled),
    Undecodable,
    /// Not handled: an earlier message of its FIFO group was not acknowledged.
    HeldBack,
}
