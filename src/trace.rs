//! Trace format v1: what the broker sends, in order, each tagged with the step that caused it.

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::scenario::{Name, Properties};

/// One event of a trace: `{"step": 3, "event": "basic.deliver", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    pub step: usize,
    #[serde(flatten)]
    pub event: Event,
}

/// What the broker sends. Replies that carry no information (`exchange.declare-ok`,
/// `tx.commit-ok`, ...) are not listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum Event {
    #[serde(rename = "queue.declare-ok")]
    QueueDeclareOk {
        queue: Name,
        message_count: u32,
        consumer_count: u32,
    },
    #[serde(rename = "basic.consume-ok")]
    ConsumeOk { channel: Name, consumer_tag: Name },
    #[serde(rename = "basic.deliver")]
    Deliver {
        channel: Name,
        consumer_tag: Name,
        delivery_tag: u64,
        redelivered: bool,
        exchange: Name,
        routing_key: Name,
        body: Rc<str>,
        properties: Rc<Properties>,
    },
    #[serde(rename = "basic.get-ok")]
    GetOk {
        channel: Name,
        delivery_tag: u64,
        redelivered: bool,
        exchange: Name,
        routing_key: Name,
        body: Rc<str>,
        properties: Rc<Properties>,
        message_count: u32,
    },
    #[serde(rename = "basic.get-empty")]
    GetEmpty { channel: Name },
    #[serde(rename = "basic.return")]
    Return {
        channel: Name,
        reply_code: u16,
        reply_text: String,
        exchange: Name,
        routing_key: Name,
        body: Rc<str>,
    },
    /// Publisher confirm: the broker took responsibility for the message.
    #[serde(rename = "basic.ack")]
    ConfirmAck {
        channel: Name,
        delivery_tag: u64,
        multiple: bool,
    },
    /// Publisher confirm: the broker refused the message (`reject-publish` overflow).
    #[serde(rename = "basic.nack")]
    ConfirmNack {
        channel: Name,
        delivery_tag: u64,
        multiple: bool,
    },
    /// Server-sent cancel: the consumer's queue went away.
    #[serde(rename = "basic.cancel")]
    Cancel { channel: Name, consumer_tag: Name },
    #[serde(rename = "queue.purge-ok")]
    PurgeOk { queue: Name, message_count: u32 },
    #[serde(rename = "queue.delete-ok")]
    DeleteOk { queue: Name, message_count: u32 },
    /// A channel error: the channel is closed by the broker.
    #[serde(rename = "channel.close")]
    ChannelClose {
        channel: Name,
        reply_code: u16,
        reply_text: String,
    },
    /// A connection error: the connection and all its channels are closed by the broker.
    #[serde(rename = "connection.close")]
    ConnectionClose {
        connection: Name,
        reply_code: u16,
        reply_text: String,
    },
}

impl Event {
    /// The event's name as written in a trace.
    pub fn name(&self) -> &'static str {
        match self {
            Event::QueueDeclareOk { .. } => "queue.declare-ok",
            Event::ConsumeOk { .. } => "basic.consume-ok",
            Event::Deliver { .. } => "basic.deliver",
            Event::GetOk { .. } => "basic.get-ok",
            Event::GetEmpty { .. } => "basic.get-empty",
            Event::Return { .. } => "basic.return",
            Event::ConfirmAck { .. } => "basic.ack",
            Event::ConfirmNack { .. } => "basic.nack",
            Event::Cancel { .. } => "basic.cancel",
            Event::PurgeOk { .. } => "queue.purge-ok",
            Event::DeleteOk { .. } => "queue.delete-ok",
            Event::ChannelClose { .. } => "channel.close",
            Event::ConnectionClose { .. } => "connection.close",
        }
    }

    /// The channel the event was sent on, when it belongs to one.
    pub fn channel(&self) -> Option<&Name> {
        match self {
            Event::ConsumeOk { channel, .. }
            | Event::Deliver { channel, .. }
            | Event::GetOk { channel, .. }
            | Event::GetEmpty { channel }
            | Event::Return { channel, .. }
            | Event::ConfirmAck { channel, .. }
            | Event::ConfirmNack { channel, .. }
            | Event::Cancel { channel, .. }
            | Event::ChannelClose { channel, .. } => Some(channel),
            Event::QueueDeclareOk { .. }
            | Event::PurgeOk { .. }
            | Event::DeleteOk { .. }
            | Event::ConnectionClose { .. } => None,
        }
    }
}

/// A whole trace as JSON: an array with one event a line, so that diffs read line by line.
pub fn to_json(events: &[TraceEvent]) -> String {
    if events.is_empty() {
        return "[]\n".to_owned();
    }
    let mut out = String::from("[\n");
    for (i, e) in events.iter().enumerate() {
        out.push_str("  ");
        out.push_str(&serde_json::to_string(e).expect("trace events always serialize"));
        out.push_str(if i + 1 < events.len() { ",\n" } else { "\n" });
    }
    out.push_str("]\n");
    out
}

/// Parses a trace written by [`to_json`] (or by any v1 producer). Replies the format allows but
/// does not compare (`exchange.declare-ok`, `tx.commit-ok`, ...) are dropped.
pub fn from_json(text: &str) -> Result<Vec<TraceEvent>, serde_json::Error> {
    let raw: Vec<serde_json::Value> = serde_json::from_str(text)?;
    raw.into_iter()
        .filter(|v| !is_ignorable_reply(v))
        .map(serde_json::from_value)
        .collect()
}

/// An `*-ok` reply that carries no information the trace format compares.
fn is_ignorable_reply(event: &serde_json::Value) -> bool {
    const COMPARED: [&str; 5] = [
        "queue.declare-ok",
        "basic.consume-ok",
        "basic.get-ok",
        "queue.purge-ok",
        "queue.delete-ok",
    ];
    event
        .get("event")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|name| name.ends_with("-ok") && !COMPARED.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncompared_replies_are_dropped_and_others_kept() {
        let text = r#"[
            {"step":0,"event":"exchange.declare-ok"},
            {"step":0,"event":"queue.declare-ok","queue":"q","message_count":0,"consumer_count":0},
            {"step":1,"event":"tx.commit-ok","channel":"main"},
            {"step":2,"event":"basic.get-empty","channel":"main"},
            {"step":3,"event":"basic.get-ok","channel":"main","delivery_tag":1,"redelivered":false,
             "exchange":"","routing_key":"q","body":"b","properties":{},"message_count":0}
        ]"#;
        let events = from_json(text).unwrap();
        let names: Vec<&str> = events.iter().map(|e| e.event.name()).collect();
        assert_eq!(
            names,
            ["queue.declare-ok", "basic.get-empty", "basic.get-ok"]
        );
        assert!(from_json(r#"[{"step":0,"event":"basic.bogus"}]"#).is_err());
    }
}
