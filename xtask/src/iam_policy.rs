//! `cargo xtask iam-policy`: prints the least-privilege IAM policy of an outbox configuration,
//! as the runtime's `outbox_runtime::iam::IamPolicy` makes it (the parts and what each calls are
//! documented there).

use std::process::ExitCode;

use outbox_runtime::iam::{IamPolicy, Part};
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
  --kms-key-arn ARN      the KMS key of an SSE-KMS queue or topic (repeatable)
  --entity-table NAME    a table the handlers write entities to (repeatable)
  --parts LIST           comma-separated parts among handler, clear, sweeper, operations,
                         provisioning, stream-relay, consumer, or `all`
                         (default: handler,clear,sweeper)
  --relay-state-table NAME  the self-hosted stream relay's state table (leave out on Lambda)
  --inbox-table NAME     the consumer handlers' inbox table (part consumer, provisioning)
  --consumed-queue-arn ARN  an SQS queue the consumer receives from (repeatable)
  --claim-check-bucket NAME  the claim check's bucket (producers put and delete, consumers get)
  --claim-check-prefix PREFIX  its key prefix (default: `outbox-bodies/`)
  --claim-check-kms-key-arn ARN  the KMS key of its objects";

/// What the policy is for, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Options {
    account: Option<String>,
    region: String,
    partition: String,
    table: String,
    index: String,
    cleanup_delete: bool,
    queues: Vec<String>,
    topics: Vec<String>,
    kms_keys: Vec<String>,
    entity_tables: Vec<String>,
    parts: Vec<Part>,
    relay_state_table: Option<String>,
    inbox_table: Option<String>,
    consumed_queues: Vec<String>,
    claim_check_bucket: Option<String>,
    claim_check_prefix: String,
    claim_check_kms_key: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        let outbox = OutboxConfig::default();
        Self {
            account: None,
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
            kms_keys: Vec::new(),
            entity_tables: Vec::new(),
            parts: Part::SERVICE.to_vec(),
            relay_state_table: None,
            inbox_table: None,
            consumed_queues: Vec::new(),
            claim_check_bucket: None,
            claim_check_prefix: "outbox-bodies/".to_owned(),
            claim_check_kms_key: None,
        }
    }
}

/// Parses the options, prints the policy.
pub(crate) fn run(args: &[&str]) -> Result<ExitCode> {
    if args
        .iter()
        .any(|arg| matches!(*arg, "help" | "--help" | "-h"))
    {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let options = parse(args)?;
    if options.account.is_none() {
        eprintln!("note: no --account given; the ARNs use the placeholder account 123456789012");
    }
    println!("{}", policy(&options)?.to_json());
    Ok(ExitCode::SUCCESS)
}

fn parse(args: &[&str]) -> Result<Options> {
    let mut options = Options::default();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .map(|v| (*v).to_owned())
                .ok_or_else(|| format!("`{flag}` needs a value\n\n{USAGE}"))
        };
        match *flag {
            "--account" => options.account = Some(value()?),
            "--region" => options.region = value()?,
            "--partition" => options.partition = value()?,
            "--table" => options.table = value()?,
            "--index" => options.index = value()?,
            "--cleanup" => {
                options.cleanup_delete = match value()?.as_str() {
                    "keep" => false,
                    "delete" => true,
                    other => {
                        return Err(
                            format!("`--cleanup {other}`: expected `keep` or `delete`").into()
                        );
                    }
                }
            }
            "--queue-arn" => options.queues.push(value()?),
            "--topic-arn" => options.topics.push(value()?),
            "--kms-key-arn" => options.kms_keys.push(value()?),
            "--entity-table" => options.entity_tables.push(value()?),
            "--relay-state-table" => options.relay_state_table = Some(value()?),
            "--inbox-table" => options.inbox_table = Some(value()?),
            "--consumed-queue-arn" => options.consumed_queues.push(value()?),
            "--claim-check-bucket" => options.claim_check_bucket = Some(value()?),
            "--claim-check-prefix" => options.claim_check_prefix = value()?,
            "--claim-check-kms-key-arn" => options.claim_check_kms_key = Some(value()?),
            "--parts" => {
                let list = value()?;
                options.parts = if list == "all" {
                    Part::ALL.to_vec()
                } else {
                    list.split(',')
                        .map(|part| Part::parse(part.trim()))
                        .collect::<std::result::Result<_, _>>()?
                };
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}").into()),
        }
    }
    Ok(options)
}

