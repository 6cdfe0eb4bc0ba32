//! Component tests of the app in headless Chromium: the app is mounted with real options, driven
//! through its control, its keyboard shortcuts and clicks, and what the page shows is checked
//! against the engine. `cargo test --target wasm32-unknown-unknown --test wasm_ui`.
#![cfg(target_arch = "wasm32")]

mod browser;

use browser::sleep;

use std::rc::Rc;

use queue_playground::scenario::{parse, Limits};
use queue_playground::timeline::{Timeline, TimelineConfig};
use queue_playground::web::app::App;
use queue_playground::web::options::{
    AppProps, Command, Control, Mode, Options, ScenarioSource, Theme,
};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::Element;

wasm_bindgen_test_configure!(run_in_browser);

const WORK: &str = r#"{"format":"queue-playground/v1","name":"work","steps":[
    {"op":"queue.declare","queue":"jobs","durable":true},
    {"op":"basic.qos","channel":"worker","prefetch_count":1},
    {"op":"basic.consume","channel":"worker","queue":"jobs","consumer_tag":"w1"},
    {"op":"basic.publish","channel":"app","routing_key":"jobs","body":"<b>first</b>","properties":{"delivery_mode":2}},
    {"op":"basic.publish","channel":"app","routing_key":"jobs","body":"second"},
    {"op":"basic.reject","channel":"worker","delivery_tag":1,"requeue":true},
    {"op":"basic.ack","channel":"worker","delivery_tag":2}
]}"#;

/// A mounted app: its root element and its control.
struct Mounted {
    root: Element,
    control: Rc<Control>,
    handle: Option<yew::AppHandle<App>>,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.destroy();
        }
        self.root.remove();
    }
}

impl Mounted {
    async fn new(options: Options) -> Mounted {
        let document = web_sys::window().unwrap().document().unwrap();
        let root = document.create_element("div").unwrap();
        document.body().unwrap().append_child(&root).unwrap();
        let control = Rc::new(Control::default());
        let props = AppProps {
            options: Rc::new(options),
            control: control.clone(),
        };
        let handle = yew::Renderer::<App>::with_root_and_props(root.clone(), props).render();
        let mounted = Mounted {
            root,
            control,
            handle: Some(handle),
        };
        mounted
            .until(|m| m.find(".qp").is_some() && !m.text(".qp").contains("Loading"))
            .await;
        mounted
    }

    async fn inline(text: &str) -> Mounted {
        Mounted::new(Options {
            scenario: ScenarioSource::Inline(text.to_owned()),
            ..Options::default()
        })
        .await
    }

    fn find(&self, selector: &str) -> Option<Element> {
        self.root.query_selector(selector).unwrap()
    }

    fn count(&self, selector: &str) -> u32 {
        self.root.query_selector_all(selector).unwrap().length()
    }

    fn text(&self, selector: &str) -> String {
        self.find(selector)
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    }

    /// Waits (up to two seconds) for the page to get there.
    async fn until(&self, done: impl Fn(&Mounted) -> bool) {
        for _ in 0..200 {
            if done(self) {
                return;
            }
            sleep(10).await;
        }
        panic!("timed out; the app shows: {}", self.root.inner_html());
    }

    async fn send(&self, command: Command) {
        assert!(self.control.send(command), "the app is attached");
        sleep(0).await;
    }

    async fn at(&self, position: usize, len: usize) {
        let want = format!("step {position} / {len}");
        self.until(|m| m.text(".counter") == want).await;
    }

    /// Dispatches a key press on `target` as the browser would.
    fn key(&self, target: &Element, key: &str) {
        let init = js_sys::Object::new();
        js_sys::Reflect::set(&init, &"key".into(), &key.into()).unwrap();
        js_sys::Reflect::set(&init, &"bubbles".into(), &true.into()).unwrap();
        js_sys::Reflect::set(&init, &"cancelable".into(), &true.into()).unwrap();
        let ctor: js_sys::Function =
            js_sys::Reflect::get(&web_sys::window().unwrap(), &"KeyboardEvent".into())
                .unwrap()
                .dyn_into()
                .unwrap();
        let event =
            js_sys::Reflect::construct(&ctor, &js_sys::Array::of2(&"keydown".into(), &init))
                .unwrap();
        target
            .dispatch_event(event.unchecked_ref::<web_sys::Event>())
            .unwrap();
    }

    fn click(&self, selector: &str) {
        self.find(selector)
            .unwrap_or_else(|| panic!("no {selector}"))
            .unchecked_into::<web_sys::HtmlElement>()
            .click();
    }

