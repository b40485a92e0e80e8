//! What a transaction knows about each of its actions: the item it touches (to refuse a second
//! action on it) and how to name it in errors, and the mapping of DynamoDB's cancellation
//! reasons back onto the actions.

use std::fmt;

use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};

use crate::error::{ActionFailure, CancellationCode, ConditionFailure, Error, Result, Version};
use crate::limits::{LimitError, MAX_ITEM_BYTES};
use crate::message::{Item, MessageId};

/// What a transaction knows about one of its actions, to name it in errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ActionInfo {
    /// `put`, `update`, `delete`, `condition check`, `deposit`, `raw action`.
    pub(crate) kind: &'static str,
    pub(crate) table: String,
    /// The key, as `Name="Tyrion"`, when known.
    pub(crate) key: Option<String>,
    /// The deposited message, for deposits; the incoming one, for the inbox record.
    pub(crate) message_id: Option<MessageId>,
    /// The consumer, for the inbox record of an incoming message.
    pub(crate) inbox_consumer: Option<String>,
    /// The condition the handler wrote, as written.
    pub(crate) condition: Option<String>,
    /// The read the action is guarded by, for a write to an item read in the unit of work.
    pub(crate) guard: Option<Guarded>,
    /// A cancel or reschedule of a scheduled message, conditional on what the unit of work read
    /// of it: a failed condition means it changed since (the sweeper claimed it).
    pub(crate) scheduled_change: bool,
}

/// The version condition of an action: what was read, and where the version lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Guarded {
    pub(crate) read: Version,
    pub(crate) attribute: String,
}

impl ActionInfo {
    pub(crate) fn new(kind: &'static str, table: &str, key: Option<String>) -> Self {
        Self {
            kind,
            table: table.to_owned(),
            key,
            message_id: None,
            inbox_consumer: None,
            condition: None,
            guard: None,
            scheduled_change: false,
        }
    }

    /// What failed, for an action whose condition did not hold: the item as DynamoDB returned
    /// it tells a changed item from a condition of the handler's that failed.
    fn condition_failure(&self, reason: &CancellationReason) -> Option<ConditionFailure> {
        if self.scheduled_change {
            return Some(ConditionFailure::MessageChangedSinceRead);
        }
        if let Some(guard) = &self.guard {
            let found = match reason.item() {
                None => Version::Absent,
                Some(item) => match item.get(&guard.attribute) {
                    None => Version::At(0),
                    Some(AttributeValue::N(number)) => {
                        number.parse().map_or(Version::At(u64::MAX), Version::At)
                    }
                    Some(_) => Version::At(u64::MAX),
                },
            };
            if found != guard.read || self.condition.is_none() {
                return Some(ConditionFailure::ChangedSinceRead {
                    read: guard.read,
                    found,
                });
            }
        }
        self.condition
            .as_ref()
            .map(|expression| ConditionFailure::Condition {
                expression: expression.clone(),
            })
    }
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
pub(crate) fn cancellation_error(infos: &[ActionInfo], reasons: &[CancellationReason]) -> Error {
    let failures: Vec<ActionFailure> = infos
        .iter()
        .enumerate()
        .map(|(index, info)| {
            let reason = reasons.get(index);
            let code = CancellationCode::parse(reason.and_then(|r| r.code()).unwrap_or("None"));
            let condition = match (&code, reason) {
                (CancellationCode::ConditionalCheckFailed, Some(reason)) => {
                    info.condition_failure(reason)
                }
                _ => None,
            };
            ActionFailure {
                index: index + 1,
                action: info.to_string(),
                table: info.table.clone(),
                key: info.key.clone(),
                code,
                condition,
                message: reason.and_then(|r| r.message()).map(str::to_owned),
            }
        })
        .collect();
    let failed: Vec<(&ActionFailure, &ActionInfo)> = failures
        .iter()
        .zip(infos)
        .filter(|(failure, _)| failure.code != CancellationCode::None)
        .collect();
    // The incoming message's inbox item exists: whatever else failed, this delivery was
    // handled before, and the transaction applied nothing.
    if let Some((index, info)) = infos.iter().enumerate().find(|(index, info)| {
        info.inbox_consumer.is_some()
            && failures[*index].code == CancellationCode::ConditionalCheckFailed
    }) {
        return Error::DuplicateDelivery {
            table: info.table.clone(),
            consumer: info.inbox_consumer.clone().expect("checked"),
            message_id: info
                .message_id
                .clone()
                .expect("an inbox record has a message id"),
            deposited: reasons
                .get(index)
                .and_then(CancellationReason::item)
                .map(crate::table::inbox::deposited)
                .unwrap_or_default(),
        };
    }
    let only_duplicate_deposits = !failed.is_empty()
        && failed.iter().all(|(failure, info)| {
            info.message_id.is_some()
                && !info.scheduled_change
                && failure.code == CancellationCode::ConditionalCheckFailed
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
