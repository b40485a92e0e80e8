//! The claim check (feature `s3`): a body too large for the item or the transport is kept in an
//! S3 bucket, and the item and the message carry a reference to it ([`S3Body`]).
//!
//! # Producing
//!
//! [`Outbox::with_claim_check`](crate::Outbox::with_claim_check) turns it on. A deposit is
//! synchronous, so it only decides: a byte body whose size on the wire (base64 included where
//! the transport needs it, after compression where that is on) is above the threshold is
//! replaced by its reference, under a key made of the message id and the body's SHA-256
//! ([`S3Body::key_for`]). The commit puts the objects first, each on condition that no object
//! has its key (`If-None-Match: *`; an identical retry finds its own object and goes on), then
//! sends `TransactWriteItems`:
//!
//! - a failed put fails the commit before anything is written, and the objects it had put are
//!   deleted;
//! - a commit refused or cancelled (a conflict included: the handler's next run deposits new
//!   message ids, so new keys) deletes its objects;
//! - a commit whose outcome is unknown ([`Error::CommitUncertain`]) keeps them, because its
//!   messages may exist.
//!
//! What a crashed process leaves behind (an object put, the commit never sent) is for a
//! lifecycle rule on the prefix to remove.
//!
//! # Consuming
//!
//! [`SqsConsumer::with_claim_check`](crate::consumer::SqsConsumer::with_claim_check) fetches a
//! referenced body before the handler sees the message, checks its size and checksum, and
//! hands the handler [`Body::Bytes`]. A missing or corrupt object is an error naming the
//! message, the bucket and the key, and the delivery is left to the queue.

use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt as _, StreamExt as _};

use crate::error::{Error, Result};
use crate::message::compression::{CompressedBody, compress_if_smaller};
use crate::message::{Body, Message, MessageId, S3Body};

/// The default threshold: a body larger than this on the wire goes to S3. Below SNS's 256 KB
/// with room for the attributes, and below DynamoDB's 400 KB item.
pub const DEFAULT_THRESHOLD: usize = 200 * 1024;

/// The default key prefix of the objects.
pub const DEFAULT_PREFIX: &str = "outbox-bodies/";

/// The largest body the claim check takes: 2 GiB, as a body is held in memory whole.
pub const MAX_BODY_BYTES: usize = 2 << 30;

/// How many objects one commit puts (or deletes) at once.
const CONCURRENCY: usize = 8;

/// Where large bodies go, and from what size.
///
/// ```no_run
/// # async fn run(db: outbox_runtime::DynamoDb) -> outbox_runtime::Result<()> {
/// use outbox_runtime::claim_check::ClaimCheck;
/// use outbox_runtime::{Outbox, OutboxConfig};
///
/// let s3 = outbox_runtime::aws_sdk_s3::Client::new(&aws_config::load_from_env().await);
/// let outbox = Outbox::new(db, OutboxConfig::default().with_compression_above(512))?
///     .with_claim_check(ClaimCheck::new(s3, "orders-message-bodies"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ClaimCheck {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    threshold: usize,
    kms_key_id: Option<String>,
}