    /// SVG elements have no `click()`: dispatch one.
    fn click_svg(&self, selector: &str) {
        let el = self
            .find(selector)
            .unwrap_or_else(|| panic!("no {selector}"));
        let init = js_sys::Object::new();
        js_sys::Reflect::set(&init, &"bubbles".into(), &true.into()).unwrap();
        let ctor: js_sys::Function =
            js_sys::Reflect::get(&web_sys::window().unwrap(), &"MouseEvent".into())
                .unwrap()
                .dyn_into()
                .unwrap();
        let bubbling =
            js_sys::Reflect::construct(&ctor, &js_sys::Array::of2(&"click".into(), &init)).unwrap();
        el.dispatch_event(bubbling.unchecked_ref::<web_sys::Event>())
            .unwrap();
    }
}

fn has_class(el: &Element, class: &str) -> bool {
    el.get_attribute("class")
        .unwrap_or_default()
        .split_whitespace()
        .any(|c| c == class)
}

fn engine_state_after(text: &str, steps: usize) -> queue_playground::engine::state::BrokerState {
    let mut timeline = Timeline::new(
        parse(text, &Limits::default()).unwrap(),
        TimelineConfig::default(),
    );
    timeline.seek(steps);
    timeline.state()
}

#[wasm_bindgen_test]
async fn an_inline_scenario_is_drawn_and_every_step_shows_the_engines_state() {
    let app = Mounted::inline(WORK).await;
    app.at(0, 7).await;
    // Nothing declared yet at step 0.
    assert_eq!(app.count("[data-target='queue:jobs']"), 0);
    // Forward through every step, then back: the published state is the engine's each time.
    for k in (1..=7).chain((0..7).rev()) {
        app.send(Command::Seek(k)).await;
        app.at(k, 7).await;
        let snapshot = app.control.snapshot();
        assert_eq!(snapshot.position, k);
        assert_eq!(
            snapshot.state.as_deref(),
            Some(&engine_state_after(WORK, k)),
            "after {k} steps"
        );
    }
    app.send(Command::Seek(5)).await;
    app.at(5, 7).await;
    assert_eq!(app.count("[data-target='queue:jobs']"), 1);
    assert_eq!(app.count("[data-target='consumer:worker/w1']"), 1);
    assert_eq!(app.count(".msg.unacked"), 1);
    assert_eq!(app.text(".msg.unacked text"), "t1");
    assert_eq!(app.count(".msg:not(.unacked)"), 1);
}

#[wasm_bindgen_test]
async fn a_message_keeps_its_element_when_it_moves_so_the_move_animates() {
    let app = Mounted::inline(WORK).await;
    app.send(Command::Seek(5)).await;
    app.at(5, 7).await;
    let ready = app.find("[data-target='message:2']").unwrap();
    let before = ready.get_attribute("style").unwrap();
    assert!(!has_class(&ready, "unacked"));
    // Step 6 requeues message 1 and redelivers it; step 7 acks it and delivers message 2.
    app.send(Command::Step(1)).await;
    app.at(6, 7).await;
    let redelivered = app.find("[data-target='message:1']").unwrap();
    assert!(has_class(&redelivered, "redelivered"));
    app.send(Command::Step(1)).await;
    app.at(7, 7).await;
    let moved = app.find("[data-target='message:2']").unwrap();
    assert!(moved.is_same_node(Some(&ready)), "same element, new place");
    assert!(has_class(&moved, "unacked"));
    assert_ne!(moved.get_attribute("style").unwrap(), before);
    // Message 1 left: drawn once more as an acked ghost.
    assert_eq!(app.count(".ghost.acked"), 1);
}

#[wasm_bindgen_test]
async fn keys_step_jump_and_play() {
    let app = Mounted::inline(WORK).await;
    let root = app.find(".qp").unwrap();
    app.key(&root, "ArrowRight");
    app.at(1, 7).await;
    app.key(&root, "End");
    app.at(7, 7).await;
    app.key(&root, "ArrowLeft");
    app.at(6, 7).await;
    app.key(&root, "Home");
    app.at(0, 7).await;
    app.key(&root, " ");
    app.until(|m| m.control.snapshot().playing).await;
    app.key(&root, " ");
    app.until(|m| !m.control.snapshot().playing).await;
    // Typing in the editor is not a shortcut.
    let position = app.control.snapshot().position;
    let editor = app.find("textarea").unwrap();
    app.key(&editor, "ArrowRight");
    sleep(20).await;
    assert_eq!(app.control.snapshot().position, position);
}

