//! A scenario played once and kept for stepping through: the events and effects of every
//! step, and the broker's state after any step, forward or back.
//!
//! Replaying from the start would make stepping back cost O(k). Instead a snapshot of the
//! broker (a plain clone) is kept every [`TimelineConfig::snapshot_every`] steps, and the
//! state after step k is the nearest snapshot at or before k, replayed forward.

use crate::engine::state::BrokerState;
use crate::engine::store::{DurableImage, MemoryStore};
use crate::engine::{Config, Driver, StepRecord};
use crate::scenario::Scenario;
use crate::trace::TraceEvent;

#[derive(Debug, Clone, Copy)]
pub struct TimelineConfig {
    pub snapshot_every: usize,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        // At 10,000 steps: 100 snapshots, and at most 99 steps replayed to reach any step.
        TimelineConfig {
            snapshot_every: 100,
        }
    }
}

/// The world a step runs in: the broker, its store and the virtual clock.
type World = Driver<MemoryStore>;

fn fresh_world(seed: u64) -> World {
    Driver::new(
        Config {
            seed,
            ..Config::default()
        },
        MemoryStore::default(),
    )
}

#[derive(Debug, Clone)]
pub struct Timeline {
    scenario: Scenario,
    config: TimelineConfig,
    records: Vec<StepRecord>,
    /// `snapshots[i]` is the world before step `i * snapshot_every`.
    snapshots: Vec<World>,
    /// The world after `cursor` steps, kept so that stepping forward costs one step.
    current: World,
    cursor: usize,
}

impl Timeline {
    /// Plays the whole scenario once, recording every step.
    pub fn new(scenario: Scenario, config: TimelineConfig) -> Self {
        let every = config.snapshot_every.max(1);
        let mut world = fresh_world(scenario.seed);
        let mut snapshots = Vec::new();
        let mut records = Vec::with_capacity(scenario.steps.len());
        for index in 0..scenario.steps.len() {
            if index % every == 0 {
                snapshots.push(world.clone());
            }
            records.push(world.step_now(index, &scenario.steps[index]));
        }
        let current = fresh_world(scenario.seed);
        Timeline {
            scenario,
            config: TimelineConfig {
                snapshot_every: every,
            },
            records,
            snapshots,
            current,
            cursor: 0,
        }
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// How many steps have been applied to the state [`Timeline::state`] shows (0 = none).
    pub fn position(&self) -> usize {
        self.cursor
    }

    pub fn record(&self, step: usize) -> Option<&StepRecord> {
        self.records.get(step)
    }

    /// Every event of the whole scenario, in order.
    pub fn events(&self) -> impl Iterator<Item = &TraceEvent> {
        self.records.iter().flat_map(|r| &r.events)
    }

    /// Moves to the state after `applied` steps (clamped to the scenario's length).
    pub fn seek(&mut self, applied: usize) {
        let target = applied.min(self.records.len());
        if target < self.cursor || target - self.cursor > self.config.snapshot_every {
            let slot = target / self.config.snapshot_every;
            let slot = slot.min(self.snapshots.len().saturating_sub(1));
            if let Some(snapshot) = self.snapshots.get(slot) {
                self.current = snapshot.clone();
                self.cursor = slot * self.config.snapshot_every;
            }
        }
        while self.cursor < target {
            self.current
                .step_now(self.cursor, &self.scenario.steps[self.cursor]);
            self.cursor += 1;
        }
    }

    pub fn state(&self) -> BrokerState {
        self.current.broker.state()
    }

    /// The broker, its store and its clock at the current position: a copy can go on from
    /// here (persistence steps one alongside to learn what each step writes).
    pub fn world(&self) -> &Driver<MemoryStore> {
        &self.current
    }

    /// What the durable store holds at the current position.
    pub fn stored(&self) -> &DurableImage {
        self.current.store.image()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{parse, Limits};

    fn scenario(steps: usize) -> Scenario {
        let mut text = String::from(
            r#"{"format":"queue-playground/v1","name":"t","steps":[{"op":"queue.declare","queue":"q"}"#,
        );
        for i in 0..steps {
            if i % 3 == 2 {
                text.push_str(r#",{"op":"basic.get","queue":"q","no_ack":true}"#);
            } else {
                text.push_str(&format!(
                    r#",{{"op":"basic.publish","routing_key":"q","body":"m{i}"}}"#
                ));
            }
        }
        text.push_str("]}");
        parse(&text, &Limits::default()).unwrap()
    }

    #[test]
    fn any_position_matches_a_fresh_replay() {
        let s = scenario(250);
        let mut timeline = Timeline::new(s.clone(), TimelineConfig { snapshot_every: 16 });
        for target in [0, 1, 17, 250, 16, 15, 100, 3, 251] {
            timeline.seek(target);
            let mut fresh = Timeline::new(
                s.clone(),
                TimelineConfig {
                    snapshot_every: 1000,
                },
            );
            fresh.seek(target);
            assert_eq!(timeline.state(), fresh.state(), "after {target} steps");
            assert_eq!(timeline.position(), target.min(251));
        }
    }

    #[test]
    fn records_match_the_runner() {
        let s = scenario(40);
        let timeline = Timeline::new(s.clone(), TimelineConfig::default());
        let recorded: Vec<TraceEvent> = timeline.events().cloned().collect();
        assert_eq!(recorded, crate::engine::run(&s));
        assert!(!recorded.is_empty());
    }
}
