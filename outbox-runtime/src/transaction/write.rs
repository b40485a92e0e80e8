//! Entity writes of a unit of work: puts, updates, deletes and condition checks, each on one
//! item, with the version condition of the item's read when it was read first.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::limits;
use crate::message::Item;
use crate::table::key::{IntoKey, Key};
use crate::table::schema::TableSchema;
use crate::transaction::Transaction;
use crate::transaction::action::{ActionInfo, Guarded, check_item_size, describe_key, identity};
use crate::transaction::expr::{Expr, placeholders};
use crate::transaction::version;

/// What an entity write does to its item.
enum Write {
    Put(Item),
    Update(Expr),
    Delete,
    Check,
}

impl Write {
    fn kind(&self) -> &'static str {
        match self {
            Write::Put(_) => "put",
            Write::Update(_) => "update",
            Write::Delete => "delete",
            Write::Check => "condition check",
        }
    }
}

impl Transaction {
    /// Puts an entity, mapped to an item by serde_dynamo, into `table`. When this unit of work
    /// read the item ([`Transaction::get`]), the put is conditional on it being unchanged and
    /// moves its version on.
    ///
    /// # Errors
    /// [`Error::Serialization`] when the entity does not map to an item; [`Error::InvalidKey`]
    /// when it lacks the table's key; [`Error::InvalidAction`] for an item of a versioned table
    /// that was not read first, or a read item of a table that keeps no version;
    /// [`Error::Limit`].
    pub fn put<T: Serialize>(&mut self, table: &TableSchema, entity: &T) -> Result<&mut Self> {
        let item = to_entity_item(table, entity)?;
        self.put_item(table, item, None)
    }

    /// Puts an entity only if `condition` holds; a failed condition cancels the whole
    /// transaction (messages included) with an error naming this action and the condition, and
    /// is never retried.
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
    /// As [`Transaction::put`].
    pub fn put_item(
        &mut self,
        table: &TableSchema,
        item: Item,
        condition: Option<Expr>,
    ) -> Result<&mut Self> {
        let key = Key::of_item(table, &item)?;
        self.write(table, key.into_item(), Write::Put(item), condition)
    }

    /// Updates the item at `key` with an update expression, optionally under a condition. On a
    /// table that keeps versions the update also moves the version on, after a read to the
    /// version read plus one (and only if it is unchanged).
    ///
    /// ```no_run
    /// # fn run(tx: &mut outbox_runtime::Transaction, people: &outbox_runtime::table::TableSchema)
    /// # -> outbox_runtime::Result<()> {
    /// use aws_sdk_dynamodb::types::AttributeValue;
    /// use outbox_runtime::Expr;
    ///
    /// tx.update(
    ///     people,
    ///     "Tyrion",
    ///     Expr::new("SET #g = list_append(#g, :g)")
    ///         .name("#g", "Greetings")
    ///         .value(":g", AttributeValue::L(vec![AttributeValue::S("Hello".into())])),
    ///     Some(Expr::new("attribute_exists(#n)").name("#n", "Name")),
    /// )?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when `key` is not the table's key; [`Error::InvalidAction`] for a
    /// read item of a table that keeps no version; [`Error::Limit`].
    pub fn update(
        &mut self,
        table: &TableSchema,
        key: impl IntoKey,
        update: Expr,
        condition: Option<Expr>,
    ) -> Result<&mut Self> {
        let key = table.key(key)?;
        self.write(table, key.into_item(), Write::Update(update), condition)
    }

    /// Deletes the item at `key`, optionally under a condition.
    ///
    /// # Errors
    /// As [`Transaction::update`].
    pub fn delete(
        &mut self,
        table: &TableSchema,
        key: impl IntoKey,
        condition: Option<Expr>,
    ) -> Result<&mut Self> {
        let key = table.key(key)?;
        self.write(table, key.into_item(), Write::Delete, condition)
    }

