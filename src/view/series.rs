//! Per-step series for the plots: each queue's ready depth and unacked count after every step,
//! and how many messages were published, delivered and acked in each step.
//!
//! Computed in one pass over the recorded effects, following each message (by its queue
//! position `seq`) from enqueued to delivered, requeued and removed, rather than by asking the
//! broker for its state at every step, which would cost a replay per step. The one exception
//! is a broker restart, whose recovered messages are not effects: the state right after it is
//! read from a replay.

use rustc_hash::FxHashMap;

use crate::engine::effect::{Effect, Removal};
use crate::engine::state::BrokerState;
use crate::scenario::Name;
use crate::timeline::Timeline;

/// One queue's counts at every position: index `p` is after `p` steps (`0..=len`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueSeries {
    pub name: Name,
    pub ready: Vec<u32>,
    pub unacked: Vec<u32>,
}

/// Queue depth, unacked and rates at every step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Steps covered (the timeline's length).
    pub len: usize,
    /// Every queue that ever held a message, in order of first appearance.
    pub queues: Vec<QueueSeries>,
    /// Per step (`0..len`): messages a publish (or a commit) handed to the exchanges.
    pub published: Vec<u32>,
    /// Per step: deliveries to consumers and `basic.get`s.
    pub delivered: Vec<u32>,
    /// Per step: messages settled as acked (by the client, or on delivery with `no_ack`).
    pub acked: Vec<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Ready,
    Unacked,
}

/// Where every live message is, and the running counts per queue.
#[derive(Default)]
struct Tracker {
    messages: FxHashMap<u64, (usize, Place)>,
    index: FxHashMap<Name, usize>,
    names: Vec<Name>,
    ready: Vec<u32>,
    unacked: Vec<u32>,
}

impl Tracker {
    fn queue(&mut self, name: &Name) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len();
        self.index.insert(name.clone(), i);
        self.names.push(name.clone());
        self.ready.push(0);
        self.unacked.push(0);
        i
    }

    fn count(&mut self, q: usize, place: Place) -> &mut u32 {
        match place {
            Place::Ready => &mut self.ready[q],
            Place::Unacked => &mut self.unacked[q],
        }
    }

    fn enqueue(&mut self, queue: &Name, seq: u64) {
        let q = self.queue(queue);
        self.messages.insert(seq, (q, Place::Ready));
        self.ready[q] += 1;
    }

    fn move_to(&mut self, seq: u64, to: Place) {
        if let Some((q, place)) = self.messages.get_mut(&seq) {
            if *place != to {
                let (q, from) = (*q, *place);
                *place = to;
                let from = self.count(q, from);
                *from = from.saturating_sub(1);
                *self.count(q, to) += 1;
            }
        }
    }

    fn remove(&mut self, seq: u64) {
        if let Some((q, place)) = self.messages.remove(&seq) {
            let n = self.count(q, place);
            *n = n.saturating_sub(1);
        }
    }

    /// Starts over from a broker's state: after a restart nothing is unacked and the ready
    /// messages are what the durable image held.
    fn reset(&mut self, state: &BrokerState) {
        self.messages.clear();
        self.ready.iter_mut().for_each(|n| *n = 0);
        self.unacked.iter_mut().for_each(|n| *n = 0);
        for queue in &state.queues {
            for m in &queue.ready {
                self.enqueue(&queue.name, m.seq);
            }
        }
        for channel in &state.channels {
            for u in &channel.unacked {
                self.enqueue(&u.queue, u.message.seq);
                self.move_to(u.message.seq, Place::Unacked);
            }
        }
    }
}

