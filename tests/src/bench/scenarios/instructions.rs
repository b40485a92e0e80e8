//! Scenario 11, instructions per call: the client instructions one call of the macro handler
//! executes against the hand-written one's (and against itself, the A/A row), counted by
//! valgrind's callgrind.
//!
//! Times on a shared virtual machine drift by several per cent between two runs of the same
//! code; an instruction count does not. Each side runs in a process of its own, the bench binary
//! again under `valgrind --tool=callgrind` (with [`INSTRUCTIONS_ARG`]), on a single-threaded
//! runtime: it makes its tables and warms up uncounted, then makes its calls one after another
//! inside [`counted_calls`], the only function whose instructions callgrind collects
//! (`--toggle-collect`). What the count covers is everything the client's thread executes for
//! those calls: the handler, the SDK, serialization, signing, HTTP, the runtime's polling and
//! the user-space side of its system calls; DynamoDB Local's work is not in it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;

use outbox_runtime::{DynamoDb, OutboxConfig};
use serde::Serialize;

use super::compare::{Side, Spread};
use super::measure::{Progress, ratios};
use super::overhead::run_side;
use crate::bench::{BoxError, Rig};

/// The first argument that makes the bench binary one counted side (started by
/// [`instructions`], under callgrind).
pub const INSTRUCTIONS_ARG: &str = "__count-instructions";

/// The function whose instructions callgrind collects; its name is the `--toggle-collect`
/// pattern.
const COUNTED_FUNCTION: &str = "*counted_calls*";

/// Calls each side makes before counting starts: connections, lazily built clients and caches.
pub const INSTRUCTION_WARM_UP_CALLS: usize = 20;

/// Instructions per call of the macro handler (A), the hand-written one (B) and the macro
/// handler again (A′), one message and one entity per call, one call at a time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstructionsRow {
    /// What side A is.
    pub a: String,
    /// What side B is.
    pub b: String,
    /// Runs, each counting A, B and A′ in processes of their own.
    pub runs: usize,
    /// Counted calls per side per run.
    pub calls_per_run: usize,
    /// A's instructions per call, over runs.
    pub a_per_call: Spread,
    /// B's instructions per call, over runs.
    pub b_per_call: Spread,
    /// A′'s instructions per call, over runs.
    pub a_again_per_call: Spread,
    /// A's count over B's, per run.
    pub ratio: Spread,
    /// A's count over A′'s, per run: how far two counts of the same code fall apart.
    pub aa_ratio: Spread,
    /// Where callgrind's profiles were written (`callgrind_annotate` reads them).
    pub profiles: PathBuf,
}

/// Checks that valgrind can be started, before a long run gets as far as this scenario.
/// `others` lists the other scenarios, for the `--only` that leaves this one out.
///
/// # Errors
/// What to install, or how to leave the scenario out.
pub fn check_valgrind(others: &str) -> Result<(), String> {
    match Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!(
            "`valgrind --version` failed ({status}); the `instructions` scenario counts \
             instructions with valgrind's callgrind: repair the valgrind install, or leave the \
             scenario out with `--only {others}`"
        )),
        Err(err) => Err(format!(
            "cannot start `valgrind` ({err}); the `instructions` scenario counts instructions \
             with valgrind's callgrind: install it (`apt-get install valgrind`), or leave the \
             scenario out with `--only {others}`"
        )),
    }
}

/// Scenario 11: `runs` runs, each starting `program` (the bench binary) under callgrind once
/// per side (A, B, A′, reversed in odd runs), each making `calls` counted calls against the
/// DynamoDB at `endpoint`; profiles go to `profiles`.
///
/// # Errors
/// A side that failed, or a profile without a count.
pub async fn instructions(
    program: &Path,
    endpoint: &str,
    runs: usize,
    calls: usize,
    profiles: &Path,
    progress: Progress<'_>,
) -> Result<InstructionsRow, BoxError> {
    std::fs::create_dir_all(profiles)
        .map_err(|err| format!("cannot make {}: {err}", profiles.display()))?;
    let mut counts: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for run in 0..runs {
        let order = if run % 2 == 0 {
            [Side::A, Side::B, Side::AAgain]
        } else {
            [Side::AAgain, Side::B, Side::A]
        };
        for side in order {
            let profile = profiles.join(format!("{}-{run}.out", side_name(side)));
            let command = counting_command(program, endpoint, side, calls, &profile);
            let total = tokio::task::spawn_blocking(move || count_side(command, &profile))
                .await
                .map_err(|err| format!("the counted side panicked: {err}"))??;
            counts[side as usize].push(total as f64 / calls as f64);
        }
        progress(&format!(
            "instructions: run {}/{runs}: macro {:.0} a call, hand-written {:.0}, macro again \
             {:.0}",
            run + 1,
            counts[0][run],
            counts[1][run],
            counts[2][run],
        ));
    }
    Ok(InstructionsRow {
        a: side_name(Side::A).to_owned(),
        b: side_name(Side::B).to_owned(),
        runs,
        calls_per_run: calls,
        a_per_call: Spread::of(&counts[0]),
        b_per_call: Spread::of(&counts[1]),
        a_again_per_call: Spread::of(&counts[2]),
        ratio: Spread::of(&ratios(&counts[0], &counts[1])),
        aa_ratio: Spread::of(&ratios(&counts[0], &counts[2])),
        profiles: profiles.to_owned(),
    })
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::A => "macro",
        Side::B => "hand-written",
        Side::AAgain => "macro-again",
    }
}

