//! The outbox benchmarks against DynamoDB (Local, or the endpoint in
//! `AWS_ENDPOINT_URL_DYNAMODB`): macro overhead, requests and capacity units per delivered
//! message, sweeper drain against a naive sequential sweeper, idle sweep cost, latency, the
//! read-modify-write handler, background marks against inline ones, the stream relay, and a
//! consumer handler with its inbox against one without, the macro handler's instructions per
//! call against the hand-written one's (callgrind), and messages due later (how late they go, a
//! pass over many due tomorrow), and large bodies compressed against plain; each, when asked, also
//! through a delaying proxy that models a region's round trip. Prints Markdown tables and
//! writes every figure as JSON.
//!
//! Run it with `cargo xtask bench [flags]`, which starts DynamoDB Local and builds this binary
//! with the `bench-fast` profile; `--help` lists the flags.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use outbox_runtime::DynamoDb;
use outbox_tests::DEFAULT_LOCAL_ENDPOINT;
use outbox_tests::ENDPOINT_ENV;
use outbox_tests::bench::proxy::{PROXY_ARG, Proxy, proxy_main};
use outbox_tests::bench::scenarios::{
    self, ComparisonRow, ConsumedCostRow, CostRow, DrainRatio, DrainRow, INSTRUCTIONS_ARG, IdleRow,
    InstructionsRow, LargeBodyRow, LatencyRow, Percentiles, Relay, RoundTripRow, ScheduledRow,
    StreamRelayRow,
};
use outbox_tests::bench::{BoxError, Link};
use serde::Serialize;

/// The flags, shared with `cargo xtask bench --help`, which prints them without building.
const USAGE: &str = include_str!("bench_usage.txt");

#[derive(Clone, Debug, Serialize)]
struct Settings {
    quick: bool,
    only: Vec<String>,
    rtt_ms: Vec<f64>,
    concurrency: Vec<usize>,
    rounds: usize,
    calls: usize,
    path_calls: usize,
    messages: Vec<usize>,
    keys: usize,
    sweepers: Vec<usize>,
    drain_rtt_ms: Vec<f64>,
    drain_rounds: usize,
    marks_concurrency: Vec<usize>,
    mark_delay_ms: f64,
    idle_window_s: u64,
    samples: usize,
    probe_samples: usize,
    shards: u16,
    instruction_runs: usize,
    instruction_calls: usize,
    #[serde(skip)]
    json: std::path::PathBuf,
}

const SCENARIOS: [&str; 13] = [
    "overhead",
    "requests",
    "capacity",
    "drain",
    "idle",
    "latency",
    "rmw",
    "marks",
    "stream",
    "consume",
    "instructions",
    "scheduled",
    "large",
];

