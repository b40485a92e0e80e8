//! The greetings demo: a person and the message announcing the change commit together.

use std::process::ExitCode;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use outbox_examples::people::PEOPLE_TABLE;
use outbox_runtime::{DynamoDb, OutboxConfig, attributes as attr};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let db = DynamoDb::from_env().await;
    db.check_reachable().await?;
    let outbox = OutboxConfig::default();
    let message_id = format!("greeting-{}", std::process::id());

    let person = Put::builder()
        .table_name(PEOPLE_TABLE)
        .item("Name", AttributeValue::S("Tyrion".into()))
        .item(
            "Greetings",
            AttributeValue::L(vec![AttributeValue::S("Hello".into())]),
        )
        .build()?;
    let message = Put::builder()
        .table_name(&outbox.table_name)
        .item(attr::MESSAGE_ID, AttributeValue::S(message_id.clone()))
        .item(attr::TOPIC, AttributeValue::S("greeting.made".into()))
        .condition_expression("attribute_not_exists(#id)")
        .expression_attribute_names("#id", attr::MESSAGE_ID)
        .build()?;
    db.client()
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(person).build())
        .transact_items(TransactWriteItem::builder().put(message).build())
        .send()
        .await?;
    println!("committed person `Tyrion` and message {message_id} in one TransactWriteItems");

    let stored = db
        .client()
        .get_item()
        .table_name(&outbox.table_name)
        .key(attr::MESSAGE_ID, AttributeValue::S(message_id.clone()))
        .consistent_read(true)
        .send()
        .await?;
    match stored.item() {
        Some(_) => println!(
            "read back message {message_id} from `{}`",
            outbox.table_name
        ),
        None => return Err(format!("message {message_id} is missing after commit").into()),
    }
    Ok(())
}
