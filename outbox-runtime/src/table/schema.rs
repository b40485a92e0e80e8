//! Table definitions, written once: [`TableSchema::ensure`] creates a table from one, and
//! provisioning code reads the same definition, so no second copy can drift.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription,
    TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use futures_util::FutureExt as _;

use crate::client::DynamoDb;
use crate::error::{Error, Result};

/// How long [`TableSchema::ensure`] waits for a new table to become `ACTIVE`.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// The scalar type of a key attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// `S`
    String,
    /// `N`
    Number,
    /// `B`
    Binary,
}

impl KeyKind {
    fn scalar(self) -> ScalarAttributeType {
        match self {
            KeyKind::String => ScalarAttributeType::S,
            KeyKind::Number => ScalarAttributeType::N,
            KeyKind::Binary => ScalarAttributeType::B,
        }
    }
}

/// One key attribute: its name and scalar type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyAttribute {
    /// The attribute name.
    pub name: String,
    /// Its scalar type.
    pub kind: KeyKind,
}

impl IndexSchema {
    /// An index with only a hash key.
    pub fn new(name: impl Into<String>, hash_key: KeyAttribute) -> Self {
        Self {
            name: name.into(),
            hash_key,
            range_key: None,
        }
    }

    /// Adds a range key.
    pub fn with_range_key(mut self, range_key: KeyAttribute) -> Self {
        self.range_key = Some(range_key);
        self
    }
}

impl KeyAttribute {
    /// A key attribute named `name` of type `kind`.
    pub fn new(name: impl Into<String>, kind: KeyKind) -> Self {
        Self {
            name: name.into(),
            kind,
        }
    }
}

/// A global secondary index. Indexes defined here project keys only: readers fetch the item
/// itself from the base table, which is strongly consistent, where the index is not.
///
/// ```
/// use outbox_runtime::table::{IndexSchema, KeyAttribute, KeyKind};
///
/// let by_city = IndexSchema::new("ByCity", KeyAttribute::new("City", KeyKind::String))
///     .with_range_key(KeyAttribute::new("Name", KeyKind::String));
/// assert_eq!(by_city.name, "ByCity");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexSchema {
    /// The index name.
    pub name: String,
    /// Its hash key.
    pub hash_key: KeyAttribute,
    /// Its range key, if any.
    pub range_key: Option<KeyAttribute>,
}

/// A table definition: keys, keys-only global secondary indexes, the TTL attribute. Tables are
/// created on demand (`PAY_PER_REQUEST`).
///
/// ```
/// use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
///
/// let people = TableSchema::new("People", KeyAttribute::new("Name", KeyKind::String));
/// assert_eq!(people.name, "People");
/// assert!(people.indexes.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableSchema {
    /// The table name.
    pub name: String,
    /// The hash (partition) key.
    pub hash_key: KeyAttribute,
    /// The range (sort) key, if any.
    pub range_key: Option<KeyAttribute>,
    /// Global secondary indexes.
    pub indexes: Vec<IndexSchema>,
    /// The attribute DynamoDB's TTL reads (epoch seconds), if TTL is wanted.
    pub ttl_attribute: Option<String>,
    /// The number attribute in which the runtime keeps each item's version, if the table's
    /// items are read and written in units of work (see [`TableSchema::with_version`]).
    pub version_attribute: Option<String>,
    /// The table's DynamoDB Stream and what its records carry, if a stream is wanted (see
    /// [`TableSchema::with_stream`]).
    pub stream: Option<StreamViewType>,
}

/// What [`TableSchema::ensure`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnsureOutcome {
    /// The table did not exist and was created.
    Created,
    /// The table existed with the same schema; nothing was changed.
    AlreadyExisted,
    /// The table existed with the same keys and indexes but without the stream the schema
    /// wants: the stream was enabled with `UpdateTable` (a new stream, read from its start).
    StreamEnabled,
}

impl TableSchema {
    /// A table with only a hash key.
    pub fn new(name: impl Into<String>, hash_key: KeyAttribute) -> Self {
        Self {
            name: name.into(),
            hash_key,
            range_key: None,
            indexes: Vec::new(),
            ttl_attribute: None,
            version_attribute: None,
            stream: None,
        }
    }

    /// Adds a range key.
    pub fn with_range_key(mut self, range_key: KeyAttribute) -> Self {
        self.range_key = Some(range_key);
        self
    }

    /// Adds a keys-only global secondary index.
    pub fn with_index(mut self, index: IndexSchema) -> Self {
        self.indexes.push(index);
        self
    }

