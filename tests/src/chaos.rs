//! Fault injection: many handled commands through the real macros and runtime against DynamoDB,
//! with faults at every point of a message's way, and the outbox's promises checked afterwards
//! from the real table and from a record of everything the transport received.
//!
//! The faults, each chosen per command or per send:
//!
//! | where | fault | what must follow |
//! | --- | --- | --- |
//! | before the commit | the body returns `Err`, panics, or its future is dropped (cancelled); DynamoDB refuses the commit (a failed condition) | nothing stored, nothing ever delivered |
//! | after the commit, before the send | the process dies (`clear = "sweeper"`, nobody clears) | the sweeper delivers it |
//! | after the send, before the mark | the process dies; or the transport takes the message and reports a failure | delivered, then delivered again by the sweeper: a counted duplicate |
//! | the send | the transport fails intermittently (immediate path and sweepers) | retried with backoff until delivered |
//! | the sweeper | one sweeper is killed between a send and its mark, without releasing its leases | the others take its shards once the leases lapse |
//! | DynamoDB itself | with [`ChaosConfig::restart_dynamodb`]: the run's own DynamoDB Local, its data on disk, killed with SIGKILL right after a chosen send (once during the commands, once during the drain; the sender waits for the kill, so its mark meets a dead endpoint) and restarted on its data | commits that get no answer end committed or not (the caller cannot know which: the table decides, and only committed messages are delivered); a send whose mark failed is sent again (a counted duplicate); the sweepers resume |
//!
//! Then [`ChaosReport::violations`] lists every broken promise: a committed message never
//! delivered (lost), a message of a failed handler delivered (phantom), a duplicate that no fault
//! between send and mark explains, an entity written without its message or the reverse, a
//! committed message not marked dispatched, and a later message of a partition key delivered
//! before an earlier one by the sweeper.
//!
//! Order per key has one exception, counted apart rather than failed: the immediate clear sends
//! a new message from memory without looking for earlier outstanding messages of its key, so
//! when an earlier message of the key was left to the sweeper (its send failed, or its process
//! died), the new one overtakes it. Only the sweeper keeps order under faults; a service that
//! needs strict order per key under faults clears with `clear = "sweeper"`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures_util::FutureExt;
use outbox_runtime::producer::{Producer, ProducerError};
use outbox_runtime::schema::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::{
    DynamoDb, Expr, Message, MessageId, Outbox, OutboxConfig, OutboxMessage, Postbox, RetryPolicy,
    Sweeper, SweeperConfig, Transaction, transactional_handler,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, oneshot};

use crate::restartable::RestartableDynamoDb;
use crate::{create_table, unique_name};
use marks::MarkWatcher;
use outage::Outage;

mod marks;
pub mod outage;
pub mod processes;

/// The payload of the injected panics; the harness keeps them off stderr.
pub const INJECTED_PANIC: &str = "injected panic before the commit";

/// How big a run is and how often each fault strikes.
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    /// Handled commands.
    pub commands: usize,
    /// Partition keys the commands are spread over; the commands of a key run one after another.
    pub keys: usize,
    /// Keys handled at the same time.
    pub concurrency: usize,
    /// Shards of the outstanding index.
    pub shards: u16,
    /// Percent of commands that meet a fault of their own (spread evenly over the six kinds).
    pub command_fault_percent: u32,
    /// Percent of sends the transport fails without delivering.
    pub send_fail_percent: u32,
    /// Percent of sends the transport delivers and then reports as failed.
    pub send_then_fail_percent: u32,
    /// Sweepers that drain the backlog; the first is killed mid-run (at least 2).
    pub sweepers: usize,
    /// `true`: handlers clear at once (`clear = "immediate"`); `false`: every handler leaves
    /// its messages to the sweepers (`clear = "sweeper"`), which then keep order per key.
    pub clear_immediately: bool,
    /// Seed of the fault choices (the interleaving of concurrent work is not seeded).
    pub seed: u64,
    /// Runs against a DynamoDB Local of the run's own with its data on disk, killed with
    /// SIGKILL and restarted once during the commands and once during the drain (see
    /// [`RestartableDynamoDb`]); `false` uses the shared test endpoint and never stops it.
    pub restart_dynamodb: bool,
    /// Prints progress lines to stderr.
    pub progress: bool,
}

impl Default for ChaosConfig {
    /// 1,000 commands over 40 keys, 8 at a time; 15 % of commands, 8 % of sends fail, 3 % of
    /// sends are delivered and reported failed; three sweepers, one killed.
    fn default() -> Self {
        Self {
            commands: 1000,
            keys: 40,
            concurrency: 8,
            shards: 8,
            command_fault_percent: 15,
            send_fail_percent: 8,
            send_then_fail_percent: 3,
            sweepers: 3,
            clear_immediately: true,
            seed: 8,
            restart_dynamodb: false,
            progress: false,
        }
    }
}

