use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made", message_type = "notification")]
struct GreetingMade {
    name: String,
}

fn main() {}
