//! What is emitted next to the errors when the input is wrong: enough for the rest of the
//! crate to type-check, so that one mistake is reported once and not again at every use.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput};

use crate::ast::HandlerFn;
use crate::valid::TxParam;

/// An `OutboxMessage` impl that type-checks and never runs (the crate does not compile), and
/// the `TOPIC` constant a struct would have had.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let private = quote!(::outbox_runtime::__private);
    let ident = &input.ident;
    let vis = &input.vis;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let topic_const = matches!(input.data, Data::Struct(_)).then(|| {
        quote! {
            #[automatically_derived]
            #[allow(dead_code)]
            impl #impl_generics #ident #ty_generics #where_clause {
                #[doc(hidden)]
                #vis const TOPIC: &'static str = "";
            }
        }
    });
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::OutboxMessage for #ident #ty_generics #where_clause {
            const TOPICS: &'static [&'static str] = &[];
            fn topic(&self) -> &'static str {
                #private::unreachable!()
            }
            fn message_type(&self) -> #private::MessageType {
                #private::unreachable!()
            }
            fn to_message(&self) -> #private::Result<#private::Message, #private::Error> {
                #private::unreachable!()
            }
            fn from_message(
                _: &#private::Message,
            ) -> #private::Result<Self, #private::Error> {
                #private::unreachable!()
            }
        }
        #topic_const
    }
}

/// The handler as callers will see it (without the transaction parameter, async), its body
/// kept so that its own mistakes are reported too, with the transaction bound to a stand-in.
/// When `tx` names no parameter, the function is left as written.
pub(crate) fn handler(func: &HandlerFn, tx: Option<TxParam<'_>>) -> TokenStream {
    let HandlerFn {
        attrs,
        vis,
        sig,
        inner_attrs,
        body,
    } = func;
    let mut sig = sig.clone();
    if sig.asyncness.is_none() {
        sig.asyncness = Some(Default::default());
    }
    let tx_binding = tx.map(|tx| {
        sig.inputs = std::mem::take(&mut sig.inputs)
            .into_iter()
            .enumerate()
            .filter(|(index, _)| *index != tx.index)
            .map(|(_, input)| input)
            .collect();
        let pat = tx.pat;
        let ty = tx.ty;
        quote!(let #pat: #ty = ::outbox_runtime::__private::unusable();)
    });
    quote! {
        #(#attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #tx_binding
            #body
        }
    }
}
