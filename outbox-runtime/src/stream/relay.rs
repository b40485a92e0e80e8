//! [`StreamRelay`]: the self-hosted stream relay. It reads the outbox table's stream through
//! the `dynamodbstreams` API, leases the stream's shards among relay processes (fenced leases
//! in a state table of its own, see `leases`), reads a child shard only after its parent
//! (`shards`), and hands each batch of records to the one dispatcher (`batch`).

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodbstreams::types::{ShardIteratorType, StreamStatus, StreamViewType};
use futures_util::FutureExt as _;
use futures_util::StreamExt;
use tracing::Instrument;

use crate::client::DynamoDb;
use crate::dispatch::dispatcher::Dispatcher;
use crate::dispatch::postbox::Postbox;
use crate::error::{Error, Result};
use crate::message::MessageId;
use crate::stream::KeyedMessages;
use crate::stream::batch::{BatchOutcome, Record, relay_batch};
use crate::stream::client::DynamoDbStreams;
use crate::stream::leases::{Checkpointed, Held, LEASE_KEY, ShardLeases};
use crate::stream::records;
use crate::stream::shards::{ShardInfo, waiting_behind};
use crate::table::config::OutboxConfig;
use crate::table::schema::{EnsureOutcome, KeyAttribute, KeyKind, TableSchema};

/// Where a relay starts reading a shard that has no checkpoint yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartingPosition {
    /// The oldest record the stream keeps (up to 24 hours back): nothing written since the
    /// stream was enabled is missed (the default).
    #[default]
    TrimHorizon,
    /// Only records written from now on: for a relay added to an outbox whose older messages
    /// the sweeper already sent.
    Latest,
}

/// How a stream relay works. The defaults: leases of 30 s, a poll of each shard held every
/// 250 ms (four `GetRecords` a second, under DynamoDB's five per shard), up to 1,000 records a
/// poll, shards listed again every minute and whenever one closes.
///
/// ```
/// use std::time::Duration;
/// use outbox_runtime::stream::StreamRelayConfig;
///
/// let config = StreamRelayConfig::default()
///     .with_poll_interval(Duration::from_millis(500))
///     .with_owner("orders-relay-1");
/// assert_eq!(config.lease_duration, Duration::from_secs(30));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamRelayConfig {
    /// The relay's state table (leases and checkpoints); `None`: `<outbox table>-relay`.
    pub state_table: Option<String>,
    /// How long a shard lease lasts without renewal; a dead relay's shards are taken over
    /// after this.
    pub lease_duration: Duration,
    /// Pause between polls of a shard that had nothing new (the latency of a quiet stream).
    pub poll_interval: Duration,
    /// Records read per `GetRecords` (1 to 1,000).
    pub batch_size: i32,
    /// How often the stream's shards are listed (`DescribeStream`), besides when one closes.
    pub shard_refresh: Duration,
    /// Shards polled at the same time.
    pub shard_concurrency: usize,
    /// Where a shard without a checkpoint is read from.
    pub starting_position: StartingPosition,
    /// Whether keyed messages are sent by the relay or left to the sweeper for strict order.
    pub keyed: KeyedMessages,
    /// This relay's name in the lease items, unique per process; `None`: `host-pid-random`.
    pub owner: Option<String>,
}

impl Default for StreamRelayConfig {
    fn default() -> Self {
        Self {
            state_table: None,
            lease_duration: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
            batch_size: 1000,
            shard_refresh: Duration::from_secs(60),
            shard_concurrency: 8,
            starting_position: StartingPosition::TrimHorizon,
            keyed: KeyedMessages::Send,
            owner: None,
        }
    }
}

impl StreamRelayConfig {
    /// Names the state table.
    pub fn with_state_table(mut self, table: impl Into<String>) -> Self {
        self.state_table = Some(table.into());
        self
    }

    /// Sets how long a lease lasts without renewal.
    pub fn with_lease_duration(mut self, lease_duration: Duration) -> Self {
        self.lease_duration = lease_duration;
        self
    }

