//! The mapping between a [`Message`] and an outbox table item. Every header field round-trips
//! exactly; the body is a binary (`B`) or a native map (`M`); times are epoch milliseconds, the
//! TTL epoch seconds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::{Error, Result};
use crate::limits::{LimitError, MAX_ITEM_BYTES, item_size};
use crate::message::compression::{self, CompressedBody};
use crate::message::s3_body;
use crate::message::{Body, Header, Item, Message, MessageId, MessageType};
use crate::table::attributes as attr;
use crate::table::config::OutboxConfig;
use crate::table::shard;
use crate::time::{from_millis, to_millis};

/// A message as stored, with its delivery state.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredMessage {
    /// The message.
    pub message: Message,
    /// The shard of the outstanding index it is (or was) on.
    pub shard: u16,
    /// When it was dispatched; `None` while outstanding.
    pub dispatched_at: Option<SystemTime>,
    /// When DynamoDB's TTL may delete it (epoch seconds); set at dispatch only.
    pub expires_at: Option<u64>,
    /// Failed send attempts so far.
    pub attempts: u32,
    /// The earliest time of the next attempt, after a failure.
    pub next_attempt_at: Option<SystemTime>,
    /// The last send error.
    pub last_error: Option<String>,
    /// When it was dead-lettered (it then waits for a replay).
    pub dead_lettered_at: Option<SystemTime>,
    /// When it falls due, for a scheduled message; `None` for one sent at once.
    pub due_at: Option<SystemTime>,
    /// Until when the sweeper holds it while sending it (scheduled messages only).
    pub claimed_until: Option<SystemTime>,
    /// When it was cancelled (scheduled messages only, with `Cleanup::Keep`).
    pub cancelled_at: Option<SystemTime>,
}

impl StoredMessage {
    /// True until the message has been dispatched, dead-lettered or cancelled.
    pub fn is_outstanding(&self) -> bool {
        self.dispatched_at.is_none()
            && self.dead_lettered_at.is_none()
            && self.cancelled_at.is_none()
    }

    /// True when the message is dead-lettered.
    pub fn is_dead_lettered(&self) -> bool {
        self.dead_lettered_at.is_some()
    }

    /// True when an attempt may be made at `now`: it is not scheduled for later, and no
    /// backoff is pending.
    pub fn is_due(&self, now: SystemTime) -> bool {
        self.due_at.is_none_or(|at| at <= now) && self.next_attempt_at.is_none_or(|at| at <= now)
    }

    /// Reads an outbox table item, as [`Outbox::get`](crate::Outbox::get) does, for items you
    /// read yourself (a scan, a stream record). Whatever the item holds, this never panics: a
    /// missing or mistyped attribute is [`Error::CorruptItem`] naming `table`, the item's id and
    /// the attribute.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use aws_sdk_dynamodb::types::AttributeValue;
    /// use outbox_runtime::{Error, StoredMessage};
    ///
    /// let item = HashMap::from([("MessageId".to_owned(), AttributeValue::S("m-1".into()))]);
    /// let err = StoredMessage::from_item("Outbox", &item).unwrap_err();
    /// assert!(matches!(err, Error::CorruptItem { attribute: "MessageType", .. }), "{err}");
    /// ```
    ///
    /// # Errors
    /// [`Error::CorruptItem`].
    pub fn from_item(table: &str, item: &Item) -> Result<Self> {
        from_item(table, item)
    }
}

/// The item of a new, outstanding message of an outbox of `shard_count` shards, after checking
/// the message: the one way a message enters the table, in a transaction or outside one.
/// `action` names the request in a size error, as `deposit to table `Outbox`` does.
///
/// # Errors
/// [`Error::InvalidMessage`]; [`Error::Limit`] for an item over 400 KB.
pub(crate) fn new_item(
    message: &Message,
    due: Option<SystemTime>,
    config: &OutboxConfig,
    verb: &str,
) -> Result<Item> {
    validate_message(message)?;
    let mut item = to_item(message, shard::shard_of(message, config.shard_count));
    if let Some(due) = due {
        schedule(&mut item, due);
    }
    let size = item_size(&item);
    if size > MAX_ITEM_BYTES {
        return Err(LimitError::MessageTooLarge {
            limit: MAX_ITEM_BYTES,
            size,
            action: format!(
                "{verb} to table `{}`, key {}={:?}",
                config.table_name,
                attr::MESSAGE_ID,
                message.header.id.as_str()
            ),
            advice: too_large_advice(&message.body, config.compress_above.is_some()),
        }
        .into());
    }
    Ok(item)
}

