//! The app: loads the scenario the options name, plays it into a timeline, and shows the
//! topology at the cursor with the controls, the steps and their events, the inspector, and
//! (full mode) the editor, palette, plots and share bar.
//!
//! Everything the user typed and every message body is shown through Yew text nodes, which the
//! DOM escapes; nothing here builds HTML from strings.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use yew::prelude::*;

use super::editor::Editor;
use super::inspector::inspector;
use super::options::{AppProps, Command, Mode, ScenarioSource, Snapshot, Theme};
use super::palette::Palette;
use super::persist::{Persistence, StorageStatus};
use super::plots::Plots;
use super::share_bar::ShareBar;
use super::state::{Action, AppState, Notice};
use super::timeline_view::{current_step, step_list, Controls};
use super::topology::Topology;
use crate::presets::{self, PRESETS};
use crate::trace::{self, TraceEvent};
use crate::view::layout::{Geometry, Target};

/// The scenario the app opens with when nothing else is asked for: the first preset.
pub const DEFAULT_SCENARIO: &str = crate::presets::PRESETS[0].text;

/// What running a scenario's text produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Trace(Vec<TraceEvent>),
    /// The scenario was refused; the message names the step and field.
    Error(String),
}

/// Runs scenario text through the same facade as the command line, so the page shows exactly
/// the trace `qp run` prints.
pub fn run(text: &str) -> Outcome {
    match crate::run_text(text) {
        Ok(json) => match trace::from_json(&json) {
            Ok(events) => Outcome::Trace(events),
            // Our own output always parses; say so plainly if it ever does not.
            Err(e) => Outcome::Error(format!("internal error: unreadable trace: {e}")),
        },
        Err(e) => Outcome::Error(e.to_string()),
    }
}

/// Fetches scenario text; the error says what went wrong with which URL.
async fn fetch_text(url: &str) -> Result<String, String> {
    let fail = |what: &str| format!("could not load the scenario from {url}: {what}");
    let window = web_sys::window().ok_or_else(|| fail("no window"))?;
    let response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| fail(&e.as_string().unwrap_or_else(|| "network error".to_owned())))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| fail("not a response"))?;
    if !response.ok() {
        return Err(fail(&format!("HTTP {}", response.status())));
    }
    let text = response.text().map_err(|_| fail("unreadable body"))?;
    JsFuture::from(text)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .ok_or_else(|| fail("unreadable body"))
}

/// The scenario a share link in the page URL carries, if the page has one.
fn shared_scenario() -> Option<Result<String, String>> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let fragment = hash.strip_prefix('#')?;
    fragment
        .starts_with(crate::share::FRAGMENT_PREFIX)
        .then(|| crate::share::decode(fragment).map_err(|e| format!("share link: {e}")))
}

/// The text the options ask for, or why it cannot be had (then the default is shown).
async fn source_text(source: &ScenarioSource) -> (String, Option<Notice>) {
    let default = || DEFAULT_SCENARIO.to_owned();
    match source {
        ScenarioSource::Inline(text) => (text.clone(), None),
        ScenarioSource::Default => (default(), None),
        ScenarioSource::Preset(id) => match presets::find(id) {
            Some(p) => (p.text.to_owned(), None),
            None => (
                default(),
                Some(Notice::Error(format!(
                    "no preset named {id:?}; showing {:?}",
                    PRESETS[0].id
                ))),
            ),
        },
        ScenarioSource::Url(url) => match fetch_text(url).await {
            Ok(text) => (text, None),
            Err(e) => (default(), Some(Notice::Error(e))),
        },
    }
}

/// Whether a key press belongs to a form field rather than to the app's shortcuts.
fn typing_target(e: &KeyboardEvent) -> bool {
    let Some(el) = e
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return false;
    };
    matches!(
        el.tag_name().to_ascii_lowercase().as_str(),
        "input" | "textarea" | "select"
    ) || el.closest("[contenteditable]").ok().flatten().is_some()
}

/// Whether Space is already a click on the focused element (a button, a selectable node).
fn pressable_target(e: &KeyboardEvent) -> bool {
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|el| el.closest("button, [role=button]").ok().flatten())
        .is_some()
}

/// Compact and player embeds live in docs columns: a narrower drawing reads better there.
fn geometry_for(mode: Mode) -> Geometry {
    match mode {
        Mode::Full => Geometry::WIDE,
        Mode::Compact | Mode::Player => Geometry::NARROW,
    }
}

