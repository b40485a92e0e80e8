//! Every future the runtime hands out is `Send`, so a service can spawn it on a multi-threaded
//! runtime (`tokio::spawn(async move { handler.handle(event).await })`). Checked when this
//! binary compiles: a future that is not `Send` fails the build, naming the call below.

use outbox_runtime::consumer::{Inbox, SqsConsumer};
use outbox_runtime::lambda::aws_lambda_events::event::dynamodb::Event;
use outbox_runtime::lambda::aws_lambda_events::event::sqs::SqsEvent;
use outbox_runtime::lambda::{ScheduledSweep, SqsHandler, StreamHandler};
use outbox_runtime::stream::{DynamoDbStreams, StreamRelay};
use outbox_runtime::table::TableSchema;
use outbox_runtime::{
    ClearMode, DynamoDb, Error, Message, MessageId, Outbox, Postbox, Sweeper, Transaction,
    capture_reports,
};

fn spawnable<F: std::future::Future + Send>(_: F) {}

async fn handler(_: Message) -> Result<(), Error> {
    Ok(())
}

/// Never called: it only has to compile.
#[allow(dead_code, clippy::too_many_arguments)]
async fn every_public_future_is_send(
    db: DynamoDb,
    outbox: Outbox,
    postbox: Postbox,
    mut sweeper: Sweeper,
    mut relay: StreamRelay,
    consumer: SqsConsumer,
    inbox: Inbox,
    table: TableSchema,
    stream_handler: StreamHandler,
    sweep: ScheduledSweep,
    stream_event: Event,
    sqs_event: SqsEvent,
    message: Message,
    id: MessageId,
) {
    let sqs_handler = SqsHandler::new(handler);
    spawnable(sqs_handler.handle(sqs_event));
    spawnable(stream_handler.handle(stream_event));
    spawnable(sweep.sweep());
    spawnable(consumer.poll_once(&handler));
    spawnable(consumer.run(handler, std::future::pending()));
    spawnable(consumer.check());
    spawnable(sweeper.sweep_once());
    spawnable(relay.relay_once());
    spawnable(postbox.commit_and_send(postbox.begin(), ClearMode::Immediate));
    spawnable(postbox.clear(std::slice::from_ref(&message)));
    spawnable(postbox.store_and_send(&message));
    spawnable(postbox.clear_ids(std::slice::from_ref(&id)));
    spawnable(postbox.flush());
    spawnable(capture_reports(async {}));
    spawnable(Transaction::begin(&outbox).commit());
    let mut tx = Transaction::begin(&outbox);
    spawnable(tx.get::<serde_json::Value>(&table, "key"));
    spawnable(outbox.store(&message));
    spawnable(outbox.get(&id));
    spawnable(outbox.outstanding_count(10));
    spawnable(outbox.dead_letters(10, None));
    spawnable(outbox.replay(std::slice::from_ref(&id)));
    spawnable(outbox.ensure_table());
    spawnable(inbox.ensure_table(&db));
    spawnable(inbox.contains(&db, &id));
    spawnable(table.ensure(&db));
    spawnable(db.check_reachable());
    spawnable(DynamoDb::from_env());
    spawnable(DynamoDbStreams::from_env());
    spawnable(sweeper.run(std::future::pending()));
}

#[test]
fn the_check_above_compiled() {
    // The assertion is the build of `every_public_future_is_send`; this names it in the run.
    let check = every_public_future_is_send;
    let _ = check;
}