/// A fault a command meets on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommandFault {
    /// None: committed, then cleared at once.
    None,
    /// The body deposits, then returns `Err`.
    ErrorBeforeCommit,
    /// The body deposits, then panics.
    PanicBeforeCommit,
    /// The handler's future is dropped after the deposit (a cancelled request).
    CancelledBeforeCommit,
    /// DynamoDB refuses the commit: the entity write's condition fails.
    CommitRefused,
    /// Committed; the process dies before sending (`clear = "sweeper"`).
    CrashAfterCommit,
    /// Committed and sent; the process dies before marking.
    CrashAfterSend,
}

impl CommandFault {
    const FAULTS: [CommandFault; 6] = [
        Self::ErrorBeforeCommit,
        Self::PanicBeforeCommit,
        Self::CancelledBeforeCommit,
        Self::CommitRefused,
        Self::CrashAfterCommit,
        Self::CrashAfterSend,
    ];

    /// True for the faults that keep the command from committing.
    pub fn rolls_back(self) -> bool {
        matches!(
            self,
            Self::ErrorBeforeCommit
                | Self::PanicBeforeCommit
                | Self::CancelledBeforeCommit
                | Self::CommitRefused
        )
    }

    fn describe(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ErrorBeforeCommit => "body returned Err before the commit",
            Self::PanicBeforeCommit => "body panicked before the commit",
            Self::CancelledBeforeCommit => "handler cancelled before the commit",
            Self::CommitRefused => "commit cancelled by DynamoDB (condition failed)",
            Self::CrashAfterCommit => "process died after the commit, before the send",
            Self::CrashAfterSend => "process died after the send, before the mark",
        }
    }
}

/// Who handed a message to the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sender {
    /// The handler's immediate clear.
    Immediate,
    /// A handler process that sent its messages and died before marking them.
    DyingProcess,
    /// Sweeper number n (0 is the one killed).
    Sweeper(usize),
}

/// Why a message was delivered more than once: a fault between its send and its mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DuplicateCause {
    /// The transport took the message and reported a failure, so it was not marked.
    SendThenFailureReported,
    /// The handler's process sent it and died before marking it.
    ProcessDiedAfterSend,
    /// A sweeper was killed after sending it, before marking it.
    SweeperKilled,
    /// The request marking it dispatched failed (DynamoDB down or restarting).
    MarkFailed,
}

impl fmt::Display for DuplicateCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SendThenFailureReported => {
                "send-then-mark-failed (transport reported a failure after taking it)"
            }
            Self::ProcessDiedAfterSend => "process died between send and mark",
            Self::SweeperKilled => "sweeper killed between send and mark",
            Self::MarkFailed => "mark failed: DynamoDB down between send and mark",
        })
    }
}

/// One message handed to the transport.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The message.
    pub id: MessageId,
    /// Who sent it.
    pub sender: Sender,
    /// Set when this delivery is known not to be followed by a mark.
    pub unmarked: Option<DuplicateCause>,
}

/// Everything the transport received, in order, shared by every producer of a run.
pub struct Recorder {
    deliveries: Mutex<Vec<Delivery>>,
    rng: Mutex<fastrand::Rng>,
    send_fail_percent: u32,
    send_then_fail_percent: u32,
    injected_send_failures: AtomicUsize,
    /// Sends by the doomed sweeper after which its producer hangs (0: never).
    hang_after: AtomicUsize,
    hung: Notify,
    /// Messages whose mark request failed, with the number of deliveries at that moment.
    failed_marks: Mutex<Vec<(usize, MessageId)>>,
    /// Where the next DynamoDB outage strikes, when one is planned.
    kill_point: Mutex<Option<KillPoint>>,
    /// Set from the kill point until the kill: no command starts and nothing is sent.
    held: AtomicBool,
    released: Notify,
}

/// The delivery at which DynamoDB is killed: the sender that makes it hands over a channel and
/// waits until the kill is done, so that its mark meets a dead endpoint.
struct KillPoint {
    at: usize,
    reached: oneshot::Sender<oneshot::Sender<()>>,
}

