//! A producer that routes each topic to a destination of one service (an SQS queue, an SNS
//! topic) and sends in batches: the part SQS and SNS share. What differs between them, the SDK
//! calls, is a [`Service`]; the wire format both use is [`wire`](super::wire).

use std::fmt;

use futures_util::future::{BoxFuture, join_all};

use crate::message::Message;
use crate::transport::batch::{Prepared, Routes, batches, prepare};
use crate::transport::error::ProducerError;
use crate::transport::producer::Producer;

mod sealed {
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// A messaging service a [`RoutedProducer`] sends to: [`Sqs`](super::sqs::Sqs) or
/// `Sns`. Sealed: the calls are the library's own.
pub trait Service: Sealed + Send + Sync + 'static {
    /// The SDK client.
    type Client: Clone + Send + Sync + 'static;
    /// The producer's name in `Debug` output.
    #[doc(hidden)]
    const PRODUCER: &'static str;
    /// What a destination is called in messages: "queue URL", "topic ARN".
    #[doc(hidden)]
    const DESTINATION: &'static str;
    /// How a user adds a route, for the message about a producer with none.
    #[doc(hidden)]
    const ADD_ROUTE: &'static str;

    /// Sends one message.
    #[doc(hidden)]
    fn send_one<'a>(
        client: &'a Self::Client,
        entry: &'a Prepared<'a>,
    ) -> BoxFuture<'a, Result<(), ProducerError>>;

    /// Sends one batch (at most [`MAX_BATCH_ENTRIES`] entries, all for `destination`), one
    /// result per entry in order. Entry ids on the wire are the positions in `entries`.
    #[doc(hidden)]
    fn send_batch_call<'a>(
        client: &'a Self::Client,
        destination: &'a str,
        entries: &'a [Prepared<'a>],
    ) -> BoxFuture<'a, Vec<Result<(), ProducerError>>>;
}

/// Sends each message to the destination its topic is routed to, on one service: an SQS queue
/// (`SqsProducer`) or an SNS topic (`SnsProducer`).
/// [`Producer::send_batch`] groups messages by destination and sends each group in batch calls
/// of at most 10 messages and 256 KiB, the calls of one destination one after the other (so
/// order per partition key holds) and the destinations concurrently.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use outbox_runtime::Message;
/// use outbox_runtime::transport::{Producer, SqsProducer};
///
/// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
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
pub struct RoutedProducer<S: Service> {
    client: S::Client,
    routes: Routes,
}

impl<S: Service> Clone for RoutedProducer<S> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            routes: self.routes.clone(),
        }
    }
}

/// Shows the routes and nothing of the client: the SDK client's own `Debug` prints its whole
/// configuration, the access key id of its credentials included.
impl<S: Service> fmt::Debug for RoutedProducer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(S::PRODUCER)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl<S: Service> RoutedProducer<S> {
    /// A producer with no routes yet; add them with [`RoutedProducer::with_route`].
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
    /// assert_eq!(producer.routes().count(), 0);
    /// ```
    pub fn new(client: S::Client) -> Self {
        Self {
            client,
            routes: Routes::new(S::DESTINATION, S::ADD_ROUTE),
        }
    }

    /// Routes `topic` to `destination` (a queue URL, a topic ARN), replacing an earlier route
    /// of that topic. A destination ending in `.fifo` is a FIFO queue or topic.
    ///
    /// ```
    /// use outbox_runtime::transport::SqsProducer;
    ///
    /// # let client = aws_sdk_sqs::Client::from_conf(
    /// #     aws_sdk_sqs::Config::builder()
    /// #         .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
    /// #         .build(),
    /// # );
    /// let producer = SqsProducer::new(client)
    ///     .with_route("greeting.made", "http://127.0.0.1:5000/123456789012/greetings");
    /// assert_eq!(
    ///     producer.queue_url("greeting.made"),
    ///     Some("http://127.0.0.1:5000/123456789012/greetings")
    /// );
    /// ```
    pub fn with_route(mut self, topic: impl Into<String>, destination: impl Into<String>) -> Self {
        self.routes.insert(topic.into(), destination.into());
        self
    }

