//! How a message travels on SQS and SNS: the rules both producers share, and what a receiver
//! needs to read a message back.
//!
//! # Body
//!
//! SQS and SNS carry a body as text. The bytes of [`Body::to_bytes`](crate::Body::to_bytes) are
//! sent as they are when they are UTF-8 made only of the characters SQS accepts (tab, line feed,
//! carriage return, and everything from U+0020 up except U+FFFE and U+FFFF). Any other body is
//! sent base64-encoded (standard alphabet, padded) and flagged with the attribute
//! [`BODY_ENCODING`] = [`BASE64`].
//!
//! A body the outbox stored compressed
//! ([`OutboxConfig::with_compression_above`](crate::OutboxConfig::with_compression_above)) is
//! sent as its gzip bytes (RFC 1952), base64-encoded, and flagged [`BODY_ENCODING`] =
//! [`GZIP_BASE64`], unless its base64 would be longer than the original body, which is then sent
//! as above. Any consumer reads it with a standard library: in Python,
//! `gzip.decompress(base64.b64decode(body))`.
//!
//! A body kept in S3 by the claim check ([`claim_check`](crate::message::S3Body)) is sent as
//! the pointer of AWS's extended clients,
//! `["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"…","s3Key":"…"}]`,
//! with the attribute [`EXTENDED_PAYLOAD_SIZE`] (`Number`) holding the body's size, so that a
//! consumer using the SQS Extended Client Library (Java, Python) reads it as its own. The
//! object's key ends with the body's SHA-256 in hex, which the outbox's consumers check.
//!
//! [`decode_body`] undoes any of these, byte for byte, and refuses to inflate past
//! [`MAX_INFLATED_BYTES`]. An empty body cannot be sent (both services reject it); the producer
//! reports it as a [`ProducerError`].
//!
//! # Message attributes
//!
//! SQS takes at most 10 message attributes per message, and SNS passes at most 10 on to an SQS
//! subscription. A message therefore travels with at most 10, whatever its headers:
//!
//! | attribute | type | value | present |
//! | --- | --- | --- | --- |
//! | [`MESSAGE_ID`] | `String` | the message id | always |
//! | [`TOPIC`] | `String` | the topic | always |
//! | [`MESSAGE_TYPE`] | `String` | `event`, `command` or `document` | always |
//! | [`CONTENT_TYPE`] | `String` | the body's MIME type | when not empty |
//! | [`CREATED_AT`] | `Number` | creation time, epoch milliseconds | always |
//! | [`CORRELATION_ID`] | `String` | the correlation id | when set and not empty |
//! | [`PARTITION_KEY`] | `String` | the ordering key | when set and not empty |
//! | [`BODY_ENCODING`] | `String` | [`BASE64`] or [`GZIP_BASE64`] | when the body had to be encoded |
//! | [`EXTENDED_PAYLOAD_SIZE`] | `Number` | the size of a body kept in S3 | when the body is a pointer |
//! | [`TRACE_PARENT`] | `String` | the W3C `traceparent`, under its W3C name so that tracing tools find it | when set |
//! | [`HEADER`] | `String` | a JSON object, see below | when it would not be `{}` |
//!
//! [`HEADER`] holds the rest of the header, so that no number of user headers can break the
//! limit: `{"causation-id": ..., "reply-to": ..., "tracestate": ..., "headers": {"name":
//! "value", ...}}`, each key left out when the header has no value for it. User headers travel
//! only there, never as attributes of their own.
//!
//! # FIFO
//!
//! A queue URL or topic ARN that ends in `.fifo` is a FIFO destination. Its messages get the
//! partition key as `MessageGroupId` (the message id when there is no key: such messages are
//! not ordered with each other) and the message id as `MessageDeduplicationId`. Both must be 1
//! to 128 ASCII letters, digits or punctuation (no spaces); a key that is not is reported as a
//! [`ProducerError`] before anything is sent.
//!
//! # Batches
//!
//! A batch call carries at most [`MAX_BATCH_ENTRIES`] messages and at most [`MAX_BATCH_BYTES`]
//! of bodies and attributes (names, types and values), the SNS limit and the older SQS one; a
//! message larger than that on its own is sent alone, and the service judges it. Messages for
//! different destinations are sent concurrently; the calls for one destination are made one
//! after the other, in the order of the messages, so order per partition key holds.
//!
//! # Reading a message back
//!
//! ```no_run
//! # async fn run(client: aws_sdk_sqs::Client, queue_url: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use outbox_runtime::transport::wire;
//!
//! let received = client
//!     .receive_message()
//!     .queue_url(queue_url)
//!     .message_attribute_names("All")
//!     .send()
//!     .await?;
//! for message in received.messages() {
//!     let attributes = message.message_attributes().cloned().unwrap_or_default();
//!     let text = |name: &str| attributes.get(name).and_then(|value| value.string_value());
//!     let body = wire::decode_body(message.body().unwrap_or_default(), text(wire::BODY_ENCODING))?;
//!     let headers: serde_json::Value = match text(wire::HEADER) {
//!         Some(json) => serde_json::from_str(json)?,
//!         None => serde_json::json!({}),
//!     };
//!     println!(
//!         "{} on {}: {} bytes, tenant {}",
//!         text(wire::MESSAGE_ID).unwrap_or("?"),
//!         text(wire::TOPIC).unwrap_or("?"),
//!         body.len(),
//!         headers["headers"]["tenant"],
//!     );
//! }
//! # Ok(()) }
//! ```

