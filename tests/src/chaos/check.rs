//! The verdict of a run: how each command ended as its caller saw it ([`Outcome`]) and what the
//! transport saw ([`DeliveryLog`]), checked against what the tables hold, into a
//! [`ChaosReport`].

use std::collections::{BTreeSet, HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use outbox_runtime::table::TableSchema;
use outbox_runtime::{DynamoDb, MessageId, Outbox};

use super::config::Command;
use super::recorder::{Delivery, DuplicateCause, Sender};
use super::report::ChaosReport;

/// How a command ended, as its caller saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Committed,
    /// Failed as injected.
    RolledBack,
    /// The commit got no answer (DynamoDB down): it may or may not have been applied, and the
    /// table decides.
    CommitUncertain,
    /// Failed otherwise; the table decides whether it committed.
    Uncertain(String),
}

/// What the transport saw, and what explains a second delivery.
pub(super) struct DeliveryLog<'a> {
    /// Every delivery, in order.
    pub(super) deliveries: &'a [Delivery],
    /// The number of deliveries when the doomed sweeper was killed, if it was.
    pub(super) kill_mark: Option<usize>,
    /// Failed mark requests, each with the number of deliveries at that moment.
    pub(super) failed_marks: &'a [(usize, MessageId)],
    /// Marks DynamoDB acknowledged, each with the number of deliveries at that moment.
    pub(super) acknowledged_marks: &'a [(usize, MessageId)],
    /// The number of deliveries at each kill of DynamoDB.
    pub(super) kills: &'a [usize],
}

