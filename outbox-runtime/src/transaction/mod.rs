//! The unit of work: entity writes and deposited messages, committed together in one
//! `TransactWriteItems`.
//!
//! The contract follows sqlx: [`Transaction::commit`] and [`Transaction::rollback`] consume the
//! transaction, and dropping it while open discards it. Nothing is sent before the commit, so
//! there is never anything to undo.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnConsumedCapacity, TransactWriteItem, Update,
};
use serde::Serialize;
use tracing::Instrument;

mod action;
mod expr;

pub use expr::Expr;

use crate::client::DynamoDb;
use crate::error::{Error, Result};
use crate::limits::{self, LimitError, MAX_ACTIONS, MAX_REQUEST_BYTES};
use crate::message::{Item, Message, MessageId, OutboxMessage};
use crate::table::attributes as attr;
use crate::table::config::OutboxConfig;
use crate::table::layout;
use crate::table::schema::TableSchema;
use action::{
    ActionInfo, cancellation_error, check_item_size, describe_key, distinct_tables, identity,
    key_of, to_entity_item,
};
use expr::placeholders;

/// The result of a successful commit: the messages it made durable, to be sent at once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Committed {
    /// The deposited messages, in deposit order.
    pub messages: Vec<Message>,
    /// Write capacity units the commit consumed (table and indexes), when DynamoDB reported it.
    pub capacity_units: Option<f64>,
}

