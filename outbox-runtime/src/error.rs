//! The one error type of the runtime.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;

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
/// assert!(err.to_string().contains("cargo xtask provision"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No answer from the DynamoDB endpoint: it is down, wrong, or too slow.
    #[error(
        "cannot reach DynamoDB at {endpoint}: {source}; start DynamoDB Local with \
         `cargo xtask dynamodb start` (or run everything with `cargo xtask test`), or set \
         DYNAMODB_ENDPOINT to the URL of a running endpoint"
    )]
    Unreachable {
        /// The endpoint that did not answer.
        endpoint: String,
        /// What the transport reported.
        #[source]
        source: BoxError,
    },

    /// The table does not exist at the endpoint.
    #[error(
        "table `{table}` does not exist; create it with `cargo xtask provision` (local) or \
         `TableSchema::ensure` (your own account)"
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

    /// Configuration that cannot work, found before anything was sent.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

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
