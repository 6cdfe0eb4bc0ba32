//! Steps to AMQP methods, broker frames to trace events.

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::conn::{Conn, Endpoint, Inbound};
use super::wire::{self, Enc, Method};
use super::{rabbitmqctl, Error, Options};
use crate::scenario::{Name, Op, Properties, QueueArgs, Scenario, Table};
use crate::trace::{Event, TraceEvent};

/// A settle never waits longer than this, even if the broker keeps talking.
const MAX_SETTLE: Duration = Duration::from_secs(10);
/// The quiet time that ends a step is at least this many of the step's slowest round trips.
const SETTLE_ROUND_TRIPS: u32 = 4;
/// ... but never more than this.
const MAX_QUIET: Duration = Duration::from_secs(1);

pub fn run(
    scenario: &Scenario,
    ep: &Endpoint,
    vhost: &str,
    opts: &Options,
) -> Result<Vec<TraceEvent>, Error> {
    let mut r = Runner::new(ep, vhost, opts);
    for (index, step) in scenario.steps.iter().enumerate() {
        r.step = index;
        r.run_step(&step.channel, &step.op).map_err(|e| {
            Error(format!(
                "step {index} ({}) on the broker: {}",
                step.op.name(),
                e.0
            ))
        })?;
        r.settle();
    }
    // Hanging up is not a step: what it causes (requeues, deliveries elsewhere) is not recorded.
    r.recording = false;
    r.close_all();
    Ok(r.events)
}

/// Deletes every queue and exchange the scenario names (except the predeclared ones), so a run in
/// a shared vhost starts from nothing.
pub fn cleanup(
    scenario: &Scenario,
    ep: &Endpoint,
    vhost: &str,
    opts: &Options,
) -> Result<(), Error> {
    let mut queues = BTreeSet::new();
    let mut exchanges = BTreeSet::new();
    for step in &scenario.steps {
        match &step.op {
            Op::ExchangeDeclare {
                exchange,
                alternate_exchange,
                ..
            } => {
                exchanges.insert(exchange.clone());
                exchanges.extend(alternate_exchange.clone());
            }
            Op::ExchangeDelete { exchange, .. } => {
                exchanges.insert(exchange.clone());
            }
            Op::ExchangeBind {
                destination,
                source,
                ..
            }
            | Op::ExchangeUnbind {
                destination,
                source,
                ..
            } => {
                exchanges.insert(destination.clone());
                exchanges.insert(source.clone());
            }
            Op::QueueDeclare {
                queue, arguments, ..
            } => {
                queues.insert(queue.clone());
                exchanges.extend(arguments.dead_letter_exchange.clone());
            }
            Op::QueueBind {
                queue, exchange, ..
            }
            | Op::QueueUnbind {
                queue, exchange, ..
            } => {
                queues.insert(queue.clone());
                exchanges.insert(exchange.clone());
            }
            Op::QueuePurge { queue }
            | Op::QueueDelete { queue, .. }
            | Op::BasicConsume { queue, .. }
            | Op::BasicGet { queue, .. } => {
                queues.insert(queue.clone());
            }
            Op::BasicPublish {
                exchange,
                routing_key,
                ..
            } => {
                exchanges.insert(exchange.clone());
                if exchange.is_empty() {
                    queues.insert(routing_key.clone());
                }
            }
            _ => {}
        }
    }
    let mut r = Runner::new(ep, vhost, opts);
    r.recording = false;
    let ch: Name = Rc::from("cleanup");
    for q in queues.iter().filter(|q| !q.is_empty()) {
        let m = Enc::method(50, 40)
            .u16(0)
            .shortstr(q)
            .bit(false)
            .bit(false)
            .bit(false)
            .finish();
        r.call(&ch, &m, &[(50, 41)], None)?;
    }
    for x in exchanges
        .iter()
        .filter(|x| !x.is_empty() && !x.starts_with("amq."))
    {
        let m = Enc::method(40, 20)
            .u16(0)
            .shortstr(x)
            .bit(false)
            .bit(false)
            .finish();
        r.call(&ch, &m, &[(40, 21)], None)?;
    }
    r.close_all();
    Ok(())
}

/// Publisher confirms of one channel: tags of publishes not yet confirmed.
#[derive(Default)]
struct Confirms {
    next: u64,
    outstanding: BTreeSet<u64>,
}

/// A method that carries content, waiting for its header and body frames.
struct Pending {
    method: Method,
    size: Option<u64>,
    properties: Properties,
    body: Vec<u8>,
}

struct Chan {
    conn: Name,
    serial: u64,
    id: u16,
    confirms: Option<Confirms>,
    pending: Option<Pending>,
    /// The queue a `""` queue name refers to (the channel's last declared queue, as in AMQP).
    last_queue: Option<Name>,
}