use base64::Engine as _;

use crate::message::{
    Body, CompressedBody, Header, InflateError, Message, MessageId, MessageType, S3Body,
};
pub use crate::message::{EXTENDED_PAYLOAD_SIZE, MAX_INFLATED_BYTES};
use crate::time::from_millis;
#[cfg(any(feature = "sqs", feature = "sns"))]
use crate::time::to_millis;
#[cfg(any(feature = "sqs", feature = "sns"))]
use crate::transport::ProducerError;

/// The attribute holding the message id.
pub const MESSAGE_ID: &str = "outbox-message-id";
/// The attribute holding the topic.
pub const TOPIC: &str = "outbox-topic";
/// The attribute holding the message type (`event`, `command` or `document`).
pub const MESSAGE_TYPE: &str = "outbox-message-type";
/// The attribute holding the body's content type.
pub const CONTENT_TYPE: &str = "outbox-content-type";
/// The attribute holding the creation time in epoch milliseconds (type `Number`).
pub const CREATED_AT: &str = "outbox-created-at";
/// The attribute holding the correlation id.
pub const CORRELATION_ID: &str = "outbox-correlation-id";
/// The attribute holding the partition key.
pub const PARTITION_KEY: &str = "outbox-partition-key";
/// The attribute that says how the body is encoded; absent for a plain text body.
pub const BODY_ENCODING: &str = "outbox-body-encoding";
/// The attribute holding the W3C trace context's `traceparent`.
pub const TRACE_PARENT: &str = "traceparent";
/// The attribute holding the rest of the header as a JSON object.
pub const HEADER: &str = "outbox-header";
/// The value of [`BODY_ENCODING`] for a base64-encoded body.
pub const BASE64: &str = "base64";
/// The value of [`BODY_ENCODING`] for a gzip-compressed body, base64-encoded.
pub const GZIP_BASE64: &str = "gzip+base64";

