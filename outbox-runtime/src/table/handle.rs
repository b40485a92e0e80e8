//! The outbox table as every operation sees it: the client, the configuration, and what was
//! learnt of the role's permissions on the way. [`Outbox`](crate::Outbox) is its public face;
//! the operations themselves live one concern per module (`items`, `mark`, `list`, `attempts`,
//! `lease`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::client::DynamoDb;
use crate::error::Error;
use crate::message::{Item, MessageId};
use crate::table::attributes as attr;
use crate::table::config::OutboxConfig;
use crate::table::deposit::ClaimCheck;

/// How often unprocessed batch items are retried before giving up.
pub(crate) const UNPROCESSED_RETRIES: u32 = 8;

/// The outbox table, its client and configuration. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct TableHandle {
    pub(crate) db: DynamoDb,
    pub(crate) config: Arc<OutboxConfig>,
    /// Set once DynamoDB refused a PartiQL mark for want of permission: from then on this
    /// outbox (and its clones) marks with `UpdateItem` and spends no request on PartiQL.
    pub(crate) partiql_denied: Arc<AtomicBool>,
    /// Where bodies over the claim check's threshold go.
    pub(crate) claim_check: Option<Arc<ClaimCheck>>,
}

impl TableHandle {
    pub(crate) fn new(db: DynamoDb, config: OutboxConfig) -> Self {
        Self {
            db,
            config: Arc::new(config),
            partiql_denied: Arc::new(AtomicBool::new(false)),
            claim_check: None,
        }
    }

    /// The table's name.
    pub(crate) fn table(&self) -> &str {
        &self.config.table_name
    }

    /// An SDK error as the runtime's, naming the operation, the endpoint and the table.
    pub(crate) fn sdk_error<E>(
        &self,
        operation: &'static str,
        err: SdkError<E, HttpResponse>,
    ) -> Error
    where
        aws_sdk_dynamodb::Error: From<SdkError<E, HttpResponse>>,
    {
        Error::from_sdk(operation, self.db.endpoint(), self.table(), err)
    }
}

/// The key of a message's item.
pub(crate) fn key(id: &MessageId) -> Item {
    Item::from([(
        attr::MESSAGE_ID.to_owned(),
        AttributeValue::S(id.to_string()),
    )])
}

/// `ids` without repeats, in their first order: a batch naming one item twice is refused.
pub(crate) fn unique_ids(ids: &[MessageId]) -> Vec<&MessageId> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().filter(|id| seen.insert(*id)).collect()
}

/// Whether a request was refused because its condition did not hold (DynamoDB's
/// `ConditionalCheckFailedException`, whichever operation it answered).
pub(crate) fn condition_failed<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .is_some_and(|e| e.code() == Some("ConditionalCheckFailedException"))
}
