use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize)]
struct Key {
    region: String,
}

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
struct GreetingMade {
    #[outbox(partition_key)]
    key: Key,
}

fn main() {}
