//! What the benchmarks and cost tests run: the greeting handlers written with
//! `#[transactional_handler]` (one that only writes, one that reads, modifies and writes), a
//! producer that counts and times what it is given, and a rig of fresh tables with a metered
//! client (the same handlers written by hand are in `hand_written`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::transport::{InMemoryProducer, Producer, ProducerError};
use outbox_runtime::{
    DynamoDb, Message, Outbox, OutboxConfig, OutboxMessage, Postbox, Transaction,
    transactional_handler,
};
use outbox_runtime::{Sweeper, SweeperConfig};
use serde::{Deserialize, Serialize};

use super::hand_written::{BoxError, HandWritten};
use super::link::Link;
use super::meter::Meter;
use crate::unique_name;

/// The event the greeting handlers announce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
pub struct GreetingMade {
    /// The message id.
    #[outbox(id)]
    pub id: uuid::Uuid,
    /// The ordering key.
    #[outbox(partition_key)]
    pub name: String,
    /// The greeting; padded to give bodies a chosen size.
    pub greeting: String,
}

/// The topic of [`GreetingMade`].
pub const GREETING_TOPIC: &str = "greeting.made";

/// The entity the greeting handlers write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// The key.
    #[serde(rename = "Name")]
    pub name: String,
    /// Greetings received.
    #[serde(rename = "Greetings")]
    pub greetings: Vec<String>,
}

/// One handler call: optionally put a person, and deposit `messages` greetings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddGreeting {
    /// The person, and the prefix of each message's partition key (`<name>/<n>`).
    pub name: String,
    /// The greeting text.
    pub greeting: String,
    /// How many messages to deposit.
    pub messages: usize,
    /// Whether to put the person too (an entity write beside the messages).
    pub entity: bool,
}

impl AddGreeting {
    /// A call that puts the person and deposits `messages` greetings with a short text.
    pub fn new(name: impl Into<String>, messages: usize) -> Self {
        Self {
            name: name.into(),
            greeting: "Hello".to_owned(),
            messages,
            entity: true,
        }
    }

    /// Deposits messages only, each with a JSON body of exactly `body_bytes` bytes.
    ///
    /// # Panics
    /// When `body_bytes` is smaller than an empty greeting's body (about 80 bytes).
    pub fn messages_only(name: impl Into<String>, messages: usize, body_bytes: usize) -> Self {
        let mut call = Self {
            name: name.into(),
            greeting: String::new(),
            messages,
            entity: false,
        };
        let empty = serde_json::to_vec(&call.event(messages.saturating_sub(1)))
            .expect("a greeting serializes")
            .len();
        assert!(
            body_bytes >= empty,
            "a body of {body_bytes} bytes is smaller than an empty greeting ({empty} bytes)"
        );
        call.greeting = "x".repeat(body_bytes - empty);
        call
    }

    /// The `n`-th message of this call: a fresh id, partition key `<name>/<n>`.
    pub fn event(&self, n: usize) -> GreetingMade {
        GreetingMade {
            id: uuid::Uuid::now_v7(),
            name: format!("{}/{n:04}", self.name),
            greeting: self.greeting.clone(),
        }
    }

    /// The entity this call puts.
    pub fn person(&self) -> Person {
        Person {
            name: self.name.clone(),
            greetings: vec![self.greeting.clone()],
        }
    }
}

/// The greeting handler as a user of the library writes it.
#[derive(Debug)]
pub struct MacroHandler {
    /// Where the handler commits and sends.
    pub postbox: Postbox,
    /// The people table.
    pub people: TableSchema,
}

impl MacroHandler {
    /// Puts the person (when asked) and deposits the greetings; commits, then sends at once.
    ///
    /// # Errors
    /// The runtime's error.
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    pub async fn handle(
        &self,
        tx: &mut Transaction,
        call: AddGreeting,
    ) -> Result<(), outbox_runtime::Error> {
        if call.entity {
            tx.put(&self.people, &call.person())?;
        }
        for n in 0..call.messages {
            tx.deposit(&call.event(n))?;
        }
        Ok(())
    }

    /// The same body, leaving the messages to the sweeper.
    ///
    /// # Errors
    /// The runtime's error.
    #[transactional_handler(postbox = self.postbox, tx = tx, clear = "sweeper")]
    pub async fn handle_later(
        &self,
        tx: &mut Transaction,
        call: AddGreeting,
    ) -> Result<(), outbox_runtime::Error> {
        if call.entity {
            tx.put(&self.people, &call.person())?;
        }
        for n in 0..call.messages {
            tx.deposit(&call.event(n))?;
        }
        Ok(())
    }
}

/// The attribute in which the read-modify-write handlers' people table keeps each person's
/// version (`TableSchema::with_version`).
pub const VERSION: &str = "Version";

/// One greeting to a person who exists: a call of the read-modify-write handlers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Greet {
    /// The person, and the partition key of the message.
    pub name: String,
    /// The greeting appended.
    pub greeting: String,
}

