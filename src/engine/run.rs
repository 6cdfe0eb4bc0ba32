//! Driving a scenario: steps into the broker in order, commits into the store, and the
//! virtual clock moved on by `clock.advance`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::broker::{Broker, Config};
use super::effect::Effect;
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
}

impl<S: Store> Driver<S> {
    pub fn new(config: Config, store: S) -> Self {
        Driver {
            broker: Broker::new(config),
            store,
            now: 0,
        }
    }

    /// Virtual time, in milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Applies step `index`, commits what it wrote, and returns what it did. Publisher
    /// confirms held for a commit are released once the store has it.
    pub async fn step(&mut self, index: usize, step: &Step) -> Result<StepRecord, RunError> {
        match step.op {
            Op::ClockAdvance { ms } => self.now = self.now.saturating_add(ms),
            Op::BrokerRestart => {
                let image = self
                    .store
                    .load()
                    .await
                    .map_err(|error| RunError::Load { step: index, error })?;
                self.broker.restart(&image, index, self.now);
            }
            _ => {}
        }
        if step.op != Op::BrokerRestart {
            self.broker.handle(index, self.now, step);
        }
        while let Some(commit) = self.broker.poll_commit() {
            self.store
                .commit(&commit)
                .await
                .map_err(|error| RunError::Commit { step: index, error })?;
            self.broker.committed(commit.id);
        }
        Ok(StepRecord {
            events: self.broker.drain_events().collect(),
            effects: self.broker.drain_effects().collect(),
        })
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

/// Runs a whole scenario against a fresh broker and an in-memory store.
pub fn run(scenario: &Scenario) -> Vec<TraceEvent> {
    let mut driver = Driver::new(
        Config {
            seed: scenario.seed,
            // Only the trace is returned.
            effects: false,
        },
        MemoryStore::default(),
    );
    (0..scenario.steps.len())
        .flat_map(|i| driver.step_now(i, &scenario.steps[i]).events)
        .collect()
}

/// Runs a whole scenario with the given store, which should start empty.
pub async fn run_with_store<S: Store>(
    scenario: &Scenario,
    store: &mut S,
) -> Result<Vec<TraceEvent>, RunError> {
    let mut driver = Driver::new(
        Config {
            seed: scenario.seed,
            // Only the trace is returned.
            effects: false,
        },
        store,
    );
    let mut events = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        events.append(&mut driver.step(index, step).await?.events);
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
