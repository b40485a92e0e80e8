//! Several sweepers as separate OS processes over one backlog, one of them killed with SIGKILL
//! mid-run: `chaos --sweeper-processes 3 --kill-one --commands 10000`.
//!
//! The parent commits the commands with `clear = "sweeper"` (nothing is sent), then starts N
//! children of the same binary in sweeper mode ([`sweeper_child`]) over the same outbox table,
//! each under its own owner. Processes share no memory, so each child appends a line per send
//! (`<unix nanos>\t<message id>`) to a file of its own under `target/chaos/`, written through to
//! the kernel on every send: that file survives a SIGKILL and is the delivery record. Once the
//! first child has sent a share of the backlog it is killed (SIGKILL: no release, its leases
//! lapse); the parent waits until nothing is outstanding, stops the others with SIGTERM (their
//! `Sweeper::run` gives the leases back), reads every file and checks the run like the
//! in-process harness does.
//!
//! A duplicate is explained only when its first copy was sent by the killed process within one
//! lease duration before it died: sent, not yet marked, and sent again by whoever took the shard
//! over. A sweeper starts the mark of what it sent once 25 ids are gathered, at the end of a
//! shard's pass, and before every lease renewal (each quarter of the lease), and a mark request
//! takes milliseconds: a send older than a lease was marked, or its mark failed and the pass
//! said so.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::{DynamoDb, Outbox, OutboxConfig, Postbox};

use super::check::{DeliveryLog, Outcome, check};
use super::{ChaosConfig, ChaosHandler, Command, Delivery, Recorder, Sender, plan};
use crate::{create_table, unique_name};
use child::retry;
use leases::{lease_owner, leases_of};
use records::{count_lines, read_records, unix_nanos};

mod child;
mod leases;
pub(super) mod records;
mod report;

pub use child::{ChildArgs, sweeper_child};
pub use report::ProcessesReport;

/// A run of sweeper processes.
#[derive(Clone, Debug)]
pub struct ProcessesConfig {
    /// Commands committed into the backlog (none of them sent).
    pub commands: usize,
    /// Partition keys the commands are spread over.
    pub keys: usize,
    /// Commands committed at the same time while building the backlog.
    pub concurrency: usize,
    /// Shards of the outstanding index.
    pub shards: u16,
    /// Sweeper processes.
    pub processes: usize,
    /// Kill the first process with SIGKILL once it has sent a share of the backlog.
    pub kill_one: bool,
    /// The children's lease duration: a killed child's shards are taken over after it.
    pub lease_duration: Duration,
    /// Seed of the command plan.
    pub seed: u64,
    /// How long the drain may take before the run gives up (what is left counts as lost).
    pub timeout: Duration,
}

impl Default for ProcessesConfig {
    fn default() -> Self {
        Self {
            commands: 10_000,
            keys: 200,
            concurrency: 32,
            shards: 16,
            processes: 3,
            kill_one: true,
            lease_duration: Duration::from_secs(2),
            seed: 8,
            timeout: Duration::from_secs(600),
        }
    }
}

/// One sweeper process of a run.
struct Worker {
    owner: String,
    record: PathBuf,
    child: Child,
    status: Option<ExitStatus>,
}

