//! The consumer's side of a unit of work: the incoming message's inbox record, and the
//! causation and correlation of what the handler deposits.

use crate::error::{Error, Result};
use crate::limits::{self, LimitError};
use crate::message::{Item, Message, MessageId};
use crate::table::inbox::{self, Inbox};
use crate::transaction::Transaction;
use crate::transaction::action::{ActionInfo, describe_key, identity};

/// The message a unit of work handles, and its inbox record.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) id: MessageId,
    pub(crate) correlation_id: Option<String>,
    /// The inbox table.
    table: String,
    /// The inbox item, without the deposited ids (added at the commit).
    item: Item,
    /// The number of the inbox record among the transaction's actions.
    action: usize,
}

impl Transaction {
    /// Makes this unit of work the handling of `incoming` by `inbox`'s consumer: the commit also
    /// writes the inbox item (on condition that it does not exist), and every message deposited
    /// afterwards carries `incoming`'s id as its causation id and, unless it sets its own,
    /// `incoming`'s correlation id. When the consumer handled the message before, the commit
    /// applies nothing and returns [`Error::DuplicateDelivery`].
    ///
    /// `#[transactional_handler(incoming = ..., inbox = ...)]` calls this before the body runs.
    ///
    /// ```no_run
    /// # async fn run(outbox: outbox_runtime::Outbox, incoming: outbox_runtime::Message)
    /// # -> outbox_runtime::Result<()> {
    /// use outbox_runtime::Error;
    /// use outbox_runtime::consumer::Inbox;
    ///
    /// let inbox = Inbox::new("greeting-counter");
    /// let mut tx = outbox_runtime::Transaction::begin(&outbox);
    /// tx.receive(&inbox, &incoming)?;
    /// // ... the handler's writes and deposits ...
    /// match tx.commit().await {
    ///     Ok(_) => println!("handled {}", incoming.id()),
    ///     Err(Error::DuplicateDelivery { .. }) => println!("{} again: absorbed", incoming.id()),
    ///     Err(err) => return Err(err),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidAction`] when the unit of work already received a message or deposited
    /// one (receive first, so every deposit is linked); [`Error::InvalidConfig`] for a bad
    /// inbox; [`Error::InvalidMessage`] for an incoming message without an id; [`Error::Limit`].
    pub fn receive(&mut self, inbox: &Inbox, incoming: &Message) -> Result<&mut Self> {
        let action = format!(
            "inbox record of message {} for consumer `{}`",
            incoming.id(),
            inbox.consumer()
        );
        if let Some(received) = &self.received {
            return Err(Error::InvalidAction {
                action,
                reason: format!(
                    "this unit of work already handles message {}; one unit of work handles one \
                     incoming message",
                    received.id
                ),
            });
        }
        if !self.messages.is_empty() {
            return Err(Error::InvalidAction {
                action,
                reason: "messages were deposited before the incoming one was received; receive \
                         first, so that every deposit carries the incoming id as its causation id"
                    .to_owned(),
            });
        }
        let item = inbox.record(incoming)?;
        let key = inbox.key(incoming.id());
        let info = ActionInfo {
            message_id: Some(incoming.id().clone()),
            inbox_consumer: Some(inbox.consumer().to_owned()),
            ..ActionInfo::new("inbox record", inbox.table_name(), Some(describe_key(&key)))
        };
        let size = limits::item_size(&item);
        let action = self.actions.len();
        let write = inbox::put(inbox.table_name(), item.clone());
        self.push(write, info, Some(identity(inbox.table_name(), &key)), size)?;
        self.received = Some(Received {
            id: incoming.id().clone(),
            correlation_id: incoming.header.correlation_id.clone(),
            table: inbox.table_name().to_owned(),
            item,
            action,
        });
        Ok(self)
    }

    /// Writes the ids of the deposited messages into the inbox record, just before the commit:
    /// a later duplicate delivery reads them back from its failed condition and re-sends those
    /// still outstanding (the first handling committed, then died before its sends). The ids
    /// count toward the request's size like every action did as it was added.
    ///
    /// # Errors
    /// [`LimitError::RequestTooLarge`] when the ids take the request past 4 MB.
    pub(crate) fn record_deposits_in_inbox(&mut self) -> Result<()> {
        let Some(received) = &self.received else {
            return Ok(());
        };
        if self.messages.is_empty() {
            return Ok(());
        }
        let ids: Vec<MessageId> = self.messages.iter().map(|m| m.id().clone()).collect();
        let item = inbox::with_deposited(received.item.clone(), &ids);
        let size = self.bytes + limits::item_size(&item) - limits::item_size(&received.item);
        if size > limits::MAX_REQUEST_BYTES {
            return Err(LimitError::RequestTooLarge {
                limit: limits::MAX_REQUEST_BYTES,
                size,
                action: format!(
                    "the inbox record of message {} with the ids of the {} messages deposited",
                    received.id,
                    ids.len()
                ),
            }
            .into());
        }
        self.bytes = size;
        self.actions[received.action] = inbox::put(&received.table, item);
        Ok(())
    }

    /// Links a message deposited while handling an incoming one.
    pub(crate) fn link_to_received(&self, message: &mut Message) {
        if let Some(received) = &self.received {
            message
                .header
                .causation_id
                .get_or_insert_with(|| received.id.as_str().to_owned());
            if message.header.correlation_id.is_none() {
                message.header.correlation_id = received.correlation_id.clone();
            }
        }
    }
}
