use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made", body = "xml")]
struct GreetingMade {
    name: String,
}

fn main() {}
