//! The SQS producer: each topic is routed to a queue URL.
//!
//! Bodies, attributes, FIFO ids and batch limits follow [`wire`](super::wire).

use std::collections::HashMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use futures_util::future::BoxFuture;
use tracing::Instrument;

use crate::connection::LOCAL_REGION;
use crate::message::Message;
use crate::producer::wire::{self, BatchTransport, EntryFailure, Prepared, Routes};
use crate::producer::{ENDPOINT_ENV, Producer, ProducerError};

/// Sends messages to SQS queues, one queue URL per topic; [`Producer::send_batch`] uses
/// `SendMessageBatch`, 10 messages per call.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use outbox_runtime::Message;
/// use outbox_runtime::producer::{Producer, SqsProducer};
///
/// let config = aws_config::load_from_env().await;
/// let producer = SqsProducer::new(aws_sdk_sqs::Client::new(&config))
///     .with_route(
///         "greeting.made",
///         "https://sqs.eu-west-1.amazonaws.com/123456789012/greetings",
///     )
///     .with_route(
///         "order.placed",
///         "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo",
///     );
/// let message = Message::new("greeting.made", br#"{"name":"Tyrion"}"#.to_vec());
/// producer.send(&message).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqsProducer {
    client: Client,
    routes: Routes,
}

/// Shows the routes and nothing of the client: the SDK client's own `Debug` prints its whole
/// configuration, the access key id of its credentials included.
impl std::fmt::Debug for SqsProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsProducer")
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl SqsProducer {
    /// A producer with no routes yet; add them with [`SqsProducer::with_route`].
    ///
    /// ```
    /// use outbox_runtime::producer::{SqsProducer, sqs};
    ///
    /// let producer = SqsProducer::new(sqs::local_client("http://127.0.0.1:5000"));
    /// assert_eq!(producer.routes().count(), 0);
    /// ```
    pub fn new(client: Client) -> Self {
        Self {
            client,
            routes: Routes::new("queue URL", "SqsProducer::with_route"),
        }
    }

    /// Routes `topic` to the queue at `queue_url`, replacing an earlier route of that topic. A
    /// URL ending in `.fifo` is a FIFO queue.
    ///
    /// ```
    /// use outbox_runtime::producer::{SqsProducer, sqs};
    ///
    /// let producer = SqsProducer::new(sqs::local_client("http://127.0.0.1:5000"))
    ///     .with_route("greeting.made", "http://127.0.0.1:5000/123456789012/greetings");
    /// assert_eq!(
    ///     producer.queue_url("greeting.made"),
    ///     Some("http://127.0.0.1:5000/123456789012/greetings")
    /// );
    /// ```
    pub fn with_route(mut self, topic: impl Into<String>, queue_url: impl Into<String>) -> Self {
        self.routes.insert(topic.into(), queue_url.into());
        self
    }

    /// Adds every `(topic, queue URL)` pair, for a routing table read from configuration.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use outbox_runtime::producer::{SqsProducer, sqs};
    ///
    /// let table = HashMap::from([
    ///     ("greeting.made", "http://127.0.0.1:5000/123456789012/greetings"),
    ///     ("order.placed", "http://127.0.0.1:5000/123456789012/orders.fifo"),
    /// ]);
    /// let producer = SqsProducer::new(sqs::local_client("http://127.0.0.1:5000"))
    ///     .with_routes(table);
    /// assert_eq!(producer.routes().count(), 2);
    /// ```
    pub fn with_routes<T, U>(mut self, routes: impl IntoIterator<Item = (T, U)>) -> Self
    where
        T: Into<String>,
        U: Into<String>,
    {
        for (topic, queue_url) in routes {
            self.routes.insert(topic.into(), queue_url.into());
        }
        self
    }

    /// The queue URL `topic` is routed to.
    ///
    /// ```
    /// use outbox_runtime::producer::{SqsProducer, sqs};
    ///
    /// let producer = SqsProducer::new(sqs::local_client("http://127.0.0.1:5000"));
    /// assert_eq!(producer.queue_url("greeting.made"), None);
    /// ```
    pub fn queue_url(&self, topic: &str) -> Option<&str> {
        self.routes.get(topic)
    }

    /// Every route as `(topic, queue URL)`, ordered by topic.
    ///
    /// ```
    /// use outbox_runtime::producer::{SqsProducer, sqs};
    ///
    /// let producer = SqsProducer::new(sqs::local_client("http://127.0.0.1:5000"))
    ///     .with_route("b", "http://127.0.0.1:5000/123456789012/b")
    ///     .with_route("a", "http://127.0.0.1:5000/123456789012/a");
    /// let topics: Vec<&str> = producer.routes().map(|(topic, _)| topic).collect();
    /// assert_eq!(topics, ["a", "b"]);
    /// ```
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes.iter()
    }

    /// The SDK client, for your own calls.
    ///
    /// ```
    /// use outbox_runtime::producer::{SqsProducer, sqs};
    ///
    /// let producer = SqsProducer::new(sqs::local_client("http://127.0.0.1:5000"));
    /// assert_eq!(producer.client().config().region().unwrap().as_ref(), "us-east-1");
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait::async_trait]
impl Producer for SqsProducer {
    /// Sends one message with `SendMessage`.
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        let prepared = wire::prepare(0, message, &self.routes)?;
        let queue_url = prepared.destination;
        let span = tracing::info_span!(
            "sqs.send_message",
            message_id = %message.id(),
            topic = message.topic(),
            queue_url,
        );
        let fifo = prepared.fifo.as_ref();
        self.client
            .send_message()
            .queue_url(queue_url)
            .message_body(&prepared.body)
            .set_message_attributes(Some(attributes(&prepared)))
            .set_message_group_id(fifo.map(|fifo| fifo.group_id.clone()))
            .set_message_deduplication_id(fifo.map(|fifo| fifo.deduplication_id.clone()))
            .send()
            .instrument(span)
            .await
            .map(|_| ())
            .map_err(|err| {
                ProducerError::new(
                    message,
                    format!(
                        "SendMessage to queue `{queue_url}` failed: {}",
                        DisplayErrorContext(&err)
                    ),
                )
                .with_source(err)
            })
    }

    /// Sends with `SendMessageBatch`, grouped by queue, at most 10 messages and 256 KiB per
    /// call; one result per message, in order.
    async fn send_batch(&self, messages: &[Message]) -> Vec<Result<(), ProducerError>> {
        wire::send_batch(self, &self.routes, messages).await
    }
}

