//! The durable image in IndexedDB: the engine's [`Store`] over web-sys.
//!
//! Database `queue-playground/<id>`, schema v1:
//! - `exchanges`, `queues`: by name.
//! - `bindings`: by `[source, destination kind, destination, routing key, arguments as JSON]`;
//!   the value keeps an ordinal, so bindings load in the order they were made (routing follows
//!   that order).
//! - `messages`: by `[queue, seq]`, so a queue's messages load in queue order.
//! - `delivered`: the `[queue, seq]` of stored messages delivered at least once. A store of its
//!   own so that marking a message needs no read inside the transaction.
//! - `meta`: `schema`, `scenario` (text), `position` (how many steps the image is after) and
//!   `owner` (the token of the playground allowed to write).
//!
//! Values are JSON text: one string is the cheapest record to structured-clone.
//!
//! One [`IdbStore::commit_with`] is one readwrite transaction, resolved on `complete`; a failed
//! one left nothing of itself (IndexedDB rolls an aborted transaction back). Nothing but
//! IndexedDB requests runs inside it: the records are serialized before it opens. Once the
//! store has claimed ownership ([`IdbStore::claim`]), the first request reads `meta.owner`, and
//! the writes go out from its callback only if the token there is still this store's.
//!
//! The store keeps a mirror of the stored bindings and message keys (not bodies), so that
//! deleting a queue or an exchange finds its bindings, and acks of neighbouring messages go
//! out as one key-range delete.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use js_sys::{Array, Object, Promise, Reflect};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DomException, IdbDatabase, IdbFactory, IdbKeyRange, IdbObjectStore, IdbOpenDbRequest,
    IdbRequest, IdbTransaction, IdbVersionChangeEvent,
};

use crate::engine::store::{
    BindingDef, Commit, CommitError, DestinationKind, DurableImage, LoadError, Store,
    StoredMessage, Write,
};
use crate::scenario::Name;

/// The schema this code reads and writes. Each version's change is one arm of [`upgrade`].
pub const SCHEMA_VERSION: u32 = 1;

const EXCHANGES: &str = "exchanges";
const QUEUES: &str = "queues";
const BINDINGS: &str = "bindings";
const MESSAGES: &str = "messages";
const DELIVERED: &str = "delivered";
const META: &str = "meta";
const STORES: [&str; 6] = [EXCHANGES, QUEUES, BINDINGS, MESSAGES, DELIVERED, META];
/// What "reset" and a whole-image replace clear (meta keeps the schema and the owner).
const IMAGE_STORES: [&str; 5] = [EXCHANGES, QUEUES, BINDINGS, MESSAGES, DELIVERED];

/// The database a playground id stores into.
pub fn database_name(id: &str) -> String {
    format!("queue-playground/{id}")
}

/// IndexedDB's durability hint: `strict` flushes to disk before `complete` (as RabbitMQ
/// fsyncs before a confirm); `relaxed` lets the OS buffer, and is faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    #[default]
    Strict,
    Relaxed,
}

impl Durability {
    fn as_str(self) -> &'static str {
        match self {
            Durability::Strict => "strict",
            Durability::Relaxed => "relaxed",
        }
    }
}

/// A test hook: interrupts one commit, as a crash or a full disk would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Which commit to interrupt, counted from 1 since the store was opened.
    pub commit: u64,
    /// How many of its writes are issued before the transaction is aborted (all of them: the
    /// page went away before `complete`).
    pub after_writes: usize,
    /// The `DOMException` name the browser would have reported (`"QuotaExceededError"`);
    /// `None` for a plain abort.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdbOptions {
    pub durability: Durability,
    pub fault: Option<Fault>,
    /// How long opening may take before it counts as unavailable (another page's pending
    /// upgrade or deletion can hold it); `None`: [`OPEN_TIMEOUT_MS`].
    pub open_timeout_ms: Option<u32>,
}

/// How long opening may take by default.
pub const OPEN_TIMEOUT_MS: u32 = 10_000;

/// What the `meta` store says besides the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredMeta {
    pub scenario: Option<String>,
    /// How many steps of `scenario` the image is after.
    pub position: Option<usize>,
    pub owner: Option<String>,
}

/// Meta records written in the same transaction as a commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaUpdate {
    pub scenario: Option<String>,
    pub position: Option<usize>,
}

#[derive(Serialize, Deserialize)]
struct BindingRecord {
    ord: u64,
    binding: BindingDef,
}

#[derive(Serialize, Deserialize)]
struct MessageRecord {
    queue: Name,
    seq: u64,
    message: StoredMessage,
}

