//! The outbox's promises under faults, checked on runs of 1,000 handled commands against
//! DynamoDB Local: faults before the commit, between commit and send, between send and mark, an
//! intermittently failing transport, a sweeper killed mid-run, and DynamoDB Local itself killed
//! and restarted on its data (see `outbox_tests::chaos`).

use outbox_tests::chaos::{self, ChaosConfig, CommandFault, DuplicateCause};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_commands_under_faults_lose_nothing_and_deliver_nothing_rolled_back() {
    let config = ChaosConfig::default();
    let report = chaos::run(&config).await;
    println!("{report}");

    assert_eq!(report.violations(), Vec::<String>::new(), "\n{report}");
    assert_eq!(report.commands, 1000);
    assert!(report.lost.is_empty() && report.phantom.is_empty());
    // Every kind of fault struck, so each promise was actually put to the test.
    for fault in [
        CommandFault::ErrorBeforeCommit,
        CommandFault::PanicBeforeCommit,
        CommandFault::CancelledBeforeCommit,
        CommandFault::CommitRefused,
        CommandFault::CrashAfterCommit,
        CommandFault::CrashAfterSend,
    ] {
        assert!(
            report.faults.get(&fault).copied().unwrap_or(0) > 0,
            "{fault:?} never struck\n{report}"
        );
    }
    let rolled_back: usize = report
        .faults
        .iter()
        .filter(|(fault, _)| fault.rolls_back())
        .map(|(_, n)| n)
        .sum();
    assert!(
        report.uncertain.is_empty() && report.commits_unanswered == 0,
        "no error nobody injected\n{report}"
    );
    assert_eq!(
        report.committed + rolled_back,
        report.commands,
        "every command is committed or rolled back\n{report}"
    );
    assert!(report.injected_send_failures > 0, "{report}");
    assert!(
        report.sweeper_killed,
        "the sweeper was never killed mid-run\n{report}"
    );
    // Each duplicate is explained by a fault between send and mark, and those faults struck.
    assert!(report.unexplained_duplicates.is_empty());
    for cause in [
        DuplicateCause::SendThenFailureReported,
        DuplicateCause::ProcessDiedAfterSend,
        DuplicateCause::SweeperKilled,
    ] {
        assert!(
            report.duplicates.get(&cause).copied().unwrap_or(0) > 0,
            "no duplicate from {cause}\n{report}"
        );
    }
    assert_eq!(
        report.deliveries,
        report.delivered + report.duplicate_count(),
        "every delivery is a first delivery or a counted duplicate\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_sweepers_as_the_only_senders_order_per_key_holds_under_faults() {
    let config = ChaosConfig {
        commands: 500,
        keys: 20,
        clear_immediately: false,
        seed: 81,
        ..ChaosConfig::default()
    };
    let report = chaos::run(&config).await;
    println!("{report}");

    assert_eq!(report.violations(), Vec::<String>::new(), "\n{report}");
    assert!(report.uncertain.is_empty(), "{report}");
    assert_eq!(
        report.backlog, report.committed,
        "nothing was sent before the sweepers ran"
    );
    assert!(report.sweeper_killed, "{report}");
    assert!(report.injected_send_failures > 0, "{report}");
    // The sweepers sent every message; none overtook an earlier one of its key, although sends
    // failed, a sweeper died mid-run and its shards changed hands.
    assert_eq!(report.immediate_overtakes, 0, "{report}");
    assert!(report.sweeper_overtakes.is_empty(), "{report}");
    assert_eq!(report.delivered, report.committed, "{report}");
    assert!(report.unexplained_duplicates.is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dynamodb_killed_and_restarted_twice_nothing_is_lost_and_each_duplicate_is_explained()
{
    let config = ChaosConfig {
        restart_dynamodb: true,
        seed: 82,
        ..ChaosConfig::default()
    };
    let report = chaos::run(&config).await;
    println!("{report}");

    assert_eq!(report.violations(), Vec::<String>::new(), "\n{report}");
    let during: Vec<&str> = report.outages.iter().map(|o| o.during).collect();
    assert_eq!(
        during,
        ["commands", "drain"],
        "DynamoDB was killed and restarted in both phases\n{report}"
    );
    assert!(report.lost.is_empty() && report.phantom.is_empty());
    assert!(report.uncertain.is_empty(), "{report}");
    // The kills hit work in flight: commits went unanswered and marks after sends failed, and
    // the duplicates those failed marks caused are each attributed to them.
    assert!(report.commits_unanswered > 0, "{report}");
    assert!(report.failed_marks > 0, "{report}");
    assert!(
        report
            .duplicates
            .get(&DuplicateCause::MarkFailed)
            .is_some_and(|n| *n > 0),
        "{report}"
    );
    let rolled_back: usize = report
        .faults
        .iter()
        .filter(|(fault, _)| fault.rolls_back())
        .map(|(_, n)| n)
        .sum();
    let unanswered_not_applied = report.commits_unanswered - report.commits_unanswered_applied;
    assert_eq!(
        report.committed + rolled_back + unanswered_not_applied,
        report.commands,
        "every command is committed, rolled back, or unanswered and not applied\n{report}"
    );
    assert_eq!(
        report.deliveries,
        report.delivered + report.duplicate_count(),
        "{report}"
    );
}
