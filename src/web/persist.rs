//! The persisted session (stub: the interface the app uses; storage is written separately).

use std::rc::Rc;

use yew::Callback;

use crate::timeline::Timeline;

/// What the app shows about storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageStatus {
    /// Persistence is off for this playground.
    Off,
    Opening,
    /// This tab owns the store; IndexedDB holds the durable image after `step` steps.
    Saved {
        step: usize,
    },
    /// Commits are in flight.
    Saving,
    /// Another tab or embed owns this id: this one shows but does not write.
    ReadOnly {
        reason: String,
    },
    /// IndexedDB cannot be used (unavailable, blocked, quota): running in memory only.
    Memory {
        reason: String,
    },
}

/// What was found in IndexedDB when the playground opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The scenario to show: the stored steps up to the stored position, then `broker.restart`.
    pub text: String,
    /// What the restart kept and what it dropped, in a sentence or two.
    pub summary: String,
}

/// One playground's link to its IndexedDB database.
#[derive(Debug)]
pub struct Persistence {
    on_status: Callback<StorageStatus>,
}

impl Persistence {
    /// Opens (or creates) the store for `id`, agrees on an owner, and reads what it holds.
    pub async fn open(
        id: &str,
        on_status: Callback<StorageStatus>,
    ) -> (Rc<Self>, Option<Restored>) {
        let _ = id;
        on_status.emit(StorageStatus::Off);
        (Rc::new(Persistence { on_status }), None)
    }

    /// Records the scenario text and brings IndexedDB to the timeline's cursor (queued; the
    /// status reports progress).
    pub fn sync(&self, text: &str, timeline: &Timeline) {
        let _ = (text, timeline, &self.on_status);
    }

    /// Takes ownership from another tab or embed with the same id.
    pub fn take_over(&self) {}

    /// Deletes the stored broker ("reset stored broker").
    pub fn reset(&self) {}
}
