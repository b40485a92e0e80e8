use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made", partition_key)]
struct GreetingMade {
    #[outbox(topic = "other")]
    name: String,
}

fn main() {}
