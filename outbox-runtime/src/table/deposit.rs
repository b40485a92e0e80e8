//! How a message becomes the item of its deposit, in a transaction or by
//! [`Outbox::store`](crate::Outbox::store): its trace context filled from the current span, its
//! header checked, laid out with its shard and order key, and shaped for the table's
//! [`StreamMode`](crate::table::StreamMode). In
//! [`StreamMode::StreamOnly`](crate::table::StreamMode::StreamOnly) a message is deposited without
//! the outstanding marker, with a TTL from its deposit, and joins the outstanding index when the
//! sweeper must take it over (a failed send, or a later message of a key held back behind it).

use std::time::SystemTime;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put};
#[cfg(any(feature = "streams", feature = "lambda"))]
use futures_util::FutureExt as _;

use crate::error::Result;
use crate::message::MessageId;
use crate::message::compression;
use crate::message::{Body, Item, Message};
use crate::table::attributes as attr;
use crate::table::config::OutboxConfig;
#[cfg(any(feature = "streams", feature = "lambda"))]
use crate::table::handle::TableHandle;
#[cfg(any(feature = "streams", feature = "lambda"))]
use crate::table::handle::condition_failed;
use crate::table::layout::{self, number};

/// The item that deposits `message` in the outbox table of `config`: the trace context of the
/// current span goes into the message (it is sent as it is stored), then the item is laid out
/// and shaped for the stream mode. `action` names the deposit in errors (`deposit`, `store`).
///
/// # Errors
/// [`Error::InvalidMessage`](crate::Error::InvalidMessage) for an empty topic or id;
/// [`Error::Limit`](crate::Error::Limit) for an item over 400 KB.
pub(crate) fn deposit_item(
    message: &mut Message,
    due: Option<SystemTime>,
    config: &OutboxConfig,
    claim_check: Option<&ClaimCheck>,
    action: &'static str,
) -> Result<(Item, Option<Upload>)> {
    crate::trace::fill_from_current_span(message);
    let upload = shape_body(message, due, config, claim_check)?;
    let mut item = layout::new_item(message, due, config, action)?;
    shape_deposit(&mut item, config);
    Ok((item, upload))
}

/// The claim check of an outbox, where the feature is on.
#[cfg(feature = "s3")]
pub(crate) type ClaimCheck = crate::claim_check::ClaimCheck;
/// Without the `s3` feature an outbox has no claim check.
#[cfg(not(feature = "s3"))]
pub(crate) type ClaimCheck = std::convert::Infallible;
/// A body the commit puts in S3 before `TransactWriteItems`.
#[cfg(feature = "s3")]
pub(crate) type Upload = crate::claim_check::Upload;
/// Without the `s3` feature there is nothing to put.
#[cfg(not(feature = "s3"))]
pub(crate) type Upload = std::convert::Infallible;

/// The body as it is stored and sent: kept in S3 when the claim check takes it, else
/// compressed when that is on and pays.
fn shape_body(
    message: &mut Message,
    due: Option<SystemTime>,
    config: &OutboxConfig,
    claim_check: Option<&ClaimCheck>,
) -> Result<Option<Upload>> {
    #[cfg(feature = "s3")]
    if let Some(claim_check) = claim_check {
        let upload = claim_check.claim(message, due, config.compress_above)?;
        if upload.is_some() || !matches!(message.body, Body::Bytes(_)) {
            return Ok(upload);
        }
    }
    #[cfg(not(feature = "s3"))]
    let _ = (claim_check, due);
    compress_body(message, config.compress_above);
    Ok(None)
}

/// Replaces a byte body larger than `above` by its compressed form when that is smaller: the
/// message is sent as it is stored, so the immediate send after the commit does not compress
/// it a second time.
fn compress_body(message: &mut Message, above: Option<usize>) {
    let (Some(above), Body::Bytes(bytes)) = (above, &message.body) else {
        return;
    };
    if let Some(compressed) = compression::compress_if_smaller(bytes, above) {
        message.body = Body::Compressed(compressed);
    }
}

