//! `cargo xtask bench`: build the benchmark binary of `outbox-tests` with the `bench-fast`
//! profile (or, with `--release`, the release one), start DynamoDB Local (or use `AWS_ENDPOINT_URL_DYNAMODB`), run the scenarios, stop
//! what was started, then run the codec micro-benchmark (criterion) and add its figures to the
//! JSON. A modeled round trip (`--rtt-ms`, `--drain-rtt-ms`) needs nothing from here: the
//! benchmark binary starts its delaying proxies itself, as processes of its own that end with
//! it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::Result;
use crate::paths::target_dir;
use crate::services::{LocalServices, cargo, step};

/// The cargo profile the benchmarks are built with by default (see the root `Cargo.toml`).
const PROFILE: &str = "bench-fast";

const USAGE: &str = "\
usage: cargo xtask bench [--skip-codec] [--release] [flags of the benchmark binary]

  --skip-codec            do not run the codec micro-benchmark (criterion)
  --release               build with the release profile (opt-level 3, as users ship) instead
                          of `bench-fast` (opt-level 1, which builds the SDK in a fraction of
                          the time); instruction counts depend on it

the benchmark binary's flags:";

/// The benchmark binary's flags, printed by `--help` without building anything.
const FLAGS: &str = include_str!("../../tests/src/bin/bench_usage.txt");

