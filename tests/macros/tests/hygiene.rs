//! Both macros used in a module that shadows the prelude names generated code could lean on,
//! under `#![deny(warnings)]`: the expansion must name everything through
//! `::outbox_runtime::__private` and trigger no lint of its own.

#![deny(warnings)]
#![deny(clippy::all)]

#[allow(dead_code, non_camel_case_types, clippy::upper_case_acronyms)]
mod shadowed {
    // Every one of these shadows a prelude name, in both the type and the value namespace.
    pub(crate) struct Result;
    pub(crate) struct Ok;
    pub(crate) struct Err;
    pub(crate) struct Option;
    pub(crate) struct Some;
    pub(crate) struct None;
    pub(crate) struct Vec;
    pub(crate) struct String;
    pub(crate) struct Box;
    pub(crate) struct From;
    pub(crate) struct Into;
    pub(crate) struct Clone;
    pub(crate) struct Default;
    pub(crate) struct Send;
    pub(crate) struct Sync;
    pub(crate) struct Sized;
    pub(crate) struct Future;
    pub(crate) struct ToString;
    // And the names a careless expansion might use for its own plumbing.
    pub(crate) struct serde;
    pub(crate) struct serde_json;
    pub(crate) struct serde_dynamo;
    pub(crate) struct core;
    pub(crate) struct std;
    pub(crate) struct outbox_runtime;

    use ::outbox_runtime::{OutboxMessage, Postbox, Transaction, transactional_handler};

    #[derive(::core::fmt::Debug, ::serde::Serialize, ::serde::Deserialize, OutboxMessage)]
    #[outbox(topic = "hygiene.struct")]
    pub(crate) struct Made {
        #[outbox(partition_key)]
        pub(crate) key: ::std::string::String,
        #[outbox(correlation_id)]
        pub(crate) correlation: ::core::option::Option<u64>,
        pub(crate) values: ::std::vec::Vec<u8>,
    }

    #[derive(::core::fmt::Debug, ::serde::Serialize, ::serde::Deserialize, OutboxMessage)]
    #[outbox(body = "dynamo", message_type = "command")]
    pub(crate) enum Command {
        #[outbox(topic = "hygiene.start")]
        Start {
            #[outbox(id)]
            id: ::std::string::String,
        },
        #[outbox(topic = "hygiene.stop", message_type = "event")]
        Stop(#[outbox(partition_key)] u32),
    }

    #[derive(::core::fmt::Debug, ::core::clone::Clone)]
    pub(crate) struct Cmd {
        pub(crate) key: ::std::string::String,
    }

    #[derive(::core::fmt::Debug)]
    pub(crate) struct AppError(pub ::outbox_runtime::Error);

    impl ::core::convert::From<::outbox_runtime::Error> for AppError {
        fn from(err: ::outbox_runtime::Error) -> Self {
            AppError(err)
        }
    }

    pub(crate) struct Handler {
        pub(crate) postbox: Postbox,
    }

    impl Handler {
        /// With retries: by-value arguments are copied for each run.
        #[transactional_handler(postbox = self.postbox, tx = tx)]
        pub(crate) async fn handle(
            &self,
            cmd: Cmd,
            tx: &mut Transaction,
            mut attempt: u32,
            (left, right): (u8, u8),
        ) -> ::core::result::Result<u32, AppError> {
            attempt += 1;
            tx.deposit(&Made {
                key: cmd.key,
                correlation: ::core::option::Option::Some(u64::from(attempt)),
                values: ::std::vec![left, right],
            })?;
            if attempt > 10 {
                return ::core::result::Result::Err(AppError(
                    ::outbox_runtime::Error::InvalidConfig("too many".into()),
                ));
            }
            ::core::result::Result::Ok(attempt)
        }

        /// Without retries, clearing left to the sweeper.
        #[transactional_handler(postbox = &self.postbox, tx = transaction, retries = 0, clear = "sweeper")]
        pub(crate) async fn stop(
            &self,
            transaction: &mut ::outbox_runtime::Transaction,
            which: u32,
        ) -> ::core::result::Result<(), AppError> {
            transaction.deposit(&Command::Stop(which))?;
            transaction.deposit(&Command::Start {
                id: ::std::format!("start-{which}"),
            })?;
            ::core::result::Result::Ok(())
        }
    }

    /// A free function reaching the postbox through a parameter.
    #[transactional_handler(postbox = postbox, tx = tx, retries = 1)]
    pub(crate) async fn free(
        postbox: &Postbox,
        tx: &mut Transaction,
        key: &str,
    ) -> ::core::result::Result<(), ::outbox_runtime::Error> {
        tx.deposit(&Made {
            key: key.into(),
            correlation: ::core::option::Option::None,
            values: ::std::vec::Vec::new(),
        })?;
        ::core::result::Result::Ok(())
    }
}

#[test]
fn the_expansions_compile_in_a_hostile_module() {
    use outbox_runtime::OutboxMessage;

    let made = shadowed::Made {
        key: "k".into(),
        correlation: Some(1),
        values: vec![1],
    };
    let message = made.to_message().unwrap();
    assert_eq!(message.topic(), shadowed::Made::TOPIC);
    assert_eq!(message.header.correlation_id.as_deref(), Some("1"));
    let stop = shadowed::Command::Stop(3).to_message().unwrap();
    assert_eq!(stop.topic(), "hygiene.stop");
    assert_eq!(stop.header.partition_key.as_deref(), Some("3"));

    // The handlers exist with the signatures callers see: no transaction parameter.
    fn callable<F>(_: F) {}
    callable(shadowed::Handler::handle);
    callable(shadowed::Handler::stop);
    callable(shadowed::free);
}

/// The handlers' futures can be spawned on a multi-threaded runtime.
#[test]
fn handler_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let handler = shadowed::Handler {
        postbox: unreachable_postbox(),
    };
    let future = handler.handle(shadowed::Cmd { key: "k".into() }, 0, (1, 2));
    assert_send(&future);
    drop(future);
    let postbox = unreachable_postbox();
    let future = shadowed::free(&postbox, "k");
    assert_send(&future);
}

/// A postbox over an endpoint nothing listens on: enough to build futures that never run.
fn unreachable_postbox() -> outbox_runtime::Postbox {
    let outbox = outbox_runtime::Outbox::new(
        outbox_runtime::DynamoDb::local("http://127.0.0.1:9"),
        outbox_runtime::OutboxConfig::new("Hygiene"),
    )
    .unwrap();
    outbox_runtime::Postbox::new(outbox, outbox_runtime::transport::InMemoryProducer::new())
}