    /// Sets the pause between polls of a quiet shard.
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Sets the records read per `GetRecords` (1 to 1,000).
    pub fn with_batch_size(mut self, batch_size: i32) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets how often the shards are listed.
    pub fn with_shard_refresh(mut self, shard_refresh: Duration) -> Self {
        self.shard_refresh = shard_refresh;
        self
    }

    /// Sets how many shards are polled at the same time (at least 1).
    pub fn with_shard_concurrency(mut self, shard_concurrency: usize) -> Self {
        self.shard_concurrency = shard_concurrency;
        self
    }

    /// Sets where a shard without a checkpoint is read from.
    pub fn with_starting_position(mut self, starting_position: StartingPosition) -> Self {
        self.starting_position = starting_position;
        self
    }

    /// Sets whether keyed messages are sent by the relay or left to the sweeper.
    pub fn with_keyed(mut self, keyed: KeyedMessages) -> Self {
        self.keyed = keyed;
        self
    }

    /// Sets this relay's name in the lease items; it must be unique per process.
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// The state table's name for an outbox: the one set, or `<outbox table>-relay`.
    pub fn state_table_name(&self, outbox: &OutboxConfig) -> String {
        self.state_table
            .clone()
            .unwrap_or_else(|| format!("{}-relay", outbox.table_name))
    }

    /// The state table's definition: hash key `LeaseKey` (S), on demand, no stream (the relay's
    /// writes never feed a stream it reads).
    ///
    /// ```
    /// use outbox_runtime::OutboxConfig;
    /// use outbox_runtime::stream::StreamRelayConfig;
    ///
    /// let schema = StreamRelayConfig::default().state_table_schema(&OutboxConfig::default());
    /// assert_eq!(schema.name, "Outbox-relay");
    /// assert!(schema.stream.is_none());
    /// ```
    pub fn state_table_schema(&self, outbox: &OutboxConfig) -> TableSchema {
        TableSchema::new(
            self.state_table_name(outbox),
            KeyAttribute::new(LEASE_KEY, KeyKind::String),
        )
    }

    /// Checks the settings against the outbox before anything is sent.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the setting.
    pub fn validate(&self, outbox: &OutboxConfig) -> Result<()> {
        if !outbox.stream.is_enabled() {
            return Err(Error::InvalidConfig(format!(
                "the outbox `{}` has no stream mode; set `OutboxConfig::with_stream` (and run \
                 `Outbox::ensure_table`) before starting a stream relay",
                outbox.table_name
            )));
        }
        if !(1..=1000).contains(&self.batch_size) {
            return Err(Error::InvalidConfig(format!(
                "a stream relay's batch size of {} is out of range; use 1 to 1000 (GetRecords' \
                 limit)",
                self.batch_size
            )));
        }
        if self.keyed == KeyedMessages::LeaveToSweeper && !outbox.stream.marks_deposits() {
            return Err(Error::InvalidConfig(
                "`KeyedMessages::LeaveToSweeper` needs `StreamMode::WithSweeper`: in stream-only \
                 mode keyed messages carry no marker for the sweeper to find"
                    .to_owned(),
            ));
        }
        if self.lease_duration < Duration::from_millis(100) {
            return Err(Error::InvalidConfig(format!(
                "a lease of {} ms is too short to be renewed; use at least 100 ms (30 s suits \
                 most relays)",
                self.lease_duration.as_millis()
            )));
        }
        Ok(())
    }
}

