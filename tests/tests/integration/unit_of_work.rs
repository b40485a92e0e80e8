//! The unit of work reads: `tx.get` inside a handler, versions kept by the runtime, and the
//! conflicts and conditions that follow, against DynamoDB Local. DynamoDB Local runs
//! transactions one at a time but enforces their conditions, so the concurrency here is real:
//! concurrent handlers, and other writers that change an item between a body's read and its
//! commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::error::{CancellationCode, ConditionFailure, Version};
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::transport::InMemoryProducer;
use outbox_runtime::{
    DynamoDb, Error, Expr, Outbox, OutboxMessage, Postbox, Transaction, capture_reports,
    transactional_handler,
};
use outbox_tests::{create_table, dynamodb, fresh_outbox, unique_name};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
struct GreetingMade {
    #[outbox(partition_key)]
    name: String,
    greeting: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Person {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Greetings", default)]
    greetings: Vec<String>,
}

#[derive(Debug)]
enum AppError {
    Outbox(Error),
    UnknownPerson,
}

impl From<Error> for AppError {
    fn from(err: Error) -> Self {
        AppError::Outbox(err)
    }
}

fn outbox_error(err: AppError) -> Error {
    match err {
        AppError::Outbox(err) => err,
        AppError::UnknownPerson => panic!("the person was not found"),
    }
}

/// The seed's handler, read-modify-write: load the person, append, put them back, announce.
struct Greetings {
    postbox: Postbox,
    people: TableSchema,
    producer: Arc<InMemoryProducer>,
    /// Runs of a body, over all calls.
    runs: AtomicU32,
}

impl Greetings {
    /// Every call commits when at most 31 others run at once: each run lost to a conflict
    /// means another call committed, so among 32 callers the last needs 31 retries at most.
    #[transactional_handler(postbox = self.postbox, tx = tx, retries = 31)]
    async fn add(
        &self,
        tx: &mut Transaction,
        name: String,
        greeting: String,
    ) -> Result<(), AppError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let mut person: Person = tx
            .get(&self.people, &name)
            .await?
            .ok_or(AppError::UnknownPerson)?;
        person.greetings.push(greeting.clone());
        tx.put(&self.people, &person)?;
        tx.deposit(&GreetingMade { name, greeting })?;
        Ok(())
    }

    /// Reads the person, puts them back under a condition of its own, and lets `meddle` change
    /// the stored person between the read and the commit.
    #[transactional_handler(postbox = self.postbox, tx = tx, retries = 2)]
    async fn add_if(
        &self,
        tx: &mut Transaction,
        name: String,
        condition: Expr,
        meddle: &Meddler,
    ) -> Result<(), AppError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let mut person: Person = tx
            .get(&self.people, &name)
            .await?
            .ok_or(AppError::UnknownPerson)?;
        person.greetings.push("conditional".into());
        meddle.maybe(&name).await;
        tx.put_if(&self.people, &person, condition.clone())?;
        Ok(())
    }

    /// Deletes a person nobody greeted, deciding on what it read; `meddle` may greet them
    /// between the read and the commit. Returns whether the person was deleted.
    #[transactional_handler(postbox = self.postbox, tx = tx, retries = 2)]
    async fn remove_if_ungreeted(
        &self,
        tx: &mut Transaction,
        name: String,
        meddle: &Meddler,
    ) -> Result<bool, AppError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let person: Person = tx
            .get(&self.people, &name)
            .await?
            .ok_or(AppError::UnknownPerson)?;
        meddle.maybe(&name).await;
        if !person.greetings.is_empty() {
            return Ok(false);
        }
        tx.delete(&self.people, name.as_str(), None)?;
        Ok(true)
    }
}

/// Another writer that changes a person behind a unit of work's back, the first `times` times
/// it is asked.
struct Meddler {
    db: DynamoDb,
    table: String,
    times: AtomicU32,
    /// Appended to the person's greetings by the change, when set.
    greeting: Option<String>,
}

