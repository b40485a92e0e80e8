//! Leases: how several processes split units of work (the sweeper's shards of the outstanding
//! index, the stream relay's shards of the table's stream) so that each unit has one owner at a
//! time, and a dead owner's units are taken over once its leases lapse.
//!
//! Both kinds share what is here: a membership item in which every owner renews its own expiry
//! (so an owner that holds nothing yet is seen by the others, who give units back down to their
//! fair share), the fair share itself, where an owner starts looking for free units, and the
//! default owner name. Each kind keeps only what differs:
//!
//! - [`sweeper`]: leases in the outbox table itself, versioned, one per index shard;
//! - [`stream`]: leases in the relay's own state table, fenced by a token that every write of
//!   the holder is conditional on, carrying the shard's checkpoint.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use futures_util::FutureExt as _;

use crate::client::DynamoDb;
use crate::error::{Error, Result};
use crate::table::handle::condition_failed;
use crate::table::layout::number;
use crate::table::shard::fnv1a_32;
use crate::time::to_millis;

#[cfg(feature = "streams")]
pub(crate) mod stream;
pub(crate) mod sweeper;

/// The membership item's attribute: a map from owner to expiry (epoch milliseconds).
const MEMBERS: &str = "Members";

/// One owner's entry in a membership item: `Members.<owner>` = its expiry.
#[derive(Clone, Debug)]
pub(crate) struct Membership {
    db: DynamoDb,
    table: String,
    /// The table's hash key attribute, and the membership item's value of it.
    key: (&'static str, String),
    owner: String,
    duration: Duration,
}

impl Membership {
    pub(crate) fn new(
        db: DynamoDb,
        table: String,
        key: (&'static str, String),
        owner: String,
        duration: Duration,
    ) -> Self {
        Self {
            db,
            table,
            key,
            owner,
            duration,
        }
    }

    /// Moves to another membership item (the relay follows a new stream).
    #[cfg(feature = "streams")]
    pub(crate) fn set_key(&mut self, value: String) {
        self.key.1 = value;
    }

    fn key(&self) -> AttributeValue {
        AttributeValue::S(self.key.1.clone())
    }

    /// Renews this owner's expiry and returns the owners alive now (itself included). Owners
    /// seen expired are removed on the way.
    pub(crate) async fn heartbeat(&self) -> Result<usize> {
        let now = SystemTime::now();
        let expires = to_millis(now + self.duration);
        for _ in 0..2 {
            let result = self
                .db
                .client()
                .update_item()
                .table_name(&self.table)
                .key(self.key.0, self.key())
                .update_expression("SET #members.#me = :expires")
                .expression_attribute_names("#members", MEMBERS)
                .expression_attribute_names("#me", &self.owner)
                .expression_attribute_values(":expires", number(expires))
                .return_values(ReturnValue::AllNew)
                .set_return_consumed_capacity(self.db.consumed_capacity())
                .send()
                .boxed()
                .await;
            match result {
                Ok(output) => {
                    let now_ms = to_millis(now);
                    let members = output
                        .attributes()
                        .and_then(|item| item.get(MEMBERS))
                        .and_then(|members| members.as_m().ok())
                        .cloned()
                        .unwrap_or_default();
                    let (alive, dead): (Vec<_>, Vec<_>) =
                        members.into_iter().partition(|(_, at)| {
                            at.as_n()
                                .ok()
                                .and_then(|n| n.parse::<u64>().ok())
                                .is_some_and(|at| at > now_ms)
                        });
                    let dead: Vec<String> = dead.into_iter().map(|(owner, _)| owner).collect();
                    self.forget(&dead).await?;
                    return Ok(alive.len().max(1));
                }
                // The membership item does not exist yet: create it, then renew again.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.meta().code() == Some("ValidationException")) =>
                {
                    let created = self
                        .db
                        .client()
                        .put_item()
                        .table_name(&self.table)
                        .item(self.key.0, self.key())
                        .item(MEMBERS, AttributeValue::M(HashMap::new()))
                        .condition_expression("attribute_not_exists(#key)")
                        .expression_attribute_names("#key", self.key.0)
                        .set_return_consumed_capacity(self.db.consumed_capacity())
                        .send()
                        .boxed()
                        .await;
                    if let Err(err) = created
                        && !condition_failed(&err)
                    {
                        return Err(Error::from_sdk(
                            "PutItem",
                            self.db.endpoint(),
                            &self.table,
                            err,
                        ));
                    }
                }
                Err(err) => {
                    return Err(Error::from_sdk(
                        "UpdateItem",
                        self.db.endpoint(),
                        &self.table,
                        err,
                    ));
                }
            }
        }
        Ok(1)
    }

    /// Removes owners from the membership item (expired ones, or this one on a graceful stop).
    pub(crate) async fn forget(&self, owners: &[String]) -> Result<()> {
        if owners.is_empty() {
            return Ok(());
        }
        let mut request = self
            .db
            .client()
            .update_item()
            .table_name(&self.table)
            .key(self.key.0, self.key())
            .expression_attribute_names("#members", MEMBERS);
        let mut paths = Vec::new();
        for (n, owner) in owners.iter().enumerate() {
            request = request.expression_attribute_names(format!("#o{n}"), owner);
            paths.push(format!("#members.#o{n}"));
        }
        request
            .update_expression(format!("REMOVE {}", paths.join(", ")))
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .send()
            .boxed()
            .await
            .map(|_| ())
            .map_err(|err| Error::from_sdk("UpdateItem", self.db.endpoint(), &self.table, err))
    }

    /// Leaves the membership (a graceful stop): the others take the units at once.
    pub(crate) async fn leave(&self) -> Result<()> {
        self.forget(std::slice::from_ref(&self.owner)).await
    }
}

/// How many of `units` one owner may hold: split evenly among the owners alive by the
/// membership and those holding a live lease (in case one renews its leases but missed its
/// heartbeat), rounded up so that every unit has an owner.
pub(crate) fn fair_share(units: usize, alive: usize, holders: usize) -> usize {
    units.div_ceil(alive.max(holders).max(1))
}

/// Where `owner` starts looking among `units` free ones: a point that differs per owner, so
/// that owners starting together do not all race for the first.
pub(crate) fn start_offset(owner: &str, units: usize) -> usize {
    if units == 0 {
        return 0;
    }
    usize::try_from(fnv1a_32(owner.as_bytes())).unwrap_or(0) % units
}

/// `host-pid-random`: unique per process, readable in the lease items.
pub(crate) fn default_owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fair_share_rounds_up_and_counts_holders_missing_from_the_membership() {
        assert_eq!(fair_share(16, 1, 1), 16);
        assert_eq!(fair_share(16, 3, 1), 6);
        assert_eq!(fair_share(16, 2, 4), 4);
        assert_eq!(fair_share(3, 0, 0), 3);
        assert_eq!(fair_share(0, 2, 2), 0);
    }

    #[test]
    fn owners_start_at_different_points() {
        assert_eq!(start_offset("a", 0), 0);
        assert!(start_offset("sweeper-a", 16) < 16);
        let starts: std::collections::HashSet<usize> = (0..8)
            .map(|n| start_offset(&format!("owner-{n}"), 1024))
            .collect();
        assert!(starts.len() > 1);
    }

    #[test]
    fn default_owners_differ_per_call() {
        assert_ne!(default_owner(), default_owner());
    }
}