impl Greet {
    /// A greeting of `name` with a short text.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            greeting: "Hello".to_owned(),
        }
    }

    /// The message announcing it: a fresh id, the person's name as its partition key.
    pub fn event(&self) -> GreetingMade {
        GreetingMade {
            id: uuid::Uuid::now_v7(),
            name: self.name.clone(),
            greeting: self.greeting.clone(),
        }
    }
}

/// The greetings handler of the examples, as a user writes it: read the person in the unit of
/// work, append the greeting, put the person back (conditional on its version being the one
/// read), deposit the announcement.
#[derive(Debug)]
pub struct ReadModifyWrite {
    /// Where the handler commits and sends.
    pub postbox: Postbox,
    /// The people table, with a version ([`VERSION`]).
    pub people: TableSchema,
}

impl ReadModifyWrite {
    /// Greets a person who exists; a person changed by someone else between the read and the
    /// commit makes the body run again.
    ///
    /// # Errors
    /// A person that does not exist; the runtime's error.
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    pub async fn handle(&self, tx: &mut Transaction, call: Greet) -> Result<(), BoxError> {
        let mut person: Person = tx
            .get(&self.people, call.name.as_str())
            .await?
            .ok_or_else(|| format!("there is no person named `{}`", call.name))?;
        person.greetings.push(call.greeting.clone());
        tx.put(&self.people, &person)?;
        tx.deposit(&call.event())?;
        Ok(())
    }
}

/// A people table of its own (`bench-people-<uuid>`) that keeps versions, for the
/// read-modify-write handlers; made through `db`.
///
/// # Errors
/// Creating the table.
pub async fn versioned_people(db: &DynamoDb) -> outbox_runtime::Result<TableSchema> {
    let people = TableSchema::new(
        unique_name("bench-people"),
        KeyAttribute::new("Name", KeyKind::String),
    )
    .with_version(VERSION);
    people.ensure(db).await?;
    Ok(people)
}

/// Puts a person without greetings (and without a version, which counts as version 0) for
/// each of `names` into `table`, 25 to a `BatchWriteItem`, eight requests at a time.
///
/// # Errors
/// The SDK's error; items still unprocessed after a few tries.
pub async fn seed_people(db: &DynamoDb, table: &str, names: &[String]) -> Result<(), BoxError> {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    use futures_util::StreamExt;

    let batches = names.chunks(25).map(|chunk| async move {
        let mut requests = chunk
            .iter()
            .map(|name| {
                let put = PutRequest::builder()
                    .item("Name", AttributeValue::S(name.clone()))
                    .item("Greetings", AttributeValue::L(Vec::new()))
                    .build()?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, BoxError>>()?;
        for attempt in 0..10_u32 {
            let output = db
                .client()
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await?;
            requests = output
                .unprocessed_items
                .and_then(|mut tables| tables.remove(table))
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20 << attempt.min(5))).await;
        }
        Err::<(), BoxError>(format!("seeding people in `{table}`: items left unprocessed").into())
    });
    let results: Vec<_> = futures_util::stream::iter(batches)
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The in-memory producer, counting what it delivers and, when asked, timing it.
#[derive(Debug, Default)]
pub struct BenchProducer {
    inner: InMemoryProducer,
    delivered: AtomicU64,
    timing: AtomicBool,
    /// Message id to when the producer was handed it.
    sent_at: Mutex<HashMap<String, Instant>>,
    /// The last message handed over, and when.
    last: Mutex<Option<(String, Instant)>>,
    /// How long each `send_batch` of the in-memory producer took.
    send_times: Mutex<Vec<Duration>>,
}

impl BenchProducer {
    /// A producer that succeeds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::SeqCst)
    }

    /// Starts (or stops) recording when each message arrives and how long each send takes;
    /// either way, what was recorded is forgotten.
    pub fn time_sends(&self, on: bool) {
        self.timing.store(on, Ordering::SeqCst);
        self.sent_at.lock().expect("not poisoned").clear();
        *self.last.lock().expect("not poisoned") = None;
        self.send_times.lock().expect("not poisoned").clear();
    }

    /// When the message arrived, while sends are timed.
    pub fn sent_at(&self, message_id: &str) -> Option<Instant> {
        self.sent_at
            .lock()
            .expect("not poisoned")
            .get(message_id)
            .copied()
    }

    /// The last message delivered while sends are timed, and when it arrived.
    pub fn last_arrival(&self) -> Option<(String, Instant)> {
        self.last.lock().expect("not poisoned").clone()
    }

    /// The durations of the sends made while timed.
    pub fn send_times(&self) -> Vec<Duration> {
        self.send_times.lock().expect("not poisoned").clone()
    }

    /// Every message delivered, in order (see [`InMemoryProducer::sent`]).
    pub fn sent(&self) -> Vec<Message> {
        self.inner.sent()
    }
}

