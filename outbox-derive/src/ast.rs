//! The typed model of what the macros are applied to, keeping the original syntax for spans.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{
    Attribute, Data, DeriveInput, Fields, Ident, Member, Signature, Type, Visibility, braced,
};

use crate::attr::{self, Container, FieldRoles, Place};
use crate::ctxt::Ctxt;

/// A type deriving `OutboxMessage`.
pub(crate) struct Input<'a> {
    pub(crate) original: &'a DeriveInput,
    pub(crate) attrs: Container,
    pub(crate) data: Shape<'a>,
}

/// A struct's fields or an enum's variants.
pub(crate) enum Shape<'a> {
    Struct(Vec<Field<'a>>),
    Enum(Vec<Variant<'a>>),
}

pub(crate) struct Variant<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) attrs: Container,
    pub(crate) fields: Vec<Field<'a>>,
}

pub(crate) struct Field<'a> {
    /// `name`, or `0` in a tuple struct or variant.
    pub(crate) member: Member,
    pub(crate) ty: &'a Type,
    pub(crate) roles: FieldRoles,
}

impl<'a> Input<'a> {
    /// The model, with every attribute read. `None` for a union (reported).
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        // The container first, so that diagnostics come in source order.
        let attrs = match &input.data {
            Data::Struct(_) => attr::container(cx, &input.attrs, Place::Struct),
            Data::Enum(_) => attr::container(cx, &input.attrs, Place::Enum),
            Data::Union(_) => Container::default(),
        };
        let data = match &input.data {
            Data::Struct(data) => Shape::Struct(fields(cx, &data.fields, false)),
            Data::Enum(data) => Shape::Enum(
                data.variants
                    .iter()
                    .map(|variant| Variant {
                        ident: &variant.ident,
                        attrs: attr::container(cx, &variant.attrs, Place::Variant),
                        fields: fields(cx, &variant.fields, true),
                    })
                    .collect(),
            ),
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "`OutboxMessage` cannot be derived for a union; derive it on a struct or an \
                     enum",
                );
                return None;
            }
        };
        Some(Self {
            original: input,
            attrs,
            data,
        })
    }

    pub(crate) fn ident(&self) -> &'a Ident {
        &self.original.ident
    }
}

fn fields<'a>(cx: &Ctxt, fields: &'a Fields, in_enum: bool) -> Vec<Field<'a>> {
    fields
        .iter()
        .enumerate()
        .map(|(index, field)| Field {
            member: match &field.ident {
                Some(ident) => Member::Named(ident.clone()),
                None => Member::Unnamed(index.into()),
            },
            ty: &field.ty,
            roles: attr::field(cx, &field.attrs, Place::Field { in_enum }),
        })
        .collect()
}

/// A function under `#[transactional_handler]`: its body is kept as tokens, unparsed, so that
/// it reaches rustc exactly as written.
pub(crate) struct HandlerFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// `#![...]` at the top of the body.
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) body: TokenStream,
}

impl Parse for HandlerFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body = content.parse()?;
        Ok(Self {
            attrs,
            vis,
            sig,
            inner_attrs,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::*;

    #[test]
    fn struct_fields_keep_their_members_and_roles() {
        let input: DeriveInput = parse_quote! {
            #[outbox(topic = "t")]
            struct Tuple(#[outbox(partition_key)] String, u32);
        };
        let cx = Ctxt::new();
        let model = Input::from_syn(&cx, &input).unwrap();
        assert!(cx.is_ok());
        let Shape::Struct(fields) = &model.data else {
            panic!("a struct")
        };
        assert_eq!(fields[0].member, Member::Unnamed(0.into()));
        assert!(fields[0].roles.partition_key.is_some());
        assert!(fields[1].roles.partition_key.is_none());
    }

    #[test]
    fn a_union_is_refused() {
        let input: DeriveInput = parse_quote!(union U { a: u32 });
        let cx = Ctxt::new();
        assert!(Input::from_syn(&cx, &input).is_none());
        assert!(!cx.is_ok());
    }

    #[test]
    fn a_handler_body_stays_tokens() {
        let func: HandlerFn = parse_quote! {
            /// Docs.
            pub async fn handle(&self, tx: &mut Transaction) -> Result<(), E> {
                #![allow(unused)]
                tx.deposit(&Ping)?;
                Ok(())
            }
        };
        assert_eq!(func.attrs.len(), 1);
        assert_eq!(func.inner_attrs.len(), 1);
        assert_eq!(func.sig.ident, "handle");
        assert!(func.body.to_string().starts_with("tx . deposit"));
    }
}