/// A unit of work over `TransactWriteItems`: entity writes and outgoing messages, committed
/// together or not at all. Limits are checked as each action is added.
///
/// ```no_run
/// # async fn run(outbox: outbox_runtime::Outbox) -> outbox_runtime::Result<()> {
/// use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
/// use outbox_runtime::Message;
///
/// #[derive(serde::Serialize)]
/// struct Person { #[serde(rename = "Name")] name: String }
///
/// let people = TableSchema::new("People", KeyAttribute::new("Name", KeyKind::String));
/// let mut tx = outbox.begin();
/// tx.put(&people, &Person { name: "Tyrion".into() })?;
/// tx.deposit_message(Message::new("person.added", b"{\"name\":\"Tyrion\"}".to_vec()))?;
/// let committed = tx.commit().await?;
/// assert_eq!(committed.messages.len(), 1);
/// # Ok(()) }
/// ```
#[must_use = "a transaction does nothing until it is committed"]
pub struct Transaction {
    db: DynamoDb,
    outbox: Arc<OutboxConfig>,
    actions: Vec<TransactWriteItem>,
    infos: Vec<ActionInfo>,
    /// Item identity (`table` + key) to the number of the action on it.
    items: HashMap<String, usize>,
    bytes: usize,
    messages: Vec<Message>,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("outbox_table", &self.outbox.table_name)
            .field("actions", &self.infos.len())
            .field("messages", &self.messages.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Transaction {
    pub(crate) fn new(db: DynamoDb, outbox: Arc<OutboxConfig>) -> Self {
        Self {
            db,
            outbox,
            actions: Vec::new(),
            infos: Vec::new(),
            items: HashMap::new(),
            bytes: 0,
            messages: Vec::new(),
        }
    }

    /// How many actions the transaction holds.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The messages deposited so far.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Puts an entity, mapped to an item by serde_dynamo, into `table`.
    ///
    /// # Errors
    /// [`Error::Serialization`] when the entity does not map to an item; [`Error::Limit`].
    pub fn put<T: Serialize>(&mut self, table: &TableSchema, entity: &T) -> Result<&mut Self> {
        let item = to_entity_item(table, entity)?;
        self.put_item(table, item, None)
    }

    /// Puts an entity only if `condition` holds; a failed condition cancels the whole
    /// transaction (messages included) with an error naming this action.
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn put_if<T: Serialize>(
        &mut self,
        table: &TableSchema,
        entity: &T,
        condition: Expr,
    ) -> Result<&mut Self> {
        let item = to_entity_item(table, entity)?;
        self.put_item(table, item, Some(condition))
    }

    /// Puts a raw item, optionally under a condition.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the item lacks the table's key; [`Error::Limit`].
    pub fn put_item(
        &mut self,
        table: &TableSchema,
        item: Item,
        condition: Option<Expr>,
    ) -> Result<&mut Self> {
        let key = key_of(table, &item)?;
        let (names, values) = placeholders(&condition.iter().collect::<Vec<_>>());
        let size = limits::item_size(&item);
        let info = ActionInfo {
            kind: "put",
            table: table.name.clone(),
            key: Some(describe_key(&key)),
            message_id: None,
        };
        check_item_size(size, &info)?;
        let put = Put::builder()
            .table_name(&table.name)
            .set_item(Some(item))
            .set_condition_expression(condition.as_ref().map(|c| c.text.clone()))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(|err| Error::InvalidConfig(err.to_string()))?;
        let extra = condition.as_ref().map_or(0, Expr::size);
        self.push(
            TransactWriteItem::builder().put(put).build(),
            info,
            Some(identity(&table.name, &key)),
            size + extra,
        )
    }

    /// Updates the item at `key` with an update expression, optionally under a condition.
    ///
    /// ```no_run
    /// # fn run(tx: &mut outbox_runtime::Transaction, people: &outbox_runtime::table::TableSchema)
    /// # -> outbox_runtime::Result<()> {
    /// use std::collections::HashMap;
    /// use aws_sdk_dynamodb::types::AttributeValue;
    /// use outbox_runtime::Expr;
    ///
    /// let key = HashMap::from([("Name".to_owned(), AttributeValue::S("Tyrion".into()))]);
    /// tx.update(
    ///     people,
    ///     key,
    ///     Expr::new("SET #g = list_append(#g, :g)")
    ///         .name("#g", "Greetings")
    ///         .value(":g", AttributeValue::L(vec![AttributeValue::S("Hello".into())])),
    ///     Some(Expr::new("attribute_exists(#n)").name("#n", "Name")),
    /// )?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `key` is not the table's key; [`Error::Limit`].
    pub fn update(
        &mut self,
        table: &TableSchema,
        key: Item,
        update: Expr,
        condition: Option<Expr>,
    ) -> Result<&mut Self> {
        let key = key_of(table, &key)?;
        let mut exprs = vec![&update];
        exprs.extend(condition.as_ref());
        let (names, values) = placeholders(&exprs);
        let size = limits::item_size(&key) + exprs.iter().map(|e| e.size()).sum::<usize>();
        let action = Update::builder()
            .table_name(&table.name)
            .set_key(Some(key.clone()))
            .update_expression(update.text.clone())
            .set_condition_expression(condition.as_ref().map(|c| c.text.clone()))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(|err| Error::InvalidConfig(err.to_string()))?;
        self.push_on_key(
            "update",
            table,
            &key,
            TransactWriteItem::builder().update(action).build(),
            size,
        )
    }

    /// Deletes the item at `key`, optionally under a condition.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `key` is not the table's key; [`Error::Limit`].
    pub fn delete(
        &mut self,
        table: &TableSchema,
        key: Item,
        condition: Option<Expr>,
    ) -> Result<&mut Self> {
        let key = key_of(table, &key)?;
        let (names, values) = placeholders(&condition.iter().collect::<Vec<_>>());
        let size = limits::item_size(&key) + condition.as_ref().map_or(0, Expr::size);
        let action = Delete::builder()
            .table_name(&table.name)
            .set_key(Some(key.clone()))
            .set_condition_expression(condition.as_ref().map(|c| c.text.clone()))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(|err| Error::InvalidConfig(err.to_string()))?;
        self.push_on_key(
            "delete",
            table,
            &key,
            TransactWriteItem::builder().delete(action).build(),
            size,
        )
    }

    /// Requires `condition` to hold on the item at `key` without writing it; when it does not,
    /// nothing in the transaction is written.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `key` is not the table's key; [`Error::Limit`].
    pub fn condition_check(
        &mut self,
        table: &TableSchema,
        key: Item,
        condition: Expr,
    ) -> Result<&mut Self> {
        let key = key_of(table, &key)?;
        let (names, values) = placeholders(&[&condition]);
        let size = limits::item_size(&key) + condition.size();
        let action = ConditionCheck::builder()
            .table_name(&table.name)
            .set_key(Some(key.clone()))
            .condition_expression(condition.text.clone())
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(|err| Error::InvalidConfig(err.to_string()))?;
        self.push_on_key(
            "condition check",
            table,
            &key,
            TransactWriteItem::builder().condition_check(action).build(),
            size,
        )
    }

    /// Adds a `TransactWriteItem` built by hand. Its size and the action count are checked; a
    /// second action on the same item is only caught here for updates, deletes and condition
    /// checks (a raw put's key attributes are not known).
    ///
    /// # Errors
    /// [`Error::Limit`]; [`Error::InvalidConfig`] for an item with no action set.
    pub fn raw(&mut self, action: TransactWriteItem) -> Result<&mut Self> {
        let (table, key, size) = if let Some(put) = action.put() {
            (put.table_name(), None, limits::item_size(put.item()))
        } else if let Some(update) = action.update() {
            (
                update.table_name(),
                Some(update.key().clone()),
                limits::item_size(update.key()),
            )
        } else if let Some(delete) = action.delete() {
            (
                delete.table_name(),
                Some(delete.key().clone()),
                limits::item_size(delete.key()),
            )
        } else if let Some(check) = action.condition_check() {
            (
                check.table_name(),
                Some(check.key().clone()),
                limits::item_size(check.key()),
            )
        } else {
            return Err(Error::InvalidConfig(
                "a raw TransactWriteItem must set one of put, update, delete or condition_check"
                    .to_owned(),
            ));
        };
        let info = ActionInfo {
            kind: "raw action",
            table: table.to_owned(),
            key: key.as_ref().map(describe_key),
            message_id: None,
        };
        check_item_size(size, &info)?;
        let identity = key.as_ref().map(|key| identity(table, key));
        self.push(action, info, identity, size)
    }

    /// Deposits a message of a derived type: it is stored with the entity writes, and sent
    /// right after the commit.
    ///
    /// # Errors
    /// As [`OutboxMessage::to_message`] and [`Transaction::deposit_message`].
    pub fn deposit<M: OutboxMessage>(&mut self, message: &M) -> Result<MessageId> {
        self.deposit_message(message.to_message()?)
    }

    /// Deposits a message. Its put is conditional: an id already in the outbox cancels the
    /// commit with [`Error::DuplicateMessage`] and never overwrites the stored message.
    ///
    /// # Errors
    /// [`Error::InvalidMessage`] for an empty topic or id; [`Error::Limit`].
    pub fn deposit_message(&mut self, message: Message) -> Result<MessageId> {
        let table = &self.outbox.table_name;
        let item = layout::new_item(&message, self.outbox.shard_count, "deposit", table)?;
        let size = limits::item_size(&item);
        let id = message.header.id.clone();
        let info = ActionInfo {
            kind: "deposit",
            table: table.clone(),
            key: Some(format!("{}={:?}", attr::MESSAGE_ID, id.as_str())),
            message_id: Some(id.clone()),
        };
        let put = Put::builder()
            .table_name(&self.outbox.table_name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", attr::MESSAGE_ID)
            .build()
            .map_err(|err| Error::InvalidConfig(err.to_string()))?;
        let identity = format!("{}\u{0}{}", self.outbox.table_name, id);
        self.push(
            TransactWriteItem::builder().put(put).build(),
            info,
            Some(identity),
            size,
        )?;
        self.messages.push(message);
        Ok(id)
    }

    /// Adds an action on the item at `key` of `table` (an update, delete or condition check).
    fn push_on_key(
        &mut self,
        kind: &'static str,
        table: &TableSchema,
        key: &Item,
        action: TransactWriteItem,
        size: usize,
    ) -> Result<&mut Self> {
        let info = ActionInfo {
            kind,
            table: table.name.clone(),
            key: Some(describe_key(key)),
            message_id: None,
        };
        self.push(action, info, Some(identity(&table.name, key)), size)
    }

    /// Checks the limits for one more action and adds it.
    fn push(
        &mut self,
        action: TransactWriteItem,
        info: ActionInfo,
        identity: Option<String>,
        size: usize,
    ) -> Result<&mut Self> {
        let count = self.actions.len() + 1;
        if count > MAX_ACTIONS {
            return Err(LimitError::TooManyActions {
                limit: MAX_ACTIONS,
                count,
                action: info.to_string(),
            }
            .into());
        }
        if self.bytes + size > MAX_REQUEST_BYTES {
            return Err(LimitError::RequestTooLarge {
                limit: MAX_REQUEST_BYTES,
                size: self.bytes + size,
                action: info.to_string(),
            }
            .into());
        }
        if let Some(identity) = &identity
            && let Some(first) = self.items.get(identity)
        {
            return Err(LimitError::DuplicateItem {
                first: *first,
                action: format!("action {count} ({info})"),
            }
            .into());
        }
        if let Some(identity) = identity {
            self.items.insert(identity, count);
        }
        self.bytes += size;
        self.actions.push(action);
        self.infos.push(info);
        Ok(self)
    }

    /// Commits every action in one `TransactWriteItems` with a client request token, so the
    /// SDK's retries of an ambiguous failure never apply it twice. An empty transaction commits
    /// without a request.
    ///
    /// # Errors
    /// [`Error::TransactionCancelled`] with every action's reason (see [`Error::is_conflict`]);
    /// [`Error::DuplicateMessage`] when only deposits of existing ids failed;
    /// [`Error::CommitUncertain`] when the outcome is unknown.
    pub async fn commit(self) -> Result<Committed> {
        if self.actions.is_empty() {
            return Ok(Committed::default());
        }
        let token = uuid::Uuid::now_v7().to_string();
        let count = self.actions.len();
        let span = tracing::debug_span!(
            "outbox.commit",
            actions = count,
            messages = self.messages.len(),
            token = %token
        );
        let result = self
            .db
            .client()
            .transact_write_items()
            .set_transact_items(Some(self.actions))
            .client_request_token(&token)
            .return_consumed_capacity(
                self.db
                    .consumed_capacity()
                    .unwrap_or(ReturnConsumedCapacity::Total),
            )
            .send()
            .instrument(span)
            .await;
        match result {
            Ok(output) => Ok(Committed {
                messages: self.messages,
                capacity_units: Some(
                    output
                        .consumed_capacity()
                        .iter()
                        .filter_map(|c| c.capacity_units())
                        .sum(),
                ),
            }),
            Err(err) => {
                let cancellation = err
                    .as_service_error()
                    .and_then(|service| match service {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                            Some(cancelled.cancellation_reasons().to_vec())
                        }
                        _ => None,
                    });
                if let Some(reasons) = cancellation {
                    return Err(cancellation_error(&self.infos, &reasons));
                }
                let tables = distinct_tables(&self.infos);
                match Error::from_sdk("TransactWriteItems", self.db.endpoint(), &tables, err) {
                    err @ Error::Unreachable { .. } => Err(Error::CommitUncertain {
                        actions: count,
                        source: Box::new(err),
                    }),
                    other => Err(other),
                }
            }
        }
    }

    /// Discards the transaction. Nothing was sent, so nothing is undone; this is the same as
    /// dropping it, spelled out.
    pub fn rollback(self) {
        tracing::debug!(
            actions = self.actions.len(),
            "outbox transaction rolled back"
        );
    }
}
