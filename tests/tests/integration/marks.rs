//! Marking dispatched under `Cleanup::Keep`: 25 conditional PartiQL updates per
//! `BatchExecuteStatement`, against DynamoDB Local. DynamoDB Local never refuses a single
//! statement of a batch, so the refusals (throttling, a permission missing, a validation error)
//! are injected (see `outbox_tests::inject`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use outbox_runtime::transport::InMemoryProducer;
use outbox_runtime::{Error, Message, MessageId, Outbox, OutboxConfig, Postbox};
use outbox_tests::inject::{TARGET, answer, divert_to_read_only};
use outbox_tests::{create_table, dynamodb, unique_name};

const BATCH_EXECUTE: &str = "DynamoDB_20120810.BatchExecuteStatement";

/// Counts requests by operation and answers the next `BatchExecuteStatement`s as planned.
#[derive(Clone, Debug, Default)]
struct Refusals(Arc<State>);

#[derive(Debug, Default)]
struct State {
    /// Per planned request: the code each statement gets (by index; the last one for the rest),
    /// or, as `request:<type>`, an error answer to the whole request (HTTP 400).
    planned: Mutex<Vec<Vec<&'static str>>>,
    /// The answer waiting for the diverted request: the code of each statement.
    diverted: Mutex<Option<Vec<&'static str>>>,
    /// Requests by operation (`UpdateItem`, `BatchExecuteStatement`, ...).
    requests: Mutex<BTreeMap<String, usize>>,
    /// The number of statements of each `BatchExecuteStatement` sent for real.
    executed_batches: Mutex<Vec<usize>>,
}

impl Refusals {
    fn plan(&self, codes: Vec<&'static str>) {
        self.0.planned.lock().unwrap().push(codes);
    }

    fn requests(&self, operation: &str) -> usize {
        self.0
            .requests
            .lock()
            .unwrap()
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    fn executed_batches(&self) -> Vec<usize> {
        self.0.executed_batches.lock().unwrap().clone()
    }
}

impl Intercept for Refusals {
    fn name(&self) -> &'static str {
        "InjectStatementRefusals"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request_mut();
        let target = request.headers().get(TARGET).unwrap_or_default().to_owned();
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        *self
            .0
            .requests
            .lock()
            .unwrap()
            .entry(operation)
            .or_default() += 1;
        if target != BATCH_EXECUTE {
            return Ok(());
        }
        let body: serde_json::Value =
            serde_json::from_slice(request.body().bytes().ok_or("a buffered request body")?)?;
        let statements = body["Statements"].as_array().ok_or("Statements")?.len();
        let planned = {
            let mut planned = self.0.planned.lock().unwrap();
            (!planned.is_empty()).then(|| planned.remove(0))
        };
        let Some(codes) = planned else {
            self.0.executed_batches.lock().unwrap().push(statements);
            return Ok(());
        };
        let codes: Vec<&'static str> = (0..statements)
            .map(|index| codes[index.min(codes.len() - 1)])
            .collect();
        divert_to_read_only(request);
        *self.0.diverted.lock().unwrap() = Some(codes);
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(codes) = self.0.diverted.lock().unwrap().take() else {
            return Ok(());
        };
        if let Some(error_type) = codes[0].strip_prefix("request:") {
            let body = serde_json::json!({
                "__type": format!("com.amazonaws.dynamodb.v20120810#{error_type}"),
                "message": format!("injected {error_type}"),
            });
            return answer(context.response_mut(), 400, &body);
        }
        let responses: Vec<serde_json::Value> = codes
            .iter()
            .map(|code| {
                serde_json::json!({
                    "Error": { "Code": code, "Message": format!("injected {code}") }
                })
            })
            .collect();
        answer(
            context.response_mut(),
            200,
            &serde_json::json!({ "Responses": responses }),
        )
    }
}

/// An outbox (default cleanup: keep) whose requests go through `refusals`, holding `count`
/// outstanding messages.
async fn outbox_with(refusals: &Refusals, count: usize) -> (Outbox, Vec<MessageId>) {
    let db = dynamodb().await;
    let config = OutboxConfig::new(unique_name("outbox"));
    create_table(&db, &config.table_schema()).await;
    let outbox = Outbox::new(db.with_interceptor(refusals.clone()), config).unwrap();
    let mut ids = Vec::new();
    for n in 0..count {
        let message = Message::new("t", format!("{{\"n\":{n}}}").into_bytes());
        outbox.store(&message).await.unwrap();
        ids.push(message.id().clone());
    }
    (outbox, ids)
}

