//! [`Scenario`] back to format v1 JSON: for export, share links and generated test cases.
//! Fields at their default are left out, so a parsed scenario writes back as its author would.

use serde_json::{json, Map, Value};

use super::{Op, QueueArgs, Scenario, Step, FORMAT_V1};

impl Scenario {
    pub fn to_json(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("format".into(), FORMAT_V1.into());
        doc.insert("name".into(), self.name.clone().into());
        if let Some(d) = &self.description {
            doc.insert("description".into(), d.clone().into());
        }
        doc.insert("seed".into(), self.seed.into());
        doc.insert(
            "steps".into(),
            Value::Array(self.steps.iter().map(Step::to_json).collect()),
        );
        Value::Object(doc)
    }

    /// Pretty JSON with one step a line, the layout of the files under `tests/scenarios`.
    pub fn to_pretty_json(&self) -> String {
        let doc = self.to_json();
        let mut out = String::from("{\n");
        for (key, value) in ordered(&doc, &["format", "name", "description", "seed"]) {
            if key == "steps" {
                continue;
            }
            out.push_str(&format!("  {}: {},\n", Value::from(key), value));
        }
        out.push_str("  \"steps\": [\n");
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| format!("    {}", one_line(&s.to_json())))
            .collect();
        out.push_str(&steps.join(",\n"));
        out.push_str("\n  ]\n}\n");
        out
    }
}

/// An object's members with the `first` keys in that order, then the others (sorted): people
/// read a step by its `op` and `channel` first.
fn ordered<'a>(value: &'a Value, first: &[&str]) -> Vec<(&'a str, &'a Value)> {
    let Some(map) = value.as_object() else {
        return Vec::new();
    };
    let mut members: Vec<(&str, &Value)> = first
        .iter()
        .filter_map(|k| map.get_key_value(*k))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    members.extend(
        map.iter()
            .filter(|(k, _)| !first.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v)),
    );
    members
}

/// A step on one line, as a person would type it: `{"op": "basic.ack", "delivery_tag": 1}`.
fn one_line(step: &Value) -> String {
    let members: Vec<String> = ordered(step, &["op", "channel"])
        .into_iter()
        .map(|(k, v)| format!("{}: {}", Value::from(k), v))
        .collect();
    format!("{{{}}}", members.join(", "))
}

