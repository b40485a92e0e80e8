//! The greetings demo, end to end against DynamoDB Local and a local SQS: a greeting and its
//! message commit together and the message is sent at once; a failing handler leaves nothing
//! behind; a process that dies right after its commit has its message delivered by the sweeper,
//! running as a process of its own; 32 greetings of one person at once, 8 at a time, all kept;
//! a consumer service that counts greetings exactly once, although it dies between its commit
//! and the SQS delete and the message is delivered again; two greetings scheduled for later, one
//! taken back before it is due and one delivered when due. Every step is verified by reading the
//! real state back.
//!
//! `greetings` runs the demo. `greetings commit-then-die NAME GREETING` is the dying process
//! the demo starts: it commits, then exits when it tries to send. `greetings
//! consume-then-die QUEUE_URL` is the dying consumer: it handles one message, commits, and
//! exits before deleting it.

use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

use outbox_examples::consumer::{GreetingConsumer, VISIBILITY_TIMEOUT_SECS};
use outbox_examples::counter::{GREETING_COUNTS_TABLE, GreetingCounter};
use outbox_examples::greetings::{
    AddGreeting, AddGreetingHandler, AppError, GreetingMade, MAX_GREETINGS, People, Person,
    ScheduleGreeting,
};
use outbox_examples::people::PEOPLE_TABLE;
use outbox_runtime::consumer::SqsConsumer;
use outbox_runtime::transport::{Producer, ProducerError, SqsProducer, sqs};
use outbox_runtime::{
    DynamoDb, Message, MessageId, Outbox, OutboxConfig, Postbox, ScheduleOutcome, Sweeper,
    SweeperConfig,
};

const USAGE: &str = "usage: greetings [commit-then-die NAME GREETING | consume-then-die QUEUE_URL]

With no arguments, runs the greetings demo against DynamoDB (AWS_ENDPOINT_URL_DYNAMODB) and SQS
(AWS_ENDPOINT_URL_SQS); `cargo xtask demo` starts both locally and runs it. The two subcommands
are the processes the demo starts and kills on purpose.";

/// The exit code of the process that dies between its commit and its send.
const DIED_AFTER_COMMIT: i32 = 86;
/// The queue the greetings go to.
const QUEUE: &str = "greetings";

