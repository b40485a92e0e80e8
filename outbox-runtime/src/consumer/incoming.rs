//! Reading an incoming message: the outbox [`Message`] a producer sent, from what a queue
//! delivers, whether SQS carried it directly or an SNS subscription wrapped it in SNS's JSON
//! envelope (a subscription without raw message delivery).
//!
//! What arrives is untrusted input: every path returns a [`DecodeError`] naming what was wrong,
//! never a panic.

use crate::message::Message;
use crate::transport::wire::{self, DecodeError};

/// The outbox message inside a delivery: `attribute` looks up the delivery's string message
/// attributes, `body` is its body.
///
/// A delivery carrying the outbox attributes itself (SQS, or SNS with raw message delivery) is
/// read as it is. One without them whose body is an SNS notification envelope
/// (`{"Type":"Notification","Message":...,"MessageAttributes":{...}}`) is read from the
/// envelope: its `Message` is the body, its `MessageAttributes` the attributes.
///
/// ```
/// use outbox_runtime::consumer::incoming::read_delivery;
///
/// let envelope = r#"{"Type":"Notification","MessageId":"sns-1","Message":"{\"name\":\"Tyrion\"}",
///   "MessageAttributes":{
///     "outbox-message-id":{"Type":"String","Value":"m-1"},
///     "outbox-topic":{"Type":"String","Value":"greeting.made"},
///     "outbox-message-type":{"Type":"String","Value":"event"},
///     "outbox-created-at":{"Type":"Number","Value":"1700000000000"}}}"#;
/// let message = read_delivery(|_| None, envelope)?;
/// assert_eq!(message.id().as_str(), "m-1");
/// assert_eq!(message.body.to_bytes()?, br#"{"name":"Tyrion"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`DecodeError`] naming the missing or invalid attribute, or a body that is neither an
/// outbox message nor an SNS envelope of one.
pub fn read_delivery<'a>(
    attribute: impl Fn(&str) -> Option<&'a str>,
    body: &str,
) -> Result<Message, DecodeError> {
    if attribute(wire::MESSAGE_ID).is_some() {
        return wire::read_message(attribute, body);
    }
    match sns_envelope(body) {
        Some(envelope) => wire::read_message(
            |name| {
                envelope
                    .attributes
                    .get(name)
                    .and_then(|value| value.get("Value"))
                    .and_then(serde_json::Value::as_str)
            },
            &envelope.message,
        )
        .map_err(|err| match err {
            DecodeError::MissingAttribute(name) => DecodeError::NotAnOutboxNotification(name),
            other => other,
        }),
        // Neither: the error names the first attribute missing.
        None => wire::read_message(attribute, body),
    }
}

/// The parts of an SNS notification envelope the outbox needs.
struct Envelope {
    message: String,
    attributes: serde_json::Map<String, serde_json::Value>,
}

fn sns_envelope(body: &str) -> Option<Envelope> {
    // Cheap test first: most bodies are not envelopes, and parsing a large one twice is waste.
    if !body.trim_start().starts_with('{') || !body.contains("\"Notification\"") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let object = value.as_object()?;
    if object.get("Type")?.as_str()? != "Notification" {
        return None;
    }
    Some(Envelope {
        message: object.get("Message")?.as_str()?.to_owned(),
        attributes: object
            .get("MessageAttributes")
            .and_then(serde_json::Value::as_object)
            .cloned()
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn attributes() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            (wire::MESSAGE_ID, "m-1"),
            (wire::TOPIC, "greeting.made"),
            (wire::MESSAGE_TYPE, "event"),
            (wire::CREATED_AT, "1700000000000"),
        ])
    }

    #[test]
    fn a_direct_delivery_and_an_envelope_give_the_same_message() {
        let attrs = attributes();
        let direct = read_delivery(|name| attrs.get(name).copied(), "{\"a\":1}").unwrap();
        let envelope = serde_json::json!({
            "Type": "Notification",
            "Message": "{\"a\":1}",
            "MessageAttributes": attrs
                .iter()
                .map(|(name, value)| (name.to_string(), serde_json::json!({"Type": "String", "Value": value})))
                .collect::<serde_json::Map<_, _>>(),
        })
        .to_string();
        let wrapped = read_delivery(|_| None, &envelope).unwrap();
        assert_eq!(direct, wrapped);
    }

    #[test]
    fn a_body_that_is_neither_names_the_missing_attribute() {
        // An SNS notification of garbage: what is wrong is who published it, not how the queue
        // was read.
        let garbage = serde_json::json!({
            "Type": "Notification",
            "Message": "garbage",
            "MessageAttributes": {},
        })
        .to_string();
        let err = read_delivery(|_| None, &garbage).unwrap_err();
        assert!(
            matches!(err, DecodeError::NotAnOutboxNotification(_)),
            "{err}"
        );
        assert!(err.to_string().contains("SNS notification"), "{err}");
        assert!(
            !err.to_string().contains("message_attribute_names"),
            "{err}"
        );
        let err = read_delivery(|_| None, "{\"Type\":\"Notification\"}").unwrap_err();
        assert!(matches!(err, DecodeError::MissingAttribute(_)), "{err}");
        let err = read_delivery(|_| None, "hello").unwrap_err();
        assert!(matches!(err, DecodeError::MissingAttribute(_)), "{err}");
        assert!(err.to_string().contains("outbox-message-type"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Arbitrary bodies and attributes: an error or a message, never a panic.
        #[test]
        fn arbitrary_deliveries_never_panic(
            body in any::<String>(),
            envelope_message in any::<String>(),
            names in proptest::collection::vec(
                prop_oneof![
                    Just(wire::MESSAGE_ID.to_owned()),
                    Just(wire::TOPIC.to_owned()),
                    Just(wire::MESSAGE_TYPE.to_owned()),
                    Just(wire::CREATED_AT.to_owned()),
                    Just(wire::HEADER.to_owned()),
                    Just(wire::BODY_ENCODING.to_owned()),
                    Just(wire::CORRELATION_ID.to_owned()),
                    any::<String>(),
                ],
                0..8,
            ),
            values in proptest::collection::vec(
                prop_oneof![
                    Just("event".to_owned()),
                    Just("base64".to_owned()),
                    Just("{\"headers\":{\"a\":1}}".to_owned()),
                    "[0-9]{1,25}",
                    any::<String>(),
                ],
                8,
            ),
            wrap in any::<bool>(),
        ) {
            let attrs: HashMap<String, String> =
                names.into_iter().zip(values).collect();
            if wrap {
                let envelope = serde_json::json!({
                    "Type": "Notification",
                    "Message": envelope_message,
                    "MessageAttributes": attrs
                        .iter()
                        .map(|(n, v)| (n.clone(), serde_json::json!({"Type": "String", "Value": v})))
                        .collect::<serde_json::Map<_, _>>(),
                })
                .to_string();
                let _ = read_delivery(|_| None, &envelope);
            } else {
                let _ = read_delivery(|name| attrs.get(name).map(String::as_str), &body);
            }
        }
    }
}
