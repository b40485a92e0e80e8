//! The unit of work: entity writes and deposited messages, committed together in one
//! `TransactWriteItems`.
//!
//! The contract follows sqlx: [`Transaction::commit`] and [`Transaction::rollback`] consume the
//! transaction, and dropping it while open discards it. Nothing is sent before the commit, so
//! there is never anything to undo.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, TransactWriteItem};
use futures_util::FutureExt as _;
use tracing::Instrument;

mod action;
mod expr;
mod read;
mod receive;
mod schedule;
mod version;
mod write;

pub use expr::Expr;

use crate::client::DynamoDb;
use crate::error::{Error, Result};
use crate::limits::{self, LimitError, MAX_ACTIONS, MAX_REQUEST_BYTES};
use crate::message::{Message, MessageId, OutboxMessage};
use crate::table::Outbox;
use crate::table::config::OutboxConfig;
use crate::table::deposit::{ClaimCheck, Upload, deposit_item, deposit_put, describe_deposit_key};
use action::{ActionInfo, cancellation_error, distinct_tables};
use read::Read;
use receive::Received;

/// The result of a successful commit: the messages it made durable, to be sent at once.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Committed {
    /// The deposited messages to send at once, in deposit order.
    pub messages: Vec<Message>,
    /// The scheduled messages' ids, in deposit order: the sweeper sends each when it is due.
    pub scheduled: Vec<MessageId>,
    /// Write capacity units the commit consumed (table and indexes), when DynamoDB reported it.
    pub capacity_units: Option<f64>,
}

