//! The app's state and the one reducer that changes it: the scenario text and its parse, the
//! played timeline, the cursor, playback, what the inspector shows and the storage status.
//!
//! The timeline is played once per scenario and then only seeks (at most
//! `snapshot_every` steps replayed), so a step forward or back never replays the scenario.

use std::cell::RefCell;
use std::rc::Rc;

use yew::{AttrValue, Reducible};

use super::persist::StorageStatus;
use crate::engine::state::BrokerState;
use crate::scenario::{parse, Limits, Scenario, ScenarioError, Step};
use crate::timeline::{Timeline, TimelineConfig};
use crate::view::layout::{self, Applied, Facts, Geometry, Layout, Target};
use crate::view::series::Series;

/// Play speeds offered, as milliseconds between steps.
pub const SPEEDS: [(u32, &str); 5] = [
    (1400, "0.5×"),
    (700, "1×"),
    (350, "2×"),
    (150, "5×"),
    (40, "fast"),
];

/// The broker after `position` steps, and how it is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub position: usize,
    pub state: Rc<BrokerState>,
    pub layout: Rc<Layout>,
}

/// A played scenario: the timeline (moved by seeks) and what is drawn from it.
#[derive(Debug, Clone)]
pub struct Played {
    pub scenario: Rc<Scenario>,
    pub timeline: Rc<RefCell<Timeline>>,
    pub facts: Rc<Facts>,
    pub series: Rc<Series>,
}

#[derive(Debug, Clone)]
pub struct AppState {
    /// Shared with the editor and share bar without copying: a long scenario is large.
    pub text: AttrValue,
    /// The text's parse, redone on every edit: validation as you type.
    pub parsed: Result<Rc<Scenario>, Rc<ScenarioError>>,
    /// The last scenario that parsed; kept on screen while the text is refused.
    pub played: Option<Played>,
    pub view: Option<View>,
    /// Why a scenario could not be loaded (fetch failed, bad share link, unknown preset), or
    /// what was restored from storage.
    pub notice: Option<Notice>,
    pub loading: bool,
    pub playing: bool,
    pub interval_ms: u32,
    pub selection: Option<Target>,
    pub storage: StorageStatus,
    /// Bumped whenever the scenario changes, so that effects can tell.
    pub revision: u64,
    start_step: usize,
    autoplay: bool,
    geometry: Geometry,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Error(String),
    Info(String),
}

pub enum Action {
    /// A whole new scenario (preset, import, fetch, share link, storage); the first one also
    /// applies the options' start step and autoplay.
    Load {
        text: String,
        notice: Option<Notice>,
    },
    /// Loading failed before any text arrived.
    Failed(String),
    /// The reader typed.
    Edit(String),
    /// The palette adds a step at the end; the cursor goes there.
    Append(Step),
    Step(i64),
    Seek(usize),
    Play,
    Pause,
    TogglePlay,
    /// The play timer fired.
    Tick,
    Speed(u32),
    Select(Option<Target>),
    Storage(StorageStatus),
    DismissNotice,
    /// Draw in another geometry (the mode changed).
    Geometry(Geometry),
}

impl AppState {
    pub fn new(
        start_step: usize,
        autoplay: bool,
        interval_ms: u32,
        geometry: Geometry,
    ) -> AppState {
        AppState {
            text: AttrValue::default(),
            parsed: Err(Rc::new(ScenarioError {
                step: None,
                op: None,
                field: None,
                message: "loading".to_owned(),
            })),
            played: None,
            view: None,
            notice: None,
            loading: true,
            playing: false,
            interval_ms: interval_ms.max(1),
            selection: None,
            storage: StorageStatus::Off,
            revision: 0,
            start_step,
            autoplay,
            geometry,
        }
    }

    pub fn position(&self) -> usize {
        self.view.as_ref().map_or(0, |v| v.position)
    }

