//! Embedding: `<queue-playground>` elements, `<div data-queue-playground>` and
//! `mount(element, options)` from JavaScript, each returning (or holding) a [`PlaygroundHandle`].
//!
//! Every playground lives in a shadow root on its host element: the app's style sheet goes in
//! with it and applies to nothing outside, and the page's style sheets do not reach in (`:host`
//! cuts inheritance at its container). Each has its own app, engine, [`Control`] and storage id.
//!
//! Options, as attributes of `<queue-playground>` (on a div: `data-` + the same name) or as keys
//! of `mount`'s options object:
//!
//! | attribute | key | value |
//! |---|---|---|
//! | `scenario` | `scenario` | scenario JSON (text; in JavaScript also an object) |
//! | `src` | `src` | URL of a scenario file |
//! | `preset` | `preset` | a preset id |
//! | `mode` | `mode` | `full`, `compact` or `player` |
//! | `theme` | `theme` | `auto`, `light` or `dark` |
//! | `autoplay` | `autoplay` | boolean |
//! | `start-step` | `startStep` | steps applied when it opens |
//! | `persist` | `persist` | boolean: keep the broker in IndexedDB (needs `id`) |
//! | `id` (the element's) | `id` | storage name; default `embed-N`, unique on the page |
//! | `play-interval` | `playInterval` | milliseconds between steps while playing |
//! | `url-fragment` | `urlFragment` | boolean: read and write a share link in the page URL |
//!
//! A `<script type="application/json">` child also gives the scenario. Booleans as attributes:
//! present (or `on`, `true`) is true; `off` and `false` are false.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::OnceLock;

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, ShadowRoot, ShadowRootInit, ShadowRootMode};
use yew::{AppHandle, Callback};

use super::app::App;
use super::options::{
    AppProps, Command, Control, Mode, OptionError, Options, ScenarioSource, Theme,
};
use crate::js_api::{to_js, StateView};

/// The custom element's name.
pub const ELEMENT: &str = "queue-playground";
/// The attribute that makes a div a playground.
pub const DATA_ATTRIBUTE: &str = "data-queue-playground";
/// The host element's property holding its handle, for pages that did not call `mount`.
const HANDLE_PROPERTY: &str = "playground";
/// The event a host element receives after what its playground shows changed.
pub const CHANGE_EVENT: &str = "statechange";

/// The host is the page's to style (its box, and whatever its rules set on it), so inheritance
/// is cut at the container inside: `all` resets every inherited property but custom ones. The
/// app's own style sheet follows.
const EMBED_CSS: &str = ":host { display: block; }
:host([hidden]) { display: none; }
.qp-embed { all: initial; display: block; font-family: system-ui, sans-serif; }
.qp-embed-error { border: 1px solid #b3261e; color: #b3261e; background: #fff; padding: 0.75em 1em;
  white-space: pre-wrap; font: 14px/1.4 ui-monospace, monospace; }
";
/// The app's style sheets: its frame and views, then the editor, palette, plots and share bar.
const APP_CSS: [&str; 2] = [
    include_str!("../../www/style.css"),
    include_str!("../../www/tools.css"),
];