impl Series {
    pub fn new(timeline: &Timeline) -> Series {
        let len = timeline.len();
        let mut tracker = Tracker::default();
        // Per position, the counts of the queues known by then (later queues pad with 0).
        let mut ready_at: Vec<Vec<u32>> = Vec::with_capacity(len + 1);
        let mut unacked_at: Vec<Vec<u32>> = Vec::with_capacity(len + 1);
        ready_at.push(Vec::new());
        unacked_at.push(Vec::new());
        let mut published = vec![0; len];
        let mut delivered = vec![0; len];
        let mut acked = vec![0; len];
        // A replay, made only if some step restarts the broker.
        let mut replay: Option<Timeline> = None;
        for step in 0..len {
            let Some(record) = timeline.record(step) else {
                break;
            };
            let mut restarted = false;
            for effect in &record.effects {
                match effect {
                    Effect::Routed { held: false, .. } => published[step] += 1,
                    Effect::Enqueued { queue, seq } => tracker.enqueue(queue, *seq),
                    Effect::Delivered { seq, .. } => {
                        delivered[step] += 1;
                        tracker.move_to(*seq, Place::Unacked);
                    }
                    Effect::Requeued { seq, .. } => tracker.move_to(*seq, Place::Ready),
                    Effect::Removed { seq, reason, .. } => {
                        if *reason == Removal::Acked {
                            acked[step] += 1;
                        }
                        tracker.remove(*seq);
                    }
                    Effect::Restarted { .. } => restarted = true,
                    Effect::Routed { held: true, .. }
                    | Effect::Refused { .. }
                    | Effect::TxCommitted { .. }
                    | Effect::TxRolledBack { .. } => {}
                }
            }
            if restarted {
                let replay = replay.get_or_insert_with(|| timeline.clone());
                replay.seek(step + 1);
                tracker.reset(&replay.state());
            }
            ready_at.push(tracker.ready.clone());
            unacked_at.push(tracker.unacked.clone());
        }
        let queues = tracker
            .names
            .iter()
            .enumerate()
            .map(|(q, name)| QueueSeries {
                name: name.clone(),
                ready: ready_at
                    .iter()
                    .map(|counts| counts.get(q).copied().unwrap_or(0))
                    .collect(),
                unacked: unacked_at
                    .iter()
                    .map(|counts| counts.get(q).copied().unwrap_or(0))
                    .collect(),
            })
            .collect();
        Series {
            len,
            queues,
            published,
            delivered,
            acked,
        }
    }

    /// The highest ready or unacked count of any queue at any position (0 when empty): the
    /// top of a shared y axis.
    pub fn max_count(&self) -> u32 {
        self.queues
            .iter()
            .flat_map(|q| q.ready.iter().chain(&q.unacked))
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// The highest per-step rate (0 when empty).
    pub fn max_rate(&self) -> u32 {
        self.published
            .iter()
            .chain(&self.delivered)
            .chain(&self.acked)
            .copied()
            .max()
            .unwrap_or(0)
    }
}

/// At most `max` indices out of `0..n`, evenly spread, always with the first and the last, so
/// that a long timeline draws as a few hundred points. Within each bucket the index of the
/// largest value of `value` is kept, so that a spike does not vanish between two samples.
pub fn decimate(n: usize, max: usize, value: impl Fn(usize) -> u32) -> Vec<usize> {
    if n <= max || max < 3 {
        return (0..n).collect();
    }
    let mut out = Vec::with_capacity(max);
    out.push(0);
    let inner = max - 2;
    let span = n - 2;
    for b in 0..inner {
        let start = 1 + b * span / inner;
        let end = (1 + (b + 1) * span / inner).max(start + 1);
        let best = (start..end)
            .max_by_key(|&i| (value(i), std::cmp::Reverse(i)))
            .unwrap_or(start);
        out.push(best);
    }
    out.push(n - 1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimate_keeps_ends_and_spikes() {
        assert_eq!(decimate(5, 300, |_| 0), [0, 1, 2, 3, 4]);
        let spike = 5_000;
        let picked = decimate(10_001, 300, |i| u32::from(i == spike));
        assert!(picked.len() <= 300);
        assert_eq!(picked.first(), Some(&0));
        assert_eq!(picked.last(), Some(&10_000));
        assert!(picked.contains(&spike));
        assert!(picked.windows(2).all(|w| w[0] < w[1]));
    }
}
