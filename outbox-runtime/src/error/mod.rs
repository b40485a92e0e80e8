//! The one error type of the runtime.

mod cancellation;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;

use crate::limits::LimitError;
use crate::message::id::MessageId;

use cancellation::describe_cancellation;
pub use cancellation::{ActionFailure, CancellationCode, ConditionFailure, Version};

/// A boxed error source, kept so callers can walk the chain with [`std::error::Error::source`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the runtime, each with a message that says what to do next.
///
/// ```
/// use outbox_runtime::Error;
///
/// let err = Error::TableNotFound { table: "Outbox".into() };
/// assert!(err.to_string().contains("Outbox::ensure_table"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No answer from the DynamoDB endpoint: it is down, wrong, or too slow.
    #[error("cannot reach DynamoDB at {endpoint}: {source}; {}", reach_hint(.endpoint))]
    Unreachable {
        /// The endpoint that did not answer.
        endpoint: String,
        /// What the transport reported.
        #[source]
        source: BoxError,
    },

    /// The table does not exist at the endpoint.
    #[error(
        "table `{table}` does not exist at this endpoint; create it with `Outbox::ensure_table` \
         or `TableSchema::ensure`, or with your infrastructure code from the schema \
         `OutboxConfig::table_schema` describes (check the region and endpoint too)"
    )]
    TableNotFound {
        /// The missing table.
        table: String,
    },

    /// A table of the expected name exists but its schema is not the one required.
    #[error(
        "table `{table}` exists with another schema: {}; delete it or choose another table name",
        differences.join("; ")
    )]
    SchemaMismatch {
        /// The table whose schema differs.
        table: String,
        /// Each difference, as `what: expected X, found Y`.
        differences: Vec<String>,
    },

    /// A table did not become `ACTIVE` in time.
    #[error("table `{table}` is still {status} after {waited_secs} s; try again later")]
    TableNotActive {
        /// The table that is not ready.
        table: String,
        /// The status it was last seen in.
        status: String,
        /// How long we waited.
        waited_secs: u64,
    },

    /// The outbox table has no DynamoDB Stream the stream relay can read (none enabled, or one
    /// without new images).
    #[error(
        "table `{table}` has no DynamoDB Stream the stream relay can read: {problem}; enable it \
         with `OutboxConfig::with_stream` and `Outbox::ensure_table` (which adds it to an \
         existing table with UpdateTable), or with your infrastructure code \
         (StreamViewType NEW_IMAGE)"
    )]
    StreamNotEnabled {
        /// The outbox table.
        table: String,
        /// What was found instead.
        problem: String,
    },

    /// A DynamoDB Streams request failed (`ListStreams`, `DescribeStream`, `GetShardIterator`,
    /// `GetRecords`).
    #[error(
        "DynamoDB Streams {operation} for table `{table}` at {endpoint} failed: {source}; check \
         AWS_ENDPOINT_URL_DYNAMODB_STREAMS (or the region) and that the role may call \
         dynamodb:{operation} on the table's stream (see `iam::Part::StreamRelay`)"
    )]
    Stream {
        /// The API operation.
        operation: &'static str,
        /// The outbox table whose stream it read.
        table: String,
        /// Where the client points.
        endpoint: String,
        /// True when the same call may succeed later (no answer, throttling, a server error).
        retryable: bool,
        /// The SDK's error.
        #[source]
        source: BoxError,
    },

    /// Configuration that cannot work, found before anything was sent.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A message, or an item read as one, is not valid.
    #[error("invalid message{}: {reason}", message_id.as_ref().map(|id| format!(" {id}")).unwrap_or_default())]
    InvalidMessage {
        /// The message concerned, when known.
        message_id: Option<MessageId>,
        /// What is wrong and what to do.
        reason: String,
    },

    /// An item in the outbox table lacks an attribute or holds one of the wrong type.
    #[error(
        "outbox item {message_id} in table `{table}`: attribute `{attribute}` {problem}; the \
         item was not written by this library or was edited by hand"
    )]
    CorruptItem {
        /// The table the item was read from.
        table: String,
        /// The item's `MessageId`, or `?` when that is what is missing.
        message_id: String,
        /// The attribute at fault.
        attribute: &'static str,
        /// What is wrong with it.
        problem: String,
    },

    /// A message body could not be encoded or decoded.
    #[error("cannot {action} the body of `{type_name}` on topic `{topic}`: {source}")]
    Serialization {
        /// `encode` or `decode`.
        action: &'static str,
        /// The Rust type.
        type_name: &'static str,
        /// The topic.
        topic: String,
        /// What serde reported.
        #[source]
        source: BoxError,
    },

    /// A message of another topic or type was decoded as this type.
    #[error(
        "message {message_id} cannot be decoded as `{type_name}`: expected {expected}, found {found}"
    )]
    WrongMessage {
        /// The Rust type asked for.
        type_name: &'static str,
        /// The topic and type it accepts.
        expected: String,
        /// The topic and type the message has.
        found: String,
        /// The message.
        message_id: MessageId,
    },

    /// A continuation token that this library did not make, or that was cut short.
    #[error(
        "continuation token `{token}` is not valid: {reason}; pass back a token exactly as a \
         page returned it, or none to start from the beginning"
    )]
    InvalidContinuationToken {
        /// The token given.
        token: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A key (or an item's key attributes) that does not fit the table's key schema.
    #[error("key for table `{table}`: {problem}")]
    InvalidKey {
        /// The table.
        table: String,
        /// What is wrong: the attribute, the kind expected and the kind given.
        problem: String,
    },

    /// An action the unit of work refuses because it could lose an update or read its own
    /// pending write; nothing was sent.
    #[error("{action}: {reason}")]
    InvalidAction {
        /// The action, as `put to table T, key K`.
        action: String,
        /// Why, and what to do instead.
        reason: String,
    },

    /// Every run of a unit of work conflicted with other writers, as many runs as its retry
    /// bound allows; the last run's error is kept.
    #[error(
        "the unit of work ran {runs} times and conflicted with other writers every time, the \
         most its retry bound allows (`retries = {retries}`); the last time: {source}"
    )]
    ConflictRetriesExhausted {
        /// How many times the body ran.
        runs: u32,
        /// The bound: runs after the first.
        retries: u32,
        /// The last conflict.
        #[source]
        source: Box<Error>,
    },

    /// A transaction would break one of DynamoDB's limits; nothing was sent.
    #[error("{0}")]
    Limit(#[from] LimitError),

    /// The same message id is already in the outbox; nothing was overwritten.
    #[error(
        "message {message_id} is already in the outbox table `{table}`; a message id is used \
         once (let the id default to a fresh UUID, or check for the earlier message)"
    )]
    DuplicateMessage {
        /// The outbox table.
        table: String,
        /// The id that exists.
        message_id: MessageId,
    },

    /// The incoming message was already handled by this consumer: its inbox item exists, so
    /// this delivery is a duplicate and the transaction applied nothing. Acknowledge (delete)
    /// the delivery; a consumer handler returns `Ok` for it
    /// (see [`Inbox`](crate::consumer::Inbox)).
    #[error(
        "message {message_id} was already handled by consumer `{consumer}` (its item is in the \
         inbox table `{table}`): this delivery is a duplicate and nothing of it was applied; \
         acknowledge it"
    )]
    DuplicateDelivery {
        /// The inbox table.
        table: String,
        /// The consumer that handled it.
        consumer: String,
        /// The incoming message's id.
        message_id: MessageId,
        /// What the first handling deposited, as its inbox item lists them.
        deposited: Vec<MessageId>,
    },

    /// DynamoDB cancelled the transaction; every action's reason is kept.
    #[error("{}", describe_cancellation(reasons))]
    TransactionCancelled {
        /// One entry per action, in the order they were added.
        reasons: Vec<ActionFailure>,
    },

    /// The commit's outcome is unknown after the SDK's own retries (a timeout, a dropped
    /// connection). Committing the same transaction again is safe: its client request token
    /// makes DynamoDB apply it at most once.
    #[error("the commit of {actions} actions may or may not have been applied: {source}")]
    CommitUncertain {
        /// How many actions the transaction had.
        actions: usize,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },

    /// One message of a batch request was refused while the others went through (the batch
    /// itself succeeded); nothing else about the message changed.
    #[error(
        "DynamoDB {operation} on table `{table}` failed for message {message_id}: {code}: \
         {reason}{}",
        item_hint(.code)
    )]
    ItemFailed {
        /// The API operation, for example `BatchExecuteStatement`.
        operation: &'static str,
        /// The table concerned.
        table: String,
        /// The message.
        message_id: MessageId,
        /// DynamoDB's code, for example `ValidationError` or `ThrottlingError`.
        code: String,
        /// DynamoDB's message.
        reason: String,
    },

    /// A batch request kept coming back with items unprocessed: the table is throttled.
    #[error(
        "DynamoDB {operation} on table `{table}` left {} items unprocessed after {retries} \
         retries ({}): the table is throttled; raise its capacity (or use on-demand billing) or \
         work in smaller batches",
        unprocessed.len(),
        list_ids(unprocessed)
    )]
    Throttled {
        /// The API operation, for example `BatchWriteItem`.
        operation: &'static str,
        /// The table concerned.
        table: String,
        /// What is still unprocessed: message ids, or keys as `Name="Tyrion"`.
        unprocessed: Vec<String>,
        /// How many times they were sent again.
        retries: u32,
    },

    /// DynamoDB answered with something this library did not expect (a page whose last key is
    /// not the table's, say): a bug on one side or the other.
    #[error(
        "DynamoDB {operation} on table `{table}` answered unexpectedly: {problem}; please report \
         this with the DynamoDB endpoint and version"
    )]
    UnexpectedResponse {
        /// The API operation.
        operation: &'static str,
        /// The table concerned.
        table: String,
        /// What was unexpected.
        problem: String,
    },

    /// The claim check could not put a body in S3: nothing was committed (the objects this
    /// commit had put are deleted).
    #[error(
        "the claim check could not {operation} the body of message {message_id} at {location}: \
         {reason}; nothing was committed"
    )]
    ClaimCheck {
        /// `put`.
        operation: &'static str,
        /// The message whose body it was.
        message_id: MessageId,
        /// `s3://bucket/key`.
        location: String,
        /// S3's answer.
        reason: String,
    },
    /// Any other error DynamoDB returned, with the operation and table it came from.
    #[error("DynamoDB {operation} on table `{table}` failed: {source}")]
    DynamoDb {
        /// The API operation, for example `TransactWriteItems`.
        operation: &'static str,
        /// The table concerned (or several, comma separated).
        table: String,
        /// The SDK's error, with the service's code and message.
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
}

