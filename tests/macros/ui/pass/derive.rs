use outbox_runtime::OutboxMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, OutboxMessage)]
#[outbox(
    topic = "greeting.made",
    message_type = "event",
    content_type = "application/cloudevents+json",
    body = "json"
)]
pub struct GreetingMade {
    #[outbox(partition_key)]
    pub name: String,
    #[outbox(id)]
    pub id: uuid::Uuid,
    #[outbox(correlation_id)]
    pub correlation: Option<String>,
}

#[derive(Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "unit", message_type = "document", body = "dynamo")]
struct Unit {}

#[derive(Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "tuple")]
pub(crate) struct Tuple(#[outbox(partition_key, correlation_id)] u64, String);

#[derive(Serialize, Deserialize, OutboxMessage)]
#[outbox(topic = "generic")]
struct Generic<T, const N: usize>
where
    T: Clone,
{
    items: Vec<T>,
}

#[derive(Serialize, Deserialize, OutboxMessage)]
#[outbox(message_type = "command")]
enum Mixed {
    #[outbox(topic = "a")]
    Unit,
    #[outbox(topic = "b", message_type = "document")]
    Tuple(#[outbox(partition_key)] i32, String),
    #[outbox(topic = "a")]
    Named {
        #[outbox(id)]
        id: String,
        #[outbox(partition_key)]
        key: Option<String>,
    },
}

fn uses<T: OutboxMessage>() -> &'static [&'static str] {
    T::TOPICS
}

fn main() {
    let _: &str = GreetingMade::TOPIC;
    let _: &str = Unit::TOPIC;
    let _: &str = Tuple::TOPIC;
    let _: &str = Generic::<u8, 3>::TOPIC;
    assert_eq!(uses::<Mixed>(), ["a", "b"]);
    let _ = uses::<Generic<String, 1>>();
}
