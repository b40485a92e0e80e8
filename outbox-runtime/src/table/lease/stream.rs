//! Stream shard leases with a fencing token, in the relay's own state table (never the outbox
//! table: the relay's writes must not feed the stream it reads).
//!
//! One item per stream shard, keyed `shard|<stream ARN>|<shard id>`: `Owner` (S), `ExpiresAt`
//! (N, epoch milliseconds), `Token` (N), `Checkpoint` (S, the sequence number of the last record
//! handled), `Finished` (BOOL, the shard was read to its end: its children may start). Taking a
//! lease moves the token on by one, conditional on the token read; renewing, checkpointing and
//! giving a lease back are conditional on owner and token. So a relay whose lease was taken
//! over (it paused, its renewals failed) can never checkpoint again: its next checkpoint is
//! refused, and what it sent since its last checkpoint is sent again by the new owner (a
//! duplicate it counts). The membership item is `members|<stream ARN>`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use futures_util::FutureExt as _;

use crate::client::DynamoDb;
use crate::error::{Error, Result};
use crate::message::Item;
use crate::table::batch_read::read_consistently;
use crate::table::handle::condition_failed;
use crate::table::layout::number;
use crate::table::lease::{Membership, fair_share, start_offset};
use crate::time::to_millis;

/// The state table's hash key (S).
pub(crate) const LEASE_KEY: &str = "LeaseKey";
const OWNER: &str = "Owner";
const EXPIRES_AT: &str = "ExpiresAt";
const TOKEN: &str = "Token";
const CHECKPOINT: &str = "Checkpoint";
const FINISHED: &str = "Finished";

/// A lease this relay holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    /// The fencing token: every write of the holder is conditional on it.
    pub(crate) token: u64,
    pub(crate) expires_at: SystemTime,
    /// Where reading resumes: after this sequence number (none: from the stream's start).
    pub(crate) checkpoint: Option<String>,
}

/// A lease as read from the state table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Observed {
    owner: Option<String>,
    expires_at: u64,
    token: u64,
    finished: bool,
}

/// What a checkpoint found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Checkpointed {
    /// Written: the lease is still ours.
    Written,
    /// Refused: another relay holds the shard now (its token moved on).
    LeaseLost,
}

/// The shards one relay holds and the writes that take, keep, checkpoint and give them back.
#[derive(Debug)]
pub(crate) struct StreamLeases {
    db: DynamoDb,
    table: String,
    stream_arn: String,
    owner: String,
    duration: Duration,
    membership: Membership,
    held: BTreeMap<String, Held>,
}

impl StreamLeases {
    pub(crate) fn new(db: DynamoDb, table: String, owner: String, duration: Duration) -> Self {
        let membership = Membership::new(
            db.clone(),
            table.clone(),
            (LEASE_KEY, members_key("")),
            owner.clone(),
            duration,
        );
        Self {
            db,
            table,
            stream_arn: String::new(),
            owner,
            duration,
            membership,
            held: BTreeMap::new(),
        }
    }

    /// Follows another stream (the table's stream was enabled again): nothing of the old one is
    /// held any more.
    pub(crate) fn set_stream(&mut self, stream_arn: &str) {
        if self.stream_arn != stream_arn {
            self.held.clear();
            stream_arn.clone_into(&mut self.stream_arn);
            self.membership.set_key(members_key(stream_arn));
        }
    }

    /// The shards held now (not lapsed by our clock), with their leases.
    pub(crate) fn held(&self) -> Vec<(String, Held)> {
        let now = SystemTime::now();
        self.held
            .iter()
            .filter(|(_, held)| held.expires_at > now)
            .map(|(shard, held)| (shard.clone(), held.clone()))
            .collect()
    }

    /// Forgets a shard whose lease was found lost.
    pub(crate) fn forget(&mut self, shard: &str) {
        if self.held.remove(shard).is_some() {
            tracing::warn!(shard, owner = %self.owner, "stream shard lease lost");
            metrics::counter!("outbox_stream_lease_lost_total").increment(1);
        }
    }

    /// Forgets a shard read to its end (its lease says `Finished`; nobody reads it again).
    pub(crate) fn forget_finished(&mut self, shard: &str) {
        self.held.remove(shard);
    }

    /// Notes a checkpoint written (reading resumes after it) and the renewal it carried.
    pub(crate) fn checkpointed(&mut self, shard: &str, sequence: &str, expires_at: SystemTime) {
        if let Some(held) = self.held.get_mut(shard) {
            held.checkpoint = Some(sequence.to_owned());
            held.expires_at = expires_at;
        }
    }

    fn key(&self, shard: &str) -> String {
        format!("shard|{}|{shard}", self.stream_arn)
    }

