//! `#[derive(OutboxMessage)]`: encoding to a `Message` and decoding back, for structs and enums,
//! JSON and DynamoDB-map bodies, and the errors a wrong message gets.

use outbox_runtime::{Body, Error, Message, MessageType, OutboxMessage};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
struct GreetingMade {
    #[outbox(partition_key)]
    name: String,
    greeting: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(
    topic = "invoice.send",
    message_type = "command",
    content_type = "application/vnd.invoice+json"
)]
struct SendInvoice {
    #[outbox(id)]
    invoice: uuid::Uuid,
    #[outbox(correlation_id)]
    order: Option<u64>,
    #[outbox(partition_key)]
    customer: u32,
    cents: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "people.snapshot", message_type = "document", body = "dynamo")]
struct PersonSnapshot {
    name: String,
    greetings: Vec<String>,
    age: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(message_type = "command")]
#[serde(tag = "kind")]
enum Account {
    #[outbox(topic = "account.open")]
    Open {
        #[outbox(partition_key)]
        owner: String,
    },
    #[outbox(topic = "account.close", message_type = "event")]
    Closed {
        #[outbox(partition_key)]
        owner: String,
        #[outbox(id)]
        closing: String,
    },
    #[outbox(topic = "account.close")]
    Purge,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "tally", body = "dynamo")]
enum Tally {
    Up { by: u32 },
    Down { by: u32 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "pair")]
struct Pair(#[outbox(partition_key)] String, u32);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "wrapped")]
struct Wrapped<T> {
    inner: T,
}

#[test]
fn a_struct_round_trips_through_json() {
    let made = GreetingMade {
        name: "Tyrion".into(),
        greeting: "Hello".into(),
    };
    let message = made.to_message().unwrap();
    assert_eq!(message.topic(), "greeting.made");
    assert_eq!(GreetingMade::TOPIC, "greeting.made");
    assert_eq!(GreetingMade::TOPICS, ["greeting.made"]);
    assert_eq!(made.topic(), "greeting.made");
    assert_eq!(made.message_type(), MessageType::Event);
    assert_eq!(message.header.message_type, MessageType::Event);
    assert_eq!(message.header.content_type, "application/json");
    assert_eq!(message.header.partition_key.as_deref(), Some("Tyrion"));
    assert_eq!(message.header.correlation_id, None);
    let Body::Bytes(bytes) = &message.body else {
        panic!("a JSON body is bytes: {:?}", message.body)
    };
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(bytes).unwrap(),
        serde_json::json!({"name": "Tyrion", "greeting": "Hello"})
    );
    assert_eq!(GreetingMade::from_message(&message).unwrap(), made);
}

#[test]
fn each_message_gets_a_fresh_id_unless_a_field_gives_it() {
    let made = GreetingMade {
        name: "Arya".into(),
        greeting: "Hi".into(),
    };
    assert_ne!(
        made.to_message().unwrap().id(),
        made.to_message().unwrap().id()
    );

    let invoice = uuid::Uuid::now_v7();
    let send = SendInvoice {
        invoice,
        order: Some(42),
        customer: 7,
        cents: 1999,
    };
    let message = send.to_message().unwrap();
    assert_eq!(message.id().as_str(), invoice.to_string());
    assert_eq!(message.header.message_type, MessageType::Command);
    assert_eq!(message.header.content_type, "application/vnd.invoice+json");
    assert_eq!(message.header.correlation_id.as_deref(), Some("42"));
    assert_eq!(message.header.partition_key.as_deref(), Some("7"));
    assert_eq!(SendInvoice::from_message(&message).unwrap(), send);

    let without_order = SendInvoice {
        order: None,
        ..send
    };
    assert_eq!(
        without_order.to_message().unwrap().header.correlation_id,
        None
    );
}

#[test]
fn a_dynamo_body_is_a_native_map() {
    let snapshot = PersonSnapshot {
        name: "Sansa".into(),
        greetings: vec!["Hello".into(), "Good day".into()],
        age: None,
    };
    let message = snapshot.to_message().unwrap();
    assert_eq!(message.header.message_type, MessageType::Document);
    assert_eq!(
        message.header.content_type,
        outbox_runtime::message::DYNAMODB_CONTENT_TYPE
    );
    let Body::Item(item) = &message.body else {
        panic!("a dynamo body is a map: {:?}", message.body)
    };
    assert_eq!(item["name"].as_s().unwrap(), "Sansa");
    assert_eq!(item["greetings"].as_l().unwrap().len(), 2);
    assert_eq!(PersonSnapshot::from_message(&message).unwrap(), snapshot);
    // A transport gets JSON.
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&message.body.to_bytes().unwrap()).unwrap(),
        serde_json::json!({"name": "Sansa", "greetings": ["Hello", "Good day"], "age": null})
    );
}