    pub fn len(&self) -> usize {
        self.played.as_ref().map_or(0, |p| p.scenario.steps.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What stops the scenario from being shown as typed, in one line.
    pub fn error(&self) -> Option<String> {
        match (&self.parsed, &self.notice) {
            (_, Some(Notice::Error(e))) => Some(e.clone()),
            (Err(_), _) if self.loading => None,
            (Err(e), _) => Some(e.to_string()),
            _ => None,
        }
    }

    /// Parses `text`; when it parses, plays it and keeps the cursor where it was (clamped).
    fn set_text(&mut self, text: String, position: usize) {
        self.loading = false;
        self.parsed = parse(&text, &Limits::default())
            .map(Rc::new)
            .map_err(Rc::new);
        self.text = AttrValue::from(text);
        self.revision += 1;
        if let Ok(scenario) = &self.parsed {
            let timeline = Timeline::new((**scenario).clone(), TimelineConfig::default());
            let series = Rc::new(Series::new(&timeline));
            let facts = Rc::new(Facts::new(&timeline));
            self.played = Some(Played {
                scenario: scenario.clone(),
                timeline: Rc::new(RefCell::new(timeline)),
                facts,
                series,
            });
            self.view = None;
            self.seek(position);
        }
    }

    /// Moves the cursor; ghosts are drawn only when it moved exactly one step forward.
    fn seek(&mut self, target: usize) {
        let Some(played) = &self.played else { return };
        let mut timeline = played.timeline.borrow_mut();
        timeline.seek(target);
        let position = timeline.position();
        if self.view.as_ref().is_some_and(|v| v.position == position) {
            return;
        }
        let previous = self
            .view
            .as_ref()
            .filter(|v| v.position + 1 == position)
            .map(|v| v.layout.clone());
        let applied = position.checked_sub(1).and_then(|i| {
            Some(Applied {
                step: played.scenario.steps.get(i)?,
                record: timeline.record(i)?,
            })
        });
        let state = timeline.state();
        let layout = layout::layout(
            &state,
            &played.facts,
            position,
            applied,
            previous.as_deref(),
            self.geometry,
        );
        self.view = Some(View {
            position,
            state: Rc::new(state),
            layout: Rc::new(layout),
        });
    }
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            Action::Load { text, notice } => {
                let first = next.played.is_none() && next.loading;
                next.notice = notice;
                next.selection = None;
                next.playing = false;
                next.set_text(text, if first { next.start_step } else { 0 });
                if first && next.played.is_some() {
                    next.playing = next.autoplay && next.position() < next.len();
                }
            }
            Action::Failed(message) => {
                next.loading = false;
                next.notice = Some(Notice::Error(message));
            }
            Action::Edit(text) => {
                if matches!(next.notice, Some(Notice::Error(_))) {
                    next.notice = None;
                }
                let position = next.position();
                next.set_text(text, position);
            }
            Action::Append(step) => {
                // The palette is only offered while the text parses.
                let Ok(scenario) = &next.parsed else {
                    return self;
                };
                let mut scenario = (**scenario).clone();
                scenario.steps.push(step);
                let end = scenario.steps.len();
                next.set_text(scenario.to_pretty_json(), end);
            }
            Action::Step(by) => {
                let target = if by < 0 {
                    next.position().saturating_sub(by.unsigned_abs() as usize)
                } else {
                    next.position().saturating_add(by as usize)
                };
                next.playing = false;
                next.seek(target);
            }
            Action::Seek(to) => {
                next.playing = false;
                next.seek(to);
            }
            Action::Play => {
                // Playing from the end starts again from the beginning.
                if next.position() >= next.len() {
                    next.seek(0);
                }
                next.playing = !next.is_empty();
            }
            Action::Pause => next.playing = false,
            Action::TogglePlay => {
                return if self.playing {
                    self.reduce(Action::Pause)
                } else {
                    self.reduce(Action::Play)
                };
            }
            Action::Tick => {
                if !next.playing {
                    return self;
                }
                let position = next.position();
                if position >= next.len() {
                    next.playing = false;
                } else {
                    next.seek(position + 1);
                    next.playing = next.position() < next.len();
                }
            }
            Action::Speed(ms) => next.interval_ms = ms.max(1),
            Action::Select(target) => next.selection = target,
            Action::Storage(status) => next.storage = status,
            Action::DismissNotice => next.notice = None,
            Action::Geometry(geometry) => {
                if geometry == next.geometry {
                    return self;
                }
                next.geometry = geometry;
                let position = next.position();
                next.view = None;
                next.seek(position);
            }
        }
        Rc::new(next)
    }
}
