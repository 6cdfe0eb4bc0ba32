//! Driving a scenario: steps into the broker in order, commits into the store, and the
//! virtual clock moved on by `clock.advance`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::broker::{Broker, Config};
use super::store::{CommitError, LoadError, MemoryStore, Store};
use crate::scenario::{Op, Scenario};
use crate::trace::TraceEvent;

/// Why a scenario could not be run to the end: the store failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    Load { step: usize, error: LoadError },
    Commit { step: usize, error: CommitError },
}

/// Runs a whole scenario against a fresh broker and an in-memory store.
pub fn run(scenario: &Scenario) -> Vec<TraceEvent> {
    let mut store = MemoryStore::default();
    match complete_now(run_with_store(scenario, &mut store)) {
        Some(Ok(events)) => events,
        _ => unreachable!("the in-memory store neither fails nor waits"),
    }
}

/// Runs a whole scenario with the given store, which should start empty.
pub async fn run_with_store<S: Store>(
    scenario: &Scenario,
    store: &mut S,
) -> Result<Vec<TraceEvent>, RunError> {
    let mut broker = Broker::new(Config {
        seed: scenario.seed,
    });
    let mut events = Vec::new();
    let mut now = 0u64;
    for (index, step) in scenario.steps.iter().enumerate() {
        match step.op {
            Op::ClockAdvance { ms } => now = now.saturating_add(ms),
            Op::BrokerRestart => {
                let image = store
                    .load()
                    .await
                    .map_err(|error| RunError::Load { step: index, error })?;
                broker.restart(&image, index, now);
            }
            _ => {}
        }
        if step.op != Op::BrokerRestart {
            broker.handle(index, now, step);
        }
        while let Some(commit) = broker.poll_commit() {
            store
                .commit(&commit)
                .await
                .map_err(|error| RunError::Commit { step: index, error })?;
            broker.committed(commit.id);
        }
        events.append(&mut broker.take_events());
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