struct ConnState {
    conn: Conn,
    next_channel: u16,
    /// Channel ids of this connection to channel names.
    by_id: HashMap<u16, Name>,
}

/// The synchronous reply the runner is waiting for.
struct Awaiting {
    serial: u64,
    channel: u16,
    replies: Vec<(u16, u16)>,
    /// Queue name for `queue.purge-ok` / `queue.delete-ok`, which do not carry it.
    queue: Option<Name>,
    state: AwaitState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AwaitState {
    Waiting,
    Replied,
    /// The channel or connection was closed instead: a behaviour, not a harness failure.
    Closed,
}

struct Runner {
    ep: Endpoint,
    vhost: String,
    opts: Options,
    inbox_tx: Sender<Inbound>,
    inbox: Receiver<Inbound>,
    serial: u64,
    conns: HashMap<Name, ConnState>,
    serial_to_conn: HashMap<u64, Name>,
    /// Which connection each channel name lives on (kept across reopenings).
    home: HashMap<Name, Name>,
    chans: HashMap<Name, Chan>,
    awaiting: Option<Awaiting>,
    events: Vec<TraceEvent>,
    step: usize,
    recording: bool,
    /// The slowest reply of the current step.
    round_trip: Duration,
}

fn name(s: &str) -> Name {
    Rc::from(s)
}

impl Runner {
    fn new(ep: &Endpoint, vhost: &str, opts: &Options) -> Runner {
        let (inbox_tx, inbox) = mpsc::channel();
        Runner {
            ep: ep.clone(),
            vhost: vhost.to_owned(),
            opts: opts.clone(),
            inbox_tx,
            inbox,
            serial: 0,
            conns: HashMap::new(),
            serial_to_conn: HashMap::new(),
            home: HashMap::new(),
            chans: HashMap::new(),
            awaiting: None,
            events: Vec::new(),
            step: 0,
            recording: true,
            round_trip: Duration::ZERO,
        }
    }

    fn record(&mut self, event: Event) {
        if self.recording {
            self.events.push(TraceEvent {
                step: self.step,
                event,
            });
        }
    }

    fn run_step(&mut self, channel: &Name, op: &Op) -> Result<(), Error> {
        match op {
            Op::ClockAdvance { ms } => {
                // Real time stands in for virtual time; frames keep being handled meanwhile.
                self.pump_until(Instant::now() + Duration::from_millis(*ms));
                Ok(())
            }
            Op::BrokerRestart => self.restart(),
            Op::ConnectionClose { connection } => {
                if let Some(c) = self.conns.get_mut(connection) {
                    let serial = c.conn.serial;
                    let m = Enc::method(10, 50)
                        .u16(200)
                        .shortstr("Goodbye")
                        .u16(0)
                        .u16(0)
                        .finish();
                    c.conn.send_method(0, &m)?;
                    self.await_reply(serial, 0, &[(10, 51)], None)?;
                    self.drop_conn(connection);
                }
                Ok(())
            }
            Op::ChannelOpen { connection } => {
                if let Some(ch) = self.chans.get(channel) {
                    // Opening an open channel again: the broker's answer (a 504 connection
                    // error) is the behaviour to record, so send it for real.
                    let (conn, serial, id) = (ch.conn.clone(), ch.serial, ch.id);
                    self.send(&conn, id, &Enc::method(20, 10).shortstr("").finish())?;
                    self.await_reply(serial, id, &[(20, 11)], None)?;
                } else {
                    self.home.insert(channel.clone(), connection.clone());
                    self.ensure_channel(channel)?;
                }
                Ok(())
            }
            Op::ChannelClose => {
                if let Some(ch) = self.chans.get(channel) {
                    let (conn, serial, id) = (ch.conn.clone(), ch.serial, ch.id);
                    let m = Enc::method(20, 40)
                        .u16(200)
                        .shortstr("Goodbye")
                        .u16(0)
                        .u16(0)
                        .finish();
                    self.send(&conn, id, &m)?;
                    self.await_reply(serial, id, &[(20, 41)], None)?;
                    self.forget_channel(channel);
                }
                Ok(())
            }
            Op::BasicPublish {
                exchange,
                routing_key,
                body,
                mandatory,
                properties,
            } => {
                self.ensure_channel(channel)?;
                let ch = self.chans.get_mut(channel).expect("ensured above");
                if let Some(c) = ch.confirms.as_mut() {
                    c.next += 1;
                    c.outstanding.insert(c.next);
                }
                let (conn, id) = (ch.conn.clone(), ch.id);
                let m = Enc::method(60, 40)
                    .u16(0)
                    .shortstr(exchange)
                    .shortstr(routing_key)
                    .bit(*mandatory)
                    .bit(false)
                    .finish();
                let header = wire::encode_header(body.len() as u64, properties);
                let c = self
                    .conns
                    .get_mut(&conn)
                    .ok_or_else(|| Error(format!("connection {conn} is gone")))?;
                c.conn.send_content(id, &m, &header, body.as_bytes())?;
                self.barrier(channel)
            }
            Op::BasicAck {
                delivery_tag,
                multiple,
            } => {
                let m = Enc::method(60, 80)
                    .u64(*delivery_tag)
                    .bit(*multiple)
                    .finish();
                self.cast(channel, &m)
            }
            Op::BasicNack {
                delivery_tag,
                multiple,
                requeue,
            } => {
                let m = Enc::method(60, 120)
                    .u64(*delivery_tag)
                    .bit(*multiple)
                    .bit(*requeue)
                    .finish();
                self.cast(channel, &m)
            }
            Op::BasicReject {
                delivery_tag,
                requeue,
            } => {
                let m = Enc::method(60, 90)
                    .u64(*delivery_tag)
                    .bit(*requeue)
                    .finish();
                self.cast(channel, &m)
            }
            Op::ConfirmSelect => {
                let m = Enc::method(85, 10).bit(false).finish();
                if self.call(channel, &m, &[(85, 11)], None)? == AwaitState::Replied {
                    if let Some(ch) = self.chans.get_mut(channel) {
                        ch.confirms.get_or_insert_with(Confirms::default);
                    }
                }
                Ok(())
            }
            other => {
                let (m, replies, queue) = sync_method(other);
                let queue = match queue {
                    // `""` is the channel's last declared queue.
                    Some(q) if q.is_empty() => self
                        .chans
                        .get(channel)
                        .and_then(|c| c.last_queue.clone())
                        .or(Some(q)),
                    q => q,
                };
                self.call(channel, &m, replies, queue)?;
                Ok(())
            }
        }
    }

