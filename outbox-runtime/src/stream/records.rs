//! Records of the `dynamodbstreams` API as the relay reads them: the streams SDK has its own
//! `AttributeValue`, the same shape as DynamoDB's, converted here.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::primitives::Blob;
use base64::Engine as _;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, OperationType};

use crate::message::Item;
use crate::stream::batch::Record;
use crate::stream::filter::Event;

/// A streams SDK value as a DynamoDB one.
pub(crate) fn value(attribute: &StreamValue) -> AttributeValue {
    match attribute {
        StreamValue::B(blob) => AttributeValue::B(blob.clone()),
        StreamValue::Bool(b) => AttributeValue::Bool(*b),
        StreamValue::Bs(blobs) => AttributeValue::Bs(blobs.clone()),
        StreamValue::L(list) => AttributeValue::L(list.iter().map(value).collect()),
        StreamValue::M(map) => AttributeValue::M(image(map)),
        StreamValue::N(n) => AttributeValue::N(n.clone()),
        StreamValue::Ns(ns) => AttributeValue::Ns(ns.clone()),
        StreamValue::Null(null) => AttributeValue::Null(*null),
        StreamValue::S(s) => AttributeValue::S(s.clone()),
        StreamValue::Ss(ss) => AttributeValue::Ss(ss.clone()),
        // A type newer than this SDK: kept as a NULL the layout reads as mistyped.
        _ => AttributeValue::Null(true),
    }
}

/// A streams SDK image as a DynamoDB item.
pub(crate) fn image(image: &HashMap<String, StreamValue>) -> Item {
    image
        .iter()
        .map(|(name, v)| (name.clone(), value(v)))
        .collect()
}

/// A streams SDK record as the relay's.
pub(crate) fn record(record: &aws_sdk_dynamodbstreams::types::Record) -> Option<Record> {
    let change = record.dynamodb()?;
    Some(Record {
        event: match record.event_name() {
            Some(OperationType::Insert) => Event::Insert,
            _ => Event::Other,
        },
        sequence_number: change.sequence_number()?.to_owned(),
        new_image: change.new_image().map(image),
        created_at: change
            .approximate_creation_date_time()
            .and_then(|at| SystemTime::try_from(*at).ok()),
    })
}

/// Reads a `GetRecords` answer the SDK could not: DynamoDB Local (3.3.1) writes an empty map
/// attribute as `{}` instead of `{"M":{}}` (the sweepers' membership item is one once the last
/// sweeper leaves), and the SDK then fails the whole answer, which would leave the shard stuck
/// on that record. This reads the same JSON with `{}` taken for the empty map it stands for.
/// `None` when the body is not a `GetRecords` answer at all.
pub(crate) fn from_raw_json(body: &[u8]) -> Option<(Vec<Record>, Option<String>)> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let records = json.get("Records")?.as_array()?;
    let mut read = Vec::with_capacity(records.len());
    for record in records {
        let change = record.get("dynamodb")?;
        read.push(Record {
            event: Event::from_name(record.get("eventName")?.as_str()?),
            sequence_number: change.get("SequenceNumber")?.as_str()?.to_owned(),
            new_image: match change.get("NewImage") {
                Some(serde_json::Value::Object(image)) => Some(json_image(image)?),
                _ => None,
            },
            created_at: change
                .get("ApproximateCreationDateTime")
                .and_then(serde_json::Value::as_f64)
                .filter(|secs| *secs > 0.0)
                .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs)),
        });
    }
    let next = json
        .get("NextShardIterator")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    Some((read, next))
}

fn json_image(image: &serde_json::Map<String, serde_json::Value>) -> Option<Item> {
    image
        .iter()
        .map(|(name, value)| Some((name.clone(), json_value(value)?)))
        .collect()
}

/// One attribute value in DynamoDB's JSON, `{}` read as the empty map.
fn json_value(value: &serde_json::Value) -> Option<AttributeValue> {
    let object = value.as_object()?;
    let Some((kind, inner)) = object.iter().next() else {
        return Some(AttributeValue::M(HashMap::new()));
    };
    let strings = |inner: &serde_json::Value| -> Option<Vec<String>> {
        inner
            .as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let blob = |inner: &serde_json::Value| -> Option<Blob> {
        base64::engine::general_purpose::STANDARD
            .decode(inner.as_str()?)
            .ok()
            .map(Blob::new)
    };
    Some(match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.to_owned()),
        "N" => AttributeValue::N(inner.as_str()?.to_owned()),
        "B" => AttributeValue::B(blob(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(inner.as_bool()?),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "BS" => AttributeValue::Bs(inner.as_array()?.iter().map(blob).collect::<Option<_>>()?),
        "L" => AttributeValue::L(
            inner
                .as_array()?
                .iter()
                .map(json_value)
                .collect::<Option<_>>()?,
        ),
        "M" => AttributeValue::M(json_image(inner.as_object()?)?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_with_a_bare_empty_map_is_read_as_the_sdk_would_read_a_correct_one() {
        let body = br#"{"Records":[{"eventName":"INSERT","dynamodb":{"ApproximateCreationDateTime":1796172420.0,"NewImage":{"Members":{},"MessageId":{"S":"__outbox_sweepers#Outstanding"},"Body":{"B":"eyJuIjowfQ=="},"L":{"L":[{"N":"1"},{}]}},"SequenceNumber":"000000000000000000558"}}],"NextShardIterator":"next"}"#;
        let (records, next) = from_raw_json(body).unwrap();
        assert_eq!(next.as_deref(), Some("next"));
        let image = records[0].new_image.as_ref().unwrap();
        assert_eq!(image["Members"], AttributeValue::M(HashMap::new()));
        assert_eq!(
            image["Body"],
            AttributeValue::B(Blob::new(b"{\"n\":0}".to_vec()))
        );
        assert_eq!(
            image["L"],
            AttributeValue::L(vec![
                AttributeValue::N("1".into()),
                AttributeValue::M(HashMap::new())
            ])
        );
        assert_eq!(records[0].event, Event::Insert);
        assert_eq!(records[0].sequence_number, "000000000000000000558");
        assert!(from_raw_json(b"{\"message\":\"no\"}").is_none());
    }

    #[test]
    fn nested_values_convert_exactly() {
        let nested = StreamValue::M(HashMap::from([
            ("n".to_owned(), StreamValue::N("1.5".into())),
            (
                "l".to_owned(),
                StreamValue::L(vec![StreamValue::S("x".into()), StreamValue::Bool(true)]),
            ),
        ]));
        let AttributeValue::M(map) = value(&nested) else {
            panic!("a map");
        };
        assert_eq!(map["n"], AttributeValue::N("1.5".into()));
        assert_eq!(
            map["l"],
            AttributeValue::L(vec![
                AttributeValue::S("x".into()),
                AttributeValue::Bool(true)
            ])
        );
    }
}
