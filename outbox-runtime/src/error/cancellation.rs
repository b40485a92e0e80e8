//! Why DynamoDB cancelled a transaction, action by action, in types: the code it gave, and for
//! a failed condition whether the handler's own condition failed or the item changed since the
//! transaction read it.

use std::fmt;

/// DynamoDB's cancellation code for one action of a `TransactWriteItems`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancellationCode {
    /// The action was not at fault: another one cancelled the transaction.
    None,
    /// A condition on the action did not hold (see [`ActionFailure::condition`]).
    ConditionalCheckFailed,
    /// Another transaction or write touched the item at the same time.
    TransactionConflict,
    /// The item collection of a local secondary index is full.
    ItemCollectionSizeLimitExceeded,
    /// The request rate was too high for the table.
    ThrottlingError,
    /// The table's provisioned capacity was exceeded.
    ProvisionedThroughputExceeded,
    /// The action was invalid (for example an update expression that does not parse).
    ValidationError,
    /// A code this version of the library does not know, as DynamoDB wrote it.
    Other(String),
}

impl CancellationCode {
    /// The code as DynamoDB writes it (`None` for an innocent action).
    ///
    /// ```
    /// use outbox_runtime::error::CancellationCode;
    /// assert_eq!(CancellationCode::parse("TransactionConflict"), CancellationCode::TransactionConflict);
    /// assert_eq!(CancellationCode::TransactionConflict.as_str(), "TransactionConflict");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Self::None => "None",
            Self::ConditionalCheckFailed => "ConditionalCheckFailed",
            Self::TransactionConflict => "TransactionConflict",
            Self::ItemCollectionSizeLimitExceeded => "ItemCollectionSizeLimitExceeded",
            Self::ThrottlingError => "ThrottlingError",
            Self::ProvisionedThroughputExceeded => "ProvisionedThroughputExceeded",
            Self::ValidationError => "ValidationError",
            Self::Other(code) => code,
        }
    }

    /// A code from DynamoDB's text (an absent code is [`CancellationCode::None`]).
    pub fn parse(code: &str) -> Self {
        match code {
            "" | "None" => Self::None,
            "ConditionalCheckFailed" => Self::ConditionalCheckFailed,
            "TransactionConflict" => Self::TransactionConflict,
            "ItemCollectionSizeLimitExceeded" => Self::ItemCollectionSizeLimitExceeded,
            "ThrottlingError" => Self::ThrottlingError,
            "ProvisionedThroughputExceeded" => Self::ProvisionedThroughputExceeded,
            "ValidationError" => Self::ValidationError,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for CancellationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The version of an item as a transaction read it: absent, or present with a version number
/// (an item without the version attribute counts as version 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Version {
    /// There was no item.
    Absent,
    /// The item was there, at this version.
    At(u64),
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Absent => f.write_str("no item"),
            Version::At(version) => write!(f, "version {version}"),
        }
    }
}

/// What failed in an action whose condition did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConditionFailure {
    /// The condition the handler wrote (`put_if`, `update`, `delete`, `condition_check`) did not
    /// hold. Never retried: running again would meet the same condition.
    Condition {
        /// The condition expression, as written.
        expression: String,
    },
    /// The item changed since the transaction read it: another unit of work wrote it in
    /// between. A conflict: the handler runs again with fresh reads.
    ChangedSinceRead {
        /// What the transaction read.
        read: Version,
        /// What the item was when the commit was refused.
        found: Version,
    },
    /// A scheduled message the unit of work cancels or reschedules changed since it read it:
    /// the sweeper claimed it to send it, or another unit of work changed it. A conflict: the
    /// handler runs again, and its cancel finds what became of the message.
    MessageChangedSinceRead,
}

/// Why DynamoDB refused one action of a cancelled transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActionFailure {
    /// The action's number, from 1, in the order it was added.
    pub index: usize,
    /// The action, as `put to table T, key K`.
    pub action: String,
    /// The table.
    pub table: String,
    /// The key, when known.
    pub key: Option<String>,
    /// DynamoDB's code: [`CancellationCode::None`] for an innocent action.
    pub code: CancellationCode,
    /// For a failed condition: the handler's own, or a changed item.
    pub condition: Option<ConditionFailure>,
    /// DynamoDB's message, if any.
    pub message: Option<String>,
}

impl ActionFailure {
    /// True when this action failed only because of another writer: a transaction conflict, or
    /// an item that changed since it was read.
    pub fn is_conflict(&self) -> bool {
        match self.code {
            CancellationCode::TransactionConflict => true,
            CancellationCode::ConditionalCheckFailed => matches!(
                self.condition,
                Some(
                    ConditionFailure::ChangedSinceRead { .. }
                        | ConditionFailure::MessageChangedSinceRead
                )
            ),
            _ => false,
        }
    }
}

impl fmt::Display for ActionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "action {} ({}) failed", self.index, self.action)?;
        match &self.condition {
            Some(ConditionFailure::ChangedSinceRead { read, found }) => write!(
                f,
                ": the item changed since this unit of work read it ({read} read, {found} now)"
            ),
            Some(ConditionFailure::MessageChangedSinceRead) => f.write_str(
                ": the scheduled message changed since this unit of work read it (the sweeper \
                 claimed it to send it, or another unit of work changed it)",
            ),
            Some(ConditionFailure::Condition { expression }) => {
                write!(
                    f,
                    " with {}: the condition `{expression}` did not hold",
                    self.code
                )
            }
            None => {
                write!(f, " with {}", self.code)?;
                if let Some(message) = &self.message {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
        }
    }
}

pub(crate) fn describe_cancellation(reasons: &[ActionFailure]) -> String {
    let failed: Vec<String> = reasons
        .iter()
        .filter(|reason| reason.code != CancellationCode::None)
        .map(ToString::to_string)
        .collect();
    format!(
        "DynamoDB cancelled the transaction of {} actions, nothing was written: {}",
        reasons.len(),
        if failed.is_empty() {
            "no reason given".to_owned()
        } else {
            failed.join("; ")
        }
    )
}
