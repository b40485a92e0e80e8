//! Transports: the [`Producer`] trait that sends a message, and its implementations.
//!
//! `InMemoryProducer` (feature `testing`) keeps what it is sent; `SqsProducer` (feature `sqs`,
//! on by default) and `SnsProducer` (feature `sns`) send to Amazon SQS queues and SNS topics,
//! routed by topic (one `RoutedProducer` over either `Service`). How a message looks on SQS and SNS (body, attributes, FIFO ids, batches), and
//! how a consumer reads it back, is the contract in [`wire`].

#[cfg(any(feature = "sqs", feature = "sns"))]
pub(crate) mod batch;
pub(crate) mod error;
#[cfg(feature = "testing")]
pub(crate) mod memory;
pub(crate) mod producer;
#[cfg(any(feature = "sqs", feature = "sns"))]
pub(crate) mod routed;
#[cfg(feature = "sns")]
pub mod sns;
#[cfg(feature = "sqs")]
pub mod sqs;
pub mod wire;

pub use error::{ProducerError, ProducerErrorKind};
#[cfg(feature = "testing")]
pub use memory::InMemoryProducer;
pub use producer::Producer;
#[cfg(any(feature = "sqs", feature = "sns"))]
pub use routed::{RoutedProducer, Service};
#[cfg(feature = "sns")]
pub use sns::SnsProducer;
#[cfg(feature = "sqs")]
pub use sqs::SqsProducer;
