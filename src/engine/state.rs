//! A serializable view of the whole broker: what the UI draws, what `state()` returns to
//! JavaScript, and what tests inspect. Built on demand; the broker does not keep it.

use std::rc::Rc;

use serde::Serialize;

use super::broker::Broker;
use super::channel::{Channel, Mode};
use super::message::Entry;
use super::store::DestinationKind;
use super::tx::Settle;
use crate::scenario::{ExchangeType, Name, Properties, QueueArgs, Table};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerState {
    /// Virtual time, in milliseconds.
    pub now: u64,
    pub exchanges: Vec<ExchangeState>,
    pub queues: Vec<QueueState>,
    pub connections: Vec<ConnectionState>,
    pub channels: Vec<ChannelState>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExchangeState {
    pub name: Name,
    #[serde(rename = "type")]
    pub kind: ExchangeType,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub alternate_exchange: Option<Name>,
    pub bindings: Vec<BindingState>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BindingState {
    pub destination: Name,
    pub destination_kind: DestinationKind,
    pub routing_key: Name,
    pub arguments: Table,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageState {
    /// The message's position in its queue; stable across requeues.
    pub seq: u64,
    pub exchange: Name,
    pub routing_key: Name,
    pub body: Rc<str>,
    pub properties: Rc<Properties>,
    pub redelivered: bool,
    pub priority: u8,
    /// Virtual time at which it expires, if it has a TTL.
    pub expires_at: Option<u64>,
    /// Whether it is in the durable image (persistent, in a durable queue).
    pub persisted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueState {
    pub name: Name,
    pub durable: bool,
    pub auto_delete: bool,
    /// The owning connection of an exclusive queue.
    pub exclusive_owner: Option<Name>,
    pub arguments: QueueArgs,
    pub ready: Vec<MessageState>,
    pub ready_bytes: u64,
    /// Delivered and not yet acked, across all channels.
    pub unacked: usize,
    pub consumers: Vec<QueueConsumerState>,
    /// Virtual time at which `x-expires` deletes it, if nothing uses it before.
    pub expires_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueConsumerState {
    pub channel: Name,
    pub consumer_tag: Name,
    /// Waiting for acks before it can be sent more (prefetch reached).
    pub blocked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionState {
    pub name: Name,
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelState {
    pub name: Name,
    pub connection: Name,
    pub open: bool,
    /// `plain`, `tx` or `confirm`.
    pub mode: &'static str,
    pub next_delivery_tag: u64,
    /// The tag the next publish will be confirmed with, in confirm mode.
    pub next_publish_tag: Option<u64>,
    pub consumer_prefetch: u16,
    pub channel_prefetch: u16,
    pub consumers: Vec<ConsumerState>,
    pub unacked: Vec<UnackedState>,
    /// What a transactional channel holds until commit.
    pub tx: Option<TxState>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerState {
    pub consumer_tag: Name,
    pub queue: Name,
    pub no_ack: bool,
    pub prefetch: u16,
    pub unacked: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnackedState {
    pub delivery_tag: u64,
    pub queue: Name,
    /// `None` for a `basic.get`.
    pub consumer_tag: Option<Name>,
    pub message: MessageState,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxState {
    pub publishes: Vec<PendingPublishState>,
    pub settles: Vec<PendingSettleState>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingPublishState {
    pub exchange: Name,
    pub routing_key: Name,
    pub body: Rc<str>,
    pub queues: Vec<Name>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingSettleState {
    /// `ack`, `requeue` (nack or reject with requeue) or `reject` (without).
    pub kind: &'static str,
    pub delivery_tags: Vec<u64>,
}

impl Broker {
    pub fn state(&self) -> BrokerState {
        let persisted_queue = |name: &Name| {
            self.queues()
                .find(|q| q.name == *name)
                .is_some_and(|q| q.durable && q.owner.is_none())
        };
        let message = |e: &Entry, stored: bool| MessageState {
            seq: e.seq,
            exchange: e.message.exchange.clone(),
            routing_key: e.message.routing_key.clone(),
            body: e.message.body.clone(),
            properties: e.message.properties.clone(),
            redelivered: e.redelivered,
            priority: e.priority,
            expires_at: e.expires_at,
            persisted: stored && e.message.persistent(),
        };
        let unacked_in = |queue: &Name| {
            self.channels()
                .flat_map(|c| &c.unacked)
                .filter(|u| u.queue == *queue)
                .count()
        };
        BrokerState {
            now: self.now(),
            exchanges: self
                .exchanges()
                .map(|x| ExchangeState {
                    name: x.name.clone(),
                    kind: x.kind,
                    durable: x.durable,
                    auto_delete: x.auto_delete,
                    internal: x.internal,
                    alternate_exchange: x.alternate_exchange.clone(),
                    bindings: x
                        .bindings
                        .iter()
                        .map(|b| BindingState {
                            destination: b.destination.clone(),
                            destination_kind: b.destination_kind,
                            routing_key: b.routing_key.clone(),
                            arguments: b.arguments.clone(),
                        })
                        .collect(),
                })
                .collect(),
            queues: self
                .queues()
                .map(|q| {
                    let stored = q.durable && q.owner.is_none();
                    let consumers = q
                        .consumers
                        .iter()
                        .map(|c| (c, false))
                        .chain(q.blocked.iter().map(|c| (c, true)))
                        .map(|(c, blocked)| QueueConsumerState {
                            channel: c.channel.clone(),
                            consumer_tag: c.tag.clone(),
                            blocked,
                        })
                        .collect();
                    QueueState {
                        name: q.name.clone(),
                        durable: q.durable,
                        auto_delete: q.auto_delete,
                        exclusive_owner: q.owner.clone(),
                        arguments: q.args.clone(),
                        ready: q.ready.iter().map(|e| message(e, stored)).collect(),
                        ready_bytes: q.ready_bytes,
                        unacked: unacked_in(&q.name),
                        consumers,
                        expires_at: q
                            .args
                            .expires
                            .filter(|_| q.consumer_count() == 0)
                            .map(|ms| q.last_used.saturating_add(ms.max(0) as u64)),
                    }
                })
                .collect(),
            connections: self
                .connections()
                .map(|c| ConnectionState {
                    name: c.name.clone(),
                    open: c.open,
                })
                .collect(),
            channels: self
                .channels()
                .map(|c| channel_state(c, &persisted_queue, &message))
                .collect(),
        }
    }
}

fn channel_state(
    c: &Channel,
    persisted_queue: &dyn Fn(&Name) -> bool,
    message: &dyn Fn(&Entry, bool) -> MessageState,
) -> ChannelState {
    let (mode, next_publish_tag, tx) = match &c.mode {
        Mode::Plain => ("plain", None, None),
        Mode::Confirm { next_publish_tag } => ("confirm", Some(*next_publish_tag), None),
        Mode::Tx(tx) => (
            "tx",
            None,
            Some(TxState {
                publishes: tx
                    .publishes
                    .iter()
                    .map(|p| PendingPublishState {
                        exchange: p.message.exchange.clone(),
                        routing_key: p.message.routing_key.clone(),
                        body: p.message.body.clone(),
                        queues: p.queues.clone(),
                    })
                    .collect(),
                settles: tx
                    .settles
                    .iter()
                    .map(|(settle, unacked)| PendingSettleState {
                        kind: match settle {
                            Settle::Ack => "ack",
                            Settle::Reject { requeue: true } => "requeue",
                            Settle::Reject { requeue: false } => "reject",
                        },
                        delivery_tags: unacked.iter().map(|u| u.tag).collect(),
                    })
                    .collect(),
            }),
        ),
    };
    ChannelState {
        name: c.name.clone(),
        connection: c.connection.clone(),
        open: c.open,
        mode,
        next_delivery_tag: c.next_delivery_tag,
        next_publish_tag,
        consumer_prefetch: c.consumer_prefetch,
        channel_prefetch: c.channel_prefetch,
        consumers: c
            .consumers
            .iter()
            .map(|(tag, k)| ConsumerState {
                consumer_tag: tag.clone(),
                queue: k.queue.clone(),
                no_ack: k.no_ack,
                prefetch: k.prefetch,
                unacked: k.unacked,
            })
            .collect(),
        unacked: c
            .unacked
            .iter()
            .map(|u| UnackedState {
                delivery_tag: u.tag,
                queue: u.queue.clone(),
                consumer_tag: u.consumer.as_ref().map(|k| k.tag.clone()),
                message: message(&u.entry, persisted_queue(&u.queue)),
            })
            .collect(),
        tx,
    }
}