impl Meddler {
    async fn maybe(&self, name: &str) {
        if self
            .times
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_err()
        {
            return;
        }
        // A versioned write, as another unit of work makes it: the version moves on.
        let request = self
            .db
            .client()
            .update_item()
            .table_name(&self.table)
            .key("Name", AttributeValue::S(name.to_owned()))
            .expression_attribute_names("#v", "Version")
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        let request = match &self.greeting {
            None => request.update_expression("SET #v = if_not_exists(#v, :zero) + :one"),
            Some(greeting) => request
                .update_expression(
                    "SET #v = if_not_exists(#v, :zero) + :one, #g = list_append(#g, :g)",
                )
                .expression_attribute_names("#g", "Greetings")
                .expression_attribute_values(
                    ":g",
                    AttributeValue::L(vec![AttributeValue::S(greeting.clone())]),
                ),
        };
        request.send().await.expect("the meddling write");
    }
}

fn people_schema(versioned: bool) -> TableSchema {
    let schema = TableSchema::new(
        unique_name("people"),
        KeyAttribute::new("Name", KeyKind::String),
    );
    if versioned {
        schema.with_version("Version")
    } else {
        schema
    }
}

async fn greetings(versioned: bool) -> Arc<Greetings> {
    let db = dynamodb().await;
    let config = fresh_outbox(&db).await;
    let people = people_schema(versioned);
    create_table(&db, &people).await;
    let producer = Arc::new(InMemoryProducer::new());
    let postbox = Postbox::new(Outbox::new(db, config).unwrap(), Arc::clone(&producer));
    Arc::new(Greetings {
        postbox,
        people,
        producer,
        runs: AtomicU32::new(0),
    })
}

/// Seeds a person in a unit of work of its own: read (absent), then put.
async fn seed(greetings: &Greetings, name: &str) {
    let mut tx = greetings.postbox.begin();
    assert_eq!(
        tx.get::<Person>(&greetings.people, name).await.unwrap(),
        None
    );
    tx.put(
        &greetings.people,
        &Person {
            name: name.to_owned(),
            greetings: Vec::new(),
        },
    )
    .unwrap();
    tx.commit().await.unwrap();
}

async fn stored(greetings: &Greetings, name: &str) -> (Person, u64) {
    let item = greetings
        .postbox
        .outbox()
        .db()
        .client()
        .get_item()
        .table_name(&greetings.people.name)
        .key("Name", AttributeValue::S(name.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the person is stored");
    let version = item["Version"].as_n().unwrap().parse().unwrap();
    (serde_dynamo::from_item(item).unwrap(), version)
}

fn meddler(greetings: &Greetings, times: u32) -> Meddler {
    Meddler {
        db: greetings.postbox.outbox().db().clone(),
        table: greetings.people.name.clone(),
        times: AtomicU32::new(times),
        greeting: None,
    }
}

/// A meddler whose change appends `greeting`: losing it is a lost update anyone can see.
fn greeter(greetings: &Greetings, times: u32, greeting: &str) -> Meddler {
    Meddler {
        greeting: Some(greeting.to_owned()),
        ..meddler(greetings, times)
    }
}

#[tokio::test]
async fn thirty_two_concurrent_greetings_of_one_person_are_all_kept_and_announced() {
    let greetings = greetings(true).await;
    seed(&greetings, "Tyrion").await;
    // 32 calls, 8 at a time.
    let mut workers = Vec::new();
    for worker in 0..8 {
        let greetings = Arc::clone(&greetings);
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            for call in (worker..32).step_by(8) {
                results.push(
                    greetings
                        .add("Tyrion".into(), format!("greeting {call}"))
                        .await,
                );
            }
            results
        }));
    }
    for worker in workers {
        for result in worker.await.unwrap() {
            result.map_err(outbox_error).unwrap();
        }
    }
    let (tyrion, version) = stored(&greetings, "Tyrion").await;
    let mut kept = tyrion.greetings.clone();
    kept.sort();
    kept.dedup();
    assert_eq!(
        kept.len(),
        32,
        "every greeting kept: {:?}",
        tyrion.greetings
    );
    assert_eq!(tyrion.greetings.len(), 32);
    assert_eq!(version, 33, "the seed's put, then one write per greeting");
    let sent = greetings.producer.sent();
    assert_eq!(sent.len(), 32, "one GreetingMade per greeting");
    let mut announced: Vec<String> = sent
        .iter()
        .map(|m| GreetingMade::from_message(m).unwrap().greeting)
        .collect();
    announced.sort();
    announced.dedup();
    assert_eq!(announced, {
        let mut all: Vec<String> = (0..32).map(|n| format!("greeting {n}")).collect();
        all.sort();
        all
    });
    assert!(
        greetings.runs.load(Ordering::SeqCst) >= 32,
        "each call ran its body at least once"
    );
}

