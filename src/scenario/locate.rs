//! Where in the scenario text an error is: the step (the Nth element of `"steps"`) and the
//! dotted field inside it, found by a small JSON scanner that keeps byte positions (which
//! `serde_json::Value` forgets). JSON syntax errors already carry their line and column.
//!
//! The scanner never panics: on text it cannot follow it gives up and answers `None`, and the
//! editor then shows the message without a position.

use super::ScenarioError;

/// A range of the text: byte offsets, and the line and column (1-based, in characters) where
/// it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
}

impl Location {
    fn new(text: &str, start: usize, end: usize) -> Location {
        let start = floor_char_boundary(text, start.min(text.len()));
        let end = floor_char_boundary(text, end.clamp(start, text.len()));
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = text[line_start..start].chars().count() + 1;
        Location {
            start,
            end,
            line,
            column,
        }
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The index in UTF-16 code units of a byte offset: what a textarea's selection counts in.
pub fn utf16_index(text: &str, byte: usize) -> usize {
    let byte = floor_char_boundary(text, byte.min(text.len()));
    text[..byte].chars().map(char::len_utf16).sum()
}

/// Where `error` points in `text`: the field if it is there, else its step, else the top-level
/// key; for a syntax error, the character the parser stopped at.
pub fn locate(text: &str, error: &ScenarioError) -> Option<Location> {
    if let Some((line, column)) = syntax_position(&error.message) {
        return from_line_column(text, line, column);
    }
    let root = Scanner::new(text).document()?;
    let Some(step) = error.step else {
        let field = error.field.as_deref()?;
        let (key, value) = root.field_path(field)?;
        return Some(Location::new(text, key.start, value.end));
    };
    let (steps_key, steps) = root.member("steps")?;
    let Some(item) = steps.elements().and_then(|items| items.get(step)) else {
        return Some(Location::new(text, steps_key.start, steps_key.end));
    };
    let found = error
        .field
        .as_deref()
        .and_then(|field| item.field_path(field));
    Some(match found {
        Some((key, value)) => Location::new(text, key.start, value.end),
        // A missing field, or one the op does not take: the whole step.
        None => Location::new(text, item.start, item.end),
    })
}

/// `"... at line 3, column 17: ..."`, as `parse` words a JSON syntax error.
fn syntax_position(message: &str) -> Option<(usize, usize)> {
    let rest = &message[message.find(" at line ")? + " at line ".len()..];
    let (line, rest) = rest.split_once(", column ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.parse().ok()?, column.parse().ok()?))
}

/// serde_json's line is 1-based and its column counts bytes up to and including the
/// character it stopped at (0 when it stopped at a line's end).
fn from_line_column(text: &str, line: usize, column: usize) -> Option<Location> {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let at = (line_start + column.saturating_sub(1)).min(line_end);
    let at = floor_char_boundary(text, at);
    let next = text[at..].chars().next().map_or(0, char::len_utf8);
    let end = if at + next <= line_end { at + next } else { at };
    Some(Location::new(text, at, end))
}

/// A JSON value's byte range, and for objects and arrays what is inside.
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// `(key range, key text with escapes left as written, value)`.
    Object(Vec<(Span, String, Node)>),
    Array(Vec<Node>),
    Scalar,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

impl Node {
    /// The last member named `key` (serde_json keeps the last of duplicates).
    fn member(&self, key: &str) -> Option<(Span, &Node)> {
        match &self.kind {
            Kind::Object(members) => members
                .iter()
                .rev()
                .find(|(_, k, _)| k == key)
                .map(|(span, _, node)| (*span, node)),
            _ => None,
        }
    }

    fn elements(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Array(items) => Some(items),
            _ => None,
        }
    }

    /// A dotted path inside this object. Keys may themselves hold dots (header names), so at
    /// each level the longest key that the path starts with is taken.
    fn field_path(&self, path: &str) -> Option<(Span, Span)> {
        let Kind::Object(members) = &self.kind else {
            return None;
        };
        let mut best: Option<&(Span, String, Node)> = None;
        for member in members {
            let key = member.1.as_str();
            let fits = path == key
                || (path.starts_with(key) && path.as_bytes().get(key.len()) == Some(&b'.'));
            if fits && best.is_none_or(|b| key.len() >= b.1.len()) {
                best = Some(member);
            }
        }
        let (span, key, node) = best?;
        if path.len() == key.len() {
            return Some((
                *span,
                Span {
                    start: node.start,
                    end: node.end,
                },
            ));
        }
        node.field_path(&path[key.len() + 1..]).or(Some((
            *span,
            Span {
                start: node.start,
                end: node.end,
            },
        )))
    }
}

/// Nesting deeper than this is refused rather than risking the stack on hostile text.
const MAX_DEPTH: usize = 64;

struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
    depth: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner {
            bytes: text.as_bytes(),
            text,
            at: 0,
            depth: 0,
        }
    }

