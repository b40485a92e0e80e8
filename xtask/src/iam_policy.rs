//! `cargo xtask iam-policy`: the least-privilege IAM policy for an outbox configuration, exact
//! actions on the exact table, index, queue and topic ARNs.
//!
//! The actions come from the SDK calls the runtime makes (`grep -rn "client()" outbox-runtime/src`
//! and the producers' `send_message*` / `publish*`), part by part:
//!
//! | part | call (runtime file) | IAM action, resource |
//! | --- | --- | --- |
//! | handler commit | `TransactWriteItems` of the deposits (`transaction.rs`) | `PutItem`, outbox table |
//! | | the handler's own entity writes | `PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem`, each `--entity-table` |
//! | immediate clear | mark dispatched, `Cleanup::Keep`: PartiQL `UPDATE`s in `BatchExecuteStatement` (`outbox.rs`) | `PartiQLUpdate`, outbox table |
//! | | mark dispatched, `Cleanup::Delete` (`outbox.rs`) | `BatchWriteItem`, outbox table |
//! | | record a failed send (`attempts.rs`) | `UpdateItem`, outbox table |
//! | | send (`producer/sqs.rs`, `producer/sns.rs`) | `sqs:SendMessage` (also authorizes `SendMessageBatch`), `sns:Publish` (also `PublishBatch`) |
//! | sweeper | outstanding ids and backlog count (`outbox.rs`) | `Query`, the outstanding index |
//! | | consistent re-read (`outbox.rs`) and lease reads (`lease.rs`) | `BatchGetItem`, outbox table |
//! | | record failures, renew leases and membership (`attempts.rs`, `lease.rs`) | `UpdateItem`, outbox table |
//! | | mark with `Cleanup::Keep` | `PartiQLUpdate`, outbox table |
//! | | take a lease, create the membership item (`lease.rs`) | `PutItem`, outbox table |
//! | | mark with `Cleanup::Delete` | `BatchWriteItem`, outbox table |
//! | | send | as the immediate clear |
//! | operations | `Outbox::add`, `get`, `get_many`, `outstanding`, `outstanding_count`, `dispatched`, `dead_letters`, `replay`, `delete`, `mark_dispatched` | `PutItem`, `GetItem`, `BatchGetItem`, `Scan`, `UpdateItem`, `BatchWriteItem`, `PartiQLUpdate` on the table; `Query` on the index |
//! | provisioning | `TableSchema::ensure` (`schema.rs`) | `CreateTable`, `DescribeTable`, `UpdateTimeToLive`, `DescribeTimeToLive`, outbox table |
//! | | `DynamoDb::check_reachable` (`connection.rs`) | `ListTables`, `*` (it has no resource-level permission) |

use std::collections::BTreeMap;
use std::process::ExitCode;

use outbox_runtime::{Cleanup, OutboxConfig};

use crate::Result;

const USAGE: &str = "\
usage: cargo xtask iam-policy [options]

  --account ID           AWS account id (default: 123456789012, a placeholder)
  --region REGION        region (default: AWS_REGION, else us-east-1)
  --partition NAME       ARN partition (default: aws)
  --table NAME           outbox table (default: OutboxConfig::default(), `Outbox`)
  --index NAME           outstanding index (default: `Outstanding`)
  --cleanup keep|delete  what happens to dispatched messages (default: keep)
  --queue-arn ARN        an SQS queue the producer sends to (repeatable)
  --topic-arn ARN        an SNS topic the producer publishes to (repeatable)
  --entity-table NAME    a table the handlers write entities to (repeatable)
  --parts LIST           comma-separated parts among handler, clear, sweeper, operations,
                         provisioning, or `all` (default: handler,clear,sweeper)";

/// The parts of the library that need permissions.
const PARTS: [&str; 5] = ["handler", "clear", "sweeper", "operations", "provisioning"];

/// What the policy is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PolicyConfig {
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) partition: String,
    pub(crate) table: String,
    pub(crate) index: String,
    pub(crate) cleanup_delete: bool,
    pub(crate) queues: Vec<String>,
    pub(crate) topics: Vec<String>,
    pub(crate) entity_tables: Vec<String>,
    pub(crate) parts: Vec<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let outbox = OutboxConfig::default();
        Self {
            account: "123456789012".to_owned(),
            region: std::env::var("AWS_REGION")
                .ok()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "us-east-1".to_owned()),
            partition: "aws".to_owned(),
            table: outbox.table_name,
            index: outbox.index_name,
            cleanup_delete: matches!(outbox.cleanup, Cleanup::Delete),
            queues: Vec::new(),
            topics: Vec::new(),
            entity_tables: Vec::new(),
            parts: ["handler", "clear", "sweeper"].map(str::to_owned).to_vec(),
        }
    }
}

