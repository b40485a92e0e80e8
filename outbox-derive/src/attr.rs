//! The attribute grammars: `#[outbox(...)]` on containers, variants and fields, and the
//! arguments of `#[transactional_handler(...)]`.
//!
//! Parsing reports what it can and goes on: an unknown key, a duplicate or a bad value is
//! recorded in the [`Ctxt`] and the next key is read, so every mistake shows at once.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Attribute, Expr, ExprLit, Ident, Lit, LitStr, Token};

use crate::ctxt::Ctxt;
use crate::symbol::{self, Symbol};

/// One key's slot: set at most once; a second setting is reported on its own tokens.
pub(crate) struct Attr<T> {
    name: Symbol,
    /// `outbox attribute` or `transactional_handler argument`, for the diagnostic.
    what: &'static str,
    value: Option<T>,
}

impl<T> Attr<T> {
    /// An empty slot for a key of `#[outbox(...)]`.
    pub(crate) fn outbox(name: Symbol) -> Self {
        Self {
            name,
            what: "outbox attribute",
            value: None,
        }
    }

    /// An empty slot for an argument of `#[transactional_handler(...)]`.
    pub(crate) fn argument(name: Symbol) -> Self {
        Self {
            name,
            what: "transactional_handler argument",
            value: None,
        }
    }

    /// Fills the slot; a second value is an error on `obj` and is ignored.
    pub(crate) fn set<A: ToTokens>(&mut self, cx: &Ctxt, obj: A, value: T) {
        if self.value.is_some() {
            cx.error_spanned_by(obj, format!("duplicate {} `{}`", self.what, self.name));
        } else {
            self.value = Some(value);
        }
    }

    pub(crate) fn get(self) -> Option<T> {
        self.value
    }
}

/// `message_type = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum MessageKind {
    #[default]
    Event,
    Command,
    Document,
}

impl MessageKind {
    /// The variant of `outbox_runtime::MessageType`.
    pub(crate) fn variant(self) -> Ident {
        let name = match self {
            Self::Event => "Event",
            Self::Command => "Command",
            Self::Document => "Document",
        };
        Ident::new(name, Span::call_site())
    }
}

/// `body = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum BodyFormat {
    /// serde_json bytes.
    #[default]
    Json,
    /// A native DynamoDB map through serde_dynamo.
    Dynamo,
}

/// `clear = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Clear {
    #[default]
    Immediate,
    Sweeper,
}

/// Where an `#[outbox(...)]` attribute stands; decides which keys it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    Struct,
    Enum,
    Variant,
    /// A field of a struct, or of an enum's variant.
    Field {
        in_enum: bool,
    },
}

impl Place {
    fn keys(self) -> &'static [Symbol] {
        match self {
            Place::Struct => symbol::STRUCT_KEYS,
            Place::Enum => symbol::ENUM_KEYS,
            Place::Variant => symbol::VARIANT_KEYS,
            Place::Field { .. } => symbol::FIELD_KEYS,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Place::Struct => "the struct",
            Place::Enum => "the enum",
            Place::Variant => "a variant",
            Place::Field { .. } => "a field",
        }
    }
}

/// The keys of a struct, an enum or a variant.
#[derive(Default)]
pub(crate) struct Container {
    pub(crate) topic: Option<LitStr>,
    pub(crate) message_type: Option<MessageKind>,
    pub(crate) content_type: Option<LitStr>,
    pub(crate) body: Option<BodyFormat>,
    /// True when reading these attributes reported an error (a misspelled or malformed
    /// `topic` must not be reported a second time as a missing one).
    pub(crate) had_errors: bool,
}

/// The keys of a field: the roles it plays in the message header. Each keeps the key's path,
/// to point at it.
#[derive(Default)]
pub(crate) struct FieldRoles {
    pub(crate) partition_key: Option<syn::Path>,
    pub(crate) id: Option<syn::Path>,
    pub(crate) correlation_id: Option<syn::Path>,
}