/// How to make a message that is too large fit, given how its body would be stored.
fn too_large_advice(body: &Body, compressing: bool) -> String {
    let elsewhere = "keep the body in S3 with the claim check, \
                     `Outbox::with_claim_check` (feature `s3`)";
    match body {
        Body::Bytes(_) if compressing => format!("the body does not compress; {elsewhere}"),
        Body::Bytes(_) => format!(
            "turn on compression with `OutboxConfig::with_compression_above(512)` if the body \
             compresses (JSON typically shrinks 3 to 10 times), or {elsewhere}"
        ),
        Body::Compressed(compressed) => format!(
            "the body is already stored compressed ({} bytes of gzip for {}); {elsewhere}",
            compressed.gzip().len(),
            compressed.original_len()
        ),
        Body::Item(_) => format!(
            "a map body is stored uncompressed, as a native map: send it as JSON bytes \
             (`Body::Bytes`) with compression turned on, or {elsewhere}"
        ),
        Body::S3(_) => "the body is in S3 already: the header alone is too large; store less \
                        in the headers"
            .to_owned(),
    }
}

/// What a message must be to enter the outbox.
fn validate_message(message: &Message) -> Result<()> {
    let problem = if message.header.topic.trim().is_empty() {
        Some("the topic is empty; every message needs a topic to be routed by")
    } else if message.header.id.as_str().is_empty() {
        Some("the message id is empty; leave it to default to a fresh UUID")
    } else if message
        .header
        .id
        .as_str()
        .starts_with(attr::RESERVED_ID_PREFIX)
    {
        Some("message ids starting with `__outbox` are reserved for the library's own items")
    } else if message.header.content_type.trim().is_empty() {
        Some("the content type is empty; use for example `application/json`")
    } else if message.body.is_empty() {
        Some(
            "the body is empty, and SQS and SNS take no empty message; send at least `{}` for a \
             JSON message with nothing to say",
        )
    } else {
        None
    };
    match problem {
        Some(reason) => Err(Error::InvalidMessage {
            message_id: Some(message.header.id.clone()),
            reason: reason.to_owned(),
        }),
        None => Ok(()),
    }
}

/// The item for a new, outstanding message on `shard`.
pub(crate) fn to_item(message: &Message, shard: u16) -> Item {
    let header = &message.header;
    let mut item = Item::new();
    let mut put_s = |name: &str, value: &str| {
        item.insert(name.to_owned(), AttributeValue::S(value.to_owned()));
    };
    put_s(attr::MESSAGE_ID, header.id.as_str());
    put_s(attr::TOPIC, &header.topic);
    put_s(attr::MESSAGE_TYPE, header.message_type.as_str());
    put_s(attr::CONTENT_TYPE, &header.content_type);
    let optional = [
        (attr::CORRELATION_ID, &header.correlation_id),
        (attr::CAUSATION_ID, &header.causation_id),
        (attr::REPLY_TO, &header.reply_to),
        (attr::PARTITION_KEY, &header.partition_key),
        (attr::TRACE_PARENT, &header.trace_parent),
        (attr::TRACE_STATE, &header.trace_state),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            put_s(name, value);
        }
    }
    let created = to_millis(header.created_at);
    item.insert(attr::CREATED_AT.to_owned(), number(created));
    if !header.headers.is_empty() {
        let map = header
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), AttributeValue::S(value.clone())))
            .collect();
        item.insert(attr::HEADERS.to_owned(), AttributeValue::M(map));
    }
    let body = match &message.body {
        Body::Bytes(bytes) => AttributeValue::B(Blob::new(bytes.clone())),
        Body::Item(map) => AttributeValue::M(map.clone()),
        Body::Compressed(compressed) => {
            item.insert(
                attr::BODY_ENCODING.to_owned(),
                AttributeValue::S(compression::GZIP.to_owned()),
            );
            AttributeValue::B(Blob::new(compressed.gzip()))
        }
        Body::S3(s3) => {
            item.insert(
                attr::BODY_ENCODING.to_owned(),
                AttributeValue::S(s3_body::STORED_ENCODING.to_owned()),
            );
            AttributeValue::M(s3_body::to_map(s3))
        }
    };
    item.insert(attr::BODY.to_owned(), body);
    item.insert(attr::SHARD.to_owned(), number(shard));
    let order = order_key(created);
    item.insert(attr::ORDER_KEY.to_owned(), order.clone());
    item.insert(attr::OUTSTANDING_SINCE.to_owned(), order);
    item
}

