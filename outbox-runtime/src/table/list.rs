//! Listings: outstanding messages by shard through the sparse index, dispatched messages and
//! dead letters by scan, continuation tokens that hold no server state, bounded counts.

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use futures_util::FutureExt as _;

use crate::error::{Error, Result};
use crate::message::{Item, MessageId};
use crate::table::attributes as attr;
use crate::table::handle::{TableHandle, key};
use crate::table::layout::{self, StoredMessage, number};
use crate::time::{now_millis, to_millis};

/// A position in a listing, to be passed back for the next page. It holds no server state: a
/// token from one `Outbox` (or process) works in any other over the same table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContinuationToken(String);

impl ContinuationToken {
    /// The token as text, to hand to a client or store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A token from its text form.
    pub fn parse(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

impl std::fmt::Display for ContinuationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of messages and where the next page starts (`None` after the last).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// The messages of this page, read consistently from the base table.
    pub messages: Vec<StoredMessage>,
    /// Pass back to get the next page.
    pub next: Option<ContinuationToken>,
    /// Items of this page that this library cannot read (missing or mistyped attributes),
    /// with the reason; they are left out of `messages` rather than failing the page.
    pub unreadable: Vec<(MessageId, String)>,
}

/// The filter of a listing that scans the table (dispatched messages, dead letters).
pub(crate) struct ScanFilter<'a> {
    /// The filter expression.
    pub(crate) expression: &'a str,
    /// Its name placeholders.
    pub(crate) names: &'a [(&'a str, &'a str)],
    /// Its value placeholders.
    pub(crate) values: Vec<(&'a str, AttributeValue)>,
    /// What the listing's continuation tokens start with.
    pub(crate) token_prefix: &'a str,
}

/// A count that stops at a cap, because DynamoDB bills a count as a read of every item counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BoundedCount {
    /// The count, at most the cap.
    pub count: usize,
    /// True when counting stopped at the cap: there are at least `count`, maybe more.
    pub capped: bool,
}

/// A range of the outstanding index by place in line (epoch milliseconds): what is due by a
/// time (messages sent at once, scheduled ones that fell due), or scheduled after it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum IndexRange {
    /// In line at or before this time.
    DueBy(u64),
    /// In line after this time: scheduled, not yet due.
    DueAfter(u64),
}

impl IndexRange {
    fn condition(self) -> (&'static str, u64) {
        match self {
            IndexRange::DueBy(ms) => ("#shard = :shard AND #since <= :at", ms),
            IndexRange::DueAfter(ms) => ("#shard = :shard AND #since > :at", ms),
        }
    }

    /// What the listing's continuation tokens start with.
    fn token_prefix(self) -> &'static str {
        match self {
            IndexRange::DueBy(_) => "o1",
            IndexRange::DueAfter(_) => "s1",
        }
    }
}

impl TableHandle {
    /// Outstanding messages created at least `min_age` ago (scheduled ones: due at least
    /// `min_age` ago), across every shard, shard by shard and oldest first within a shard, at
    /// most `limit` per page.
    pub(crate) async fn outstanding(
        &self,
        min_age: Duration,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        let cutoff = to_millis(
            now_millis()
                .checked_sub(min_age)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        );
        self.list_index(IndexRange::DueBy(cutoff), limit, token)
            .await
    }

    /// Scheduled messages not yet due, soonest due first within a shard.
    pub(crate) async fn scheduled(
        &self,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        self.list_index(IndexRange::DueAfter(to_millis(now_millis())), limit, token)
            .await
    }

    async fn list_index(
        &self,
        range: IndexRange,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        let prefix = range.token_prefix();
        let (mut shard, mut start) = match token {
            Some(token) => self.parse_index_token(prefix, token)?,
            None => (0, None),
        };
        let mut ids = Vec::new();
        let limit = limit.max(1);
        let next = loop {
            let (page_ids, last) = self
                .query_shard(shard, range, limit - ids.len(), start.take())
                .await?;
            ids.extend(page_ids);
            match last {
                Some(last) if ids.len() >= limit => {
                    break Some(self.index_token(prefix, shard, Some(&last))?);
                }
                Some(last) => start = Some(last),
                None if shard + 1 >= self.config.shard_count => break None,
                None => {
                    shard += 1;
                    if ids.len() >= limit {
                        break Some(self.index_token(prefix, shard, None)?);
                    }
                }
            }
        };
        let mut messages = Vec::new();
        let mut unreadable = Vec::new();
        for (id, read) in self.read_many(&ids).await? {
            match read {
                // The index lags the table: keep only what is still outstanding now.
                Ok(stored) if stored.is_outstanding() => messages.push(stored),
                Ok(_) => {}
                Err(err) => unreadable.push((id, err.to_string())),
            }
        }
        Ok(Page {
            messages,
            next,
            unreadable,
        })
    }