/// Reads every `#[outbox(...)]` of a struct, an enum or a variant.
pub(crate) fn container(cx: &Ctxt, attrs: &[Attribute], place: Place) -> Container {
    let errors_before = cx.error_count();
    let mut topic = Attr::outbox(symbol::TOPIC);
    let mut message_type = Attr::outbox(symbol::MESSAGE_TYPE);
    let mut content_type = Attr::outbox(symbol::CONTENT_TYPE);
    let mut body = Attr::outbox(symbol::BODY);

    for attr in outbox_attrs(attrs) {
        let result = attr.parse_nested_meta(|meta| {
            let key = &meta.path;
            if *key == symbol::TOPIC {
                let lit = string_value(&meta, symbol::TOPIC, "\"greeting.made\"")?;
                if lit.value().trim().is_empty() {
                    cx.error_spanned_by(&lit, "the topic must not be empty");
                }
                topic.set(cx, key, lit);
            } else if *key == symbol::MESSAGE_TYPE {
                let lit = string_value(&meta, symbol::MESSAGE_TYPE, "\"event\"")?;
                let value = match lit.value().as_str() {
                    "event" => Some(MessageKind::Event),
                    "command" => Some(MessageKind::Command),
                    "document" => Some(MessageKind::Document),
                    _ => None,
                };
                match value {
                    Some(value) => message_type.set(cx, key, value),
                    None => cx.error_spanned_by(
                        &lit,
                        format!(
                            "unknown message type `{}`; expected one of {}",
                            lit.value(),
                            symbol::list(symbol::MESSAGE_TYPES)
                        ),
                    ),
                }
            } else if *key == symbol::CONTENT_TYPE && place != Place::Variant {
                let lit = string_value(&meta, symbol::CONTENT_TYPE, "\"application/json\"")?;
                if lit.value().trim().is_empty() {
                    cx.error_spanned_by(&lit, "the content type must not be empty");
                }
                content_type.set(cx, key, lit);
            } else if *key == symbol::BODY && place != Place::Variant {
                let lit = string_value(&meta, symbol::BODY, "\"json\"")?;
                let value = match lit.value().as_str() {
                    "json" => Some(BodyFormat::Json),
                    "dynamo" => Some(BodyFormat::Dynamo),
                    _ => None,
                };
                match value {
                    Some(value) => body.set(cx, key, value),
                    None => cx.error_spanned_by(
                        &lit,
                        format!(
                            "unknown body format `{}`; expected one of {}",
                            lit.value(),
                            symbol::list(symbol::BODY_FORMATS)
                        ),
                    ),
                }
            } else {
                misplaced_or_unknown(cx, &meta, place);
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(err) = result {
            cx.syn_error(err);
        }
    }

    Container {
        topic: topic.get(),
        message_type: message_type.get(),
        content_type: content_type.get(),
        body: body.get(),
        had_errors: cx.error_count() > errors_before,
    }
}

/// Reads every `#[outbox(...)]` of a field.
pub(crate) fn field(cx: &Ctxt, attrs: &[Attribute], place: Place) -> FieldRoles {
    let mut partition_key = Attr::outbox(symbol::PARTITION_KEY);
    let mut id = Attr::outbox(symbol::ID);
    let mut correlation_id = Attr::outbox(symbol::CORRELATION_ID);

    for attr in outbox_attrs(attrs) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.clone();
            let slot = if key == symbol::PARTITION_KEY {
                Some(&mut partition_key)
            } else if key == symbol::ID {
                Some(&mut id)
            } else if key == symbol::CORRELATION_ID {
                Some(&mut correlation_id)
            } else {
                None
            };
            match slot {
                Some(slot) => {
                    if takes_no_value(cx, &meta, &key) {
                        slot.set(cx, &key, key.clone());
                    }
                    skip_value(&meta)?;
                }
                None => {
                    misplaced_or_unknown(cx, &meta, place);
                    skip_value(&meta)?;
                }
            }
            Ok(())
        });
        if let Err(err) = result {
            cx.syn_error(err);
        }
    }

    FieldRoles {
        partition_key: partition_key.get(),
        id: id.get(),
        correlation_id: correlation_id.get(),
    }
}