impl BatchTransport for SqsProducer {
    fn send_batch_call<'b>(
        &'b self,
        queue_url: &'b str,
        entries: &'b [Prepared<'b>],
    ) -> BoxFuture<'b, Vec<Result<(), ProducerError>>> {
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
            let answer = self
                .client
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(request))
                .send()
                .instrument(span)
                .await;
            match answer {
                Ok(output) => wire::entry_results(
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
                Err(err) => wire::call_failed(&call, entries, err),
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
/// let client = outbox_runtime::producer::sqs::local_client("http://127.0.0.1:5000");
/// assert_eq!(client.config().region().unwrap().as_ref(), "us-east-1");
/// ```
pub fn local_client(endpoint: impl Into<String>) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint.into())
        .region(Region::new(LOCAL_REGION))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "outbox-local",
        ))
        .timeout_config(wire::local_timeouts())
        .retry_config(wire::local_retries())
        .build();
    Client::from_conf(config)
}

/// The outbox [`Message`] inside a message received from SQS (received with
/// `.message_attribute_names("All")`): header from the attributes, body byte for byte. Decode
/// it further with the derived `OutboxMessage::from_message`.
///
/// ```no_run
/// # async fn run(client: aws_sdk_sqs::Client, queue_url: &str) -> Result<(), Box<dyn std::error::Error>> {
/// use outbox_runtime::producer::sqs;
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

/// A local client for the endpoint in `SQS_SNS_ENDPOINT` when it is set (see
/// [`local_client`]), otherwise a client from the standard AWS configuration chain.
///
/// ```no_run
/// # async fn run() {
/// use outbox_runtime::producer::{SqsProducer, sqs};
///
/// let producer = SqsProducer::new(sqs::client_from_env().await)
///     .with_route("greeting.made", "https://sqs.eu-west-1.amazonaws.com/123456789012/greetings");
/// # }
/// ```
pub async fn client_from_env() -> Client {
    match std::env::var(ENDPOINT_ENV) {
        Ok(endpoint) if !endpoint.trim().is_empty() => local_client(endpoint.trim()),
        _ => Client::new(&aws_config::load_defaults(BehaviorVersion::latest()).await),
    }
}
