//! Per-step series for the plots (stub: interface only).

use crate::timeline::Timeline;

/// Queue depth, unacked and rates at every step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Steps covered (the timeline's length).
    pub len: usize,
}

impl Series {
    pub fn new(timeline: &Timeline) -> Series {
        Series {
            len: timeline.len(),
        }
    }
}
