//! A scenario as a Rust program using `lapin` (4.x) on tokio: a small fixed prelude (channels
//! by name, opened on first use; what the broker sends printed a line each), then the steps in
//! order in `main`, each in its own `async` block whose error is printed, not fatal.

use std::fmt::Write;

use serde_json::Value;

use super::definitions::queue_arguments;
use super::{comment, plain_char};
use crate::scenario::{Op, Properties, Scenario, Step, Table};

/// The dependencies the program needs (written into its header comment; the compile test uses
/// them too).
pub const CARGO_DEPENDENCIES: &str = "lapin = \"4\"\n\
tokio = { version = \"1\", features = [\"rt-multi-thread\", \"macros\", \"time\"] }\n";

const PRELUDE: &str = r#"use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lapin::message::DeliveryResult;
// Which options a program uses depends on its steps.
#[allow(unused_imports)]
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Confirmation, Connection, ConnectionProperties};

/// The step running now: what the broker sends is printed with it.
static STEP: AtomicUsize = AtomicUsize::new(0);
/// The broker has been quiet this long: what a step caused has arrived.
const SETTLE: Duration = Duration::from_millis(40);

fn step() -> usize {
    STEP.load(Ordering::SeqCst)
}

/// The scenario's connections and channels by name, opened on first use (again after an error
/// closed them); a channel opens on connection "main" unless channel.open said otherwise.
#[derive(Default)]
struct World {
    url: String,
    connections: HashMap<&'static str, Connection>,
    channels: HashMap<&'static str, Channel>,
    home: HashMap<&'static str, &'static str>,
    /// Channels in confirm mode: publishes so far (the next confirm's tag).
    confirms: HashMap<&'static str, u64>,
}

impl World {
    async fn connection(&mut self, name: &'static str) -> lapin::Result<&Connection> {
        if !self.connections.get(name).is_some_and(|c| c.status().connected()) {
            let c = Connection::connect(&self.url, ConnectionProperties::default()).await?;
            self.connections.insert(name, c);
        }
        Ok(&self.connections[name])
    }

    async fn channel(&mut self, name: &'static str) -> lapin::Result<Channel> {
        if let Some(ch) = self.channels.get(name).filter(|ch| ch.status().connected()) {
            return Ok(ch.clone());
        }
        let home = self.home.get(name).copied().unwrap_or("main");
        let ch = self.connection(home).await?.create_channel().await?;
        self.channels.insert(name, ch.clone());
        self.confirms.remove(name);
        Ok(ch)
    }

    #[allow(dead_code)]
    async fn close_connection(&mut self, name: &'static str) -> lapin::Result<()> {
        let home = self.home.clone();
        self.channels.retain(|ch, _| home.get(ch).copied().unwrap_or("main") != name);
        if let Some(c) = self.connections.remove(name).filter(|c| c.status().connected()) {
            // lapin may report its own channels' closing as an error: the connection is closed
            // all the same.
            let _ = c.close(200, "OK".into()).await;
        }
        Ok(())
    }
}

#[allow(dead_code)]
fn table(entries: Vec<(&str, AMQPValue)>) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(k.into(), v);
    }
    t
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[allow(dead_code)]
/// Prints each delivery of a consumer on the scenario channel `channel`.
fn print_deliveries(channel: &'static str) -> impl Fn(DeliveryResult) -> std::future::Ready<()> {
    move |delivery: DeliveryResult| {
        if let Ok(Some(d)) = delivery {
            println!(
                "{}: basic.deliver channel={channel:?} delivery_tag={} redelivered={} exchange={:?} routing_key={:?} body={:?}",
                step(), d.delivery_tag, d.redelivered, d.exchange.as_str(), d.routing_key.as_str(), text(&d.data)
            );
        }
        std::future::ready(())
    }
}