/// The most messages one `SendMessageBatch` or `PublishBatch` call takes.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// The most bytes of bodies and attributes one batch call carries.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Why a body could not be decoded.
///
/// ```
/// use outbox_runtime::transport::wire::{DecodeError, decode_body};
///
/// let err = decode_body("not base64!", Some("base64")).unwrap_err();
/// assert!(matches!(err, DecodeError::Base64(_)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body was flagged as base64 but is not.
    #[error("the body is flagged `{BODY_ENCODING}: {BASE64}` but is not valid base64: {0}")]
    Base64(#[source] base64::DecodeError),
    /// The encoding attribute holds a value this version does not know.
    #[error(
        "unknown body encoding `{0}` in attribute `{BODY_ENCODING}`; this release reads \
         `{BASE64}` and `{GZIP_BASE64}`: the message was sent by a newer release, upgrade this \
         consumer"
    )]
    UnknownEncoding(String),
    /// A compressed body that is corrupt, or would inflate past [`MAX_INFLATED_BYTES`].
    #[error("the body is flagged `{BODY_ENCODING}: {GZIP_BASE64}` but cannot be inflated: {0}")]
    Inflate(#[source] InflateError),
    /// A message attribute the header needs is absent: the message was not sent by an outbox
    /// producer, or the receive call did not ask for the attributes.
    #[error(
        "the received message has no `{0}` attribute; receive with \
         `.message_attribute_names(\"All\")`, and only messages sent by an outbox producer"
    )]
    MissingAttribute(&'static str),
    /// An SNS notification (a subscription without raw message delivery) whose message
    /// attributes lack one the header needs: it was published to the topic by something other
    /// than an outbox producer.
    #[error(
        "the received message is an SNS notification whose message attributes have no `{0}`: it \
         was published to the topic by something other than an outbox producer, which sets the \
         `outbox-*` attributes on every message"
    )]
    NotAnOutboxNotification(&'static str),
    /// A message attribute holds a value that cannot be read.
    #[error(
        "the received message's attribute `{name}` holds `{value}`, which is not valid: {reason}"
    )]
    InvalidAttribute {
        /// The attribute.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Rebuilds the outbox [`Message`] a producer sent, from the received body and a lookup of the
/// received message's string attributes (SQS message attributes, or those of an SNS envelope).
/// Every header field the producer carried comes back; the body comes back byte for byte.
///
/// ```
/// use std::collections::HashMap;
/// use outbox_runtime::transport::wire::{self, read_message};
///
/// let attributes = HashMap::from([
///     (wire::MESSAGE_ID, "m-1"),
///     (wire::TOPIC, "greeting.made"),
///     (wire::MESSAGE_TYPE, "event"),
///     (wire::CREATED_AT, "1700000000000"),
///     (wire::PARTITION_KEY, "Tyrion"),
/// ]);
/// let message = read_message(|name| attributes.get(name).copied(), "{\"a\":1}")?;
/// assert_eq!(message.topic(), "greeting.made");
/// assert_eq!(message.header.partition_key.as_deref(), Some("Tyrion"));
/// # Ok::<(), outbox_runtime::transport::wire::DecodeError>(())
/// ```
///
/// # Errors
/// [`DecodeError`] naming the missing or invalid attribute, or the body's encoding problem.
pub fn read_message<'a>(
    attribute: impl Fn(&str) -> Option<&'a str>,
    body: &str,
) -> Result<Message, DecodeError> {
    let required = |name: &'static str| attribute(name).ok_or(DecodeError::MissingAttribute(name));
    let invalid = |name: &'static str, value: &str, reason: String| DecodeError::InvalidAttribute {
        name,
        value: value.to_owned(),
        reason,
    };
    let message_type = required(MESSAGE_TYPE)?;
    let message_type = message_type
        .parse::<MessageType>()
        .map_err(|err| invalid(MESSAGE_TYPE, message_type, err.to_string()))?;
    let created = required(CREATED_AT)?;
    let created_ms: u64 = created
        .parse()
        .map_err(|_| invalid(CREATED_AT, created, "not epoch milliseconds".to_owned()))?;
    let rest: serde_json::Map<String, serde_json::Value> = match attribute(HEADER) {
        None => serde_json::Map::new(),
        Some(json) => serde_json::from_str(json)
            .map_err(|err| invalid(HEADER, json, format!("not a JSON object: {err}")))?,
    };
    let text = |key: &str| rest.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let headers = rest
        .get("headers")
        .and_then(|v| v.as_object())
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let body = match attribute(EXTENDED_PAYLOAD_SIZE) {
        Some(size) => {
            let size = size.parse().map_err(|_| {
                invalid(
                    EXTENDED_PAYLOAD_SIZE,
                    size,
                    "not a size in bytes".to_owned(),
                )
            })?;
            Body::S3(S3Body::from_pointer(body, size).map_err(|reason| {
                invalid(
                    EXTENDED_PAYLOAD_SIZE,
                    &size.to_string(),
                    format!("the body is not an S3 pointer: {reason}"),
                )
            })?)
        }
        None => Body::Bytes(decode_body(body, attribute(BODY_ENCODING))?),
    };
    Ok(Message {
        header: Header {
            id: MessageId::from(required(MESSAGE_ID)?),
            topic: required(TOPIC)?.to_owned(),
            message_type,
            created_at: from_millis(created_ms),
            correlation_id: attribute(CORRELATION_ID).map(str::to_owned),
            causation_id: text("causation-id"),
            reply_to: text("reply-to"),
            content_type: attribute(CONTENT_TYPE).unwrap_or_default().to_owned(),
            partition_key: attribute(PARTITION_KEY).map(str::to_owned),
            // Where this release puts it; inside the header object for what came before it.
            trace_parent: attribute(TRACE_PARENT)
                .map(str::to_owned)
                .or_else(|| text("traceparent")),
            trace_state: text("tracestate"),
            headers,
        },
        body,
    })
}

