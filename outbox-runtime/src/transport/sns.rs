//! Amazon SNS: [`SnsProducer`] publishes each topic to an SNS topic ARN.
//!
//! Bodies, attributes, FIFO ids and batch limits follow [`wire`](super::wire); an SQS queue
//! subscribed with raw message delivery receives exactly what [`SqsProducer`](super::SqsProducer)
//! would have sent.

use std::collections::HashMap;

use aws_sdk_sns::Client;
#[cfg(feature = "aws-config")]
use aws_sdk_sns::config::BehaviorVersion;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tracing::Instrument;

use crate::transport::batch::{EntryFailure, Prepared, call_failed, entry_results};
use crate::transport::error::ProducerError;
use crate::transport::routed::{RoutedProducer, Sealed, Service};

/// Amazon SNS: the [`Service`] of [`SnsProducer`].
#[derive(Clone, Copy, Debug)]
pub struct Sns;

/// Sends messages to SNS topics, one topic ARN per topic;
/// [`Producer::send_batch`](crate::transport::Producer::send_batch) uses `PublishBatch`, 10
/// messages per call. Its builder methods are those of [`RoutedProducer`].
pub type SnsProducer = RoutedProducer<Sns>;

impl SnsProducer {
    /// The topic ARN `topic` is routed to.
    ///
    /// ```
    /// use outbox_runtime::transport::SnsProducer;
    ///
    /// # let client = aws_sdk_sns::Client::from_conf(
    /// #     aws_sdk_sns::Config::builder()
    /// #         .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
    /// #         .build(),
    /// # );
    /// let producer = SnsProducer::new(client);
    /// assert_eq!(producer.topic_arn("greeting.made"), None);
    /// ```
    pub fn topic_arn(&self, topic: &str) -> Option<&str> {
        self.destination(topic)
    }
}

impl Sealed for Sns {}

impl Service for Sns {
    type Client = Client;
    const PRODUCER: &'static str = "SnsProducer";
    const DESTINATION: &'static str = "topic ARN";
    const ADD_ROUTE: &'static str = "SnsProducer::with_route";

    fn send_one<'a>(
        client: &'a Client,
        entry: &'a Prepared<'a>,
    ) -> BoxFuture<'a, Result<(), ProducerError>> {
        Box::pin(async move {
            let topic_arn = entry.destination;
            let span = tracing::info_span!(
                "sns.publish",
                message_id = %entry.message.id(),
                topic = entry.message.topic(),
                topic_arn,
            );
            let fifo = entry.fifo.as_ref();
            client
                .publish()
                .topic_arn(topic_arn)
                .message(&entry.body)
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
                            "Publish to SNS topic `{topic_arn}` failed: {}",
                            DisplayErrorContext(&err)
                        ),
                    )
                    .with_source(err)
                })
        })
    }

    fn send_batch_call<'a>(
        client: &'a Client,
        topic_arn: &'a str,
        entries: &'a [Prepared<'a>],
    ) -> BoxFuture<'a, Vec<Result<(), ProducerError>>> {
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
            let answer = client
                .publish_batch()
                .topic_arn(topic_arn)
                .set_publish_batch_request_entries(Some(request))
                .send()
                .boxed()
                .instrument(span)
                .await;
            match answer {
                Ok(output) => entry_results(
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

/// An SNS client for a local server (moto) or any explicit endpoint: the given URL, region
/// `us-east-1`, static dummy credentials, short timeouts and few retries, so a dead endpoint is
/// reported within seconds instead of hanging.
///
/// ```
/// let client = outbox_runtime::transport::sns::local_client("http://127.0.0.1:5000");
/// assert_eq!(client.config().region().unwrap().as_ref(), "us-east-1");
/// ```
#[cfg(feature = "testing")]
pub fn local_client(endpoint: impl Into<String>) -> Client {
    Client::new(&crate::client::local_config(&endpoint.into()))
}

/// A client from the standard AWS configuration chain: region, credentials and endpoint from
/// the environment, the profile or the instance's role. `AWS_ENDPOINT_URL_SNS` (or
/// `AWS_ENDPOINT_URL`) points it at another endpoint, a local emulator for example.
///
/// ```no_run
/// # async fn run() {
/// use outbox_runtime::transport::{SnsProducer, sns};
///
/// let producer = SnsProducer::new(sns::client_from_env().await)
///     .with_route("greeting.made", "arn:aws:sns:eu-west-1:123456789012:greetings");
/// # }
/// ```
#[cfg(feature = "aws-config")]
pub async fn client_from_env() -> Client {
    Client::new(&aws_config::load_defaults(BehaviorVersion::latest()).await)
}
