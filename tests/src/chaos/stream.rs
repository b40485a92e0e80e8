//! The stream-relay mode of the chaos run (`chaos --stream-relay`): the handlers commit and
//! send nothing (the outbox's stream mode turns the immediate clear off), two stream relays read
//! the table's stream while the commands run, and the first is killed between a send and its
//! checkpoint (aborted without giving its lease back); the second takes the shard over once the
//! lease lapses and resumes at the killed relay's checkpoint. Sends fail as in the other runs and
//! are recorded for the sweeper, which drains them once the relay has read the stream to its
//! end. Then the same checks: nothing lost, nothing phantom, every duplicate explained (the
//! killed relay's sends after its last checkpoint; sends the transport took and reported failed).
//!
//! The outbox is in `StreamMode::WithSweeper`, so every message is marked by whoever sent it and
//! the "committed but not marked" check holds as in the other runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outbox_runtime::StreamMode;
use outbox_runtime::stream::{StreamRelay, StreamRelayConfig};
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::{Outbox, OutboxConfig, Postbox, RetryPolicy, Sweeper, SweeperConfig};

use super::check::{DeliveryLog, Outcome, check};
use super::config::{ChaosConfig, Command, plan};
use super::marks::MarkWatcher;
use super::recorder::{Recorder, Sender};
use super::report::ChaosReport;
use super::run::{drain, handle_one, silence_injected_panics};
use super::service::ChaosHandler;
use crate::{create_table, dynamodb, dynamodb_streams, unique_name};

/// Relay 0's end: where the deliveries stood when it was killed, what it had sent, and whether
/// its lease had lapsed before its kill point.
#[derive(Clone, Copy, Debug)]
struct Kill {
    mark: usize,
    sends: usize,
    lease_lapsed_first: bool,
}

/// How long the relays get to read the stream to its end: far beyond a normal run (about 10 s
/// for 600 commands), so that reaching it means something is stuck, and the run fails saying
/// what instead of hanging.
fn stream_bound(commands: usize) -> Duration {
    Duration::from_secs(120)
        + Duration::from_millis(50) * u32::try_from(commands).unwrap_or(u32::MAX)
}

fn relay_config(n: usize) -> StreamRelayConfig {
    StreamRelayConfig::default()
        .with_owner(format!("chaos-relay-{n}"))
        .with_lease_duration(Duration::from_secs(2))
        .with_poll_interval(Duration::from_millis(10))
        .with_batch_size(100)
}

