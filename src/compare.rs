//! Whether two traces are the same behaviour (SCENARIO-FORMAT.md, "Trace").
//!
//! Events are split into streams and each stream is compared in order, field by field (`step`
//! included):
//! - per channel: `basic.consume-ok`, `basic.deliver`, `basic.get-ok`, `basic.get-empty`,
//!   `basic.return`, confirms, server `basic.cancel`, `channel.close`;
//! - per connection: `connection.close`;
//! - per queue name: `queue.declare-ok`, `queue.purge-ok`, `queue.delete-ok` (their counts).
//!
//! How events of different streams interleave is not compared (two channels' deliveries may race
//! on a real broker), and `reply_text` is not compared (wording differs between versions).

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use serde_json::Value;

use crate::scenario::{Name, Properties};
use crate::trace::{Event, TraceEvent};

/// Which sequence of events a difference is in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Stream {
    Channel(Name),
    Connection(Name),
    Queue(Name),
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stream::Channel(n) => write!(f, "channel `{n}`"),
            Stream::Connection(n) => write!(f, "connection `{n}`"),
            Stream::Queue(n) => write!(f, "queue `{n}`"),
        }
    }
}

/// The stream an event belongs to.
pub fn stream_of(event: &Event) -> Stream {
    match event {
        Event::QueueDeclareOk { queue, .. }
        | Event::PurgeOk { queue, .. }
        | Event::DeleteOk { queue, .. } => Stream::Queue(queue.clone()),
        Event::ConnectionClose { connection, .. } => Stream::Connection(connection.clone()),
        other => Stream::Channel(
            other
                .channel()
                .expect("every other event is sent on a channel")
                .clone(),
        ),
    }
}

/// One place where the traces disagree: the `index`-th event of `stream`.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub stream: Stream,
    pub index: usize,
    /// `None`: the actual trace has an event the expected one does not.
    pub expected: Option<TraceEvent>,
    /// `None`: the actual trace is missing this expected event.
    pub actual: Option<TraceEvent>,
}

fn json(e: &TraceEvent) -> String {
    serde_json::to_string(e).unwrap_or_else(|_| format!("{e:?}"))
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, event #{}: ", self.stream, self.index)?;
        match (&self.expected, &self.actual) {
            (Some(e), Some(a)) => {
                write!(f, "expected\n    {}\n  but got\n    {}", json(e), json(a))
            }
            (Some(e), None) => write!(f, "missing\n    {}", json(e)),
            (None, Some(a)) => write!(f, "unexpected\n    {}", json(a)),
            (None, None) => f.write_str("no difference"),
        }
    }
}

/// What is compared of an event: everything but `reply_text`.
fn comparable(e: &TraceEvent) -> TraceEvent {
    let mut e = e.clone();
    match &mut e.event {
        Event::Return { reply_text, .. }
        | Event::ChannelClose { reply_text, .. }
        | Event::ConnectionClose { reply_text, .. } => reply_text.clear(),
        _ => {}
    }
    e
}

/// Splits a trace into streams, in order of first appearance.
fn streams(trace: &[TraceEvent]) -> Vec<(Stream, Vec<&TraceEvent>)> {
    let mut out: Vec<(Stream, Vec<&TraceEvent>)> = Vec::new();
    for e in trace {
        let s = stream_of(&e.event);
        match out.iter_mut().find(|(k, _)| *k == s) {
            Some((_, events)) => events.push(e),
            None => out.push((s, vec![e])),
        }
    }
    out
}

/// Renames server-generated names, which differ from run to run: `amq.gen-…` queues become
/// `amq.gen-1`, `amq.gen-2`, ... and `amq.ctag-…` consumer tags `amq.ctag-1`, ... in order of
/// first appearance, wherever they appear (names, routing keys, headers, reply texts).
/// [`compare`] applies it to both traces, so any naming scheme compares equal.
pub fn normalize_generated_names(events: &mut [TraceEvent]) {
    let mut names = Renamer::default();
    for e in events.iter_mut() {
        match &mut e.event {
            Event::QueueDeclareOk { queue, .. }
            | Event::PurgeOk { queue, .. }
            | Event::DeleteOk { queue, .. } => names.name(queue),
            Event::ConsumeOk { consumer_tag, .. } | Event::Cancel { consumer_tag, .. } => {
                names.name(consumer_tag)
            }
            Event::Deliver {
                consumer_tag,
                routing_key,
                properties,
                ..
            } => {
                names.name(consumer_tag);
                names.name(routing_key);
                names.properties(properties);
            }
            Event::GetOk {
                routing_key,
                properties,
                ..
            } => {
                names.name(routing_key);
                names.properties(properties);
            }
            Event::Return {
                routing_key,
                reply_text,
                ..
            } => {
                names.name(routing_key);
                *reply_text = names.text(reply_text);
            }
            Event::ChannelClose { reply_text, .. } | Event::ConnectionClose { reply_text, .. } => {
                *reply_text = names.text(reply_text);
            }
            Event::GetEmpty { .. } | Event::ConfirmAck { .. } | Event::ConfirmNack { .. } => {}
        }
    }
}

