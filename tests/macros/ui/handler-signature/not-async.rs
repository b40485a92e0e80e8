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

impl Handler {
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    fn handle(&self, tx: &mut Transaction) -> Result<(), AppError> {
        let _ = tx;
        Ok(())
    }
}

// The signature callers see is already the generated one: no second error here.
async fn call(handler: &Handler) -> Result<(), AppError> {
    handler.handle().await
}

fn main() {}