    /// Opens the channel (and its connection) if it is not open.
    fn ensure_channel(&mut self, channel: &Name) -> Result<(), Error> {
        if self.chans.contains_key(channel) {
            return Ok(());
        }
        let home = self
            .home
            .entry(channel.clone())
            .or_insert_with(|| name("main"))
            .clone();
        self.ensure_conn(&home)?;
        let c = self.conns.get_mut(&home).expect("ensured above");
        if c.next_channel > c.conn.channel_max {
            return Err(Error(format!("connection {home} ran out of channel ids")));
        }
        let id = c.next_channel;
        c.next_channel += 1;
        c.by_id.insert(id, channel.clone());
        let serial = c.conn.serial;
        c.conn
            .send_method(id, &Enc::method(20, 10).shortstr("").finish())?;
        self.chans.insert(
            channel.clone(),
            Chan {
                conn: home.clone(),
                serial,
                id,
                confirms: None,
                pending: None,
                last_queue: None,
            },
        );
        if self.await_reply(serial, id, &[(20, 11)], None)? != AwaitState::Replied {
            return Err(Error(format!(
                "the broker refused to open channel {channel} on connection {home}"
            )));
        }
        Ok(())
    }

    fn ensure_conn(&mut self, conn: &Name) -> Result<(), Error> {
        if self.conns.contains_key(conn) {
            return Ok(());
        }
        self.serial += 1;
        let c = Conn::open(
            &self.ep,
            &self.vhost,
            self.serial,
            self.inbox_tx.clone(),
            self.opts.reply_timeout,
        )?;
        self.serial_to_conn.insert(self.serial, conn.clone());
        self.conns.insert(
            conn.clone(),
            ConnState {
                conn: c,
                next_channel: 1,
                by_id: HashMap::new(),
            },
        );
        Ok(())
    }

    fn send(&mut self, conn: &Name, id: u16, payload: &[u8]) -> Result<(), Error> {
        let c = self
            .conns
            .get_mut(conn)
            .ok_or_else(|| Error(format!("connection {conn} is gone")))?;
        c.conn.send_method(id, payload).map_err(Error)
    }

    /// An asynchronous method (no reply).
    fn cast(&mut self, channel: &Name, payload: &[u8]) -> Result<(), Error> {
        self.ensure_channel(channel)?;
        let ch = &self.chans[channel];
        let (conn, id) = (ch.conn.clone(), ch.id);
        self.send(&conn, id, payload)?;
        self.barrier(channel)
    }