impl Recorder {
    /// A recorder whose producers fail as the percentages say.
    pub fn new(seed: u64, send_fail_percent: u32, send_then_fail_percent: u32) -> Arc<Self> {
        Arc::new(Self {
            deliveries: Mutex::new(Vec::new()),
            rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5eed)),
            send_fail_percent,
            send_then_fail_percent,
            injected_send_failures: AtomicUsize::new(0),
            hang_after: AtomicUsize::new(0),
            hung: Notify::new(),
            failed_marks: Mutex::new(Vec::new()),
            kill_point: Mutex::new(None),
            held: AtomicBool::new(false),
            released: Notify::new(),
        })
    }

    /// A producer that sends as `sender`.
    pub fn producer(self: &Arc<Self>, sender: Sender) -> RecordingProducer {
        RecordingProducer {
            recorder: Arc::clone(self),
            sender,
        }
    }

    /// Every delivery so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().expect("not poisoned").clone()
    }

    fn count(&self) -> usize {
        self.deliveries.lock().expect("not poisoned").len()
    }

    /// Notes that the request marking `id` dispatched failed, after the deliveries so far.
    fn note_failed_mark(&self, id: MessageId) {
        let seen = self.count();
        self.failed_marks
            .lock()
            .expect("not poisoned")
            .push((seen, id));
    }

    fn failed_marks(&self) -> Vec<(usize, MessageId)> {
        self.failed_marks.lock().expect("not poisoned").clone()
    }

    /// Plans an outage at the `at`-th delivery; the receiver gets the channel to say "killed".
    fn arm_kill_point(&self, at: usize) -> oneshot::Receiver<oneshot::Sender<()>> {
        let (reached, receiver) = oneshot::channel();
        *self.kill_point.lock().expect("not poisoned") = Some(KillPoint { at, reached });
        receiver
    }

    /// Forgets a kill point its phase never reached, so the next phase does not trip it.
    fn disarm_kill_point(&self) {
        self.kill_point.lock().expect("not poisoned").take();
    }

    /// Waits for the kill when the delivery just recorded reached the kill point; until the
    /// kill, everything else waits too (see [`Recorder::wait_while_held`]).
    async fn stop_at_kill_point(&self) {
        let count = self.count();
        let reached = {
            let mut point = self.kill_point.lock().expect("not poisoned");
            if point.as_ref().is_some_and(|p| count >= p.at) {
                point.take().map(|p| p.reached)
            } else {
                None
            }
        };
        if let Some(reached) = reached {
            self.held.store(true, Ordering::SeqCst);
            let (killed, wait) = oneshot::channel();
            if reached.send(killed).is_ok() {
                let _ = wait.await;
            } else {
                self.release();
            }
        }
    }

    /// Waits while an outage is being prepared. DynamoDB Local answers a write before it has
    /// reached its file (a kill within milliseconds of the answer loses it, which DynamoDB never
    /// does), so before the kill the run stops starting commands and sending, and lets what is
    /// in flight settle. Not held: the sweepers' lease upkeep, and the marks and failure records
    /// of a round already sent; a write of those answered in the last milliseconds before the
    /// kill could still be lost by the emulator (not seen so far).
    async fn wait_while_held(&self) {
        loop {
            let released = self.released.notified();
            if !self.held.load(Ordering::SeqCst) {
                return;
            }
            released.await;
        }
    }

    /// Lets commands and sends go on after the kill.
    fn release(&self) {
        self.held.store(false, Ordering::SeqCst);
        self.released.notify_waiters();
    }

    fn count_by(&self, sender: Sender) -> usize {
        self.deliveries
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|d| d.sender == sender)
            .count()
    }

    fn record(&self, message: &Message, sender: Sender, unmarked: Option<DuplicateCause>) {
        self.deliveries
            .lock()
            .expect("not poisoned")
            .push(Delivery {
                id: message.id().clone(),
                sender,
                unmarked,
            });
    }
}

/// A producer that records each delivery in its [`Recorder`] and fails as told.
pub struct RecordingProducer {
    recorder: Arc<Recorder>,
    sender: Sender,
}

