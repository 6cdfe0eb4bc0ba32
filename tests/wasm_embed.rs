//! Embeds in a real page (headless Chromium): options from attributes and from objects, with
//! errors naming the option; two playgrounds on one page, each with its own engine; destroy.
//!
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test --target wasm32-unknown-unknown --test wasm_embed`
#![cfg(target_arch = "wasm32")]

mod browser;

use browser::sleep;

use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Document, Element};

use queue_playground::web::embed::{
    mount, options_from_element, options_from_object, PlaygroundHandle,
};
use queue_playground::web::options::{Mode, Options, ScenarioSource, Theme};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> Document {
    web_sys::window().unwrap().document().unwrap()
}

/// An element with these attributes, in the page.
fn element(tag: &str, attributes: &[(&str, &str)]) -> Element {
    let e = document().create_element(tag).unwrap();
    for (name, value) in attributes {
        e.set_attribute(name, value).unwrap();
    }
    document().body().unwrap().append_child(&e).unwrap();
    e
}

/// A JavaScript object from JSON text.
fn object(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

fn message(error: wasm_bindgen::JsError) -> String {
    JsValue::from(error)
        .dyn_into::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|v| format!("not an Error: {v:?}"))
}

fn get(value: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(value.clone(), |v, key| {
        Reflect::get(&v, &key.into()).unwrap()
    })
}

/// Waits (at most 10 s) until the handle's state passes `ready`.
async fn until(handle: &PlaygroundHandle, what: &str, ready: impl Fn(&JsValue) -> bool) -> JsValue {
    for _ in 0..200 {
        let state = handle.state().map_err(message).unwrap();
        if ready(&state) {
            return state;
        }
        sleep(50).await;
    }
    panic!("timed out waiting for {what}");
}

fn position(state: &JsValue) -> f64 {
    get(state, "position").as_f64().unwrap()
}

#[wasm_bindgen_test]
fn attributes_of_the_element_and_of_a_div_give_options() {
    let host = element(
        "queue-playground",
        &[
            ("id", "acks"),
            ("mode", "compact"),
            ("theme", "dark"),
            ("autoplay", ""),
            ("start-step", "3"),
            ("persist", "on"),
            ("play-interval", "250"),
            ("preset", "work-queue"),
        ],
    );
    assert_eq!(
        options_from_element(&host),
        Ok(Options {
            id: "acks".into(),
            scenario: ScenarioSource::Preset("work-queue".into()),
            mode: Mode::Compact,
            autoplay: true,
            start_step: 3,
            theme: Theme::Dark,
            persistence: true,
            play_interval_ms: 250,
            url_fragment: false,
        })
    );

    // On a div the names take `data-`; plain attributes are not options there.
    let div = element(
        "div",
        &[
            ("data-queue-playground", ""),
            ("data-mode", "player"),
            ("mode", "full"),
        ],
    );
    let script = document().create_element("script").unwrap();
    script.set_attribute("type", "application/json").unwrap();
    script.set_text_content(Some(r#"{"format": "queue-playground/v1", "steps": []}"#));
    div.append_child(&script).unwrap();
    let options = options_from_element(&div).unwrap();
    assert_eq!(options.mode, Mode::Player);
    assert_eq!(
        options.scenario,
        ScenarioSource::Inline(r#"{"format": "queue-playground/v1", "steps": []}"#.into())
    );
    // Without persistence, a page-unique storage id.
    assert!(options.id.starts_with("embed-"), "{}", options.id);
    let other = options_from_element(&element("div", &[("data-queue-playground", "")])).unwrap();
    assert_ne!(options.id, other.id);
    assert!(!options.persistence && !options.autoplay);
}

#[wasm_bindgen_test]
fn refused_attribute_values_name_the_attribute() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("queue-playground", &[("mode", "huge")]),
        ("div", &[("data-theme", "blue")]),
        ("queue-playground", &[("autoplay", "yes")]),
        ("queue-playground", &[("start-step", "-1")]),
        ("div", &[("data-start-step", "two")]),
        ("queue-playground", &[("play-interval", "5")]),
        ("queue-playground", &[("preset", "nope")]),
        ("queue-playground", &[("persist", "")]),
        (
            "queue-playground",
            &[("id", "two words"), ("persist", "on")],
        ),
        (
            "queue-playground",
            &[("src", "a.json"), ("preset", "work-queue")],
        ),
    ];
    let presets: Vec<&str> = queue_playground::presets::PRESETS
        .iter()
        .map(|p| p.id)
        .collect();
    let presets = presets.join(", ");
    let messages: Vec<String> = cases
        .iter()
        .map(
            |(tag, attributes)| match options_from_element(&element(tag, attributes)) {
                Ok(o) => format!("accepted: {o:?}"),
                Err(e) => e.to_string(),
            },
        )
        .collect();
    assert_eq!(
        messages,
        [
            "option `mode`: got \"huge\", expected `full`, `compact` or `player`",
            "option `data-theme`: got \"blue\", expected `auto`, `light` or `dark`",
            "option `autoplay`: got \"yes\", expected `on` or `off` (or no value: on)",
            "option `start-step`: got \"-1\", expected a whole number of steps, 0 or more",
            "option `data-start-step`: got \"two\", expected a whole number of steps, 0 or more",
            "option `play-interval`: got \"5\", expected milliseconds from 50 to 60000",
            &format!("option `preset`: got \"nope\", expected one of the presets: {presets}"),
            "option `id`: got \"\", expected a stable id when `persist` is on, such as \"acks-demo\": \
             the stored broker is named after it",
            "option `id`: got \"two words\", expected 1 to 64 letters, digits, `-`, `_` or `.`",
            "option `preset`: got \"work-queue\", expected one scenario only: `scenario`, `src`, \
             `preset` or a <script type=\"application/json\"> child",
        ]
    );
}

#[wasm_bindgen_test]
fn option_objects_keep_their_types_and_refuse_unknown_keys() {
    let options = options_from_object(&object(
        r#"{"scenario": {"format": "queue-playground/v1", "steps": []}, "mode": "player",
            "startStep": 2, "autoplay": true, "persist": false, "urlFragment": true}"#,
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        options.scenario,
        ScenarioSource::Inline(r#"{"format":"queue-playground/v1","steps":[]}"#.into())
    );
    assert_eq!(
        (options.mode, options.start_step, options.autoplay),
        (Mode::Player, 2, true)
    );
    assert!(options.url_fragment);
    assert_eq!(
        options_from_object(&JsValue::UNDEFINED)
            .unwrap()
            .unwrap()
            .scenario,
        ScenarioSource::Default
    );

    let refused = [
        r#"{"startStep": "2"}"#,
        r#"{"startStep": 1.5}"#,
        r#"{"autoplay": "true"}"#,
        r#"{"scenario": 7}"#,
        r#"{"persist": true}"#,
        r#"{"scenario": "{}", "src": "x.json"}"#,
    ]
    .iter()
    .map(|json| match options_from_object(&object(json)) {
        Ok(Ok(o)) => format!("accepted: {o:?}"),
        Ok(Err(e)) => e.to_string(),
        Err(e) => message(e),
    })
    .collect::<Vec<_>>();
    assert_eq!(
        refused,
        [
            "option `startStep`: got \"2\", expected a whole number of steps, 0 or more",
            "option `startStep`: got \"1.5\", expected a whole number of steps, 0 or more",
            "option `autoplay`: got \"true\", expected true or false",
            "option `scenario`: got \"7\", expected scenario JSON (text or an object)",
            "option `id`: got \"\", expected a stable id when `persist` is on, such as \"acks-demo\": \
             the stored broker is named after it",
            "option `src`: got \"x.json\", expected one scenario only: `scenario`, `src`, `preset` \
             or a <script type=\"application/json\"> child",
        ]
    );

    // Arguments that are not options at all throw.
    let thrown = [
        object(r#"{"mdoe": "full"}"#),
        object("[]"),
        JsValue::from("full"),
    ]
    .iter()
    .map(|v| message(options_from_object(v).err().unwrap()))
    .collect::<Vec<_>>();
    assert_eq!(
        thrown,
        [
            "mount: unknown option `mdoe`; the options are scenario, src, preset, mode, theme, \
             autoplay, startStep, persist, id, playInterval, urlFragment",
            "mount: expected an options object as the second argument, got an array",
            "mount: expected an options object as the second argument, got a string",
        ]
    );
}

#[wasm_bindgen_test]
fn mount_throws_for_arguments_it_cannot_use_and_shows_refused_options() {
    let thrown = message(mount(JsValue::from("#app"), None).err().unwrap());
    assert_eq!(
        thrown,
        "mount: expected an element as the first argument, got a string"
    );
    let img = element("img", &[]);
    let thrown = message(mount(img.into(), None).err().unwrap());
    assert_eq!(
        thrown,
        "mount: a <img> cannot hold a playground; use a <div>"
    );

    let host = element("div", &[]);
    let handle = mount(host.clone().into(), Some(object(r#"{"mode": "huge"}"#))).unwrap();
    let expected = "option `mode`: got \"huge\", expected `full`, `compact` or `player`";
    let state = handle.state().map_err(message).unwrap();
    assert_eq!(get(&state, "error").as_string().as_deref(), Some(expected));
    let alert = host
        .shadow_root()
        .unwrap()
        .query_selector("[role=alert]")
        .unwrap()
        .unwrap();
    assert_eq!(alert.text_content().as_deref(), Some(expected));
    // Shown as text: the message's quotes and brackets are not markup.
    assert_eq!(alert.child_element_count(), 0);
    // Commands have nothing to drive and change nothing.
    handle.step(None).map_err(message).unwrap();
    let after = handle.state().map_err(message).unwrap();
    assert_eq!(position(&after), 0.0);
    assert_eq!(get(&after, "error").as_string().as_deref(), Some(expected));

    let thrown = message(mount(host.clone().into(), None).err().unwrap());
    assert!(thrown.contains("already holds a playground"), "{thrown}");
    handle.destroy();
    // Destroyed, the element takes a new playground (in the shadow root it already has).
    let again = mount(host.into(), None).unwrap();
    again.destroy();
}

const COUNTER: &str = r#"{"format": "queue-playground/v1", "name": "counter", "steps": [
    {"op": "queue.declare", "queue": "q"},
    {"op": "basic.publish", "routing_key": "q", "body": "1"},
    {"op": "basic.publish", "routing_key": "q", "body": "2"},
    {"op": "basic.publish", "routing_key": "q", "body": "3"}]}"#;

fn ready_in(state: &JsValue, queue: &str) -> Option<f64> {
    let queues: js_sys::Array = get(state, "broker.queues").dyn_into().ok()?;
    queues
        .iter()
        .find(|q| get(q, "name").as_string().as_deref() == Some(queue))
        .and_then(|q| get(&q, "messages_ready").as_f64())
}

#[wasm_bindgen_test]
async fn two_embeds_on_one_page_have_their_own_engine_and_storage_id() {
    let (a_host, b_host) = (element("div", &[]), element("div", &[]));
    let options = Object::new();
    Reflect::set(&options, &"scenario".into(), &COUNTER.into()).unwrap();
    let a = mount(a_host.clone().into(), Some(options.clone().into())).unwrap();
    let b = mount(b_host.clone().into(), Some(options.into())).unwrap();
    assert_ne!(a.id(), b.id());
    // The page's handle property is the same playground.
    let via_element = get(&a_host, "playground");
    assert!(!via_element.is_undefined());

    until(&a, "a to load", |s| get(s, "length").as_f64() == Some(4.0)).await;
    until(&b, "b to load", |s| get(s, "length").as_f64() == Some(4.0)).await;
    a.seek(4).unwrap();
    b.step(Some(2)).unwrap();
    let a_state = until(&a, "a at 4", |s| position(s) == 4.0).await;
    let b_state = until(&b, "b at 2", |s| position(s) == 2.0).await;
    assert_eq!(ready_in(&a_state, "q"), Some(3.0));
    assert_eq!(ready_in(&b_state, "q"), Some(1.0));
    b.back().unwrap();
    until(&b, "b at 1", |s| position(s) == 1.0).await;
    assert_eq!(position(&a.state().map_err(message).unwrap()), 4.0);

    // Each shadow root holds its own style sheet and app.
    for host in [&a_host, &b_host] {
        let root = host.shadow_root().unwrap();
        assert!(root.query_selector("style").unwrap().is_some());
        assert!(
            root.query_selector(".qp-embed")
                .unwrap()
                .unwrap()
                .child_element_count()
                > 0
        );
    }

    a.destroy();
    assert_eq!(a_host.shadow_root().unwrap().child_nodes().length(), 0);
    assert!(get(&a_host, "playground").is_undefined());
    assert_eq!(
        message(a.step(None).err().unwrap()),
        "this playground was destroyed"
    );
    // The other one is untouched.
    assert_eq!(position(&b.state().map_err(message).unwrap()), 1.0);
    b.destroy();
}