    /// After an asynchronous method, a synchronous no-op on the same channel (a passive declare
    /// of `amq.direct`, whose reply is not an event). The channel handles methods in order, so
    /// once the reply is in, everything the channel itself sends for the method (an unroutable
    /// message's return and confirm, a channel error) is in too, however loaded the broker is;
    /// its round trip also tells [`Runner::settle`] how slow the broker is right now.
    fn barrier(&mut self, channel: &Name) -> Result<(), Error> {
        let Some(ch) = self.chans.get(channel) else {
            return Ok(()); // closed by the method: nothing more to wait for
        };
        let (conn, serial, id) = (ch.conn.clone(), ch.serial, ch.id);
        let m = Enc::method(40, 10)
            .u16(0)
            .shortstr("amq.direct")
            .shortstr("direct")
            .bit(true)
            .bit(false)
            .bit(false)
            .bit(false)
            .bit(false)
            .table(&Table::new())
            .finish();
        self.send(&conn, id, &m)?;
        self.await_reply(serial, id, &[(40, 11)], None)?;
        Ok(())
    }

    /// A synchronous method: sends it and handles frames until its reply or a close.
    fn call(
        &mut self,
        channel: &Name,
        payload: &[u8],
        replies: &[(u16, u16)],
        queue: Option<Name>,
    ) -> Result<AwaitState, Error> {
        self.ensure_channel(channel)?;
        let ch = &self.chans[channel];
        let (conn, serial, id) = (ch.conn.clone(), ch.serial, ch.id);
        self.send(&conn, id, payload)?;
        self.await_reply(serial, id, replies, queue)
    }