/// Checks a finished run against the table and the record of deliveries.
pub(super) async fn check(
    db: &DynamoDb,
    outbox: &Outbox,
    entities: &TableSchema,
    commands: &[Command],
    outcomes: &HashMap<String, Outcome>,
    log: &DeliveryLog<'_>,
) -> ChaosReport {
    let DeliveryLog {
        deliveries,
        kill_mark,
        failed_marks,
        acknowledged_marks,
        kills,
    } = *log;
    let mut report = ChaosReport {
        commands: commands.len(),
        deliveries: deliveries.len(),
        ..ChaosReport::default()
    };
    let ids: Vec<MessageId> = commands
        .iter()
        .map(|c| MessageId::from(c.id.as_str()))
        .collect();
    let stored: HashMap<String, outbox_runtime::StoredMessage> = outbox
        .get_many(&ids)
        .await
        .expect("reading the outbox back")
        .into_iter()
        .map(|s| (s.message.id().to_string(), s))
        .collect();
    let entity_ids = existing_keys(db, &entities.name, "Id", commands).await;

    // What committed: the handler said so, or (after an error nobody injected) the table does.
    let mut committed: HashSet<&str> = HashSet::new();
    for command in commands {
        *report.faults.entry(command.fault).or_default() += 1;
        let in_table = stored.contains_key(&command.id);
        if in_table != entity_ids.contains(&command.id) {
            report.torn_commits.push(format!(
                "{} (message {}, entity {})",
                command.id,
                if in_table { "stored" } else { "missing" },
                if in_table { "missing" } else { "stored" }
            ));
        }
        match outcomes.get(&command.id) {
            Some(Outcome::Committed) => {
                committed.insert(&command.id);
            }
            Some(Outcome::RolledBack) => {}
            // A commit DynamoDB was to refuse anyway: rolled back whether or not it got there.
            Some(Outcome::CommitUncertain) if command.fault.rolls_back() => {}
            Some(Outcome::CommitUncertain) => {
                report.commits_unanswered += 1;
                if in_table {
                    report.commits_unanswered_applied += 1;
                    committed.insert(&command.id);
                }
            }
            Some(Outcome::Uncertain(error)) => {
                report.uncertain.push(format!(
                    "{} ({}): {error}",
                    command.id,
                    if in_table {
                        "committed after all"
                    } else {
                        "not committed"
                    }
                ));
                if in_table {
                    committed.insert(&command.id);
                }
            }
            None => report.uncertain.push(format!("{}: no outcome", command.id)),
        }
    }
    report.committed = committed.len();
    for command in commands {
        let stored = stored.get(&command.id);
        if committed.contains(command.id.as_str()) {
            let state = match stored {
                Some(s) if s.dispatched_at.is_some() && !s.is_dead_lettered() => continue,
                None => "missing from the table".to_owned(),
                Some(s) if s.is_dead_lettered() => format!(
                    "dead-lettered after {} attempts: {}",
                    s.attempts,
                    s.last_error.as_deref().unwrap_or("no error kept")
                ),
                Some(s) => format!("still outstanding after {} attempts", s.attempts),
            };
            report
                .not_dispatched
                .push(format!("{} ({state})", command.id));
        }
    }

    // Deliveries, in order.
    let by_id: HashMap<&str, &Command> = commands.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut committed_seqs: HashMap<&str, BTreeSet<u64>> = HashMap::new();
    for command in commands {
        if committed.contains(command.id.as_str()) {
            committed_seqs
                .entry(&command.key)
                .or_default()
                .insert(command.seq);
        }
    }
    let mut delivered_seqs: HashMap<&str, BTreeSet<u64>> = HashMap::new();
    let mut marks_failed: HashMap<&str, Vec<usize>> = HashMap::new();
    for (seen, id) in failed_marks {
        marks_failed.entry(id.as_str()).or_default().push(*seen);
    }
    report.failed_marks = failed_marks.len();
    let mut marks_acknowledged: HashMap<&str, Vec<usize>> = HashMap::new();
    for (seen, id) in acknowledged_marks {
        marks_acknowledged
            .entry(id.as_str())
            .or_default()
            .push(*seen);
    }
    let mut last_delivery: HashMap<&str, (usize, &Delivery)> = HashMap::new();
    for (index, delivery) in deliveries.iter().enumerate() {
        let id = delivery.id.as_str();
        let Some(command) = by_id.get(id).filter(|_| committed.contains(id)) else {
            report.phantom.push(delivery.id.clone());
            continue;
        };
        match last_delivery.insert(id, (index, delivery)) {
            Some((previous_index, previous)) => {
                let killed = matches!(previous.sender, Sender::Sweeper(0) | Sender::Relay(0))
                    && kill_mark.is_some_and(|mark| index >= mark);
                let killed_cause = if previous.sender == Sender::Relay(0) {
                    DuplicateCause::RelayKilled
                } else {
                    DuplicateCause::SweeperKilled
                };
                // A mark that failed after the earlier copy went out, before this one did.
                let mark_failed = marks_failed.get(id).is_some_and(|seen| {
                    seen.iter()
                        .any(|&seen| seen > previous_index && seen <= index)
                });
                // A mark acknowledged after the earlier copy went out, then DynamoDB killed
                // before this one: only losing the acknowledged write makes it outstanding again.
                let mark_lost = marks_acknowledged.get(id).is_some_and(|seen| {
                    seen.iter().any(|&acked| {
                        acked > previous_index
                            && kills.iter().any(|&kill| kill >= acked && kill <= index)
                    })
                });
                // Both copies from sweepers, and the first one's mark acknowledged only after
                // the second went out: the mark was still pending when the shard changed hands.
                let mark_late = matches!(previous.sender, Sender::Sweeper(_))
                    && matches!(delivery.sender, Sender::Sweeper(_))
                    && marks_acknowledged
                        .get(id)
                        .is_some_and(|seen| seen.iter().any(|&acked| acked > index));
                let cause = previous
                    .unmarked
                    .or(killed.then_some(killed_cause))
                    .or(mark_failed.then_some(DuplicateCause::MarkFailed))
                    .or(mark_lost.then_some(DuplicateCause::AcknowledgedMarkLost))
                    .or(mark_late.then_some(DuplicateCause::MarkAcknowledgedLate));
                match cause {
                    Some(cause) => *report.duplicates.entry(cause).or_default() += 1,
                    None => report.unexplained_duplicates.push(delivery.id.clone()),
                }
            }
            None => {
                let key = command.key.as_str();
                let earlier = committed_seqs[key].range(..command.seq).count();
                let delivered = delivered_seqs.entry(key).or_default();
                let earlier_delivered = delivered.range(..command.seq).count();
                if earlier_delivered < earlier {
                    match delivery.sender {
                        Sender::Immediate | Sender::DyingProcess => {
                            report.immediate_overtakes += 1;
                        }
                        Sender::Sweeper(_) => report.sweeper_overtakes.push(delivery.id.clone()),
                        Sender::Relay(_) => report.relay_overtakes += 1,
                    }
                }
                delivered.insert(command.seq);
            }
        }
    }
    report.delivered = last_delivery.len();
    for command in commands {
        if committed.contains(command.id.as_str())
            && !last_delivery.contains_key(command.id.as_str())
        {
            report.lost.push(MessageId::from(command.id.as_str()));
        }
    }
    report
}

/// The ids among the commands' that have an item in `table` (hash key `key`).
async fn existing_keys(
    db: &DynamoDb,
    table: &str,
    key: &str,
    commands: &[Command],
) -> HashSet<String> {
    let mut found = HashSet::new();
    for chunk in commands.chunks(100) {
        let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
            .iter()
            .map(|c| HashMap::from([(key.to_owned(), AttributeValue::S(c.id.clone()))]))
            .collect();
        while !keys.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .expect("keys are set");
            let output = db
                .client()
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .unwrap_or_else(|err| panic!("reading `{table}` back: {err:?}"));
            for item in output
                .responses()
                .and_then(|r| r.get(table))
                .into_iter()
                .flatten()
            {
                if let Some(AttributeValue::S(id)) = item.get(key) {
                    found.insert(id.clone());
                }
            }
            keys = output
                .unprocessed_keys()
                .and_then(|rest| rest.get(table))
                .map(|rest| rest.keys().to_vec())
                .unwrap_or_default();
        }
    }
    found
}
