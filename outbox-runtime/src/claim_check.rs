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
//! # How long an object lives
//!
//! What a crashed process leaves behind (an object put, the commit never sent) is for an S3
//! lifecycle rule on the prefix to remove: [`ClaimCheck::ensure_lifecycle_rule`] adds it to the
//! bucket's lifecycle configuration, keeping every other rule. The rule expires objects
//! [`retention_days`](ClaimCheck::with_retention_days) after they were put (90 by default), and
//! an object must outlive every way its message can still be sent or read:
//!
//! - after the send, a consumer reads the object while SQS keeps the message: at most 14 days,
//!   and as long again in a dead-letter queue. The last [`READ_WINDOW_DAYS`] (30) of the
//!   retention are kept for this;
//! - before the send, the message waits in the outbox: a scheduled message is refused at its
//!   deposit when it falls due later than the retention minus the read window (so with the
//!   default, 60 days after its deposit), and a dead letter must be replayed within that time
//!   too, or its consumer meets a missing object (a clear error; the delivery stays in its
//!   queue). Set a longer retention for longer schedules.
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

/// The default retention of the objects, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// The days of an object's retention kept for reading it after its message is sent: SQS keeps
/// a message 14 days at most, and a dead-letter queue as long again.
pub const READ_WINDOW_DAYS: u32 = 30;

/// How many objects one commit puts (or deletes) at once.
const CONCURRENCY: usize = 8;

/// Where large bodies go, and from what size.
///
/// ```no_run
/// # async fn run(db: outbox_runtime::DynamoDb) -> outbox_runtime::Result<()> {
/// use outbox_runtime::claim_check::ClaimCheck;
/// use outbox_runtime::{Outbox, OutboxConfig};
///
/// let s3 = outbox_runtime::aws_sdk_s3::Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await);
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
    retention_days: u32,
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
            retention_days: DEFAULT_RETENTION_DAYS,
        }
    }

    /// How long the lifecycle rule keeps an object, in days (at least [`READ_WINDOW_DAYS`] + 1;
    /// less is taken as that). Messages whose body is kept in S3 may be scheduled up to the
    /// retention minus the read window ahead.
    pub fn with_retention_days(mut self, days: u32) -> Self {
        self.retention_days = days.max(READ_WINDOW_DAYS + 1);
        self
    }

    /// The retention in days.
    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    /// The latest due time of a message whose body this claim check keeps, deposited now.
    fn latest_due(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
            + Duration::from_secs(u64::from(self.retention_days - READ_WINDOW_DAYS) * 24 * 3600)
    }

    /// Adds the rule that expires this claim check's objects after the retention to the
    /// bucket's lifecycle configuration, keeping every other rule (a rule of the same id, from
    /// an earlier retention, is replaced). Run it where the bucket is provisioned; it needs
    /// `s3:GetLifecycleConfiguration` and `s3:PutLifecycleConfiguration` on the bucket.
    ///
    /// # Errors
    /// [`Error::ClaimCheck`] with S3's answer.
    pub async fn ensure_lifecycle_rule(&self) -> Result<LifecycleOutcome> {
        use aws_sdk_s3::types::{
            AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
            LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
        };
        let id = self.lifecycle_rule_id();
        let failed = |operation: &'static str, reason: String| Error::ClaimCheck {
            operation,
            message_id: MessageId::from("-"),
            location: format!("s3://{}", self.bucket),
            reason,
        };
        let existing = match self
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(&self.bucket)
            .send()
            .boxed()
            .await
        {
            Ok(output) => output.rules().to_vec(),
            Err(err)
                if err
                    .as_service_error()
                    .and_then(aws_sdk_s3::error::ProvideErrorMetadata::code)
                    == Some("NoSuchLifecycleConfiguration") =>
            {
                Vec::new()
            }
            Err(err) => {
                return Err(failed(
                    "read the lifecycle configuration of",
                    aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
                ));
            }
        };
        let days = i32::try_from(self.retention_days).unwrap_or(i32::MAX);
        let ours = LifecycleRule::builder()
            .id(&id)
            .filter(LifecycleRuleFilter::builder().prefix(&self.prefix).build())
            .status(ExpirationStatus::Enabled)
            .expiration(LifecycleExpiration::builder().days(days).build())
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(1)
                    .build(),
            )
            .build()
            .expect("id, filter and status are set");
        let outcome = match existing.iter().find(|rule| rule.id() == Some(id.as_str())) {
            Some(rule) if *rule == ours => return Ok(LifecycleOutcome::AlreadyPresent),
            Some(_) => LifecycleOutcome::Replaced,
            None => LifecycleOutcome::Added,
        };
        let mut rules: Vec<LifecycleRule> = existing
            .into_iter()
            .filter(|rule| rule.id() != Some(id.as_str()))
            .collect();
        rules.push(ours);
        let configuration = BucketLifecycleConfiguration::builder()
            .set_rules(Some(rules))
            .build()
            .expect("rules are set");
        self.client
            .put_bucket_lifecycle_configuration()
            .bucket(&self.bucket)
            .lifecycle_configuration(configuration)
            .send()
            .boxed()
            .await
            .map_err(|err| {
                failed(
                    "write the lifecycle configuration of",
                    aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
                )
            })?;
        Ok(outcome)
    }

    /// The id of this claim check's lifecycle rule: `outbox-claim-check:<prefix>`.
    pub fn lifecycle_rule_id(&self) -> String {
        format!("outbox-claim-check:{}", self.prefix)
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
        due: Option<std::time::SystemTime>,
        compress_above: Option<usize>,
    ) -> Result<Option<Upload>> {
        let Body::Bytes(bytes) = &message.body else {
            return Ok(None);
        };
        if text_wire_size(bytes) <= self.threshold {
            return Ok(None);
        }
        if let Some(due) = due
            && due > self.latest_due()
        {
            return Err(Error::InvalidMessage {
                message_id: Some(message.header.id.clone()),
                reason: format!(
                    "its body goes to S3, whose lifecycle rule keeps objects {} days, and it falls \
                     due after the {} days that leaves before the {READ_WINDOW_DAYS} days kept for \
                     reading it; schedule it sooner, or give the claim check a longer retention \
                     (`ClaimCheck::with_retention_days`)",
                    self.retention_days,
                    self.retention_days - READ_WINDOW_DAYS
                ),
            });
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
/// assert_eq!(client.config().region().unwrap().as_ref(), "us-east-1");
/// ```
#[cfg(feature = "testing")]
pub fn local_client(endpoint: impl Into<String>) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&crate::client::local_config(&endpoint.into()))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// What [`ClaimCheck::ensure_lifecycle_rule`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleOutcome {
    /// The rule was added beside the bucket's other rules.
    Added,
    /// A rule of the same id with other settings was replaced.
    Replaced,
    /// The rule was there already: nothing was written.
    AlreadyPresent,
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
