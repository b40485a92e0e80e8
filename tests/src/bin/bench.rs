//! The outbox benchmarks against DynamoDB (Local, or the endpoint in `DYNAMODB_ENDPOINT`):
//! macro overhead, requests and capacity units per delivered message, sweeper drain, idle sweep
//! cost and latency. Prints Markdown tables and writes every figure as JSON.
//!
//! Run it with `cargo xtask bench [flags]`, which starts DynamoDB Local and builds this binary
//! with the `bench-fast` profile; `--help` lists the flags.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use outbox_runtime::DynamoDb;
use outbox_tests::DEFAULT_LOCAL_ENDPOINT;
use outbox_tests::ENDPOINT_ENV;
use outbox_tests::bench::BoxError;
use outbox_tests::bench::scenarios::{
    self, CostRow, DrainRow, IdleRow, LatencyRow, OverheadRow, Percentiles, StreamRelayRow,
};
use serde::Serialize;

/// The flags, shared with `cargo xtask bench --help`, which prints them without building.
const USAGE: &str = include_str!("bench_usage.txt");

#[derive(Clone, Debug, Serialize)]
struct Settings {
    quick: bool,
    only: Vec<String>,
    concurrency: Vec<usize>,
    rounds: usize,
    calls: usize,
    path_calls: usize,
    messages: usize,
    keys: usize,
    idle_window_s: u64,
    samples: usize,
    shards: u16,
    #[serde(skip)]
    json: std::path::PathBuf,
}

const SCENARIOS: [&str; 7] = [
    "overhead", "requests", "capacity", "drain", "idle", "latency", "stream",
];

impl Settings {
    fn parse(args: &[String]) -> Result<Self, String> {
        let quick = args.iter().any(|arg| arg == "--quick");
        let mut settings = Settings {
            quick,
            only: SCENARIOS.iter().map(|s| (*s).to_owned()).collect(),
            concurrency: vec![1, 8, 32],
            rounds: if quick { 2 } else { 5 },
            calls: if quick { 40 } else { 500 },
            path_calls: if quick { 4 } else { 10 },
            messages: if quick { 1000 } else { 10_000 },
            keys: if quick { 100 } else { 1000 },
            idle_window_s: if quick { 2 } else { 6 },
            samples: if quick { 200 } else { 1000 },
            shards: 16,
            json: target_dir().join("bench").join("latest.json"),
        };
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            if flag == "--quick" {
                continue;
            }
            let mut value = || {
                rest.next()
                    .map(String::as_str)
                    .ok_or_else(|| format!("`{flag}` needs a value\n\n{USAGE}"))
            };
            let number = |text: &str| {
                text.parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("`{flag} {text}`: expected a positive number"))
            };
            match flag.as_str() {
                "--only" => {
                    let list: Vec<String> = value()?.split(',').map(str::to_owned).collect();
                    if let Some(bad) = list.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
                        return Err(format!(
                            "unknown scenario `{bad}`; expected one of {}",
                            SCENARIOS.join(", ")
                        ));
                    }
                    settings.only = list;
                }
                "--concurrency" => {
                    settings.concurrency =
                        value()?.split(',').map(number).collect::<Result<_, _>>()?;
                }
                "--rounds" => settings.rounds = number(value()?)?,
                "--calls" => settings.calls = number(value()?)?,
                "--path-calls" => settings.path_calls = number(value()?)?,
                "--messages" => settings.messages = number(value()?)?,
                "--keys" => settings.keys = number(value()?)?,
                "--idle-window" => settings.idle_window_s = number(value()?)? as u64,
                "--samples" => settings.samples = number(value()?)?,
                "--shards" => {
                    settings.shards = u16::try_from(number(value()?)?)
                        .ok()
                        .filter(|n| *n <= outbox_runtime::table::MAX_SHARDS)
                        .ok_or("`--shards`: 1 to 1024")?;
                }
                "--json" => settings.json = value()?.into(),
                other => return Err(format!("unknown flag `{other}`\n\n{USAGE}")),
            }
        }
        Ok(settings)
    }

    fn runs(&self, scenario: &str) -> bool {
        self.only.iter().any(|s| s == scenario)
    }
}

