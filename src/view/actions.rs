//! What the palette offers: the common steps as small forms, prefilled with the names the
//! scenario and the broker know, and the live actions that make sense at the cursor (ack this
//! delivery, crash that consumer, ...). Every step is built as JSON and read by the scenario
//! parser, so a palette step is valid exactly when the same step typed by hand would be.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::engine::state::BrokerState;
use crate::scenario::{parse, Limits, Op, Scenario, ScenarioError, Step, FORMAT_V1};

/// What a form field holds, and so how it is drawn and turned into JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A channel name (suggestions: the known channels).
    Channel,
    /// A queue name (suggestions: the known queues).
    Queue,
    /// An exchange name (suggestions: the known exchanges, `""` the default one).
    Exchange,
    /// One of the exchange types.
    ExchangeType,
    Text,
    /// A whole number, sent as a JSON number (or, if it is not one, as the text typed, so that
    /// the parser's message says what was expected).
    Number,
    Flag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The JSON field; a dotted name is nested (`arguments.x-message-ttl`). `persistent`
    /// stands for `properties.delivery_mode: 2`.
    pub name: &'static str,
    pub kind: FieldKind,
    /// Left out of the step when empty.
    pub optional: bool,
}

const fn field(name: &'static str, kind: FieldKind) -> Field {
    Field {
        name,
        kind,
        optional: false,
    }
}

const fn optional(name: &'static str, kind: FieldKind) -> Field {
    Field {
        name,
        kind,
        optional: true,
    }
}

use FieldKind::*;

/// The ops the palette offers, in its order, with their fields.
pub const PALETTE: &[(&str, &[Field])] = &[
    (
        "queue.declare",
        &[
            field("channel", Channel),
            field("queue", Queue),
            field("durable", Flag),
            field("exclusive", Flag),
            field("auto_delete", Flag),
            optional("arguments.x-message-ttl", Number),
            optional("arguments.x-max-length", Number),
            optional("arguments.x-dead-letter-exchange", Exchange),
        ],
    ),
    (
        "exchange.declare",
        &[
            field("channel", Channel),
            field("exchange", Text),
            field("type", ExchangeType),
            field("durable", Flag),
        ],
    ),
    (
        "queue.bind",
        &[
            field("channel", Channel),
            field("queue", Queue),
            field("exchange", Exchange),
            field("routing_key", Text),
        ],
    ),
    (
        "basic.publish",
        &[
            field("channel", Channel),
            field("exchange", Exchange),
            field("routing_key", Text),
            field("body", Text),
            field("persistent", Flag),
            field("mandatory", Flag),
        ],
    ),
    (
        "basic.consume",
        &[
            field("channel", Channel),
            field("queue", Queue),
            optional("consumer_tag", Text),
            field("no_ack", Flag),
        ],
    ),
    (
        "basic.qos",
        &[
            field("channel", Channel),
            field("prefetch_count", Number),
            field("global", Flag),
        ],
    ),
    (
        "basic.get",
        &[
            field("channel", Channel),
            field("queue", Queue),
            field("no_ack", Flag),
        ],
    ),
    (
        "basic.ack",
        &[
            field("channel", Channel),
            field("delivery_tag", Number),
            field("multiple", Flag),
        ],
    ),
    (
        "basic.nack",
        &[
            field("channel", Channel),
            field("delivery_tag", Number),
            field("multiple", Flag),
            field("requeue", Flag),
        ],
    ),
    (
        "basic.reject",
        &[
            field("channel", Channel),
            field("delivery_tag", Number),
            field("requeue", Flag),
        ],
    ),
    ("tx.select", &[field("channel", Channel)]),
    ("tx.commit", &[field("channel", Channel)]),
    ("tx.rollback", &[field("channel", Channel)]),
    ("confirm.select", &[field("channel", Channel)]),
    ("clock.advance", &[field("ms", Number)]),
    ("broker.restart", &[]),
];

/// The fields of a palette op (none for an op the palette does not offer).
pub fn fields(op: &str) -> &'static [Field] {
    PALETTE
        .iter()
        .find(|(name, _)| *name == op)
        .map_or(&[], |(_, fields)| fields)
}

