//! Which stream records mean "send this": a newly written message, nothing else. The MODIFY
//! records of marks, failed attempts, replays and sweeper leases, and the REMOVE records of
//! deletes and TTL, never trigger a send. On AWS Lambda the same test runs as the event source
//! mapping's filter criteria ([`lambda_filter_criteria`]), so that those records cost no
//! invocation; the relay checks again whatever it is given.

use crate::table::config::OutboxConfig;
#[cfg(any(feature = "streams", feature = "lambda"))]
use crate::{message::Item, table::StreamMode, table::layout, table::layout::is_library_item};

#[cfg(any(feature = "streams", feature = "lambda"))]
/// A stream record's event, as DynamoDB names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// `INSERT`: a new item.
    Insert,
    /// `MODIFY`, `REMOVE`, or anything else.
    Other,
}

#[cfg(any(feature = "streams", feature = "lambda"))]
impl Event {
    pub(crate) fn from_name(name: &str) -> Self {
        if name == "INSERT" {
            Event::Insert
        } else {
            Event::Other
        }
    }
}

#[cfg(any(feature = "streams", feature = "lambda"))]
/// Why a record is not sent: the label of `outbox_stream_records_filtered_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// A `MODIFY` (marks, failures, replays, leases) or `REMOVE` (deletes, TTL).
    NotAnInsert,
    /// An insert without a new image: a stream of another view type.
    NoImage,
    /// One of the library's own items (ids starting with `__outbox`: sweeper leases).
    LibraryItem,
    /// An insert that is not an outstanding message (no marker in `WithSweeper`, no topic).
    NotOutstanding,
    /// A scheduled message (`DueAt`): the sweeper sends it when it falls due.
    Scheduled,
}

#[cfg(any(feature = "streams", feature = "lambda"))]
impl Skip {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Skip::NotAnInsert => "not_an_insert",
            Skip::NoImage => "no_image",
            Skip::LibraryItem => "library_item",
            Skip::NotOutstanding => "not_outstanding",
            Skip::Scheduled => "scheduled",
        }
    }
}

#[cfg(any(feature = "streams", feature = "lambda"))]
/// Whether a record is a newly written message to send, in an outbox of `mode`.
pub(crate) fn classify(event: Event, new_image: Option<&Item>, mode: StreamMode) -> Option<Skip> {
    if event != Event::Insert {
        return Some(Skip::NotAnInsert);
    }
    let Some(image) = new_image.filter(|image| !image.is_empty()) else {
        return Some(Skip::NoImage);
    };
    if is_library_item(image) {
        return Some(Skip::LibraryItem);
    }
    if layout::is_scheduled(image) {
        return Some(Skip::Scheduled);
    }
    let (marker, _) = mode.new_message_attribute();
    (!image.contains_key(marker)).then_some(Skip::NotOutstanding)
}

/// The filter pattern of a Lambda event source mapping on the outbox table's stream: only
/// records of newly written outstanding messages invoke the function. In
/// [`StreamMode::WithSweeper`] (and [`StreamMode::Off`]) an `INSERT` whose new image has
/// `OutstandingSince`; in [`StreamMode::StreamOnly`], an `INSERT` whose new image has `Topic`;
/// in both, not a scheduled message (no `DueAt`: the sweeper sends those when they fall due).
/// Lease items carry neither, so they never pass; the function checks every record again.
///
/// ```
/// use outbox_runtime::OutboxConfig;
/// use outbox_runtime::StreamMode;
/// use outbox_runtime::stream::lambda_filter_pattern;
///
/// let pattern = lambda_filter_pattern(&OutboxConfig::default().with_stream(StreamMode::WithSweeper));
/// assert_eq!(
///     pattern,
///     r#"{"eventName":["INSERT"],"dynamodb":{"NewImage":{"OutstandingSince":{"N":[{"exists":true}]},"DueAt":{"N":[{"exists":false}]}}}}"#
/// );
/// ```
pub fn lambda_filter_pattern(config: &OutboxConfig) -> String {
    let (attribute, kind) = config.stream.new_message_attribute();
    let due = crate::table::attributes::DUE_AT;
    // Written out rather than through a JSON map, whose key order depends on whether some crate
    // in the build turns on serde_json's `preserve_order`: the pattern reads the same everywhere.
    format!(
        r#"{{"eventName":["INSERT"],"dynamodb":{{"NewImage":{{"{attribute}":{{"{kind}":[{{"exists":true}}]}},"{due}":{{"N":[{{"exists":false}}]}}}}}}}}"#
    )
}

