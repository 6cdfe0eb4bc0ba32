//! The editing and sharing components in a real browser: each is rendered into a div, driven
//! through the DOM, and checked on what it shows and what its callbacks receive.
//! `cargo test --target wasm32-unknown-unknown --test wasm_tools`.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use queue_playground::presets::find;
use queue_playground::scenario::{parse, Limits, Scenario, Step};
use queue_playground::timeline::{Timeline, TimelineConfig};
use queue_playground::view::series::Series;
use queue_playground::web::editor::{Editor, EditorProps};
use queue_playground::web::palette::{Palette, PaletteProps};
use queue_playground::web::plots::{Plots, PlotsProps, MAX_POINTS};
use queue_playground::web::share_bar::{ShareBar, ShareBarProps, FRAGMENT_DEBOUNCE_MS};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::{AttrValue, Callback};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

fn fresh_root() -> Element {
    let div = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&div).unwrap();
    div
}

/// Lets Yew render what the last change scheduled.
async fn settle() {
    yew::platform::time::sleep(Duration::from_millis(20)).await;
}

fn find_in<T: JsCast>(root: &Element, selector: &str) -> T {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no {selector} in {}", root.inner_html()))
        .dyn_into::<T>()
        .unwrap_or_else(|_| panic!("{selector} is not the expected element"))
}

fn all_in(root: &Element, selector: &str) -> Vec<Element> {
    let list = root.query_selector_all(selector).unwrap();
    (0..list.length())
        .filter_map(|i| list.get(i))
        .filter_map(|n| n.dyn_into::<Element>().ok())
        .collect()
}

fn text_of(root: &Element, selector: &str) -> String {
    find_in::<Element>(root, selector)
        .text_content()
        .unwrap_or_default()
}

fn click(root: &Element, selector: &str) {
    find_in::<HtmlElement>(root, selector).click();
}

/// A bubbling DOM event (Yew listens at its root) of class `class` (`Event`, `MouseEvent`,
/// ...), built through JavaScript so that no extra web-sys features are needed.
fn event(class: &str, name: &str, fields: &[(&str, JsValue)]) -> web_sys::Event {
    let init = js_sys::Object::new();
    js_sys::Reflect::set(&init, &"bubbles".into(), &true.into()).unwrap();
    for (k, v) in fields {
        js_sys::Reflect::set(&init, &(*k).into(), v).unwrap();
    }
    let class: js_sys::Function = js_sys::Reflect::get(&js_sys::global(), &class.into())
        .unwrap()
        .unchecked_into();
    let args = js_sys::Array::of2(&name.into(), &init);
    js_sys::Reflect::construct(&class, &args)
        .unwrap()
        .unchecked_into()
}

fn dispatch(target: &Element, name: &str) {
    target.dispatch_event(&event("Event", name, &[])).unwrap();
}

/// A DOM property as a boolean (`disabled`, ...).
fn flag(element: &Element, property: &str) -> bool {
    js_sys::Reflect::get(element, &property.into())
        .unwrap()
        .as_bool()
        .unwrap_or(false)
}

/// Collects what a callback receives.
fn recorder<T: 'static>() -> (Callback<T>, Rc<RefCell<Vec<T>>>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    (Callback::from(move |v| sink.borrow_mut().push(v)), seen)
}

fn preset(id: &str) -> Scenario {
    parse(find(id).unwrap().text, &Limits::default()).unwrap()
}

// ---- editor ----

const BAD: &str = "{\n  \"format\": \"queue-playground/v1\",\n  \"steps\": [\n    {\"op\": \"queue.declare\", \"queue\": \"q\"},\n    {\"op\": \"basic.qos\", \"prefetch_count\": \"one\"}\n  ]\n}";