#[wasm_bindgen(inline_js = r#"
export function defineQueuePlayground(name, connected, disconnected) {
  if (customElements.get(name)) return;
  customElements.define(name, class extends HTMLElement {
    connectedCallback() { connected(this); }
    disconnectedCallback() { disconnected(this); }
  });
}
"#)]
extern "C" {
    /// Custom elements must be classes extending `HTMLElement`, which only JavaScript can write.
    #[wasm_bindgen(js_name = defineQueuePlayground)]
    fn define_element(name: &str, connected: &js_sys::Function, disconnected: &js_sys::Function);
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
export interface PlaygroundOptions {
  /** Scenario JSON (format v1), as text or an object. One of scenario, src, preset. */
  scenario?: string | object;
  src?: string;
  preset?: string;
  mode?: "full" | "compact" | "player";
  theme?: "auto" | "light" | "dark";
  autoplay?: boolean;
  startStep?: number;
  /** Keep the broker in IndexedDB; needs `id`. */
  persist?: boolean;
  /** Storage name; default `embed-N`. */
  id?: string;
  playInterval?: number;
  urlFragment?: boolean;
}
export interface PlaygroundState {
  id: string;
  position: number;
  length: number;
  playing: boolean;
  error: string | null;
  /** Null while loading or when the scenario is refused. */
  broker: BrokerState | null;
}
"#;

thread_local! {
    /// The live playgrounds of this page (a handful: found by a scan).
    static MOUNTED: RefCell<Vec<Rc<Embed>>> = const { RefCell::new(Vec::new()) };
    /// Numbers the default storage ids (`embed-1`, `embed-2`, ...) of this page.
    static EMBEDS: Cell<usize> = const { Cell::new(0) };
}

/// The page's playgrounds: mounts every `<queue-playground>` and `[data-queue-playground]` in
/// the document, and defines the element so that ones added later mount too.
pub fn start() {
    let connected = Closure::<dyn Fn(Element)>::new(|host: Element| {
        if mounted(&host).is_none() {
            auto_mount(&host);
        }
    });
    let disconnected = Closure::<dyn Fn(Element)>::new(|host: Element| {
        // Removed from the page: free its app. Put back, it mounts afresh.
        if let Some(embed) = mounted(&host) {
            embed.destroy();
        }
    });
    define_element(
        ELEMENT,
        connected.as_ref().unchecked_ref(),
        disconnected.as_ref().unchecked_ref(),
    );
    // The element lives as long as the page.
    connected.forget();
    disconnected.forget();

    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    if let Ok(divs) = document.query_selector_all(&format!("[{DATA_ATTRIBUTE}]")) {
        for i in 0..divs.length() {
            if let Some(host) = divs.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                if mounted(&host).is_none() {
                    auto_mount(&host);
                }
            }
        }
    }
}

/// Mounts a playground from the element's attributes; refused options show as an error box.
fn auto_mount(host: &Element) {
    let options = options_from_element(host);
    // Only fails for an element that cannot hold a shadow root, which the element and divs can.
    let _ = Embed::mount(host, options);
}

/// Mounts a playground in `element` (a div or any element that can hold a shadow root) and
/// returns its handle. Throws when the arguments cannot be used (not an element, an element
/// that already holds a playground, options that are not an object); a refused option value
/// shows as an error box in the element and in `state().error`.
#[wasm_bindgen]
pub fn mount(
    #[wasm_bindgen(unchecked_param_type = "Element")] element: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PlaygroundOptions")] options: Option<JsValue>,
) -> Result<PlaygroundHandle, JsError> {
    let options = options.unwrap_or(JsValue::UNDEFINED);
    let host: Element = element.dyn_into().map_err(|v| {
        JsError::new(&format!(
            "mount: expected an element as the first argument, got {}",
            type_name(&v)
        ))
    })?;
    if mounted(&host).is_some() {
        return Err(JsError::new(
            "mount: this element already holds a playground; call its handle's destroy() first",
        ));
    }
    let options = options_from_object(&options)?;
    Embed::mount(&host, options).map(|embed| PlaygroundHandle { embed })
}

/// The handle of a mounted playground: drives it and reads what it shows.
#[wasm_bindgen]
pub struct PlaygroundHandle {
    embed: Rc<Embed>,
}

#[wasm_bindgen]
impl PlaygroundHandle {
    /// Moves `n` steps (default 1; negative: back).
    pub fn step(&self, n: Option<i32>) -> Result<(), JsError> {
        self.embed.command(Command::Step(i64::from(n.unwrap_or(1))))
    }

    /// One step back.
    pub fn back(&self) -> Result<(), JsError> {
        self.embed.command(Command::Step(-1))
    }

    /// Moves to the state after `n` steps (clamped to the scenario's length).
    pub fn seek(&self, n: u32) -> Result<(), JsError> {
        self.embed.command(Command::Seek(n as usize))
    }

    pub fn play(&self) -> Result<(), JsError> {
        self.embed.command(Command::Play)
    }

    pub fn pause(&self) -> Result<(), JsError> {
        self.embed.command(Command::Pause)
    }

    /// What the playground shows: `{id, position, length, playing, error, broker}`, `broker`
    /// as `Broker.state()` returns it (null while loading or when refused). Commands take
    /// effect when the app next renders; the host element's `statechange` event says when.
    #[wasm_bindgen(unchecked_return_type = "PlaygroundState")]
    pub fn state(&self) -> Result<JsValue, JsError> {
        self.embed.state()
    }

