//! The storage boundary: what RabbitMQ would have on disk, and the trait that keeps it.
//!
//! The broker never writes anything itself. Each step that changes durable state yields one
//! [`Commit`], a list of [`Write`]s that must be applied atomically (all or nothing, in order).
//! The driver hands it to a [`Store`] and tells the broker when it is done; only then are
//! publisher confirms for persistent messages sent, as RabbitMQ confirms after the disk write.
//! After a restart the broker is rebuilt from [`Store::load`].

use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::message::Message;
use crate::scenario::{ExchangeType, Name, QueueArgs, Table};

/// A durable exchange as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeDef {
    pub name: Name,
    pub kind: ExchangeType,
    pub auto_delete: bool,
    pub internal: bool,
    pub alternate_exchange: Option<Name>,
}

/// A durable queue as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueDef {
    pub name: Name,
    pub auto_delete: bool,
    pub arguments: QueueArgs,
}

/// Whether a binding leads to a queue or to another exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DestinationKind {
    Queue,
    Exchange,
}

/// A binding between durable source and destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BindingDef {
    pub source: Name,
    pub destination: Name,
    pub destination_kind: DestinationKind,
    pub routing_key: Name,
    pub arguments: Table,
}

/// A persistent message in a durable queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub message: Rc<Message>,
    pub priority: u8,
    pub expires_at: Option<u64>,
    /// Set once the message has been delivered: after a restart it comes back redelivered.
    pub delivered: bool,
}

/// One change to the durable image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Write {
    PutExchange(ExchangeDef),
    /// Deletes the exchange and every binding from or to it.
    DeleteExchange(Name),
    PutQueue(QueueDef),
    /// Deletes the queue, every message in it and every binding to it.
    DeleteQueue(Name),
    PutBinding(BindingDef),
    DeleteBinding(BindingDef),
    PutMessage {
        queue: Name,
        seq: u64,
        message: StoredMessage,
    },
    MarkDelivered {
        queue: Name,
        seq: u64,
    },
    DeleteMessage {
        queue: Name,
        seq: u64,
    },
}

/// The writes of one step, to be applied atomically.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Commit {
    pub id: u64,
    pub writes: Vec<Write>,
}

/// Everything that survives a restart: RabbitMQ's durable image.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DurableImage {
    pub exchanges: BTreeMap<Name, ExchangeDef>,
    pub queues: BTreeMap<Name, QueueDef>,
    pub bindings: Vec<BindingDef>,
    /// Messages by queue, in queue order (`seq`).
    pub messages: BTreeMap<Name, BTreeMap<u64, StoredMessage>>,
}

impl DurableImage {
    /// Applies one write. Writes are idempotent, so a commit replayed after a crash that
    /// happened mid-way through applying it gives the same image.
    pub fn apply(&mut self, write: &Write) {
        match write {
            Write::PutExchange(x) => {
                self.exchanges.insert(x.name.clone(), x.clone());
            }
            Write::DeleteExchange(name) => {
                self.exchanges.remove(name);
                self.bindings.retain(|b| {
                    b.source != *name
                        && !(b.destination_kind == DestinationKind::Exchange
                            && b.destination == *name)
                });
            }
            Write::PutQueue(q) => {
                self.queues.insert(q.name.clone(), q.clone());
            }
            Write::DeleteQueue(name) => {
                self.queues.remove(name);
                self.messages.remove(name);
                self.bindings.retain(|b| {
                    !(b.destination_kind == DestinationKind::Queue && b.destination == *name)
                });
            }
            Write::PutBinding(b) => {
                if !self.bindings.contains(b) {
                    self.bindings.push(b.clone());
                }
            }
            Write::DeleteBinding(b) => self.bindings.retain(|x| x != b),
            Write::PutMessage {
                queue,
                seq,
                message,
            } => {
                self.messages
                    .entry(queue.clone())
                    .or_default()
                    .insert(*seq, message.clone());
            }
            Write::MarkDelivered { queue, seq } => {
                if let Some(m) = self.messages.get_mut(queue).and_then(|q| q.get_mut(seq)) {
                    m.delivered = true;
                }
            }
            Write::DeleteMessage { queue, seq } => {
                if let Some(q) = self.messages.get_mut(queue) {
                    q.remove(seq);
                    if q.is_empty() {
                        self.messages.remove(queue);
                    }
                }
            }
        }
    }

    pub fn message_count(&self) -> usize {
        self.messages.values().map(BTreeMap::len).sum()
    }
}

/// Why loading the durable image failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The store cannot be reached at all (for IndexedDB: unavailable or blocked).
    Unavailable(String),
    /// What is stored cannot be read back (wrong schema, damaged record).
    Corrupt(String),
}

/// Why a commit failed. A failed commit left the stored image as it was before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitError {
    Unavailable(String),
    QuotaExceeded(String),
    Aborted(String),
    /// Another writer took the store over (a browser store shared by tabs).
    NotOwner(String),
}

/// Where the durable image lives. Implementations: [`MemoryStore`] here; IndexedDB in the
/// browser. Methods are async so that a browser store fits unchanged; in-memory ones resolve
/// at once.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// Reads the whole durable image.
    fn load(&mut self) -> impl Future<Output = Result<DurableImage, LoadError>>;
    /// Applies every write of the commit, atomically: after an error nothing of it is stored.
    fn commit(&mut self, commit: &Commit) -> impl Future<Output = Result<(), CommitError>>;
}

/// A store lent to a driver for a while (as `run_with_store` borrows it).
impl<S: Store> Store for &mut S {
    fn load(&mut self) -> impl Future<Output = Result<DurableImage, LoadError>> {
        (**self).load()
    }

    fn commit(&mut self, commit: &Commit) -> impl Future<Output = Result<(), CommitError>> {
        (**self).commit(commit)
    }
}

/// A store in memory: the image survives `broker.restart` but not the process.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    image: DurableImage,
    /// How many commits were applied (useful to tests and benchmarks).
    pub commits: u64,
}

impl MemoryStore {
    pub fn image(&self) -> &DurableImage {
        &self.image
    }
}

impl Store for MemoryStore {
    async fn load(&mut self) -> Result<DurableImage, LoadError> {
        Ok(self.image.clone())
    }

    async fn commit(&mut self, commit: &Commit) -> Result<(), CommitError> {
        for write in &commit.writes {
            self.image.apply(write);
        }
        self.commits += 1;
        Ok(())
    }
}