type Failure = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => demo().await,
        ["commit-then-die", name, greeting] => commit_then_die(name, greeting).await,
        ["consume-then-die", queue_url] => consume_then_die(queue_url).await,
        ["--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unexpected arguments\n{USAGE}").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("demo failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A producer standing in for a process that dies after its commit, before its send.
struct DieOnSend;

impl Producer for DieOnSend {
    async fn send(&self, _message: &Message) -> Result<(), ProducerError> {
        std::process::exit(DIED_AFTER_COMMIT);
    }
}

async fn outbox() -> Result<Outbox, Failure> {
    let db = DynamoDb::from_env().await;
    db.check_reachable().await?;
    Ok(Outbox::new(db, OutboxConfig::default())?)
}

async fn commit_then_die(name: &str, greeting: &str) -> Result<(), Failure> {
    let outbox = outbox().await?;
    let handler = AddGreetingHandler {
        people: People::new(outbox.db().clone(), PEOPLE_TABLE),
        postbox: Postbox::new(outbox, DieOnSend),
    };
    handler
        .handle(AddGreeting {
            name: name.to_owned(),
            greeting: greeting.to_owned(),
        })
        .await?;
    Err("the handler returned, but this process should have died at the send".into())
}

/// The consumer service dying after its handler committed, before the SQS delete.
async fn consume_then_die(queue_url: &str) -> Result<(), Failure> {
    let outbox = outbox().await?;
    let counter = Arc::new(GreetingCounter::new(Postbox::new(outbox, DieOnSend)));
    let consumer = SqsConsumer::new(sqs::client_from_env().await, queue_url);
    let handler = move |message: Message| {
        let counter = Arc::clone(&counter);
        async move {
            counter.handle(&message).await?;
            // Committed; the consumer would delete the message next.
            std::process::exit(DIED_AFTER_COMMIT);
            #[allow(unreachable_code)]
            Ok::<(), outbox_runtime::Error>(())
        }
    };
    for _ in 0..10 {
        consumer.poll_once(&handler).await?;
    }
    Err("no message arrived for the consumer to handle".into())
}

fn check(condition: bool, what: &str) -> Result<(), Failure> {
    if condition {
        println!("   ok: {what}");
        Ok(())
    } else {
        Err(format!("verification failed: {what}").into())
    }
}

async fn demo() -> Result<(), Failure> {
    let outbox = outbox().await?;
    let db = outbox.db().clone();
    let people = People::new(db.clone(), PEOPLE_TABLE);
    let sqs_client = sqs::client_from_env().await;
    let consumer = GreetingConsumer::create_fresh(sqs_client.clone(), QUEUE).await?;
    let producer =
        SqsProducer::new(sqs_client).with_route(GreetingMade::TOPIC, consumer.queue_url());
    let handler = AddGreetingHandler {
        postbox: Postbox::new(outbox.clone(), producer),
        people: people.clone(),
    };

    println!(
        "1. seeding `{PEOPLE_TABLE}` (DynamoDB at {})",
        db.endpoint()
    );
    // A run that was interrupted may have left messages behind: start from an empty outbox.
    let mut leftovers = outbox.outstanding(Duration::ZERO, 1000, None).await?;
    leftovers
        .messages
        .extend(outbox.scheduled(1000, None).await?.messages);
    if !leftovers.messages.is_empty() {
        let ids: Vec<MessageId> = leftovers
            .messages
            .iter()
            .map(|s| s.message.id().clone())
            .collect();
        outbox.delete(&ids).await?;
        println!(
            "   removed {} messages an earlier, interrupted run left outstanding",
            ids.len()
        );
    }
    let full: Vec<String> = (1..=MAX_GREETINGS)
        .map(|n| format!("greeting {n}"))
        .collect();
    for (name, greetings) in [
        ("Tyrion", vec![]),
        ("Jaime", full),
        ("Cersei", vec![]),
        ("Arya", vec![]),
    ] {
        people
            .save(&Person {
                name: name.to_owned(),
                greetings: greetings.clone(),
            })
            .await?;
        println!("   {name}: {} greetings", greetings.len());
    }
    let outstanding_before = outbox.outstanding_count(1000).await?.count;

    println!("2. AddGreeting(Tyrion, \"Hello from Rust\"): commit, then send at once");
    let id = handler
        .handle(AddGreeting {
            name: "Tyrion".into(),
            greeting: "Hello from Rust".into(),
        })
        .await?;
    // The call returned after its send; its mark is the postbox's background marker's, done
    // within milliseconds, or now:
    handler.postbox.flush().await;
    let tyrion = people.load("Tyrion").await?.ok_or("Tyrion vanished")?;
    println!(
        "   table `{PEOPLE_TABLE}`: Tyrion has {:?}",
        tyrion.greetings
    );
    check(
        tyrion.greetings == ["Hello from Rust"],
        "the greeting is stored",
    )?;
    let stored = outbox
        .get(&id)
        .await?
        .ok_or("the message is not in the outbox")?;
    println!(
        "   table `{}`: message {id} on `{}`, dispatched: {}",
        outbox.config().table_name,
        stored.message.topic(),
        !stored.is_outstanding()
    );
    check(
        !stored.is_outstanding(),
        "the message was sent and marked dispatched",
    )?;
    let received = consumer.receive(Duration::from_secs(5)).await?;
    for (message, greeting) in &received {
        println!("   consumer received {} : {greeting:?}", message.id());
    }
    check(
        received.len() == 1
            && received[0].0.id() == &id
            && received[0].1.greeting == "Hello from Rust",
        "the consumer received exactly that GreetingMade",
    )?;

    println!("3. AddGreeting(Jaime, \"One too many\"): the handler fails after its writes");
    let err = handler
        .handle(AddGreeting {
            name: "Jaime".into(),
            greeting: "One too many".into(),
        })
        .await
        .err()
        .ok_or("the handler should have failed")?;
    println!("   handler error: {err}");
    check(
        matches!(err, AppError::TooManyGreetings { .. }),
        "the error is the handler's own",
    )?;
    let jaime = people.load("Jaime").await?.ok_or("Jaime vanished")?;
    check(
        jaime.greetings.len() == MAX_GREETINGS,
        "Jaime's greetings are unchanged",
    )?;
    check(
        outbox.outstanding_count(1000).await?.count == outstanding_before,
        "no message was left in the outbox",
    )?;
    check(
        consumer.receive(Duration::from_secs(1)).await?.is_empty(),
        "nothing was sent",
    )?;

    println!("4. AddGreeting(Cersei, \"Wine?\") in a process that dies after its commit");
    let status = Command::new(std::env::current_exe()?)
        .args(["commit-then-die", "Cersei", "Wine?"])
        .status()?;
    check(
        status.code() == Some(DIED_AFTER_COMMIT),
        &format!("the process died between commit and send ({status})"),
    )?;
    let cersei = people.load("Cersei").await?.ok_or("Cersei vanished")?;
    check(cersei.greetings == ["Wine?"], "the greeting was committed")?;
    let page = outbox.outstanding(Duration::ZERO, 100, None).await?;
    let orphans: Vec<MessageId> = page
        .messages
        .iter()
        .map(|s| s.message.id().clone())
        .collect();
    println!("   outstanding in the outbox: {orphans:?}");
    check(orphans.len() == 1, "its message is outstanding")?;
    check(
        consumer.receive(Duration::from_secs(1)).await?.is_empty(),
        "and was not sent",
    )?;

    println!("5. the sweeper, as a process of its own, delivers what the dead process left");
    let sweeper = std::env::current_exe()?.with_file_name("sweeper");
    let status = Command::new(&sweeper)
        .args(["--until-empty", "--min-age-ms", "0", "--route"])
        .arg(format!("{}={}", GreetingMade::TOPIC, consumer.queue_url()))
        .status()
        .map_err(|err| {
            format!(
                "cannot run {}: {err} (build it with `cargo build -p outbox-examples --bins`)",
                sweeper.display()
            )
        })?;
    check(
        status.success(),
        "the sweeper ran until the outbox was empty",
    )?;
    let swept = outbox
        .get(&orphans[0])
        .await?
        .ok_or("the message vanished")?;
    check(!swept.is_outstanding(), "the message is marked dispatched")?;
    let received = consumer.receive(Duration::from_secs(5)).await?;
    for (message, greeting) in &received {
        println!("   consumer received {} : {greeting:?}", message.id());
    }
    check(
        received.len() == 1
            && received[0].0.id() == &orphans[0]
            && received[0].1
                == GreetingMade {
                    name: "Cersei".into(),
                    greeting: "Wine?".into(),
                },
        "the consumer received Cersei's greeting",
    )?;
    concurrent_greetings(&handler, &people, &consumer).await?;
    count_exactly_once(&handler, &consumer).await?;
    scheduled_greetings(&handler, &consumer).await?;
    println!("every step verified against the tables and the queue");
    Ok(())
}

/// Greetings of one person at the same time.
const CONCURRENT_CALLS: usize = 32;
/// How many run at once.
const CONCURRENCY: usize = 8;

async fn concurrent_greetings(
    handler: &AddGreetingHandler,
    people: &People,
    consumer: &GreetingConsumer,
) -> Result<(), Failure> {
    println!(
        "6. {CONCURRENT_CALLS} AddGreeting(Arya, ...) at once, {CONCURRENCY} at a time: each \
         reads Arya, appends, writes her back"
    );
    let mut workers = Vec::new();
    for worker in 0..CONCURRENCY {
        let handler = handler.clone();
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            for call in (worker..CONCURRENT_CALLS).step_by(CONCURRENCY) {
                let command = AddGreeting {
                    name: "Arya".into(),
                    greeting: format!("greeting {call}"),
                };
                results.push(handler.handle(command).await);
            }
            results
        }));
    }
    let mut failures = Vec::new();
    let mut calls = 0;
    for worker in workers {
        for result in worker.await? {
            calls += 1;
            if let Err(err) = result {
                failures.push(err.to_string());
            }
        }
    }
    handler.postbox.flush().await;
    check(
        calls == CONCURRENT_CALLS && failures.is_empty(),
        &format!("all {CONCURRENT_CALLS} calls returned Ok (failures: {failures:?})"),
    )?;
    let arya = people.load("Arya").await?.ok_or("Arya vanished")?;
    println!(
        "   table `{PEOPLE_TABLE}`: Arya has {} greetings",
        arya.greetings.len()
    );
    let mut kept: Vec<&String> = arya.greetings.iter().collect();
    kept.sort();
    kept.dedup();
    check(
        arya.greetings.len() == CONCURRENT_CALLS && kept.len() == CONCURRENT_CALLS,
        &format!("Arya holds exactly the {CONCURRENT_CALLS} greetings, none lost"),
    )?;
    let mut received = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while received.len() < CONCURRENT_CALLS && std::time::Instant::now() < deadline {
        received.extend(consumer.receive(Duration::from_secs(1)).await?);
    }
    let mut announced: Vec<String> = received
        .iter()
        .map(|(_, made)| made.greeting.clone())
        .collect();
    announced.sort();
    announced.dedup();
    check(
        received.len() == CONCURRENT_CALLS
            && announced.len() == CONCURRENT_CALLS
            && received.iter().all(|(_, made)| made.name == "Arya"),
        &format!(
            "the consumer received {CONCURRENT_CALLS} GreetingMade for Arya, one per greeting"
        ),
    )?;
    Ok(())
}

