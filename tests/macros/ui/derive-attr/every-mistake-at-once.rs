// Every mistake is reported, not only the first.
use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made", messagetype = "event", body = "yaml")]
struct GreetingMade {
    #[outbox(partition_key, partition_key)]
    name: String,
    #[outbox(correlation)]
    request: String,
}

fn main() {}
