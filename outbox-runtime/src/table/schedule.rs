//! Scheduled messages after their deposit: cancelling and rescheduling one, and the sweeper's
//! claim on one it is about to send.
//!
//! "Cancelled" must mean never sent and never will be, and the sweeper sends before it marks.
//! So before sending a scheduled message the sweeper claims it (`ClaimedUntil`, a short
//! conditional write), and a cancel or a reschedule is conditional on the message being still
//! outstanding and unclaimed (or its claim lapsed). Whichever write comes first wins: a cancel
//! after the claim is refused, and the message is reported in flight, then sent.

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use futures_util::FutureExt as _;

use crate::error::Result;
use crate::message::MessageId;
use crate::table::attributes as attr;
use crate::table::config::{Cleanup, OutboxConfig};
use crate::table::handle::condition_failed;
use crate::table::handle::{TableHandle, key};
use crate::table::layout::{StoredMessage, number, order_key};
use crate::time::to_millis;

/// What a cancel or a reschedule of a message found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScheduleOutcome {
    /// The message was scheduled and not yet claimed: the change is made (in a unit of work,
    /// by its commit; should the sweeper claim the message first, the commit is refused as a
    /// conflict and the handler runs again, to find it [`InFlight`](Self::InFlight)).
    Applied,
    /// The sweeper is sending it now: it will be sent.
    InFlight,
    /// It was sent (with [`Cleanup::Keep`]; with [`Cleanup::Delete`] a sent message is gone,
    /// [`NotFound`](Self::NotFound)).
    AlreadySent,
    /// It was cancelled before (with [`Cleanup::Keep`]; see [`NotFound`](Self::NotFound)).
    AlreadyCancelled,
    /// It failed to send too often and waits in the dead letters.
    DeadLettered,
    /// It is a message sent at once, not a scheduled one: only scheduled messages can be
    /// cancelled or rescheduled.
    NotScheduled,
    /// No such message: never deposited, or, with [`Cleanup::Delete`], sent or cancelled and
    /// deleted.
    NotFound,
}

/// What the stored message allows: `None` when it is scheduled and free to change at `now`.
pub(crate) fn outcome_of(
    stored: Option<&StoredMessage>,
    now: SystemTime,
) -> Option<ScheduleOutcome> {
    let Some(stored) = stored else {
        return Some(ScheduleOutcome::NotFound);
    };
    Some(if stored.cancelled_at.is_some() {
        ScheduleOutcome::AlreadyCancelled
    } else if stored.dispatched_at.is_some() {
        ScheduleOutcome::AlreadySent
    } else if stored.dead_lettered_at.is_some() {
        ScheduleOutcome::DeadLettered
    } else if stored.due_at.is_none() {
        ScheduleOutcome::NotScheduled
    } else if stored.claimed_until.is_some_and(|until| until > now) {
        ScheduleOutcome::InFlight
    } else {
        return None;
    })
}

/// The condition of every change: still outstanding, scheduled, and not claimed (or its claim
/// lapsed by `now`).
const UNCLAIMED: &str = "attribute_exists(#since) AND attribute_exists(#due) AND \
                         (attribute_not_exists(#claimed) OR #claimed < :now)";

/// The write that cancels message `id` at `now`: with [`Cleanup::Delete`] it is deleted; with
/// [`Cleanup::Keep`] it leaves the outstanding index marked `CancelledAt`, and the TTL removes
/// it a retention later.
pub(crate) fn cancel_action(
    config: &OutboxConfig,
    id: &MessageId,
    now: SystemTime,
) -> TransactWriteItem {
    let now_ms = to_millis(now);
    match config.cleanup {
        Cleanup::Delete => {
            let delete = Delete::builder()
                .table_name(&config.table_name)
                .set_key(Some(key(id)))
                .condition_expression(UNCLAIMED)
                .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
                .expression_attribute_names("#due", attr::DUE_AT)
                .expression_attribute_names("#claimed", attr::CLAIMED_UNTIL)
                .expression_attribute_values(":now", number(now_ms))
                .build()
                .expect("table, key and condition are set");
            TransactWriteItem::builder().delete(delete).build()
        }
        Cleanup::Keep { retention } => {
            let expires = now
                .checked_add(retention)
                .map_or(u64::MAX, |at| to_millis(at) / 1000);
            let update = Update::builder()
                .table_name(&config.table_name)
                .set_key(Some(key(id)))
                .update_expression(
                    "SET #cancelled = :now, #expires = :expires REMOVE #since, #claimed, #next",
                )
                .condition_expression(UNCLAIMED)
                .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
                .expression_attribute_names("#due", attr::DUE_AT)
                .expression_attribute_names("#claimed", attr::CLAIMED_UNTIL)
                .expression_attribute_names("#cancelled", attr::CANCELLED_AT)
                .expression_attribute_names("#expires", attr::EXPIRES_AT)
                .expression_attribute_names("#next", attr::NEXT_ATTEMPT_AT)
                .expression_attribute_values(":now", number(now_ms))
                .expression_attribute_values(":expires", number(expires))
                .build()
                .expect("table, key and expressions are set");
            TransactWriteItem::builder().update(update).build()
        }
    }
}

