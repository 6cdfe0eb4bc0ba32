//! A scenario as a Python program using `pika`'s `BlockingConnection`: a fixed prelude of small
//! helpers (`pika_prelude.py`: channels by name, events printed as trace JSON lines, a step's
//! errors and settling), then one `with step(...)` block per step, in order.

use std::fmt::Write;

use serde_json::Value;

use super::definitions::queue_arguments;
use super::{comment, plain_char};
use crate::scenario::{Op, Properties, Scenario, Step, Table};

const PRELUDE: &str = include_str!("pika_prelude.py");

/// A Python string literal for any text: ASCII quotes, everything outside [`plain_char`]
/// escaped, so nothing in `s` can end the literal or change how the program reads.
pub(crate) fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if plain_char(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// A JSON value (header or argument) as a Python literal.
fn py_value(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.is_finite() => format!("{f:?}"),
            _ => "None".into(),
        },
        Value::String(s) => py_str(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(py_value).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => py_dict(map),
    }
}

fn py_dict(map: &Table) -> String {
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}: {}", py_str(k), py_value(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// Keyword arguments of a call, written only when they differ from pika's defaults.
#[derive(Default)]
struct Args(Vec<String>);

impl Args {
    fn put(mut self, key: &str, value: String) -> Self {
        self.0.push(format!("{key}={value}"));
        self
    }
    fn text(self, key: &str, value: &str) -> Self {
        self.put(key, py_str(value))
    }
    fn flag(self, key: &str, value: bool) -> Self {
        if value {
            self.put(key, "True".into())
        } else {
            self
        }
    }
    fn table(self, key: &str, value: &Table) -> Self {
        if value.is_empty() {
            self
        } else {
            self.put(key, py_dict(value))
        }
    }
    fn join(&self) -> String {
        self.0.join(", ")
    }
}

fn properties(p: &Properties) -> Option<String> {
    let mut a = Args::default();
    if let Some(m) = p.delivery_mode {
        a = a.put("delivery_mode", m.to_string());
    }
    if let Some(e) = &p.expiration {
        a = a.text("expiration", e);
    }
    if let Some(pr) = p.priority {
        a = a.put("priority", pr.to_string());
    }
    if let Some(h) = &p.headers {
        a = a.put("headers", py_dict(h));
    }
    for (key, value) in [
        ("message_id", &p.message_id),
        ("correlation_id", &p.correlation_id),
        ("reply_to", &p.reply_to),
        ("content_type", &p.content_type),
    ] {
        if let Some(v) = value {
            a = a.text(key, v);
        }
    }
    (!a.0.is_empty()).then(|| format!("pika.BasicProperties({})", a.join()))
}

