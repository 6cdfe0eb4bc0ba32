//! The persisted session: IndexedDB holds the durable image at the app's cursor.
//!
//! [`Persistence::sync`] is called after every cursor move or scenario change. Moving forward
//! from the stored position stores what those steps wrote (a copy of the broker steps
//! alongside to learn it), grouped into one transaction with the new position. Any other move
//! (back, a jump over a `broker.restart`, another scenario) replaces the whole image in one
//! transaction. Either way `meta.position` is written in the same transaction as the image,
//! so after a crash the store says exactly which step its image belongs to. One transaction
//! is in flight at a time; syncs asked for meanwhile are merged into the next.
//!
//! Opening the playground again is a restart: [`Restored::text`] is the stored scenario cut
//! at the stored position with a `broker.restart` appended. The app should show it with the
//! cursor at its end (after the restart) before its first `sync`, or the first sync stores
//! the position it shows instead.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::{Rc, Weak};

use web_sys::IdbFactory;
use yew::Callback;

use super::indexeddb::{self, Fault, IdbOptions, IdbStore, MetaUpdate};
use super::ownership::{sleep, Ownership};
use crate::engine::store::{
    Commit, CommitError, DurableImage, LoadError, MemoryStore, Store, StoredMessage,
};
use crate::engine::Driver;
use crate::scenario::{parse, Limits, Name, Op, Scenario, Step};
use crate::timeline::{Timeline, TimelineConfig};

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

/// The store of the broker copy that steps forward from the stored position. Commits are kept
/// to go into one transaction with the new position; a `broker.restart` among the steps loads
/// from IndexedDB for real: the commits before it are written first (the restart's step as
/// the position), and what IndexedDB gives back must be the engine's image.
struct Shadow<'a> {
    memory: MemoryStore,
    idb: &'a mut IdbStore,
    commits: Vec<Commit>,
    /// The step being applied: a restart's image belongs to the steps before it.
    step: usize,
    /// Why a restart could not load from IndexedDB.
    failed: Option<CommitError>,
}

impl Shadow<'_> {
    /// Writes the kept commits and `position` in one transaction.
    async fn write(&mut self, position: usize) -> Result<(), CommitError> {
        let refs: Vec<&Commit> = self.commits.iter().collect();
        let meta = MetaUpdate {
            scenario: None,
            position: Some(position),
        };
        self.idb.commit_with(&refs, &meta).await?;
        self.commits.clear();
        Ok(())
    }
}

impl Store for Shadow<'_> {
    async fn load(&mut self) -> Result<DurableImage, LoadError> {
        let loaded = match self.write(self.step).await {
            Ok(()) => self.idb.load().await.map_err(|e| match e {
                LoadError::Unavailable(m) | LoadError::Corrupt(m) => CommitError::Unavailable(m),
            }),
            Err(e) => Err(e),
        };
        let error = match loaded {
            Ok(image) if image == *self.memory.image() => return Ok(image),
            Ok(_) => CommitError::Aborted(format!(
                "at the restart in step {}, IndexedDB gave back another image than the broker \
                 stored",
                self.step
            )),
            Err(e) => e,
        };
        self.failed = Some(error.clone());
        Err(LoadError::Unavailable(format!("{error:?}")))
    }

    async fn commit(&mut self, commit: &Commit) -> Result<(), CommitError> {
        self.commits.push(commit.clone());
        self.memory.commit(commit).await
    }
}

/// What IndexedDB holds (after the last transaction that completed).
struct Stored {
    text: String,
    position: usize,
    /// The broker at `position`, to step forward from.
    world: Driver<MemoryStore>,
}

/// The latest state the app asked to store.
struct Wanted {
    text: String,
    scenario: Rc<Scenario>,
    position: usize,
    world: Driver<MemoryStore>,
}

enum Mode {
    Owner,
    ReadOnly(String),
    Memory(String),
}

struct Inner {
    mode: Mode,
    /// Out while a transaction is in flight.
    store: Option<IdbStore>,
    ownership: Option<Ownership>,
    stored: Option<Stored>,
    wanted: Option<Rc<Wanted>>,
    /// The last state asked for, kept for a take-over.
    last: Option<Rc<Wanted>>,
    /// The parsed scenario of the last text seen, so a cursor move does not clone it.
    scenario: Option<(String, Rc<Scenario>)>,
    busy: bool,
    /// The step IndexedDB's image belongs to, as last reported.
    saved: usize,
}

