//! The conditions that make a write after a read safe: the version attribute the runtime keeps
//! on a table's items, checked against the version read and moved on by every write.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::Version;
use crate::table::schema::TableSchema;
use crate::transaction::expr::Expr;

/// The placeholders of the version condition and assignment; users' own placeholders would
/// have to start with `__outbox` to clash.
const NAME: &str = "#__outbox_version";
const KEY_NAME: &str = "#__outbox_key";
const READ: &str = ":__outbox_version_read";
const NEXT: &str = ":__outbox_version_next";
const ONE: &str = ":__outbox_version_one";
const ZERO: &str = ":__outbox_version_zero";

/// What a write to an item read in this unit of work carries.
#[derive(Clone, Debug)]
pub(crate) struct Guard {
    /// That the item is as read: absent, or present at the version read.
    pub(crate) condition: Expr,
    /// The version the write leaves: the one read plus one.
    pub(crate) next: u64,
}

/// The guard of a write to an item of `table` (which keeps its version in `attribute`) read at
/// `read`.
pub(crate) fn guard(table: &TableSchema, attribute: &str, read: Version) -> Guard {
    let condition = match read {
        Version::Absent => Expr::new(format!("attribute_not_exists({KEY_NAME})"))
            .name(KEY_NAME, &table.hash_key.name),
        Version::At(0) => Expr::new(format!(
            "attribute_exists({KEY_NAME}) AND (attribute_not_exists({NAME}) OR {NAME} = {READ})"
        ))
        .name(KEY_NAME, &table.hash_key.name)
        .name(NAME, attribute)
        .value(READ, number(0)),
        Version::At(version) => Expr::new(format!("{NAME} = {READ}"))
            .name(NAME, attribute)
            .value(READ, number(version)),
    };
    let next = match read {
        Version::Absent => 1,
        Version::At(version) => version + 1,
    };
    Guard { condition, next }
}

/// Both conditions: the user's own (if any) and the guard's.
pub(crate) fn both(user: Option<&Expr>, guard: &Expr) -> Expr {
    match user {
        None => guard.clone(),
        Some(user) => {
            let mut both = Expr::new(format!("({}) AND ({})", user.text, guard.text));
            both.names.extend(user.names.clone());
            both.names.extend(guard.names.clone());
            both.values.extend(user.values.clone());
            both.values.extend(guard.values.clone());
            both
        }
    }
}

/// `update` with the version set to `next` (a write after a read).
pub(crate) fn set_next(update: &Expr, attribute: &str, next: u64) -> Expr {
    let mut patched = with_assignment(update, &format!("{NAME} = {NEXT}"));
    patched.names.insert(NAME.to_owned(), attribute.to_owned());
    patched.values.insert(NEXT.to_owned(), number(next));
    patched
}

/// `update` with one added to the stored version (a write without a read, which must still
/// move the version on so that a reader elsewhere sees the item changed).
pub(crate) fn increment(update: &Expr, attribute: &str) -> Expr {
    let mut patched = with_assignment(
        update,
        &format!("{NAME} = if_not_exists({NAME}, {ZERO}) + {ONE}"),
    );
    patched.names.insert(NAME.to_owned(), attribute.to_owned());
    patched.values.insert(ZERO.to_owned(), number(0));
    patched.values.insert(ONE.to_owned(), number(1));
    patched
}

/// `update` with `assignment` added to its `SET` clause (an update expression has at most one
/// clause of each kind), or with a `SET` clause of its own when it has none.
fn with_assignment(update: &Expr, assignment: &str) -> Expr {
    let text = match set_keyword_end(&update.text) {
        Some(end) => format!(
            "{} {assignment},{}",
            &update.text[..end],
            &update.text[end..]
        ),
        None => format!("{} SET {assignment}", update.text.trim_end()),
    };
    Expr {
        text,
        ..update.clone()
    }
}

/// Where the `SET` keyword of an update expression ends: the word `SET` (any case) outside
/// parentheses. Names and values in expressions are placeholders (`#n`, `:v`) or plain
/// attribute names, so a word `SET` standing alone can only be the keyword.
fn set_keyword_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0_i32;
    let mut start = None;
    for (index, &byte) in bytes.iter().enumerate() {
        let word_char = byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'#' | b':' | b'.');
        match (start, word_char) {
            (None, true) => start = Some(index),
            (Some(from), false) => {
                if depth == 0 && text[from..index].eq_ignore_ascii_case("SET") {
                    return Some(index);
                }
                start = None;
            }
            _ => {}
        }
        match byte {
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ => {}
        }
    }
    match start {
        Some(from) if depth == 0 && text[from..].eq_ignore_ascii_case("SET") => Some(text.len()),
        _ => None,
    }
}

fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::schema::{KeyAttribute, KeyKind};

    fn people() -> TableSchema {
        TableSchema::new("People", KeyAttribute::new("Name", KeyKind::String)).with_version("V")
    }

    #[test]
    fn the_version_joins_an_existing_set_clause() {
        let update = Expr::new("SET #g = list_append(#g, :g) REMOVE #old").name("#g", "Greetings");
        let patched = set_next(&update, "V", 4);
        assert_eq!(
            patched.text,
            "SET #__outbox_version = :__outbox_version_next, #g = list_append(#g, :g) REMOVE #old"
        );
        assert_eq!(patched.names["#__outbox_version"], "V");
        assert_eq!(patched.values[":__outbox_version_next"], number(4));
        assert_eq!(patched.names["#g"], "Greetings");
    }

    #[test]
    fn an_update_without_set_gets_one() {
        let patched = increment(&Expr::new("REMOVE #old ADD #n :one"), "V");
        assert_eq!(
            patched.text,
            "REMOVE #old ADD #n :one SET #__outbox_version = \
             if_not_exists(#__outbox_version, :__outbox_version_zero) + :__outbox_version_one"
        );
    }

    #[test]
    fn set_is_found_in_any_case_but_not_inside_words_or_parentheses() {
        assert_eq!(set_keyword_end("set a = :a"), Some(3));
        assert_eq!(set_keyword_end("REMOVE settings SET a = :a"), Some(19));
        assert_eq!(set_keyword_end("ADD #SET :v"), None);
        assert_eq!(set_keyword_end("REMOVE SETTINGS"), None);
        assert_eq!(set_keyword_end("ADD a :v SET"), Some(12));
    }

    #[test]
    fn guards_name_the_version_read() {
        let absent = guard(&people(), "V", Version::Absent);
        assert_eq!(absent.condition.text, "attribute_not_exists(#__outbox_key)");
        assert_eq!(absent.next, 1);
        let zero = guard(&people(), "V", Version::At(0));
        assert!(
            zero.condition
                .text
                .contains("attribute_not_exists(#__outbox_version)")
        );
        assert_eq!(zero.next, 1);
        let three = guard(&people(), "V", Version::At(3));
        assert_eq!(
            three.condition.text,
            "#__outbox_version = :__outbox_version_read"
        );
        assert_eq!(three.condition.values[":__outbox_version_read"], number(3));
        assert_eq!(three.next, 4);
        let user = Expr::new("attribute_exists(#n)").name("#n", "Name");
        let combined = both(Some(&user), &three.condition);
        assert_eq!(
            combined.text,
            "(attribute_exists(#n)) AND (#__outbox_version = :__outbox_version_read)"
        );
        assert_eq!(combined.names.len(), 2);
    }
}