#[wasm_bindgen_test]
async fn editor_points_at_the_step_and_field_of_an_error() {
    let error = parse(BAD, &Limits::default()).unwrap_err();
    assert_eq!(error.step, Some(1));
    let root = fresh_root();
    let (on_change, changes) = recorder::<String>();
    yew::Renderer::<Editor>::with_root_and_props(
        root.clone(),
        EditorProps {
            text: AttrValue::from(BAD),
            error: Some(Rc::new(error)),
            readonly: false,
            on_change,
        },
    )
    .render();
    settle().await;

    // Seven lines, the fifth marked.
    let gutter = text_of(&root, ".gutter");
    assert_eq!(gutter, "1\n2\n3\n4\n5\n6\n7");
    assert_eq!(text_of(&root, ".gutter mark.error-line"), "5");
    let alert = text_of(&root, "[role=alert]");
    assert!(
        alert.starts_with("line 5, column 25: step 1 (basic.qos), field `prefetch_count`"),
        "{alert}"
    );
    let area: HtmlTextAreaElement = find_in(&root, "textarea");
    assert_eq!(area.get_attribute("aria-invalid").as_deref(), Some("true"));

    click(&root, "button.go-to-error");
    settle().await;
    let start = area.selection_start().unwrap().unwrap() as usize;
    let end = area.selection_end().unwrap().unwrap() as usize;
    assert_eq!(&BAD[start..end], "\"prefetch_count\": \"one\"");

    area.set_value("{}");
    dispatch(&area, "input");
    assert_eq!(changes.borrow().as_slice(), ["{}".to_owned()]);
}

#[wasm_bindgen_test]
async fn editor_without_error_shows_no_alert_and_respects_readonly() {
    let root = fresh_root();
    yew::Renderer::<Editor>::with_root_and_props(
        root.clone(),
        EditorProps {
            text: AttrValue::from("{\n}"),
            error: None,
            readonly: true,
            on_change: Callback::noop(),
        },
    )
    .render();
    settle().await;
    assert!(root.query_selector("[role=alert]").unwrap().is_none());
    assert!(root.query_selector("mark").unwrap().is_none());
    assert_eq!(text_of(&root, ".gutter"), "1\n2");
    let area: HtmlTextAreaElement = find_in(&root, "textarea");
    assert!(area.read_only());
}

#[wasm_bindgen_test]
async fn editor_shows_a_syntax_error_at_its_line() {
    let text = "{\n  \"format\": \"queue-playground/v1\"\n  \"steps\": []\n}";
    let error = parse(text, &Limits::default()).unwrap_err();
    let root = fresh_root();
    yew::Renderer::<Editor>::with_root_and_props(
        root.clone(),
        EditorProps {
            text: AttrValue::from(text),
            error: Some(Rc::new(error)),
            readonly: false,
            on_change: Callback::noop(),
        },
    )
    .render();
    settle().await;
    assert_eq!(text_of(&root, "mark.error-line"), "3");
    assert!(text_of(&root, "[role=alert]").starts_with("line 3, column 3: "));
}

// ---- palette ----

fn state_after(s: &Scenario) -> Rc<queue_playground::engine::state::BrokerState> {
    let mut t = Timeline::new(s.clone(), TimelineConfig::default());
    t.seek(s.steps.len());
    Rc::new(t.state())
}

#[wasm_bindgen_test]
async fn palette_appends_a_step_from_its_form() {
    let s = preset("work-queue");
    // Stop before the acks, so deliveries are unacked at the cursor.
    let mut early = s.clone();
    early.steps.truncate(5);
    let root = fresh_root();
    let (on_append, appended) = recorder::<Step>();
    yew::Renderer::<Palette>::with_root_and_props(
        root.clone(),
        PaletteProps {
            scenario: Some(Rc::new(s.clone())),
            state: Some(state_after(&early)),
            on_append,
        },
    )
    .render();
    settle().await;

    // basic.publish first, prefilled with the scenario's names.
    let routing_key: HtmlInputElement = find_in(&root, "input[name=routing_key]");
    assert_eq!(routing_key.value(), "task_queue");
    let persistent: HtmlInputElement = find_in(&root, "input[name=persistent]");
    persistent.set_checked(true);
    dispatch(&persistent, "change");
    settle().await;
    click(&root, "button.append");
    settle().await;
    {
        let steps = appended.borrow();
        assert_eq!(steps.len(), 1);
        assert_eq!(
            steps[0].to_json().to_string(),
            r#"{"body":"hello","channel":"producer","exchange":"","op":"basic.publish","properties":{"delivery_mode":2},"routing_key":"task_queue"}"#
        );
    }

    // Another op: its fields replace the form's, and a bad value is explained, not appended.
    let select: HtmlSelectElement = find_in(&root, "select[name=op]");
    select.set_value("basic.ack");
    dispatch(&select, "change");
    settle().await;
    assert!(root.query_selector("input[name=body]").unwrap().is_none());
    let tag: HtmlInputElement = find_in(&root, "input[name=delivery_tag]");
    tag.set_value("");
    dispatch(&tag, "input");
    settle().await;
    click(&root, "button.append");
    settle().await;
    assert_eq!(appended.borrow().len(), 1);
    let alert = text_of(&root, ".add-step [role=alert]");
    assert!(alert.contains("delivery_tag"), "{alert}");

    // Live actions: the unacked delivery can be acked, its consumer crashed.
    let subjects: Vec<String> = all_in(&root, ".live-delivery .subject")
        .iter()
        .map(|e| e.text_content().unwrap_or_default())
        .collect();
    assert_eq!(subjects, ["worker #1 task_queue \u{201c}order #1\u{201d}"]);
    click(&root, ".live-delivery button.live-action");
    click(&root, ".live-consumer button.live-action");
    settle().await;
    let steps: Vec<String> = appended.borrow()[1..]
        .iter()
        .map(|s| s.to_json().to_string())
        .collect();
    assert_eq!(
        steps,
        [
            r#"{"channel":"worker","delivery_tag":1,"op":"basic.ack"}"#,
            r#"{"channel":"worker","op":"channel.close"}"#
        ]
    );
}

