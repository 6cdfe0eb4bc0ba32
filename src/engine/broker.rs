//! The broker state machine: one step in, events and a storage commit out.
//!
//! Every step runs to quiescence: after the op itself, messages are delivered to every
//! consumer that can take one, dead letters are republished and expired messages dropped,
//! exactly as RabbitMQ's queues would do before the client's next command arrives.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::rc::Rc;

use super::channel::{Channel, Connection, Consumer, ConsumerKey, Mode, Unacked};
use super::dead_letter::{self, DeadLetter, Reason};
use super::effect::{Effect, Removal};
use super::error::AmqpError;
use super::exchange::{self, Binding, Exchange, PREDECLARED};
use super::message::{Entry, Message};
use super::queue::{ConsumerRef, Queue};
use super::store::{
    BindingDef, Commit, DestinationKind, DurableImage, ExchangeDef, QueueDef, StoredMessage, Write,
};
use super::tx::{PendingPublish, Settle, TxBuffer};
use super::Map;
use crate::scenario::{ExchangeType, Name, Op, Overflow, Properties, QueueArgs, Step, Table};
use crate::trace::{Event, TraceEvent};

/// What a broker starts from.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Drives every choice RabbitMQ would make at random (generated queue names).
    pub seed: u64,
    /// Whether to record [`Effect`]s. The UI and the property tests want them; a headless
    /// run that only needs the trace saves their cost.
    pub effects: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0,
            effects: true,
        }
    }
}

/// Everything the step produced that is not broker state.
#[derive(Debug, Clone, Default)]
struct Outbox {
    step: usize,
    events: Vec<TraceEvent>,
    effects: Vec<Effect>,
    record_effects: bool,
    writes: Vec<Write>,
    dead: VecDeque<DeadLetter>,
}

impl Outbox {
    fn emit(&mut self, event: Event) {
        self.events.push(TraceEvent {
            step: self.step,
            event,
        });
    }

    /// Records an effect; built only when effects are wanted.
    fn note(&mut self, effect: impl FnOnce() -> Effect) {
        if self.record_effects {
            self.effects.push(effect());
        }
    }
}

/// A publisher confirm held back until the step's commit is on disk.
#[derive(Debug, Clone)]
struct HeldConfirm {
    channel: Name,
    /// The channel's incarnation: a confirm for a channel closed meanwhile is never sent.
    channel_open_id: u64,
    tag: u64,
}

#[derive(Debug, Clone)]
pub struct Broker {
    now: u64,
    rng: u64,
    next_id: u64,
    next_seq: u64,
    next_commit: u64,
    next_ctag: u64,
    exchanges: Map<Name, Exchange>,
    queues: Map<Name, Queue>,
    connections: Map<Name, Connection>,
    channels: Map<Name, Channel>,
    /// Incarnation of each open channel, for held confirms.
    channel_open_ids: Map<Name, u64>,
    out: Outbox,
    held: Vec<HeldConfirm>,
    /// Commits not yet handed to the driver.
    commits: VecDeque<Commit>,
    /// Confirms waiting for their commit to be durable, by commit id.
    awaiting: Vec<(u64, Vec<HeldConfirm>)>,
}

/// Where a publish goes once routed: the queues and what to tell the publisher.
struct Publish<'a> {
    channel: &'a Name,
    message: Rc<Message>,
    queues: Vec<Name>,
    mandatory: bool,
    confirm: Option<u64>,
}

impl Broker {
    pub fn new(config: Config) -> Self {
        let mut broker = Broker {
            now: 0,
            rng: config.seed,
            next_id: 1,
            next_seq: 1,
            next_commit: 1,
            next_ctag: 1,
            exchanges: Map::default(),
            queues: Map::default(),
            connections: Map::default(),
            channels: Map::default(),
            channel_open_ids: Map::default(),
            out: Outbox {
                record_effects: config.effects,
                ..Outbox::default()
            },
            held: Vec::new(),
            commits: VecDeque::new(),
            awaiting: Vec::new(),
        };
        broker.declare_predeclared();
        broker
    }

    fn declare_predeclared(&mut self) {
        for (name, kind, internal) in PREDECLARED {
            let def = ExchangeDef {
                name: Name::from(name),
                kind,
                auto_delete: false,
                internal,
                alternate_exchange: None,
            };
            self.exchanges
                .insert(def.name.clone(), Exchange::new(&def, true));
        }
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn exchanges(&self) -> impl Iterator<Item = &Exchange> {
        self.exchanges.values()
    }

    pub fn queues(&self) -> impl Iterator<Item = &Queue> {
        self.queues.values()
    }

    pub fn channels(&self) -> impl Iterator<Item = &Channel> {
        self.channels.values()
    }

    pub fn connections(&self) -> impl Iterator<Item = &Connection> {
        self.connections.values()
    }

    /// Applies one step at virtual time `now` (never earlier than the last step's).
    /// `broker.restart` is not a step the broker can take alone: the driver loads the durable
    /// image and calls [`Broker::restart`].
    pub fn handle(&mut self, step_index: usize, now: u64, step: &Step) {
        self.out.step = step_index;
        self.now = self.now.max(now);
        match &step.op {
            Op::ConnectionClose { connection } => self.close_connection(connection),
            Op::ClockAdvance { .. } => self.expire_leases(),
            Op::BrokerRestart => {}
            Op::ChannelOpen { connection } => {
                if self.channels.get(&step.channel).is_some_and(|c| c.open) {
                    self.fail(
                        &step.channel,
                        AmqpError::channel_error("second 'channel.open' seen"),
                    );
                } else {
                    self.open_channel(&step.channel, Some(connection));
                }
            }
            op => {
                self.ensure_channel(&step.channel);
                if let Err(e) = self.channel_method(&step.channel, op) {
                    self.fail(&step.channel, e);
                }
            }
        }
        self.settle();
        self.seal_commit();
    }

    /// The next batch of writes to make durable, in order, handed over to the driver. Each is
    /// one atomic commit; report it with [`Broker::committed`] once it is durable.
    pub fn poll_commit(&mut self) -> Option<Commit> {
        self.commits.pop_front()
    }

    /// The driver's word that commit `id` is durable: confirms held for it go out.
    pub fn committed(&mut self, id: u64) {
        let Some(at) = self.awaiting.iter().position(|(c, _)| *c == id) else {
            return;
        };
        let (_, confirms) = self.awaiting.remove(at);
        for c in confirms {
            if self.channel_open_ids.get(&c.channel) == Some(&c.channel_open_id) {
                self.out.emit(Event::ConfirmAck {
                    channel: c.channel,
                    delivery_tag: c.tag,
                    multiple: false,
                });
            }
        }
    }

    /// Events produced since the last call, in order. Draining (rather than handing over the
    /// buffer) keeps its capacity for the next step.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, TraceEvent> {
        self.out.events.drain(..)
    }