impl Step {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("op".into(), self.op.name().into());
        if self.op.is_channel_method() && &*self.channel != "main" {
            m.insert("channel".into(), (*self.channel).into());
        }
        let mut put = |k: &str, v: Value| {
            m.insert(k.into(), v);
        };
        let flag = |put: &mut dyn FnMut(&str, Value), k: &str, v: bool, default: bool| {
            if v != default {
                put(k, v.into());
            }
        };
        match &self.op {
            Op::ExchangeDeclare {
                exchange,
                kind,
                durable,
                auto_delete,
                internal,
                passive,
                alternate_exchange,
            } => {
                put("exchange", (**exchange).into());
                put("type", kind.as_str().into());
                flag(&mut put, "durable", *durable, false);
                flag(&mut put, "auto_delete", *auto_delete, false);
                flag(&mut put, "internal", *internal, false);
                flag(&mut put, "passive", *passive, false);
                if let Some(ae) = alternate_exchange {
                    put("arguments", json!({ "alternate-exchange": &**ae }));
                }
            }
            Op::ExchangeDelete {
                exchange,
                if_unused,
            } => {
                put("exchange", (**exchange).into());
                flag(&mut put, "if_unused", *if_unused, false);
            }
            Op::ExchangeBind {
                destination,
                source,
                routing_key,
                arguments,
            }
            | Op::ExchangeUnbind {
                destination,
                source,
                routing_key,
                arguments,
            } => {
                put("destination", (**destination).into());
                put("source", (**source).into());
                put("routing_key", (**routing_key).into());
                if !arguments.is_empty() {
                    put("arguments", Value::Object(arguments.clone()));
                }
            }
            Op::QueueDeclare {
                queue,
                durable,
                exclusive,
                auto_delete,
                passive,
                arguments,
            } => {
                put("queue", (**queue).into());
                flag(&mut put, "durable", *durable, false);
                flag(&mut put, "exclusive", *exclusive, false);
                flag(&mut put, "auto_delete", *auto_delete, false);
                flag(&mut put, "passive", *passive, false);
                if *arguments != QueueArgs::default() {
                    put("arguments", queue_args(arguments));
                }
            }
            Op::QueueBind {
                queue,
                exchange,
                routing_key,
                arguments,
            }
            | Op::QueueUnbind {
                queue,
                exchange,
                routing_key,
                arguments,
            } => {
                put("queue", (**queue).into());
                put("exchange", (**exchange).into());
                put("routing_key", (**routing_key).into());
                if !arguments.is_empty() {
                    put("arguments", Value::Object(arguments.clone()));
                }
            }
            Op::QueuePurge { queue } => put("queue", (**queue).into()),
            Op::QueueDelete {
                queue,
                if_unused,
                if_empty,
            } => {
                put("queue", (**queue).into());
                flag(&mut put, "if_unused", *if_unused, false);
                flag(&mut put, "if_empty", *if_empty, false);
            }
            Op::BasicQos {
                prefetch_count,
                global,
            } => {
                put("prefetch_count", (*prefetch_count).into());
                flag(&mut put, "global", *global, false);
            }
            Op::BasicConsume {
                queue,
                consumer_tag,
                no_ack,
                exclusive,
            } => {
                put("queue", (**queue).into());
                if let Some(tag) = consumer_tag {
                    put("consumer_tag", (**tag).into());
                }
                flag(&mut put, "no_ack", *no_ack, false);
                flag(&mut put, "exclusive", *exclusive, false);
            }
            Op::BasicCancel { consumer_tag } => put("consumer_tag", (**consumer_tag).into()),
            Op::BasicPublish {
                exchange,
                routing_key,
                body,
                mandatory,
                properties,
            } => {
                put("exchange", (**exchange).into());
                put("routing_key", (**routing_key).into());
                put("body", (**body).into());
                flag(&mut put, "mandatory", *mandatory, false);
                if **properties != Default::default() {
                    put(
                        "properties",
                        serde_json::to_value(&**properties).expect("properties serialize"),
                    );
                }
            }
            Op::BasicGet { queue, no_ack } => {
                put("queue", (**queue).into());
                flag(&mut put, "no_ack", *no_ack, false);
            }
            Op::BasicAck {
                delivery_tag,
                multiple,
            } => {
                put("delivery_tag", (*delivery_tag).into());
                flag(&mut put, "multiple", *multiple, false);
            }
            Op::BasicNack {
                delivery_tag,
                multiple,
                requeue,
            } => {
                put("delivery_tag", (*delivery_tag).into());
                flag(&mut put, "multiple", *multiple, false);
                flag(&mut put, "requeue", *requeue, true);
            }
            Op::BasicReject {
                delivery_tag,
                requeue,
            } => {
                put("delivery_tag", (*delivery_tag).into());
                flag(&mut put, "requeue", *requeue, true);
            }
            Op::BasicRecover { requeue } => flag(&mut put, "requeue", *requeue, true),
            Op::ChannelOpen { connection } | Op::ConnectionClose { connection } => {
                if &**connection != "main" {
                    put("connection", (**connection).into());
                }
            }
            Op::ClockAdvance { ms } => put("ms", (*ms).into()),
            Op::TxSelect
            | Op::TxCommit
            | Op::TxRollback
            | Op::ConfirmSelect
            | Op::ChannelClose
            | Op::BrokerRestart => {}
        }
        Value::Object(m)
    }
}

fn queue_args(a: &QueueArgs) -> Value {
    let mut m = Map::new();
    let ints = [
        ("x-message-ttl", a.message_ttl),
        ("x-expires", a.expires),
        ("x-max-length", a.max_length),
        ("x-max-length-bytes", a.max_length_bytes),
        ("x-max-priority", a.max_priority),
    ];
    for (k, v) in ints {
        if let Some(v) = v {
            m.insert(k.into(), v.into());
        }
    }
    if let Some(o) = a.overflow {
        m.insert("x-overflow".into(), o.as_str().into());
    }
    if let Some(x) = &a.dead_letter_exchange {
        m.insert("x-dead-letter-exchange".into(), (**x).into());
    }
    if let Some(k) = &a.dead_letter_routing_key {
        m.insert("x-dead-letter-routing-key".into(), (**k).into());
    }
    Value::Object(m)
}
