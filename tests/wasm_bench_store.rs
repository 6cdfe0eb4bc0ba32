//! IndexedDB throughput, raw and through the playground, in one page and one run:
//!
//! ```text
//! CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600 cargo test --release \
//!   --target wasm32-unknown-unknown --test wasm_bench_store -- --include-ignored --nocapture
//! ```
//!
//! - raw `put` of message-sized JSON records: one transaction per record, per 100, and one for
//!   all, with `relaxed` and `strict` durability;
//! - the playground's persistent publish stream: persistent publishes to a durable queue, the
//!   commits of `GROUP` steps stored as one transaction (`Driver::step_grouped` + `flush`);
//! - its publish→deliver→ack stream: the same with a consumer acking manually, each message
//!   acked right after its delivery (acked inside its group: never written), and acked
//!   `LAG` messages later (so every message is written and then deleted).
//!
//! Rates are messages (or records) per second of wall time, one transaction in flight at a time,
//! after a warm-up; "vs 1 tx" is the rate over raw puts in one transaction, same durability.
//! RabbitMQ's own rates for the same streams come from `benches/rabbitmq-stream`.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Object, Promise, Reflect};
use queue_playground::engine::{Config, Driver};
use queue_playground::scenario::{parse, Limits, Scenario};
use queue_playground::web::indexeddb::{self, database_name, Durability, IdbOptions, IdbStore};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{IdbDatabase, IdbFactory, IdbTransaction};

wasm_bindgen_test_configure!(run_in_browser);

/// Records (or messages) per measurement.
const N: usize = 10_000;
/// Steps whose commits make one transaction.
const GROUP: usize = 1_000;
/// How many messages behind the publisher the lagging consumer acks.
const LAG: usize = 2_000;

#[wasm_bindgen]
extern "C" {
    type DatabaseWithOptions;
    #[wasm_bindgen(method, catch, js_name = transaction)]
    fn transaction_with_options(
        this: &DatabaseWithOptions,
        stores: &str,
        mode: &str,
        options: &Object,
    ) -> Result<IdbTransaction, JsValue>;
}

fn now() -> f64 {
    web_sys::window().unwrap().performance().unwrap().now()
}

fn factory() -> IdbFactory {
    indexeddb::factory().unwrap()
}

async fn done(tx: &IdbTransaction) {
    let p = Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onabort(Some(&reject));
    });
    JsFuture::from(p).await.expect("the transaction completes");
}

