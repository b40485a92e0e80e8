//! The SNS producer: each topic is routed to an SNS topic ARN.
//!
//! Bodies, attributes, FIFO ids and batch limits follow [`wire`](super::wire).

use std::collections::HashMap;

use aws_sdk_sns::Client;
use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use futures_util::future::BoxFuture;
use tracing::Instrument;

use crate::connection::LOCAL_REGION;
use crate::message::Message;
use crate::producer::wire::{self, BatchTransport, EntryFailure, Prepared, Routes};
use crate::producer::{ENDPOINT_ENV, Producer, ProducerError};

/// Publishes messages to SNS topics, one topic ARN per outbox topic; [`Producer::send_batch`]
/// uses `PublishBatch`, 10 messages per call.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use outbox_runtime::Message;
/// use outbox_runtime::producer::{Producer, SnsProducer};
///
/// let config = aws_config::load_from_env().await;
/// let producer = SnsProducer::new(aws_sdk_sns::Client::new(&config))
///     .with_route(
///         "greeting.made",
///         "arn:aws:sns:eu-west-1:123456789012:greetings",
///     )
///     .with_route(
///         "order.placed",
///         "arn:aws:sns:eu-west-1:123456789012:orders.fifo",
///     );
/// let message = Message::new("greeting.made", br#"{"name":"Tyrion"}"#.to_vec());
/// producer.send(&message).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SnsProducer {
    client: Client,
    routes: Routes,
}

/// Shows the routes and nothing of the client: the SDK client's own `Debug` prints its whole
/// configuration, the access key id of its credentials included.
impl std::fmt::Debug for SnsProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsProducer")
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl SnsProducer {
    /// A producer with no routes yet; add them with [`SnsProducer::with_route`].
    ///
    /// ```
    /// use outbox_runtime::producer::{SnsProducer, sns};
    ///
    /// let producer = SnsProducer::new(sns::local_client("http://127.0.0.1:5000"));
    /// assert_eq!(producer.routes().count(), 0);
    /// ```
    pub fn new(client: Client) -> Self {
        Self {
            client,
            routes: Routes::new("topic ARN", "SnsProducer::with_route"),
        }
    }

    /// Routes `topic` to the SNS topic `topic_arn`, replacing an earlier route of that topic.
    /// An ARN ending in `.fifo` is a FIFO topic.
    ///
    /// ```
    /// use outbox_runtime::producer::{SnsProducer, sns};
    ///
    /// let producer = SnsProducer::new(sns::local_client("http://127.0.0.1:5000"))
    ///     .with_route("greeting.made", "arn:aws:sns:us-east-1:123456789012:greetings");
    /// assert_eq!(
    ///     producer.topic_arn("greeting.made"),
    ///     Some("arn:aws:sns:us-east-1:123456789012:greetings")
    /// );
    /// ```
    pub fn with_route(mut self, topic: impl Into<String>, topic_arn: impl Into<String>) -> Self {
        self.routes.insert(topic.into(), topic_arn.into());
        self
    }

    /// Adds every `(topic, topic ARN)` pair, for a routing table read from configuration.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use outbox_runtime::producer::{SnsProducer, sns};
    ///
    /// let table = HashMap::from([
    ///     ("greeting.made", "arn:aws:sns:us-east-1:123456789012:greetings"),
    ///     ("order.placed", "arn:aws:sns:us-east-1:123456789012:orders.fifo"),
    /// ]);
    /// let producer = SnsProducer::new(sns::local_client("http://127.0.0.1:5000"))
    ///     .with_routes(table);
    /// assert_eq!(producer.routes().count(), 2);
    /// ```
    pub fn with_routes<T, U>(mut self, routes: impl IntoIterator<Item = (T, U)>) -> Self
    where
        T: Into<String>,
        U: Into<String>,
    {
        for (topic, topic_arn) in routes {
            self.routes.insert(topic.into(), topic_arn.into());
        }
        self
    }

    /// The SNS topic ARN `topic` is routed to.
    ///
    /// ```
    /// use outbox_runtime::producer::{SnsProducer, sns};
    ///
    /// let producer = SnsProducer::new(sns::local_client("http://127.0.0.1:5000"));
    /// assert_eq!(producer.topic_arn("greeting.made"), None);
    /// ```
    pub fn topic_arn(&self, topic: &str) -> Option<&str> {
        self.routes.get(topic)
    }

    /// Every route as `(topic, topic ARN)`, ordered by topic.
    ///
    /// ```
    /// use outbox_runtime::producer::{SnsProducer, sns};
    ///
    /// let producer = SnsProducer::new(sns::local_client("http://127.0.0.1:5000"))
    ///     .with_route("b", "arn:aws:sns:us-east-1:123456789012:b")
    ///     .with_route("a", "arn:aws:sns:us-east-1:123456789012:a");
    /// let topics: Vec<&str> = producer.routes().map(|(topic, _)| topic).collect();
    /// assert_eq!(topics, ["a", "b"]);
    /// ```
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes.iter()
    }

    /// The SDK client, for your own calls.
    ///
    /// ```
    /// use outbox_runtime::producer::{SnsProducer, sns};
    ///
    /// let producer = SnsProducer::new(sns::local_client("http://127.0.0.1:5000"));
    /// assert_eq!(producer.client().config().region().unwrap().as_ref(), "us-east-1");
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait::async_trait]
impl Producer for SnsProducer {
    /// Publishes one message with `Publish`.
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        let prepared = wire::prepare(0, message, &self.routes)?;
        let topic_arn = prepared.destination;
        let span = tracing::info_span!(
            "sns.publish",
            message_id = %message.id(),
            topic = message.topic(),
            topic_arn,
        );
        let fifo = prepared.fifo.as_ref();
        self.client
            .publish()
            .topic_arn(topic_arn)
            .message(&prepared.body)
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
                        "Publish to SNS topic `{topic_arn}` failed: {}",
                        DisplayErrorContext(&err)
                    ),
                )
                .with_source(err)
            })
    }

    /// Publishes with `PublishBatch`, grouped by SNS topic, at most 10 messages and 256 KiB per
    /// call; one result per message, in order.
    async fn send_batch(&self, messages: &[Message]) -> Vec<Result<(), ProducerError>> {
        wire::send_batch(self, &self.routes, messages).await
    }
}