async fn outstanding(outbox: &Outbox) -> usize {
    outbox
        .outstanding(Duration::ZERO, 1000, None)
        .await
        .unwrap()
        .messages
        .len()
}

#[tokio::test]
async fn marks_go_25_per_request_and_repeats_absent_and_marked_ids_are_no_error() {
    let refusals = Refusals::default();
    let (outbox, ids) = outbox_with(&refusals, 30).await;
    outbox.mark_dispatched(&ids[..5]).await.unwrap();
    let mut asked = ids.clone();
    asked.extend(ids[10..15].iter().cloned());
    asked.push(MessageId::from("never-deposited"));

    outbox.mark_dispatched(&asked).await.unwrap();

    assert_eq!(outstanding(&outbox).await, 0);
    for id in &ids {
        let stored = outbox.get(id).await.unwrap().unwrap();
        assert!(stored.dispatched_at.is_some() && stored.expires_at.is_some());
    }
    assert!(
        outbox
            .get(&MessageId::from("never-deposited"))
            .await
            .unwrap()
            .is_none(),
        "a mark never creates an item"
    );
    // 5, then 31 distinct ids: 25 + 6.
    let mut batches = refusals.executed_batches();
    batches.sort_unstable();
    assert_eq!(batches, vec![5, 6, 25]);
    assert_eq!(refusals.requests("UpdateItem"), 0);
}

#[tokio::test]
async fn statements_refused_for_throttling_are_sent_again_until_they_pass() {
    let refusals = Refusals::default();
    let (outbox, ids) = outbox_with(&refusals, 10).await;
    refusals.plan(vec!["ThrottlingError"]);
    refusals.plan(vec!["ProvisionedThroughputExceeded"]);

    outbox.mark_dispatched(&ids).await.unwrap();

    assert_eq!(refusals.requests("BatchExecuteStatement"), 3);
    assert_eq!(refusals.executed_batches(), vec![10]);
    assert_eq!(outstanding(&outbox).await, 0);
}

