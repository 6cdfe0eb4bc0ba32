//! The IndexedDB store and the persisted session, in headless Chromium: `cargo test --target
//! wasm32-unknown-unknown --test wasm_store`.
//!
//! The reference for every image is the engine's `MemoryStore` fed the same commits.
#![cfg(target_arch = "wasm32")]

mod browser;

use browser::sleep;

use std::cell::RefCell;
use std::rc::Rc;

use queue_playground::engine::run::complete_now;
use queue_playground::engine::store::{
    Commit, CommitError, DurableImage, LoadError, MemoryStore, Store,
};
use queue_playground::engine::{
    self, run_grouped_with_store, run_with_store, Config, Driver, RunError,
};
use queue_playground::scenario::{parse, Limits, Scenario};
use queue_playground::timeline::{Timeline, TimelineConfig};
use queue_playground::web::indexeddb::{
    self, database_name, Fault, IdbOptions, IdbStore, SCHEMA_VERSION,
};
use queue_playground::web::persist::{Persistence, StorageStatus};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{IdbDatabase, IdbFactory};
use yew::Callback;

wasm_bindgen_test_configure!(run_in_browser);

const RESTART_SCENARIOS: [(&str, &str); 8] = [
    (
        "restart-acked-stays-acked",
        include_str!("scenarios/restart-acked-stays-acked.json"),
    ),
    (
        "restart-closes-connections",
        include_str!("scenarios/restart-closes-connections.json"),
    ),
    (
        "restart-durable-bindings-survive",
        include_str!("scenarios/restart-durable-bindings-survive.json"),
    ),
    (
        "restart-durable-queue-arguments-kept",
        include_str!("scenarios/restart-durable-queue-arguments-kept.json"),
    ),
    (
        "restart-persistent-survives-transient-lost",
        include_str!("scenarios/restart-persistent-survives-transient-lost.json"),
    ),
    (
        "restart-transient-queue-gone",
        include_str!("scenarios/restart-transient-queue-gone.json"),
    ),
    (
        "restart-twice-persistent-still-there",
        include_str!("scenarios/restart-twice-persistent-still-there.json"),
    ),
    (
        "restart-unacked-redelivered",
        include_str!("scenarios/restart-unacked-redelivered.json"),
    ),
];

/// Every kind of write: durable and transient exchanges, queues and bindings (to queues and
/// exchanges), persistent messages with headers and priorities, deliveries, acks, a
/// transaction with several publishes and acks, unbinding and deletes, and restarts.
const EVERY_WRITE: &str = r#"{"format":"queue-playground/v1","name":"every write","steps":[
  {"op":"exchange.declare","exchange":"x","type":"direct","durable":true},
  {"op":"exchange.declare","exchange":"fx","type":"fanout","durable":true},
  {"op":"exchange.declare","exchange":"tmp","type":"fanout"},
  {"op":"queue.declare","queue":"q","durable":true,"arguments":{"x-max-priority":5}},
  {"op":"queue.declare","queue":"r","durable":true},
  {"op":"queue.declare","queue":"t"},
  {"op":"queue.bind","queue":"q","exchange":"x","routing_key":"k"},
  {"op":"queue.bind","queue":"r","exchange":"x","routing_key":"k"},
  {"op":"queue.bind","queue":"t","exchange":"x","routing_key":"k"},
  {"op":"exchange.bind","destination":"x","source":"fx","routing_key":""},
  {"op":"confirm.select","channel":"p"},
  {"op":"basic.publish","channel":"p","exchange":"x","routing_key":"k","body":"one","properties":{"delivery_mode":2,"priority":3,"headers":{"h":"v","n":1}}},
  {"op":"basic.publish","channel":"p","exchange":"fx","routing_key":"","body":"two","properties":{"delivery_mode":2}},
  {"op":"basic.publish","channel":"p","exchange":"x","routing_key":"k","body":"transient","properties":{"delivery_mode":1}},
  {"op":"basic.consume","channel":"c","queue":"q","consumer_tag":"w"},
  {"op":"basic.ack","channel":"c","delivery_tag":1},
  {"op":"tx.select","channel":"tx"},
  {"op":"basic.publish","channel":"tx","exchange":"x","routing_key":"k","body":"in tx 1","properties":{"delivery_mode":2}},
  {"op":"basic.publish","channel":"tx","exchange":"x","routing_key":"k","body":"in tx 2","properties":{"delivery_mode":2,"headers":{"a":[1,2]}}},
  {"op":"basic.get","channel":"tx","queue":"r"},
  {"op":"basic.get","channel":"tx","queue":"r"},
  {"op":"basic.ack","channel":"tx","delivery_tag":1},
  {"op":"basic.ack","channel":"tx","delivery_tag":2},
  {"op":"tx.commit","channel":"tx"},
  {"op":"broker.restart"},
  {"op":"queue.unbind","queue":"r","exchange":"x","routing_key":"k"},
  {"op":"exchange.delete","exchange":"fx"},
  {"op":"basic.get","channel":"g","queue":"q"},
  {"op":"queue.delete","queue":"r"},
  {"op":"broker.restart"},
  {"op":"basic.get","channel":"g","queue":"q"}
]}"#;