/// The write that moves message `id` to fall due at `due`: its due time and its place in line
/// (so the sweeper reads it then, and a key's order follows the new due time).
pub(crate) fn reschedule_action(
    config: &OutboxConfig,
    id: &MessageId,
    due: SystemTime,
    now: SystemTime,
) -> TransactWriteItem {
    let due_ms = to_millis(due);
    let order = order_key(due_ms);
    let update = Update::builder()
        .table_name(&config.table_name)
        .set_key(Some(key(id)))
        .update_expression("SET #due = :due, #order = :order, #since = :order REMOVE #claimed")
        .condition_expression(UNCLAIMED)
        .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
        .expression_attribute_names("#due", attr::DUE_AT)
        .expression_attribute_names("#claimed", attr::CLAIMED_UNTIL)
        .expression_attribute_names("#order", attr::ORDER_KEY)
        .expression_attribute_values(":now", number(to_millis(now)))
        .expression_attribute_values(":due", number(due_ms))
        .expression_attribute_values(":order", order)
        .build()
        .expect("table, key and expressions are set");
    TransactWriteItem::builder().update(update).build()
}

impl TableHandle {
    /// Claims a scheduled message the sweeper is about to send, until `now + hold`: from then
    /// on a cancel or a reschedule is refused. `false` when it is no longer outstanding
    /// (cancelled, rescheduled away or sent since it was read).
    pub(crate) async fn claim(&self, id: &MessageId, hold: Duration) -> Result<bool> {
        let until = to_millis(SystemTime::now() + hold);
        let result = self
            .db
            .client()
            .update_item()
            .table_name(self.table())
            .key(attr::MESSAGE_ID, AttributeValue::S(id.to_string()))
            .update_expression("SET #claimed = :until")
            .condition_expression("attribute_exists(#since)")
            .expression_attribute_names("#claimed", attr::CLAIMED_UNTIL)
            .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
            .expression_attribute_values(":until", number(until))
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .send()
            .boxed()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(self.sdk_error("UpdateItem", err)),
        }
    }

    /// Cancels or reschedules one message outside a unit of work: reads it, and writes the
    /// change on the condition the read allowed it (read again if the sweeper claimed it in
    /// between, to say so).
    pub(crate) async fn change_schedule(
        &self,
        id: &MessageId,
        action: impl Fn(&OutboxConfig, SystemTime) -> TransactWriteItem,
    ) -> Result<ScheduleOutcome> {
        // Each refusal means the message changed since the read; a few are plenty, and a bound
        // keeps a message that cannot settle from spinning here.
        for refusals in 0.. {
            let now = SystemTime::now();
            let stored = self.get(id).await?;
            if let Some(outcome) = outcome_of(stored.as_ref(), now) {
                return Ok(outcome);
            }
            let result = self
                .db
                .client()
                .transact_write_items()
                .transact_items(action(&self.config, now))
                .set_return_consumed_capacity(self.db.consumed_capacity())
                .send()
                .boxed()
                .await;
            match result {
                Ok(_) => return Ok(ScheduleOutcome::Applied),
                // Claimed, sent or changed since the read: read again to say which.
                Err(err)
                    if refusals < 10
                        && err
                            .as_service_error()
                            .is_some_and(|e| e.is_transaction_canceled_exception()) => {}
                Err(err) => return Err(self.sdk_error("TransactWriteItems", err)),
            }
        }
        unreachable!("the loop returns")
    }
}