#[tokio::test]
async fn a_read_item_changed_before_the_commit_makes_the_body_run_again_with_a_fresh_read() {
    let greetings = greetings(true).await;
    seed(&greetings, "Jaime").await;
    let meddle = meddler(&greetings, 1);
    let always = Expr::new("attribute_exists(#n)").name("#n", "Name");
    let ((), reports) = {
        let (result, reports) =
            capture_reports(greetings.add_if("Jaime".into(), always, &meddle)).await;
        (result.map_err(outbox_error).unwrap(), reports)
    };
    assert_eq!(greetings.runs.load(Ordering::SeqCst), 2);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].runs, 2, "the report counts the runs");
    let (jaime, version) = stored(&greetings, "Jaime").await;
    assert_eq!(jaime.greetings, ["conditional"]);
    assert_eq!(version, 3, "seed 1, meddler 2, the second run 3");
}

#[tokio::test]
async fn a_failed_condition_of_the_handlers_own_is_not_retried_and_names_the_condition() {
    let greetings = greetings(true).await;
    seed(&greetings, "Cersei").await;
    let never = Expr::new("attribute_not_exists(#n)").name("#n", "Name");
    let err = outbox_error(
        greetings
            .add_if("Cersei".into(), never, &meddler(&greetings, 0))
            .await
            .unwrap_err(),
    );
    assert_eq!(greetings.runs.load(Ordering::SeqCst), 1, "never run again");
    assert!(!err.is_conflict(), "{err}");
    let Error::TransactionCancelled { reasons } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(reasons[0].code, CancellationCode::ConditionalCheckFailed);
    assert_eq!(
        reasons[0].condition,
        Some(ConditionFailure::Condition {
            expression: "attribute_not_exists(#n)".into()
        })
    );
    let text = err.to_string();
    assert!(
        text.contains("the condition `attribute_not_exists(#n)` did not hold"),
        "{text}"
    );
    let (cersei, version) = stored(&greetings, "Cersei").await;
    assert!(cersei.greetings.is_empty(), "nothing written");
    assert_eq!(version, 1);
}