impl Producer for BenchProducer {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        self.send_batch(std::slice::from_ref(message))
            .await
            .pop()
            .expect("one result per message")
    }

    async fn send_batch(&self, messages: &[Message]) -> Vec<Result<(), ProducerError>> {
        let started = Instant::now();
        let results = self.inner.send_batch(messages).await;
        let arrived = Instant::now();
        let ok = results.iter().filter(|result| result.is_ok()).count();
        self.delivered.fetch_add(ok as u64, Ordering::SeqCst);
        if self.timing.load(Ordering::SeqCst) {
            self.send_times
                .lock()
                .expect("not poisoned")
                .push(arrived - started);
            let mut sent_at = self.sent_at.lock().expect("not poisoned");
            for (message, result) in messages.iter().zip(&results) {
                if result.is_ok() {
                    let id = message.header.id.to_string();
                    sent_at.insert(id.clone(), arrived);
                    *self.last.lock().expect("not poisoned") = Some((id, arrived));
                }
            }
        }
        results
    }
}

/// A people table and an outbox table of their own, a metered client, a counting producer, and
/// the macro handler over them.
#[derive(Debug)]
pub struct Rig {
    /// Counts every call of [`Rig::db`].
    pub meter: Meter,
    /// The metered client.
    pub db: DynamoDb,
    /// The outbox.
    pub outbox: Outbox,
    /// What the postbox and sweepers send with.
    pub producer: Arc<BenchProducer>,
    /// The macro handler.
    pub handler: MacroHandler,
}

impl Rig {
    /// Fresh tables (named `bench-people-<uuid>` and `bench-outbox-<uuid>`) with `config`'s
    /// shards and cleanup, reached through `db` with a new meter on it.
    ///
    /// # Errors
    /// Creating the tables.
    pub async fn new(db: &DynamoDb, config: OutboxConfig) -> outbox_runtime::Result<Self> {
        Self::on(&Link::direct(db), config).await
    }

    /// [`Rig::new`] over a link: the tables are made through its direct client, and the
    /// meter is put on its measured one (through the delaying proxy when a round trip is
    /// modeled).
    ///
    /// # Errors
    /// Creating the tables.
    pub async fn on(link: &Link, config: OutboxConfig) -> outbox_runtime::Result<Self> {
        let config = config.with_table_name(unique_name("bench-outbox"));
        let people = TableSchema::new(
            unique_name("bench-people"),
            KeyAttribute::new("Name", KeyKind::String),
        );
        people.ensure(&link.direct).await?;
        config.table_schema().ensure(&link.direct).await?;
        let meter = Meter::new();
        let metered = meter.attach(link.db.clone());
        let outbox = Outbox::new(metered.clone(), config)?;
        let producer = Arc::new(BenchProducer::new());
        // Marks inline, as the hand-written handler makes them: the two make the same requests.
        let postbox = Postbox::new(outbox.clone(), Arc::clone(&producer))
            .with_mark_mode(outbox_runtime::MarkMode::Inline);
        Ok(Self {
            meter,
            db: metered,
            outbox,
            producer,
            handler: MacroHandler { postbox, people },
        })
    }

    /// The outbox's configuration.
    pub fn config(&self) -> &OutboxConfig {
        self.outbox.config()
    }

    /// The hand-written handler over the same tables, client and producer.
    pub fn hand_written(&self) -> HandWritten<BenchProducer> {
        self.hand_written_over(&self.handler.people.name)
    }

    /// The hand-written handlers over the people table `people` and this rig's outbox, client
    /// and producer (for [`HandWritten::greet`], a table made by [`versioned_people`]).
    pub fn hand_written_over(&self, people: &str) -> HandWritten<BenchProducer> {
        HandWritten::new(
            self.db.clone(),
            self.config().clone(),
            people,
            Arc::clone(&self.producer),
        )
    }

    /// The read-modify-write handler written with the macro, over `people` (made by
    /// [`versioned_people`]) and this rig's postbox.
    pub fn read_modify_write(&self, people: &TableSchema) -> ReadModifyWrite {
        ReadModifyWrite {
            postbox: self.handler.postbox.clone(),
            people: people.clone(),
        }
    }

    /// A sweeper over this rig's postbox, sending anything outstanding at once (minimum age
    /// zero), named `owner`, with leases of `lease`.
    pub fn sweeper(&self, owner: &str, lease: Duration, min_age: Duration) -> Sweeper {
        Sweeper::new(
            &self.handler.postbox,
            SweeperConfig::default()
                .with_min_age(min_age)
                .with_lease_duration(lease)
                .with_owner(owner),
        )
    }

    /// Deletes both tables (through an unmetered client).
    pub async fn drop_tables(self, db: &DynamoDb) {
        for table in [&self.handler.people.name, &self.config().table_name] {
            let _ = db.client().delete_table().table_name(table).send().await;
        }
    }
}
