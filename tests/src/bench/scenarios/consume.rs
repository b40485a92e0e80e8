//! Scenario 10, the consumer side: a consumer handler with its inbox record (side A) against
//! the same handler without one (side B) and against itself (the A/A row), and what one consumed
//! message costs in DynamoDB requests and capacity units: a first delivery with the inbox, the
//! same writes without it, and a duplicate delivery the inbox absorbs.
//!
//! The handlers are called directly with outbox messages: what a queue adds (receives, deletes)
//! is SQS's, depends on how many messages each receive returns, and is not counted here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use outbox_runtime::consumer::Inbox;
use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
use outbox_runtime::{
    Expr, Message, OutboxConfig, OutboxMessage, Postbox, Transaction, transactional_handler,
};
use serde::Serialize;

use super::compare::{ComparisonRow, Side, interleave};
use super::measure::{Progress, ratio, run_concurrently};
use crate::bench::{BoxError, Counts, GreetingMade, Link, Rig};
use crate::{create_table, unique_name};

/// What one consumed message costs in DynamoDB.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConsumedCostRow {
    /// `inbox, first delivery`, `no inbox` or `inbox, duplicate delivery`.
    pub delivery: &'static str,
    /// Messages handled.
    pub messages: usize,
    /// DynamoDB requests per message.
    pub requests_per_message: f64,
    /// Write capacity units per message (as DynamoDB reported them).
    pub write_capacity_per_message: f64,
    /// Read capacity units per message.
    pub read_capacity_per_message: f64,
    /// Answers without a capacity figure (a cancelled transaction reports none).
    pub unreported_requests: u64,
    /// Every request, by operation.
    pub counts: Counts,
}

/// Counts greetings per name: one `ADD` per message, with the inbox record or without.
struct Counter {
    postbox: Postbox,
    inbox: Inbox,
    counts: TableSchema,
}

impl Counter {
    fn count(
        tx: &mut Transaction,
        counts: &TableSchema,
        message: &Message,
    ) -> outbox_runtime::Result<()> {
        let made = GreetingMade::from_message(message)?;
        tx.update(
            counts,
            made.name.as_str(),
            Expr::new("ADD #count :one")
                .name("#count", "Count")
                .value(":one", AttributeValue::N("1".into())),
            None,
        )?;
        Ok(())
    }

    #[transactional_handler(postbox = self.postbox, tx = tx, incoming = message, inbox = self.inbox)]
    async fn with_inbox(
        &self,
        tx: &mut Transaction,
        message: &Message,
    ) -> outbox_runtime::Result<()> {
        Self::count(tx, &self.counts, message)
    }

    #[transactional_handler(postbox = self.postbox, tx = tx)]
    async fn without_inbox(
        &self,
        tx: &mut Transaction,
        message: &Message,
    ) -> outbox_runtime::Result<()> {
        Self::count(tx, &self.counts, message)
    }
}

fn message(tag: &str, n: usize) -> Message {
    GreetingMade {
        id: uuid::Uuid::now_v7(),
        name: format!("{tag}-{n}"),
        greeting: "Hello".into(),
    }
    .to_message()
    .expect("a greeting encodes")
}

async fn counter(link: &Link) -> Result<(Rig, Arc<Counter>), BoxError> {
    let rig = Rig::on(link, OutboxConfig::default()).await?;
    let counts = TableSchema::new(
        unique_name("bench-counts"),
        KeyAttribute::new("Name", KeyKind::String),
    );
    create_table(&link.direct, &counts).await;
    let inbox = Inbox::new("bench-counter").with_table_name(unique_name("bench-inbox"));
    inbox.ensure_table(&link.direct).await?;
    let counter = Arc::new(Counter {
        postbox: rig.handler.postbox.clone(),
        inbox,
        counts,
    });
    Ok((rig, counter))
}

async fn drop_tables(rig: Rig, counter: &Counter, link: &Link) {
    for table in [&counter.counts.name, &counter.inbox.table_name().to_owned()] {
        let _ = link
            .direct
            .client()
            .delete_table()
            .table_name(table)
            .send()
            .await;
    }
    rig.drop_tables(&link.direct).await;
}

/// What consuming `messages` messages costs, per message: first deliveries with the inbox,
/// the same writes without it, and every message delivered again (absorbed). The cost tests
/// assert these counts.
///
/// # Errors
/// A handler's error.
pub async fn consumed_costs(
    link: &Link,
    messages: usize,
) -> Result<Vec<ConsumedCostRow>, BoxError> {
    let (rig, counter) = counter(link).await?;
    let batch: Vec<Message> = (0..messages).map(|n| message("cost", n)).collect();
    let row = |delivery, counts: Counts| ConsumedCostRow {
        delivery,
        messages,
        requests_per_message: ratio(counts.requests() as f64, messages as f64),
        write_capacity_per_message: ratio(counts.write_capacity(), messages as f64),
        read_capacity_per_message: ratio(counts.read_capacity(), messages as f64),
        unreported_requests: counts.unreported(),
        counts,
    };
    let mut rows = Vec::new();
    let before = rig.meter.counts();
    for message in &batch {
        counter.with_inbox(message).await?;
    }
    rows.push(row(
        "inbox, first delivery",
        rig.meter.counts().since(&before),
    ));
    let before = rig.meter.counts();
    for n in 0..messages {
        counter.without_inbox(&message("plain", n)).await?;
    }
    rows.push(row("no inbox", rig.meter.counts().since(&before)));
    let before = rig.meter.counts();
    for message in &batch {
        counter.with_inbox(message).await?;
    }
    rows.push(row(
        "inbox, duplicate delivery",
        rig.meter.counts().since(&before),
    ));
    drop_tables(rig, &counter, link).await;
    Ok(rows)
}

/// Scenario 10: the consumer handler with its inbox record (A) against the same handler
/// without it (B), `calls_per_round` messages per side and round, at each concurrency.
///
/// # Errors
/// A handler's error.
pub async fn consume(
    link: &Link,
    concurrency: &[usize],
    rounds: usize,
    calls_per_round: usize,
    progress: Progress<'_>,
) -> Result<Vec<ComparisonRow>, BoxError> {
    let (rig, counter) = counter(link).await?;
    let mut rows = Vec::new();
    for &level in concurrency {
        for side in [Side::A, Side::B] {
            run_side(&counter, side, "warm".into(), level, (2 * level).max(10)).await?;
        }
        rows.push(
            interleave(
                &rig.meter,
                link.rtt_ms,
                level,
                ("with inbox", "without inbox"),
                rounds,
                calls_per_round,
                |side, tag, calls| run_side(&counter, side, tag, level, calls),
                "consumer inbox",
                progress,
            )
            .await?,
        );
    }
    drop_tables(rig, &counter, link).await;
    Ok(rows)
}

fn run_side(
    counter: &Arc<Counter>,
    side: Side,
    tag: String,
    concurrency: usize,
    calls: usize,
) -> impl std::future::Future<Output = Result<Duration, BoxError>> + use<> {
    let counter = Arc::clone(counter);
    let tag = format!("{}{tag}", side.letter());
    async move {
        let started = Instant::now();
        run_concurrently(calls, concurrency, move |n| {
            let counter = Arc::clone(&counter);
            let message = message(&tag, n);
            async move {
                match side {
                    Side::B => counter.without_inbox(&message).await,
                    Side::A | Side::AAgain => counter.with_inbox(&message).await,
                }
                .map_err(BoxError::from)
            }
        })
        .await?;
        Ok(started.elapsed())
    }
}