/// Makes a new message's item due at `due`: its place in line is its due time, so the
/// outstanding index holds it after everything due earlier.
pub(crate) fn schedule(item: &mut Item, due: SystemTime) {
    let due_ms = to_millis(due);
    item.insert(attr::DUE_AT.to_owned(), number(due_ms));
    let order = order_key(due_ms);
    item.insert(attr::ORDER_KEY.to_owned(), order.clone());
    item.insert(attr::OUTSTANDING_SINCE.to_owned(), order);
}

/// Whether a new message's item is scheduled.
pub(crate) fn is_scheduled(item: &Item) -> bool {
    item.contains_key(attr::DUE_AT)
}

/// Deposits made by this process so far; the fraction of the order key.
static DEPOSITS: AtomicU64 = AtomicU64::new(0);

/// `<created ms>.<deposit counter, 9 digits>`: ordered by creation, then by deposit. The
/// counter wraps after a billion deposits, harmless unless two messages of one key made in the
/// same millisecond straddle the wrap.
pub(crate) fn order_key(created_ms: u64) -> AttributeValue {
    let deposit = DEPOSITS.fetch_add(1, Ordering::Relaxed) % 1_000_000_000;
    AttributeValue::N(format!("{created_ms}.{deposit:09}"))
}

/// A number attribute.
/// The message id of an item or stream image, if it has one.
#[cfg(any(feature = "streams", feature = "lambda"))]
pub(crate) fn item_id(item: &Item) -> Option<&str> {
    item.get(attr::MESSAGE_ID)
        .and_then(|id| id.as_s().ok())
        .map(String::as_str)
}

/// Whether an item is one of the library's own (a lease, a membership), never a message.
#[cfg(any(feature = "streams", feature = "lambda"))]
pub(crate) fn is_library_item(item: &Item) -> bool {
    item_id(item).is_some_and(|id| id.starts_with(attr::RESERVED_ID_PREFIX))
}

