//! Cross-checks that no single attribute can make, and the resolved model the expansion needs:
//! each struct or variant with its topic, its message type and its header fields.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{Expr, FnArg, Ident, LitStr, Member, Pat, PatType, ReturnType, Type};

use crate::ast::{Field, HandlerFn, Input, Shape};
use crate::attr::{BodyFormat, Clear, HandlerArgs, MessageKind};
use crate::ctxt::Ctxt;
use crate::symbol::{self, Symbol};

/// A message type, ready to expand.
pub(crate) struct Message<'a> {
    pub(crate) input: &'a Input<'a>,
    pub(crate) body: BodyFormat,
    pub(crate) content_type: Option<&'a LitStr>,
    /// One for a struct; one per variant for an enum.
    pub(crate) kinds: Vec<Kind<'a>>,
    pub(crate) is_enum: bool,
}

/// A struct, or one variant of an enum.
pub(crate) struct Kind<'a> {
    pub(crate) variant: Option<&'a Ident>,
    pub(crate) topic: &'a LitStr,
    pub(crate) message_type: MessageKind,
    /// The fields that fill header values, each with its roles.
    pub(crate) headers: Vec<Header<'a>>,
}

/// A field that fills one or more header values.
pub(crate) struct Header<'a> {
    pub(crate) field: &'a Field<'a>,
    pub(crate) roles: Vec<Role>,
}

/// What a field fills in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    PartitionKey,
    Id,
    CorrelationId,
}

impl Role {
    const ALL: [Role; 3] = [Role::PartitionKey, Role::Id, Role::CorrelationId];

    fn key(self) -> Symbol {
        match self {
            Role::PartitionKey => symbol::PARTITION_KEY,
            Role::Id => symbol::ID,
            Role::CorrelationId => symbol::CORRELATION_ID,
        }
    }

    fn one(self) -> &'static str {
        match self {
            Role::PartitionKey => "one partition key",
            Role::Id => "one id",
            Role::CorrelationId => "one correlation id",
        }
    }

    fn path<'f>(self, field: &'f Field<'_>) -> Option<&'f syn::Path> {
        match self {
            Role::PartitionKey => field.roles.partition_key.as_ref(),
            Role::Id => field.roles.id.as_ref(),
            Role::CorrelationId => field.roles.correlation_id.as_ref(),
        }
    }
}

/// Resolves and checks a derive input; `None` once anything is wrong (reported to `cx`).
pub(crate) fn message<'a>(cx: &Ctxt, input: &'a Input<'a>) -> Option<Message<'a>> {
    let container = &input.attrs;
    let body = container.body.unwrap_or_default();
    if let (BodyFormat::Dynamo, Some(content_type)) = (body, &container.content_type) {
        cx.error_spanned_by(
            content_type,
            "`content_type` cannot be set with `body = \"dynamo\"`: a map body's content type \
             is always `application/x-amz-dynamodb-item`",
        );
    }
    let default_type = container.message_type;

    let kinds = match &input.data {
        Shape::Struct(fields) => {
            let topic = container.topic.as_ref().or_else(|| {
                if container.had_errors {
                    return None;
                }
                cx.error_spanned_by(
                    input.ident(),
                    format!(
                        "missing `#[outbox(topic = \"...\")]` on `{}`: every message needs a \
                         topic to be routed by",
                        input.ident()
                    ),
                );
                None
            });
            let headers = headers(cx, fields);
            topic
                .map(|topic| Kind {
                    variant: None,
                    topic,
                    message_type: default_type.unwrap_or_default(),
                    headers,
                })
                .into_iter()
                .collect()
        }
        Shape::Enum(variants) => {
            if variants.is_empty() {
                cx.error_spanned_by(
                    input.ident(),
                    format!(
                        "`OutboxMessage` cannot be derived for `{}`, an enum with no variants: \
                         it has no value to send",
                        input.ident()
                    ),
                );
            }
            let mut kinds = Vec::new();
            for variant in variants {
                let topic = variant.attrs.topic.as_ref().or(container.topic.as_ref());
                if topic.is_none() && !variant.attrs.had_errors && !container.had_errors {
                    cx.error_spanned_by(
                        variant.ident,
                        format!(
                            "variant `{}` has no topic; add `#[outbox(topic = \"...\")]` to it, \
                             or one topic to the enum for every variant",
                            variant.ident
                        ),
                    );
                }
                let headers = headers(cx, &variant.fields);
                if let Some(topic) = topic {
                    kinds.push(Kind {
                        variant: Some(variant.ident),
                        topic,
                        message_type: variant
                            .attrs
                            .message_type
                            .or(default_type)
                            .unwrap_or_default(),
                        headers,
                    });
                }
            }
            kinds
        }
    };

    cx.is_ok().then_some(Message {
        input,
        body,
        content_type: container.content_type.as_ref(),
        kinds,
        is_enum: matches!(input.data, Shape::Enum(_)),
    })
}