#[async_trait::async_trait]
impl Producer for RecordingProducer {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        let recorder = &self.recorder;
        if matches!(self.sender, Sender::Immediate | Sender::Sweeper(_)) {
            recorder.wait_while_held().await;
        }
        if self.sender == Sender::DyingProcess {
            recorder.record(
                message,
                self.sender,
                Some(DuplicateCause::ProcessDiedAfterSend),
            );
            return Ok(());
        }
        let roll = recorder.rng.lock().expect("not poisoned").u32(0..100);
        if roll < recorder.send_fail_percent {
            recorder
                .injected_send_failures
                .fetch_add(1, Ordering::Relaxed);
            return Err(ProducerError::new(
                message,
                "injected: the transport is unavailable",
            ));
        }
        if roll < recorder.send_fail_percent + recorder.send_then_fail_percent {
            recorder.record(
                message,
                self.sender,
                Some(DuplicateCause::SendThenFailureReported),
            );
            return Err(ProducerError::new(
                message,
                "injected: delivered, then the acknowledgement was lost",
            ));
        }
        recorder.record(message, self.sender, None);
        recorder.stop_at_kill_point().await;
        let hang_after = recorder.hang_after.load(Ordering::SeqCst);
        if self.sender == Sender::Sweeper(0)
            && hang_after > 0
            && recorder.count_by(self.sender) >= hang_after
        {
            // Sent, not marked: the sweeper stops here until it is killed.
            recorder.hung.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// The message each command deposits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "chaos.happened")]
pub struct Happened {
    /// The command's id, used as the message id so the harness knows it in advance.
    #[outbox(id)]
    pub id: String,
    /// The ordering key.
    #[outbox(partition_key)]
    pub key: String,
    /// The command's place among the commands of its key.
    pub seq: u64,
}

/// The entity each command writes together with its message.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entity {
    #[serde(rename = "Id")]
    id: String,
    key: String,
    seq: u64,
}

/// A command: which key, its place, and the fault it meets.
#[derive(Clone, Debug)]
pub struct Command {
    /// Unique id; also the message id.
    pub id: String,
    /// The partition key.
    pub key: String,
    /// Its place among the commands of its key, from 0.
    pub seq: u64,
    /// Its own fault.
    pub fault: CommandFault,
}

/// The error of the chaos handlers.
#[derive(Debug)]
pub enum ChaosError {
    /// An error the harness injected.
    Injected,
    /// The runtime's error.
    Outbox(outbox_runtime::Error),
}

impl From<outbox_runtime::Error> for ChaosError {
    fn from(err: outbox_runtime::Error) -> Self {
        Self::Outbox(err)
    }
}

/// The service under test: one handler that clears at once, one whose process dies before the
/// clear.
pub struct ChaosHandler {
    postbox: Postbox,
    entities: TableSchema,
}

impl ChaosHandler {
    /// Writes the entity, deposits the message, meets the command's fault; clears at once.
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    pub async fn handle(
        &self,
        tx: &mut Transaction,
        command: Command,
    ) -> Result<Vec<Message>, ChaosError> {
        body(tx, &self.entities, &command).await
    }

    /// The same, but nobody clears after the commit (the process died).
    #[transactional_handler(postbox = self.postbox, tx = tx, clear = "sweeper")]
    pub async fn handle_then_die(
        &self,
        tx: &mut Transaction,
        command: Command,
    ) -> Result<Vec<Message>, ChaosError> {
        body(tx, &self.entities, &command).await
    }
}

async fn body(
    tx: &mut Transaction,
    entities: &TableSchema,
    command: &Command,
) -> Result<Vec<Message>, ChaosError> {
    let entity = Entity {
        id: command.id.clone(),
        key: command.key.clone(),
        seq: command.seq,
    };
    if command.fault == CommandFault::CommitRefused {
        // A new id never exists: DynamoDB cancels the whole transaction.
        tx.put_if(
            entities,
            &entity,
            Expr::new("attribute_exists(#id)").name("#id", "Id"),
        )?;
    } else {
        tx.put(entities, &entity)?;
    }
    tx.deposit(&Happened {
        id: command.id.clone(),
        key: command.key.clone(),
        seq: command.seq,
    })?;
    match command.fault {
        CommandFault::ErrorBeforeCommit => return Err(ChaosError::Injected),
        CommandFault::PanicBeforeCommit => panic!("{INJECTED_PANIC}"),
        // The caller polls once and drops the future here.
        CommandFault::CancelledBeforeCommit => tokio::task::yield_now().await,
        _ => {}
    }
    Ok(tx.messages().to_vec())
}

/// How a command ended, as its caller saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Committed,
    /// Failed as injected.
    RolledBack,
    /// The commit got no answer (DynamoDB down): it may or may not have been applied, and the
    /// table decides.
    CommitUncertain,
    /// Failed otherwise; the table decides whether it committed.
    Uncertain(String),
}