#[allow(dead_code)]
fn print_confirm(channel: &'static str, tag: u64, confirmation: Confirmation) {
    match confirmation {
        Confirmation::Ack(returned) => {
            if let Some(m) = returned {
                println!(
                    "{}: basic.return channel={channel:?} reply_code={} routing_key={:?} body={:?}",
                    step(), m.reply_code, m.routing_key.as_str(), text(&m.data)
                );
            }
            println!("{}: basic.ack channel={channel:?} delivery_tag={tag}", step());
        }
        Confirmation::Nack(_) => println!("{}: basic.nack channel={channel:?} delivery_tag={tag}", step()),
        Confirmation::NotRequested => {}
    }
}

/// Ends a step: an error is printed (a channel error closes only its channel), then the
/// broker's asynchronous answers get time to arrive.
async fn done(result: lapin::Result<()>) {
    if let Err(e) = result {
        println!("{}: error: {e}", step());
    }
    tokio::time::sleep(SETTLE).await;
}
"#;

/// A Rust string literal for any text: everything outside [`plain_char`] escaped, so nothing in
/// `s` can end the literal or change how the program reads.
pub(crate) fn rs_str(s: &str) -> String {
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
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// A JSON value (header or argument) as a lapin `AMQPValue` expression.
fn amqp_value(v: &Value) -> String {
    match v {
        Value::Null => "AMQPValue::Void".into(),
        Value::Bool(b) => format!("AMQPValue::Boolean({b})"),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => format!("AMQPValue::LongLongInt({i})"),
            (None, Some(f)) if f.is_finite() => format!("AMQPValue::Double({f:?})"),
            _ => "AMQPValue::Void".into(),
        },
        Value::String(s) => format!("AMQPValue::LongString({}.into())", rs_str(s)),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(amqp_value).collect();
            format!("AMQPValue::FieldArray(vec![{}].into())", items.join(", "))
        }
        Value::Object(map) => format!("AMQPValue::FieldTable({})", field_table(map)),
    }
}

fn field_table(map: &Table) -> String {
    if map.is_empty() {
        return "FieldTable::default()".into();
    }
    let entries: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("({}, {})", rs_str(k), amqp_value(v)))
        .collect();
    format!("table(vec![{}])", entries.join(", "))
}

/// An options struct literal with the fields that are set.
fn options(kind: &str, fields: &[(&str, bool)]) -> String {
    let set: Vec<String> = fields
        .iter()
        .filter(|(_, v)| *v)
        .map(|(k, _)| format!("{k}: true"))
        .collect();
    if set.is_empty() {
        format!("{kind}::default()")
    } else {
        format!("{kind} {{ {}, ..Default::default() }}", set.join(", "))
    }
}

fn properties(p: &Properties) -> String {
    let mut out = String::from("lapin::BasicProperties::default()");
    if let Some(m) = p.delivery_mode {
        let _ = write!(out, ".with_delivery_mode({m})");
    }
    if let Some(e) = &p.expiration {
        let _ = write!(out, ".with_expiration({}.into())", rs_str(e));
    }
    if let Some(pr) = p.priority {
        let _ = write!(out, ".with_priority({pr})");
    }
    if let Some(h) = &p.headers {
        let _ = write!(out, ".with_headers({})", field_table(h));
    }
    for (method, value) in [
        ("with_message_id", &p.message_id),
        ("with_correlation_id", &p.correlation_id),
        ("with_reply_to", &p.reply_to),
        ("with_content_type", &p.content_type),
    ] {
        if let Some(v) = value {
            let _ = write!(out, ".{method}({}.into())", rs_str(v));
        }
    }
    out
}