    /// Requires `condition` to hold on the item at `key` without writing it; when it does not,
    /// nothing in the transaction is written.
    ///
    /// # Errors
    /// As [`Transaction::update`].
    pub fn condition_check(
        &mut self,
        table: &TableSchema,
        key: impl IntoKey,
        condition: Expr,
    ) -> Result<&mut Self> {
        let key = table.key(key)?;
        self.write(table, key.into_item(), Write::Check, Some(condition))
    }

    /// Pins an item this unit of work read but does not write: the commit then also requires
    /// it to be unchanged (a `ConditionCheck` on its version), so a decision taken on what it
    /// held cannot outlive a change to it. Without a pin, only written items are checked.
    ///
    /// A pin is one more action of the transaction (at most 100 in all), billed like a write
    /// of the item: two write units per KB of the item begun (transactional).
    ///
    /// # Errors
    /// [`Error::InvalidAction`] for an item not read in this unit of work, or a table that
    /// keeps no version; [`Error::InvalidKey`]; [`Error::Limit`].
    pub fn pin(&mut self, table: &TableSchema, key: impl IntoKey) -> Result<&mut Self> {
        let key = table.key(key)?.into_item();
        if !self.reads.contains_key(&identity(&table.name, &key)) {
            return Err(Error::InvalidAction {
                action: format!("pin of table `{}`, key {}", table.name, describe_key(&key)),
                reason: "only an item read in this unit of work can be pinned; read it with \
                         `get` first"
                    .to_owned(),
            });
        }
        self.write(table, key, Write::Check, None)
    }