fn target_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => dir.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the tests package lives in the workspace")
            .join("target"),
    }
}

/// Where the figures came from.
#[derive(Debug, Serialize)]
struct Machine {
    cpus: usize,
    cpu_model: String,
    memory_gib: f64,
    endpoint: String,
}

fn machine(endpoint: &str) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split(':').nth(1))
        .map_or_else(|| "unknown".to_owned(), |model| model.trim().to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: f64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        cpu_model,
        memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        endpoint: endpoint.to_owned(),
    }
}

#[derive(Debug, Default, Serialize)]
struct Report {
    command: String,
    settings: Option<Settings>,
    machine: Option<Machine>,
    seconds: f64,
    macro_overhead: Vec<OverheadRow>,
    requests_per_message: Vec<CostRow>,
    capacity_per_message: Vec<CostRow>,
    drain: Vec<DrainRow>,
    idle_sweep: Vec<IdleRow>,
    latency: Option<LatencyRow>,
    stream_relay: Vec<StreamRelayRow>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::parse(&args) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match run(settings, &args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("error: the macro handler and the hand-written one made different requests");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings, args: &[String]) -> Result<bool, BoxError> {
    let endpoint = std::env::var(ENDPOINT_ENV)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| DEFAULT_LOCAL_ENDPOINT.to_owned());
    let db = DynamoDb::local(&endpoint);
    db.check_reachable().await.map_err(|err| {
        format!(
            "no DynamoDB answers at {endpoint}: {err}\nrun the benchmarks with `cargo xtask \
             bench`, which starts DynamoDB Local, or start it with `cargo xtask dynamodb start` \
             and export the {ENDPOINT_ENV} it prints"
        )
    })?;
    let started = Instant::now();
    let progress = move |line: &str| {
        println!("[{:6.1} s] {line}", started.elapsed().as_secs_f64());
    };
    let mut report = Report {
        command: format!("cargo xtask bench {}", args.join(" "))
            .trim_end()
            .to_owned(),
        machine: Some(machine(&endpoint)),
        ..Report::default()
    };
    let mut same_requests = true;

    if settings.runs("overhead") {
        progress("1. macro overhead: the macro handler against the hand-written one");
        report.macro_overhead = scenarios::macro_overhead(
            &db,
            &settings.concurrency,
            settings.rounds,
            settings.calls,
            1,
            &progress,
        )
        .await?;
        same_requests = report.macro_overhead.iter().all(|row| row.same_requests);
        print_overhead(&report.macro_overhead);
    }
    if settings.runs("requests") {
        progress("2. requests per delivered message");
        report.requests_per_message = scenarios::requests_per_message(
            &db,
            &[1, 10, 50],
            settings.path_calls,
            settings.shards,
            &progress,
        )
        .await?;
        print_requests(&report.requests_per_message, settings.path_calls);
    }
    if settings.runs("capacity") {
        progress("3. capacity units per delivered message");
        report.capacity_per_message = scenarios::capacity_per_message(
            &db,
            &[200, 1024, 10 * 1024],
            settings.path_calls,
            // One message per transaction: DynamoDB Local reports a `TransactWriteItems` that
            // writes several items to one table as if it wrote one.
            1,
            settings.shards,
            &progress,
        )
        .await?;
        print_capacity(&report.capacity_per_message, settings.path_calls);
    }
    if settings.runs("drain") {
        progress("4. sweeper drain");
        for cleanup in scenarios::cleanups() {
            for sweepers in [1, 2] {
                report.drain.push(
                    scenarios::drain(
                        &db,
                        sweepers,
                        cleanup,
                        settings.messages,
                        settings.keys,
                        settings.shards,
                        &progress,
                    )
                    .await?,
                );
            }
        }
        print_drain(&report.drain);
    }
    if settings.runs("idle") {
        progress("5. idle sweep cost");
        let mut shard_counts = vec![1, settings.shards, 64];
        shard_counts.sort_unstable();
        shard_counts.dedup();
        for shards in shard_counts {
            report.idle_sweep.push(
                scenarios::idle_sweep(&db, shards, 5, Duration::from_secs(settings.idle_window_s))
                    .await?,
            );
            progress(&format!("idle sweep: {shards} shards done"));
        }
        print_idle(&report.idle_sweep);
    }
    if settings.runs("latency") {
        progress("6. latency of the immediate path");
        let row = scenarios::latency(&db, settings.samples).await?;
        print_latency(&row);
        report.latency = Some(row);
    }

