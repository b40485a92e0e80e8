use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = greeting_made)]
struct GreetingMade {
    name: String,
}

fn main() {}
