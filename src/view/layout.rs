//! Where the topology view draws everything: four columns (producers → exchanges → queues →
//! consumers), the edges between them, and a slot for every message shown.
//!
//! Pure: computed from the broker's state at the cursor, facts gathered once from the
//! scenario (which channels publish where) and the record of the step just applied (what to
//! highlight). Coordinates are SVG user units in a viewBox [`Geometry::width`] wide, so the drawing
//! scales to any column width.

use std::collections::HashMap;

use crate::engine::effect::{Effect, Removal};
use crate::engine::state::{BrokerState, MessageState};
use crate::engine::store::DestinationKind;
use crate::engine::StepRecord;
use crate::scenario::{ExchangeType, Name, Op, Step};
use crate::timeline::Timeline;
use crate::trace::Event;

/// Where the first row starts, below the column headings.
const TOP: i32 = 34;
const GAP: i32 = 14;
pub const MSG_W: i32 = 30;
pub const MSG_H: i32 = 18;
const MSG_STEP: i32 = MSG_W + 4;

/// The drawing's proportions: [`Geometry::WIDE`] for a wide page, [`Geometry::NARROW`] for
/// a docs column, where a narrower viewBox keeps the text readable once scaled down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// The viewBox width.
    pub width: i32,
    /// Column x and width: producers, exchanges, queues, consumers.
    pub columns: [(i32, i32, &'static str); 4],
    /// Message slots inside a queue and inside a consumer (the last one turns into "+N" when
    /// there are more).
    queue_slots: usize,
    consumer_slots: usize,
    /// Characters of a queue's name shown beside its counts.
    queue_title: usize,
    /// Characters of a consumer tag (or channel name) in the consumers column.
    consumer_title: usize,
}

impl Geometry {
    pub const WIDE: Geometry = Geometry {
        width: 1000,
        columns: [
            (8, 150, "producers"),
            (222, 160, "exchanges"),
            (450, 276, "queues"),
            (790, 202, "consumers"),
        ],
        queue_slots: 7,
        consumer_slots: 5,
        queue_title: 20,
        consumer_title: 14,
    };

    pub const NARROW: Geometry = Geometry {
        width: 720,
        columns: [
            (6, 120, "producers"),
            (160, 124, "exchanges"),
            (318, 210, "queues"),
            (562, 152, "consumers"),
        ],
        queue_slots: 5,
        consumer_slots: 4,
        queue_title: 10,
        consumer_title: 9,
    };
}
const NODE_H: i32 = 38;
const BOX_H: i32 = 52;
/// A producer holding a transaction's publishes: its two lines, then the held messages.
const HELD_H: i32 = 58;
/// Held publishes shown on a producer (then "+N").
const HELD_SLOTS: usize = 3;

/// Something the reader can click to inspect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Exchange(Name),
    Queue(Name),
    Channel(Name),
    Consumer {
        channel: Name,
        tag: Name,
    },
    /// A message, by its queue position (unique per broker, kept across requeues).
    Message(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Producer,
    Exchange,
    Queue,
    Consumer,
    /// A channel holding messages fetched with `basic.get`.
    Getter,
    /// A transactional channel's acks, nacks and rejects, held until commit.
    Settling,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub target: Target,
    pub kind: NodeKind,
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
    pub title: String,
    pub detail: String,
    /// Touched by the step just applied.
    pub hot: bool,
    /// Closed channel, or a consumer waiting for acks: drawn faded.
    pub dim: bool,
    /// A durable exchange or queue (it survives a restart): drawn with a double edge.
    pub durable: bool,
    /// "+N" when more messages are there than slots: (x, y, text).
    pub more: Option<(i32, i32, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    Publish,
    Binding,
    /// The default exchange's implicit binding to every queue.
    Implicit,
    /// Queue to its dead-letter exchange.
    DeadLetter,
    /// Exchange to its alternate exchange.
    Alternate,
    Consume,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Stable across steps: `from→to:label`.
    pub key: String,
    pub kind: EdgeKind,
    pub x1: i32,
    pub y1: i32,
    pub x2: i32,
    pub y2: i32,
    pub label: Option<String>,
    pub hot: bool,
}

/// Where a message is: ready in a queue, or delivered and unacked on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Ready {
        queue: Name,
        index: usize,
    },
    Unacked {
        channel: Name,
        delivery_tag: u64,
    },
    /// Acked, nacked or rejected inside a transaction: held on the channel until commit.
    Settling {
        channel: Name,
        delivery_tag: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageSlot {
    pub seq: u64,
    pub x: i32,
    pub y: i32,
    pub label: String,
    pub place: Place,
    pub redelivered: bool,
    pub persisted: bool,
    /// A transaction holds a settle for it until commit: `ack`, `requeue` or `reject`.
    pub pending: Option<&'static str>,
    pub hot: bool,
}

/// A publish a transaction holds on its channel until commit.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldSlot {
    pub key: String,
    pub channel: Name,
    pub x: i32,
    pub y: i32,
    pub label: String,
}

/// Something that left in the step just applied, drawn once where it was and faded out.
#[derive(Debug, Clone, PartialEq)]
pub struct Ghost {
    pub key: String,
    pub x: i32,
    pub y: i32,
    pub label: String,
    /// Why it left: `acked`, `expired`, `dead-lettered`, `returned`, `discarded`, ...
    pub reason: &'static str,
}

/// What the broker told a channel in the step just applied, written under its node: publisher
/// confirms, returns, channel errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Badge {
    pub x: i32,
    pub y: i32,
    pub text: String,
    /// `confirm`, `nack`, `return` or `error`.
    pub kind: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub geometry: Geometry,
    pub height: i32,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// In `seq` order, so that a keyed list never reorders what it already shows.
    pub messages: Vec<MessageSlot>,
    pub held: Vec<HeldSlot>,
    pub ghosts: Vec<Ghost>,
    pub badges: Vec<Badge>,
}