/// The header fields of one struct or variant; each role on at most one field.
fn headers<'a>(cx: &Ctxt, fields: &'a [Field<'a>]) -> Vec<Header<'a>> {
    let mut taken: Vec<(Role, &Member)> = Vec::new();
    let mut headers = Vec::new();
    for field in fields {
        let mut roles = Vec::new();
        for role in Role::ALL {
            let Some(path) = role.path(field) else {
                continue;
            };
            if let Some((_, first)) = taken.iter().find(|(r, _)| *r == role) {
                cx.error_spanned_by(
                    path,
                    format!(
                        "`{}` is already on field `{}`; a message has {}",
                        role.key(),
                        member_name(first),
                        role.one()
                    ),
                );
            } else {
                taken.push((role, &field.member));
                roles.push(role);
            }
        }
        if !roles.is_empty() {
            headers.push(Header { field, roles });
        }
    }
    headers
}

fn member_name(member: &Member) -> String {
    match member {
        Member::Named(ident) => ident.to_string(),
        Member::Unnamed(index) => index.index.to_string(),
    }
}

/// A handler, ready to expand.
pub(crate) struct Handler<'a> {
    pub(crate) func: &'a HandlerFn,
    pub(crate) postbox: &'a Expr,
    pub(crate) tx: TxParam<'a>,
    pub(crate) retries: u32,
    pub(crate) clear: Clear,
    /// The declared return type.
    pub(crate) output: &'a Type,
    /// For a consumer handler: the incoming message's parameter and the inbox.
    pub(crate) receiving: Option<Receiving<'a>>,
}

/// What a consumer handler handles and where it records it.
pub(crate) struct Receiving<'a> {
    /// The `&Message` parameter.
    pub(crate) incoming: &'a Ident,
    /// Its declared type, where a wrong type is reported.
    pub(crate) ty: &'a Type,
    /// The `&Inbox` expression.
    pub(crate) inbox: &'a Expr,
}

/// The transaction parameter.
#[derive(Clone, Copy)]
pub(crate) struct TxParam<'a> {
    /// Its position in the signature's inputs.
    pub(crate) index: usize,
    pub(crate) pat: &'a Pat,
    /// The declared type, `&mut Transaction`.
    pub(crate) ty: &'a Type,
    /// `Transaction` in `&mut Transaction`, when the type has that shape.
    pub(crate) elem: Option<&'a Type>,
}

/// What checking a handler found: the transaction parameter when `tx` names one (also wanted
/// by the fallback), and the whole handler when nothing is wrong.
pub(crate) struct CheckedHandler<'a> {
    pub(crate) tx: Option<TxParam<'a>>,
    pub(crate) handler: Option<Handler<'a>>,
}

