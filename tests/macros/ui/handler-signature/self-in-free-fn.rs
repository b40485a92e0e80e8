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

#[transactional_handler(postbox = self.postbox, tx = tx)]
async fn handle(tx: &mut Transaction) -> Result<(), AppError> {
    let _ = tx;
    Ok(())
}

// The handler as callers see it, with the transaction parameter gone, still type-checks.
async fn call() -> Result<(), AppError> {
    handle().await
}

fn unused(_: &Handler) {}

fn main() {}
