//! Consistent reads of many items of one table: `BatchGetItem`, 100 keys a request, and the
//! keys DynamoDB leaves unprocessed (throttling, a response over 16 MB) asked again with
//! backoff, a bounded number of times. Every reader of several items (the unit of work, the
//! sweeper, the leases) goes through here.

use std::time::Duration;

use aws_sdk_dynamodb::types::KeysAndAttributes;
use futures_util::FutureExt as _;

use crate::backoff::Backoff;
use crate::client::DynamoDb;
use crate::error::{Error, Result};
use crate::message::Item;
use crate::table::handle::UNPROCESSED_RETRIES;

/// Keys per `BatchGetItem` request (DynamoDB's limit).
const BATCH_GET_LIMIT: usize = 100;

/// Reads the items at `keys` of `table` consistently; returns those that exist, in no
/// particular order. A key given twice is read once.
///
/// # Errors
/// The request's error; [`Error::Throttled`] naming the keys (by `describe`) still unprocessed
/// after the retries.
pub(crate) async fn read_consistently(
    db: &DynamoDb,
    table: &str,
    keys: &[Item],
    describe: impl Fn(&Item) -> String,
) -> Result<Vec<Item>> {
    let mut unique: Vec<&Item> = Vec::with_capacity(keys.len());
    for key in keys {
        if !unique.contains(&key) {
            unique.push(key);
        }
    }
    let mut found = Vec::with_capacity(unique.len());
    for chunk in unique.chunks(BATCH_GET_LIMIT) {
        let mut pending: Vec<Item> = chunk.iter().map(|key| (*key).clone()).collect();
        let mut backoff = Backoff::new(Duration::from_millis(25), Duration::from_secs(2));
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .expect("the keys are set");
            let output = db
                .client()
                .batch_get_item()
                .request_items(table, request)
                .set_return_consumed_capacity(db.consumed_capacity())
                .send()
                .boxed()
                .await
                .map_err(|err| Error::from_sdk("BatchGetItem", db.endpoint(), table, err))?;
            found.extend(
                output
                    .responses()
                    .and_then(|tables| tables.get(table))
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            pending = output
                .unprocessed_keys()
                .and_then(|tables| tables.get(table))
                .map(|rest| rest.keys().to_vec())
                .unwrap_or_default();
            if !pending.is_empty() {
                if backoff.attempts() >= UNPROCESSED_RETRIES {
                    return Err(Error::Throttled {
                        operation: "BatchGetItem",
                        table: table.to_owned(),
                        unprocessed: pending.iter().map(&describe).collect(),
                        retries: UNPROCESSED_RETRIES,
                    });
                }
                backoff.wait().await;
            }
        }
    }
    Ok(found)
}
