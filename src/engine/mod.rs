//! The broker: a deterministic, sans-IO state machine with RabbitMQ's semantics.
//!
//! Commands (scenario steps) go in with the virtual time; trace events and storage commits come
//! out. Nothing here touches a clock, a socket, a browser API or a random source of its own.
//!
//! - [`broker`]: the state machine and every AMQP method.
//! - [`exchange`], [`queue`], [`channel`], [`tx`], [`dead_letter`]: the parts it is made of.
//! - [`effect`]: what happens inside the broker, for the UI and for conservation checks.
//! - [`state`]: a serializable view of the whole broker.
//! - [`store`]: the durable image and the storage boundary.
//! - [`run`]: drives a whole scenario through a broker and a store.
//! - [`group`]: several steps' commits merged into one store commit.

pub mod broker;
pub mod channel;
pub mod dead_letter;
pub mod effect;
pub mod error;
pub mod exchange;
pub mod group;
pub mod message;
pub mod queue;
pub mod run;
pub mod state;
pub mod store;
pub mod tx;

pub use broker::{Broker, Config};

/// The engine's maps: insertion-ordered, so that iteration (and so every trace) is the same on
/// every platform, and hashed with Fx, which is fast for short names and needs no randomness.
pub type Map<K, V> = indexmap::IndexMap<K, V, std::hash::BuildHasherDefault<rustc_hash::FxHasher>>;
pub use run::{run, run_grouped_with_store, run_with_store, Driver, RunError, StepRecord};