    /// Unmounts the app and empties the element; the handle is spent.
    pub fn destroy(&self) {
        self.embed.destroy();
    }

    /// The storage id.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.embed.id.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn element(&self) -> Element {
        self.embed.host.clone()
    }
}

/// One mounted playground.
struct Embed {
    host: Element,
    root: ShadowRoot,
    id: String,
    control: Rc<Control>,
    /// Why the options were refused (then there is no app).
    refused: Option<String>,
    app: RefCell<Option<AppHandle<App>>>,
    /// Commands given before the scenario loaded (Yew renders after `mount` returns, and a
    /// scenario may be fetched): sent once it has.
    pending: RefCell<Vec<Command>>,
    destroyed: Cell<bool>,
}

impl Embed {
    fn mount(host: &Element, options: Result<Options, OptionError>) -> Result<Rc<Embed>, JsError> {
        let root = match host.shadow_root() {
            // Left by an earlier playground, destroyed since.
            Some(root) => root,
            None => host
                .attach_shadow(&ShadowRootInit::new(ShadowRootMode::Open))
                .map_err(|_| {
                    JsError::new(&format!(
                        "mount: a <{}> cannot hold a playground; use a <div>",
                        host.tag_name().to_lowercase()
                    ))
                })?,
        };
        let document = host
            .owner_document()
            .ok_or_else(|| JsError::new("mount: the element has no document"))?;
        let element = |tag: &str| {
            document
                .create_element(tag)
                .map_err(|_| JsError::new(&format!("mount: cannot create a <{tag}>")))
        };
        let style = element("style")?;
        style.set_text_content(Some(&format!("{EMBED_CSS}{}", APP_CSS.join("\n"))));
        let container = element("div")?;
        container.set_class_name("qp-embed");
        append(&root, &style)?;
        append(&root, &container)?;

        let control = Rc::new(Control::default());
        let (id, refused, app) = match options {
            Ok(options) => {
                let id = options.id.clone();
                let props = AppProps {
                    options: Rc::new(options),
                    control: control.clone(),
                };
                let app = yew::Renderer::<App>::with_root_and_props(container, props).render();
                (id, None, Some(app))
            }
            Err(e) => {
                let message = e.to_string();
                // Text, never markup: the message quotes what the page gave.
                container.set_class_name("qp-embed qp-embed-error");
                container.set_attribute("role", "alert").ok();
                container.set_text_content(Some(&message));
                (String::new(), Some(message), None)
            }
        };
        let embed = Rc::new(Embed {
            host: host.clone(),
            root,
            id,
            control,
            refused,
            app: RefCell::new(app),
            pending: RefCell::new(Vec::new()),
            destroyed: Cell::new(false),
        });
        let weak = Rc::downgrade(&embed);
        embed.control.watch(Callback::from(move |()| {
            let Some(embed) = weak.upgrade() else {
                return;
            };
            embed.send_pending();
            // Later, not inside the app's render: listeners may call the handle.
            let target = embed.host.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(event) = web_sys::Event::new(CHANGE_EVENT) {
                    target.dispatch_event(&event).ok();
                }
            });
        }));
        let handle = PlaygroundHandle {
            embed: embed.clone(),
        };
        js_sys::Reflect::set(host, &HANDLE_PROPERTY.into(), &handle.into())
            .map_err(|_| JsError::new("mount: cannot keep the handle on the element"))?;
        MOUNTED.with(|m| m.borrow_mut().push(embed.clone()));
        Ok(embed)
    }

    fn live(&self) -> Result<(), JsError> {
        if self.destroyed.get() {
            return Err(JsError::new("this playground was destroyed"));
        }
        Ok(())
    }

    fn command(&self, command: Command) -> Result<(), JsError> {
        self.live()?;
        if self.refused.is_some() {
            // No app: nothing to step through (the refusal is shown, and in `state().error`).
            return Ok(());
        }
        self.pending.borrow_mut().push(command);
        self.send_pending();
        Ok(())
    }

    /// Sends the commands given so far once the app shows a scenario; drops them if it refused
    /// the scenario (there is nothing to step through).
    fn send_pending(&self) {
        let snapshot = self.control.snapshot();
        if snapshot.error.is_some() && snapshot.state.is_none() {
            self.pending.borrow_mut().clear();
        }
        if snapshot.state.is_none() {
            return;
        }
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        for command in pending {
            if !self.control.send(command) {
                // Detached: the app is gone.
                break;
            }
        }
    }

    fn state(&self) -> Result<JsValue, JsError> {
        self.live()?;
        let snapshot = self.control.snapshot();
        to_js(&HandleState {
            id: &self.id,
            position: snapshot.position,
            length: snapshot.len,
            playing: snapshot.playing,
            error: self.refused.as_deref().or(snapshot.error.as_deref()),
            broker: snapshot.state.as_deref().map(StateView::from),
        })
    }

    fn destroy(&self) {
        if self.destroyed.replace(true) {
            return;
        }
        if let Some(app) = self.app.borrow_mut().take() {
            app.destroy();
        }
        self.control.detach();
        while let Some(child) = self.root.first_child() {
            self.root.remove_child(&child).ok();
        }
        js_sys::Reflect::delete_property(
            self.host.unchecked_ref::<js_sys::Object>(),
            &HANDLE_PROPERTY.into(),
        )
        .ok();
        MOUNTED.with(|m| m.borrow_mut().retain(|e| e.host != self.host));
    }
}

