//! The outbox table's attribute names, in one place.
//!
//! Names are PascalCase like DynamoDB's own API. Some (`Shard`, `Attempts`) are reserved words
//! in expressions, so every expression refers to them through expression attribute names.

/// Hash key: the message id (S).
pub const MESSAGE_ID: &str = "MessageId";
/// Topic (S).
pub const TOPIC: &str = "Topic";
/// Message type: `event`, `command` or `document` (S).
pub const MESSAGE_TYPE: &str = "MessageType";
/// MIME content type of the body (S).
pub const CONTENT_TYPE: &str = "ContentType";
/// Correlation id (S).
pub const CORRELATION_ID: &str = "CorrelationId";
/// Causation id (S).
pub const CAUSATION_ID: &str = "CausationId";
/// Reply-to address (S).
pub const REPLY_TO: &str = "ReplyTo";
/// Partition (ordering) key (S).
pub const PARTITION_KEY: &str = "PartitionKey";
/// Creation time, epoch milliseconds (N).
pub const CREATED_AT: &str = "CreatedAt";
/// W3C `traceparent` (S).
pub const TRACE_PARENT: &str = "TraceParent";
/// W3C `tracestate` (S).
pub const TRACE_STATE: &str = "TraceState";
/// String headers (M of S).
pub const HEADERS: &str = "Headers";
/// The body, byte-exact (B).
pub const BODY: &str = "Body";
/// Shard of the outstanding index (N); hash key of the index.
pub const SHARD: &str = "Shard";
/// Sparse marker, present only while undispatched: epoch milliseconds (N); range key of the
/// outstanding index.
pub const OUTSTANDING_SINCE: &str = "OutstandingSince";
/// Dispatch time, epoch milliseconds (N).
pub const DISPATCHED_AT: &str = "DispatchedAt";
/// TTL, epoch seconds (N), set at dispatch only.
pub const EXPIRES_AT: &str = "ExpiresAt";
