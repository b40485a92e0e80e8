use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
struct GreetingMade {
    #[outbox(partition_key)]
    name: String,
    #[outbox(partition_key)]
    greeting: String,
}

fn main() {}
