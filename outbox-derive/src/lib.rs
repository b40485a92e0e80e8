//! The macros of `outbox-runtime`: `#[derive(OutboxMessage)]` and `#[transactional_handler]`.
//!
//! Depend on `outbox-runtime`, which re-exports both: their reference (every key and argument,
//! with examples compiled as doctests) is on the re-exports,
//! [`outbox_runtime::OutboxMessage`](https://docs.rs/outbox-runtime/latest/outbox_runtime/derive.OutboxMessage.html)
//! and
//! [`outbox_runtime::transactional_handler`](https://docs.rs/outbox-runtime/latest/outbox_runtime/attr.transactional_handler.html).
//! This crate only parses and emits calls into `::outbox_runtime::__private`, and it does not
//! depend on the runtime, even for its tests, so that a test run builds the runtime's dependency
//! graph once.
//!
//! Each entry point below converts to `proc_macro2` and calls one function of `expand`, so that
//! everything can be unit-tested. The phases, one file each: `attr` reads `#[outbox(...)]` and
//! the handler's arguments (its keys are constants in `symbol`), `ast` is the typed model of the
//! input, `valid` makes the checks no single attribute can, `expand` generates the code and
//! `fallback` what is emitted next to the errors when the input is wrong. Diagnostics are
//! collected in `ctxt`.

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

/// `#[derive(OutboxMessage)]`, defined in `outbox-derive` and re-exported by `outbox-runtime`.
/// Depend on `outbox-runtime`: its re-export,
/// [`outbox_runtime::OutboxMessage`](https://docs.rs/outbox-runtime/latest/outbox_runtime/derive.OutboxMessage.html),
/// is the reference of every `#[outbox(...)]` key, with examples compiled as doctests.
#[proc_macro_derive(OutboxMessage, attributes(outbox))]
pub fn derive_outbox_message(input: TokenStream) -> TokenStream {
    expand::derive_outbox_message(input.into()).into()
}

/// `#[transactional_handler]`, defined in `outbox-derive` and re-exported by `outbox-runtime`.
/// Depend on `outbox-runtime`: its re-export,
/// [`outbox_runtime::transactional_handler`](https://docs.rs/outbox-runtime/latest/outbox_runtime/attr.transactional_handler.html),
/// is the reference of every argument and of what happens on each way out of the body, with
/// examples compiled as doctests.
#[proc_macro_attribute]
pub fn transactional_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::transactional_handler(args.into(), item.into()).into()
}
