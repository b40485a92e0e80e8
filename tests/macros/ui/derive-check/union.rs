use outbox_runtime::OutboxMessage;

#[derive(OutboxMessage)]
#[outbox(topic = "bits")]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