    /// Adds every `(topic, destination)` pair, for a routing table read from configuration.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use outbox_runtime::transport::SqsProducer;
    ///
    /// # let client = aws_sdk_sqs::Client::from_conf(
    /// #     aws_sdk_sqs::Config::builder()
    /// #         .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
    /// #         .build(),
    /// # );
    ///
    /// let table = HashMap::from([
    ///     ("greeting.made", "http://127.0.0.1:5000/123456789012/greetings"),
    ///     ("order.placed", "http://127.0.0.1:5000/123456789012/orders.fifo"),
    /// ]);
    /// let producer = SqsProducer::new(client).with_routes(table);
    /// assert_eq!(producer.routes().count(), 2);
    /// ```
    pub fn with_routes<T, U>(mut self, routes: impl IntoIterator<Item = (T, U)>) -> Self
    where
        T: Into<String>,
        U: Into<String>,
    {
        for (topic, destination) in routes {
            self.routes.insert(topic.into(), destination.into());
        }
        self
    }

    /// The destination `topic` is routed to.
    pub fn destination(&self, topic: &str) -> Option<&str> {
        self.routes.get(topic)
    }

    /// Every route as `(topic, destination)`, ordered by topic.
    ///
    /// ```
    /// use outbox_runtime::transport::SqsProducer;
    ///
    /// # let client = aws_sdk_sqs::Client::from_conf(
    /// #     aws_sdk_sqs::Config::builder()
    /// #         .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
    /// #         .build(),
    /// # );
    /// let producer = SqsProducer::new(client)
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
    /// use outbox_runtime::transport::SqsProducer;
    ///
    /// # let client = aws_sdk_sqs::Client::from_conf(
    /// #     aws_sdk_sqs::Config::builder()
    /// #         .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
    /// #         .build(),
    /// # );
    /// let producer = SqsProducer::new(client);
    /// assert!(producer.client().config().region().is_none());
    /// ```
    pub fn client(&self) -> &S::Client {
        &self.client
    }
}

impl<S: Service> Producer for RoutedProducer<S> {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        let prepared = prepare(0, message, &self.routes)?;
        S::send_one(&self.client, &prepared).await
    }

    async fn send_batch(&self, messages: &[Message]) -> Vec<Result<(), ProducerError>> {
        send_batch::<S>(&self.client, &self.routes, messages).await
    }
}

/// `send_batch` for either transport: route and encode, group by destination, cut into batch
/// calls, send, and map every outcome back to its message.
async fn send_batch<S: Service>(
    client: &S::Client,
    routes: &Routes,
    messages: &[Message],
) -> Vec<Result<(), ProducerError>> {
    let mut results: Vec<Option<Result<(), ProducerError>>> =
        messages.iter().map(|_| None).collect();
    // Destinations in the order they first appear; messages in their order within each.
    let mut groups: Vec<(&str, Vec<Prepared<'_>>)> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        match prepare(index, message, routes) {
            Err(err) => results[index] = Some(Err(err)),
            Ok(prepared) => match groups
                .iter_mut()
                .find(|(destination, _)| *destination == prepared.destination)
            {
                Some((_, entries)) => entries.push(prepared),
                None => groups.push((prepared.destination, vec![prepared])),
            },
        }
    }
    let sent = join_all(groups.iter().map(|(destination, entries)| async move {
        let mut outcomes = Vec::with_capacity(entries.len());
        for range in batches(entries.iter().map(Prepared::size)) {
            let batch = &entries[range];
            let answers = S::send_batch_call(client, destination, batch).await;
            outcomes.extend(batch.iter().map(|entry| entry.index).zip(answers));
        }
        outcomes
    }))
    .await;
    for (index, outcome) in sent.into_iter().flatten() {
        results[index] = Some(outcome);
    }
    results
        .into_iter()
        .zip(messages)
        .map(|(result, message)| {
            result.unwrap_or_else(|| {
                Err(ProducerError::new(
                    message,
                    "the batch call returned no result for this message",
                ))
            })
        })
        .collect()
}