/// What the scenario says beyond the broker's state: which channels publish, and to which
/// exchanges, from which step on. Gathered once per scenario.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Facts {
    /// Channel and the first step that publishes on it.
    publishers: Vec<(Name, usize)>,
    /// (channel, exchange) and the first step that publishes there.
    routes: Vec<(Name, Name, usize)>,
    /// Which message each delivery carried: (channel, delivery tag) to (step, seq), in step
    /// order. A transaction's held acks leave the channel's unacked list and keep only their
    /// tags; this finds the message again, so that it keeps its element on screen.
    deliveries: HashMap<(Name, u64), Vec<(usize, u64)>>,
}

impl Facts {
    pub fn new(timeline: &Timeline) -> Facts {
        let scenario = timeline.scenario();
        let mut facts = Facts::default();
        for index in 0..timeline.len() {
            for effect in timeline.record(index).map_or(&[][..], |r| &r.effects[..]) {
                if let Effect::Delivered {
                    seq,
                    channel,
                    delivery_tag,
                    ..
                } = effect
                {
                    facts
                        .deliveries
                        .entry((channel.clone(), *delivery_tag))
                        .or_default()
                        .push((index, *seq));
                }
            }
        }
        for (index, step) in scenario.steps.iter().enumerate() {
            if let Op::BasicPublish { exchange, .. } = &step.op {
                if !facts.publishers.iter().any(|(c, _)| *c == step.channel) {
                    facts.publishers.push((step.channel.clone(), index));
                }
                if !facts
                    .routes
                    .iter()
                    .any(|(c, x, _)| *c == step.channel && x == exchange)
                {
                    facts
                        .routes
                        .push((step.channel.clone(), exchange.clone(), index));
                }
            }
        }
        facts
    }

    /// The message delivered on `channel` with `tag` most recently before `position` steps.
    fn delivered(&self, channel: &Name, tag: u64, position: usize) -> Option<u64> {
        self.deliveries
            .get(&(channel.clone(), tag))?
            .iter()
            .rev()
            .find(|(step, _)| *step < position)
            .map(|(_, seq)| *seq)
    }
}

/// The step just applied, for highlights: its op and what it did.
#[derive(Debug, Clone, Copy)]
pub struct Applied<'a> {
    pub step: &'a Step,
    pub record: &'a StepRecord,
}

/// Short text for a message slot: the body's first characters.
pub fn short(text: &str, chars: usize) -> String {
    let mut out: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        out.push('…');
    }
    out
}

/// How an exchange is named on screen (the default exchange has the empty name).
pub fn exchange_label(name: &str) -> &str {
    if name.is_empty() {
        "(default)"
    } else {
        name
    }
}

fn binding_label(kind: ExchangeType, key: &str) -> Option<String> {
    match kind {
        ExchangeType::Fanout => None,
        ExchangeType::Headers => Some("headers".to_owned()),
        _ if key.is_empty() => Some("\"\"".to_owned()),
        _ => Some(short(key, 18)),
    }
}