/// Acks that delete messages with kept ones between them, in two queues whose `seq`s
/// interleave, inside one transaction and across restarts: deletes merged into key ranges
/// must not take the kept ones along.
const ACK_GAPS: &str = r#"{"format":"queue-playground/v1","name":"ack gaps","steps":[
  {"op":"queue.declare","queue":"q","durable":true},
  {"op":"queue.declare","queue":"r","durable":true},
  {"op":"basic.publish","routing_key":"q","body":"q1","properties":{"delivery_mode":2}},
  {"op":"basic.publish","routing_key":"r","body":"r1","properties":{"delivery_mode":2}},
  {"op":"basic.publish","routing_key":"q","body":"q2","properties":{"delivery_mode":2}},
  {"op":"basic.publish","routing_key":"q","body":"q3","properties":{"delivery_mode":2}},
  {"op":"basic.publish","routing_key":"r","body":"r2","properties":{"delivery_mode":2}},
  {"op":"basic.publish","routing_key":"q","body":"q4","properties":{"delivery_mode":2}},
  {"op":"basic.publish","routing_key":"q","body":"q5","properties":{"delivery_mode":2}},
  {"op":"basic.publish","routing_key":"r","body":"r3","properties":{"delivery_mode":2}},
  {"op":"basic.qos","channel":"c","prefetch_count":0},
  {"op":"basic.get","channel":"c","queue":"q"},
  {"op":"basic.get","channel":"c","queue":"q"},
  {"op":"basic.get","channel":"c","queue":"q"},
  {"op":"basic.get","channel":"c","queue":"q"},
  {"op":"basic.get","channel":"c","queue":"r"},
  {"op":"basic.get","channel":"c","queue":"r"},
  {"op":"tx.select","channel":"c"},
  {"op":"basic.ack","channel":"c","delivery_tag":1},
  {"op":"basic.ack","channel":"c","delivery_tag":3},
  {"op":"basic.ack","channel":"c","delivery_tag":6},
  {"op":"tx.commit","channel":"c"},
  {"op":"broker.restart"},
  {"op":"basic.get","channel":"d","queue":"q"},
  {"op":"basic.get","channel":"d","queue":"q"},
  {"op":"basic.get","channel":"d","queue":"q"},
  {"op":"basic.ack","channel":"d","delivery_tag":1},
  {"op":"basic.ack","channel":"d","delivery_tag":3},
  {"op":"broker.restart"},
  {"op":"basic.get","channel":"e","queue":"q","no_ack":true},
  {"op":"basic.get","channel":"e","queue":"r","no_ack":true}
]}"#;

fn scenario(text: &str) -> Scenario {
    parse(text, &Limits::default()).expect("test scenarios are valid")
}

fn factory() -> IdbFactory {
    indexeddb::factory().expect("headless Chromium has IndexedDB")
}

/// A database name no other test uses.
fn fresh_id(label: &str) -> String {
    format!("test/{label}/{:x}", (js_sys::Math::random() * 1e15) as u64)
}

async fn open(id: &str, options: IdbOptions) -> IdbStore {
    IdbStore::open(&factory(), &database_name(id), options)
        .await
        .expect("the store opens")
}

async fn stored_image(id: &str) -> DurableImage {
    open(id, IdbOptions::default())
        .await
        .load()
        .await
        .expect("the store loads")
}

async fn forget(id: &str) {
    indexeddb::delete_database(&factory(), &database_name(id))
        .await
        .expect("the test database is deleted");
}

/// The reference: what a memory store holds after each commit that writes something.
#[derive(Default)]
struct Reference {
    memory: MemoryStore,
    /// `images[k]`: the image after `k` writing commits.
    images: Vec<DurableImage>,
    commits: Vec<Commit>,
}

impl Store for Reference {
    async fn load(&mut self) -> Result<DurableImage, LoadError> {
        self.memory.load().await
    }

