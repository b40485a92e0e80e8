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

#[derive(Debug)]
struct OtherError;

impl Handler {
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn handle(&self, tx: &mut Transaction, n: u32) -> Result<u32, AppError> {
        let _ = tx;
        if n == 0 {
            return Ok("zero");
        }
        let parsed: u32 = "5".parse::<u32>().map_err(|_| OtherError)?;
        Ok(parsed + n)
    }
}

fn main() {}