impl Settings {
    fn parse(args: &[String]) -> Result<Self, String> {
        let quick = args.iter().any(|arg| arg == "--quick");
        let mut settings = Settings {
            quick,
            only: SCENARIOS.iter().map(|s| (*s).to_owned()).collect(),
            rtt_ms: vec![0.0],
            concurrency: vec![1, 8, 32],
            rounds: if quick { 6 } else { 20 },
            calls: if quick { 30 } else { 200 },
            path_calls: if quick { 4 } else { 10 },
            messages: if quick {
                vec![1000]
            } else {
                vec![2000, 10_000]
            },
            keys: if quick { 100 } else { 1000 },
            sweepers: vec![1, 2, 4],
            drain_rtt_ms: vec![0.0, 5.0, 20.0],
            drain_rounds: if quick { 1 } else { 3 },
            marks_concurrency: vec![1, 10, 50],
            mark_delay_ms: 10.0,
            idle_window_s: if quick { 2 } else { 6 },
            samples: if quick { 200 } else { 1000 },
            probe_samples: if quick { 100 } else { 500 },
            shards: 16,
            instruction_runs: if quick { 3 } else { 5 },
            instruction_calls: if quick { 50 } else { 200 },
            json: target_dir().join("bench").join("latest.json"),
        };
        let mut drain_rtt_given = false;
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
            let numbers = |text: &str| text.split(',').map(number).collect::<Result<Vec<_>, _>>();
            let millis = |text: &str| {
                text.split(',')
                    .map(|ms| {
                        ms.parse::<f64>()
                            .ok()
                            .filter(|ms| (0.0..=10_000.0).contains(ms))
                            .ok_or_else(|| {
                                format!("`{flag} {text}`: expected milliseconds from 0 to 10000")
                            })
                    })
                    .collect::<Result<Vec<f64>, _>>()
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
                "--rtt-ms" => settings.rtt_ms = millis(value()?)?,
                "--concurrency" => settings.concurrency = numbers(value()?)?,
                "--rounds" => settings.rounds = number(value()?)?,
                "--calls" => settings.calls = number(value()?)?,
                "--path-calls" => settings.path_calls = number(value()?)?,
                "--messages" => settings.messages = numbers(value()?)?,
                "--keys" => settings.keys = number(value()?)?,
                "--sweepers" => settings.sweepers = numbers(value()?)?,
                "--drain-rtt-ms" => {
                    settings.drain_rtt_ms = millis(value()?)?;
                    drain_rtt_given = true;
                }
                "--drain-rounds" => settings.drain_rounds = number(value()?)?,
                "--marks-concurrency" => settings.marks_concurrency = numbers(value()?)?,
                "--mark-delay-ms" => {
                    settings.mark_delay_ms = millis(value()?)?
                        .into_iter()
                        .next()
                        .filter(|ms| *ms > 0.0)
                        .ok_or("`--mark-delay-ms`: one delay above 0")?;
                }
                "--idle-window" => settings.idle_window_s = number(value()?)? as u64,
                "--samples" => settings.samples = number(value()?)?,
                "--probe-samples" => settings.probe_samples = number(value()?)?,
                "--shards" => {
                    settings.shards = u16::try_from(number(value()?)?)
                        .ok()
                        .filter(|n| *n <= outbox_runtime::table::MAX_SHARDS)
                        .ok_or("`--shards`: 1 to 1024")?;
                }
                "--instruction-runs" => settings.instruction_runs = number(value()?)?,
                "--instruction-calls" => settings.instruction_calls = number(value()?)?,
                "--json" => settings.json = value()?.into(),
                other => return Err(format!("unknown flag `{other}`\n\n{USAGE}")),
            }
        }
        // `--rtt-ms` alone: the drain runs at those round trips and, for its ratio, at none.
        if !drain_rtt_given && args.iter().any(|arg| arg == "--rtt-ms") {
            settings.drain_rtt_ms = std::iter::once(0.0)
                .chain(settings.rtt_ms.iter().copied())
                .collect();
        }
        for list in [&mut settings.rtt_ms, &mut settings.drain_rtt_ms] {
            list.sort_by(f64::total_cmp);
            list.dedup();
        }
        Ok(settings)
    }

    fn runs(&self, scenario: &str) -> bool {
        self.only.iter().any(|s| s == scenario)
    }

    /// Every non-zero round trip some scenario of this run models.
    fn proxied_rtts(&self) -> Vec<f64> {
        let mut rtts: Vec<f64> = Vec::new();
        // The drain has its own list; instructions are counted on a direct connection.
        if SCENARIOS
            .iter()
            .any(|scenario| !matches!(*scenario, "drain" | "instructions") && self.runs(scenario))
        {
            rtts.extend(&self.rtt_ms);
        }
        if self.runs("drain") {
            rtts.extend(&self.drain_rtt_ms);
        }
        rtts.retain(|ms| *ms > 0.0);
        rtts.sort_by(f64::total_cmp);
        rtts.dedup();
        rtts
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
    round_trip: Vec<RoundTripRow>,
    macro_overhead: Vec<ComparisonRow>,
    requests_per_message: Vec<CostRow>,
    capacity_per_message: Vec<CostRow>,
    drain: Vec<DrainRow>,
    drain_ratios: Vec<DrainRatio>,
    idle_sweep: Vec<IdleRow>,
    latency: Vec<LatencyRow>,
    read_modify_write: Vec<ComparisonRow>,
    coalesced_marks: Vec<ComparisonRow>,
    stream_relay: Vec<StreamRelayRow>,
    consumed_costs: Vec<ConsumedCostRow>,
    consumer_inbox: Vec<ComparisonRow>,
    instructions: Option<InstructionsRow>,
    scheduled: Vec<ScheduledRow>,
    large_bodies: Vec<LargeBodyRow>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|arg| arg == PROXY_ARG) {
        return proxy_main(&args[1..]);
    }
    if args.first().is_some_and(|arg| arg == INSTRUCTIONS_ARG) {
        return scenarios::instructions_main(&args[1..]);
    }
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
    // Found missing now, not after the scenarios before it have run for half an hour.
    let others: Vec<&str> = SCENARIOS
        .into_iter()
        .filter(|scenario| *scenario != "instructions")
        .collect();
    if settings.runs("instructions")
        && let Err(err) = scenarios::check_valgrind(&others.join(","))
    {
        eprintln!("error: {err}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(settings, &args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "error: a macro handler and the hand-written one made different requests or \
                 spent different capacity units (`same requests` or `same units` above)"
            );
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The delaying proxies of a run, one per modeled round trip, and the links through them.
struct Links {
    direct: DynamoDb,
    proxies: BTreeMap<u64, Proxy>,
}

impl Links {
    fn get(&self, rtt_ms: f64) -> Link {
        match self.proxies.get(&micros(rtt_ms)) {
            Some(proxy) => Link::through(proxy, &self.direct),
            None => Link::direct(&self.direct),
        }
    }
}

fn micros(ms: f64) -> u64 {
    (ms * 1000.0).round() as u64
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
    let mut same = true;

    let program = std::env::current_exe()?;
    let start_proxy = |ms: f64| {
        Proxy::start(&program, &endpoint, Duration::from_secs_f64(ms / 1000.0))
            .map_err(|err| format!("starting the delaying proxy for {ms} ms: {err}"))
    };
    let mut links = Links {
        direct: db.clone(),
        proxies: BTreeMap::new(),
    };
    let rtts = settings.proxied_rtts();
    if !rtts.is_empty() {
        progress("0. the delaying proxy against a direct connection");
        // The proxy with no delay shows what the proxy costs by itself.
        let bare = start_proxy(0.0)?;
        report
            .round_trip
            .push(scenarios::round_trip(&db, &bare, settings.probe_samples).await?);
        drop(bare);
        for ms in rtts {
            let proxy = start_proxy(ms)?;
            report
                .round_trip
                .push(scenarios::round_trip(&db, &proxy, settings.probe_samples).await?);
            links.proxies.insert(micros(ms), proxy);
        }
        print_round_trips(&report.round_trip);
    }

    if settings.runs("overhead") {
        progress("1. macro overhead: the macro handler against the hand-written one and itself");
        for &rtt in &settings.rtt_ms {
            report.macro_overhead.extend(
                scenarios::macro_overhead(
                    &links.get(rtt),
                    &settings.concurrency,
                    settings.rounds,
                    settings.calls,
                    1,
                    &progress,
                )
                .await?,
            );
        }
        same &= report
            .macro_overhead
            .iter()
            .all(|row| row.same_requests && row.same_capacity);
        print_comparison(
            "Macro overhead (one entity and one message per call, cleanup keep; A = the macro \
             handler, B = the hand-written one, A′ = the macro handler again)",
            &report.macro_overhead,
            "requests/call",
            true,
        );
    }
    if settings.runs("requests") {
        progress("2. requests per delivered message");
        for &rtt in &settings.rtt_ms {
            report.requests_per_message.extend(
                scenarios::requests_per_message(
                    &links.get(rtt),
                    &[1, 10, 50],
                    settings.path_calls,
                    settings.shards,
                    &progress,
                )
                .await?,
            );
        }
        print_requests(&report.requests_per_message, settings.path_calls);
    }
    if settings.runs("capacity") {
        progress("3. capacity units per delivered message");
        for &rtt in &settings.rtt_ms {
            report.capacity_per_message.extend(
                scenarios::capacity_per_message(
                    &links.get(rtt),
                    &[200, 1024, 10 * 1024],
                    settings.path_calls,
                    // One message per transaction: DynamoDB Local reports a
                    // `TransactWriteItems` that writes several items to one table as if it
                    // wrote one.
                    1,
                    settings.shards,
                    &progress,
                )
                .await?,
            );
        }
        print_capacity(&report.capacity_per_message, settings.path_calls);
    }
    if settings.runs("drain") {
        progress("4. sweeper drain, against the naive sequential sweeper");
        for round in 0..settings.drain_rounds {
            for cleanup in scenarios::cleanups() {
                for &messages in &settings.messages {
                    for &rtt in &settings.drain_rtt_ms {
                        let link = links.get(rtt);
                        let relays = std::iter::once(Relay::Naive)
                            .chain(settings.sweepers.iter().map(|n| Relay::Sweepers(*n)));
                        for relay in relays {
                            report.drain.push(
                                scenarios::drain(
                                    &link,
                                    relay,
                                    round,
                                    cleanup,
                                    messages,
                                    settings.keys,
                                    settings.shards,
                                    &progress,
                                )
                                .await?,
                            );
                        }
                    }
                }
            }
        }
        report.drain_ratios = scenarios::drain_ratios(&report.drain);
        print_drain(&report.drain);
        print_drain_ratios(&report.drain_ratios);
    }
    if settings.runs("idle") {
        progress("5. idle sweep cost");
        let mut shard_counts = vec![1, settings.shards, 64];
        shard_counts.sort_unstable();
        shard_counts.dedup();
        for &rtt in &settings.rtt_ms {
            for &shards in &shard_counts {
                report.idle_sweep.push(
                    scenarios::idle_sweep(
                        &links.get(rtt),
                        shards,
                        5,
                        Duration::from_secs(settings.idle_window_s),
                    )
                    .await?,
                );
                progress(&format!("idle sweep: {shards} shards at {rtt} ms done"));
            }
        }
        print_idle(&report.idle_sweep);
    }
    if settings.runs("latency") {
        progress("6. latency of the immediate path, marks inline and in the background");
        for &rtt in &settings.rtt_ms {
            report
                .latency
                .extend(scenarios::latency(&links.get(rtt), settings.samples).await?);
            progress(&format!("latency at {rtt} ms done"));
        }
        print_latency(&report.latency, &report.round_trip);
    }
    if settings.runs("rmw") {
        progress("7. read-modify-write: the macro handler against the hand-written one and itself");
        for &rtt in &settings.rtt_ms {
            report.read_modify_write.extend(
                scenarios::read_modify_write(
                    &links.get(rtt),
                    &settings.concurrency,
                    settings.rounds,
                    settings.calls,
                    &progress,
                )
                .await?,
            );
        }
        same &= report
            .read_modify_write
            .iter()
            .all(|row| row.same_requests && row.same_capacity);
        print_comparison(
            "Read-modify-write (read the person, append a greeting, put it back under its \
             version, deposit one message; A = the macro handler, B = the hand-written one, \
             A′ = the macro handler again)",
            &report.read_modify_write,
            "requests/call",
            true,
        );
    }
    if settings.runs("marks") {
        progress("8. coalesced marks: background marks against inline ones");
        for &rtt in &settings.rtt_ms {
            report.coalesced_marks.extend(
                scenarios::coalesced_marks(
                    &links.get(rtt),
                    &settings.marks_concurrency,
                    settings.rounds,
                    settings.calls,
                    Duration::from_secs_f64(settings.mark_delay_ms / 1000.0),
                    &progress,
                )
                .await?,
            );
        }
        print_comparison(
            "Coalesced marks (N calls at once, one entity and one message each, cleanup keep; A \
             = background marks, the time ending at `flush`; B = inline marks; A′ = background \
             again)",
            &report.coalesced_marks,
            "requests/message",
            false,
        );
    }

    if settings.runs("stream") {
        progress("9. the stream relay beside the sweeper (straight to DynamoDB Local)");
        let streams_endpoint = std::env::var(outbox_tests::STREAMS_ENDPOINT_ENV)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| endpoint.clone());
        report.stream_relay = scenarios::stream_relay(
            &db,
            &streams_endpoint,
            settings.samples / 10,
            settings.messages.first().copied().unwrap_or(1000) / 10,
            Duration::from_secs(settings.idle_window_s),
            &progress,
        )
        .await?;
        print_stream_relay(&report.stream_relay);
    }

    if settings.runs("consume") {
        progress(
            "10. the consumer side: a consumer handler with its inbox record against one without",
        );
        for &rtt in &settings.rtt_ms {
            let link = links.get(rtt);
            report
                .consumed_costs
                .extend(scenarios::consumed_costs(&link, settings.path_calls * 10).await?);
            report.consumer_inbox.extend(
                scenarios::consume(
                    &link,
                    &settings.concurrency,
                    settings.rounds,
                    settings.calls,
                    &progress,
                )
                .await?,
            );
        }
        print_consumed_costs(&report.consumed_costs);
        print_comparison(
            "Consumer handler (one ADD to a counts item per message; A = with its inbox record, \
             B = the same writes without it; A′ = with the inbox again)",
            &report.consumer_inbox,
            "requests/message",
            true,
        );
    }

    if settings.runs("instructions") {
        progress(
            "11. instructions per call: the macro handler against the hand-written one and \
             itself, under callgrind",
        );
        let row = scenarios::instructions(
            &program,
            &endpoint,
            settings.instruction_runs,
            settings.instruction_calls,
            &target_dir().join("bench").join("callgrind"),
            &progress,
        )
        .await?;
        print_instructions(&row);
        report.instructions = Some(row);
    }

    if settings.runs("scheduled") {
        progress("12. messages due later: how late they go, and a pass over many due tomorrow");
        let (seconds, tomorrow) = if settings.quick {
            (5, 1000)
        } else {
            (20, 10_000)
        };
        for &rtt in &settings.rtt_ms {
            let link = links.get(rtt);
            report.scheduled.push(
                scenarios::scheduled(&link, settings.shards, 100, seconds, tomorrow, 5, &progress)
                    .await?,
            );
        }
        print_scheduled(&report.scheduled);
    }

    if settings.runs("large") {
        progress("13. large bodies: 1 KB to 1 MiB of JSON, compressed and in S3 against plain");
        for &rtt in &settings.rtt_ms {
            let link = links.get(rtt);
            report.large_bodies.extend(
                scenarios::large_bodies(&link, settings.rounds, settings.calls / 3, &progress)
                    .await?,
            );
        }
        print_large_bodies(&report.large_bodies);
    }

    report.seconds = started.elapsed().as_secs_f64();
    let json = settings.json.clone();
    report.settings = Some(settings);
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")?;
    progress(&format!("figures written to {}", json.display()));
    Ok(same)
}