    async fn commit(&mut self, commit: &Commit) -> Result<(), CommitError> {
        if self.images.is_empty() {
            self.images.push(DurableImage::default());
        }
        self.memory.commit(commit).await?;
        if !commit.writes.is_empty() {
            self.images.push(self.memory.image().clone());
            self.commits.push(commit.clone());
        }
        Ok(())
    }
}

fn reference(s: &Scenario) -> Reference {
    let mut r = Reference {
        images: vec![DurableImage::default()],
        ..Reference::default()
    };
    complete_now(run_with_store(s, &mut r))
        .expect("memory is ready")
        .expect("memory commits");
    r
}

/// An IndexedDB store that, after every commit, reads the image back and compares it.
struct Checked<'a> {
    store: IdbStore,
    expected: &'a [DurableImage],
    writing_commits: usize,
}

impl Store for Checked<'_> {
    async fn load(&mut self) -> Result<DurableImage, LoadError> {
        self.store.load().await
    }

    async fn commit(&mut self, commit: &Commit) -> Result<(), CommitError> {
        self.store.commit(commit).await?;
        if !commit.writes.is_empty() {
            self.writing_commits += 1;
            let loaded = self.store.load().await.expect("loads");
            assert_eq!(
                loaded, self.expected[self.writing_commits],
                "after commit {}",
                self.writing_commits
            );
        }
        Ok(())
    }
}

#[wasm_bindgen_test]
async fn a_scenario_through_indexeddb_gives_the_engines_trace_and_image() {
    let mut cases: Vec<(&str, &str)> = RESTART_SCENARIOS.to_vec();
    cases.push(("every-write", EVERY_WRITE));
    cases.push(("ack-gaps", ACK_GAPS));
    for (name, text) in cases {
        let s = scenario(text);
        let r = reference(&s);
        let id = fresh_id(name);
        let mut checked = Checked {
            store: open(&id, IdbOptions::default()).await,
            expected: &r.images,
            writing_commits: 0,
        };
        let events = run_with_store(&s, &mut checked)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(events, engine::run(&s), "{name}: the trace");
        assert_eq!(checked.writing_commits, r.commits.len(), "{name}");
        assert_eq!(
            checked.store.transactions,
            r.commits.len() as u64,
            "{name}: one transaction a commit"
        );
        drop(checked);
        // A new connection (a reload) finds the same image.
        assert_eq!(&stored_image(&id).await, r.memory.image(), "{name}");
        forget(&id).await;
    }
}

#[wasm_bindgen_test]
async fn grouped_commits_through_indexeddb_store_the_engines_image() {
    for (name, text) in [("every-write", EVERY_WRITE), ("ack-gaps", ACK_GAPS)] {
        let s = scenario(text);
        let r = reference(&s);
        for group_steps in [2, 3, 7, 1000] {
            let id = fresh_id(name);
            let mut store = open(&id, IdbOptions::default()).await;
            run_grouped_with_store(&s, &mut store, group_steps)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(
                store.transactions < r.commits.len() as u64,
                "{name}: grouped"
            );
            drop(store);
            assert_eq!(
                &stored_image(&id).await,
                r.memory.image(),
                "{name}, groups of {group_steps}"
            );
            forget(&id).await;
        }
    }
}

#[wasm_bindgen_test]
async fn a_crash_at_any_write_boundary_leaves_the_image_before_or_after_the_commit() {
    for text in [EVERY_WRITE, ACK_GAPS] {
        crash_at_every_boundary(&scenario(text)).await;
    }
}

async fn crash_at_every_boundary(s: &Scenario) {
    let r = reference(s);
    assert!(r.commits.len() >= 10, "the scenario commits often");
    for (i, commit) in r.commits.iter().enumerate() {
        let nth = i as u64 + 1;
        // Up to every request a commit can make, and one more: the page gone before
        // `complete` once everything was sent.
        let boundaries = 2 * commit.writes.len() + 5;
        for after_writes in 0..=boundaries {
            let id = fresh_id("crash");
            let mut store = open(
                &id,
                IdbOptions {
                    fault: Some(Fault {
                        commit: nth,
                        after_writes,
                        error: None,
                    }),
                    ..IdbOptions::default()
                },
            )
            .await;
            let result = run_with_store(s, &mut store).await;
            assert!(
                matches!(
                    result,
                    Err(RunError::Commit {
                        error: CommitError::Aborted(_),
                        ..
                    })
                ),
                "commit {nth} after {after_writes} writes: {result:?}"
            );
            drop(store);
            assert_eq!(
                stored_image(&id).await,
                r.images[i],
                "commit {nth} interrupted after {after_writes} writes: the image before it"
            );
            forget(&id).await;
        }
    }
}

