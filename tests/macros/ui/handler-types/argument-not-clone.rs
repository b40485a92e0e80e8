use outbox_runtime::{Postbox, Transaction, transactional_handler};

#[derive(Debug)]
struct AppError;

impl From<outbox_runtime::Error> for AppError {
    fn from(_: outbox_runtime::Error) -> Self {
        AppError
    }
}

struct Handler {
    postbox: Postbox,
}

struct AddGreeting {
    name: String,
}

impl Handler {
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn handle(&self, tx: &mut Transaction, cmd: AddGreeting) -> Result<(), AppError> {
        let _ = (tx, cmd.name);
        Ok(())
    }

    // Without retries the body runs once: no copy is needed.
    #[transactional_handler(postbox = self.postbox, tx = tx, retries = 0)]
    async fn handle_once(&self, tx: &mut Transaction, cmd: AddGreeting) -> Result<(), AppError> {
        let _ = (tx, cmd.name);
        Ok(())
    }
}

fn main() {}