impl ClaimCheck {
    /// Bodies over [`DEFAULT_THRESHOLD`] into `bucket`, under [`DEFAULT_PREFIX`].
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            threshold: DEFAULT_THRESHOLD,
            kms_key_id: None,
        }
    }

    /// Bodies larger than `bytes` on the wire go to S3.
    pub fn with_threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// The prefix of the object keys: the lifecycle rule and the IAM policy are scoped to it.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Encrypts the objects with this KMS key (SSE-KMS); without it, the bucket's default
    /// encryption applies.
    pub fn with_kms_key(mut self, key_id: impl Into<String>) -> Self {
        self.kms_key_id = Some(key_id.into());
        self
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The threshold in bytes.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The client.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Replaces a byte body whose size on the wire is above the threshold by its reference,
    /// and returns what the commit must put. `compress_above` is the outbox's compression: a
    /// body is compressed first when that is on, unless it is so large (ten times the
    /// threshold) that no compression would bring it below.
    pub(crate) fn claim(
        &self,
        message: &mut Message,
        compress_above: Option<usize>,
    ) -> Result<Option<Upload>> {
        let Body::Bytes(bytes) = &message.body else {
            return Ok(None);
        };
        if text_wire_size(bytes) <= self.threshold {
            return Ok(None);
        }
        if let Some(above) = compress_above
            && bytes.len() <= self.threshold.saturating_mul(10)
            && let Some(compressed) = compress_if_smaller(bytes, above)
            && compressed_wire_size(&compressed) <= self.threshold
        {
            message.body = Body::Compressed(compressed);
            return Ok(None);
        }
        if bytes.len() > MAX_BODY_BYTES {
            return Err(Error::InvalidMessage {
                message_id: Some(message.header.id.clone()),
                reason: format!(
                    "the body is {} bytes, over the claim check's {MAX_BODY_BYTES}",
                    bytes.len()
                ),
            });
        }
        let reference = S3Body::for_bytes(
            &self.bucket,
            &self.prefix,
            message.header.id.as_str(),
            bytes,
        );
        let Body::Bytes(bytes) = std::mem::replace(&mut message.body, Body::S3(reference.clone()))
        else {
            unreachable!("matched above");
        };
        Ok(Some(Upload {
            message_id: message.header.id.clone(),
            reference,
            bytes,
        }))
    }

    /// Puts every object, at most [`CONCURRENCY`] at a time, and returns those it created (an
    /// object already there is not this call's to delete). On the first failure, deletes those
    /// it created and returns the failure.
    pub(crate) async fn put_all<'a>(&self, uploads: &'a [Upload]) -> Result<Vec<&'a Upload>> {
        // Boxed before they are streamed: a stream of closures over borrowed uploads makes the
        // commit's future one the compiler cannot prove `Send` for every lifetime.
        let puts: Vec<BoxFuture<'_, (usize, Result<bool>)>> = uploads
            .iter()
            .enumerate()
            .map(|(n, upload)| self.put(upload).map(move |result| (n, result)).boxed())
            .collect();
        let results: Vec<(usize, Result<bool>)> = futures_util::stream::iter(puts)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut first_error = None;
        let mut created = Vec::new();
        for (n, result) in results {
            match result {
                Ok(true) => created.push(&uploads[n]),
                Ok(false) => {}
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            None => Ok(created),
            Some(err) => {
                self.delete_all(created.into_iter()).await;
                Err(err)
            }
        }
    }

    /// Puts one object: `true` when this call created it.
    async fn put(&self, upload: &Upload) -> Result<bool> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&upload.reference.key)
            .if_none_match("*")
            .content_type("application/octet-stream")
            .body(ByteStream::from(upload.bytes.clone()));
        if let Some(key_id) = &self.kms_key_id {
            request = request
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .ssekms_key_id(key_id);
        }
        match request.send().boxed().await {
            Ok(_) => Ok(true),
            // The key is the body's checksum: an object already there holds these very bytes,
            // put by an earlier attempt, or by the same message stored again.
            Err(err) if status(&err) == Some(412) => Ok(false),
            Err(err) => Err(self.error("put", upload, &err)),
        }
    }

    /// Deletes the objects of a commit that did not happen; a failure is logged, and the
    /// lifecycle rule removes the object later.
    pub(crate) async fn delete_all<'a>(&self, uploads: impl Iterator<Item = &'a Upload>) {
        let deletes: Vec<BoxFuture<'_, ()>> = uploads
            .map(|upload| {
                async move {
                    let result = self
                        .client
                        .delete_object()
                        .bucket(&self.bucket)
                        .key(&upload.reference.key)
                        .send()
                        .boxed()
                        .await;
                    if let Err(err) = result {
                        tracing::warn!(
                            message_id = %upload.message_id,
                            location = %upload.reference.url(),
                            error = %aws_sdk_s3::error::DisplayErrorContext(&err),
                            "the body of a message that was not committed could not be deleted; \
                             the bucket's lifecycle rule removes it"
                        );
                    }
                }
                .boxed()
            })
            .collect();
        futures_util::stream::iter(deletes)
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<()>>()
            .await;
    }

    fn error<E>(
        &self,
        operation: &'static str,
        upload: &Upload,
        err: &SdkError<E, HttpResponse>,
    ) -> Error
    where
        E: std::error::Error + 'static,
    {
        Error::ClaimCheck {
            operation,
            message_id: upload.message_id.clone(),
            location: upload.reference.url(),
            reason: aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
        }
    }
}

