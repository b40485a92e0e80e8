use std::sync::Arc;

use outbox_runtime::{OutboxMessage, Postbox, Transaction, transactional_handler};

#[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
#[outbox(topic = "greeting.made")]
struct GreetingMade {
    #[outbox(partition_key)]
    name: String,
}

#[derive(Debug)]
enum AppError {
    Outbox(outbox_runtime::Error),
    Invalid(String),
}

impl From<outbox_runtime::Error> for AppError {
    fn from(err: outbox_runtime::Error) -> Self {
        AppError::Outbox(err)
    }
}

type AppResult<T> = Result<T, AppError>;

#[derive(Clone)]
struct AddGreeting {
    name: String,
}

struct Handler {
    postbox: Arc<Postbox>,
}

impl Handler {
    /// A method; the postbox behind an `Arc`; an alias for the return type.
    #[transactional_handler(postbox = self.postbox, tx = tx)]
    pub async fn handle(&self, cmd: AddGreeting, tx: &mut Transaction) -> AppResult<usize> {
        if cmd.name.is_empty() {
            return Err(AppError::Invalid("no name".into()));
        }
        tx.deposit(&GreetingMade { name: cmd.name })?;
        Ok(tx.len())
    }

    /// Generic, with `impl Trait` and a reference argument, no retries.
    #[transactional_handler(postbox = &*self.postbox, tx = tx, retries = 0, clear = "sweeper")]
    async fn generic<N>(
        &self,
        tx: &mut outbox_runtime::Transaction,
        name: N,
        note: &str,
    ) -> AppResult<()>
    where
        N: Into<String>,
    {
        let _ = note;
        tx.deposit(&GreetingMade { name: name.into() })?;
        Ok(())
    }

    /// Many retries, by-value arguments that are `Clone`, a mutable binding.
    #[transactional_handler(postbox = self.postbox, tx = tx, retries = 10)]
    async fn with_retries(
        &self,
        tx: &mut Transaction,
        mut names: Vec<String>,
        _unused: u8,
    ) -> Result<(), outbox_runtime::Error> {
        names.sort();
        for name in names {
            tx.deposit(&GreetingMade { name })?;
        }
        Ok(())
    }
}

/// A free function; the error type is the runtime's own.
#[transactional_handler(postbox = postbox, tx = tx)]
async fn free(postbox: &Postbox, tx: &mut Transaction, name: String) -> outbox_runtime::Result<()> {
    tx.deposit(&GreetingMade { name })?;
    Ok(())
}

static POSTBOX: std::sync::OnceLock<Postbox> = std::sync::OnceLock::new();

/// A postbox from a static.
#[transactional_handler(postbox = POSTBOX.get().expect("set at start-up"), tx = tx)]
async fn from_static(tx: &mut Transaction) -> outbox_runtime::Result<()> {
    tx.deposit(&GreetingMade {
        name: "static".into(),
    })?;
    Ok(())
}

fn is_send<T: Send>(_: T) {}

fn main() {
    let _ = AppError::Invalid(String::new());
    fn check(handler: &Handler, postbox: &Postbox) {
        is_send(handler.handle(AddGreeting { name: "a".into() }));
        is_send(handler.generic("a", "note"));
        is_send(handler.with_retries(vec![], 0));
        is_send(free(postbox, "a".into()));
        is_send(from_static());
    }
    let _ = check;
}

/// Other receivers and impls: `self: Arc<Self>`, a generic impl, a trait impl.
mod receivers {
    use std::sync::Arc;

    use outbox_runtime::{Postbox, Transaction, transactional_handler};

    pub(crate) trait Store: Send + Sync {
        fn table(&self) -> &outbox_runtime::table::TableSchema;
    }

    pub(crate) struct Service<S> {
        pub(crate) postbox: Postbox,
        pub(crate) store: S,
    }

    impl<S: Store> Service<S> {
        #[transactional_handler(postbox = self.postbox, tx = tx)]
        pub(crate) async fn shared(
            self: Arc<Self>,
            tx: &mut Transaction,
            key: String,
        ) -> outbox_runtime::Result<()> {
            tx.put(self.store.table(), &serde_json::json!({ "Id": key }))?;
            Ok(())
        }
    }

    pub(crate) trait Handle {
        async fn handle(&self, key: String) -> outbox_runtime::Result<()>;
    }

    impl<S: Store> Handle for Service<S> {
        #[transactional_handler(postbox = self.postbox, tx = tx)]
        async fn handle(&self, tx: &mut Transaction, key: String) -> outbox_runtime::Result<()> {
            tx.put(self.store.table(), &serde_json::json!({ "Id": key }))?;
            Ok(())
        }
    }
}