/// Checks a handler against its arguments.
pub(crate) fn handler<'a>(
    cx: &Ctxt,
    func: &'a HandlerFn,
    args: &'a HandlerArgs,
) -> CheckedHandler<'a> {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            sig.fn_token,
            "`#[transactional_handler]` needs an `async fn`: the commit is awaited; write \
             `async fn`",
        );
    }

    let output = match &sig.output {
        ReturnType::Type(_, ty) => {
            if let Some(impl_token) = find_ident(ty.to_token_stream(), "impl") {
                cx.error_at(
                    impl_token.span(),
                    "a `#[transactional_handler]` cannot return `impl Trait`: the generated code \
                     names the return type; write the type out, or box it",
                );
            }
            Some(&**ty)
        }
        ReturnType::Default => {
            cx.error_spanned_by(
                &sig.ident,
                format!(
                    "`{}` must return a `Result`: a transactional handler commits when the body \
                     returns `Ok` and discards the transaction on `Err`",
                    sig.ident
                ),
            );
            None
        }
    };

    let postbox = match &args.postbox {
        Some(postbox) => {
            if sig.receiver().is_none()
                && let Some(self_token) = find_ident(postbox.to_token_stream(), "self")
            {
                cx.error_at(
                    self_token.span(),
                    format!(
                        "`self` in `postbox = ...`, but `{}` is a free function, not a method; \
                         reach the postbox through a parameter or a static instead",
                        sig.ident
                    ),
                );
            }
            Some(postbox)
        }
        None => {
            cx.error_at(
                Span::call_site(),
                "missing `postbox = ...` in `#[transactional_handler(...)]`: say where the \
                 handler finds its `Postbox`, like `postbox = self.postbox`",
            );
            None
        }
    };

    let tx = match &args.tx {
        Some(name) => find_tx(cx, func, name),
        None => {
            cx.error_at(
                Span::call_site(),
                "missing `tx = ...` in `#[transactional_handler(...)]`: name the \
                 `&mut Transaction` parameter, like `tx = tx`",
            );
            None
        }
    };

    let receiving = receiving(cx, func, args);

    let handler = match (postbox, tx, output) {
        (Some(postbox), Some(tx), Some(output)) if cx.is_ok() => Some(Handler {
            func,
            postbox,
            tx,
            retries: args.retries.unwrap_or(symbol::DEFAULT_RETRIES),
            clear: args.clear.unwrap_or_default(),
            output,
            receiving,
        }),
        _ => None,
    };
    CheckedHandler { tx, handler }
}

/// Checks `incoming = ...` and `inbox = ...`, which go together.
fn receiving<'a>(cx: &Ctxt, func: &'a HandlerFn, args: &'a HandlerArgs) -> Option<Receiving<'a>> {
    let sig = &func.sig;
    match (&args.incoming, &args.inbox) {
        (None, None) => None,
        (Some((key, _)), None) => {
            cx.error_spanned_by(
                key,
                "`incoming = ...` needs `inbox = ...`: say where the handler records the \
                 messages it handled, like `inbox = self.inbox` (an `outbox_runtime::consumer::Inbox`)",
            );
            None
        }
        (None, Some((key, _))) => {
            cx.error_spanned_by(
                key,
                "`inbox = ...` needs `incoming = ...`: name the `&Message` parameter the handler \
                 handles, like `incoming = message`",
            );
            None
        }
        (Some((_, name)), Some((_, inbox))) => {
            if sig.receiver().is_none()
                && let Some(self_token) = find_ident(inbox.to_token_stream(), "self")
            {
                cx.error_at(
                    self_token.span(),
                    format!(
                        "`self` in `inbox = ...`, but `{}` is a free function, not a method; \
                         reach the inbox through a parameter or a static instead",
                        sig.ident
                    ),
                );
            }
            if args.tx.as_ref() == Some(name) {
                cx.error_spanned_by(
                    name,
                    "`incoming` and `tx` name the same parameter; `incoming` names the \
                     `&Message` the handler handles, `tx` the `&mut Transaction`",
                );
                return None;
            }
            let (_, typed) = find_param(
                cx,
                func,
                name,
                "`incoming = ...` names the `&Message` parameter",
            )?;
            match &*typed.ty {
                Type::Reference(reference) if reference.mutability.is_none() => Some(Receiving {
                    incoming: name,
                    ty: &typed.ty,
                    inbox,
                }),
                other => {
                    cx.error_spanned_by(
                        other,
                        format!(
                            "the incoming parameter `{name}` must be `&Message`: the handler \
                             records its id in the inbox and lends it to every run of the body; \
                             callers pass `&message`"
                        ),
                    );
                    None
                }
            }
        }
    }
}

fn find_tx<'a>(cx: &Ctxt, func: &'a HandlerFn, name: &Ident) -> Option<TxParam<'a>> {
    let (index, typed) = find_param(
        cx,
        func,
        name,
        "`tx = ...` names the `&mut Transaction` parameter",
    )?;
    let elem = match &*typed.ty {
        Type::Reference(reference) if reference.mutability.is_some() => Some(&*reference.elem),
        other => {
            cx.error_spanned_by(
                other,
                format!(
                    "the transaction parameter `{name}` must be `&mut Transaction`: \
                     the handler lends the body the transaction it commits"
                ),
            );
            None
        }
    };
    Some(TxParam {
        index,
        pat: &typed.pat,
        ty: &typed.ty,
        elem,
    })
}