    fn await_reply(
        &mut self,
        serial: u64,
        channel: u16,
        replies: &[(u16, u16)],
        queue: Option<Name>,
    ) -> Result<AwaitState, Error> {
        self.awaiting = Some(Awaiting {
            serial,
            channel,
            replies: replies.to_vec(),
            queue,
            state: AwaitState::Waiting,
        });
        let sent = Instant::now();
        let deadline = sent + self.opts.reply_timeout;
        loop {
            let state = self
                .awaiting
                .as_ref()
                .map(|a| a.state)
                .unwrap_or(AwaitState::Closed);
            if state != AwaitState::Waiting {
                self.awaiting = None;
                self.round_trip = self.round_trip.max(sent.elapsed());
                return Ok(state);
            }
            let now = Instant::now();
            if now >= deadline {
                self.awaiting = None;
                return Err(Error(format!(
                    "no reply {replies:?} within {:?}",
                    self.opts.reply_timeout
                )));
            }
            match self.inbox.recv_timeout(deadline - now) {
                Ok(inbound) => self.handle(inbound),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error("inbox disconnected".into()))
                }
            }
        }
    }

    /// Handles frames until the broker has been quiet for the settle time.
    /// Handles frames until the broker has been quiet for the settle time, or for a few of the
    /// step's slowest round trips when the broker is slower than that (a loaded machine).
    fn settle(&mut self) {
        let quiet = self
            .opts
            .settle
            .max(self.round_trip * SETTLE_ROUND_TRIPS)
            .min(MAX_QUIET);
        self.round_trip = Duration::ZERO;
        let cap = Instant::now() + MAX_SETTLE;
        while Instant::now() < cap {
            match self.inbox.recv_timeout(quiet) {
                Ok(inbound) => self.handle(inbound),
                Err(_) => return,
            }
        }
    }

    fn pump_until(&mut self, deadline: Instant) {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            if let Ok(inbound) = self.inbox.recv_timeout(deadline - now) {
                self.handle(inbound);
            }
        }
    }

    /// `rabbitmqctl stop_app` + `start_app`: the broker closes every connection (not recorded:
    /// the format says a restart emits nothing), durable state survives.
    fn restart(&mut self) -> Result<(), Error> {
        let node = self.opts.node.clone();
        self.recording = false;
        let stopped = rabbitmqctl(node.as_deref(), &["stop_app"]);
        self.settle();
        let names: Vec<Name> = self.conns.keys().cloned().collect();
        for n in names {
            self.drop_conn(&n);
        }
        let started = stopped.and_then(|_| rabbitmqctl(node.as_deref(), &["start_app"]));
        self.recording = true;
        started.map(|_| ())
    }

    fn close_all(&mut self) {
        let names: Vec<Name> = self.conns.keys().cloned().collect();
        for n in names {
            if let Some(c) = self.conns.get_mut(&n) {
                let serial = c.conn.serial;
                let m = Enc::method(10, 50)
                    .u16(200)
                    .shortstr("Goodbye")
                    .u16(0)
                    .u16(0)
                    .finish();
                if c.conn.send_method(0, &m).is_ok() {
                    let _ = self.await_reply(serial, 0, &[(10, 51)], None);
                }
            }
            self.drop_conn(&n);
        }
    }

    fn drop_conn(&mut self, conn: &Name) {
        if let Some(c) = self.conns.remove(conn) {
            self.serial_to_conn.remove(&c.conn.serial);
            for ch in c.by_id.values() {
                self.chans.remove(ch);
            }
            if let Some(a) = self.awaiting.as_mut() {
                if a.serial == c.conn.serial {
                    a.state = AwaitState::Closed;
                }
            }
        }
    }

    fn forget_channel(&mut self, channel: &Name) {
        if let Some(ch) = self.chans.remove(channel) {
            if let Some(c) = self.conns.get_mut(&ch.conn) {
                c.by_id.remove(&ch.id);
            }
            if let Some(a) = self.awaiting.as_mut() {
                if a.serial == ch.serial && a.channel == ch.id {
                    a.state = AwaitState::Closed;
                }
            }
        }
    }

    fn reply_matches(&self, serial: u64, channel: u16, ids: (u16, u16)) -> bool {
        self.awaiting.as_ref().is_some_and(|a| {
            a.state == AwaitState::Waiting
                && a.serial == serial
                && a.channel == channel
                && a.replies.contains(&ids)
        })
    }

    fn mark_replied(&mut self) {
        if let Some(a) = self.awaiting.as_mut() {
            a.state = AwaitState::Replied;
        }
    }

    fn handle(&mut self, inbound: Inbound) {
        let (serial, frame) = match inbound {
            Inbound::Closed { serial } => {
                if let Some(conn) = self.serial_to_conn.get(&serial).cloned() {
                    self.drop_conn(&conn);
                }
                return;
            }
            Inbound::Frame { serial, frame } => (serial, frame),
        };
        // Frames of a connection we already dropped are stale.
        let Some(conn) = self.serial_to_conn.get(&serial).cloned() else {
            return;
        };
        if frame.kind == wire::FRAME_HEARTBEAT {
            return;
        }
        if frame.channel == 0 {
            let Ok(m) = wire::decode_method(&frame.payload) else {
                return;
            };
            if self.reply_matches(serial, 0, (m.class, m.method)) {
                self.mark_replied();
                return;
            }
            if let Method::ConnectionClose { code, text } = m.args {
                self.record(Event::ConnectionClose {
                    connection: conn.clone(),
                    reply_code: code,
                    reply_text: text,
                });
                let _ = self.send(&conn, 0, &Enc::method(10, 51).finish());
                self.drop_conn(&conn);
            }
            return;
        }
        let Some(channel) = self
            .conns
            .get(&conn)
            .and_then(|c| c.by_id.get(&frame.channel))
            .cloned()
        else {
            return;
        };
        match frame.kind {
            wire::FRAME_METHOD => match wire::decode_method(&frame.payload) {
                Ok(m) => self.handle_method(serial, frame.channel, &conn, &channel, m),
                Err(e) => eprintln!("qp: {e}"),
            },
            wire::FRAME_HEADER => {
                let Some(p) = self
                    .chans
                    .get_mut(&channel)
                    .and_then(|c| c.pending.as_mut())
                else {
                    return;
                };
                match wire::decode_header(&frame.payload) {
                    Ok((size, props)) => {
                        p.size = Some(size);
                        p.properties = props;
                    }
                    Err(e) => eprintln!("qp: {e}"),
                }
                self.complete_content(serial, frame.channel, &channel);
            }
            wire::FRAME_BODY => {
                if let Some(p) = self
                    .chans
                    .get_mut(&channel)
                    .and_then(|c| c.pending.as_mut())
                {
                    p.body.extend_from_slice(&frame.payload);
                }
                self.complete_content(serial, frame.channel, &channel);
            }
            _ => {}
        }
    }

    fn handle_method(
        &mut self,
        serial: u64,
        id: u16,
        conn: &Name,
        channel: &Name,
        m: wire::MethodFrame,
    ) {
        let ids = (m.class, m.method);
        match m.args {
            Method::ChannelClose { code, text } => {
                self.record(Event::ChannelClose {
                    channel: channel.clone(),
                    reply_code: code,
                    reply_text: text,
                });
                let _ = self.send(conn, id, &Enc::method(20, 41).finish());
                self.forget_channel(channel);
                return;
            }
            Method::ChannelFlow { active } => {
                let _ = self.send(conn, id, &Enc::method(20, 21).bit(active).finish());
            }
            method @ (Method::Deliver { .. } | Method::GetOk { .. } | Method::Return { .. }) => {
                if let Some(ch) = self.chans.get_mut(channel) {
                    ch.pending = Some(Pending {
                        method,
                        size: None,
                        properties: Properties::default(),
                        body: Vec::new(),
                    });
                }
                // get-ok is the reply, but only once its content has arrived.
                return;
            }
            Method::GetEmpty => self.record(Event::GetEmpty {
                channel: channel.clone(),
            }),
            Method::Ack {
                delivery_tag,
                multiple,
            } => self.confirm(channel, delivery_tag, multiple, true),
            Method::Nack {
                delivery_tag,
                multiple,
            } => self.confirm(channel, delivery_tag, multiple, false),
            Method::Cancel { consumer_tag } => self.record(Event::Cancel {
                channel: channel.clone(),
                consumer_tag: name(&consumer_tag),
            }),
            Method::ConsumeOk { consumer_tag } => self.record(Event::ConsumeOk {
                channel: channel.clone(),
                consumer_tag: name(&consumer_tag),
            }),
            Method::QueueDeclareOk {
                queue,
                message_count,
                consumer_count,
            } => {
                let queue = name(&queue);
                if let Some(ch) = self.chans.get_mut(channel) {
                    ch.last_queue = Some(queue.clone());
                }
                self.record(Event::QueueDeclareOk {
                    queue,
                    message_count,
                    consumer_count,
                });
            }
            Method::QueuePurgeOk { message_count } | Method::QueueDeleteOk { message_count } => {
                let queue = self
                    .awaiting
                    .as_ref()
                    .filter(|a| a.serial == serial && a.channel == id)
                    .and_then(|a| a.queue.clone())
                    .unwrap_or_else(|| name(""));
                let event = if ids == (50, 31) {
                    Event::PurgeOk {
                        queue,
                        message_count,
                    }
                } else {
                    Event::DeleteOk {
                        queue,
                        message_count,
                    }
                };
                self.record(event);
            }
            _ => {}
        }
        if self.reply_matches(serial, id, ids) {
            self.mark_replied();
        }
    }

    /// Publisher confirms, one event per tag: RabbitMQ's `multiple` coalescing depends on timing.
    fn confirm(&mut self, channel: &Name, tag: u64, multiple: bool, ack: bool) {
        let tags: Vec<u64> = match self
            .chans
            .get_mut(channel)
            .and_then(|c| c.confirms.as_mut())
        {
            Some(c) if multiple => {
                let rest = c.outstanding.split_off(&(tag + 1));
                std::mem::replace(&mut c.outstanding, rest)
                    .into_iter()
                    .collect()
            }
            Some(c) => {
                c.outstanding.remove(&tag);
                vec![tag]
            }
            None => vec![tag],
        };
        for delivery_tag in tags {
            let channel = channel.clone();
            self.record(if ack {
                Event::ConfirmAck {
                    channel,
                    delivery_tag,
                    multiple: false,
                }
            } else {
                Event::ConfirmNack {
                    channel,
                    delivery_tag,
                    multiple: false,
                }
            });
        }
    }

    fn complete_content(&mut self, serial: u64, id: u16, channel: &Name) {
        let Some(ch) = self.chans.get_mut(channel) else {
            return;
        };
        let done = ch
            .pending
            .as_ref()
            .is_some_and(|p| p.size.is_some_and(|s| p.body.len() as u64 >= s));
        if !done {
            return;
        }
        let p = ch.pending.take().expect("checked above");
        let body: Rc<str> = Rc::from(String::from_utf8_lossy(&p.body).as_ref());
        let properties = Rc::new(p.properties);
        let channel = channel.clone();
        let (event, reply) = match p.method {
            Method::Deliver {
                consumer_tag,
                delivery_tag,
                redelivered,
                exchange,
                routing_key,
            } => (
                Event::Deliver {
                    channel,
                    consumer_tag: name(&consumer_tag),
                    delivery_tag,
                    redelivered,
                    exchange: name(&exchange),
                    routing_key: name(&routing_key),
                    body,
                    properties,
                },
                None,
            ),
            Method::GetOk {
                delivery_tag,
                redelivered,
                exchange,
                routing_key,
                message_count,
            } => (
                Event::GetOk {
                    channel,
                    delivery_tag,
                    redelivered,
                    exchange: name(&exchange),
                    routing_key: name(&routing_key),
                    body,
                    properties,
                    message_count,
                },
                Some((60, 71)),
            ),
            Method::Return {
                reply_code,
                reply_text,
                exchange,
                routing_key,
            } => (
                Event::Return {
                    channel,
                    reply_code,
                    reply_text,
                    exchange: name(&exchange),
                    routing_key: name(&routing_key),
                    body,
                },
                None,
            ),
            _ => return,
        };
        self.record(event);
        if let Some(ids) = reply {
            if self.reply_matches(serial, id, ids) {
                self.mark_replied();
            }
        }
    }
}

