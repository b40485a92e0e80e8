//! DynamoDB's transaction limits, checked as each action is added so that a transaction that
//! cannot succeed is refused before anything is sent, with a message naming the limit, the
//! figure and the item (DynamoDB's own answers are opaque or, on DynamoDB Local, misleading).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// The most actions one `TransactWriteItems` may hold.
pub const MAX_ACTIONS: usize = 100;
/// The largest item DynamoDB stores: 400 KB.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// The largest transaction request: 4 MB of items.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// A limit a transaction would break. Each names the limit, the figure and the action.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// More than [`MAX_ACTIONS`] actions.
    #[error(
        "a transaction holds at most {limit} actions; action {count} ({action}) was refused; \
         split the work into several transactions"
    )]
    TooManyActions {
        /// The limit.
        limit: usize,
        /// The count the refused action would have made.
        count: usize,
        /// The refused action, as `put to table T, key K`.
        action: String,
    },
    /// An item over [`MAX_ITEM_BYTES`].
    #[error(
        "{action} is {size} bytes, over DynamoDB's item limit of {limit} bytes; store large \
         payloads elsewhere (for example S3) and put a reference in the item"
    )]
    ItemTooLarge {
        /// The limit.
        limit: usize,
        /// The item's size.
        size: usize,
        /// The action, as `put to table T, key K`.
        action: String,
    },
    /// A message whose item, as it would be stored (compressed, where the outbox compresses),
    /// is over [`MAX_ITEM_BYTES`]. The advice says how to make it fit.
    #[error("{action} is {size} bytes, over DynamoDB's item limit of {limit} bytes; {advice}")]
    MessageTooLarge {
        /// The limit.
        limit: usize,
        /// The item's size as it would be stored.
        size: usize,
        /// The deposit, as `deposit to table T, key MessageId="m"`.
        action: String,
        /// What to do, which depends on the outbox's configuration.
        advice: String,
    },
    /// More than [`MAX_REQUEST_BYTES`] in the whole transaction.
    #[error(
        "{action} would bring the transaction to {size} bytes, over DynamoDB's request limit of \
         {limit} bytes; split the work into several transactions"
    )]
    RequestTooLarge {
        /// The limit.
        limit: usize,
        /// The size the transaction would reach.
        size: usize,
        /// The action that would break it.
        action: String,
    },
    /// Two actions on the same item, which DynamoDB refuses.
    #[error(
        "{action} touches the same item as action {first}; a transaction may act on an item \
         only once, so combine the two into one action"
    )]
    DuplicateItem {
        /// The number (from 1) of the earlier action on the item.
        first: usize,
        /// The second action.
        action: String,
    },
}

/// The size DynamoDB bills and limits an item by: attribute names plus values.
///
/// ```
/// use std::collections::HashMap;
/// use aws_sdk_dynamodb::types::AttributeValue;
///
/// let item = HashMap::from([("Name".to_owned(), AttributeValue::S("Tyrion".into()))]);
/// assert_eq!(outbox_runtime::limits::item_size(&item), 4 + 6);
/// ```
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// The size of one attribute value, following DynamoDB's published rules.
pub(crate) fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(number) => number_size(number),
        AttributeValue::B(bytes) => bytes.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(texts) => texts.iter().map(String::len).sum(),
        AttributeValue::Ns(numbers) => numbers.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(blobs) => blobs.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(values) => 3 + values.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(name, v)| 1 + name.len() + value_size(v))
                .sum::<usize>()
        }
        // A variant newer than this code: count it generously rather than not at all.
        _ => 1024,
    }
}

/// Numbers are stored as up to 38 significant digits, two to a byte, plus one byte. Counted in
/// one pass, without allocating: every put and every message of a transaction is measured.
fn number_size(number: &str) -> usize {
    let mantissa = number.split(['e', 'E']).next().unwrap_or_default();
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).enumerate();
    let mut nonzero: Option<(usize, usize)> = None;
    for (at, digit) in digits {
        if digit != b'0' {
            let first = nonzero.map_or(at, |(first, _)| first);
            nonzero = Some((first, at));
        }
    }
    let significant = nonzero.map_or(1, |(first, last)| last - first + 1);
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_count_significant_digits() {
        assert_eq!(number_size("0"), 2);
        assert_eq!(number_size("12345"), 4);
        assert_eq!(number_size("-1.50"), 2);
        assert_eq!(number_size("1000000"), 2);
        assert_eq!(number_size("0.000"), 2);
        assert_eq!(number_size("007.2500e-3"), 3);
        assert_eq!(number_size("1234567890123"), 8);
    }

    #[test]
    fn nested_values_count_their_overhead() {
        let list = AttributeValue::L(vec![AttributeValue::S("ab".into())]);
        assert_eq!(value_size(&list), 3 + 1 + 2);
    }
}
