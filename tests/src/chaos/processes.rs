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
//! A duplicate is explained only when its first copy was sent by the killed process among its
//! last in-flight sends (a round holds at most one message per key, so at most `keys` of them):
//! sent, not marked, and sent again by whoever took the shard over.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::producer::{Producer, ProducerError};
use outbox_runtime::schema::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::sweeper::CancellationToken;
use outbox_runtime::{
    DynamoDb, Message, Outbox, OutboxConfig, Postbox, RetryPolicy, Sweeper, SweeperConfig,
    attributes as attr,
};

use super::check::{DeliveryLog, Outcome, check};
use super::{ChaosConfig, ChaosHandler, ChaosReport, Command, Delivery, Recorder, Sender, plan};
use crate::{create_table, unique_name};

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

/// The arguments of a sweeper child, as the parent passes them.
#[derive(Clone, Debug)]
pub struct ChildArgs {
    /// The outbox table.
    pub table: String,
    /// Its shard count.
    pub shards: u16,
    /// The owner name in the lease table.
    pub owner: String,
    /// The file each send is appended to.
    pub record: PathBuf,
    /// The lease duration.
    pub lease_duration: Duration,
}

impl ChildArgs {
    /// The flag that selects sweeper mode; it comes first.
    pub const FLAG: &'static str = "--sweeper-child";

    fn to_args(&self) -> Vec<String> {
        vec![
            Self::FLAG.to_owned(),
            self.table.clone(),
            self.shards.to_string(),
            self.owner.clone(),
            self.record.display().to_string(),
            self.lease_duration.as_millis().to_string(),
        ]
    }

    /// Parses what follows [`Self::FLAG`].
    ///
    /// # Errors
    /// A line saying what is missing or malformed.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let [table, shards, owner, record, lease_ms] = args else {
            return Err(format!(
                "{} takes <table> <shards> <owner> <record file> <lease ms>",
                Self::FLAG
            ));
        };
        Ok(Self {
            table: table.clone(),
            shards: shards.parse().map_err(|_| format!("shards: `{shards}`"))?,
            owner: owner.clone(),
            record: PathBuf::from(record),
            lease_duration: Duration::from_millis(
                lease_ms
                    .parse()
                    .map_err(|_| format!("lease: `{lease_ms}`"))?,
            ),
        })
    }
}

/// A producer that appends `<unix nanos>\t<id>` per message to a file, written through on
/// every send, so that the record survives the process being killed.
struct FileProducer {
    file: Mutex<std::fs::File>,
}

#[async_trait::async_trait]
impl Producer for FileProducer {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        let line = format!("{}\t{}\n", unix_nanos(SystemTime::now()), message.id());
        let mut file = self.file.lock().expect("not poisoned");
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|err| ProducerError::new(message, format!("recording the send: {err}")))
    }
}

fn unix_nanos(at: SystemTime) -> u128 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// Sweeper mode: sweeps the outbox until SIGTERM, then gives the leases back (`Sweeper::run`).
///
/// # Errors
/// A line saying what failed.
pub async fn sweeper_child(db: DynamoDb, args: ChildArgs) -> Result<(), String> {
    let outbox = Outbox::new(db, OutboxConfig::new(&args.table).with_shards(args.shards))
        .map_err(|err| err.to_string())?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.record)
        .map_err(|err| format!("{}: {err}", args.record.display()))?;
    let retry = retry();
    let postbox = Postbox::new(
        outbox,
        FileProducer {
            file: Mutex::new(file),
        },
    )
    .with_retry_policy(retry);
    let sweeper = Sweeper::new(
        &postbox,
        SweeperConfig {
            interval: Duration::from_millis(10),
            min_age: Duration::ZERO,
            retry,
            lease_duration: args.lease_duration,
            owner: args.owner.clone(),
            ..SweeperConfig::default()
        },
    );
    let stop = CancellationToken::new();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|err| err.to_string())?;
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            terminate.recv().await;
            stop.cancel();
        });
    }
    sweeper
        .run(stop)
        .await
        .map_err(|err| format!("{}: releasing the leases: {err}", args.owner))
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 1000,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    }
}

