//! Condition and update expressions with their placeholders.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::limits;

/// An expression with its placeholders: a condition, or an update.
///
/// ```
/// use aws_sdk_dynamodb::types::AttributeValue;
/// use outbox_runtime::Expr;
///
/// let condition = Expr::new("#v = :v")
///     .name("#v", "Version")
///     .value(":v", AttributeValue::N("3".into()));
/// assert_eq!(condition.text(), "#v = :v");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expr {
    pub(crate) text: String,
    pub(crate) names: HashMap<String, String>,
    pub(crate) values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// An expression; name its placeholders with [`Expr::name`] and [`Expr::value`].
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// Binds a name placeholder (`#name`) to an attribute name.
    pub fn name(mut self, placeholder: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.names.insert(placeholder.into(), attribute.into());
        self
    }

    /// Binds a value placeholder (`:value`) to a value.
    pub fn value(mut self, placeholder: impl Into<String>, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }

    /// The expression text.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn size(&self) -> usize {
        self.text.len()
            + self
                .names
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + self
                .values
                .iter()
                .map(|(k, v)| k.len() + limits::value_size(v))
                .sum::<usize>()
    }
}

/// Merges the placeholders of several expressions into the maps a request takes; `None` when
/// there are none (DynamoDB refuses empty maps).
#[allow(clippy::type_complexity)]
pub(crate) fn placeholders(
    exprs: &[&Expr],
) -> (
    Option<HashMap<String, String>>,
    Option<HashMap<String, AttributeValue>>,
) {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    for expr in exprs {
        names.extend(expr.names.clone());
        values.extend(expr.values.clone());
    }
    (
        (!names.is_empty()).then_some(names),
        (!values.is_empty()).then_some(values),
    )
}
