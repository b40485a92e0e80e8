//! The consumer's side of a unit of work: the incoming message's inbox record, and the
//! causation and correlation of what the handler deposits.

use crate::consumer::Inbox;
use crate::error::{Error, Result};
use crate::limits;
use crate::message::{Message, MessageId};
use crate::transaction::Transaction;
use crate::transaction::action::{ActionInfo, describe_key, identity};

/// The message a unit of work handles.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) id: MessageId,
    pub(crate) correlation_id: Option<String>,
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
    /// let mut tx = outbox.begin();
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
        let (write, item) = inbox.record(incoming)?;
        let key = item
            .iter()
            .filter(|(name, _)| {
                [
                    crate::consumer::inbox::MESSAGE_ID,
                    crate::consumer::inbox::CONSUMER,
                ]
                .contains(&name.as_str())
            })
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let info = ActionInfo {
            message_id: Some(incoming.id().clone()),
            inbox_consumer: Some(inbox.consumer().to_owned()),
            ..ActionInfo::new("inbox record", inbox.table_name(), Some(describe_key(&key)))
        };
        let size = limits::item_size(&item);
        self.push(write, info, Some(identity(inbox.table_name(), &key)), size)?;
        self.received = Some(Received {
            id: incoming.id().clone(),
            correlation_id: incoming.header.correlation_id.clone(),
        });
        Ok(self)
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