/// Runs the benchmarks; `args` go to the benchmark binary, except `--skip-codec` and
/// `--release`.
pub(crate) fn run(args: &[&str]) -> Result<ExitCode> {
    let skip_codec = args.contains(&"--skip-codec");
    let profile = if args.contains(&"--release") {
        "release"
    } else {
        PROFILE
    };
    let quick = args.contains(&"--quick");
    if args.iter().any(|arg| matches!(*arg, "--help" | "-h")) {
        println!("{USAGE}\n{FLAGS}");
        return Ok(ExitCode::SUCCESS);
    }
    check_valgrind(args)?;
    let bench_args: Vec<&str> = args
        .iter()
        .copied()
        .filter(|arg| !matches!(*arg, "--skip-codec" | "--release"))
        .collect();

    step(&format!(
        "building the benchmarks (profile `{profile}`; the first build takes several minutes)"
    ));
    let mut build = cargo();
    build.args([
        "build",
        "--profile",
        profile,
        "-p",
        "outbox-tests",
        "--bin",
        "bench",
    ]);
    run_cargo(build)?;
    let binary = target_dir().join(profile).join("bench");
    if !skip_codec {
        let mut build = cargo();
        build.args(codec_args(profile)).arg("--no-run");
        run_cargo(build)?;
    }

    // DynamoDB Local, and moto for the claim check's S3 (scenario 13).
    let services = LocalServices::start()?;
    step("running the scenarios");
    let mut command = Command::new(&binary);
    command.args(&bench_args);
    let (status, printed) = services.run_child_keeping_output(command)?;
    services.stop()?;
    if !status.success() {
        eprintln!("==> the benchmarks failed ({status})");
        return Ok(exit_code(status.code()));
    }
    let mut results = printed;

    if !skip_codec {
        step("running the codec micro-benchmark (criterion)");
        let mut command = cargo();
        command
            .args(codec_args(profile))
            .env("CRITERION_HOME", criterion_home())
            .arg("--");
        if quick {
            command.args(["--warm-up-time", "1", "--measurement-time", "2"]);
        }
        run_cargo(command)?;
        results.push_str(&report_codec(&json_path(&bench_args))?);
    }
    let file = write_results(args, &json_path(&bench_args), &results)?;
    step(&format!(
        "benchmarks done; the figures are in {}",
        file.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// The `instructions` scenario (in every run without `--only`) runs under valgrind: found
/// missing before a build of several minutes, not after it.
fn check_valgrind(args: &[&str]) -> Result<()> {
    let only = args
        .windows(2)
        .find(|pair| pair[0] == "--only")
        .map(|pair| pair[1]);
    if only.is_some_and(|list| !list.split(',').any(|s| s == "instructions")) {
        return Ok(());
    }
    let found = Command::new("valgrind")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        return Ok(());
    }
    Err(
        "the `instructions` scenario (part of every run without `--only`) counts instructions \
         with valgrind's callgrind, and `valgrind --version` did not run: install it \
         (`apt-get install valgrind`), or name the scenarios you want with `--only` (`cargo \
         xtask bench --help` lists them)"
            .into(),
    )
}

fn codec_args(profile: &str) -> [&str; 7] {
    [
        "bench",
        "--profile",
        profile,
        "-p",
        "outbox-tests",
        "--bench",
        "codec",
    ]
}

fn criterion_home() -> PathBuf {
    target_dir().join("criterion")
}

/// The JSON the benchmark binary wrote: its `--json`, or its default.
fn json_path(args: &[&str]) -> PathBuf {
    args.windows(2)
        .find(|pair| pair[0] == "--json")
        .map_or_else(
            || target_dir().join("bench").join("latest.json"),
            |pair| PathBuf::from(pair[1]),
        )
}

fn run_cargo(mut command: Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .map_err(|err| format!("cannot run {shown}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status}); its output above says why").into())
    }
}

fn exit_code(code: Option<i32>) -> ExitCode {
    ExitCode::from(
        code.and_then(|code| u8::try_from(code).ok())
            .unwrap_or(1)
            .max(1),
    )
}

/// The results file of the last run, in the repository, that the README links: the figures as
/// the run printed them, under the command, the date, the machine and the emulator version.
fn write_results(args: &[&str], json: &Path, printed: &str) -> Result<PathBuf> {
    let report: serde_json::Value = std::fs::read_to_string(json)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let machine = &report["machine"];
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |date| date.trim().to_owned());
    let header = format!(
        "# Benchmark results\n\n\
         Written by `cargo xtask bench{args}` on {date}, on {cpus} CPUs ({model}) with {memory} \
         GiB, against {emulator} ({endpoint}). Times and rates depend on the machine and the \
         emulator: compare the ratios of one run, each beside its A/A row (the same code against \
         itself), never figures of two runs. Requests and capacity units do not depend on the \
         machine; the tests assert them (`tests/tests/integration/costs.rs`).\n\n\
         The raw figures of this run: `{json}`.\n",
        args = args.iter().map(|arg| format!(" {arg}")).collect::<String>(),
        cpus = machine["cpus"],
        model = machine["cpu_model"].as_str().unwrap_or("unknown model"),
        memory = machine["memory_gib"],
        emulator = if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some() {
            "the DynamoDB named by AWS_ENDPOINT_URL_DYNAMODB"
        } else {
            <crate::DynamoDbLocal as crate::LocalServer>::NAME_VERSION
        },
        endpoint = machine["endpoint"].as_str().unwrap_or("unknown endpoint"),
        json = json
            .strip_prefix(crate::paths::workspace_root())
            .unwrap_or(json)
            .display(),
    );
    let dir = crate::paths::workspace_root().join("results");
    std::fs::create_dir_all(&dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let file = dir.join("bench.md");
    std::fs::write(&file, format!("{header}\n{printed}"))
        .map_err(|err| format!("cannot write {}: {err}", file.display()))?;
    Ok(file)
}

/// Reads criterion's estimates of the codec benchmarks, prints them as a table, adds them to
/// the benchmarks' JSON under `codec`, and returns the table.
fn report_codec(json: &Path) -> Result<String> {
    let group = criterion_home().join("codec");
    let mut found = Vec::new();
    collect_estimates(&group, &group, &mut found)?;
    // Encoding first, then decoding; derive before hand-written.
    found.sort_by_key(|(name, _)| (!name.starts_with("encode"), name.clone()));
    if found.is_empty() {
        return Err(format!(
            "criterion wrote no estimates under {}; run `cargo bench --profile {PROFILE} -p \
             outbox-tests --bench codec` to see why",
            group.display()
        )
        .into());
    }
    let mut rows = serde_json::Map::new();
    let mut table = String::from(
        "\n#### Message encode and decode (criterion, mean per message)\n\n\
         | benchmark | mean ns | median ns |\n|:---|---:|---:|\n",
    );
    for (name, estimates) in found {
        let text = std::fs::read_to_string(&estimates)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|err| format!("{} is not JSON: {err}", estimates.display()))?;
        let point = |what: &str| value[what]["point_estimate"].as_f64().unwrap_or(f64::NAN);
        table.push_str(&format!(
            "| {name} | {:.0} | {:.0} |\n",
            point("mean"),
            point("median")
        ));
        rows.insert(
            name,
            serde_json::json!({ "mean_ns": point("mean"), "median_ns": point("median") }),
        );
    }
    println!("{table}");
    let mut report: serde_json::Value = match std::fs::read_to_string(json) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({})),
        Err(_) => serde_json::json!({}),
    };
    report["codec"] = serde_json::Value::Object(rows);
    std::fs::write(json, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("codec figures added to {}", json.display());
    Ok(table)
}

/// Every `<bench>/new/estimates.json` under `dir`, named by its path below `root`.
fn collect_estimates(root: &Path, dir: &Path, found: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        let estimates = path.join("new").join("estimates.json");
        if estimates.is_file() {
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            found.push((name, estimates));
        } else if path.file_name().is_some_and(|name| name != "report") {
            collect_estimates(root, &path, found)?;
        }
    }
    Ok(())
}