    /// Outstanding message ids of one shard in `range` (keys only), in line order, at most
    /// `limit`; and the index key to continue from.
    pub(crate) async fn query_shard(
        &self,
        shard: u16,
        range: IndexRange,
        limit: usize,
        start: Option<Item>,
    ) -> Result<(Vec<MessageId>, Option<Item>)> {
        let (condition, at) = range.condition();
        let output = self
            .db
            .client()
            .query()
            .table_name(self.table())
            .index_name(&self.config.index_name)
            .key_condition_expression(condition)
            .expression_attribute_names("#shard", attr::SHARD)
            .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
            .expression_attribute_values(":shard", number(shard))
            .expression_attribute_values(":at", number(at))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .set_return_consumed_capacity(self.db.consumed_capacity())
            .send()
            .boxed()
            .await
            .map_err(|err| self.sdk_error("Query", err))?;
        let ids = output
            .items()
            .iter()
            .filter_map(|item| match item.get(attr::MESSAGE_ID) {
                Some(AttributeValue::S(id)) => Some(MessageId::from(id.as_str())),
                _ => None,
            })
            .collect();
        Ok((ids, output.last_evaluated_key().cloned()))
    }

    /// `<prefix>:<shard>` or `<prefix>:<shard>:<order key>:<message id>`.
    fn index_token(
        &self,
        prefix: &str,
        shard: u16,
        last: Option<&Item>,
    ) -> Result<ContinuationToken> {
        let Some(last) = last else {
            return Ok(ContinuationToken(format!("{prefix}:{shard}")));
        };
        let since = match last.get(attr::OUTSTANDING_SINCE) {
            Some(AttributeValue::N(since)) => since.clone(),
            _ => {
                return Err(self.unexpected("Query", "its last key lacks the index's range key"));
            }
        };
        let id = match last.get(attr::MESSAGE_ID) {
            Some(AttributeValue::S(id)) => id.clone(),
            _ => {
                return Err(self.unexpected("Query", "its last key lacks the message id"));
            }
        };
        Ok(ContinuationToken(format!("{prefix}:{shard}:{since}:{id}")))
    }

