//! What a transactional channel holds back until `tx.commit`.
//!
//! Publishes are routed when they are made (as RabbitMQ does) but reach their queues only on
//! commit. Acks, nacks and rejects take their deliveries off the channel at once, so that the
//! same tag cannot be acked twice, and give them back on rollback.

use std::rc::Rc;

use super::channel::Unacked;
use super::message::Message;
use crate::scenario::Name;

#[derive(Debug, Clone)]
pub struct PendingPublish {
    pub message: Rc<Message>,
    pub queues: Vec<Name>,
    pub mandatory: bool,
}

#[derive(Debug, Clone)]
pub enum Settle {
    Ack,
    Reject { requeue: bool },
}

#[derive(Debug, Clone, Default)]
pub struct TxBuffer {
    pub publishes: Vec<PendingPublish>,
    pub settles: Vec<(Settle, Vec<Unacked>)>,
}