#[tokio::test]
async fn a_statement_refused_for_good_is_named_with_its_code_and_the_others_are_not() {
    let refusals = Refusals::default();
    let (outbox, ids) = outbox_with(&refusals, 3).await;
    // The first is refused; the other two answer "already marked".
    refusals.plan(vec!["ValidationError", "ConditionalCheckFailed"]);

    let err = outbox.mark_dispatched(&ids).await.unwrap_err();

    match &err {
        Error::ItemFailed {
            operation,
            message_id,
            code,
            ..
        } => {
            assert_eq!(*operation, "BatchExecuteStatement");
            assert_eq!(message_id, &ids[0]);
            assert_eq!(code, "ValidationError");
        }
        other => panic!("expected ItemFailed, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&ids[0].to_string()) && text.contains("ValidationError"),
        "{text}"
    );
    assert_eq!(refusals.requests("BatchExecuteStatement"), 1, "not retried");

    // Through a clear: only the refused one is reported sent but unmarked.
    let messages: Vec<Message> = (0..3)
        .map(|n| Message::new("t", format!("{{\"m\":{n}}}").into_bytes()))
        .collect();
    for message in &messages {
        outbox.store(message).await.unwrap();
    }
    refusals.plan(vec![
        "ConditionalCheckFailed",
        "ValidationError",
        "ConditionalCheckFailed",
    ]);
    // Inline marks: the report says what became of each mark.
    let postbox = Postbox::new(outbox.clone(), InMemoryProducer::new())
        .with_mark_mode(outbox_runtime::MarkMode::Inline);
    let report = postbox.clear(&messages).await;
    assert_eq!(report.sent_unmarked, vec![messages[1].id().clone()]);
    assert_eq!(report.sent.len(), 2);
}

#[tokio::test]
async fn retries_that_never_pass_end_in_an_error_keeping_the_real_code() {
    let refusals = Refusals::default();
    let (outbox, ids) = outbox_with(&refusals, 2).await;
    for _ in 0..20 {
        refusals.plan(vec!["InternalServerError"]);
    }

    let err = outbox.mark_dispatched(&ids).await.unwrap_err();

    let text = err.to_string();
    assert!(
        text.contains("InternalServerError") && text.contains("retries"),
        "{text}"
    );
    assert!(!text.contains("throttled"), "{text}");
    assert_eq!(outstanding(&outbox).await, 2, "both left for the sweeper");
}

#[tokio::test]
async fn without_the_partiql_permission_marks_fall_back_to_one_update_item_each() {
    let refusals = Refusals::default();
    let (outbox, ids) = outbox_with(&refusals, 4).await;
    refusals.plan(vec!["AccessDenied"]);

    outbox.mark_dispatched(&ids).await.unwrap();

    assert_eq!(refusals.requests("BatchExecuteStatement"), 1);
    assert_eq!(refusals.executed_batches(), Vec::<usize>::new());
    assert_eq!(refusals.requests("UpdateItem"), 4);
    assert_eq!(outstanding(&outbox).await, 0);
    for id in &ids {
        assert!(
            outbox
                .get(id)
                .await
                .unwrap()
                .unwrap()
                .dispatched_at
                .is_some()
        );
    }
}

#[tokio::test]
async fn a_whole_request_denied_falls_back_too_and_later_marks_skip_partiql() {
    let refusals = Refusals::default();
    let (outbox, ids) = outbox_with(&refusals, 3).await;
    refusals.plan(vec!["request:AccessDeniedException"]);

    outbox.mark_dispatched(&ids[..2]).await.unwrap();
    assert_eq!(refusals.requests("UpdateItem"), 2);
    // Denied once: the outbox (and its clones) no longer spend a request on PartiQL.
    outbox.clone().mark_dispatched(&ids[2..]).await.unwrap();

    assert_eq!(refusals.requests("BatchExecuteStatement"), 1);
    assert_eq!(refusals.requests("UpdateItem"), 3);
    assert_eq!(outstanding(&outbox).await, 0);
}

#[tokio::test]
async fn denied_statements_are_marked_even_when_a_later_retry_round_fails() {
    let refusals = Refusals::default();
    let (outbox, ids) = outbox_with(&refusals, 4).await;
    // Round one: the first statement denied, the rest throttled; round two fails outright.
    refusals.plan(vec!["AccessDenied", "ThrottlingError"]);
    refusals.plan(vec!["request:ValidationException"]);

    let err = outbox.mark_dispatched(&ids).await.unwrap_err();

    assert!(err.to_string().contains("BatchExecuteStatement"), "{err}");
    let first = outbox.get(&ids[0]).await.unwrap().unwrap();
    assert!(
        first.dispatched_at.is_some(),
        "the denied one fell back to UpdateItem"
    );
    assert_eq!(refusals.requests("UpdateItem"), 1);
    assert_eq!(
        outstanding(&outbox).await,
        3,
        "the others are left for the sweeper"
    );
}

#[tokio::test]
async fn the_background_marker_marks_a_lone_id_when_its_delay_runs_out() {
    let db = dynamodb().await;
    let config = OutboxConfig::new(unique_name("outbox"));
    create_table(&db, &config.table_schema()).await;
    let outbox = Outbox::new(db, config).unwrap();
    let postbox = Postbox::new(outbox.clone(), InMemoryProducer::new()).with_mark_mode(
        outbox_runtime::MarkMode::Background {
            max_delay: Duration::from_millis(50),
        },
    );
    let message = Message::new("t", b"{}".to_vec());
    outbox.store(&message).await.unwrap();
    let report = postbox.clear(std::slice::from_ref(&message)).await;
    assert_eq!(
        report.mark_pending,
        vec![message.id().clone()],
        "{report:?}"
    );

    // One id fills no batch of 25, nothing flushes, and the postbox lives on: only the
    // marker's timer can mark it. The wait is a bound on failure, not a measure of the delay.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while outbox
        .get(message.id())
        .await
        .unwrap()
        .is_some_and(|stored| stored.is_outstanding())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "a lone id was not marked within 10 s of the marker's 50 ms delay"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(postbox);
}