fn print_round_trips(rows: &[RoundTripRow]) {
    println!(
        "\n#### The delaying proxy (`ListTables` of one table, one request at a time, \
         alternately straight and through the proxy; then {} at once)\n",
        rows.first().map_or(0, |row| row.at_once)
    );
    println!(
        "| modeled round trip ms | direct p50 / p99 ms | proxied p50 / p99 ms | added at p50 ms \
         | proxy CPU µs/request | at once, direct ms | at once, proxied ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {:.3} / {:.3} | {:.3} / {:.3} | {:.3} | {:.0} | {:.1} | {:.1} |",
            row.rtt_ms,
            row.direct.p50_ms,
            row.direct.p99_ms,
            row.proxied.p50_ms,
            row.proxied.p99_ms,
            row.added_p50_ms,
            row.proxy_cpu_us_per_request,
            row.at_once_direct_ms,
            row.at_once_proxied_ms,
        );
    }
    println!(
        "\nThe row at 0 ms is the proxy without delay: what it costs by itself. Requests sent \
         at once overlap when the proxied time is about one round trip above the direct one."
    );
    println!();
}

fn print_comparison(title: &str, rows: &[ComparisonRow], requests: &str, same: bool) {
    println!("\n#### {title}\n");
    println!(
        "Ratios are per round, A over B and A over A′: median and its 95 % interval. The A/A \
         interval is the noise floor; a difference inside it is not resolved.\n"
    );
    let sames = if same {
        " same requests | same units |"
    } else {
        ""
    };
    println!(
        "| rtt ms | concurrency | A calls/s | B calls/s | throughput A/B | throughput A/A′ | A \
         CPU µs/call | B CPU µs/call | CPU A/B | CPU A/A′ | {requests} A | {requests} B |{sames}"
    );
    println!(
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|{}",
        if same { ":---|:---|" } else { "" }
    );
    let yes = |ok: bool| if ok { "yes" } else { "NO" };
    for row in rows {
        let sames = if same {
            format!(" {} | {} |", yes(row.same_requests), yes(row.same_capacity))
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {} | {} | {:.0} | {:.0} | {} | {} | {:.2} | {:.2} |{sames}",
            row.rtt_ms,
            row.concurrency,
            row.a_calls_per_s,
            row.b_calls_per_s,
            row.throughput_ratio.show(),
            row.aa_throughput_ratio.show(),
            row.a_cpu_us_per_call,
            row.b_cpu_us_per_call,
            row.cpu_ratio.show(),
            row.aa_cpu_ratio.show(),
            row.a_requests_per_call,
            row.b_requests_per_call,
        );
    }
    if let Some(row) = rows.first() {
        println!(
            "\n{} rounds of {} calls per side; CPU is the bench process's user and system time \
             (DynamoDB Local and the proxy run in processes of their own).",
            row.rounds, row.calls_per_round
        );
    }
    println!();
}

