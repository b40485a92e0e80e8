//! The macros of `outbox-runtime`: `#[derive(OutboxMessage)]` and `#[transactional_handler]`.
//!
//! Depend on `outbox-runtime`, which re-exports both; this crate only parses and emits calls
//! into `::outbox_runtime::__private`. Each entry point below converts to `proc_macro2` and
//! calls one function of `expand`, so that everything can be unit-tested.
//!
//! The phases, one file each: `attr` reads `#[outbox(...)]` and the handler's arguments (its
//! keys are constants in `symbol`), `ast` is the typed model of the input, `valid` makes the
//! checks no single attribute can, `expand` generates the code and `fallback` what is emitted
//! next to the errors when the input is wrong. Diagnostics are collected in `ctxt`.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod symbol;
mod valid;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Implements `outbox_runtime::OutboxMessage`: a type that travels as outbox messages.
///
/// The type implements serde's `Serialize` and `Deserialize` itself (derive them); the message
/// body is its serde form.
///
/// # Attributes
///
/// On the struct or enum, `#[outbox(...)]` takes:
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `topic` | a string literal: where the message goes | required on a struct; on an enum, on the enum or on every variant |
/// | `message_type` | `"event"`, `"command"` or `"document"` | `"event"` |
/// | `content_type` | a string literal, the body's MIME type | `"application/json"` |
/// | `body` | `"json"` (bytes, through serde_json) or `"dynamo"` (a native DynamoDB map, readable in the console, through serde_dynamo) | `"json"` |
///
/// A variant of an enum may set its own `topic` and `message_type`; the body is the serde form
/// of the whole enum, so `body` and `content_type` go on the enum.
///
/// On a field, at most one of each per struct or variant, converted with `ToString` (a field
/// written `Option<T>` sets the header only when it is `Some`):
///
/// | key | fills |
/// | --- | --- |
/// | `partition_key` | the ordering key: messages with the same key are sent in order |
/// | `id` | the message id (otherwise a fresh UUID v7 per message) |
/// | `correlation_id` | the correlation id |
///
/// # What it generates
///
/// `OutboxMessage` (`TOPICS`, `topic`, `message_type`, `to_message`, `from_message`) and, for a
/// type with one topic, an inherent `TOPIC` constant with the type's visibility, for
/// consumers and routing code. Decoding a message of another topic or type is an error that
/// names both; a body that fails to encode or decode is an error naming the type and topic.
///
/// # Examples
///
/// On the re-export [`outbox_runtime::OutboxMessage`](https://docs.rs/outbox-runtime), where they
/// are compiled as doctests: this crate does not depend on the runtime, even for its tests,
/// so that a test run builds the runtime's dependency graph once.
#[proc_macro_derive(OutboxMessage, attributes(outbox))]
pub fn derive_outbox_message(input: TokenStream) -> TokenStream {
    expand::derive_outbox_message(input.into()).into()
}

/// Runs an `async fn` as one unit of work over DynamoDB: its entity writes and deposited
/// messages commit together, then the messages are sent.
///
/// ```text
/// #[transactional_handler(postbox = <expr>, tx = <parameter>, retries = <n>, clear = "<mode>")]
/// #[transactional_handler(postbox = <expr>, tx = <parameter>, incoming = <parameter>, inbox = <expr>)]
/// ```
///
/// | argument | meaning | default |
/// | --- | --- | --- |
/// | `postbox` | an expression giving a `&Postbox` (or something that derefs to one), evaluated once per call: `self.postbox`, `&state.postbox`, a parameter | required |
/// | `tx` | the parameter of type `&mut Transaction` the body writes to; it is removed from the signature callers see | required |
/// | `retries` | how many more times the body runs after a conflict (another transaction at the same time, or an item changed since the body read it), with backoff; `0` never runs it twice | `10` |
/// | `clear` | `"immediate"`: send the messages right after the commit; `"sweeper"`: leave them to the sweeper | `"immediate"` |
/// | `incoming` | for a consumer handler: the parameter of type `&Message` it handles; its id goes to the inbox, and becomes the causation id of every message the body deposits (its correlation id is carried over) | none |
/// | `inbox` | with `incoming`: an expression giving the `&Inbox` (`outbox_runtime::consumer::Inbox`) the handling is recorded in, evaluated once per call | none |
///
/// The function must be `async` and return `Result<T, E>` with `E: From<outbox_runtime::Error>`.
///
/// # What happens
///
/// - A transaction is begun, and the body runs with the `tx` parameter bound to it.
/// - `Ok`: the transaction commits (one `TransactWriteItems`), the deposited messages are sent
///   from memory (a failed send is logged and left to the sweeper; it does not fail the call),
///   and the value is returned.
/// - `Err` (by `?` or by `return`): the transaction is dropped and the error returned unchanged.
///   Nothing was sent to DynamoDB, so nothing is undone.
/// - A panic, or the call's future dropped before it finishes: the transaction is dropped;
///   nothing is written or sent.
/// - A commit cancelled by a conflict (another transaction touched the same items, or an item
///   the body read with `tx.get` changed before the commit): the body runs again with a fresh
///   transaction and fresh reads, up to `retries` more times; then the runtime's
///   `ConflictRetriesExhausted` error is returned, with the last run's cancellation reasons. A
///   condition the body wrote itself (`put_if`, `condition_check`) that fails is never retried.
///   Any other commit error is returned at once.
/// - The loop, the commit, the retry decision and the send are `outbox_runtime`'s
///   `HandlerRun`; the generated code only runs the body where its borrows live.
///
/// With `incoming` and `inbox`, the transaction also writes the incoming message's inbox item,
/// on condition that it does not exist. A duplicate delivery fails that condition: nothing of
/// it is applied, and the handler returns `Ok(T::default())` (a consumer handler returns
/// `Result<T, E>` with `T: Default`, usually `()`), so the caller acknowledges it.
///
/// Because the body may run more than once, parameters taken by value are cloned for each run
/// (they must be `Clone`, or taken by reference, or `retries = 0`).
///
/// # Examples
///
/// On the re-export [`outbox_runtime::transactional_handler`](https://docs.rs/outbox-runtime),
/// where they are compiled as doctests.
#[proc_macro_attribute]
pub fn transactional_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::transactional_handler(args.into(), item.into()).into()
}