    if settings.runs("stream") {
        progress("7. the stream relay beside the sweeper");
        let streams_endpoint = std::env::var(outbox_tests::STREAMS_ENDPOINT_ENV)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| endpoint.clone());
        report.stream_relay = scenarios::stream_relay(
            &db,
            &streams_endpoint,
            settings.samples / 10,
            settings.messages / 10,
            Duration::from_secs(settings.idle_window_s),
            &progress,
        )
        .await?;
        print_stream_relay(&report.stream_relay);
    }

    report.seconds = started.elapsed().as_secs_f64();
    let json = settings.json.clone();
    report.settings = Some(settings);
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")?;
    progress(&format!("figures written to {}", json.display()));
    Ok(same_requests)
}

fn print_overhead(rows: &[OverheadRow]) {
    println!(
        "\n#### Macro overhead (one entity and one message per call, cleanup keep; ratio = \
         macro / hand-written throughput, median of interleaved rounds)\n"
    );
    println!(
        "| concurrency | macro calls/s | hand-written calls/s | ratio (min–max) | requests/call \
         macro | requests/call hand-written | same requests |"
    );
    println!("|---:|---:|---:|---:|---:|---:|:---|");
    for row in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.3} ({:.2}–{:.2}) | {:.2} | {:.2} | {} |",
            row.concurrency,
            row.macro_calls_per_s,
            row.hand_calls_per_s,
            row.ratio,
            row.ratio_min,
            row.ratio_max,
            row.macro_requests_per_call,
            row.hand_requests_per_call,
            if row.same_requests { "yes" } else { "NO" }
        );
    }
    println!();
}

fn print_requests(rows: &[CostRow], calls: usize) {
    println!(
        "\n#### Requests per delivered message ({calls} handler calls per row, each putting one \
         entity and depositing N messages; on the sweeper path, then one pass over {} shards)\n",
        rows.first().map_or(0, |row| row.shards)
    );
    println!("| path | cleanup | N | requests/message | every request of the row |");
    println!("|:---|:---|---:|---:|:---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {:.2} | {} |",
            row.path,
            row.cleanup,
            row.cost.messages_per_call,
            row.requests_per_message,
            row.cost.counts.summary()
        );
    }
    println!();
}

fn print_capacity(rows: &[CostRow], calls: usize) {
    println!(
        "\n#### Capacity units per delivered message (ReturnConsumedCapacity=INDEXES on every \
         call; {calls} calls of one message, no entity)\n"
    );
    println!(
        "| body | cleanup | path | units/message | written | read | of which index | \
         requests without a figure |"
    );
    println!("|---:|:---|:---|---:|---:|---:|---:|:---|");
    for row in rows {
        let unreported: Vec<String> = row
            .cost
            .counts
            .ops
            .iter()
            .filter(|(_, op)| op.unreported > 0)
            .map(|(name, op)| format!("{name} {}", op.unreported))
            .collect();
        println!(
            "| {} B | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            row.body_bytes,
            row.cleanup,
            row.path,
            row.capacity_per_message,
            row.write_capacity_per_message,
            row.read_capacity_per_message,
            row.index_capacity_per_message,
            if unreported.is_empty() {
                "none".to_owned()
            } else {
                unreported.join(" + ")
            }
        );
    }
    println!(
        "\nA request without a figure is one DynamoDB Local answered without the consumed \
         capacity asked for (PartiQL statements, queries that read nothing): its units are \
         missing from the row, not zero. On DynamoDB, a PartiQL UPDATE is billed as the \
         UpdateItem it stands for."
    );
    println!();
}

