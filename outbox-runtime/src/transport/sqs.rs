//! Amazon SQS: [`SqsProducer`] sends each topic to a queue URL; [`received_message`] reads what
//! a consumer receives back into a [`Message`].
//!
//! Bodies, attributes, FIFO ids and batch limits follow [`wire`].

use std::collections::HashMap;

use aws_sdk_sqs::Client;
#[cfg(feature = "aws-config")]
use aws_sdk_sqs::config::BehaviorVersion;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tracing::Instrument;

use crate::message::Message;
use crate::transport::batch::{EntryFailure, Prepared, call_failed, entry_results};
use crate::transport::error::ProducerError;
use crate::transport::routed::{RoutedProducer, Sealed, Service};
use crate::transport::wire;

/// Amazon SQS: the [`Service`] of [`SqsProducer`].
#[derive(Clone, Copy, Debug)]
pub struct Sqs;

/// Sends messages to SQS queues, one queue URL per topic;
/// [`Producer::send_batch`](crate::transport::Producer::send_batch) uses `SendMessageBatch`, 10
/// messages per call. Its builder methods are those of [`RoutedProducer`].
pub type SqsProducer = RoutedProducer<Sqs>;

impl SqsProducer {
    /// The queue URL `topic` is routed to.
    ///
    /// ```
    /// use outbox_runtime::transport::SqsProducer;
    ///
    /// # let client = aws_sdk_sqs::Client::from_conf(
    /// #     aws_sdk_sqs::Config::builder()
    /// #         .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
    /// #         .build(),
    /// # );
    /// let producer = SqsProducer::new(client);
    /// assert_eq!(producer.queue_url("greeting.made"), None);
    /// ```
    pub fn queue_url(&self, topic: &str) -> Option<&str> {
        self.destination(topic)
    }
}

impl Sealed for Sqs {}

impl Service for Sqs {
    type Client = Client;
    const PRODUCER: &'static str = "SqsProducer";
    const DESTINATION: &'static str = "queue URL";
    const ADD_ROUTE: &'static str = "SqsProducer::with_route";

    fn send_one<'a>(
        client: &'a Client,
        entry: &'a Prepared<'a>,
    ) -> BoxFuture<'a, Result<(), ProducerError>> {
        Box::pin(async move {
            let queue_url = entry.destination;
            let span = tracing::info_span!(
                "sqs.send_message",
                message_id = %entry.message.id(),
                topic = entry.message.topic(),
                queue_url,
            );
            let fifo = entry.fifo.as_ref();
            client
                .send_message()
                .queue_url(queue_url)
                .message_body(&entry.body)
                .set_message_attributes(Some(attributes(entry)))
                .set_message_group_id(fifo.map(|fifo| fifo.group_id.clone()))
                .set_message_deduplication_id(fifo.map(|fifo| fifo.deduplication_id.clone()))
                .send()
                .boxed()
                .instrument(span)
                .await
                .map(|_| ())
                .map_err(|err| {
                    ProducerError::new(
                        entry.message,
                        format!(
                            "SendMessage to queue `{queue_url}` failed: {}",
                            DisplayErrorContext(&err)
                        ),
                    )
                    .with_source(err)
                })
        })
    }

    fn send_batch_call<'a>(
        client: &'a Client,
        queue_url: &'a str,
        entries: &'a [Prepared<'a>],
    ) -> BoxFuture<'a, Vec<Result<(), ProducerError>>> {
        Box::pin(async move {
            let call = format!("SendMessageBatch to queue `{queue_url}`");
            let span = tracing::info_span!(
                "sqs.send_message_batch",
                queue_url,
                messages = entries.len()
            );
            let request: Vec<SendMessageBatchRequestEntry> = entries
                .iter()
                .enumerate()
                .map(|(position, entry)| {
                    let fifo = entry.fifo.as_ref();
                    SendMessageBatchRequestEntry::builder()
                        .id(position.to_string())
                        .message_body(&entry.body)
                        .set_message_attributes(Some(attributes(entry)))
                        .set_message_group_id(fifo.map(|fifo| fifo.group_id.clone()))
                        .set_message_deduplication_id(
                            fifo.map(|fifo| fifo.deduplication_id.clone()),
                        )
                        .build()
                        .expect("id and message body are set")
                })
                .collect();
            let answer = client
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(request))
                .send()
                .boxed()
                .instrument(span)
                .await;
            match answer {
                Ok(output) => entry_results(
                    &call,
                    entries,
                    output.successful().iter().map(|entry| entry.id()),
                    output.failed().iter().map(|entry| EntryFailure {
                        id: entry.id(),
                        code: entry.code(),
                        message: entry.message(),
                        sender_fault: entry.sender_fault(),
                    }),
                ),
                Err(err) => call_failed(&call, entries, err),
            }
        })
    }
}

fn attributes(prepared: &Prepared<'_>) -> HashMap<String, MessageAttributeValue> {
    prepared
        .attributes
        .iter()
        .map(|attribute| {
            let value = MessageAttributeValue::builder()
                .data_type(attribute.data_type)
                .string_value(&attribute.value)
                .build()
                .expect("the data type is set");
            (attribute.name.to_owned(), value)
        })
        .collect()
}

/// An SQS client for a local server (moto) or any explicit endpoint: the given URL, region
/// `us-east-1`, static dummy credentials, short timeouts and few retries, so a dead endpoint is
/// reported within seconds instead of hanging.
///
/// ```
/// let client = outbox_runtime::transport::sqs::local_client("http://127.0.0.1:5000");
/// assert_eq!(client.config().region().unwrap().as_ref(), "us-east-1");
/// ```
#[cfg(feature = "testing")]
pub fn local_client(endpoint: impl Into<String>) -> Client {
    Client::new(&crate::client::local_config(&endpoint.into()))
}

/// The outbox [`Message`] inside a message received from SQS (received with
/// `.message_attribute_names("All")`): header from the attributes, body byte for byte. Decode it
/// further with the derived `OutboxMessage::from_message`.
///
/// ```no_run
/// # async fn run(client: aws_sdk_sqs::Client, queue_url: &str) -> Result<(), Box<dyn std::error::Error>> {
/// use outbox_runtime::transport::sqs;
///
/// let received = client
///     .receive_message()
///     .queue_url(queue_url)
///     .message_attribute_names("All")
///     .send()
///     .await?;
/// for message in received.messages() {
///     let message = sqs::received_message(message)?;
///     println!("{} on {}", message.id(), message.topic());
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`wire::DecodeError`] naming the missing or invalid attribute.
pub fn received_message(
    message: &aws_sdk_sqs::types::Message,
) -> Result<Message, wire::DecodeError> {
    let attributes = message.message_attributes();
    wire::read_message(
        |name| attributes?.get(name)?.string_value(),
        message.body().unwrap_or_default(),
    )
}

/// A client from the standard AWS configuration chain: region, credentials and endpoint from
/// the environment, the profile or the instance's role. `AWS_ENDPOINT_URL_SQS` (or
/// `AWS_ENDPOINT_URL`) points it at another endpoint, a local emulator for example.
///
/// ```no_run
/// # async fn run() {
/// use outbox_runtime::transport::{SqsProducer, sqs};
///
/// let producer = SqsProducer::new(sqs::client_from_env().await)
///     .with_route("greeting.made", "https://sqs.eu-west-1.amazonaws.com/123456789012/greetings");
/// # }
/// ```
#[cfg(feature = "aws-config")]
pub async fn client_from_env() -> Client {
    Client::new(&aws_config::load_defaults(BehaviorVersion::latest()).await)
}