/// One sweeper process of a run.
struct Worker {
    owner: String,
    record: PathBuf,
    child: Child,
    status: Option<ExitStatus>,
}

/// The figures of a run of sweeper processes and what it found broken.
#[derive(Debug, Default)]
pub struct ProcessesReport {
    /// The checks shared with the in-process harness (lost, phantom, order, torn, dispatched).
    pub check: ChaosReport,
    /// Sweeper processes.
    pub processes: usize,
    /// Sends recorded per process, by owner.
    pub sends: Vec<(String, usize)>,
    /// The killed process, and its sends before it died.
    pub killed: Option<(String, usize)>,
    /// Shards the killed process held when it died.
    pub killed_shards: Vec<u16>,
    /// Those shards' owners once the backlog was drained.
    pub taken_over: BTreeMap<u16, Option<String>>,
    /// The killed process's in-flight bound: its last sends that may be unmarked.
    pub in_flight_bound: usize,
    /// Duplicates whose first copy is not among the killed process's last in-flight sends.
    pub outside_in_flight: Vec<String>,
    /// Processes that did not stop cleanly on SIGTERM: owner and status.
    pub unclean_stops: Vec<String>,
    /// True when the drain did not finish in time.
    pub timed_out: bool,
    /// Where the delivery records are.
    pub record_dir: PathBuf,
}

impl ProcessesReport {
    /// Every broken promise, one line each.
    pub fn violations(&self) -> Vec<String> {
        let mut found = self.check.violations();
        if !self.outside_in_flight.is_empty() {
            found.push(format!(
                "duplicates not among the killed sweeper's last {} sends: {} (first: {})",
                self.in_flight_bound,
                self.outside_in_flight.len(),
                self.outside_in_flight
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.unclean_stops.is_empty() {
            found.push(format!(
                "sweepers that did not stop cleanly on SIGTERM: {}",
                self.unclean_stops.join("; ")
            ));
        }
        if self.timed_out {
            found.push("the backlog was not drained in time".to_owned());
        }
        let untaken: Vec<String> = self
            .taken_over
            .iter()
            .filter(|(_, owner)| {
                owner.is_none() || owner.as_deref() == self.killed.as_ref().map(|(o, _)| o.as_str())
            })
            .map(|(shard, _)| shard.to_string())
            .collect();
        if !untaken.is_empty() {
            found.push(format!(
                "shards of the killed sweeper nobody took over: {}",
                untaken.join(", ")
            ));
        }
        found
    }
}

impl fmt::Display for ProcessesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.check;
        writeln!(f, "commands        {}", c.commands)?;
        writeln!(f, "committed       {}", c.committed)?;
        writeln!(f, "uncertain       {}", c.uncertain.len())?;
        for line in &c.uncertain {
            writeln!(f, "          {line}")?;
        }
        writeln!(f, "backlog         {} (nothing sent at commit)", c.backlog)?;
        writeln!(f, "processes       {}", self.processes)?;
        for (owner, sends) in &self.sends {
            writeln!(f, "  {sends:>6}  sends by {owner}")?;
        }
        match &self.killed {
            Some((owner, sends)) => writeln!(
                f,
                "killed          {owner} (SIGKILL after {sends} sends), holding shards {:?}",
                self.killed_shards
            )?,
            None => writeln!(f, "killed          none")?,
        }
        let taken: Vec<String> = self
            .taken_over
            .iter()
            .map(|(shard, owner)| format!("{shard}->{}", owner.as_deref().unwrap_or("nobody")))
            .collect();
        writeln!(
            f,
            "taken over      {} of {} shards ({})",
            self.taken_over
                .values()
                .filter(|owner| owner.is_some()
                    && owner.as_deref() != self.killed.as_ref().map(|(o, _)| o.as_str()))
                .count(),
            self.killed_shards.len(),
            taken.join(", ")
        )?;
        writeln!(f, "delivered       {}", c.delivered)?;
        writeln!(f, "deliveries      {}", c.deliveries)?;
        writeln!(f, "lost            {}", c.lost.len())?;
        writeln!(f, "phantom         {}", c.phantom.len())?;
        writeln!(
            f,
            "duplicates      {} ({} explained by the kill: first sent by the killed sweeper \
             among its last {} sends, then by another; {} not)",
            c.duplicate_count(),
            c.duplicates.values().sum::<usize>(),
            self.in_flight_bound,
            self.outside_in_flight.len()
        )?;
        writeln!(
            f,
            "order per key   {} later messages of a key delivered before an earlier one",
            c.sweeper_overtakes.len()
        )?;
        writeln!(f, "torn commits    {}", c.torn_commits.len())?;
        writeln!(f, "not dispatched  {}", c.not_dispatched.len())?;
        writeln!(
            f,
            "stopped         {} of {} cleanly on SIGTERM",
            self.processes - usize::from(self.killed.is_some()) - self.unclean_stops.len(),
            self.processes - usize::from(self.killed.is_some())
        )?;
        writeln!(f, "records         {}", self.record_dir.display())?;
        write!(
            f,
            "time            {:.1} s commands, {:.1} s drain",
            c.command_phase.as_secs_f64(),
            c.drain_phase.as_secs_f64()
        )
    }
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
    let mut taken_over = BTreeMap::new();
    for shard in &killed_shards {
        taken_over.insert(*shard, lease_owner(db, &outbox, *shard).await);
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

    // The killed process's in-flight sends: a round holds at most one message per key, and at
    // most a page of them.
    let in_flight_bound = config.keys.min(SweeperConfig::default().batch_size);
    let killed_tail: HashSet<&str> = if killed.is_some() {
        let own: Vec<&str> = sends
            .iter()
            .filter(|(_, n, _)| *n == 0)
            .map(|(_, _, id)| id.as_str())
            .collect();
        own[own.len().saturating_sub(in_flight_bound)..]
            .iter()
            .copied()
            .collect()
    } else {
        HashSet::new()
    };
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
        in_flight_bound,
        outside_in_flight,
        unclean_stops,
        timed_out,
        record_dir,
    }
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|bytes| bytes.iter().filter(|b| **b == b'\n').count())
        .unwrap_or(0)
}

