//! The DynamoDB Streams handle: the `dynamodbstreams` SDK client and where it points, so that
//! every error can name the endpoint. Made like [`DynamoDb`](crate::DynamoDb): from a client
//! you configured, from the standard AWS chain (feature `aws-config`: the endpoint variable is
//! `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`, and without it the DynamoDB endpoint's,
//! `AWS_ENDPOINT_URL_DYNAMODB`, since DynamoDB Local serves the streams API on its own port), or
//! for a local emulator (feature `testing`).

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::config::Intercept;
use aws_sdk_dynamodbstreams::error::SdkError;

use crate::error::{BoxError, Error};

/// The variable every AWS SDK reads for a DynamoDB Streams endpoint.
pub const STREAMS_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_DYNAMODB_STREAMS";

/// A DynamoDB Streams client together with a description of where it points.
///
/// ```
/// let streams = outbox_runtime::stream::DynamoDbStreams::local("http://127.0.0.1:8000");
/// assert_eq!(streams.endpoint(), "http://127.0.0.1:8000");
/// ```
#[derive(Clone)]
pub struct DynamoDbStreams {
    client: Client,
    endpoint: String,
}

/// Where the streams client points: `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`, else the DynamoDB
/// endpoint (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`), since DynamoDB Local serves both
/// APIs on one port; none of them set means the region's own endpoint.
#[cfg(any(feature = "aws-config", test))]
fn streams_endpoint(lookup: impl Fn(&str) -> Option<String>) -> Option<(String, &'static str)> {
    let mut variables = vec![STREAMS_ENDPOINT_ENV];
    variables.extend_from_slice(crate::client::DYNAMODB_ENDPOINT_VARIABLES);
    crate::client::endpoint_from_env(&variables, lookup)
}

/// Shows where the client points and nothing of its configuration (the SDK's own `Debug` shows
/// the credentials' access key id).
impl std::fmt::Debug for DynamoDbStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbStreams")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl DynamoDbStreams {
    /// A client from the standard AWS configuration chain (`AWS_ENDPOINT_URL_DYNAMODB_STREAMS`,
    /// or `AWS_ENDPOINT_URL`, points it at another endpoint), with the timeouts of
    /// [`DynamoDb::from_env`](crate::DynamoDb::from_env).
    #[cfg(feature = "aws-config")]
    pub async fn from_env() -> Self {
        let shared = crate::client::config_from_env().await;
        let found = streams_endpoint(crate::client::env_lookup);
        let mut config = aws_sdk_dynamodbstreams::config::Builder::from(&shared);
        if let Some((url, variable)) = &found
            && *variable != STREAMS_ENDPOINT_ENV
        {
            // aws-config reads only the streams variable and `AWS_ENDPOINT_URL` for this
            // client; a DynamoDB endpoint of its own (a local emulator) serves the streams too.
            config = config.endpoint_url(url);
        }
        let streams = Self::from_client(Client::from_conf(config.build()));
        match found {
            Some((endpoint, _)) => Self {
                endpoint,
                ..streams
            },
            None => streams,
        }
    }

    /// A client for an emulator or any explicit endpoint: the URL, region
    /// [`LOCAL_REGION`](crate::client::LOCAL_REGION), dummy credentials, short timeouts.
    #[cfg(feature = "testing")]
    pub fn local(endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        Self {
            client: Client::new(&crate::client::local_config(&endpoint)),
            endpoint,
        }
    }

    /// Wraps a client you configured yourself; errors name its region.
    pub fn from_client(client: Client) -> Self {
        let endpoint = match client.config().region() {
            Some(region) => format!("the AWS endpoint of region {region}"),
            None => "the AWS endpoint (no region configured: set AWS_REGION)".to_owned(),
        };
        Self { client, endpoint }
    }

    /// Adds an SDK interceptor to the client (to count calls, inject faults).
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

    /// The SDK client, for your own calls.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where the client points, as shown in error messages.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A streams SDK error as the runtime's, naming the operation, the endpoint and the table.
    pub(crate) fn error<E, R>(
        &self,
        operation: &'static str,
        table: &str,
        err: SdkError<E, R>,
    ) -> Error
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
        SdkError<E, R>: aws_sdk_dynamodbstreams::error::ProvideErrorMetadata,
    {
        let code =
            aws_sdk_dynamodbstreams::error::ProvideErrorMetadata::code(&err).map(str::to_owned);
        let retryable = match &err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => true,
            SdkError::ServiceError(_) => code.as_deref().is_some_and(|code| {
                matches!(
                    code,
                    "LimitExceededException"
                        | "InternalServerError"
                        | "ThrottlingException"
                        | "RequestLimitExceeded"
                )
            }),
            _ => false,
        };
        let source: BoxError = match err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => format!(
                "no answer ({})",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            )
            .into(),
            other => Box::new(other),
        };
        Error::Stream {
            operation,
            table: table.to_owned(),
            endpoint: self.endpoint.clone(),
            retryable,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, value)| value.clone())
        }
    }

    #[test]
    fn the_streams_endpoint_follows_the_dynamodb_one_unless_set_itself() {
        let local = "http://127.0.0.1:8000";
        assert_eq!(
            streams_endpoint(env(&[("AWS_ENDPOINT_URL_DYNAMODB", local)])),
            Some((local.to_owned(), "AWS_ENDPOINT_URL_DYNAMODB"))
        );
        assert_eq!(
            streams_endpoint(env(&[
                ("AWS_ENDPOINT_URL_DYNAMODB", local),
                (STREAMS_ENDPOINT_ENV, "http://127.0.0.1:8001"),
            ])),
            Some(("http://127.0.0.1:8001".to_owned(), STREAMS_ENDPOINT_ENV))
        );
        assert_eq!(
            streams_endpoint(env(&[
                ("AWS_ENDPOINT_URL", local),
                (STREAMS_ENDPOINT_ENV, " ")
            ])),
            Some((local.to_owned(), "AWS_ENDPOINT_URL"))
        );
        assert_eq!(streams_endpoint(env(&[])), None);
    }
}
