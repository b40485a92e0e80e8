//! The guide: how the parts work together, one topic a page. Each item's own page is its
//! reference; these pages tie the items together, link to them rather than repeat them, and
//! every example in them is compiled.
//!
//! | topic | what it covers |
//! | --- | --- |
//! | [`unit_of_work`] | what a handler does: reads and versions, writes, conflicts and retries, DynamoDB's limits, errors, and what happens after the commit |
//! | [`outbox_table`] | the outbox table: its items, the sparse and sharded outstanding index, cleanup and TTL, failed sends, dead letters and replay, creating the table |
//! | [`relays`] | getting committed messages out: the sweeper, the stream relay (self-hosted or on AWS Lambda), and how to choose |
//! | [`large_messages`] | bodies stored and sent compressed, and what consumers do with them |
//! | [`consumers`] | the consumer side: the inbox, [`SqsConsumer`](crate::consumer::SqsConsumer), the AWS Lambda SQS entry |
//! | [`operations`] | metrics and logs, IAM permissions, pointing at real AWS, local emulators, OpenTelemetry |
//! | [`reliability`] | what the fault-injection runs check, and how to run them |
//!
//! # The data flow
//!
//! Data flows one way: handler → [`Transaction`](crate::Transaction) → commit (one
//! `TransactWriteItems`) → dispatcher → transport ([`Producer`](crate::transport::Producer)) →
//! mark. One dispatcher serves the send right after a commit, the [`Sweeper`](crate::Sweeper)
//! and the stream relay, so a message is sent, marked, and on failure recorded the same way,
//! whichever path found it.
//!
//! # Delivery
//!
//! Every committed message is delivered at least once; nothing of a unit of work that did not
//! commit is ever delivered. A message can be delivered twice (a process dies between a send and
//! its mark, a transport reports a failure after taking the message), which the consumer's
//! [inbox](consumers) absorbs. Messages with the same partition key are sent in the order they
//! were deposited on the sweeper's path; [`relays`] says where else order holds.

pub mod consumers;
pub mod large_messages;
pub mod operations;
pub mod outbox_table;
pub mod relays;
pub mod reliability;
pub mod unit_of_work;
