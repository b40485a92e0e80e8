//! [`StreamRelay`]: the self-hosted stream relay. It reads the outbox table's stream through
//! the `dynamodbstreams` API, leases the stream's shards among relay processes (fenced leases
//! in a state table of its own, see `leases`), reads a child shard only after its parent
//! (`shards`), and hands each batch of records to the one dispatcher (`batch`). Its
//! configuration is in `config`, what a pass did in `report`.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{StreamStatus, StreamViewType};
use futures_util::FutureExt as _;
use futures_util::StreamExt;
use tracing::Instrument;

use crate::client::DynamoDb;
use crate::dispatch::dispatcher::Dispatcher;
use crate::dispatch::postbox::Postbox;
use crate::error::{Error, Result};
use crate::stream::client::DynamoDbStreams;
use crate::stream::shards::{ShardInfo, readable, waiting_behind};
use crate::table::lease::default_owner;
use crate::table::lease::stream::StreamLeases;
use crate::table::schema::{EnsureOutcome, TableSchema};

mod config;
mod poll;
mod report;

pub use config::{StartingPosition, StreamRelayConfig};
use poll::Polled;
pub use report::RelayReport;

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
    leases: StreamLeases,
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
        let leases = StreamLeases::new(
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
        let ids: Vec<&str> = stream
            .shards
            .iter()
            .map(|shard| shard.id.as_str())
            .collect();
        let finished = self
            .leases
            .rebalance(&ids, |finished| readable(&stream.shards, finished))
            .await?;
        self.shards_waiting = waiting_behind(&stream.shards, &finished);
        Ok(())
    }
}
