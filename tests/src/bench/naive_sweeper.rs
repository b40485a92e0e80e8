//! A naive sequential sweeper of the same design as the runtime's, written by hand against
//! aws-sdk-dynamodb: the drain's in-run baseline. It reads what the sweeper reads and marks
//! what it marks, with the same requests, but awaits each one in turn: shard after shard, page
//! after page (`Query` of the outstanding index, then a consistent `BatchGetItem` of the
//! page), round after round within a page (one message per partition key, sent in one batch),
//! and after each round its marks, 25 to a request, one request after another. It takes no
//! leases: it is alone on its outbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use outbox_runtime::table::attributes as attr;
use outbox_runtime::transport::Producer;
use outbox_runtime::{DynamoDb, Message, OutboxConfig, StoredMessage, SweeperConfig};

use super::hand_written::{BoxError, mark_chunk};

/// Ids per mark request (DynamoDB's limit).
const MARK_BATCH: usize = 25;

/// The naive sequential sweeper.
pub struct NaiveSweeper<P> {
    db: DynamoDb,
    outbox: OutboxConfig,
    producer: Arc<P>,
    batch_size: usize,
}

impl<P> std::fmt::Debug for NaiveSweeper<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NaiveSweeper")
            .field("outbox", &self.outbox.table_name)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl<P: Producer> NaiveSweeper<P> {
    /// A sweeper of `outbox` through `db`, sending with `producer`, reading pages as large as
    /// the runtime's sweeper does by default.
    pub fn new(db: DynamoDb, outbox: OutboxConfig, producer: Arc<P>) -> Self {
        Self {
            db,
            outbox,
            producer,
            batch_size: SweeperConfig::default().batch_size,
        }
    }

    /// One pass over every shard, one after another, sending everything outstanding (no
    /// minimum age); returns how many messages it sent.
    ///
    /// # Errors
    /// The SDK's error, an item that is not a message, a refused mark.
    pub async fn sweep_once(&self) -> Result<usize, BoxError> {
        let cutoff_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis());
        let mut sent = 0;
        for shard in 0..self.outbox.shard_count {
            let mut start = None;
            loop {
                let output = self
                    .db
                    .client()
                    .query()
                    .table_name(&self.outbox.table_name)
                    .index_name(&self.outbox.index_name)
                    .key_condition_expression("#shard = :shard AND #since <= :cutoff")
                    .expression_attribute_names("#shard", attr::SHARD)
                    .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
                    .expression_attribute_values(":shard", AttributeValue::N(shard.to_string()))
                    .expression_attribute_values(
                        ":cutoff",
                        AttributeValue::N(cutoff_ms.to_string()),
                    )
                    .limit(i32::try_from(self.batch_size).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start)
                    .set_return_consumed_capacity(self.db.consumed_capacity())
                    .send()
                    .await?;
                let ids: Vec<String> = output
                    .items()
                    .iter()
                    .filter_map(|item| match item.get(attr::MESSAGE_ID) {
                        Some(AttributeValue::S(id)) => Some(id.clone()),
                        _ => None,
                    })
                    .collect();
                if ids.is_empty() {
                    break;
                }
                let page = self.read(&ids).await?;
                sent += self.send_in_rounds(page).await?;
                start = output.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(sent)
    }

    /// The outstanding messages among `ids`, read consistently, in the order of `ids`.
    async fn read(&self, ids: &[String]) -> Result<Vec<Message>, BoxError> {
        let table = &self.outbox.table_name;
        let mut found: HashMap<String, StoredMessage> = HashMap::new();
        let mut keys: Vec<_> = ids
            .iter()
            .map(|id| HashMap::from([(attr::MESSAGE_ID.to_owned(), AttributeValue::S(id.clone()))]))
            .collect();
        for _ in 0..10 {
            if keys.is_empty() {
                break;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()?;
            let output = self
                .db
                .client()
                .batch_get_item()
                .request_items(table, request)
                .set_return_consumed_capacity(self.db.consumed_capacity())
                .send()
                .await?;
            for item in output
                .responses()
                .and_then(|tables| tables.get(table))
                .into_iter()
                .flatten()
            {
                let stored = StoredMessage::from_item(table, item)?;
                found.insert(stored.message.header.id.to_string(), stored);
            }
            keys = output
                .unprocessed_keys()
                .and_then(|tables| tables.get(table))
                .map(|rest| rest.keys().to_vec())
                .unwrap_or_default();
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(id))
            .filter(StoredMessage::is_outstanding)
            .map(|stored| stored.message)
            .collect())
    }

    /// Sends a page in rounds of at most one message per partition key (the earliest unsent),
    /// each round's marks awaited before the next round; a failed send holds back the rest of
    /// its key. Returns how many were sent.
    async fn send_in_rounds(&self, page: Vec<Message>) -> Result<usize, BoxError> {
        let mut queues: Vec<Vec<Message>> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for message in page {
            match message.header.partition_key.clone() {
                Some(key) => {
                    let slot = *by_key.entry(key).or_insert_with(|| {
                        queues.push(Vec::new());
                        queues.len() - 1
                    });
                    queues[slot].push(message);
                }
                None => queues.push(vec![message]),
            }
        }
        // Latest first, so that `pop` takes each key's earliest.
        for queue in &mut queues {
            queue.reverse();
        }
        let mut sent = 0;
        loop {
            let round: Vec<Message> = queues.iter_mut().filter_map(Vec::pop).collect();
            if round.is_empty() {
                return Ok(sent);
            }
            let results = self.producer.send_batch(&round).await;
            let mut ids = Vec::with_capacity(round.len());
            for (message, result) in round.iter().zip(results) {
                match result {
                    Ok(()) => ids.push(message.header.id.to_string()),
                    Err(_) => {
                        // Its key waits for the next pass.
                        if let Some(key) = &message.header.partition_key
                            && let Some(slot) = by_key.get(key)
                        {
                            queues[*slot].clear();
                        }
                    }
                }
            }
            for chunk in ids.chunks(MARK_BATCH) {
                mark_chunk(&self.db, &self.outbox, chunk).await?;
            }
            sent += ids.len();
        }
    }
}