/// One playground's link to its IndexedDB database.
pub struct Persistence {
    on_status: Callback<StorageStatus>,
    inner: RefCell<Inner>,
    me: Weak<Persistence>,
}

impl std::fmt::Debug for Persistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persistence").finish_non_exhaustive()
    }
}

fn memory_reason(why: &str) -> String {
    format!("{why}. The playground keeps working in memory; nothing stored was changed.")
}

fn load_reason(e: &LoadError) -> String {
    match e {
        LoadError::Unavailable(m) => memory_reason(&format!("IndexedDB cannot be used: {m}")),
        LoadError::Corrupt(m) => memory_reason(&format!(
            "the stored broker cannot be read ({m}); 'reset stored broker' clears it"
        )),
    }
}

impl Persistence {
    /// Opens (or creates) the store for `id`, agrees on an owner, and reads what it holds.
    pub async fn open(
        id: &str,
        on_status: Callback<StorageStatus>,
    ) -> (Rc<Self>, Option<Restored>) {
        Self::open_with(id, indexeddb::factory(), on_status).await
    }

    /// [`Persistence::open`] through a given IndexedDB (or the reason there is none).
    pub async fn open_with(
        id: &str,
        factory: Result<IdbFactory, LoadError>,
        on_status: Callback<StorageStatus>,
    ) -> (Rc<Self>, Option<Restored>) {
        on_status.emit(StorageStatus::Opening);
        let this = Rc::new_cyclic(|me| Persistence {
            on_status,
            inner: RefCell::new(Inner {
                mode: Mode::Memory(String::new()),
                store: None,
                ownership: None,
                stored: None,
                wanted: None,
                last: None,
                scenario: None,
                busy: false,
                saved: 0,
            }),
            me: me.clone(),
        });
        let restored = match this.connect(id, factory).await {
            Ok(restored) => restored,
            Err(reason) => {
                this.to_memory(reason);
                None
            }
        };
        (this, restored)
    }

    async fn connect(
        &self,
        id: &str,
        factory: Result<IdbFactory, LoadError>,
    ) -> Result<Option<Restored>, String> {
        let factory = factory.map_err(|e| load_reason(&e))?;
        let name = indexeddb::database_name(id);
        let me = self.me.clone();
        let ownership = Ownership::acquire(&name, move || {
            if let Some(me) = me.upgrade() {
                me.to_read_only(
                    "another tab or embed took over this playground's stored broker".into(),
                );
            }
        })
        .await;
        let mut store = IdbStore::open(&factory, &name, IdbOptions::default())
            .await
            .map_err(|e| load_reason(&e))?;
        // A damaged store is left as it is, and the playground runs in memory; its owner can
        // still reset it.
        let (restored, damaged, saved) = match store.load_all().await {
            Ok((image, meta)) => match (&meta.scenario, meta.position) {
                (Some(text), Some(position)) if position > 0 => {
                    match restore(text, position, &image) {
                        Ok(r) => (Some(r), None, position),
                        Err(e) => (
                            None,
                            Some(memory_reason(&format!(
                                "the stored broker does not match its stored scenario ({e}); \
                                 'reset stored broker' clears it"
                            ))),
                            0,
                        ),
                    }
                }
                _ => (None, None, meta.position.unwrap_or(0)),
            },
            Err(e @ LoadError::Corrupt(_)) => (None, Some(load_reason(&e)), 0),
            Err(e) => return Err(load_reason(&e)),
        };
        let owner = ownership.is_owner();
        if owner {
            store
                .claim(ownership.token())
                .await
                .map_err(|e| memory_reason(&format!("IndexedDB cannot be written: {e:?}")))?;
        }
        let status = match (&damaged, owner) {
            (Some(reason), _) => StorageStatus::Memory {
                reason: reason.clone(),
            },
            (None, true) => StorageStatus::Saved { step: saved },
            (None, false) => StorageStatus::ReadOnly {
                reason: read_only_reason(),
            },
        };
        {
            let mut inner = self.inner.borrow_mut();
            inner.store = Some(store);
            inner.ownership = Some(ownership);
            inner.saved = saved;
            inner.mode = match damaged {
                Some(reason) => Mode::Memory(reason),
                None if owner => Mode::Owner,
                None => Mode::ReadOnly(read_only_reason()),
            };
        }
        self.on_status.emit(status);
        Ok(restored)
    }