#[derive(Serialize)]
struct HandleState<'a> {
    id: &'a str,
    position: usize,
    length: usize,
    playing: bool,
    error: Option<&'a str>,
    broker: Option<StateView<'a>>,
}

fn append(root: &ShadowRoot, child: &Element) -> Result<(), JsError> {
    root.append_child(child)
        .map(drop)
        .map_err(|_| JsError::new("mount: cannot fill the shadow root"))
}

/// The playground mounted on `host`, if any.
fn mounted(host: &Element) -> Option<Rc<Embed>> {
    MOUNTED.with(|m| m.borrow().iter().find(|e| e.host == *host).cloned())
}

// ---------------------------------------------------------------------------------------------
// Options

/// An option as given: attributes are text; JavaScript values keep their type.
enum Given {
    Text(String),
    Bool(bool),
    Number(f64),
    /// An object, as JSON text (`scenario` only).
    Json(String),
    Other(String),
}

impl Given {
    fn shown(&self) -> String {
        match self {
            Given::Text(s) | Given::Json(s) | Given::Other(s) => s.clone(),
            Given::Bool(b) => b.to_string(),
            Given::Number(n) => n.to_string(),
        }
    }
}

/// An option's names: as an attribute of the element, of a div, and as a JavaScript key.
struct Spec {
    attribute: &'static str,
    data: &'static str,
    key: &'static str,
}

const SCENARIO: Spec = Spec {
    attribute: "scenario",
    data: "data-scenario",
    key: "scenario",
};
const SRC: Spec = Spec {
    attribute: "src",
    data: "data-src",
    key: "src",
};
const PRESET: Spec = Spec {
    attribute: "preset",
    data: "data-preset",
    key: "preset",
};
const MODE: Spec = Spec {
    attribute: "mode",
    data: "data-mode",
    key: "mode",
};
const THEME: Spec = Spec {
    attribute: "theme",
    data: "data-theme",
    key: "theme",
};
const AUTOPLAY: Spec = Spec {
    attribute: "autoplay",
    data: "data-autoplay",
    key: "autoplay",
};
const START_STEP: Spec = Spec {
    attribute: "start-step",
    data: "data-start-step",
    key: "startStep",
};
const PERSIST: Spec = Spec {
    attribute: "persist",
    data: "data-persist",
    key: "persist",
};
const ID: Spec = Spec {
    attribute: "id",
    data: "id",
    key: "id",
};
const PLAY_INTERVAL: Spec = Spec {
    attribute: "play-interval",
    data: "data-play-interval",
    key: "playInterval",
};
const URL_FRAGMENT: Spec = Spec {
    attribute: "url-fragment",
    data: "data-url-fragment",
    key: "urlFragment",
};

const SPECS: [&Spec; 11] = [
    &SCENARIO,
    &SRC,
    &PRESET,
    &MODE,
    &THEME,
    &AUTOPLAY,
    &START_STEP,
    &PERSIST,
    &ID,
    &PLAY_INTERVAL,
    &URL_FRAGMENT,
];

const KEYS: &str = "scenario, src, preset, mode, theme, autoplay, startStep, persist, id, \
                    playInterval, urlFragment";

