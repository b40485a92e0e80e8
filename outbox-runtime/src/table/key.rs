//! Keys of entity tables, typed by the table's key schema: `people.key("Tyrion")`, or a pair
//! `(hash, range)` for a table with a range key. A value of the wrong kind is an error naming
//! the attribute and the kind the table expects.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::{Error, Result};
use crate::message::Item;
use crate::table::schema::{KeyAttribute, KeyKind, TableSchema};

/// One value of a key attribute: a string, a number or bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyValue {
    /// `S`
    String(String),
    /// `N`, as DynamoDB carries numbers: in decimal text.
    Number(String),
    /// `B`
    Binary(Vec<u8>),
}

impl KeyValue {
    fn kind(&self) -> KeyKind {
        match self {
            KeyValue::String(_) => KeyKind::String,
            KeyValue::Number(_) => KeyKind::Number,
            KeyValue::Binary(_) => KeyKind::Binary,
        }
    }

    fn into_attribute(self) -> AttributeValue {
        match self {
            KeyValue::String(text) => AttributeValue::S(text),
            KeyValue::Number(number) => AttributeValue::N(number),
            KeyValue::Binary(bytes) => AttributeValue::B(Blob::new(bytes)),
        }
    }
}

impl From<&str> for KeyValue {
    fn from(text: &str) -> Self {
        KeyValue::String(text.to_owned())
    }
}

impl From<String> for KeyValue {
    fn from(text: String) -> Self {
        KeyValue::String(text)
    }
}

impl From<&String> for KeyValue {
    fn from(text: &String) -> Self {
        KeyValue::String(text.clone())
    }
}

impl From<Vec<u8>> for KeyValue {
    fn from(bytes: Vec<u8>) -> Self {
        KeyValue::Binary(bytes)
    }
}

impl From<&[u8]> for KeyValue {
    fn from(bytes: &[u8]) -> Self {
        KeyValue::Binary(bytes.to_vec())
    }
}

macro_rules! number_key_values {
    ($($number:ty),*) => {$(
        impl From<$number> for KeyValue {
            fn from(number: $number) -> Self {
                KeyValue::Number(number.to_string())
            }
        }

        impl IntoKey for $number {
            fn into_key(self, table: &TableSchema) -> Result<Key> {
                Key::from_values(table, self.into(), None)
            }
        }
    )*};
}

number_key_values!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

/// The key of one item of one table: every key attribute with its value, checked against the
/// table's key schema. Made by [`TableSchema::key`].
///
/// ```
/// use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
///
/// let people = TableSchema::new("People", KeyAttribute::new("Name", KeyKind::String));
/// let key = people.key("Tyrion")?;
/// assert_eq!(key.as_item()["Name"].as_s().unwrap(), "Tyrion");
///
/// let err = people.key(7).unwrap_err();
/// assert!(err.to_string().contains("`Name` is a string"), "{err}");
/// # Ok::<(), outbox_runtime::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    table: String,
    item: Item,
}

impl Key {
    /// The key as the item of key attributes DynamoDB takes.
    pub fn as_item(&self) -> &Item {
        &self.item
    }

    /// The key as the item of key attributes DynamoDB takes.
    pub fn into_item(self) -> Item {
        self.item
    }

    /// The table the key belongs to.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn from_values(table: &TableSchema, hash: KeyValue, range: Option<KeyValue>) -> Result<Self> {
        let mut item = Item::new();
        item.insert(
            table.hash_key.name.clone(),
            checked(table, &table.hash_key, hash)?,
        );
        match (&table.range_key, range) {
            (Some(attribute), Some(value)) => {
                item.insert(attribute.name.clone(), checked(table, attribute, value)?);
            }
            (Some(attribute), None) => {
                return Err(Error::InvalidKey {
                    table: table.name.clone(),
                    problem: format!(
                        "the table's key has a range attribute `{}` too; pass a pair (hash, range)",
                        attribute.name
                    ),
                });
            }
            (None, Some(_)) => {
                return Err(Error::InvalidKey {
                    table: table.name.clone(),
                    problem: format!(
                        "the table's key is the hash attribute `{}` alone; pass one value, not \
                         a pair",
                        table.hash_key.name
                    ),
                });
            }
            (None, None) => {}
        }
        Ok(Self {
            table: table.name.clone(),
            item,
        })
    }

    /// The key attributes of `item` (an entity's whole item, or a key), checked.
    pub(crate) fn of_item(table: &TableSchema, item: &Item) -> Result<Self> {
        let mut key = Item::new();
        for attribute in std::iter::once(&table.hash_key).chain(table.range_key.as_ref()) {
            let value = item.get(&attribute.name).ok_or_else(|| Error::InvalidKey {
                table: table.name.clone(),
                problem: format!(
                    "the item has no key attribute `{}`; every item needs the table's key \
                     (check the field's name and serde renames)",
                    attribute.name
                ),
            })?;
            let found = match value {
                AttributeValue::S(_) => Some(KeyKind::String),
                AttributeValue::N(_) => Some(KeyKind::Number),
                AttributeValue::B(_) => Some(KeyKind::Binary),
                _ => None,
            };
            if found != Some(attribute.kind) {
                return Err(wrong_kind(table, attribute, found));
            }
            key.insert(attribute.name.clone(), value.clone());
        }
        Ok(Self {
            table: table.name.clone(),
            item: key,
        })
    }
}

