//! The receiving end of the greetings example: an SQS queue, read back into `GreetingMade`
//! with the derived decoder.

use std::time::Duration;

use aws_sdk_sqs::Client;
use outbox_runtime::transport::sqs;
use outbox_runtime::{Message, OutboxMessage};

use crate::greetings::GreetingMade;

/// The demo queue's visibility timeout, in seconds.
pub const VISIBILITY_TIMEOUT_SECS: u64 = 2;

/// How often a refused purge is tried again.
const PURGE_RETRY: Duration = Duration::from_secs(5);
/// SQS allows one purge a minute; past this a refusal is an error.
const PURGE_WAIT_LIMIT: Duration = Duration::from_secs(75);

/// A failure of the consumer, naming the queue.
#[derive(Debug, thiserror::Error)]
#[error("queue `{queue}`: {action} failed: {source}")]
pub struct ConsumerError {
    queue: String,
    action: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Receives greetings from one queue.
#[derive(Clone, Debug)]
pub struct GreetingConsumer {
    client: Client,
    queue_url: String,
}

impl GreetingConsumer {
    /// Creates the queue `name` if needed (creating an existing queue is a no-op in SQS), sets
    /// its visibility timeout to [`VISIBILITY_TIMEOUT_SECS`] and empties it, so that a run sees
    /// only its own messages (waiting up to 75 s when an earlier run purged it last: SQS allows
    /// one purge a minute).
    ///
    /// # Errors
    /// [`ConsumerError`] when the SQS endpoint refuses.
    pub async fn create_fresh(client: Client, name: &str) -> Result<Self, ConsumerError> {
        let error = |action| {
            let queue = name.to_owned();
            move |source: Box<dyn std::error::Error + Send + Sync>| ConsumerError {
                queue,
                action,
                source,
            }
        };
        let created = client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|err| aws_sdk_sqs::Error::from(err).into())
            .map_err(error("CreateQueue"))?;
        let queue_url = created.queue_url().unwrap_or_default().to_owned();
        // A short visibility timeout: a delivery the demo's consumer service does not delete
        // (it dies first) comes back within seconds.
        client
            .set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                VISIBILITY_TIMEOUT_SECS.to_string(),
            )
            .send()
            .await
            .map_err(|err| aws_sdk_sqs::Error::from(err).into())
            .map_err(error("SetQueueAttributes"))?;
        // SQS refuses a purge within 60 s of the last one (an earlier run's): wait for it
        // rather than start with that run's messages still in the queue, in flight included.
        let started = std::time::Instant::now();
        let mut told = false;
        loop {
            match client.purge_queue().queue_url(&queue_url).send().await {
                Ok(_) => break,
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_purge_queue_in_progress())
                        && started.elapsed() < PURGE_WAIT_LIMIT =>
                {
                    if !told {
                        told = true;
                        println!(
                            "   queue `{name}` was purged less than 60 s ago (by an earlier run); \
                             SQS allows one purge a minute, waiting to purge it again"
                        );
                    }
                    tokio::time::sleep(PURGE_RETRY).await;
                }
                Err(err) => {
                    let advice = if started.elapsed() >= PURGE_WAIT_LIMIT {
                        "; SQS still refused after the wait: run again in a minute"
                    } else {
                        ""
                    };
                    let source = format!("{}{advice}", aws_sdk_sqs::Error::from(err));
                    return Err(error("PurgeQueue")(source.into()));
                }
            }
        }
        Ok(Self { client, queue_url })
    }

    /// The queue's URL, for routing the producer to it.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Receives what arrives within `wait`, decodes each message into the outbox `Message` and
    /// the `GreetingMade` event, and deletes it from the queue.
    ///
    /// # Errors
    /// [`ConsumerError`] when receiving fails or a message is not a greeting.
    pub async fn receive(
        &self,
        wait: Duration,
    ) -> Result<Vec<(Message, GreetingMade)>, ConsumerError> {
        let error = |action| {
            let queue = self.queue_url.clone();
            move |source: Box<dyn std::error::Error + Send + Sync>| ConsumerError {
                queue,
                action,
                source,
            }
        };
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .message_attribute_names("All")
            .max_number_of_messages(10)
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20).min(20))
            .send()
            .await
            .map_err(|err| aws_sdk_sqs::Error::from(err).into())
            .map_err(error("ReceiveMessage"))?;
        let mut greetings = Vec::new();
        for received in output.messages() {
            let message = sqs::received_message(received)
                .map_err(|err| err.into())
                .map_err(error("reading the outbox header"))?;
            let greeting = GreetingMade::from_message(&message)
                .map_err(|err| err.into())
                .map_err(error("decoding GreetingMade"))?;
            if let Some(handle) = received.receipt_handle() {
                self.client
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|err| aws_sdk_sqs::Error::from(err).into())
                    .map_err(error("DeleteMessage"))?;
            }
            greetings.push((message, greeting));
        }
        Ok(greetings)
    }
}
