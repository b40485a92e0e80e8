//! Code generation. Each macro's entry point parses, checks, and either expands or falls back;
//! the generated code is glue that calls `::outbox_runtime::__private`, nothing more.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    DeriveInput, FnArg, GenericArgument, Member, Pat, PatIdent, PathArguments, Type, parse_quote,
};

use crate::ast::{HandlerFn, Input};
use crate::attr::{self, BodyFormat, Clear};
use crate::ctxt::Ctxt;
use crate::fallback;
use crate::valid::{self, Handler, Kind, Message, Role};

/// The path every generated name goes through.
fn private() -> TokenStream {
    quote!(::outbox_runtime::__private)
}

/// `#[derive(OutboxMessage)]`.
pub(crate) fn derive_outbox_message(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(err) => return err.into_compile_error(),
    };
    let cx = Ctxt::new();
    let expanded = Input::from_syn(&cx, &input).and_then(|model| {
        let message = valid::message(&cx, &model)?;
        Some(expand_message(&message))
    });
    match (expanded, cx.check()) {
        (Some(expanded), Ok(())) => expanded,
        (_, result) => {
            let errors = result.err().map(syn::Error::into_compile_error);
            let stub = fallback::derive(&input);
            quote!(#errors #stub)
        }
    }
}

/// `#[transactional_handler(...)]`.
pub(crate) fn transactional_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: HandlerFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let first = item.clone().into_iter().next();
            let err = syn::Error::new(
                first.map_or_else(Span::call_site, |token| token.span()),
                "`#[transactional_handler]` goes on an `async fn` with a body",
            )
            .into_compile_error();
            return quote!(#err #item);
        }
    };
    let cx = Ctxt::new();
    let args = attr::handler_args(&cx, args);
    let checked = valid::handler(&cx, &func, &args);
    match (checked.handler, cx.check()) {
        (Some(handler), Ok(())) => expand_handler(&handler),
        (_, result) => {
            let errors = result.err().map(syn::Error::into_compile_error);
            let stub = fallback::handler(&func, checked.tx);
            quote!(#errors #stub)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// #[derive(OutboxMessage)]
// ---------------------------------------------------------------------------------------------

fn expand_message(message: &Message<'_>) -> TokenStream {
    let private = private();
    let original = message.input.original;
    let ident = &original.ident;
    let vis = &original.vis;
    let (impl_generics, ty_generics, where_clause) = original.generics.split_for_impl();
    let mut bounded = where_clause.cloned();
    if original.generics.type_params().next().is_some() {
        // A generic message is a message only where it can be encoded and decoded.
        bounded
            .get_or_insert_with(|| parse_quote!(where))
            .predicates
            .push(parse_quote!(
                Self: #private::serde::Serialize + #private::serde::de::DeserializeOwned
            ));
    }

    let mut topics: Vec<&syn::LitStr> = Vec::new();
    let mut accepted: Vec<(&syn::LitStr, attr::MessageKind)> = Vec::new();
    for kind in &message.kinds {
        if !topics.iter().any(|t| t.value() == kind.topic.value()) {
            topics.push(kind.topic);
        }
        if !accepted
            .iter()
            .any(|(t, m)| t.value() == kind.topic.value() && *m == kind.message_type)
        {
            accepted.push((kind.topic, kind.message_type));
        }
    }
    let accepted = accepted.iter().map(|(topic, kind)| {
        let variant = kind.variant();
        quote!((#topic, #private::MessageType::#variant))
    });

    let topic_body = per_variant(message, |kind| kind.topic.to_token_stream());
    let type_body = per_variant(message, |kind| {
        let variant = kind.message_type.variant();
        quote!(#private::MessageType::#variant)
    });

    let trait_path = quote!(<Self as #private::OutboxMessage>);
    let encode = match message.body {
        BodyFormat::Json => {
            let content_type = message.content_type.map_or_else(
                || quote!(#private::JSON_CONTENT_TYPE),
                ToTokens::to_token_stream,
            );
            quote_spanned! {ident.span()=>
                #private::encode_json(
                    self,
                    #trait_path::topic(self),
                    #trait_path::message_type(self),
                    #content_type,
                )
            }
        }
        BodyFormat::Dynamo => quote_spanned! {ident.span()=>
            #private::encode_dynamo(
                self,
                #trait_path::topic(self),
                #trait_path::message_type(self),
            )
        },
    };
    let headers = header_statements(message);
    let binding = if headers.is_empty() {
        quote!(__outbox_message)
    } else {
        quote!(mut __outbox_message)
    };
    let decode = quote_spanned! {ident.span()=>
        #private::decode::<Self>(__outbox_message, &[#(#accepted),*])
    };

    let topic_const = (topics.len() == 1).then(|| {
        let topic = topics[0];
        let doc = format!(
            " The topic every `{ident}` is sent on: `{}`.",
            topic.value()
        );
        quote! {
            #[automatically_derived]
            impl #impl_generics #ident #ty_generics #where_clause {
                #[doc = #doc]
                #vis const TOPIC: &'static str = #topic;
            }
        }
    });

    quote! {
        #[automatically_derived]
        impl #impl_generics #private::OutboxMessage for #ident #ty_generics #bounded {
            const TOPICS: &'static [&'static str] = &[#(#topics),*];

            fn topic(&self) -> &'static str {
                #topic_body
            }

            fn message_type(&self) -> #private::MessageType {
                #type_body
            }

            fn to_message(&self) -> #private::Result<#private::Message, #private::Error> {
                let #binding = #encode?;
                #headers
                #private::Ok(__outbox_message)
            }

            fn from_message(
                __outbox_message: &#private::Message,
            ) -> #private::Result<Self, #private::Error> {
                #decode
            }
        }
        #topic_const
    }
}

