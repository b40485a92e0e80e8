//! Cancelling and rescheduling a scheduled message inside a unit of work, atomically with the
//! handler's other writes ("order paid" cancels "payment timed out").

use std::time::SystemTime;

use crate::error::Result;
use crate::limits;
use crate::message::MessageId;
use crate::table::deposit::describe_deposit_key;
use crate::table::handle::{TableHandle, key};
use crate::table::schedule::{ScheduleOutcome, cancel_action, outcome_of, reschedule_action};
use crate::transaction::Transaction;
use crate::transaction::action::ActionInfo;

/// An upper bound of a change's expressions, names and values, toward the request size.
const EXPRESSIONS_BYTES: usize = 512;

impl Transaction {
    /// Cancels the scheduled message `id` with this unit of work's commit: it is never sent.
    /// The message is read first (consistently), and the outcome says what it found; only on
    /// [`ScheduleOutcome::Applied`] does the commit carry the cancel, conditional on the message
    /// being still scheduled and not yet claimed by the sweeper. Should the sweeper claim it
    /// between the read and the commit, the commit is refused as a conflict and a handler runs
    /// again, to find the message [`InFlight`](ScheduleOutcome::InFlight): a cancel is never
    /// reported for a message that is sent.
    ///
    /// ```no_run
    /// use outbox_runtime::{MessageId, ScheduleOutcome, Transaction};
    ///
    /// # async fn run(outbox: outbox_runtime::Outbox, timeout: MessageId) -> outbox_runtime::Result<()> {
    /// let mut tx = Transaction::begin(&outbox);
    /// // ... the payment's own writes ...
    /// match tx.cancel(&timeout).await? {
    ///     ScheduleOutcome::Applied => {}
    ///     ScheduleOutcome::InFlight | ScheduleOutcome::AlreadySent => {
    ///         // The timeout is out: the order was timed out before the payment came.
    ///     }
    ///     other => println!("nothing to cancel: {other:?}"),
    /// }
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The read's error; [`Error::Limit`](crate::Error::Limit), or
    /// [`Error::InvalidAction`](crate::Error::InvalidAction) for a second action on the same
    /// message in this unit of work.
    pub async fn cancel(&mut self, id: &MessageId) -> Result<ScheduleOutcome> {
        let now = SystemTime::now();
        self.change_schedule(id, "cancel", now, |tx| cancel_action(&tx.outbox, id, now))
            .await
    }

    /// Moves the scheduled message `id` to fall due at `due` with this unit of work's commit;
    /// read first and conditional as [`Transaction::cancel`] is, with the same outcomes.
    ///
    /// # Errors
    /// As [`Transaction::cancel`].
    pub async fn reschedule(&mut self, id: &MessageId, due: SystemTime) -> Result<ScheduleOutcome> {
        let now = SystemTime::now();
        self.change_schedule(id, "reschedule", now, |tx| {
            reschedule_action(&tx.outbox, id, due, now)
        })
        .await
    }

    async fn change_schedule(
        &mut self,
        id: &MessageId,
        kind: &'static str,
        now: SystemTime,
        action: impl FnOnce(&Self) -> aws_sdk_dynamodb::types::TransactWriteItem,
    ) -> Result<ScheduleOutcome> {
        let table = TableHandle::new(self.db.clone(), (*self.outbox).clone());
        let stored = table.get(id).await?;
        if let Some(outcome) = outcome_of(stored.as_ref(), now) {
            return Ok(outcome);
        }
        let info = ActionInfo {
            message_id: Some(id.clone()),
            scheduled_change: true,
            ..ActionInfo::new(
                kind,
                &self.outbox.table_name,
                Some(describe_deposit_key(id)),
            )
        };
        let size = limits::item_size(&key(id)) + EXPRESSIONS_BYTES;
        let identity = format!("{}\u{0}{}", self.outbox.table_name, id);
        let write = action(self);
        self.push(write, info, Some(identity), size)?;
        Ok(ScheduleOutcome::Applied)
    }
}
