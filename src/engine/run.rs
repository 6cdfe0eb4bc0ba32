//! Driving a scenario: steps into the broker in order, commits into the store, and the
//! virtual clock moved on by `clock.advance`.
//!
//! [`Driver::step`] stores each step's commit before returning. [`Driver::step_grouped`]
//! instead gathers commits in a [`Group`] that [`Driver::flush`] stores as one (a browser
//! store pays per transaction); confirms for the grouped steps go out only after that.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::broker::{Broker, Config};
use super::effect::Effect;
use super::group::Group;
use super::store::{CommitError, LoadError, MemoryStore, Store};
use crate::scenario::{Op, Scenario, Step};
use crate::trace::TraceEvent;

/// Why a step could not be completed: the store failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    Load { step: usize, error: LoadError },
    Commit { step: usize, error: CommitError },
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRecord {
    pub events: Vec<TraceEvent>,
    pub effects: Vec<Effect>,
}

/// A broker with its store and virtual clock: the one place where steps meet storage.
#[derive(Debug, Clone)]
pub struct Driver<S> {
    pub broker: Broker,
    pub store: S,
    now: u64,
    /// Commits of grouped steps not yet stored.
    group: Group,
}

impl<S: Store> Driver<S> {
    pub fn new(config: Config, store: S) -> Self {
        Driver {
            broker: Broker::new(config),
            store,
            now: 0,
            group: Group::default(),
        }
    }

    /// The same broker, clock and open group over another store (one that wraps this one,
    /// say, to record what is written from here on).
    pub fn map_store<T>(self, f: impl FnOnce(S) -> T) -> Driver<T> {
        Driver {
            broker: self.broker,
            store: f(self.store),
            now: self.now,
            group: self.group,
        }
    }

    /// Virtual time, in milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Applies step `index`, commits what it wrote, and returns what it did. Publisher
    /// confirms held for a commit are released once the store has it. Grouped steps not yet
    /// flushed are stored first.
    pub async fn step(&mut self, index: usize, step: &Step) -> Result<StepRecord, RunError> {
        self.flush_group(index).await?;
        self.enter(index, step).await?;
        while let Some(commit) = self.broker.poll_commit() {
            self.store
                .commit(&commit)
                .await
                .map_err(|error| RunError::Commit { step: index, error })?;
            self.broker.committed(commit.id);
        }
        Ok(self.drain())
    }

    /// Applies step `index` and adds what it wrote to the open group instead of storing it;
    /// its publisher confirms wait for [`Driver::flush`]. A `broker.restart` stores the group
    /// first, since it loads what is stored.
    pub async fn step_grouped(
        &mut self,
        index: usize,
        step: &Step,
    ) -> Result<StepRecord, RunError> {
        self.enter(index, step).await?;
        while let Some(commit) = self.broker.poll_commit() {
            self.group.add(commit);
        }
        Ok(self.drain())
    }

    /// Stores the open group as one commit and releases the confirms its steps held; returns
    /// those confirms. `index` is the step errors are reported at (the last grouped one).
    pub async fn flush(&mut self, index: usize) -> Result<StepRecord, RunError> {
        self.flush_group(index).await?;
        Ok(self.drain())
    }

    /// The open group: engine commits taken from the broker but not yet stored.
    pub fn group(&self) -> &Group {
        &self.group
    }

    async fn flush_group(&mut self, index: usize) -> Result<(), RunError> {
        if self.group.is_empty() {
            return Ok(());
        }
        let (commit, ids) = self.group.take();
        if !commit.writes.is_empty() {
            self.store
                .commit(&commit)
                .await
                .map_err(|error| RunError::Commit { step: index, error })?;
        }
        for id in ids {
            self.broker.committed(id);
        }
        Ok(())
    }

    /// The step itself: the clock, a restart from what is stored, or the broker's method.
    async fn enter(&mut self, index: usize, step: &Step) -> Result<(), RunError> {
        match step.op {
            Op::ClockAdvance { ms } => self.now = self.now.saturating_add(ms),
            Op::BrokerRestart => {
                self.flush_group(index).await?;
                let image = self
                    .store
                    .load()
                    .await
                    .map_err(|error| RunError::Load { step: index, error })?;
                self.broker.restart(&image, index, self.now);
                return Ok(());
            }
            _ => {}
        }
        self.broker.handle(index, self.now, step);
        Ok(())
    }

    fn drain(&mut self) -> StepRecord {
        StepRecord {
            events: self.broker.drain_events().collect(),
            effects: self.broker.drain_effects().collect(),
        }
    }
}

