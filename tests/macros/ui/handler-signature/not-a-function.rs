use outbox_runtime::{Postbox, transactional_handler};

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
struct Wrong;

fn main() {}