/// The complete lines of a record file (a process killed mid-write leaves at most a partial
/// last line, which never reached the transport's caller as sent).
fn read_records(path: &Path) -> Vec<(u128, String)> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| {
            let (at, id) = line.split_once('\t')?;
            Some((at.parse().ok()?, id.to_owned()))
        })
        .collect()
}

fn lease_item_id(outbox: &Outbox, shard: u16) -> String {
    format!(
        "{}_lease#{}#{shard}",
        attr::RESERVED_ID_PREFIX,
        outbox.config().index_name
    )
}

/// The owner of a shard's lease, if it is held (not expired).
async fn lease_owner(db: &DynamoDb, outbox: &Outbox, shard: u16) -> Option<String> {
    let item = db
        .client()
        .get_item()
        .table_name(&outbox.config().table_name)
        .key(
            attr::MESSAGE_ID,
            AttributeValue::S(lease_item_id(outbox, shard)),
        )
        .consistent_read(true)
        .send()
        .await
        .ok()?
        .item?;
    let expires: u128 = item
        .get(attr::LEASE_EXPIRES_AT)?
        .as_n()
        .ok()?
        .parse()
        .ok()?;
    let now_ms = unix_nanos(SystemTime::now()) / 1_000_000;
    let owner = item.get(attr::LEASE_OWNER)?.as_s().ok()?.clone();
    (expires > now_ms).then_some(owner)
}

/// The shards whose lease `owner` holds now.
async fn leases_of(db: &DynamoDb, outbox: &Outbox, owner: &str) -> Vec<u16> {
    let mut shards = Vec::new();
    for shard in 0..outbox.config().shard_count {
        if lease_owner(db, outbox, shard).await.as_deref() == Some(owner) {
            shards.push(shard);
        }
    }
    shards
}
