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
    #[transactional_handler(tx = tx)]
    async fn handle(&self, tx: &mut Transaction) -> Result<(), AppError> {
        let _ = tx;
        Ok(())
    }
}

fn main() {}