/// The method frame of a synchronous op, its possible replies, and the queue a purge/delete
/// reply is about.
fn sync_method(op: &Op) -> (Vec<u8>, &'static [(u16, u16)], Option<Name>) {
    match op {
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
            let m = Enc::method(40, 10)
                .u16(0)
                .shortstr(exchange)
                .shortstr(kind.as_str())
                .bit(*passive)
                .bit(*durable)
                .bit(*auto_delete)
                .bit(*internal)
                .bit(false)
                .table(&args)
                .finish();
            (m, &[(40, 11)], None)
        }
        Op::ExchangeDelete {
            exchange,
            if_unused,
        } => {
            let m = Enc::method(40, 20)
                .u16(0)
                .shortstr(exchange)
                .bit(*if_unused)
                .bit(false)
                .finish();
            (m, &[(40, 21)], None)
        }
        Op::ExchangeBind {
            destination,
            source,
            routing_key,
            arguments,
        } => {
            let m = Enc::method(40, 30)
                .u16(0)
                .shortstr(destination)
                .shortstr(source)
                .shortstr(routing_key)
                .bit(false)
                .table(arguments)
                .finish();
            (m, &[(40, 31)], None)
        }
        Op::ExchangeUnbind {
            destination,
            source,
            routing_key,
            arguments,
        } => {
            let m = Enc::method(40, 40)
                .u16(0)
                .shortstr(destination)
                .shortstr(source)
                .shortstr(routing_key)
                .bit(false)
                .table(arguments)
                .finish();
            (m, &[(40, 51)], None)
        }
        Op::QueueDeclare {
            queue,
            durable,
            exclusive,
            auto_delete,
            passive,
            arguments,
        } => {
            let m = Enc::method(50, 10)
                .u16(0)
                .shortstr(queue)
                .bit(*passive)
                .bit(*durable)
                .bit(*exclusive)
                .bit(*auto_delete)
                .bit(false)
                .table(&queue_args(arguments))
                .finish();
            (m, &[(50, 11)], None)
        }
        Op::QueueBind {
            queue,
            exchange,
            routing_key,
            arguments,
        } => {
            let m = Enc::method(50, 20)
                .u16(0)
                .shortstr(queue)
                .shortstr(exchange)
                .shortstr(routing_key)
                .bit(false)
                .table(arguments)
                .finish();
            (m, &[(50, 21)], None)
        }
        Op::QueueUnbind {
            queue,
            exchange,
            routing_key,
            arguments,
        } => {
            let m = Enc::method(50, 50)
                .u16(0)
                .shortstr(queue)
                .shortstr(exchange)
                .shortstr(routing_key)
                .table(arguments)
                .finish();
            (m, &[(50, 51)], None)
        }
        Op::QueuePurge { queue } => {
            let m = Enc::method(50, 30)
                .u16(0)
                .shortstr(queue)
                .bit(false)
                .finish();
            (m, &[(50, 31)], Some(queue.clone()))
        }
        Op::QueueDelete {
            queue,
            if_unused,
            if_empty,
        } => {
            let m = Enc::method(50, 40)
                .u16(0)
                .shortstr(queue)
                .bit(*if_unused)
                .bit(*if_empty)
                .bit(false)
                .finish();
            (m, &[(50, 41)], Some(queue.clone()))
        }
        Op::BasicQos {
            prefetch_count,
            global,
        } => {
            let m = Enc::method(60, 10)
                .u32(0)
                .u16(*prefetch_count)
                .bit(*global)
                .finish();
            (m, &[(60, 11)], None)
        }
        Op::BasicConsume {
            queue,
            consumer_tag,
            no_ack,
            exclusive,
        } => {
            let m = Enc::method(60, 20)
                .u16(0)
                .shortstr(queue)
                .shortstr(consumer_tag.as_deref().unwrap_or(""))
                .bit(false)
                .bit(*no_ack)
                .bit(*exclusive)
                .bit(false)
                .table(&Table::new())
                .finish();
            (m, &[(60, 21)], None)
        }
        Op::BasicCancel { consumer_tag } => {
            let m = Enc::method(60, 30)
                .shortstr(consumer_tag)
                .bit(false)
                .finish();
            (m, &[(60, 31)], None)
        }
        Op::BasicGet { queue, no_ack } => {
            let m = Enc::method(60, 70)
                .u16(0)
                .shortstr(queue)
                .bit(*no_ack)
                .finish();
            (m, &[(60, 71), (60, 72)], None)
        }
        Op::BasicRecover { requeue } => {
            let m = Enc::method(60, 110).bit(*requeue).finish();
            (m, &[(60, 111)], None)
        }
        Op::TxSelect => (Enc::method(90, 10).finish(), &[(90, 11)], None),
        Op::TxCommit => (Enc::method(90, 20).finish(), &[(90, 21)], None),
        Op::TxRollback => (Enc::method(90, 30).finish(), &[(90, 31)], None),
        // The others are handled by the caller; an empty frame would be a harness bug.
        other => unreachable!("{} is not a synchronous channel method", other.name()),
    }
}