    /// Names the TTL attribute (epoch seconds) to enable TTL on.
    pub fn with_ttl(mut self, attribute: impl Into<String>) -> Self {
        self.ttl_attribute = Some(attribute.into());
        self
    }

    /// Names the number attribute in which the runtime keeps each item's version, so that a
    /// unit of work that reads an item ([`Transaction::get`](crate::Transaction::get)) writes it
    /// back only if it is unchanged: every write through a [`Transaction`](crate::Transaction)
    /// sets it to the version read plus one (a blind update adds one to what is stored), and a
    /// write after a read is conditional on the version read. When another writer got there
    /// first, the commit is a conflict and `#[transactional_handler]` runs the body again. An
    /// existing item without the attribute counts as version 0. The attribute belongs to the
    /// runtime: an entity may carry it to read it, but what it holds there is overwritten.
    ///
    /// ```
    /// use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
    ///
    /// let people = TableSchema::new("People", KeyAttribute::new("Name", KeyKind::String))
    ///     .with_version("Version");
    /// assert_eq!(people.version_attribute.as_deref(), Some("Version"));
    /// ```
    pub fn with_version(mut self, attribute: impl Into<String>) -> Self {
        self.version_attribute = Some(attribute.into());
        self
    }

    /// Wants the table's DynamoDB Stream, with records carrying `view` (`NEW_IMAGE` for an
    /// outbox's stream relay): [`TableSchema::ensure`] creates the table with it, or enables it
    /// on an existing table with `UpdateTable`.
    ///
    /// ```
    /// use outbox_runtime::aws_sdk_dynamodb::types::StreamViewType;
    /// use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
    ///
    /// let orders = TableSchema::new("Orders", KeyAttribute::new("Id", KeyKind::String))
    ///     .with_stream(StreamViewType::NewImage);
    /// assert_eq!(orders.stream, Some(StreamViewType::NewImage));
    /// ```
    pub fn with_stream(mut self, view: StreamViewType) -> Self {
        self.stream = Some(view);
        self
    }

    /// [`TableSchema::with_stream`] with new images, when `wanted`.
    pub(crate) fn with_stream_if(self, wanted: bool) -> Self {
        if wanted {
            self.with_stream(StreamViewType::NewImage)
        } else {
            self
        }
    }

    /// Creates the table if it does not exist, waits until it and its indexes are `ACTIVE`, and
    /// enables TTL when asked. An existing table with the same schema is left alone; one with
    /// another schema is an error naming every difference. A stream the schema wants and an
    /// existing table lacks is enabled with `UpdateTable` ([`EnsureOutcome::StreamEnabled`]); a
    /// stream the schema does not want is left as it is.
    ///
    /// ```no_run
    /// # async fn run() -> outbox_runtime::Result<()> {
    /// use outbox_runtime::table::{KeyAttribute, KeyKind, TableSchema};
    /// let db = outbox_runtime::DynamoDb::from_env().await;
    /// TableSchema::new("People", KeyAttribute::new("Name", KeyKind::String))
    ///     .ensure(&db)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`], [`Error::TableNotActive`], or the request's own error.
    pub async fn ensure(&self, db: &DynamoDb) -> Result<EnsureOutcome> {
        let outcome = match self.describe(db).await? {
            Some(existing) => {
                let differences = self.differences(&existing);
                if !differences.is_empty() {
                    return Err(Error::SchemaMismatch {
                        table: self.name.clone(),
                        differences,
                    });
                }
                if self.stream_missing(&existing) {
                    self.wait_active(db).await?;
                    self.enable_stream(db).await?;
                    EnsureOutcome::StreamEnabled
                } else {
                    EnsureOutcome::AlreadyExisted
                }
            }
            None => {
                self.create(db).await?;
                EnsureOutcome::Created
            }
        };
        self.wait_active(db).await?;
        self.ensure_ttl(db).await?;
        Ok(outcome)
    }

