use outbox_runtime::OutboxMessage;

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(message_type = "event")]
struct GreetingMade {
    name: String,
}

// The stub impl keeps uses of the type from failing a second time.
fn deposit(tx: &mut outbox_runtime::Transaction) -> outbox_runtime::Result<()> {
    tx.deposit(&GreetingMade {
        name: GreetingMade::TOPIC.into(),
    })?;
    Ok(())
}

fn main() {
    let _ = deposit;
}