#[wasm_bindgen_test]
async fn palette_is_disabled_while_the_scenario_is_refused() {
    let root = fresh_root();
    let (on_append, appended) = recorder::<Step>();
    yew::Renderer::<Palette>::with_root_and_props(
        root.clone(),
        PaletteProps {
            scenario: None,
            state: None,
            on_append,
        },
    )
    .render();
    settle().await;
    let fieldset: Element = find_in(&root, "fieldset");
    assert!(flag(&fieldset, "disabled"));
    assert!(root.query_selector(".live").unwrap().is_none());
    click(&root, "button.append");
    settle().await;
    assert!(appended.borrow().is_empty());
}

// ---- plots ----

fn long_series(steps: usize) -> Series {
    let mut text = String::from(
        r#"{"format":"queue-playground/v1","steps":[{"op":"queue.declare","queue":"q"}"#,
    );
    for i in 1..steps {
        if i % 4 == 3 {
            text.push_str(r#",{"op":"basic.get","queue":"q","no_ack":true}"#);
        } else {
            text.push_str(&format!(
                r#",{{"op":"basic.publish","routing_key":"q","body":"{i}"}}"#
            ));
        }
    }
    text.push_str("]}");
    let s = parse(&text, &Limits::default()).unwrap();
    Series::new(&Timeline::new(s, TimelineConfig::default()))
}

#[wasm_bindgen_test]
async fn plots_draw_the_cursor_and_seek_on_click() {
    let s = preset("work-queues");
    let series = Rc::new(Series::new(&Timeline::new(
        s.clone(),
        TimelineConfig::default(),
    )));
    let len = series.len;
    let root = fresh_root();
    root.set_attribute("style", "width: 400px").unwrap();
    let (on_seek, seeks) = recorder::<usize>();
    yew::Renderer::<Plots>::with_root_and_props(
        root.clone(),
        PlotsProps {
            series: series.clone(),
            position: 7,
            on_seek,
        },
    )
    .render();
    settle().await;
    let svgs = all_in(&root, "svg");
    assert_eq!(svgs.len(), 3);
    let cursor = find_in::<Element>(&root, "svg line.cursor");
    let x: f64 = cursor.get_attribute("x1").unwrap().parse().unwrap();
    assert!((x - 7.0 * 300.0 / len as f64).abs() < 1e-6, "{x}");
    // The legend shows the values at the cursor: task_queue's depth after 7 steps.
    let legend = text_of(&root, ".plot .legend");
    assert!(legend.contains("task_queue"), "{legend}");
    assert_eq!(svgs[0].get_attribute("aria-valuenow").as_deref(), Some("7"));

    // A click three quarters across seeks three quarters through.
    let rect = svgs[0].get_bounding_client_rect();
    let e = event(
        "MouseEvent",
        "click",
        &[
            ("clientX", (rect.left() + rect.width() * 0.75).into()),
            ("clientY", (rect.top() + 5.0).into()),
        ],
    );
    svgs[0].dispatch_event(&e).unwrap();
    let expected = (0.75 * len as f64).round() as usize;
    let got = seeks.borrow()[0];
    assert!(got.abs_diff(expected) <= 1, "{got} vs {expected}");

    let e = event("KeyboardEvent", "keydown", &[("key", "ArrowRight".into())]);
    svgs[2].dispatch_event(&e).unwrap();
    assert_eq!(seeks.borrow()[1], 8);
}

#[wasm_bindgen_test]
async fn plots_of_a_long_timeline_are_decimated() {
    let series = Rc::new(long_series(10_000));
    let root = fresh_root();
    yew::Renderer::<Plots>::with_root_and_props(
        root.clone(),
        PlotsProps {
            series,
            position: 10_000,
            on_seek: Callback::noop(),
        },
    )
    .render();
    settle().await;
    let paths = all_in(&root, "path.line");
    assert_eq!(paths.len(), 2 + 3);
    for p in paths {
        let d = p.get_attribute("d").unwrap();
        let points = d.matches('H').count() + 1;
        assert!(points <= MAX_POINTS, "{points} points");
        assert!(points > MAX_POINTS / 2, "{points} points");
    }
}

#[wasm_bindgen_test]
async fn plots_of_nothing_say_so() {
    let root = fresh_root();
    yew::Renderer::<Plots>::with_root_and_props(
        root.clone(),
        PlotsProps {
            series: Rc::new(Series::default()),
            position: 0,
            on_seek: Callback::noop(),
        },
    )
    .render();
    settle().await;
    assert!(root.query_selector("svg").unwrap().is_none());
    assert!(text_of(&root, ".plots").contains("No steps"));
}

// ---- share bar ----

#[wasm_bindgen_test]
async fn share_bar_keeps_the_fragment_in_step_and_copies_a_link() {
    let text = find("topics").unwrap().text;
    let root = fresh_root();
    let (on_import, imported) = recorder::<String>();
    yew::Renderer::<ShareBar>::with_root_and_props(
        root.clone(),
        ShareBarProps {
            text: AttrValue::from(text),
            on_import,
            url_fragment: true,
        },
    )
    .render();
    let location = web_sys::window().unwrap().location();
    let history_length = web_sys::window()
        .unwrap()
        .history()
        .unwrap()
        .length()
        .unwrap();
    yew::platform::time::sleep(Duration::from_millis(u64::from(FRAGMENT_DEBOUNCE_MS) + 200)).await;
    let hash = location.hash().unwrap();
    assert_eq!(queue_playground::share::decode(&hash).as_deref(), Ok(text));
    // Replaced, not pushed: the back button is not filled with edits.
    assert_eq!(
        web_sys::window()
            .unwrap()
            .history()
            .unwrap()
            .length()
            .unwrap(),
        history_length
    );

    click(&root, "button.copy-link");
    yew::platform::time::sleep(Duration::from_millis(200)).await;
    let link: HtmlInputElement = find_in(&root, "input.share-link");
    let url = link.value();
    let fragment = url.split_once('#').unwrap().1;
    assert_eq!(
        queue_playground::share::decode(fragment).as_deref(),
        Ok(text)
    );
    assert!(link.read_only());

    // Import: a chosen file's text goes to `on_import`.
    let input: HtmlInputElement = find_in(&root, "input[type=file]");
    let transfer = js_sys::eval("new DataTransfer()").unwrap();
    let parts = js_sys::Array::of1(&JsValue::from_str("{\"imported\": true}"));
    let file = web_sys::File::new_with_str_sequence(&parts, "mine.json").unwrap();
    let items = js_sys::Reflect::get(&transfer, &"items".into()).unwrap();
    let add: js_sys::Function = js_sys::Reflect::get(&items, &"add".into()).unwrap().into();
    add.call1(&items, &file).unwrap();
    let files = js_sys::Reflect::get(&transfer, &"files".into()).unwrap();
    js_sys::Reflect::set(&input, &"files".into(), &files).unwrap();
    dispatch(&input, "change");
    yew::platform::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        imported.borrow().as_slice(),
        ["{\"imported\": true}".to_owned()]
    );
}

#[wasm_bindgen_test]
async fn share_bar_offers_code_export_only_for_a_valid_scenario() {
    let root = fresh_root();
    yew::Renderer::<ShareBar>::with_root_and_props(
        root.clone(),
        ShareBarProps {
            text: AttrValue::from("{ not json"),
            on_import: Callback::noop(),
            url_fragment: false,
        },
    )
    .render();
    settle().await;
    for selector in [
        "button.export-pika",
        "button.export-lapin",
        "button.export-definitions",
    ] {
        assert!(
            flag(&find_in::<Element>(&root, selector), "disabled"),
            "{selector}"
        );
    }
    let json: HtmlElement = find_in(&root, "button.export-json");
    assert!(!flag(&json, "disabled"));
    // Exporting broken text as JSON still works (it is the reader's file): no error shown.
    json.click();
    settle().await;
    assert!(root.query_selector("[role=alert]").unwrap().is_none());
}