    /// Describes the table, or `None` when it does not exist.
    async fn describe(&self, db: &DynamoDb) -> Result<Option<TableDescription>> {
        match db
            .client()
            .describe_table()
            .table_name(&self.name)
            .send()
            .boxed()
            .await
        {
            Ok(out) => Ok(out.table),
            Err(err) => match Error::from_sdk("DescribeTable", db.endpoint(), &self.name, err) {
                Error::TableNotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn create(&self, db: &DynamoDb) -> Result<()> {
        let mut request = db
            .client()
            .create_table()
            .table_name(&self.name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(self.attribute_definitions()))
            .set_key_schema(Some(key_schema(&self.hash_key, self.range_key.as_ref())))
            .set_stream_specification(self.stream_specification());
        for index in &self.indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(key_schema(&index.hash_key, index.range_key.as_ref())))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::KeysOnly)
                            .build(),
                    )
                    .build()
                    .expect("name, key schema and projection are set"),
            );
        }
        match request.send().boxed().await {
            Ok(_) => Ok(()),
            Err(err) => match Error::from_sdk("CreateTable", db.endpoint(), &self.name, err) {
                // Another process created it between our describe and create: compare then.
                Error::DynamoDb { source, .. }
                    if matches!(*source, aws_sdk_dynamodb::Error::ResourceInUseException(_)) =>
                {
                    Ok(())
                }
                other => Err(other),
            },
        }
    }

    /// The stream the schema wants, as `CreateTable` and `UpdateTable` take it.
    fn stream_specification(&self) -> Option<StreamSpecification> {
        self.stream.clone().map(|view| {
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(view)
                .build()
                .expect("enabled is set")
        })
    }

    /// True when the schema wants a stream and the existing table has none enabled.
    fn stream_missing(&self, existing: &TableDescription) -> bool {
        self.stream.is_some()
            && !existing
                .stream_specification()
                .is_some_and(|spec| spec.stream_enabled())
    }

    /// Enables the wanted stream on an existing table (`UpdateTable`), then waits until the
    /// table is `ACTIVE` again.
    async fn enable_stream(&self, db: &DynamoDb) -> Result<()> {
        let result = db
            .client()
            .update_table()
            .table_name(&self.name)
            .set_stream_specification(self.stream_specification())
            .send()
            .boxed()
            .await;
        if let Err(err) = result {
            match Error::from_sdk("UpdateTable", db.endpoint(), &self.name, err) {
                // Another process enabled it between our describe and update.
                Error::DynamoDb { source, .. }
                    if matches!(*source, aws_sdk_dynamodb::Error::ResourceInUseException(_)) => {}
                Error::DynamoDb { source, .. }
                    if source.to_string().contains("already has an enabled stream") => {}
                other => return Err(other),
            }
        }
        tracing::info!(table = %self.name, "DynamoDB Stream enabled on an existing table");
        self.wait_active(db).await
    }

    /// Every attribute that appears in a key of the table or an index, once.
    fn attribute_definitions(&self) -> Vec<AttributeDefinition> {
        let mut keys: Vec<&KeyAttribute> = vec![&self.hash_key];
        keys.extend(self.range_key.as_ref());
        for index in &self.indexes {
            keys.push(&index.hash_key);
            keys.extend(index.range_key.as_ref());
        }
        let mut seen = Vec::new();
        keys.into_iter()
            .filter(|key| {
                let new = !seen.contains(&key.name);
                seen.push(key.name.clone());
                new
            })
            .map(|key| {
                AttributeDefinition::builder()
                    .attribute_name(&key.name)
                    .attribute_type(key.kind.scalar())
                    .build()
                    .expect("attribute name and type are set")
            })
            .collect()
    }

    async fn wait_active(&self, db: &DynamoDb) -> Result<()> {
        let started = Instant::now();
        loop {
            let description = self
                .describe(db)
                .await?
                .ok_or_else(|| Error::TableNotFound {
                    table: self.name.clone(),
                })?;
            let table_active = description.table_status() == Some(&TableStatus::Active);
            let indexes_active = description.global_secondary_indexes().iter().all(|index| {
                index.index_status() == Some(&aws_sdk_dynamodb::types::IndexStatus::Active)
            });
            if table_active && indexes_active {
                return Ok(());
            }
            if started.elapsed() > ACTIVE_TIMEOUT {
                return Err(Error::TableNotActive {
                    table: self.name.clone(),
                    status: description
                        .table_status()
                        .map_or("UNKNOWN", |status| status.as_str())
                        .to_owned(),
                    waited_secs: ACTIVE_TIMEOUT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn ensure_ttl(&self, db: &DynamoDb) -> Result<()> {
        let Some(wanted) = &self.ttl_attribute else {
            return Ok(());
        };
        let current = db
            .client()
            .describe_time_to_live()
            .table_name(&self.name)
            .send()
            .boxed()
            .await
            .map_err(|err| Error::from_sdk("DescribeTimeToLive", db.endpoint(), &self.name, err))?;
        let description = current.time_to_live_description();
        let status = description.and_then(|d| d.time_to_live_status());
        let attribute = description.and_then(|d| d.attribute_name());
        match status {
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
                if attribute == Some(wanted.as_str()) =>
            {
                Ok(())
            }
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
                Err(Error::SchemaMismatch {
                    table: self.name.clone(),
                    differences: vec![format!(
                        "TTL attribute: expected `{wanted}`, found `{}`",
                        attribute.unwrap_or("?")
                    )],
                })
            }
            _ => db
                .client()
                .update_time_to_live()
                .table_name(&self.name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(wanted)
                        .build()
                        .expect("enabled and attribute name are set"),
                )
                .send()
                .boxed()
                .await
                .map(|_| ())
                .map_err(|err| Error::from_sdk("UpdateTimeToLive", db.endpoint(), &self.name, err)),
        }
    }

    /// Every way an existing table differs from this schema, in words.
    pub fn differences(&self, existing: &TableDescription) -> Vec<String> {
        let mut differences = Vec::new();
        let types = existing.attribute_definitions();
        let wanted_keys = describe_keys(&self.hash_key, self.range_key.as_ref());
        let found_keys = describe_found_keys(existing.key_schema(), types);
        if wanted_keys != found_keys {
            differences.push(format!(
                "key schema: expected {wanted_keys}, found {found_keys}"
            ));
        }
        if let Some(wanted) = &self.stream
            && let Some(found) = existing
                .stream_specification()
                .filter(|spec| spec.stream_enabled())
                .and_then(|spec| spec.stream_view_type())
            && found != wanted
        {
            differences.push(format!(
                "stream view type: expected {}, found {} (a stream's view type cannot be \
                 changed: disable the stream and enable it again, which gives a new stream)",
                wanted.as_str(),
                found.as_str()
            ));
        }
        for index in &self.indexes {
            let found = existing
                .global_secondary_indexes()
                .iter()
                .find(|found| found.index_name() == Some(index.name.as_str()));
            let Some(found) = found else {
                differences.push(format!("index `{}`: missing", index.name));
                continue;
            };
            let wanted_keys = describe_keys(&index.hash_key, index.range_key.as_ref());
            let found_keys = describe_found_keys(found.key_schema(), types);
            if wanted_keys != found_keys {
                differences.push(format!(
                    "index `{}` key schema: expected {wanted_keys}, found {found_keys}",
                    index.name
                ));
            }
            let projection = found.projection().and_then(|p| p.projection_type());
            if projection != Some(&ProjectionType::KeysOnly) {
                differences.push(format!(
                    "index `{}` projection: expected KEYS_ONLY, found {}",
                    index.name,
                    projection.map_or("none", |p| p.as_str())
                ));
            }
        }
        differences
    }
}

fn key_schema(hash: &KeyAttribute, range: Option<&KeyAttribute>) -> Vec<KeySchemaElement> {
    let element = |key: &KeyAttribute, key_type| {
        KeySchemaElement::builder()
            .attribute_name(&key.name)
            .key_type(key_type)
            .build()
            .expect("attribute name and key type are set")
    };
    let mut schema = vec![element(hash, KeyType::Hash)];
    schema.extend(range.map(|range| element(range, KeyType::Range)));
    schema
}

fn describe_keys(hash: &KeyAttribute, range: Option<&KeyAttribute>) -> String {
    let one = |key: &KeyAttribute| format!("{} ({})", key.name, key.kind.scalar().as_str());
    match range {
        Some(range) => format!("hash {} + range {}", one(hash), one(range)),
        None => format!("hash {}", one(hash)),
    }
}

fn describe_found_keys(schema: &[KeySchemaElement], types: &[AttributeDefinition]) -> String {
    let one = |element: &KeySchemaElement| {
        let name = element.attribute_name();
        let kind = types
            .iter()
            .find(|definition| definition.attribute_name() == name)
            .map_or("?", |definition| definition.attribute_type().as_str());
        format!("{name} ({kind})")
    };
    let hash = schema.iter().find(|e| e.key_type() == &KeyType::Hash);
    let range = schema.iter().find(|e| e.key_type() == &KeyType::Range);
    match (hash, range) {
        (Some(hash), Some(range)) => format!("hash {} + range {}", one(hash), one(range)),
        (Some(hash), None) => format!("hash {}", one(hash)),
        _ => "no key schema".to_owned(),
    }
}