#[wasm_bindgen_test]
async fn the_page_going_away_mid_commit_keeps_the_image_before_or_after() {
    // A frame's IndexedDB connection dies with the frame: remove it while a commit is in
    // flight, as closing a tab would.
    let s = scenario(EVERY_WRITE);
    let r = reference(&s);
    let document = web_sys::window().unwrap().document().unwrap();
    for (i, commit) in r.commits.iter().enumerate() {
        let id = fresh_id("gone");
        let frame: web_sys::HtmlElement =
            document.create_element("iframe").unwrap().unchecked_into();
        document.body().unwrap().append_child(&frame).unwrap();
        let window: web_sys::Window = js_sys::Reflect::get(&frame, &"contentWindow".into())
            .unwrap()
            .unchecked_into();
        let frame_factory = window.indexed_db().unwrap().unwrap();
        let mut store = IdbStore::open(&frame_factory, &database_name(&id), IdbOptions::default())
            .await
            .unwrap();
        // Bring it to the image before commit i, then start commit i and leave.
        store
            .replace(&r.images[i], &Default::default())
            .await
            .unwrap();
        let mut pending = Box::pin(store.commit(commit));
        assert!(
            complete_now(pending.as_mut()).is_none(),
            "the commit is in flight"
        );
        frame.remove();
        drop(pending);
        let image = stored_image(&id).await;
        assert!(
            image == r.images[i] || image == r.images[i + 1],
            "commit {}: the page went away and left a mixed image: {image:?}",
            i + 1
        );
        forget(&id).await;
    }
}

#[wasm_bindgen_test]
async fn a_transaction_commit_is_one_indexeddb_transaction() {
    let s = scenario(EVERY_WRITE);
    let r = reference(&s);
    let commit_at = s
        .steps
        .iter()
        .position(|st| st.op.name() == "tx.commit")
        .unwrap();
    let id = fresh_id("tx");
    let mut d = Driver::new(
        Config {
            seed: s.seed,
            effects: false,
        },
        open(&id, IdbOptions::default()).await,
    );
    for (i, step) in s.steps[..commit_at].iter().enumerate() {
        d.step(i, step).await.unwrap();
    }
    let before = d.store.transactions;
    d.step(commit_at, &s.steps[commit_at]).await.unwrap();
    assert_eq!(d.store.transactions, before + 1);
    let biggest = r.commits.iter().map(|c| c.writes.len()).max().unwrap();
    assert!(
        biggest >= 5,
        "the tx.commit writes several messages and acks"
    );
    // And interrupted inside, none of it is there.
    let id2 = fresh_id("tx-abort");
    let nth = before + 1;
    let mut store = open(
        &id2,
        IdbOptions {
            fault: Some(Fault {
                commit: nth,
                after_writes: 3,
                error: None,
            }),
            ..IdbOptions::default()
        },
    )
    .await;
    assert!(run_with_store(&s, &mut store).await.is_err());
    drop(store);
    assert_eq!(stored_image(&id2).await, r.images[before as usize]);
    drop(d);
    forget(&id).await;
    forget(&id2).await;
}

#[wasm_bindgen_test]
async fn a_full_disk_is_reported_as_such_and_keeps_the_last_good_image() {
    let s = scenario(EVERY_WRITE);
    let r = reference(&s);
    let id = fresh_id("quota");
    let mut store = open(
        &id,
        IdbOptions {
            fault: Some(Fault {
                commit: 4,
                after_writes: 1,
                error: Some("QuotaExceededError".into()),
            }),
            ..IdbOptions::default()
        },
    )
    .await;
    let result = run_with_store(&s, &mut store).await;
    match result {
        Err(RunError::Commit {
            error: CommitError::QuotaExceeded(m),
            ..
        }) => assert!(m.contains("full"), "{m}"),
        other => panic!("expected a quota error, got {other:?}"),
    }
    assert_eq!(stored_image(&id).await, r.images[3]);
    // The same store goes on once there is room (it reads what is stored again).
    for commit in &r.commits[3..] {
        store.commit(commit).await.unwrap();
    }
    assert_eq!(&store.load().await.unwrap(), r.memory.image());
    drop(store);
    forget(&id).await;
}

#[wasm_bindgen_test]
async fn a_newer_stored_schema_is_refused_and_left_alone() {
    let id = fresh_id("newer");
    let name = database_name(&id);
    // A newer playground made version SCHEMA_VERSION + 1.
    let request = factory().open_with_u32(&name, SCHEMA_VERSION + 1).unwrap();
    let db: IdbDatabase = await_request(&request).await.unchecked_into();
    db.close();
    let error = IdbStore::open(&factory(), &name, IdbOptions::default())
        .await
        .unwrap_err();
    match error {
        LoadError::Unavailable(m) => assert!(m.contains("newer version"), "{m}"),
        other => panic!("{other:?}"),
    }
    let request = factory().open(&name).unwrap();
    let db: IdbDatabase = await_request(&request).await.unchecked_into();
    assert_eq!(db.version() as u32, SCHEMA_VERSION + 1, "untouched");
    db.close();
    forget(&id).await;
}

