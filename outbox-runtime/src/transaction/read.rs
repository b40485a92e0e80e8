//! What a unit of work read: each item as it was (consistently read from the base table) and
//! its version, so that a later write to it can carry the condition that it is unchanged.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::FutureExt as _;
use serde::de::DeserializeOwned;

use crate::client::DynamoDb;
use crate::error::{Error, Result, Version};
use crate::message::Item;
use crate::table::batch_read::read_consistently;
use crate::table::key::IntoKey;
use crate::table::schema::TableSchema;
use crate::transaction::Transaction;
use crate::transaction::action::{describe_key, identity};

/// One item as the unit of work read it.
#[derive(Clone, Debug)]
pub(crate) struct Read {
    /// The item, `None` when there was none.
    pub(crate) item: Option<Item>,
    /// Its version.
    pub(crate) version: Version,
}

impl Read {
    pub(crate) fn new(table: &TableSchema, item: Option<Item>) -> Result<Self> {
        let version = version_of(table, item.as_ref())?;
        Ok(Self { item, version })
    }
}

impl Transaction {
    /// Reads the entity at `key` of `table` consistently (`GetItem`) and remembers it: a later
    /// write of the item in this unit of work (`put`, `update`, `delete`) is then conditional on
    /// it being unchanged, or still absent when there was none, and moves its version on. When
    /// another writer changed it in between, the commit is a conflict, and
    /// `#[transactional_handler]` runs the body again with fresh reads. Reading the item again
    /// in the same unit of work returns what was read the first time.
    ///
    /// The table must keep a version ([`TableSchema::with_version`]) for the item to be written
    /// after the read; reading alone needs none. Items read but not written are not checked at
    /// the commit unless pinned ([`Transaction::pin`]).
    ///
    /// ```no_run
    /// # async fn run(tx: &mut outbox_runtime::Transaction) -> outbox_runtime::Result<()> {
    /// use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Person {
    ///     #[serde(rename = "Name")]
    ///     name: String,
    ///     #[serde(rename = "Greetings", default)]
    ///     greetings: Vec<String>,
    /// }
    ///
    /// let people = TableSchema::new("People", KeyAttribute::new("Name", KeyKind::String))
    ///     .with_version("Version");
    /// let mut person = tx.get::<Person>(&people, "Tyrion").await?.expect("Tyrion exists");
    /// person.greetings.push("Hello".into());
    /// tx.put(&people, &person)?; // only if nobody changed Tyrion since the read
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidKey`]; [`Error::InvalidAction`] for an item this unit of work already
    /// writes; [`Error::Serialization`] naming the type when the item does not decode; the
    /// request's error.
    pub async fn get<T: DeserializeOwned>(
        &mut self,
        table: &TableSchema,
        key: impl IntoKey,
    ) -> Result<Option<T>> {
        let key = table.key(key)?.into_item();
        let identity = self.readable(table, &key)?;
        let item = match self.reads.get(&identity) {
            Some(read) => read.item.clone(),
            None => {
                let item = get_item(&self.db, table, &key).await?;
                let read = Read::new(table, item)?;
                let item = read.item.clone();
                self.reads.insert(identity, read);
                item
            }
        };
        item.map(|item| from_entity_item(table, item)).transpose()
    }

    /// Reads several entities of `table` like [`Transaction::get`], with `BatchGetItem` (100
    /// keys a call, consistent) for those not read yet; one entry per key, in order.
    ///
    /// # Errors
    /// As [`Transaction::get`].
    pub async fn get_many<T: DeserializeOwned, K: IntoKey>(
        &mut self,
        table: &TableSchema,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<T>>> {
        let mut wanted = Vec::new();
        for key in keys {
            let key = table.key(key)?.into_item();
            let identity = self.readable(table, &key)?;
            wanted.push((identity, key));
        }
        let unread: Vec<Item> = wanted
            .iter()
            .filter(|(identity, _)| !self.reads.contains_key(identity))
            .map(|(_, key)| key.clone())
            .collect();
        if !unread.is_empty() {
            let items = get_items(&self.db, table, &unread).await?;
            for (key, item) in unread.iter().zip(items) {
                let read = Read::new(table, item)?;
                self.reads.insert(identity(&table.name, key), read);
            }
        }
        wanted
            .iter()
            .map(|(identity, _)| {
                self.reads[identity]
                    .item
                    .clone()
                    .map(|item| from_entity_item(table, item))
                    .transpose()
            })
            .collect()
    }

    /// The identity of an item that may be read: one this unit of work does not write yet.
    fn readable(&self, table: &TableSchema, key: &Item) -> Result<String> {
        let identity = identity(&table.name, key);
        if self.items.contains_key(&identity) {
            return Err(Error::InvalidAction {
                action: format!("read of table `{}`, key {}", table.name, describe_key(key)),
                reason: "this unit of work already writes that item, and a read sees what is \
                         stored, not the pending write; read an item before writing it"
                    .to_owned(),
            });
        }
        Ok(identity)
    }
}

fn from_entity_item<T: DeserializeOwned>(table: &TableSchema, item: Item) -> Result<T> {
    serde_dynamo::from_item(item).map_err(|err| Error::Serialization {
        action: "decode",
        type_name: std::any::type_name::<T>(),
        topic: format!("(entity of table `{}`)", table.name),
        source: Box::new(err),
    })
}

/// The version of `item` under `table`'s version attribute: [`Version::Absent`] for no item,
/// 0 for an item without the attribute (or a table that keeps none).
pub(crate) fn version_of(table: &TableSchema, item: Option<&Item>) -> Result<Version> {
    let Some(item) = item else {
        return Ok(Version::Absent);
    };
    let Some(attribute) = &table.version_attribute else {
        return Ok(Version::At(0));
    };
    match item.get(attribute) {
        None => Ok(Version::At(0)),
        Some(AttributeValue::N(number)) => {
            number
                .parse()
                .map(Version::At)
                .map_err(|_| Error::InvalidAction {
                    action: format!("read of table `{}`", table.name),
                    reason: format!(
                        "the version attribute `{attribute}` holds `{number}`, which is not a \
                         whole number; it belongs to the runtime, so nothing else may write it"
                    ),
                })
        }
        Some(_) => Err(Error::InvalidAction {
            action: format!("read of table `{}`", table.name),
            reason: format!(
                "the version attribute `{attribute}` is not a number; it belongs to the \
                 runtime, so nothing else may write it"
            ),
        }),
    }
}

/// Reads one item consistently with `GetItem`.
pub(crate) async fn get_item(
    db: &DynamoDb,
    table: &TableSchema,
    key: &Item,
) -> Result<Option<Item>> {
    let output = db
        .client()
        .get_item()
        .table_name(&table.name)
        .set_key(Some(key.clone()))
        .consistent_read(true)
        .set_return_consumed_capacity(db.consumed_capacity())
        .send()
        .boxed()
        .await
        .map_err(|err| Error::from_sdk("GetItem", db.endpoint(), &table.name, err))?;
    Ok(output.item)
}

/// Reads items consistently; one entry per key, in order, `None` where there is no item.
pub(crate) async fn get_items(
    db: &DynamoDb,
    table: &TableSchema,
    keys: &[Item],
) -> Result<Vec<Option<Item>>> {
    let key_names: Vec<&str> = std::iter::once(table.hash_key.name.as_str())
        .chain(table.range_key.as_ref().map(|k| k.name.as_str()))
        .collect();
    let identity = |item: &Item| -> Vec<String> {
        key_names
            .iter()
            .map(|name| format!("{:?}", item.get(*name)))
            .collect()
    };
    let found: HashMap<Vec<String>, Item> = read_consistently(db, &table.name, keys, describe_key)
        .await?
        .into_iter()
        .map(|item| (identity(&item), item))
        .collect();
    Ok(keys
        .iter()
        .map(|key| found.get(&identity(key)).cloned())
        .collect())
}
