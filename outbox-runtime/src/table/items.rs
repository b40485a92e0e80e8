//! Single messages: storing one outside a transaction, reading one or many back consistently.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use futures_util::FutureExt as _;

use crate::error::{Error, Result};
use crate::message::{Item, Message, MessageId};
use crate::table::attributes as attr;
use crate::table::batch_read::read_consistently;
use crate::table::deposit::deposit_item;
use crate::table::handle::{TableHandle, key};
use crate::table::layout::{self, StoredMessage};
use crate::time::to_millis;

/// What [`Outbox::store`](crate::Outbox::store) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// With `due`, the message is scheduled (as [`Transaction::deposit_at`] does), and the same
    /// message again is a no-op only with the same due time.
    ///
    /// [`Transaction::deposit_at`]: crate::Transaction::deposit_at
    pub(crate) async fn store(
        &self,
        message: &Message,
        due: Option<SystemTime>,
    ) -> Result<StoreOutcome> {
        // Checked here as a deposit is, so the error names the limit and the message instead of
        // DynamoDB's bare "Item size has exceeded the maximum allowed size".
        let mut stored = message.clone();
        let (item, upload) = deposit_item(
            &mut stored,
            due,
            &self.config,
            self.claim_check.as_deref(),
            "store",
        )?;
        #[cfg(feature = "s3")]
        let created = match (&upload, &self.claim_check) {
            (Some(upload), Some(claim_check)) => claim_check
                .put_all(std::slice::from_ref(upload))
                .await?
                .into_iter()
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        #[cfg(not(feature = "s3"))]
        let _ = upload;
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
        let outcome = match result {
            Ok(_) => Ok(StoreOutcome::Added),
            Err(err) => {
                let condition_failed = match err.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(failed)) => Some(
                        failed
                            .item()
                            .and_then(|existing| layout::from_item(self.table(), existing).ok())
                            .is_some_and(|existing| {
                                // The message as given (its trace context is the first store's
                                // business), with its body as it is stored.
                                let given = Message {
                                    header: message.header.clone(),
                                    body: stored.body.clone(),
                                };
                                same_message(&existing.message, &given)
                                    && existing.due_at.map(to_millis) == due.map(to_millis)
                            }),
                    ),
                    _ => None,
                };
                match condition_failed {
                    Some(true) => Ok(StoreOutcome::AlreadyPresent),
                    Some(false) => Err(Error::DuplicateMessage {
                        table: self.table().to_owned(),
                        message_id: message.header.id.clone(),
                    }),
                    None => Err(self.sdk_error("PutItem", err)),
                }
            }
        };
        // A store that wrote nothing, for whatever reason but an unknown outcome, leaves no
        // object of its own behind.
        #[cfg(feature = "s3")]
        if let Some(claim_check) = &self.claim_check
            && !created.is_empty()
            && !matches!(
                outcome,
                Ok(StoreOutcome::Added) | Err(Error::Unreachable { .. })
            )
        {
            claim_check.delete_all(created.iter()).await;
        }
        outcome
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
        let keys: Vec<Item> = ids.iter().map(key).collect();
        let mut found: HashMap<String, Result<StoredMessage>> =
            read_consistently(&self.db, self.table(), &keys, |key| {
                key.get(attr::MESSAGE_ID)
                    .and_then(|id| id.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            })
            .await?
            .iter()
            .filter_map(|item| match item.get(attr::MESSAGE_ID) {
                Some(AttributeValue::S(id)) => {
                    Some((id.clone(), layout::from_item(self.table(), item)))
                }
                _ => None,
            })
            .collect();
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
