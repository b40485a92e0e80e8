//! A batch of stream records through the one dispatcher: the records that mean "send this"
//! ([`classify`](super::filter::classify)) are read from their new images, sent in rounds that
//! keep each partition key's order within the batch, marked (in
//! [`StreamMode::WithSweeper`](super::StreamMode::WithSweeper), 25 to a request, finished before
//! the batch is done) and, when the transport refuses one, recorded as a failed attempt, which
//! leaves it to the sweeper. The self-hosted relay and the Lambda adapter both call this.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::SystemTime;

use tracing::Instrument;

use crate::dispatch::dispatcher::{Dispatcher, Marking, Path};
use crate::dispatch::marker::MarkBatches;
use crate::error::Error;
use crate::message::{Item, Message, MessageId};
use crate::stream::filter::{Event, classify};
use crate::stream::keyed::KeyedMessages;
use crate::table::attempts::FailureOutcome;
use crate::table::layout;

/// One stream record as the relay needs it, from the `dynamodbstreams` API or from a Lambda
/// event.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Record {
    pub(crate) event: Event,
    pub(crate) sequence_number: String,
    pub(crate) new_image: Option<Item>,
    /// DynamoDB's approximate time of the change (the iterator age is counted from it).
    pub(crate) created_at: Option<SystemTime>,
}

/// What relaying one batch did.
#[derive(Debug, Default)]
pub(crate) struct BatchOutcome {
    /// Records in the batch (the self-hosted relay's report counts them).
    #[cfg_attr(not(feature = "streams"), allow(dead_code))]
    pub(crate) records: usize,
    /// Records that were not "send this" (marks, failures, leases, deletes).
    pub(crate) filtered: usize,
    /// Messages handed to the transport (and marked, where marks are made).
    pub(crate) sent: Vec<MessageId>,
    /// Sent, but the mark failed: they stay outstanding and the sweeper sends them again.
    pub(crate) sent_unmarked: Vec<MessageId>,
    /// Sends the transport refused, each recorded as a failed attempt (the sweeper retries).
    pub(crate) failed: usize,
    /// Messages dead-lettered: refused for good by the transport, or unreadable.
    pub(crate) dead_lettered: usize,
    /// Messages left to the sweeper unsent: behind an earlier failed message of their key, or
    /// keyed messages under [`KeyedMessages::LeaveToSweeper`].
    pub(crate) held_back: Vec<MessageId>,
    /// The first record (by position) whose message could not be handed over durably: it was
    /// not sent, and nothing in the table says so (recording its failure failed too, in
    /// `StreamOnly`, where there is no marker to fall back on). It must be read again.
    pub(crate) first_unsafe: Option<usize>,
    /// The first DynamoDB error (each was logged).
    pub(crate) error: Option<Error>,
    /// The newest record's approximate creation time.
    pub(crate) newest: Option<SystemTime>,
}

impl BatchOutcome {
    fn mark_unsafe(&mut self, index: usize) {
        self.first_unsafe = Some(self.first_unsafe.map_or(index, |first| first.min(index)));
    }

    fn fail(&mut self, index: usize, err: Error) {
        self.mark_unsafe(index);
        self.error.get_or_insert(err);
    }
}

/// Relays one batch of records, in their stream order, through `dispatcher`.
pub(crate) async fn relay_batch(
    dispatcher: &Dispatcher,
    records: &[Record],
    keyed: KeyedMessages,
) -> BatchOutcome {
    let span = tracing::debug_span!("outbox.stream_batch", records = records.len());
    relay(dispatcher, records, keyed).instrument(span).await
}