/// The consumer service: counts Tyrion's greetings once, although its first process dies between
/// the commit and the SQS delete and SQS delivers the message again.
async fn count_exactly_once(
    handler: &AddGreetingHandler,
    consumer: &GreetingConsumer,
) -> Result<(), Failure> {
    println!(
        "7. the consumer service counts greetings per person in `{GREETING_COUNTS_TABLE}`, once \
         per message"
    );
    let outbox = handler.postbox.outbox().clone();
    let db = outbox.db().clone();
    let counter = GreetingCounter::new(handler.postbox.clone());
    let before = counter.count(&db, "Tyrion").await?;
    let id = handler
        .handle(AddGreeting {
            name: "Tyrion".into(),
            greeting: "Hello again".into(),
        })
        .await?;
    handler.postbox.flush().await;
    println!("   AddGreeting(Tyrion, \"Hello again\") sent message {id}");

    let status = Command::new(std::env::current_exe()?)
        .args(["consume-then-die", consumer.queue_url()])
        .status()?;
    check(
        status.code() == Some(DIED_AFTER_COMMIT),
        &format!("the consumer process died between its commit and the SQS delete ({status})"),
    )?;
    check(
        counter.count(&db, "Tyrion").await? == before + 1,
        "its commit counted the greeting",
    )?;
    check(
        counter.inbox.contains(&db, &id).await?,
        "and recorded the message in the inbox",
    )?;

    println!(
        "   SQS delivers the undeleted message again after {VISIBILITY_TIMEOUT_SECS} s; the \
         demo's own consumer handles it"
    );
    let sqs_consumer = SqsConsumer::new(sqs::client_from_env().await, consumer.queue_url())
        .with_wait_time(Duration::from_secs(5));
    let counter = Arc::new(counter);
    let handling = Arc::clone(&counter);
    let handle = move |message: Message| {
        let counter = Arc::clone(&handling);
        async move { counter.handle(&message).await }
    };
    let mut duplicates = 0;
    let mut deleted = 0;
    for _ in 0..6 {
        let report = sqs_consumer.poll_once(&handle).await?;
        duplicates += report.duplicates;
        deleted += report.deleted;
        if report.received > 0 {
            break;
        }
    }
    println!("   redelivery: {duplicates} duplicate absorbed, {deleted} deleted");
    check(
        duplicates == 1 && deleted == 1,
        "the inbox absorbed the redelivery, and the consumer deleted it",
    )?;
    let count = counter.count(&db, "Tyrion").await?;
    println!("   table `{GREETING_COUNTS_TABLE}`: Tyrion has {count}");
    check(count == before + 1, "the greeting was counted exactly once")?;
    Ok(())
}