fn print_drain(rows: &[DrainRow]) {
    println!(
        "\n#### Sweeper drain (outstanding messages sent to the in-memory producer, passes back \
         to back)\n"
    );
    println!(
        "| sweepers | cleanup | messages | keys | seconds | messages/s | requests/message | \
         units/message |"
    );
    println!("|---:|:---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.0} | {:.3} | {:.2} |",
            row.sweepers,
            row.cleanup,
            row.messages,
            row.keys,
            row.seconds,
            row.messages_per_s,
            row.requests_per_message,
            row.capacity_per_message
        );
    }
    println!();
}

fn print_idle(rows: &[IdleRow]) {
    println!(
        "\n#### Idle sweep (nothing outstanding; per minute: default settings, a pass a second \
         and leases of 30 s, lease upkeep measured ten times faster)\n"
    );
    println!(
        "| shards | requests/pass | items read/pass | units/pass | first pass of a sweeper | \
         requests/min | of which leases | items read/min | units/min |"
    );
    println!("|---:|---:|---:|---:|:---|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.1} | {} | {:.0} | {:.0} | {:.0} | {:.1} |",
            row.shards,
            row.requests_per_pass,
            row.items_read_per_pass,
            row.capacity_per_pass,
            row.first_pass.summary(),
            row.requests_per_minute,
            row.lease_requests_per_minute,
            row.items_read_per_minute,
            row.capacity_per_minute
        );
    }
    println!();
}

fn print_latency(row: &LatencyRow) {
    println!(
        "\n#### Latency of the immediate path ({} calls one at a time, one entity and one \
         message each)\n",
        row.samples
    );
    println!("| measure | p50 ms | p99 ms |");
    println!("|:---|---:|---:|");
    let line = |name: &str, p: &Percentiles| {
        println!("| {name} | {:.3} | {:.3} |", p.p50_ms, p.p99_ms);
    };
    line("commit to send", &row.commit_to_send);
    line("  the commit (TransactWriteItems)", &row.commit);
    line("  after the commit, to the producer", &row.after_commit);
    line("producer send alone", &row.producer_send);
    line("whole handler call (marking included)", &row.handler_call);
    println!();
}

fn print_stream_relay(rows: &[StreamRelayRow]) {
    println!(
        "\n#### The stream relay beside the sweeper (latency: one message at a time; requests and \
         units: a burst committed first, then relayed; idle: nothing to send, default settings)\n"
    );
    println!(
        "| relay | settings | commit to send p50 ms | p99 ms | requests/message | of which stream \
         reads | units/message | idle requests/min | every request of the burst |"
    );
    println!("|:---|:---|---:|---:|---:|---:|---:|---:|:---|");
    for row in rows {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.3} | {:.3} | {:.2} | {:.0} | {} |",
            row.relay,
            row.settings,
            row.commit_to_send.p50_ms,
            row.commit_to_send.p99_ms,
            row.requests_per_message,
            row.stream_requests_per_message,
            row.capacity_per_message,
            row.idle_requests_per_minute,
            row.burst.summary()
        );
    }
    println!(
        "\nDynamoDB Local reports no consumed capacity for PartiQL, so the marks of the \
         with-sweeper relay and of the sweeper are missing from their units; stream reads are \
         billed as stream read requests, not capacity units."
    );
    println!();
}
