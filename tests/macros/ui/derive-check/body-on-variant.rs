use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = "account")]
enum Account {
    #[outbox(body = "dynamo")]
    Open { owner: String },
}

fn main() {}