#[derive(Default)]
struct Renamer {
    map: HashMap<String, String>,
    gen: usize,
    ctag: usize,
}

const GENERATED: [&str; 2] = ["amq.gen-", "amq.ctag-"];

impl Renamer {
    fn rename(&mut self, s: &str) -> Option<String> {
        let prefix = GENERATED.iter().find(|p| s.starts_with(**p))?;
        if let Some(n) = self.map.get(s) {
            return Some(n.clone());
        }
        let counter = if *prefix == "amq.gen-" {
            &mut self.gen
        } else {
            &mut self.ctag
        };
        *counter += 1;
        let n = format!("{prefix}{counter}");
        self.map.insert(s.to_owned(), n.clone());
        Some(n)
    }

    fn name(&mut self, n: &mut Name) {
        if let Some(new) = self.rename(n) {
            *n = Rc::from(new);
        }
    }

    fn value(&mut self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Some(new) = self.rename(s) {
                    *s = new;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.value(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.value(i)),
            _ => {}
        }
    }

    fn properties(&mut self, p: &mut Rc<Properties>) {
        let Some(headers) = &p.headers else {
            return;
        };
        let mut headers = headers.clone();
        headers.values_mut().for_each(|v| self.value(v));
        if p.headers.as_ref() != Some(&headers) {
            Rc::make_mut(p).headers = Some(headers);
        }
    }