    /// Effects (what happened inside the broker) since the last call, in order.
    pub fn drain_effects(&mut self) -> std::vec::Drain<'_, Effect> {
        self.out.effects.drain(..)
    }

    /// A clean restart: every connection is gone, and the broker is rebuilt from what the
    /// store kept. Unacked persistent messages come back ready and redelivered.
    pub fn restart(&mut self, image: &DurableImage, step_index: usize, now: u64) {
        self.out.step = step_index;
        self.now = self.now.max(now);
        for channel in self.channels.values_mut() {
            *channel = Channel {
                open: false,
                ..Channel::new(channel.name.clone(), channel.connection.clone())
            };
        }
        for connection in self.connections.values_mut() {
            connection.open = false;
        }
        self.channel_open_ids.clear();
        self.held.clear();
        self.commits.clear();
        self.awaiting.clear();
        self.out.writes.clear();
        self.out.dead.clear();
        self.exchanges.clear();
        self.queues.clear();
        self.declare_predeclared();
        for def in image.exchanges.values() {
            self.exchanges
                .insert(def.name.clone(), Exchange::new(def, true));
        }
        for def in image.queues.values() {
            let id = self.take_id();
            let mut queue = Queue::new(id, def, true, None, self.now);
            if let Some(messages) = image.messages.get(&def.name) {
                for (&seq, stored) in messages {
                    self.next_seq = self.next_seq.max(seq + 1);
                    queue.insert(Entry {
                        seq,
                        priority: stored.priority,
                        message: stored.message.clone(),
                        redelivered: stored.delivered,
                        expires_at: stored.expires_at,
                    });
                }
            }
            self.queues.insert(def.name.clone(), queue);
        }
        self.out.note(|| Effect::Restarted {
            queues: image.queues.len(),
            messages: image.message_count(),
        });
        // Unacked messages came back ready: a queue can now be over its length limit.
        let now = self.now;
        for q in self.queues.values_mut() {
            enforce_limits(q, now, &mut self.out);
        }
        for b in &image.bindings {
            if let Some(x) = self.exchanges.get_mut(&b.source) {
                x.bindings.push(Binding {
                    destination: b.destination.clone(),
                    destination_kind: b.destination_kind,
                    routing_key: b.routing_key.clone(),
                    arguments: b.arguments.clone(),
                });
            }
        }
        self.settle();
        self.seal_commit();
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// SplitMix64: small, seedable, and the same on every platform.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A server-named queue, shaped like RabbitMQ's `amq.gen-` names.
    fn generated_queue_name(&mut self) -> Name {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let (a, b) = (self.random(), self.random());
        let bits = (u128::from(a) << 64) | u128::from(b);
        let suffix: String = (0..22)
            .map(|i| ALPHABET[((bits >> (i * 6)) & 63) as usize] as char)
            .collect();
        Name::from(format!("amq.gen-{suffix}"))
    }

    fn seal_commit(&mut self) {
        if self.out.writes.is_empty() && self.held.is_empty() {
            return;
        }
        let commit = Commit {
            id: self.next_commit,
            writes: std::mem::take(&mut self.out.writes),
        };
        self.next_commit += 1;
        let held = std::mem::take(&mut self.held);
        if !held.is_empty() {
            self.awaiting.push((commit.id, held));
        }
        self.commits.push_back(commit);
    }

    // ---- connections and channels ----

    fn open_channel(&mut self, name: &Name, connection: Option<&Name>) {
        let connection = connection
            .cloned()
            .or_else(|| self.channels.get(name).map(|c| c.connection.clone()))
            .unwrap_or_else(|| Name::from("main"));
        self.connections
            .entry(connection.clone())
            .or_insert_with(|| Connection {
                name: connection.clone(),
                open: true,
            })
            .open = true;
        self.channels
            .insert(name.clone(), Channel::new(name.clone(), connection));
        let id = self.take_id();
        self.channel_open_ids.insert(name.clone(), id);
    }

    /// A step on a channel that is not open opens it, as a client would (re)connect.
    fn ensure_channel(&mut self, name: &Name) {
        if !self.channels.get(name).is_some_and(|c| c.open) {
            self.open_channel(name, None);
        }
    }

    fn channel(&self, name: &Name) -> &Channel {
        &self.channels[name]
    }

    fn channel_mut(&mut self, name: &Name) -> &mut Channel {
        self.channels
            .get_mut(name)
            .expect("steps run on an open channel")
    }

    fn connection_of(&self, channel: &Name) -> Name {
        self.channel(channel).connection.clone()
    }

    fn fail(&mut self, channel: &Name, error: AmqpError) {
        if error.closes_connection() {
            let connection = self.connection_of(channel);
            self.out.emit(Event::ConnectionClose {
                connection: connection.clone(),
                reply_code: error.code,
                reply_text: error.text,
            });
            self.close_connection(&connection);
        } else {
            self.out.emit(Event::ChannelClose {
                channel: channel.clone(),
                reply_code: error.code,
                reply_text: error.text,
            });
            self.close_channel(channel);
        }
    }

    /// Closes a channel: its unacked messages go back to their queues (redelivered), its
    /// consumers go, and its transaction is dropped.
    fn close_channel(&mut self, name: &Name) {
        let Some(channel) = self.channels.get_mut(name).filter(|c| c.open) else {
            return;
        };
        channel.open = false;
        let mut unacked = channel.take_all_unacked();
        if let Mode::Tx(tx) = std::mem::replace(&mut channel.mode, Mode::Plain) {
            unacked.extend(tx.settles.into_iter().flat_map(|(_, u)| u));
        }
        let consumers: Vec<(Name, Consumer)> = channel.consumers.drain(..).collect();
        self.channel_open_ids.shift_remove(name);
        unacked.sort_by_key(|u| u.tag);
        self.requeue(unacked);
        for (tag, consumer) in consumers {
            self.detach_consumer(name, &tag, &consumer);
        }
    }

    fn close_connection(&mut self, name: &Name) {
        let channels: Vec<Name> = self
            .channels
            .values()
            .filter(|c| c.open && c.connection == *name)
            .map(|c| c.name.clone())
            .collect();
        for channel in &channels {
            self.close_channel(channel);
        }
        if let Some(c) = self.connections.get_mut(name) {
            c.open = false;
        }
        let exclusive: Vec<Name> = self
            .queues
            .values()
            .filter(|q| q.owner.as_ref() == Some(name))
            .map(|q| q.name.clone())
            .collect();
        for queue in exclusive {
            self.delete_queue(&queue);
        }
    }

    /// Removes a consumer from its queue; an auto-delete queue goes with its last consumer.
    fn detach_consumer(&mut self, channel: &Name, tag: &Name, consumer: &Consumer) {
        let Some(q) = self
            .queues
            .get_mut(&consumer.queue)
            .filter(|q| q.id == consumer.queue_id)
        else {
            return;
        };
        q.remove_consumer(&ConsumerRef {
            channel: channel.clone(),
            tag: tag.clone(),
        });
        q.last_used = self.now;
        if q.auto_delete && q.had_consumer && q.consumer_count() == 0 {
            let name = q.name.clone();
            self.delete_queue(&name);
        }
    }

    // ---- the channel methods ----

    /// AMQP's shortcut: an empty queue name means the queue this channel declared last (and,
    /// in a binding with an empty routing key too, so does the key).
    fn expand_queue_shortcut<'a>(&self, ch: &Name, op: &'a Op) -> Result<Cow<'a, Op>, AmqpError> {
        let named = match op {
            Op::QueueDeclare {
                queue,
                passive: true,
                ..
            }
            | Op::QueuePurge { queue }
            | Op::QueueDelete { queue, .. }
            | Op::BasicConsume { queue, .. }
            | Op::BasicGet { queue, .. }
            | Op::QueueBind { queue, .. }
            | Op::QueueUnbind { queue, .. } => queue,
            _ => return Ok(Cow::Borrowed(op)),
        };
        if !named.is_empty() {
            // The common case: nothing to expand, nothing copied.
            return Ok(Cow::Borrowed(op));
        }
        let last = self
            .channel(ch)
            .last_queue
            .clone()
            .ok_or_else(|| AmqpError::not_found("no previously declared queue"))?;
        let mut expanded = op.clone();
        match &mut expanded {
            Op::QueueBind {
                queue, routing_key, ..
            }
            | Op::QueueUnbind {
                queue, routing_key, ..
            } => {
                if routing_key.is_empty() {
                    *routing_key = last.clone();
                }
                *queue = last;
            }
            Op::QueueDeclare { queue, .. }
            | Op::QueuePurge { queue }
            | Op::QueueDelete { queue, .. }
            | Op::BasicConsume { queue, .. }
            | Op::BasicGet { queue, .. } => *queue = last,
            _ => {}
        }
        Ok(Cow::Owned(expanded))
    }

    fn channel_method(&mut self, ch: &Name, op: &Op) -> Result<(), AmqpError> {
        let op = self.expand_queue_shortcut(ch, op)?;
        match op.as_ref() {
            Op::ExchangeDeclare {
                exchange,
                kind,
                durable,
                auto_delete,
                internal,
                passive,
                alternate_exchange,
            } => {
                let def = ExchangeDef {
                    name: exchange.clone(),
                    kind: *kind,
                    auto_delete: *auto_delete,
                    internal: *internal,
                    alternate_exchange: alternate_exchange.clone(),
                };
                self.exchange_declare(def, *durable, *passive)
            }
            Op::ExchangeDelete {
                exchange,
                if_unused,
            } => self.exchange_delete(exchange, *if_unused),
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
            } => self.bind(
                ch,
                BindingDef {
                    source: source.clone(),
                    destination: destination.clone(),
                    destination_kind: DestinationKind::Exchange,
                    routing_key: routing_key.clone(),
                    arguments: arguments.clone(),
                },
                matches!(op.as_ref(), Op::ExchangeBind { .. }),
            ),
            Op::QueueDeclare {
                queue,
                durable,
                exclusive,
                auto_delete,
                passive,
                arguments,
            } => self.queue_declare(
                ch,
                queue,
                QueueFlags {
                    durable: *durable,
                    exclusive: *exclusive,
                    auto_delete: *auto_delete,
                    passive: *passive,
                },
                arguments,
            ),
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
            } => self.bind(
                ch,
                BindingDef {
                    source: exchange.clone(),
                    destination: queue.clone(),
                    destination_kind: DestinationKind::Queue,
                    routing_key: routing_key.clone(),
                    arguments: arguments.clone(),
                },
                matches!(op.as_ref(), Op::QueueBind { .. }),
            ),
            Op::QueuePurge { queue } => {
                self.accessible_queue(ch, queue)?;
                let q = &mut self.queues[queue];
                let mut purged = Vec::new();
                while let Some(entry) = q.pop_front() {
                    purged.push(entry);
                }
                let (stored, count) = (is_stored(q), purged.len() as u32);
                for entry in purged {
                    forget(stored, queue, &entry, Removal::Purged, false, &mut self.out);
                }
                self.out.emit(Event::PurgeOk {
                    queue: queue.clone(),
                    message_count: count,
                });
                Ok(())
            }
            Op::QueueDelete {
                queue,
                if_unused,
                if_empty,
            } => {
                if !self.queues.contains_key(queue) {
                    self.out.emit(Event::DeleteOk {
                        queue: queue.clone(),
                        message_count: 0,
                    });
                    return Ok(());
                }
                self.accessible_queue(ch, queue)?;
                let q = &self.queues[queue];
                if *if_unused && q.consumer_count() > 0 {
                    return Err(AmqpError::precondition_failed(format_args!(
                        "queue '{queue}' in vhost '/' in use"
                    )));
                }
                if *if_empty && !q.ready.is_empty() {
                    return Err(AmqpError::precondition_failed(format_args!(
                        "queue '{queue}' in vhost '/' is not empty"
                    )));
                }
                let count = q.message_count();
                self.delete_queue(queue);
                self.out.emit(Event::DeleteOk {
                    queue: queue.clone(),
                    message_count: count,
                });
                Ok(())
            }
            Op::BasicQos {
                prefetch_count,
                global,
            } => {
                let channel = self.channel_mut(ch);
                if *global {
                    channel.channel_prefetch = *prefetch_count;
                } else {
                    // RabbitMQ 3.x lifts the channel-wide limit whenever a per-consumer one is
                    // set (its limiter is "unlimited" on every `global: false` qos).
                    channel.consumer_prefetch = *prefetch_count;
                    channel.channel_prefetch = 0;
                }
                Ok(())
            }
            Op::BasicConsume {
                queue,
                consumer_tag,
                no_ack,
                exclusive,
            } => self.consume(ch, queue, consumer_tag.as_ref(), *no_ack, *exclusive),
            Op::BasicCancel { consumer_tag } => {
                if let Some(consumer) = self.channel_mut(ch).consumers.shift_remove(consumer_tag) {
                    self.detach_consumer(ch, consumer_tag, &consumer);
                }
                Ok(())
            }
            Op::BasicPublish {
                exchange,
                routing_key,
                body,
                mandatory,
                properties,
            } => self.publish(ch, exchange, routing_key, body, *mandatory, properties),
            Op::BasicGet { queue, no_ack } => self.get(ch, queue, *no_ack),
            Op::BasicAck {
                delivery_tag,
                multiple,
            } => self.settle_deliveries(ch, *delivery_tag, *multiple, Settle::Ack),
            Op::BasicNack {
                delivery_tag,
                multiple,
                requeue,
            } => self.settle_deliveries(
                ch,
                *delivery_tag,
                *multiple,
                Settle::Reject { requeue: *requeue },
            ),
            Op::BasicReject {
                delivery_tag,
                requeue,
            } => self.settle_deliveries(
                ch,
                *delivery_tag,
                false,
                Settle::Reject { requeue: *requeue },
            ),
            Op::BasicRecover { requeue } => {
                if !requeue {
                    return Err(AmqpError::not_implemented("requeue=false"));
                }
                let channel = self.channel_mut(ch);
                let unacked = channel.take_all_unacked();
                channel.release(&unacked);
                self.requeue(unacked);
                Ok(())
            }
            Op::TxSelect => {
                let channel = self.channel_mut(ch);
                match channel.mode {
                    Mode::Confirm { .. } => Err(AmqpError::precondition_failed(
                        "cannot switch from confirm to tx mode",
                    )),
                    Mode::Tx(_) => Ok(()),
                    Mode::Plain => {
                        channel.mode = Mode::Tx(TxBuffer::default());
                        Ok(())
                    }
                }
            }
            Op::TxCommit => {
                let tx = self.take_tx(ch)?;
                self.channel_mut(ch).mode = Mode::Tx(TxBuffer::default());
                self.out.note(|| Effect::TxCommitted {
                    channel: ch.clone(),
                    publishes: tx.publishes.len(),
                    settles: tx.settles.len(),
                });
                let mut refused = false;
                for p in tx.publishes {
                    refused |= self.deliver_publish(Publish {
                        channel: ch,
                        message: p.message,
                        queues: p.queues,
                        mandatory: p.mandatory,
                        confirm: None,
                    });
                }
                for (settle, unacked) in tx.settles {
                    self.channel_mut(ch).release(&unacked);
                    self.apply_settle(settle, unacked);
                }
                if refused {
                    // A full queue (`reject-publish`) refused a message: the rest of the
                    // transaction stands, and the channel is closed.
                    return Err(AmqpError::precondition_failed("partial tx completion"));
                }
                Ok(())
            }
            Op::TxRollback => {
                let tx = self.take_tx(ch)?;
                self.out.note(|| Effect::TxRolledBack {
                    channel: ch.clone(),
                    publishes: tx.publishes.len(),
                    settles: tx.settles.len(),
                });
                let channel = self.channel_mut(ch);
                channel.mode = Mode::Tx(TxBuffer::default());
                channel.restore_unacked(tx.settles.into_iter().flat_map(|(_, u)| u).collect());
                Ok(())
            }
            Op::ConfirmSelect => {
                let channel = self.channel_mut(ch);
                match channel.mode {
                    Mode::Tx(_) => Err(AmqpError::precondition_failed(
                        "cannot switch from tx to confirm mode",
                    )),
                    Mode::Confirm { .. } => Ok(()),
                    Mode::Plain => {
                        channel.mode = Mode::Confirm {
                            next_publish_tag: 1,
                        };
                        Ok(())
                    }
                }
            }
            Op::ChannelClose => {
                self.close_channel(ch);
                Ok(())
            }
            Op::ChannelOpen { .. }
            | Op::ConnectionClose { .. }
            | Op::BrokerRestart
            | Op::ClockAdvance { .. } => unreachable!("not channel methods; handled by handle()"),
        }
    }

    fn take_tx(&mut self, ch: &Name) -> Result<TxBuffer, AmqpError> {
        match &mut self.channel_mut(ch).mode {
            Mode::Tx(tx) => Ok(std::mem::take(tx)),
            _ => Err(AmqpError::precondition_failed(
                "channel is not transactional",
            )),
        }
    }

    // ---- exchanges and bindings ----

    fn exchange_declare(
        &mut self,
        def: ExchangeDef,
        durable: bool,
        passive: bool,
    ) -> Result<(), AmqpError> {
        let name = def.name.clone();
        match self.exchanges.get(&name) {
            None if passive => Err(AmqpError::no_exchange(&name)),
            None => {
                if durable {
                    self.out.writes.push(Write::PutExchange(def.clone()));
                }
                self.exchanges.insert(name, Exchange::new(&def, durable));
                Ok(())
            }
            Some(_) if passive => Ok(()),
            Some(x) => {
                let ineq = |arg: &str, received: String, current: String| {
                    Err(AmqpError::inequivalent(
                        "exchange", &name, arg, &received, &current,
                    ))
                };
                let quoted = |v: &dyn std::fmt::Display| format!("'{v}'");
                if x.kind != def.kind {
                    return ineq("type", quoted(&def.kind.as_str()), quoted(&x.kind.as_str()));
                }
                if x.durable != durable {
                    return ineq("durable", quoted(&durable), quoted(&x.durable));
                }
                if x.auto_delete != def.auto_delete {
                    return ineq(
                        "auto_delete",
                        quoted(&def.auto_delete),
                        quoted(&x.auto_delete),
                    );
                }
                if x.internal != def.internal {
                    return ineq("internal", quoted(&def.internal), quoted(&x.internal));
                }
                if x.alternate_exchange != def.alternate_exchange {
                    let show = |v: &Option<Name>| match v {
                        Some(n) => format!("the value '{n}' of type 'longstr'"),
                        None => "none".to_owned(),
                    };
                    return ineq(
                        "alternate-exchange",
                        show(&def.alternate_exchange),
                        show(&x.alternate_exchange),
                    );
                }
                Ok(())
            }
        }
    }

    fn exchange_delete(&mut self, name: &Name, if_unused: bool) -> Result<(), AmqpError> {
        if name.is_empty() {
            return Err(AmqpError::default_exchange());
        }
        if name.starts_with("amq.") {
            return Err(AmqpError::access_refused(format_args!(
                "deletion of system exchange '{name}' in vhost '/' not allowed"
            )));
        }
        let Some(x) = self.exchanges.get(name) else {
            return Ok(());
        };
        if if_unused && !x.bindings.is_empty() {
            return Err(AmqpError::precondition_failed(format_args!(
                "exchange '{name}' in vhost '/' in use"
            )));
        }
        self.delete_exchange(name);
        Ok(())
    }

    fn delete_exchange(&mut self, name: &Name) {
        let Some(x) = self.exchanges.shift_remove(name) else {
            return;
        };
        if x.durable {
            self.out.writes.push(Write::DeleteExchange(name.clone()));
        }
        self.remove_bindings_to(name, DestinationKind::Exchange);
    }

    /// Removes every binding leading to `destination`; a source left without bindings goes
    /// too when it is auto-delete.
    fn remove_bindings_to(&mut self, destination: &Name, kind: DestinationKind) {
        let mut emptied = Vec::new();
        for x in self.exchanges.values_mut() {
            let before = x.bindings.len();
            x.bindings
                .retain(|b| !(b.destination_kind == kind && b.destination == *destination));
            if x.bindings.len() < before && x.bindings.is_empty() && x.auto_delete {
                emptied.push(x.name.clone());
            }
        }
        for name in emptied {
            self.delete_exchange(&name);
        }
    }

    fn bind(&mut self, ch: &Name, def: BindingDef, add: bool) -> Result<(), AmqpError> {
        if def.source.is_empty()
            || (def.destination_kind == DestinationKind::Exchange && def.destination.is_empty())
        {
            return Err(AmqpError::default_exchange());
        }
        if !add && !self.binding_ends_exist(&def) {
            // RabbitMQ answers unbind-ok even when the exchange or queue does not exist.
            return Ok(());
        }
        let Some(source) = self.exchanges.get(&def.source) else {
            return Err(AmqpError::no_exchange(&def.source));
        };
        let (source_durable, source_kind) = (source.durable, source.kind);
        let destination_durable = match def.destination_kind {
            DestinationKind::Exchange => {
                self.exchanges
                    .get(&def.destination)
                    .ok_or_else(|| AmqpError::no_exchange(&def.destination))?
                    .durable
            }
            DestinationKind::Queue => {
                self.accessible_queue(ch, &def.destination)?;
                is_stored(&self.queues[&def.destination])
            }
        };
        if add && source_kind == ExchangeType::Headers {
            exchange::x_match(&def.arguments).map_err(AmqpError::precondition_failed)?;
        }
        let binding = Binding {
            destination: def.destination.clone(),
            destination_kind: def.destination_kind,
            routing_key: def.routing_key.clone(),
            arguments: def.arguments.clone(),
        };
        let durable = source_durable && destination_durable;
        let source = &mut self.exchanges[&def.source];
        let existing = source.bindings.iter().position(|b| *b == binding);
        match (add, existing) {
            (true, None) => {
                source.bindings.push(binding);
                if durable {
                    self.out.writes.push(Write::PutBinding(def));
                }
            }
            (false, Some(at)) => {
                source.bindings.remove(at);
                let emptied = source.bindings.is_empty() && source.auto_delete;
                if durable {
                    self.out.writes.push(Write::DeleteBinding(def.clone()));
                }
                if emptied {
                    self.delete_exchange(&def.source);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn binding_ends_exist(&self, def: &BindingDef) -> bool {
        self.exchanges.contains_key(&def.source)
            && match def.destination_kind {
                DestinationKind::Exchange => self.exchanges.contains_key(&def.destination),
                DestinationKind::Queue => self.queues.contains_key(&def.destination),
            }
    }

    /// The queues a message published to `exchange` reaches: through exchange-to-exchange
    /// bindings and alternate exchanges, each queue once, each exchange visited once.
    fn route(&self, exchange: &Name, routing_key: &str, headers: Option<&Table>) -> Vec<Name> {
        let mut queues: Vec<Name> = Vec::new();
        if exchange.is_empty() {
            if let Some((name, _)) = self.queues.get_key_value(routing_key) {
                queues.push(name.clone());
            }
            return queues;
        }
        let mut visited: Vec<&Name> = Vec::new();
        let mut work: VecDeque<&Name> = VecDeque::from([exchange]);
        while let Some(name) = work.pop_front() {
            if visited.contains(&name) {
                continue;
            }
            visited.push(name);
            let Some(x) = self.exchanges.get(name) else {
                continue;
            };
            let mut matched = false;
            for b in x.matching(routing_key, headers) {
                matched = true;
                match b.destination_kind {
                    DestinationKind::Queue => {
                        if !queues.contains(&b.destination) {
                            queues.push(b.destination.clone());
                        }
                    }
                    DestinationKind::Exchange => work.push_back(&b.destination),
                }
            }
            if !matched {
                if let Some(ae) = &x.alternate_exchange {
                    work.push_back(ae);
                }
            }
        }
        queues
    }

    // ---- queues ----

    /// The queue exists and this channel's connection may use it (exclusive queues belong to
    /// their connection).
    fn accessible_queue(&self, ch: &Name, queue: &Name) -> Result<(), AmqpError> {
        let q = self
            .queues
            .get(queue)
            .ok_or_else(|| AmqpError::no_queue(queue))?;
        match &q.owner {
            Some(owner) if *owner != self.channel(ch).connection => {
                Err(AmqpError::locked_queue(queue))
            }
            _ => Ok(()),
        }
    }

    fn queue_declare(
        &mut self,
        ch: &Name,
        queue: &Name,
        flags: QueueFlags,
        args: &QueueArgs,
    ) -> Result<(), AmqpError> {
        let connection = self.connection_of(ch);
        if flags.passive {
            self.accessible_queue(ch, queue)?;
        }
        if let Some(q) = self.queues.get(queue) {
            if !flags.passive {
                let owner = flags.exclusive.then(|| connection.clone());
                if q.owner != owner {
                    return Err(AmqpError::locked_queue(queue));
                }
                let flags_now = [
                    ("durable", flags.durable, q.durable),
                    ("auto_delete", flags.auto_delete, q.auto_delete),
                ];
                for (arg, want, have) in flags_now {
                    if want != have {
                        return Err(AmqpError::inequivalent(
                            "queue",
                            queue,
                            arg,
                            &format!("'{want}'"),
                            &format!("'{have}'"),
                        ));
                    }
                }
                queue_args_equivalent(queue, &q.args, args)?;
            }
            let q = &mut self.queues[queue];
            q.last_used = self.now;
            self.out.emit(Event::QueueDeclareOk {
                queue: queue.clone(),
                message_count: q.message_count(),
                consumer_count: q.consumer_count() as u32,
            });
            self.channel_mut(ch).last_queue = Some(queue.clone());
            return Ok(());
        }
        check_queue_args(queue, args)?;
        let name = if queue.is_empty() {
            self.generated_queue_name()
        } else {
            queue.clone()
        };
        let def = QueueDef {
            name: name.clone(),
            auto_delete: flags.auto_delete,
            arguments: args.clone(),
        };
        let owner = flags.exclusive.then_some(connection);
        let id = self.take_id();
        let q = Queue::new(id, &def, flags.durable, owner, self.now);
        if is_stored(&q) {
            self.out.writes.push(Write::PutQueue(def));
        }
        self.queues.insert(name.clone(), q);
        self.channel_mut(ch).last_queue = Some(name.clone());
        self.out.emit(Event::QueueDeclareOk {
            queue: name,
            message_count: 0,
            consumer_count: 0,
        });
        Ok(())
    }

    /// Deletes a queue: its consumers are told (`basic.cancel`), its ready messages are gone,
    /// its bindings go (and auto-delete exchanges left without bindings).
    fn delete_queue(&mut self, name: &Name) {
        let Some(q) = self.queues.shift_remove(name) else {
            return;
        };
        for c in q.consumers.iter().chain(&q.blocked) {
            if let Some(channel) = self.channels.get_mut(&c.channel) {
                channel.consumers.shift_remove(&c.tag);
            }
            self.out.emit(Event::Cancel {
                channel: c.channel.clone(),
                consumer_tag: c.tag.clone(),
            });
        }
        if is_stored(&q) {
            self.out.writes.push(Write::DeleteQueue(name.clone()));
        }
        for entry in &q.ready {
            // The DeleteQueue write drops stored messages with the queue.
            forget(
                false,
                name,
                entry,
                Removal::QueueDeleted,
                false,
                &mut self.out,
            );
        }
        self.remove_bindings_to(name, DestinationKind::Queue);
    }

    /// `x-expires`: queues unused for their lease are deleted as time moves on.
    fn expire_leases(&mut self) {
        let expired: Vec<Name> = self
            .queues
            .values()
            .filter(|q| q.lease_expired(self.now))
            .map(|q| q.name.clone())
            .collect();
        for name in expired {
            self.delete_queue(&name);
        }
    }

    // ---- consuming ----

    fn consume(
        &mut self,
        ch: &Name,
        queue: &Name,
        tag: Option<&Name>,
        no_ack: bool,
        exclusive: bool,
    ) -> Result<(), AmqpError> {
        if let Some(tag) = tag {
            if self.channel(ch).consumers.contains_key(tag) {
                return Err(AmqpError::not_allowed(format_args!(
                    "attempt to reuse consumer tag '{tag}'"
                )));
            }
        }
        self.accessible_queue(ch, queue)?;
        let q = &self.queues[queue];
        if q.exclusive_consumer || (exclusive && q.consumer_count() > 0) {
            return Err(AmqpError::access_refused(format_args!(
                "queue '{queue}' in vhost '/' in exclusive use"
            )));
        }
        let queue_id = q.id;
        let tag = match tag {
            Some(tag) => tag.clone(),
            None => {
                let n = self.next_ctag;
                self.next_ctag += 1;
                Name::from(format!("amq.ctag-{n}"))
            }
        };
        let id = self.take_id();
        let channel = self.channels.get_mut(ch).expect("open channel");
        let consumer = Consumer {
            id,
            queue: queue.clone(),
            queue_id,
            no_ack,
            prefetch: channel.consumer_prefetch,
            unacked: 0,
        };
        channel.consumers.insert(tag.clone(), consumer);
        let q = &mut self.queues[queue];
        q.consumers.push_back(ConsumerRef {
            channel: ch.clone(),
            tag: tag.clone(),
        });
        q.had_consumer = true;
        q.exclusive_consumer = exclusive;
        q.last_used = self.now;
        self.out.emit(Event::ConsumeOk {
            channel: ch.clone(),
            consumer_tag: tag,
        });
        Ok(())
    }

    fn get(&mut self, ch: &Name, queue: &Name, no_ack: bool) -> Result<(), AmqpError> {
        self.accessible_queue(ch, queue)?;
        let q = &mut self.queues[queue];
        q.last_used = self.now;
        let Some(entry) = q.pop_front() else {
            self.out.emit(Event::GetEmpty {
                channel: ch.clone(),
            });
            return Ok(());
        };
        // RabbitMQ drops newly exposed expired messages before it counts what is left.
        expire_head(q, self.now, &mut self.out);
        let channel = self.channels.get_mut(ch).expect("open channel");
        let delivery_tag = channel.take_delivery_tag();
        self.out.emit(Event::GetOk {
            channel: ch.clone(),
            delivery_tag,
            redelivered: entry.redelivered,
            exchange: entry.message.exchange.clone(),
            routing_key: entry.message.routing_key.clone(),
            body: entry.message.body.clone(),
            properties: entry.message.properties.clone(),
            message_count: q.message_count(),
        });
        record_delivery(q, channel, delivery_tag, entry, None, no_ack, &mut self.out);
        Ok(())
    }

    // ---- publishing ----

    fn publish(
        &mut self,
        ch: &Name,
        exchange: &Name,
        routing_key: &Name,
        body: &Rc<str>,
        mandatory: bool,
        properties: &Rc<Properties>,
    ) -> Result<(), AmqpError> {
        let x = self
            .exchanges
            .get(exchange)
            .ok_or_else(|| AmqpError::no_exchange(exchange))?;
        if x.internal {
            return Err(AmqpError::access_refused(format_args!(
                "cannot publish to internal exchange '{exchange}' in vhost '/'"
            )));
        }
        if let Some(expiration) = &properties.expiration {
            parse_expiration(expiration)?;
        }
        let message = Rc::new(Message {
            exchange: exchange.clone(),
            routing_key: routing_key.clone(),
            body: body.clone(),
            properties: properties.clone(),
            published_at: self.now,
        });
        let queues = self.route(exchange, routing_key, properties.headers.as_ref());
        let channel = self.channels.get_mut(ch).expect("open channel");
        let confirm = match &mut channel.mode {
            Mode::Tx(tx) => {
                self.out.note(|| Effect::Routed {
                    channel: ch.clone(),
                    queues: queues.clone(),
                    held: true,
                });
                tx.publishes.push(PendingPublish {
                    message,
                    queues,
                    mandatory,
                });
                return Ok(());
            }
            Mode::Confirm { next_publish_tag } => {
                *next_publish_tag += 1;
                Some(*next_publish_tag - 1)
            }
            Mode::Plain => None,
        };
        self.deliver_publish(Publish {
            channel: ch,
            message,
            queues,
            mandatory,
            confirm,
        });
        Ok(())
    }

    /// Hands a routed message to its queues and answers the publisher. Whether some queue
    /// refused it.
    fn deliver_publish(&mut self, p: Publish<'_>) -> bool {
        let mut queues = p.queues;
        let routed_at = self.out.effects.len();
        let mut refused = false;
        let mut stored = false;
        // A transaction routes at publish time: a queue may have gone by the commit.
        queues.retain(|q| match self.enqueue(q, &p.message) {
            Enqueued::Gone => false,
            Enqueued::Refused => {
                refused = true;
                true
            }
            Enqueued::Accepted { stored: s } => {
                stored |= s;
                true
            }
        });
        if queues.is_empty() && p.mandatory {
            self.out.emit(Event::Return {
                channel: p.channel.clone(),
                reply_code: 312,
                reply_text: "NO_ROUTE".into(),
                exchange: p.message.exchange.clone(),
                routing_key: p.message.routing_key.clone(),
                body: p.message.body.clone(),
            });
        }
        // Noted before what it caused, without copying the list of queues.
        if self.out.record_effects {
            self.out.effects.insert(
                routed_at,
                Effect::Routed {
                    channel: p.channel.clone(),
                    queues,
                    held: false,
                },
            );
        }
        let Some(tag) = p.confirm else {
            return refused;
        };
        let channel = p.channel.clone();
        if refused {
            self.out.emit(Event::ConfirmNack {
                channel,
                delivery_tag: tag,
                multiple: false,
            });
        } else if stored {
            let channel_open_id = self.channel_open_ids[&channel];
            self.held.push(HeldConfirm {
                channel,
                channel_open_id,
                tag,
            });
        } else {
            self.out.emit(Event::ConfirmAck {
                channel,
                delivery_tag: tag,
                multiple: false,
            });
        }
        refused
    }

    /// A message arriving at a queue: refused when full under `reject-publish`, handed straight
    /// to a waiting consumer when the queue is empty, otherwise queued (and the head dropped
    /// while over the limit under `drop-head`).
    fn enqueue(&mut self, queue: &Name, message: &Rc<Message>) -> Enqueued {
        let now = self.now;
        let Some(q) = self.queues.get_mut(queue) else {
            return Enqueued::Gone;
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        if q.overflow() != Overflow::DropHead && q.would_overflow(message.size()) {
            if q.overflow() == Overflow::RejectPublishDlx {
                let entry = Entry {
                    seq,
                    priority: 0,
                    message: message.clone(),
                    redelivered: false,
                    expires_at: None,
                };
                // Refused before it was ever queued: nothing to forget, only to dead-letter.
                if let Some(exchange) = &q.args.dead_letter_exchange {
                    self.out.dead.push_back(DeadLetter {
                        queue: q.name.clone(),
                        entry,
                        reason: Reason::Maxlen,
                        exchange: exchange.clone(),
                        routing_key: q.args.dead_letter_routing_key.clone(),
                    });
                }
            }
            self.out.note(|| Effect::Refused {
                queue: queue.clone(),
            });
            return Enqueued::Refused;
        }
        let message_ttl = message
            .properties
            .expiration
            .as_deref()
            .and_then(|e| parse_expiration(e).ok());
        let entry = Entry {
            seq,
            priority: q.effective_priority(message.properties.priority),
            message: message.clone(),
            redelivered: false,
            expires_at: q.expiry(now, message_ttl),
        };
        let stored = is_stored(q) && message.persistent();
        self.out.note(|| Effect::Enqueued {
            queue: queue.clone(),
            seq,
        });
        if stored {
            self.out.writes.push(Write::PutMessage {
                queue: queue.clone(),
                seq,
                message: StoredMessage {
                    message: message.clone(),
                    priority: entry.priority,
                    expires_at: entry.expires_at,
                    delivered: false,
                },
            });
        }
        let entry = if q.ready.is_empty() {
            match offer(q, &mut self.channels, entry, &mut self.out) {
                Ok(()) => return Enqueued::Accepted { stored },
                Err(entry) => entry,
            }
        } else {
            entry
        };
        q.insert(entry);
        enforce_limits(q, now, &mut self.out);
        Enqueued::Accepted { stored }
    }

    // ---- acks, nacks, rejects ----

    fn settle_deliveries(
        &mut self,
        ch: &Name,
        tag: u64,
        multiple: bool,
        settle: Settle,
    ) -> Result<(), AmqpError> {
        let channel = self.channel_mut(ch);
        let Some(taken) = channel.take_acked(tag, multiple) else {
            return Err(AmqpError::precondition_failed(format_args!(
                "unknown delivery tag {tag}"
            )));
        };
        if let Mode::Tx(tx) = &mut channel.mode {
            tx.settles.push((settle, taken));
            return Ok(());
        }
        channel.release(&taken);
        self.apply_settle(settle, taken);
        Ok(())
    }

    fn apply_settle(&mut self, settle: Settle, taken: Vec<Unacked>) {
        match settle {
            Settle::Ack => {
                // Acks come in runs from one queue: look it up once per run.
                let mut last: Option<(u64, bool)> = None;
                for u in taken {
                    let stored = match last {
                        Some((id, stored)) if id == u.queue_id => stored,
                        _ => {
                            let stored = self.live_queue(&u).is_some_and(is_stored);
                            last = Some((u.queue_id, stored));
                            stored
                        }
                    };
                    forget(
                        stored,
                        &u.queue,
                        &u.entry,
                        Removal::Acked,
                        false,
                        &mut self.out,
                    );
                }
            }
            Settle::Reject { requeue: true } => self.requeue(taken),
            Settle::Reject { requeue: false } => {
                for u in taken {
                    match self.queues.get(&u.queue).filter(|q| q.id == u.queue_id) {
                        Some(q) => dead_letter_from(q, u.entry, Reason::Rejected, &mut self.out),
                        None => forget(
                            false,
                            &u.queue,
                            &u.entry,
                            Removal::Rejected,
                            false,
                            &mut self.out,
                        ),
                    }
                }
            }
        }
    }

    /// The queue an unacked message came from, unless it was deleted since.
    fn live_queue(&self, u: &Unacked) -> Option<&Queue> {
        self.queues.get(&u.queue).filter(|q| q.id == u.queue_id)
    }

    /// Puts deliveries back in their queues at their original positions, marked redelivered.
    /// A message whose queue is gone is gone with it.
    fn requeue(&mut self, unacked: Vec<Unacked>) {
        for u in unacked {
            match self.queues.get_mut(&u.queue).filter(|q| q.id == u.queue_id) {
                Some(q) => {
                    self.out.note(|| Effect::Requeued {
                        queue: u.queue.clone(),
                        seq: u.entry.seq,
                    });
                    q.insert(Entry {
                        redelivered: true,
                        ..u.entry
                    });
                }
                None => forget(
                    false,
                    &u.queue,
                    &u.entry,
                    Removal::QueueDeleted,
                    false,
                    &mut self.out,
                ),
            }
        }
        // A requeue can push a queue over its length limit: RabbitMQ then drops from the head,
        // which may well be the message just requeued.
        let now = self.now;
        for q in self.queues.values_mut() {
            enforce_limits(q, now, &mut self.out);
        }
    }

    // ---- running to quiescence ----

    /// Delivers whatever can be delivered and republishes dead letters, until nothing moves.
    fn settle(&mut self) {
        loop {
            while let Some(dl) = self.out.dead.pop_front() {
                self.republish_dead_letter(dl);
            }
            let now = self.now;
            for q in self.queues.values_mut() {
                unblock(q, &self.channels);
                expire_head(q, now, &mut self.out);
                run_queue(q, &mut self.channels, now, &mut self.out);
            }
            if self.out.dead.is_empty() {
                break;
            }
        }
    }

    fn republish_dead_letter(&mut self, dl: DeadLetter) {
        if !self.exchanges.contains_key(&dl.exchange) {
            return;
        }
        let message = Rc::new(dl.republished(self.now));
        let queues = self.route(
            &dl.exchange,
            &message.routing_key,
            message.properties.headers.as_ref(),
        );
        for q in queues {
            if dl.reason != Reason::Rejected && dead_letter::is_cycle(&message, &q) {
                continue;
            }
            self.enqueue(&q, &message);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct QueueFlags {
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
    passive: bool,
}

enum Enqueued {
    Accepted {
        stored: bool,
    },
    Refused,
    /// The queue no longer exists.
    Gone,
}

/// Whether a queue's persistent messages are written to the store: durable, not exclusive
/// (exclusive queues never outlive their connection, so never a restart).
fn is_stored(q: &Queue) -> bool {
    q.durable && q.owner.is_none()
}

/// A message leaves its queue for good; its stored copy goes too.
fn forget(
    stored: bool,
    queue: &Name,
    entry: &Entry,
    reason: Removal,
    dead_lettered: bool,
    out: &mut Outbox,
) {
    if stored && entry.message.persistent() {
        out.writes.push(Write::DeleteMessage {
            queue: queue.clone(),
            seq: entry.seq,
        });
    }
    out.note(|| Effect::Removed {
        queue: queue.clone(),
        seq: entry.seq,
        reason,
        dead_lettered,
    });
}

/// A message leaves its queue to be dead-lettered (or dropped, without a dead-letter exchange).
fn dead_letter_from(q: &Queue, entry: Entry, reason: Reason, out: &mut Outbox) {
    let dlx = q.args.dead_letter_exchange.is_some();
    forget(is_stored(q), &q.name, &entry, reason.into(), dlx, out);
    if let Some(exchange) = &q.args.dead_letter_exchange {
        out.dead.push_back(DeadLetter {
            queue: q.name.clone(),
            entry,
            reason,
            exchange: exchange.clone(),
            routing_key: q.args.dead_letter_routing_key.clone(),
        });
    }
}

/// After messages were added: `drop-head` while over `x-max-length(-bytes)`, then expiry.
fn enforce_limits(q: &mut Queue, now: u64, out: &mut Outbox) {
    if q.overflow() == Overflow::DropHead {
        while let Some(dropped) = q.take_over_limit() {
            dead_letter_from(q, dropped, Reason::Maxlen, out);
        }
    }
    expire_head(q, now, out);
}

fn expire_head(q: &mut Queue, now: u64, out: &mut Outbox) {
    for entry in q.take_expired(now) {
        dead_letter_from(q, entry, Reason::Expired, out);
    }
}

/// Consumers blocked by prefetch that can take messages again rejoin at the tail.
fn unblock(q: &mut Queue, channels: &Map<Name, Channel>) {
    if q.blocked.is_empty() {
        return;
    }
    let (ready, still): (Vec<ConsumerRef>, Vec<ConsumerRef>) = q.blocked.drain(..).partition(|c| {
        channels
            .get(&c.channel)
            .is_some_and(|ch| ch.can_deliver_to(&c.tag))
    });
    q.blocked = still;
    q.consumers.extend(ready);
}

/// Offers one message to the queue's consumers in round-robin order. A consumer that cannot
/// take it (prefetch) is set aside as blocked. Gives the message back when nobody takes it.
fn offer(
    q: &mut Queue,
    channels: &mut Map<Name, Channel>,
    entry: Entry,
    out: &mut Outbox,
) -> Result<(), Entry> {
    while let Some(c) = q.consumers.pop_front() {
        let Some(channel) = channels.get_mut(&c.channel) else {
            continue;
        };
        let Some(consumer) = channel.deliverable(&c.tag) else {
            q.blocked.push(c);
            continue;
        };
        let (no_ack, key) = (
            consumer.no_ack,
            ConsumerKey {
                tag: c.tag.clone(),
                id: consumer.id,
            },
        );
        let delivery_tag = channel.take_delivery_tag();
        out.emit(Event::Deliver {
            channel: c.channel.clone(),
            consumer_tag: c.tag.clone(),
            delivery_tag,
            redelivered: entry.redelivered,
            exchange: entry.message.exchange.clone(),
            routing_key: entry.message.routing_key.clone(),
            body: entry.message.body.clone(),
            properties: entry.message.properties.clone(),
        });
        record_delivery(q, channel, delivery_tag, entry, Some(key), no_ack, out);
        q.consumers.push_back(c);
        return Ok(());
    }
    Err(entry)
}

/// After a delivery: track it for its ack, or forget it when no ack is coming.
fn record_delivery(
    q: &Queue,
    channel: &mut Channel,
    delivery_tag: u64,
    entry: Entry,
    consumer: Option<ConsumerKey>,
    no_ack: bool,
    out: &mut Outbox,
) {
    let stored = is_stored(q) && entry.message.persistent();
    out.note(|| Effect::Delivered {
        queue: q.name.clone(),
        seq: entry.seq,
        channel: channel.name.clone(),
        delivery_tag,
    });
    if no_ack {
        forget(stored, &q.name, &entry, Removal::Acked, false, out);
        return;
    }
    if stored && !entry.redelivered {
        out.writes.push(Write::MarkDelivered {
            queue: q.name.clone(),
            seq: entry.seq,
        });
    }
    channel.track(Unacked {
        tag: delivery_tag,
        queue: q.name.clone(),
        queue_id: q.id,
        entry,
        consumer,
    });
}

/// Delivers ready messages while some consumer can take them.
fn run_queue(q: &mut Queue, channels: &mut Map<Name, Channel>, now: u64, out: &mut Outbox) {
    while !q.consumers.is_empty() {
        let Some(entry) = q.pop_front() else {
            return;
        };
        if let Err(entry) = offer(q, channels, entry, out) {
            q.insert(entry);
            return;
        }
        expire_head(q, now, out);
    }
}

/// Per-message TTL from the `expiration` property; RabbitMQ refuses anything but a
/// non-negative integer.
fn parse_expiration(expiration: &str) -> Result<u64, AmqpError> {
    match expiration.parse::<i64>() {
        Ok(ms) if ms >= 0 => Ok(ms as u64),
        Ok(ms) => Err(AmqpError::precondition_failed(format_args!(
            "invalid expiration '{expiration}': {{value_negative,{ms}}}"
        ))),
        Err(_) => Err(AmqpError::precondition_failed(format_args!(
            "invalid expiration '{expiration}': no_integer"
        ))),
    }
}

/// RabbitMQ's checks on a new queue's arguments.
fn check_queue_args(queue: &str, args: &QueueArgs) -> Result<(), AmqpError> {
    let invalid = |arg: &str, why: String| {
        Err(AmqpError::precondition_failed(format_args!(
            "invalid arg '{arg}' for queue '{queue}' in vhost '/': {why}"
        )))
    };
    let non_negative = [
        ("x-message-ttl", args.message_ttl),
        ("x-max-length", args.max_length),
        ("x-max-length-bytes", args.max_length_bytes),
        ("x-max-priority", args.max_priority),
    ];
    if let Some(v) = args.expires {
        if v == 0 {
            return invalid("x-expires", "{value_zero,0}".into());
        }
        if v < 0 {
            return invalid("x-expires", format!("{{value_negative,{v}}}"));
        }
    }
    for (arg, value) in non_negative {
        if let Some(v) = value.filter(|v| *v < 0) {
            return invalid(arg, format!("{{value_negative,{v}}}"));
        }
    }
    if let Some(v) = args.max_priority.filter(|v| *v > 255) {
        return invalid("x-max-priority", format!("{{max_value_exceeded,{v}}}"));
    }
    if args.dead_letter_routing_key.is_some() && args.dead_letter_exchange.is_none() {
        return invalid(
            "x-dead-letter-routing-key",
            "routing_key_but_no_dlx_defined".into(),
        );
    }
    Ok(())
}

/// A redeclare must ask for the same arguments the queue has.
fn queue_args_equivalent(queue: &str, have: &QueueArgs, want: &QueueArgs) -> Result<(), AmqpError> {
    let show_int = |v: Option<i64>| match v {
        Some(v) => format!("the value '{v}' of type 'long'"),
        None => "none".into(),
    };
    let show_str = |v: Option<&str>| match v {
        Some(v) => format!("the value '{v}' of type 'longstr'"),
        None => "none".into(),
    };
    let ints = [
        ("x-message-ttl", want.message_ttl, have.message_ttl),
        ("x-expires", want.expires, have.expires),
        ("x-max-length", want.max_length, have.max_length),
        (
            "x-max-length-bytes",
            want.max_length_bytes,
            have.max_length_bytes,
        ),
        ("x-max-priority", want.max_priority, have.max_priority),
    ];
    for (arg, w, h) in ints {
        if w != h {
            return Err(AmqpError::inequivalent(
                "queue",
                queue,
                arg,
                &show_int(w),
                &show_int(h),
            ));
        }
    }
    let strs = [
        (
            "x-overflow",
            want.overflow.map(Overflow::as_str),
            have.overflow.map(Overflow::as_str),
        ),
        (
            "x-dead-letter-exchange",
            want.dead_letter_exchange.as_deref(),
            have.dead_letter_exchange.as_deref(),
        ),
        (
            "x-dead-letter-routing-key",
            want.dead_letter_routing_key.as_deref(),
            have.dead_letter_routing_key.as_deref(),
        ),
    ];
    for (arg, w, h) in strs {
        if w != h {
            return Err(AmqpError::inequivalent(
                "queue",
                queue,
                arg,
                &show_str(w),
                &show_str(h),
            ));
        }
    }
    Ok(())
}