/// The `FilterCriteria` of a Lambda event source mapping, as `aws lambda
/// create-event-source-mapping --filter-criteria` and CloudFormation's
/// `AWS::Lambda::EventSourceMapping` take it: one filter, [`lambda_filter_pattern`].
///
/// ```
/// use outbox_runtime::OutboxConfig;
/// use outbox_runtime::StreamMode;
/// use outbox_runtime::stream::lambda_filter_criteria;
///
/// let criteria = lambda_filter_criteria(&OutboxConfig::default().with_stream(StreamMode::WithSweeper));
/// let parsed: serde_json::Value = serde_json::from_str(&criteria).unwrap();
/// assert!(parsed["Filters"][0]["Pattern"].as_str().unwrap().contains("OutstandingSince"));
/// ```
pub fn lambda_filter_criteria(config: &OutboxConfig) -> String {
    serde_json::json!({ "Filters": [{ "Pattern": lambda_filter_pattern(config) }] }).to_string()
}

#[cfg(all(test, any(feature = "streams", feature = "lambda")))]
mod tests {
    use std::time::Duration;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::message::Message;
    use crate::table::attributes as attr;
    use crate::table::layout::to_item;

    fn lease_item() -> Item {
        Item::from([
            (
                attr::MESSAGE_ID.to_owned(),
                AttributeValue::S("__outbox_lease#Outstanding#3".into()),
            ),
            ("LeaseOwner".to_owned(), AttributeValue::S("a".into())),
        ])
    }

    #[test]
    fn only_inserts_of_outstanding_messages_are_sent() {
        let message = to_item(&Message::new("t", b"{}".to_vec()), 1);
        let mode = StreamMode::WithSweeper;
        assert_eq!(classify(Event::Insert, Some(&message), mode), None);
        // A mark, a failure, a replay: MODIFY records, whatever their image holds.
        assert_eq!(
            classify(Event::Other, Some(&message), mode),
            Some(Skip::NotAnInsert)
        );
        assert_eq!(
            classify(Event::Insert, Some(&lease_item()), mode),
            Some(Skip::LibraryItem)
        );
        assert_eq!(classify(Event::Insert, None, mode), Some(Skip::NoImage));
        let mut unmarked = message.clone();
        unmarked.remove(attr::OUTSTANDING_SINCE);
        assert_eq!(
            classify(Event::Insert, Some(&unmarked), mode),
            Some(Skip::NotOutstanding)
        );
        let mut scheduled = message.clone();
        crate::table::layout::schedule(&mut scheduled, std::time::SystemTime::now());
        assert_eq!(
            classify(Event::Insert, Some(&scheduled), mode),
            Some(Skip::Scheduled)
        );
        let stream_only = StreamMode::stream_only(Duration::from_secs(3 * 24 * 3600));
        assert_eq!(classify(Event::Insert, Some(&unmarked), stream_only), None);
        assert_eq!(
            classify(Event::Insert, Some(&scheduled), stream_only),
            Some(Skip::Scheduled)
        );
        assert_eq!(
            classify(
                Event::Insert,
                Some(&Item::from([(
                    attr::MESSAGE_ID.to_owned(),
                    AttributeValue::S("x".into())
                )])),
                stream_only
            ),
            Some(Skip::NotOutstanding)
        );
    }

    #[test]
    fn the_stream_only_pattern_asks_for_a_topic() {
        let config = OutboxConfig::default()
            .with_stream(StreamMode::stream_only(Duration::from_secs(3 * 24 * 3600)));
        let pattern: serde_json::Value =
            serde_json::from_str(&lambda_filter_pattern(&config)).unwrap();
        assert_eq!(
            pattern["dynamodb"]["NewImage"]["Topic"]["S"][0]["exists"],
            true
        );
    }
}
