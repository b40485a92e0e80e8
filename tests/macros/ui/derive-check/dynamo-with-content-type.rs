use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(
    topic = "greeting.made",
    body = "dynamo",
    content_type = "application/json"
)]
struct GreetingMade {
    name: String,
}

fn main() {}
