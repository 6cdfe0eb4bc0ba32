//! A scenario as code for a real broker: a Python `pika` program, a Rust `lapin` program, and
//! RabbitMQ definitions JSON (for `rabbitmqctl import_definitions`); and definitions back into
//! a scenario's topology. `docs/export.md` says what each covers.
//!
//! Every string from the scenario (names, bodies, headers, its name and description) is
//! untrusted: it reaches generated code only as an escaped literal or an escaped comment.

mod definitions;
mod lapin;
mod pika;

use std::fmt;

use crate::scenario::Scenario;

/// Why definitions JSON could not become a scenario: names the field and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionsError {
    /// Dotted path of the offending field, e.g. `queues[2].arguments.x-max-length`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for DefinitionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for DefinitionsError {}

/// A runnable Python program using `pika`, in the style of RabbitMQ's tutorials.
pub fn to_pika(scenario: &Scenario) -> String {
    pika::program(scenario)
}

/// A runnable Rust program using `lapin`.
pub fn to_lapin(scenario: &Scenario) -> String {
    lapin::program(scenario)
}

/// The `[dependencies]` lines a program from [`to_lapin`] needs.
pub const LAPIN_DEPENDENCIES: &str = lapin::CARGO_DEPENDENCIES;

/// RabbitMQ definitions JSON: the scenario's exchanges, queues and bindings.
pub fn to_definitions(scenario: &Scenario) -> String {
    definitions::export(scenario).0
}

/// [`to_definitions`] and a note for each thing definitions cannot hold (exclusive and
/// server-named queues, and their bindings).
pub fn to_definitions_with_notes(scenario: &Scenario) -> (String, Vec<String>) {
    definitions::export(scenario)
}

/// A scenario that declares the topology the definitions describe. The definitions must use one
/// vhost (or none: `/`); [`from_definitions_in`] picks one of several.
pub fn from_definitions(text: &str) -> Result<Scenario, DefinitionsError> {
    definitions::import(text, None)
}

/// [`from_definitions`] for the entries of one vhost.
pub fn from_definitions_in(text: &str, vhost: &str) -> Result<Scenario, DefinitionsError> {
    definitions::import(text, Some(vhost))
}

/// The exportable topology after the scenario (sorted definitions entries, without the vhost
/// list): equal for two scenarios exactly when their definitions say the same.
pub fn topology(scenario: &Scenario) -> serde_json::Value {
    definitions::topology(scenario)
}

/// Characters a generated literal or comment may hold as they are: printable ASCII, and letters
/// and digits of any script. Everything else (controls, line and paragraph separators,
/// bidirectional overrides, zero-width characters) is escaped, so the program reads as it runs.
fn plain_char(c: char) -> bool {
    matches!(c, ' '..='~') || (!c.is_ascii() && c.is_alphanumeric())
}

/// `text` as comment lines `prefix TEXT`, with every character [`plain_char`] refuses written
/// as `\u{…}`: a comment can then neither end early nor hide anything.
fn comment(prefix: &str, text: &str) -> String {
    let mut out = String::new();
    for line in text.split('\n') {
        out.push_str(prefix);
        if !line.is_empty() {
            out.push(' ');
        }
        for c in line.chars() {
            if plain_char(c) {
                out.push(c);
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        }
        out.push('\n');
    }
    out
}
