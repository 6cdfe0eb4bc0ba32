//! Channels and connections: delivery tags, unacked messages, consumers, prefetch, and the
//! channel's mode (plain, transactional or confirming).

use std::collections::VecDeque;

use super::message::Entry;
use super::tx::TxBuffer;
use super::Map;
use crate::scenario::Name;

#[derive(Debug, Clone)]
pub struct Connection {
    pub name: Name,
    pub open: bool,
}

/// A consumer as its channel knows it.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// Tells this consumer from an earlier one that had the same tag on this channel.
    pub id: u64,
    pub queue: Name,
    pub queue_id: u64,
    pub no_ack: bool,
    /// Per-consumer prefetch (`basic.qos` with `global: false` before `basic.consume`); 0 is
    /// unlimited.
    pub prefetch: u16,
    pub unacked: u32,
}

/// A delivered message waiting for its ack.
#[derive(Debug, Clone)]
pub struct Unacked {
    pub tag: u64,
    pub queue: Name,
    pub queue_id: u64,
    pub entry: Entry,
    /// `None` for `basic.get`: such deliveries count against no prefetch.
    pub consumer: Option<ConsumerKey>,
}

/// Which consumer a delivery went to: the tag, and the consumer's id in case the tag has been
/// cancelled and used again since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerKey {
    pub tag: Name,
    pub id: u64,
}

#[derive(Debug, Clone)]
pub enum Mode {
    Plain,
    Tx(TxBuffer),
    Confirm {
        /// The tag the next publish will be confirmed with.
        next_publish_tag: u64,
    },
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub name: Name,
    pub connection: Name,
    pub open: bool,
    pub next_delivery_tag: u64,
    /// Sorted by tag: tags only grow, and requeued messages leave the channel.
    pub unacked: VecDeque<Unacked>,
    pub consumers: Map<Name, Consumer>,
    /// `basic.qos` with `global: false`: the limit given to consumers created from now on.
    pub consumer_prefetch: u16,
    /// `basic.qos` with `global: true`: one limit shared by the channel's consumers.
    pub channel_prefetch: u16,
    /// Unacked deliveries to consumers that require acks (what the shared limit counts).
    pub consumer_unacked: u32,
    pub mode: Mode,
    /// The queue this channel declared last: what an empty queue name stands for.
    pub last_queue: Option<Name>,
}

impl Channel {
    pub fn new(name: Name, connection: Name) -> Self {
        Channel {
            name,
            connection,
            open: true,
            next_delivery_tag: 1,
            unacked: VecDeque::new(),
            consumers: Map::default(),
            consumer_prefetch: 0,
            channel_prefetch: 0,
            consumer_unacked: 0,
            mode: Mode::Plain,
            last_queue: None,
        }
    }

    /// Whether the consumer may be sent one more message now.
    pub fn can_deliver_to(&self, tag: &str) -> bool {
        self.deliverable(tag).is_some()
    }

    /// The consumer, when it may be sent one more message now.
    pub fn deliverable(&self, tag: &str) -> Option<&Consumer> {
        let c = self.consumers.get(tag)?;
        if c.no_ack {
            return Some(c);
        }
        let own = c.prefetch == 0 || c.unacked < u32::from(c.prefetch);
        let shared =
            self.channel_prefetch == 0 || self.consumer_unacked < u32::from(self.channel_prefetch);
        (own && shared).then_some(c)
    }

    pub fn take_delivery_tag(&mut self) -> u64 {
        let tag = self.next_delivery_tag;
        self.next_delivery_tag += 1;
        tag
    }

    /// Records a delivery that needs an ack: it counts against prefetch until released.
    pub fn track(&mut self, unacked: Unacked) {
        if let Some(key) = &unacked.consumer {
            if let Some(c) = self.consumers.get_mut(&key.tag).filter(|c| c.id == key.id) {
                c.unacked += 1;
            }
            self.consumer_unacked += 1;
        }
        self.unacked.push_back(unacked);
    }

    /// Settled deliveries stop counting against prefetch. Separate from taking them off the
    /// channel: an ack inside a transaction takes the tag at once but frees prefetch only on
    /// commit, as in RabbitMQ.
    pub fn release(&mut self, settled: &[Unacked]) {
        // Deliveries settled together mostly share a consumer: one lookup per run of them.
        let mut rest = settled;
        while let Some(first) = rest.first() {
            let run = rest
                .iter()
                .take_while(|u| u.consumer == first.consumer)
                .count();
            if let Some(key) = &first.consumer {
                let n = run as u32;
                if let Some(c) = self.consumers.get_mut(&key.tag).filter(|c| c.id == key.id) {
                    c.unacked = c.unacked.saturating_sub(n);
                }
                self.consumer_unacked = self.consumer_unacked.saturating_sub(n);
            }
            rest = &rest[run..];
        }
    }

    /// Takes (without releasing) the deliveries an ack, nack or reject names: one tag, or with
    /// `multiple` every tag up to it, or with `multiple` and tag 0 all of them. `None` when the
    /// named tag is not outstanding (RabbitMQ's "unknown delivery tag"), even with `multiple`.
    pub fn take_acked(&mut self, tag: u64, multiple: bool) -> Option<Vec<Unacked>> {
        if multiple && tag == 0 {
            return Some(self.take_all_unacked());
        }
        let at = self.unacked.binary_search_by_key(&tag, |u| u.tag).ok()?;
        Some(if multiple {
            self.unacked.drain(..=at).collect()
        } else {
            self.unacked.remove(at).into_iter().collect()
        })
    }

    /// Takes every outstanding delivery (channel close, `basic.recover`).
    pub fn take_all_unacked(&mut self) -> Vec<Unacked> {
        self.unacked.drain(..).collect()
    }

    /// Puts deliveries taken by a transaction back as outstanding (`tx.rollback`): the consumer
    /// may ack them again. They never stopped counting against prefetch.
    pub fn restore_unacked(&mut self, mut restored: Vec<Unacked>) {
        restored.extend(self.unacked.drain(..));
        restored.sort_by_key(|u| u.tag);
        self.unacked = restored.into();
    }
}
