//! Queues: ready messages in order, consumers in round-robin, and the queue's own limits.

use std::collections::VecDeque;

use super::message::Entry;
use super::store::QueueDef;
use crate::scenario::{Name, Overflow, QueueArgs};

/// A consumer as its queue knows it: the channel it lives on and its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRef {
    pub channel: Name,
    pub tag: Name,
}

#[derive(Debug, Clone)]
pub struct Queue {
    /// Distinguishes this queue from an earlier one of the same name, so that a message
    /// requeued after its queue was deleted and redeclared does not land in the new one.
    pub id: u64,
    pub name: Name,
    pub durable: bool,
    pub auto_delete: bool,
    /// The connection owning an exclusive queue.
    pub owner: Option<Name>,
    pub args: QueueArgs,
    /// Ready messages, kept sorted by [`Entry::key`].
    pub ready: VecDeque<Entry>,
    pub ready_bytes: u64,
    /// Consumers that may be offered the next message, front first. A consumer that cannot
    /// take one when offered moves to `blocked` and comes back at the tail once it can, as in
    /// RabbitMQ's queue process.
    pub consumers: VecDeque<ConsumerRef>,
    pub blocked: Vec<ConsumerRef>,
    /// Set by the first consumer: an auto-delete queue goes only after having had one.
    pub had_consumer: bool,
    pub exclusive_consumer: bool,
    /// Virtual time of the last use, for `x-expires`.
    pub last_used: u64,
}

impl Queue {
    pub fn new(id: u64, def: &QueueDef, durable: bool, owner: Option<Name>, now: u64) -> Self {
        Queue {
            id,
            name: def.name.clone(),
            durable,
            auto_delete: def.auto_delete,
            owner,
            args: def.arguments.clone(),
            ready: VecDeque::new(),
            ready_bytes: 0,
            consumers: VecDeque::new(),
            blocked: Vec::new(),
            had_consumer: false,
            exclusive_consumer: false,
            last_used: now,
        }
    }

    pub fn consumer_count(&self) -> usize {
        self.consumers.len() + self.blocked.len()
    }

    pub fn remove_consumer(&mut self, c: &ConsumerRef) {
        self.consumers.retain(|x| x != c);
        self.blocked.retain(|x| x != c);
        if self.consumer_count() == 0 {
            self.exclusive_consumer = false;
        }
    }

    pub fn message_count(&self) -> u32 {
        self.ready.len() as u32
    }

    pub fn overflow(&self) -> Overflow {
        self.args.overflow.unwrap_or_default()
    }

    /// The priority a message gets here: capped at `x-max-priority`, 0 without it.
    pub fn effective_priority(&self, requested: Option<u8>) -> u8 {
        match self.args.max_priority {
            Some(max) => requested.unwrap_or(0).min(max.clamp(0, 255) as u8),
            None => 0,
        }
    }

    /// Expiry of a message enqueued now: the lower of queue TTL and message TTL.
    pub fn expiry(&self, now: u64, message_ttl: Option<u64>) -> Option<u64> {
        let queue_ttl = self.args.message_ttl.map(|t| t.max(0) as u64);
        let ttl = match (queue_ttl, message_ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        ttl.map(|t| now.saturating_add(t))
    }

    /// Would one more message of `size` bytes exceed `x-max-length` or `x-max-length-bytes`?
    pub fn would_overflow(&self, size: u64) -> bool {
        let len_over = self
            .args
            .max_length
            .is_some_and(|max| self.ready.len() as i64 + 1 > max);
        let bytes_over = self
            .args
            .max_length_bytes
            .is_some_and(|max| (self.ready_bytes + size) as i64 > max);
        len_over || bytes_over
    }

    pub fn is_over_limit(&self) -> bool {
        let len_over = self
            .args
            .max_length
            .is_some_and(|max| self.ready.len() as i64 > max);
        let bytes_over = self
            .args
            .max_length_bytes
            .is_some_and(|max| self.ready_bytes as i64 > max);
        len_over || bytes_over
    }

    /// Puts a message where it belongs: at the tail when it is the newest, or back at its
    /// original position when it is requeued.
    pub fn insert(&mut self, entry: Entry) {
        self.ready_bytes += entry.message.size();
        let key = entry.key();
        match self.ready.back() {
            Some(last) if last.key() > key => {
                let at = self.ready.partition_point(|e| e.key() < key);
                self.ready.insert(at, entry);
            }
            _ => self.ready.push_back(entry),
        }
    }

    pub fn pop_front(&mut self) -> Option<Entry> {
        let entry = self.ready.pop_front()?;
        self.ready_bytes -= entry.message.size();
        Some(entry)
    }

    pub fn remove_at(&mut self, index: usize) -> Option<Entry> {
        let entry = self.ready.remove(index)?;
        self.ready_bytes -= entry.message.size();
        Some(entry)
    }

    /// Removes expired messages, looking only where RabbitMQ looks: at the head of the queue
    /// (of each priority level, for a priority queue). Expired messages behind a live one stay.
    pub fn take_expired(&mut self, now: u64) -> Vec<Entry> {
        let mut expired = Vec::new();
        let mut i = 0;
        while i < self.ready.len() {
            if self.ready[i].is_expired(now) {
                expired.extend(self.remove_at(i));
                continue;
            }
            if self.args.max_priority.is_none() {
                break;
            }
            let level = self.ready[i].priority;
            while i < self.ready.len() && self.ready[i].priority == level {
                i += 1;
            }
        }
        expired
    }

    /// The next message RabbitMQ would drop for `drop-head` overflow, while over the limit.
    pub fn take_over_limit(&mut self) -> Option<Entry> {
        if self.is_over_limit() {
            self.pop_front()
        } else {
            None
        }
    }

    /// Whether `x-expires` has run out: unused (no consumers, no get, no redeclare) for that long.
    pub fn lease_expired(&self, now: u64) -> bool {
        self.consumer_count() == 0
            && self
                .args
                .expires
                .is_some_and(|ms| ms > 0 && now >= self.last_used.saturating_add(ms as u64))
    }
}