    fn parse_index_token(
        &self,
        prefix: &str,
        token: &ContinuationToken,
    ) -> Result<(u16, Option<Item>)> {
        let invalid = |reason: &str| Error::InvalidContinuationToken {
            token: token.0.clone(),
            reason: reason.to_owned(),
        };
        let mut parts = token.0.splitn(4, ':');
        if parts.next() != Some(prefix) {
            return Err(invalid(match prefix {
                "o1" => "it is not a token of `outstanding`",
                _ => "it is not a token of `scheduled`",
            }));
        }
        let shard: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("the shard is missing"))?;
        if shard >= self.config.shard_count {
            return Err(invalid(&format!(
                "shard {shard} does not exist in an outbox of {} shards",
                self.config.shard_count
            )));
        }
        match (parts.next(), parts.next()) {
            (None, None) => Ok((shard, None)),
            (Some(since), Some(id))
                if !since.is_empty()
                    && since.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && !id.is_empty() =>
            {
                let start = Item::from([
                    (attr::SHARD.to_owned(), number(shard)),
                    (
                        attr::OUTSTANDING_SINCE.to_owned(),
                        AttributeValue::N(since.to_owned()),
                    ),
                    (
                        attr::MESSAGE_ID.to_owned(),
                        AttributeValue::S(id.to_owned()),
                    ),
                ]);
                Ok((shard, Some(start)))
            }
            _ => Err(invalid("the position is cut short")),
        }
    }

    /// Dispatched messages kept by [`Cleanup::Keep`] that were dispatched at least `min_age`
    /// ago. This scans the table (dispatched messages are deliberately not indexed, so the
    /// sweeper never pays for them): use it for audits and repair, not on a hot path.
    pub(crate) async fn dispatched(
        &self,
        min_age: Duration,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        let cutoff = to_millis(
            now_millis()
                .checked_sub(min_age)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        );
        let filter = ScanFilter {
            expression: "#dispatched <= :cutoff",
            names: &[("#dispatched", attr::DISPATCHED_AT)],
            values: vec![(":cutoff", number(cutoff))],
            token_prefix: "d1:",
        };
        self.scan_filtered(&filter, limit, token).await
    }

    /// A page of a filtered consistent scan, continuing from `token`. Items this library cannot
    /// read go to [`Page::unreadable`].
    pub(crate) async fn scan_filtered(
        &self,
        filter: &ScanFilter<'_>,
        limit: usize,
        token: Option<&ContinuationToken>,
    ) -> Result<Page> {
        let mut start = match token {
            None => None,
            Some(token) => Some(self.scan_start(token, filter.token_prefix)?),
        };
        let limit = limit.max(1);
        let mut page = Page::default();
        loop {
            let mut request = self
                .db
                .client()
                .scan()
                .table_name(self.table())
                .filter_expression(filter.expression)
                .consistent_read(true)
                .limit(i32::try_from(limit - page.messages.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .set_return_consumed_capacity(self.db.consumed_capacity());
            for (placeholder, name) in filter.names {
                request = request.expression_attribute_names(*placeholder, *name);
            }
            for (placeholder, value) in &filter.values {
                request = request.expression_attribute_values(*placeholder, value.clone());
            }
            let output = request
                .send()
                .boxed()
                .await
                .map_err(|err| self.sdk_error("Scan", err))?;
            for found in output.items() {
                match layout::from_item(self.table(), found) {
                    Ok(stored) => page.messages.push(stored),
                    Err(err) => {
                        let id = match found.get(attr::MESSAGE_ID) {
                            Some(AttributeValue::S(id)) => MessageId::from(id.as_str()),
                            _ => MessageId::from("?"),
                        };
                        page.unreadable.push((id, err.to_string()));
                    }
                }
            }
            match output.last_evaluated_key() {
                None => return Ok(page),
                Some(last) if page.messages.len() >= limit => {
                    page.next = Some(self.scan_token(filter.token_prefix, last)?);
                    return Ok(page);
                }
                Some(last) => start = Some(last.clone()),
            }
        }
    }

    /// The table key to continue a scan from, out of a token with `prefix`.
    pub(crate) fn scan_start(&self, token: &ContinuationToken, prefix: &str) -> Result<Item> {
        match token.0.strip_prefix(prefix) {
            Some(id) if !id.is_empty() => Ok(key(&MessageId::from(id))),
            _ => Err(Error::InvalidContinuationToken {
                token: token.0.clone(),
                reason: format!("it is not a token of this listing (those start with `{prefix}`)"),
            }),
        }
    }

    /// A page whose last key is not the table's or the index's.
    fn unexpected(&self, operation: &'static str, problem: &str) -> Error {
        Error::UnexpectedResponse {
            operation,
            table: self.table().to_owned(),
            problem: problem.to_owned(),
        }
    }

    /// A token continuing a scan after `last`.
    pub(crate) fn scan_token(&self, prefix: &str, last: &Item) -> Result<ContinuationToken> {
        match last.get(attr::MESSAGE_ID) {
            Some(AttributeValue::S(id)) => Ok(ContinuationToken(format!("{prefix}{id}"))),
            _ => Err(self.unexpected("Scan", "its last key lacks the message id")),
        }
    }

    /// Counts the outstanding index's entries in `range`, stopping at `cap`.
    pub(crate) async fn index_count(&self, range: IndexRange, cap: usize) -> Result<BoundedCount> {
        let (condition, at) = range.condition();
        let mut count = 0;
        for shard in 0..self.config.shard_count {
            let mut start = None;
            loop {
                if count >= cap {
                    // At the cap: there may be more, and finding out would cost more reads.
                    return Ok(BoundedCount {
                        count: cap,
                        capped: true,
                    });
                }
                let output = self
                    .db
                    .client()
                    .query()
                    .table_name(self.table())
                    .index_name(&self.config.index_name)
                    .key_condition_expression(condition)
                    .expression_attribute_names("#shard", attr::SHARD)
                    .expression_attribute_names("#since", attr::OUTSTANDING_SINCE)
                    .expression_attribute_values(":shard", number(shard))
                    .expression_attribute_values(":at", number(at))
                    .select(Select::Count)
                    .limit(i32::try_from(cap - count).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start.take())
                    .set_return_consumed_capacity(self.db.consumed_capacity())
                    .send()
                    .boxed()
                    .await
                    .map_err(|err| self.sdk_error("Query", err))?;
                count += usize::try_from(output.count()).unwrap_or(0);
                match output.last_evaluated_key() {
                    Some(last) => start = Some(last.clone()),
                    None => break,
                }
            }
        }
        Ok(BoundedCount {
            count,
            capped: false,
        })
    }
}