/// A client for a local S3 (moto, MinIO): path-style addresses (a local server has no
/// per-bucket host names), `us-east-1`, dummy credentials and short timeouts.
///
/// ```
/// let client = outbox_runtime::claim_check::local_client("http://127.0.0.1:5000");
/// assert!(client.config().force_path_style().unwrap_or(false));
/// ```
#[cfg(feature = "testing")]
pub fn local_client(endpoint: impl Into<String>) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&crate::client::local_config(&endpoint.into()))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A body the commit puts before `TransactWriteItems`.
#[derive(Clone)]
pub(crate) struct Upload {
    pub(crate) message_id: MessageId,
    pub(crate) reference: S3Body,
    pub(crate) bytes: Vec<u8>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Upload({}, {} bytes)",
            self.reference.url(),
            self.bytes.len()
        )
    }
}

/// The HTTP status of a failed request, if it got an answer.
fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response()
        .map(|response| response.status().as_u16())
}

/// Bytes as SQS carries them: as they are when they are text, base64 otherwise.
fn text_wire_size(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(_) => bytes.len().div_ceil(3) * 4,
    }
}

/// A compressed body as SQS carries it (see [`crate::transport::wire`]).
fn compressed_wire_size(compressed: &CompressedBody) -> usize {
    (compressed.gzip().len().div_ceil(3) * 4).min(compressed.original_len())
}

/// Why a referenced body could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request failed (the object is missing, access is denied, S3 is unreachable).
    #[error("cannot get {location}: {reason}")]
    Get {
        /// `s3://bucket/key`.
        location: String,
        /// S3's answer.
        reason: String,
    },
    /// The object is not the body the message refers to.
    #[error("{location} is not the body the message refers to: {reason}")]
    Mismatch {
        /// `s3://bucket/key`.
        location: String,
        /// What differs.
        reason: String,
    },
    /// The reference's size is over what this consumer fetches.
    #[error("{location} holds {size} bytes, over the {limit} this consumer fetches")]
    TooLarge {
        /// `s3://bucket/key`.
        location: String,
        /// The size the message gives.
        size: u64,
        /// The limit.
        limit: usize,
    },
}

/// Fetches a referenced body and checks it against the reference: its size, and its SHA-256
/// when the reference carries one. `limit` bounds what is fetched.
///
/// # Errors
/// [`FetchError`].
pub async fn fetch(
    client: &aws_sdk_s3::Client,
    body: &S3Body,
    limit: usize,
) -> std::result::Result<Vec<u8>, FetchError> {
    use sha2::Digest as _;
    let location = body.url();
    if body.size > limit as u64 {
        return Err(FetchError::TooLarge {
            location,
            size: body.size,
            limit,
        });
    }
    let object = client
        .get_object()
        .bucket(&body.bucket)
        .key(&body.key)
        .send()
        .boxed()
        .await
        .map_err(|err| FetchError::Get {
            location: location.clone(),
            reason: aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
        })?;
    let bytes = tokio::time::timeout(Duration::from_secs(300), object.body.collect())
        .await
        .map_err(|_| FetchError::Get {
            location: location.clone(),
            reason: "reading the object took over 5 minutes".to_owned(),
        })?
        .map_err(|err| FetchError::Get {
            location: location.clone(),
            reason: err.to_string(),
        })?
        .to_vec();
    if bytes.len() as u64 != body.size {
        return Err(FetchError::Mismatch {
            location,
            reason: format!("{} bytes, the message says {}", bytes.len(), body.size),
        });
    }
    if let Some(expected) = &body.sha256 {
        let actual: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        if &actual != expected {
            return Err(FetchError::Mismatch {
                location,
                reason: format!("its SHA-256 is {actual}, the message's {expected}"),
            });
        }
    }
    Ok(bytes)
}
