//! The service under test: the message each command deposits ([`Happened`]), the entity it
//! writes in the same transaction, and the handlers, written with `#[transactional_handler]`,
//! whose body meets the command's fault before the commit.

use outbox_runtime::table::TableSchema;
use outbox_runtime::{Expr, Message, OutboxMessage, Postbox, Transaction, transactional_handler};
use serde::{Deserialize, Serialize};

use super::config::{Command, CommandFault};

/// The payload of the injected panics; the harness keeps them off stderr.
pub const INJECTED_PANIC: &str = "injected panic before the commit";

/// The message each command deposits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "chaos.happened")]
pub struct Happened {
    /// The command's id, used as the message id so the harness knows it in advance.
    #[outbox(id)]
    pub id: String,
    /// The ordering key.
    #[outbox(partition_key)]
    pub key: String,
    /// The command's place among the commands of its key.
    pub seq: u64,
}

/// The entity each command writes together with its message.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entity {
    #[serde(rename = "Id")]
    id: String,
    key: String,
    seq: u64,
}

/// The error of the chaos handlers.
#[derive(Debug)]
pub enum ChaosError {
    /// An error the harness injected.
    Injected,
    /// The runtime's error.
    Outbox(outbox_runtime::Error),
}

impl From<outbox_runtime::Error> for ChaosError {
    fn from(err: outbox_runtime::Error) -> Self {
        Self::Outbox(err)
    }
}

/// The service under test: one handler that clears at once, one whose process dies before the
/// clear.
pub struct ChaosHandler {
    pub(super) postbox: Postbox,
    pub(super) entities: TableSchema,
}

impl ChaosHandler {
    /// Writes the entity, deposits the message, meets the command's fault; clears at once.
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    pub async fn handle(
        &self,
        tx: &mut Transaction,
        command: Command,
    ) -> Result<Vec<Message>, ChaosError> {
        body(tx, &self.entities, &command).await
    }

    /// The same, but nobody clears after the commit (the process died).
    #[transactional_handler(postbox = self.postbox, tx = tx, clear = "sweeper")]
    pub async fn handle_then_die(
        &self,
        tx: &mut Transaction,
        command: Command,
    ) -> Result<Vec<Message>, ChaosError> {
        body(tx, &self.entities, &command).await
    }
}

async fn body(
    tx: &mut Transaction,
    entities: &TableSchema,
    command: &Command,
) -> Result<Vec<Message>, ChaosError> {
    let entity = Entity {
        id: command.id.clone(),
        key: command.key.clone(),
        seq: command.seq,
    };
    if command.fault == CommandFault::CommitRefused {
        // A new id never exists: DynamoDB cancels the whole transaction.
        tx.put_if(
            entities,
            &entity,
            Expr::new("attribute_exists(#id)").name("#id", "Id"),
        )?;
    } else {
        tx.put(entities, &entity)?;
    }
    tx.deposit(&Happened {
        id: command.id.clone(),
        key: command.key.clone(),
        seq: command.seq,
    })?;
    match command.fault {
        CommandFault::ErrorBeforeCommit => return Err(ChaosError::Injected),
        CommandFault::PanicBeforeCommit => panic!("{INJECTED_PANIC}"),
        // The caller polls once and drops the future here.
        CommandFault::CancelledBeforeCommit => tokio::task::yield_now().await,
        _ => {}
    }
    Ok(tx.messages().to_vec())
}