fn queue_args(a: &QueueArgs) -> Table {
    let mut t = Table::new();
    let mut int = |k: &str, v: Option<i64>| {
        if let Some(v) = v {
            t.insert(k.into(), Value::from(v));
        }
    };
    int("x-message-ttl", a.message_ttl);
    int("x-expires", a.expires);
    int("x-max-length", a.max_length);
    int("x-max-length-bytes", a.max_length_bytes);
    int("x-max-priority", a.max_priority);
    if let Some(o) = a.overflow {
        t.insert("x-overflow".into(), Value::from(o.as_str()));
    }
    if let Some(x) = &a.dead_letter_exchange {
        t.insert("x-dead-letter-exchange".into(), Value::from(x.as_ref()));
    }
    if let Some(k) = &a.dead_letter_routing_key {
        t.insert("x-dead-letter-routing-key".into(), Value::from(k.as_ref()));
    }
    t
}

/// Makes a broker trace reproducible:
/// - server-generated names (`amq.gen-…`, `amq.ctag-…`) are renamed by order of first appearance
///   ([`crate::compare::normalize_generated_names`]);
/// - `time` is removed from `x-death` entries (wall clock);
/// - the run's private vhost is written as `/` in reply texts.
pub fn normalize(events: &mut [TraceEvent], vhost: &str) {
    for e in events.iter_mut() {
        match &mut e.event {
            Event::Deliver { properties, .. } | Event::GetOk { properties, .. } => {
                let deaths = properties
                    .headers
                    .as_ref()
                    .is_some_and(|h| h.contains_key("x-death"));
                if deaths {
                    let headers = Rc::make_mut(properties)
                        .headers
                        .as_mut()
                        .expect("checked above");
                    if let Some(Value::Array(deaths)) = headers.get_mut("x-death") {
                        for d in deaths.iter_mut() {
                            if let Value::Object(d) = d {
                                d.remove("time");
                            }
                        }
                    }
                }
            }
            Event::Return { reply_text, .. }
            | Event::ChannelClose { reply_text, .. }
            | Event::ConnectionClose { reply_text, .. }
                if vhost != "/" =>
            {
                *reply_text = reply_text.replace(&format!("vhost '{vhost}'"), "vhost '/'");
            }
            _ => {}
        }
    }
    crate::compare::normalize_generated_names(events);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalize_renames_generated_names_and_drops_death_time() {
        let headers = json!({"x-death": [{"count": 1, "queue": "amq.gen-Abc_9", "time": 1700000000,
            "reason": "expired"}], "x-first-death-queue": "amq.gen-Abc_9"});
        let Value::Object(headers) = headers else {
            unreachable!()
        };
        let mut events = vec![
            TraceEvent {
                step: 0,
                event: Event::QueueDeclareOk {
                    queue: name("amq.gen-Abc_9"),
                    message_count: 0,
                    consumer_count: 0,
                },
            },
            TraceEvent {
                step: 1,
                event: Event::Deliver {
                    channel: name("main"),
                    consumer_tag: name("amq.ctag-XyZ"),
                    delivery_tag: 1,
                    redelivered: false,
                    exchange: name(""),
                    routing_key: name("amq.gen-Other"),
                    body: Rc::from("b"),
                    properties: Rc::new(Properties {
                        headers: Some(headers),
                        ..Properties::default()
                    }),
                },
            },
            TraceEvent {
                step: 2,
                event: Event::ChannelClose {
                    channel: name("main"),
                    reply_code: 405,
                    reply_text: "RESOURCE_LOCKED - queue 'amq.gen-Abc_9' in vhost 'qp-1-2-3'"
                        .into(),
                },
            },
        ];
        normalize(&mut events, "qp-1-2-3");
        let json = crate::trace::to_json(&events);
        assert!(!json.contains("Abc_9") && !json.contains("XyZ") && !json.contains("time"));
        assert!(json.contains(r#""queue":"amq.gen-1""#), "{json}");
        assert!(json.contains(r#""routing_key":"amq.gen-2""#), "{json}");
        assert!(json.contains(r#""consumer_tag":"amq.ctag-1""#), "{json}");
        assert!(json.contains("queue 'amq.gen-1' in vhost '/'"), "{json}");
    }
}
