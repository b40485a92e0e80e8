use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
struct GreetingMade {
    #[outbox(partition_key = true)]
    name: String,
}

fn main() {}