fn theme_name(theme: Theme) -> &'static str {
    match theme {
        Theme::Auto => "auto",
        Theme::Light => "light",
        Theme::Dark => "dark",
    }
}

fn status_text(status: &StorageStatus) -> String {
    match status {
        StorageStatus::Off => "storage off".to_owned(),
        StorageStatus::Opening => "opening storage…".to_owned(),
        StorageStatus::Saved { step } => format!("saved in IndexedDB after step {step}"),
        StorageStatus::Saving => "saving…".to_owned(),
        StorageStatus::ReadOnly { reason } => format!("read-only: {reason}"),
        StorageStatus::Memory { reason } => format!("in memory only: {reason}"),
    }
}

#[function_component(App)]
pub fn app(props: &AppProps) -> Html {
    let options = props.options.clone();
    let state = {
        let options = options.clone();
        use_reducer(move || {
            AppState::new(
                options.start_step,
                options.autoplay,
                options.play_interval_ms,
                geometry_for(options.mode),
            )
        })
    };
    let persistence: Rc<RefCell<Option<Rc<Persistence>>>> = use_mut_ref(|| None);

    // Load what storage restored (when it opens), else a share link, else the options'
    // source; again whenever an embed is given another source.
    {
        let (state, options, persistence) = (state.clone(), options.clone(), persistence.clone());
        let source = (options.scenario.clone(), options.url_fragment);
        use_effect_with(source, move |_| {
            let first_open = options.persistence && persistence.borrow().is_none();
            spawn_local(async move {
                if first_open {
                    let on_status = {
                        let state = state.clone();
                        Callback::from(move |s| state.dispatch(Action::Storage(s)))
                    };
                    state.dispatch(Action::Storage(StorageStatus::Opening));
                    let (store, restored) = Persistence::open(&options.id, on_status).await;
                    *persistence.borrow_mut() = Some(store);
                    if let Some(restored) = restored {
                        state.dispatch(Action::Load {
                            text: restored.text,
                            notice: Some(Notice::Info(restored.summary)),
                        });
                        // The restored scenario ends with the restart: show the broker after it.
                        state.dispatch(Action::Seek(usize::MAX));
                        return;
                    }
                }
                let shared = if options.url_fragment {
                    shared_scenario()
                } else {
                    None
                };
                let (text, notice) = match shared {
                    Some(Ok(text)) => (text, None),
                    Some(Err(e)) => (DEFAULT_SCENARIO.to_owned(), Some(Notice::Error(e))),
                    None => source_text(&options.scenario).await,
                };
                state.dispatch(Action::Load { text, notice });
            });
        });
    }

    // An embed whose mode changes redraws in the matching geometry.
    {
        let dispatch = state.dispatcher();
        use_effect_with(options.mode, move |mode| {
            dispatch.dispatch(Action::Geometry(geometry_for(*mode)));
        });
    }

    // A handle outside Yew drives the app through the control.
    {
        let (state, control) = (state.clone(), props.control.clone());
        // Keyed by identity: a new control (new props) is attached afresh.
        use_effect_with(Rc::as_ptr(&props.control) as usize, move |_| {
            let dispatch = state.dispatcher();
            control.attach(Callback::from(move |c: Command| {
                dispatch.dispatch(match c {
                    Command::Step(by) => Action::Step(by),
                    Command::Seek(to) => Action::Seek(to),
                    Command::Play => Action::Play,
                    Command::Pause => Action::Pause,
                })
            }));
            move || control.detach()
        });
    }
    {
        // Keyed by what identifies the snapshot: comparing whole broker states would cost a
        // walk over every message at every render.
        let control = props.control.clone();
        let snapshot = Snapshot {
            position: state.position(),
            len: state.len(),
            playing: state.playing,
            state: state.view.as_ref().map(|v| v.state.clone()),
            error: state.error(),
        };
        let key = (
            snapshot.position,
            snapshot.len,
            snapshot.playing,
            snapshot.error.clone(),
            state.revision,
            snapshot.state.is_some(),
        );
        use_effect_with(key, move |_| control.publish(snapshot));
    }

    // Playing: one step per interval.
    {
        let dispatch = state.dispatcher();
        use_effect_with((state.playing, state.interval_ms), move |&(playing, ms)| {
            let timer = playing.then(|| {
                gloo::timers::callback::Interval::new(ms, move || dispatch.dispatch(Action::Tick))
            });
            move || drop(timer)
        });
    }

    // Storage follows every cursor move and scenario change.
    {
        let persistence = persistence.clone();
        let played = state.played.clone();
        let text = state.text.clone();
        let parses = state.parsed.is_ok();
        use_effect_with((state.position(), state.revision), move |_| {
            if let (Some(store), Some(played), true) =
                (persistence.borrow().as_ref(), played.as_ref(), parses)
            {
                store.sync(&text, &played.timeline.borrow());
            }
        });
    }

    // Callbacks made once: children whose props did not change (the editor holding a long
    // scenario, the palette, the plots) are then not rendered again at every step.
    let dispatch = state.dispatcher();
    let on_step = use_callback(dispatch.clone(), |by: i64, d| d.dispatch(Action::Step(by)));
    let on_seek = use_callback(dispatch.clone(), |to: usize, d| {
        d.dispatch(Action::Seek(to))
    });
    let on_toggle = use_callback(dispatch.clone(), |(), d| d.dispatch(Action::TogglePlay));
    let on_speed = use_callback(dispatch.clone(), |ms: u32, d| d.dispatch(Action::Speed(ms)));
    let on_select = use_callback(dispatch.clone(), |t: Target, d| {
        d.dispatch(Action::Select(Some(t)))
    });
    let on_close = use_callback(dispatch.clone(), |_: MouseEvent, d| {
        d.dispatch(Action::Select(None))
    });
    let on_edit = use_callback(dispatch.clone(), |text: String, d| {
        d.dispatch(Action::Edit(text))
    });
    let on_import = use_callback(dispatch.clone(), |text: String, d| {
        d.dispatch(Action::Load { text, notice: None })
    });
    let on_append = use_callback(dispatch.clone(), |step, d| d.dispatch(Action::Append(step)));
    let on_preset = {
        let d = dispatch.clone();
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            if let Some(p) = presets::find(&select.value()) {
                d.dispatch(Action::Load {
                    text: p.text.to_owned(),
                    notice: None,
                });
            }
        })
    };
    let onkeydown = {
        let d = dispatch.clone();
        let len = state.len();
        Callback::from(move |e: KeyboardEvent| {
            if typing_target(&e) || e.alt_key() || e.ctrl_key() || e.meta_key() {
                return;
            }
            let action = match e.key().as_str() {
                "ArrowLeft" => Action::Step(-1),
                "ArrowRight" => Action::Step(1),
                "Home" => Action::Seek(0),
                "End" => Action::Seek(len),
                // A focused button takes Space as a click.
                " " if !pressable_target(&e) => Action::TogglePlay,
                _ => return,
            };
            e.prevent_default();
            d.dispatch(action);
        })
    };

    let mode = options.mode;
    let editable = mode == Mode::Full;
    let position = state.position();
    let len = state.len();

    let notice = state.notice.as_ref().map(|n| {
        let dismiss = {
            let d = dispatch.clone();
            Callback::from(move |_: MouseEvent| d.dispatch(Action::DismissNotice))
        };
        let (class, text, role) = match n {
            Notice::Error(e) => ("qp-notice error", e.clone(), "alert"),
            Notice::Info(i) => ("qp-notice info", i.clone(), "status"),
        };
        html! {
            <div class={class} role={role}>
                <span>{ text }</span>
                <button class="dismiss" onclick={dismiss} aria-label="Dismiss">{ "×" }</button>
            </div>
        }
    });
    let parse_error = match (&state.parsed, state.loading) {
        (Err(e), false) => Some(e.clone()),
        _ => None,
    };
    // Read-only modes have no editor to show the parse error in.
    let parse_error_banner = parse_error.as_ref().filter(|_| !editable).map(|e| {
        html! { <p class="qp-notice error" role="alert">{ format!("The scenario is refused: {e}") }</p> }
    });
    let stale = parse_error.is_some() && state.played.is_some();

    let topology = match &state.view {
        Some(view) => html! {
            <div class={classes!("qp-topology", stale.then_some("stale"))}>
                if stale { <p class="stale-note">{ "Showing the last scenario that parsed." }</p> }
                <Topology layout={view.layout.clone()} position={view.position}
                          selection={state.selection.clone()} on_select={on_select.clone()} />
            </div>
        },
        None if state.loading => {
            html! { <div class="qp-topology empty"><p>{ "Loading the scenario…" }</p></div> }
        }
        None => html! {
            <div class="qp-topology empty">
                <p>{ "Nothing to show: the scenario could not be loaded." }</p>
                if let Some(e) = state.error() { <p class="error">{ e }</p> }
            </div>
        },
    };
    let controls = html! {
        <Controls {position} {len} playing={state.playing} interval_ms={state.interval_ms}
                  on_step={on_step.clone()} on_seek={on_seek.clone()} {on_toggle} {on_speed} />
    };
    let played = state.played.as_ref();
    let timeline = played.map(|p| {
        let t = p.timeline.borrow();
        if mode == Mode::Compact {
            current_step(&p.scenario, &t, position)
        } else {
            step_list(&p.scenario, &t, position, &on_seek)
        }
    });
    let inspector_view = match (played, &state.view) {
        (Some(p), Some(v)) if mode != Mode::Compact => Some(inspector(
            state.selection.as_ref(),
            &v.state,
            &v.layout,
            p.timeline.borrow().stored(),
            options.persistence,
            on_close,
        )),
        _ => None,
    };
    let storage = options.persistence.then(|| {
        let take_over = {
            let p = persistence.clone();
            Callback::from(move |_: MouseEvent| {
                if let Some(p) = p.borrow().as_ref() {
                    p.take_over();
                }
            })
        };
        let reset = {
            let p = persistence.clone();
            Callback::from(move |_: MouseEvent| {
                if let Some(p) = p.borrow().as_ref() {
                    p.reset();
                }
            })
        };
        let read_only = matches!(state.storage, StorageStatus::ReadOnly { .. });
        html! {
            <div class="qp-storage" role="status">
                <span class="status">{ status_text(&state.storage) }</span>
                if read_only { <button class="take-over" onclick={take_over}>{ "Take over" }</button> }
                <button class="reset" onclick={reset}>{ "Reset stored broker" }</button>
            </div>
        }
    });

    let presets_select = editable.then(|| {
        // The preset whose text is in the editor; none once the reader changed it.
        let current = PRESETS
            .iter()
            .find(|p| p.text == state.text.as_str())
            .map_or("", |p| p.id);
        html! {
            <label class="qp-preset">
                <span>{ "Preset" }</span>
                <select onchange={on_preset} aria-label="Preset scenario">
                    if current.is_empty() { <option value="" selected=true>{ "(custom)" }</option> }
                    { for PRESETS.iter().map(|p| html! {
                        <option value={p.id} selected={p.id == current} title={p.description}>{ p.title }</option>
                    }) }
                </select>
            </label>
        }
    });

    let scenario_name = state
        .parsed
        .as_ref()
        .ok()
        .map(|s| s.name.clone())
        .or_else(|| state.played.as_ref().map(|p| p.scenario.name.clone()));

    html! {
        <div class={classes!("qp", match mode { Mode::Full => "full", Mode::Compact => "compact", Mode::Player => "player" })}
             data-theme={theme_name(options.theme)} tabindex="0" {onkeydown}
             aria-label="queue-playground: arrow keys step, Space plays and pauses, Home and End jump">
            <header class="qp-bar">
                if mode == Mode::Full { <h1>{ "queue-playground" }</h1> }
                if let Some(name) = scenario_name { <span class="qp-name">{ name }</span> }
                { for presets_select }
                if editable {
                    <ShareBar text={state.text.clone()} {on_import}
                              url_fragment={options.url_fragment} />
                }
                { for storage }
            </header>
            { for notice }
            { for parse_error_banner }
            <div class="qp-body">
                if editable {
                    <section class="qp-edit" aria-label="Scenario">
                        <Editor text={state.text.clone()} error={parse_error.clone()}
                                readonly={false} on_change={on_edit} />
                        <Palette scenario={state.parsed.as_ref().ok().cloned()}
                                 state={state.view.as_ref().map(|v| v.state.clone())} {on_append} />
                    </section>
                }
                <section class="qp-stage" aria-label="Broker">
                    { controls }
                    { topology }
                    if mode == Mode::Full {
                        if let Some(p) = played {
                            <Plots series={p.series.clone()} {position} on_seek={on_seek.clone()} />
                        }
                    }
                    if mode == Mode::Compact { { for timeline.clone() } }
                </section>
                if mode != Mode::Compact {
                    <aside class="qp-side">
                        { for inspector_view }
                        { for timeline }
                    </aside>
                }
            </div>
        </div>
    }
}