/// The figures of a run and every promise found broken.
#[derive(Clone, Debug, Default)]
pub struct ChaosReport {
    /// Commands handled.
    pub commands: usize,
    /// Commands whose handler returned `Ok` (or whose uncertain commit is in the table).
    pub committed: usize,
    /// Commands per injected fault.
    pub faults: BTreeMap<CommandFault, usize>,
    /// Commands that failed with an error nobody injected, and how they resolved.
    pub uncertain: Vec<String>,
    /// Commits that got no answer (DynamoDB down): the caller saw an error and cannot know
    /// whether they were applied.
    pub commits_unanswered: usize,
    /// Of those, the ones the table holds: committed after all, so they must be delivered.
    pub commits_unanswered_applied: usize,
    /// Requests marking a sent message dispatched that failed.
    pub failed_marks: usize,
    /// Sweeper passes that stopped at an error (the next pass carries on).
    pub failed_sweeps: usize,
    /// The kills and restarts of DynamoDB Local.
    pub outages: Vec<Outage>,
    /// Sends the transport failed without delivering.
    pub injected_send_failures: usize,
    /// Distinct committed messages delivered.
    pub delivered: usize,
    /// Deliveries in all, duplicates included.
    pub deliveries: usize,
    /// Committed messages never delivered.
    pub lost: Vec<MessageId>,
    /// Delivered messages of commands that did not commit.
    pub phantom: Vec<MessageId>,
    /// Duplicates by the fault that explains them.
    pub duplicates: BTreeMap<DuplicateCause, usize>,
    /// Duplicates no fault explains.
    pub unexplained_duplicates: Vec<MessageId>,
    /// Messages first sent from memory by their handler (the immediate clear) before an earlier
    /// message of their key that was left to the sweeper (the exception to order per key).
    pub immediate_overtakes: usize,
    /// Messages first delivered by a sweeper before an earlier message of their key.
    pub sweeper_overtakes: Vec<MessageId>,
    /// Commands whose entity and message were not stored together (one without the other).
    pub torn_commits: Vec<String>,
    /// Committed messages still outstanding or dead-lettered at the end, each with its state.
    pub not_dispatched: Vec<String>,
    /// Messages the backlog held when the sweepers started.
    pub backlog: usize,
    /// Deliveries by the killed sweeper, and whether the kill happened.
    pub killed_sweeper_deliveries: usize,
    /// True when a sweeper was killed between a send and its mark.
    pub sweeper_killed: bool,
    /// Wall time of the command phase and of the drain.
    pub command_phase: Duration,
    /// Wall time the sweepers took to drain the backlog.
    pub drain_phase: Duration,
}

impl ChaosReport {
    /// Every broken promise, one line each; empty when the run kept them all.
    pub fn violations(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut list = |what: &str, ids: &[String]| {
            if !ids.is_empty() {
                found.push(format!(
                    "{what}: {} (first: {})",
                    ids.len(),
                    ids.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        };
        let ids = |ids: &[MessageId]| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
        list("lost (committed, never delivered)", &ids(&self.lost));
        list("phantom (delivered, never committed)", &ids(&self.phantom));
        list(
            "duplicates no fault explains",
            &ids(&self.unexplained_duplicates),
        );
        list(
            "sweeper delivered a later message of a key first",
            &ids(&self.sweeper_overtakes),
        );
        list("entity and message not stored together", &self.torn_commits);
        list("committed but not marked dispatched", &self.not_dispatched);
        found
    }

    /// Duplicates in all.
    pub fn duplicate_count(&self) -> usize {
        self.duplicates.values().sum::<usize>() + self.unexplained_duplicates.len()
    }
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "commands        {}", self.commands)?;
        writeln!(f, "committed       {}", self.committed)?;
        writeln!(
            f,
            "rolled back     {}",
            self.faults
                .iter()
                .filter(|(fault, _)| fault.rolls_back())
                .map(|(_, n)| n)
                .sum::<usize>()
        )?;
        for (fault, count) in &self.faults {
            if *fault != CommandFault::None {
                writeln!(f, "  {count:>6}  {}", fault.describe())?;
            }
        }
        writeln!(f, "uncertain       {}", self.uncertain.len())?;
        for line in &self.uncertain {
            writeln!(f, "          {line}")?;
        }
        if !self.outages.is_empty() || self.commits_unanswered > 0 {
            for outage in &self.outages {
                writeln!(
                    f,
                    "DynamoDB killed during the {}, down {:.1} s, restarted on its data",
                    outage.during,
                    outage.down.as_secs_f64()
                )?;
            }
            writeln!(
                f,
                "  commits unanswered {} ({} applied after all, delivered; the rest never \
                 delivered)",
                self.commits_unanswered, self.commits_unanswered_applied
            )?;
            writeln!(f, "  marks failed       {}", self.failed_marks)?;
            writeln!(f, "  sweeps failed      {}", self.failed_sweeps)?;
        }
        writeln!(f, "send failures   {}", self.injected_send_failures)?;
        writeln!(f, "backlog         {} (left to the sweepers)", self.backlog)?;
        writeln!(
            f,
            "sweeper killed  {} ({} deliveries before it died)",
            if self.sweeper_killed { "yes" } else { "no" },
            self.killed_sweeper_deliveries
        )?;
        writeln!(f, "delivered       {}", self.delivered)?;
        writeln!(f, "deliveries      {}", self.deliveries)?;
        writeln!(f, "lost            {}", self.lost.len())?;
        writeln!(f, "phantom         {}", self.phantom.len())?;
        writeln!(f, "duplicates      {}", self.duplicate_count())?;
        for (cause, count) in &self.duplicates {
            writeln!(f, "  {count:>6}  {cause}")?;
        }
        if !self.unexplained_duplicates.is_empty() {
            writeln!(f, "  {:>6}  UNEXPLAINED", self.unexplained_duplicates.len())?;
        }
        writeln!(
            f,
            "order per key   {} overtakes by the immediate clear (an earlier message of the key \
             was left to the sweeper), {} by a sweeper",
            self.immediate_overtakes,
            self.sweeper_overtakes.len()
        )?;
        writeln!(f, "torn commits    {}", self.torn_commits.len())?;
        writeln!(f, "not dispatched  {}", self.not_dispatched.len())?;
        write!(
            f,
            "time            {:.1} s commands, {:.1} s drain",
            self.command_phase.as_secs_f64(),
            self.drain_phase.as_secs_f64()
        )
    }
}

/// Keeps the injected panics off stderr; every other panic is reported as usual.
fn silence_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|text| text == INJECTED_PANIC);
            if !injected {
                previous(info);
            }
        }));
    });
}