/// The library's policy for the options.
fn policy(options: &Options) -> Result<IamPolicy> {
    let cleanup = if options.cleanup_delete {
        Cleanup::Delete
    } else {
        OutboxConfig::default().cleanup
    };
    let outbox = OutboxConfig::new(&options.table)
        .with_index_name(&options.index)
        .with_cleanup(cleanup);
    // Names checked the way the runtime checks them.
    outbox.validate()?;
    let account = options.account.as_deref().unwrap_or("123456789012");
    let mut policy = IamPolicy::new(account, &options.region, &outbox)?
        .with_partition(&options.partition)
        .with_parts(options.parts.iter().copied());
    for queue in &options.queues {
        policy = policy.with_queue_arn(queue)?;
    }
    for topic in &options.topics {
        policy = policy.with_topic_arn(topic)?;
    }
    for key in &options.kms_keys {
        policy = policy.with_kms_key_arn(key)?;
    }
    for table in &options.entity_tables {
        policy = policy.with_entity_table(table);
    }
    if let Some(state) = &options.relay_state_table {
        policy = policy.with_relay_state_table(state);
    }
    if let Some(inbox) = &options.inbox_table {
        policy = policy.with_inbox_table(inbox);
    }
    for queue in &options.consumed_queues {
        policy = policy.with_consumed_queue_arn(queue)?;
    }
    match (&options.claim_check_bucket, &options.claim_check_kms_key) {
        (Some(bucket), key) => {
            policy = policy.with_claim_check(bucket, &options.claim_check_prefix);
            if let Some(key) = key {
                policy = policy.with_claim_check_kms_key_arn(key)?;
            }
        }
        (None, Some(_)) => {
            return Err("`--claim-check-kms-key-arn` needs `--claim-check-bucket`".into());
        }
        (None, None) => {}
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(args: &[&str]) -> String {
        policy(&parse(args).unwrap()).unwrap().to_json()
    }

    #[test]
    fn flags_reach_the_library_policy() {
        let text = printed(&[
            "--account",
            "111122223333",
            "--region",
            "eu-west-1",
            "--cleanup",
            "delete",
            "--queue-arn",
            "arn:aws:sqs:eu-west-1:111122223333:greetings",
            "--parts",
            "handler,clear",
            "--entity-table",
            "People",
        ]);
        assert!(
            text.contains("\"arn:aws:dynamodb:eu-west-1:111122223333:table/Outbox\""),
            "{text}"
        );
        assert!(text.contains("dynamodb:BatchWriteItem"), "{text}");
        assert!(text.contains("table/People"), "{text}");
        assert!(!text.contains("OutboxSweeper"), "{text}");
    }

    #[test]
    fn consumer_flags_reach_the_library_policy() {
        let text = printed(&[
            "--parts",
            "consumer",
            "--inbox-table",
            "OutboxInbox",
            "--consumed-queue-arn",
            "arn:aws:sqs:us-east-1:123456789012:greetings",
        ]);
        assert!(text.contains("table/OutboxInbox"), "{text}");
        assert!(text.contains("sqs:ReceiveMessage"), "{text}");
    }

    #[test]
    fn claim_check_flags_reach_the_library_policy() {
        let text = printed(&[
            "--parts",
            "handler,consumer",
            "--claim-check-bucket",
            "bodies",
            "--claim-check-kms-key-arn",
            "arn:aws:kms:us-east-1:123456789012:key/k",
        ]);
        assert!(
            text.contains("arn:aws:s3:::bodies/outbox-bodies/*"),
            "{text}"
        );
        assert!(
            text.contains("s3:PutObject") && text.contains("s3:GetObject"),
            "{text}"
        );
        assert!(
            text.contains("kms:GenerateDataKey") && text.contains("kms:Decrypt"),
            "{text}"
        );
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
            let err = parse(args)
                .and_then(|options| policy(&options))
                .unwrap_err()
                .to_string();
            assert!(err.contains(named), "{args:?}: {err}");
        }
    }
}
