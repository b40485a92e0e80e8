//! What the fault-injection runs check, and how to run them. They live in the repository, not
//! in this crate: the test suite runs each at a small size, and `cargo xtask chaos` at any size
//! (`cargo xtask chaos --help` lists every mode and flag). A run exits non-zero when a promise
//! below is broken; the figures of a run depend on the machine and are not kept here.
//!
//! # The promises
//!
//! Every run reads the truth back from the real table (and, on the consumer side, from the
//! queue and the consumers' records) and checks that:
//!
//! - every committed message was delivered at least once: none lost;
//! - nothing of a unit of work that did not commit was ever delivered: no phantom;
//! - every duplicate is explained by a fault between a send and its mark;
//! - the sweeper kept the order per partition key.
//!
//! A commit that got no answer (DynamoDB was down) counts as committed only if the table holds
//! it.
//!
//! # Handlers, sweepers and DynamoDB under faults
//!
//! ```sh
//! cargo xtask chaos --commands 10000
//! ```
//!
//! Handlers (the real macros and runtime) run against DynamoDB Local with faults injected at
//! every step: before the commit (a body that errs, panics or is cancelled; a commit DynamoDB
//! refuses), after the commit and before the send (a process that dies), after the send and
//! before the mark, in the producer (sends refused, and sends that go out but report a failure),
//! in a sweeper (killed mid-send without giving its leases back), and in DynamoDB itself. For
//! that the run starts a DynamoDB Local of its own with its data on disk, kills it with SIGKILL
//! twice (once a third of the commands' deliveries are made, and again once the sweepers have
//! sent a quarter of the backlog) and starts it again on the same data; `--no-restart` uses the
//! shared server instead. The sender at a kill point waits for the kill, so its mark meets a
//! dead endpoint. DynamoDB Local answers a write before it reaches its file and loses it when
//! killed within milliseconds of the answer (DynamoDB never does), so the run holds new commands
//! and sends for half a second before each kill. `--sweeper-only` turns the send after the
//! commit off, so the sweepers send everything and their order per key is checked. The suite
//! runs this mode at 1,000 commands (with DynamoDB killed and without) and, with the sweepers as
//! the only senders, at 500.
//!
//! # Sweeper processes
//!
//! ```sh
//! cargo xtask chaos --sweeper-processes 3 --kill-one --commands 10000
//! ```
//!
//! Sweepers run as separate processes over a committed backlog; one is killed with SIGKILL
//! midway, and the same promises are checked from each process's record of its sends. A
//! duplicate counts as explained only when its first copy was sent by the killed sweeper within
//! one lease duration before it died: a sweeper starts the mark of what it sent once 25 ids are
//! gathered, at the end of a shard's pass and before every lease renewal, so anything older was
//! marked. The suite runs this mode at 4,000 commands with leases of 4 s.
//!
//! # The stream relay
//!
//! ```sh
//! cargo xtask chaos --stream-relay --commands 10000
//! ```
//!
//! The handlers send nothing; two relays read the outbox table's stream
//! ([`StreamMode::WithSweeper`](crate::table::StreamMode::WithSweeper)), the first killed between
//! a send and its checkpoint, the second resuming at that checkpoint; a sweeper sends the
//! messages whose send failed.
//!
//! # The consumer side
//!
//! ```sh
//! cargo xtask chaos --consumer-side --messages 10000
//! ```
//!
//! Outbox messages go to an SQS queue (moto) with a redrive policy and a short visibility
//! timeout, in rounds, a share of them twice with the same outbox id. Consumer processes
//! ([`SqsConsumer::run`](crate::consumer::SqsConsumer::run) with a consumer handler that adds one
//! to an item per message) drain it while the run kills some with SIGKILL, and each exits on its
//! own right after a commit and before the delete, so SQS delivers that message again. The check
//! reads DynamoDB back: every message's effect applied exactly once, every message in the inbox,
//! nothing left in the queue, every delete preceded by a recorded commit, and at least as many
//! duplicates absorbed as there were deliveries that had to be duplicates. The suite runs this
//! mode at 300 messages.
