//! Sweeper shard leases: conditional writes with an owner, an expiry and a version, so that
//! several sweepers split the shards of the outstanding index instead of sending the same
//! messages twice.
//!
//! Leases live in the outbox table itself, as items keyed `__outbox_lease#<index>#<shard>`,
//! beside the membership item `__outbox_sweepers#<index>`. None of these items carries `Shard`
//! or `OutstandingSince`, so the outstanding index never sees them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::FutureExt as _;

use crate::error::{Error, Result};
use crate::message::Item;
use crate::table::attributes as attr;
use crate::table::batch_read::read_consistently;
use crate::table::handle::TableHandle;
use crate::table::handle::condition_failed;
use crate::table::layout::number;
use crate::table::lease::{Membership, fair_share, start_offset};
use crate::time::{from_millis, to_millis};
/// Sweeper lease items: the owner holding the shard (S).
const LEASE_OWNER: &str = "LeaseOwner";
/// Sweeper lease items: when the lease lapses, epoch milliseconds (N).
const LEASE_EXPIRES_AT: &str = "LeaseExpiresAt";
/// Sweeper lease items: bumped on every acquisition and renewal (N).
const LEASE_VERSION: &str = "LeaseVersion";

/// A lease this sweeper holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    version: u64,
    expires_at: SystemTime,
}

/// A lease as read from the table.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Observed {
    owner: String,
    expires_at: SystemTime,
    version: u64,
}

/// The shards one sweeper holds, and the writes that take, keep and give them back.
#[derive(Debug)]
pub(crate) struct SweeperLeases {
    table: TableHandle,
    owner: String,
    duration: Duration,
    membership: Membership,
    held: BTreeMap<u16, Held>,
}

impl SweeperLeases {
    pub(crate) fn new(table: TableHandle, owner: String, duration: Duration) -> Self {
        let membership = Membership::new(
            table.db.clone(),
            table.config.table_name.clone(),
            (
                attr::MESSAGE_ID,
                format!(
                    "{}_sweepers#{}",
                    attr::RESERVED_ID_PREFIX,
                    table.config.index_name
                ),
            ),
            owner.clone(),
            duration,
        );
        Self {
            table,
            owner,
            duration,
            membership,
            held: BTreeMap::new(),
        }
    }

    /// The shards held now, renewed or not.
    pub(crate) fn shards(&self) -> Vec<u16> {
        let now = SystemTime::now();
        self.held
            .iter()
            .filter(|(_, held)| held.expires_at > now)
            .map(|(shard, _)| *shard)
            .collect()
    }

    fn lease_id(&self, shard: u16) -> String {
        format!(
            "{}_lease#{}#{shard}",
            attr::RESERVED_ID_PREFIX,
            self.table.config.index_name
        )
    }