    /// Records the scenario text and brings IndexedDB to the timeline's cursor (queued; the
    /// status reports progress).
    pub fn sync(&self, text: &str, timeline: &Timeline) {
        let run = {
            let mut inner = self.inner.borrow_mut();
            let scenario = match &inner.scenario {
                Some((t, s)) if t == text => s.clone(),
                _ => {
                    let s = Rc::new(timeline.scenario().clone());
                    inner.scenario = Some((text.to_owned(), s.clone()));
                    s
                }
            };
            let wanted = Rc::new(Wanted {
                text: text.to_owned(),
                scenario,
                position: timeline.position(),
                world: timeline.world().clone(),
            });
            inner.last = Some(wanted.clone());
            inner.wanted = Some(wanted);
            let run = matches!(inner.mode, Mode::Owner) && !inner.busy;
            if run {
                inner.busy = true;
            }
            run
        };
        if run {
            self.spawn_pump();
        }
    }

    fn spawn_pump(&self) {
        if let Some(me) = self.me.upgrade() {
            wasm_bindgen_futures::spawn_local(async move { me.pump().await });
        }
    }

    /// Stores what was asked for, one transaction at a time, until nothing is waiting.
    async fn pump(&self) {
        let mut retried = false;
        loop {
            let (wanted, stored, mut store) = {
                let mut inner = self.inner.borrow_mut();
                let ready = matches!(inner.mode, Mode::Owner) && inner.store.is_some();
                let Some(wanted) = inner.wanted.take().filter(|_| ready) else {
                    inner.busy = false;
                    return;
                };
                let store = inner.store.take().expect("checked above");
                (wanted, inner.stored.take(), store)
            };
            self.on_status.emit(StorageStatus::Saving);
            let position = wanted.position;
            let (result, world) = write(&mut store, stored, &wanted).await;
            let mut inner = self.inner.borrow_mut();
            inner.store = Some(store);
            match result {
                Ok(()) => {
                    retried = false;
                    inner.saved = position;
                    inner.stored = Some(Stored {
                        text: wanted.text.clone(),
                        position,
                        world,
                    });
                    drop(inner);
                    self.on_status.emit(StorageStatus::Saved { step: position });
                }
                Err(CommitError::Aborted(_)) if !retried => {
                    // Unknown what is stored now: write the whole image (unless newer is asked).
                    retried = true;
                    if inner.wanted.is_none() {
                        inner.wanted = Some(wanted);
                    }
                }
                Err(CommitError::NotOwner(m)) => {
                    inner.busy = false;
                    drop(inner);
                    self.to_read_only(format!("{m}: this one shows but does not save"));
                    return;
                }
                Err(e) => {
                    inner.busy = false;
                    let before = inner.saved;
                    drop(inner);
                    let why = match e {
                        CommitError::QuotaExceeded(m) => {
                            format!("the browser refused to store more: {m}")
                        }
                        CommitError::Unavailable(m) | CommitError::Aborted(m) => {
                            format!("IndexedDB failed: {m}")
                        }
                        CommitError::NotOwner(m) => m,
                    };
                    self.to_memory(format!(
                        "{why}. The playground keeps working in memory; the stored broker stays \
                         as it was at step {before}."
                    ));
                    return;
                }
            }
        }
    }

    fn to_memory(&self, reason: String) {
        {
            let mut inner = self.inner.borrow_mut();
            inner.mode = Mode::Memory(reason.clone());
            inner.wanted = None;
            // Let another tab own and write the store.
            inner.ownership = None;
        }
        self.on_status.emit(StorageStatus::Memory { reason });
    }

    fn to_read_only(&self, reason: String) {
        {
            let mut inner = self.inner.borrow_mut();
            if !matches!(inner.mode, Mode::Owner) {
                return;
            }
            inner.mode = Mode::ReadOnly(reason.clone());
            inner.wanted = None;
            inner.stored = None;
        }
        self.on_status.emit(StorageStatus::ReadOnly { reason });
    }