    fn document(mut self) -> Option<Node> {
        self.value()
    }

    fn skip_ws(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.at).copied()
    }

    fn value(&mut self) -> Option<Node> {
        let first = self.peek()?;
        let start = self.at;
        let kind = match first {
            b'{' => self.nested(|s| s.object())?,
            b'[' => self.nested(|s| s.array())?,
            b'"' => {
                self.string()?;
                Kind::Scalar
            }
            _ => {
                // Numbers, true, false, null: up to the next delimiter.
                let len = self.bytes[self.at..]
                    .iter()
                    .position(|b| b",]} \t\r\n".contains(b))
                    .unwrap_or(self.bytes.len() - self.at);
                if len == 0 {
                    return None;
                }
                self.at += len;
                Kind::Scalar
            }
        };
        Some(Node {
            start,
            end: self.at,
            kind,
        })
    }

    fn nested(&mut self, inner: impl FnOnce(&mut Self) -> Option<Kind>) -> Option<Kind> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let kind = inner(self);
        self.depth -= 1;
        kind
    }

    /// The string starting at `self.at` (a `"`); its text between the quotes.
    fn string(&mut self) -> Option<Span> {
        let start = self.at + 1;
        let mut i = start;
        loop {
            match *self.bytes.get(i)? {
                b'"' => break,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        Some(Span { start, end: i })
    }

    fn object(&mut self) -> Option<Kind> {
        self.at += 1;
        let mut members = Vec::new();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(Kind::Object(members));
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key_start = self.at;
            let inner = self.string()?;
            let key = self.text.get(inner.start..inner.end)?.to_owned();
            let key_span = Span {
                start: key_start,
                end: self.at,
            };
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            let value = self.value()?;
            members.push((key_span, key, value));
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(Kind::Object(members));
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self) -> Option<Kind> {
        self.at += 1;
        let mut items = Vec::new();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(Kind::Array(items));
        }
        loop {
            items.push(self.value()?);
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(Kind::Array(items));
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;
    use crate::scenario::{parse, Limits};

    /// The error, and the text it points at, marked `[[...]]` on its line.
    fn check(text: &str, expected: Expect) {
        let error = parse(text, &Limits::default()).expect_err("the text is refused");
        let shown = match locate(text, &error) {
            None => format!("{error}\n(no location)"),
            Some(l) => {
                let line_start = text[..l.start].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[l.end..].find('\n').map_or(text.len(), |i| l.end + i);
                format!(
                    "{error}\n{}:{}: {}[[{}]]{}",
                    l.line,
                    l.column,
                    &text[line_start..l.start],
                    &text[l.start..l.end],
                    &text[l.end..line_end],
                )
            }
        };
        expected.assert_eq(&shown);
    }

    const HEAD: &str = "{\n  \"format\": \"queue-playground/v1\",\n  \"steps\": [\n";

    #[test]
    fn field_inside_a_step() {
        check(
            &format!(
                "{HEAD}    {{\"op\": \"queue.declare\", \"queue\": \"q\"}},\n    {{\"op\": \"basic.publish\", \"routing_key\": \"q\", \"body\": \"b\",\n     \"properties\": {{\"priority\": 300}}}}\n  ]\n}}\n"
            ),
            expect![[r#"
                step 1 (basic.publish), field `properties.priority`: expected a whole number from 0 to 255, found the number 300
                6:21:      "properties": {[["priority": 300]]}}"#]],
        );
    }

    #[test]
    fn unknown_field_points_at_its_key() {
        check(
            &format!("{HEAD}    {{\"op\": \"queue.declare\", \"queue\": \"q\", \"durabel\": true}}\n  ]\n}}"),
            expect![[r#"
                step 0 (queue.declare), field `durabel`: unknown field; queue.declare takes: op, queue, passive, arguments, durable, exclusive, auto_delete, channel
                4:43:     {"op": "queue.declare", "queue": "q", [["durabel": true]]}"#]],
        );
    }

    #[test]
    fn missing_field_points_at_the_step() {
        check(
            &format!("{HEAD}    {{\"op\": \"queue.bind\", \"queue\": \"q\"}},\n    {{\"op\": \"queue.bind\"}}\n  ]\n}}"),
            expect![[r#"
                step 0 (queue.bind), field `exchange`: is required but missing
                4:5:     [[{"op": "queue.bind", "queue": "q"}]],"#]],
        );
    }

    #[test]
    fn argument_names_with_dashes_and_header_names_with_dots() {
        check(
            &format!("{HEAD}    {{\"op\": \"queue.declare\", \"queue\": \"q\", \"arguments\": {{\"x-message-ttl\": \"soon\"}}}}\n  ]\n}}"),
            expect![[r#"
                step 0 (queue.declare), field `arguments.x-message-ttl`: expected a whole number, found the string "soon"
                4:57:     {"op": "queue.declare", "queue": "q", "arguments": {[["x-message-ttl": "soon"]]}}"#]],
        );
    }

    #[test]
    fn document_fields() {
        check(
            "{\"format\": \"queue-playground/v2\", \"steps\": []}",
            expect![[r#"
                field `format`: expected "queue-playground/v1", found "queue-playground/v2"
                1:2: {[["format": "queue-playground/v2"]], "steps": []}"#]],
        );
        check(
            "{\"format\": \"queue-playground/v1\", \"steps\": {}}",
            expect![[r#"
                field `steps`: expected an array of steps, found an object
                1:35: {"format": "queue-playground/v1", [["steps": {}]]}"#]],
        );
    }

    #[test]
    fn syntax_errors_use_the_parser_position() {
        check(
            &format!("{HEAD}    {{\"op\": \"queue.declare\" \"queue\": \"q\"}}\n  ]\n}}"),
            expect![[r#"
                not valid JSON at line 4, column 28: expected `,` or `}`
                4:28:     {"op": "queue.declare" [["]]queue": "q"}"#]],
        );
        check(
            "{\"format\": \"é\",",
            expect![[r#"
                not valid JSON at line 1, column 16: EOF while parsing a value
                1:15: {"format": "é"[[,]]"#]],
        );
    }

    #[test]
    fn utf16_offsets_for_the_textarea() {
        let text = "é😀a";
        assert_eq!(utf16_index(text, 0), 0);
        assert_eq!(utf16_index(text, 2), 1);
        assert_eq!(utf16_index(text, 6), 3);
        assert_eq!(utf16_index(text, 7), 4);
        assert_eq!(utf16_index(text, 99), 4);
    }

    #[test]
    fn never_panics_on_broken_text() {
        let error = ScenarioError {
            step: Some(3),
            op: None,
            field: Some("a.b".into()),
            message: "m".into(),
        };
        let deep = "[".repeat(10_000);
        for text in [
            "",
            "{",
            "{\"steps\": [1, 2",
            "{\"steps\": [{\"a\": {\"b\": 1}}]}",
            "\"\\",
            "{\"steps\":[{},{},{},{\"a\":{\"b\"",
            &deep,
        ] {
            let _ = locate(text, &error);
        }
        let odd = ScenarioError {
            step: None,
            op: None,
            field: None,
            message: "not valid JSON at line 99, column 99999: x".into(),
        };
        assert_eq!(locate("{}", &odd), None);
        let far = ScenarioError {
            message: "not valid JSON at line 1, column 99999: x".into(),
            ..odd
        };
        assert_eq!(
            locate("{é}", &far),
            Some(Location {
                start: 4,
                end: 4,
                line: 1,
                column: 4
            })
        );
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn error() -> impl Strategy<Value = ScenarioError> {
        (
            proptest::option::of(0usize..6),
            proptest::option::of("[a-z_]{1,8}(\\.[a-z_-]{1,8})?"),
            prop_oneof![
                Just("m".to_owned()),
                (0usize..12, 0usize..40)
                    .prop_map(|(l, c)| format!("not valid JSON at line {l}, column {c}: x")),
            ],
        )
            .prop_map(|(step, field, message)| ScenarioError {
                step,
                op: None,
                field,
                message,
            })
    }

    proptest! {
        /// Any text, any error: an answer inside the text, on character boundaries, or none.
        #[test]
        fn locations_stay_inside_the_text(text in "[\\[\\]{}\",:a-z0-9_. \n\\\\é]{0,80}", e in error()) {
            if let Some(l) = locate(&text, &e) {
                prop_assert!(l.start <= l.end && l.end <= text.len());
                prop_assert!(text.is_char_boundary(l.start) && text.is_char_boundary(l.end));
                prop_assert!(l.line >= 1 && l.column >= 1);
                prop_assert_eq!(l.line, text[..l.start].matches('\n').count() + 1);
            }
        }
    }
}