/// The bytes of a received body: `body` is the SQS body (or the SNS `Message`), `encoding` the
/// value of the [`BODY_ENCODING`] attribute, if the message has one.
///
/// ```
/// use outbox_runtime::transport::wire::{BASE64, decode_body};
///
/// assert_eq!(decode_body("{\"a\":1}", None)?, b"{\"a\":1}");
/// assert_eq!(decode_body("AP8=", Some(BASE64))?, [0x00, 0xff]);
/// assert!(decode_body("AP8=", Some("zstd")).is_err());
/// # Ok::<(), outbox_runtime::transport::wire::DecodeError>(())
/// ```
///
/// A compressed body is inflated, up to [`MAX_INFLATED_BYTES`]:
///
/// ```
/// use outbox_runtime::message::CompressedBody;
/// use outbox_runtime::transport::wire::{DecodeError, GZIP_BASE64, decode_body};
/// use base64::Engine as _;
///
/// let gzip = CompressedBody::compress(&vec![b'a'; 100 << 20]).into_gzip();
/// let body = base64::engine::general_purpose::STANDARD.encode(gzip);
/// let err = decode_body(&body, Some(GZIP_BASE64)).unwrap_err();
/// assert!(matches!(err, DecodeError::Inflate(_)), "{err}");
/// ```
///
/// # Errors
/// [`DecodeError`] when the flag is unknown, the text is not base64, or a compressed body is
/// corrupt or too large.
pub fn decode_body(body: &str, encoding: Option<&str>) -> Result<Vec<u8>, DecodeError> {
    let base64 = || {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(DecodeError::Base64)
    };
    match encoding {
        None => Ok(body.as_bytes().to_vec()),
        Some(BASE64) => base64(),
        Some(GZIP_BASE64) => CompressedBody::from_gzip(base64()?)
            .inflate(MAX_INFLATED_BYTES)
            .map_err(DecodeError::Inflate),
        Some(other) => Err(DecodeError::UnknownEncoding(other.to_owned())),
    }
}

#[cfg(any(feature = "sqs", feature = "sns"))]
/// One message attribute, before it becomes an SDK type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attribute {
    pub(crate) name: &'static str,
    /// `String` or `Number`.
    pub(crate) data_type: &'static str,
    pub(crate) value: String,
}

#[cfg(any(feature = "sqs", feature = "sns"))]
impl Attribute {
    fn string(name: &'static str, value: impl Into<String>) -> Self {
        Self {
            name,
            data_type: "String",
            value: value.into(),
        }
    }

    /// What the attribute adds to the message size, as SQS counts it.
    pub(crate) fn size(&self) -> usize {
        self.name.len() + self.data_type.len() + self.value.len()
    }
}

#[cfg(any(feature = "sqs", feature = "sns"))]
/// FIFO ids of a message bound for a `.fifo` destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fifo {
    pub(crate) group_id: String,
    pub(crate) deduplication_id: String,
}

