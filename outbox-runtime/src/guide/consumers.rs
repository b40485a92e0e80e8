//! The consumer side: applying each incoming message's effect once, although the outbox
//! delivers at least once.
//!
//! A process that dies between a send and its mark, or a transport that reports a failure after
//! taking the message, means a consumer sees some messages twice. A consumer handler,
//! `#[transactional_handler(..., incoming = message, inbox = ...)]`, writes the incoming
//! message's inbox item in its own `TransactWriteItems`, on condition that it does not exist: a
//! duplicate delivery fails that condition, so nothing of it is applied (entity writes and
//! deposits included), and the handler returns `Ok`, so the delivery is acknowledged. The
//! [`consumer`](crate::consumer) module's page explains the mechanism, the re-send of what a
//! first handling deposited and left unsent, and the metrics.
//!
//! # A consumer service
//!
//! A handler that counts greetings per person, fed by an SQS queue:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use outbox_runtime::aws_sdk_dynamodb::types::AttributeValue;
//! use outbox_runtime::consumer::{Inbox, SqsConsumer};
//! use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
//! use outbox_runtime::{
//!     DynamoDb, Expr, Message, OutboxMessage, Postbox, Transaction, transactional_handler,
//! };
//!
//! #[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
//! #[outbox(topic = "greeting.made")]
//! struct GreetingMade {
//!     #[outbox(partition_key)]
//!     name: String,
//!     greeting: String,
//! }
//!
//! struct GreetingCounter {
//!     postbox: Postbox,
//!     inbox: Inbox,
//!     counts: TableSchema,
//! }
//!
//! impl GreetingCounter {
//!     #[transactional_handler(postbox = self.postbox, tx = tx, incoming = message, inbox = self.inbox)]
//!     async fn handle(&self, tx: &mut Transaction, message: &Message) -> outbox_runtime::Result<()> {
//!         let made = GreetingMade::from_message(message)?;
//!         let add_one = Expr::new("ADD #c :one")
//!             .name("#c", "Count")
//!             .value(":one", AttributeValue::N("1".into()));
//!         tx.update(&self.counts, made.name.as_str(), add_one, None)?;
//!         Ok(())
//!     }
//! }
//!
//! # #[cfg(feature = "sqs")]
//! async fn consume(
//!     db: DynamoDb,
//!     postbox: Postbox,
//!     sqs: outbox_runtime::aws_sdk_sqs::Client,
//!     queue_url: &str,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     let inbox = Inbox::new("greeting-counter"); // table `OutboxInbox`
//!     inbox.ensure_table(&db).await?;
//!     let counts = TableSchema::new("GreetingCounts", KeyAttribute::new("Name", KeyKind::String));
//!     counts.ensure(&db).await?;
//!     let counter = Arc::new(GreetingCounter {
//!         postbox,
//!         inbox,
//!         counts,
//!     });
//!
//!     let handler = move |message: Message| {
//!         let counter = Arc::clone(&counter);
//!         async move { counter.handle(&message).await }
//!     };
//!     let shutdown = async {
//!         tokio::signal::ctrl_c().await.ok();
//!     };
//!     let report = SqsConsumer::new(sqs, queue_url)
//!         .with_concurrency(20)
//!         .run(handler, shutdown)
//!         .await?;
//!     println!(
//!         "handled {}, duplicates absorbed {}",
//!         report.handled, report.duplicates
//!     );
//!     Ok(())
//! }
//! ```
//!
//! # The inbox
//!
//! An [`Inbox`](crate::consumer::Inbox) names the consumer; its items live in a table of their
//! own (`OutboxInbox` by default: hash key the message's outbox id, range key the consumer's
//! name, TTL), so the outbox table's stream, index and sweeps never see them, and several
//! consumers of one message each handle it once. The key is the outbox id, stable across
//! re-sends, never the queue's own message id. Items are kept 15 days by default
//! ([`Inbox::with_retention`](crate::consumer::Inbox::with_retention)), a day more than SQS keeps
//! a message; [`Inbox::ensure_table`](crate::consumer::Inbox::ensure_table) creates the table.
//! The happy path reads nothing: the inbox item is one more item in the transaction, two write
//! units, no extra request.
//!
//! What the handler deposits carries the incoming id as its causation id, and the incoming
//! correlation id unless it sets its own. Without the macro,
//! [`Transaction::receive`](crate::Transaction::receive) makes a unit of work the handling of a
//! message, and a duplicate is [`Error::DuplicateDelivery`](crate::Error::DuplicateDelivery) at
//! the commit.
//!
//! # Feeding handlers
//!
//! - [`SqsConsumer`](crate::consumer::SqsConsumer) (feature `sqs`, on by default) receives from
//!   one queue with long polling, bounded concurrency, FIFO groups in order, deletes after the
//!   commit, visibility extension and a graceful shutdown; its page lists how it treats each
//!   case. A delivery that is not a readable outbox message is logged and left to the queue's
//!   redrive policy, never deleted. Deliveries through an SNS subscription without raw delivery
//!   come wrapped in SNS's envelope; both forms are read
//!   ([`consumer::incoming`](crate::consumer::incoming)).
//! - On AWS Lambda (feature `lambda`), [`lambda::SqsHandler`](crate::lambda::SqsHandler) runs the
//!   same handlers on an SQS event and returns the partial-batch response; set
//!   `FunctionResponseTypes: ["ReportBatchItemFailures"]` on the event source mapping, and let the
//!   postbox mark inline.
//! - Anything else: a [`MessageHandler`](crate::consumer::MessageHandler) is a closure from
//!   [`Message`](crate::Message) to a `Result`; read messages off your transport with
//!   [`transport::wire`](crate::transport::wire)'s contract.
//!
//! A consumer's role needs the inbox table and the queue: the
//! [`iam::Part::Consumer`](crate::iam::Part::Consumer) part of an
//! [`IamPolicy`](crate::iam::IamPolicy), with
//! [`with_inbox_table`](crate::iam::IamPolicy::with_inbox_table) and
//! [`with_consumed_queue_arn`](crate::iam::IamPolicy::with_consumed_queue_arn).

// Some links lead to items of optional features. A build without them (`cargo doc -p
// outbox-runtime` takes the default features) cannot resolve those links; docs.rs and the
// workspace's build, with every feature, check them all.
#![cfg_attr(
    not(all(feature = "streams", feature = "lambda", feature = "testing")),
    allow(rustdoc::broken_intra_doc_links)
)]
