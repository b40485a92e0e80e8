//! Consumer mode: the arguments the parent passes a consumer child ([`ConsumerChildArgs`]), and
//! the child itself ([`consumer_child`]): `SqsConsumer::run` until SIGTERM, with a handler that
//! applies one effect per message and the inbox record in one transaction, records every
//! outcome in its file, and exits with [`DIED_AFTER_OK`] right after its `n`-th `Ok`, before the
//! consumer deletes the message.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::consumer::{Inbox, SqsConsumer};
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::transport::{InMemoryProducer, sqs};
use outbox_runtime::{
    DynamoDb, Expr, Message, Outbox, OutboxConfig, OutboxMessage, Postbox, Transaction,
    capture_reports, transactional_handler,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::watch::SqsWatcher;
use crate::chaos::processes::records::unix_nanos;

/// The exit code of a child that dies right after a handler returned `Ok`, before the delete.
pub const DIED_AFTER_OK: i32 = 86;

/// The attribute of an effect item counting how often its message was applied.
pub(super) const APPLIED: &str = "Applied";
/// The attribute naming the process that first applied it.
pub(super) const APPLIED_BY: &str = "AppliedBy";
/// The effect items' hash key: the message id.
pub(super) const EFFECT_KEY: &str = "Id";

/// The message the queue is filled with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "chaos.consumed")]
pub struct Consumed {
    /// The outbox id, known to the harness in advance.
    #[outbox(id)]
    pub id: String,
    /// The partition key.
    #[outbox(partition_key)]
    pub key: String,
    /// Its place in the fill.
    pub n: u64,
}

/// The file beside a child's outcome record where its SQS calls are recorded.
pub(super) fn sqs_record(record: &Path) -> PathBuf {
    record.with_extension("sqs.log")
}

/// The effects table: one item per message, `Id` (S), `Applied` (N, added to per handling).
pub(super) fn effects_schema(name: &str) -> TableSchema {
    TableSchema::new(name, KeyAttribute::new(EFFECT_KEY, KeyKind::String))
}

/// The arguments of a consumer child, as the parent passes them.
#[derive(Clone, Debug)]
pub struct ConsumerChildArgs {
    /// DynamoDB's endpoint.
    pub dynamodb_endpoint: String,
    /// SQS's endpoint (moto).
    pub sqs_endpoint: String,
    /// The queue consumed.
    pub queue_url: String,
    /// The outbox table the handler's postbox commits through (nothing is deposited).
    pub outbox_table: String,
    /// The effects table.
    pub effects_table: String,
    /// The inbox table.
    pub inbox_table: String,
    /// The consumer's name in the inbox (the same for every child).
    pub consumer: String,
    /// This process's name (`consumer-<slot>.<generation>`), written into the effects it applies.
    pub name: String,
    /// The file each outcome is appended to.
    pub record: PathBuf,
    /// Exit with [`DIED_AFTER_OK`] right after this many `Ok`s (0: never).
    pub die_after: usize,
    /// Messages in flight.
    pub concurrency: usize,
}

impl ConsumerChildArgs {
    /// The flag that selects consumer mode; it comes first.
    pub const FLAG: &'static str = "--consumer-child";

    pub(super) fn to_args(&self) -> Vec<String> {
        vec![
            Self::FLAG.to_owned(),
            self.dynamodb_endpoint.clone(),
            self.sqs_endpoint.clone(),
            self.queue_url.clone(),
            self.outbox_table.clone(),
            self.effects_table.clone(),
            self.inbox_table.clone(),
            self.consumer.clone(),
            self.name.clone(),
            self.record.display().to_string(),
            self.die_after.to_string(),
            self.concurrency.to_string(),
        ]
    }

    /// Parses what follows [`Self::FLAG`].
    ///
    /// # Errors
    /// A line saying what is missing or malformed.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let [
            dynamodb_endpoint,
            sqs_endpoint,
            queue_url,
            outbox_table,
            effects_table,
            inbox_table,
            consumer,
            name,
            record,
            die_after,
            concurrency,
        ] = args
        else {
            return Err(format!(
                "{} takes <dynamodb endpoint> <sqs endpoint> <queue url> <outbox table> \
                 <effects table> <inbox table> <consumer> <name> <record file> <die after> \
                 <concurrency>",
                Self::FLAG
            ));
        };
        Ok(Self {
            dynamodb_endpoint: dynamodb_endpoint.clone(),
            sqs_endpoint: sqs_endpoint.clone(),
            queue_url: queue_url.clone(),
            outbox_table: outbox_table.clone(),
            effects_table: effects_table.clone(),
            inbox_table: inbox_table.clone(),
            consumer: consumer.clone(),
            name: name.clone(),
            record: PathBuf::from(record),
            die_after: die_after
                .parse()
                .map_err(|_| format!("die after: `{die_after}`"))?,
            concurrency: concurrency
                .parse()
                .map_err(|_| format!("concurrency: `{concurrency}`"))?,
        })
    }
}