/// Builds the backlog, runs the sweeper processes over it, kills one, and checks the result.
/// `exe` is the chaos binary itself; `record_root` the folder the records go under.
///
/// # Panics
/// When the tables cannot be created or a child cannot be started.
pub async fn run(
    db: &DynamoDb,
    config: &ProcessesConfig,
    exe: &Path,
    record_root: &Path,
) -> ProcessesReport {
    let table = unique_name("chaos-processes");
    let outbox_config = OutboxConfig::new(&table).with_shards(config.shards);
    create_table(db, &outbox_config.table_schema()).await;
    let entities = TableSchema::new(
        unique_name("chaos-entities"),
        KeyAttribute::new("Id", KeyKind::String),
    );
    create_table(db, &entities).await;
    let outbox = Outbox::new(db.clone(), outbox_config).expect("a valid configuration");

    // The backlog: every command commits and leaves its message to the sweepers.
    let plan_config = ChaosConfig {
        commands: config.commands,
        keys: config.keys,
        concurrency: config.concurrency,
        shards: config.shards,
        command_fault_percent: 0,
        send_fail_percent: 0,
        send_then_fail_percent: 0,
        clear_immediately: false,
        seed: config.seed,
        ..ChaosConfig::default()
    };
    let recorder = Recorder::new(config.seed, 0, 0);
    let handler = Arc::new(ChaosHandler {
        postbox: Postbox::new(outbox.clone(), recorder.producer(Sender::Immediate))
            .with_retry_policy(retry()),
        entities: entities.clone(),
    });
    let queues = plan(&plan_config);
    let commands: Vec<Command> = queues.iter().flatten().cloned().collect();
    let outcomes: Arc<Mutex<HashMap<String, Outcome>>> = Arc::default();
    let started = Instant::now();
    {
        use futures_util::StreamExt;
        futures_util::stream::iter(queues)
            .for_each_concurrent(config.concurrency.max(1), |queue| {
                let handler = Arc::clone(&handler);
                let outcomes = Arc::clone(&outcomes);
                async move {
                    for command in queue {
                        let id = command.id.clone();
                        let outcome = match handler.handle_then_die(command).await {
                            Ok(_) => Outcome::Committed,
                            Err(err) => Outcome::Uncertain(format!("{err:?}")),
                        };
                        outcomes.lock().expect("not poisoned").insert(id, outcome);
                    }
                }
            })
            .await;
    }
    let command_phase = started.elapsed();
    let backlog = outbox
        .outstanding_count(usize::MAX)
        .await
        .expect("counting the backlog")
        .count;
    eprintln!(
        "  backlog of {backlog} messages in {:.1} s; starting {} sweeper processes",
        command_phase.as_secs_f64(),
        config.processes
    );

    // The sweeper processes.
    let record_dir = record_root.join(&table);
    std::fs::create_dir_all(&record_dir)
        .unwrap_or_else(|err| panic!("{}: {err}", record_dir.display()));
    let drain_started = Instant::now();
    let mut workers: Vec<Worker> = (0..config.processes.max(1))
        .map(|n| {
            let args = ChildArgs {
                table: table.clone(),
                shards: config.shards,
                owner: format!("chaos-process-{n}"),
                record: record_dir.join(format!("sweeper-{n}.log")),
                lease_duration: config.lease_duration,
            };
            let child = Process::new(exe)
                .args(args.to_args())
                .stdin(Stdio::null())
                .spawn()
                .unwrap_or_else(|err| panic!("starting {}: {err}", exe.display()));
            Worker {
                owner: args.owner,
                record: args.record,
                child,
                status: None,
            }
        })
        .collect();

    // Kill the first once it has sent its share, between sends or in the middle of a round.
    let mut killed = None;
    let mut killed_shards = Vec::new();
    let mut kill_time = None;
    let deadline = Instant::now() + config.timeout;
    if config.kill_one {
        let share = (backlog / (config.processes.max(1) * 3)).max(1);
        loop {
            let sent = count_lines(&workers[0].record);
            let outstanding = outbox.outstanding_count(1).await.map(|c| c.count);
            if sent >= share || matches!(outstanding, Ok(0)) || Instant::now() > deadline {
                killed_shards = leases_of(db, &outbox, &workers[0].owner).await;
                let worker = &mut workers[0];
                worker.child.kill().expect("SIGKILL to a child of ours");
                worker.status = Some(worker.child.wait().expect("waiting for the killed child"));
                kill_time = Some(unix_nanos(SystemTime::now()));
                let sent = count_lines(&worker.record);
                eprintln!(
                    "  killed {} (SIGKILL) after {sent} sends, holding shards {killed_shards:?}",
                    worker.owner
                );
                killed = Some((worker.owner.clone(), sent));
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    // Wait until nothing is outstanding.
    let mut timed_out = false;
    let mut last_progress = Instant::now();
    loop {
        match outbox.outstanding_count(usize::MAX).await {
            Ok(count) if count.count == 0 => break,
            Ok(count) if last_progress.elapsed() > Duration::from_secs(5) => {
                eprintln!("  {} outstanding", count.count);
                last_progress = Instant::now();
            }
            Ok(_) => {}
            Err(err) => eprintln!("  counting failed: {err}"),
        }
        if Instant::now() > deadline {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drain_phase = drain_started.elapsed();
    // The survivors take the killed one's shards once its leases lapse, each at its next
    // rebalance; the backlog can be gone before the last of them has come round (a busy machine
    // delays a process's rebalance by seconds), so the take-over is awaited, within a bound of a
    // few lease durations, rather than sampled the moment the drain ends.
    let killed_owner = killed.as_ref().map(|(owner, _)| owner.clone());
    let take_over_deadline = Instant::now() + 3 * config.lease_duration + Duration::from_secs(5);
    let mut taken_over = BTreeMap::new();
    loop {
        taken_over.clear();
        for shard in &killed_shards {
            let owner = lease_owner(db, &outbox, *shard)
                .await
                .filter(|owner| Some(owner) != killed_owner.as_ref());
            taken_over.insert(*shard, owner);
        }
        if taken_over.values().all(Option::is_some) || Instant::now() > take_over_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Stop the others gracefully: SIGTERM, and `Sweeper::run` gives the leases back.
    let mut unclean_stops = Vec::new();
    for worker in workers.iter().filter(|w| w.status.is_none()) {
        let _ = Process::new("kill")
            .args(["-TERM", &worker.child.id().to_string()])
            .status();
    }
    let stop_deadline = Instant::now() + Duration::from_secs(30);
    for worker in &mut workers {
        if worker.status.is_some() {
            continue;
        }
        loop {
            if let Ok(Some(status)) = worker.child.try_wait() {
                if !status.success() {
                    unclean_stops.push(format!("{} ({status})", worker.owner));
                }
                worker.status = Some(status);
                break;
            }
            if Instant::now() > stop_deadline {
                let _ = worker.child.kill();
                worker.status = worker.child.wait().ok();
                unclean_stops.push(format!("{} (no exit within 30 s; killed)", worker.owner));
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Every send of every process, in time order.
    let mut sends: Vec<(u128, usize, String)> = Vec::new();
    let mut per_process = Vec::new();
    for (n, worker) in workers.iter().enumerate() {
        let lines = read_records(&worker.record);
        per_process.push((worker.owner.clone(), lines.len()));
        sends.extend(lines.into_iter().map(|(at, id)| (at, n, id)));
    }
    sends.sort();
    let kill_mark = kill_time.map(|at| sends.partition_point(|(sent, _, _)| *sent <= at));
    let deliveries: Vec<Delivery> = sends
        .iter()
        .map(|(_, n, id)| Delivery {
            id: id.as_str().into(),
            sender: Sender::Sweeper(*n),
            unmarked: None,
        })
        .collect();

    // The killed process's sends that may have been unmarked when it died: those of its last
    // lease duration (see the module's comment).
    let unmarked_window = config.lease_duration;
    let killed_tail: HashSet<&str> = match (&killed, kill_time) {
        (Some(_), Some(at)) => sends
            .iter()
            .filter(|(sent, n, _)| *n == 0 && sent + unmarked_window.as_nanos() >= at)
            .map(|(_, _, id)| id.as_str())
            .collect(),
        _ => HashSet::new(),
    };
    let unmarked_window_sends = killed_tail.len();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut outside_in_flight = Vec::new();
    for (_, n, id) in &sends {
        if let Some(first) = seen.get(id.as_str()) {
            let explained = *first == 0 && killed.is_some() && killed_tail.contains(id.as_str());
            if !explained {
                outside_in_flight.push(format!("{id} (first by process {first}, again by {n})"));
            }
        } else {
            seen.insert(id, *n);
        }
    }

    let outcomes = std::mem::take(&mut *outcomes.lock().expect("not poisoned"));
    let log = DeliveryLog {
        deliveries: &deliveries,
        kill_mark,
        failed_marks: &[],
        acknowledged_marks: &[],
        kills: &[],
    };
    let mut report = check(db, &outbox, &entities, &commands, &outcomes, &log).await;
    report.backlog = backlog;
    report.sweeper_killed = killed.is_some();
    report.killed_sweeper_deliveries = killed.as_ref().map_or(0, |(_, n)| *n);
    report.command_phase = command_phase;
    report.drain_phase = drain_phase;
    ProcessesReport {
        check: report,
        processes: workers.len(),
        sends: per_process,
        killed,
        killed_shards,
        taken_over,
        unmarked_window,
        unmarked_window_sends,
        outside_in_flight,
        unclean_stops,
        timed_out,
        record_dir,
    }
}