/// The arguments of `#[transactional_handler(...)]`.
#[derive(Default)]
pub(crate) struct HandlerArgs {
    pub(crate) postbox: Option<Expr>,
    pub(crate) tx: Option<Ident>,
    pub(crate) retries: Option<u32>,
    pub(crate) clear: Option<Clear>,
    /// `incoming = <parameter>`, with the key's tokens for diagnostics.
    pub(crate) incoming: Option<(syn::Path, Ident)>,
    /// `inbox = <expr>`, with the key's tokens for diagnostics.
    pub(crate) inbox: Option<(syn::Path, Expr)>,
}

/// Reads the arguments of `#[transactional_handler(...)]`.
pub(crate) fn handler_args(cx: &Ctxt, args: TokenStream) -> HandlerArgs {
    let mut postbox = Attr::argument(symbol::POSTBOX);
    let mut tx = Attr::argument(symbol::TX);
    let mut retries = Attr::argument(symbol::RETRIES);
    let mut clear = Attr::argument(symbol::CLEAR);
    let mut incoming = Attr::argument(symbol::INCOMING);
    let mut inbox = Attr::argument(symbol::INBOX);

    let parser = syn::meta::parser(|meta| {
        let key = &meta.path;
        if *key == symbol::POSTBOX {
            let expr: Expr = meta.value()?.parse()?;
            postbox.set(cx, key, expr);
        } else if *key == symbol::TX {
            let expr: Expr = meta.value()?.parse()?;
            match parameter_name(&expr) {
                Some(ident) => tx.set(cx, key, ident),
                None => cx.error_spanned_by(
                    &expr,
                    "expected the name of the transaction parameter, like `tx = tx`",
                ),
            }
        } else if *key == symbol::INCOMING {
            let expr: Expr = meta.value()?.parse()?;
            match parameter_name(&expr) {
                Some(ident) => incoming.set(cx, key, (key.clone(), ident)),
                None => cx.error_spanned_by(
                    &expr,
                    "expected the name of the incoming message's parameter, like \
                     `incoming = message`",
                ),
            }
        } else if *key == symbol::INBOX {
            let expr: Expr = meta.value()?.parse()?;
            inbox.set(cx, key, (key.clone(), expr));
        } else if *key == symbol::RETRIES {
            let expr: Expr = meta.value()?.parse()?;
            match &expr {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(int), ..
                }) => match int.base10_parse::<u32>() {
                    Ok(value) => retries.set(cx, key, value),
                    Err(_) => cx.error_spanned_by(
                        int,
                        format!(
                            "`{}` retries is more than a handler can use",
                            int.base10_digits()
                        ),
                    ),
                },
                Expr::Unary(syn::ExprUnary {
                    op: syn::UnOp::Neg(_),
                    ..
                }) => cx.error_spanned_by(
                    &expr,
                    "retries cannot be negative; use `retries = 0` to disable them",
                ),
                _ => cx.error_spanned_by(
                    &expr,
                    "expected a whole number of retries, like `retries = 3` (0 disables them)",
                ),
            }
        } else if *key == symbol::CLEAR {
            let lit = string_value(&meta, symbol::CLEAR, "\"immediate\"")?;
            match lit.value().as_str() {
                "immediate" => clear.set(cx, key, Clear::Immediate),
                "sweeper" => clear.set(cx, key, Clear::Sweeper),
                other => cx.error_spanned_by(
                    &lit,
                    format!(
                        "unknown clear mode `{other}`; expected one of {}",
                        symbol::list(symbol::CLEAR_MODES)
                    ),
                ),
            }
        } else {
            cx.error_spanned_by(
                key,
                format!(
                    "unknown transactional_handler argument `{}`; expected one of {}",
                    key.to_token_stream().to_string().replace(' ', ""),
                    symbol::list(symbol::HANDLER_KEYS)
                ),
            );
            skip_value(&meta)?;
        }
        Ok(())
    });
    if let Err(err) = parser.parse2(args) {
        cx.syn_error(err);
    }

    HandlerArgs {
        postbox: postbox.get(),
        tx: tx.get(),
        retries: retries.get(),
        clear: clear.get(),
        incoming: incoming.get(),
        inbox: inbox.get(),
    }
}

