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
//!
//! The harness, one file per concern: what a run does and the commands it plans (`config`), the
//! service under test (`service`), the transport that records and fails sends (`recorder`), the
//! run itself (`run`), the checks that give the verdict (`check`) and the report (`report`); the
//! interceptor that notes failed marks (`marks`), DynamoDB's kill and restart (`outage`), and
//! the run of sweepers as separate processes (`processes`), the stream-relay mode (`stream`),
//! and the consumer side under faults, consumer processes killed over a queue with duplicate
//! deliveries (`consumer`).

mod check;
mod config;
pub mod consumer;
mod marks;
pub mod outage;
pub mod processes;
mod recorder;
mod report;
mod run;
mod service;
mod stream;

pub use config::{ChaosConfig, Command, CommandFault, plan};
pub use consumer::{ConsumerChaosConfig, ConsumerChaosReport, run_consumer_side};
pub use recorder::{Delivery, DuplicateCause, Recorder, RecordingProducer, Sender};
pub use report::ChaosReport;
pub use run::run;
pub use service::{ChaosError, ChaosHandler, Happened, INJECTED_PANIC};
pub use stream::run_stream;