#[tokio::test]
async fn a_handler_condition_and_a_changed_version_on_one_action_are_told_apart() {
    // The item changed and the handler's own condition fails too: the version moved, so it is a
    // conflict, and the next run (fresh read, unchanged item) meets the handler's condition
    // alone, which is not retried.
    let greetings = greetings(true).await;
    seed(&greetings, "Bran").await;
    let never = Expr::new("attribute_not_exists(#n)").name("#n", "Name");
    let err = outbox_error(
        greetings
            .add_if("Bran".into(), never, &meddler(&greetings, 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        greetings.runs.load(Ordering::SeqCst),
        2,
        "run again once, for the changed item, then stopped by the handler's condition"
    );
    let Error::TransactionCancelled { reasons } = &err else {
        panic!("{err:?}");
    };
    assert!(matches!(
        reasons[0].condition,
        Some(ConditionFailure::Condition { .. })
    ));
}

#[tokio::test]
async fn a_body_that_conflicts_every_time_stops_at_the_retry_bound_and_says_so() {
    let greetings = greetings(true).await;
    seed(&greetings, "Sansa").await;
    let always = Expr::new("attribute_exists(#n)").name("#n", "Name");
    let err = outbox_error(
        greetings
            .add_if("Sansa".into(), always, &meddler(&greetings, 100))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        greetings.runs.load(Ordering::SeqCst),
        3,
        "1 run + 2 retries"
    );
    let Error::ConflictRetriesExhausted {
        runs,
        retries,
        source,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*runs, *retries), (3, 2));
    assert!(source.is_conflict());
    let Error::TransactionCancelled { reasons } = source.as_ref() else {
        panic!("{source:?}");
    };
    assert_eq!(
        reasons[0].condition,
        Some(ConditionFailure::ChangedSinceRead {
            read: Version::At(3),
            found: Version::At(4),
        })
    );
    let text = err.to_string();
    assert!(text.contains("ran 3 times"), "{text}");
    assert!(text.contains("`retries = 2`"), "{text}");
    assert!(
        text.contains("changed since this unit of work read it"),
        "{text}"
    );
}

#[tokio::test]
async fn an_item_read_as_absent_is_created_only_if_it_is_still_absent() {
    let greetings = greetings(true).await;
    let mut tx = greetings.postbox.begin();
    assert!(
        tx.get::<Person>(&greetings.people, "Arya")
            .await
            .unwrap()
            .is_none()
    );
    tx.put(
        &greetings.people,
        &Person {
            name: "Arya".into(),
            greetings: vec!["first".into()],
        },
    )
    .unwrap();
    // Someone else creates Arya in between.
    seed(&greetings, "Arya").await;
    let err = tx.commit().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let Error::TransactionCancelled { reasons } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        reasons[0].condition,
        Some(ConditionFailure::ChangedSinceRead {
            read: Version::Absent,
            found: Version::At(1),
        })
    );
    assert!(stored(&greetings, "Arya").await.0.greetings.is_empty());
}

#[tokio::test]
async fn a_pinned_item_that_changed_cancels_the_commit_as_a_conflict() {
    let greetings = greetings(true).await;
    seed(&greetings, "Ned").await;
    seed(&greetings, "Robb").await;
    let mut tx = greetings.postbox.begin();
    let _ned: Person = tx.get(&greetings.people, "Ned").await.unwrap().unwrap();
    let mut robb: Person = tx.get(&greetings.people, "Robb").await.unwrap().unwrap();
    robb.greetings.push("Ned says hello".into());
    tx.put(&greetings.people, &robb).unwrap();
    tx.pin(&greetings.people, "Ned").unwrap();
    assert_eq!(tx.len(), 2, "the put and the pin");
    meddler(&greetings, 1).maybe("Ned").await;
    let err = tx.commit().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(stored(&greetings, "Robb").await.0.greetings.is_empty());

    // Unpinned, the same change to Ned does not stop the write to Robb.
    let mut tx = greetings.postbox.begin();
    let _ned: Person = tx.get(&greetings.people, "Ned").await.unwrap().unwrap();
    let mut robb: Person = tx.get(&greetings.people, "Robb").await.unwrap().unwrap();
    robb.greetings.push("Ned says hello".into());
    tx.put(&greetings.people, &robb).unwrap();
    meddler(&greetings, 1).maybe("Ned").await;
    tx.commit().await.unwrap();
    assert_eq!(stored(&greetings, "Robb").await.0.greetings.len(), 1);
}

#[tokio::test]
async fn get_many_reads_several_items_and_a_second_read_returns_the_first() {
    let greetings = greetings(true).await;
    seed(&greetings, "Tyrion").await;
    seed(&greetings, "Jaime").await;
    let mut tx = greetings.postbox.begin();
    let people: Vec<Option<Person>> = tx
        .get_many(&greetings.people, ["Tyrion", "Nobody", "Jaime"])
        .await
        .unwrap();
    let names: Vec<Option<String>> = people
        .iter()
        .map(|p| p.as_ref().map(|p| p.name.clone()))
        .collect();
    assert_eq!(
        names,
        [Some("Tyrion".to_owned()), None, Some("Jaime".to_owned())]
    );
    // Changed behind the transaction's back: a second read returns what was read first.
    meddler(&greetings, 1).maybe("Tyrion").await;
    let again: Person = tx.get(&greetings.people, "Tyrion").await.unwrap().unwrap();
    assert_eq!(Some(again), people[0]);
}

