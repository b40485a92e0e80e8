//! One shard's poll: a shard iterator (after the checkpoint, or at the starting position), one
//! `GetRecords`, the batch handed to the dispatcher, and the checkpoint written after it.

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use futures_util::FutureExt as _;

use super::{StartingPosition, StreamRelay};
use crate::error::Result;
use crate::stream::batch::{BatchOutcome, Record, relay_batch};
use crate::stream::records;
use crate::table::lease::stream::{Checkpointed, Held};

/// What one shard's poll did.
pub(super) struct Polled {
    pub(super) shard: String,
    /// Where the next poll reads from (`None`: from the checkpoint).
    pub(super) iterator: Option<String>,
    pub(super) outcome: BatchOutcome,
    /// The checkpoint written (sequence, finished), and its renewal.
    pub(super) checkpoint: Option<(Option<String>, bool, SystemTime)>,
    pub(super) lease_lost: bool,
    pub(super) finished: bool,
    pub(super) age: Option<Duration>,
    pub(super) full: bool,
}

impl StreamRelay {
    /// A shard iterator for `shard`: after its checkpoint, or at the starting position.
    pub(super) async fn iterator(
        &self,
        shard: &str,
        checkpoint: Option<&str>,
    ) -> Result<Option<String>> {
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
    pub(super) async fn poll(
        &self,
        shard: &str,
        lease: &Held,
        iterator: Option<String>,
    ) -> Result<Polled> {
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