#[cfg(any(feature = "sqs", feature = "sns"))]
/// The body as SQS text, and the [`BODY_ENCODING`] it needs, if any: a compressed body stays
/// compressed while its base64 is shorter than the original.
pub(crate) fn encode_body(body: &Body) -> crate::Result<(String, Option<&'static str>)> {
    let standard = &base64::engine::general_purpose::STANDARD;
    if let Body::S3(s3) = body {
        return Ok((s3.pointer_json(), None));
    }
    if let Body::Compressed(compressed) = body
        && compressed.gzip().len().div_ceil(3) * 4 < compressed.original_len()
    {
        return Ok((standard.encode(compressed.gzip()), Some(GZIP_BASE64)));
    }
    Ok(match String::from_utf8(body.to_bytes()?) {
        Ok(text) if text.chars().all(sqs_accepts) => (text, None),
        Ok(text) => (standard.encode(text.as_bytes()), Some(BASE64)),
        Err(err) => (standard.encode(err.as_bytes()), Some(BASE64)),
    })
}

#[cfg(any(feature = "sqs", feature = "sns"))]
/// The characters SQS allows in a body and in attribute values.
fn sqs_accepts(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(any(feature = "sqs", feature = "sns"))]
/// The attributes of a message, at most 10 (see the module documentation).
pub(crate) fn attributes(message: &Message, body_encoding: Option<&'static str>) -> Vec<Attribute> {
    let header = &message.header;
    let mut attributes = vec![
        Attribute::string(MESSAGE_ID, header.id.as_str()),
        Attribute::string(TOPIC, header.topic.as_str()),
        Attribute::string(MESSAGE_TYPE, header.message_type.as_str()),
    ];
    if !header.content_type.is_empty() {
        attributes.push(Attribute::string(
            CONTENT_TYPE,
            header.content_type.as_str(),
        ));
    }
    attributes.push(Attribute {
        name: CREATED_AT,
        data_type: "Number",
        value: to_millis(header.created_at).to_string(),
    });
    let set = |value: &Option<String>| value.clone().filter(|value| !value.is_empty());
    if let Some(correlation_id) = set(&header.correlation_id) {
        attributes.push(Attribute::string(CORRELATION_ID, correlation_id));
    }
    if let Some(partition_key) = set(&header.partition_key) {
        attributes.push(Attribute::string(PARTITION_KEY, partition_key));
    }
    if let Some(encoding) = body_encoding {
        attributes.push(Attribute::string(BODY_ENCODING, encoding));
    }
    if let Body::S3(s3) = &message.body {
        attributes.push(Attribute {
            name: EXTENDED_PAYLOAD_SIZE,
            data_type: "Number",
            value: s3.size.to_string(),
        });
    }
    if let Some(trace_parent) = set(&header.trace_parent) {
        attributes.push(Attribute::string(TRACE_PARENT, trace_parent));
    }
    let mut rest = serde_json::Map::new();
    for (key, value) in [
        ("causation-id", &header.causation_id),
        ("reply-to", &header.reply_to),
        ("tracestate", &header.trace_state),
    ] {
        if let Some(value) = value {
            rest.insert(key.to_owned(), value.clone().into());
        }
    }
    if !header.headers.is_empty() {
        let headers = header
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into()))
            .collect();
        rest.insert("headers".to_owned(), serde_json::Value::Object(headers));
    }
    if !rest.is_empty() {
        attributes.push(Attribute::string(
            HEADER,
            serde_json::Value::Object(rest).to_string(),
        ));
    }
    attributes
}