/// Reads options by name, each error naming the option as the page spelled it.
struct Reader<'a> {
    get: &'a dyn Fn(&Spec) -> Option<Given>,
    /// Whether names are attributes (else JavaScript keys).
    attributes: bool,
    /// Attributes of a div: `data-` names.
    data: bool,
    /// A `<script type="application/json">` child's text.
    script: Option<String>,
}

impl Reader<'_> {
    fn name(&self, spec: &Spec) -> &'static str {
        match (self.attributes, self.data) {
            (false, _) => spec.key,
            (true, false) => spec.attribute,
            (true, true) => spec.data,
        }
    }

    fn error(&self, spec: &Spec, given: &Given, expected: &'static str) -> OptionError {
        OptionError {
            option: self.name(spec),
            given: given.shown(),
            expected,
        }
    }

    fn text(&self, spec: &Spec) -> Result<Option<String>, OptionError> {
        match (self.get)(spec) {
            None => Ok(None),
            Some(Given::Text(s)) => Ok(Some(s)),
            Some(other) => Err(self.error(spec, &other, "text")),
        }
    }

    fn bool(&self, spec: &Spec) -> Result<Option<bool>, OptionError> {
        match (self.get)(spec) {
            None => Ok(None),
            Some(Given::Bool(b)) => Ok(Some(b)),
            Some(Given::Text(s)) if self.attributes => match s.as_str() {
                "" | "on" | "true" => Ok(Some(true)),
                "off" | "false" => Ok(Some(false)),
                _ => Err(self.error(spec, &Given::Text(s), "`on` or `off` (or no value: on)")),
            },
            Some(other) => Err(self.error(spec, &other, "true or false")),
        }
    }

    fn whole(
        &self,
        spec: &Spec,
        min: u32,
        max: u32,
        expected: &'static str,
    ) -> Result<Option<u32>, OptionError> {
        let given = match (self.get)(spec) {
            None => return Ok(None),
            Some(g) => g,
        };
        let n = match &given {
            Given::Number(n) => Some(*n),
            Given::Text(s) if self.attributes => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.fract() == 0.0 && n >= f64::from(min) && n <= f64::from(max) => {
                Ok(Some(n as u32))
            }
            _ => Err(self.error(spec, &given, expected)),
        }
    }

    fn options(&self, next_id: &dyn Fn() -> String) -> Result<Options, OptionError> {
        let defaults = Options::default();
        let mut sources = Vec::new();
        match (self.get)(&SCENARIO) {
            None => {}
            Some(Given::Text(s) | Given::Json(s)) => {
                sources.push((&SCENARIO, ScenarioSource::Inline(s)))
            }
            Some(other) => {
                return Err(self.error(&SCENARIO, &other, "scenario JSON (text or an object)"))
            }
        }
        if let Some(url) = self.text(&SRC)? {
            sources.push((&SRC, ScenarioSource::Url(url)));
        }
        if let Some(id) = self.text(&PRESET)? {
            if crate::presets::find(&id).is_none() {
                return Err(self.error(&PRESET, &Given::Text(id), preset_ids()));
            }
            sources.push((&PRESET, ScenarioSource::Preset(id)));
        }
        if let Some(text) = &self.script {
            sources.push((&SCENARIO, ScenarioSource::Inline(text.clone())));
        }
        if sources.len() > 1 {
            let (spec, _) = sources[1];
            let given = match (self.get)(spec) {
                Some(g) => g,
                None => Given::Other("a <script type=\"application/json\"> child".into()),
            };
            return Err(self.error(
                spec,
                &given,
                "one scenario only: `scenario`, `src`, `preset` or a <script type=\"application/json\"> child",
            ));
        }
        let scenario = sources.pop().map_or(ScenarioSource::Default, |(_, s)| s);

        let mode = match self.text(&MODE)? {
            None => defaults.mode,
            Some(s) => s.parse::<Mode>().map_err(|e| OptionError {
                option: self.name(&MODE),
                ..e
            })?,
        };
        let theme = match self.text(&THEME)? {
            None => defaults.theme,
            Some(s) => s.parse::<Theme>().map_err(|e| OptionError {
                option: self.name(&THEME),
                ..e
            })?,
        };
        let persistence = self.bool(&PERSIST)?.unwrap_or(defaults.persistence);
        let id = match self.text(&ID)? {
            Some(id) if valid_id(&id) => id,
            Some(id) => {
                return Err(self.error(
                    &ID,
                    &Given::Text(id),
                    "1 to 64 letters, digits, `-`, `_` or `.`",
                ))
            }
            None if persistence => {
                return Err(OptionError {
                    option: self.name(&ID),
                    given: String::new(),
                    expected: "a stable id when `persist` is on, such as \"acks-demo\": the \
                               stored broker is named after it",
                })
            }
            None => next_id(),
        };
        Ok(Options {
            id,
            scenario,
            mode,
            autoplay: self.bool(&AUTOPLAY)?.unwrap_or(defaults.autoplay),
            start_step: self
                .whole(
                    &START_STEP,
                    0,
                    u32::MAX,
                    "a whole number of steps, 0 or more",
                )?
                .map_or(defaults.start_step, |n| n as usize),
            theme,
            persistence,
            play_interval_ms: self
                .whole(&PLAY_INTERVAL, 50, 60_000, "milliseconds from 50 to 60000")?
                .unwrap_or(defaults.play_interval_ms),
            url_fragment: self.bool(&URL_FRAGMENT)?.unwrap_or(defaults.url_fragment),
        })
    }
}

