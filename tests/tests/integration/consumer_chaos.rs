//! The consumer side under faults, against DynamoDB Local and moto (see
//! `outbox_tests::chaos::consumer`): a queue of a few hundred outbox messages, some sent twice,
//! drained by consumer processes that are killed with SIGKILL and that die between the commit
//! and the delete; every effect read back from DynamoDB is applied exactly once.

use std::path::Path;
use std::time::Duration;

use outbox_tests::chaos::{self, ConsumerChaosConfig};
use outbox_tests::dynamodb;
use outbox_tests::moto::moto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_killed_and_dying_between_commit_and_delete_apply_every_message_exactly_once() {
    let db = dynamodb().await;
    let moto = moto().await;
    let config = ConsumerChaosConfig {
        messages: 300,
        duplicate_percent: 5,
        consumers: 3,
        kills: 2,
        die_every: 25,
        seed: 91,
        // A failure guard only: the run takes seconds.
        timeout: Duration::from_secs(600),
        ..ConsumerChaosConfig::default()
    };
    let report = chaos::run_consumer_side(
        &db,
        &moto,
        &config,
        Path::new(env!("CARGO_BIN_EXE_chaos")),
        Path::new(env!("CARGO_TARGET_TMPDIR")),
    )
    .await;
    println!("{report}");

    assert_eq!(report.violations(), Vec::<String>::new(), "\n{report}");
    assert!(report.lost.is_empty(), "{report}");
    assert!(report.applied_twice.is_empty(), "{report}");
    assert_eq!(report.applied_once, 300, "{report}");
    assert_eq!(report.inbox_recorded, 300, "{report}");
    assert_eq!(report.duplicates_injected, 15, "{report}");
    // The kills happen at counts of handlings the drain always reaches.
    assert_eq!(report.kills.len(), 2, "{report}");
    // Each process dies after at most 2 * 25 - 1 Oks; without a death after an Ok, the five
    // processes of the first ones and the SIGKILLs' replacements would record at most
    // 5 * 48 = 240 Oks, fewer than the 315 copies the drain deletes.
    assert!(report.dying >= 1, "{report}");
    assert!(
        report.duplicates_absorbed >= report.duplicates_required
            && report.duplicates_required >= report.duplicates_injected,
        "{report}"
    );
}