/// Names the scenario uses and the broker has, for suggestions and defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Known {
    pub channels: Vec<String>,
    pub queues: Vec<String>,
    pub exchanges: Vec<String>,
    /// The channel the scenario last published on, and last consumed or got on.
    pub publisher: Option<String>,
    pub consumer: Option<String>,
}

impl Known {
    pub fn new(scenario: Option<&Scenario>, state: Option<&BrokerState>) -> Known {
        let mut channels = Names::default();
        let mut queues = Names::default();
        let mut exchanges = Names::default();
        let (mut publisher, mut consumer) = (None, None);
        for step in scenario.map_or(&[][..], |s| &s.steps) {
            if step.op.is_channel_method() {
                channels.add(&step.channel);
            }
            match &step.op {
                Op::BasicPublish { .. } => publisher = Some(step.channel.to_string()),
                Op::BasicConsume { .. } | Op::BasicGet { .. } => {
                    consumer = Some(step.channel.to_string())
                }
                _ => {}
            }
            match &step.op {
                Op::QueueDeclare { queue, .. }
                | Op::QueueBind { queue, .. }
                | Op::BasicConsume { queue, .. }
                | Op::BasicGet { queue, .. } => queues.add(queue),
                Op::ExchangeDeclare { exchange, .. } => exchanges.add(exchange),
                _ => {}
            }
        }
        if let Some(state) = state {
            for c in state.channels.iter().filter(|c| c.open) {
                channels.add(&c.name);
            }
            for q in &state.queues {
                queues.add(&q.name);
            }
            for x in &state.exchanges {
                exchanges.add(&x.name);
            }
        }
        if channels.list.is_empty() {
            channels.add("main");
        }
        // The default exchange (`""`) is always there, and first.
        let mut all_exchanges = vec![String::new()];
        all_exchanges.extend(exchanges.list);
        Known {
            channels: channels.list,
            queues: queues.list,
            exchanges: all_exchanges,
            publisher,
            consumer,
        }
    }

    /// The value a field starts with: the name most likely meant.
    pub fn default_for(&self, op: &str, field: &Field) -> String {
        match (field.kind, field.name) {
            // The channel that does this kind of thing in the scenario.
            (Channel, _) => match op {
                "basic.publish" | "confirm.select" | "tx.select" | "tx.commit" | "tx.rollback" => {
                    self.publisher.clone()
                }
                "basic.consume" | "basic.qos" | "basic.get" | "basic.ack" | "basic.nack"
                | "basic.reject" => self.consumer.clone(),
                _ => None,
            }
            .or_else(|| self.channels.first().cloned())
            .unwrap_or_default(),
            (Queue, _) if op == "queue.declare" => fresh("queue", &self.queues),
            (Text, "exchange") => fresh("exchange", &self.exchanges),
            // The last queue named is the one being worked on.
            (Queue, _) => self.queues.last().cloned().unwrap_or_default(),
            (Exchange, "exchange") if op == "queue.bind" => self
                .exchanges
                .iter()
                .rfind(|x| !x.is_empty() && !x.starts_with("amq."))
                .cloned()
                .unwrap_or_default(),
            (ExchangeType, _) => "direct".into(),
            (Flag, "requeue") => "true".into(),
            (Flag, "durable") if op == "queue.declare" || op == "exchange.declare" => "true".into(),
            (Flag, _) => "false".into(),
            (Number, "prefetch_count") => "1".into(),
            (Number, "delivery_tag") => "1".into(),
            (Number, "ms") => "1000".into(),
            (Text, "routing_key") if op == "basic.publish" => {
                self.queues.last().cloned().unwrap_or_default()
            }
            (Text, "body") => "hello".into(),
            _ => String::new(),
        }
    }
}

/// `base-N`, the first such name not taken.
fn fresh(base: &str, taken: &[String]) -> String {
    (1..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| !taken.contains(name))
        .unwrap_or_default()
}