/// Lays out the broker after `position` steps. `applied` is the step just applied (none at
/// position 0), `previous` what was drawn before it, when the cursor moved by exactly that
/// step: messages that left are drawn once more as ghosts where they were.
pub fn layout(
    state: &BrokerState,
    facts: &Facts,
    position: usize,
    applied: Option<Applied<'_>>,
    previous: Option<&Layout>,
    geometry: Geometry,
) -> Layout {
    let hot = Hot::new(applied);
    let g = geometry;
    let mut out = Layout {
        geometry,
        height: 0,
        nodes: Vec::new(),
        edges: Vec::new(),
        messages: Vec::new(),
        held: Vec::new(),
        ghosts: Vec::new(),
        badges: Vec::new(),
    };
    let mut centre: HashMap<Target, (i32, i32, i32, i32)> = HashMap::new();

    // Producers: channels that have published by now.
    let mut y = TOP;
    let (px, pw, _) = g.columns[0];
    for (channel, first) in &facts.publishers {
        if *first >= position {
            continue;
        }
        let ch = state.channels.iter().find(|c| c.name == *channel);
        let held = ch
            .and_then(|c| c.tx.as_ref())
            .map(|tx| &tx.publishes[..])
            .unwrap_or(&[]);
        let h = if held.is_empty() { NODE_H } else { HELD_H };
        let mode = ch.map_or("closed", |c| if c.open { c.mode } else { "closed" });
        let detail = match ch {
            Some(c) if c.mode == "confirm" => {
                format!("confirm · next #{}", c.next_publish_tag.unwrap_or(1))
            }
            Some(c) if c.mode == "tx" => format!("tx · {} held", held.len()),
            _ => mode.to_owned(),
        };
        let target = Target::Channel(channel.clone());
        let shown = held.len().min(HELD_SLOTS);
        for (i, p) in held.iter().take(shown).enumerate() {
            out.held.push(HeldSlot {
                key: format!("{channel}/{i}"),
                channel: channel.clone(),
                x: px + 6 + i as i32 * MSG_STEP,
                y: y + 34,
                label: short(&p.body, 3),
            });
        }
        let more = (held.len() > shown).then(|| {
            (
                px + 10 + shown as i32 * MSG_STEP,
                y + 47,
                format!("+{}", held.len() - shown),
            )
        });
        out.nodes.push(Node {
            hot: hot.channel(channel),
            dim: !ch.is_some_and(|c| c.open),
            durable: false,
            target: target.clone(),
            kind: NodeKind::Producer,
            x: px,
            y,
            w: pw,
            h,
            title: short(channel, (pw / 8) as usize),
            detail,
            more,
        });
        centre.insert(target, (px, y, pw, h));
        y += h + GAP;
    }
    let mut height = y;

    // Exchanges: those declared by the scenario, and predeclared ones once used.
    let used = |name: &Name| {
        facts
            .routes
            .iter()
            .any(|(_, x, first)| x == name && *first < position)
            || state
                .queues
                .iter()
                .any(|q| q.arguments.dead_letter_exchange.as_ref() == Some(name))
            || state.exchanges.iter().any(|x| {
                x.alternate_exchange.as_ref() == Some(name)
                    || x.bindings.iter().any(|b| {
                        b.destination_kind == DestinationKind::Exchange && b.destination == *name
                    })
            })
    };
    let (xx, xw, _) = g.columns[1];
    let mut y = TOP;
    let shown_exchanges: Vec<_> = state
        .exchanges
        .iter()
        .filter(|x| {
            let predeclared = x.name.is_empty() || x.name.starts_with("amq.");
            !predeclared || !x.bindings.is_empty() || used(&x.name)
        })
        .collect();
    for x in &shown_exchanges {
        let target = Target::Exchange(x.name.clone());
        let mut flags = vec![x.kind.as_str()];
        if x.durable {
            flags.push("durable");
        }
        if x.internal {
            flags.push("internal");
        }
        out.nodes.push(Node {
            hot: hot.exchange(&x.name),
            dim: false,
            durable: x.durable,
            target: target.clone(),
            kind: NodeKind::Exchange,
            x: xx,
            y,
            w: xw,
            h: NODE_H,
            title: short(exchange_label(&x.name), (xw / 8) as usize),
            detail: flags.join(" · "),
            more: None,
        });
        centre.insert(target, (xx, y, xw, NODE_H));
        y += NODE_H + GAP;
    }
    height = height.max(y);

    // Queues, with their ready messages (head at the right, nearest the consumers).
    let (qx, qw, _) = g.columns[2];
    let mut y = TOP;
    let mut slots: Vec<MessageSlot> = Vec::new();
    for q in &state.queues {
        let target = Target::Queue(q.name.clone());
        let n = q.ready.len();
        let shown = if n > g.queue_slots {
            g.queue_slots - 1
        } else {
            n
        };
        let slot_x = |i: usize| qx + qw - 6 - (i as i32 + 1) * MSG_STEP + 4;
        for (i, m) in q.ready.iter().take(shown).enumerate() {
            slots.push(message_slot(
                m,
                slot_x(i),
                y + 27,
                short(&m.body, 3),
                Place::Ready {
                    queue: q.name.clone(),
                    index: i,
                },
                None,
                hot.message(m.seq),
            ));
        }
        let more = (n > shown).then(|| (slot_x(shown) + 2, y + 40, format!("+{}", n - shown)));
        let detail = format!("{n} ready · {} unacked", q.unacked);
        out.nodes.push(Node {
            hot: hot.queue(&q.name),
            dim: false,
            durable: q.durable,
            target: target.clone(),
            kind: NodeKind::Queue,
            x: qx,
            y,
            w: qw,
            h: BOX_H,
            title: short(&q.name, g.queue_title),
            detail,
            more,
        });
        centre.insert(target, (qx, y, qw, BOX_H));
        y += BOX_H + GAP;
    }
    height = height.max(y);

    // Consumers, channels holding gets, and transactions' held settles, with their messages.
    let (cx, cw, _) = g.columns[3];
    let mut y = TOP;
    for ch in &state.channels {
        let settles: Vec<Held> = ch
            .tx
            .iter()
            .flat_map(|tx| &tx.settles)
            .flat_map(|s| {
                s.delivery_tags
                    .iter()
                    .map(move |t| Held::Settle(*t, s.kind))
            })
            .collect();
        if ch.unacked.is_empty() && ch.consumers.is_empty() && settles.is_empty() {
            continue;
        }
        let mut rows: Vec<Row> = ch
            .consumers
            .iter()
            .map(|k| {
                let blocked = k.prefetch > 0 && k.unacked >= u32::from(k.prefetch);
                let window = if k.no_ack {
                    "no-ack".to_owned()
                } else if k.prefetch == 0 {
                    format!("{} unacked", k.unacked)
                } else {
                    format!("{}/{} unacked", k.unacked, k.prefetch)
                };
                Row {
                    target: Target::Consumer {
                        channel: ch.name.clone(),
                        tag: k.consumer_tag.clone(),
                    },
                    kind: NodeKind::Consumer,
                    // The channel is in the tooltip and the inspector: a row has room for
                    // the tag and the prefetch window only.
                    title: short(&k.consumer_tag, g.consumer_title),
                    detail: window,
                    messages: ch
                        .unacked
                        .iter()
                        .filter(|u| u.consumer_tag.as_ref() == Some(&k.consumer_tag))
                        .map(Held::Unacked)
                        .collect(),
                    blocked,
                }
            })
            .collect();
        let fetched: Vec<Held> = ch
            .unacked
            .iter()
            .filter(|u| u.consumer_tag.is_none())
            .map(Held::Unacked)
            .collect();
        if !fetched.is_empty() {
            rows.push(Row {
                target: Target::Channel(ch.name.clone()),
                kind: NodeKind::Getter,
                title: format!("{} · get", short(&ch.name, g.consumer_title - 4)),
                detail: "fetched".to_owned(),
                messages: fetched,
                blocked: false,
            });
        }
        if !settles.is_empty() {
            rows.push(Row {
                target: Target::Channel(ch.name.clone()),
                kind: NodeKind::Settling,
                title: short(&ch.name, g.consumer_title),
                detail: "held by tx".to_owned(),
                messages: settles,
                blocked: false,
            });
        }
        for row in rows {
            let n = row.messages.len();
            let shown = if n > g.consumer_slots {
                g.consumer_slots - 1
            } else {
                n
            };
            for (i, m) in row.messages.iter().take(shown).enumerate() {
                let (x, y) = (cx + 6 + i as i32 * MSG_STEP, y + 27);
                match *m {
                    Held::Unacked(u) => slots.push(message_slot(
                        &u.message,
                        x,
                        y,
                        format!("t{}", u.delivery_tag),
                        Place::Unacked {
                            channel: ch.name.clone(),
                            delivery_tag: u.delivery_tag,
                        },
                        None,
                        hot.message(u.message.seq),
                    )),
                    Held::Settle(tag, kind) => {
                        if let Some(seq) = facts.delivered(&ch.name, tag, position) {
                            slots.push(MessageSlot {
                                seq,
                                x,
                                y,
                                label: format!("t{tag}"),
                                place: Place::Settling {
                                    channel: ch.name.clone(),
                                    delivery_tag: tag,
                                },
                                redelivered: false,
                                persisted: false,
                                pending: Some(kind),
                                hot: hot.channel(&ch.name),
                            });
                        }
                    }
                }
            }
            let more = (n > shown).then(|| {
                (
                    cx + 8 + shown as i32 * MSG_STEP,
                    y + 40,
                    format!("+{}", n - shown),
                )
            });
            let hot_row = match &row.target {
                Target::Consumer { channel, tag } => hot.consumer(channel, tag),
                _ => hot.channel(&ch.name),
            };
            // A channel that publishes keeps its edges at its producer node.
            centre
                .entry(row.target.clone())
                .or_insert((cx, y, cw, BOX_H));
            out.nodes.push(Node {
                hot: hot_row,
                dim: !ch.open || row.blocked,
                durable: false,
                target: row.target,
                kind: row.kind,
                x: cx,
                y,
                w: cw,
                h: BOX_H,
                title: row.title,
                detail: row.detail,
                more,
            });
            y += BOX_H + GAP;
        }
    }
    height = height.max(y);
    out.height = height.max(TOP + NODE_H + GAP);

    if let Some(applied) = applied {
        out.badges = badges(&out.nodes, applied.record);
    }

    // Edges. Every endpoint is a node drawn above; edges to hidden nodes are left out.
    let right = |t: &Target| centre.get(t).map(|&(x, y, w, h)| (x + w, y + h / 2));
    let left = |t: &Target| centre.get(t).map(|&(x, y, _, h)| (x, y + h / 2));
    let mut edge = |kind, key: String, a: Option<(i32, i32)>, b: Option<(i32, i32)>, label, hot| {
        if let (Some((x1, y1)), Some((x2, y2))) = (a, b) {
            out.edges.push(Edge {
                key,
                kind,
                x1,
                y1,
                x2,
                y2,
                label,
                hot,
            });
        }
    };
    for (channel, exchange, first) in &facts.routes {
        if *first >= position {
            continue;
        }
        let from = Target::Channel(channel.clone());
        let to = Target::Exchange(exchange.clone());
        edge(
            EdgeKind::Publish,
            format!("p:{channel}→{exchange}"),
            right(&from),
            left(&to),
            None,
            hot.publish(channel, exchange),
        );
    }
    for x in &shown_exchanges {
        let from = Target::Exchange(x.name.clone());
        if x.name.is_empty() {
            for q in &state.queues {
                edge(
                    EdgeKind::Implicit,
                    format!("d:{}", q.name),
                    right(&from),
                    left(&Target::Queue(q.name.clone())),
                    None,
                    hot.route(&x.name, &q.name),
                );
            }
        }
        for b in &x.bindings {
            let end = match b.destination_kind {
                DestinationKind::Queue => left(&Target::Queue(b.destination.clone())),
                // Exchange to exchange: both in one column, so the line leaves and enters on
                // the right.
                DestinationKind::Exchange => right(&Target::Exchange(b.destination.clone())),
            };
            edge(
                EdgeKind::Binding,
                format!("b:{}→{}:{}", x.name, b.destination, b.routing_key),
                right(&from),
                end,
                binding_label(x.kind, &b.routing_key),
                b.destination_kind == DestinationKind::Queue && hot.route(&x.name, &b.destination),
            );
        }
        if let Some(ae) = &x.alternate_exchange {
            edge(
                EdgeKind::Alternate,
                format!("a:{}→{ae}", x.name),
                left(&from),
                left(&Target::Exchange(ae.clone())),
                Some("ae".to_owned()),
                false,
            );
        }
    }
    for q in &state.queues {
        let from = Target::Queue(q.name.clone());
        if let Some(dlx) = &q.arguments.dead_letter_exchange {
            edge(
                EdgeKind::DeadLetter,
                format!("x:{}→{dlx}", q.name),
                left(&from).map(|(x, y)| (x, y + 12)),
                right(&Target::Exchange(dlx.clone())).map(|(x, y)| (x, y + 8)),
                Some("dlx".to_owned()),
                hot.dead_lettered_from(&q.name),
            );
        }
        for k in &q.consumers {
            let to = Target::Consumer {
                channel: k.channel.clone(),
                tag: k.consumer_tag.clone(),
            };
            edge(
                EdgeKind::Consume,
                format!("c:{}→{}/{}", q.name, k.channel, k.consumer_tag),
                right(&from),
                left(&to),
                None,
                hot.consumer(&k.channel, &k.consumer_tag),
            );
        }
    }

    slots.sort_by_key(|s| s.seq);
    out.messages = slots;
    if let (Some(applied), Some(previous)) = (applied, previous) {
        out.ghosts = ghosts(&out, previous, applied);
    }
    out
}