    /// Renews membership, reads every lease, renews those held that are past half their time,
    /// gives back any above this sweeper's fair share, and takes free or lapsed shards up to
    /// it. The fair share is the shard count divided by the sweepers alive.
    /// Shards in `busy` (a pass of this sweeper is sending them, its marks not yet written)
    /// are not given back now: another sweeper taking one would send again what was sent and
    /// not yet marked. They go at a later rebalance, once their pass is over.
    pub(crate) async fn rebalance(&mut self, busy: &std::collections::BTreeSet<u16>) -> Result<()> {
        let alive = self.membership.heartbeat().await?;
        let observed = self.read_all().await?;
        let now = SystemTime::now();
        let shard_count = self.table.config.shard_count;

        // Forget what another sweeper has taken from us (our lease lapsed).
        let lost: Vec<u16> = self
            .held
            .keys()
            .copied()
            .filter(|shard| observed.get(shard).is_some_and(|o| o.owner != self.owner))
            .collect();
        for shard in lost {
            self.held.remove(&shard);
            tracing::warn!(shard, owner = %self.owner, "sweeper lease lost");
            metrics::counter!("outbox_lease_lost_total").increment(1);
        }

        // Lease holders count too, in case one renews its leases but missed its heartbeat.
        let mut holders: HashSet<&str> = observed
            .values()
            .filter(|o| o.expires_at > now)
            .map(|o| o.owner.as_str())
            .collect();
        holders.insert(&self.owner);
        let fair_share = fair_share(usize::from(shard_count), alive, holders.len());

        // Give back what is above the fair share (highest shards first), renew what we keep
        // that is past half its time, each set of requests at once.
        let excess = self.held.len().saturating_sub(fair_share);
        let above: Vec<u16> = self
            .held
            .keys()
            .rev()
            .filter(|shard| !busy.contains(shard))
            .take(excess)
            .copied()
            .collect();
        self.release_each(&above).await?;
        let keep: Vec<u16> = self.held.keys().copied().collect();
        let renewals: Vec<(u16, Option<u64>)> = keep
            .into_iter()
            .filter(|shard| {
                let held = self.held[shard];
                held.expires_at.duration_since(now).unwrap_or_default() < self.duration / 2
            })
            .map(|shard| (shard, Some(self.held[&shard].version)))
            .collect();
        self.write_each(&renewals).await?;

        // Take free or lapsed shards up to the fair share, from this owner's starting point;
        // those wanted go at once, and as many more as were lost to other sweepers next.
        let start = start_offset(&self.owner, usize::from(shard_count));
        let mut free = (0..usize::from(shard_count))
            .map(|offset| {
                u16::try_from((start + offset) % usize::from(shard_count))
                    .expect("below the shard count")
            })
            .filter(|shard| !self.held.contains_key(shard))
            .filter(|shard| match observed.get(shard) {
                None => true,
                Some(lease) => lease.expires_at <= now || lease.owner == self.owner,
            })
            .map(|shard| (shard, observed.get(&shard).map(|lease| lease.version)))
            .collect::<Vec<_>>()
            .into_iter();
        while self.held.len() < fair_share {
            let wanted: Vec<(u16, Option<u64>)> =
                free.by_ref().take(fair_share - self.held.len()).collect();
            if wanted.is_empty() {
                break;
            }
            for shard in self.write_each(&wanted).await? {
                tracing::info!(shard, owner = %self.owner, "sweeper lease acquired");
                metrics::counter!("outbox_lease_acquired_total").increment(1);
            }
        }
        Ok(())
    }

    /// Gives back every lease and leaves the membership (a graceful stop), so the others take
    /// the shards at once.
    pub(crate) async fn release_all(&mut self) -> Result<()> {
        let shards: Vec<u16> = self.held.keys().copied().collect();
        self.release_each(&shards).await?;
        self.membership.leave().await
    }

    async fn read_all(&self) -> Result<HashMap<u16, Observed>> {
        let keys: Vec<Item> = (0..self.table.config.shard_count)
            .map(|shard| {
                Item::from([(
                    attr::MESSAGE_ID.to_owned(),
                    AttributeValue::S(self.lease_id(shard)),
                )])
            })
            .collect();
        let items = read_consistently(
            &self.table.db,
            &self.table.config.table_name,
            &keys,
            describe_lease,
        )
        .await?;
        Ok(items.iter().filter_map(|item| self.parse(item)).collect())
    }

    fn parse(&self, item: &Item) -> Option<(u16, Observed)> {
        let id = item.get(attr::MESSAGE_ID)?.as_s().ok()?;
        let shard = id.rsplit('#').next()?.parse().ok()?;
        let owner = item.get(LEASE_OWNER)?.as_s().ok()?.clone();
        let expires = item.get(LEASE_EXPIRES_AT)?.as_n().ok()?.parse().ok()?;
        let version = item.get(LEASE_VERSION)?.as_n().ok()?.parse().ok()?;
        Some((
            shard,
            Observed {
                owner,
                expires_at: from_millis(expires),
                version,
            },
        ))
    }