/// The statements of one step, inside an `async` block that returns `lapin::Result<()>`.
fn step_code(i: usize, step: &Step) -> String {
    let name = rs_str(&step.channel);
    let ch = format!("let ch = w.channel({name}).await?;\n");
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
            let kind = match kind.as_str() {
                "direct" => "Direct",
                "fanout" => "Fanout",
                "topic" => "Topic",
                _ => "Headers",
            };
            let o = options(
                "ExchangeDeclareOptions",
                &[
                    ("passive", *passive),
                    ("durable", *durable),
                    ("auto_delete", *auto_delete),
                    ("internal", *internal),
                ],
            );
            format!(
                "{ch}ch.exchange_declare({}.into(), lapin::ExchangeKind::{kind}, {o}, {})\n    .await?;",
                rs_str(exchange),
                field_table(&args)
            )
        }
        Op::ExchangeDelete {
            exchange,
            if_unused,
        } => format!(
            "{ch}ch.exchange_delete({}.into(), {}).await?;",
            rs_str(exchange),
            options("ExchangeDeleteOptions", &[("if_unused", *if_unused)])
        ),
        Op::ExchangeBind {
            destination,
            source,
            routing_key,
            arguments,
        } => format!(
            "{ch}ch.exchange_bind({}.into(), {}.into(), {}.into(), ExchangeBindOptions::default(), {})\n    .await?;",
            rs_str(destination),
            rs_str(source),
            rs_str(routing_key),
            field_table(arguments)
        ),
        Op::ExchangeUnbind {
            destination,
            source,
            routing_key,
            arguments,
        } => format!(
            "{ch}ch.exchange_unbind({}.into(), {}.into(), {}.into(), ExchangeUnbindOptions::default(), {})\n    .await?;",
            rs_str(destination),
            rs_str(source),
            rs_str(routing_key),
            field_table(arguments)
        ),
        Op::QueueDeclare {
            queue,
            durable,
            exclusive,
            auto_delete,
            passive,
            arguments,
        } => {
            let o = options(
                "QueueDeclareOptions",
                &[
                    ("passive", *passive),
                    ("durable", *durable),
                    ("exclusive", *exclusive),
                    ("auto_delete", *auto_delete),
                ],
            );
            format!(
                "{ch}let q = ch\n    .queue_declare({}.into(), {o}, {})\n    .await?;\n\
                 println!(\"{i}: queue.declare-ok queue={{:?}} message_count={{}} consumer_count={{}}\", q.name().as_str(), q.message_count(), q.consumer_count());",
                rs_str(queue),
                field_table(&queue_arguments(arguments))
            )
        }
        Op::QueueBind {
            queue,
            exchange,
            routing_key,
            arguments,
        } => format!(
            "{ch}ch.queue_bind({}.into(), {}.into(), {}.into(), QueueBindOptions::default(), {})\n    .await?;",
            rs_str(queue),
            rs_str(exchange),
            rs_str(routing_key),
            field_table(arguments)
        ),
        Op::QueueUnbind {
            queue,
            exchange,
            routing_key,
            arguments,
        } => format!(
            "{ch}ch.queue_unbind({}.into(), {}.into(), {}.into(), {})\n    .await?;",
            rs_str(queue),
            rs_str(exchange),
            rs_str(routing_key),
            field_table(arguments)
        ),
        Op::QueuePurge { queue } => format!(
            "{ch}let n = ch.queue_purge({}.into(), QueuePurgeOptions::default()).await?;\n\
             println!(\"{i}: queue.purge-ok message_count={{n}}\");",
            rs_str(queue)
        ),
        Op::QueueDelete {
            queue,
            if_unused,
            if_empty,
        } => format!(
            "{ch}let n = ch.queue_delete({}.into(), {}).await?;\n\
             println!(\"{i}: queue.delete-ok message_count={{n}}\");",
            rs_str(queue),
            options(
                "QueueDeleteOptions",
                &[("if_unused", *if_unused), ("if_empty", *if_empty)]
            )
        ),
        Op::BasicQos {
            prefetch_count,
            global,
        } => format!(
            "{ch}ch.basic_qos({prefetch_count}, {}).await?;",
            options("BasicQosOptions", &[("global", *global)])
        ),
        Op::BasicConsume {
            queue,
            consumer_tag,
            no_ack,
            exclusive,
        } => format!(
            "{ch}let consumer = ch\n    .basic_consume({}.into(), {}.into(), {}, FieldTable::default())\n    .await?;\n\
             println!(\"{i}: basic.consume-ok channel={{:?}} consumer_tag={{:?}}\", {name}, consumer.tag().as_str());\n\
             consumer.set_delegate(print_deliveries({name}));",
            rs_str(queue),
            // "": the broker names the consumer (amq.ctag-…).
            rs_str(consumer_tag.as_deref().unwrap_or("")),
            options(
                "BasicConsumeOptions",
                &[("no_ack", *no_ack), ("exclusive", *exclusive)]
            )
        ),
        Op::BasicCancel { consumer_tag } => format!(
            "{ch}ch.basic_cancel({}.into(), BasicCancelOptions::default()).await?;",
            rs_str(consumer_tag)
        ),
        Op::BasicPublish {
            exchange,
            routing_key,
            body,
            mandatory,
            properties: p,
        } => {
            let publish = format!(
                "{ch}let confirm = ch\n    .basic_publish(\n        {}.into(),\n        {}.into(),\n        {},\n        {}.as_bytes(),\n        {},\n    )\n    .await?;\n",
                rs_str(exchange),
                rs_str(routing_key),
                options("BasicPublishOptions", &[("mandatory", *mandatory)]),
                rs_str(body),
                properties(p)
            );
            // In confirm mode the publish waits for its confirm; tags count publishes.
            format!(
                "{publish}if let Some(tag) = w.confirms.get_mut({name}) {{\n    \
                 *tag += 1;\n    let tag = *tag;\n    print_confirm({name}, tag, confirm.await?);\n}}"
            )
        }
        Op::BasicGet { queue, no_ack } => format!(
            "{ch}match ch.basic_get({}.into(), {}).await? {{\n    \
             Some(m) => println!(\n        \
             \"{i}: basic.get-ok channel={{:?}} delivery_tag={{}} redelivered={{}} routing_key={{:?}} body={{:?}} message_count={{}}\",\n        \
             {name}, m.delivery.delivery_tag, m.delivery.redelivered, m.delivery.routing_key.as_str(), text(&m.delivery.data), m.message_count\n    ),\n    \
             None => println!(\"{i}: basic.get-empty channel={{:?}}\", {name}),\n}}",
            rs_str(queue),
            options("BasicGetOptions", &[("no_ack", *no_ack)])
        ),
        Op::BasicAck {
            delivery_tag,
            multiple,
        } => format!(
            "{ch}ch.basic_ack({delivery_tag}, {}).await?;",
            options("BasicAckOptions", &[("multiple", *multiple)])
        ),
        Op::BasicNack {
            delivery_tag,
            multiple,
            requeue,
        } => format!(
            "{ch}ch.basic_nack({delivery_tag}, {}).await?;",
            options(
                "BasicNackOptions",
                &[("multiple", *multiple), ("requeue", *requeue)]
            )
        ),
        Op::BasicReject {
            delivery_tag,
            requeue,
        } => format!(
            "{ch}ch.basic_reject({delivery_tag}, {}).await?;",
            options("BasicRejectOptions", &[("requeue", *requeue)])
        ),
        Op::BasicRecover { requeue } => format!(
            "{ch}ch.basic_recover({}).await?;",
            options("BasicRecoverOptions", &[("requeue", *requeue)])
        ),
        Op::TxSelect => format!("{ch}ch.tx_select().await?;"),
        Op::TxCommit => format!("{ch}ch.tx_commit().await?;"),
        Op::TxRollback => format!("{ch}ch.tx_rollback().await?;"),
        Op::ConfirmSelect => format!(
            "{ch}ch.confirm_select(ConfirmSelectOptions::default()).await?;\nw.confirms.insert({name}, 0);"
        ),
        Op::ChannelOpen { connection } => format!(
            "if w.channels.get({name}).is_some_and(|ch| ch.status().connected()) {{\n    \
             eprintln!(\"{i}: channel.open on an open channel (RabbitMQ: 504) is not sent: lapin numbers channels itself\");\n\
             }} else {{\n    w.home.insert({name}, {});\n    w.channel({name}).await?;\n}}",
            rs_str(connection)
        ),
        Op::ChannelClose => format!(
            "if let Some(ch) = w.channels.remove({name}) {{\n    \
             if ch.status().connected() {{\n        ch.close(200, \"OK\".into()).await?;\n    }}\n}}"
        ),
        Op::ConnectionClose { connection } => {
            format!("w.close_connection({}).await?;", rs_str(connection))
        }
        Op::BrokerRestart => format!(
            "// broker.restart: a clean restart of the node (durable things survive, every\n\
             // connection is closed). Done with rabbitmqctl when RABBITMQ_NODE names the node.\n\
             match std::env::var(\"RABBITMQ_NODE\") {{\n    \
             Ok(node) => {{\n        \
             for action in [\"stop_app\", \"start_app\"] {{\n            \
             let status = std::process::Command::new(\"rabbitmqctl\").args([\"-n\", &node, action]).status();\n            \
             if !status.is_ok_and(|s| s.success()) {{\n                \
             eprintln!(\"{i}: rabbitmqctl {{action}} failed\");\n            }}\n        }}\n        \
             w.connections.clear();\n        w.channels.clear();\n    }}\n    \
             Err(_) => eprintln!(\"{i}: broker.restart skipped: set RABBITMQ_NODE to restart the node\"),\n}}"
        ),
        Op::ClockAdvance { ms } => format!(
            "// Real time stands in for the scenario's virtual clock (TTLs, x-expires).\n\
             tokio::time::sleep(Duration::from_millis({ms})).await;"
        ),
    }
}

