//! Compressed bodies: gzip (RFC 1952), which Python's `gzip` module and Java's
//! `GZIPInputStream` read with nothing else installed.
//!
//! A body is compressed where it is stored, because that is where DynamoDB bills it: a
//! transactional write costs 2 write units per KB of the item. A compressed body stays
//! compressed on its way to SQS and SNS (flagged by the `outbox-body-encoding` attribute) and is
//! inflated by the consumer, with a cap on what it may inflate to.

use std::io::{Read as _, Write as _};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// The most bytes a compressed body may inflate to, wherever it is inflated: a few kilobytes of
/// gzip can expand into gigabytes, and a body is untrusted input at a consumer. It is above the
/// largest body any transport carries uncompressed (1 MiB on SQS) by a wide margin.
pub const MAX_INFLATED_BYTES: usize = 64 * 1024 * 1024;

/// A body as stored and sent compressed: the gzip bytes.
/// [`Body::to_bytes`](crate::Body::to_bytes) gives back the original bytes.
///
/// ```
/// use outbox_runtime::message::CompressedBody;
///
/// let json = br#"{"greeting":"hello hello hello hello hello hello hello hello"}"#;
/// let compressed = CompressedBody::compress(json);
/// assert!(compressed.gzip().len() < json.len());
/// assert_eq!(compressed.original_len(), json.len());
/// assert_eq!(compressed.inflate(1024)?, json);
/// # Ok::<(), outbox_runtime::message::InflateError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CompressedBody {
    gzip: Vec<u8>,
}

impl CompressedBody {
    /// Compresses `bytes` at gzip level 3. On JSON documents of 10 KB to 1 MiB, level 3 is
    /// within 10 % of level 6's (the default of zlib's command-line tools) size at half its CPU
    /// time, and level 1 is a third larger again: 100 KB take about 1 ms at level 3 and 2 ms at
    /// level 6, optimised, on one core.
    pub fn compress(bytes: &[u8]) -> Self {
        let mut encoder = GzEncoder::new(
            Vec::with_capacity(bytes.len() / 4 + 64),
            Compression::new(3),
        );
        encoder
            .write_all(bytes)
            .expect("writing to a Vec cannot fail");
        Self {
            gzip: encoder.finish().expect("writing to a Vec cannot fail"),
        }
    }

    /// A body that is already gzip, as read back from the table or a transport. Nothing is
    /// checked until it is inflated.
    pub fn from_gzip(gzip: Vec<u8>) -> Self {
        Self { gzip }
    }

    /// The gzip bytes.
    pub fn gzip(&self) -> &[u8] {
        &self.gzip
    }

    /// The gzip bytes, owned.
    pub fn into_gzip(self) -> Vec<u8> {
        self.gzip
    }

    /// The original size as the gzip trailer records it (modulo 4 GiB), without inflating;
    /// 0 for bytes too short to be gzip.
    pub fn original_len(&self) -> usize {
        match self.gzip.len().checked_sub(4) {
            Some(at) if self.gzip.len() >= 18 => {
                let trailer: [u8; 4] = self.gzip[at..].try_into().expect("four bytes");
                u32::from_le_bytes(trailer) as usize
            }
            _ => 0,
        }
    }

    /// The original bytes, refusing to inflate past `limit` bytes.
    ///
    /// ```
    /// use outbox_runtime::message::{CompressedBody, InflateError};
    ///
    /// let zeros = CompressedBody::compress(&vec![0; 100_000]);
    /// assert!(zeros.gzip().len() < 1_000);
    /// assert!(matches!(zeros.inflate(10_000), Err(InflateError::TooLarge { limit: 10_000 })));
    /// ```
    ///
    /// # Errors
    /// [`InflateError::TooLarge`] past the limit; [`InflateError::Corrupt`] for bytes that are
    /// not a complete gzip stream.
    pub fn inflate(&self, limit: usize) -> Result<Vec<u8>, InflateError> {
        let mut bytes = Vec::with_capacity(self.original_len().min(limit));
        // One byte more than the limit tells a body of exactly `limit` bytes from a larger one.
        let read = GzDecoder::new(self.gzip.as_slice())
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(InflateError::Corrupt)?;
        if read > limit {
            return Err(InflateError::TooLarge { limit });
        }
        Ok(bytes)
    }
}

impl std::fmt::Debug for CompressedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CompressedBody({} bytes of gzip, {} inflated)",
            self.gzip.len(),
            self.original_len()
        )
    }
}

/// Why a compressed body could not be inflated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InflateError {
    /// It would inflate past the cap: refused before the memory is taken.
    #[error(
        "the compressed body inflates to more than {limit} bytes, the most a body may inflate to"
    )]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// The bytes are not a complete gzip stream.
    #[error("the compressed body is not valid gzip: {0}")]
    Corrupt(#[source] std::io::Error),
}

/// The body to store for `bytes` under a compression threshold: compressed when it is larger
/// than `above` and compression makes it smaller by more than the attribute that flags it
/// costs; `None` to store it as it is (an incompressible body never costs more than plain).
pub(crate) fn compress_if_smaller(bytes: &[u8], above: usize) -> Option<CompressedBody> {
    if bytes.len() <= above {
        return None;
    }
    let compressed = CompressedBody::compress(bytes);
    let flag = crate::table::attributes::BODY_ENCODING.len() + GZIP.len();
    (compressed.gzip.len() + flag < bytes.len()).then_some(compressed)
}

/// The name of the encoding, in the table and on the wire.
pub(crate) const GZIP: &str = "gzip";

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn only_bodies_over_the_threshold_that_shrink_are_compressed() {
        let json =
            br#"{"a":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
        assert!(compress_if_smaller(json, json.len()).is_none());
        assert!(compress_if_smaller(json, json.len() - 1).is_some());
        let noise: Vec<u8> = (0..10_000).map(|_| fastrand::u8(..)).collect();
        assert!(compress_if_smaller(&noise, 0).is_none());
    }

    #[test]
    fn a_body_of_exactly_the_limit_inflates_and_one_byte_more_does_not() {
        let body = vec![7u8; 5_000];
        let compressed = CompressedBody::compress(&body);
        assert_eq!(compressed.inflate(5_000).unwrap(), body);
        assert!(matches!(
            compressed.inflate(4_999),
            Err(InflateError::TooLarge { limit: 4_999 })
        ));
    }

    #[test]
    fn truncated_gzip_is_corrupt() {
        let compressed = CompressedBody::compress(&[1u8; 1_000]);
        let mut gzip = compressed.into_gzip();
        gzip.truncate(gzip.len() - 6);
        let err = CompressedBody::from_gzip(gzip).inflate(10_000).unwrap_err();
        assert!(matches!(err, InflateError::Corrupt(_)), "{err}");
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let compressed = CompressedBody::compress(&bytes);
            prop_assert_eq!(compressed.original_len(), bytes.len());
            prop_assert_eq!(compressed.inflate(bytes.len()).unwrap(), bytes);
        }

        #[test]
        fn arbitrary_gzip_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = CompressedBody::from_gzip(bytes).inflate(1 << 16);
        }
    }
}
