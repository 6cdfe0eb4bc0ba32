//! Ready-made scenarios the app offers: the examples of the article this project grew from,
//! RabbitMQ's tutorials, and one scenario for each feature worth seeing. The files live in
//! `www/presets/`; every one must parse and run (`tests/presets.rs`).

/// A scenario offered by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// Stable: used in `preset:` options and share links.
    pub id: &'static str,
    pub title: &'static str,
    /// One sentence on what it shows.
    pub description: &'static str,
    /// Scenario JSON (format v1).
    pub text: &'static str,
}

pub const PRESETS: &[Preset] = &[Preset {
    id: "work-queue",
    title: "Work queue with manual acks",
    description: "A durable queue, prefetch_count 1, persistent messages and manual acks.",
    text: include_str!("../www/presets/work-queue.json"),
}];

/// The preset with this id.
pub fn find(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.id == id)
}