    /// Writes our lease on each shard whose version is still the one given (absent when
    /// `None`), all at once; returns the shards newly taken (not those renewed). A shard lost
    /// to another sweeper since it was read is not an error: it is forgotten.
    async fn write_each(&mut self, shards: &[(u16, Option<u64>)]) -> Result<Vec<u16>> {
        let writes = shards
            .iter()
            .map(|(shard, expected)| self.write(*shard, *expected));
        let results = futures_util::future::join_all(writes).await;
        let mut taken = Vec::new();
        let mut first_error = None;
        for ((shard, _), result) in shards.iter().zip(results) {
            match result {
                Ok(Some(held)) => {
                    if self.held.insert(*shard, held).is_none() {
                        taken.push(*shard);
                    }
                }
                Ok(None) => {
                    // Someone else wrote the lease since we read it.
                    if self.held.remove(shard).is_some() {
                        tracing::warn!(shard, owner = %self.owner, "sweeper lease lost");
                        metrics::counter!("outbox_lease_lost_total").increment(1);
                    }
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        first_error.map_or(Ok(taken), Err)
    }

    /// Writes our lease on `shard` if its version is still `expected` (absent when `None`).
    /// Returns the lease when we hold it now, `None` when another sweeper got there first.
    async fn write(&self, shard: u16, expected_version: Option<u64>) -> Result<Option<Held>> {
        let version = expected_version.map_or(1, |v| v + 1);
        let expires_at = SystemTime::now() + self.duration;
        let table = &self.table.config.table_name;
        let request = self
            .table
            .db
            .client()
            .put_item()
            .table_name(table)
            .item(attr::MESSAGE_ID, AttributeValue::S(self.lease_id(shard)))
            .item(LEASE_OWNER, AttributeValue::S(self.owner.clone()))
            .item(LEASE_EXPIRES_AT, number(to_millis(expires_at)))
            .item(LEASE_VERSION, number(version))
            .set_return_consumed_capacity(self.table.db.consumed_capacity());
        let request = match expected_version {
            None => request
                .condition_expression("attribute_not_exists(#id)")
                .expression_attribute_names("#id", attr::MESSAGE_ID),
            Some(expected) => request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", LEASE_VERSION)
                .expression_attribute_values(":expected", number(expected)),
        };
        match request.send().boxed().await {
            Ok(_) => Ok(Some(Held {
                version,
                expires_at,
            })),
            Err(err) if condition_failed(&err) => Ok(None),
            Err(err) => Err(Error::from_sdk(
                "PutItem",
                self.table.db.endpoint(),
                table,
                err,
            )),
        }
    }

    /// Gives shards back, all at once.
    async fn release_each(&mut self, shards: &[u16]) -> Result<()> {
        let leases: Vec<(u16, Held)> = shards
            .iter()
            .filter_map(|shard| Some((*shard, self.held.remove(shard)?)))
            .collect();
        let releases = leases
            .iter()
            .map(|(shard, held)| self.release(*shard, *held));
        futures_util::future::join_all(releases)
            .await
            .into_iter()
            .collect()
    }

    /// Gives a shard back by expiring our lease now (only if it is still ours).
    async fn release(&self, shard: u16, held: Held) -> Result<()> {
        let table = &self.table.config.table_name;
        let result = self
            .table
            .db
            .client()
            .update_item()
            .table_name(table)
            .key(attr::MESSAGE_ID, AttributeValue::S(self.lease_id(shard)))
            .update_expression("SET #expires = :zero, #version = :next")
            .condition_expression("#version = :held")
            .expression_attribute_names("#expires", LEASE_EXPIRES_AT)
            .expression_attribute_names("#version", LEASE_VERSION)
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":held", number(held.version))
            .expression_attribute_values(":next", number(held.version + 1))
            .set_return_consumed_capacity(self.table.db.consumed_capacity())
            .send()
            .boxed()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(Error::from_sdk(
                "UpdateItem",
                self.table.db.endpoint(),
                table,
                err,
            )),
        }
    }
}

/// A lease key as an error names it: the lease item's id.
fn describe_lease(key: &Item) -> String {
    key.get(attr::MESSAGE_ID)
        .and_then(|id| id.as_s().ok())
        .cloned()
        .unwrap_or_default()
}