/// The identifier of `tx = tx` or `incoming = message`, when the value is one.
fn parameter_name(expr: &Expr) -> Option<Ident> {
    match expr {
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident().cloned(),
        _ => None,
    }
}

/// The `#[outbox(...)]` attributes among `attrs`.
fn outbox_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| *attr.path() == symbol::OUTBOX)
}

/// `key = "..."`, or an error on the value saying what was expected.
fn string_value(meta: &ParseNestedMeta<'_>, key: Symbol, example: &str) -> syn::Result<LitStr> {
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected a string literal, like `{key} = {example}`"),
        )),
    }
}

/// A flag such as `partition_key` must stand alone; reports it otherwise.
fn takes_no_value(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &syn::Path) -> bool {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        return true;
    }
    let name = key.to_token_stream().to_string();
    cx.error_spanned_by(
        key,
        format!("`{name}` takes no value; write `#[outbox({name})]` on the field"),
    );
    false
}

/// Reports a key that belongs elsewhere, or that does not exist.
fn misplaced_or_unknown(cx: &Ctxt, meta: &ParseNestedMeta<'_>, place: Place) {
    let key = &meta.path;
    let name = key.to_token_stream().to_string().replace(' ', "");
    let message = if symbol::FIELD_KEYS.iter().any(|k| *key == *k) {
        format!(
            "`{name}` goes on a field, not on {}: mark the field that holds the value",
            place.noun()
        )
    } else if place == Place::Variant && (*key == symbol::BODY || *key == symbol::CONTENT_TYPE) {
        format!(
            "`{name}` goes on the enum, not on a variant: the body is the serde form of the \
             whole enum, encoded one way"
        )
    } else if let Place::Field { in_enum } = place
        && symbol::STRUCT_KEYS.iter().any(|k| *key == *k)
    {
        let owner = if in_enum && symbol::VARIANT_KEYS.iter().any(|k| *key == *k) {
            "the enum or a variant"
        } else if in_enum {
            "the enum"
        } else {
            "the struct"
        };
        format!("`{name}` goes on {owner}, not on a field")
    } else {
        format!(
            "unknown outbox attribute `{name}`; expected one of {}",
            symbol::list(place.keys())
        )
    };
    cx.error_spanned_by(key, message);
}

