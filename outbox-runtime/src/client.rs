//! Building the DynamoDB client: a local endpoint for development and tests, the standard AWS
//! configuration chain otherwise.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Intercept, Region};
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;

use crate::error::{Error, Result};

/// The environment variable that names a DynamoDB endpoint to use instead of AWS.
pub const ENDPOINT_ENV: &str = "DYNAMODB_ENDPOINT";

/// The region a local endpoint is addressed with. DynamoDB Local runs with `-sharedDb`, so the
/// region does not separate tables; it only has to be fixed.
pub const LOCAL_REGION: &str = "us-east-1";

/// A DynamoDB client together with a description of where it points, so that every error can
/// name the endpoint.
///
/// ```no_run
/// # async fn run() -> outbox_runtime::Result<()> {
/// use outbox_runtime::DynamoDb;
///
/// // DYNAMODB_ENDPOINT if set, otherwise region and credentials from the AWS chain.
/// let db = DynamoDb::from_env().await;
/// db.check_reachable().await?;
/// println!("using {}", db.endpoint());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DynamoDb {
    client: Client,
    endpoint: String,
    consumed_capacity: Option<ReturnConsumedCapacity>,
}

/// Shows where the client points and nothing of its configuration: the SDK client's own `Debug`
/// prints its whole configuration, the access key id of its credentials included.
///
/// ```
/// let db = outbox_runtime::DynamoDb::local("http://127.0.0.1:8000");
/// assert_eq!(format!("{db:?}"), r#"DynamoDb { endpoint: "http://127.0.0.1:8000", .. }"#);
/// ```
impl std::fmt::Debug for DynamoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDb")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl DynamoDb {
    /// Uses the endpoint in `DYNAMODB_ENDPOINT` when it is set (see [`DynamoDb::local`]),
    /// otherwise the standard AWS configuration chain (environment, profile, instance role).
    pub async fn from_env() -> Self {
        match std::env::var(ENDPOINT_ENV) {
            Ok(endpoint) if !endpoint.trim().is_empty() => Self::local(endpoint.trim()),
            _ => {
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .timeout_config(timeouts())
                    .load()
                    .await;
                Self::from_client(Client::new(&shared))
            }
        }
    }

    /// A client for an emulator or any explicit endpoint: the given URL, region
    /// [`LOCAL_REGION`], static dummy credentials, short timeouts and few retries, so a dead
    /// endpoint is reported within seconds instead of hanging.
    ///
    /// ```
    /// let db = outbox_runtime::DynamoDb::local("http://127.0.0.1:8000");
    /// assert_eq!(db.endpoint(), "http://127.0.0.1:8000");
    /// ```
    pub fn local(endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(Region::new(LOCAL_REGION))
            .credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "outbox-local",
            ))
            .timeout_config(timeouts())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .build();
        Self {
            client: Client::from_conf(config),
            endpoint,
            consumed_capacity: None,
        }
    }

    /// Wraps a client you configured yourself; errors name its region.
    pub fn from_client(client: Client) -> Self {
        let endpoint = match client.config().region() {
            Some(region) => format!("the AWS endpoint of region {region}"),
            None => "the AWS endpoint (no region configured: set AWS_REGION)".to_owned(),
        };
        Self {
            client,
            endpoint,
            consumed_capacity: None,
        }
    }

    /// Adds an SDK interceptor to the client (to count calls, read what responses report,
    /// inject faults), keeping the endpoint and every other setting.
    ///
    /// ```
    /// use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
    /// use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
    /// use aws_sdk_dynamodb::config::RuntimeComponents;
    /// use aws_sdk_dynamodb::error::BoxError;
    ///
    /// #[derive(Debug)]
    /// struct Log;
    /// impl Intercept for Log {
    ///     fn name(&self) -> &'static str { "Log" }
    ///     fn read_before_transmit(
    ///         &self,
    ///         context: &BeforeTransmitInterceptorContextRef<'_>,
    ///         _components: &RuntimeComponents,
    ///         _cfg: &mut ConfigBag,
    ///     ) -> Result<(), BoxError> {
    ///         println!("{:?}", context.request().headers().get("x-amz-target"));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let db = outbox_runtime::DynamoDb::local("http://127.0.0.1:8000").with_interceptor(Log);
    /// assert_eq!(db.endpoint(), "http://127.0.0.1:8000");
    /// ```
    pub fn with_interceptor(self, interceptor: impl Intercept + 'static) -> Self {
        let config = self
            .client
            .config()
            .to_builder()
            .interceptor(interceptor)
            .build();
        Self {
            client: Client::from_conf(config),
            ..self
        }
    }

    /// Asks DynamoDB to report the capacity consumed by every call the runtime makes:
    /// `Indexes` for table and per-index units, `Total` for one sum per call. Read it from the
    /// responses with an interceptor (see [`DynamoDb::with_interceptor`]); this is how the
    /// benchmarks and cost tests measure capacity units per message. Off by default, when only
    /// commits ask for `Total` (see [`Committed::capacity_units`](crate::Committed)).
    ///
    /// ```
    /// use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
    ///
    /// let db = outbox_runtime::DynamoDb::local("http://127.0.0.1:8000")
    ///     .with_consumed_capacity(ReturnConsumedCapacity::Indexes);
    /// assert_eq!(db.consumed_capacity(), Some(ReturnConsumedCapacity::Indexes));
    /// ```
    pub fn with_consumed_capacity(mut self, level: ReturnConsumedCapacity) -> Self {
        self.consumed_capacity = Some(level);
        self
    }

    /// The consumed-capacity level every call asks for, when one was set with
    /// [`DynamoDb::with_consumed_capacity`].
    pub fn consumed_capacity(&self) -> Option<ReturnConsumedCapacity> {
        self.consumed_capacity.clone()
    }

    /// The SDK client, for your own calls.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where the client points, as shown in error messages.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Makes one cheap request (`ListTables` with a limit of 1) to prove the endpoint answers.
    ///
    /// # Errors
    /// [`Error::Unreachable`] naming the endpoint when nothing answers in time.
    pub async fn check_reachable(&self) -> Result<()> {
        self.client
            .list_tables()
            .limit(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| Error::from_sdk("ListTables", &self.endpoint, "-", err))
    }
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .build()
}
