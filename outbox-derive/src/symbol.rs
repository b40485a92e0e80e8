//! Every key and every accepted value of the two macros' grammars, in one place.

use std::fmt;

/// A key of `#[outbox(...)]` or `#[transactional_handler(...)]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Symbol(pub(crate) &'static str);

/// The helper attribute of `#[derive(OutboxMessage)]`.
pub(crate) const OUTBOX: Symbol = Symbol("outbox");

/// Container keys (on the struct or enum; `TOPIC` and `MESSAGE_TYPE` also on variants).
pub(crate) const TOPIC: Symbol = Symbol("topic");
pub(crate) const MESSAGE_TYPE: Symbol = Symbol("message_type");
pub(crate) const CONTENT_TYPE: Symbol = Symbol("content_type");
pub(crate) const BODY: Symbol = Symbol("body");

/// Field keys.
pub(crate) const PARTITION_KEY: Symbol = Symbol("partition_key");
pub(crate) const ID: Symbol = Symbol("id");
pub(crate) const CORRELATION_ID: Symbol = Symbol("correlation_id");

/// `#[transactional_handler(...)]` keys.
pub(crate) const POSTBOX: Symbol = Symbol("postbox");
pub(crate) const TX: Symbol = Symbol("tx");
pub(crate) const RETRIES: Symbol = Symbol("retries");
pub(crate) const CLEAR: Symbol = Symbol("clear");
pub(crate) const INCOMING: Symbol = Symbol("incoming");
pub(crate) const INBOX: Symbol = Symbol("inbox");

pub(crate) const STRUCT_KEYS: &[Symbol] = &[TOPIC, MESSAGE_TYPE, CONTENT_TYPE, BODY];
pub(crate) const ENUM_KEYS: &[Symbol] = &[TOPIC, MESSAGE_TYPE, CONTENT_TYPE, BODY];
pub(crate) const VARIANT_KEYS: &[Symbol] = &[TOPIC, MESSAGE_TYPE];
pub(crate) const FIELD_KEYS: &[Symbol] = &[PARTITION_KEY, ID, CORRELATION_ID];
pub(crate) const HANDLER_KEYS: &[Symbol] = &[POSTBOX, TX, RETRIES, CLEAR, INCOMING, INBOX];

/// `message_type = "..."`: the stored names of `outbox_runtime::MessageType`.
pub(crate) const MESSAGE_TYPES: &[&str] = &["event", "command", "document"];
/// `body = "..."`.
pub(crate) const BODY_FORMATS: &[&str] = &["json", "dynamo"];
/// `clear = "..."`.
pub(crate) const CLEAR_MODES: &[&str] = &["immediate", "sweeper"];

/// How many more times the body runs after a conflict when `retries` is not given. Under
/// optimistic concurrency every lost round means another caller committed, so `k` callers
/// writing one item at once all succeed within `k - 1` retries: 10 covers eleven at once. The
/// backoff between runs (20 ms doubling to 500 ms, jittered) bounds the wait to about 3 s; an
/// item contended harder than that is better reported than waited on. The runtime documents the
/// same figure (`HandlerRun`).
pub(crate) const DEFAULT_RETRIES: u32 = 10;

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq<Symbol> for syn::Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl PartialEq<Symbol> for syn::Ident {
    fn eq(&self, word: &Symbol) -> bool {
        self == word.0
    }
}

/// `` `a`, `b`, `c` `` for a diagnostic.
pub(crate) fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_like_rustc() {
        assert_eq!(
            list(HANDLER_KEYS),
            "`postbox`, `tx`, `retries`, `clear`, `incoming`, `inbox`"
        );
        assert_eq!(list(BODY_FORMATS), "`json`, `dynamo`");
    }

    #[test]
    fn paths_compare_with_symbols() {
        let path: syn::Path = syn::parse_quote!(topic);
        assert!(path == TOPIC);
        assert!(path != BODY);
        let qualified: syn::Path = syn::parse_quote!(a::topic);
        assert!(qualified != TOPIC);
    }
}