/// Unique names in order of first appearance (skipping empty and generated-on-demand ones).
#[derive(Default)]
struct Names {
    seen: BTreeSet<String>,
    list: Vec<String>,
}

impl Names {
    fn add(&mut self, name: &str) {
        if !name.is_empty() && self.seen.insert(name.to_owned()) {
            self.list.push(name.to_owned());
        }
    }
}

/// The step a palette form describes. `values` holds each field's text as typed (`"true"` or
/// `"false"` for flags); fields not given are left out.
pub fn step_from_form(op: &str, values: &[(&str, &str)]) -> Result<Step, ScenarioError> {
    let mut step = Map::new();
    step.insert("op".into(), op.into());
    for field in fields(op) {
        let Some(&(_, text)) = values.iter().find(|(name, _)| *name == field.name) else {
            continue;
        };
        if text.is_empty() && (field.optional || field.kind == Number) {
            continue;
        }
        let value = match field.kind {
            Flag => Value::Bool(text == "true"),
            Number => text
                .trim()
                .parse::<i64>()
                .map_or_else(|_| Value::from(text), Value::from),
            _ => Value::from(text),
        };
        if field.name == "persistent" {
            if value == Value::Bool(true) {
                let mut properties = Map::new();
                properties.insert("delivery_mode".into(), 2.into());
                step.insert("properties".into(), properties.into());
            }
            continue;
        }
        if field.kind == Flag && !field.optional && value == Value::Bool(false) {
            // `false` is every flag's default but `requeue`'s: say it only where it matters.
            if field.name != "requeue" {
                continue;
            }
        }
        insert_dotted(&mut step, field.name, value);
    }
    parse_step(Value::Object(step))
}

fn insert_dotted(map: &mut Map<String, Value>, name: &str, value: Value) {
    match name.split_once('.') {
        None => {
            map.insert(name.into(), value);
        }
        Some((head, rest)) => {
            let inner = map.entry(head).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                insert_dotted(inner, rest, value);
            }
        }
    }
}

/// One step through the scenario parser, its error without the step index (there is only one).
pub fn parse_step(step: Value) -> Result<Step, ScenarioError> {
    let doc = serde_json::json!({"format": FORMAT_V1, "steps": [step]});
    let mut scenario = parse(&doc.to_string(), &Limits::default())
        .map_err(|e| ScenarioError { step: None, ..e })?;
    scenario.steps.pop().ok_or_else(|| ScenarioError {
        step: None,
        op: None,
        field: None,
        message: "no step".into(),
    })
}

/// What a live action is about, to group them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Delivery,
    Consumer,
    Publish,
    Broker,
}

/// A step that makes sense at the cursor, with a short label.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveAction {
    pub group: Group,
    /// What it acts on: `worker #3 task_queue "order #1"`.
    pub subject: String,
    /// What it does: `ack`, `nack, requeue`, ...
    pub verb: &'static str,
    pub step: Step,
}

/// At most this many characters of a body in a label.
const BODY_PREVIEW: usize = 24;

fn preview(body: &str) -> String {
    let mut short: String = body.chars().take(BODY_PREVIEW).collect();
    if short.len() < body.len() {
        short.push('…');
    }
    format!("\u{201c}{short}\u{201d}")
}