/// The parameter called `name`, with its position; when there is none, an error on `name`
/// that lists the parameters there are, ending with `names_what` (what the attribute key is
/// for).
fn find_param<'a>(
    cx: &Ctxt,
    func: &'a HandlerFn,
    name: &Ident,
    names_what: &str,
) -> Option<(usize, &'a PatType)> {
    let sig = &func.sig;
    let mut others = Vec::new();
    for (index, input) in sig.inputs.iter().enumerate() {
        let FnArg::Typed(typed) = input else {
            continue;
        };
        match &*typed.pat {
            Pat::Ident(pat) if pat.ident == *name => return Some((index, typed)),
            Pat::Ident(pat) => others.push(format!("`{}`", pat.ident)),
            _ => {}
        }
    }
    let hint = if others.is_empty() {
        String::new()
    } else {
        format!(" (its parameters: {})", others.join(", "))
    };
    cx.error_spanned_by(
        name,
        format!(
            "`{}` has no parameter `{name}`; {names_what}{hint}",
            sig.ident
        ),
    );
    None
}

/// The first identifier `word` (`self`, `impl`) in `tokens`, at any depth.
fn find_ident(tokens: TokenStream, word: &str) -> Option<Ident> {
    tokens.into_iter().find_map(|tree| match tree {
        TokenTree::Ident(ident) if ident == word => Some(ident),
        TokenTree::Group(group) => find_ident(group.stream(), word),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use quote::quote;
    use syn::{DeriveInput, parse_quote};

    use super::*;
    use crate::attr;

    fn errors(cx: Ctxt) -> Vec<String> {
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn check_derive(input: DeriveInput) -> Vec<String> {
        let cx = Ctxt::new();
        if let Some(model) = Input::from_syn(&cx, &input) {
            let _ = message(&cx, &model);
        }
        errors(cx)
    }

    fn check_handler(args: TokenStream, func: HandlerFn) -> Vec<String> {
        let cx = Ctxt::new();
        let args = attr::handler_args(&cx, args);
        let _ = handler(&cx, &func, &args);
        errors(cx)
    }

    #[test]
    fn enum_variants_take_their_own_topic_or_the_enum_one() {
        let input: DeriveInput = parse_quote! {
            #[outbox(topic = "orders", message_type = "command")]
            enum Order {
                Placed { #[outbox(partition_key)] id: String },
                #[outbox(topic = "orders.cancelled", message_type = "event")]
                Cancelled(#[outbox(id, correlation_id)] String),
            }
        };
        let cx = Ctxt::new();
        let model = Input::from_syn(&cx, &input).unwrap();
        let message = message(&cx, &model).unwrap();
        assert_eq!(message.kinds.len(), 2);
        assert_eq!(message.kinds[0].topic.value(), "orders");
        assert_eq!(message.kinds[0].message_type, MessageKind::Command);
        assert_eq!(message.kinds[1].topic.value(), "orders.cancelled");
        assert_eq!(message.kinds[1].message_type, MessageKind::Event);
        assert_eq!(
            message.kinds[1].headers[0].roles,
            [Role::Id, Role::CorrelationId]
        );
    }

    #[test]
    fn derive_mistakes() {
        assert_eq!(
            check_derive(parse_quote!(
                struct NoTopic;
            )),
            [
                "missing `#[outbox(topic = \"...\")]` on `NoTopic`: every message needs a topic to \
              be routed by"
            ]
        );
        assert_eq!(
            check_derive(parse_quote! {
                #[outbox(topic = "t")]
                struct Two { #[outbox(partition_key)] a: String, #[outbox(partition_key)] b: String }
            }),
            ["`partition_key` is already on field `a`; a message has one partition key"]
        );
        assert_eq!(
            check_derive(parse_quote! {
                enum E { #[outbox(topic = "a")] A, B }
            }),
            [
                "variant `B` has no topic; add `#[outbox(topic = \"...\")]` to it, or one topic to \
              the enum for every variant"
            ]
        );
        assert_eq!(
            check_derive(parse_quote! {
                #[outbox(topic = "t", body = "dynamo", content_type = "text/plain")]
                struct S;
            }),
            [
                "`content_type` cannot be set with `body = \"dynamo\"`: a map body's content type \
              is always `application/x-amz-dynamodb-item`"
            ]
        );
        assert_eq!(
            check_derive(parse_quote! {
                #[outbox(topic = "t")]
                enum Never {}
            }),
            [
                "`OutboxMessage` cannot be derived for `Never`, an enum with no variants: it has \
              no value to send"
            ]
        );
    }

    #[test]
    fn a_handler_with_everything_right() {
        let cx = Ctxt::new();
        let args = attr::handler_args(&cx, quote!(postbox = self.postbox, tx = tx));
        let func: HandlerFn = parse_quote! {
            async fn handle(&self, cmd: Cmd, tx: &mut Transaction) -> Result<(), E> { Ok(()) }
        };
        let checked = handler(&cx, &func, &args);
        assert!(cx.is_ok());
        let handler = checked.handler.unwrap();
        assert_eq!(handler.tx.index, 2);
        assert_eq!(handler.retries, symbol::DEFAULT_RETRIES);
        assert_eq!(handler.clear, Clear::Immediate);
    }

    #[test]
    fn handler_mistakes() {
        assert_eq!(
            check_handler(
                quote!(postbox = self.postbox, tx = txn),
                parse_quote!(
                    fn handle(tx: Transaction, cmd: Cmd) {}
                ),
            ),
            [
                "`#[transactional_handler]` needs an `async fn`: the commit is awaited; write \
                 `async fn`",
                "`handle` must return a `Result`: a transactional handler commits when the body \
                 returns `Ok` and discards the transaction on `Err`",
                "`self` in `postbox = ...`, but `handle` is a free function, not a method; reach \
                 the postbox through a parameter or a static instead",
                "`handle` has no parameter `txn`; `tx = ...` names the `&mut Transaction` \
                 parameter (its parameters: `tx`, `cmd`)",
            ]
        );
        assert_eq!(
            check_handler(
                quote!(),
                parse_quote!(
                    async fn handle(tx: &Transaction) -> Result<(), E> {}
                ),
            ),
            [
                "missing `postbox = ...` in `#[transactional_handler(...)]`: say where the \
                 handler finds its `Postbox`, like `postbox = self.postbox`",
                "missing `tx = ...` in `#[transactional_handler(...)]`: name the \
                 `&mut Transaction` parameter, like `tx = tx`",
            ]
        );
        assert_eq!(
            check_handler(
                quote!(postbox = POSTBOX, tx = tx),
                parse_quote!(
                    async fn handle(tx: &Transaction) -> Result<(), E> {}
                ),
            ),
            [
                "the transaction parameter `tx` must be `&mut Transaction`: the handler lends the \
              body the transaction it commits"
            ]
        );
    }

    #[test]
    fn consumer_handler_mistakes() {
        assert_eq!(
            check_handler(
                quote!(postbox = self.postbox, tx = tx, incoming = message),
                parse_quote!(
                    async fn handle(
                        &self,
                        tx: &mut Transaction,
                        message: &Message,
                    ) -> Result<(), E> {
                    }
                ),
            ),
            [
                "`incoming = ...` needs `inbox = ...`: say where the handler records the messages \
                 it handled, like `inbox = self.inbox` (an `outbox_runtime::consumer::Inbox`)"
            ]
        );
        assert_eq!(
            check_handler(
                quote!(
                    postbox = POSTBOX,
                    tx = tx,
                    incoming = msg,
                    inbox = self.inbox
                ),
                parse_quote!(
                    async fn handle(tx: &mut Transaction, message: Message) -> Result<(), E> {}
                ),
            ),
            [
                "`self` in `inbox = ...`, but `handle` is a free function, not a method; reach \
                 the inbox through a parameter or a static instead",
                "`handle` has no parameter `msg`; `incoming = ...` names the `&Message` parameter \
                 (its parameters: `tx`, `message`)",
            ]
        );
        assert_eq!(
            check_handler(
                quote!(
                    postbox = POSTBOX,
                    tx = tx,
                    incoming = message,
                    inbox = INBOX
                ),
                parse_quote!(
                    async fn handle(tx: &mut Transaction, message: Message) -> Result<(), E> {}
                ),
            ),
            [
                "the incoming parameter `message` must be `&Message`: the handler records its id \
                 in the inbox and lends it to every run of the body; callers pass `&message`"
            ]
        );
    }
}
