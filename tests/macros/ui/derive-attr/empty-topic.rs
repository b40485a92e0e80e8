use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = "")]
struct GreetingMade {
    name: String,
}

fn main() {}