/// The consumer's handler: the message's effect and its inbox record in one transaction.
struct Counter {
    postbox: Postbox,
    inbox: Inbox,
    effects: TableSchema,
    name: String,
}

impl Counter {
    #[transactional_handler(postbox = self.postbox, tx = tx, incoming = message, inbox = self.inbox)]
    async fn handle(
        &self,
        tx: &mut Transaction,
        message: &Message,
    ) -> Result<(), outbox_runtime::Error> {
        let consumed = Consumed::from_message(message)?;
        tx.update(
            &self.effects,
            message.id().as_str(),
            Expr::new("SET #by = if_not_exists(#by, :by), #key = :key ADD #applied :one")
                .name("#by", APPLIED_BY)
                .name("#key", "Key")
                .name("#applied", APPLIED)
                .value(":by", AttributeValue::S(self.name.clone()))
                .value(":key", AttributeValue::S(consumed.key))
                .value(":one", AttributeValue::N("1".into())),
            None,
        )?;
        Ok(())
    }
}

/// What the child's handler keeps: the counter, its record file, and its `Ok`s so far.
struct Recording {
    counter: Counter,
    file: Mutex<std::fs::File>,
    oks: AtomicUsize,
    die_after: usize,
}

impl Recording {
    /// Handles one message and appends `<unix nanos>\t<outcome>\t<id>\t<detail>` before it
    /// returns (so before any delete): `done`, `duplicate` or `failed`; after the `die_after`-th
    /// `Ok`, a `dying` line, and the process exits.
    async fn handle(&self, message: Message) -> Result<(), String> {
        // Boxed: `SqsConsumer::run` polls the handler's future on a tokio worker thread (2 MiB
        // of stack), and in a debug build the handler future wrapped in `capture_reports`
        // (40 KB) inline in the consumer's own futures overflows it.
        let (result, reports) = capture_reports(Box::pin(self.counter.handle(&message))).await;
        let (outcome, detail) = match &result {
            Ok(()) if reports.iter().any(|report| report.duplicate) => ("duplicate", String::new()),
            Ok(()) => ("done", String::new()),
            Err(err) => ("failed", err.to_string().replace(['\t', '\n'], " ")),
        };
        // An outcome that cannot be recorded is not acknowledged: the delivery comes back.
        self.record(outcome, message.id().as_str(), &detail)?;
        if result.is_ok() && self.oks.fetch_add(1, Ordering::SeqCst) + 1 == self.die_after {
            let _ = self.record("dying", message.id().as_str(), "");
            // Committed (or absorbed); the consumer would delete the message next.
            std::process::exit(DIED_AFTER_OK);
        }
        result.map_err(|err| err.to_string())
    }

    fn record(&self, outcome: &str, id: &str, detail: &str) -> Result<(), String> {
        let line = format!(
            "{}\t{outcome}\t{id}\t{detail}\n",
            unix_nanos(SystemTime::now())
        );
        let mut file = self.file.lock().expect("not poisoned");
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|err| format!("recording the outcome: {err}"))
    }
}

/// Consumer mode: `SqsConsumer::run` until SIGTERM (or until it dies after an `Ok`).
///
/// # Errors
/// A line saying what failed.
pub async fn consumer_child(args: ConsumerChildArgs) -> Result<(), String> {
    let db = DynamoDb::local(&args.dynamodb_endpoint);
    let outbox =
        Outbox::new(db, OutboxConfig::new(&args.outbox_table)).map_err(|err| err.to_string())?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.record)
        .map_err(|err| format!("{}: {err}", args.record.display()))?;
    let recording = Arc::new(Recording {
        counter: Counter {
            // The handler deposits nothing, so nothing is ever sent.
            postbox: Postbox::new(outbox, InMemoryProducer::new()),
            inbox: Inbox::new(&args.consumer).with_table_name(&args.inbox_table),
            effects: effects_schema(&args.effects_table),
            name: args.name.clone(),
        },
        file: Mutex::new(file),
        oks: AtomicUsize::new(0),
        die_after: args.die_after,
    });
    let handler = move |message: Message| {
        let recording = Arc::clone(&recording);
        async move { recording.handle(message).await }
    };
    let watcher = SqsWatcher::open(&sqs_record(&args.record))?;
    let client = aws_sdk_sqs::Client::from_conf(
        sqs::local_client(&args.sqs_endpoint)
            .config()
            .to_builder()
            .interceptor(watcher)
            .build(),
    );
    let consumer = SqsConsumer::new(client, &args.queue_url)
        .with_concurrency(args.concurrency)
        .with_wait_time(Duration::from_secs(1));
    let stop = CancellationToken::new();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|err| err.to_string())?;
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            terminate.recv().await;
            stop.cancel();
        });
    }
    consumer
        .run(handler, stop.cancelled_owned())
        .await
        .map(|_| ())
        .map_err(|err| format!("{}: {err}", args.name))
}
