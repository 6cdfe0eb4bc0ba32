//! Scenario JSON to [`Scenario`], with errors a person can act on.
//!
//! Hand-written over `serde_json::Value` rather than derived, so that every error can name the
//! step index, the op, the dotted field path and what was expected, and so that an unknown field
//! lists the fields the op does take.

use std::rc::Rc;

use serde_json::{Map, Value};

use super::{
    ExchangeType, Name, Op, Overflow, Properties, QueueArgs, Scenario, ScenarioError, Step, Table,
    FORMAT_V1,
};

/// Bounds on what a scenario may ask for, so that hostile input cannot exhaust memory or time.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_text_bytes: usize,
    pub max_steps: usize,
    pub max_body_bytes: usize,
    /// AMQP short strings (names, routing keys, tags) hold at most 255 bytes.
    pub max_name_bytes: usize,
    pub max_clock_advance_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_bytes: 64 << 20,
            max_steps: 100_000,
            max_body_bytes: 4 << 20,
            max_name_bytes: 255,
            // Ten years of virtual time in one step is already more than any TTL needs.
            max_clock_advance_ms: 10 * 365 * 24 * 3600 * 1000,
        }
    }
}

/// Parses and validates scenario text (format v1).
pub fn parse(text: &str, limits: &Limits) -> Result<Scenario, ScenarioError> {
    let value = read_json(text, limits)?;
    let Value::Object(map) = value else {
        return Err(doc_error(
            None,
            format!("expected a JSON object, found {}", describe(&value)),
        ));
    };
    let mut doc = Fields::new(&map, Place::Document, limits);
    let format = doc.required_str("format")?;
    if format != FORMAT_V1 {
        return Err(doc.error(
            "format",
            format!("expected \"{FORMAT_V1}\", found \"{format}\""),
        ));
    }
    let name = doc.str("name")?.unwrap_or_default().to_owned();
    let description = doc.str("description")?.map(str::to_owned);
    let seed = doc.u64("seed")?.unwrap_or(0);
    let steps_value = doc.required("steps")?;
    let Value::Array(items) = steps_value else {
        return Err(doc.error(
            "steps",
            format!(
                "expected an array of steps, found {}",
                describe(steps_value)
            ),
        ));
    };
    doc.finish()?;
    if items.len() > limits.max_steps {
        return Err(doc_error(
            Some("steps"),
            format!(
                "{} steps; at most {} are accepted",
                items.len(),
                limits.max_steps
            ),
        ));
    }
    let steps = items
        .iter()
        .enumerate()
        .map(|(index, item)| read_step(index, item, limits))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Scenario {
        name,
        description,
        seed,
        steps,
    })
}

/// Parses and validates one step's text as step `index` of a scenario: for callers that apply
/// steps one at a time (the JavaScript `Broker.apply`). Every error names step `index`.
pub fn parse_step(text: &str, index: usize, limits: &Limits) -> Result<Step, ScenarioError> {
    let value = read_json(text, limits).map_err(|e| ScenarioError {
        step: Some(index),
        ..e
    })?;
    read_step(index, &value, limits)
}

/// The JSON value of scenario (or step) text, refused when over the size limit.
fn read_json(text: &str, limits: &Limits) -> Result<Value, ScenarioError> {
    if text.len() > limits.max_text_bytes {
        return Err(doc_error(
            None,
            format!(
                "the scenario is {} bytes; at most {} are accepted",
                text.len(),
                limits.max_text_bytes
            ),
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        // serde_json ends its message with the position; say it once, first.
        let message = e.to_string();
        let reason = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(reason, _)| reason);
        doc_error(
            None,
            format!(
                "not valid JSON at line {}, column {}: {reason}",
                e.line(),
                e.column()
            ),
        )
    })
}

fn doc_error(field: Option<&str>, message: String) -> ScenarioError {
    ScenarioError {
        step: None,
        op: None,
        field: field.map(str::to_owned),
        message,
    }
}

/// Where a set of fields sits, for error messages.
#[derive(Clone, Copy)]
enum Place<'a> {
    Document,
    Step { index: usize, op: Option<&'a str> },
}

