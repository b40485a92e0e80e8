//! What a transaction knows about each of its actions: the item it touches (to refuse a second
//! action on it) and how to name it in errors, and the mapping of DynamoDB's cancellation
//! reasons back onto the actions.

use std::fmt;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::error::{ActionFailure, Error, Result};
use crate::limits::{LimitError, MAX_ITEM_BYTES};
use crate::message::{Item, MessageId};
use crate::table::schema::TableSchema;

/// What a transaction knows about one of its actions, to name it in errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ActionInfo {
    /// `put`, `update`, `delete`, `condition check`, `deposit`, `raw action`.
    pub(crate) kind: &'static str,
    pub(crate) table: String,
    /// The key, as `Name="Tyrion"`, when known.
    pub(crate) key: Option<String>,
    /// The deposited message, for deposits.
    pub(crate) message_id: Option<MessageId>,
}

impl fmt::Display for ActionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to table `{}`", self.kind, self.table)?;
        if let Some(key) = &self.key {
            write!(f, ", key {key}")?;
        }
        Ok(())
    }
}

/// Maps DynamoDB's reasons (one per action, in order) onto the actions they belong to.
pub(crate) fn cancellation_error(
    infos: &[ActionInfo],
    reasons: &[aws_sdk_dynamodb::types::CancellationReason],
) -> Error {
    let failures: Vec<ActionFailure> = infos
        .iter()
        .enumerate()
        .map(|(index, info)| {
            let reason = reasons.get(index);
            ActionFailure {
                index: index + 1,
                action: info.to_string(),
                table: info.table.clone(),
                key: info.key.clone(),
                code: reason.and_then(|r| r.code()).unwrap_or("None").to_owned(),
                message: reason.and_then(|r| r.message()).map(str::to_owned),
            }
        })
        .collect();
    let failed: Vec<(&ActionFailure, &ActionInfo)> = failures
        .iter()
        .zip(infos)
        .filter(|(failure, _)| failure.code != "None")
        .collect();
    let only_duplicate_deposits = !failed.is_empty()
        && failed.iter().all(|(failure, info)| {
            info.message_id.is_some() && failure.code == "ConditionalCheckFailed"
        });
    if only_duplicate_deposits {
        let (_, info) = failed[0];
        return Error::DuplicateMessage {
            table: info.table.clone(),
            message_id: info.message_id.clone().expect("a deposit has a message id"),
        };
    }
    Error::TransactionCancelled { reasons: failures }
}

pub(crate) fn distinct_tables(infos: &[ActionInfo]) -> String {
    let mut tables: Vec<&str> = infos.iter().map(|info| info.table.as_str()).collect();
    tables.sort_unstable();
    tables.dedup();
    tables.join(", ")
}

pub(crate) fn check_item_size(size: usize, info: &ActionInfo) -> Result<()> {
    if size > MAX_ITEM_BYTES {
        return Err(LimitError::ItemTooLarge {
            limit: MAX_ITEM_BYTES,
            size,
            action: info.to_string(),
        }
        .into());
    }
    Ok(())
}

pub(crate) fn to_entity_item<T: Serialize>(table: &TableSchema, entity: &T) -> Result<Item> {
    serde_dynamo::to_item(entity).map_err(|err| Error::Serialization {
        action: "encode",
        type_name: std::any::type_name::<T>(),
        topic: format!("(entity for table `{}`)", table.name),
        source: Box::new(err),
    })
}

/// The key attributes of `item` under `table`'s key schema.
pub(crate) fn key_of(table: &TableSchema, item: &Item) -> Result<Item> {
    let mut key = Item::new();
    for name in
        std::iter::once(&table.hash_key.name).chain(table.range_key.as_ref().map(|k| &k.name))
    {
        let value = item.get(name).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "the item for table `{}` has no key attribute `{name}`; every item needs the \
                 table's key (check the field's name and serde renames)",
                table.name
            ))
        })?;
        key.insert(name.clone(), value.clone());
    }
    Ok(key)
}

/// A stable identity for an item: table and key, with the key attributes in name order.
pub(crate) fn identity(table: &str, key: &Item) -> String {
    format!("{table}\u{0}{}", describe_key(key))
}

/// `Name="Tyrion"`, attributes in name order.
pub(crate) fn describe_key(key: &Item) -> String {
    let mut parts: Vec<(&String, &AttributeValue)> = key.iter().collect();
    parts.sort_by(|a, b| a.0.cmp(b.0));
    parts
        .into_iter()
        .map(|(name, value)| match value {
            AttributeValue::S(text) => format!("{name}={text:?}"),
            AttributeValue::N(number) => format!("{name}={number}"),
            AttributeValue::B(bytes) => format!("{name}=<{} bytes>", bytes.as_ref().len()),
            other => format!("{name}={other:?}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