fn print_instructions(row: &InstructionsRow) {
    println!(
        "\n#### Client instructions per call (callgrind; one entity and one message per call, \
         one call at a time; A = the macro handler, B = the hand-written one, A′ = the macro \
         handler again)\n"
    );
    println!("| A instructions/call | B instructions/call | A′ instructions/call | A/B | A/A′ |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {:.0} | {:.0} | {:.0} | {} | {} |",
        row.a_per_call.median,
        row.b_per_call.median,
        row.a_again_per_call.median,
        row.ratio.show(),
        row.aa_ratio.show(),
    );
    println!(
        "\n{} runs of {} counted calls per side, each side in a process of its own under \
         callgrind after {} uncounted calls; ratios are per run (median and its interval, here \
         the range). The profiles are in {} (`callgrind_annotate <file>` lists where the \
         instructions went).\n",
        row.runs,
        row.calls_per_run,
        scenarios::INSTRUCTION_WARM_UP_CALLS,
        row.profiles.display(),
    );
}

fn print_requests(rows: &[CostRow], calls: usize) {
    println!(
        "\n#### Requests per delivered message ({calls} handler calls per row, each putting one \
         entity and depositing N messages; on the sweeper path, then one pass over {} shards)\n",
        rows.first().map_or(0, |row| row.shards)
    );
    println!("| rtt ms | path | cleanup | N | requests/message | every request of the row |");
    println!("|---:|:---|:---|---:|---:|:---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {:.2} | {} |",
            row.rtt_ms,
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
        "| rtt ms | body | cleanup | path | units/message | written | read | of which index | \
         requests without a figure |"
    );
    println!("|---:|---:|:---|:---|---:|---:|---:|---:|:---|");
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
            "| {} | {} B | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            row.rtt_ms,
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
         to back; `naive` is the sequential baseline; the backlog filled through a direct \
         connection before the clock starts)\n"
    );
    println!(
        "| relay | sweepers | rtt ms | cleanup | messages | keys | round | seconds | messages/s \
         | requests/message | units/message |"
    );
    println!("|:---|---:|---:|:---|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.0} | {:.3} | {:.2} |",
            row.relay,
            row.sweepers,
            row.rtt_ms,
            row.cleanup,
            row.messages,
            row.keys,
            row.round + 1,
            row.seconds,
            row.messages_per_s,
            row.requests_per_message,
            row.capacity_per_message
        );
    }
    println!();
}

