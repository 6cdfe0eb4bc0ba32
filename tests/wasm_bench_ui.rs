//! Browser benchmark of the app at 10,000 steps: step forward, step back, a jump back, and the
//! first render, each timed from the command to the page showing it (reducer, layout, Yew's
//! diff, DOM patch and a forced style and layout; not the paint). Side by side: the same moves
//! with the app's reducer alone (seek, state, layout), and with `Timeline::seek` and `state()`
//! alone, the floor any UI pays. The first render is timed in full mode (with the editor holding
//! the whole scenario text) and in compact mode (no editor), beside parsing and playing alone.
//!
//!   CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600 cargo test --release \
//!     --target wasm32-unknown-unknown --test wasm_bench_ui -- --include-ignored --nocapture
#![cfg(target_arch = "wasm32")]

mod browser;

use browser::sleep;

use std::rc::Rc;

use queue_playground::scenario::{parse, Limits};
use queue_playground::timeline::{Timeline, TimelineConfig};
use queue_playground::view::layout::Geometry;
use queue_playground::web::app::App;
use queue_playground::web::options::{AppProps, Command, Control, Mode, Options, ScenarioSource};
use queue_playground::web::state::{Action, AppState};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};
use yew::Reducible;

wasm_bindgen_test_configure!(run_in_browser);

const STEPS: usize = 10_000;

/// A fanout into a consumed queue and a backlog that grows to about 5,000 ready messages (read
/// now and then with a get): the drawing stays small, the broker's state does not.
fn scenario() -> String {
    let mut text = String::from(
        r#"{"format":"queue-playground/v1","name":"bench","steps":[
        {"op":"exchange.declare","exchange":"logs","type":"fanout"},
        {"op":"queue.declare","queue":"jobs"},
        {"op":"queue.declare","queue":"backlog"},
        {"op":"queue.bind","queue":"jobs","exchange":"logs"},
        {"op":"queue.bind","queue":"backlog","exchange":"logs"},
        {"op":"basic.consume","channel":"worker","queue":"jobs","consumer_tag":"c1","no_ack":true}"#,
    );
    for i in 6..STEPS {
        if i % 4 == 3 {
            text.push_str(
                r#",{"op":"basic.get","channel":"reader","queue":"backlog","no_ack":true}"#,
            );
        } else {
            text.push_str(&format!(
                r#",{{"op":"basic.publish","channel":"app","exchange":"logs","body":"message {i}"}}"#
            ));
        }
    }
    text.push_str("]}");
    text
}

fn now() -> f64 {
    web_sys::window().unwrap().performance().unwrap().now()
}

async fn yield_now() {
    JsFuture::from(js_sys::Promise::resolve(&wasm_bindgen::JsValue::NULL))
        .await
        .unwrap();
}

struct Mounted {
    root: web_sys::HtmlElement,
    control: Rc<Control>,
    handle: Option<yew::AppHandle<App>>,
}

impl Mounted {
    fn counter(&self) -> String {
        self.root
            .query_selector(".counter")
            .unwrap()
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    }

    /// Yields to Yew's scheduler until the counter reads `want`, then forces style and layout.
    async fn shown(&self, want: &str) {
        for _ in 0..10_000 {
            if self.counter() == want {
                let _ = self.root.offset_height();
                return;
            }
            yield_now().await;
        }
        panic!("never showed {want:?}; shows {:?}", self.counter());
    }

    fn destroy(mut self) {
        if let Some(h) = self.handle.take() {
            h.destroy();
        }
        self.root.remove();
    }
}

/// Mounts the app on `text` and returns it with the milliseconds until the first drawing.
async fn mount(text: &str, mode: Mode) -> (Mounted, f64) {
    let document = web_sys::window().unwrap().document().unwrap();
    let root: web_sys::HtmlElement = document.create_element("div").unwrap().unchecked_into();
    // The width of a wide screen, so that layout costs what it would.
    root.set_attribute("style", "width: 1280px").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    let control = Rc::new(Control::default());
    let props = AppProps {
        options: Rc::new(Options {
            scenario: ScenarioSource::Inline(text.to_owned()),
            mode,
            ..Options::default()
        }),
        control: control.clone(),
    };
    let start = now();
    let handle = yew::Renderer::<App>::with_root_and_props(root.clone().into(), props).render();
    let app = Mounted {
        root,
        control,
        handle: Some(handle),
    };
    app.shown(&format!("step 0 / {STEPS}")).await;
    let elapsed = now() - start;
    (app, elapsed)
}

#[derive(Clone)]
struct Figures {
    name: &'static str,
    samples: Vec<f64>,
}

impl Figures {
    fn quantile(&self, q: f64) -> f64 {
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        s[((s.len() - 1) as f64 * q).round() as usize]
    }
}

/// One operation: the app's figures, then the reducer's alone, then the bare timeline's.
fn table(rows: &[(Figures, Option<Figures>, Option<Figures>)]) {
    console_log!(
        "{:<22} {:>9} {:>9} {:>5} | {:>14} | {:>12} {:>8}",
        "operation (ms)",
        "median",
        "p95",
        "n",
        "reducer median",
        "seek median",
        "app/seek"
    );
    let median = |f: &Option<Figures>| {
        f.as_ref()
            .map_or("-".to_owned(), |f| format!("{:.3}", f.quantile(0.5)))
    };
    for (app, reducer, seek) in rows {
        let ratio = seek.as_ref().map_or("-".to_owned(), |s| {
            format!("{:.0}×", app.quantile(0.5) / s.quantile(0.5).max(0.001))
        });
        console_log!(
            "{:<22} {:>9.3} {:>9.3} {:>5} | {:>14} | {:>12} {:>8}",
            app.name,
            app.quantile(0.5),
            app.quantile(0.95),
            app.samples.len(),
            median(reducer),
            median(seek),
            ratio
        );
    }
}