/// The commands of a run, by key, in the order each key handles them.
pub fn plan(config: &ChaosConfig) -> Vec<Vec<Command>> {
    let mut rng = fastrand::Rng::with_seed(config.seed);
    let keys = config.keys.max(1);
    let mut queues: Vec<Vec<Command>> = vec![Vec::new(); keys];
    for _ in 0..config.commands {
        let key = rng.usize(0..keys);
        // Without an immediate clear no handler sends, so none dies after a send.
        let faults = if config.clear_immediately {
            &CommandFault::FAULTS[..]
        } else {
            &CommandFault::FAULTS[..5]
        };
        let fault = if rng.u32(0..100) < config.command_fault_percent {
            faults[rng.usize(0..faults.len())]
        } else {
            CommandFault::None
        };
        let queue = &mut queues[key];
        queue.push(Command {
            id: uuid::Uuid::now_v7().to_string(),
            key: format!("key-{key}"),
            seq: queue.len() as u64,
            fault,
        });
    }
    queues
}

/// Runs one chaos run in fresh tables and checks it: against the shared test endpoint, or, with
/// [`ChaosConfig::restart_dynamodb`], against a DynamoDB Local of its own that it kills and
/// restarts.
///
/// # Panics
/// When DynamoDB cannot be reached or started, or the tables cannot be created.
pub async fn run(config: &ChaosConfig) -> ChaosReport {
    if config.restart_dynamodb {
        let mut server = RestartableDynamoDb::start().await;
        if config.progress {
            eprintln!(
                "  DynamoDB Local of this run at {}, its data on disk",
                server.endpoint()
            );
        }
        let db = server.client();
        run_on(&db, config, Some(&mut server)).await
    } else {
        run_on(&crate::dynamodb().await, config, None).await
    }
}

