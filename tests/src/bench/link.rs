//! Where a scenario's requests go: the client that is measured (through the delaying proxy
//! when a round trip is modeled) and a direct one for what is not measured.

use outbox_runtime::DynamoDb;

use super::proxy::Proxy;

/// The clients of one scenario run.
#[derive(Clone, Debug)]
pub struct Link {
    /// What is measured: through the delaying proxy when `rtt_ms` is above zero, else the
    /// same as `direct`.
    pub db: DynamoDb,
    /// Straight to DynamoDB: tables made and dropped, backlogs filled and people seeded,
    /// outside what is measured.
    pub direct: DynamoDb,
    /// The modeled round trip in milliseconds (0: none).
    pub rtt_ms: f64,
}

impl Link {
    /// No modeled round trip: everything goes to `db`.
    pub fn direct(db: &DynamoDb) -> Self {
        Self {
            db: db.clone(),
            direct: db.clone(),
            rtt_ms: 0.0,
        }
    }

    /// Measured requests through `proxy`, the rest to `direct`.
    pub fn through(proxy: &Proxy, direct: &DynamoDb) -> Self {
        Self {
            db: DynamoDb::local(proxy.endpoint()),
            direct: direct.clone(),
            rtt_ms: proxy.rtt().as_secs_f64() * 1000.0,
        }
    }
}
