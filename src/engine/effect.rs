//! What happens to messages inside the broker, beyond what it sends to clients.
//!
//! The trace holds only what a client would see. Effects add the inside story (a message
//! queued, requeued to its place, expired, dead-lettered, dropped by a limit, a transaction
//! committed or discarded) for the UI's animations and for conservation checks: every queued
//! message (named by its queue position `seq`, unique per broker) ends in exactly one
//! [`Effect::Removed`], or is still ready or unacked.

use serde::Serialize;

use super::dead_letter::Reason;
use crate::scenario::Name;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Removal {
    /// Acked by the client, or delivered to a `no_ack` consumer or get.
    Acked,
    /// Rejected or nacked without requeue.
    Rejected,
    Expired,
    /// Dropped from the head by `x-max-length`/`x-max-length-bytes` (`drop-head`).
    Maxlen,
    Purged,
    /// Its queue was deleted (ready or unacked at the time).
    QueueDeleted,
}

impl From<Reason> for Removal {
    fn from(reason: Reason) -> Self {
        match reason {
            Reason::Rejected => Removal::Rejected,
            Reason::Expired => Removal::Expired,
            Reason::Maxlen => Removal::Maxlen,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum Effect {
    /// A publish found its queues (empty: unroutable). `held` when a transaction keeps it
    /// on the channel until commit.
    Routed {
        channel: Name,
        queues: Vec<Name>,
        held: bool,
    },
    /// A message entered a queue (a publish, a commit, or a dead letter arriving).
    Enqueued { queue: Name, seq: u64 },
    /// A full queue under `reject-publish` refused a message.
    Refused { queue: Name },
    /// A delivery (to a consumer or a get) of the message at `seq`.
    Delivered {
        queue: Name,
        seq: u64,
        channel: Name,
        delivery_tag: u64,
    },
    /// Back in its queue at its original position, to be redelivered.
    Requeued { queue: Name, seq: u64 },
    /// The message left its queue for good; `dead_lettered` when it went on to the queue's
    /// dead-letter exchange.
    Removed {
        queue: Name,
        seq: u64,
        reason: Removal,
        dead_lettered: bool,
    },
    TxCommitted {
        channel: Name,
        publishes: usize,
        settles: usize,
    },
    TxRolledBack {
        channel: Name,
        publishes: usize,
        settles: usize,
    },
    /// The broker restarted from its durable image.
    Restarted { queues: usize, messages: usize },
}