async fn run_on(
    db: &DynamoDb,
    config: &ChaosConfig,
    mut server: Option<&mut RestartableDynamoDb>,
) -> ChaosReport {
    silence_injected_panics();
    let outbox_config = OutboxConfig::new(unique_name("chaos-outbox")).with_shards(config.shards);
    create_table(db, &outbox_config.table_schema()).await;
    let entities = TableSchema::new(
        unique_name("chaos-entities"),
        KeyAttribute::new("Id", KeyKind::String),
    );
    create_table(db, &entities).await;
    let retry = RetryPolicy {
        max_attempts: 1000,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    };
    let recorder = Recorder::new(
        config.seed,
        config.send_fail_percent,
        config.send_then_fail_percent,
    );
    let watched = db.clone().with_interceptor(MarkWatcher::new(&recorder));
    let outbox = Outbox::new(watched, outbox_config).expect("a valid configuration");
    let handler = Arc::new(ChaosHandler {
        postbox: Postbox::new(outbox.clone(), recorder.producer(Sender::Immediate))
            .with_retry_policy(retry),
        entities: entities.clone(),
    });
    let dying = recorder.producer(Sender::DyingProcess);

    // Commands: the keys in parallel, the commands of a key one after another.
    let queues = plan(config);
    let commands: Vec<Command> = queues.iter().flatten().cloned().collect();
    let outcomes: Arc<Mutex<HashMap<String, Outcome>>> = Arc::default();
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let total = commands.len();
    let commands_finished = AtomicBool::new(false);
    let commands_phase = async {
        use futures_util::StreamExt;
        futures_util::stream::iter(queues)
            .for_each_concurrent(config.concurrency.max(1), |queue| {
                let handler = Arc::clone(&handler);
                let outcomes = Arc::clone(&outcomes);
                let done = Arc::clone(&done);
                let dying = &dying;
                let recorder = &recorder;
                async move {
                    for command in queue {
                        recorder.wait_while_held().await;
                        let id = command.id.clone();
                        let outcome = handle_one(&handler, dying, command, config).await;
                        // A caller that got no answer waits a little before its next command,
                        // as a client backing off from an unavailable service would.
                        if outcome == Outcome::CommitUncertain {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        outcomes.lock().expect("not poisoned").insert(id, outcome);
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if config.progress && n.is_multiple_of(1000) {
                            eprintln!("  {n}/{total} commands");
                        }
                    }
                }
            })
            .await;
        commands_finished.store(true, Ordering::SeqCst);
    };
    // DynamoDB killed right after the send that makes a third of the commands' deliveries.
    let kill_point = server
        .is_some()
        .then(|| recorder.arm_kill_point((total / 3).max(1)));
    let strike = async {
        let server = server.as_deref_mut()?;
        let point = kill_point?;
        let release = || recorder.release();
        outage::strike_at(
            server,
            "commands",
            point,
            release,
            &commands_finished,
            config.progress,
        )
        .await
    };
    let ((), commands_outage) = tokio::join!(commands_phase, strike);
    recorder.disarm_kill_point();
    let command_phase = started.elapsed();

    // Drain: the first sweeper alone, killed between a send and its mark; then the others.
    let backlog = outbox
        .outstanding_count(usize::MAX)
        .await
        .expect("counting the backlog")
        .count;
    if config.progress {
        eprintln!(
            "  backlog of {backlog} messages; draining with {} sweepers",
            config.sweepers
        );
    }
    let drain_started = Instant::now();
    let sweeper_config = |n: usize| SweeperConfig {
        interval: Duration::from_millis(10),
        min_age: Duration::ZERO,
        retry,
        lease_duration: Duration::from_secs(1),
        owner: format!("chaos-sweeper-{n}"),
        ..SweeperConfig::default()
    };
    let sweeper = |n: usize| {
        let postbox = Postbox::new(outbox.clone(), recorder.producer(Sender::Sweeper(n)))
            .with_retry_policy(retry);
        Sweeper::new(&postbox, sweeper_config(n))
    };
    let hang_after = (backlog / 3).max(1);
    recorder.hang_after.store(hang_after, Ordering::SeqCst);
    let failed_sweeps = Arc::new(AtomicUsize::new(0));
    let drain = |n: usize| {
        tokio::spawn(drain(
            sweeper(n),
            outbox.clone(),
            Arc::clone(&failed_sweeps),
            config.progress,
        ))
    };
    let doomed = drain(0);
    let sweeper_killed = tokio::select! {
        () = recorder.hung.notified() => true,
        _ = &mut Box::pin(wait_finished(&doomed)) => false,
    };
    doomed.abort();
    let _ = doomed.await;
    let kill_mark = recorder.count();
    let killed_sweeper_deliveries = recorder.count_by(Sender::Sweeper(0));
    let survivors: Vec<_> = (1..config.sweepers.max(2)).map(drain).collect();
    let drain_finished = AtomicBool::new(false);
    let survivors_finish = async {
        for survivor in survivors {
            survivor.await.expect("a sweeper task");
        }
        drain_finished.store(true, Ordering::SeqCst);
    };
    // DynamoDB killed again once the surviving sweepers have sent a quarter of what is left.
    let strike_at = kill_mark + (backlog.saturating_sub(killed_sweeper_deliveries) / 4).max(1);
    let kill_point = server.is_some().then(|| recorder.arm_kill_point(strike_at));
    let strike = async {
        let server = server.as_deref_mut()?;
        let point = kill_point?;
        let release = || recorder.release();
        outage::strike_at(
            server,
            "drain",
            point,
            release,
            &drain_finished,
            config.progress,
        )
        .await
    };
    let ((), drain_outage) = tokio::join!(survivors_finish, strike);
    recorder.disarm_kill_point();
    let drain_phase = drain_started.elapsed();

    let outcomes = std::mem::take(&mut *outcomes.lock().expect("not poisoned"));
    let log = DeliveryLog {
        deliveries: &recorder.deliveries(),
        kill_mark: sweeper_killed.then_some(kill_mark),
        failed_marks: &recorder.failed_marks(),
    };
    let mut report = check(db, &outbox, &entities, &commands, &outcomes, &log).await;
    report.outages = [commands_outage, drain_outage]
        .into_iter()
        .flatten()
        .collect();
    report.failed_sweeps = failed_sweeps.load(Ordering::Relaxed);
    report.injected_send_failures = recorder.injected_send_failures.load(Ordering::Relaxed);
    report.backlog = backlog;
    report.sweeper_killed = sweeper_killed;
    report.killed_sweeper_deliveries = killed_sweeper_deliveries;
    report.command_phase = command_phase;
    report.drain_phase = drain_phase;
    report
}

async fn wait_finished(task: &tokio::task::JoinHandle<()>) {
    while !task.is_finished() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs one command as its fault says.
async fn handle_one(
    handler: &Arc<ChaosHandler>,
    dying: &RecordingProducer,
    command: Command,
    config: &ChaosConfig,
) -> Outcome {
    let clear_immediately = config.clear_immediately;
    let fault = command.fault;
    if fault == CommandFault::CancelledBeforeCommit {
        // One poll runs the body up to its first await point, then the request is dropped.
        let polled = if clear_immediately {
            handler.handle(command).now_or_never()
        } else {
            handler.handle_then_die(command).now_or_never()
        };
        return match polled {
            None => Outcome::RolledBack,
            Some(result) => Outcome::Uncertain(format!("cancellation came too late: {result:?}")),
        };
    }
    let task = {
        let handler = Arc::clone(handler);
        tokio::spawn(async move {
            match fault {
                CommandFault::CrashAfterCommit | CommandFault::CrashAfterSend => {
                    handler.handle_then_die(command).await
                }
                _ if !clear_immediately => handler.handle_then_die(command).await,
                _ => handler.handle(command).await,
            }
        })
    };
    match task.await {
        Err(join) if join.is_panic() && fault == CommandFault::PanicBeforeCommit => {
            Outcome::RolledBack
        }
        Err(join) => Outcome::Uncertain(format!("the handler task failed: {join}")),
        Ok(Err(ChaosError::Injected)) if fault == CommandFault::ErrorBeforeCommit => {
            Outcome::RolledBack
        }
        Ok(Err(ChaosError::Outbox(outbox_runtime::Error::TransactionCancelled { reasons })))
            if fault == CommandFault::CommitRefused
                && reasons.iter().any(|r| r.code == "ConditionalCheckFailed") =>
        {
            Outcome::RolledBack
        }
        Ok(Err(ChaosError::Outbox(outbox_runtime::Error::CommitUncertain { .. }))) => {
            Outcome::CommitUncertain
        }
        // The SDK retried a commit that DynamoDB Local applied just before it was killed; the
        // restarted server has forgotten the request token, so the retry finds its own deposit.
        // On DynamoDB the token is kept for ten minutes and the retry succeeds.
        Ok(Err(ChaosError::Outbox(outbox_runtime::Error::DuplicateMessage { .. })))
            if config.restart_dynamodb =>
        {
            Outcome::CommitUncertain
        }
        Ok(Err(err)) => Outcome::Uncertain(format!("{err:?}")),
        Ok(Ok(messages)) => {
            if fault == CommandFault::CrashAfterSend {
                // Sent, then the process died: nobody marks them.
                let _ = dying.send_batch(&messages).await;
            }
            Outcome::Committed
        }
    }
}

/// Sweeps until nothing is outstanding (or the task is killed), counting the passes that fail.
async fn drain(mut sweeper: Sweeper, outbox: Outbox, failed: Arc<AtomicUsize>, progress: bool) {
    let mut passes = 0_u64;
    loop {
        passes += 1;
        if let Err(err) = sweeper.sweep_once().await {
            failed.fetch_add(1, Ordering::Relaxed);
            if progress {
                eprintln!("  sweep failed (next pass retries): {err}");
            }
        }
        match outbox.outstanding_count(1).await {
            Ok(count) if count.count == 0 => break,
            Ok(_) => {}
            Err(err) => eprintln!("  counting failed: {err}"),
        }
        // A bound so a broken runtime cannot hang the run; what is left is reported as lost.
        if passes > 20_000 {
            eprintln!("  giving up after {passes} passes");
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = sweeper.release().await;
}

/// What the transport saw, and what explains a second delivery.
struct DeliveryLog<'a> {
    /// Every delivery, in order.
    deliveries: &'a [Delivery],
    /// The number of deliveries when the doomed sweeper was killed, if it was.
    kill_mark: Option<usize>,
    /// Failed mark requests, each with the number of deliveries at that moment.
    failed_marks: &'a [(usize, MessageId)],
}

/// Checks a finished run against the table and the record of deliveries.
async fn check(
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
    let mut last_delivery: HashMap<&str, (usize, &Delivery)> = HashMap::new();
    for (index, delivery) in deliveries.iter().enumerate() {
        let id = delivery.id.as_str();
        let Some(command) = by_id.get(id).filter(|_| committed.contains(id)) else {
            report.phantom.push(delivery.id.clone());
            continue;
        };
        match last_delivery.insert(id, (index, delivery)) {
            Some((previous_index, previous)) => {
                let killed = previous.sender == Sender::Sweeper(0)
                    && kill_mark.is_some_and(|mark| index >= mark);
                // A mark that failed after the earlier copy went out, before this one did.
                let mark_failed = marks_failed.get(id).is_some_and(|seen| {
                    seen.iter()
                        .any(|&seen| seen > previous_index && seen <= index)
                });
                let cause = previous
                    .unmarked
                    .or(killed.then_some(DuplicateCause::SweeperKilled))
                    .or(mark_failed.then_some(DuplicateCause::MarkFailed));
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
