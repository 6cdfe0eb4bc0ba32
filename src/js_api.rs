//! The engine from JavaScript, without the UI: the `Broker` class.
//!
//! ```js
//! const broker = new Broker({ seed: 7 });
//! const events = broker.run(scenario);   // the trace (format v1) of a whole scenario
//! broker.apply({ op: 'basic.ack', channel: 'worker', delivery_tag: 1 }); // one more step
//! broker.state().queues[0].messages_ready;
//! ```
//!
//! Works wherever wasm does (browsers, Node, edge runtimes): nothing here touches `window` or
//! the DOM. Values cross as JSON text parsed by `JSON.parse`, so they are exactly the objects the
//! trace and scenario formats describe (numbers beyond 2^53 lose precision as in any JSON
//! reader, instead of failing the whole call).

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::engine::state::{BrokerState, ChannelState, ConnectionState, ExchangeState, QueueState};
use crate::engine::store::MemoryStore;
use crate::engine::{Config, Driver};
use crate::scenario::{self, Limits};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** One trace event (trace format v1): `step` and `event`, then the event's fields. */
export interface TraceEvent {
  step: number;
  event: string;
  [field: string]: unknown;
}
export interface BrokerOptions {
  /** Drives every random choice; default 0. */
  seed?: number | bigint;
}
export interface QueueState {
  name: string;
  durable: boolean;
  auto_delete: boolean;
  exclusive_owner: string | null;
  arguments: Record<string, unknown>;
  /** The ready messages, head first. */
  ready: Array<{ seq: number; exchange: string; routing_key: string; body: string; properties: Record<string, unknown>; redelivered: boolean; [field: string]: unknown }>;
  ready_bytes: number;
  unacked: number;
  consumers: Array<{ channel: string; consumer_tag: string; blocked: boolean }>;
  messages_ready: number;
  messages_unacknowledged: number;
  [field: string]: unknown;
}
export interface ChannelState {
  name: string;
  connection: string;
  open: boolean;
  mode: "plain" | "tx" | "confirm";
  consumers: Array<{ consumer_tag: string; queue: string; no_ack: boolean; prefetch: number; unacked: number }>;
  unacked: Array<{ delivery_tag: number; queue: string; consumer_tag: string | null; message: Record<string, unknown> }>;
  [field: string]: unknown;
}
export interface BrokerState {
  /** Virtual time, in milliseconds. */
  now: number;
  exchanges: Array<{ name: string; type: string; bindings: unknown[]; [field: string]: unknown }>;
  queues: QueueState[];
  connections: Array<{ name: string; open: boolean }>;
  channels: ChannelState[];
}
"#;

/// A broker with an in-memory store and a virtual clock, driven step by step.
#[wasm_bindgen]
pub struct Broker {
    driver: Driver<MemoryStore>,
    seed: u64,
    /// The index the next applied step gets.
    next_step: usize,
}

fn fresh(seed: u64) -> Driver<MemoryStore> {
    Driver::new(
        Config {
            seed,
            // Only events are returned; effects are for the UI's animations.
            effects: false,
        },
        MemoryStore::default(),
    )
}

#[wasm_bindgen]
impl Broker {
    /// `new Broker()` or `new Broker({ seed })`: `seed` drives every random choice (default 0).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "BrokerOptions")] options: Option<JsValue>,
    ) -> Result<Broker, JsError> {
        let seed = read_seed(&options.unwrap_or(JsValue::UNDEFINED))?;
        Ok(Broker {
            driver: fresh(seed),
            seed,
            next_step: 0,
        })
    }

    /// Runs a whole scenario (JSON text or an object) on a fresh broker seeded by the
    /// scenario's `seed`, replacing this one's state; returns its trace events. Steps applied
    /// afterwards continue from the scenario's end.
    #[wasm_bindgen(unchecked_return_type = "TraceEvent[]")]
    pub fn run(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string | object")] scenario: JsValue,
    ) -> Result<JsValue, JsError> {
        let text = json_text(&scenario, "scenario")?;
        let scenario = scenario::parse(&text, &Limits::default()).map_err(error)?;
        self.seed = scenario.seed;
        self.driver = fresh(scenario.seed);
        self.next_step = 0;
        let mut events = Vec::new();
        for step in &scenario.steps {
            events.append(&mut self.driver.step_now(self.next_step, step).events);
            self.next_step += 1;
        }
        to_js(&events)
    }

    /// Applies one step (JSON text or an object) as the next step index; returns the events it
    /// caused. A refused step changes nothing and throws an Error naming the step and field.
    #[wasm_bindgen(unchecked_return_type = "TraceEvent[]")]
    pub fn apply(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string | object")] step: JsValue,
    ) -> Result<JsValue, JsError> {
        let text = json_text(&step, "step")?;
        let parsed =
            scenario::parse_step(&text, self.next_step, &Limits::default()).map_err(error)?;
        let record = self.driver.step_now(self.next_step, &parsed);
        self.next_step += 1;
        to_js(&record.events)
    }

    /// The broker's state: exchanges, queues (with `messages_ready` and
    /// `messages_unacknowledged`), connections and channels (consumers, unacked deliveries).
    #[wasm_bindgen(unchecked_return_type = "BrokerState")]
    pub fn state(&self) -> Result<JsValue, JsError> {
        state_to_js(&self.driver.broker.state())
    }

    /// Back to an empty broker with the seed it was created (or last run) with.
    pub fn reset(&mut self) {
        self.driver = fresh(self.seed);
        self.next_step = 0;
    }

    /// Steps applied so far: the index the next `apply` gets.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> usize {
        self.next_step
    }
}