fn print_drain_ratios(rows: &[DrainRatio]) {
    println!(
        "\n#### Drain ratios (messages/s over messages/s, paired by round: median and its \
         interval; targets for one sweeper: at 5 ms at least 0.85 × no delay, at 20 ms at least \
         4 × the naive sweeper)\n"
    );
    println!("| cleanup | messages | sweepers | rtt ms | against | ratio | target |");
    println!("|:---|---:|---:|---:|:---|---:|:---|");
    for row in rows {
        let target = match (row.sweepers, row.against, micros(row.rtt_ms)) {
            (1, "no delay", 5_000) => Some(0.85),
            (1, "naive", 20_000) => Some(4.0),
            _ => None,
        };
        let target = target.map_or_else(String::new, |at_least| {
            format!(
                "≥ {at_least}: {}",
                if row.ratio.median >= at_least {
                    "met"
                } else {
                    "not met"
                }
            )
        });
        println!(
            "| {} | {} | {} | {} | {} | {} | {target} |",
            row.cleanup,
            row.messages,
            row.sweepers,
            row.rtt_ms,
            row.against,
            row.ratio.show(),
        );
    }
    println!();
}

fn print_scheduled(rows: &[ScheduledRow]) {
    println!(
        "\n#### Messages due later (the default sweeper: a pass a second, min_age 10 s; \
         messages falling due at a steady rate, each timed from its due time to the producer; \
         passes over an outbox of messages due tomorrow, an empty one the baseline)\n"
    );
    println!(
        "| rtt ms | shards | due/s | timed | interval ms | due to sent p50 ms | p99 ms | due \
         tomorrow | requests/pass | items read/pass | empty: requests/pass | empty: items \
         read/pass |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            row.rtt_ms,
            row.shards,
            row.rate_per_s,
            row.timed,
            row.interval_ms,
            row.due_to_sent.p50_ms,
            row.due_to_sent.p99_ms,
            row.due_tomorrow,
            row.requests_per_pass,
            row.items_read_per_pass,
            row.empty_requests_per_pass,
            row.empty_items_read_per_pass
        );
    }
    println!();
}