impl Error {
    /// True when the error is a transaction cancelled only because of other writers: another
    /// transaction touched the same items at the same time, or an item changed since this unit
    /// of work read it. Running the whole unit of work again, with fresh reads, may succeed; a
    /// condition the handler wrote itself never makes an error a conflict.
    ///
    /// ```
    /// use outbox_runtime::Error;
    /// assert!(!Error::TableNotFound { table: "Outbox".into() }.is_conflict());
    /// ```
    pub fn is_conflict(&self) -> bool {
        match self {
            Error::TransactionCancelled { reasons } => {
                let failed: Vec<&ActionFailure> = reasons
                    .iter()
                    .filter(|reason| reason.code != CancellationCode::None)
                    .collect();
                !failed.is_empty() && failed.iter().all(|reason| reason.is_conflict())
            }
            Error::DynamoDb { source, .. } => matches!(
                **source,
                aws_sdk_dynamodb::Error::TransactionConflictException(_)
                    | aws_sdk_dynamodb::Error::TransactionInProgressException(_)
            ),
            _ => false,
        }
    }

    /// True when the same call may succeed later, unchanged: a conflict, an endpoint that did
    /// not answer, throttling, a commit whose outcome is unknown (committing the same
    /// transaction again is safe), or a unit of work that ran out of retries under contention.
    /// False for everything that needs a change first: a missing table, a bad configuration or
    /// message, a limit, a failed condition of the handler's own.
    ///
    /// ```
    /// use outbox_runtime::Error;
    /// assert!(!Error::TableNotFound { table: "Outbox".into() }.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Stream { retryable, .. } => *retryable,
            Error::Unreachable { .. }
            | Error::Throttled { .. }
            | Error::CommitUncertain { .. }
            | Error::ConflictRetriesExhausted { .. } => true,
            Error::DynamoDb { source, .. } => {
                matches!(
                    **source,
                    aws_sdk_dynamodb::Error::ProvisionedThroughputExceededException(_)
                        | aws_sdk_dynamodb::Error::RequestLimitExceeded(_)
                        | aws_sdk_dynamodb::Error::InternalServerError(_)
                        | aws_sdk_dynamodb::Error::TransactionConflictException(_)
                        | aws_sdk_dynamodb::Error::TransactionInProgressException(_)
                ) || self.is_conflict()
            }
            Error::TransactionCancelled { reasons } => {
                self.is_conflict()
                    || reasons.iter().all(|reason| {
                        matches!(
                            reason.code,
                            CancellationCode::None
                                | CancellationCode::TransactionConflict
                                | CancellationCode::ThrottlingError
                                | CancellationCode::ProvisionedThroughputExceeded
                        )
                    }) && reasons
                        .iter()
                        .any(|reason| reason.code != CancellationCode::None)
            }
            _ => false,
        }
    }

    /// Classifies an SDK error: transport failures name the endpoint, a missing table names the
    /// table, everything else keeps the SDK error as its source.
    pub(crate) fn from_sdk<E>(
        operation: &'static str,
        endpoint: &str,
        table: &str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        aws_sdk_dynamodb::Error: From<SdkError<E, HttpResponse>>,
    {
        match err {
            SdkError::DispatchFailure(failure) => Error::Unreachable {
                endpoint: endpoint.to_owned(),
                source: match failure.as_connector_error() {
                    Some(cause) => innermost_cause(cause, failure.is_timeout()).into(),
                    None => "the connection failed".into(),
                },
            },
            SdkError::TimeoutError(_) => Error::Unreachable {
                endpoint: endpoint.to_owned(),
                source: "no answer before the timeout".into(),
            },
            other => match aws_sdk_dynamodb::Error::from(other) {
                aws_sdk_dynamodb::Error::ResourceNotFoundException(_) => Error::TableNotFound {
                    table: table.to_owned(),
                },
                source => Error::DynamoDb {
                    operation,
                    table: table.to_owned(),
                    source: Box::new(source),
                },
            },
        }
    }
}

