//! Who holds a shard's lease, read from the outbox table: the shards the killed child held, and
//! who took them over.

use std::time::SystemTime;

use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::table::attributes as attr;
use outbox_runtime::{DynamoDb, Outbox};

/// The lease items' attributes, as the runtime writes them (their layout is internal to it; the
/// harness reads them only to check who held what).
const LEASE_OWNER: &str = "LeaseOwner";
const LEASE_EXPIRES_AT: &str = "LeaseExpiresAt";

use super::records::unix_nanos;

fn lease_item_id(outbox: &Outbox, shard: u16) -> String {
    format!(
        "{}_lease#{}#{shard}",
        attr::RESERVED_ID_PREFIX,
        outbox.config().index_name
    )
}

/// The owner of a shard's lease, if it is held (not expired).
pub(super) async fn lease_owner(db: &DynamoDb, outbox: &Outbox, shard: u16) -> Option<String> {
    let item = db
        .client()
        .get_item()
        .table_name(&outbox.config().table_name)
        .key(
            attr::MESSAGE_ID,
            AttributeValue::S(lease_item_id(outbox, shard)),
        )
        .consistent_read(true)
        .send()
        .await
        .ok()?
        .item?;
    let expires: u128 = item.get(LEASE_EXPIRES_AT)?.as_n().ok()?.parse().ok()?;
    let now_ms = unix_nanos(SystemTime::now()) / 1_000_000;
    let owner = item.get(LEASE_OWNER)?.as_s().ok()?.clone();
    (expires > now_ms).then_some(owner)
}

/// The shards whose lease `owner` holds now.
pub(super) async fn leases_of(db: &DynamoDb, outbox: &Outbox, owner: &str) -> Vec<u16> {
    let mut shards = Vec::new();
    for shard in 0..outbox.config().shard_count {
        if lease_owner(db, outbox, shard).await.as_deref() == Some(owner) {
            shards.push(shard);
        }
    }
    shards
}
