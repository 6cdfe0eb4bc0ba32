//! The broker: a deterministic, sans-IO state machine with RabbitMQ's semantics.
//!
//! Commands (scenario steps) go in with the virtual time; trace events and storage commits come
//! out. Nothing here touches a clock, a socket, a browser API or a random source of its own.

pub mod store;

use crate::scenario::Scenario;
use crate::trace::TraceEvent;

/// Runs a whole scenario against a fresh broker with an in-memory store.
pub fn run(scenario: &Scenario) -> Vec<TraceEvent> {
    let _ = scenario;
    Vec::new() // engine under construction
}
