//! What the SQS and SNS producers share below the producer: routing a message to its
//! destination, encoding it for the wire, cutting batch calls, and mapping a batch call's answer
//! back onto its messages.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use aws_smithy_types::error::display::DisplayErrorContext;

use crate::message::Message;
use crate::transport::error::ProducerError;
use crate::transport::wire::{
    Attribute, Fifo, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, attributes, encode_body, fifo_ids,
};

/// A message routed and encoded, ready to be put on the wire.
#[derive(Debug)]
pub struct Prepared<'a> {
    /// Its position in the messages given to `send_batch`.
    pub(crate) index: usize,
    pub(crate) message: &'a Message,
    pub(crate) destination: &'a str,
    pub(crate) body: String,
    pub(crate) attributes: Vec<Attribute>,
    pub(crate) fifo: Option<Fifo>,
}

impl Prepared<'_> {
    /// Body plus attributes, in bytes.
    pub(crate) fn size(&self) -> usize {
        self.body.len() + self.attributes.iter().map(Attribute::size).sum::<usize>()
    }
}

/// Topic to destination (queue URL or topic ARN), as the user gave it.
#[derive(Clone, Debug)]
pub(crate) struct Routes {
    /// What a destination is called in messages: "queue URL", "topic ARN".
    destination: &'static str,
    /// How the user adds a route, for the message about a producer with none.
    how_to_add: &'static str,
    table: BTreeMap<String, String>,
}

impl Routes {
    pub(crate) fn new(destination: &'static str, how_to_add: &'static str) -> Self {
        Self {
            destination,
            how_to_add,
            table: BTreeMap::new(),
        }
    }

    pub(crate) fn insert(&mut self, topic: String, destination: String) {
        self.table.insert(topic, destination);
    }

    pub(crate) fn get(&self, topic: &str) -> Option<&str> {
        self.table.get(topic).map(String::as_str)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.table
            .iter()
            .map(|(topic, destination)| (topic.as_str(), destination.as_str()))
    }

    /// The destination of `message`, or an error naming its topic and the routed ones.
    fn destination(&self, message: &Message) -> Result<&str, ProducerError> {
        if let Some(destination) = self.get(message.topic()) {
            return Ok(destination);
        }
        let reason = if self.table.is_empty() {
            format!(
                "no {} is routed for topic `{}`: the producer has no routes; add one with `{}`",
                self.destination,
                message.topic(),
                self.how_to_add
            )
        } else {
            let known: Vec<String> = self
                .table
                .keys()
                .map(|topic| format!("`{topic}`"))
                .collect();
            format!(
                "no {} is routed for topic `{}`; routed topics: {}",
                self.destination,
                message.topic(),
                known.join(", ")
            )
        };
        Err(ProducerError::permanent(message, reason))
    }
}

/// Routes and encodes one message.
pub(crate) fn prepare<'a>(
    index: usize,
    message: &'a Message,
    routes: &'a Routes,
) -> Result<Prepared<'a>, ProducerError> {
    let destination = routes.destination(message)?;
    let (body, encoding) = encode_body(&message.body).map_err(|err| {
        ProducerError::permanent(message, format!("the body cannot be encoded: {err}"))
            .with_source(err)
    })?;
    if body.is_empty() {
        return Err(ProducerError::permanent(
            message,
            "the body is empty, and SQS and SNS do not accept an empty message",
        ));
    }
    let fifo = if destination.ends_with(".fifo") {
        Some(fifo_ids(message, destination)?)
    } else {
        None
    };
    Ok(Prepared {
        index,
        message,
        destination,
        body,
        attributes: attributes(message, encoding),
        fifo,
    })
}

/// Splits entries of the given sizes into batch calls: consecutive runs of at most
/// [`MAX_BATCH_ENTRIES`] entries and [`MAX_BATCH_BYTES`] bytes (an entry larger than that goes
/// alone).
pub(crate) fn batches(sizes: impl IntoIterator<Item = usize>) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let (mut start, mut end, mut bytes) = (0, 0, 0);
    for size in sizes {
        let count = end - start;
        if count > 0 && (count == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES) {
            batches.push(start..end);
            start = end;
            bytes = 0;
        }
        bytes += size;
        end += 1;
    }
    if end > start {
        batches.push(start..end);
    }
    batches
}

/// One entry a batch call reports as failed.
pub(crate) struct EntryFailure<'s> {
    pub(crate) id: &'s str,
    pub(crate) code: &'s str,
    pub(crate) message: Option<&'s str>,
    pub(crate) sender_fault: bool,
}

/// Maps a batch answer to one result per entry: `call` names the call for messages
/// ("SendMessageBatch to queue `...`"), `succeeded` and `failed` are the answer's entry lists.
pub(crate) fn entry_results<'s>(
    call: &str,
    entries: &[Prepared<'_>],
    succeeded: impl IntoIterator<Item = &'s str>,
    failed: impl IntoIterator<Item = EntryFailure<'s>>,
) -> Vec<Result<(), ProducerError>> {
    let succeeded: Vec<&str> = succeeded.into_iter().collect();
    let failed: HashMap<&str, EntryFailure<'_>> =
        failed.into_iter().map(|entry| (entry.id, entry)).collect();
    entries
        .iter()
        .enumerate()
        .map(|(position, entry)| {
            let id = position.to_string();
            if let Some(failure) = failed.get(id.as_str()) {
                let blame = if failure.sender_fault {
                    "the message was at fault; it is dead-lettered"
                } else {
                    "a service fault; retrying may succeed"
                };
                let reason = format!(
                    "{call} rejected this entry: {}: {} ({blame})",
                    failure.code,
                    failure.message.unwrap_or("no details given")
                );
                // The service says the entry itself is wrong: sending it again cannot help.
                Err(if failure.sender_fault {
                    ProducerError::permanent(entry.message, reason)
                } else {
                    ProducerError::new(entry.message, reason)
                })
            } else if succeeded.contains(&id.as_str()) {
                Ok(())
            } else {
                Err(ProducerError::new(
                    entry.message,
                    format!("{call} reported neither success nor failure for this entry"),
                ))
            }
        })
        .collect()
}