#[tokio::test]
async fn writes_that_could_lose_an_update_are_refused_before_anything_is_sent() {
    // A read item of a table that keeps no version.
    let plain = greetings(false).await;
    let mut tx = plain.postbox.begin();
    let none: Option<Person> = tx.get(&plain.people, "Tyrion").await.unwrap();
    assert!(none.is_none());
    let err = tx
        .put(
            &plain.people,
            &Person {
                name: "Tyrion".into(),
                greetings: Vec::new(),
            },
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidAction { .. }), "{err:?}");
    assert!(
        text.contains(&format!("table `{}`", plain.people.name)),
        "{text}"
    );
    assert!(text.contains("TableSchema::with_version"), "{text}");

    // A put to a versioned table without a read first.
    let versioned = greetings(true).await;
    let mut tx = versioned.postbox.begin();
    let err = tx
        .put(
            &versioned.people,
            &Person {
                name: "Tyrion".into(),
                greetings: Vec::new(),
            },
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("keeps a version in `Version`"), "{text}");
    assert!(text.contains("(`get`)"), "{text}");

    // A read after a write of the same item.
    let mut tx = versioned.postbox.begin();
    tx.update(
        &versioned.people,
        "Tyrion",
        Expr::new("SET #g = :g")
            .name("#g", "Greetings")
            .value(":g", AttributeValue::L(Vec::new())),
        None,
    )
    .unwrap();
    let err = tx
        .get::<Person>(&versioned.people, "Tyrion")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("read an item before writing it"),
        "{err}"
    );

    // A pin of an item not read.
    let err = tx.pin(&versioned.people, "Jaime").unwrap_err();
    assert!(
        err.to_string().contains("read it with `get` first"),
        "{err}"
    );
}

#[tokio::test]
async fn a_blind_update_moves_the_version_on_so_a_reader_elsewhere_conflicts() {
    let greetings = greetings(true).await;
    seed(&greetings, "Tyrion").await;
    let mut reader = greetings.postbox.begin();
    let mut tyrion: Person = reader
        .get(&greetings.people, "Tyrion")
        .await
        .unwrap()
        .unwrap();

    let mut blind = greetings.postbox.begin();
    blind
        .update(
            &greetings.people,
            "Tyrion",
            Expr::new("SET #g = list_append(#g, :g)")
                .name("#g", "Greetings")
                .value(
                    ":g",
                    AttributeValue::L(vec![AttributeValue::S("blind".into())]),
                ),
            None,
        )
        .unwrap();
    blind.commit().await.unwrap();
    assert_eq!(stored(&greetings, "Tyrion").await.1, 2);

    tyrion.greetings.push("read-modify-write".into());
    reader.put(&greetings.people, &tyrion).unwrap();
    let err = reader.commit().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        stored(&greetings, "Tyrion").await.0.greetings,
        ["blind"],
        "the blind update was not lost"
    );
}

#[tokio::test]
async fn keys_are_typed_by_the_table_schema() {
    let people = TableSchema::new("People", KeyAttribute::new("Name", KeyKind::String));
    let key = people.key("Tyrion").unwrap();
    assert_eq!(key.as_item()["Name"], AttributeValue::S("Tyrion".into()));
    let err = people.key(7).unwrap_err();
    assert_eq!(
        err.to_string(),
        "key for table `People`: key attribute `Name` is a string in the table's schema, but a \
         number was given"
    );
    let err = people.key(("Tyrion", 1)).unwrap_err();
    assert!(
        err.to_string().contains("pass one value, not a pair"),
        "{err}"
    );

    let orders = TableSchema::new("Orders", KeyAttribute::new("Customer", KeyKind::String))
        .with_range_key(KeyAttribute::new("Number", KeyKind::Number));
    assert!(orders.key(("c-1", 42_u32)).is_ok());
    let err = orders.key("c-1").unwrap_err();
    assert!(
        err.to_string().contains("range attribute `Number` too"),
        "{err}"
    );
    let err = orders.key(("c-1", "forty-two")).unwrap_err();
    assert!(err.to_string().contains("`Number` is a number"), "{err}");
    let err = orders.key(&key).unwrap_err();
    assert!(err.to_string().contains("made for table `People`"), "{err}");
}

