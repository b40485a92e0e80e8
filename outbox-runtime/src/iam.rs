//! The least-privilege IAM policy of an outbox configuration: exact actions on the exact table,
//! index, queue and topic ARNs, part by part, derived from the SDK calls the runtime makes.
//!
//! | part | calls | IAM actions, resource |
//! | --- | --- | --- |
//! | [`Part::Handler`] | the commit (`TransactWriteItems` of the deposits) | `PutItem`, outbox table |
//! | | the handler's reads (`Transaction::get`, `get_many`) and writes | `GetItem`, `BatchGetItem`, `PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem`, each entity table |
//! | [`Part::Clear`] | mark dispatched: PartiQL `UPDATE`s (`Cleanup::Keep`) or deletes (`Cleanup::Delete`); record a failed send | `PartiQLUpdate` or `BatchWriteItem`, and `UpdateItem`, outbox table |
//! | | send | `sqs:SendMessage` (covers `SendMessageBatch`), `sns:Publish` (covers `PublishBatch`), each queue and topic; `kms:GenerateDataKey` and `kms:Decrypt` on the keys of encrypted ones |
//! | [`Part::Sweeper`] | outstanding ids | `Query`, the outstanding index |
//! | | consistent re-read, leases, marks, failures | `BatchGetItem`, `PutItem`, `UpdateItem`, and the mark's action, outbox table |
//! | | send | as the clear |
//! | [`Part::Operations`] | `Outbox::store`, `get`, listings, dead letters, replay, `delete`, `mark_dispatched` | `PutItem`, `GetItem`, `BatchGetItem`, `Scan`, `UpdateItem`, `BatchWriteItem`, `PartiQLUpdate`, table; `Query`, index |
//! | [`Part::StreamRelay`] | read the table's stream: `ListStreams`, `DescribeStream`, `GetShardIterator`, `GetRecords` | `ListStreams` on `*` (no resource-level permission), the others on the table's streams (`table/T/stream/*`) |
//! | | mark, record failures, hand held-back messages to the sweeper | the mark's action and `UpdateItem`, outbox table |
//! | | the self-hosted relay's leases and checkpoints ([`IamPolicy::with_relay_state_table`]; none on Lambda, where the event source mapping keeps them) | `BatchGetItem`, `PutItem`, `UpdateItem`, the state table |
//! | | send | as the clear |
//! | [`Part::Consumer`] | the inbox record in the handler's commit ([`IamPolicy::with_inbox_table`]) | `PutItem`, the inbox table |
//! | | the SQS consumer ([`IamPolicy::with_consumed_queue_arn`]): receive, delete after the commit, extend visibility, read the queue's settings; on Lambda the event source mapping makes the same calls with the function's role | `sqs:ReceiveMessage`, `sqs:DeleteMessage`, `sqs:ChangeMessageVisibility` (each covers its batch call), `sqs:GetQueueAttributes`, each consumed queue; `kms:Decrypt` on the keys of encrypted ones |
//! | claim check ([`IamPolicy::with_claim_check`]) | the commit and `Outbox::store` put bodies, and delete those of a commit that did not happen ([`Part::Handler`], [`Part::Operations`]); consumers fetch them ([`Part::Consumer`]); `ClaimCheck::ensure_lifecycle_rule` ([`Part::Provisioning`]) | `s3:PutObject`, `s3:DeleteObject`, or `s3:GetObject`, on the prefix's objects only; `kms:GenerateDataKey` (producers) or `kms:Decrypt` (consumers) on its SSE-KMS key; `s3:GetLifecycleConfiguration` and `s3:PutLifecycleConfiguration` on the bucket |
//! | [`Part::Provisioning`] | `TableSchema::ensure`, `Inbox::ensure_table`, `DynamoDb::check_reachable` | `CreateTable`, `DescribeTable`, `UpdateTimeToLive`, `DescribeTimeToLive`, tables; `ListTables` on `*` (it has no resource-level permission) |

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::table::config::{Cleanup, OutboxConfig};