#[cfg(any(feature = "sqs", feature = "sns"))]
/// Group and deduplication ids for a FIFO destination.
pub(crate) fn fifo_ids(message: &Message, destination: &str) -> Result<Fifo, ProducerError> {
    let valid =
        |id: &str| (1..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_graphic());
    let deduplication_id = message.id().to_string();
    if !valid(&deduplication_id) {
        return Err(ProducerError::permanent(
            message,
            format!(
                "the message id cannot be the MessageDeduplicationId of FIFO destination \
                 `{destination}`: it must be 1 to 128 ASCII letters, digits or punctuation"
            ),
        ));
    }
    let group_id = match message.header.partition_key.as_deref() {
        Some(key) if !key.is_empty() => {
            if !valid(key) {
                return Err(ProducerError::permanent(
                    message,
                    format!(
                        "partition key `{key}` cannot be the MessageGroupId of FIFO destination \
                         `{destination}`: it must be 1 to 128 ASCII letters, digits or \
                         punctuation (no spaces)"
                    ),
                ));
            }
            key.to_owned()
        }
        _ => deduplication_id.clone(),
    };
    Ok(Fifo {
        group_id,
        deduplication_id,
    })
}

#[cfg(all(test, any(feature = "sqs", feature = "sns")))]
mod tests {
    use super::*;

    fn value<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a str> {
        attributes
            .iter()
            .find(|attribute| attribute.name == name)
            .map(|attribute| attribute.value.as_str())
    }

    #[test]
    fn text_bodies_stay_text_and_others_become_base64() {
        let encode = |bytes: &[u8]| encode_body(&Body::Bytes(bytes.to_vec())).unwrap();
        assert_eq!(
            encode(b"{\"a\":\"\xc3\xa9\"}"),
            ("{\"a\":\"é\"}".into(), None)
        );
        assert_eq!(encode(&[0xff, 0x00]), ("/wA=".into(), Some(BASE64)));
        // Valid UTF-8 that SQS refuses (a NUL).
        assert_eq!(encode(b"a\0b"), ("YQBi".into(), Some(BASE64)));
        assert_eq!(decode_body("YQBi", Some(BASE64)).unwrap(), b"a\0b");
    }

    #[test]
    fn a_compressed_body_travels_compressed_only_while_that_is_shorter() {
        let json = format!("{{\"words\":\"{}\"}}", "hello ".repeat(500));
        let compressed = Body::Compressed(CompressedBody::compress(json.as_bytes()));
        let (text, encoding) = encode_body(&compressed).unwrap();
        assert_eq!(encoding, Some(GZIP_BASE64));
        assert!(text.len() < json.len() / 10);
        assert_eq!(decode_body(&text, encoding).unwrap(), json.as_bytes());
        // Compressed by a third: its base64 would be longer than the JSON itself.
        let noise: String = (0..3_000).map(|_| fastrand::alphanumeric()).collect();
        let compressed = Body::Compressed(CompressedBody::compress(noise.as_bytes()));
        assert!(compressed.len() < noise.len());
        assert_eq!(encode_body(&compressed).unwrap(), (noise, None));
    }

    #[test]
    fn attributes_never_exceed_ten_whatever_the_headers() {
        let mut message = Message::new("a", b"{}".to_vec())
            .with_correlation_id("c")
            .with_partition_key("k");
        message.header.causation_id = Some("cause".into());
        message.header.reply_to = Some("replies".into());
        message.header.trace_parent = Some("00-1-2-01".into());
        for n in 0..50 {
            message = message.with_header(format!("h{n}"), n.to_string());
        }
        let attributes = attributes(&message, Some(BASE64));
        assert_eq!(attributes.len(), 10);
        assert_eq!(value(&attributes, TRACE_PARENT), Some("00-1-2-01"));
        let rest: serde_json::Value =
            serde_json::from_str(value(&attributes, HEADER).unwrap()).unwrap();
        assert_eq!(rest["causation-id"], "cause");
        assert_eq!(rest["reply-to"], "replies");
        assert!(rest.get("traceparent").is_none(), "an attribute of its own");
        assert!(rest.get("tracestate").is_none());
        assert_eq!(rest["headers"]["h49"], "49");
    }

    #[test]
    fn a_bare_message_has_no_optional_attributes() {
        let message = Message::new("a", b"{}".to_vec()).with_correlation_id("");
        let names: Vec<&str> = attributes(&message, None)
            .iter()
            .map(|attribute| attribute.name)
            .collect();
        assert_eq!(
            names,
            [MESSAGE_ID, TOPIC, MESSAGE_TYPE, CONTENT_TYPE, CREATED_AT]
        );
    }
}
