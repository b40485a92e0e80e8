//! Sweepers as processes of their own, one killed (see `outbox_tests::chaos::processes`): a
//! committed backlog drained by three sweeper processes, the first killed with SIGKILL mid-run;
//! everything is delivered, nothing phantom, the killed one's shards are taken over, and every
//! duplicate was first sent by the killed sweeper within a lease before it died.

use std::path::Path;
use std::time::Duration;

use outbox_tests::chaos::processes::{self, ProcessesConfig};
use outbox_tests::dynamodb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeper_processes_with_one_killed_deliver_everything_and_explain_every_duplicate() {
    let db = dynamodb().await;
    let config = ProcessesConfig {
        // Enough that the killed sweeper dies with messages of its shards still outstanding,
        // a ninth of the way through the backlog.
        commands: 4000,
        // Longer than the default 2 s: a busy machine (the rest of the suite runs beside this)
        // must not make a live sweeper's renewal late enough to lose its shards.
        lease_duration: Duration::from_secs(4),
        seed: 17,
        ..ProcessesConfig::default()
    };
    let report = processes::run(
        &db,
        &config,
        Path::new(env!("CARGO_BIN_EXE_chaos")),
        Path::new(env!("CARGO_TARGET_TMPDIR")),
    )
    .await;
    println!("{report}");

    assert_eq!(report.violations(), Vec::<String>::new(), "\n{report}");
    assert_eq!(report.check.delivered, 4000, "{report}");
    assert!(report.check.lost.is_empty(), "{report}");
    assert!(report.check.phantom.is_empty(), "{report}");
    let (_, sends_before_kill) = report.killed.clone().expect("the first sweeper was killed");
    assert!(sends_before_kill > 0, "{report}");
    assert!(
        !report.taken_over.is_empty() && report.taken_over.values().all(Option::is_some),
        "every shard of the killed sweeper has a new owner: {report}"
    );
}