#[wasm_bindgen_test]
async fn an_open_store_lets_a_newer_version_in_and_stops_writing() {
    let id = fresh_id("versionchange");
    let mut store = open(&id, IdbOptions::default()).await;
    let s = scenario(EVERY_WRITE);
    let mut d = Driver::new(Config::default(), &mut store);
    d.step(0, &s.steps[0]).await.unwrap();
    drop(d);
    // Not blocked: the open store lets go.
    let request = factory()
        .open_with_u32(&database_name(&id), SCHEMA_VERSION + 1)
        .unwrap();
    let db: IdbDatabase = await_request(&request).await.unchecked_into();
    db.close();
    assert!(store.is_closed());
    let mut d = Driver::new(Config::default(), &mut store);
    match d.step(1, &s.steps[1]).await {
        Err(RunError::Commit {
            error: CommitError::Unavailable(m),
            ..
        }) => assert!(m.contains("newer version"), "{m}"),
        other => panic!("{other:?}"),
    }
    drop(d);
    drop(store);
    forget(&id).await;
}

async fn await_request(request: &web_sys::IdbOpenDbRequest) -> wasm_bindgen::JsValue {
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    JsFuture::from(done).await.expect("the request succeeds");
    request.result().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The persisted session.
// ---------------------------------------------------------------------------------------------

/// Every status a persistence reported, in order.
fn statuses() -> (Callback<StorageStatus>, Rc<RefCell<Vec<StorageStatus>>>) {
    let seen: Rc<RefCell<Vec<StorageStatus>>> = Rc::default();
    let sink = seen.clone();
    (Callback::from(move |s| sink.borrow_mut().push(s)), seen)
}

async fn settle(p: &Persistence) {
    for _ in 0..200 {
        if !p.is_busy() {
            return;
        }
        sleep(5).await;
    }
    panic!("persistence never settled");
}

const SESSION: &str = r#"{"format":"queue-playground/v1","name":"session","steps":[
  {"op":"queue.declare","queue":"jobs","durable":true},
  {"op":"queue.declare","queue":"scratch"},
  {"op":"basic.publish","routing_key":"jobs","body":"a","properties":{"delivery_mode":2}},
  {"op":"basic.publish","routing_key":"jobs","body":"b","properties":{"delivery_mode":2}},
  {"op":"basic.publish","routing_key":"jobs","body":"c","properties":{"delivery_mode":1}},
  {"op":"basic.publish","routing_key":"scratch","body":"d","properties":{"delivery_mode":2}},
  {"op":"basic.consume","channel":"w","queue":"jobs","consumer_tag":"w"},
  {"op":"basic.ack","channel":"w","delivery_tag":2},
  {"op":"basic.cancel","channel":"w","consumer_tag":"w"},
  {"op":"basic.publish","routing_key":"jobs","body":"e","properties":{"delivery_mode":2}}
]}"#;

#[wasm_bindgen_test]
async fn a_reload_restores_the_durable_image_as_a_restart() {
    let id = fresh_id("reload");
    let (on_status, seen) = statuses();
    let (p, restored) = Persistence::open(&id, on_status).await;
    assert_eq!(restored, None, "a new id has nothing stored");
    let mut timeline = Timeline::new(scenario(SESSION), TimelineConfig::default());
    // Forward moves store the steps' writes; a move back replaces the image: either way what
    // IndexedDB holds is the timeline's image at the cursor.
    for position in [1, 2, 3, 10, 5, 6, 7, 8, 10] {
        timeline.seek(position);
        let before = p.transactions();
        p.sync(SESSION, &timeline);
        settle(&p).await;
        assert_eq!(p.transactions(), before + 1, "one transaction a sync");
        assert_eq!(p.status(), StorageStatus::Saved { step: position });
        assert_eq!(&stored_image(&id).await, timeline.stored(), "at {position}");
    }
    assert!(seen.borrow().contains(&StorageStatus::Saving));
    drop(p);

    // Reload: the image after all 10 steps comes back through a restart.
    let (on_status, _) = statuses();
    let (p, restored) = Persistence::open(&id, on_status).await;
    let restored = restored.expect("something was stored");
    let s = scenario(&restored.text);
    assert_eq!(s.steps.len(), 11);
    assert_eq!(s.steps[10].op.name(), "broker.restart");
    // expect-test cannot rewrite files from the browser: a plain comparison.
    assert_eq!(
        restored.summary,
        "Restored from IndexedDB after step 10, as a broker restart: kept 1 durable queue and 2 \
         persistent messages (1 unacked, back as redelivered); dropped 1 transient queue \
         (scratch) and 2 messages that were not stored (transient, or in a transient queue)."
    );
    // After the restart: jobs holds a (was unacked: redelivered) and e (never delivered); b
    // was acked, c was transient; scratch is gone with d.
    let mut after = Timeline::new(s, TimelineConfig::default());
    after.seek(11);
    let state = after.state();
    let jobs = state.queues.iter().find(|q| &*q.name == "jobs").unwrap();
    let bodies: Vec<(&str, bool)> = jobs
        .ready
        .iter()
        .map(|m| (&*m.body, m.redelivered))
        .collect();
    assert_eq!(bodies, [("a", true), ("e", false)]);
    assert!(state.queues.iter().all(|q| &*q.name != "scratch"));
    drop(p);
    forget(&id).await;
}