/// Shapes a new message's item for the outbox's stream mode: in
/// [`StreamMode::StreamOnly`](crate::table::StreamMode::StreamOnly) it carries no outstanding
/// marker (it never enters the index) and a TTL `retention` after its creation. A scheduled
/// message is the sweeper's in every mode: it keeps the marker, and no TTL can delete it before
/// it is sent.
fn shape_deposit(item: &mut Item, config: &OutboxConfig) {
    let Some(retention) = config.stream.deposit_retention() else {
        return;
    };
    if layout::is_scheduled(item) {
        return;
    }
    item.remove(attr::OUTSTANDING_SINCE);
    let created_s = match item.get(attr::CREATED_AT) {
        Some(AttributeValue::N(ms)) => ms.parse::<u64>().unwrap_or(0) / 1000,
        _ => 0,
    };
    item.insert(
        attr::EXPIRES_AT.to_owned(),
        number(created_s.saturating_add(retention.as_secs())),
    );
}

/// The condition of recording a failure of a message deposited without the marker: it exists,
/// and was neither dispatched (by the sweeper, after an earlier failure) nor dead-lettered.
/// The transactional put of a deposit's `item` into `table`: conditional on the id being new,
/// so that a deposit never overwrites a stored message.
pub(crate) fn deposit_put(table: &str, item: Item) -> Put {
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#id)")
        .expression_attribute_names("#id", attr::MESSAGE_ID)
        .build()
        .expect("table, item and condition are set")
}

/// The key of a deposited message as errors show it: `MessageId="..."`.
pub(crate) fn describe_deposit_key(id: &MessageId) -> String {
    format!("{}={:?}", attr::MESSAGE_ID, id.as_str())
}

pub(crate) fn unmarked_failure_condition(
    request: UpdateItemFluentBuilder,
) -> UpdateItemFluentBuilder {
    request
        .condition_expression(
            "attribute_exists(#id) AND attribute_not_exists(#dispatched) AND \
             attribute_not_exists(#dead)",
        )
        .expression_attribute_names("#id", attr::MESSAGE_ID)
        .expression_attribute_names("#dispatched", attr::DISPATCHED_AT)
        .expression_attribute_names("#dead", attr::DEAD_LETTERED_AT)
        .expression_attribute_names("#expires", attr::EXPIRES_AT)
}

#[cfg(any(feature = "streams", feature = "lambda"))]
impl TableHandle {
    /// Hands a message the stream relay did not send to the sweeper, without counting an
    /// attempt: it gets the outstanding marker (its place in line: its order key) and loses its
    /// TTL from the deposit. In [`StreamMode::WithSweeper`](crate::table::StreamMode) it has
    /// the marker already and nothing is written. Returns false when the message was gone,
    /// dispatched or dead-lettered.
    pub(crate) async fn hold_for_sweeper(&self, id: &MessageId) -> Result<bool> {
        if self.config.stream.marks_deposits() {
            return Ok(true);
        }
        let request = self
            .db
            .client()
            .update_item()
            .table_name(self.table())
            .key(attr::MESSAGE_ID, AttributeValue::S(id.to_string()))
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .update_expression("SET #since = if_not_exists(#since, #order) REMOVE #expires")
            .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
            .expression_attribute_names("#order", attr::ORDER_KEY);
        match unmarked_failure_condition(request).send().boxed().await {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(self.sdk_error("UpdateItem", err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::message::Message;
    use crate::table::StreamMode;
    use crate::table::layout::to_item;

    #[test]
    fn a_stream_only_deposit_has_no_marker_and_a_ttl_from_its_creation() {
        let message = Message::new("t", b"{}".to_vec());
        let config = OutboxConfig::default()
            .with_stream(StreamMode::stream_only(Duration::from_secs(3 * 24 * 3600)));
        let mut item = to_item(&message, 0);
        shape_deposit(&mut item, &config);
        assert!(!item.contains_key(attr::OUTSTANDING_SINCE));
        let created = crate::time::to_millis(message.header.created_at) / 1000;
        assert_eq!(
            item[attr::EXPIRES_AT],
            AttributeValue::N((created + 3 * 24 * 3600).to_string())
        );

        let mut item = to_item(&message, 0);
        shape_deposit(
            &mut item,
            &OutboxConfig::default().with_stream(StreamMode::WithSweeper),
        );
        assert!(item.contains_key(attr::OUTSTANDING_SINCE));
        assert!(!item.contains_key(attr::EXPIRES_AT));
    }
}