    /// Takes ownership from another tab or embed with the same id.
    pub fn take_over(&self) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move { me.take_over_now().await });
    }

    /// [`Persistence::take_over`], finished when this instance owns the store and has
    /// started storing its own state.
    pub async fn take_over_now(&self) {
        let (ownership, mut store) = loop {
            {
                let mut inner = self.inner.borrow_mut();
                if !matches!(inner.mode, Mode::ReadOnly(_)) || inner.ownership.is_none() {
                    return;
                }
                if !inner.busy && inner.store.is_some() {
                    inner.busy = true;
                    let store = inner.store.take().expect("checked above");
                    break (inner.ownership.take().expect("checked above"), store);
                }
            }
            // A transaction from before the loss of ownership is finishing (it fails).
            sleep(10).await;
        };
        ownership.take_over().await;
        let claimed = store.claim(ownership.token()).await;
        let run = {
            let mut inner = self.inner.borrow_mut();
            inner.ownership = Some(ownership);
            inner.store = Some(store);
            inner.busy = false;
            if let Err(e) = claimed {
                drop(inner);
                self.to_memory(memory_reason(&format!(
                    "IndexedDB cannot be written: {e:?}"
                )));
                return;
            }
            inner.mode = Mode::Owner;
            inner.stored = None;
            // The other instance's image is not ours: store this one's state whole.
            inner.wanted = inner.last.clone();
            let run = inner.wanted.is_some() && !inner.busy;
            if run {
                inner.busy = true;
            }
            run
        };
        if run {
            self.pump().await;
        } else {
            let step = self.inner.borrow().saved;
            self.on_status.emit(StorageStatus::Saved { step });
        }
    }

    /// Deletes the stored broker ("reset stored broker").
    pub fn reset(&self) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move { me.reset_now().await });
    }

    /// [`Persistence::reset`], finished when the store is cleared.
    pub async fn reset_now(&self) {
        let mut store = loop {
            {
                let mut inner = self.inner.borrow_mut();
                let owner = inner.ownership.as_ref().is_some_and(Ownership::is_owner);
                // The owner resets, also when what it found was damaged (in memory, store kept).
                if !owner || matches!(inner.mode, Mode::ReadOnly(_)) {
                    return;
                }
                inner.wanted = None;
                if !inner.busy {
                    if let Some(store) = inner.store.take() {
                        inner.stored = None;
                        inner.busy = true;
                        break store;
                    }
                }
            }
            // A transaction is in flight: the reset goes after it.
            sleep(10).await;
        };
        let cleared = store.clear().await;
        {
            let mut inner = self.inner.borrow_mut();
            inner.store = Some(store);
            inner.busy = false;
            inner.saved = 0;
            if cleared.is_ok() {
                inner.mode = Mode::Owner;
            }
        }
        // A sync asked for during the reset.
        let pending = {
            let mut inner = self.inner.borrow_mut();
            let pending = cleared.is_ok() && inner.wanted.is_some();
            inner.busy = pending;
            pending
        };
        match cleared {
            Ok(()) => self.on_status.emit(StorageStatus::Saved { step: 0 }),
            Err(e) => self.to_memory(memory_reason(&format!("the reset failed: {e:?}"))),
        }
        if pending {
            self.pump().await;
        }
    }

    /// The status as it stands (the callback reports each change).
    pub fn status(&self) -> StorageStatus {
        let inner = self.inner.borrow();
        match &inner.mode {
            Mode::Owner if inner.busy => StorageStatus::Saving,
            Mode::Owner => StorageStatus::Saved { step: inner.saved },
            Mode::ReadOnly(reason) => StorageStatus::ReadOnly {
                reason: reason.clone(),
            },
            Mode::Memory(reason) => StorageStatus::Memory {
                reason: reason.clone(),
            },
        }
    }

    /// Whether a transaction is in flight or waiting.
    pub fn is_busy(&self) -> bool {
        self.inner.borrow().busy
    }

    /// Readwrite transactions completed since open (claims of ownership included).
    pub fn transactions(&self) -> u64 {
        self.inner
            .borrow()
            .store
            .as_ref()
            .map_or(0, |s| s.transactions)
    }

    /// Test hook: interrupts one of the next commits (see [`Fault`]).
    pub fn inject_fault(&self, fault: Fault) {
        if let Some(store) = self.inner.borrow_mut().store.as_mut() {
            store.inject(fault);
        }
    }
}

