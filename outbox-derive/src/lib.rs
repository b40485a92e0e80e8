//! Macros for outbox-runtime.