/// How far ahead the demo schedules its greetings.
const LATER: Duration = Duration::from_secs(2);

async fn scheduled_greetings(
    handler: &AddGreetingHandler,
    consumer: &GreetingConsumer,
) -> Result<(), Failure> {
    println!(
        "8. two greetings for Arya scheduled {} s ahead; a later command takes the first back",
        LATER.as_secs()
    );
    let schedule = |greeting: &str| ScheduleGreeting {
        name: "Arya".into(),
        greeting: greeting.into(),
        after: LATER,
    };
    let taken_back = handler.schedule(schedule("Not today")).await?;
    let kept = handler.schedule(schedule("Valar morghulis")).await?;
    let outcome = handler.cancel(taken_back.clone()).await?;
    println!("   cancel {taken_back}: {outcome:?}");
    check(
        outcome == ScheduleOutcome::Applied,
        "the first greeting is taken back",
    )?;
    let outbox = handler.postbox.outbox();
    check(
        outbox.scheduled_count(10).await?.count == 1,
        "one greeting is still scheduled",
    )?;
    let mut sweeper = Sweeper::new(
        &handler.postbox,
        SweeperConfig::default().with_owner("greetings-demo"),
    );
    check(
        sweeper.sweep_once().await?.sent.is_empty(),
        "the sweeper sends nothing before its due time",
    )?;
    check(
        consumer.receive(Duration::from_secs(1)).await?.is_empty(),
        "and nothing reached the queue",
    )?;
    tokio::time::sleep(LATER).await;
    let report = sweeper.sweep_once().await?;
    sweeper.release().await?;
    println!("   once due, the sweeper sent {:?}", report.sent);
    check(
        report.sent == [kept.clone()],
        "the kept greeting went when due",
    )?;
    let received = consumer.receive(Duration::from_secs(5)).await?;
    for (message, greeting) in &received {
        println!("   consumer received {} : {greeting:?}", message.id());
    }
    check(
        received.len() == 1 && received[0].0.id() == &kept,
        "the consumer received the kept greeting only",
    )?;
    check(
        handler.cancel(kept).await? == ScheduleOutcome::AlreadySent,
        "taking back a greeting already sent says so",
    )?;
    Ok(())
}