    fn sdk<E>(
        &self,
        operation: &'static str,
        err: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> Error
    where
        aws_sdk_dynamodb::Error: From<
            aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
        >,
    {
        Error::from_sdk(operation, self.db.endpoint(), &self.table, err)
    }

    /// Reads the leases of `shards`, consistently.
    async fn read(&self, shards: &[&str]) -> Result<HashMap<String, Observed>> {
        let keys: Vec<Item> = shards
            .iter()
            .map(|shard| Item::from([(LEASE_KEY.to_owned(), AttributeValue::S(self.key(shard)))]))
            .collect();
        let items = read_consistently(&self.db, &self.table, &keys, |key| {
            key.get(LEASE_KEY)
                .and_then(|id| id.as_s().ok())
                .cloned()
                .unwrap_or_default()
        })
        .await?;
        Ok(items.iter().filter_map(parse).collect())
    }

    /// Renews membership, reads the leases of the stream's `shards`, forgets what others took,
    /// gives back what is above this relay's fair share of the readable shards (`readable`
    /// picks them, parents before children, from the shards finished), renews what it keeps
    /// past half its time, and takes free or lapsed readable shards up to its share. Returns the
    /// shards finished (read to their end).
    pub(crate) async fn rebalance<'a>(
        &mut self,
        shards: &[&str],
        readable: impl FnOnce(&HashSet<String>) -> Vec<&'a str>,
    ) -> Result<HashSet<String>> {
        let alive = self.membership.heartbeat().await?;
        let observed = self.read(shards).await?;
        let now = SystemTime::now();
        let now_ms = to_millis(now);
        let finished: HashSet<String> = observed
            .iter()
            .filter(|(_, lease)| lease.finished)
            .map(|(shard, _)| shard.clone())
            .collect();
        let ready: Vec<&str> = readable(&finished);

        let lost: Vec<String> = self
            .held
            .iter()
            .filter(|(shard, held)| {
                observed.get(*shard).is_none_or(|lease| {
                    lease.owner.as_deref() != Some(self.owner.as_str()) || lease.token != held.token
                }) || finished.contains(*shard)
            })
            .map(|(shard, _)| shard.clone())
            .collect();
        for shard in lost {
            if finished.contains(&shard) {
                self.held.remove(&shard);
            } else {
                self.forget(&shard);
            }
        }

        let mut holders: HashSet<&str> = observed
            .values()
            .filter(|lease| lease.expires_at > now_ms && !lease.finished)
            .filter_map(|lease| lease.owner.as_deref())
            .collect();
        holders.insert(&self.owner);
        let share = fair_share(ready.len(), alive, holders.len());

        let mut keep: Vec<String> = self.held.keys().cloned().collect();
        let above = keep.split_off(share.min(keep.len()));
        for shard in &above {
            self.release(shard).await?;
        }
        for shard in keep {
            let due = self.held[&shard]
                .expires_at
                .duration_since(now)
                .unwrap_or_default()
                < self.duration / 2;
            if due {
                self.renew(&shard).await?;
            }
        }

        // Free or lapsed readable shards, from this owner's starting point.
        let mut candidates: Vec<&str> = ready
            .iter()
            .copied()
            .filter(|shard| !self.held.contains_key(*shard))
            .filter(|shard| {
                observed
                    .get(*shard)
                    .is_none_or(|lease| lease.expires_at <= now_ms || lease.owner.is_none())
            })
            .collect();
        let start = start_offset(&self.owner, candidates.len());
        candidates.rotate_left(start);
        for shard in candidates {
            if self.held.len() >= share {
                break;
            }
            let seen = observed.get(shard).map(|lease| lease.token);
            if let Some(held) = self.acquire(shard, seen).await? {
                tracing::info!(shard, owner = %self.owner, token = held.token, "stream shard lease acquired");
                metrics::counter!("outbox_stream_lease_acquired_total").increment(1);
                self.held.insert(shard.to_owned(), held);
            }
        }
        Ok(finished)
    }

    /// Takes `shard`'s lease if its token is still `seen` (absent when `None`), moving the
    /// token on; `None` when another relay got there first.
    async fn acquire(&self, shard: &str, seen: Option<u64>) -> Result<Option<Held>> {
        let token = seen.map_or(1, |token| token + 1);
        let expires_at = SystemTime::now() + self.duration;
        let request = self
            .db
            .client()
            .update_item()
            .table_name(&self.table)
            .key(LEASE_KEY, AttributeValue::S(self.key(shard)))
            .update_expression("SET #owner = :me, #expires = :expires, #token = :token")
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_names("#token", TOKEN)
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .expression_attribute_values(":expires", number(to_millis(expires_at)))
            .expression_attribute_values(":token", number(token))
            .return_values(ReturnValue::AllNew)
            .set_return_consumed_capacity(self.db.consumed_capacity());
        let request = match seen {
            None => request
                .condition_expression("attribute_not_exists(#key)")
                .expression_attribute_names("#key", LEASE_KEY),
            Some(seen) => request
                .condition_expression("#token = :seen")
                .expression_attribute_values(":seen", number(seen)),
        };
        match request.send().boxed().await {
            Ok(output) => Ok(Some(Held {
                token,
                expires_at,
                checkpoint: output
                    .attributes()
                    .and_then(|item| item.get(CHECKPOINT))
                    .and_then(|seq| seq.as_s().ok())
                    .cloned(),
            })),
            Err(err) if condition_failed(&err) => Ok(None),
            Err(err) => Err(self.sdk("UpdateItem", err)),
        }
    }

