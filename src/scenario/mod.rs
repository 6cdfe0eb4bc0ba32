//! Scenario format v1: the steps a user writes, as typed values.
//!
//! The JSON contract is `SCENARIO-FORMAT.md`; [`parse`] turns text into a [`Scenario`] or a
//! [`ScenarioError`] that names the step, the field and what was expected. Serializing a
//! [`Scenario`] gives back valid scenario JSON (fields at their defaults are left out).

pub mod locate;
mod parse;
mod write;

use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::{Map, Value};

pub use parse::{parse, parse_step, Limits, OPS};

/// The scenario files of a folder: `NAME.json`, not the `NAME.trace.json` beside them, sorted.
pub fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".json") && !n.ends_with(".trace.json"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The `format` every v1 scenario carries.
pub const FORMAT_V1: &str = "queue-playground/v1";

/// A shared, immutable name (exchange, queue, channel, connection, consumer tag).
pub type Name = Rc<str>;

/// An AMQP field table as JSON: header values, binding arguments.
pub type Table = Map<String, Value>;

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    pub steps: Vec<Step>,
}

/// One step: an op on a channel. Ops that are not channel methods (`broker.restart`,
/// `clock.advance`, `connection.close`) keep the default channel name and ignore it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub channel: Name,
    pub op: Op,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExchangeType {
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl ExchangeType {
    pub const ALL: [ExchangeType; 4] = [Self::Direct, Self::Fanout, Self::Topic, Self::Headers];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Fanout => "fanout",
            Self::Topic => "topic",
            Self::Headers => "headers",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    #[default]
    DropHead,
    RejectPublish,
    RejectPublishDlx,
}

impl Overflow {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DropHead => "drop-head",
            Self::RejectPublish => "reject-publish",
            Self::RejectPublishDlx => "reject-publish-dlx",
        }
    }
}

/// `queue.declare` arguments. Values are kept as given (signed) because RabbitMQ, not the
/// parser, judges their range: a negative TTL is a `406` from the broker, which the scenario
/// must be able to show.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash, serde::Serialize, serde::Deserialize)]
pub struct QueueArgs {
    pub message_ttl: Option<i64>,
    pub expires: Option<i64>,
    pub max_length: Option<i64>,
    pub max_length_bytes: Option<i64>,
    pub overflow: Option<Overflow>,
    pub dead_letter_exchange: Option<Name>,
    pub dead_letter_routing_key: Option<Name>,
    pub max_priority: Option<i64>,
}

/// Message properties of `basic.publish`, as the consumer sees them.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_mode: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Table>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

impl Properties {
    pub fn persistent(&self) -> bool {
        self.delivery_mode == Some(2)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    ExchangeDeclare {
        exchange: Name,
        kind: ExchangeType,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        passive: bool,
        alternate_exchange: Option<Name>,
    },
    ExchangeDelete {
        exchange: Name,
        if_unused: bool,
    },
    ExchangeBind {
        destination: Name,
        source: Name,
        routing_key: Name,
        arguments: Table,
    },
    ExchangeUnbind {
        destination: Name,
        source: Name,
        routing_key: Name,
        arguments: Table,
    },
    QueueDeclare {
        /// Empty asks the broker for a generated name.
        queue: Name,
        durable: bool,
        exclusive: bool,
        auto_delete: bool,
        passive: bool,
        arguments: QueueArgs,
    },
    QueueBind {
        queue: Name,
        exchange: Name,
        routing_key: Name,
        arguments: Table,
    },
    QueueUnbind {
        queue: Name,
        exchange: Name,
        routing_key: Name,
        arguments: Table,
    },
    QueuePurge {
        queue: Name,
    },
    QueueDelete {
        queue: Name,
        if_unused: bool,
        if_empty: bool,
    },
    BasicQos {
        prefetch_count: u16,
        global: bool,
    },
    BasicConsume {
        queue: Name,
        consumer_tag: Option<Name>,
        no_ack: bool,
        exclusive: bool,
    },
    BasicCancel {
        consumer_tag: Name,
    },
    BasicPublish {
        exchange: Name,
        routing_key: Name,
        body: Rc<str>,
        mandatory: bool,
        properties: Rc<Properties>,
    },
    BasicGet {
        queue: Name,
        no_ack: bool,
    },
    BasicAck {
        delivery_tag: u64,
        multiple: bool,
    },
    BasicNack {
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    },
    BasicReject {
        delivery_tag: u64,
        requeue: bool,
    },
    BasicRecover {
        requeue: bool,
    },
    TxSelect,
    TxCommit,
    TxRollback,
    ConfirmSelect,
    ChannelOpen {
        connection: Name,
    },
    ChannelClose,
    ConnectionClose {
        connection: Name,
    },
    BrokerRestart,
    ClockAdvance {
        ms: u64,
    },
}

impl Op {
    /// The op's name as written in a scenario (`"basic.publish"`).
    pub fn name(&self) -> &'static str {
        match self {
            Op::ExchangeDeclare { .. } => "exchange.declare",
            Op::ExchangeDelete { .. } => "exchange.delete",
            Op::ExchangeBind { .. } => "exchange.bind",
            Op::ExchangeUnbind { .. } => "exchange.unbind",
            Op::QueueDeclare { .. } => "queue.declare",
            Op::QueueBind { .. } => "queue.bind",
            Op::QueueUnbind { .. } => "queue.unbind",
            Op::QueuePurge { .. } => "queue.purge",
            Op::QueueDelete { .. } => "queue.delete",
            Op::BasicQos { .. } => "basic.qos",
            Op::BasicConsume { .. } => "basic.consume",
            Op::BasicCancel { .. } => "basic.cancel",
            Op::BasicPublish { .. } => "basic.publish",
            Op::BasicGet { .. } => "basic.get",
            Op::BasicAck { .. } => "basic.ack",
            Op::BasicNack { .. } => "basic.nack",
            Op::BasicReject { .. } => "basic.reject",
            Op::BasicRecover { .. } => "basic.recover",
            Op::TxSelect => "tx.select",
            Op::TxCommit => "tx.commit",
            Op::TxRollback => "tx.rollback",
            Op::ConfirmSelect => "confirm.select",
            Op::ChannelOpen { .. } => "channel.open",
            Op::ChannelClose => "channel.close",
            Op::ConnectionClose { .. } => "connection.close",
            Op::BrokerRestart => "broker.restart",
            Op::ClockAdvance { .. } => "clock.advance",
        }
    }

    /// Whether the op is a method on the step's channel (and so opens it on first use).
    pub fn is_channel_method(&self) -> bool {
        !matches!(
            self,
            Op::ConnectionClose { .. } | Op::BrokerRestart | Op::ClockAdvance { .. }
        )
    }
}

/// Why a scenario was refused: where (step, field) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// 0-based step index, when the error is inside `steps`.
    pub step: Option<usize>,
    /// The step's op, when it was readable.
    pub op: Option<String>,
    /// Dotted path of the field inside the step (or the document), e.g. `properties.priority`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        if let Some(step) = self.step {
            write!(f, "step {step}")?;
            if let Some(op) = &self.op {
                write!(f, " ({op})")?;
            }
            wrote = true;
        }
        if let Some(field) = &self.field {
            if wrote {
                f.write_str(", ")?;
            }
            write!(f, "field `{field}`")?;
            wrote = true;
        }
        if wrote {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}