/// One line of the consumers column: a consumer, a channel's fetched messages, or a
/// transaction's held settles.
struct Row<'a> {
    target: Target,
    kind: NodeKind,
    title: String,
    detail: String,
    messages: Vec<Held<'a>>,
    blocked: bool,
}

/// A message a consumer-column row shows.
#[derive(Clone, Copy)]
enum Held<'a> {
    Unacked(&'a crate::engine::state::UnackedState),
    /// A delivery tag whose ack (or nack, reject) a transaction holds, and which.
    Settle(u64, &'static str),
}

fn message_slot(
    m: &MessageState,
    x: i32,
    y: i32,
    label: String,
    place: Place,
    pending: Option<&'static str>,
    hot: bool,
) -> MessageSlot {
    MessageSlot {
        seq: m.seq,
        x,
        y,
        label,
        place,
        redelivered: m.redelivered,
        persisted: m.persisted,
        pending,
        hot,
    }
}

/// What the step just applied touched.
#[derive(Default)]
struct Hot {
    channels: Vec<Name>,
    exchange: Option<Name>,
    queues: Vec<Name>,
    messages: Vec<u64>,
    consumers: Vec<(Name, Name)>,
    dead_letter_sources: Vec<Name>,
}

impl Hot {
    fn new(applied: Option<Applied<'_>>) -> Hot {
        let mut hot = Hot::default();
        let Some(Applied { step, record }) = applied else {
            return hot;
        };
        hot.channels.push(step.channel.clone());
        match &step.op {
            Op::BasicPublish { exchange, .. } => hot.exchange = Some(exchange.clone()),
            Op::QueueDeclare { queue, .. }
            | Op::QueueBind { queue, .. }
            | Op::QueuePurge { queue }
            | Op::BasicGet { queue, .. }
            | Op::BasicConsume { queue, .. } => hot.queues.push(queue.clone()),
            Op::ExchangeDeclare { exchange, .. } => hot.exchange = Some(exchange.clone()),
            _ => {}
        }
        for effect in &record.effects {
            match effect {
                Effect::Routed { queues, .. } => hot.queues.extend(queues.iter().cloned()),
                Effect::Enqueued { queue, seq } | Effect::Requeued { queue, seq } => {
                    hot.queues.push(queue.clone());
                    hot.messages.push(*seq);
                }
                Effect::Delivered {
                    queue,
                    seq,
                    channel,
                    ..
                } => {
                    hot.queues.push(queue.clone());
                    hot.messages.push(*seq);
                    hot.channels.push(channel.clone());
                }
                Effect::Removed {
                    queue,
                    dead_lettered,
                    ..
                } => {
                    hot.queues.push(queue.clone());
                    if *dead_lettered {
                        hot.dead_letter_sources.push(queue.clone());
                    }
                }
                Effect::Refused { queue } => hot.queues.push(queue.clone()),
                Effect::TxCommitted { channel, .. } | Effect::TxRolledBack { channel, .. } => {
                    hot.channels.push(channel.clone())
                }
                Effect::Restarted { .. } => {}
            }
        }
        for e in &record.events {
            if let Event::Deliver {
                channel,
                consumer_tag,
                ..
            } = &e.event
            {
                hot.consumers.push((channel.clone(), consumer_tag.clone()));
            }
        }
        hot
    }

    fn channel(&self, name: &Name) -> bool {
        self.channels.contains(name)
    }

    fn exchange(&self, name: &Name) -> bool {
        self.exchange.as_ref() == Some(name)
    }

    fn queue(&self, name: &Name) -> bool {
        self.queues.contains(name)
    }

    fn message(&self, seq: u64) -> bool {
        self.messages.contains(&seq)
    }

    fn consumer(&self, channel: &Name, tag: &Name) -> bool {
        self.consumers.iter().any(|(c, t)| c == channel && t == tag)
    }

    fn publish(&self, channel: &Name, exchange: &Name) -> bool {
        self.exchange(exchange) && self.channel(channel)
    }

    /// A publish through `exchange` reached `queue` in this step.
    fn route(&self, exchange: &Name, queue: &Name) -> bool {
        self.exchange(exchange) && self.queue(queue)
    }

    fn dead_lettered_from(&self, queue: &Name) -> bool {
        self.dead_letter_sources.contains(queue)
    }
}

fn removal(reason: Removal, dead_lettered: bool) -> &'static str {
    if dead_lettered {
        return "dead-lettered";
    }
    match reason {
        Removal::Acked => "acked",
        Removal::Rejected => "rejected",
        Removal::Expired => "expired",
        Removal::Maxlen => "dropped",
        Removal::Purged => "purged",
        Removal::QueueDeleted => "deleted",
    }
}