pub(crate) fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Reads a stored item back. A missing or mistyped attribute is [`Error::CorruptItem`] naming
/// the item and the attribute; this never panics, whatever the item holds.
pub(crate) fn from_item(table: &str, item: &Item) -> Result<StoredMessage> {
    let id = match item.get(attr::MESSAGE_ID) {
        Some(AttributeValue::S(id)) => id.clone(),
        _ => {
            return Err(Error::CorruptItem {
                table: table.to_owned(),
                message_id: "?".to_owned(),
                attribute: attr::MESSAGE_ID,
                problem: "is missing or not a string".to_owned(),
            });
        }
    };
    let reader = Reader {
        table,
        id: &id,
        item,
    };
    let message_type = reader.string(attr::MESSAGE_TYPE)?;
    let message_type = message_type
        .parse::<MessageType>()
        .map_err(|err| reader.corrupt(attr::MESSAGE_TYPE, err.to_string()))?;
    let headers = match item.get(attr::HEADERS) {
        None => BTreeMap::new(),
        Some(AttributeValue::M(map)) => map
            .iter()
            .map(|(name, value)| match value {
                AttributeValue::S(value) => Ok((name.clone(), value.clone())),
                _ => Err(reader.corrupt(attr::HEADERS, format!("entry `{name}` is not a string"))),
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(reader.corrupt(attr::HEADERS, "is not a map".to_owned())),
    };
    let encoding = reader.optional_string(attr::BODY_ENCODING)?;
    let body = match (item.get(attr::BODY), encoding.as_deref()) {
        (Some(AttributeValue::M(map)), Some(s3_body::STORED_ENCODING)) => {
            Body::S3(s3_body::from_map(map).map_err(|problem| reader.corrupt(attr::BODY, problem))?)
        }
        (_, Some(other)) if other != compression::GZIP => {
            return Err(reader.corrupt(
                attr::BODY_ENCODING,
                format!(
                    "`{other}` is not an encoding this release knows (`{}` or `{}`); a newer \
                     release wrote it: upgrade this one",
                    compression::GZIP,
                    s3_body::STORED_ENCODING
                ),
            ));
        }
        (Some(AttributeValue::B(bytes)), Some(_)) => {
            Body::Compressed(CompressedBody::from_gzip(bytes.clone().into_inner()))
        }
        (Some(AttributeValue::B(bytes)), None) => Body::Bytes(bytes.clone().into_inner()),
        (Some(AttributeValue::M(map)), _) => Body::Item(map.clone()),
        (Some(_), _) => {
            return Err(reader.corrupt(attr::BODY, "is neither binary nor a map".to_owned()));
        }
        (None, _) => return Err(reader.corrupt(attr::BODY, "is missing".to_owned())),
    };
    let header = Header {
        id: MessageId::from(id.clone()),
        topic: reader.string(attr::TOPIC)?,
        message_type,
        created_at: from_millis(reader.number(attr::CREATED_AT)?),
        correlation_id: reader.optional_string(attr::CORRELATION_ID)?,
        causation_id: reader.optional_string(attr::CAUSATION_ID)?,
        reply_to: reader.optional_string(attr::REPLY_TO)?,
        content_type: reader.string(attr::CONTENT_TYPE)?,
        partition_key: reader.optional_string(attr::PARTITION_KEY)?,
        trace_parent: reader.optional_string(attr::TRACE_PARENT)?,
        trace_state: reader.optional_string(attr::TRACE_STATE)?,
        headers,
    };
    let shard = reader.number(attr::SHARD)?;
    Ok(StoredMessage {
        message: Message { header, body },
        shard: u16::try_from(shard)
            .map_err(|_| reader.corrupt(attr::SHARD, format!("{shard} is not a shard number")))?,
        dispatched_at: reader
            .optional_number(attr::DISPATCHED_AT)?
            .map(from_millis),
        expires_at: reader.optional_number(attr::EXPIRES_AT)?,
        attempts: u32::try_from(reader.optional_number(attr::ATTEMPTS)?.unwrap_or(0))
            .unwrap_or(u32::MAX),
        next_attempt_at: reader
            .optional_number(attr::NEXT_ATTEMPT_AT)?
            .map(from_millis),
        last_error: reader.optional_string(attr::LAST_ERROR)?,
        dead_lettered_at: reader
            .optional_number(attr::DEAD_LETTERED_AT)?
            .map(from_millis),
        due_at: reader.optional_number(attr::DUE_AT)?.map(from_millis),
        claimed_until: reader
            .optional_number(attr::CLAIMED_UNTIL)?
            .map(from_millis),
        cancelled_at: reader.optional_number(attr::CANCELLED_AT)?.map(from_millis),
    })
}

struct Reader<'a> {
    table: &'a str,
    id: &'a str,
    item: &'a Item,
}

impl Reader<'_> {
    fn corrupt(&self, attribute: &'static str, problem: String) -> Error {
        Error::CorruptItem {
            table: self.table.to_owned(),
            message_id: self.id.to_owned(),
            attribute,
            problem,
        }
    }

    fn optional_string(&self, name: &'static str) -> Result<Option<String>> {
        match self.item.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(value)) => Ok(Some(value.clone())),
            Some(_) => Err(self.corrupt(name, "is not a string".to_owned())),
        }
    }

    fn string(&self, name: &'static str) -> Result<String> {
        self.optional_string(name)?
            .ok_or_else(|| self.corrupt(name, "is missing".to_owned()))
    }

    fn optional_number(&self, name: &'static str) -> Result<Option<u64>> {
        match self.item.get(name) {
            None => Ok(None),
            Some(AttributeValue::N(value)) => value
                .parse()
                .map(Some)
                .map_err(|_| self.corrupt(name, format!("`{value}` is not a whole number"))),
            Some(_) => Err(self.corrupt(name, "is not a number".to_owned())),
        }
    }

    fn number(&self, name: &'static str) -> Result<u64> {
        self.optional_number(name)?
            .ok_or_else(|| self.corrupt(name, "is missing".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_message() -> Message {
        let mut message = Message::new("orders.placed", vec![0, 255, 128, 10])
            .with_message_type(MessageType::Command)
            .with_partition_key("customer-7")
            .with_correlation_id("corr-1")
            .with_content_type("application/octet-stream")
            .with_header("tenant", "north")
            .with_header("empty", "");
        message.header.causation_id = Some("cause-1".into());
        message.header.reply_to = Some("replies".into());
        message.header.trace_parent =
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        message.header.trace_state = Some("congo=t61rcWkgMzE".into());
        message
    }

    #[test]
    fn every_field_round_trips() {
        let message = full_message();
        let stored = from_item("Outbox", &to_item(&message, 5)).unwrap();
        assert_eq!(stored.message, message);
        assert_eq!(stored.shard, 5);
        assert!(stored.is_outstanding());
        assert_eq!(stored.expires_at, None);
    }

    #[test]
    fn order_keys_follow_deposits_within_a_millisecond() {
        let message = full_message();
        let keys: Vec<String> = (0..3)
            .map(|_| match &to_item(&message, 0)[attr::ORDER_KEY] {
                AttributeValue::N(n) => n.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        // Decimal, as DynamoDB compares them (an f64 would lose the fraction).
        let values: Vec<(u64, u64)> = keys
            .iter()
            .map(|k| {
                let (ms, fraction) = k.split_once('.').unwrap();
                (ms.parse().unwrap(), fraction.parse().unwrap())
            })
            .collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        assert!(keys[0].starts_with(&to_millis(message.header.created_at).to_string()));
    }

    #[test]
    fn a_new_item_has_no_ttl_and_is_outstanding() {
        let item = to_item(&full_message(), 0);
        assert!(!item.contains_key(attr::EXPIRES_AT));
        assert!(!item.contains_key(attr::DISPATCHED_AT));
        assert!(item.contains_key(attr::OUTSTANDING_SINCE));
    }

    #[test]
    fn a_scheduled_item_takes_its_place_in_line_from_its_due_time_and_is_due_only_then() {
        let due = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(4_102_444_800_000);
        let mut item = to_item(&full_message(), 0);
        schedule(&mut item, due);
        assert!(is_scheduled(&item));
        assert_eq!(
            item[attr::DUE_AT],
            AttributeValue::N("4102444800000".into())
        );
        let AttributeValue::N(order) = &item[attr::ORDER_KEY] else {
            panic!("the order key is a number");
        };
        assert!(order.starts_with("4102444800000."), "{order}");
        assert_eq!(item[attr::OUTSTANDING_SINCE], item[attr::ORDER_KEY]);

        let stored = from_item("Outbox", &item).unwrap();
        assert_eq!(stored.due_at, Some(due));
        assert!(!stored.is_due(due - std::time::Duration::from_millis(1)));
        assert!(stored.is_due(due));
        assert!(!is_scheduled(&to_item(&full_message(), 0)));
    }

    #[test]
    fn every_missing_required_attribute_is_named() {
        let full = to_item(&full_message(), 1);
        for name in [
            attr::MESSAGE_ID,
            attr::TOPIC,
            attr::MESSAGE_TYPE,
            attr::CONTENT_TYPE,
            attr::CREATED_AT,
            attr::BODY,
            attr::SHARD,
        ] {
            let mut item = full.clone();
            item.remove(name);
            let err = from_item("Outbox", &item).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn mistyped_attributes_are_errors_not_panics() {
        let full = to_item(&full_message(), 1);
        for name in full
            .keys()
            .filter(|name| ![attr::OUTSTANDING_SINCE, attr::ORDER_KEY].contains(&name.as_str()))
        {
            let mut item = full.clone();
            item.insert(name.clone(), AttributeValue::Bool(true));
            let err = from_item("Outbox", &item).unwrap_err();
            assert!(err.to_string().contains(name.as_str()), "{name}: {err}");
        }
    }
}