/// Runs the stream-relay mode in fresh tables on the shared test endpoint and checks it.
///
/// # Panics
/// When DynamoDB cannot be reached or the tables cannot be created.
pub async fn run_stream(config: &ChaosConfig) -> ChaosReport {
    silence_injected_panics();
    let db = dynamodb().await;
    let streams = dynamodb_streams().await;
    let outbox_config = OutboxConfig::new(unique_name("chaos-stream-outbox"))
        .with_shards(config.shards)
        .with_stream(StreamMode::WithSweeper);
    create_table(&db, &outbox_config.table_schema()).await;
    create_table(&db, &relay_config(0).state_table_schema(&outbox_config)).await;
    let entities = TableSchema::new(
        unique_name("chaos-entities"),
        KeyAttribute::new("Id", KeyKind::String),
    );
    create_table(&db, &entities).await;
    let retry = RetryPolicy::new()
        .with_max_attempts(1000)
        .with_base_delay(Duration::from_millis(5))
        .with_max_delay(Duration::from_millis(50));
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
    assert!(!handler.postbox.clears_immediately(), "the relay sends");
    let dying = recorder.producer(Sender::DyingProcess);
    let relay = |n: usize| {
        let postbox = Postbox::new(outbox.clone(), recorder.producer(Sender::Relay(n)))
            .with_retry_policy(retry);
        StreamRelay::new(&postbox, streams.clone(), relay_config(n)).expect("a valid relay")
    };

    // The plan without the immediate clear: no handler sends, so none dies after a send.
    let plan_config = ChaosConfig {
        clear_immediately: false,
        ..config.clone()
    };
    let queues = plan(&plan_config);
    let commands: Vec<Command> = queues.iter().flatten().cloned().collect();
    let total = commands.len();
    let outcomes: Arc<Mutex<HashMap<String, Outcome>>> = Arc::default();
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();

    // Relay 0 reads from the start and hangs after a third of the commands' sends.
    recorder
        .hang_after
        .store((total / 3).max(1), Ordering::SeqCst);
    let doomed = tokio::spawn(relay(0).run(std::future::pending()));
    let commands_finished = Arc::new(AtomicBool::new(false));
    let commands_phase = {
        let outcomes = Arc::clone(&outcomes);
        let done = Arc::clone(&done);
        let commands_finished = Arc::clone(&commands_finished);
        let handler = Arc::clone(&handler);
        async move {
            use futures_util::StreamExt;
            futures_util::stream::iter(queues)
                .for_each_concurrent(plan_config.concurrency.max(1), |queue| {
                    let handler = Arc::clone(&handler);
                    let outcomes = Arc::clone(&outcomes);
                    let done = Arc::clone(&done);
                    let dying = &dying;
                    let plan_config = &plan_config;
                    async move {
                        for command in queue {
                            let id = command.id.clone();
                            let outcome = handle_one(&handler, dying, command, plan_config).await;
                            outcomes.lock().expect("not poisoned").insert(id, outcome);
                            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                            if plan_config.progress && n.is_multiple_of(1000) {
                                eprintln!("  {n}/{total} commands");
                            }
                        }
                    }
                })
                .await;
            commands_finished.store(true, Ordering::SeqCst);
        }
    };

    // Relay 1 runs beside it, holding nothing until relay 0's lease lapses.
    let survivor = async {
        // Relay 0 takes the shard first: relay 1 starts once relay 0 has sent.
        while recorder.count_by(Sender::Relay(0)) == 0 && !commands_finished.load(Ordering::SeqCst)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut relay = relay(1);
        let mut killed = None;
        let mut quiet_passes = 0;
        let mut failed_passes = 0_usize;
        let mut sent_after_lease_lost = 0;
        let deadline = Instant::now() + stream_bound(total);
        loop {
            let relay_0_sends = recorder.count_by(Sender::Relay(0));
            if killed.is_none() && relay_0_sends >= (total / 3).max(1) {
                // Hung after its send: kill it now, without releasing its lease.
                doomed.abort();
                killed = Some(Kill {
                    mark: recorder.count(),
                    sends: relay_0_sends,
                    lease_lapsed_first: false,
                });
                if config.progress {
                    eprintln!(
                        "  relay 0 killed after {relay_0_sends} sends; relay 1 takes its shard \
                         when the lease lapses"
                    );
                }
            }
            let before_pass = recorder.count();
            match relay.relay_once().await {
                Ok(report) => {
                    sent_after_lease_lost += report.sent_after_lease_lost.len();
                    if killed.is_none() && !report.shards.is_empty() {
                        // Relay 0 stalled longer than its lease (DynamoDB or this machine
                        // paused) and relay 1 took the shard before relay 0's kill point:
                        // relay 0 can never send again, so it is killed here. What relay 1
                        // sent again in this pass, it sent after the kill mark.
                        doomed.abort();
                        killed = Some(Kill {
                            mark: before_pass,
                            sends: recorder.count_by(Sender::Relay(0)),
                            lease_lapsed_first: true,
                        });
                        if config.progress {
                            eprintln!(
                                "  relay 0's lease lapsed before its kill point; killed, relay \
                                 1 resumed at its checkpoint"
                            );
                        }
                    }
                    let caught_up = report.records == 0
                        && report.iterator_age == Some(Duration::ZERO)
                        && !report.shards.is_empty();
                    quiet_passes = if caught_up { quiet_passes + 1 } else { 0 };
                }
                Err(err) => {
                    failed_passes += 1;
                    if config.progress {
                        eprintln!("  relay pass failed (the next retries): {err}");
                    }
                }
            }
            if killed.is_some() && commands_finished.load(Ordering::SeqCst) && quiet_passes >= 3 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the stream relay did not read the stream to its end within {} s: relay 0 sent \
                 {} ({}), relay 1 holds a shard: {}, the commands {}, {} of {total} committed \
                 or rolled back, {failed_passes} relay passes failed; is DynamoDB Local \
                 overloaded (`cargo xtask dynamodb status`)?",
                stream_bound(total).as_secs(),
                recorder.count_by(Sender::Relay(0)),
                if killed.is_some() {
                    "killed"
                } else {
                    "not killed yet"
                },
                quiet_passes > 0,
                if commands_finished.load(Ordering::SeqCst) {
                    "finished"
                } else {
                    "still running"
                },
                done.load(Ordering::Relaxed),
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = relay.release().await;
        (killed, failed_passes, sent_after_lease_lost)
    };
    let ((), (killed, failed_passes, sent_after_lease_lost)) =
        tokio::join!(commands_phase, survivor);
    let command_phase = started.elapsed();
    if !doomed.is_finished() {
        doomed.abort();
    }

    // What the relays left (failed sends) goes to a sweeper.
    let backlog = outbox
        .outstanding_count(usize::MAX)
        .await
        .expect("counting the backlog")
        .count;
    if config.progress {
        eprintln!(
            "  stream read to its end in {:.1} s; {backlog} messages left to the sweeper \
             (failed sends){}",
            command_phase.as_secs_f64(),
            if sent_after_lease_lost > 0 {
                format!("; {sent_after_lease_lost} sends after a lease was lost")
            } else {
                String::new()
            }
        );
    }
    let drain_started = Instant::now();
    let failed_sweeps = Arc::new(AtomicUsize::new(0));
    let sweeper = Sweeper::new(
        &Postbox::new(outbox.clone(), recorder.producer(Sender::Sweeper(1)))
            .with_retry_policy(retry),
        SweeperConfig::default()
            .with_interval(Duration::from_millis(10))
            .with_min_age(Duration::ZERO)
            .with_lease_duration(Duration::from_secs(1))
            .with_owner("chaos-stream-sweeper"),
    );
    drain(
        sweeper,
        outbox.clone(),
        Arc::clone(&failed_sweeps),
        config.progress,
    )
    .await;
    let drain_phase = drain_started.elapsed();

    let outcomes = std::mem::take(&mut *outcomes.lock().expect("not poisoned"));
    let log = DeliveryLog {
        deliveries: &recorder.deliveries(),
        kill_mark: killed.map(|kill| kill.mark),
        failed_marks: &recorder.failed_marks(),
        acknowledged_marks: &[],
        kills: &[],
    };
    let mut report = check(&db, &outbox, &entities, &commands, &outcomes, &log).await;
    report.failed_sweeps = failed_sweeps.load(Ordering::Relaxed) + failed_passes;
    report.injected_send_failures = recorder.injected_send_failures.load(Ordering::Relaxed);
    report.backlog = backlog;
    report.relay_killed = killed.map(|kill| kill.sends);
    report.relay_lease_lapsed_before_kill = killed.is_some_and(|kill| kill.lease_lapsed_first);
    report.command_phase = command_phase;
    report.drain_phase = drain_phase;
    report
}
