//! Consumer handlers: a method, a free function, no retries, a value returned.

use outbox_runtime::consumer::Inbox;
use outbox_runtime::{Message, Postbox, Transaction, transactional_handler};

struct Counter {
    postbox: Postbox,
    inbox: Inbox,
}

impl Counter {
    #[transactional_handler(postbox = self.postbox, tx = tx, incoming = message, inbox = self.inbox)]
    async fn handle(&self, tx: &mut Transaction, message: &Message) -> outbox_runtime::Result<()> {
        tx.deposit_message(Message::new(
            "counted",
            message.id().as_str().as_bytes().to_vec(),
        ))?;
        Ok(())
    }
}

#[transactional_handler(postbox = postbox, tx = tx, incoming = incoming, inbox = inbox, retries = 0)]
async fn count(
    postbox: &Postbox,
    inbox: &Inbox,
    incoming: &Message,
    tx: &mut Transaction,
) -> outbox_runtime::Result<u32> {
    let _ = (tx, incoming);
    Ok(1)
}

fn assert_send<F: std::future::Future + Send>(future: F) -> F {
    future
}

async fn callers(counter: &Counter, message: Message) -> outbox_runtime::Result<()> {
    assert_send(counter.handle(&message)).await?;
    let counted: u32 = count(&counter.postbox, &counter.inbox, &message).await?;
    let _ = counted;
    Ok(())
}

fn main() {
    let _ = callers;
}