impl BatchTransport for SnsProducer {
    fn send_batch_call<'b>(
        &'b self,
        topic_arn: &'b str,
        entries: &'b [Prepared<'b>],
    ) -> BoxFuture<'b, Vec<Result<(), ProducerError>>> {
        Box::pin(async move {
            let call = format!("PublishBatch to SNS topic `{topic_arn}`");
            let span =
                tracing::info_span!("sns.publish_batch", topic_arn, messages = entries.len());
            let request: Vec<PublishBatchRequestEntry> = entries
                .iter()
                .enumerate()
                .map(|(position, entry)| {
                    let fifo = entry.fifo.as_ref();
                    PublishBatchRequestEntry::builder()
                        .id(position.to_string())
                        .message(&entry.body)
                        .set_message_attributes(Some(attributes(entry)))
                        .set_message_group_id(fifo.map(|fifo| fifo.group_id.clone()))
                        .set_message_deduplication_id(
                            fifo.map(|fifo| fifo.deduplication_id.clone()),
                        )
                        .build()
                        .expect("id and message are set")
                })
                .collect();
            let answer = self
                .client
                .publish_batch()
                .topic_arn(topic_arn)
                .set_publish_batch_request_entries(Some(request))
                .send()
                .instrument(span)
                .await;
            match answer {
                Ok(output) => wire::entry_results(
                    &call,
                    entries,
                    output.successful().iter().filter_map(|entry| entry.id()),
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

/// An SNS client for a local server (moto) or any explicit endpoint: the given URL, region
/// `us-east-1`, static dummy credentials, short timeouts and few retries, so a dead endpoint is
/// reported within seconds instead of hanging.
///
/// ```
/// let client = outbox_runtime::producer::sns::local_client("http://127.0.0.1:5000");
/// assert_eq!(client.config().region().unwrap().as_ref(), "us-east-1");
/// ```
pub fn local_client(endpoint: impl Into<String>) -> Client {
    let config = aws_sdk_sns::Config::builder()
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

/// A local client for the endpoint in `SQS_SNS_ENDPOINT` when it is set (see
/// [`local_client`]), otherwise a client from the standard AWS configuration chain.
///
/// ```no_run
/// # async fn run() {
/// use outbox_runtime::producer::{SnsProducer, sns};
///
/// let producer = SnsProducer::new(sns::client_from_env().await)
///     .with_route("greeting.made", "arn:aws:sns:eu-west-1:123456789012:greetings");
/// # }
/// ```
pub async fn client_from_env() -> Client {
    match std::env::var(ENDPOINT_ENV) {
        Ok(endpoint) if !endpoint.trim().is_empty() => local_client(endpoint.trim()),
        _ => Client::new(&aws_config::load_defaults(BehaviorVersion::latest()).await),
    }
}
