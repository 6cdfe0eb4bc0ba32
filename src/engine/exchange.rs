//! Exchanges, their bindings, and how each type matches a routing key.

use serde_json::Value;

use super::store::{DestinationKind, ExchangeDef};
use crate::scenario::{ExchangeType, Name, Table};

#[derive(Debug, Clone)]
pub struct Exchange {
    pub name: Name,
    pub kind: ExchangeType,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub alternate_exchange: Option<Name>,
    /// Bindings with this exchange as the source, in the order they were made.
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub destination: Name,
    pub destination_kind: DestinationKind,
    pub routing_key: Name,
    pub arguments: Table,
}

/// Exchanges every RabbitMQ vhost has from the start (all durable).
pub const PREDECLARED: [(&str, ExchangeType, bool); 7] = [
    ("", ExchangeType::Direct, false),
    ("amq.direct", ExchangeType::Direct, false),
    ("amq.fanout", ExchangeType::Fanout, false),
    ("amq.topic", ExchangeType::Topic, false),
    ("amq.headers", ExchangeType::Headers, false),
    ("amq.match", ExchangeType::Headers, false),
    ("amq.rabbitmq.trace", ExchangeType::Topic, true),
];

impl Exchange {
    pub fn new(def: &ExchangeDef, durable: bool) -> Self {
        Exchange {
            name: def.name.clone(),
            kind: def.kind,
            durable,
            auto_delete: def.auto_delete,
            internal: def.internal,
            alternate_exchange: def.alternate_exchange.clone(),
            bindings: Vec::new(),
        }
    }

    /// The destinations whose bindings match, in binding order, without repeats.
    pub fn matching<'a>(
        &'a self,
        routing_key: &'a str,
        headers: Option<&'a Table>,
    ) -> impl Iterator<Item = &'a Binding> + 'a {
        self.bindings.iter().filter(move |b| match self.kind {
            ExchangeType::Direct => *b.routing_key == *routing_key,
            ExchangeType::Fanout => true,
            ExchangeType::Topic => topic_matches(&b.routing_key, routing_key),
            ExchangeType::Headers => headers_match(&b.arguments, headers),
        })
    }
}

/// Topic matching: words split on `.`; `*` is exactly one word, `#` zero or more.
/// An empty key or pattern has no words. Dynamic programming keeps patterns full of `#`
/// linear in the key's length times the pattern's, never exponential.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    let (p, k) = (words(pattern), words(key));
    // can[j]: pattern prefix consumed so far matches key prefix of length j.
    let mut can = vec![false; k.len() + 1];
    can[0] = true;
    for word in &p {
        let mut next = vec![false; k.len() + 1];
        match *word {
            "#" => {
                let mut reachable = false;
                for j in 0..=k.len() {
                    reachable |= can[j];
                    next[j] = reachable;
                }
            }
            "*" => {
                next[1..].copy_from_slice(&can[..k.len()]);
            }
            literal => {
                for j in 1..=k.len() {
                    next[j] = can[j - 1] && k[j - 1] == literal;
                }
            }
        }
        can = next;
    }
    can[k.len()]
}

fn words(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('.').collect()
    }
}

/// How a headers binding matches (`x-match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XMatch {
    /// `all`: every binding header must match; `any`: one is enough.
    pub all: bool,
    /// The `-with-x` variants also match headers starting with `x-`.
    pub with_x: bool,
}

/// `x-match` of a headers binding, or the reason it is invalid.
pub fn x_match(arguments: &Table) -> Result<XMatch, String> {
    let mode = |all, with_x| Ok(XMatch { all, with_x });
    match arguments.get("x-match") {
        None => mode(true, false),
        Some(Value::String(s)) => match s.as_str() {
            "all" => mode(true, false),
            "any" => mode(false, false),
            "all-with-x" => mode(true, true),
            "any-with-x" => mode(false, true),
            _ => Err(format!(
                "Invalid x-match field value <<\"{s}\">>; expected all, any, all-with-x, or any-with-x"
            )),
        },
        Some(other) => Err(format!(
            "Invalid x-match field type (value {other}); expected longstr"
        )),
    }
}

/// Headers matching as RabbitMQ does it: binding keys starting with `x-` are not matched
/// (unless `-with-x`); a null binding value asks only for the header's presence; `all` needs
/// every key to match, `any` at least one.
pub fn headers_match(arguments: &Table, headers: Option<&Table>) -> bool {
    let XMatch { all, with_x } = x_match(arguments).unwrap_or(XMatch {
        all: true,
        with_x: false,
    });
    let mut pattern = arguments
        .iter()
        .filter(|(k, _)| *k != "x-match" && (with_x || !k.starts_with("x-")));
    let matches = |(key, want): (&String, &Value)| {
        headers
            .and_then(|h| h.get(key))
            .is_some_and(|have| want.is_null() || same_value(want, have))
    };
    if all {
        pattern.all(matches)
    } else {
        pattern.any(matches)
    }
}

/// Erlang's `==` on table values: numbers compare by value whatever their type.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_words() {
        let cases = [
            ("a.*", "a.b", true),
            ("a.*", "a", false),
            ("a.*", "a.b.c", false),
            ("a.#", "a", true),
            ("a.#", "a.b.c", true),
            ("#", "", true),
            ("*", "", false),
            ("#.b", "b", true),
            ("#.b.#", "x.b", true),
            ("*.b.*", "a.b", false),
            ("a..b", "a..b", true),
            ("a.*.b", "a..b", true),
            ("", "", true),
            ("", "a", false),
        ];
        for (pattern, key, want) in cases {
            assert_eq!(topic_matches(pattern, key), want, "{pattern:?} vs {key:?}");
        }
        let many = "#.".repeat(100) + "z";
        assert!(!topic_matches(
            &many,
            "a.".repeat(100).trim_end_matches('.')
        ));
    }

    #[test]
    fn headers_all_and_any() {
        let args = |v: Value| v.as_object().unwrap().clone();
        let h = args(serde_json::json!({"format": "pdf", "type": "report", "n": 1}));
        let all = args(serde_json::json!({"x-match": "all", "format": "pdf", "type": "report"}));
        let any = args(serde_json::json!({"x-match": "any", "format": "zip", "type": "report"}));
        let presence = args(serde_json::json!({"n": null}));
        let float = args(serde_json::json!({"n": 1.0}));
        assert!(headers_match(&all, Some(&h)));
        assert!(headers_match(&any, Some(&h)));
        assert!(headers_match(&presence, Some(&h)));
        assert!(headers_match(&float, Some(&h)));
        assert!(!headers_match(&all, None));
        let only_x = args(serde_json::json!({"x-match": "any"}));
        assert!(!headers_match(&only_x, Some(&h)));
        assert!(headers_match(&Table::new(), None));
        assert!(x_match(&args(serde_json::json!({"x-match": "some"}))).is_err());
        let with_x = args(serde_json::json!({"x-match": "any-with-x", "x-kind": "a"}));
        let xh = args(serde_json::json!({"x-kind": "a"}));
        assert!(headers_match(&with_x, Some(&xh)));
        let without_x = args(serde_json::json!({"x-match": "any", "x-kind": "a"}));
        assert!(!headers_match(&without_x, Some(&xh)));
    }
}
