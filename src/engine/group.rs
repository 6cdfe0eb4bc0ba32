//! Group commit: several engine commits merged into one store commit.
//!
//! A browser store pays about a millisecond per transaction whatever it holds, so the driver
//! can gather the commits of many steps and write them at once, as RabbitMQ's message store
//! batches its fsyncs. Merging keeps the image the same as applying the commits one by one,
//! and writes less: a message put and deleted inside one group (published and acked before
//! the group reached the disk) is never written, and a `MarkDelivered` for a message put in the
//! group is folded into its put. Confirms held by every merged commit are released only once
//! the merged commit is stored.
//!
//! Cancelling a put against a later delete is sound because a broker never reuses a
//! `(queue, seq)`: `seq` only grows over a broker's life, restarts included, so a message put
//! in the group was not stored before it.

use rustc_hash::FxHashMap;

use super::store::{Commit, Write};
use crate::scenario::Name;

#[derive(Debug, Clone, Default)]
pub struct Group {
    /// The merged commits' ids, in order: their held confirms go out when the group is stored.
    ids: Vec<u64>,
    /// Writes in order; `None` where a write was cancelled.
    writes: Vec<Option<Write>>,
    /// Where each message put in this group sits in `writes`.
    puts: FxHashMap<(Name, u64), usize>,
    live: usize,
}

impl Group {
    /// Whether no commit waits in the group.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// How many engine commits were merged.
    pub fn commits(&self) -> usize {
        self.ids.len()
    }

    /// How many writes the merged commit holds (cancelled ones not counted).
    pub fn writes(&self) -> usize {
        self.live
    }

    /// Merges one commit after the ones already in the group.
    pub fn add(&mut self, commit: Commit) {
        self.ids.push(commit.id);
        for write in commit.writes {
            self.push(write);
        }
    }

    fn push(&mut self, write: Write) {
        match write {
            Write::PutMessage {
                queue,
                seq,
                message,
            } => {
                self.puts.insert((queue.clone(), seq), self.writes.len());
                self.writes.push(Some(Write::PutMessage {
                    queue,
                    seq,
                    message,
                }));
                self.live += 1;
            }
            Write::MarkDelivered { queue, seq } => {
                if let Some(&at) = self.puts.get(&(queue.clone(), seq)) {
                    if let Some(Write::PutMessage { message, .. }) = &mut self.writes[at] {
                        message.delivered = true;
                        return;
                    }
                }
                self.writes.push(Some(Write::MarkDelivered { queue, seq }));
                self.live += 1;
            }
            Write::DeleteMessage { queue, seq } => {
                if let Some(at) = self.puts.remove(&(queue.clone(), seq)) {
                    // Put in this group: it was never stored, so neither write is needed.
                    self.writes[at] = None;
                    self.live -= 1;
                    return;
                }
                self.writes.push(Some(Write::DeleteMessage { queue, seq }));
                self.live += 1;
            }
            other => {
                if let Write::DeleteQueue(name) = &other {
                    // A later MarkDelivered or DeleteMessage for these puts can no longer come
                    // (the queue is gone); dropping them from the index keeps it small.
                    self.puts.retain(|(q, _), _| q != name);
                }
                self.writes.push(Some(other));
                self.live += 1;
            }
        }
    }

    /// Empties the group: the one commit to store, and the ids to report as committed after.
    pub fn take(&mut self) -> (Commit, Vec<u64>) {
        let ids = std::mem::take(&mut self.ids);
        let writes = std::mem::take(&mut self.writes)
            .into_iter()
            .flatten()
            .collect();
        self.puts.clear();
        self.live = 0;
        let commit = Commit {
            id: ids.first().copied().unwrap_or(0),
            writes,
        };
        (commit, ids)
    }
}