/// One value for the whole type when every variant agrees, a `match` otherwise.
fn per_variant(message: &Message<'_>, value: impl Fn(&Kind<'_>) -> TokenStream) -> TokenStream {
    let values: Vec<TokenStream> = message.kinds.iter().map(&value).collect();
    let first = values[0].to_string();
    if !message.is_enum || values.iter().all(|v| v.to_string() == first) {
        return values.into_iter().next().expect("at least one kind");
    }
    let arms = message.kinds.iter().zip(values).map(|(kind, value)| {
        let variant = kind.variant.expect("an enum's kinds are variants");
        quote!(Self::#variant { .. } => #value,)
    });
    quote!(match self { #(#arms)* })
}

/// The statements that copy header fields into `__outbox_message`.
fn header_statements(message: &Message<'_>) -> TokenStream {
    if !message.is_enum {
        let kind = &message.kinds[0];
        let statements = kind.headers.iter().flat_map(|header| {
            let member = &header.field.member;
            let value = quote_spanned!(header.field.ty.span()=> &self.#member);
            header
                .roles
                .iter()
                .map(move |role| set_header(*role, header.field.ty, &value))
                .collect::<Vec<_>>()
        });
        return quote!(#(#statements)*);
    }

    let mut arms = Vec::new();
    for kind in message.kinds.iter().filter(|kind| !kind.headers.is_empty()) {
        let variant = kind.variant.expect("an enum's kinds are variants");
        let mut bindings = Vec::new();
        let mut statements = Vec::new();
        for header in &kind.headers {
            let member = &header.field.member;
            let span = header.field.ty.span();
            let binding = match member {
                Member::Named(name) => format_ident!("__outbox_field_{}", name, span = span),
                Member::Unnamed(index) => {
                    format_ident!("__outbox_field_{}", index.index, span = span)
                }
            };
            bindings.push(quote!(#member: #binding));
            for role in &header.roles {
                statements.push(set_header(
                    *role,
                    header.field.ty,
                    &binding.to_token_stream(),
                ));
            }
        }
        arms.push(quote! {
            Self::#variant { #(#bindings,)* .. } => { #(#statements)* }
        });
    }
    if arms.is_empty() {
        return TokenStream::new();
    }
    let rest = (arms.len() < message.kinds.len()).then(|| quote!(_ => {}));
    quote! {
        match self {
            #(#arms)*
            #rest
        }
    }
}

/// `set_partition_key(&mut __outbox_message, header(&self.key));`, the header call spanned on
/// the field's type so that a type without `Display` is reported there.
fn set_header(role: Role, ty: &Type, value: &TokenStream) -> TokenStream {
    let span = ty.span();
    let private = quote_spanned!(span=> ::outbox_runtime::__private);
    let setter = match role {
        Role::PartitionKey => quote!(set_partition_key),
        Role::Id => quote!(set_id),
        Role::CorrelationId => quote!(set_correlation_id),
    };
    let read = if is_option(ty) {
        quote_spanned!(span=> #private::optional_header(#value))
    } else {
        quote_spanned!(span=> #private::header(#value))
    };
    let setter = quote!(::outbox_runtime::__private::#setter);
    quote!(#setter(&mut __outbox_message, #read);)
}

/// True for a type written `Option<T>` (also `std::option::Option<T>`): its header is set only
/// when the value is `Some`.
fn is_option(ty: &Type) -> bool {
    let Type::Path(path) = ty else {
        return false;
    };
    if path.qself.is_some() {
        return false;
    }
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    last.ident == "Option"
        && matches!(
            &last.arguments,
            PathArguments::AngleBracketed(args)
                if args.args.len() == 1 && matches!(args.args[0], GenericArgument::Type(_))
        )
}

// ---------------------------------------------------------------------------------------------
// #[transactional_handler]
// ---------------------------------------------------------------------------------------------

/// `<Output as __outbox::HandlerOutput>::method(args)`, its tokens spanned from the first to the
/// last token of the return type, so that rustc reports a missing `HandlerOutput` or
/// `HandlerError` on the whole return type the user wrote, and only once however many calls
/// there are.
fn output_call(output: &Type, method: &str, args: TokenStream) -> TokenStream {
    let (_, last) = first_and_last_span(output.to_token_stream());
    let path = output_path(output, method);
    let mut args = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, args);
    args.set_span(last);
    quote!(#path #args)
}

/// `<Output as __outbox::HandlerOutput>::method`, spanned as in [`output_call`].
fn output_path(output: &Type, method: &str) -> TokenStream {
    let (first, last) = first_and_last_span(output.to_token_stream());
    let method = proc_macro2::Ident::new(method, last);
    let open = quote_spanned!(first=> <);
    let close = quote_spanned!(last=> as __outbox::HandlerOutput>::#method);
    quote!(#open #output #close)
}

/// The spans of the first and the last token of `tokens`. Generated tokens spanned with the
/// first and closed with the last make rustc point at the whole of what the user wrote (a
/// proc macro cannot join spans on stable Rust).
fn first_and_last_span(tokens: TokenStream) -> (Span, Span) {
    let mut first = None;
    let mut last = None;
    for token in tokens {
        first.get_or_insert_with(|| token.span());
        last = Some(match &token {
            proc_macro2::TokenTree::Group(group) => group.span_close(),
            other => other.span(),
        });
    }
    let first = first.unwrap_or_else(Span::call_site);
    (first, last.unwrap_or(first))
}

/// A by-value parameter of a handler that may run more than once.
struct Reused {
    /// The pattern the body sees, bound afresh for every run.
    pat: Pat,
    /// What the signature binds and each run copies from.
    source: TokenStream,
    /// Where a "not `Clone`" error is reported: the parameter's type.
    span: Span,
}

fn expand_handler(handler: &Handler<'_>) -> TokenStream {
    let private = private();
    let func = handler.func;
    let attrs = &func.attrs;
    let vis = &func.vis;
    let inner_attrs = &func.inner_attrs;
    let body = &func.body;
    let output = handler.output;
    let output_span = output.span();

    // The signature callers see: without the transaction; by-value parameters that are copied
    // for each run are bound without `mut` (each run binds its own copy, `mut` if asked).
    let mut sig = func.sig.clone();
    let mut reused = Vec::new();
    let inputs = std::mem::take(&mut sig.inputs);
    for (index, mut input) in inputs.into_iter().enumerate() {
        if index == handler.tx.index {
            continue;
        }
        if handler.retries > 0
            && let FnArg::Typed(typed) = &mut input
            && !matches!(*typed.ty, Type::Reference(_))
            && !matches!(*typed.pat, Pat::Wild(_))
        {
            let span = typed.ty.span();
            match &mut *typed.pat {
                Pat::Ident(PatIdent {
                    by_ref: None,
                    subpat: None,
                    mutability,
                    ident,
                    ..
                }) => {
                    let pat = Pat::Ident(PatIdent {
                        attrs: Vec::new(),
                        by_ref: None,
                        mutability: mutability.take(),
                        ident: ident.clone(),
                        subpat: None,
                    });
                    reused.push(Reused {
                        pat,
                        source: ident.to_token_stream(),
                        span,
                    });
                }
                other => {
                    let source = format_ident!("__outbox_arg{}", index);
                    let pat = std::mem::replace(other, parse_quote!(#source));
                    reused.push(Reused {
                        pat,
                        source: source.to_token_stream(),
                        span,
                    });
                }
            }
        }
        sig.inputs.push(input);
    }

    let tx_pat = handler.tx.pat;
    let tx_elem = handler.tx.elem.expect("checked: `&mut T`");
    let tx_binding = quote_spanned! {tx_elem.span()=>
        let #tx_pat: &mut #tx_elem = &mut __outbox_tx;
    };
    let copies = reused.iter().map(|Reused { pat, source, span }| {
        quote_spanned!(*span=> let #pat = __outbox::reuse(&#source);)
    });

    // The "fake return edge" (as in tracing-attributes): it gives the body's async block the
    // handler's return type, so `?`, `return` and type errors are checked against what the
    // user wrote, and reported on their own tokens.
    let fake_return = quote_spanned! {output_span=>
        __outbox::fake_return_edge!(#output);
    };
    let run_body = quote! {
        async {
            #fake_return
            { #body }
        }
        .await
    };
    // The body's output goes through `<Output as HandlerOutput>`, spanned on the return type:
    // when it is not a `Result`, or its error cannot hold the runtime's, the error is reported
    // there, once.
    let into_result = output_call(output, "into_result", quote!(__outbox_output));
    let outbox_error = output_path(output, "outbox_error");
    let from_outcome = output_call(
        output,
        "from_outcome",
        quote!(__outbox_outcome, #outbox_error),
    );
    // `&(postbox)` spanned from the expression's first token to its last: a postbox of the
    // wrong type is reported on the whole expression.
    let (first, last) = first_and_last_span(handler.postbox.to_token_stream());
    let borrow = quote_spanned!(first=> &);
    let mut postbox = proc_macro2::Group::new(
        proc_macro2::Delimiter::Parenthesis,
        handler.postbox.to_token_stream(),
    );
    postbox.set_span(last);
    let clear = match handler.clear {
        Clear::Immediate => quote!(__outbox::ClearMode::Immediate),
        Clear::Sweeper => quote!(__outbox::ClearMode::Sweeper),
    };
    let retries = handler.retries;
    // Begin, commit, the retry decision and the send are the runner's: this is only the loop
    // that runs the body where its borrows live (see `HandlerRun` for why not a closure).
    // A consumer handler: the inbox and the incoming message, each checked against its type
    // on the tokens the user wrote.
    let (receiving, from_outcome) = match &handler.receiving {
        None => (quote!(), from_outcome),
        Some(receiving) => {
            let incoming = receiving.incoming;
            let incoming_ty = quote_spanned!(receiving.ty.span()=> &__outbox::Message);
            let (first, last) = first_and_last_span(receiving.inbox.to_token_stream());
            let borrow = quote_spanned!(first=> &);
            let mut inbox = proc_macro2::Group::new(
                proc_macro2::Delimiter::Parenthesis,
                receiving.inbox.to_token_stream(),
            );
            inbox.set_span(last);
            (
                quote! {
                    let __outbox_inbox: &__outbox::Inbox = #borrow #inbox;
                    let __outbox_incoming: #incoming_ty = #incoming;
                    let mut __outbox_run = __outbox_run.receiving(__outbox_inbox, __outbox_incoming);
                },
                // Named as a value, then called: a return type whose value is not `Default`
                // is then reported on the return type, as a missing `HandlerError` is.
                {
                    let path = output_path(output, "from_received_outcome");
                    quote!({
                        let __outbox_finish = #path;
                        __outbox_finish(__outbox_outcome, #outbox_error)
                    })
                },
            )
        }
    };
    let start = quote! {
        use #private as __outbox;
        let __outbox_postbox: &__outbox::Postbox = #borrow #postbox;
        let mut __outbox_run = __outbox::HandlerRun::new(__outbox_postbox, #retries, #clear);
        #receiving
    };
    let block = if handler.retries == 0 {
        quote! {
            #start
            let mut __outbox_tx = __outbox_run.begin();
            let __outbox_output = {
                #tx_binding
                #run_body
            };
            let __outbox_outcome = __outbox_run.finish_once(__outbox_tx, #into_result).await;
            #from_outcome
        }
    } else {
        quote! {
            #start
            loop {
                let mut __outbox_tx = __outbox_run.begin();
                let __outbox_output = {
                    #(#copies)*
                    #tx_binding
                    #run_body
                };
                if let __outbox::Some(__outbox_outcome) =
                    __outbox_run.finish(__outbox_tx, #into_result).await
                {
                    return #from_outcome;
                }
            }
        }
    };

    quote! {
        #(#attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #block
        }
    }
}
