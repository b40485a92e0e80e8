//! Every way a message leaves the outbox, for tests that must hold on each: sent right after
//! its commit, found by a sweeper pass, relayed from the table's stream; and a consumer with
//! its inbox that records what it is handed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outbox_runtime::consumer::{Inbox, SqsConsumer};
use outbox_runtime::stream::{StreamRelay, StreamRelayConfig};
use outbox_runtime::transport::{InMemoryProducer, Producer};
use outbox_runtime::{
    Body, ClearMode, DynamoDb, Error, Message, MessageId, Outbox, OutboxConfig, Postbox,
    StreamMode, Sweeper, SweeperConfig, Transaction, transactional_handler,
};

use crate::{create_table, dynamodb_streams, fresh_outbox, unique_name};

/// The path a message took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// Sent right after its commit.
    Immediate,
    /// Stored without a send, and found by a sweeper pass.
    Sweeper,
    /// Committed to an outbox with a stream, and sent by the stream relay.
    StreamRelay,
}

/// What [`send_on_every_path`] sent.
pub struct Sent {
    /// Each message's path and the index of its body.
    pub messages: HashMap<MessageId, (Path, usize)>,
    /// The outbox of the immediate path and the sweeper.
    pub outbox: Outbox,
    /// The outbox with a stream.
    pub streamed: Outbox,
}

impl Sent {
    /// The outbox a message of `path` is in.
    pub fn outbox_of(&self, path: Path) -> &Outbox {
        match path {
            Path::StreamRelay => &self.streamed,
            Path::Immediate | Path::Sweeper => &self.outbox,
        }
    }
}

/// Sends each of `bodies` on topic `topic` on every path, through outboxes that `outbox` makes
/// of a configuration (it adds compression or a claim check), to the producer `producer`
/// makes; returns once every message was handed to the producer.
///
/// # Panics
/// When a path does not send every message.
pub async fn send_on_every_path<P: Producer>(
    db: &DynamoDb,
    outbox: impl Fn(OutboxConfig) -> Outbox,
    producer: impl Fn() -> P,
    topic: &str,
    bodies: &[Vec<u8>],
) -> Sent {
    let mut messages = HashMap::new();
    let plain = outbox(fresh_outbox(db).await);
    let postbox = Postbox::new(plain.clone(), producer());
    for (n, body) in bodies.iter().enumerate() {
        let mut tx = postbox.begin();
        let id = tx
            .deposit_message(Message::new(topic, body.clone()))
            .unwrap();
        postbox
            .commit_and_send(tx, ClearMode::Immediate)
            .await
            .unwrap();
        messages.insert(id, (Path::Immediate, n));
    }

    for (n, body) in bodies.iter().enumerate() {
        let message = Message::new(topic, body.clone());
        plain.store(&message).await.unwrap();
        messages.insert(message.id().clone(), (Path::Sweeper, n));
    }
    let mut sweeper = Sweeper::new(
        &postbox,
        SweeperConfig::default()
            .with_min_age(Duration::ZERO)
            .with_owner("every-path"),
    );
    let mut swept = 0;
    for _ in 0..20 {
        swept += sweeper.sweep_once().await.unwrap().sent.len();
        if swept == bodies.len() {
            break;
        }
    }
    assert_eq!(swept, bodies.len(), "the sweeper sent every message");

    let streamed = outbox(
        OutboxConfig::new(unique_name("stream-outbox")).with_stream(StreamMode::WithSweeper),
    );
    streamed.ensure_table().await.unwrap();
    create_table(
        db,
        &StreamRelayConfig::default().state_table_schema(streamed.config()),
    )
    .await;
    let stream_postbox = Postbox::new(streamed.clone(), producer());
    for (n, body) in bodies.iter().enumerate() {
        let mut tx = stream_postbox.begin();
        let id = tx
            .deposit_message(Message::new(topic, body.clone()))
            .unwrap();
        stream_postbox
            .commit_and_send(tx, ClearMode::Immediate)
            .await
            .unwrap();
        messages.insert(id, (Path::StreamRelay, n));
    }
    let mut relay = StreamRelay::new(
        &stream_postbox,
        dynamodb_streams().await,
        StreamRelayConfig::default().with_poll_interval(Duration::from_millis(10)),
    )
    .unwrap();
    let mut relayed = 0;
    for _ in 0..500 {
        relayed += relay.relay_once().await.unwrap().sent.len();
        if relayed == bodies.len() {
            break;
        }
    }
    assert_eq!(relayed, bodies.len(), "the stream relay sent every message");
    Sent {
        messages,
        outbox: plain,
        streamed,
    }
}

/// A consumer that records each body it is handed, with the inbox in its transaction.
pub struct Recorder {
    postbox: Postbox,
    inbox: Inbox,
    /// The bodies handed to it, by message id.
    pub bodies: Mutex<HashMap<MessageId, Body>>,
}

impl Recorder {
    /// A recorder with fresh tables of its own.
    pub async fn new(db: &DynamoDb) -> Arc<Self> {
        let inbox = Inbox::new("recorder").with_table_name(unique_name("inbox"));
        inbox.ensure_table(db).await.unwrap();
        let outbox = Outbox::new(db.clone(), fresh_outbox(db).await).unwrap();
        Arc::new(Self {
            postbox: Postbox::new(outbox, InMemoryProducer::new()),
            inbox,
            bodies: Mutex::new(HashMap::new()),
        })
    }

    /// Handles one message.
    ///
    /// # Errors
    /// The commit's.
    #[transactional_handler(postbox = self.postbox, tx = tx, incoming = message, inbox = self.inbox)]
    pub async fn handle(&self, tx: &mut Transaction, message: &Message) -> Result<(), Error> {
        let _ = tx;
        self.bodies
            .lock()
            .unwrap()
            .insert(message.id().clone(), message.body.clone());
        Ok(())
    }

    /// The recorder as a consumer's handler.
    pub fn handler(
        self: &Arc<Self>,
    ) -> impl Fn(Message) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>
    + Send
    + Sync
    + 'static {
        let recorder = Arc::clone(self);
        move |message: Message| {
            let recorder = Arc::clone(&recorder);
            Box::pin(async move { recorder.handle(&message).await })
        }
    }

    /// Checks that each message `sent` was handed over once, with the original bytes of its
    /// body in `bodies`.
    ///
    /// # Panics
    /// When one was not, naming its path.
    pub fn assert_handed(&self, sent: &Sent, bodies: &[Vec<u8>]) {
        let received = self.bodies.lock().unwrap();
        assert_eq!(received.len(), sent.messages.len());
        for (id, (path, n)) in &sent.messages {
            match &received[id] {
                Body::Bytes(bytes) => assert!(bytes == &bodies[*n], "{path:?}: the bytes differ"),
                other => panic!("{path:?}: the consumer was handed {other:?}"),
            }
        }
    }

    /// Polls with `consumer` until `count` messages were handed over.
    ///
    /// # Panics
    /// When a delivery could not be read or handled, or fewer arrive within 30 polls.
    pub async fn consume(self: &Arc<Self>, consumer: &SqsConsumer, count: usize) {
        let handler = self.handler();
        for _ in 0..30 {
            if self.bodies.lock().unwrap().len() >= count {
                return;
            }
            let report = consumer.poll_once(&handler).await.unwrap();
            assert_eq!(report.undecodable + report.failed, 0, "{report:?}");
        }
        panic!(
            "only {} of {count} messages were consumed",
            self.bodies.lock().unwrap().len()
        );
    }
}