/// Parses the options, prints the policy.
pub(crate) fn run(args: &[&str]) -> Result<ExitCode> {
    if matches!(args, ["help" | "--help" | "-h"]) {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let config = parse(args)?;
    if !args.contains(&"--account") {
        eprintln!("note: no --account given; the ARNs use the placeholder account 123456789012");
    }
    println!("{}", policy(&config));
    Ok(ExitCode::SUCCESS)
}

fn parse(args: &[&str]) -> Result<PolicyConfig> {
    let mut config = PolicyConfig::default();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .map(|v| (*v).to_owned())
                .ok_or_else(|| format!("`{flag}` needs a value\n\n{USAGE}"))
        };
        match *flag {
            "--account" => config.account = value()?,
            "--region" => config.region = value()?,
            "--partition" => config.partition = value()?,
            "--table" => config.table = value()?,
            "--index" => config.index = value()?,
            "--cleanup" => {
                config.cleanup_delete = match value()?.as_str() {
                    "keep" => false,
                    "delete" => true,
                    other => {
                        return Err(
                            format!("`--cleanup {other}`: expected `keep` or `delete`").into()
                        );
                    }
                }
            }
            "--queue-arn" => config.queues.push(value()?),
            "--topic-arn" => config.topics.push(value()?),
            "--entity-table" => config.entity_tables.push(value()?),
            "--parts" => {
                let list = value()?;
                config.parts = if list == "all" {
                    PARTS.map(str::to_owned).to_vec()
                } else {
                    list.split(',').map(|p| p.trim().to_owned()).collect()
                };
                if let Some(unknown) = config.parts.iter().find(|p| !PARTS.contains(&p.as_str())) {
                    return Err(format!(
                        "unknown part `{unknown}`; expected some of {} or `all`",
                        PARTS.join(", ")
                    )
                    .into());
                }
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}").into()),
        }
    }
    // Validate the names the same way the runtime does.
    OutboxConfig::new(&config.table)
        .with_index_name(&config.index)
        .validate()?;
    if !config.account.chars().all(|c| c.is_ascii_digit()) || config.account.len() != 12 {
        return Err(format!("`--account {}`: an account id is 12 digits", config.account).into());
    }
    for (flag, arns, service) in [
        ("--queue-arn", &config.queues, ":sqs:"),
        ("--topic-arn", &config.topics, ":sns:"),
    ] {
        if let Some(bad) = arns
            .iter()
            .find(|arn| !arn.starts_with("arn:") || !arn.contains(service))
        {
            return Err(format!(
                "`{flag} {bad}` is not an ARN of that service (arn:aws{service}REGION:ACCOUNT:NAME); \
                 give the ARN, not a queue URL"
            )
            .into());
        }
    }
    Ok(config)
}

/// The policy document, as pretty JSON.
pub(crate) fn policy(config: &PolicyConfig) -> String {
    let table_arn = |table: &str| {
        format!(
            "arn:{}:dynamodb:{}:{}:table/{table}",
            config.partition, config.region, config.account
        )
    };
    let table = table_arn(&config.table);
    let index = format!("{table}/index/{}", config.index);
    // The mark itself, and `UpdateItem` to record a failed send.
    let mark = if config.cleanup_delete {
        vec!["dynamodb:BatchWriteItem", "dynamodb:UpdateItem"]
    } else {
        vec!["dynamodb:PartiQLUpdate", "dynamodb:UpdateItem"]
    };
    let has = |part: &str| config.parts.iter().any(|p| p == part);

    // (Sid, actions, resources), merged by Sid.
    let mut statements: BTreeMap<&str, (Vec<&str>, Vec<String>)> = BTreeMap::new();
    let mut add = |sid: &'static str, actions: &[&'static str], resources: Vec<String>| {
        let entry = statements.entry(sid).or_default();
        for action in actions {
            if !entry.0.contains(action) {
                entry.0.push(action);
            }
        }
        for resource in resources {
            if !entry.1.contains(&resource) {
                entry.1.push(resource);
            }
        }
    };
    if has("handler") {
        add("OutboxCommit", &["dynamodb:PutItem"], vec![table.clone()]);
        if !config.entity_tables.is_empty() {
            add(
                "HandlerEntities",
                &[
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                config.entity_tables.iter().map(|t| table_arn(t)).collect(),
            );
        }
    }
    if has("clear") {
        add("OutboxClear", &mark, vec![table.clone()]);
    }
    if has("sweeper") {
        add(
            "OutboxSweeperIndex",
            &["dynamodb:Query"],
            vec![index.clone()],
        );
        let mut actions = vec!["dynamodb:BatchGetItem", "dynamodb:PutItem"];
        actions.extend(&mark);
        add("OutboxSweeper", &actions, vec![table.clone()]);
    }
    if has("operations") {
        add(
            "OutboxOperationsIndex",
            &["dynamodb:Query"],
            vec![index.clone()],
        );
        add(
            "OutboxOperations",
            &[
                "dynamodb:BatchGetItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:GetItem",
                "dynamodb:PartiQLUpdate",
                "dynamodb:PutItem",
                "dynamodb:Scan",
                "dynamodb:UpdateItem",
            ],
            vec![table.clone()],
        );
    }
    if has("provisioning") {
        add(
            "OutboxProvisioning",
            &[
                "dynamodb:CreateTable",
                "dynamodb:DescribeTable",
                "dynamodb:DescribeTimeToLive",
                "dynamodb:UpdateTimeToLive",
            ],
            vec![table.clone()],
        );
        add(
            "OutboxReachability",
            &["dynamodb:ListTables"],
            vec!["*".to_owned()],
        );
    }
    if has("clear") || has("sweeper") {
        if !config.queues.is_empty() {
            add("OutboxSendSqs", &["sqs:SendMessage"], config.queues.clone());
        }
        if !config.topics.is_empty() {
            add("OutboxPublishSns", &["sns:Publish"], config.topics.clone());
        }
    }

    let mut json = String::from("{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [");
    for (n, (sid, (mut actions, resources))) in statements.into_iter().enumerate() {
        actions.sort_unstable();
        json.push_str(if n == 0 { "\n" } else { ",\n" });
        json.push_str(&format!(
            "    {{\n      \"Sid\": {},\n      \"Effect\": \"Allow\",\n      \"Action\": {},\n      \"Resource\": {}\n    }}",
            quote(sid),
            list(actions.iter().copied()),
            list(resources.iter().map(String::as_str)),
        ));
    }
    json.push_str("\n  ]\n}");
    json
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(quote).collect();
    if items.len() == 1 {
        return items[0].clone();
    }
    format!("[\n        {}\n      ]", items.join(",\n        "))
}

