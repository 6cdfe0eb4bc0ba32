//! Dead-lettering: the message a queue gives up on is republished to its dead-letter
//! exchange, with an `x-death` history in its headers.

use std::rc::Rc;

use serde_json::{Map, Value};

use super::message::{Entry, Message};
use crate::scenario::{Name, Properties};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Rejected,
    Expired,
    Maxlen,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::Expired => "expired",
            Reason::Maxlen => "maxlen",
        }
    }
}

/// A message a queue let go of, waiting to be republished to the queue's dead-letter exchange.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub queue: Name,
    pub entry: Entry,
    pub reason: Reason,
    pub exchange: Name,
    pub routing_key: Option<Name>,
}

impl DeadLetter {
    /// The message as it is republished: to the dead-letter exchange, with the dead-letter
    /// routing key (or its own), its expiration moved into `x-death`, and the history updated.
    pub fn republished(&self, now: u64) -> Message {
        let old = &self.entry.message;
        let mut properties: Properties = (*old.properties).clone();
        let expiration = properties.expiration.take();
        let mut headers = properties.headers.take().unwrap_or_default();
        let routing_keys = vec![Value::from(&*old.routing_key)];
        let mut deaths: Vec<Value> = match headers.remove("x-death") {
            Some(Value::Array(deaths)) => deaths,
            _ => Vec::new(),
        };
        let same = |d: &Value| {
            d.get("queue").and_then(Value::as_str) == Some(&*self.queue)
                && d.get("reason").and_then(Value::as_str) == Some(self.reason.as_str())
        };
        // An entry for the same queue and reason is counted up and moved to the front; others
        // keep their place. The newest death is always first.
        let entry = match deaths.iter().position(same) {
            Some(at) => {
                let mut d = deaths.remove(at);
                if let Some(obj) = d.as_object_mut() {
                    let count = obj.get("count").and_then(Value::as_u64).unwrap_or(0);
                    obj.insert("count".into(), (count + 1).into());
                }
                d
            }
            None => {
                let mut d = Map::new();
                d.insert("count".into(), 1.into());
                d.insert("reason".into(), self.reason.as_str().into());
                d.insert("queue".into(), (*self.queue).into());
                d.insert("exchange".into(), (*old.exchange).into());
                d.insert("routing-keys".into(), Value::Array(routing_keys));
                if let Some(exp) = expiration {
                    d.insert("original-expiration".into(), exp.into());
                }
                Value::Object(d)
            }
        };
        deaths.insert(0, entry);
        headers.insert("x-death".into(), Value::Array(deaths));
        for (key, value) in [
            ("x-first-death-reason", self.reason.as_str()),
            ("x-first-death-queue", &*self.queue),
            ("x-first-death-exchange", &*old.exchange),
        ] {
            headers.entry(key).or_insert_with(|| value.into());
        }
        properties.headers = Some(headers);
        Message {
            exchange: self.exchange.clone(),
            routing_key: self
                .routing_key
                .clone()
                .unwrap_or_else(|| old.routing_key.clone()),
            body: old.body.clone(),
            properties: Rc::new(properties),
            published_at: now,
        }
    }
}

/// Whether dead-lettering `message` into `queue` closes a cycle that no client took part in
/// (every death since the queue's last one was automatic: expiry or overflow). RabbitMQ drops
/// such a message for that queue rather than loop forever.
pub fn is_cycle(message: &Message, queue: &str) -> bool {
    let Some(Value::Array(deaths)) = message
        .properties
        .headers
        .as_ref()
        .and_then(|h| h.get("x-death"))
    else {
        return false;
    };
    let Some(last) = deaths
        .iter()
        .position(|d| d.get("queue").and_then(Value::as_str) == Some(queue))
    else {
        return false;
    };
    deaths[..=last]
        .iter()
        .all(|d| d.get("reason").and_then(Value::as_str) != Some(Reason::Rejected.as_str()))
}