async fn relay(dispatcher: &Dispatcher, records: &[Record], keyed: KeyedMessages) -> BatchOutcome {
    let table = dispatcher.table();
    let mode = table.config.stream;
    let mut out = BatchOutcome {
        records: records.len(),
        ..BatchOutcome::default()
    };
    // Per key (or per message without a key), the messages to send, in stream order.
    let mut queues: Vec<VecDeque<(usize, Message)>> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut hold: Vec<(usize, MessageId)> = Vec::new();
    for (index, record) in records.iter().enumerate() {
        if let Some(at) = record.created_at {
            out.newest = Some(out.newest.map_or(at, |newest| newest.max(at)));
        }
        if let Some(skip) = classify(record.event, record.new_image.as_ref(), mode) {
            out.filtered += 1;
            metrics::counter!("outbox_stream_records_filtered_total", "reason" => skip.label())
                .increment(1);
            continue;
        }
        let Some(image) = record.new_image.as_ref() else {
            continue;
        };
        let stored = match layout::from_item(table.table(), image) {
            Ok(stored) => stored,
            Err(err) => {
                let id = layout::item_id(image).unwrap_or("?").to_owned();
                // It can never be sent: set it aside rather than block the shard.
                tracing::error!(message_id = %id, error = %err, "unreadable outbox item in the stream dead-lettered");
                match table
                    .dead_letter(&MessageId::from(id), &err.to_string())
                    .await
                {
                    Ok(_) => out.dead_lettered += 1,
                    Err(err) => out.fail(index, err),
                }
                continue;
            }
        };
        let message = stored.message;
        match message.header.partition_key.clone() {
            Some(_) if keyed == KeyedMessages::LeaveToSweeper => {
                hold.push((index, message.header.id.clone()));
            }
            Some(key) => {
                let slot = *by_key.entry(key).or_insert_with(|| {
                    queues.push(VecDeque::new());
                    queues.len() - 1
                });
                queues[slot].push_back((index, message));
            }
            None => queues.push(VecDeque::from([(index, message)])),
        }
    }

    let mut marks = mode
        .marks_deposits()
        .then(|| MarkBatches::new(table.clone()));
    let mut blocked: HashSet<String> = HashSet::new();
    loop {
        // At most one message per key per send: a later message of a key never goes out in
        // the same call as an earlier one that might fail.
        let mut round: Vec<(usize, Message)> = Vec::new();
        for queue in &mut queues {
            let Some((_, next)) = queue.front() else {
                continue;
            };
            let key_blocked = next
                .header
                .partition_key
                .as_ref()
                .is_some_and(|key| blocked.contains(key));
            if key_blocked {
                hold.extend(queue.drain(..).map(|(index, m)| (index, m.header.id)));
            } else {
                round.extend(queue.pop_front());
            }
        }
        if round.is_empty() {
            break;
        }
        let (positions, messages): (Vec<usize>, Vec<Message>) = round.into_iter().unzip();
        let attempts = vec![0; messages.len()];
        let marking = match marks.as_mut() {
            Some(batches) => Marking::Into(batches),
            None => Marking::Skip,
        };
        let dispatched = dispatcher
            .dispatch(&messages, &attempts, Path::Stream, marking)
            .await;
        out.sent.extend(dispatched.sent);
        out.sent.extend(dispatched.mark_pending);
        for failed in dispatched.failed {
            out.failed += 1;
            if let Some(FailureOutcome::DeadLettered { .. }) = failed.recorded {
                out.dead_lettered += 1;
            }
            // With the marker, a failure nobody could record is still the sweeper's.
            if failed.recorded.is_none() && !mode.marks_deposits() {
                let position = messages
                    .iter()
                    .position(|m| m.header.id == failed.id)
                    .map_or(0, |n| positions[n]);
                out.mark_unsafe(position);
            }
            blocked.extend(failed.partition_key);
        }
        if let Some(err) = dispatched.error {
            out.error.get_or_insert(err);
        }
    }

    for (index, id) in hold {
        match table.hold_for_sweeper(&id).await {
            Ok(_) => out.held_back.push(id),
            Err(err) => out.fail(index, err),
        }
    }
    if let Some(mut batches) = marks {
        let unmarked = batches.finish().await;
        if let Some(err) = unmarked.error {
            tracing::warn!(error = %err, count = unmarked.ids.len(), "sent, but marking dispatched failed; the sweeper sends these again");
            metrics::counter!("outbox_sent_unmarked_total", "path" => "stream")
                .increment(unmarked.ids.len() as u64);
            out.sent.retain(|id| !unmarked.ids.contains(id));
            out.sent_unmarked = unmarked.ids;
            out.error.get_or_insert(err);
        }
    }
    out
}
