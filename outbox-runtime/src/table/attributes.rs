//! The attribute names of the tables this library writes, in one place: the stored layout of a
//! message, which is a contract (a consumer of the table's stream, a console user and the next
//! release read it), and of an inbox item ([`inbox`]).
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
/// The body, byte-exact (B), or a native map (M); gzip when [`BODY_ENCODING`] says so.
pub const BODY: &str = "Body";
/// `gzip` when the [`BODY`] is stored compressed (S); absent for a body stored as it is.
pub const BODY_ENCODING: &str = "BodyEncoding";
/// Shard of the outstanding index (N); hash key of the index.
pub const SHARD: &str = "Shard";
/// Sparse marker, present only while undispatched: the message's [`ORDER_KEY`] (N); range key
/// of the outstanding index.
pub const OUTSTANDING_SINCE: &str = "OutstandingSince";
/// The message's place in line (N): creation time in epoch milliseconds, with a decimal
/// fraction that grows with each deposit in this process, so that messages made in the same
/// millisecond (several deposits of one transaction) keep their deposit order.
pub const ORDER_KEY: &str = "OrderKey";
/// When a scheduled message falls due, epoch milliseconds (N); absent for a message sent at
/// once. A scheduled message's [`ORDER_KEY`] (and so its place in the outstanding index) is
/// its due time: the sweeper reads it only once it is due, and the immediate clear and the
/// stream relays leave it alone.
pub const DUE_AT: &str = "DueAt";
/// Until when the sweeper holds a scheduled message it is sending, epoch milliseconds (N): a
/// cancel or a reschedule before then is refused.
pub const CLAIMED_UNTIL: &str = "ClaimedUntil";
/// When a scheduled message was cancelled, epoch milliseconds (N), with
/// [`Cleanup::Keep`](crate::Cleanup::Keep) (with `Delete` it is deleted); such a message has
/// left the outstanding index for good.
pub const CANCELLED_AT: &str = "CancelledAt";
/// Dispatch time, epoch milliseconds (N).
pub const DISPATCHED_AT: &str = "DispatchedAt";
/// TTL, epoch seconds (N), set at dispatch only.
pub const EXPIRES_AT: &str = "ExpiresAt";
/// Failed send attempts so far (N).
pub const ATTEMPTS: &str = "Attempts";
/// Earliest time of the next send attempt, epoch milliseconds (N); set after a failure.
pub const NEXT_ATTEMPT_AT: &str = "NextAttemptAt";
/// The last send error, for operators (S).
pub const LAST_ERROR: &str = "LastError";
/// When the message was dead-lettered, epoch milliseconds (N); such a message has left the
/// outstanding index until it is replayed.
pub const DEAD_LETTERED_AT: &str = "DeadLetteredAt";
/// Message ids starting with this are reserved for the library's own items (sweeper leases).
pub const RESERVED_ID_PREFIX: &str = "__outbox";

/// The attributes of an inbox item ([`consumer::Inbox`](crate::consumer::Inbox)): one item per
/// incoming message and consumer.
pub mod inbox {
    /// Hash key of an inbox item: the incoming message's outbox id (S).
    pub const MESSAGE_ID: &str = "MessageId";
    /// Range key of an inbox item: the consumer's name (S).
    pub const CONSUMER: &str = "Consumer";
    /// When the message was handled, epoch milliseconds (N).
    pub const HANDLED_AT: &str = "HandledAt";
    /// The TTL attribute, epoch seconds (N): DynamoDB deletes the item some time after it.
    pub const EXPIRES_AT: &str = "ExpiresAt";
    /// The ids of the messages the handling deposited (SS), when it deposited any: a duplicate
    /// delivery reads them back from its failed condition, with no request of its own.
    pub const DEPOSITED: &str = "Deposited";
}