fn read_seed(options: &JsValue) -> Result<u64, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(0);
    }
    if !options.is_object() {
        return Err(JsError::new(
            "Broker options: expected an object such as { seed: 7 }",
        ));
    }
    let keys = js_sys::Object::keys(options.unchecked_ref::<js_sys::Object>());
    for key in keys.iter() {
        let key = key.as_string().unwrap_or_default();
        if key != "seed" {
            return Err(JsError::new(&format!(
                "Broker options: unknown option `{key}`; expected `seed`"
            )));
        }
    }
    let seed = js_sys::Reflect::get(options, &"seed".into()).unwrap_or(JsValue::UNDEFINED);
    if seed.is_undefined() {
        return Ok(0);
    }
    if let Some(big) = seed.dyn_ref::<js_sys::BigInt>() {
        return u64::try_from(big.clone()).map_err(|_| bad_seed(&seed));
    }
    match seed.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= js_sys::Number::MAX_SAFE_INTEGER => {
            Ok(n as u64)
        }
        _ => Err(bad_seed(&seed)),
    }
}

fn bad_seed(seed: &JsValue) -> JsError {
    JsError::new(&format!(
        "Broker options: option `seed`: got {}, expected a whole number from 0 to 2^53 - 1 \
         (or a BigInt below 2^64)",
        describe(seed)
    ))
}

/// Scenario or step text: a string as given, an object as `JSON.stringify` writes it.
fn json_text(value: &JsValue, what: &str) -> Result<String, JsError> {
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    if value.is_object() {
        if let Some(text) = js_sys::JSON::stringify(value)
            .ok()
            .and_then(|s| s.as_string())
        {
            return Ok(text);
        }
    }
    Err(JsError::new(&format!(
        "{what}: expected JSON text or an object, found {}",
        describe(value)
    )))
}

/// A value as an error message shows it: its JSON when it has one, else its type.
fn describe(value: &JsValue) -> String {
    if value.is_undefined() {
        return "undefined".into();
    }
    if let Some(big) = value.dyn_ref::<js_sys::BigInt>() {
        // JSON.stringify throws on a BigInt.
        return format!("{}n", String::from(big.to_string(10).unwrap_or_default()));
    }
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| value.js_typeof().as_string().unwrap_or_default())
}

fn error(e: scenario::ScenarioError) -> JsError {
    JsError::new(&e.to_string())
}

/// A serializable value as a plain JavaScript value, through JSON text (see the module doc).
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    let text = serde_json::to_string(value)
        .map_err(|e| JsError::new(&format!("internal error: cannot serialize: {e}")))?;
    js_sys::JSON::parse(&text)
        .map_err(|_| JsError::new("internal error: the engine wrote JSON that does not parse"))
}

/// The broker's state as JavaScript reads it; shared by `Broker.state()` and the embed
/// handle's `state()`, so both have one shape.
pub(crate) fn state_to_js(state: &BrokerState) -> Result<JsValue, JsError> {
    to_js(&StateView::from(state))
}

/// [`BrokerState`] with the counts a reader looks for first, named as RabbitMQ's management
/// API names them.
#[derive(Serialize)]
pub(crate) struct StateView<'a> {
    now: u64,
    exchanges: &'a [ExchangeState],
    queues: Vec<QueueView<'a>>,
    connections: &'a [ConnectionState],
    channels: &'a [ChannelState],
}

#[derive(Serialize)]
struct QueueView<'a> {
    #[serde(flatten)]
    queue: &'a QueueState,
    messages_ready: usize,
    messages_unacknowledged: usize,
}

impl<'a> From<&'a BrokerState> for StateView<'a> {
    fn from(state: &'a BrokerState) -> Self {
        StateView {
            now: state.now,
            exchanges: &state.exchanges,
            queues: state
                .queues
                .iter()
                .map(|queue| QueueView {
                    queue,
                    messages_ready: queue.ready.len(),
                    messages_unacknowledged: queue.unacked,
                })
                .collect(),
            connections: &state.connections,
            channels: &state.channels,
        }
    }
}