/// The live actions for the broker at the cursor. `scenario` picks the publishing channel (the
/// one the scenario last published on) and numbers the next message.
pub fn live_actions(state: &BrokerState, scenario: Option<&Scenario>) -> Vec<LiveAction> {
    let mut out = Vec::new();
    let mut action = |group, subject: String, verb, step: Value| {
        // Names come from the broker, so the step is valid; a refusal would be a bug here,
        // and leaving the action out is the safe answer.
        if let Ok(step) = parse_step(step) {
            out.push(LiveAction {
                group,
                subject,
                verb,
                step,
            });
        }
    };
    for channel in state.channels.iter().filter(|c| c.open) {
        for u in &channel.unacked {
            let subject = format!(
                "{} #{} {} {}",
                channel.name,
                u.delivery_tag,
                u.queue,
                preview(&u.message.body)
            );
            let base = |op: &str| serde_json::json!({"op": op, "channel": &*channel.name, "delivery_tag": u.delivery_tag});
            action(Group::Delivery, subject.clone(), "ack", base("basic.ack"));
            let mut nack = base("basic.nack");
            nack["requeue"] = true.into();
            action(Group::Delivery, subject.clone(), "nack, requeue", nack);
            let mut reject = base("basic.reject");
            reject["requeue"] = false.into();
            action(Group::Delivery, subject, "reject, discard", reject);
        }
    }
    for channel in state.channels.iter().filter(|c| c.open) {
        for consumer in &channel.consumers {
            action(
                Group::Consumer,
                format!(
                    "{} on {} ({} unacked)",
                    consumer.consumer_tag, consumer.queue, consumer.unacked
                ),
                "crash: close its channel",
                serde_json::json!({"op": "channel.close", "channel": &*channel.name}),
            );
        }
    }
    let publisher = publishing_channel(state, scenario);
    let number = scenario.map_or(0, |s| {
        s.steps
            .iter()
            .filter(|st| matches!(st.op, Op::BasicPublish { .. }))
            .count()
    }) + 1;
    for queue in &state.queues {
        let mut publish = serde_json::json!({
            "op": "basic.publish",
            "channel": publisher,
            "exchange": "",
            "routing_key": &*queue.name,
            "body": format!("message {number}"),
        });
        if queue.durable {
            publish["properties"] = serde_json::json!({"delivery_mode": 2});
        }
        action(
            Group::Publish,
            format!("{} from {publisher}", queue.name),
            if queue.durable {
                "publish persistent"
            } else {
                "publish"
            },
            publish,
        );
    }
    if let Some(ms) = next_expiry(state) {
        action(
            Group::Broker,
            format!("{ms} ms, to the next expiry"),
            "advance the clock",
            serde_json::json!({"op": "clock.advance", "ms": ms}),
        );
    }
    action(
        Group::Broker,
        "durable queues and persistent messages survive".into(),
        "restart the broker",
        serde_json::json!({"op": "broker.restart"}),
    );
    out
}

/// The channel the scenario last published on, unless a transaction there would hold the
/// message; otherwise `producer`.
fn publishing_channel(state: &BrokerState, scenario: Option<&Scenario>) -> String {
    let last = scenario.and_then(|s| {
        s.steps
            .iter()
            .rev()
            .find(|st| matches!(st.op, Op::BasicPublish { .. }))
            .map(|st| st.channel.to_string())
    });
    let in_tx = |name: &str| {
        state
            .channels
            .iter()
            .any(|c| c.open && &*c.name == name && c.mode == "tx")
    };
    match last {
        Some(name) if !in_tx(&name) => name,
        _ if !in_tx("producer") => "producer".into(),
        _ => "live-producer".into(),
    }
}