fn print_large_bodies(rows: &[LargeBodyRow]) {
    println!(
        "\n#### Large bodies (JSON order documents from the fixed corpus, one message a call on \
         the immediate path, 4 calls at once, `Cleanup::Delete`; each side against plain bodies \
         (B) in the same rounds, and against itself (A′); write units per message: commit, index \
         entry and delete)\n"
    );
    println!(
        "| body | side | stored | write units | plain write units | units / plain | CPU µs/call \
         | plain CPU µs/call | CPU A/B | CPU A/A′ | throughput A/B | throughput A/A′ |"
    );
    println!("|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let plain_units = row
            .plain_write_units
            .map_or("does not fit".to_owned(), |plain| format!("{plain:.1}"));
        let sides = [
            (
                "compressed (above 512 B)",
                format!("{} B", row.stored_bytes),
                row.compressed_write_units,
                row.compressed_cpu_us_per_call,
                &row.comparison,
            ),
            (
                "in S3 (claim check)",
                "a reference".to_owned(),
                row.claimed_write_units,
                row.claimed_cpu_us_per_call,
                &row.claimed_comparison,
            ),
        ];
        for (side, stored, units, cpu, comparison) in sides {
            let ratio = row
                .plain_write_units
                .map_or("–".to_owned(), |plain| format!("{:.3}", units / plain));
            let compare = |show: &dyn Fn(&ComparisonRow) -> String| {
                comparison.as_ref().map_or("–".to_owned(), show)
            };
            println!(
                "| {} KB | {side} | {stored} | {units:.1} | {plain_units} | {ratio} | {cpu:.0} | {} \
                 | {} | {} | {} | {} |",
                row.body_bytes / 1024,
                compare(&|c| format!("{:.0}", c.b_cpu_us_per_call)),
                compare(&|c| c.cpu_ratio.show()),
                compare(&|c| c.aa_cpu_ratio.show()),
                compare(&|c| c.throughput_ratio.show()),
                compare(&|c| c.aa_throughput_ratio.show()),
            );
        }
    }
    println!(
        "\nCPU is the bench process's: compression, and for the claim check its S3 put (to moto \
         on loopback) with the checksum; the in-memory producer encodes nothing for a wire. \
         DynamoDB Local reports the capacity of every request here.\n"
    );
}

