//! Records read from a table's stream through the `dynamodbstreams` API, as the event a Lambda
//! function receives from its event source mapping: to run a [`StreamHandler`](super::StreamHandler)
//! locally, against DynamoDB Local's stream, exactly as Lambda would call it.

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodbstreams::types::Record;

use crate::stream::records::image;

/// The Lambda event for `records` of the stream `stream_arn` (in `region`), in the shape the
/// event source mapping sends: one record per stream record, with its keys, its new image (the
/// outbox table's stream view), its sequence number and its time.
///
/// ```no_run
/// use outbox_runtime::lambda::{StreamHandler, stream_event};
/// use outbox_runtime::stream::DynamoDbStreams;
///
/// # async fn run(handler: StreamHandler, streams: DynamoDbStreams, arn: &str, iterator: &str) {
/// let output = streams.client().get_records().shard_iterator(iterator).send().await.unwrap();
/// let event = stream_event(arn, "us-east-1", output.records());
/// let response = handler.handle(event).await;
/// assert!(response.batch_item_failures.is_empty());
/// # }
/// ```
///
/// # Panics
/// Never for records the streams API returned: each has the fields the event requires.
pub fn stream_event(stream_arn: &str, region: &str, records: &[Record]) -> Event {
    let item = |image_of: Option<&std::collections::HashMap<String, _>>| {
        let item = image_of.map(image).unwrap_or_default();
        serde_json::to_value(serde_dynamo::Item::from(item)).expect("an item serializes")
    };
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|record| {
            let change = record.dynamodb();
            serde_json::json!({
                "eventID": record.event_id().unwrap_or_default(),
                "eventName": record.event_name().map(|name| name.as_str()).unwrap_or_default(),
                "eventVersion": record.event_version().unwrap_or("1.1"),
                "eventSource": "aws:dynamodb",
                "awsRegion": region,
                "eventSourceARN": stream_arn,
                "dynamodb": {
                    "ApproximateCreationDateTime": change
                        .and_then(|change| change.approximate_creation_date_time())
                        .map_or(0.0, |at| at.as_secs_f64()),
                    "Keys": item(change.and_then(|change| change.keys.as_ref())),
                    "NewImage": item(change.and_then(|change| change.new_image.as_ref())),
                    "OldImage": item(change.and_then(|change| change.old_image.as_ref())),
                    "SequenceNumber": change.and_then(|change| change.sequence_number()),
                    "SizeBytes": change.and_then(|change| change.size_bytes()).unwrap_or(0),
                    "StreamViewType": change
                        .and_then(|change| change.stream_view_type())
                        .map_or("NEW_IMAGE", |view| view.as_str()),
                },
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records }))
        .expect("the JSON of a DynamoDB stream event")
}
