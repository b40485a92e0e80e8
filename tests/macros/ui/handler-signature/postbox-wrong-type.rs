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

struct Other {
    postbox: String,
}

impl Other {
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn handle(&self, tx: &mut Transaction) -> Result<(), AppError> {
        let _ = tx;
        Ok(())
    }
}

fn unused(_: &Handler) {}

fn main() {}