/// Reads the fields of one JSON object, remembering which were asked for so that anything left
/// over is reported as unknown.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    place: Place<'a>,
    /// Prefix of nested objects (`properties.`).
    prefix: String,
    known: Vec<&'static str>,
    limits: &'a Limits,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>, place: Place<'a>, limits: &'a Limits) -> Self {
        Fields {
            map,
            place,
            prefix: String::new(),
            known: Vec::new(),
            limits,
        }
    }

    fn nested(&self, key: &str, map: &'a Map<String, Value>) -> Fields<'a> {
        Fields {
            map,
            place: self.place,
            prefix: format!("{}{key}.", self.prefix),
            known: Vec::new(),
            limits: self.limits,
        }
    }

    fn error(&self, key: &str, message: String) -> ScenarioError {
        let (step, op) = match self.place {
            Place::Document => (None, None),
            Place::Step { index, op } => (Some(index), op.map(str::to_owned)),
        };
        ScenarioError {
            step,
            op,
            field: Some(format!("{}{key}", self.prefix)),
            message,
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.push(key);
        self.map.get(key)
    }

    fn required(&mut self, key: &'static str) -> Result<&'a Value, ScenarioError> {
        self.get(key)
            .ok_or_else(|| self.error(key, "is required but missing".into()))
    }

    fn str(&mut self, key: &'static str) -> Result<Option<&'a str>, ScenarioError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => {
                Err(self.error(key, format!("expected a string, found {}", describe(other))))
            }
        }
    }

    fn required_str(&mut self, key: &'static str) -> Result<&'a str, ScenarioError> {
        self.str(key)?
            .ok_or_else(|| self.error(key, "is required but missing".into()))
    }

    fn bool(&mut self, key: &'static str, default: bool) -> Result<bool, ScenarioError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.error(
                key,
                format!("expected true or false, found {}", describe(other)),
            )),
        }
    }

    fn u64(&mut self, key: &'static str) -> Result<Option<u64>, ScenarioError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(other) => Err(self.error(
                key,
                format!(
                    "expected a whole number (0 or more), found {}",
                    describe(other)
                ),
            )),
        }
    }

    fn bounded(&mut self, key: &'static str, max: u64) -> Result<Option<u64>, ScenarioError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v <= max) => Ok(n.as_u64()),
            Some(other) => Err(self.error(
                key,
                format!(
                    "expected a whole number from 0 to {max}, found {}",
                    describe(other)
                ),
            )),
        }
    }

    /// A short string (exchange, queue, routing key, tag): at most 255 bytes, may be empty.
    fn short_str(&mut self, key: &'static str, default: &str) -> Result<Name, ScenarioError> {
        let value = self.str(key)?.unwrap_or(default);
        self.check_short(key, value)?;
        Ok(Name::from(value))
    }

    fn required_short_str(&mut self, key: &'static str) -> Result<Name, ScenarioError> {
        let value = self.required_str(key)?;
        self.check_short(key, value)?;
        Ok(Name::from(value))
    }

    fn check_short(&self, key: &str, value: &str) -> Result<(), ScenarioError> {
        if value.len() > self.limits.max_name_bytes {
            return Err(self.error(
                key,
                format!(
                    "is {} bytes long; AMQP allows at most {} bytes",
                    value.len(),
                    self.limits.max_name_bytes
                ),
            ));
        }
        Ok(())
    }

    fn table(&mut self, key: &'static str) -> Result<Table, ScenarioError> {
        match self.get(key) {
            None => Ok(Table::new()),
            Some(Value::Object(map)) => Ok(map.clone()),
            Some(other) => Err(self.error(
                key,
                format!(
                    "expected an object (a field table), found {}",
                    describe(other)
                ),
            )),
        }
    }

    fn object(
        &mut self,
        key: &'static str,
    ) -> Result<Option<&'a Map<String, Value>>, ScenarioError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(self.error(
                key,
                format!("expected an object, found {}", describe(other)),
            )),
        }
    }

    /// Every field must have been asked for: anything else is a typo or an unsupported field.
    fn finish(self) -> Result<(), ScenarioError> {
        let unknown = self.map.keys().find(|k| !self.known.contains(&k.as_str()));
        match unknown {
            None => Ok(()),
            Some(key) => {
                let takes = if self.known.is_empty() {
                    "no fields".to_owned()
                } else {
                    self.known.join(", ")
                };
                let what = match (self.place, self.prefix.is_empty()) {
                    (Place::Step { op: Some(op), .. }, true) => format!("{op} takes: {takes}"),
                    _ => format!("expected one of: {takes}"),
                };
                Err(self.error(key, format!("unknown field; {what}")))
            }
        }
    }
}

