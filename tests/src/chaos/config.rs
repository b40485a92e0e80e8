//! What a run does: how big it is and how often each fault strikes ([`ChaosConfig`]), and the
//! commands planned from that, each with the fault it meets ([`plan`]).

/// How big a run is and how often each fault strikes.
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    /// Handled commands.
    pub commands: usize,
    /// Partition keys the commands are spread over; the commands of a key run one after another.
    pub keys: usize,
    /// Keys handled at the same time.
    pub concurrency: usize,
    /// Shards of the outstanding index.
    pub shards: u16,
    /// Percent of commands that meet a fault of their own (spread evenly over the six kinds).
    pub command_fault_percent: u32,
    /// Percent of sends the transport fails without delivering.
    pub send_fail_percent: u32,
    /// Percent of sends the transport delivers and then reports as failed.
    pub send_then_fail_percent: u32,
    /// Sweepers that drain the backlog; the first is killed mid-run (at least 2).
    pub sweepers: usize,
    /// `true`: handlers clear at once (`clear = "immediate"`); `false`: every handler leaves
    /// its messages to the sweepers (`clear = "sweeper"`), which then keep order per key.
    pub clear_immediately: bool,
    /// Seed of the fault choices (the interleaving of concurrent work is not seeded).
    pub seed: u64,
    /// Runs against a DynamoDB Local of the run's own with its data on disk, killed with
    /// SIGKILL and restarted once during the commands and once during the drain (see
    /// [`RestartableDynamoDb`](crate::restartable::RestartableDynamoDb)); `false` uses the shared
    /// test endpoint and never stops it.
    pub restart_dynamodb: bool,
    /// Prints progress lines to stderr.
    pub progress: bool,
}

impl Default for ChaosConfig {
    /// 1,000 commands over 40 keys, 8 at a time; 15 % of commands, 8 % of sends fail, 3 % of
    /// sends are delivered and reported failed; three sweepers, one killed.
    fn default() -> Self {
        Self {
            commands: 1000,
            keys: 40,
            concurrency: 8,
            shards: 8,
            command_fault_percent: 15,
            send_fail_percent: 8,
            send_then_fail_percent: 3,
            sweepers: 3,
            clear_immediately: true,
            seed: 8,
            restart_dynamodb: false,
            progress: false,
        }
    }
}

/// A fault a command meets on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommandFault {
    /// None: committed, then cleared at once.
    None,
    /// The body deposits, then returns `Err`.
    ErrorBeforeCommit,
    /// The body deposits, then panics.
    PanicBeforeCommit,
    /// The handler's future is dropped after the deposit (a cancelled request).
    CancelledBeforeCommit,
    /// DynamoDB refuses the commit: the entity write's condition fails.
    CommitRefused,
    /// Committed; the process dies before sending (`clear = "sweeper"`).
    CrashAfterCommit,
    /// Committed and sent; the process dies before marking.
    CrashAfterSend,
}

impl CommandFault {
    const FAULTS: [CommandFault; 6] = [
        Self::ErrorBeforeCommit,
        Self::PanicBeforeCommit,
        Self::CancelledBeforeCommit,
        Self::CommitRefused,
        Self::CrashAfterCommit,
        Self::CrashAfterSend,
    ];

    /// True for the faults that keep the command from committing.
    pub fn rolls_back(self) -> bool {
        matches!(
            self,
            Self::ErrorBeforeCommit
                | Self::PanicBeforeCommit
                | Self::CancelledBeforeCommit
                | Self::CommitRefused
        )
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ErrorBeforeCommit => "body returned Err before the commit",
            Self::PanicBeforeCommit => "body panicked before the commit",
            Self::CancelledBeforeCommit => "handler cancelled before the commit",
            Self::CommitRefused => "commit cancelled by DynamoDB (condition failed)",
            Self::CrashAfterCommit => "process died after the commit, before the send",
            Self::CrashAfterSend => "process died after the send, before the mark",
        }
    }
}

/// A command: which key, its place, and the fault it meets.
#[derive(Clone, Debug)]
pub struct Command {
    /// Unique id; also the message id.
    pub id: String,
    /// The partition key.
    pub key: String,
    /// Its place among the commands of its key, from 0.
    pub seq: u64,
    /// Its own fault.
    pub fault: CommandFault,
}

/// The commands of a run, by key, in the order each key handles them.
pub fn plan(config: &ChaosConfig) -> Vec<Vec<Command>> {
    let mut rng = fastrand::Rng::with_seed(config.seed);
    let keys = config.keys.max(1);
    let mut queues: Vec<Vec<Command>> = vec![Vec::new(); keys];
    for _ in 0..config.commands {
        let key = rng.usize(0..keys);
        // Without an immediate clear no handler sends, so none dies after a send.
        let faults = if config.clear_immediately {
            &CommandFault::FAULTS[..]
        } else {
            &CommandFault::FAULTS[..5]
        };
        let fault = if rng.u32(0..100) < config.command_fault_percent {
            faults[rng.usize(0..faults.len())]
        } else {
            CommandFault::None
        };
        let queue = &mut queues[key];
        queue.push(Command {
            id: uuid::Uuid::now_v7().to_string(),
            key: format!("key-{key}"),
            seq: queue.len() as u64,
            fault,
        });
    }
    queues
}
