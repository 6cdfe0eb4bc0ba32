//! queue-playground: RabbitMQ's semantics as a deterministic engine.
//!
//! - [`scenario`]: the public scenario format v1 (what users write), parsed and validated.
//! - [`timeline`]: a played scenario to step through, forward and back.
//! - [`trace`]: the public trace format v1 (what the broker answers).
//! - [`compare`]: whether two traces are the same behaviour (channel by channel).
//! - [`engine`]: the sans-IO broker state machine, its storage boundary and the scenario runner.

pub mod compare;
pub mod engine;
pub mod export;
#[cfg(target_arch = "wasm32")]
pub mod js_api;
pub mod presets;
#[cfg(not(target_arch = "wasm32"))]
pub mod rabbitmq;
pub mod scenario;
pub mod share;
pub mod timeline;
pub mod trace;
pub mod view;
#[cfg(target_arch = "wasm32")]
pub mod web;

/// Parses scenario text, runs it with an in-memory store and returns the trace as JSON.
pub fn run_text(text: &str) -> Result<String, scenario::ScenarioError> {
    let scenario = scenario::parse(text, &scenario::Limits::default())?;
    Ok(trace::to_json(&engine::run(&scenario)))
}