/// What one relay pass did (a poll of every shard held).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayReport {
    /// The shards this relay held when the pass ended.
    pub shards: Vec<String>,
    /// Shards of the stream waiting for their parent to be read to its end.
    pub shards_waiting: usize,
    /// Records read.
    pub records: usize,
    /// Records that were not new messages (marks, failures, leases, deletes).
    pub filtered: usize,
    /// Messages sent.
    pub sent: Vec<MessageId>,
    /// Sends the transport refused, recorded as failed attempts (the sweeper retries them).
    pub failed: usize,
    /// Messages dead-lettered.
    pub dead_lettered: usize,
    /// Messages left to the sweeper unsent.
    pub held_back: Vec<MessageId>,
    /// Sent, but their mark failed: the sweeper sends them again.
    pub sent_unmarked: Vec<MessageId>,
    /// Sent while the shard's lease was being lost: the checkpoint after the send was refused,
    /// so the relay that took the shard over sends these again (counted duplicates).
    pub sent_after_lease_lost: Vec<MessageId>,
    /// How far behind the newest record read is (`None` when nothing was read and nothing is
    /// held); zero when every shard held was read to its tip.
    pub iterator_age: Option<Duration>,
    /// True when a shard gave a full batch: more records are waiting (`run` reads on without
    /// pausing).
    pub more_waiting: bool,
}

/// What one shard's poll did.
struct Polled {
    shard: String,
    /// Where the next poll reads from (`None`: from the checkpoint).
    iterator: Option<String>,
    outcome: BatchOutcome,
    /// The checkpoint written (sequence, finished), and its renewal.
    checkpoint: Option<(Option<String>, bool, SystemTime)>,
    lease_lost: bool,
    finished: bool,
    age: Option<Duration>,
    full: bool,
}

/// The stream being read and its shards.
#[derive(Debug)]
struct Stream {
    arn: String,
    shards: Vec<ShardInfo>,
    listed_at: tokio::time::Instant,
}