async fn raw_db(name: &str) -> IdbDatabase {
    let _ = indexeddb::delete_database(&factory(), name).await;
    let request = factory().open_with_u32(name, 1).unwrap();
    let on_upgrade = Closure::once_into_js({
        let request = request.clone();
        move || {
            let db: IdbDatabase = request.result().unwrap().unchecked_into();
            db.create_object_store("records").unwrap();
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
    let p = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    JsFuture::from(p).await.unwrap();
    request.result().unwrap().unchecked_into()
}

/// A message record as the playground stores one (JSON text of about this size).
fn record(i: usize) -> JsValue {
    JsValue::from_str(&format!(
        r#"{{"queue":"bench","seq":{i},"message":{{"message":{{"exchange":"","routing_key":"bench","body":"message {i:08}","properties":{{"delivery_mode":2}},"published_at":0}},"priority":0,"expires_at":null,"delivered":false}}}}"#
    ))
}

/// Records per second putting `N` records, `per_tx` to a transaction.
async fn raw_put(per_tx: usize, durability: Durability) -> f64 {
    let name = "bench/raw";
    let db = raw_db(name).await;
    let options = Object::new();
    let label = match durability {
        Durability::Strict => "strict",
        Durability::Relaxed => "relaxed",
    };
    Reflect::set(&options, &"durability".into(), &label.into()).unwrap();
    let records: Vec<JsValue> = (0..N).map(record).collect();
    let start = now();
    for chunk in (0..N).collect::<Vec<_>>().chunks(per_tx) {
        let tx = db
            .unchecked_ref::<DatabaseWithOptions>()
            .transaction_with_options("records", "readwrite", &options)
            .unwrap();
        let store = tx.object_store("records").unwrap();
        for &i in chunk {
            let key = Array::of2(&"bench".into(), &JsValue::from_f64(i as f64));
            store.put_with_key(&records[i], &key).unwrap();
        }
        done(&tx).await;
    }
    let rate = N as f64 / ((now() - start) / 1000.0);
    db.close();
    let _ = indexeddb::delete_database(&factory(), name).await;
    rate
}

fn stream(ack_lag: Option<usize>) -> Scenario {
    let mut steps = vec![
        r#"{"op":"queue.declare","queue":"bench","durable":true}"#.to_string(),
        r#"{"op":"confirm.select","channel":"p"}"#.to_string(),
    ];
    if ack_lag.is_some() {
        steps.push(
            r#"{"op":"basic.consume","channel":"c","queue":"bench","consumer_tag":"c"}"#.into(),
        );
    }
    for i in 1..=N {
        steps.push(format!(
            r#"{{"op":"basic.publish","channel":"p","routing_key":"bench","body":"message {i:08}","properties":{{"delivery_mode":2}}}}"#
        ));
        if let Some(lag) = ack_lag {
            if i > lag {
                steps.push(format!(
                    r#"{{"op":"basic.ack","channel":"c","delivery_tag":{}}}"#,
                    i - lag
                ));
            }
        }
    }
    if let Some(lag) = ack_lag {
        for tag in N.saturating_sub(lag) + 1..=N {
            steps.push(format!(
                r#"{{"op":"basic.ack","channel":"c","delivery_tag":{tag}}}"#
            ));
        }
    }
    let text = format!(
        r#"{{"format":"queue-playground/v1","name":"bench","steps":[{}]}}"#,
        steps.join(",")
    );
    parse(
        &text,
        &Limits {
            max_steps: usize::MAX,
            ..Limits::default()
        },
    )
    .expect("the benchmark scenario is valid")
}

/// Messages per second running `s` through IndexedDB, `GROUP` steps to a transaction; also
/// how many transactions that took.
async fn playground(s: &Scenario, durability: Durability) -> (f64, u64) {
    let id = "bench/playground";
    let _ = indexeddb::delete_database(&factory(), &database_name(id)).await;
    let store = IdbStore::open(
        &factory(),
        &database_name(id),
        IdbOptions {
            durability,
            ..IdbOptions::default()
        },
    )
    .await
    .unwrap();
    let mut d = Driver::new(
        Config {
            seed: 0,
            effects: false,
        },
        store,
    );
    let mut confirms = 0usize;
    let start = now();
    for (i, step) in s.steps.iter().enumerate() {
        d.step_grouped(i, step).await.unwrap();
        if (i + 1) % GROUP == 0 || i + 1 == s.steps.len() {
            confirms += d.flush(i).await.unwrap().events.len();
        }
    }
    let rate = N as f64 / ((now() - start) / 1000.0);
    assert_eq!(
        confirms, N,
        "every publish was confirmed after its group was stored"
    );
    let transactions = d.store.transactions;
    drop(d);
    let _ = indexeddb::delete_database(&factory(), &database_name(id)).await;
    (rate, transactions)
}

#[wasm_bindgen_test]
#[ignore = "a benchmark: run with --release -- --include-ignored"]
async fn indexeddb_throughput() {
    // Warm up the page (wasm compilation tiers, IndexedDB's backend) before measuring.
    raw_put(N, Durability::Relaxed).await;
    playground(&stream(None), Durability::Relaxed).await;
    let mut rows: Vec<(String, f64, String)> = Vec::new();
    for durability in [Durability::Relaxed, Durability::Strict] {
        let d = format!("{durability:?}").to_lowercase();
        for (label, per_tx) in [("1 per tx", 1), ("100 per tx", 100), ("all in 1 tx", N)] {
            let rate = raw_put(per_tx, durability).await;
            rows.push((format!("raw put, {label}"), rate, d.clone()));
        }
        let publish = stream(None);
        let (rate, txs) = playground(&publish, durability).await;
        rows.push((
            format!("playground persistent publish ({txs} tx)"),
            rate,
            d.clone(),
        ));
        let (rate, txs) = playground(&stream(Some(0)), durability).await;
        rows.push((
            format!("playground publish→deliver→ack ({txs} tx)"),
            rate,
            d.clone(),
        ));
        let (rate, txs) = playground(&stream(Some(LAG)), durability).await;
        rows.push((
            format!("playground publish→deliver→ack, ack lag {LAG} ({txs} tx)"),
            rate,
            d.clone(),
        ));
    }
    // Each playground stream against raw puts in one transaction, same durability.
    let mut table = format!(
        "\nIndexedDB throughput, N = {N}, groups of {GROUP} steps\n{:<58} {:>10} {:>11} {:>10}\n",
        "what", "durability", "per second", "vs 1 tx"
    );
    for (what, rate, d) in &rows {
        let one_tx = rows
            .iter()
            .find(|(w, _, dd)| w.ends_with("all in 1 tx") && dd == d)
            .map_or(f64::NAN, |r| r.1);
        let ratio = if what.starts_with("playground") {
            format!("{:.2}", rate / one_tx)
        } else {
            String::new()
        };
        table.push_str(&format!("{what:<58} {d:>10} {rate:>11.0} {ratio:>10}\n"));
    }
    console_log!("{table}");
}