/// A part of the library that needs permissions of its own; a role gets the parts its process
/// runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Part {
    /// Handlers: reads and writes of entities, the commit with its deposits.
    Handler,
    /// The immediate clear: send, mark, record failures.
    Clear,
    /// The sweeper.
    Sweeper,
    /// Operations on the outbox table: listings, dead letters, replay, manual marks.
    Operations,
    /// Creating the tables.
    Provisioning,
    /// The stream relay, self-hosted (with its state table) or the function of a Lambda event
    /// source mapping.
    StreamRelay,
    /// A consumer: the inbox record of its handlers, and the queues it consumes.
    Consumer,
}

impl Part {
    /// Every part.
    pub const ALL: [Part; 7] = [
        Part::Handler,
        Part::Clear,
        Part::Sweeper,
        Part::Operations,
        Part::Provisioning,
        Part::StreamRelay,
        Part::Consumer,
    ];

    /// What a service runs: handlers, the immediate clear and a sweeper.
    pub const SERVICE: [Part; 3] = [Part::Handler, Part::Clear, Part::Sweeper];

    /// The part's name: `handler`, `clear`, `sweeper`, `operations`, `provisioning`,
    /// `stream-relay`, `consumer`.
    pub fn name(self) -> &'static str {
        match self {
            Part::Handler => "handler",
            Part::Clear => "clear",
            Part::Sweeper => "sweeper",
            Part::Operations => "operations",
            Part::Provisioning => "provisioning",
            Part::StreamRelay => "stream-relay",
            Part::Consumer => "consumer",
        }
    }

    /// The part of a name, as [`Part::name`] gives it.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the valid names.
    pub fn parse(name: &str) -> Result<Self> {
        Part::ALL
            .into_iter()
            .find(|part| part.name() == name)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "unknown part `{name}`; expected some of {}",
                    Part::ALL.map(Part::name).join(", ")
                ))
            })
    }
}

/// The least-privilege IAM policy for an outbox configuration.
///
/// ```
/// use outbox_runtime::OutboxConfig;
/// use outbox_runtime::iam::IamPolicy;
///
/// let policy = IamPolicy::new("111122223333", "eu-west-1", &OutboxConfig::default())?
///     .with_queue_arn("arn:aws:sqs:eu-west-1:111122223333:greetings")?
///     .with_entity_table("People")
///     .to_json();
/// assert!(policy.contains("\"arn:aws:dynamodb:eu-west-1:111122223333:table/Outbox\""));
/// assert!(policy.contains("\"sqs:SendMessage\""));
/// # Ok::<(), outbox_runtime::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IamPolicy {
    account: String,
    region: String,
    partition: String,
    table: String,
    index: String,
    cleanup: Cleanup,
    queues: Vec<String>,
    topics: Vec<String>,
    kms_keys: Vec<String>,
    entity_tables: Vec<String>,
    parts: Vec<Part>,
    relay_state_table: Option<String>,
    inbox_table: Option<String>,
    consumed_queues: Vec<String>,
    claim_check: Option<(String, String)>,
    claim_check_kms_key: Option<String>,
}

