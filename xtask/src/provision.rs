//! `cargo xtask provision`: every table the tests and the demo need, from the schemas defined in
//! the runtime and the examples (no second copy here).

use outbox_examples::{counter, people, relay};
use outbox_runtime::table::{EnsureOutcome, TableSchema};
use outbox_runtime::{DynamoDb, OutboxConfig};

use crate::dynamodb_local::DynamoDbLocal;
use crate::local_server::LocalServer;
use crate::{Result, block_on};

/// Every table xtask provisions.
fn schemas() -> Vec<TableSchema> {
    vec![
        OutboxConfig::default().table_schema(),
        people::table_schema(people::PEOPLE_TABLE),
        // The stream relay's example: an outbox with its stream, and the relay's state table.
        relay::outbox_config().table_schema(),
        relay::state_table_schema(),
        // The greetings demo's consumer service: its counts and its inbox.
        counter::table_schema(),
        counter::inbox().table_schema(),
    ]
}

/// `cargo xtask provision` on its own: against `AWS_ENDPOINT_URL_DYNAMODB` or the running local
/// server.
pub(crate) fn run() -> Result<()> {
    let endpoint = match (
        DynamoDbLocal::external_endpoint(),
        DynamoDbLocal::read_state()?,
    ) {
        (Some(endpoint), _) => endpoint,
        (None, Some(server)) => server.endpoint(),
        (None, None) => {
            return Err(
                "no DynamoDB to provision: start one with `cargo xtask dynamodb start`, \
                        or set AWS_ENDPOINT_URL_DYNAMODB"
                    .into(),
            );
        }
    };
    provision(&endpoint)
}

/// Ensures every table exists with its schema, is ACTIVE and has TTL where asked.
pub(crate) fn provision(endpoint: &str) -> Result<()> {
    let db = DynamoDb::local(endpoint);
    block_on(async {
        db.check_reachable().await?;
        for schema in schemas() {
            let outcome = schema.ensure(&db).await?;
            let what = match outcome {
                EnsureOutcome::Created => "created",
                EnsureOutcome::AlreadyExisted => "already exists with the same schema",
                EnsureOutcome::StreamEnabled => "existed without its stream; stream enabled",
                _ => "ensured",
            };
            println!("table `{}`: {what}", schema.name);
        }
        Ok::<_, outbox_runtime::Error>(())
    })?;
    Ok(())
}