#[test]
fn enum_variants_carry_their_own_topic_and_type() {
    assert_eq!(Account::TOPICS, ["account.open", "account.close"]);

    let open = Account::Open {
        owner: "Jon".into(),
    };
    let message = open.to_message().unwrap();
    assert_eq!(message.topic(), "account.open");
    assert_eq!(message.header.message_type, MessageType::Command);
    assert_eq!(message.header.partition_key.as_deref(), Some("Jon"));
    assert_eq!(Account::from_message(&message).unwrap(), open);

    let closed = Account::Closed {
        owner: "Jon".into(),
        closing: "close-1".into(),
    };
    let message = closed.to_message().unwrap();
    assert_eq!(message.topic(), "account.close");
    assert_eq!(message.header.message_type, MessageType::Event);
    assert_eq!(message.id().as_str(), "close-1");
    assert_eq!(Account::from_message(&message).unwrap(), closed);

    let purge = Account::Purge;
    let message = purge.to_message().unwrap();
    assert_eq!(message.topic(), "account.close");
    assert_eq!(message.header.message_type, MessageType::Command);
    assert_eq!(message.header.partition_key, None);
    assert_eq!(Account::from_message(&message).unwrap(), purge);
}

#[test]
fn an_enum_with_one_topic_has_a_topic_constant_and_a_map_body() {
    assert_eq!(Tally::TOPIC, "tally");
    let up = Tally::Up { by: 3 };
    let message = up.to_message().unwrap();
    assert!(matches!(message.body, Body::Item(_)));
    assert_eq!(Tally::from_message(&message).unwrap(), up);
}

#[test]
fn tuple_and_generic_structs() {
    let pair = Pair("key".into(), 9);
    let message = pair.to_message().unwrap();
    assert_eq!(message.header.partition_key.as_deref(), Some("key"));
    assert_eq!(Pair::from_message(&message).unwrap(), pair);

    let wrapped = Wrapped { inner: vec![1, 2] };
    let message = wrapped.to_message().unwrap();
    assert_eq!(Wrapped::<Vec<i32>>::TOPIC, "wrapped");
    assert_eq!(
        Wrapped::<Vec<i32>>::from_message(&message).unwrap(),
        wrapped
    );
}

#[test]
fn a_message_of_another_topic_is_refused_naming_both() {
    let other = Message::new("greeting.removed", b"{}".to_vec());
    let err = GreetingMade::from_message(&other).unwrap_err();
    assert!(matches!(err, Error::WrongMessage { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("GreetingMade"), "{text}");
    assert!(
        text.contains("expected event on topic greeting.made"),
        "{text}"
    );
    assert!(
        text.contains("found event on topic greeting.removed"),
        "{text}"
    );
    assert!(text.contains(other.id().as_str()), "{text}");
}

#[test]
fn a_message_of_another_type_is_refused_naming_both() {
    let command = Message::new(
        "greeting.made",
        b"{\"name\":\"a\",\"greeting\":\"b\"}".to_vec(),
    )
    .with_message_type(MessageType::Command);
    let text = GreetingMade::from_message(&command)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("expected event on topic greeting.made"),
        "{text}"
    );
    assert!(
        text.contains("found command on topic greeting.made"),
        "{text}"
    );

    // An enum lists every topic and type it accepts.
    let text = Account::from_message(&Message::new("account.other", b"{}".to_vec()))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(
            "expected command on topic account.open or event on topic account.close or \
             command on topic account.close"
        ),
        "{text}"
    );
}

#[test]
fn a_body_that_names_another_variant_than_the_header_is_refused() {
    // The header says an event on account.close (Closed); the body is an Open.
    let open_body = serde_json::to_vec(&Account::Open {
        owner: "Jon".into(),
    })
    .unwrap();
    let forged = Message::new("account.close", open_body);
    let text = Account::from_message(&forged).unwrap_err().to_string();
    assert!(
        text.contains("expected command on topic account.open"),
        "{text}"
    );
    assert!(
        text.contains("found event on topic account.close"),
        "{text}"
    );
}

#[test]
fn a_body_that_does_not_decode_names_type_and_topic() {
    let broken = Message::new("greeting.made", b"{\"name\": 5}".to_vec());
    let err = GreetingMade::from_message(&broken).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Serialization {
                action: "decode",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(
            "cannot decode the body of `derive::GreetingMade` on topic `greeting.made`"
        ),
        "{text}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_body_that_does_not_encode_names_type_and_topic() {
    // A unit variant serializes as a string, which is not a DynamoDB map.
    #[derive(Debug, Serialize, Deserialize, OutboxMessage)]
    #[outbox(topic = "lights", body = "dynamo")]
    enum Lights {
        On,
    }
    let err = Lights::On.to_message().unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            Error::Serialization {
                action: "encode",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        text.contains("Lights") && text.contains("`lights`"),
        "{text}"
    );
}