fn print_idle(rows: &[IdleRow]) {
    println!(
        "\n#### Idle sweep (nothing outstanding; per minute: default settings, a pass a second \
         and leases of 30 s, lease upkeep measured ten times faster)\n"
    );
    println!(
        "| rtt ms | shards | requests/pass | items read/pass | units/pass | first pass of a \
         sweeper | requests/min | of which leases | items read/min | units/min |"
    );
    println!("|---:|---:|---:|---:|---:|:---|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.1} | {} | {:.0} | {:.0} | {:.0} | {:.1} |",
            row.rtt_ms,
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

fn print_latency(rows: &[LatencyRow], round_trips: &[RoundTripRow]) {
    let mut rtts: Vec<f64> = rows.iter().map(|row| row.rtt_ms).collect();
    rtts.dedup();
    for rtt in rtts {
        let modes: Vec<&LatencyRow> = rows.iter().filter(|row| row.rtt_ms == rtt).collect();
        let measured = round_trips
            .iter()
            .find(|row| micros(row.rtt_ms) == micros(rtt) && rtt > 0.0)
            .map_or_else(String::new, |row| {
                format!(
                    "; a request through the proxy takes {:.3} ms at p50",
                    row.proxied.p50_ms
                )
            });
        println!(
            "\n#### Latency of the immediate path at {rtt} ms ({} calls one at a time, one \
             entity and one message each{measured})\n",
            modes.first().map_or(0, |row| row.samples)
        );
        let header: Vec<String> = modes
            .iter()
            .map(|row| format!("{0} p50 ms | {0} p99 ms", row.mark_mode))
            .collect();
        println!("| measure | {} |", header.join(" | "));
        println!("|:---|{}", "---:|---:|".repeat(modes.len()));
        let line = |name: &str, pick: fn(&LatencyRow) -> Percentiles| {
            let cells: Vec<String> = modes
                .iter()
                .map(|row| {
                    let p = pick(row);
                    format!("{:.3} | {:.3}", p.p50_ms, p.p99_ms)
                })
                .collect();
            println!("| {name} | {} |", cells.join(" | "));
        };
        line("commit to send", |row| row.commit_to_send);
        line("  the commit (TransactWriteItems)", |row| row.commit);
        line("  after the commit, to the producer", |row| {
            row.after_commit
        });
        line("producer send alone", |row| row.producer_send);
        line("whole handler call", |row| row.handler_call);
        println!(
            "\nWith inline marks the handler call includes the mark request; with background \
             marks it ends after the send."
        );
        println!();
    }
}

fn print_consumed_costs(rows: &[ConsumedCostRow]) {
    println!(
        "\n#### DynamoDB cost of a consumed message (the handler called directly; SQS receives \
         and deletes are not counted)\n"
    );
    println!(
        "| delivery | messages | requests/message | write units/message | read units/message | \
         answers without units |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {} |",
            row.delivery,
            row.messages,
            row.requests_per_message,
            row.write_capacity_per_message,
            row.read_capacity_per_message,
            row.unreported_requests,
        );
    }
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