/// One IndexedDB request, prepared before the transaction opens.
enum Request {
    Put(&'static str, JsValue, JsValue),
    /// By key or key range.
    Delete(&'static str, JsValue),
    Clear(&'static str),
}

/// What is stored, as far as writing needs to know it.
#[derive(Debug, Default)]
struct Mirror {
    /// The stored bindings, in ordinal order: deleting an exchange or a queue deletes the
    /// bindings that name it, which IndexedDB cannot find by a key range.
    bindings: Vec<(u64, BindingDef)>,
    /// The stored messages' keys by queue, each with whether it has a `delivered` record:
    /// deletes of neighbouring messages become one key-range delete (an ack stream deletes
    /// runs of them; IndexedDB pays per delete request), and a message never marked needs no
    /// `delivered` delete.
    messages: BTreeMap<Name, BTreeMap<u64, bool>>,
}

/// The requests of one transaction, prepared from writes, and the mirror after them.
struct Batch {
    mirror: Mirror,
    requests: Vec<Request>,
    /// Message deletes, issued last as merged key ranges (no write of the same transaction
    /// can bring back a deleted key: a broker never reuses a `(queue, seq)`).
    deleted: BTreeMap<Name, Vec<(u64, bool)>>,
}

#[wasm_bindgen]
extern "C" {
    /// `IDBDatabase` with the `transaction(stores, mode, {durability})` overload (web-sys only
    /// has it behind its unstable cfg).
    type DatabaseWithOptions;
    #[wasm_bindgen(method, catch, js_name = transaction)]
    fn transaction_with_options(
        this: &DatabaseWithOptions,
        stores: &Array,
        mode: &str,
        options: &Object,
    ) -> Result<IdbTransaction, JsValue>;
}

/// The engine's durable image in one IndexedDB database.
#[derive(Debug)]
pub struct IdbStore {
    db: IdbDatabase,
    options: IdbOptions,
    /// What is stored, as far as writing needs it. Read before the first commit if no load
    /// came first, and again after a failed one.
    mirror: Option<Mirror>,
    /// Writes are refused unless `meta.owner` still holds this token (fencing: a playground
    /// that lost ownership and has not heard yet cannot write over the new owner).
    token: Option<String>,
    /// Set when another page opened a newer schema and this connection closed for it.
    closed: Rc<Cell<bool>>,
    _on_version_change: Closure<dyn FnMut()>,
    /// Commits attempted since open (the fault hook counts these).
    pub commits: u64,
    /// Readwrite transactions completed since open.
    pub transactions: u64,
}

impl Drop for IdbStore {
    fn drop(&mut self) {
        self.db.set_onversionchange(None);
        self.db.close();
    }
}

fn dom_message(e: &JsValue) -> String {
    match e.dyn_ref::<DomException>() {
        Some(d) => format!("{}: {}", d.name(), d.message()),
        None => e.as_string().unwrap_or_else(|| format!("{e:?}")),
    }
}

/// Maps a failed transaction's error to what the engine understands.
fn commit_error(name: &str, message: &str) -> CommitError {
    match name {
        "QuotaExceededError" => CommitError::QuotaExceeded(format!(
            "the browser's storage for this site is full ({message})"
        )),
        "InvalidStateError" | "UnknownError" => {
            CommitError::Unavailable(format!("IndexedDB cannot write ({name}: {message})"))
        }
        _ => CommitError::Aborted(format!("IndexedDB aborted the write ({name}: {message})")),
    }
}

/// Resolves when the request succeeds (with its result), fails with its error otherwise.
async fn request_result(request: &IdbRequest) -> Result<JsValue, String> {
    let done = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    match JsFuture::from(done).await {
        Ok(_) => request.result().map_err(|e| dom_message(&e)),
        Err(_) => Err(match request.error() {
            Ok(Some(e)) => format!("{}: {}", e.name(), e.message()),
            _ => "request failed".into(),
        }),
    }
}

/// A request's result as the strings it holds (every record value is JSON text).
async fn strings(request: &IdbRequest) -> Result<Vec<String>, LoadError> {
    let values = request_result(request)
        .await
        .map_err(LoadError::Unavailable)?;
    Ok(Array::from(&values)
        .iter()
        .map(|v| v.as_string().unwrap_or_default())
        .collect())
}

async fn value_of(request: &IdbRequest) -> Result<JsValue, LoadError> {
    request_result(request)
        .await
        .map_err(LoadError::Unavailable)
}

fn json<T: Serialize>(value: &T) -> JsValue {
    // Engine types always serialize; an empty string would fail to parse on load, loudly.
    JsValue::from_str(&serde_json::to_string(value).unwrap_or_default())
}

/// `[queue, seq]` back from a key.
fn message_key_parts(key: &JsValue) -> Option<(String, u64)> {
    let key = Array::from(key);
    Some((key.get(0).as_string()?, key.get(1).as_f64()? as u64))
}

fn message_key(queue: &str, seq: u64) -> JsValue {
    Array::of2(&JsValue::from_str(queue), &JsValue::from_f64(seq as f64)).into()
}

/// Every `[queue, seq]` key of one queue: `[queue]` sorts before them and `[queue, []]` after
/// (arrays sort after numbers).
fn queue_range(queue: &str) -> Result<JsValue, JsValue> {
    let q = JsValue::from_str(queue);
    IdbKeyRange::bound(&Array::of1(&q), &Array::of2(&q, &Array::new())).map(Into::into)
}

fn binding_key(b: &BindingDef) -> JsValue {
    let kind = match b.destination_kind {
        DestinationKind::Queue => "queue",
        DestinationKind::Exchange => "exchange",
    };
    let arguments = serde_json::to_string(&b.arguments).unwrap_or_default();
    [
        &*b.source,
        kind,
        &*b.destination,
        &*b.routing_key,
        arguments.as_str(),
    ]
    .iter()
    .map(|s| JsValue::from_str(s))
    .collect::<Array>()
    .into()
}

/// Creates what schema `version` adds. Run for every version after the stored one, in order.
fn upgrade(db: &IdbDatabase, tx: &IdbTransaction, version: u32) -> Result<(), JsValue> {
    match version {
        1 => {
            for name in STORES {
                db.create_object_store(name)?;
            }
            tx.object_store(META)?
                .put_with_key(&JsValue::from(1), &JsValue::from_str("schema"))?;
        }
        // A later schema adds an arm here (and bumps SCHEMA_VERSION), migrating in `tx`.
        other => return Err(JsValue::from_str(&format!("no upgrade to schema v{other}"))),
    }
    Ok(())
}

fn open_error(name: &str, message: &str) -> LoadError {
    match name {
        "VersionError" => LoadError::Unavailable(format!(
            "the stored broker was saved by a newer version of the playground (this one reads \
             schema v{SCHEMA_VERSION}); nothing stored was changed"
        )),
        _ => LoadError::Unavailable(format!("IndexedDB cannot be opened ({name}: {message})")),
    }
}

/// The page's IndexedDB, or why there is none.
pub fn factory() -> Result<IdbFactory, LoadError> {
    factory_in(&js_sys::global())
}

/// The IndexedDB of a global object (a window, a worker, a frame).
pub fn factory_in(global: &JsValue) -> Result<IdbFactory, LoadError> {
    let idb = Reflect::get(global, &JsValue::from_str("indexedDB")).map_err(|e| {
        LoadError::Unavailable(format!("IndexedDB is not reachable ({})", dom_message(&e)))
    })?;
    idb.dyn_into::<IdbFactory>().map_err(|_| {
        LoadError::Unavailable(
            "this browser offers no IndexedDB here (private mode or disabled)".into(),
        )
    })
}

impl IdbStore {
    /// Opens (creating or upgrading) database `name` through `factory`.
    pub async fn open(
        factory: &IdbFactory,
        name: &str,
        options: IdbOptions,
    ) -> Result<IdbStore, LoadError> {
        let request: IdbOpenDbRequest =
            factory.open_with_u32(name, SCHEMA_VERSION).map_err(|e| {
                LoadError::Unavailable(format!("IndexedDB cannot be opened ({})", dom_message(&e)))
            })?;
        let upgrade_error: Rc<RefCell<Option<String>>> = Rc::default();
        let on_upgrade = {
            let request = request.clone();
            let upgrade_error = upgrade_error.clone();
            Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(move |e: IdbVersionChangeEvent| {
                let old = e.old_version() as u32;
                let result = (|| -> Result<(), JsValue> {
                    // Not `dyn_into`: a frame's database is another realm's IDBDatabase.
                    let db: IdbDatabase = request.result()?.unchecked_into();
                    let tx = request
                        .transaction()
                        .ok_or_else(|| JsValue::from_str("no upgrade transaction"))?;
                    for version in old + 1..=SCHEMA_VERSION {
                        upgrade(&db, &tx, version)?;
                    }
                    Ok(())
                })();
                if let Err(e) = result {
                    *upgrade_error.borrow_mut() = Some(dom_message(&e));
                    if let Some(tx) = request.transaction() {
                        let _ = tx.abort();
                    }
                }
            })
        };
        request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
        let opened = Promise::new(&mut |resolve, reject| {
            request.set_onsuccess(Some(&resolve));
            request.set_onerror(Some(&reject));
            // Another page holds an older version open and does not let go.
            let blocked = reject.clone();
            let on_blocked = Closure::once_into_js(move || {
                let _ = blocked.call1(&JsValue::NULL, &JsValue::from_str("blocked"));
            });
            request.set_onblocked(Some(on_blocked.unchecked_ref()));
        });
        let timeout_ms = options.open_timeout_ms.unwrap_or(OPEN_TIMEOUT_MS);
        let timeout = Promise::new(&mut |_, reject| {
            let late = Closure::once_into_js(move || {
                let _ = reject.call1(&JsValue::NULL, &JsValue::from_str("timeout"));
            });
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                    late.unchecked_ref(),
                    timeout_ms as i32,
                );
            }
        });
        let outcome = JsFuture::from(Promise::race(&Array::of2(&opened, &timeout))).await;
        let gave_up = match &outcome {
            Err(reason) if reason.as_string().as_deref() == Some("blocked") => Some(
                "another tab holds the stored broker open with an older version; close it and \
                 reload"
                    .to_owned(),
            ),
            Err(reason) if reason.as_string().as_deref() == Some("timeout") => Some(format!(
                "IndexedDB did not open the stored broker within {timeout_ms} ms (another tab \
                 may be upgrading or deleting it)"
            )),
            _ => None,
        };
        if let Some(reason) = gave_up {
            // The open may still complete later: upgrade as usual, then close it, unused.
            on_upgrade.forget();
            let late = request.clone();
            let close = Closure::once_into_js(move || {
                if let Ok(db) = late.result() {
                    db.unchecked_into::<IdbDatabase>().close();
                }
            });
            request.set_onsuccess(Some(close.unchecked_ref()));
            return Err(LoadError::Unavailable(reason));
        }
        request.set_onupgradeneeded(None);
        drop(on_upgrade);
        match outcome {
            Ok(_) => {}
            Err(_) => {
                if let Some(e) = upgrade_error.borrow().clone() {
                    return Err(LoadError::Corrupt(format!(
                        "the schema upgrade failed ({e})"
                    )));
                }
                return Err(match request.error() {
                    Ok(Some(e)) => open_error(&e.name(), &e.message()),
                    _ => LoadError::Unavailable("IndexedDB cannot be opened".into()),
                });
            }
        }
        let db: IdbDatabase = request
            .result()
            .map_err(|e| LoadError::Unavailable(dom_message(&e)))?
            .unchecked_into();
        let names: Vec<String> = Reflect::get(&db, &JsValue::from_str("objectStoreNames"))
            .map(|list| {
                Array::from(&list)
                    .iter()
                    .filter_map(|n| n.as_string())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(missing) = STORES.iter().find(|s| !names.iter().any(|n| n == *s)) {
            db.close();
            return Err(LoadError::Corrupt(format!(
                "the stored broker has no `{missing}` store"
            )));
        }
        let closed = Rc::new(Cell::new(false));
        let on_version_change = {
            let (db, closed) = (db.clone(), closed.clone());
            // Never block another page's upgrade: let go, and refuse to write from now on.
            Closure::<dyn FnMut()>::new(move || {
                db.close();
                closed.set(true);
            })
        };
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        Ok(IdbStore {
            db,
            options,
            mirror: None,
            token: None,
            closed,
            _on_version_change: on_version_change,
            commits: 0,
            transactions: 0,
        })
    }

    /// Test hook: interrupts the `fault.commit`-th commit from now.
    pub fn inject(&mut self, fault: Fault) {
        self.options.fault = Some(Fault {
            commit: self.commits + fault.commit,
            ..fault
        });
    }

    /// Whether the connection was closed for another page's newer schema.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Reads the image and the meta records in one transaction.
    pub async fn load_all(&mut self) -> Result<(DurableImage, StoredMeta), LoadError> {
        if self.closed.get() {
            return Err(LoadError::Unavailable(closed_message()));
        }
        let corrupt = |what: &str, e: String| LoadError::Corrupt(format!("{what}: {e}"));
        let tx = self
            .db
            .transaction_with_str_sequence(
                &STORES
                    .iter()
                    .map(|s| JsValue::from_str(s))
                    .collect::<Array>(),
            )
            .map_err(|e| LoadError::Unavailable(dom_message(&e)))?;
        let all = |store: &str| -> Result<IdbRequest, LoadError> {
            tx.object_store(store)
                .and_then(|s| s.get_all())
                .map_err(|e| LoadError::Unavailable(dom_message(&e)))
        };
        let exchanges = all(EXCHANGES)?;
        let queues = all(QUEUES)?;
        let bindings = all(BINDINGS)?;
        let messages = all(MESSAGES)?;
        let delivered = tx
            .object_store(DELIVERED)
            .and_then(|s| s.get_all_keys())
            .map_err(|e| LoadError::Unavailable(dom_message(&e)))?;
        let meta = tx
            .object_store(META)
            .map_err(|e| LoadError::Unavailable(dom_message(&e)))?;
        let get = |key: &str| {
            meta.get(&JsValue::from_str(key))
                .map_err(|e| LoadError::Unavailable(dom_message(&e)))
        };
        let (schema, scenario, position, owner) = (
            get("schema")?,
            get("scenario")?,
            get("position")?,
            get("owner")?,
        );

        let mut image = DurableImage::default();
        for text in strings(&exchanges).await? {
            let def: crate::engine::store::ExchangeDef =
                serde_json::from_str(&text).map_err(|e| corrupt(EXCHANGES, e.to_string()))?;
            image.exchanges.insert(def.name.clone(), def);
        }
        for text in strings(&queues).await? {
            let def: crate::engine::store::QueueDef =
                serde_json::from_str(&text).map_err(|e| corrupt(QUEUES, e.to_string()))?;
            image.queues.insert(def.name.clone(), def);
        }
        let mut records: Vec<BindingRecord> = Vec::new();
        for text in strings(&bindings).await? {
            records
                .push(serde_json::from_str(&text).map_err(|e| corrupt(BINDINGS, e.to_string()))?);
        }
        records.sort_by_key(|r| r.ord);
        image.bindings = records.iter().map(|r| r.binding.clone()).collect();
        for text in strings(&messages).await? {
            let r: MessageRecord =
                serde_json::from_str(&text).map_err(|e| corrupt(MESSAGES, e.to_string()))?;
            image
                .messages
                .entry(r.queue)
                .or_default()
                .insert(r.seq, r.message);
        }
        let keys = request_result(&delivered)
            .await
            .map_err(LoadError::Unavailable)?;
        let mut marked = BTreeSet::new();
        for key in Array::from(&keys).iter() {
            let (queue, seq) = message_key_parts(&key)
                .ok_or_else(|| corrupt(DELIVERED, format!("bad key {key:?}")))?;
            if let Some(m) = image
                .messages
                .get_mut(queue.as_str())
                .and_then(|q| q.get_mut(&seq))
            {
                m.delivered = true;
                marked.insert((Name::from(queue), seq));
            }
        }
        let schema = value_of(&schema).await?.as_f64();
        if schema != Some(f64::from(SCHEMA_VERSION)) {
            return Err(LoadError::Corrupt(format!(
                "meta.schema is {schema:?}, expected {SCHEMA_VERSION}"
            )));
        }
        let meta = StoredMeta {
            scenario: value_of(&scenario).await?.as_string(),
            position: value_of(&position).await?.as_f64().map(|p| p as usize),
            owner: value_of(&owner).await?.as_string(),
        };
        self.mirror = Some(Mirror {
            bindings: records.into_iter().map(|r| (r.ord, r.binding)).collect(),
            messages: image
                .messages
                .iter()
                .map(|(q, ms)| {
                    let keys = ms
                        .keys()
                        .map(|&seq| (seq, marked.contains(&(q.clone(), seq))));
                    (q.clone(), keys.collect())
                })
                .collect(),
        });
        Ok((image, meta))
    }

    /// Reads what writing needs to know (bindings, message keys) without the message bodies.
    async fn load_mirror(&mut self) -> Result<Mirror, CommitError> {
        let unavailable = |e: JsValue| CommitError::Unavailable(dom_message(&e));
        let tx = self
            .db
            .transaction_with_str_sequence(
                &[BINDINGS, MESSAGES, DELIVERED]
                    .iter()
                    .map(|s| JsValue::from_str(s))
                    .collect::<Array>(),
            )
            .map_err(unavailable)?;
        let store = |name: &str| tx.object_store(name).map_err(unavailable);
        let bindings = store(BINDINGS)?.get_all().map_err(unavailable)?;
        let messages = store(MESSAGES)?.get_all_keys().map_err(unavailable)?;
        let delivered = store(DELIVERED)?.get_all_keys().map_err(unavailable)?;
        let failed = |e: LoadError| CommitError::Unavailable(format!("{e:?}"));
        let damaged =
            |what: String| CommitError::Aborted(format!("a stored record is damaged: {what}"));
        let mut mirror = Mirror::default();
        for text in strings(&bindings).await.map_err(failed)? {
            let r: BindingRecord =
                serde_json::from_str(&text).map_err(|e| damaged(e.to_string()))?;
            mirror.bindings.push((r.ord, r.binding));
        }
        mirror.bindings.sort_by_key(|(ord, _)| *ord);
        for key in Array::from(&value_of(&messages).await.map_err(failed)?).iter() {
            let (queue, seq) =
                message_key_parts(&key).ok_or_else(|| damaged(format!("{key:?}")))?;
            mirror
                .messages
                .entry(Name::from(queue))
                .or_default()
                .insert(seq, false);
        }
        for key in Array::from(&value_of(&delivered).await.map_err(failed)?).iter() {
            let (queue, seq) =
                message_key_parts(&key).ok_or_else(|| damaged(format!("{key:?}")))?;
            if let Some(m) = mirror
                .messages
                .get_mut(queue.as_str())
                .and_then(|q| q.get_mut(&seq))
            {
                *m = true;
            }
        }
        Ok(mirror)
    }

    /// Makes this playground the only writer: `meta.owner` becomes `token`, and every later
    /// write checks it is still there.
    pub async fn claim(&mut self, token: &str) -> Result<(), CommitError> {
        let requests = vec![Request::Put(
            META,
            JsValue::from_str(token),
            JsValue::from_str("owner"),
        )];
        self.token = None;
        self.run(requests, None).await?;
        self.token = Some(token.to_owned());
        Ok(())
    }

    /// Applies `commits` in order and the meta records, in one transaction.
    pub async fn commit_with(
        &mut self,
        commits: &[&Commit],
        meta: &MetaUpdate,
    ) -> Result<(), CommitError> {
        if commits.iter().all(|c| c.writes.is_empty()) && *meta == MetaUpdate::default() {
            return Ok(());
        }
        // Out while the transaction runs: if it fails, what is stored is read again.
        let mirror = match self.mirror.take() {
            Some(m) => m,
            None => self.load_mirror().await?,
        };
        let mut batch = Batch::new(mirror, Vec::new());
        for commit in commits {
            for write in &commit.writes {
                batch.add(write)?;
            }
        }
        let (mut requests, mirror) = batch.finish()?;
        meta_requests(meta, &mut requests);
        if requests.is_empty() {
            // Writes that change nothing stored (marks for messages that are not there).
            self.mirror = Some(mirror);
            return Ok(());
        }
        self.run(requests, Some(mirror)).await
    }

    /// Replaces the whole stored image (and the meta records) in one transaction.
    pub async fn replace(
        &mut self,
        image: &DurableImage,
        meta: &MetaUpdate,
    ) -> Result<(), CommitError> {
        let requests = IMAGE_STORES.iter().map(|s| Request::Clear(s)).collect();
        let mut batch = Batch::new(Mirror::default(), requests);
        let writes = image
            .exchanges
            .values()
            .map(|x| Write::PutExchange(x.clone()))
            .chain(image.queues.values().map(|q| Write::PutQueue(q.clone())))
            .chain(image.bindings.iter().map(|b| Write::PutBinding(b.clone())))
            .chain(image.messages.iter().flat_map(|(queue, messages)| {
                messages.iter().map(|(&seq, m)| Write::PutMessage {
                    queue: queue.clone(),
                    seq,
                    message: m.clone(),
                })
            }));
        for write in writes {
            batch.add(&write)?;
        }
        let (mut requests, mirror) = batch.finish()?;
        meta_requests(meta, &mut requests);
        self.run(requests, Some(mirror)).await
    }

    /// Deletes the stored image, the scenario and the position ("reset stored broker").
    pub async fn clear(&mut self) -> Result<(), CommitError> {
        let mut requests: Vec<Request> = IMAGE_STORES.iter().map(|s| Request::Clear(s)).collect();
        for key in ["scenario", "position"] {
            requests.push(Request::Delete(META, JsValue::from_str(key)));
        }
        self.run(requests, Some(Mirror::default())).await
    }

    /// One readwrite transaction: checks the owner token, issues the requests, and resolves
    /// on `complete`. `mirror` is what is stored once it is.
    async fn run(
        &mut self,
        requests: Vec<Request>,
        mirror: Option<Mirror>,
    ) -> Result<(), CommitError> {
        if self.closed.get() {
            return Err(CommitError::Unavailable(closed_message()));
        }
        self.commits += 1;
        let fault = self
            .options
            .fault
            .clone()
            .filter(|f| f.commit == self.commits);
        let stores: Array = STORES.iter().map(|s| JsValue::from_str(s)).collect();
        let options = Object::new();
        let _ = Reflect::set(
            &options,
            &JsValue::from_str("durability"),
            &JsValue::from_str(self.options.durability.as_str()),
        );
        let tx = self
            .db
            .unchecked_ref::<DatabaseWithOptions>()
            .transaction_with_options(&stores, "readwrite", &options)
            .map_err(|e| CommitError::Unavailable(dom_message(&e)))?;
        let done = Promise::new(&mut |resolve, reject| {
            tx.set_oncomplete(Some(&resolve));
            tx.set_onabort(Some(&reject));
        });
        let fenced = Rc::new(Cell::new(false));
        let limit = fault.as_ref().map(|f| f.after_writes);
        match &self.token {
            None => issue(&tx, requests, limit),
            Some(token) => {
                // The writes go out from the owner check's success callback, while the
                // transaction is still active.
                let check = tx
                    .object_store(META)
                    .and_then(|m| m.get(&JsValue::from_str("owner")))
                    .map_err(|e| CommitError::Unavailable(dom_message(&e)))?;
                let (tx2, token, fenced) = (tx.clone(), token.clone(), fenced.clone());
                let check2 = check.clone();
                let on_checked = Closure::once_into_js(move || {
                    let owner = check2.result().ok().and_then(|v| v.as_string());
                    if owner.as_deref() == Some(token.as_str()) {
                        issue(&tx2, requests, limit);
                    } else {
                        fenced.set(true);
                        let _ = tx2.abort();
                    }
                });
                check.set_onsuccess(Some(on_checked.unchecked_ref()));
            }
        }
        let outcome = JsFuture::from(done).await;
        tx.set_oncomplete(None);
        tx.set_onabort(None);
        if outcome.is_ok() {
            self.transactions += 1;
            if let Some(m) = mirror {
                self.mirror = Some(m);
            }
            return Ok(());
        }
        if fenced.get() {
            self.token = None;
            return Err(CommitError::NotOwner(
                "another tab or embed took over this stored broker".into(),
            ));
        }
        if let Some(Fault {
            error: Some(name), ..
        }) = &fault
        {
            // As the browser would have reported it.
            let e = DomException::new_with_message_and_name("injected fault", name)
                .map_err(|e| CommitError::Aborted(dom_message(&e)))?;
            return Err(commit_error(&e.name(), &e.message()));
        }
        Err(match tx.error() {
            Some(e) => commit_error(&e.name(), &e.message()),
            None => commit_error("AbortError", "the transaction was aborted"),
        })
    }
}

fn closed_message() -> String {
    "another tab opened the stored broker with a newer version of the playground; this one \
     let go of it"
        .into()
}

/// Issues the requests in order; with a fault limit, aborts after that many.
fn issue(tx: &IdbTransaction, requests: Vec<Request>, limit: Option<usize>) {
    let store = |name: &str| -> Result<IdbObjectStore, JsValue> { tx.object_store(name) };
    for (i, request) in requests.into_iter().enumerate() {
        if limit == Some(i) {
            let _ = tx.abort();
            return;
        }
        let sent = match request {
            Request::Put(name, value, key) => {
                store(name).and_then(|s| s.put_with_key(&value, &key))
            }
            Request::Delete(name, key) => store(name).and_then(|s| s.delete(&key)),
            Request::Clear(name) => store(name).and_then(|s| s.clear()),
        };
        if sent.is_err() {
            // A request refused outright (a bad key): nothing of the commit may stay.
            let _ = tx.abort();
            return;
        }
    }
    if limit.is_some() {
        // Every write issued, and the page is gone before `complete`.
        let _ = tx.abort();
    }
}

fn meta_requests(meta: &MetaUpdate, requests: &mut Vec<Request>) {
    if let Some(text) = &meta.scenario {
        requests.push(Request::Put(
            META,
            JsValue::from_str(text),
            JsValue::from_str("scenario"),
        ));
    }
    if let Some(position) = meta.position {
        requests.push(Request::Put(
            META,
            JsValue::from_f64(position as f64),
            JsValue::from_str("position"),
        ));
    }
}

impl Batch {
    fn new(mirror: Mirror, requests: Vec<Request>) -> Batch {
        Batch {
            mirror,
            requests,
            deleted: BTreeMap::new(),
        }
    }

    /// Adds the requests for one write.
    fn add(&mut self, write: &Write) -> Result<(), CommitError> {
        let bad_range = |e: JsValue| CommitError::Aborted(dom_message(&e));
        let (out, mirror) = (&mut self.requests, &mut self.mirror);
        match write {
            Write::PutExchange(x) => {
                out.push(Request::Put(EXCHANGES, json(x), JsValue::from_str(&x.name)))
            }
            Write::DeleteExchange(name) => {
                out.push(Request::Delete(EXCHANGES, JsValue::from_str(name)));
                mirror.bindings.retain(|(_, b)| {
                    let gone = b.source == *name
                        || (b.destination_kind == DestinationKind::Exchange
                            && b.destination == *name);
                    if gone {
                        out.push(Request::Delete(BINDINGS, binding_key(b)));
                    }
                    !gone
                });
            }
            Write::PutQueue(q) => {
                out.push(Request::Put(QUEUES, json(q), JsValue::from_str(&q.name)))
            }
            Write::DeleteQueue(name) => {
                out.push(Request::Delete(QUEUES, JsValue::from_str(name)));
                out.push(Request::Delete(
                    MESSAGES,
                    queue_range(name).map_err(bad_range)?,
                ));
                out.push(Request::Delete(
                    DELIVERED,
                    queue_range(name).map_err(bad_range)?,
                ));
                mirror.messages.remove(name);
                // Gone with the queue already.
                self.deleted.remove(name);
                mirror.bindings.retain(|(_, b)| {
                    let gone =
                        b.destination_kind == DestinationKind::Queue && b.destination == *name;
                    if gone {
                        out.push(Request::Delete(BINDINGS, binding_key(b)));
                    }
                    !gone
                });
            }
            Write::PutBinding(b) => {
                // Already stored: keep its place in the order.
                if !mirror.bindings.iter().any(|(_, x)| x == b) {
                    let ord = mirror.bindings.last().map_or(0, |(o, _)| o + 1);
                    out.push(Request::Put(
                        BINDINGS,
                        json(&BindingRecord {
                            ord,
                            binding: b.clone(),
                        }),
                        binding_key(b),
                    ));
                    mirror.bindings.push((ord, b.clone()));
                }
            }
            Write::DeleteBinding(b) => {
                mirror.bindings.retain(|(_, x)| x != b);
                out.push(Request::Delete(BINDINGS, binding_key(b)));
            }
            Write::PutMessage {
                queue,
                seq,
                message,
            } => {
                out.push(Request::Put(
                    MESSAGES,
                    json(&MessageRecord {
                        queue: queue.clone(),
                        seq: *seq,
                        message: message.clone(),
                    }),
                    message_key(queue, *seq),
                ));
                mirror
                    .messages
                    .entry(queue.clone())
                    .or_default()
                    .insert(*seq, false);
            }
            Write::MarkDelivered { queue, seq } => {
                if let Some(marked) = mirror.messages.get_mut(queue).and_then(|q| q.get_mut(seq)) {
                    out.push(Request::Put(
                        DELIVERED,
                        JsValue::TRUE,
                        message_key(queue, *seq),
                    ));
                    *marked = true;
                }
            }
            Write::DeleteMessage { queue, seq } => {
                let Some(q) = mirror.messages.get_mut(queue) else {
                    return Ok(());
                };
                if let Some(marked) = q.remove(seq) {
                    if q.is_empty() {
                        mirror.messages.remove(queue);
                    }
                    self.deleted
                        .entry(queue.clone())
                        .or_default()
                        .push((*seq, marked));
                }
            }
        }
        Ok(())
    }

    /// The requests, with the message deletes merged into runs no stored message lies in.
    fn finish(mut self) -> Result<(Vec<Request>, Mirror), CommitError> {
        let bad_range = |e: JsValue| CommitError::Aborted(dom_message(&e));
        for (queue, mut seqs) in std::mem::take(&mut self.deleted) {
            seqs.sort_unstable();
            let kept = self.mirror.messages.get(&queue);
            let mut i = 0;
            while i < seqs.len() {
                let (first, mut marked) = seqs[i];
                let mut last = first;
                while i + 1 < seqs.len()
                    && kept.is_none_or(|k| k.range(last..seqs[i + 1].0).next().is_none())
                {
                    i += 1;
                    last = seqs[i].0;
                    marked |= seqs[i].1;
                }
                i += 1;
                let key = if first == last {
                    message_key(&queue, first)
                } else {
                    IdbKeyRange::bound(&message_key(&queue, first), &message_key(&queue, last))
                        .map_err(bad_range)?
                        .into()
                };
                self.requests.push(Request::Delete(MESSAGES, key.clone()));
                if marked {
                    self.requests.push(Request::Delete(DELIVERED, key));
                }
            }
        }
        Ok((self.requests, self.mirror))
    }
}

impl Store for IdbStore {
    async fn load(&mut self) -> Result<DurableImage, LoadError> {
        self.load_all().await.map(|(image, _)| image)
    }

    async fn commit(&mut self, commit: &Commit) -> Result<(), CommitError> {
        self.commit_with(&[commit], &MetaUpdate::default()).await
    }
}

/// Deletes database `name` (tests; "reset" clears the stores instead, so that another
/// tab's open connection does not block it).
pub async fn delete_database(factory: &IdbFactory, name: &str) -> Result<(), String> {
    let request = factory.delete_database(name).map_err(|e| dom_message(&e))?;
    request_result(&request).await.map(drop)
}