#[wasm_bindgen_test]
async fn buttons_step_and_the_step_list_jumps() {
    let app = Mounted::inline(WORK).await;
    app.click(".controls .forward");
    app.at(1, 7).await;
    app.click(".controls .last");
    app.at(7, 7).await;
    app.click(".controls .back");
    app.at(6, 7).await;
    app.click(".controls .first");
    app.at(0, 7).await;
    // The step list: jump to the state after step 4 (the first publish, delivered at once).
    let buttons = app
        .root
        .query_selector_all(".timeline .step-button")
        .unwrap();
    buttons
        .item(3)
        .unwrap()
        .unchecked_into::<web_sys::HtmlElement>()
        .click();
    app.at(4, 7).await;
    let current = app.text(".timeline li.current");
    assert!(current.contains("basic.deliver"), "{current}");
    assert!(current.contains("delivery_tag=1"), "{current}");
}

#[wasm_bindgen_test]
async fn the_inspector_shows_what_was_clicked_and_bodies_stay_text() {
    let app = Mounted::inline(WORK).await;
    app.send(Command::Seek(4)).await;
    app.at(4, 7).await;
    app.click_svg("[data-target='queue:jobs']");
    app.until(|m| m.text(".inspector h2") == "Queue jobs").await;
    assert!(
        app.text(".inspector").contains("stored"),
        "{}",
        app.text(".inspector")
    );
    app.click_svg("[data-target='message:1']");
    app.until(|m| m.text(".inspector h2") == "Message #1").await;
    let inspector = app.find(".inspector").unwrap();
    // The body is markup-looking text: shown as text, never parsed into elements.
    assert_eq!(app.text(".inspector pre.body"), "<b>first</b>");
    assert!(inspector.query_selector("b").unwrap().is_none());
    let text = app.text(".inspector");
    assert!(text.contains("delivery tag1"), "{text}");
    assert!(text.contains("redeliveredno"), "{text}");
    // Enter on a focused node selects it too.
    let consumer = app.find("[data-target='consumer:worker/w1']").unwrap();
    app.key(&consumer, "Enter");
    app.until(|m| m.text(".inspector h2") == "Consumer w1")
        .await;
    assert!(app.text(".inspector").contains("prefetch window1"));
}

#[wasm_bindgen_test]
async fn a_broken_scenario_shows_its_error_and_never_a_blank_page() {
    for (text, expected) in [
        ("{not json", "line 1"),
        (
            r#"{"format":"queue-playground/v1","name":"x","steps":[{"op":"nope"}]}"#,
            "step 0",
        ),
        ("", ""),
    ] {
        let app = Mounted::inline(text).await;
        app.until(|m| m.find("[role=alert]").is_some()).await;
        let alert = app.text("[role=alert]");
        assert!(alert.contains(expected), "{alert:?} for {text:?}");
        assert!(app.find(".qp-topology.empty").is_some());
        assert!(app.control.snapshot().error.is_some());
        assert_eq!(app.control.snapshot().state, None);
    }
}

#[wasm_bindgen_test]
async fn typing_a_mistake_keeps_the_last_good_drawing() {
    let app = Mounted::inline(WORK).await;
    app.send(Command::Seek(3)).await;
    app.at(3, 7).await;
    let area: web_sys::HtmlTextAreaElement = app.find("textarea").unwrap().unchecked_into();
    area.set_value(&WORK.replace("basic.ack", "basic.akc"));
    area.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    app.until(|m| m.find(".qp-topology.stale").is_some()).await;
    assert!(
        app.text(".editor").contains("step 6"),
        "{}",
        app.text(".editor")
    );
    assert_eq!(app.count("[data-target='queue:jobs']"), 1);
    app.at(3, 7).await;
}

