//! Single messages: storing one outside a transaction, reading one or many back consistently.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValuesOnConditionCheckFailure,
};
use futures_util::FutureExt as _;

use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::message::{Item, Message, MessageId};
use crate::table::attributes as attr;
use crate::table::deposit::deposit_item;
use crate::table::handle::{TableHandle, UNPROCESSED_RETRIES, key};
use crate::table::layout::{self, StoredMessage};

/// Items per `BatchGetItem` call (DynamoDB's limit).
const BATCH_GET_LIMIT: usize = 100;

/// What [`Outbox::store`](crate::Outbox::store) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    /// The message was stored.
    Added,
    /// The very same message (id, header and body) was already stored: nothing was written.
    AlreadyPresent,
}

impl TableHandle {
    /// Adds a message outside any transaction, with a conditional put: an id already present
    /// is never overwritten. Storing the very same message again is an idempotent no-op; another
    /// message under that id is [`Error::DuplicateMessage`].
    pub(crate) async fn store(&self, message: &Message) -> Result<StoreOutcome> {
        // Checked here as a deposit is, so the error names the limit and the message instead of
        // DynamoDB's bare "Item size has exceeded the maximum allowed size".
        let mut stored = message.clone();
        let item = deposit_item(&mut stored, &self.config, "store")?;
        let result = self
            .db
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", attr::MESSAGE_ID)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .send()
            .boxed()
            .await;
        match result {
            Ok(_) => Ok(StoreOutcome::Added),
            Err(err) => {
                if let Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(failed)) = err.as_service_error() {
                    let same = failed
                        .item()
                        .and_then(|existing| layout::from_item(self.table(), existing).ok())
                        .is_some_and(|existing| same_message(&existing.message, message));
                    return if same {
                        Ok(StoreOutcome::AlreadyPresent)
                    } else {
                        Err(Error::DuplicateMessage {
                            table: self.table().to_owned(),
                            message_id: message.header.id.clone(),
                        })
                    };
                }
                Err(self.sdk_error("PutItem", err))
            }
        }
    }

    /// Reads one message, consistently. `None` when there is no such id.
    pub(crate) async fn get(&self, id: &MessageId) -> Result<Option<StoredMessage>> {
        let output = self
            .db
            .client()
            .get_item()
            .table_name(self.table())
            .key(attr::MESSAGE_ID, AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .send()
            .boxed()
            .await
            .map_err(|err| self.sdk_error("GetItem", err))?;
        output
            .item()
            .map(|item| layout::from_item(self.table(), item))
            .transpose()
    }

    /// Reads many messages like [`Outbox::get_many`], but decodes each on its own: an item this
    /// library cannot read comes back as that id's error instead of failing the whole read, so
    /// one bad item cannot stop the messages around it.
    pub(crate) async fn read_many(
        &self,
        ids: &[MessageId],
    ) -> Result<Vec<(MessageId, Result<StoredMessage>)>> {
        let mut found: HashMap<String, Result<StoredMessage>> = HashMap::new();
        let mut unique: Vec<&MessageId> = Vec::new();
        for id in ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        for chunk in unique.chunks(BATCH_GET_LIMIT) {
            let mut keys: Vec<Item> = chunk.iter().map(|id| key(id)).collect();
            let mut backoff = Backoff::new(Duration::from_millis(25), Duration::from_secs(2));
            while !keys.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .expect("the keys are set");
                let output = self
                    .db
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), request)
                    .set_return_consumed_capacity(self.db.consumed_capacity())
                    .send()
                    .boxed()
                    .await
                    .map_err(|err| self.sdk_error("BatchGetItem", err))?;
                for item in output
                    .responses()
                    .and_then(|tables| tables.get(self.table()))
                    .into_iter()
                    .flatten()
                {
                    if let Some(AttributeValue::S(id)) = item.get(attr::MESSAGE_ID) {
                        found.insert(id.clone(), layout::from_item(self.table(), item));
                    }
                }
                keys = output
                    .unprocessed_keys()
                    .and_then(|tables| tables.get(self.table()))
                    .map(|rest| rest.keys().to_vec())
                    .unwrap_or_default();
                if !keys.is_empty() {
                    if backoff.attempts() >= UNPROCESSED_RETRIES {
                        return Err(Error::Throttled {
                            operation: "BatchGetItem",
                            table: self.table().to_owned(),
                            unprocessed: keys
                                .iter()
                                .filter_map(|key| key.get(attr::MESSAGE_ID)?.as_s().ok())
                                .cloned()
                                .collect(),
                            retries: UNPROCESSED_RETRIES,
                        });
                    }
                    backoff.wait().await;
                }
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| Some((id.clone(), found.remove(id.as_str())?)))
            .collect())
    }
}

/// Whether a stored message is the one given again: equal, but for the trace context the
/// store took from the span of the first add when the message itself carried none.
fn same_message(stored: &Message, given: &Message) -> bool {
    if given.header.trace_parent.is_some() {
        return stored == given;
    }
    let mut stored = stored.clone();
    stored.header.trace_parent = None;
    stored.header.trace_state = None;
    stored == *given
}
