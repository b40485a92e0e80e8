use outbox_runtime::consumer::Inbox;
use outbox_runtime::{Message, Postbox, Transaction, transactional_handler};

#[derive(Debug)]
struct AppError;

impl From<outbox_runtime::Error> for AppError {
    fn from(_: outbox_runtime::Error) -> Self {
        AppError
    }
}

struct Handler {
    postbox: Postbox,
    inbox: Inbox,
}

impl Handler {
    #[transactional_handler(postbox = self.postbox, tx = tx, incoming = message, inbox = self.postbox)]
    async fn handle(&self, tx: &mut Transaction, message: &Message) -> Result<(), AppError> {
        let _ = (tx, message, &self.inbox);
        Ok(())
    }
}

fn main() {}
