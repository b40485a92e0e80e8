use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
enum Account {
    #[outbox(topic = "account.open")]
    Open {
        owner: String,
    },
    Close {
        owner: String,
    },
}

fn main() {}