fn read_only_reason() -> String {
    "another tab or embed with this id owns the stored broker: this one shows but does not \
     save (take over to save here)"
        .into()
}

/// One transaction bringing the store from `stored` to `wanted` (one more before each
/// `broker.restart` stepped over); the broker at `wanted`.
async fn write(
    store: &mut IdbStore,
    stored: Option<Stored>,
    wanted: &Wanted,
) -> (Result<(), CommitError>, Driver<MemoryStore>) {
    let Some(s) = stored.filter(|s| s.text == wanted.text && s.position <= wanted.position) else {
        // Anything but forward: the whole image at the cursor.
        let meta = MetaUpdate {
            scenario: Some(wanted.text.clone()),
            position: Some(wanted.position),
        };
        let result = store.replace(wanted.world.store.image(), &meta).await;
        return (result, wanted.world.clone());
    };
    if s.position == wanted.position {
        return (Ok(()), s.world);
    }
    // Forward: the writes of the steps in between, as the engine makes them, grouped.
    let mut world = s.world.map_store(|memory| Shadow {
        memory,
        idb: store,
        commits: Vec::new(),
        step: s.position,
        failed: None,
    });
    let steps = wanted.scenario.steps.iter().enumerate();
    let mut result = Ok(());
    for (i, step) in steps.take(wanted.position).skip(s.position) {
        world.store.step = i;
        if world.step_grouped(i, step).await.is_err() {
            result =
                Err(world.store.failed.take().unwrap_or_else(|| {
                    CommitError::Unavailable("the restart could not load".into())
                }));
            break;
        }
    }
    if result.is_ok() {
        // Into the memory store, which never fails.
        let _ = world.flush(wanted.position - 1).await;
        result = world.store.write(wanted.position).await;
    }
    (result, world.map_store(|shadow| shadow.memory))
}

/// The restored scenario and what its restart keeps, checked against what IndexedDB holds.
fn restore(text: &str, position: usize, image: &DurableImage) -> Result<Restored, String> {
    let mut scenario = parse(text, &Limits::default()).map_err(|e| e.to_string())?;
    if position > scenario.steps.len() {
        return Err(format!(
            "position {position} is past the scenario's {} steps",
            scenario.steps.len()
        ));
    }
    scenario.steps.truncate(position);
    scenario.steps.push(Step {
        channel: Name::from("main"),
        op: Op::BrokerRestart,
    });
    let restored_text = scenario.to_pretty_json();
    let mut timeline = Timeline::new(scenario, TimelineConfig::default());
    timeline.seek(position);
    if timeline.stored() != image {
        return Err(format!(
            "the image stored for step {position} is not the scenario's"
        ));
    }
    Ok(Restored {
        text: restored_text,
        summary: summary(&timeline, image),
    })
}

/// What a restart at the timeline's position keeps and drops, in words.
fn summary(timeline: &Timeline, image: &DurableImage) -> String {
    let state = timeline.state();
    let stored: Vec<&StoredMessage> = image.messages.values().flat_map(|q| q.values()).collect();
    let redelivered = stored.iter().filter(|m| m.delivered).count();
    let total: usize = state.queues.iter().map(|q| q.ready.len() + q.unacked).sum();
    let transient_queues: Vec<&str> = state
        .queues
        .iter()
        .filter(|q| !image.queues.contains_key(&q.name))
        .map(|q| &*q.name)
        .collect();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut s = format!(
        "Restored from IndexedDB after step {}, as a broker restart: kept {} and {} ",
        timeline.position(),
        plural(image.queues.len(), "durable queue"),
        plural(stored.len(), "persistent message"),
    );
    if redelivered > 0 {
        let _ = write!(s, "({redelivered} unacked, back as redelivered)");
    } else {
        s.push_str("(none redelivered)");
    }
    let dropped_messages = total.saturating_sub(stored.len());
    let _ = write!(
        s,
        "; dropped {}",
        plural(transient_queues.len(), "transient queue")
    );
    if !transient_queues.is_empty() {
        let _ = write!(s, " ({})", transient_queues.join(", "));
    }
    let _ = write!(
        s,
        " and {} that {} not stored (transient, or in a transient queue)",
        plural(dropped_messages, "message"),
        if dropped_messages == 1 { "was" } else { "were" }
    );
    s.push('.');
    s
}