impl IamPolicy {
    /// The policy of `outbox` in `account` and `region`, for the parts a service runs
    /// ([`Part::SERVICE`]), in partition `aws`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an account id that is not 12 digits.
    pub fn new(
        account: impl Into<String>,
        region: impl Into<String>,
        outbox: &OutboxConfig,
    ) -> Result<Self> {
        let account = account.into();
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::InvalidConfig(format!(
                "account id `{account}` is not valid; an account id is 12 digits"
            )));
        }
        Ok(Self {
            account,
            region: region.into(),
            partition: "aws".to_owned(),
            table: outbox.table_name.clone(),
            index: outbox.index_name.clone(),
            cleanup: outbox.cleanup,
            queues: Vec::new(),
            topics: Vec::new(),
            kms_keys: Vec::new(),
            entity_tables: Vec::new(),
            parts: Part::SERVICE.to_vec(),
            relay_state_table: None,
            inbox_table: None,
            consumed_queues: Vec::new(),
            claim_check: None,
            claim_check_kms_key: None,
        })
    }

    /// Names the claim check's bucket and key prefix
    /// ([`ClaimCheck`](crate::claim_check::ClaimCheck)): producers ([`Part::Handler`],
    /// [`Part::Operations`]) may put and delete objects under the prefix, consumers
    /// ([`Part::Consumer`]) read them, and nothing else in the bucket.
    ///
    /// ```
    /// use outbox_runtime::OutboxConfig;
    /// use outbox_runtime::iam::{IamPolicy, Part};
    ///
    /// let policy = IamPolicy::new("111122223333", "eu-west-1", &OutboxConfig::default())?
    ///     .with_claim_check("orders-bodies", "outbox-bodies/")
    ///     .to_json();
    /// assert!(policy.contains("\"arn:aws:s3:::orders-bodies/outbox-bodies/*\""));
    /// assert!(policy.contains("\"s3:PutObject\""));
    /// assert!(!policy.contains("\"s3:GetObject\""), "the service's parts do not consume");
    /// # Ok::<(), outbox_runtime::Error>(())
    /// ```
    pub fn with_claim_check(
        mut self,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        self.claim_check = Some((bucket.into(), prefix.into()));
        self
    }

    /// The KMS key the claim check encrypts objects with
    /// ([`ClaimCheck::with_kms_key`](crate::claim_check::ClaimCheck::with_kms_key)).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for something else than a KMS key ARN.
    pub fn with_claim_check_kms_key_arn(mut self, arn: impl Into<String>) -> Result<Self> {
        self.claim_check_kms_key = Some(checked_arn(arn.into(), ":kms:")?);
        Ok(self)
    }

    /// Sets the ARN partition (`aws-cn`, `aws-us-gov`).
    pub fn with_partition(mut self, partition: impl Into<String>) -> Self {
        self.partition = partition.into();
        self
    }

    /// Adds an SQS queue the producer sends to, by ARN.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for something else than an SQS ARN (a queue URL, say).
    pub fn with_queue_arn(mut self, arn: impl Into<String>) -> Result<Self> {
        self.queues.push(checked_arn(arn.into(), ":sqs:")?);
        Ok(self)
    }

    /// Adds an SNS topic the producer publishes to, by ARN.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for something else than an SNS ARN.
    pub fn with_topic_arn(mut self, arn: impl Into<String>) -> Result<Self> {
        self.topics.push(checked_arn(arn.into(), ":sns:")?);
        Ok(self)
    }

    /// Adds the KMS key of a queue or topic encrypted with SSE-KMS: sending to it needs
    /// `kms:GenerateDataKey` and `kms:Decrypt` on the key.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for something else than a KMS key ARN.
    pub fn with_kms_key_arn(mut self, arn: impl Into<String>) -> Result<Self> {
        self.kms_keys.push(checked_arn(arn.into(), ":kms:")?);
        Ok(self)
    }

    /// Adds a table the handlers read and write entities in.
    pub fn with_entity_table(mut self, table: impl Into<String>) -> Self {
        self.entity_tables.push(table.into());
        self
    }

    /// Names the self-hosted stream relay's state table
    /// ([`StreamRelayConfig::state_table_name`](crate::stream::StreamRelayConfig::state_table_name)):
    /// [`Part::StreamRelay`] then covers its leases and checkpoints, and
    /// [`Part::Provisioning`] its creation. Leave it out for a relay on AWS Lambda.
    ///
    /// ```
    /// use outbox_runtime::OutboxConfig;
    /// use outbox_runtime::iam::{IamPolicy, Part};
    ///
    /// let policy = IamPolicy::new("111122223333", "eu-west-1", &OutboxConfig::default())?
    ///     .with_parts([Part::StreamRelay])
    ///     .with_relay_state_table("Outbox-relay")
    ///     .to_json();
    /// assert!(policy.contains("\"dynamodb:GetRecords\""));
    /// assert!(policy.contains("table/Outbox/stream/*"));
    /// assert!(policy.contains("table/Outbox-relay\""));
    /// # Ok::<(), outbox_runtime::Error>(())
    /// ```
    pub fn with_relay_state_table(mut self, table: impl Into<String>) -> Self {
        self.relay_state_table = Some(table.into());
        self
    }

    /// Names the inbox table of the role's consumer handlers
    /// ([`Inbox::table_name`](crate::consumer::Inbox::table_name)): [`Part::Consumer`] then
    /// covers the inbox record, and [`Part::Provisioning`] the table's creation.
    ///
    /// ```
    /// use outbox_runtime::OutboxConfig;
    /// use outbox_runtime::iam::{IamPolicy, Part};
    ///
    /// let policy = IamPolicy::new("111122223333", "eu-west-1", &OutboxConfig::default())?
    ///     .with_parts([Part::Handler, Part::Clear, Part::Consumer])
    ///     .with_inbox_table("OutboxInbox")
    ///     .with_consumed_queue_arn("arn:aws:sqs:eu-west-1:111122223333:greetings")?
    ///     .to_json();
    /// assert!(policy.contains("table/OutboxInbox\""));
    /// assert!(policy.contains("\"sqs:ReceiveMessage\""));
    /// # Ok::<(), outbox_runtime::Error>(())
    /// ```
    pub fn with_inbox_table(mut self, table: impl Into<String>) -> Self {
        self.inbox_table = Some(table.into());
        self
    }

    /// Adds an SQS queue the role's consumer receives from, by ARN ([`Part::Consumer`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for something else than an SQS ARN.
    pub fn with_consumed_queue_arn(mut self, arn: impl Into<String>) -> Result<Self> {
        self.consumed_queues.push(checked_arn(arn.into(), ":sqs:")?);
        Ok(self)
    }

    /// Sets the parts the role runs.
    pub fn with_parts(mut self, parts: impl IntoIterator<Item = Part>) -> Self {
        self.parts = parts.into_iter().collect();
        self
    }

    /// The policy document, as pretty JSON, one statement per part and resource kind.
    pub fn to_json(&self) -> String {
        let table_arn = |table: &str| {
            format!(
                "arn:{}:dynamodb:{}:{}:table/{table}",
                self.partition, self.region, self.account
            )
        };
        let table = table_arn(&self.table);
        let index = format!("{table}/index/{}", self.index);
        // The mark itself, and `UpdateItem` to record a failed send.
        let mark = match self.cleanup {
            Cleanup::Delete => ["dynamodb:BatchWriteItem", "dynamodb:UpdateItem"],
            Cleanup::Keep { .. } => ["dynamodb:PartiQLUpdate", "dynamodb:UpdateItem"],
        };
        let has = |part: Part| self.parts.contains(&part);

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
        if has(Part::Handler) {
            add("OutboxCommit", &["dynamodb:PutItem"], vec![table.clone()]);
            if !self.entity_tables.is_empty() {
                add(
                    "HandlerEntities",
                    &[
                        "dynamodb:BatchGetItem",
                        "dynamodb:ConditionCheckItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                    ],
                    self.entity_tables.iter().map(|t| table_arn(t)).collect(),
                );
            }
        }
        if has(Part::Clear) {
            add("OutboxClear", &mark, vec![table.clone()]);
        }
        if has(Part::Sweeper) {
            add(
                "OutboxSweeperIndex",
                &["dynamodb:Query"],
                vec![index.clone()],
            );
            let mut actions = vec!["dynamodb:BatchGetItem", "dynamodb:PutItem"];
            actions.extend(mark);
            add("OutboxSweeper", &actions, vec![table.clone()]);
        }
        if has(Part::Operations) {
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
        if has(Part::Provisioning) {
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
            if let Some(inbox) = &self.inbox_table {
                add(
                    "InboxProvisioning",
                    &[
                        "dynamodb:CreateTable",
                        "dynamodb:DescribeTable",
                        "dynamodb:DescribeTimeToLive",
                        "dynamodb:UpdateTimeToLive",
                    ],
                    vec![table_arn(inbox)],
                );
            }
            if let Some(state) = &self.relay_state_table {
                add(
                    "OutboxRelayStateProvisioning",
                    &["dynamodb:CreateTable", "dynamodb:DescribeTable"],
                    vec![table_arn(state)],
                );
            }
        }
        if has(Part::StreamRelay) {
            add(
                "OutboxStreamRead",
                &[
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                ],
                vec![format!("{table}/stream/*")],
            );
            add(
                "OutboxStreamList",
                &["dynamodb:ListStreams"],
                vec!["*".to_owned()],
            );
            add("OutboxStreamRelay", &mark, vec![table.clone()]);
            if let Some(state) = &self.relay_state_table {
                add(
                    "OutboxRelayState",
                    &[
                        "dynamodb:BatchGetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                    ],
                    vec![table_arn(state)],
                );
            }
        }
        if has(Part::Consumer) {
            if let Some(inbox) = &self.inbox_table {
                add("InboxRecord", &["dynamodb:PutItem"], vec![table_arn(inbox)]);
            }
            if !self.consumed_queues.is_empty() {
                add(
                    "ConsumerReceiveSqs",
                    &[
                        "sqs:ChangeMessageVisibility",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ReceiveMessage",
                    ],
                    self.consumed_queues.clone(),
                );
                if !self.kms_keys.is_empty() {
                    add("ConsumerKms", &["kms:Decrypt"], self.kms_keys.clone());
                }
            }
        }
        if let Some((bucket, prefix)) = &self.claim_check {
            let objects = vec![format!("arn:{}:s3:::{bucket}/{prefix}*", self.partition)];
            if has(Part::Handler) || has(Part::Operations) {
                add(
                    "ClaimCheckPut",
                    &["s3:DeleteObject", "s3:PutObject"],
                    objects.clone(),
                );
                if let Some(key) = &self.claim_check_kms_key {
                    add(
                        "ClaimCheckPutKms",
                        &["kms:GenerateDataKey"],
                        vec![key.clone()],
                    );
                }
            }
            if has(Part::Provisioning) {
                add(
                    "ClaimCheckLifecycle",
                    &[
                        "s3:GetLifecycleConfiguration",
                        "s3:PutLifecycleConfiguration",
                    ],
                    vec![format!("arn:{}:s3:::{bucket}", self.partition)],
                );
            }
            if has(Part::Consumer) {
                add("ClaimCheckGet", &["s3:GetObject"], objects);
                if let Some(key) = &self.claim_check_kms_key {
                    add("ClaimCheckGetKms", &["kms:Decrypt"], vec![key.clone()]);
                }
            }
        }
        if has(Part::Clear) || has(Part::Sweeper) || has(Part::StreamRelay) {
            if !self.queues.is_empty() {
                add("OutboxSendSqs", &["sqs:SendMessage"], self.queues.clone());
            }
            if !self.topics.is_empty() {
                add("OutboxPublishSns", &["sns:Publish"], self.topics.clone());
            }
            if !self.kms_keys.is_empty() {
                add(
                    "OutboxTransportKms",
                    &["kms:Decrypt", "kms:GenerateDataKey"],
                    self.kms_keys.clone(),
                );
            }
        }

        let statements: Vec<serde_json::Value> = statements
            .into_iter()
            .map(|(sid, (mut actions, resources))| {
                actions.sort_unstable();
                serde_json::json!({
                    "Sid": sid,
                    "Effect": "Allow",
                    "Action": one_or_many(actions.into_iter().map(str::to_owned).collect()),
                    "Resource": one_or_many(resources),
                })
            })
            .collect();
        let document = serde_json::json!({ "Version": "2012-10-17", "Statement": statements });
        serde_json::to_string_pretty(&document).expect("a JSON value always serializes")
    }
}

/// IAM takes a string for a single entry, a list otherwise.
fn one_or_many(mut items: Vec<String>) -> serde_json::Value {
    if items.len() == 1 {
        serde_json::Value::String(items.remove(0))
    } else {
        serde_json::Value::from(items)
    }
}

fn checked_arn(arn: String, service: &str) -> Result<String> {
    if arn.starts_with("arn:") && arn.contains(service) {
        Ok(arn)
    } else {
        Err(Error::InvalidConfig(format!(
            "`{arn}` is not an ARN of that service (arn:aws{service}REGION:ACCOUNT:NAME); give \
             the ARN, not a URL or a name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> IamPolicy {
        IamPolicy::new("111122223333", "eu-west-1", &OutboxConfig::default()).unwrap()
    }

    #[test]
    fn the_default_policy_names_the_exact_table_and_index() {
        let text = policy().to_json();
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
        let text = IamPolicy::new(
            "123456789012",
            "us-east-1",
            &OutboxConfig::default().with_cleanup(Cleanup::Delete),
        )
        .unwrap()
        .with_queue_arn("arn:aws:sqs:us-east-1:123456789012:greetings")
        .unwrap()
        .with_topic_arn("arn:aws:sns:us-east-1:123456789012:people")
        .unwrap()
        .with_kms_key_arn("arn:aws:kms:us-east-1:123456789012:key/1234abcd")
        .unwrap()
        .to_json();
        assert!(text.contains("dynamodb:BatchWriteItem"), "{text}");
        assert!(!text.contains("dynamodb:PartiQLUpdate"), "{text}");
        assert!(text.contains("\"sqs:SendMessage\""), "{text}");
        assert!(
            text.contains("\"arn:aws:sqs:us-east-1:123456789012:greetings\""),
            "{text}"
        );
        assert!(text.contains("\"sns:Publish\""), "{text}");
        assert!(text.contains("\"kms:GenerateDataKey\""), "{text}");
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["Version"], "2012-10-17");
    }

    #[test]
    fn parts_select_statements() {
        let text = policy().with_parts([Part::Handler]).to_json();
        assert!(
            text.contains("OutboxCommit") && !text.contains("OutboxSweeper"),
            "{text}"
        );
        let text = policy()
            .with_parts(Part::ALL)
            .with_entity_table("People")
            .to_json();
        for sid in [
            "OutboxProvisioning",
            "OutboxReachability",
            "OutboxOperations",
            "HandlerEntities",
        ] {
            assert!(text.contains(sid), "{sid}: {text}");
        }
        assert!(text.contains("table/People\""), "{text}");
        assert!(text.contains("dynamodb:GetItem"), "handlers read: {text}");
    }

    #[test]
    fn the_stream_relay_reads_the_tables_streams_and_its_own_state_only() {
        let lambda = policy()
            .with_parts([Part::StreamRelay])
            .with_queue_arn("arn:aws:sqs:eu-west-1:111122223333:greetings")
            .unwrap()
            .to_json();
        for needed in [
            "\"dynamodb:DescribeStream\"",
            "\"dynamodb:GetShardIterator\"",
            "\"dynamodb:GetRecords\"",
            "\"dynamodb:ListStreams\"",
            "\"arn:aws:dynamodb:eu-west-1:111122223333:table/Outbox/stream/*\"",
            "\"dynamodb:PartiQLUpdate\"",
            "\"sqs:SendMessage\"",
        ] {
            assert!(lambda.contains(needed), "{needed}: {lambda}");
        }
        assert!(
            !lambda.contains("OutboxRelayState"),
            "no state table on Lambda: {lambda}"
        );
        let hosted = policy()
            .with_parts([Part::StreamRelay, Part::Provisioning])
            .with_relay_state_table("Outbox-relay")
            .to_json();
        assert!(hosted.contains("\"arn:aws:dynamodb:eu-west-1:111122223333:table/Outbox-relay\""));
        assert!(hosted.contains("OutboxRelayStateProvisioning"), "{hosted}");
        assert_eq!(Part::parse("stream-relay").unwrap(), Part::StreamRelay);
    }

    #[test]
    fn a_consumer_records_in_its_inbox_and_receives_from_its_queues_only() {
        let text = policy()
            .with_parts([Part::Consumer, Part::Provisioning])
            .with_inbox_table("OutboxInbox")
            .with_consumed_queue_arn("arn:aws:sqs:eu-west-1:111122223333:greetings")
            .unwrap()
            .to_json();
        for needed in [
            "InboxRecord",
            "InboxProvisioning",
            "\"arn:aws:dynamodb:eu-west-1:111122223333:table/OutboxInbox\"",
            "\"sqs:ReceiveMessage\"",
            "\"sqs:DeleteMessage\"",
            "\"sqs:ChangeMessageVisibility\"",
            "\"sqs:GetQueueAttributes\"",
        ] {
            assert!(text.contains(needed), "{needed}: {text}");
        }
        assert!(
            !text.contains("sqs:SendMessage"),
            "a consumer sends nothing: {text}"
        );
        assert!(!text.contains("OutboxCommit"), "{text}");
        assert_eq!(Part::parse("consumer").unwrap(), Part::Consumer);
    }

    #[test]
    fn bad_input_is_refused_naming_it() {
        let err = IamPolicy::new("12", "eu-west-1", &OutboxConfig::default()).unwrap_err();
        assert!(err.to_string().contains("12 digits"), "{err}");
        let err = policy()
            .with_queue_arn("https://sqs.us-east-1.amazonaws.com/1/q")
            .unwrap_err();
        assert!(err.to_string().contains("not an ARN"), "{err}");
        let err = Part::parse("cleanup").unwrap_err();
        assert!(err.to_string().contains("unknown part `cleanup`"), "{err}");
    }
}
