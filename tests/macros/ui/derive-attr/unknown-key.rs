use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topik = "greeting.made")]
struct GreetingMade {
    name: String,
}

fn main() {}
