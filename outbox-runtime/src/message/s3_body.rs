//! A body kept in S3 (the claim check): where it is, how large, and its checksum.
//!
//! On SQS and SNS the reference travels in the format of AWS's extended clients (the SQS
//! Extended Client Library for Java and Python, the SNS Extended Client): the body is the JSON
//! pointer `["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":...,"s3Key":...}]`
//! and the message attribute `ExtendedPayloadSize` holds the size, so consumers that already use
//! those clients read large outbox messages unchanged. The pointer format has no room for a
//! checksum; the key carries it instead, as its last segment (see [`S3Body::key_for`]).

use serde_json::json;

/// The class name that marks an extended client's pointer.
pub const POINTER_CLASS: &str = "software.amazon.payloadoffloading.PayloadS3Pointer";

/// The message attribute that flags a body kept in S3 and holds its size (type `Number`), as
/// AWS's extended clients set it.
pub const EXTENDED_PAYLOAD_SIZE: &str = "ExtendedPayloadSize";

/// A body kept in S3.
///
/// ```
/// # #[cfg(feature = "s3")] {
/// use outbox_runtime::message::S3Body;
///
/// let body = S3Body::for_bytes("bodies", "outbox/", "m-1", b"{\"big\":true}");
/// assert!(body.key.starts_with("outbox/"));
/// assert!(body.key.ends_with(&format!("/m-1/{}", body.sha256.as_deref().unwrap())));
/// let pointer = body.pointer_json();
/// assert_eq!(S3Body::from_pointer(&pointer, body.size).unwrap(), body);
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Body {
    /// The bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The body's size in bytes.
    pub size: u64,
    /// The SHA-256 of the body, lowercase hex, when the key carries it (always, for a body the
    /// outbox put there; not for a pointer another producer made).
    pub sha256: Option<String>,
}

impl S3Body {
    /// The reference for `bytes` of message `message_id`, kept in `bucket` under `prefix`.
    #[cfg(feature = "s3")]
    pub fn for_bytes(bucket: &str, prefix: &str, message_id: &str, bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        let sha256: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Self {
            bucket: bucket.to_owned(),
            key: Self::key_for(prefix, message_id, &sha256),
            size: bytes.len() as u64,
            sha256: Some(sha256),
        }
    }

    /// `<prefix><first two hex digits of the checksum>/<message id>/<checksum>`: spread over
    /// 256 prefixes (S3 scales request rates per prefix), unique per message and content, so
    /// that an object is never overwritten by another body and an identical retry finds its
    /// own object.
    pub fn key_for(prefix: &str, message_id: &str, sha256: &str) -> String {
        format!(
            "{prefix}{}/{message_id}/{sha256}",
            &sha256[..2.min(sha256.len())]
        )
    }

    /// The extended clients' pointer, the body sent in place of the bytes.
    pub fn pointer_json(&self) -> String {
        json!([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": self.key}]).to_string()
    }

    /// Reads an extended clients' pointer; `size` is the `ExtendedPayloadSize` attribute. The
    /// checksum is taken from the key when its last segment is one.
    ///
    /// # Errors
    /// What is wrong with the pointer.
    pub fn from_pointer(pointer: &str, size: u64) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(pointer).map_err(|err| format!("not JSON: {err}"))?;
        let (class, fields) = match value.as_array().map(Vec::as_slice) {
            Some([class, fields]) => (class.as_str(), fields),
            _ => return Err(format!("not a `[\"{POINTER_CLASS}\", {{...}}]` pointer")),
        };
        if class != Some(POINTER_CLASS) {
            return Err(format!("the pointer's class is not `{POINTER_CLASS}`"));
        }
        let field = |name: &str| {
            fields
                .get(name)
                .and_then(serde_json::Value::as_str)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| format!("the pointer has no `{name}`"))
        };
        let key = field("s3Key")?;
        let sha256 = key
            .rsplit('/')
            .next()
            .filter(|last| last.len() == 64 && last.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase);
        Ok(Self {
            bucket: field("s3BucketName")?,
            key,
            size,
            sha256,
        })
    }

    /// `s3://bucket/key`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// The `BodyEncoding` of an item whose `Body` is the map of an [`S3Body`].
pub(crate) const STORED_ENCODING: &str = "s3";

/// The item's `Body` map of a reference: `Bucket`, `Key`, `Size` and, when known, `Sha256`.
pub(crate) fn to_map(body: &S3Body) -> crate::message::Item {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut map = crate::message::Item::from([
        ("Bucket".to_owned(), AttributeValue::S(body.bucket.clone())),
        ("Key".to_owned(), AttributeValue::S(body.key.clone())),
        ("Size".to_owned(), AttributeValue::N(body.size.to_string())),
    ]);
    if let Some(sha256) = &body.sha256 {
        map.insert("Sha256".to_owned(), AttributeValue::S(sha256.clone()));
    }
    map
}

/// Reads the map [`to_map`] writes; the problem names the entry.
pub(crate) fn from_map(map: &crate::message::Item) -> Result<S3Body, String> {
    let text = |name: &str| {
        map.get(name)
            .and_then(|value| value.as_s().ok())
            .cloned()
            .ok_or_else(|| {
                format!("holds an S3 reference whose `{name}` is missing or not a string")
            })
    };
    let size = map
        .get("Size")
        .and_then(|value| value.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            "holds an S3 reference whose `Size` is missing or not a number".to_owned()
        })?;
    Ok(S3Body {
        bucket: text("Bucket")?,
        key: text("Key")?,
        size,
        sha256: map.get("Sha256").map(|_| text("Sha256")).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_from_another_producer_has_no_checksum_and_bad_ones_say_why() {
        let pointer = json!([POINTER_CLASS, {"s3BucketName": "b", "s3Key": "some/key"}]);
        let body = S3Body::from_pointer(&pointer.to_string(), 7).unwrap();
        assert_eq!((body.key.as_str(), body.sha256), ("some/key", None));
        for (bad, says) in [
            ("nope", "not JSON"),
            ("{}", "pointer"),
            (r#"["other.Class",{}]"#, "class"),
            (
                &json!([POINTER_CLASS, {"s3Key": "k"}]).to_string(),
                "s3BucketName",
            ),
        ] {
            let err = S3Body::from_pointer(bad, 1).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