/// The body of one step's `with` block (indented).
fn step_code(step: &Step) -> String {
    let ch = py_str(&step.channel);
    let on = format!("channel({ch})");
    match &step.op {
        Op::ExchangeDeclare {
            exchange,
            kind,
            durable,
            auto_delete,
            internal,
            passive,
            alternate_exchange,
        } => {
            let mut args = Table::new();
            if let Some(ae) = alternate_exchange {
                args.insert("alternate-exchange".into(), Value::from(ae.as_ref()));
            }
            let a = Args::default()
                .text("exchange", exchange)
                .text("exchange_type", kind.as_str())
                .flag("passive", *passive)
                .flag("durable", *durable)
                .flag("auto_delete", *auto_delete)
                .flag("internal", *internal)
                .table("arguments", &args);
            format!("{on}.exchange_declare({})", a.join())
        }
        Op::ExchangeDelete {
            exchange,
            if_unused,
        } => {
            let a = Args::default()
                .text("exchange", exchange)
                .flag("if_unused", *if_unused);
            format!("{on}.exchange_delete({})", a.join())
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
            let method = if matches!(step.op, Op::ExchangeBind { .. }) {
                "exchange_bind"
            } else {
                "exchange_unbind"
            };
            let a = Args::default()
                .text("destination", destination)
                .text("source", source)
                .text("routing_key", routing_key)
                .table("arguments", arguments);
            format!("{on}.{method}({})", a.join())
        }
        Op::QueueDeclare {
            queue,
            durable,
            exclusive,
            auto_delete,
            passive,
            arguments,
        } => {
            let a = Args::default()
                .text("queue", queue)
                .flag("passive", *passive)
                .flag("durable", *durable)
                .flag("exclusive", *exclusive)
                .flag("auto_delete", *auto_delete)
                .table("arguments", &queue_arguments(arguments));
            format!("declare_ok({ch}, {on}.queue_declare({}))", a.join())
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
            let method = if matches!(step.op, Op::QueueBind { .. }) {
                "queue_bind"
            } else {
                "queue_unbind"
            };
            // Always written: pika binds with the queue's name when the key is left out.
            let a = Args::default()
                .text("queue", queue)
                .text("exchange", exchange)
                .text("routing_key", routing_key)
                .table("arguments", arguments);
            format!("{on}.{method}({})", a.join())
        }
        Op::QueuePurge { queue } => format!(
            "ok = {on}.queue_purge(queue={q})\n\
             emit(\"queue.purge-ok\", queue=queue_name({ch}, {q}), message_count=ok.method.message_count)",
            q = py_str(queue)
        ),
        Op::QueueDelete {
            queue,
            if_unused,
            if_empty,
        } => {
            let a = Args::default()
                .text("queue", queue)
                .flag("if_unused", *if_unused)
                .flag("if_empty", *if_empty);
            format!(
                "name = queue_name({ch}, {q})\n\
                 ok = {on}.queue_delete({})\n\
                 emit(\"queue.delete-ok\", queue=name, message_count=ok.method.message_count)",
                a.join(),
                q = py_str(queue)
            )
        }
        Op::BasicQos {
            prefetch_count,
            global,
        } => {
            let a = Args::default()
                .put("prefetch_count", prefetch_count.to_string())
                .flag("global_qos", *global);
            format!("{on}.basic_qos({})", a.join())
        }
        Op::BasicConsume {
            queue,
            consumer_tag,
            no_ack,
            exclusive,
        } => {
            let mut a = Args::default()
                .text("queue", queue)
                .flag("auto_ack", *no_ack)
                .flag("exclusive", *exclusive);
            if let Some(tag) = consumer_tag {
                a = a.text("consumer_tag", tag);
            }
            format!("consume({ch}, {})", a.join())
        }
        Op::BasicCancel { consumer_tag } => {
            format!("{on}.basic_cancel(consumer_tag={})", py_str(consumer_tag))
        }
        Op::BasicPublish {
            exchange,
            routing_key,
            body,
            mandatory,
            properties: p,
        } => {
            let mut a = Args::default()
                .text("exchange", exchange)
                .text("routing_key", routing_key)
                .text("body", body)
                .flag("mandatory", *mandatory);
            if let Some(p) = properties(p) {
                a = a.put("properties", p);
            }
            format!("publish({ch}, {})", a.join())
        }
        Op::BasicGet { queue, no_ack } => {
            let a = Args::default()
                .text("queue", queue)
                .flag("auto_ack", *no_ack);
            format!("get({ch}, {})", a.join())
        }
        Op::BasicAck {
            delivery_tag,
            multiple,
        } => {
            let a = Args::default()
                .put("delivery_tag", delivery_tag.to_string())
                .flag("multiple", *multiple);
            format!("ch = {on}\nch.basic_ack({})\nsync(ch)", a.join())
        }
        Op::BasicNack {
            delivery_tag,
            multiple,
            requeue,
        } => {
            let mut a = Args::default()
                .put("delivery_tag", delivery_tag.to_string())
                .flag("multiple", *multiple);
            if !requeue {
                a = a.put("requeue", "False".into());
            }
            format!("ch = {on}\nch.basic_nack({})\nsync(ch)", a.join())
        }
        Op::BasicReject {
            delivery_tag,
            requeue,
        } => {
            let mut a = Args::default().put("delivery_tag", delivery_tag.to_string());
            if !requeue {
                a = a.put("requeue", "False".into());
            }
            format!("ch = {on}\nch.basic_reject({})\nsync(ch)", a.join())
        }
        // pika's default is requeue=False, the scenario's True: always written.
        Op::BasicRecover { requeue } => {
            format!("{on}.basic_recover(requeue={})", py_bool(*requeue))
        }
        Op::TxSelect => format!("{on}.tx_select()"),
        Op::TxCommit => format!("{on}.tx_commit()"),
        Op::TxRollback => format!("{on}.tx_rollback()"),
        Op::ConfirmSelect => format!("confirm_select({ch})"),
        Op::ChannelOpen { connection } => {
            format!("open_channel({ch}, {})", py_str(connection))
        }
        Op::ChannelClose => format!("close_channel({ch})"),
        Op::ConnectionClose { connection } => format!("close_connection({})", py_str(connection)),
        Op::BrokerRestart => "# A clean restart of the node: durable exchanges, queues, bindings and persistent\n\
             # messages survive; every connection is closed.\n\
             restart_broker()"
            .into(),
        Op::ClockAdvance { ms } => format!(
            "# Real time stands in for the scenario's virtual clock (TTLs, x-expires).\n\
             time.sleep({ms} / 1000)"
        ),
    }
}

pub fn program(scenario: &Scenario) -> String {
    let mut out = String::from("#!/usr/bin/env python3\n");
    out.push_str(&comment("#", &scenario.name));
    if let Some(d) = scenario.description.as_deref().filter(|d| !d.is_empty()) {
        out.push_str("#\n");
        out.push_str(&comment("#", d));
    }
    out.push_str(
        "#\n\
         # Exported from queue-playground: the scenario's steps, in order, on a real RabbitMQ.\n\
         # Prints what the broker sends back, one JSON object a line (the playground's trace\n\
         # format: basic.deliver, basic.get-ok, basic.return, confirms, channel.close, ...).\n\
         # Needs pika 1.3 or later (`pip install pika`). AMQP_URL picks the broker; set\n\
         # RABBITMQ_NODE to let broker.restart run `rabbitmqctl -n NODE stop_app/start_app`.\n\
         # What pika cannot do is reported on stderr when it comes up: opening a channel that\n\
         # is open, a consumer tag already in use on its channel; consumers without a tag get\n\
         # pika's own names (ctag1.…) instead of the broker's (amq.ctag-…).\n\n",
    );
    out.push_str(PRELUDE);
    out.push_str("\n\n# The scenario.\n");
    for (i, step) in scenario.steps.iter().enumerate() {
        let header = match &step.op {
            Op::ConnectionClose { connection } => {
                format!("with step({i}, connection={}):", py_str(connection))
            }
            Op::BrokerRestart | Op::ClockAdvance { .. } => format!("with step({i}):"),
            _ => format!("with step({i}, {}):", py_str(&step.channel)),
        };
        let _ = writeln!(out, "\n# {i}: {}", step.op.name());
        out.push_str(&header);
        out.push('\n');
        for line in step_code(step).lines() {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(
        "\n# Done: hang up (unacked messages go back to their queues; not part of the output).\n\
         for c in connections.values():\n    if c.is_open:\n        c.close()\n",
    );
    out
}
