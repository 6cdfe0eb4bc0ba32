//! Messages as the broker holds them: one shared, immutable body and properties, and a
//! per-queue entry that remembers the queue position, the redelivered flag and the expiry.

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::scenario::{Name, Properties};

/// A published (or dead-lettered) message. Shared by every queue it was routed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The exchange and routing key it was last published to (a dead-lettered message carries
    /// its dead-letter exchange and key).
    pub exchange: Name,
    pub routing_key: Name,
    pub body: Rc<str>,
    pub properties: Rc<Properties>,
    /// Virtual time of the publish, for per-message TTL.
    pub published_at: u64,
}

impl Message {
    pub fn persistent(&self) -> bool {
        self.properties.persistent()
    }

    /// Bytes counted by `x-max-length-bytes`: the body only, as RabbitMQ counts.
    pub fn size(&self) -> u64 {
        self.body.len() as u64
    }
}

/// A message in one queue, ready or delivered-and-unacked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the queue: requeued messages go back to their place by it.
    pub seq: u64,
    /// Effective priority (0 when the queue has no `x-max-priority`).
    pub priority: u8,
    pub message: Rc<Message>,
    pub redelivered: bool,
    /// Absolute virtual time at which the message expires, from the lower of the queue's and
    /// the message's TTL.
    pub expires_at: Option<u64>,
}

impl Entry {
    /// Order within a queue: higher priority first, then publish order.
    pub fn key(&self) -> (std::cmp::Reverse<u8>, u64) {
        (std::cmp::Reverse(self.priority), self.seq)
    }

    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}