#[wasm_bindgen_test]
async fn two_instances_of_one_id_agree_on_one_owner_and_take_over_flips_them() {
    let id = fresh_id("owners");
    let (on_a, seen_a) = statuses();
    let (a, _) = Persistence::open(&id, on_a).await;
    let (on_b, _) = statuses();
    let (b, _) = Persistence::open(&id, on_b).await;
    assert!(
        matches!(a.status(), StorageStatus::Saved { .. }),
        "{:?}",
        a.status()
    );
    assert!(
        matches!(b.status(), StorageStatus::ReadOnly { .. }),
        "{:?}",
        b.status()
    );

    let s = scenario(SESSION);
    let mut ta = Timeline::new(s.clone(), TimelineConfig::default());
    ta.seek(4);
    a.sync(SESSION, &ta);
    let mut tb = Timeline::new(s, TimelineConfig::default());
    tb.seek(8);
    b.sync(SESSION, &tb); // read-only: writes nothing
    settle(&a).await;
    settle(&b).await;
    assert_eq!(&stored_image(&id).await, ta.stored());

    b.take_over_now().await;
    settle(&b).await;
    for _ in 0..100 {
        if matches!(a.status(), StorageStatus::ReadOnly { .. }) {
            break;
        }
        sleep(5).await;
    }
    assert!(
        matches!(a.status(), StorageStatus::ReadOnly { .. }),
        "{:?}",
        a.status()
    );
    assert_eq!(b.status(), StorageStatus::Saved { step: 8 });
    assert!(seen_a
        .borrow()
        .iter()
        .any(|s| matches!(s, StorageStatus::ReadOnly { reason } if reason.contains("took over"))));
    // The old owner keeps syncing: nothing of it reaches the store.
    ta.seek(2);
    a.sync(SESSION, &ta);
    settle(&a).await;
    assert_eq!(&stored_image(&id).await, tb.stored());
    drop((a, b));
    forget(&id).await;
}

