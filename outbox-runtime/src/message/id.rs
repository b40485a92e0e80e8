//! The message id: the outbox table's key, and what consumers deduplicate by. A leaf: it
//! imports nothing of the crate.

use std::fmt;

/// A message id: any non-empty string; new ids are UUID v7 (time-ordered).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// A fresh UUID v7.
    ///
    /// ```
    /// let a = outbox_runtime::MessageId::new();
    /// let b = outbox_runtime::MessageId::new();
    /// assert_ne!(a, b);
    /// assert_eq!(a.as_str().len(), 36);
    /// ```
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for MessageId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for MessageId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl From<uuid::Uuid> for MessageId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id.to_string())
    }
}
