//! Expansion snapshots: what each macro generates, pretty-printed, reviewed like code.
//!
//! Regenerate with `INSTA_UPDATE=always cargo test -p outbox-derive`, then review the diff.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand;

fn pretty(tokens: TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens).expect("the expansion parses as items");
    prettyplease::unparse(&file)
}

fn derive(input: TokenStream) -> String {
    pretty(expand::derive_outbox_message(input))
}

fn handler(args: TokenStream, item: TokenStream) -> String {
    pretty(expand::transactional_handler(args, item))
}

#[test]
fn derive_struct_json() {
    insta::assert_snapshot!(derive(quote! {
        #[outbox(topic = "greeting.made")]
        pub struct GreetingMade {
            #[outbox(partition_key)]
            pub name: String,
            #[outbox(correlation_id)]
            pub request: Option<String>,
            pub greeting: String,
        }
    }));
}

#[test]
fn derive_struct_dynamo_command_with_id() {
    insta::assert_snapshot!(derive(quote! {
        #[outbox(topic = "invoice.send", message_type = "command", body = "dynamo")]
        pub(crate) struct SendInvoice(#[outbox(id)] uuid::Uuid, u64);
    }));
}

#[test]
fn derive_generic_struct() {
    insta::assert_snapshot!(derive(quote! {
        #[outbox(topic = "wrapped", content_type = "application/cloudevents+json")]
        struct Envelope<T> where T: Clone {
            data: T,
        }
    }));
}

#[test]
fn derive_enum_with_topics_per_variant() {
    insta::assert_snapshot!(derive(quote! {
        #[outbox(message_type = "command")]
        enum Account {
            #[outbox(topic = "account.open")]
            Open { #[outbox(partition_key)] owner: String },
            #[outbox(topic = "account.close", message_type = "event")]
            Close(#[outbox(partition_key, id)] String),
            #[outbox(topic = "account.close")]
            Purge,
        }
    }));
}

#[test]
fn derive_enum_with_one_topic() {
    insta::assert_snapshot!(derive(quote! {
        #[outbox(topic = "people")]
        pub enum Person {
            Added { name: String },
            Removed { name: String },
        }
    }));
}

#[test]
fn derive_errors_come_with_a_stub() {
    insta::assert_snapshot!(derive(quote! {
        #[outbox(topik = "a")]
        struct Oops {
            #[outbox(partition_key)] a: String,
            #[outbox(partition_key)] b: String,
        }
    }));
}

#[test]
fn handler_method_with_retries() {
    insta::assert_snapshot!(handler(
        quote!(postbox = self.postbox, tx = tx),
        quote! {
            /// Adds a greeting.
            pub async fn handle(
                &self,
                tx: &mut Transaction,
                cmd: AddGreeting,
                mut count: u32,
                (a, b): (String, String),
                name: &str,
            ) -> Result<(), AppError> {
                tx.deposit(&GreetingMade { name: cmd.name, greeting: cmd.greeting })?;
                Ok(())
            }
        }
    ));
}

#[test]
fn handler_without_retries_clearing_by_sweeper() {
    insta::assert_snapshot!(handler(
        quote!(
            postbox = POSTBOX.get().unwrap(),
            tx = txn,
            retries = 0,
            clear = "sweeper"
        ),
        quote! {
            async fn handle(cmd: AddGreeting, txn: &mut outbox_runtime::Transaction) -> anyhow::Result<u32> {
                #![allow(clippy::all)]
                txn.deposit(&cmd)?;
                Ok(1)
            }
        }
    ));
}

#[test]
fn handler_errors_keep_the_body_and_drop_the_transaction_parameter() {
    insta::assert_snapshot!(handler(
        quote!(postbox = self.postbox, tx = tx, retries = "3"),
        quote! {
            fn handle(tx: &mut Transaction, cmd: AddGreeting) -> Result<(), AppError> {
                tx.deposit(&cmd)?;
                Ok(())
            }
        }
    ));
}