/// Reads the outbox table's DynamoDB Stream and sends each newly written message through the
/// postbox's dispatcher. Run one or several per outbox (processes or tasks): they split the
/// stream's shards between them through fenced leases in the relay's state table.
///
/// ```no_run
/// # async fn run(postbox: outbox_runtime::Postbox) -> outbox_runtime::Result<()> {
/// use outbox_runtime::stream::{DynamoDbStreams, StreamRelay, StreamRelayConfig};
///
/// let streams = DynamoDbStreams::from_env().await;
/// let relay = StreamRelay::new(&postbox, streams, StreamRelayConfig::default())?;
/// relay.ensure_state_table().await?;
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let task = tokio::spawn(relay.run(async {
///     let _ = stopped.await;
/// }));
/// // ... on shutdown:
/// let _ = stop.send(());
/// task.await.expect("relay task")?;
/// # Ok(()) }
/// ```
pub struct StreamRelay {
    dispatcher: Dispatcher,
    streams: DynamoDbStreams,
    db: DynamoDb,
    config: StreamRelayConfig,
    state: TableSchema,
    owner: String,
    leases: ShardLeases,
    stream: Option<Stream>,
    iterators: HashMap<String, String>,
    next_rebalance: Option<tokio::time::Instant>,
    shards_waiting: usize,
}

impl std::fmt::Debug for StreamRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRelay")
            .field("config", &self.config)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl StreamRelay {
    /// A relay over the postbox's outbox and producer (failed sends are retried by the
    /// postbox's [`RetryPolicy`](crate::RetryPolicy)), reading the stream with `streams`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]: the outbox has no stream mode, or a setting is out of range.
    pub fn new(
        postbox: &Postbox,
        streams: DynamoDbStreams,
        config: StreamRelayConfig,
    ) -> Result<Self> {
        let outbox = postbox.outbox().config();
        config.validate(outbox)?;
        let owner = config.owner.clone().unwrap_or_else(default_owner);
        let state = config.state_table_schema(outbox);
        let db = postbox.outbox().db().clone();
        let leases = ShardLeases::new(
            db.clone(),
            state.name.clone(),
            owner.clone(),
            config.lease_duration,
        );
        Ok(Self {
            dispatcher: postbox.dispatcher().clone(),
            streams,
            db,
            config,
            state,
            owner,
            leases,
            stream: None,
            iterators: HashMap::new(),
            next_rebalance: None,
            shards_waiting: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &StreamRelayConfig {
        &self.config
    }

    /// This relay's name in the lease items.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The state table's definition (see [`StreamRelayConfig::state_table_schema`]).
    pub fn state_table_schema(&self) -> &TableSchema {
        &self.state
    }

    /// Creates the state table if it does not exist (see
    /// [`TableSchema::ensure`](crate::TableSchema::ensure)).
    ///
    /// # Errors
    /// As `TableSchema::ensure`.
    pub async fn ensure_state_table(&self) -> Result<EnsureOutcome> {
        self.state.ensure(&self.db).await
    }

    fn table(&self) -> &str {
        self.dispatcher.table().table()
    }

    /// Relays until `stop` completes, then gives back its leases so other relays take its
    /// shards at once. Errors of a pass are logged and the next pass goes on; only a failure to
    /// give back the leases is returned.
    ///
    /// # Errors
    /// The error of releasing the leases at the end (they then lapse on their own).
    pub async fn run(mut self, stop: impl Future<Output = ()> + Send) -> Result<()> {
        let mut stop = std::pin::pin!(stop);
        tracing::info!(owner = %self.owner, table = %self.table(), "stream relay started");
        loop {
            let pause = match self.relay_once().await {
                Ok(report) => {
                    if !report.sent.is_empty() || report.failed > 0 {
                        tracing::debug!(
                            sent = report.sent.len(),
                            failed = report.failed,
                            filtered = report.filtered,
                            "stream relay pass"
                        );
                    }
                    // A full batch: more is waiting, read on at once.
                    if report.more_waiting {
                        Duration::ZERO
                    } else {
                        self.config.poll_interval
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "stream relay pass failed; trying again");
                    self.config.poll_interval.max(Duration::from_millis(500))
                }
            };
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!(owner = %self.owner, "stream relay stopping; releasing leases");
        self.release().await
    }

    /// Gives back every lease now (what `run` does when stopped).
    ///
    /// # Errors
    /// The request's error.
    pub async fn release(&mut self) -> Result<()> {
        self.next_rebalance = None;
        self.iterators.clear();
        self.leases.release_all().await
    }

    /// One pass: find the stream and its shards when due, keep the leases fair, then read each
    /// shard held once (up to `batch_size` records), relay what it holds and checkpoint.
    ///
    /// # Errors
    /// [`Error::StreamNotEnabled`] when the table has no stream to read; the first error of
    /// the pass otherwise, once every shard was polled (what the others sent is sent and
    /// checkpointed).
    pub async fn relay_once(&mut self) -> Result<RelayReport> {
        self.refresh_stream(false).await?;
        let now = tokio::time::Instant::now();
        if self.next_rebalance.is_none_or(|at| at <= now) {
            self.rebalance().await?;
            self.next_rebalance = Some(now + self.config.lease_duration / 4);
        }
        let held = self.leases.held();
        self.iterators
            .retain(|shard, _| held.iter().any(|(h, _)| h == shard));
        let polls: Vec<_> = held
            .iter()
            .map(|(shard, lease)| {
                let iterator = self.iterators.get(shard).cloned();
                let span = tracing::debug_span!("outbox.stream_shard", shard = %shard);
                self.poll(shard, lease, iterator).instrument(span)
            })
            .collect();
        let results: Vec<Result<Polled>> = futures_util::stream::iter(polls)
            .buffer_unordered(self.config.shard_concurrency.max(1))
            .collect()
            .await;
        let mut report = RelayReport::default();
        let mut first_error = None;
        let mut any_finished = false;
        let mut ages = Vec::new();
        for result in results {
            let polled = match result {
                Ok(polled) => polled,
                Err(err) => {
                    first_error.get_or_insert(err);
                    continue;
                }
            };
            report.records += polled.outcome.records;
            report.filtered += polled.outcome.filtered;
            report.failed += polled.outcome.failed;
            report.dead_lettered += polled.outcome.dead_lettered;
            report
                .held_back
                .extend(polled.outcome.held_back.iter().cloned());
            report
                .sent_unmarked
                .extend(polled.outcome.sent_unmarked.iter().cloned());
            ages.extend(polled.age);
            if polled.lease_lost {
                metrics::counter!("outbox_stream_sent_after_lease_lost_total")
                    .increment(polled.outcome.sent.len() as u64);
                tracing::warn!(shard = %polled.shard, sent = polled.outcome.sent.len(), "the shard's lease was lost while sending: the relay that took it over sends these again");
                report
                    .sent_after_lease_lost
                    .extend(polled.outcome.sent.iter().cloned());
                self.leases.forget(&polled.shard);
                self.iterators.remove(&polled.shard);
            } else {
                if let Some((Some(sequence), _, expires)) = &polled.checkpoint {
                    self.leases.checkpointed(&polled.shard, sequence, *expires);
                }
                match polled.iterator {
                    Some(iterator) => {
                        self.iterators.insert(polled.shard.clone(), iterator);
                    }
                    None => {
                        self.iterators.remove(&polled.shard);
                    }
                }
            }
            if polled.finished {
                any_finished = true;
                self.leases.forget_finished(&polled.shard);
            }
            report.sent.extend(polled.outcome.sent);
            report.more_waiting |= polled.full;
            if let Some(err) = polled.outcome.error {
                first_error.get_or_insert(err);
            }
        }
        if any_finished {
            // Its children can be read now: list them and take them at once.
            self.refresh_stream(true).await?;
            self.next_rebalance = None;
        }
        report.shards = self
            .leases
            .held()
            .into_iter()
            .map(|(shard, _)| shard)
            .collect();
        report.shards_waiting = self.shards_waiting;
        report.iterator_age = ages.into_iter().max();
        metrics::counter!("outbox_stream_records_total").increment(report.records as u64);
        if let Some(age) = report.iterator_age {
            metrics::gauge!("outbox_stream_iterator_age_seconds", "owner" => self.owner.clone())
                .set(age.as_secs_f64());
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(report),
        }
    }

    /// Lists the table's newest stream and its shards, when due (or `now`).
    async fn refresh_stream(&mut self, now: bool) -> Result<()> {
        let due = self
            .stream
            .as_ref()
            .is_none_or(|stream| now || stream.listed_at.elapsed() >= self.config.shard_refresh);
        if !due {
            return Ok(());
        }
        let arn = self.newest_stream().await?;
        let shards = self.describe(&arn).await?;
        self.leases.set_stream(&arn);
        if self.stream.as_ref().is_some_and(|stream| stream.arn != arn) {
            tracing::warn!(table = %self.table(), stream = %arn, "the table has a new stream (it was enabled again); reading it from its start");
            self.iterators.clear();
            self.next_rebalance = None;
        }
        self.stream = Some(Stream {
            arn,
            shards,
            listed_at: tokio::time::Instant::now(),
        });
        Ok(())
    }

    async fn newest_stream(&self) -> Result<String> {
        let table = self.table().to_owned();
        let mut newest: Option<(String, String)> = None;
        let mut start: Option<String> = None;
        loop {
            let output = self
                .streams
                .client()
                .list_streams()
                .table_name(&table)
                .set_exclusive_start_stream_arn(start.take())
                .send()
                .boxed()
                .await
                .map_err(|err| self.streams.error("ListStreams", &table, err))?;
            for stream in output.streams() {
                if let (Some(label), Some(arn)) = (stream.stream_label(), stream.stream_arn())
                    && newest
                        .as_ref()
                        .is_none_or(|(best, _)| label > best.as_str())
                {
                    newest = Some((label.to_owned(), arn.to_owned()));
                }
            }
            match output.last_evaluated_stream_arn() {
                Some(next) => start = Some(next.to_owned()),
                None => break,
            }
        }
        newest
            .map(|(_, arn)| arn)
            .ok_or_else(|| Error::StreamNotEnabled {
                table,
                problem: "ListStreams finds no stream of the table".to_owned(),
            })
    }

    async fn describe(&self, arn: &str) -> Result<Vec<ShardInfo>> {
        let table = self.table().to_owned();
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let output = self
                .streams
                .client()
                .describe_stream()
                .stream_arn(arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .boxed()
                .await
                .map_err(|err| self.streams.error("DescribeStream", &table, err))?;
            let Some(description) = output.stream_description() else {
                break;
            };
            if !matches!(
                description.stream_status(),
                Some(StreamStatus::Enabled | StreamStatus::Enabling)
            ) {
                return Err(Error::StreamNotEnabled {
                    table,
                    problem: format!(
                        "its newest stream is {}",
                        description
                            .stream_status()
                            .map_or("of unknown status", |status| status.as_str())
                    ),
                });
            }
            if !matches!(
                description.stream_view_type(),
                Some(StreamViewType::NewImage | StreamViewType::NewAndOldImages)
            ) {
                return Err(Error::StreamNotEnabled {
                    table,
                    problem: format!(
                        "its stream carries {}, not the new images the relay reads",
                        description
                            .stream_view_type()
                            .map_or("no view type", |view| view.as_str())
                    ),
                });
            }
            shards.extend(description.shards().iter().filter_map(|shard| {
                Some(ShardInfo {
                    id: shard.shard_id()?.to_owned(),
                    parent: shard.parent_shard_id().map(str::to_owned),
                })
            }));
            match description.last_evaluated_shard_id() {
                Some(next) => start = Some(next.to_owned()),
                None => break,
            }
        }
        Ok(shards)
    }

    async fn rebalance(&mut self) -> Result<()> {
        let Some(stream) = &self.stream else {
            return Ok(());
        };
        let (finished, _) = self.leases.rebalance(&stream.shards).await?;
        self.shards_waiting = waiting_behind(&stream.shards, &finished);
        Ok(())
    }

    /// A shard iterator for `shard`: after its checkpoint, or at the starting position.
    async fn iterator(&self, shard: &str, checkpoint: Option<&str>) -> Result<Option<String>> {
        let Some(stream) = &self.stream else {
            return Ok(None);
        };
        let request = self
            .streams
            .client()
            .get_shard_iterator()
            .stream_arn(&stream.arn)
            .shard_id(shard);
        let request = match checkpoint {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            None => request.shard_iterator_type(match self.config.starting_position {
                StartingPosition::TrimHorizon => ShardIteratorType::TrimHorizon,
                StartingPosition::Latest => ShardIteratorType::Latest,
            }),
        };
        match request.send().boxed().await {
            Ok(output) => Ok(output.shard_iterator().map(str::to_owned)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_trimmed_data_access_exception()) =>
            {
                tracing::error!(
                    shard,
                    checkpoint,
                    "the stream no longer keeps the records after this shard's checkpoint (more than 24 hours behind): reading on from the oldest record kept; messages in between were never relayed (the sweeper sends them only in WithSweeper)"
                );
                metrics::counter!("outbox_stream_trimmed_total").increment(1);
                let output = self
                    .streams
                    .client()
                    .get_shard_iterator()
                    .stream_arn(&stream.arn)
                    .shard_id(shard)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .boxed()
                    .await
                    .map_err(|err| self.streams.error("GetShardIterator", self.table(), err))?;
                Ok(output.shard_iterator().map(str::to_owned))
            }
            Err(err) => Err(self.streams.error("GetShardIterator", self.table(), err)),
        }
    }

    /// Reads `shard` once, relays what it holds, checkpoints.
    async fn poll(&self, shard: &str, lease: &Held, iterator: Option<String>) -> Result<Polled> {
        let mut iterator = match iterator {
            Some(iterator) => Some(iterator),
            None => self.iterator(shard, lease.checkpoint.as_deref()).await?,
        };
        let mut polled = Polled {
            shard: shard.to_owned(),
            iterator: None,
            outcome: BatchOutcome::default(),
            checkpoint: None,
            lease_lost: false,
            finished: false,
            age: None,
            full: false,
        };
        let output: Option<(Vec<Record>, Option<String>, usize)> = loop {
            let Some(current) = iterator.take() else {
                // No iterator at all: a closed shard read to its end.
                polled.finished = true;
                break None;
            };
            match self
                .streams
                .client()
                .get_records()
                .shard_iterator(current)
                .limit(self.config.batch_size)
                .send()
                .boxed()
                .await
            {
                Ok(output) => {
                    let read: Vec<Record> = output
                        .records()
                        .iter()
                        .filter_map(records::record)
                        .collect();
                    let count = output.records().len();
                    break Some((read, output.next_shard_iterator().map(str::to_owned), count));
                }
                // DynamoDB Local's `{}` for an empty map: read the answer ourselves.
                Err(aws_sdk_dynamodbstreams::error::SdkError::ServiceError(service))
                    if service.raw().status().is_success()
                        && service.err().meta().code().is_none() =>
                {
                    let Some((read, next)) = service
                        .raw()
                        .body()
                        .bytes()
                        .and_then(records::from_raw_json)
                    else {
                        return Err(self.streams.error(
                            "GetRecords",
                            self.table(),
                            aws_sdk_dynamodbstreams::error::SdkError::ServiceError(service),
                        ));
                    };
                    let count = read.len();
                    break Some((read, next, count));
                }
                // Iterators live 15 minutes: take a new one after the checkpoint.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_expired_iterator_exception()) =>
                {
                    iterator = self.iterator(shard, lease.checkpoint.as_deref()).await?;
                    if iterator.is_none() {
                        polled.finished = true;
                        break None;
                    }
                }
                Err(err) => return Err(self.streams.error("GetRecords", self.table(), err)),
            }
        };
        let got = output.is_some();
        let (read, next) = match output {
            Some((read, next, count)) => {
                polled.full = count >= usize::try_from(self.config.batch_size).unwrap_or(1000);
                (read, next)
            }
            None => (Vec::new(), None),
        };
        // A batch can outlast the lease (a slow transport, many failures to record): renew it
        // while the batch runs, so that another relay does not take the shard over meanwhile.
        let mut lost_meanwhile = false;
        if !read.is_empty() {
            let mut batch = Box::pin(relay_batch(&self.dispatcher, &read, self.config.keyed));
            polled.outcome = loop {
                tokio::select! {
                    outcome = &mut batch => break outcome,
                    () = tokio::time::sleep(self.config.lease_duration / 3) => {
                        if let Ok((Checkpointed::LeaseLost, _)) =
                            self.leases.checkpoint(shard, lease.token, None, false).await
                        {
                            lost_meanwhile = true;
                        }
                    }
                }
            };
        }
        if lost_meanwhile {
            polled.lease_lost = true;
            return Ok(polled);
        }
        let safe = polled.outcome.first_unsafe.unwrap_or(read.len());
        let sequence = safe
            .checked_sub(1)
            .map(|last| read[last].sequence_number.clone());
        let finished =
            polled.finished || (got && next.is_none() && polled.outcome.first_unsafe.is_none());
        if sequence.is_some() || finished {
            let (outcome, expires) = self
                .leases
                .checkpoint(shard, lease.token, sequence.as_deref(), finished)
                .await?;
            match outcome {
                Checkpointed::Written => {
                    polled.checkpoint = Some((sequence, finished, expires));
                    polled.finished = finished;
                }
                Checkpointed::LeaseLost => {
                    polled.lease_lost = true;
                    polled.finished = false;
                    return Ok(polled);
                }
            }
        }
        // A record not handed over durably is read again, from the checkpoint before it.
        polled.iterator = if polled.outcome.first_unsafe.is_some() {
            None
        } else {
            next
        };
        polled.age = if read.is_empty() {
            Some(Duration::ZERO)
        } else {
            polled
                .outcome
                .newest
                .map(|at| SystemTime::now().duration_since(at).unwrap_or_default())
        };
        Ok(polled)
    }
}

/// `host-pid-random`: unique per process, readable in the state table.
fn default_owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}
