//! DynamoDB itself failing mid-run: the run's own DynamoDB Local (see
//! [`RestartableDynamoDb`]) killed with SIGKILL at a chosen point of a phase, kept down a
//! moment, and started again on its data. Whatever was in flight meets a dead endpoint:
//! commits whose outcome the caller never learns, sends whose mark fails, sweeper passes that
//! stop half way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::restartable::RestartableDynamoDb;

/// How long the server stays down before it is started again (its start adds a few seconds):
/// longer than the SDK's three attempts take, so that a request in flight at the kill fails for
/// good rather than succeeding late.
const DOWN_FOR: Duration = Duration::from_secs(3);

/// How long the held run settles before the kill: DynamoDB Local answers a write before it is
/// on disk, and loses it when killed within milliseconds of the answer.
const SETTLE: Duration = Duration::from_millis(500);

/// One kill and restart.
#[derive(Clone, Debug)]
pub struct Outage {
    /// The phase it struck: `"commands"` or `"drain"`.
    pub during: &'static str,
    /// From the kill until the restarted server answered.
    pub down: Duration,
}

/// Kills `server` when a sender reaches the kill point (it waits until the kill is done, so its
/// mark meets a dead endpoint), calls `release` to let the run go on against the dead endpoint,
/// keeps it down, restarts it, and says so; returns `None` when the phase set `finished` first.
///
/// # Panics
/// When the server does not come back (see [`RestartableDynamoDb::restart`]).
pub(crate) async fn strike_at(
    server: &mut RestartableDynamoDb,
    during: &'static str,
    mut point: oneshot::Receiver<oneshot::Sender<()>>,
    release: impl FnOnce(),
    finished: &AtomicBool,
    progress: bool,
) -> Option<Outage> {
    let killed = loop {
        if finished.load(Ordering::SeqCst) {
            return None;
        }
        match tokio::time::timeout(Duration::from_millis(5), &mut point).await {
            Ok(Ok(killed)) => break killed,
            Ok(Err(_)) => return None,
            Err(_) => {}
        }
    };
    // Everything else is held now; what was in flight settles before the kill.
    tokio::time::sleep(SETTLE).await;
    let killed_at = Instant::now();
    server.kill();
    let _ = killed.send(());
    release();
    if progress {
        eprintln!("  DynamoDB Local killed (SIGKILL) during the {during}");
    }
    tokio::time::sleep(DOWN_FOR).await;
    server.restart().await;
    let down = killed_at.elapsed();
    if progress {
        eprintln!(
            "  DynamoDB Local restarted on its data after {:.1} s down",
            down.as_secs_f64()
        );
    }
    Some(Outage { during, down })
}