/// A short, safe description of a JSON value for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.len() <= 40 => format!("the string {s:?}"),
        Value::String(s) => format!("a string of {} bytes", s.len()),
        Value::Array(a) if a.len() == 1 => "an array of 1 item".into(),
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

/// Every op the format knows, by the name scenarios write.
pub const OPS: &[&str] = &[
    "exchange.declare",
    "exchange.delete",
    "exchange.bind",
    "exchange.unbind",
    "queue.declare",
    "queue.bind",
    "queue.unbind",
    "queue.purge",
    "queue.delete",
    "basic.qos",
    "basic.consume",
    "basic.cancel",
    "basic.publish",
    "basic.get",
    "basic.ack",
    "basic.nack",
    "basic.reject",
    "basic.recover",
    "tx.select",
    "tx.commit",
    "tx.rollback",
    "confirm.select",
    "channel.open",
    "channel.close",
    "connection.close",
    "broker.restart",
    "clock.advance",
];

fn read_step(index: usize, item: &Value, limits: &Limits) -> Result<Step, ScenarioError> {
    let Value::Object(map) = item else {
        return Err(ScenarioError {
            step: Some(index),
            op: None,
            field: None,
            message: format!("expected a step object, found {}", describe(item)),
        });
    };
    let mut f = Fields::new(map, Place::Step { index, op: None }, limits);
    let op_name = f.required_str("op")?;
    let Some(&op_name) = OPS.iter().find(|&&known| known == op_name) else {
        return Err(f.error(
            "op",
            format!(
                "unknown op \"{op_name}\"; expected one of: {}",
                OPS.join(", ")
            ),
        ));
    };
    f.place = Place::Step {
        index,
        op: Some(op_name),
    };
    let op = parse_op(op_name, &mut f)?;
    let channel = if op.is_channel_method() {
        let channel = f.short_str("channel", "main")?;
        if channel.is_empty() {
            return Err(f.error("channel", "must not be empty".into()));
        }
        channel
    } else {
        Name::from("main")
    };
    f.finish()?;
    Ok(Step { channel, op })
}