impl From<Key> for Item {
    fn from(key: Key) -> Self {
        key.item
    }
}

fn checked(
    table: &TableSchema,
    attribute: &KeyAttribute,
    value: KeyValue,
) -> Result<AttributeValue> {
    if value.kind() != attribute.kind {
        return Err(wrong_kind(table, attribute, Some(value.kind())));
    }
    Ok(value.into_attribute())
}

fn wrong_kind(table: &TableSchema, attribute: &KeyAttribute, found: Option<KeyKind>) -> Error {
    let name = |kind: KeyKind| match kind {
        KeyKind::String => "a string",
        KeyKind::Number => "a number",
        KeyKind::Binary => "binary",
    };
    Error::InvalidKey {
        table: table.name.clone(),
        problem: format!(
            "key attribute `{}` is {} in the table's schema, but {} was given",
            attribute.name,
            name(attribute.kind),
            found.map_or("a value of another type", name)
        ),
    }
}

/// What names an item of a table: a [`Key`], one value for a table keyed by a hash attribute
/// alone, a pair `(hash, range)`, or an item holding the key attributes.
pub trait IntoKey {
    /// The key of `table` this names.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] naming the attribute and the kind the table expects.
    fn into_key(self, table: &TableSchema) -> Result<Key>;
}

impl IntoKey for Key {
    fn into_key(self, table: &TableSchema) -> Result<Key> {
        (&self).into_key(table)
    }
}

impl IntoKey for &Key {
    fn into_key(self, table: &TableSchema) -> Result<Key> {
        if self.table != table.name {
            return Err(Error::InvalidKey {
                table: table.name.clone(),
                problem: format!("the key was made for table `{}`", self.table),
            });
        }
        Key::of_item(table, &self.item)
    }
}

impl IntoKey for Item {
    fn into_key(self, table: &TableSchema) -> Result<Key> {
        Key::of_item(table, &self)
    }
}

impl IntoKey for &str {
    fn into_key(self, table: &TableSchema) -> Result<Key> {
        Key::from_values(table, self.into(), None)
    }
}

impl IntoKey for String {
    fn into_key(self, table: &TableSchema) -> Result<Key> {
        Key::from_values(table, self.into(), None)
    }
}

impl IntoKey for &String {
    fn into_key(self, table: &TableSchema) -> Result<Key> {
        Key::from_values(table, self.into(), None)
    }
}

impl IntoKey for Vec<u8> {
    fn into_key(self, table: &TableSchema) -> Result<Key> {
        Key::from_values(table, self.into(), None)
    }
}

impl<H: Into<KeyValue>, R: Into<KeyValue>> IntoKey for (H, R) {
    fn into_key(self, table: &TableSchema) -> Result<Key> {
        Key::from_values(table, self.0.into(), Some(self.1.into()))
    }
}

impl TableSchema {
    /// The key of one item: a value for a table keyed by a hash attribute alone, a pair
    /// `(hash, range)` for a table with a range key.
    ///
    /// ```
    /// use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
    ///
    /// let orders = TableSchema::new("Orders", KeyAttribute::new("Customer", KeyKind::String))
    ///     .with_range_key(KeyAttribute::new("Number", KeyKind::Number));
    /// let key = orders.key(("c-7", 42))?;
    /// assert_eq!(key.as_item()["Number"].as_n().unwrap(), "42");
    /// assert!(orders.key("c-7").is_err(), "the range attribute is missing");
    /// # Ok::<(), outbox_runtime::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidKey`] naming the attribute and the kind the table expects.
    pub fn key(&self, key: impl IntoKey) -> Result<Key> {
        key.into_key(self)
    }
}
