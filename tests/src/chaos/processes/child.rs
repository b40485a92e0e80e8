//! Sweeper mode: the arguments the parent passes a sweeper child ([`ChildArgs`]), and the child
//! itself ([`sweeper_child`]), which sweeps until SIGTERM and records every send in its file.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use outbox_runtime::{
    DynamoDb, Outbox, OutboxConfig, Postbox, RetryPolicy, Sweeper, SweeperConfig,
};
use tokio_util::sync::CancellationToken;

use super::records::FileProducer;

/// The arguments of a sweeper child, as the parent passes them.
#[derive(Clone, Debug)]
pub struct ChildArgs {
    /// The outbox table.
    pub table: String,
    /// Its shard count.
    pub shards: u16,
    /// The owner name in the lease table.
    pub owner: String,
    /// The file each send is appended to.
    pub record: PathBuf,
    /// The lease duration.
    pub lease_duration: Duration,
}

impl ChildArgs {
    /// The flag that selects sweeper mode; it comes first.
    pub const FLAG: &'static str = "--sweeper-child";

    pub(super) fn to_args(&self) -> Vec<String> {
        vec![
            Self::FLAG.to_owned(),
            self.table.clone(),
            self.shards.to_string(),
            self.owner.clone(),
            self.record.display().to_string(),
            self.lease_duration.as_millis().to_string(),
        ]
    }

    /// Parses what follows [`Self::FLAG`].
    ///
    /// # Errors
    /// A line saying what is missing or malformed.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let [table, shards, owner, record, lease_ms] = args else {
            return Err(format!(
                "{} takes <table> <shards> <owner> <record file> <lease ms>",
                Self::FLAG
            ));
        };
        Ok(Self {
            table: table.clone(),
            shards: shards.parse().map_err(|_| format!("shards: `{shards}`"))?,
            owner: owner.clone(),
            record: PathBuf::from(record),
            lease_duration: Duration::from_millis(
                lease_ms
                    .parse()
                    .map_err(|_| format!("lease: `{lease_ms}`"))?,
            ),
        })
    }
}

/// Sweeper mode: sweeps the outbox until SIGTERM, then gives the leases back (`Sweeper::run`).
///
/// # Errors
/// A line saying what failed.
pub async fn sweeper_child(db: DynamoDb, args: ChildArgs) -> Result<(), String> {
    let outbox = Outbox::new(db, OutboxConfig::new(&args.table).with_shards(args.shards))
        .map_err(|err| err.to_string())?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.record)
        .map_err(|err| format!("{}: {err}", args.record.display()))?;
    let retry = retry();
    let postbox = Postbox::new(
        outbox,
        FileProducer {
            file: Mutex::new(file),
        },
    )
    .with_retry_policy(retry);
    let sweeper = Sweeper::new(
        &postbox,
        SweeperConfig::default()
            .with_interval(Duration::from_millis(10))
            .with_min_age(Duration::ZERO)
            .with_lease_duration(args.lease_duration)
            .with_owner(args.owner.clone()),
    );
    let stop = CancellationToken::new();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|err| err.to_string())?;
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            terminate.recv().await;
            stop.cancel();
        });
    }
    sweeper
        .run(stop.cancelled_owned())
        .await
        .map_err(|err| format!("{}: releasing the leases: {err}", args.owner))
}

pub(super) fn retry() -> RetryPolicy {
    RetryPolicy::new()
        .with_max_attempts(1000)
        .with_base_delay(Duration::from_millis(5))
        .with_max_delay(Duration::from_millis(50))
}
