//! The `People` table of the greetings example: one item per person, keyed by name.

use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};

/// The default name of the people table.
pub const PEOPLE_TABLE: &str = "People";

/// The people table: hash key `Name` (S).
///
/// ```
/// let schema = outbox_examples::people::table_schema(outbox_examples::people::PEOPLE_TABLE);
/// assert_eq!(schema.hash_key.name, "Name");
/// ```
pub fn table_schema(name: &str) -> TableSchema {
    TableSchema::new(name, KeyAttribute::new("Name", KeyKind::String))
}