/// Up to five ids, then how many more.
fn list_ids(ids: &[String]) -> String {
    let shown: Vec<String> = ids.iter().take(5).cloned().collect();
    match ids.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// What to do about a message refused inside a batch.
fn item_hint(code: &str) -> &'static str {
    match code {
        "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded" => {
            "; the table is throttled: the message stays outstanding and the sweeper marks it \
             later"
        }
        _ => "",
    }
}

/// What to do about an endpoint that does not answer: a local one is started, a remote one is
/// checked.
fn reach_hint(endpoint: &str) -> &'static str {
    let authority = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    // `[::1]:8000`, `127.0.0.1:8000`, `localhost:8000`: the host without the port.
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    let local = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
    if local {
        "nothing listens there: start the local DynamoDB (DynamoDB Local, a container) meant to \
         serve it, or point AWS_ENDPOINT_URL_DYNAMODB at one that runs"
    } else {
        "check that it is up and reachable from here (VPC endpoint, proxy, firewall, \
         container network) and that the region and endpoint are the ones intended \
         (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB)"
    }
}

/// The innermost cause of a dispatch failure, which is the part a user can act on
/// ("Connection refused", "dns error").
fn innermost_cause(failure: &(dyn std::error::Error + 'static), timeout: bool) -> String {
    let mut reason = if timeout {
        "connection timed out".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    let mut cause = Some(failure);
    while let Some(err) = cause {
        reason = err.to_string();
        cause = err.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable(endpoint: &str) -> String {
        Error::Unreachable {
            endpoint: endpoint.to_owned(),
            source: "Connection refused".into(),
        }
        .to_string()
    }

    #[test]
    fn a_throttled_batch_names_its_first_ids_and_counts_the_rest() {
        let unprocessed: Vec<String> = (0..7).map(|n| format!("m{n}")).collect();
        let text = Error::Throttled {
            operation: "BatchWriteItem",
            table: "Outbox".into(),
            unprocessed,
            retries: 8,
        }
        .to_string();
        assert!(
            text.starts_with(
                "DynamoDB BatchWriteItem on table `Outbox` left 7 items unprocessed after 8 \
                 retries (m0, m1, m2, m3, m4 and 2 more): the table is throttled"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_local_endpoint_that_does_not_answer_is_to_be_started() {
        for endpoint in [
            "http://127.0.0.1:8000",
            "http://localhost:8000",
            "http://[::1]:8000",
            "http://LOCALHOST",
            "127.0.0.1:8000",
        ] {
            let message = unreachable(endpoint);
            assert!(message.contains("start the local DynamoDB"), "{message}");
            assert!(!message.contains("xtask"), "{message}");
        }
    }

    #[test]
    fn a_remote_endpoint_that_does_not_answer_is_to_be_checked_not_started() {
        for endpoint in [
            "http://localhost.example.com:8000",
            "http://127.0.0.1.example.com",
            "http://dynamodb-local:8000",
        ] {
            let message = unreachable(endpoint);
            assert!(!message.contains("start the local"), "{message}");
        }
        let message = unreachable("https://dynamodb.eu-west-1.amazonaws.com");
        assert!(
            message.starts_with(
                "cannot reach DynamoDB at https://dynamodb.eu-west-1.amazonaws.com: \
                 Connection refused; check that it is up and reachable"
            ),
            "{message}"
        );
        assert!(!message.contains("xtask"), "{message}");
    }
}