/// Messages that left in the step just applied, where the previous drawing had them; returns
/// and unroutable publishes at their exchange; a rollback's publishes where they were held.
fn ghosts(now: &Layout, previous: &Layout, applied: Applied<'_>) -> Vec<Ghost> {
    let mut out = Vec::new();
    let was = |seq: u64| previous.messages.iter().find(|m| m.seq == seq);
    for effect in &applied.record.effects {
        match effect {
            Effect::Removed {
                seq,
                reason,
                dead_lettered,
                ..
            } => {
                if let Some(m) = was(*seq) {
                    out.push(Ghost {
                        key: format!("g{seq}"),
                        x: m.x,
                        y: m.y,
                        label: m.label.clone(),
                        reason: removal(*reason, *dead_lettered),
                    });
                }
            }
            Effect::TxRolledBack { channel, .. } => {
                out.extend(
                    previous
                        .held
                        .iter()
                        .filter(|h| h.channel == *channel)
                        .map(|h| Ghost {
                            key: format!("r{}", h.key),
                            x: h.x,
                            y: h.y,
                            label: h.label.clone(),
                            reason: "discarded",
                        }),
                );
            }
            Effect::Routed { queues, held, .. } if queues.is_empty() && !held => {
                let Op::BasicPublish { exchange, body, .. } = &applied.step.op else {
                    continue;
                };
                let returned = applied
                    .record
                    .events
                    .iter()
                    .any(|e| matches!(e.event, Event::Return { .. }));
                let at = Target::Exchange(exchange.clone());
                // Bounced at the exchange's door: on the publish edge, just before it.
                if let Some(x) = now.nodes.iter().find(|n| n.target == at) {
                    out.push(Ghost {
                        key: "u".to_owned(),
                        x: x.x - MSG_W - 14,
                        y: x.y + x.h / 2 - MSG_H / 2,
                        label: short(body, 3),
                        reason: if returned { "returned" } else { "unroutable" },
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Confirms, returns and channel errors of the step, under the node of their channel (its
/// producer if it publishes, else its first consumer row).
fn badges(nodes: &[Node], record: &StepRecord) -> Vec<Badge> {
    let mut out: Vec<Badge> = Vec::new();
    for e in &record.events {
        let (channel, text, kind) = match &e.event {
            Event::ConfirmAck {
                channel,
                delivery_tag,
                multiple,
            } => (
                channel,
                format!(
                    "confirmed {}{delivery_tag}",
                    if *multiple { "≤" } else { "#" }
                ),
                "confirm",
            ),
            Event::ConfirmNack {
                channel,
                delivery_tag,
                multiple,
            } => (
                channel,
                format!("nacked {}{delivery_tag}", if *multiple { "≤" } else { "#" }),
                "nack",
            ),
            Event::Return {
                channel,
                reply_code,
                reply_text,
                ..
            } => (
                channel,
                format!("returned {reply_code} {reply_text}"),
                "return",
            ),
            Event::ChannelClose {
                channel,
                reply_code,
                reply_text,
            } => (
                channel,
                format!("closed {reply_code} {reply_text}"),
                "error",
            ),
            _ => continue,
        };
        let node = nodes
            .iter()
            .find(|n| matches!(&n.target, Target::Channel(c) if c == channel))
            .or_else(|| {
                nodes.iter().find(
                    |n| matches!(&n.target, Target::Consumer { channel: c, .. } if c == channel),
                )
            });
        let Some(n) = node else { continue };
        let (x, y) = (n.x + 4, n.y + n.h + 11);
        match out.iter_mut().find(|b| b.x == x && b.y == y) {
            // One line a node: later news joins it, the gravest kind wins.
            Some(b) => {
                b.text = short(&format!("{}, {text}", b.text), 30);
                if kind == "error" || b.kind == "confirm" {
                    b.kind = kind;
                }
            }
            None => out.push(Badge {
                x,
                y,
                text: short(&text, 30),
                kind,
            }),
        }
    }
    out
}

/// The layout as text, one item a line: what the native tests compare.
pub fn describe(layout: &Layout) -> String {
    let mut out = format!("height {}\n", layout.height);
    for n in &layout.nodes {
        out.push_str(&format!(
            "{:?} {:?} at ({}, {}) {}×{} {:?} {:?}{}{}{}{}\n",
            n.kind,
            n.target,
            n.x,
            n.y,
            n.w,
            n.h,
            n.title,
            n.detail,
            if n.hot { " hot" } else { "" },
            if n.dim { " dim" } else { "" },
            if n.durable { " durable" } else { "" },
            n.more
                .as_ref()
                .map(|(_, _, t)| format!(" more {t}"))
                .unwrap_or_default(),
        ));
    }
    for e in &layout.edges {
        out.push_str(&format!(
            "edge {:?} {} ({}, {})→({}, {}){}{}\n",
            e.kind,
            e.key,
            e.x1,
            e.y1,
            e.x2,
            e.y2,
            e.label
                .as_ref()
                .map(|l| format!(" {l:?}"))
                .unwrap_or_default(),
            if e.hot { " hot" } else { "" },
        ));
    }
    for m in &layout.messages {
        out.push_str(&format!(
            "msg {} {:?} at ({}, {}) {:?}{}{}{}{}\n",
            m.seq,
            m.place,
            m.x,
            m.y,
            m.label,
            if m.redelivered { " redelivered" } else { "" },
            if m.persisted { " persisted" } else { "" },
            m.pending
                .map(|p| format!(" pending-{p}"))
                .unwrap_or_default(),
            if m.hot { " hot" } else { "" },
        ));
    }
    for h in &layout.held {
        out.push_str(&format!(
            "held {} at ({}, {}) {:?}\n",
            h.key, h.x, h.y, h.label
        ));
    }
    for b in &layout.badges {
        out.push_str(&format!(
            "badge {} at ({}, {}) {:?}\n",
            b.kind, b.x, b.y, b.text
        ));
    }
    for g in &layout.ghosts {
        out.push_str(&format!(
            "ghost {} at ({}, {}) {:?} {}\n",
            g.key, g.x, g.y, g.label, g.reason
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;
    use crate::scenario::{parse, Limits};
    use crate::timeline::{Timeline, TimelineConfig};

    /// Lays out the scenario after `at` steps, with ghosts from step `at - 1`.
    fn at(text: &str, at: usize) -> Layout {
        let scenario = parse(text, &Limits::default()).unwrap();
        let mut timeline = Timeline::new(scenario.clone(), TimelineConfig::default());
        let facts = Facts::new(&timeline);
        let previous = at.checked_sub(1).map(|before| {
            timeline.seek(before);
            let applied = before.checked_sub(1).map(|i| Applied {
                step: &scenario.steps[i],
                record: timeline.record(i).unwrap(),
            });
            layout(
                &timeline.state(),
                &facts,
                before,
                applied,
                None,
                Geometry::WIDE,
            )
        });
        timeline.seek(at);
        let applied = at.checked_sub(1).map(|i| Applied {
            step: &scenario.steps[i],
            record: timeline.record(i).unwrap(),
        });
        layout(
            &timeline.state(),
            &facts,
            at,
            applied,
            previous.as_ref(),
            Geometry::WIDE,
        )
    }

    fn check(text: &str, step: usize, expected: Expect) {
        expected.assert_eq(&describe(&at(text, step)));
    }

    const WORK: &str = r#"{"format":"queue-playground/v1","name":"w","steps":[
        {"op":"queue.declare","queue":"jobs","durable":true},
        {"op":"basic.qos","channel":"worker","prefetch_count":1},
        {"op":"basic.consume","channel":"worker","queue":"jobs","consumer_tag":"w1"},
        {"op":"basic.publish","channel":"app","routing_key":"jobs","body":"first","properties":{"delivery_mode":2}},
        {"op":"basic.publish","channel":"app","routing_key":"jobs","body":"second"},
        {"op":"basic.reject","channel":"worker","delivery_tag":1,"requeue":true},
        {"op":"basic.ack","channel":"worker","delivery_tag":2}
    ]}"#;

    #[test]
    fn nothing_but_the_queue_before_anyone_publishes() {
        check(
            WORK,
            1,
            expect![[r#"
                height 100
                Queue Queue("jobs") at (450, 34) 276×52 "jobs" "0 ready · 0 unacked" hot durable
            "#]],
        );
    }

    #[test]
    fn a_delivered_message_sits_with_its_consumer_and_the_next_waits_in_the_queue() {
        check(
            WORK,
            5,
            expect![[r#"
                height 100
                Producer Channel("app") at (8, 34) 150×38 "app" "plain" hot
                Exchange Exchange("") at (222, 34) 160×38 "(default)" "direct · durable" hot durable
                Queue Queue("jobs") at (450, 34) 276×52 "jobs" "1 ready · 1 unacked" hot durable
                Consumer Consumer { channel: "worker", tag: "w1" } at (790, 34) 202×52 "w1" "1/1 unacked" dim
                edge Publish p:app→ (158, 53)→(222, 53) hot
                edge Implicit d:jobs (382, 53)→(450, 60) hot
                edge Consume c:jobs→worker/w1 (726, 60)→(790, 60)
                msg 1 Unacked { channel: "worker", delivery_tag: 1 } at (796, 61) "t1" persisted
                msg 2 Ready { queue: "jobs", index: 0 } at (690, 61) "sec…" hot
            "#]],
        );
    }

    #[test]
    fn a_requeued_message_goes_back_and_comes_again_redelivered() {
        check(
            WORK,
            6,
            expect![[r#"
                height 100
                Producer Channel("app") at (8, 34) 150×38 "app" "plain"
                Exchange Exchange("") at (222, 34) 160×38 "(default)" "direct · durable" durable
                Queue Queue("jobs") at (450, 34) 276×52 "jobs" "1 ready · 1 unacked" hot durable
                Consumer Consumer { channel: "worker", tag: "w1" } at (790, 34) 202×52 "w1" "1/1 unacked" hot dim
                edge Publish p:app→ (158, 53)→(222, 53)
                edge Implicit d:jobs (382, 53)→(450, 60)
                edge Consume c:jobs→worker/w1 (726, 60)→(790, 60) hot
                msg 1 Unacked { channel: "worker", delivery_tag: 2 } at (796, 61) "t2" redelivered persisted hot
                msg 2 Ready { queue: "jobs", index: 0 } at (690, 61) "sec…"
            "#]],
        );
    }

    #[test]
    fn an_ack_leaves_a_ghost_where_the_message_was() {
        check(
            WORK,
            7,
            expect![[r#"
                height 100
                Producer Channel("app") at (8, 34) 150×38 "app" "plain"
                Exchange Exchange("") at (222, 34) 160×38 "(default)" "direct · durable" durable
                Queue Queue("jobs") at (450, 34) 276×52 "jobs" "0 ready · 1 unacked" hot durable
                Consumer Consumer { channel: "worker", tag: "w1" } at (790, 34) 202×52 "w1" "1/1 unacked" hot dim
                edge Publish p:app→ (158, 53)→(222, 53)
                edge Implicit d:jobs (382, 53)→(450, 60)
                edge Consume c:jobs→worker/w1 (726, 60)→(790, 60) hot
                msg 2 Unacked { channel: "worker", delivery_tag: 3 } at (796, 61) "t3" hot
                ghost g1 at (796, 61) "t2" acked
            "#]],
        );
    }

    const TX: &str = r#"{"format":"queue-playground/v1","name":"t","steps":[
        {"op":"exchange.declare","exchange":"logs","type":"fanout"},
        {"op":"queue.declare","queue":"a","arguments":{"x-dead-letter-exchange":"dead"}},
        {"op":"exchange.declare","exchange":"dead","type":"direct"},
        {"op":"queue.bind","queue":"a","exchange":"logs"},
        {"op":"tx.select","channel":"pub"},
        {"op":"basic.publish","channel":"pub","exchange":"logs","body":"one"},
        {"op":"basic.publish","channel":"pub","exchange":"logs","body":"two"},
        {"op":"tx.rollback","channel":"pub"},
        {"op":"basic.publish","channel":"p2","exchange":"dead","routing_key":"nowhere","body":"lost","mandatory":true}
    ]}"#;

    #[test]
    fn a_transaction_holds_publishes_on_its_channel() {
        check(
            TX,
            7,
            expect![[r#"
                height 138
                Producer Channel("pub") at (8, 34) 150×58 "pub" "tx · 2 held" hot
                Exchange Exchange("logs") at (222, 34) 160×38 "logs" "fanout" hot
                Exchange Exchange("dead") at (222, 86) 160×38 "dead" "direct"
                Queue Queue("a") at (450, 34) 276×52 "a" "0 ready · 0 unacked" hot
                edge Publish p:pub→logs (158, 63)→(222, 53) hot
                edge Binding b:logs→a: (382, 53)→(450, 60) hot
                edge DeadLetter x:a→dead (450, 72)→(382, 113) "dlx"
                held pub/0 at (14, 68) "one"
                held pub/1 at (48, 68) "two"
            "#]],
        );
    }

    #[test]
    fn a_rollback_discards_what_was_held() {
        check(
            TX,
            8,
            expect![[r#"
                height 138
                Producer Channel("pub") at (8, 34) 150×38 "pub" "tx · 0 held" hot
                Exchange Exchange("logs") at (222, 34) 160×38 "logs" "fanout"
                Exchange Exchange("dead") at (222, 86) 160×38 "dead" "direct"
                Queue Queue("a") at (450, 34) 276×52 "a" "0 ready · 0 unacked"
                edge Publish p:pub→logs (158, 53)→(222, 53)
                edge Binding b:logs→a: (382, 53)→(450, 60)
                edge DeadLetter x:a→dead (450, 72)→(382, 113) "dlx"
                ghost rpub/0 at (14, 68) "one" discarded
                ghost rpub/1 at (48, 68) "two" discarded
            "#]],
        );
    }

    #[test]
    fn an_unroutable_mandatory_publish_is_returned_at_its_exchange() {
        check(
            TX,
            9,
            expect![[r#"
                height 138
                Producer Channel("pub") at (8, 34) 150×38 "pub" "tx · 0 held"
                Producer Channel("p2") at (8, 86) 150×38 "p2" "plain" hot
                Exchange Exchange("logs") at (222, 34) 160×38 "logs" "fanout"
                Exchange Exchange("dead") at (222, 86) 160×38 "dead" "direct" hot
                Queue Queue("a") at (450, 34) 276×52 "a" "0 ready · 0 unacked"
                edge Publish p:pub→logs (158, 53)→(222, 53)
                edge Publish p:p2→dead (158, 105)→(222, 105) hot
                edge Binding b:logs→a: (382, 53)→(450, 60)
                edge DeadLetter x:a→dead (450, 72)→(382, 113) "dlx"
                badge return at (12, 135) "returned 312 NO_ROUTE"
                ghost u at (178, 96) "los…" returned
            "#]],
        );
    }

    #[test]
    fn confirms_are_written_under_their_publisher() {
        check(
            r#"{"format":"queue-playground/v1","name":"c","steps":[
                {"op":"queue.declare","queue":"q","durable":true},
                {"op":"confirm.select","channel":"p"},
                {"op":"basic.publish","channel":"p","routing_key":"q","body":"a","properties":{"delivery_mode":2}}
            ]}"#,
            3,
            expect![[r#"
                height 100
                Producer Channel("p") at (8, 34) 150×38 "p" "confirm · next #2" hot
                Exchange Exchange("") at (222, 34) 160×38 "(default)" "direct · durable" hot durable
                Queue Queue("q") at (450, 34) 276×52 "q" "1 ready · 0 unacked" hot durable
                edge Publish p:p→ (158, 53)→(222, 53) hot
                edge Implicit d:q (382, 53)→(450, 60) hot
                msg 1 Ready { queue: "q", index: 0 } at (690, 61) "a" persisted hot
                badge confirm at (12, 83) "confirmed #1"
            "#]],
        );
    }

    const HELD_ACK: &str = r#"{"format":"queue-playground/v1","name":"h","steps":[
        {"op":"queue.declare","queue":"q"},
        {"op":"basic.publish","channel":"p","routing_key":"q","body":"job"},
        {"op":"tx.select","channel":"c"},
        {"op":"basic.get","channel":"c","queue":"q"},
        {"op":"basic.ack","channel":"c","delivery_tag":1},
        {"op":"tx.rollback","channel":"c"}
    ]}"#;

    #[test]
    fn an_ack_in_a_transaction_is_held_on_its_channel_with_its_message() {
        check(
            HELD_ACK,
            5,
            expect![[r#"
                height 100
                Producer Channel("p") at (8, 34) 150×38 "p" "plain"
                Exchange Exchange("") at (222, 34) 160×38 "(default)" "direct · durable" durable
                Queue Queue("q") at (450, 34) 276×52 "q" "0 ready · 0 unacked"
                Settling Channel("c") at (790, 34) 202×52 "c" "held by tx" hot
                edge Publish p:p→ (158, 53)→(222, 53)
                edge Implicit d:q (382, 53)→(450, 60)
                msg 1 Settling { channel: "c", delivery_tag: 1 } at (796, 61) "t1" pending-ack hot
            "#]],
        );
    }

    #[test]
    fn a_rollback_gives_the_held_ack_back_as_unacked() {
        check(
            HELD_ACK,
            6,
            expect![[r#"
                height 100
                Producer Channel("p") at (8, 34) 150×38 "p" "plain"
                Exchange Exchange("") at (222, 34) 160×38 "(default)" "direct · durable" durable
                Queue Queue("q") at (450, 34) 276×52 "q" "0 ready · 1 unacked"
                Getter Channel("c") at (790, 34) 202×52 "c · get" "fetched" hot
                edge Publish p:p→ (158, 53)→(222, 53)
                edge Implicit d:q (382, 53)→(450, 60)
                msg 1 Unacked { channel: "c", delivery_tag: 1 } at (796, 61) "t1"
            "#]],
        );
    }

    #[test]
    fn many_ready_messages_show_a_count() {
        let mut text = String::from(
            r#"{"format":"queue-playground/v1","name":"n","steps":[{"op":"queue.declare","queue":"q"}"#,
        );
        for i in 0..20 {
            text.push_str(&format!(
                r#",{{"op":"basic.publish","routing_key":"q","body":"m{i}"}}"#
            ));
        }
        text.push_str("]}");
        let l = at(&text, 21);
        assert_eq!(l.messages.len(), Geometry::WIDE.queue_slots - 1);
        let queue = l.nodes.iter().find(|n| n.kind == NodeKind::Queue).unwrap();
        assert_eq!(queue.more.as_ref().map(|m| m.2.as_str()), Some("+14"));
        assert!(l.messages.windows(2).all(|w| w[0].seq < w[1].seq));
    }

    #[test]
    fn every_box_and_message_stays_inside_the_drawing_in_both_geometries() {
        let mut crowded = String::from(
            r#"{"format":"queue-playground/v1","name":"n","steps":[
            {"op":"queue.declare","queue":"a-rather-long-queue-name-indeed"},
            {"op":"basic.consume","channel":"a-long-channel-name","queue":"a-rather-long-queue-name-indeed","consumer_tag":"a-long-consumer-tag"},
            {"op":"tx.select","channel":"batch"}"#,
        );
        for i in 0..12 {
            crowded.push_str(&format!(
                r#",{{"op":"basic.publish","channel":"batch","routing_key":"a-rather-long-queue-name-indeed","body":"m{i}"}}"#
            ));
        }
        crowded.push_str(r#",{"op":"tx.commit","channel":"batch"}]}"#);
        for text in [WORK, TX, HELD_ACK, crowded.as_str()] {
            let scenario = parse(text, &Limits::default()).unwrap();
            let mut timeline = Timeline::new(scenario.clone(), TimelineConfig::default());
            let facts = Facts::new(&timeline);
            for g in [Geometry::WIDE, Geometry::NARROW] {
                for at in 0..=scenario.steps.len() {
                    timeline.seek(at);
                    let l = layout(&timeline.state(), &facts, at, None, None, g);
                    for n in &l.nodes {
                        assert!(n.x >= 0 && n.x + n.w <= g.width, "{n:?} in {g:?}");
                        assert!(n.y + n.h <= l.height, "{n:?} below the drawing");
                        // Titles are cut to fit: about 6.5 units a character at 11px.
                        let room = n.w - 16;
                        let used = (n.title.chars().count() + n.detail.chars().count()) as i32;
                        let two_lines = matches!(n.kind, NodeKind::Producer | NodeKind::Exchange);
                        if !two_lines {
                            assert!(
                                used * 6 <= room,
                                "{:?} + {:?} in {} units",
                                n.title,
                                n.detail,
                                n.w
                            );
                        }
                    }
                    let slots = l
                        .messages
                        .iter()
                        .map(|m| (m.x, m.y))
                        .chain(l.held.iter().map(|h| (h.x, h.y)));
                    for (x, y) in slots {
                        assert!(
                            l.nodes.iter().any(|n| x >= n.x
                                && x + MSG_W <= n.x + n.w
                                && y >= n.y
                                && y + MSG_H <= n.y + n.h),
                            "a message at ({x}, {y}) outside every box, {g:?}, step {at}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn short_cuts_on_characters_not_bytes() {
        assert_eq!(short("héllo wörld", 4), "héll…");
        assert_eq!(short("ab", 4), "ab");
    }
}
