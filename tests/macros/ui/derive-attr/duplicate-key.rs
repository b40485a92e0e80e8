use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
#[outbox(message_type = "event", topic = "greeting.done")]
struct GreetingMade {
    name: String,
}

fn main() {}