impl Driver<MemoryStore> {
    /// [`Driver::step`] with the in-memory store, which neither fails nor waits.
    pub fn step_now(&mut self, index: usize, step: &Step) -> StepRecord {
        match complete_now(self.step(index, step)) {
            Some(Ok(record)) => record,
            _ => unreachable!("the in-memory store neither fails nor waits"),
        }
    }
}

/// A fresh driver for a run that returns only the trace (no effects are built).
fn trace_driver<S: Store>(scenario: &Scenario, store: S) -> Driver<S> {
    Driver::new(
        Config {
            seed: scenario.seed,
            effects: false,
        },
        store,
    )
}

/// Runs a whole scenario against a fresh broker and an in-memory store.
pub fn run(scenario: &Scenario) -> Vec<TraceEvent> {
    let mut driver = trace_driver(scenario, MemoryStore::default());
    (0..scenario.steps.len())
        .flat_map(|i| driver.step_now(i, &scenario.steps[i]).events)
        .collect()
}

/// Runs a whole scenario with the given store, which should start empty.
pub async fn run_with_store<S: Store>(
    scenario: &Scenario,
    store: &mut S,
) -> Result<Vec<TraceEvent>, RunError> {
    let mut driver = trace_driver(scenario, store);
    let mut events = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        events.append(&mut driver.step(index, step).await?.events);
    }
    Ok(events)
}

/// Runs a whole scenario with the given store, storing the commits of `group_steps` steps at a
/// time as one (see [`Driver::step_grouped`]). The trace is [`run_with_store`]'s except that
/// publisher confirms come out when their group is stored.
pub async fn run_grouped_with_store<S: Store>(
    scenario: &Scenario,
    store: &mut S,
    group_steps: usize,
) -> Result<Vec<TraceEvent>, RunError> {
    let mut driver = trace_driver(scenario, store);
    let group_steps = group_steps.max(1);
    let mut events = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        events.append(&mut driver.step_grouped(index, step).await?.events);
        if (index + 1) % group_steps == 0 || index + 1 == scenario.steps.len() {
            events.append(&mut driver.flush(index).await?.events);
        }
    }
    Ok(events)
}

/// Polls a future once: the answer if it is already there. Stores that resolve at once (in
/// memory) need no executor.
pub fn complete_now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::store::{Commit, DurableImage};
    use crate::scenario::{parse, Limits};

    fn scenario() -> Scenario {
        parse(
            r#"{"format":"queue-playground/v1","name":"t","steps":[
                {"op":"queue.declare","queue":"q","durable":true},
                {"op":"confirm.select"},
                {"op":"basic.publish","routing_key":"q","body":"a","properties":{"delivery_mode":2}},
                {"op":"broker.restart"},
                {"op":"basic.get","queue":"q"}]}"#,
            &Limits::default(),
        )
        .unwrap()
    }

    /// Refuses every commit from the `fail_from`-th on, as a full disk would.
    struct Failing {
        inner: MemoryStore,
        fail_from: u64,
    }

    impl Store for Failing {
        async fn load(&mut self) -> Result<DurableImage, LoadError> {
            self.inner.load().await
        }

        async fn commit(&mut self, commit: &Commit) -> Result<(), CommitError> {
            if self.inner.commits + 1 >= self.fail_from {
                return Err(CommitError::QuotaExceeded("full".into()));
            }
            self.inner.commit(commit).await
        }
    }

    #[test]
    fn a_borrowed_store_gives_the_same_trace_and_keeps_the_image() {
        let mut store = MemoryStore::default();
        let events = complete_now(run_with_store(&scenario(), &mut store))
            .expect("memory store is ready")
            .expect("memory store commits");
        assert_eq!(events, run(&scenario()));
        assert_eq!(store.image().queues.len(), 1);
        // The message was fetched with a get after the restart and not acked: still stored.
        assert_eq!(store.image().message_count(), 1);
    }

    #[test]
    fn a_failed_commit_names_its_step_and_sends_no_confirm() {
        let mut store = Failing {
            inner: MemoryStore::default(),
            fail_from: 2,
        };
        let result = complete_now(run_with_store(&scenario(), &mut store)).expect("ready");
        assert_eq!(
            result,
            Err(RunError::Commit {
                step: 2,
                error: CommitError::QuotaExceeded("full".into()),
            })
        );
        assert_eq!(store.inner.image().message_count(), 0);
    }
}
