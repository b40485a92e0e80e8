//! Records of the `dynamodbstreams` API as the relay reads them: the streams SDK has its own
//! `AttributeValue`, the same shape as DynamoDB's, converted here.

use std::collections::HashMap;
use std::time::SystemTime;

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

#[cfg(test)]
mod tests {
    use super::*;

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
