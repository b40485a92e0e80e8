//! The DynamoDB handle: the SDK client and a description of where it points, so that every error
//! can name the endpoint. Made from a client you configured, from the standard AWS chain
//! (feature `aws-config`), or for a local emulator (feature `testing`).
//!
//! Here too, once for every SDK client of the crate: where the standard variables say an
//! endpoint is, the configuration read from the environment with the DynamoDB timeouts, and the
//! configuration of a client of a local emulator.

#[cfg(any(feature = "testing", feature = "aws-config"))]
use std::time::Duration;

use aws_sdk_dynamodb::Client;
#[cfg(any(feature = "testing", feature = "aws-config"))]
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_sdk_dynamodb::config::Intercept;
#[cfg(feature = "testing")]
use aws_sdk_dynamodb::config::retry::RetryConfig;
#[cfg(any(feature = "testing", feature = "aws-config"))]
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
#[cfg(feature = "testing")]
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
#[cfg(any(feature = "testing", feature = "aws-config"))]
use aws_types::SdkConfig;
use futures_util::FutureExt as _;

use crate::error::{Error, Result};

/// The region a local endpoint is addressed with. DynamoDB Local runs with `-sharedDb`, so the
/// region does not separate tables; it only has to be fixed.
#[cfg(feature = "testing")]
pub const LOCAL_REGION: &str = "us-east-1";

/// A DynamoDB client together with a description of where it points, so that every error can
/// name the endpoint.
///
/// ```no_run
/// # async fn run() -> outbox_runtime::Result<()> {
/// use outbox_runtime::DynamoDb;
///
/// // Region, credentials and endpoint from the AWS chain (AWS_REGION, AWS_PROFILE, the
/// // instance's role; AWS_ENDPOINT_URL_DYNAMODB for another endpoint).
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
/// let client = aws_sdk_dynamodb::Client::from_conf(
///     aws_sdk_dynamodb::Config::builder()
///         .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
///         .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
///         .build(),
/// );
/// let db = outbox_runtime::DynamoDb::from_client(client);
/// assert_eq!(
///     format!("{db:?}"),
///     r#"DynamoDb { endpoint: "the AWS endpoint of region eu-west-1", .. }"#
/// );
/// ```
impl std::fmt::Debug for DynamoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDb")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl DynamoDb {
    /// A client from the standard AWS configuration chain: region, credentials and endpoint
    /// from the environment, the profile or the instance's role, as every AWS SDK reads them
    /// (`AWS_ENDPOINT_URL_DYNAMODB`, or `AWS_ENDPOINT_URL`, points it at another endpoint), with
    /// a connect timeout of 3 s and 10 s per attempt so a dead endpoint is reported instead of
    /// waited on.
    #[cfg(feature = "aws-config")]
    pub async fn from_env() -> Self {
        let shared = config_from_env().await;
        // The SDK keeps the endpoint it was given to itself: errors name it from where it came.
        let url = endpoint_from_env(DYNAMODB_ENDPOINT_VARIABLES, env_lookup)
            .map(|(url, _)| url)
            .or_else(|| shared.endpoint_url().map(str::to_owned));
        let db = Self::from_client(Client::new(&shared));
        match url {
            Some(endpoint) => Self { endpoint, ..db },
            None => db,
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
    #[cfg(feature = "testing")]
    pub fn local(endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        Self {
            client: Client::new(&local_config(&endpoint)),
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
    /// # let client = aws_sdk_dynamodb::Client::from_conf(
    /// #     aws_sdk_dynamodb::Config::builder()
    /// #         .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
    /// #         .endpoint_url("http://127.0.0.1:8000")
    /// #         .build(),
    /// # );
    /// let db = outbox_runtime::DynamoDb::from_client(client).with_interceptor(Log);
    /// assert!(db.endpoint().contains("no region configured"));
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
    /// # let client = aws_sdk_dynamodb::Client::from_conf(
    /// #     aws_sdk_dynamodb::Config::builder()
    /// #         .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
    /// #         .endpoint_url("http://127.0.0.1:8000")
    /// #         .build(),
    /// # );
    /// let db = outbox_runtime::DynamoDb::from_client(client)
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
            .boxed()
            .await
            .map(|_| ())
            .map_err(|err| Error::from_sdk("ListTables", &self.endpoint, "-", err))
    }
}

#[cfg(any(feature = "aws-config", test))]
/// The variables that point DynamoDB clients at another endpoint, the service's own first, as
/// every AWS SDK reads them.
pub(crate) const DYNAMODB_ENDPOINT_VARIABLES: &[&str] =
    &["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"];

#[cfg(any(feature = "aws-config", test))]
/// The endpoint the first of `variables` that is set (and not empty) names, and that variable:
/// the one place the environment is asked for an endpoint. `lookup` reads a variable
/// ([`env_lookup`] in a service, a map in a test).
pub(crate) fn endpoint_from_env<'v>(
    variables: &[&'v str],
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<(String, &'v str)> {
    variables.iter().find_map(|variable| {
        lookup(variable)
            .filter(|url| !url.trim().is_empty())
            .map(|url| (url, *variable))
    })
}

#[cfg(any(feature = "aws-config", test))]
/// Reads a variable of the process's environment.
pub(crate) fn env_lookup(variable: &str) -> Option<String> {
    std::env::var(variable).ok()
}

/// The configuration of the DynamoDB and DynamoDB Streams clients from the standard AWS chain,
/// with the timeouts of [`DynamoDb::from_env`]. (The SQS and SNS clients keep the SDK's: a
/// long poll waits up to 20 s.)
#[cfg(feature = "aws-config")]
pub(crate) async fn config_from_env() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}

/// The configuration of every client of a local emulator (DynamoDB Local, moto) or any explicit
/// endpoint: the URL, [`LOCAL_REGION`], static dummy credentials, short timeouts and few
/// retries, so a dead endpoint is reported within seconds instead of hanging.
#[cfg(feature = "testing")]
pub(crate) fn local_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(LOCAL_REGION))
        .credentials_provider(aws_types::sdk_config::SharedCredentialsProvider::new(
            Credentials::new("local", "local", None, None, "outbox-local"),
        ))
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .build()
}

#[cfg(any(feature = "testing", feature = "aws-config"))]
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_variable_set_names_the_endpoint() {
        let lookup = |name: &str| match name {
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:4566".to_owned()),
            "AWS_ENDPOINT_URL_DYNAMODB" => Some(String::new()),
            _ => None,
        };
        assert_eq!(
            endpoint_from_env(DYNAMODB_ENDPOINT_VARIABLES, lookup),
            Some(("http://127.0.0.1:4566".to_owned(), "AWS_ENDPOINT_URL"))
        );
        assert_eq!(
            endpoint_from_env(&["OUTBOX_NO_SUCH_VARIABLE"], env_lookup),
            None
        );
    }
}
