//! DynamoDB itself failing mid-run: the run's own DynamoDB Local (see
//! [`RestartableDynamoDb`]) killed with SIGKILL at a chosen point of a phase, kept down a
//! moment, and started again on its data. Whatever was in flight meets a dead endpoint:
//! commits whose outcome the caller never learns, sends whose mark fails, sweeper passes that
//! stop half way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::restartable::RestartableDynamoDb;

/// How long the server stays down before it is started again (its start adds a few seconds).
const DOWN_FOR: Duration = Duration::from_secs(1);

/// One kill and restart.
#[derive(Clone, Debug)]
pub struct Outage {
    /// The phase it struck: `"commands"` or `"drain"`.
    pub during: &'static str,
    /// From the kill until the restarted server answered.
    pub down: Duration,
}

/// Kills `server` once `due()` holds, keeps it down, restarts it, and says so; returns `None`
/// when the phase set `finished` first.
///
/// # Panics
/// When the server does not come back (see [`RestartableDynamoDb::restart`]).
pub(crate) async fn strike_when(
    server: &mut RestartableDynamoDb,
    during: &'static str,
    due: impl Fn() -> bool,
    finished: &AtomicBool,
    progress: bool,
) -> Option<Outage> {
    loop {
        if finished.load(Ordering::SeqCst) {
            return None;
        }
        if due() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let killed = Instant::now();
    server.kill();
    if progress {
        eprintln!("  DynamoDB Local killed (SIGKILL) during the {during}");
    }
    tokio::time::sleep(DOWN_FOR).await;
    server.restart().await;
    let down = killed.elapsed();
    if progress {
        eprintln!(
            "  DynamoDB Local restarted on its data after {:.1} s down",
            down.as_secs_f64()
        );
    }
    Some(Outage { during, down })
}