#[wasm_bindgen_test]
async fn modes_themes_and_start_step() {
    let compact = Mounted::new(Options {
        scenario: ScenarioSource::Inline(WORK.to_owned()),
        mode: Mode::Compact,
        theme: Theme::Dark,
        start_step: 4,
        ..Options::default()
    })
    .await;
    compact.at(4, 7).await;
    assert!(
        compact.find("textarea").is_none(),
        "no editor in compact mode"
    );
    assert!(compact.find(".inspector").is_none());
    assert!(compact.text(".current-step").contains("basic.deliver"));
    // A docs column gets the narrow drawing, a full page the wide one.
    let view_box = |m: &Mounted| {
        m.find("svg.topology")
            .and_then(|svg| svg.get_attribute("viewBox"))
            .unwrap_or_default()
    };
    assert!(
        view_box(&compact).starts_with("0 0 720 "),
        "{}",
        view_box(&compact)
    );
    assert_eq!(
        compact
            .find(".qp")
            .unwrap()
            .get_attribute("data-theme")
            .as_deref(),
        Some("dark")
    );

    let player = Mounted::new(Options {
        scenario: ScenarioSource::Inline(WORK.to_owned()),
        mode: Mode::Player,
        start_step: 99,
        ..Options::default()
    })
    .await;
    player.at(7, 7).await;
    assert!(view_box(&player).starts_with("0 0 720 "));
    let full = Mounted::inline(WORK).await;
    assert!(
        view_box(&full).starts_with("0 0 1000 "),
        "{}",
        view_box(&full)
    );
    assert!(player.find("textarea").is_none(), "read-only player");
    assert!(player.find(".timeline").is_some());
    assert_eq!(
        player
            .find(".qp")
            .unwrap()
            .get_attribute("data-theme")
            .as_deref(),
        Some("auto")
    );
}

#[wasm_bindgen_test]
async fn autoplay_plays_to_the_end_and_stops() {
    let app = Mounted::new(Options {
        scenario: ScenarioSource::Inline(WORK.to_owned()),
        autoplay: true,
        play_interval_ms: 5,
        ..Options::default()
    })
    .await;
    app.at(7, 7).await;
    app.until(|m| !m.control.snapshot().playing).await;
}

#[wasm_bindgen_test]
async fn an_unknown_preset_says_so_and_shows_the_default() {
    let app = Mounted::new(Options {
        scenario: ScenarioSource::Preset("no-such-preset".to_owned()),
        ..Options::default()
    })
    .await;
    app.until(|m| m.find("[role=alert]").is_some()).await;
    assert!(app.text("[role=alert]").contains("no-such-preset"));
    assert!(app.find("svg.topology").is_some());
    let len = queue_playground::presets::PRESETS[0]
        .text
        .matches("\"op\"")
        .count();
    app.at(0, len).await;
}

#[wasm_bindgen_test]
async fn a_failed_fetch_shows_its_error() {
    let app = Mounted::new(Options {
        scenario: ScenarioSource::Url("/no/such/scenario.json".to_owned()),
        ..Options::default()
    })
    .await;
    app.until(|m| m.find("[role=alert]").is_some()).await;
    assert!(app.text("[role=alert]").contains("/no/such/scenario.json"));
}

#[wasm_bindgen_test]
async fn a_detached_control_no_longer_reaches_the_app() {
    let mut app = Mounted::inline(WORK).await;
    assert!(app.control.send(Command::Step(1)));
    app.handle.take().unwrap().destroy();
    sleep(0).await;
    assert!(!app.control.send(Command::Step(1)));
}

#[wasm_bindgen_test]
async fn an_ack_held_by_a_transaction_stays_with_its_message_until_rollback() {
    let text = r#"{"format":"queue-playground/v1","name":"held","steps":[
        {"op":"queue.declare","queue":"q"},
        {"op":"basic.publish","channel":"p","routing_key":"q","body":"job"},
        {"op":"tx.select","channel":"c"},
        {"op":"basic.get","channel":"c","queue":"q"},
        {"op":"basic.ack","channel":"c","delivery_tag":1},
        {"op":"tx.rollback","channel":"c"}
    ]}"#;
    let app = Mounted::inline(text).await;
    app.send(Command::Seek(4)).await;
    app.at(4, 6).await;
    let fetched = app.find("[data-target='message:1']").unwrap();
    assert!(!has_class(&fetched, "pending-ack"));
    app.send(Command::Step(1)).await;
    app.at(5, 6).await;
    let held = app.find("[data-target='message:1']").unwrap();
    assert!(
        held.is_same_node(Some(&fetched)),
        "the held ack keeps the message's element"
    );
    assert!(has_class(&held, "pending-ack"));
    app.click_svg("[data-target='message:1']");
    app.until(|m| m.text(".inspector h2") == "Message #1").await;
    let inspector = app.text(".inspector");
    assert!(inspector.contains("ack is held"), "{inspector}");
    app.send(Command::Step(1)).await;
    app.at(6, 6).await;
    let back = app.find("[data-target='message:1']").unwrap();
    assert!(back.is_same_node(Some(&fetched)));
    assert!(!has_class(&back, "pending-ack"));
    assert!(app.text(".inspector").contains("delivery tag1"));
}