    /// Extends a lease held, conditional on owner and token; forgets it when refused.
    async fn renew(&mut self, shard: &str) -> Result<()> {
        let Some(held) = self.held.get(shard).cloned() else {
            return Ok(());
        };
        let expires_at = SystemTime::now() + self.duration;
        match self
            .fenced(
                shard,
                held.token,
                "SET #expires = :expires",
                expires_at,
                None,
            )
            .await?
        {
            Checkpointed::Written => {
                if let Some(held) = self.held.get_mut(shard) {
                    held.expires_at = expires_at;
                }
            }
            Checkpointed::LeaseLost => self.forget(shard),
        }
        Ok(())
    }

    /// Records that reading `shard` got past `sequence` (and, with `finished`, that the shard
    /// was read to its end), renewing the lease: conditional on owner and token, so a relay
    /// whose lease was taken over is refused. Returns the new expiry with the outcome.
    pub(crate) async fn checkpoint(
        &self,
        shard: &str,
        token: u64,
        sequence: Option<&str>,
        finished: bool,
    ) -> Result<(Checkpointed, SystemTime)> {
        let expires_at = SystemTime::now() + self.duration;
        let update = match (sequence, finished) {
            (Some(_), false) => "SET #expires = :expires, #checkpoint = :sequence",
            (Some(_), true) => {
                "SET #expires = :expires, #checkpoint = :sequence, #finished = :true"
            }
            (None, true) => "SET #expires = :expires, #finished = :true",
            (None, false) => "SET #expires = :expires",
        };
        let outcome = self
            .fenced(shard, token, update, expires_at, Some((sequence, finished)))
            .await?;
        Ok((outcome, expires_at))
    }

    /// An update of our lease on `shard`, conditional on owner and `token`.
    async fn fenced(
        &self,
        shard: &str,
        token: u64,
        update: &str,
        expires_at: SystemTime,
        checkpoint: Option<(Option<&str>, bool)>,
    ) -> Result<Checkpointed> {
        let mut request = self
            .db
            .client()
            .update_item()
            .table_name(&self.table)
            .key(LEASE_KEY, AttributeValue::S(self.key(shard)))
            .update_expression(update)
            .condition_expression("#owner = :me AND #token = :token")
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#token", TOKEN)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .expression_attribute_values(":token", number(token))
            .expression_attribute_values(":expires", number(to_millis(expires_at)))
            .set_return_consumed_capacity(self.db.consumed_capacity());
        if let Some((sequence, finished)) = checkpoint {
            if let Some(sequence) = sequence {
                request = request
                    .expression_attribute_names("#checkpoint", CHECKPOINT)
                    .expression_attribute_values(
                        ":sequence",
                        AttributeValue::S(sequence.to_owned()),
                    );
            }
            if finished {
                request = request
                    .expression_attribute_names("#finished", FINISHED)
                    .expression_attribute_values(":true", AttributeValue::Bool(true));
            }
        }
        match request.send().boxed().await {
            Ok(_) => Ok(Checkpointed::Written),
            Err(err) if condition_failed(&err) => Ok(Checkpointed::LeaseLost),
            Err(err) => Err(self.sdk("UpdateItem", err)),
        }
    }

    /// Gives a shard back by expiring our lease now (only while it is still ours); the next
    /// owner moves the token on.
    async fn release(&mut self, shard: &str) -> Result<()> {
        let Some(held) = self.held.remove(shard) else {
            return Ok(());
        };
        self.fenced(
            shard,
            held.token,
            "SET #expires = :expires",
            SystemTime::UNIX_EPOCH,
            None,
        )
        .await
        .map(|_| ())
    }

    /// Gives back every lease and leaves the membership (a graceful stop).
    pub(crate) async fn release_all(&mut self) -> Result<()> {
        if self.stream_arn.is_empty() {
            return Ok(());
        }
        let shards: Vec<String> = self.held.keys().cloned().collect();
        let mut first_error = None;
        for shard in shards {
            if let Err(err) = self.release(&shard).await {
                first_error.get_or_insert(err);
            }
        }
        if let Err(err) = self.membership.leave().await {
            first_error.get_or_insert(err);
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn members_key(stream_arn: &str) -> String {
    format!("members|{stream_arn}")
}

fn parse(item: &Item) -> Option<(String, Observed)> {
    let key = item.get(LEASE_KEY)?.as_s().ok()?;
    let shard = key.rsplit('|').next()?.to_owned();
    let number = |name: &str| {
        item.get(name)
            .and_then(|value| value.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some((
        shard,
        Observed {
            owner: item.get(OWNER).and_then(|o| o.as_s().ok()).cloned(),
            expires_at: number(EXPIRES_AT).unwrap_or(0),
            token: number(TOKEN).unwrap_or(0),
            finished: item
                .get(FINISHED)
                .and_then(|f| f.as_bool().ok())
                .copied()
                .unwrap_or(false),
        },
    ))
}
