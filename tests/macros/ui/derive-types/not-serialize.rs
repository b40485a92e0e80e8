use outbox_runtime::OutboxMessage;

#[derive(OutboxMessage)]
#[outbox(topic = "greeting.made")]
struct GreetingMade {
    name: String,
}

fn main() {}
