//! The transport of a run: every producer of a run hands what it sends to one [`Recorder`],
//! which keeps the deliveries in order and decides, as the run's percentages say, which sends
//! fail ([`RecordingProducer`]). The recorder also holds the run still around a planned kill of
//! DynamoDB, and hangs the doomed sweeper after a send.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use outbox_runtime::transport::{Producer, ProducerError};
use outbox_runtime::{Message, MessageId};
use tokio::sync::{Notify, oneshot};

/// Who handed a message to the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sender {
    /// The handler's immediate clear.
    Immediate,
    /// A handler process that sent its messages and died before marking them.
    DyingProcess,
    /// Sweeper number n (0 is the one killed).
    Sweeper(usize),
    /// Stream relay number n (0 is the one killed).
    Relay(usize),
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
    /// A stream relay was killed after sending it, before its checkpoint: the relay that took
    /// the shard over read it again.
    RelayKilled,
    /// DynamoDB acknowledged its mark, then was killed before the write was on disk, and came
    /// back without it (DynamoDB Local answers a write before it keeps it).
    AcknowledgedMarkLost,
    /// A sweeper sent it and deferred its mark (marks go 25 to a request across rounds); its
    /// lease lapsed meanwhile (DynamoDB slow or restarting), another sweeper took the shard and
    /// sent it again, and only then was the first sweeper's mark acknowledged.
    MarkAcknowledgedLate,
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
            Self::RelayKilled => "stream relay killed between send and checkpoint",
            Self::AcknowledgedMarkLost => {
                "mark acknowledged, then lost: DynamoDB killed before it kept the write"
            }
            Self::MarkAcknowledgedLate => {
                "mark late: acknowledged after the shard's next sweeper sent it again"
            }
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
    pub(super) injected_send_failures: AtomicUsize,
    /// Sends by the doomed sweeper after which its producer hangs (0: never).
    pub(super) hang_after: AtomicUsize,
    pub(super) hung: Notify,
    /// Messages whose mark request failed, with the number of deliveries at that moment.
    failed_marks: Mutex<Vec<(usize, MessageId)>>,
    acknowledged_marks: Mutex<Vec<(usize, MessageId)>>,
    kills: Mutex<Vec<usize>>,
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
            acknowledged_marks: Mutex::new(Vec::new()),
            kills: Mutex::new(Vec::new()),
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

    pub(super) fn count(&self) -> usize {
        self.deliveries.lock().expect("not poisoned").len()
    }

    /// Notes that the request marking `id` dispatched failed, after the deliveries so far.
    pub(super) fn note_failed_mark(&self, id: MessageId) {
        let seen = self.count();
        self.failed_marks
            .lock()
            .expect("not poisoned")
            .push((seen, id));
    }

    pub(super) fn failed_marks(&self) -> Vec<(usize, MessageId)> {
        self.failed_marks.lock().expect("not poisoned").clone()
    }

    /// Notes that DynamoDB answered the statement marking `id` dispatched with success, after
    /// the deliveries so far.
    pub(super) fn note_acknowledged_mark(&self, id: MessageId) {
        let seen = self.count();
        self.acknowledged_marks
            .lock()
            .expect("not poisoned")
            .push((seen, id));
    }

    pub(super) fn acknowledged_marks(&self) -> Vec<(usize, MessageId)> {
        self.acknowledged_marks
            .lock()
            .expect("not poisoned")
            .clone()
    }

    /// Notes that DynamoDB was killed, after the deliveries so far.
    pub(super) fn note_kill(&self) {
        let seen = self.count();
        self.kills.lock().expect("not poisoned").push(seen);
    }

    pub(super) fn kills(&self) -> Vec<usize> {
        self.kills.lock().expect("not poisoned").clone()
    }

    /// Plans an outage at the `at`-th delivery; the receiver gets the channel to say "killed".
    pub(super) fn arm_kill_point(&self, at: usize) -> oneshot::Receiver<oneshot::Sender<()>> {
        let (reached, receiver) = oneshot::channel();
        *self.kill_point.lock().expect("not poisoned") = Some(KillPoint { at, reached });
        receiver
    }

    /// Forgets a kill point its phase never reached, so the next phase does not trip it.
    pub(super) fn disarm_kill_point(&self) {
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
    pub(super) async fn wait_while_held(&self) {
        loop {
            let released = self.released.notified();
            if !self.held.load(Ordering::SeqCst) {
                return;
            }
            released.await;
        }
    }

    /// Lets commands and sends go on after the kill.
    pub(super) fn release(&self) {
        self.held.store(false, Ordering::SeqCst);
        self.released.notify_waiters();
    }

    pub(super) fn count_by(&self, sender: Sender) -> usize {
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

impl Producer for RecordingProducer {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        let recorder = &self.recorder;
        if matches!(
            self.sender,
            Sender::Immediate | Sender::Sweeper(_) | Sender::Relay(_)
        ) {
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
        if matches!(self.sender, Sender::Sweeper(0) | Sender::Relay(0))
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
