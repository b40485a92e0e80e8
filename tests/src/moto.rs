//! The local SQS/SNS server (moto) for the tests: clients proven to answer, fresh queues and
//! topics, and receiving until a count has arrived.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use outbox_runtime::transport::{sns, sqs};

use crate::SQS_ENDPOINT_ENV as ENDPOINT_ENV;

/// Where the tests look when `SQS_SNS_ENDPOINT` is not set: the port `cargo xtask moto start`
/// uses by default.
pub const DEFAULT_MOTO_ENDPOINT: &str = "http://127.0.0.1:5000";

/// Clients for the local SQS/SNS server, proven to answer.
pub struct Moto {
    /// The endpoint.
    pub endpoint: String,
    /// An SQS client for it.
    pub sqs: aws_sdk_sqs::Client,
    /// An SNS client for it.
    pub sns: aws_sdk_sns::Client,
    /// An S3 client for it (path-style addresses).
    pub s3: outbox_runtime::aws_sdk_s3::Client,
}

/// Clients for the local SQS/SNS server (`AWS_ENDPOINT_URL_SQS`, else port 5000).
///
/// # Panics
/// When nothing answers, with the endpoint and the commands that start the server.
pub async fn moto() -> Moto {
    let endpoint = std::env::var(ENDPOINT_ENV)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| DEFAULT_MOTO_ENDPOINT.to_owned());
    let sqs = sqs::local_client(&endpoint);
    let sns = sns::local_client(&endpoint);
    let answer = match sqs.list_queues().send().await {
        Ok(_) => sns.list_topics().send().await.map(|_| ()).map_err(|err| {
            format!(
                "SNS ListTopics: {}",
                aws_sdk_sns::error::DisplayErrorContext(err)
            )
        }),
        Err(err) => Err(format!(
            "SQS ListQueues: {}",
            aws_sdk_sqs::error::DisplayErrorContext(err)
        )),
    };
    if let Err(err) = answer {
        panic!(
            "these tests need a local SQS/SNS server and none answers at {endpoint} \
             ({ENDPOINT_ENV} {}).\n{err}\n\nRun the whole suite with `cargo xtask test`, or start \
             a server with `cargo xtask moto start` and export the {ENDPOINT_ENV} it prints.",
            if std::env::var_os(ENDPOINT_ENV).is_some() {
                "is set"
            } else {
                "is not set"
            }
        );
    }
    let s3 = outbox_runtime::claim_check::local_client(&endpoint);
    Moto {
        endpoint,
        sqs,
        sns,
        s3,
    }
}

pub use crate::unique_name as unique;

impl Moto {
    /// A new S3 bucket. Returns its name.
    pub async fn bucket(&self, prefix: &str) -> String {
        let name = unique(prefix).to_lowercase();
        let name: String = name.chars().take(63).collect();
        self.s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("CreateBucket");
        name
    }