    /// Adds a `TransactWriteItem` built by hand. Its size and the action count are checked; a
    /// second action on the same item is only caught here for updates, deletes and condition
    /// checks (a raw put's key attributes are not known). A raw action carries no version
    /// condition, so it may not touch an item this unit of work read.
    ///
    /// # Errors
    /// [`Error::Limit`]; [`Error::InvalidAction`] for an item with no action set, or one read
    /// in this unit of work.
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
            return Err(Error::InvalidAction {
                action: "raw action".to_owned(),
                reason: "a raw TransactWriteItem must set one of put, update, delete or \
                         condition_check"
                    .to_owned(),
            });
        };
        let info = ActionInfo::new("raw action", table, key.as_ref().map(describe_key));
        check_item_size(size, &info)?;
        let identity = key.as_ref().map(|key| identity(table, key));
        if let Some(identity) = &identity
            && self.reads.contains_key(identity)
        {
            return Err(Error::InvalidAction {
                action: info.to_string(),
                reason: "a raw action carries no condition that the item is unchanged since \
                         this unit of work read it; use put, update or delete, which do"
                    .to_owned(),
            });
        }
        self.push(action, info, identity, size)
    }

    /// Adds one entity write, guarded by the version of its read when the item was read.
    fn write(
        &mut self,
        table: &TableSchema,
        key: Item,
        write: Write,
        condition: Option<Expr>,
    ) -> Result<&mut Self> {
        let identity = identity(&table.name, &key);
        let mut info = ActionInfo {
            condition: condition.as_ref().map(|c| c.text.clone()),
            ..ActionInfo::new(write.kind(), &table.name, Some(describe_key(&key)))
        };
        let read = self.reads.get(&identity).map(|read| read.version);
        let (write, condition) = match (read, table.version_attribute.as_deref()) {
            (Some(_), None) => {
                return Err(Error::InvalidAction {
                    action: info.to_string(),
                    reason: format!(
                        "this unit of work read the item, and table `{}` keeps no version, so \
                         the write cannot be made conditional on the item being unchanged and \
                         could lose another writer's update; declare a version attribute with \
                         `TableSchema::with_version(\"Version\")`",
                        table.name
                    ),
                });
            }
            (Some(read), Some(attribute)) => {
                let guard = version::guard(table, attribute, read);
                info.guard = Some(Guarded {
                    read,
                    attribute: attribute.to_owned(),
                });
                let write = match write {
                    Write::Put(mut item) => {
                        item.insert(
                            attribute.to_owned(),
                            AttributeValue::N(guard.next.to_string()),
                        );
                        Write::Put(item)
                    }
                    Write::Update(update) => {
                        Write::Update(version::set_next(&update, attribute, guard.next))
                    }
                    other => other,
                };
                (
                    write,
                    Some(version::both(condition.as_ref(), &guard.condition)),
                )
            }
            (None, Some(attribute)) => match write {
                Write::Put(_) => {
                    return Err(Error::InvalidAction {
                        action: info.to_string(),
                        reason: format!(
                            "table `{}` keeps a version in `{attribute}`, and a put replaces \
                             the whole item, version included; read the item in this unit of \
                             work first (`get`), and the put is made conditional on it being \
                             unchanged (or still absent)",
                            table.name
                        ),
                    });
                }
                Write::Update(update) => (
                    Write::Update(version::increment(&update, attribute)),
                    condition,
                ),
                other => (other, condition),
            },
            (None, None) => (write, condition),
        };
        let return_old = info
            .guard
            .is_some()
            .then_some(ReturnValuesOnConditionCheckFailure::AllOld);
        let condition_size = condition.as_ref().map_or(0, Expr::size);
        let (action, size) = match write {
            Write::Put(item) => {
                let size = limits::item_size(&item);
                check_item_size(size, &info)?;
                let (names, values) = placeholders(&condition.iter().collect::<Vec<_>>());
                let put = Put::builder()
                    .table_name(&table.name)
                    .set_item(Some(item))
                    .set_condition_expression(condition.map(|c| c.text))
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .set_return_values_on_condition_check_failure(return_old)
                    .build()
                    .expect("table and item are set");
                (
                    TransactWriteItem::builder().put(put).build(),
                    size + condition_size,
                )
            }
            Write::Update(update) => {
                let mut exprs = vec![&update];
                exprs.extend(condition.as_ref());
                let (names, values) = placeholders(&exprs);
                let size = limits::item_size(&key) + update.size() + condition_size;
                let action = Update::builder()
                    .table_name(&table.name)
                    .set_key(Some(key))
                    .update_expression(update.text.clone())
                    .set_condition_expression(condition.map(|c| c.text))
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .set_return_values_on_condition_check_failure(return_old)
                    .build()
                    .expect("table, key and expression are set");
                (TransactWriteItem::builder().update(action).build(), size)
            }
            Write::Delete => {
                let (names, values) = placeholders(&condition.iter().collect::<Vec<_>>());
                let size = limits::item_size(&key) + condition_size;
                let action = Delete::builder()
                    .table_name(&table.name)
                    .set_key(Some(key))
                    .set_condition_expression(condition.map(|c| c.text))
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .set_return_values_on_condition_check_failure(return_old)
                    .build()
                    .expect("table and key are set");
                (TransactWriteItem::builder().delete(action).build(), size)
            }
            Write::Check => {
                let condition = condition.expect("a condition check has a condition");
                let (names, values) = placeholders(&[&condition]);
                let size = limits::item_size(&key) + condition_size;
                let action = ConditionCheck::builder()
                    .table_name(&table.name)
                    .set_key(Some(key))
                    .condition_expression(condition.text)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .set_return_values_on_condition_check_failure(return_old)
                    .build()
                    .expect("table, key and condition are set");
                (
                    TransactWriteItem::builder().condition_check(action).build(),
                    size,
                )
            }
        };
        self.push(action, info, Some(identity), size)
    }
}

pub(crate) fn to_entity_item<T: Serialize>(table: &TableSchema, entity: &T) -> Result<Item> {
    serde_dynamo::to_item(entity).map_err(|err| Error::Serialization {
        action: "encode",
        type_name: std::any::type_name::<T>(),
        topic: format!("(entity for table `{}`)", table.name),
        source: Box::new(err),
    })
}