fn changed_since_read(err: &Error) -> Option<ConditionFailure> {
    match err {
        Error::TransactionCancelled { reasons } => reasons[0].condition.clone(),
        _ => None,
    }
}

#[tokio::test]
async fn an_update_of_a_read_item_that_changed_since_is_a_conflict_and_loses_nothing() {
    let greetings = greetings(true).await;
    seed(&greetings, "Tyrion").await;
    let mut tx = greetings.postbox.begin();
    let mut tyrion: Person = tx.get(&greetings.people, "Tyrion").await.unwrap().unwrap();
    greeter(&greetings, 1, "elsewhere").maybe("Tyrion").await;
    // An update that writes the whole list as read: without the read's version condition it
    // would silently drop the greeting added elsewhere.
    tyrion.greetings.push("here".into());
    let list = tyrion
        .greetings
        .iter()
        .map(|g| AttributeValue::S(g.clone()))
        .collect();
    tx.update(
        &greetings.people,
        "Tyrion",
        Expr::new("SET #g = :g")
            .name("#g", "Greetings")
            .value(":g", AttributeValue::L(list)),
        None,
    )
    .unwrap();
    tx.deposit(&GreetingMade {
        name: "Tyrion".into(),
        greeting: "here".into(),
    })
    .unwrap();
    let err = tx.commit().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        changed_since_read(&err),
        Some(ConditionFailure::ChangedSinceRead {
            read: Version::At(1),
            found: Version::At(2),
        }),
        "{err:?}"
    );
    let (tyrion, version) = stored(&greetings, "Tyrion").await;
    assert_eq!(
        tyrion.greetings,
        ["elsewhere"],
        "the other writer's greeting kept"
    );
    assert_eq!(version, 2);
    assert_eq!(
        greetings
            .postbox
            .outbox()
            .outstanding_count(10)
            .await
            .unwrap()
            .count,
        0,
        "the message of the cancelled commit was not stored"
    );
}

#[tokio::test]
async fn a_delete_of_a_read_item_that_changed_since_is_a_conflict_and_deletes_nothing() {
    let greetings = greetings(true).await;
    seed(&greetings, "Jaime").await;
    let mut tx = greetings.postbox.begin();
    let jaime: Person = tx.get(&greetings.people, "Jaime").await.unwrap().unwrap();
    // The decision is taken on what was read: nobody greeted Jaime, so he goes.
    assert!(jaime.greetings.is_empty());
    tx.delete(&greetings.people, "Jaime", None).unwrap();
    greeter(&greetings, 1, "just in time").maybe("Jaime").await;
    let err = tx.commit().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        changed_since_read(&err),
        Some(ConditionFailure::ChangedSinceRead {
            read: Version::At(1),
            found: Version::At(2),
        }),
        "{err:?}"
    );
    let (jaime, version) = stored(&greetings, "Jaime").await;
    assert_eq!(
        jaime.greetings,
        ["just in time"],
        "Jaime and his greeting kept"
    );
    assert_eq!(version, 2);

    // Run as a handler, the conflict runs the body again on a fresh read, which keeps the
    // person greeted meanwhile.
    seed(&greetings, "Cersei").await;
    let deleted = greetings
        .remove_if_ungreeted("Cersei".into(), &greeter(&greetings, 1, "meanwhile"))
        .await
        .map_err(outbox_error)
        .unwrap();
    assert!(!deleted, "the second run read the greeting and kept her");
    assert_eq!(
        greetings.runs.load(Ordering::SeqCst),
        2,
        "one conflict, one run again"
    );
    let (cersei, version) = stored(&greetings, "Cersei").await;
    assert_eq!(cersei.greetings, ["meanwhile"]);
    assert_eq!(version, 2);
}