    /// Renames generated names inside a reply text.
    fn text(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some((at, _)) = GENERATED
            .iter()
            .filter_map(|p| rest.find(p).map(|i| (i, *p)))
            .min()
        {
            out.push_str(&rest[..at]);
            let end = rest[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
                .map(|i| at + i)
                .unwrap_or(rest.len());
            let word = &rest[at..end];
            out.push_str(&self.rename(word).unwrap_or_else(|| word.to_owned()));
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }
}

/// `Ok` when `actual` is the same behaviour as `expected`; otherwise every difference, stream
/// by stream (expected's streams first, in order of first appearance).
pub fn compare(expected: &[TraceEvent], actual: &[TraceEvent]) -> Result<(), Vec<Difference>> {
    let mut expected = expected.to_vec();
    let mut actual = actual.to_vec();
    normalize_generated_names(&mut expected);
    normalize_generated_names(&mut actual);
    let exp = streams(&expected);
    let act = streams(&actual);
    let mut keys: Vec<&Stream> = exp.iter().map(|(k, _)| k).collect();
    for (k, _) in &act {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let empty = Vec::new();
    let find = |all: &'_ [(Stream, Vec<&'_ TraceEvent>)], k: &Stream| -> usize {
        all.iter().position(|(s, _)| s == k).unwrap_or(usize::MAX)
    };
    let mut diffs = Vec::new();
    for key in keys {
        let e = exp.get(find(&exp, key)).map(|(_, v)| v).unwrap_or(&empty);
        let a = act.get(find(&act, key)).map(|(_, v)| v).unwrap_or(&empty);
        for index in 0..e.len().max(a.len()) {
            let (x, y) = (e.get(index), a.get(index));
            let same = match (x, y) {
                (Some(x), Some(y)) => comparable(x) == comparable(y),
                _ => false,
            };
            if !same {
                diffs.push(Difference {
                    stream: key.clone(),
                    index,
                    expected: x.map(|v| (*v).clone()),
                    actual: y.map(|v| (*v).clone()),
                });
            }
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs)
    }
}

/// A report for people: the differences of each stream, at most `per_stream` of them (once one
/// event is missing, every later one in the stream usually differs too).
pub fn report(diffs: &[Difference], per_stream: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < diffs.len() {
        let stream = &diffs[i].stream;
        let n = diffs[i..]
            .iter()
            .take_while(|d| &d.stream == stream)
            .count();
        for d in &diffs[i..i + n.min(per_stream)] {
            out.push_str(&format!("  {d}\n"));
        }
        if n > per_stream {
            out.push_str(&format!(
                "  {stream}: ... and {} more differences\n",
                n - per_stream
            ));
        }
        i += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver(step: usize, channel: &str, tag: u64, body: &str) -> TraceEvent {
        TraceEvent {
            step,
            event: Event::Deliver {
                channel: Rc::from(channel),
                consumer_tag: Rc::from("c"),
                delivery_tag: tag,
                redelivered: false,
                exchange: Rc::from(""),
                routing_key: Rc::from("q"),
                body: Rc::from(body),
                properties: Rc::new(Properties::default()),
            },
        }
    }

    fn close(step: usize, channel: &str, code: u16, text: &str) -> TraceEvent {
        TraceEvent {
            step,
            event: Event::ChannelClose {
                channel: Rc::from(channel),
                reply_code: code,
                reply_text: text.into(),
            },
        }
    }

    fn declare_ok(step: usize, queue: &str, count: u32) -> TraceEvent {
        TraceEvent {
            step,
            event: Event::QueueDeclareOk {
                queue: Rc::from(queue),
                message_count: count,
                consumer_count: 0,
            },
        }
    }

    #[test]
    fn identical_traces_are_the_same() {
        let t = vec![declare_ok(0, "q", 0), deliver(1, "a", 1, "x")];
        assert_eq!(compare(&t, &t), Ok(()));
        assert_eq!(compare(&[], &[]), Ok(()));
    }

    #[test]
    fn a_different_field_is_caught_with_its_channel_and_index() {
        let expected = vec![deliver(1, "a", 1, "x"), deliver(2, "a", 2, "y")];
        let actual = vec![deliver(1, "a", 1, "x"), deliver(2, "a", 2, "z")];
        let diffs = compare(&expected, &actual).unwrap_err();
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].stream, Stream::Channel(Rc::from("a")));
        assert_eq!(diffs[0].index, 1);
        let text = diffs[0].to_string();
        assert!(
            text.starts_with("channel `a`, event #1: expected"),
            "{text}"
        );
        assert!(
            text.contains(r#""body":"y""#) && text.contains(r#""body":"z""#),
            "{text}"
        );
    }

    #[test]
    fn the_step_is_compared() {
        let diffs = compare(&[deliver(1, "a", 1, "x")], &[deliver(2, "a", 1, "x")]).unwrap_err();
        assert_eq!(diffs.len(), 1);
    }

    #[test]
    fn missing_and_unexpected_events_are_caught() {
        let diffs = compare(&[deliver(1, "a", 1, "x")], &[]).unwrap_err();
        assert!(diffs[0].actual.is_none());
        assert!(diffs[0].to_string().contains("missing"));
        let diffs = compare(&[], &[close(3, "b", 406, "")]).unwrap_err();
        assert_eq!(diffs[0].stream, Stream::Channel(Rc::from("b")));
        assert!(diffs[0].to_string().contains("unexpected"));
    }

    #[test]
    fn cross_channel_interleaving_is_not_a_difference() {
        let expected = vec![deliver(1, "a", 1, "x"), deliver(1, "b", 1, "y")];
        let actual = vec![deliver(1, "b", 1, "y"), deliver(1, "a", 1, "x")];
        assert_eq!(compare(&expected, &actual), Ok(()));
    }

    #[test]
    fn order_within_a_channel_is_a_difference() {
        let expected = vec![deliver(1, "a", 1, "x"), deliver(1, "a", 2, "y")];
        let actual = vec![deliver(1, "a", 2, "y"), deliver(1, "a", 1, "x")];
        assert_eq!(compare(&expected, &actual).unwrap_err().len(), 2);
    }

    #[test]
    fn reply_text_is_ignored_but_the_code_is_not() {
        let expected = vec![close(2, "a", 404, "NOT_FOUND - no queue 'q' in vhost '/'")];
        let same = vec![close(2, "a", 404, "NOT_FOUND - no queue here")];
        assert_eq!(compare(&expected, &same), Ok(()));
        let other_code = vec![close(2, "a", 406, "NOT_FOUND - no queue 'q' in vhost '/'")];
        assert!(compare(&expected, &other_code).is_err());
    }

    #[test]
    fn ok_counts_are_compared_per_queue_in_order() {
        let expected = vec![
            declare_ok(0, "q1", 0),
            declare_ok(1, "q2", 0),
            declare_ok(3, "q1", 2),
        ];
        let reordered = vec![
            declare_ok(1, "q2", 0),
            declare_ok(0, "q1", 0),
            declare_ok(3, "q1", 2),
        ];
        assert_eq!(compare(&expected, &reordered), Ok(()));
        let wrong_count = vec![
            declare_ok(0, "q1", 0),
            declare_ok(1, "q2", 0),
            declare_ok(3, "q1", 1),
        ];
        let diffs = compare(&expected, &wrong_count).unwrap_err();
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].stream, Stream::Queue(Rc::from("q1")));
        assert_eq!(diffs[0].index, 1);
    }

    #[test]
    fn report_caps_each_stream() {
        let expected: Vec<_> = (0..5).map(|i| deliver(i, "a", i as u64 + 1, "x")).collect();
        let diffs = compare(&expected, &[]).unwrap_err();
        let text = report(&diffs, 2);
        assert_eq!(text.matches("missing").count(), 2);
        assert!(text.contains("... and 3 more differences"), "{text}");
    }

    #[test]
    fn generated_names_compare_by_order_of_appearance() {
        let named = |queue: &str, tag: &str| {
            vec![
                TraceEvent {
                    step: 0,
                    event: Event::QueueDeclareOk {
                        queue: Rc::from(queue),
                        message_count: 0,
                        consumer_count: 0,
                    },
                },
                TraceEvent {
                    step: 1,
                    event: Event::ConsumeOk {
                        channel: Rc::from("main"),
                        consumer_tag: Rc::from(tag),
                    },
                },
            ]
        };
        let broker = named("amq.gen-Xy3_kQ", "amq.ctag-abc");
        let engine = named("amq.gen-1", "amq.ctag-1");
        assert_eq!(compare(&broker, &engine), Ok(()));
        // A generated name is still not the same as a user's name.
        assert!(compare(&broker, &named("q", "amq.ctag-1")).is_err());
    }
}
