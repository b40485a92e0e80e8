//! The sweeper as a process of its own: sends what the services committed but did not send.
//!
//! ```text
//! sweeper [--route TOPIC=QUEUE_URL]... [--min-age-ms N] [--until-empty]
//! ```
//!
//! Without `--until-empty` it runs until Ctrl-C or SIGTERM, then gives back its shard leases.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use outbox_runtime::transport::{SqsProducer, sqs};
use outbox_runtime::{DynamoDb, Outbox, OutboxConfig, Postbox, Sweeper, SweeperConfig};

/// How long `--until-empty` may take before giving up.
const UNTIL_EMPTY_TIMEOUT: Duration = Duration::from_secs(60);

type Failure = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sweeper: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let mut routes = Vec::new();
    let mut config = SweeperConfig::default();
    let mut until_empty = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--until-empty" => until_empty = true,
            "--min-age-ms" => {
                let value = args
                    .next()
                    .ok_or("--min-age-ms needs a number of milliseconds")?;
                config.min_age =
                    Duration::from_millis(value.parse().map_err(|_| {
                        format!("--min-age-ms {value}: not a number of milliseconds")
                    })?);
            }
            "--route" => {
                let value = args.next().ok_or("--route needs TOPIC=QUEUE_URL")?;
                let (topic, url) = value
                    .split_once('=')
                    .ok_or_else(|| format!("--route {value}: expected TOPIC=QUEUE_URL"))?;
                routes.push((topic.to_owned(), url.to_owned()));
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: sweeper [--route TOPIC=QUEUE_URL]... \
                     [--min-age-ms N] [--until-empty]"
                )
                .into());
            }
        }
    }
    let db = DynamoDb::from_env().await;
    db.check_reachable().await?;
    let outbox = Outbox::new(db, OutboxConfig::default())?;
    let producer = SqsProducer::new(sqs::client_from_env().await).with_routes(routes);
    let postbox = Postbox::new(outbox.clone(), producer);
    let mut sweeper = Sweeper::new(&postbox, config);
    println!(
        "sweeper {} on table `{}`",
        sweeper.owner(),
        outbox.config().table_name
    );

    if until_empty {
        let started = Instant::now();
        loop {
            let report = sweeper.sweep_once().await?;
            for id in &report.sent {
                println!("   sweeper sent {id}");
            }
            let left = outbox.outstanding_count(1).await?;
            if left.count == 0 {
                sweeper.release().await?;
                return Ok(());
            }
            if started.elapsed() > UNTIL_EMPTY_TIMEOUT {
                sweeper.release().await?;
                return Err(format!(
                    "messages are still outstanding after {} s (last pass: {} failed, {} held \
                     back); is the transport reachable?",
                    UNTIL_EMPTY_TIMEOUT.as_secs(),
                    report.failed,
                    report.held_back
                )
                .into());
            }
            tokio::time::sleep(sweeper.config().interval).await;
        }
    }

    // The stop signal is any future: here Ctrl-C or SIGTERM.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    sweeper
        .run(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        })
        .await?;
    Ok(())
}