/// Consumes whatever follows an unusable key (`= value` or `(...)`), so parsing goes on.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use quote::quote;
    use syn::parse_quote;

    use super::*;

    fn errors(cx: Ctxt) -> Vec<String> {
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn container_keys() {
        let cx = Ctxt::new();
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[outbox(topic = "greeting.made", message_type = "command")]),
            parse_quote!(#[outbox(content_type = "application/cloudevents+json", body = "dynamo")]),
            parse_quote!(#[serde(rename_all = "camelCase")]),
        ];
        let container = container(&cx, &attrs, Place::Struct);
        assert!(errors(cx).is_empty());
        assert_eq!(container.topic.unwrap().value(), "greeting.made");
        assert_eq!(container.message_type.unwrap(), MessageKind::Command);
        assert_eq!(
            container.content_type.unwrap().value(),
            "application/cloudevents+json"
        );
        assert_eq!(container.body.unwrap(), BodyFormat::Dynamo);
    }

    #[test]
    fn every_mistake_is_reported_and_parsing_goes_on() {
        let cx = Ctxt::new();
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[outbox(topik = "a", topic = "b", partition_key)]),
            parse_quote!(#[outbox(topic = "c", message_type = "evnt", body = "xml")]),
        ];
        let container = container(&cx, &attrs, Place::Struct);
        assert_eq!(container.topic.unwrap().value(), "b");
        assert_eq!(
            errors(cx),
            [
                "unknown outbox attribute `topik`; expected one of `topic`, `message_type`, \
                 `content_type`, `body`",
                "`partition_key` goes on a field, not on the struct: mark the field that holds \
                 the value",
                "duplicate outbox attribute `topic`",
                "unknown message type `evnt`; expected one of `event`, `command`, `document`",
                "unknown body format `xml`; expected one of `json`, `dynamo`",
            ]
        );
    }

    #[test]
    fn values_must_be_string_literals() {
        let cx = Ctxt::new();
        let attrs: Vec<Attribute> = vec![parse_quote!(#[outbox(topic = greeting)])];
        container(&cx, &attrs, Place::Struct);
        assert_eq!(
            errors(cx),
            ["expected a string literal, like `topic = \"greeting.made\"`"]
        );
    }

    #[test]
    fn variant_and_field_placement() {
        let cx = Ctxt::new();
        let attrs: Vec<Attribute> = vec![parse_quote!(#[outbox(topic = "a", body = "json")])];
        let variant = container(&cx, &attrs, Place::Variant);
        assert!(variant.topic.is_some() && variant.body.is_none());
        assert_eq!(
            errors(cx),
            [
                "`body` goes on the enum, not on a variant: the body is the serde form of the \
                 whole enum, encoded one way"
            ]
        );

        let cx = Ctxt::new();
        let attrs: Vec<Attribute> = vec![parse_quote!(#[outbox(partition_key, topic = "x")])];
        let roles = field(&cx, &attrs, Place::Field { in_enum: true });
        assert!(roles.partition_key.is_some());
        assert_eq!(
            errors(cx),
            ["`topic` goes on the enum or a variant, not on a field"]
        );
    }

    #[test]
    fn field_flags_take_no_value_and_come_once() {
        let cx = Ctxt::new();
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[outbox(id = "x", partition_key)]),
            parse_quote!(#[outbox(partition_key, correlation_id)]),
        ];
        let roles = field(&cx, &attrs, Place::Field { in_enum: false });
        assert!(roles.id.is_none());
        assert!(roles.partition_key.is_some() && roles.correlation_id.is_some());
        assert_eq!(
            errors(cx),
            [
                "`id` takes no value; write `#[outbox(id)]` on the field",
                "duplicate outbox attribute `partition_key`",
            ]
        );
    }

    #[test]
    fn handler_arguments() {
        let cx = Ctxt::new();
        let args = handler_args(
            &cx,
            quote!(
                postbox = self.postbox,
                tx = tx,
                retries = 0,
                clear = "sweeper"
            ),
        );
        assert!(errors(cx).is_empty());
        assert!(args.postbox.is_some());
        assert_eq!(args.tx.unwrap(), "tx");
        assert_eq!(args.retries, Some(0));
        assert_eq!(args.clear.unwrap(), Clear::Sweeper);
    }

    #[test]
    fn handler_argument_mistakes() {
        let cx = Ctxt::new();
        handler_args(
            &cx,
            quote!(
                postbx = a,
                tx = self.tx,
                retries = -1,
                retries = "3",
                clear = "later"
            ),
        );
        assert_eq!(
            errors(cx),
            [
                "unknown transactional_handler argument `postbx`; expected one of `postbox`, \
                 `tx`, `retries`, `clear`, `incoming`, `inbox`",
                "expected the name of the transaction parameter, like `tx = tx`",
                "retries cannot be negative; use `retries = 0` to disable them",
                "expected a whole number of retries, like `retries = 3` (0 disables them)",
                "unknown clear mode `later`; expected one of `immediate`, `sweeper`",
            ]
        );
    }

    #[test]
    fn duplicate_handler_argument() {
        let cx = Ctxt::new();
        let args = handler_args(&cx, quote!(postbox = a, postbox = b));
        assert!(args.postbox.is_some());
        assert_eq!(
            errors(cx),
            ["duplicate transactional_handler argument `postbox`"]
        );
    }
}