/// A unit of work over `TransactWriteItems`: entity writes and outgoing messages, committed
/// together or not at all. Limits are checked as each action is added.
///
/// ```no_run
/// # async fn run(outbox: outbox_runtime::Outbox) -> outbox_runtime::Result<()> {
/// use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
/// use outbox_runtime::Message;
///
/// #[derive(serde::Serialize)]
/// struct Person { #[serde(rename = "Name")] name: String }
///
/// let people = TableSchema::new("People", KeyAttribute::new("Name", KeyKind::String));
/// let mut tx = outbox_runtime::Transaction::begin(&outbox);
/// tx.put(&people, &Person { name: "Tyrion".into() })?;
/// tx.deposit_message(Message::new("person.added", b"{\"name\":\"Tyrion\"}".to_vec()))?;
/// let committed = tx.commit().await?;
/// assert_eq!(committed.messages.len(), 1);
/// # Ok(()) }
/// ```
#[must_use = "a transaction does nothing until it is committed"]
pub struct Transaction {
    db: DynamoDb,
    outbox: Arc<OutboxConfig>,
    actions: Vec<TransactWriteItem>,
    infos: Vec<ActionInfo>,
    /// Item identity (`table` + key) to the number of the action on it.
    items: HashMap<String, usize>,
    /// Item identity to what this unit of work read of it.
    reads: HashMap<String, Read>,
    bytes: usize,
    messages: Vec<Message>,
    scheduled: Vec<MessageId>,
    /// The incoming message this unit of work handles, for a consumer.
    received: Option<Received>,
    /// The outbox's claim check, when it has one.
    claim_check: Option<Arc<ClaimCheck>>,
    /// The bodies the commit puts in S3 first.
    uploads: Vec<Upload>,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("outbox_table", &self.outbox.table_name)
            .field("actions", &self.infos.len())
            .field("messages", &self.messages.len())
            .field("reads", &self.reads.len())
            .field("received", &self.received.as_ref().map(|r| r.id.as_str()))
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Transaction {
    /// Begins a unit of work whose deposits go to `outbox`. In a handler, the postbox begins it
    /// ([`Postbox::begin`](crate::Postbox::begin)), or `#[transactional_handler]` does.
    pub fn begin(outbox: &Outbox) -> Self {
        let mut tx = Self::new(outbox.db().clone(), outbox.shared_config());
        tx.claim_check = outbox.handle().claim_check.clone();
        tx
    }

    pub(crate) fn new(db: DynamoDb, outbox: Arc<OutboxConfig>) -> Self {
        Self {
            db,
            outbox,
            actions: Vec::new(),
            infos: Vec::new(),
            items: HashMap::new(),
            reads: HashMap::new(),
            bytes: 0,
            messages: Vec::new(),
            scheduled: Vec::new(),
            received: None,
            claim_check: None,
            uploads: Vec::new(),
        }
    }

    /// How many actions the transaction holds.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The messages deposited so far to be sent right after the commit (not the scheduled ones:
    /// [`Transaction::scheduled`]).
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The ids of the messages scheduled so far ([`Transaction::deposit_at`]).
    pub fn scheduled(&self) -> &[MessageId] {
        &self.scheduled
    }

    /// Deposits a message of a derived type: it is stored with the entity writes, and sent
    /// right after the commit.
    ///
    /// # Errors
    /// As [`OutboxMessage::to_message`] and [`Transaction::deposit_message`].
    pub fn deposit<M: OutboxMessage>(&mut self, message: &M) -> Result<MessageId> {
        self.deposit_message(message.to_message()?)
    }

    /// Deposits a message of a derived type that falls due at `due`: it is stored with the
    /// entity writes, never sent by the immediate clear or a stream relay, and sent by the
    /// sweeper's first pass over its shard once it is due (not before; a `due` in the past is
    /// due at once). Its id is returned, as for any deposit.
    ///
    /// ```no_run
    /// # use std::time::{Duration, SystemTime};
    /// # #[derive(serde::Serialize, serde::Deserialize, outbox_runtime::OutboxMessage)]
    /// # #[outbox(topic = "payment.reminder")]
    /// # struct Reminder { order: String }
    /// # async fn run(outbox: outbox_runtime::Outbox) -> outbox_runtime::Result<()> {
    /// let mut tx = outbox_runtime::Transaction::begin(&outbox);
    /// let reminder = Reminder { order: "o-1".into() };
    /// tx.deposit_at(&reminder, SystemTime::now() + Duration::from_secs(24 * 3600))?;
    /// let committed = tx.commit().await?;
    /// assert!(committed.messages.is_empty());
    /// assert_eq!(committed.scheduled.len(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Transaction::deposit`].
    pub fn deposit_at<M: OutboxMessage>(
        &mut self,
        message: &M,
        due: SystemTime,
    ) -> Result<MessageId> {
        self.deposit_message_at(message.to_message()?, due)
    }

    /// [`Transaction::deposit_at`] a `delay` from now.
    ///
    /// # Errors
    /// As [`Transaction::deposit`].
    pub fn deposit_after<M: OutboxMessage>(
        &mut self,
        message: &M,
        delay: Duration,
    ) -> Result<MessageId> {
        self.deposit_message_at(message.to_message()?, SystemTime::now() + delay)
    }

    /// [`Transaction::deposit_at`] for a [`Message`].
    ///
    /// # Errors
    /// As [`Transaction::deposit_message`].
    pub fn deposit_message_at(&mut self, message: Message, due: SystemTime) -> Result<MessageId> {
        self.deposit_due(message, Some(due))
    }

    /// Deposits a message. Its put is conditional: an id already in the outbox cancels the
    /// commit with [`Error::DuplicateMessage`] and never overwrites the stored message.
    ///
    /// # Errors
    /// [`Error::InvalidMessage`] for an empty topic or id; [`Error::Limit`].
    pub fn deposit_message(&mut self, message: Message) -> Result<MessageId> {
        self.deposit_due(message, None)
    }

    fn deposit_due(&mut self, mut message: Message, due: Option<SystemTime>) -> Result<MessageId> {
        self.link_to_received(&mut message);
        let table = &self.outbox.table_name;
        let (item, upload) = deposit_item(
            &mut message,
            due,
            &self.outbox,
            self.claim_check.as_deref(),
            "deposit",
        )?;
        let size = limits::item_size(&item);
        let id = message.header.id.clone();
        let info = ActionInfo {
            message_id: Some(id.clone()),
            ..ActionInfo::new("deposit", table, Some(describe_deposit_key(&id)))
        };
        let put = deposit_put(&self.outbox.table_name, item);
        let identity = format!("{}\u{0}{}", self.outbox.table_name, id);
        self.push(
            TransactWriteItem::builder().put(put).build(),
            info,
            Some(identity),
            size,
        )?;
        self.uploads.extend(upload);
        if due.is_some() {
            self.scheduled.push(id.clone());
        } else {
            self.messages.push(message);
        }
        Ok(id)
    }

    /// Checks the limits for one more action and adds it.
    fn push(
        &mut self,
        action: TransactWriteItem,
        info: ActionInfo,
        identity: Option<String>,
        size: usize,
    ) -> Result<&mut Self> {
        let count = self.actions.len() + 1;
        if count > MAX_ACTIONS {
            return Err(LimitError::TooManyActions {
                limit: MAX_ACTIONS,
                count,
                action: info.to_string(),
            }
            .into());
        }
        if self.bytes + size > MAX_REQUEST_BYTES {
            return Err(LimitError::RequestTooLarge {
                limit: MAX_REQUEST_BYTES,
                size: self.bytes + size,
                action: info.to_string(),
            }
            .into());
        }
        if let Some(identity) = &identity
            && let Some(first) = self.items.get(identity)
        {
            return Err(LimitError::DuplicateItem {
                first: *first,
                action: format!("action {count} ({info})"),
            }
            .into());
        }
        if let Some(identity) = identity {
            self.items.insert(identity, count);
        }
        self.bytes += size;
        self.actions.push(action);
        self.infos.push(info);
        Ok(self)
    }

    /// Commits every action in one `TransactWriteItems` with a client request token, so the
    /// SDK's retries of an ambiguous failure never apply it twice. An empty transaction commits
    /// without a request.
    ///
    /// # Errors
    /// [`Error::TransactionCancelled`] with every action's reason (see [`Error::is_conflict`]);
    /// [`Error::DuplicateMessage`] when only deposits of existing ids failed;
    /// [`Error::CommitUncertain`] when the outcome is unknown; [`Error::Limit`] when the ids of
    /// the messages deposited, written into the inbox record of a received message, take the
    /// request past 4 MB (refused before anything is sent).
    pub async fn commit(mut self) -> Result<Committed> {
        self.record_deposits_in_inbox()?;
        if self.actions.is_empty() {
            return Ok(Committed::default());
        }
        let uploads = std::mem::take(&mut self.uploads);
        let claim_check = self.claim_check.clone();
        #[cfg(feature = "s3")]
        let created = match &claim_check {
            Some(claim_check) if !uploads.is_empty() => claim_check.put_all(&uploads).await?,
            _ => Vec::new(),
        };
        let result = self.send().await;
        // A commit that surely did not happen leaves no object of its own; one whose outcome
        // is unknown keeps them, as its messages may exist.
        #[cfg(feature = "s3")]
        if let Some(claim_check) = &claim_check
            && !created.is_empty()
            && matches!(&result, Err(err) if !matches!(err, Error::CommitUncertain { .. }))
        {
            claim_check.delete_all(created.into_iter()).await;
        }
        #[cfg(not(feature = "s3"))]
        let _ = (uploads, claim_check);
        result
    }

    /// Sends the `TransactWriteItems`.
    async fn send(self) -> Result<Committed> {
        let token = uuid::Uuid::now_v7().to_string();
        let count = self.actions.len();
        let span = tracing::debug_span!(
            "outbox.commit",
            actions = count,
            messages = self.messages.len(),
            token = %token
        );
        let result = self
            .db
            .client()
            .transact_write_items()
            .set_transact_items(Some(self.actions))
            .client_request_token(&token)
            .return_consumed_capacity(
                self.db
                    .consumed_capacity()
                    .unwrap_or(ReturnConsumedCapacity::Total),
            )
            .send()
            .boxed()
            .instrument(span)
            .await;
        match result {
            Ok(output) => Ok(Committed {
                messages: self.messages,
                scheduled: self.scheduled,
                capacity_units: Some(
                    output
                        .consumed_capacity()
                        .iter()
                        .filter_map(|c| c.capacity_units())
                        .sum(),
                ),
            }),
            Err(err) => {
                let cancellation = err
                    .as_service_error()
                    .and_then(|service| match service {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                            Some(cancelled.cancellation_reasons().to_vec())
                        }
                        _ => None,
                    });
                if let Some(reasons) = cancellation {
                    return Err(cancellation_error(&self.infos, &reasons));
                }
                let tables = distinct_tables(&self.infos);
                match Error::from_sdk("TransactWriteItems", self.db.endpoint(), &tables, err) {
                    err @ Error::Unreachable { .. } => Err(Error::CommitUncertain {
                        actions: count,
                        source: Box::new(err),
                    }),
                    other => Err(other),
                }
            }
        }
    }

    /// Discards the transaction. Nothing was sent, so nothing is undone; this is the same as
    /// dropping it, spelled out.
    pub fn rollback(self) {
        tracing::debug!(
            actions = self.actions.len(),
            "outbox transaction rolled back"
        );
    }
}