    /// The keys of the objects in `bucket`, sorted.
    pub async fn objects(&self, bucket: &str) -> Vec<String> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .expect("ListObjectsV2");
        let mut keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|object| object.key().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    }

    /// A new queue; FIFO when `fifo`. Returns its URL.
    pub async fn queue(&self, prefix: &str, fifo: bool) -> String {
        let mut request = self.sqs.create_queue();
        if fifo {
            request = request
                .queue_name(format!("{}.fifo", unique(prefix)))
                .attributes(QueueAttributeName::FifoQueue, "true");
        } else {
            request = request.queue_name(unique(prefix));
        }
        let output = request.send().await.expect("CreateQueue");
        output.queue_url().expect("a queue URL").to_owned()
    }

    /// A new standard queue whose deliveries not deleted come back after a second (its
    /// visibility timeout), for tests of what is left to the queue. Returns its URL.
    pub async fn queue_redelivering_after_a_second(&self, prefix: &str) -> String {
        let queue = self.queue(prefix, false).await;
        self.sqs
            .set_queue_attributes()
            .queue_url(&queue)
            .attributes(QueueAttributeName::VisibilityTimeout, "1")
            .send()
            .await
            .expect("SetQueueAttributes");
        queue
    }

    /// A new SNS topic; FIFO when `fifo`. Returns its ARN.
    pub async fn topic(&self, prefix: &str, fifo: bool) -> String {
        let mut request = self.sns.create_topic();
        if fifo {
            request = request
                .name(format!("{}.fifo", unique(prefix)))
                .attributes("FifoTopic", "true");
        } else {
            request = request.name(unique(prefix));
        }
        let output = request.send().await.expect("CreateTopic");
        output.topic_arn().expect("a topic ARN").to_owned()
    }

    /// The queue's ARN, which subscriptions and redrive policies name it by.
    pub async fn queue_arn(&self, queue_url: &str) -> String {
        self.sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes()
            .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn))
            .expect("a queue ARN")
            .clone()
    }

    /// Subscribes the queue to the topic with raw message delivery, so that SNS message
    /// attributes arrive as SQS message attributes.
    pub async fn subscribe_raw(&self, topic_arn: &str, queue_url: &str) {
        let queue_arn = self.queue_arn(queue_url).await;
        self.sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("Subscribe");
    }

    /// Receives (and deletes) messages until `count` have arrived, in the order received; fails
    /// after 20 s. Then checks for 1 s that no further message arrives.
    pub async fn receive(&self, queue_url: &str, count: usize) -> Vec<aws_sdk_sqs::types::Message> {
        let mut received = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while received.len() < count {
            assert!(
                Instant::now() < deadline,
                "only {} of {count} messages arrived in {queue_url}",
                received.len()
            );
            received.extend(self.receive_once(queue_url).await);
        }
        let extra = self.receive_once(queue_url).await;
        assert!(extra.is_empty(), "unexpected extra messages: {extra:?}");
        received
    }

    /// One receive (up to 10 messages, 1 s wait), each deleted.
    pub async fn receive_once(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = output.messages().to_vec();
        for message in &messages {
            // Deleted at once, so that a FIFO queue hands out the next message of the group.
            self.sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().expect("a receipt handle"))
                .send()
                .await
                .expect("DeleteMessage");
        }
        messages
    }

    /// A URL in the server's form for a queue that does not exist.
    pub fn missing_queue_url(&self) -> String {
        format!(
            "{}/123456789012/{}",
            self.endpoint.trim_end_matches('/'),
            unique("missing")
        )
    }
}

/// The variable naming a Python interpreter with boto3, for the tests in which a client nobody
/// here wrote reads what the outbox sends; without it, the one `cargo xtask moto start`
/// installed moto (and so boto3) into, under the `target/` that holds this binary.
pub const PYTHON_ENV: &str = "OUTBOX_TEST_PYTHON";

/// A Python interpreter with boto3 (see [`PYTHON_ENV`]).
///
/// # Panics
/// When there is none, saying how to get one.
pub fn python() -> std::path::PathBuf {
    if let Some(python) = std::env::var_os(PYTHON_ENV).filter(|v| !v.is_empty()) {
        return python.into();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .map(|dir| dir.join("moto").join("venv").join("bin").join("python"))
        .find(|python| python.is_file())
        .unwrap_or_else(|| {
            panic!(
                "this test runs a Python consumer with boto3 and found none: {PYTHON_ENV} is not \
                 set and no `target/moto/venv` holds one; `cargo xtask moto start` (or \
                 `cargo xtask test`) installs it, or set {PYTHON_ENV} to a Python with boto3"
            )
        })
}

/// Runs `script` with [`python`], the moto endpoint and dummy credentials in its environment,
/// and returns what it printed.
///
/// # Panics
/// When the script fails, with its output.
pub fn run_python(moto: &Moto, script: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .expect("running the Python consumer");
    assert!(
        output.status.success(),
        "the Python script failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the script prints UTF-8")
}