/// Milliseconds until the next message TTL or queue lease runs out, if any will.
fn next_expiry(state: &BrokerState) -> Option<u64> {
    state
        .queues
        .iter()
        .flat_map(|q| {
            q.ready
                .iter()
                .filter_map(|m| m.expires_at)
                .chain(q.expires_at)
        })
        .min()
        .map(|at| at.saturating_sub(state.now).max(1))
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;
    use crate::timeline::{Timeline, TimelineConfig};

    fn scenario(steps: &str) -> Scenario {
        let text = format!(r#"{{"format":"queue-playground/v1","steps":[{steps}]}}"#);
        parse(&text, &Limits::default()).unwrap()
    }

    fn state_after(s: &Scenario) -> BrokerState {
        let mut t = Timeline::new(s.clone(), TimelineConfig::default());
        t.seek(s.steps.len());
        t.state()
    }

    fn show(step: Result<Step, ScenarioError>) -> String {
        match step {
            Ok(step) => step.to_json().to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    fn check_form(op: &str, values: &[(&str, &str)], expected: Expect) {
        expected.assert_eq(&show(step_from_form(op, values)));
    }

    #[test]
    fn forms_make_steps() {
        check_form(
            "basic.publish",
            &[
                ("channel", "producer"),
                ("exchange", ""),
                ("routing_key", "jobs"),
                ("body", "hi \"there\""),
                ("persistent", "true"),
                ("mandatory", "false"),
            ],
            expect![[
                r#"{"body":"hi \"there\"","channel":"producer","exchange":"","op":"basic.publish","properties":{"delivery_mode":2},"routing_key":"jobs"}"#
            ]],
        );
        check_form(
            "queue.declare",
            &[
                ("channel", "main"),
                ("queue", "q"),
                ("durable", "true"),
                ("exclusive", "false"),
                ("arguments.x-message-ttl", "5000"),
                ("arguments.x-max-length", ""),
                ("arguments.x-dead-letter-exchange", "dlx"),
            ],
            expect![[
                r#"{"arguments":{"x-dead-letter-exchange":"dlx","x-message-ttl":5000},"durable":true,"op":"queue.declare","queue":"q"}"#
            ]],
        );
        check_form(
            "basic.nack",
            &[
                ("channel", "w"),
                ("delivery_tag", "3"),
                ("requeue", "false"),
            ],
            expect![[r#"{"channel":"w","delivery_tag":3,"op":"basic.nack","requeue":false}"#]],
        );
        check_form(
            "broker.restart",
            &[],
            expect![[r#"{"op":"broker.restart"}"#]],
        );
        check_form(
            "clock.advance",
            &[("ms", "250")],
            expect![[r#"{"ms":250,"op":"clock.advance"}"#]],
        );
    }

    #[test]
    fn form_errors_name_the_field() {
        check_form(
            "basic.ack",
            &[("channel", "w"), ("delivery_tag", "three")],
            expect![[
                r#"error: field `delivery_tag`: expected a whole number (0 or more), found the string "three""#
            ]],
        );
        check_form(
            "basic.ack",
            &[("channel", "w"), ("delivery_tag", "")],
            expect![[r#"error: field `delivery_tag`: is required but missing"#]],
        );
        check_form(
            "exchange.declare",
            &[("channel", "main"), ("exchange", "x"), ("type", "fan")],
            expect![[
                r#"error: field `type`: unknown exchange type "fan"; expected direct, fanout, topic or headers"#
            ]],
        );
        check_form(
            "basic.qos",
            &[("channel", ""), ("prefetch_count", "1")],
            expect![[r#"error: field `channel`: must not be empty"#]],
        );
    }

    #[test]
    fn every_palette_op_is_a_scenario_op_and_its_defaults_parse() {
        let s = scenario(
            r#"{"op":"exchange.declare","exchange":"logs","type":"fanout"},
               {"op":"queue.declare","queue":"jobs"},
               {"op":"basic.consume","channel":"worker","queue":"jobs"}"#,
        );
        let known = Known::new(Some(&s), None);
        for (op, fields) in PALETTE {
            assert!(crate::scenario::OPS.contains(op), "{op}");
            let values: Vec<(&str, String)> = fields
                .iter()
                .map(|f| (f.name, known.default_for(op, f)))
                .collect();
            let values: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let step = step_from_form(op, &values)
                .unwrap_or_else(|e| panic!("{op} with its defaults: {e}"));
            assert_eq!(step.op.name(), *op);
        }
    }

    #[test]
    fn known_names_come_from_scenario_and_state() {
        let s = scenario(
            r#"{"op":"exchange.declare","exchange":"logs","type":"fanout"},
               {"op":"queue.declare","queue":"jobs"},
               {"op":"queue.declare","channel":"sub","queue":"","exclusive":true},
               {"op":"basic.consume","channel":"worker","queue":"jobs"}"#,
        );
        let state = state_after(&s);
        let known = Known::new(Some(&s), Some(&state));
        assert_eq!(known.channels, ["main", "sub", "worker"]);
        assert_eq!(known.queues.len(), 2);
        assert_eq!(known.queues[0], "jobs");
        assert!(
            known.queues[1].starts_with("amq.gen-"),
            "{:?}",
            known.queues
        );
        assert_eq!(&known.exchanges[..2], ["", "logs"]);
        assert!(known.exchanges.contains(&"amq.topic".to_owned()));
        let channel = field("channel", Channel);
        assert_eq!(known.default_for("basic.ack", &channel), "worker");
        assert_eq!(known.default_for("queue.bind", &channel), "main");
        assert_eq!(known.default_for("basic.publish", &channel), "main");
        let none = Known::new(None, None);
        assert_eq!(none.channels, ["main"]);
        assert_eq!(none.exchanges, [""]);
    }

    fn show_actions(actions: &[LiveAction]) -> String {
        actions
            .iter()
            .map(|a| {
                format!(
                    "{:?} {} | {} | {}\n",
                    a.group,
                    a.verb,
                    a.subject,
                    a.step.to_json()
                )
            })
            .collect()
    }

    #[test]
    fn live_actions_at_the_cursor() {
        let s = scenario(
            r#"{"op":"queue.declare","queue":"jobs","durable":true},
               {"op":"queue.declare","queue":"offers","arguments":{"x-message-ttl":500}},
               {"op":"basic.qos","channel":"worker","prefetch_count":1},
               {"op":"basic.consume","channel":"worker","queue":"jobs","consumer_tag":"w1"},
               {"op":"basic.publish","channel":"shop","routing_key":"jobs","body":"a rather long message body, cut short"},
               {"op":"basic.publish","channel":"shop","routing_key":"offers","body":"sale"}"#,
        );
        let state = state_after(&s);
        expect![[r#"
            Delivery ack | worker #1 jobs “a rather long message bo…” | {"channel":"worker","delivery_tag":1,"op":"basic.ack"}
            Delivery nack, requeue | worker #1 jobs “a rather long message bo…” | {"channel":"worker","delivery_tag":1,"op":"basic.nack"}
            Delivery reject, discard | worker #1 jobs “a rather long message bo…” | {"channel":"worker","delivery_tag":1,"op":"basic.reject","requeue":false}
            Consumer crash: close its channel | w1 on jobs (1 unacked) | {"channel":"worker","op":"channel.close"}
            Publish publish persistent | jobs from shop | {"body":"message 3","channel":"shop","exchange":"","op":"basic.publish","properties":{"delivery_mode":2},"routing_key":"jobs"}
            Publish publish | offers from shop | {"body":"message 3","channel":"shop","exchange":"","op":"basic.publish","routing_key":"offers"}
            Broker advance the clock | 500 ms, to the next expiry | {"ms":500,"op":"clock.advance"}
            Broker restart the broker | durable queues and persistent messages survive | {"op":"broker.restart"}
        "#]]
        .assert_eq(&show_actions(&live_actions(&state, Some(&s))));
    }

    #[test]
    fn crashing_a_consumer_requeues_its_messages() {
        let mut s = scenario(
            r#"{"op":"queue.declare","queue":"jobs"},
               {"op":"basic.consume","channel":"worker","queue":"jobs","consumer_tag":"w1"},
               {"op":"basic.publish","routing_key":"jobs","body":"a"},
               {"op":"basic.publish","routing_key":"jobs","body":"b"}"#,
        );
        let state = state_after(&s);
        let crash = live_actions(&state, Some(&s))
            .into_iter()
            .find(|a| a.group == Group::Consumer)
            .unwrap();
        s.steps.push(crash.step);
        let after = state_after(&s);
        assert_eq!(after.queues[0].ready.len(), 2);
        assert!(after.queues[0].ready.iter().all(|m| m.redelivered));
        assert!(after.queues[0].consumers.is_empty());
    }

    #[test]
    fn publisher_avoids_a_channel_in_a_transaction() {
        let s = scenario(
            r#"{"op":"queue.declare","queue":"q"},
               {"op":"tx.select","channel":"shop"},
               {"op":"basic.publish","channel":"shop","routing_key":"q","body":"held"}"#,
        );
        let state = state_after(&s);
        let publish = live_actions(&state, Some(&s))
            .into_iter()
            .find(|a| a.group == Group::Publish)
            .unwrap();
        assert_eq!(&*publish.step.channel, "producer");
    }
}
