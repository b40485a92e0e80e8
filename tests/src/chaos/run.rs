//! A run: fresh tables; the commands handled through the service, the keys in parallel and the
//! commands of a key one after another, each meeting its fault; the backlog drained by
//! sweepers, the first killed between a send and its mark; with
//! [`ChaosConfig::restart_dynamodb`], DynamoDB killed and restarted once in each phase; then the
//! check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::transport::Producer;
use outbox_runtime::{
    DynamoDb, Outbox, OutboxConfig, Postbox, RetryPolicy, Sweeper, SweeperConfig,
};

use super::check::{DeliveryLog, Outcome, check};
use super::config::{ChaosConfig, Command, CommandFault, plan};
use super::marks::MarkWatcher;
use super::outage;
use super::recorder::{Recorder, RecordingProducer, Sender};
use super::report::ChaosReport;
use super::service::{ChaosError, ChaosHandler, INJECTED_PANIC};
use crate::restartable::RestartableDynamoDb;
use crate::{create_table, unique_name};

/// Keeps the injected panics off stderr; every other panic is reported as usual.
pub(super) fn silence_injected_panics() {
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
        let release = || {
            recorder.note_kill();
            recorder.release();
        };
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
    let sweeper_config = |n: usize| {
        SweeperConfig::default()
            .with_interval(Duration::from_millis(10))
            .with_min_age(Duration::ZERO)
            .with_lease_duration(Duration::from_secs(1))
            .with_owner(format!("chaos-sweeper-{n}"))
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
        let release = || {
            recorder.note_kill();
            recorder.release();
        };
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
        acknowledged_marks: &recorder.acknowledged_marks(),
        kills: &recorder.kills(),
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
pub(super) async fn handle_one(
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
                && reasons.iter().any(|r| {
                    r.code == outbox_runtime::error::CancellationCode::ConditionalCheckFailed
                }) =>
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

/// How long a drain may take: far beyond what the largest run needs (10,000 commands drain in
/// well under a minute).
const DRAIN_BOUND: Duration = Duration::from_secs(300);

/// Sweeps until nothing is outstanding (or the task is killed), counting the passes that fail.
pub(super) async fn drain(
    mut sweeper: Sweeper,
    outbox: Outbox,
    failed: Arc<AtomicUsize>,
    progress: bool,
) {
    let mut passes = 0_u64;
    let started = Instant::now();
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
        if started.elapsed() > DRAIN_BOUND {
            eprintln!(
                "  giving up the drain after {} s ({passes} passes); what is still outstanding \
                 is reported as lost",
                DRAIN_BOUND.as_secs()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = sweeper.release().await;
}