fn preset_ids() -> &'static str {
    static IDS: OnceLock<String> = OnceLock::new();
    IDS.get_or_init(|| {
        let ids: Vec<&str> = crate::presets::PRESETS.iter().map(|p| p.id).collect();
        format!("one of the presets: {}", ids.join(", "))
    })
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A fresh default id: `embed-1`, `embed-2`, ... on this page.
fn next_embed_id() -> String {
    EMBEDS.with(|n| {
        n.set(n.get() + 1);
        format!("embed-{}", n.get())
    })
}

/// The options a host element's attributes ask for.
pub fn options_from_element(host: &Element) -> Result<Options, OptionError> {
    let data = !host.tag_name().eq_ignore_ascii_case(ELEMENT);
    let get = |spec: &Spec| {
        let name = if data { spec.data } else { spec.attribute };
        host.get_attribute(name).map(Given::Text)
    };
    let script = host
        .query_selector(":scope > script[type='application/json']")
        .ok()
        .flatten()
        .and_then(|s| s.text_content());
    Reader {
        get: &get,
        attributes: true,
        data,
        script,
    }
    .options(&next_embed_id)
}

/// The options `mount`'s second argument asks for (`undefined` or `null`: the defaults).
pub fn options_from_object(value: &JsValue) -> Result<Result<Options, OptionError>, JsError> {
    if value.is_undefined() || value.is_null() {
        let none = |_: &Spec| None;
        return Ok(Reader {
            get: &none,
            attributes: false,
            data: false,
            script: None,
        }
        .options(&next_embed_id));
    }
    if !value.is_object() || js_sys::Array::is_array(value) {
        return Err(JsError::new(&format!(
            "mount: expected an options object as the second argument, got {}",
            type_name(value)
        )));
    }
    let object: &js_sys::Object = value.unchecked_ref();
    for key in js_sys::Object::keys(object).iter() {
        let key = key.as_string().unwrap_or_default();
        if !SPECS.iter().any(|s| s.key == key) {
            return Err(JsError::new(&format!(
                "mount: unknown option `{key}`; the options are {KEYS}"
            )));
        }
    }
    let get = |spec: &Spec| {
        let v = js_sys::Reflect::get(value, &spec.key.into()).ok()?;
        if v.is_undefined() {
            return None;
        }
        Some(if let Some(s) = v.as_string() {
            Given::Text(s)
        } else if let Some(b) = v.as_bool() {
            Given::Bool(b)
        } else if let Some(n) = v.as_f64() {
            Given::Number(n)
        } else if v.is_object() && !v.is_function() {
            match js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string()) {
                Some(json) => Given::Json(json),
                None => Given::Other(type_name(&v)),
            }
        } else {
            Given::Other(type_name(&v))
        })
    };
    Ok(Reader {
        get: &get,
        attributes: false,
        data: false,
        script: None,
    }
    .options(&next_embed_id))
}

fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        return "null".into();
    }
    if js_sys::Array::is_array(value) {
        return "an array".into();
    }
    match value.js_typeof().as_string().unwrap_or_default().as_str() {
        "undefined" => "undefined".into(),
        "object" => "an object".into(),
        kind => format!("a {kind}"),
    }
}
