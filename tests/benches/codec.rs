//! Message encode and decode: what `#[derive(OutboxMessage)]` generates against the same
//! conversion written by hand.
//!
//! - `derive_json`: the derive with a JSON body (serde_json).
//! - `derive_map`: the derive with a native DynamoDB map body (`body = "dynamo"`, serde_dynamo).
//! - `hand_map`: `OutboxMessage` implemented by hand, building and reading the same attribute
//!   map with `AttributeValue`s directly.
//!
//! Run with `cargo xtask bench` (which runs it after the DynamoDB scenarios), or on its own with
//! `cargo bench -p outbox-tests --bench codec`.

#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;

use aws_sdk_dynamodb::types::AttributeValue;
use criterion::{Criterion, criterion_group, criterion_main};
use outbox_runtime::message::{DYNAMODB_CONTENT_TYPE, expect_topic};
use outbox_runtime::{Body, Error, Message, MessageType, OutboxMessage, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Line {
    sku: String,
    quantity: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "order.placed")]
struct OrderPlacedJson {
    #[outbox(partition_key)]
    customer: String,
    order: u64,
    total_cents: u64,
    currency: String,
    lines: Vec<Line>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "order.placed", body = "dynamo")]
struct OrderPlacedMap {
    #[outbox(partition_key)]
    customer: String,
    order: u64,
    total_cents: u64,
    currency: String,
    lines: Vec<Line>,
}

/// The same message, converted by hand.
#[derive(Clone, Debug, PartialEq)]
struct OrderPlacedHand {
    customer: String,
    order: u64,
    total_cents: u64,
    currency: String,
    lines: Vec<Line>,
}

fn corrupt(message: &Message, reason: &str) -> Error {
    Error::InvalidMessage {
        message_id: Some(message.header.id.clone()),
        reason: reason.to_owned(),
    }
}

fn string(message: &Message, map: &HashMap<String, AttributeValue>, name: &str) -> Result<String> {
    match map.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(corrupt(message, name)),
    }
}

fn number<T: std::str::FromStr>(
    message: &Message,
    map: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<T> {
    match map.get(name) {
        Some(AttributeValue::N(value)) => value.parse().map_err(|_| corrupt(message, name)),
        _ => Err(corrupt(message, name)),
    }
}

impl OutboxMessage for OrderPlacedHand {
    const TOPICS: &'static [&'static str] = &["order.placed"];

    fn topic(&self) -> &'static str {
        "order.placed"
    }

    fn message_type(&self) -> MessageType {
        MessageType::Event
    }

    fn to_message(&self) -> Result<Message> {
        let lines = self
            .lines
            .iter()
            .map(|line| {
                AttributeValue::M(HashMap::from([
                    ("sku".to_owned(), AttributeValue::S(line.sku.clone())),
                    (
                        "quantity".to_owned(),
                        AttributeValue::N(line.quantity.to_string()),
                    ),
                ]))
            })
            .collect();
        let item = HashMap::from([
            (
                "customer".to_owned(),
                AttributeValue::S(self.customer.clone()),
            ),
            (
                "order".to_owned(),
                AttributeValue::N(self.order.to_string()),
            ),
            (
                "total_cents".to_owned(),
                AttributeValue::N(self.total_cents.to_string()),
            ),
            (
                "currency".to_owned(),
                AttributeValue::S(self.currency.clone()),
            ),
            ("lines".to_owned(), AttributeValue::L(lines)),
        ]);
        Ok(Message::new("order.placed", Vec::new())
            .with_body(Body::Item(item))
            .with_content_type(DYNAMODB_CONTENT_TYPE)
            .with_partition_key(self.customer.clone()))
    }

    fn from_message(message: &Message) -> Result<Self> {
        expect_topic::<Self>(message, MessageType::Event)?;
        let Body::Item(item) = &message.body else {
            return Err(corrupt(message, "the body is not a map"));
        };
        let Some(AttributeValue::L(lines)) = item.get("lines") else {
            return Err(corrupt(message, "lines"));
        };
        let lines = lines
            .iter()
            .map(|line| match line {
                AttributeValue::M(line) => Ok(Line {
                    sku: string(message, line, "sku")?,
                    quantity: number(message, line, "quantity")?,
                }),
                _ => Err(corrupt(message, "lines")),
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            customer: string(message, item, "customer")?,
            order: number(message, item, "order")?,
            total_cents: number(message, item, "total_cents")?,
            currency: string(message, item, "currency")?,
            lines,
        })
    }
}

fn lines() -> Vec<Line> {
    (0..3)
        .map(|n| Line {
            sku: format!("SKU-{n:05}"),
            quantity: n + 1,
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let json = OrderPlacedJson {
        customer: "customer-42".into(),
        order: 1_000_042,
        total_cents: 12_999,
        currency: "EUR".into(),
        lines: lines(),
    };
    let map = OrderPlacedMap {
        customer: json.customer.clone(),
        order: json.order,
        total_cents: json.total_cents,
        currency: json.currency.clone(),
        lines: lines(),
    };
    let hand = OrderPlacedHand {
        customer: json.customer.clone(),
        order: json.order,
        total_cents: json.total_cents,
        currency: json.currency.clone(),
        lines: lines(),
    };

    // The comparison is fair only if both make the same message.
    let derived = map.to_message().expect("encodes");
    let by_hand = hand.to_message().expect("encodes");
    assert_eq!(
        derived.body, by_hand.body,
        "derive and hand make the same map"
    );
    assert_eq!(derived.header.partition_key, by_hand.header.partition_key);
    assert_eq!(
        OrderPlacedHand::from_message(&derived).expect("decodes"),
        hand
    );

    let mut group = c.benchmark_group("codec");
    group.bench_function("encode/derive_json", |b| {
        b.iter(|| black_box(&json).to_message().expect("encodes"))
    });
    group.bench_function("encode/derive_map", |b| {
        b.iter(|| black_box(&map).to_message().expect("encodes"))
    });
    group.bench_function("encode/hand_map", |b| {
        b.iter(|| black_box(&hand).to_message().expect("encodes"))
    });
    let json_message = json.to_message().expect("encodes");
    group.bench_function("decode/derive_json", |b| {
        b.iter(|| OrderPlacedJson::from_message(black_box(&json_message)).expect("decodes"))
    });
    group.bench_function("decode/derive_map", |b| {
        b.iter(|| OrderPlacedMap::from_message(black_box(&derived)).expect("decodes"))
    });
    group.bench_function("decode/hand_map", |b| {
        b.iter(|| OrderPlacedHand::from_message(black_box(&by_hand)).expect("decodes"))
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
