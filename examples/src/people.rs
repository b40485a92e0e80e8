//! The `People` table of the greetings example: one item per person, keyed by name.

use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};

/// The default name of the people table.
pub const PEOPLE_TABLE: &str = "People";

/// The attribute in which the runtime keeps each person's version.
pub const VERSION: &str = "Version";

/// The people table: hash key `Name` (S), versioned in `Version`, so that a handler that reads
/// a person and writes them back never loses another handler's update.
///
/// ```
/// let schema = outbox_examples::people::table_schema(outbox_examples::people::PEOPLE_TABLE);
/// assert_eq!(schema.hash_key.name, "Name");
/// assert_eq!(schema.version_attribute.as_deref(), Some("Version"));
/// ```
pub fn table_schema(name: &str) -> TableSchema {
    TableSchema::new(name, KeyAttribute::new("Name", KeyKind::String)).with_version(VERSION)
}