fn parse_op(op: &str, f: &mut Fields<'_>) -> Result<Op, ScenarioError> {
    Ok(match op {
        "exchange.declare" => {
            let exchange = f.required_short_str("exchange")?;
            let passive = f.bool("passive", false)?;
            let kind = match f.str("type")? {
                None if passive => ExchangeType::Direct,
                None => return Err(f.error("type", "is required unless `passive` is true".into())),
                Some(t) => ExchangeType::ALL
                    .into_iter()
                    .find(|k| k.as_str() == t)
                    .ok_or_else(|| {
                        f.error(
                            "type",
                            format!(
                                "unknown exchange type \"{t}\"; expected direct, fanout, topic or headers"
                            ),
                        )
                    })?,
            };
            if exchange.is_empty() {
                return Err(f.error(
                    "exchange",
                    "the default exchange \"\" cannot be declared; name the exchange".into(),
                ));
            }
            if !passive {
                reserved(f, "exchange", &exchange)?;
            }
            let alternate_exchange = match f.object("arguments")? {
                None => None,
                Some(args) => {
                    let mut a = f.nested("arguments", args);
                    let ae = a.str("alternate-exchange")?;
                    if let Some(ae) = ae {
                        a.check_short("alternate-exchange", ae)?;
                    }
                    let ae = ae.map(Name::from);
                    a.finish()?;
                    ae
                }
            };
            Op::ExchangeDeclare {
                exchange,
                kind,
                durable: f.bool("durable", false)?,
                auto_delete: f.bool("auto_delete", false)?,
                internal: f.bool("internal", false)?,
                passive,
                alternate_exchange,
            }
        }
        "exchange.delete" => Op::ExchangeDelete {
            exchange: f.required_short_str("exchange")?,
            if_unused: f.bool("if_unused", false)?,
        },
        "exchange.bind" | "exchange.unbind" => {
            let destination = f.required_short_str("destination")?;
            let source = f.required_short_str("source")?;
            let routing_key = f.short_str("routing_key", "")?;
            let arguments = f.table("arguments")?;
            if op == "exchange.bind" {
                Op::ExchangeBind {
                    destination,
                    source,
                    routing_key,
                    arguments,
                }
            } else {
                Op::ExchangeUnbind {
                    destination,
                    source,
                    routing_key,
                    arguments,
                }
            }
        }
        "queue.declare" => {
            let queue = f.short_str("queue", "")?;
            let passive = f.bool("passive", false)?;
            if !passive {
                reserved(f, "queue", &queue)?;
            }
            let arguments = match f.object("arguments")? {
                None => QueueArgs::default(),
                Some(args) => queue_args(f, args)?,
            };
            Op::QueueDeclare {
                queue,
                durable: f.bool("durable", false)?,
                exclusive: f.bool("exclusive", false)?,
                auto_delete: f.bool("auto_delete", false)?,
                passive,
                arguments,
            }
        }
        "queue.bind" | "queue.unbind" => {
            let queue = f.required_short_str("queue")?;
            let exchange = f.required_short_str("exchange")?;
            let routing_key = f.short_str("routing_key", "")?;
            let arguments = f.table("arguments")?;
            if op == "queue.bind" {
                Op::QueueBind {
                    queue,
                    exchange,
                    routing_key,
                    arguments,
                }
            } else {
                Op::QueueUnbind {
                    queue,
                    exchange,
                    routing_key,
                    arguments,
                }
            }
        }
        "queue.purge" => Op::QueuePurge {
            queue: f.required_short_str("queue")?,
        },
        "queue.delete" => Op::QueueDelete {
            queue: f.required_short_str("queue")?,
            if_unused: f.bool("if_unused", false)?,
            if_empty: f.bool("if_empty", false)?,
        },
        "basic.qos" => Op::BasicQos {
            prefetch_count: f.bounded("prefetch_count", u16::MAX.into())?.unwrap_or(0) as u16,
            global: f.bool("global", false)?,
        },
        "basic.consume" => {
            let queue = f.required_short_str("queue")?;
            let consumer_tag = match f.str("consumer_tag")? {
                None | Some("") => None,
                Some(tag) => {
                    f.check_short("consumer_tag", tag)?;
                    Some(Name::from(tag))
                }
            };
            Op::BasicConsume {
                queue,
                consumer_tag,
                no_ack: f.bool("no_ack", false)?,
                exclusive: f.bool("exclusive", false)?,
            }
        }
        "basic.cancel" => Op::BasicCancel {
            consumer_tag: f.required_short_str("consumer_tag")?,
        },
        "basic.publish" => {
            let exchange = f.short_str("exchange", "")?;
            let routing_key = f.short_str("routing_key", "")?;
            let body = f.str("body")?.unwrap_or("");
            if body.len() > f.limits.max_body_bytes {
                return Err(f.error(
                    "body",
                    format!(
                        "is {} bytes; at most {} bytes are accepted",
                        body.len(),
                        f.limits.max_body_bytes
                    ),
                ));
            }
            let properties = match f.object("properties")? {
                None => Properties::default(),
                Some(props) => properties(f, props)?,
            };
            Op::BasicPublish {
                exchange,
                routing_key,
                body: Rc::from(body),
                mandatory: f.bool("mandatory", false)?,
                properties: Rc::new(properties),
            }
        }
        "basic.get" => Op::BasicGet {
            queue: f.required_short_str("queue")?,
            no_ack: f.bool("no_ack", false)?,
        },
        "basic.ack" => Op::BasicAck {
            delivery_tag: required_tag(f)?,
            multiple: f.bool("multiple", false)?,
        },
        "basic.nack" => Op::BasicNack {
            delivery_tag: required_tag(f)?,
            multiple: f.bool("multiple", false)?,
            requeue: f.bool("requeue", true)?,
        },
        "basic.reject" => Op::BasicReject {
            delivery_tag: required_tag(f)?,
            requeue: f.bool("requeue", true)?,
        },
        "basic.recover" => Op::BasicRecover {
            requeue: f.bool("requeue", true)?,
        },
        "tx.select" => Op::TxSelect,
        "tx.commit" => Op::TxCommit,
        "tx.rollback" => Op::TxRollback,
        "confirm.select" => Op::ConfirmSelect,
        "channel.open" => Op::ChannelOpen {
            connection: connection_name(f)?,
        },
        "channel.close" => Op::ChannelClose,
        "connection.close" => Op::ConnectionClose {
            connection: connection_name(f)?,
        },
        "broker.restart" => Op::BrokerRestart,
        "clock.advance" => {
            let max = f.limits.max_clock_advance_ms;
            let ms = f
                .bounded("ms", max)?
                .ok_or_else(|| f.error("ms", "is required but missing".into()))?;
            Op::ClockAdvance { ms }
        }
        _ => unreachable!("OPS lists exactly the ops matched here"),
    })
}