/// The same error for every entry of a call that failed as a whole; each keeps the SDK error
/// as its source.
pub(crate) fn call_failed<E>(
    call: &str,
    entries: &[Prepared<'_>],
    err: E,
) -> Vec<Result<(), ProducerError>>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let reason = format!("{call} failed: {}", DisplayErrorContext(&err));
    let shared = SharedError(Arc::new(err));
    entries
        .iter()
        .map(|entry| {
            Err(ProducerError::new(entry.message, reason.clone()).with_source(shared.clone()))
        })
        .collect()
}

/// An error that several messages share as their source.
#[derive(Clone)]
struct SharedError(Arc<dyn std::error::Error + Send + Sync>);

impl fmt::Debug for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Body;

    fn routes() -> Routes {
        let mut routes = Routes::new("queue URL", "SqsProducer::with_route");
        routes.insert("a".into(), "http://q/a".into());
        routes.insert("f".into(), "http://q/f.fifo".into());
        routes
    }

    #[test]
    fn twenty_five_small_entries_make_three_calls() {
        assert_eq!(batches([10; 25]), vec![0..10, 10..20, 20..25]);
        assert!(batches([]).is_empty());
    }

    #[test]
    fn batches_respect_the_byte_limit() {
        let third = MAX_BATCH_BYTES / 3;
        assert_eq!(batches([third; 4]), vec![0..3, 3..4]);
        assert_eq!(batches([third + 1; 4]), vec![0..2, 2..4]);
        // Too large alone: sent alone, the service judges.
        assert_eq!(
            batches([10, MAX_BATCH_BYTES + 1, 10]),
            vec![0..1, 1..2, 2..3]
        );
    }

    #[test]
    fn unknown_topics_name_the_routed_ones() {
        let message = Message::new("b", b"{}".to_vec());
        let err = prepare(0, &message, &routes()).unwrap_err();
        assert_eq!(err.topic, "b");
        assert!(err.reason.contains("topic `b`"), "{err}");
        assert!(err.reason.contains("`a`, `f`"), "{err}");
        let none = Routes::new("queue URL", "SqsProducer::with_route");
        let err = prepare(0, &message, &none).unwrap_err();
        assert!(err.reason.contains("has no routes"), "{err}");
    }

    #[test]
    fn fifo_destinations_get_group_and_deduplication_ids() {
        let routes = routes();
        let keyed = Message::new("f", b"{}".to_vec()).with_partition_key("Tyrion");
        let prepared = prepare(0, &keyed, &routes).unwrap();
        let fifo = prepared.fifo.unwrap();
        assert_eq!(fifo.group_id, "Tyrion");
        assert_eq!(fifo.deduplication_id, keyed.id().as_str());

        let unkeyed = Message::new("f", b"{}".to_vec());
        let fifo = prepare(0, &unkeyed, &routes).unwrap().fifo.unwrap();
        assert_eq!(fifo.group_id, unkeyed.id().as_str());

        let spaced = Message::new("f", b"{}".to_vec()).with_partition_key("Tyrion Lannister");
        let err = prepare(0, &spaced, &routes).unwrap_err();
        assert!(err.reason.contains("MessageGroupId"), "{err}");
        // A standard queue takes any key.
        let standard = Message::new("a", b"{}".to_vec()).with_partition_key("Tyrion Lannister");
        assert!(prepare(0, &standard, &routes).unwrap().fifo.is_none());
    }

    #[test]
    fn empty_bodies_are_refused() {
        let message = Message::new("a", Vec::new()).with_body(Body::Bytes(Vec::new()));
        let err = prepare(0, &message, &routes()).unwrap_err();
        assert!(err.reason.contains("empty"), "{err}");
    }

    #[test]
    fn entry_results_map_ids_back_and_report_missing_ones() {
        let routes = routes();
        let messages: Vec<Message> = (0..3).map(|_| Message::new("a", b"{}".to_vec())).collect();
        let entries: Vec<Prepared<'_>> = messages
            .iter()
            .enumerate()
            .map(|(index, message)| prepare(index, message, &routes).unwrap())
            .collect();
        let results = entry_results(
            "SendMessageBatch to queue `q`",
            &entries,
            ["0"],
            [EntryFailure {
                id: "1",
                code: "InvalidParameterValue",
                message: Some("bad"),
                sender_fault: true,
            }],
        );
        assert!(results[0].is_ok());
        let failed = results[1].as_ref().unwrap_err();
        assert_eq!(failed.message_id, messages[1].id().as_str());
        assert!(
            failed.reason.contains("InvalidParameterValue: bad"),
            "{failed}"
        );
        assert!(results[2].as_ref().unwrap_err().reason.contains("neither"));
    }
}
