//! Bodies kept in S3 by the producer's claim check, fetched for a consumer runner before its
//! handler sees the message: reading a delivery stays free of I/O, and the runners (the SQS
//! consumer, the Lambda SQS entry) share this one step.

use crate::message::{Body, Message};

/// What fetches referenced bodies for a runner; without a client, such a message is refused
/// with what to configure.
#[derive(Clone, Debug, Default)]
pub(crate) struct BodyFetch {
    /// The client, and the most bytes fetched for one body.
    #[cfg(feature = "s3")]
    pub(crate) s3: Option<(aws_sdk_s3::Client, usize)>,
}

impl BodyFetch {
    /// Fetches bodies with `client`, up to the claim check's largest body.
    #[cfg(feature = "s3")]
    pub(crate) fn with_client(client: aws_sdk_s3::Client) -> Self {
        Self {
            s3: Some((client, crate::claim_check::MAX_BODY_BYTES)),
        }
    }

    /// The message with its body fetched and checked when it is kept in S3; any other message
    /// as it is. `configure` names the builder method that sets a client, for the error.
    pub(crate) async fn fetch(&self, message: Message, configure: &str) -> Result<Message, String> {
        let Body::S3(reference) = &message.body else {
            return Ok(message);
        };
        #[cfg(feature = "s3")]
        if let Some((client, limit)) = &self.s3 {
            let bytes = crate::claim_check::fetch(client, reference, *limit)
                .await
                .map_err(|err| err.to_string())?;
            return Ok(Message {
                header: message.header,
                body: Body::Bytes(bytes),
            });
        }
        Err(format!(
            "its body is kept in S3 at {}, and this consumer fetches no bodies from S3: build it \
             with `{configure}` (feature `s3`)",
            reference.url()
        ))
    }
}