pub fn program(scenario: &Scenario) -> String {
    let mut out = comment("//", &scenario.name);
    if let Some(d) = scenario.description.as_deref().filter(|d| !d.is_empty()) {
        out.push_str("//\n");
        out.push_str(&comment("//", d));
    }
    out.push_str(
        "//\n\
         // Exported from queue-playground: the scenario's steps, in order, on a real RabbitMQ,\n\
         // printing what the broker sends back (deliveries, gets, confirms, errors) a line each.\n\
         // AMQP_URL picks the broker (default amqp://guest:guest@127.0.0.1:5672/%2f).\n\
         // Not printed: basic.return outside confirm mode. Not sent: channel.open on an open\n\
         // channel (lapin numbers channels itself). Cargo.toml:\n\
         //\n\
         // [dependencies]\n",
    );
    out.push_str(&comment("//", CARGO_DEPENDENCIES.trim_end()));
    out.push('\n');
    out.push_str(PRELUDE);
    out.push_str(
        "\n#[tokio::main]\nasync fn main() {\n    let mut w = World {\n        \
         url: std::env::var(\"AMQP_URL\")\n            \
         .unwrap_or_else(|_| \"amqp://guest:guest@127.0.0.1:5672/%2f\".into()),\n        \
         ..World::default()\n    };\n",
    );
    for (i, step) in scenario.steps.iter().enumerate() {
        let _ = writeln!(out, "\n    // {i}: {}", step.op.name());
        let _ = writeln!(out, "    STEP.store({i}, Ordering::SeqCst);");
        out.push_str("    let result: lapin::Result<()> = async {\n");
        for line in step_code(i, step).lines() {
            out.push_str("        ");
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("        Ok(())\n    }\n    .await;\n    done(result).await;\n");
    }
    out.push_str(
        "\n    // Done: hang up (unacked messages go back to their queues).\n    \
         for c in w.connections.values() {\n        \
         if c.status().connected() {\n            \
         let _ = c.close(200, \"OK\".into()).await;\n        }\n    }\n}\n",
    );
    out
}
