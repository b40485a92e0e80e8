//! The unit of work: what a handler reads and writes and the messages it deposits, committed
//! together in one `TransactWriteItems`, and what happens to the messages after the commit.
//!
//! A handler is usually an `async fn` under
//! [`#[transactional_handler]`](crate::transactional_handler), whose page lists its arguments
//! and what becomes of the call on `Ok`, `Err`, a panic or a conflict. This page is about what
//! the body does with its [`Transaction`](crate::Transaction), and what follows the commit.
//!
//! # Reads and versions
//!
//! [`Transaction::get`](crate::Transaction::get) reads an entity consistently and remembers it;
//! [`Transaction::get_many`](crate::Transaction::get_many) reads several (`BatchGetItem`, 100
//! keys a call). Keys are typed by the table's [`TableSchema`](crate::TableSchema): a value for a
//! table keyed by a hash attribute alone, a pair `(hash, range)` for one with a range key
//! ([`TableSchema::key`](crate::TableSchema::key)).
//!
//! A table names the number attribute in which the runtime keeps each item's version
//! ([`TableSchema::with_version`](crate::TableSchema::with_version)). A write to an item read in
//! the same unit of work (`put`, `update`, `delete`) is conditional on the version read, or on
//! the item still being absent, and moves the version on by one. When another writer got there
//! first, DynamoDB cancels the commit; the runtime tells a changed version from a failed condition
//! of your own by the item DynamoDB returns with the cancellation, and the handler runs again
//! with fresh reads.
//!
//! Refused before anything is sent, with [`Error::InvalidAction`](crate::Error::InvalidAction)
//! saying what to do instead:
//!
//! - a write to a read item of a table that keeps no version (it could lose an update);
//! - a put to a versioned table without a read first (a put replaces the version too);
//! - a read of an item the unit of work already writes;
//! - a raw action on a read item.
//!
//! Items read but not written are not checked at the commit unless pinned
//! ([`Transaction::pin`](crate::Transaction::pin)): pin what a decision rests on.
//!
//! ```no_run
//! use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
//! use outbox_runtime::{OutboxMessage, Postbox, Transaction, transactional_handler};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Account {
//!     #[serde(rename = "Customer")]
//!     customer: String,
//!     credit_limit: u64,
//! }
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Order {
//!     #[serde(rename = "Customer")]
//!     customer: String,
//!     #[serde(rename = "Number")]
//!     number: u64,
//!     total: u64,
//! }
//!
//! #[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
//! #[outbox(topic = "order.placed")]
//! struct OrderPlaced {
//!     #[outbox(partition_key)]
//!     customer: String,
//!     number: u64,
//! }
//!
//! struct PlaceOrder {
//!     postbox: Postbox,
//!     accounts: TableSchema,
//!     orders: TableSchema,
//! }
//!
//! impl PlaceOrder {
//!     fn new(postbox: Postbox) -> Self {
//!         let accounts = TableSchema::new("Accounts", KeyAttribute::new("Customer", KeyKind::String))
//!             .with_version("Version");
//!         let orders = TableSchema::new("Orders", KeyAttribute::new("Customer", KeyKind::String))
//!             .with_range_key(KeyAttribute::new("Number", KeyKind::Number))
//!             .with_version("Version");
//!         PlaceOrder {
//!             postbox,
//!             accounts,
//!             orders,
//!         }
//!     }
//!
//!     /// Places the order when the customer's credit allows it; `false` otherwise.
//!     #[transactional_handler(postbox = self.postbox, tx = tx)]
//!     async fn handle(
//!         &self,
//!         tx: &mut Transaction,
//!         customer: &str,
//!         number: u64,
//!         total: u64,
//!     ) -> outbox_runtime::Result<bool> {
//!         let Some(account) = tx.get::<Account>(&self.accounts, customer).await? else {
//!             return Ok(false);
//!         };
//!         if total > account.credit_limit {
//!             return Ok(false);
//!         }
//!         // The decision rests on the limit read: a change to it before the commit is a
//!         // conflict, and the body runs again.
//!         tx.pin(&self.accounts, customer)?;
//!         // Read first, so that the put is conditional on the order still being absent.
//!         let order = tx.get::<Order>(&self.orders, (customer, number)).await?;
//!         if order.is_some() {
//!             return Ok(false);
//!         }
//!         let customer = customer.to_owned();
//!         let order = Order {
//!             customer: customer.clone(),
//!             number,
//!             total,
//!         };
//!         tx.put(&self.orders, &order)?;
//!         tx.deposit(&OrderPlaced { customer, number })?;
//!         Ok(true)
//!     }
//! }
//!
//! # async fn run(postbox: Postbox) -> outbox_runtime::Result<()> {
//! let placed = PlaceOrder::new(postbox).handle("c-7", 42, 1_500).await?;
//! # let _ = placed;
//! # Ok(()) }
//! ```
//!
//! # Writes
//!
//! Entities go in through serde_dynamo: [`put`](crate::Transaction::put) and
//! [`put_if`](crate::Transaction::put_if) take any `Serialize` type;
//! [`put_item`](crate::Transaction::put_item), [`update`](crate::Transaction::update),
//! [`delete`](crate::Transaction::delete) and
//! [`condition_check`](crate::Transaction::condition_check) take items, keys and
//! [`Expr`](crate::Expr) expressions (name attributes through placeholders: many common words,
//! `Shard` among them, are reserved in DynamoDB expressions); [`raw`](crate::Transaction::raw)
//! takes any `TransactWriteItem`. Messages are deposited with
//! [`deposit`](crate::Transaction::deposit) (an [`OutboxMessage`](trait@crate::OutboxMessage))
//! or [`deposit_message`](crate::Transaction::deposit_message) (a [`Message`](crate::Message)).
//! Outside a unit of work a message is stored instead ([`Outbox::store`](crate::Outbox::store)).
//!
//! The commit ([`Transaction::commit`](crate::Transaction::commit)) is one `TransactWriteItems`
//! with a client request token, so the SDK's retries of an ambiguous failure never apply it
//! twice. A message's put is conditional on its id being new: a re-deposit never resets a
//! message already there.
//!
//! # Conflicts and retries
//!
//! A commit cancelled only because of other writers (another transaction on the same items at
//! the same time, or an item changed since this unit of work read it) is a conflict
//! ([`Error::is_conflict`](crate::Error::is_conflict)); a failed condition the body wrote itself
//! (`put_if`, `condition_check`) is not. What a handler does after a conflict (run the body again
//! with fresh reads, up to `retries` more times, then give up with
//! [`Error::ConflictRetriesExhausted`](crate::Error::ConflictRetriesExhausted)) is on the
//! [macro's page](crate::transactional_handler#what-happens), and
//! [`HandlerRun::new`](crate::dispatch::HandlerRun::new) says why the default is 10 and when to
//! raise it.
//!
//! # Limits
//!
//! DynamoDB's transaction limits (at most 100 actions, 4 MB a request, 400 KB an item, one action
//! per item; the constants are in [`limits`](crate::limits)) are checked as each action is added.
//! Breaking one is [`Error::Limit`](crate::Error::Limit) before anything is sent, naming the
//! limit, the figure and the action; DynamoDB's own answers are opaque, or, on DynamoDB Local,
//! misleading. Nothing here needs DynamoDB, so this example runs:
//!
//! ```
//! use outbox_runtime::aws_sdk_dynamodb::config::{BehaviorVersion, Config};
//! use outbox_runtime::limits::{LimitError, MAX_ACTIONS};
//! use outbox_runtime::{DynamoDb, Error, Message, Outbox, OutboxConfig, Transaction};
//!
//! let config = Config::builder()
//!     .behavior_version(BehaviorVersion::latest())
//!     .build();
//! let client = outbox_runtime::aws_sdk_dynamodb::Client::from_conf(config);
//! let outbox = Outbox::new(DynamoDb::from_client(client), OutboxConfig::default())?;
//! let mut tx = Transaction::begin(&outbox);
//! for n in 0..MAX_ACTIONS {
//!     tx.deposit_message(Message::new("greeting.made", n.to_string()))?;
//! }
//! let one_too_many = Message::new("greeting.made", "one too many");
//! let err = tx.deposit_message(one_too_many).unwrap_err();
//! let refused = matches!(
//!     err,
//!     Error::Limit(LimitError::TooManyActions { count: 101, .. })
//! );
//! assert!(refused, "{err}");
//! # Ok::<(), outbox_runtime::Error>(())
//! ```
//!
//! # Errors
//!
//! One enum, [`Error`](crate::Error), whose messages say what to do next. What a handler meets:
//!
//! | when | error |
//! | --- | --- |
//! | an action is added | [`Limit`](crate::Error::Limit), [`InvalidKey`](crate::Error::InvalidKey), [`InvalidAction`](crate::Error::InvalidAction), [`Serialization`](crate::Error::Serialization) |
//! | a read | [`TableNotFound`](crate::Error::TableNotFound), [`Unreachable`](crate::Error::Unreachable), [`Serialization`](crate::Error::Serialization) naming the type of an item that does not decode |
//! | the commit | [`TransactionCancelled`](crate::Error::TransactionCancelled), with every action's reason (table, key, a typed code, and for a failed condition whether yours failed or the item changed); [`DuplicateMessage`](crate::Error::DuplicateMessage); [`CommitUncertain`](crate::Error::CommitUncertain) when the outcome is unknown |
//! | the handler gives up | [`ConflictRetriesExhausted`](crate::Error::ConflictRetriesExhausted) |
//!
//! [`Error::is_retryable`](crate::Error::is_retryable) tells what may succeed later unchanged from
//! what needs a change first.
//!
//! # After the commit
//!
//! With `clear = "immediate"` (the default) the committed messages are sent from memory right
//! after the commit, with no read back, and the call returns after the send. A failed send does
//! not fail the call: the message is durable, its failed attempt is recorded, and the sweeper
//! sends it later.
//!
//! Marks follow the postbox's [`MarkMode`](crate::MarkMode). By default
//! ([`MarkMode::Background`](crate::MarkMode::Background)) a background task of the postbox marks
//! what every concurrent handler sent, 25 ids to a request, each within 10 ms, so under load a
//! message costs its commit plus a twenty-fifth of a mark request. Call
//! [`Postbox::flush`](crate::Postbox::flush) on shutdown; a mark lost to a crash only means the
//! sweeper sends that message again. Where nothing may run between calls (AWS Lambda freezes the
//! process after each invocation), [`MarkMode::Inline`](crate::MarkMode::Inline) marks before the
//! call returns.
//!
//! What became of a handler's messages is its [`HandlerReport`](crate::HandlerReport); wrap
//! calls in [`capture_reports`](crate::capture_reports) to get the reports without changing the
//! handlers' return types. Its [`ClearReport`](crate::ClearReport) sorts the messages sent at
//! once: [`sent`](crate::ClearReport::sent) means sent *and marked*, so with the default
//! background marker a handler's report lists what it sent under
//! [`mark_pending`](crate::ClearReport::mark_pending) (marked within the marker's delay, or at
//! the flush); [`left_outstanding`](crate::ClearReport::left_outstanding) failed to send and
//! waits for the sweeper; [`sent_unmarked`](crate::ClearReport::sent_unmarked) went out but its
//! mark failed, so the sweeper will send it a second time;
//! [`handed_over`](crate::ClearReport::handed_over) lists all that went out, whatever became of
//! the marks.
//!
//! ```no_run
//! use outbox_runtime::transactional_handler;
//! use outbox_runtime::{MarkMode, Message, Postbox, Transaction, capture_reports};
//!
//! #[transactional_handler(postbox = postbox, tx = tx)]
//! async fn announce(postbox: &Postbox, tx: &mut Transaction) -> outbox_runtime::Result<()> {
//!     tx.deposit_message(Message::new("greeting.made", "{}"))?;
//!     Ok(())
//! }
//!
//! # async fn run(postbox: Postbox) -> outbox_runtime::Result<()> {
//! // The default: the send is reported, its mark pending with the background marker.
//! let (result, reports) = capture_reports(announce(&postbox)).await;
//! result?;
//! let clear = reports[0].clear.as_ref().expect("sent at once");
//! assert_eq!((clear.sent.len(), clear.mark_pending.len()), (0, 1));
//! postbox.flush().await;
//!
//! // Marks inline: sent and marked before the call returns.
//! let inline = postbox.clone().with_mark_mode(MarkMode::Inline);
//! let (result, reports) = capture_reports(announce(&inline)).await;
//! result?;
//! let clear = reports[0].clear.as_ref().expect("sent at once");
//! assert_eq!((clear.sent.len(), clear.mark_pending.len()), (1, 0));
//! # Ok(()) }
//! ```
//!
//! With `clear = "sweeper"` the handler sends nothing, and the sweeper sends the messages once
//! they are older than its `min_age`. Under a stream mode the immediate send is off by default
//! ([`Postbox::with_immediate_clear`](crate::Postbox::with_immediate_clear)): the stream relay
//! sends.
//!
//! # Messages due later
//!
//! [`Transaction::deposit_at`](crate::Transaction::deposit_at) and
//! [`deposit_after`](crate::Transaction::deposit_after) deposit a message that falls due later
//! ("time the payment out in 15 minutes unless it came"), atomically with the handler's writes
//! like any deposit; [`Outbox::store_at`](crate::Outbox::store_at) does the same outside a unit
//! of work. Nothing is sent at once: the immediate clear, the stream relay and the Lambda stream
//! entry leave a scheduled message alone, and the sweeper sends it on its first pass over its
//! shard once it is due, never before (its `min_age` does not delay it: `min_age` only keeps
//! the sweeper off messages the immediate clear is sending). So a scheduled message needs a
//! sweeper running, in every stream mode, and it is late by at most one sweeper interval plus
//! the length of a pass.
//!
//! A scheduled message's place in the outstanding index is its due time, so a million messages
//! due next month cost nothing until then: a sweep reads only what is due.
//!
//! A scheduled message can be cancelled or moved, in a unit of work atomically with the writes
//! that make it moot ("order paid" cancels "payment timed out"):
//! [`Transaction::cancel`](crate::Transaction::cancel) and
//! [`Transaction::reschedule`](crate::Transaction::reschedule) read the message first and say
//! what they found as a [`ScheduleOutcome`](crate::ScheduleOutcome) the handler branches on:
//! `Applied` (the commit makes the change), `InFlight` (the sweeper is sending it), `AlreadySent`,
//! `AlreadyCancelled`, `DeadLettered`, `NotScheduled`, `NotFound`. Cancelled means never sent and
//! never will be: the sweeper claims a scheduled message with a conditional write right before
//! sending it, and a change is conditional on no claim, so a cancel that loses the race is
//! refused at the commit as a conflict and the handler runs again, to find the message in flight.
//! [`Outbox::cancel`](crate::Outbox::cancel) and
//! [`Outbox::reschedule`](crate::Outbox::reschedule) do the same outside a unit of work. A
//! cancelled message follows the outbox's [`Cleanup`](crate::Cleanup): deleted, or kept with
//! `CancelledAt` until its TTL (with `Delete`, a sent or cancelled message is gone, and both read
//! as `NotFound`). The claim costs one write per scheduled message sent.
//!
//! ```no_run
//! use std::time::Duration;
//! use outbox_runtime::{OutboxMessage, Postbox, Transaction, transactional_handler};
//!
//! #[derive(serde::Serialize, serde::Deserialize, OutboxMessage)]
//! #[outbox(topic = "payment.timed-out")]
//! struct PaymentTimedOut {
//!     #[outbox(partition_key)]
//!     order: String,
//! }
//!
//! #[transactional_handler(postbox = postbox, tx = tx)]
//! async fn place_order(
//!     postbox: &Postbox,
//!     tx: &mut Transaction,
//!     order: &str,
//! ) -> outbox_runtime::Result<()> {
//!     // ... the order's own writes ...
//!     let timeout = PaymentTimedOut { order: order.to_owned() };
//!     tx.deposit_after(&timeout, Duration::from_secs(15 * 60))?;
//!     Ok(())
//! }
//! ```
//!
//! # Order per partition key
//!
//! The sweeper never sends a later message of a key before an earlier one of the same key has
//! been sent. For scheduled messages "earlier" means due earlier: a key's messages go in the
//! order of their due times (deposit order for equal ones, and a message sent at once is due
//! when it is deposited), so a message scheduled for later never holds back one due before
//! it. After a failed send a scheduled message keeps its place, waits out its backoff like any
//! message, and holds its key's later messages back meanwhile; while it waits it is no longer in
//! flight, so it can still be cancelled or moved, which lets the key's next message go. The immediate send goes out right after the commit, without looking for older
//! messages of the key still waiting for the sweeper (after a failed send, say), so a later
//! message can overtake them there. A service that needs strict order per key even across
//! transport failures uses `clear = "sweeper"`, or, with a stream relay,
//! [`KeyedMessages::LeaveToSweeper`](crate::stream::KeyedMessages::LeaveToSweeper).