fn connection_name(f: &mut Fields<'_>) -> Result<Name, ScenarioError> {
    let name = f.short_str("connection", "main")?;
    if name.is_empty() {
        return Err(f.error("connection", "must not be empty".into()));
    }
    Ok(name)
}

fn required_tag(f: &mut Fields<'_>) -> Result<u64, ScenarioError> {
    f.u64("delivery_tag")?
        .ok_or_else(|| f.error("delivery_tag", "is required but missing".into()))
}

/// `amq.` names belong to the broker; RabbitMQ refuses to declare them.
fn reserved(f: &Fields<'_>, key: &str, name: &str) -> Result<(), ScenarioError> {
    if name.starts_with("amq.") {
        return Err(f.error(
            key,
            format!("\"{name}\" starts with \"amq.\", a prefix reserved for the broker; choose another name"),
        ));
    }
    Ok(())
}

fn queue_args(f: &Fields<'_>, args: &Map<String, Value>) -> Result<QueueArgs, ScenarioError> {
    let mut a = f.nested("arguments", args);
    let int = |a: &mut Fields<'_>, key: &'static str| -> Result<Option<i64>, ScenarioError> {
        match a.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
            Some(other) => Err(a.error(
                key,
                format!("expected a whole number, found {}", describe(other)),
            )),
        }
    };
    let message_ttl = int(&mut a, "x-message-ttl")?;
    let expires = int(&mut a, "x-expires")?;
    let max_length = int(&mut a, "x-max-length")?;
    let max_length_bytes = int(&mut a, "x-max-length-bytes")?;
    let overflow = match a.str("x-overflow")? {
        None => None,
        Some("drop-head") => Some(Overflow::DropHead),
        Some("reject-publish") => Some(Overflow::RejectPublish),
        Some("reject-publish-dlx") => Some(Overflow::RejectPublishDlx),
        Some(other) => {
            return Err(a.error(
                "x-overflow",
                format!("unknown overflow \"{other}\"; expected drop-head, reject-publish or reject-publish-dlx"),
            ))
        }
    };
    let mut short = |key: &'static str| -> Result<Option<Name>, ScenarioError> {
        let value = a.str(key)?;
        if let Some(v) = value {
            a.check_short(key, v)?;
        }
        Ok(value.map(Name::from))
    };
    let dead_letter_exchange = short("x-dead-letter-exchange")?;
    let dead_letter_routing_key = short("x-dead-letter-routing-key")?;
    let max_priority = int(&mut a, "x-max-priority")?;
    a.finish()?;
    Ok(QueueArgs {
        message_ttl,
        expires,
        max_length,
        max_length_bytes,
        overflow,
        dead_letter_exchange,
        dead_letter_routing_key,
        max_priority,
    })
}

fn properties(f: &Fields<'_>, props: &Map<String, Value>) -> Result<Properties, ScenarioError> {
    let mut p = f.nested("properties", props);
    let delivery_mode = match p.get("delivery_mode") {
        None => None,
        Some(Value::Number(n)) if matches!(n.as_u64(), Some(1 | 2)) => n.as_u64().map(|v| v as u8),
        Some(other) => {
            return Err(p.error(
                "delivery_mode",
                format!(
                    "expected 1 (transient) or 2 (persistent), found {}",
                    describe(other)
                ),
            ))
        }
    };
    let expiration = match p.get("expiration") {
        None => None,
        Some(Value::String(s)) => {
            p.check_short("expiration", s)?;
            Some(s.clone())
        }
        Some(other) => {
            return Err(p.error(
                "expiration",
                format!(
                    "expected a string of milliseconds such as \"60000\", found {}",
                    describe(other)
                ),
            ))
        }
    };
    let priority = p.bounded("priority", 255)?.map(|v| v as u8);
    let headers = p.object("headers")?.cloned();
    let short = |p: &mut Fields<'_>, key: &'static str| -> Result<Option<String>, ScenarioError> {
        let value = p.str(key)?;
        if let Some(v) = value {
            p.check_short(key, v)?;
        }
        Ok(value.map(str::to_owned))
    };
    let message_id = short(&mut p, "message_id")?;
    let correlation_id = short(&mut p, "correlation_id")?;
    let reply_to = short(&mut p, "reply_to")?;
    let content_type = short(&mut p, "content_type")?;
    p.finish()?;
    Ok(Properties {
        delivery_mode,
        expiration,
        priority,
        headers,
        message_id,
        correlation_id,
        reply_to,
        content_type,
    })
}