#[wasm_bindgen_test]
async fn an_owner_that_has_not_heard_of_the_take_over_cannot_write() {
    // Fencing: the store itself refuses a writer whose token is no longer the owner's.
    let id = fresh_id("fence");
    let s = scenario(SESSION);
    let r = reference(&s);
    let mut old = open(&id, IdbOptions::default()).await;
    old.claim("old").await.unwrap();
    let mut new = open(&id, IdbOptions::default()).await;
    new.claim("new").await.unwrap();
    match old.commit(&r.commits[0]).await {
        Err(CommitError::NotOwner(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(stored_image(&id).await, DurableImage::default());
    new.commit(&r.commits[0]).await.unwrap();
    assert_eq!(stored_image(&id).await, r.images[1]);
    drop((old, new));
    forget(&id).await;
}

#[wasm_bindgen_test]
async fn a_quota_error_turns_the_session_to_memory_and_keeps_the_stored_image() {
    let id = fresh_id("session-quota");
    let (on_status, seen) = statuses();
    let (p, _) = Persistence::open(&id, on_status).await;
    let mut timeline = Timeline::new(scenario(SESSION), TimelineConfig::default());
    timeline.seek(3);
    p.sync(SESSION, &timeline);
    settle(&p).await;
    let good = timeline.stored().clone();
    p.inject_fault(Fault {
        commit: 1,
        after_writes: 1,
        error: Some("QuotaExceededError".into()),
    });
    timeline.seek(6);
    p.sync(SESSION, &timeline);
    settle(&p).await;
    match p.status() {
        StorageStatus::Memory { reason } => {
            assert!(reason.contains("full"), "{reason}");
            assert!(reason.contains("in memory"), "{reason}");
            assert!(reason.contains("step 3"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        seen.borrow().last(),
        Some(StorageStatus::Memory { .. })
    ));
    // The app keeps working: more syncs are accepted and write nothing.
    timeline.seek(8);
    p.sync(SESSION, &timeline);
    settle(&p).await;
    assert_eq!(stored_image(&id).await, good);
    drop(p);
    forget(&id).await;
}

#[wasm_bindgen_test]
async fn without_indexeddb_the_session_runs_in_memory() {
    let (on_status, seen) = statuses();
    let missing = indexeddb::factory_in(&js_sys::Object::new());
    let (p, restored) = Persistence::open_with("no-idb", missing, on_status).await;
    assert_eq!(restored, None);
    match p.status() {
        StorageStatus::Memory { reason } => {
            assert!(reason.contains("IndexedDB"), "{reason}");
            assert!(reason.contains("in memory"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.borrow().first(), Some(&StorageStatus::Opening));
    let timeline = Timeline::new(scenario(SESSION), TimelineConfig::default());
    p.sync(SESSION, &timeline);
    assert!(!p.is_busy());
}

#[wasm_bindgen_test]
async fn reset_clears_the_stored_broker() {
    let id = fresh_id("reset");
    let (on_status, _) = statuses();
    let (p, _) = Persistence::open(&id, on_status).await;
    let mut timeline = Timeline::new(scenario(SESSION), TimelineConfig::default());
    timeline.seek(8);
    p.sync(SESSION, &timeline);
    settle(&p).await;
    assert_ne!(stored_image(&id).await, DurableImage::default());
    p.reset_now().await;
    assert_eq!(stored_image(&id).await, DurableImage::default());
    drop(p);
    let (on_status, _) = statuses();
    let (p, restored) = Persistence::open(&id, on_status).await;
    assert_eq!(restored, None, "nothing to restore after a reset");
    drop(p);
    forget(&id).await;
}

#[wasm_bindgen_test]
async fn an_image_that_is_not_its_scenarios_is_not_restored() {
    let id = fresh_id("mismatch");
    let mut timeline = Timeline::new(scenario(SESSION), TimelineConfig::default());
    timeline.seek(10);
    let mut wrong = timeline.stored().clone();
    wrong.messages.clear();
    let mut store = open(&id, IdbOptions::default()).await;
    store
        .replace(
            &wrong,
            &indexeddb::MetaUpdate {
                scenario: Some(SESSION.into()),
                position: Some(10),
            },
        )
        .await
        .unwrap();
    drop(store);
    let (on_status, _) = statuses();
    let (p, restored) = Persistence::open(&id, on_status).await;
    assert_eq!(restored, None);
    match p.status() {
        StorageStatus::Memory { reason } => {
            assert!(reason.contains("does not match"), "{reason}");
            assert!(reason.contains("reset stored broker"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stored_image(&id).await, wrong, "left as it was");
    p.reset_now().await;
    assert_eq!(p.status(), StorageStatus::Saved { step: 0 });
    assert_eq!(stored_image(&id).await, DurableImage::default());
    drop(p);
    forget(&id).await;
}

#[wasm_bindgen_test]
async fn stepping_over_a_restart_loads_from_indexeddb() {
    // The session with a restart in the middle. Behind the session's back, a queue is added
    // to what IndexedDB holds: stepping over the restart loads the stored image for real,
    // finds it is not the engine's, and stores the whole image again instead of adding the
    // steps' writes to a wrong one.
    let text = SESSION.replace(
        r#"{"op":"basic.cancel""#,
        r#"{"op":"broker.restart"},{"op":"basic.cancel""#,
    );
    let s = scenario(&text);
    assert_eq!(s.steps[8].op.name(), "broker.restart");
    let id = fresh_id("restart");
    let (on_status, _) = statuses();
    let (p, _) = Persistence::open(&id, on_status).await;
    let mut timeline = Timeline::new(s, TimelineConfig::default());
    timeline.seek(3);
    p.sync(&text, &timeline);
    settle(&p).await;
    let mut intruder = open(&id, IdbOptions::default()).await;
    let mut extra = timeline.stored().clone();
    let stray = extra.queues.values().next().unwrap().clone();
    extra.queues.insert(
        "stray".into(),
        queue_playground::engine::store::QueueDef {
            name: "stray".into(),
            ..stray
        },
    );
    intruder.replace(&extra, &Default::default()).await.unwrap();
    drop(intruder);
    timeline.seek(11);
    p.sync(&text, &timeline);
    settle(&p).await;
    assert_eq!(p.status(), StorageStatus::Saved { step: 11 });
    assert_eq!(&stored_image(&id).await, timeline.stored());
    drop(p);
    forget(&id).await;
}

#[wasm_bindgen_test]
async fn an_open_that_never_completes_gives_up_with_a_clear_message() {
    // An old page holds a connection and ignores `versionchange`; a deletion of the database
    // then waits for it, and every open queued behind the deletion waits too.
    let id = fresh_id("stuck");
    let name = database_name(&id);
    let request = factory().open(&name).unwrap();
    let old: IdbDatabase = await_request(&request).await.unchecked_into();
    let deletion = factory().delete_database(&name).unwrap();
    let started = js_sys::Date::now();
    let error = IdbStore::open(
        &factory(),
        &name,
        IdbOptions {
            open_timeout_ms: Some(300),
            ..IdbOptions::default()
        },
    )
    .await
    .unwrap_err();
    match error {
        LoadError::Unavailable(m) => assert!(m.contains("did not open"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(js_sys::Date::now() - started >= 290.0);
    // The old page lets go: the deletion and the late open complete (and the open is closed).
    old.close();
    let done = js_sys::Promise::new(&mut |resolve, _| deletion.set_onsuccess(Some(&resolve)));
    JsFuture::from(done).await.unwrap();
    forget(&id).await;
}

#[wasm_bindgen_test]
async fn without_web_locks_the_channel_alone_picks_one_owner() {
    use queue_playground::web::ownership::{Arbiter, Ownership};
    let name = format!("queue-playground/{}", fresh_id("channel"));
    let lost_a = Rc::new(std::cell::Cell::new(false));
    let flag = lost_a.clone();
    let a = Ownership::acquire_with(&name, Arbiter::Channel, move || flag.set(true)).await;
    let b = Ownership::acquire_with(&name, Arbiter::Channel, || {}).await;
    assert!(a.is_owner());
    assert!(!b.is_owner(), "the owner answered the newcomer");
    b.take_over().await;
    for _ in 0..100 {
        if lost_a.get() {
            break;
        }
        sleep(5).await;
    }
    assert!(b.is_owner());
    assert!(!a.is_owner() && lost_a.get(), "the previous owner was told");
    // Once the owner is gone, a newcomer owns the name.
    drop((a, b));
    let c = Ownership::acquire_with(&name, Arbiter::Channel, || {}).await;
    assert!(c.is_owner());
}

#[wasm_bindgen_test]
async fn web_locks_pick_one_owner_and_a_steal_tells_the_previous_one() {
    use queue_playground::web::ownership::{Arbiter, Ownership};
    let name = format!("queue-playground/{}", fresh_id("locks"));
    let lost_a = Rc::new(std::cell::Cell::new(false));
    let flag = lost_a.clone();
    let a = Ownership::acquire_with(&name, Arbiter::WebLocks, move || flag.set(true)).await;
    let b = Ownership::acquire_with(&name, Arbiter::WebLocks, || {}).await;
    assert!(a.is_owner());
    assert!(!b.is_owner());
    b.take_over().await;
    for _ in 0..100 {
        if lost_a.get() {
            break;
        }
        sleep(5).await;
    }
    assert!(b.is_owner() && !a.is_owner() && lost_a.get());
    // The lock is released with its owner (once the promise it held settles, a task later).
    drop((a, b));
    sleep(10).await;
    let c = Ownership::acquire_with(&name, Arbiter::WebLocks, || {}).await;
    assert!(c.is_owner());
}

#[wasm_bindgen_test]
async fn syncs_asked_for_while_one_is_in_flight_are_merged() {
    let id = fresh_id("coalesce");
    let (on_status, _) = statuses();
    let (p, _) = Persistence::open(&id, on_status).await;
    let mut timeline = Timeline::new(scenario(SESSION), TimelineConfig::default());
    let before = p.transactions();
    // Play through every step without waiting, as autoplay would.
    for position in 1..=timeline.len() {
        timeline.seek(position);
        p.sync(SESSION, &timeline);
    }
    settle(&p).await;
    let used = p.transactions() - before;
    assert!(
        used <= 2,
        "{used} transactions for {} syncs",
        timeline.len()
    );
    assert_eq!(
        p.status(),
        StorageStatus::Saved {
            step: timeline.len()
        }
    );
    assert_eq!(&stored_image(&id).await, timeline.stored());
    drop(p);
    forget(&id).await;
}