/// A JSON string literal.
fn quote(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> PolicyConfig {
        parse(args).unwrap()
    }

    #[test]
    fn the_default_policy_names_the_exact_table_and_index() {
        let text = policy(&parsed(&[
            "--account",
            "111122223333",
            "--region",
            "eu-west-1",
        ]));
        assert!(
            text.contains("\"arn:aws:dynamodb:eu-west-1:111122223333:table/Outbox\""),
            "{text}"
        );
        assert!(
            text.contains(
                "\"arn:aws:dynamodb:eu-west-1:111122223333:table/Outbox/index/Outstanding\""
            ),
            "{text}"
        );
        for action in [
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:PartiQLUpdate",
            "dynamodb:Query",
            "dynamodb:BatchGetItem",
        ] {
            assert!(text.contains(action), "{action}: {text}");
        }
        // Not needed at run time, so not granted.
        for action in [
            "dynamodb:Scan",
            "dynamodb:CreateTable",
            "dynamodb:BatchWriteItem",
            "dynamodb:PartiQLSelect",
            "dynamodb:*",
            "\"*\"",
        ] {
            assert!(!text.contains(action), "{action}: {text}");
        }
    }

    #[test]
    fn delete_cleanup_adds_batch_writes_and_transports_are_exact() {
        let text = policy(&parsed(&[
            "--cleanup",
            "delete",
            "--queue-arn",
            "arn:aws:sqs:us-east-1:123456789012:greetings",
            "--topic-arn",
            "arn:aws:sns:us-east-1:123456789012:people",
        ]));
        assert!(text.contains("dynamodb:BatchWriteItem"), "{text}");
        assert!(!text.contains("dynamodb:PartiQLUpdate"), "{text}");
        assert!(text.contains("\"sqs:SendMessage\""), "{text}");
        assert!(
            text.contains("\"arn:aws:sqs:us-east-1:123456789012:greetings\""),
            "{text}"
        );
        assert!(text.contains("\"sns:Publish\""), "{text}");
    }

    #[test]
    fn parts_select_statements() {
        let text = policy(&parsed(&["--parts", "handler"]));
        assert!(
            text.contains("OutboxCommit") && !text.contains("OutboxSweeper"),
            "{text}"
        );
        let text = policy(&parsed(&["--parts", "all", "--entity-table", "People"]));
        for sid in [
            "OutboxProvisioning",
            "OutboxReachability",
            "OutboxOperations",
            "HandlerEntities",
        ] {
            assert!(text.contains(sid), "{sid}: {text}");
        }
        assert!(text.contains("table/People\""), "{text}");
    }

    #[test]
    fn bad_options_are_refused_naming_them() {
        for (args, named) in [
            (&["--table", "a b"][..], "`a b`"),
            (&["--account", "12"][..], "12 digits"),
            (
                &["--queue-arn", "https://sqs.us-east-1.amazonaws.com/1/q"][..],
                "not an ARN",
            ),
            (
                &["--parts", "handler,cleanup"][..],
                "unknown part `cleanup`",
            ),
            (&["--cleanup", "never"][..], "`keep` or `delete`"),
            (&["--region"][..], "needs a value"),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(named), "{args:?}: {err}");
        }
    }
}