/// Step forward 150 times from `from`, back as many, then 60 jumps from the end.
async fn stepping(
    text: &str,
    mode: Mode,
    from: usize,
    suffix: &str,
) -> (Figures, Figures, Figures) {
    let (app, _) = mount(text, mode).await;
    app.control.send(Command::Seek(from));
    app.shown(&format!("step {from} / {STEPS}")).await;
    let name = |what: &str| -> &'static str { format!("{what}{suffix}").leak() };
    let mut forward = Figures {
        name: name("step forward"),
        samples: Vec::new(),
    };
    for k in from + 1..=from + 150 {
        let start = now();
        app.control.send(Command::Step(1));
        app.shown(&format!("step {k} / {STEPS}")).await;
        forward.samples.push(now() - start);
    }
    let mut back = Figures {
        name: name("step back"),
        samples: Vec::new(),
    };
    for k in (from..from + 150).rev() {
        let start = now();
        app.control.send(Command::Step(-1));
        app.shown(&format!("step {k} / {STEPS}")).await;
        back.samples.push(now() - start);
    }
    let mut jump = Figures {
        name: name("jump back"),
        samples: Vec::new(),
    };
    for k in jumps(60) {
        // From the end each time: the farthest a jump goes.
        app.control.send(Command::Seek(STEPS));
        app.shown(&format!("step {STEPS} / {STEPS}")).await;
        let start = now();
        app.control.send(Command::Seek(k));
        app.shown(&format!("step {k} / {STEPS}")).await;
        jump.samples.push(now() - start);
    }
    app.destroy();
    (forward, back, jump)
}

/// Jump targets spread over the scenario, the same every run.
fn jumps(n: usize) -> Vec<usize> {
    (0..n).map(|i| (i * 7919 + 1234) % STEPS).collect()
}

#[wasm_bindgen_test]
#[ignore = "benchmark: run with --release -- --include-ignored --nocapture"]
async fn step_latency_at_10000_steps() {
    let text = scenario();
    let mut first = Figures {
        name: "first render",
        samples: Vec::new(),
    };
    let mut first_compact = Figures {
        name: "first render, compact",
        samples: Vec::new(),
    };
    for _ in 0..4 {
        for (mode, figures) in [
            (Mode::Full, &mut first),
            (Mode::Compact, &mut first_compact),
        ] {
            let (app, ms) = mount(&text, mode).await;
            figures.samples.push(ms);
            app.destroy();
            sleep(0).await;
        }
    }
    // Near the end, where the backlog is largest.
    let from = STEPS - 400;
    let (forward, back, jump) = stepping(&text, Mode::Full, from, "").await;
    let (c_forward, c_back, c_jump) = stepping(&text, Mode::Compact, from, ", compact").await;

    // The floor: the same moves on a bare timeline, with the state built as the app builds it.
    let scenario = parse(&text, &Limits::default()).unwrap();
    let mut timeline = Timeline::new(scenario, TimelineConfig::default());
    let mut seek = |to: usize| {
        let start = now();
        timeline.seek(to);
        std::hint::black_box(timeline.state());
        now() - start
    };
    seek(from);
    let seek_forward = Figures {
        name: "seek forward",
        samples: (from + 1..=from + 150).map(&mut seek).collect(),
    };
    let seek_back = Figures {
        name: "seek back",
        samples: (from..from + 150).rev().map(&mut seek).collect(),
    };
    let seek_jump = Figures {
        name: "seek jump",
        samples: jumps(60)
            .into_iter()
            .map(|k| {
                seek(STEPS);
                seek(k)
            })
            .collect(),
    };

    // The app's reducer alone (seek, state, layout), without Yew or the DOM.
    let mut state = Rc::new(AppState::new(0, false, 700, Geometry::WIDE)).reduce(Action::Load {
        text: text.clone(),
        notice: None,
    });
    let mut reduce = |action: Action| {
        let start = now();
        state = state.clone().reduce(action);
        now() - start
    };
    reduce(Action::Seek(from));
    let reducer_forward = Figures {
        name: "reducer forward",
        samples: (0..150).map(|_| reduce(Action::Step(1))).collect(),
    };
    let reducer_back = Figures {
        name: "reducer back",
        samples: (0..150).map(|_| reduce(Action::Step(-1))).collect(),
    };
    let reducer_jump = Figures {
        name: "reducer jump",
        samples: jumps(60)
            .into_iter()
            .map(|k| {
                reduce(Action::Seek(STEPS));
                reduce(Action::Seek(k))
            })
            .collect(),
    };
    let load = Figures {
        name: "load (parse and play)",
        samples: (0..4)
            .map(|_| {
                let start = now();
                let s = parse(&text, &Limits::default()).unwrap();
                std::hint::black_box(Timeline::new(s, TimelineConfig::default()));
                now() - start
            })
            .collect(),
    };

    console_log!("queue-playground UI at {STEPS} steps (about 5,000 ready messages near the end)");
    table(&[
        (
            forward,
            Some(reducer_forward.clone()),
            Some(seek_forward.clone()),
        ),
        (back, Some(reducer_back.clone()), Some(seek_back.clone())),
        (jump, Some(reducer_jump.clone()), Some(seek_jump.clone())),
        (c_forward, Some(reducer_forward), Some(seek_forward)),
        (c_back, Some(reducer_back), Some(seek_back)),
        (c_jump, Some(reducer_jump), Some(seek_jump)),
        (first, None, Some(load.clone())),
        (first_compact, None, Some(load)),
    ]);
}
