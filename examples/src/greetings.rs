//! The greetings service: people collect greetings, and every greeting is announced as a
//! `GreetingMade` message. The handler reads the person, appends the greeting, writes the
//! person back and deposits the message in one unit of work: the write is conditional on the
//! person being unchanged since the read, so concurrent greetings never overwrite each other
//! (a lost race runs the handler again). After the commit the message is sent at once, or by
//! the sweeper if the process dies first.

use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::table::TableSchema;
use std::time::Duration;

use outbox_runtime::{
    DynamoDb, MessageId, OutboxMessage, Postbox, ScheduleOutcome, Transaction,
    transactional_handler,
};
use serde::{Deserialize, Serialize};

use crate::people;

/// How many greetings one person may collect; the handler refuses more.
pub const MAX_GREETINGS: usize = 40;

/// A person and the greetings they received: one item of the `People` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// The key.
    #[serde(rename = "Name")]
    pub name: String,
    /// Greetings, oldest first.
    #[serde(rename = "Greetings", default)]
    pub greetings: Vec<String>,
}

/// The event announcing a greeting. Greetings of one person are delivered in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
pub struct GreetingMade {
    /// Who was greeted: the ordering key.
    #[outbox(partition_key)]
    pub name: String,
    /// The greeting.
    pub greeting: String,
}

/// The command: greet someone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddGreeting {
    /// Who to greet.
    pub name: String,
    /// What to say.
    pub greeting: String,
}

/// The command: greet someone later, unless told otherwise before then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleGreeting {
    /// Who to greet.
    pub name: String,
    /// What to say.
    pub greeting: String,
    /// How long from now.
    pub after: Duration,
}

/// What can go wrong when greeting.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// There is nobody of that name.
    #[error("there is no person named `{0}`; add them first")]
    UnknownPerson(String),
    /// The person has all the greetings they may have.
    #[error("`{name}` already has {MAX_GREETINGS} greetings, the most one person may collect")]
    TooManyGreetings {
        /// Who.
        name: String,
    },
    /// The outbox failed.
    #[error(transparent)]
    Outbox(#[from] outbox_runtime::Error),
    /// Reading or writing a person failed.
    #[error("{action} failed: {source}")]
    Storage {
        /// What was being done, naming the person and table.
        action: String,
        /// DynamoDB's or serde's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn storage(action: String) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> AppError {
    move |source| AppError::Storage { action, source }
}

/// Reads and seeds people.
#[derive(Clone, Debug)]
pub struct People {
    db: DynamoDb,
    /// The table.
    pub table: TableSchema,
}

impl People {
    /// The people of `table_name`.
    pub fn new(db: DynamoDb, table_name: &str) -> Self {
        Self {
            db,
            table: people::table_schema(table_name),
        }
    }

    /// The person called `name`, read consistently.
    ///
    /// # Errors
    /// DynamoDB's error, or an item that is not a person.
    pub async fn load(&self, name: &str) -> Result<Option<Person>, AppError> {
        let output = self
            .db
            .client()
            .get_item()
            .table_name(&self.table.name)
            .key("Name", AttributeValue::S(name.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| aws_sdk_dynamodb::Error::from(err).into())
            .map_err(storage(format!(
                "reading person `{name}` from `{}`",
                self.table.name
            )))?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|err| err.into())
                    .map_err(storage(format!(
                        "decoding person `{name}` from `{}`",
                        self.table.name
                    )))
            })
            .transpose()
    }

    /// Writes `person` as it is (seeding, outside any transaction).
    ///
    /// # Errors
    /// DynamoDB's error.
    pub async fn save(&self, person: &Person) -> Result<(), AppError> {
        let action = format!("saving person `{}` to `{}`", person.name, self.table.name);
        let item = serde_dynamo::to_item(person)
            .map_err(|err| err.into())
            .map_err(storage(action.clone()))?;
        self.db
            .client()
            .put_item()
            .table_name(&self.table.name)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|err| aws_sdk_dynamodb::Error::from(err).into())
            .map_err(storage(action))?;
        Ok(())
    }
}

/// Handles [`AddGreeting`].
#[derive(Clone, Debug)]
pub struct AddGreetingHandler {
    /// The outbox and producer.
    pub postbox: Postbox,
    /// The people.
    pub people: People,
}

impl AddGreetingHandler {
    /// Appends the greeting to the person and announces it, both or neither. Returns the id of
    /// the announcing message. Run concurrently on one person, every call's greeting is kept:
    /// a call whose person changed between its read and its commit runs again.
    ///
    /// # Errors
    /// [`AppError::UnknownPerson`], [`AppError::TooManyGreetings`] (nothing is stored, nothing
    /// is sent), or the outbox's error.
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    pub async fn handle(
        &self,
        tx: &mut Transaction,
        command: AddGreeting,
    ) -> Result<MessageId, AppError> {
        let mut person: Person = tx
            .get(&self.people.table, &command.name)
            .await?
            .ok_or_else(|| AppError::UnknownPerson(command.name.clone()))?;
        person.greetings.push(command.greeting.clone());
        tx.put(&self.people.table, &person)?;
        let id = tx.deposit(&GreetingMade {
            name: command.name.clone(),
            greeting: command.greeting.clone(),
        })?;
        // Checked after the writes on purpose: an error at any point of the body discards the
        // person's update and the deposited message alike.
        if person.greetings.len() > MAX_GREETINGS {
            return Err(AppError::TooManyGreetings { name: person.name });
        }
        Ok(id)
    }

    /// Announces a greeting later: the `GreetingMade` is deposited due `command.after` from
    /// now, and the sweeper sends it then. Returns its id, to cancel it with.
    ///
    /// # Errors
    /// [`AppError::UnknownPerson`], or the outbox's error.
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    pub async fn schedule(
        &self,
        tx: &mut Transaction,
        command: ScheduleGreeting,
    ) -> Result<MessageId, AppError> {
        if tx
            .get::<Person>(&self.people.table, &command.name)
            .await?
            .is_none()
        {
            return Err(AppError::UnknownPerson(command.name.clone()));
        }
        let announcement = GreetingMade {
            name: command.name.clone(),
            greeting: command.greeting.clone(),
        };
        Ok(tx.deposit_after(&announcement, command.after)?)
    }

    /// Takes back a scheduled greeting: unless it is already out (or on its way), it is never
    /// sent. The outcome says which.
    ///
    /// # Errors
    /// The outbox's error.
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    pub async fn cancel(
        &self,
        tx: &mut Transaction,
        scheduled: MessageId,
    ) -> Result<ScheduleOutcome, AppError> {
        Ok(tx.cancel(&scheduled).await?)
    }
}