fn counting_command(
    program: &Path,
    endpoint: &str,
    side: Side,
    calls: usize,
    profile: &Path,
) -> Command {
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect={COUNTED_FUNCTION}"))
        .arg(format!("--callgrind-out-file={}", profile.display()))
        .arg("--quiet")
        .arg(program)
        .args([
            INSTRUCTIONS_ARG,
            side_name(side),
            &calls.to_string(),
            endpoint,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs one counted side and reads the instructions callgrind collected.
fn count_side(mut command: Command, profile: &Path) -> Result<u64, BoxError> {
    let output = command
        .output()
        .map_err(|err| format!("cannot start valgrind: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "a counted side under callgrind failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        )
        .into());
    }
    let text = std::fs::read_to_string(profile)
        .map_err(|err| format!("callgrind wrote no profile at {}: {err}", profile.display()))?;
    collected_instructions(&text).ok_or_else(|| {
        format!(
            "the callgrind profile {} holds no instruction count (no `summary:` or `totals:` \
             line); was `{COUNTED_FUNCTION}` ever entered?",
            profile.display()
        )
        .into()
    })
}

/// The instructions a callgrind profile collected: its `summary:` line (or `totals:`), whose
/// first event is `Ir`. Zero means the counted function never ran: no count.
fn collected_instructions(profile: &str) -> Option<u64> {
    let line = profile
        .lines()
        .find(|line| line.starts_with("summary:"))
        .or_else(|| profile.lines().find(|line| line.starts_with("totals:")))?;
    let total: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    (total > 0).then_some(total)
}

/// The counted side, in the process callgrind runs: `<side> <calls> <endpoint>`.
pub fn instructions_main(args: &[String]) -> ExitCode {
    match count_in_process(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn count_in_process(args: &[String]) -> Result<(), BoxError> {
    let [side, calls, endpoint] = args else {
        return Err(format!(
            "usage: bench {INSTRUCTIONS_ARG} <macro|hand-written|macro-again> <calls> <endpoint>"
        )
        .into());
    };
    let side = [Side::A, Side::B, Side::AAgain]
        .into_iter()
        .find(|s| side_name(*s) == side)
        .ok_or_else(|| {
            format!("unknown side `{side}`; expected macro, hand-written or macro-again")
        })?;
    let calls: usize = calls.parse()?;
    // One thread: every instruction of a call runs inside `counted_calls`, on this thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let db = DynamoDb::local(endpoint);
    let rig = Arc::new(runtime.block_on(Rig::new(&db, OutboxConfig::default()))?);
    let warm_up = run_side(&rig, side, "warm", 1, INSTRUCTION_WARM_UP_CALLS, 1);
    let counted = runtime
        .block_on(warm_up)
        .and_then(|_| counted_calls(&runtime, &rig, side, calls));
    // The tables go whether or not the calls succeeded.
    if let Ok(rig) = Arc::try_unwrap(rig) {
        runtime.block_on(rig.drop_tables(&db));
    }
    counted
}

/// The calls whose instructions are counted: callgrind collects from entering this function
/// to leaving it.
#[inline(never)]
fn counted_calls(
    runtime: &tokio::runtime::Runtime,
    rig: &Arc<Rig>,
    side: Side,
    calls: usize,
) -> Result<(), BoxError> {
    // No closure in here: its symbol would match the toggle pattern too and switch counting
    // off inside it.
    runtime.block_on(run_side(rig, side, "counted", 1, calls, 1))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::collected_instructions;

    #[test]
    fn the_count_is_the_summary_lines_first_event() {
        let profile = "version: 1\nevents: Ir\nsummary: 123456\ntotals: 123456\n";
        assert_eq!(collected_instructions(profile), Some(123_456));
        assert_eq!(
            collected_instructions("events: Ir\ntotals: 42 7\n"),
            Some(42)
        );
        assert_eq!(collected_instructions("events: Ir\nsummary: 0\n"), None);
        assert_eq!(collected_instructions("events: Ir\n"), None);
    }
}
