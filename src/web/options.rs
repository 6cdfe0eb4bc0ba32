//! What a playground is asked to be, and the control its handle holds.
//!
//! The app page, a `<queue-playground>` element and a `mount(element, options)` call all end in
//! the same [`AppProps`]: an [`Options`] value and a [`Control`] through which a handle steps,
//! plays and pauses the app and reads its state.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;

use yew::{Callback, Properties};

use crate::engine::state::BrokerState;

/// Where the scenario comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ScenarioSource {
    /// Scenario JSON text, as given.
    Inline(String),
    /// Fetched from this URL (relative URLs resolve against the page).
    Url(String),
    /// One of [`crate::presets::PRESETS`], by id.
    Preset(String),
    /// The first preset.
    #[default]
    Default,
}

/// How much of the playground is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Editor, palette, topology, timeline, inspector and plots.
    #[default]
    Full,
    /// Topology and timeline controls, with the current step's events: for a docs column.
    Compact,
    /// A read-only player: topology and controls; the scenario cannot be edited.
    Player,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Follows the reader's system setting (`prefers-color-scheme`).
    #[default]
    Auto,
    Light,
    Dark,
}

/// A value an option does not take: names the option, what was given and what it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    pub option: &'static str,
    pub given: String,
    pub expected: &'static str,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "option `{}`: got {:?}, expected {}",
            self.option, self.given, self.expected
        )
    }
}

impl std::error::Error for OptionError {}

impl FromStr for Mode {
    type Err = OptionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "full" => Ok(Mode::Full),
            "compact" => Ok(Mode::Compact),
            "player" => Ok(Mode::Player),
            _ => Err(OptionError {
                option: "mode",
                given: s.to_owned(),
                expected: "`full`, `compact` or `player`",
            }),
        }
    }
}

impl FromStr for Theme {
    type Err = OptionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Theme::Auto),
            "light" => Ok(Theme::Light),
            "dark" => Ok(Theme::Dark),
            _ => Err(OptionError {
                option: "theme",
                given: s.to_owned(),
                expected: "`auto`, `light` or `dark`",
            }),
        }
    }
}

/// Everything a playground is asked to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Names this playground's storage (its IndexedDB database) and nothing else; two
    /// playgrounds with the same id share one stored broker and agree on one owner.
    pub id: String,
    pub scenario: ScenarioSource,
    pub mode: Mode,
    /// Start playing once loaded.
    pub autoplay: bool,
    /// Steps applied when the playground opens (clamped to the scenario's length).
    pub start_step: usize,
    pub theme: Theme,
    /// Keep the durable image in IndexedDB across reloads.
    pub persistence: bool,
    /// Milliseconds between steps while playing.
    pub play_interval_ms: u32,
    /// Read a shared scenario from the page URL's fragment and keep the fragment in step with
    /// the editor (the app page; embeds leave the host page's URL alone).
    pub url_fragment: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            id: "default".to_owned(),
            scenario: ScenarioSource::Default,
            mode: Mode::Full,
            autoplay: false,
            start_step: 0,
            theme: Theme::Auto,
            persistence: false,
            play_interval_ms: 700,
            url_fragment: false,
        }
    }
}

/// What a handle asks of a running app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Moves the cursor by this many steps (negative: back).
    Step(i64),
    /// Moves to the state after this many steps.
    Seek(usize),
    Play,
    Pause,
}

/// What the app last showed, as a handle reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Steps applied (the timeline's cursor).
    pub position: usize,
    /// Steps in the scenario.
    pub len: usize,
    pub playing: bool,
    /// The broker's state at `position`; `None` while loading or when the scenario is refused.
    pub state: Option<Rc<BrokerState>>,
    /// Why the scenario could not be loaded or run, as shown to the reader.
    pub error: Option<String>,
}

impl Snapshot {
    /// Equal; states are compared field by field only when they are not the same `Rc`.
    fn same_as(&self, other: &Snapshot) -> bool {
        self.position == other.position
            && self.len == other.len
            && self.playing == other.playing
            && self.error == other.error
            && match (&self.state, &other.state) {
                (Some(a), Some(b)) => Rc::ptr_eq(a, b) || a == b,
                (a, b) => a.is_none() && b.is_none(),
            }
    }
}

/// The link between a handle (outside Yew) and the app (inside): the app attaches its command
/// callback when it mounts and publishes a [`Snapshot`] whenever what it shows changes.
#[derive(Debug, Default)]
pub struct Control {
    dispatch: RefCell<Option<Callback<Command>>>,
    snapshot: RefCell<Snapshot>,
    /// Told when a published snapshot differs from the last one (the embed's change event).
    watcher: RefCell<Option<Callback<()>>>,
}

impl Control {
    /// Called by the app once mounted.
    pub fn attach(&self, dispatch: Callback<Command>) {
        *self.dispatch.borrow_mut() = Some(dispatch);
    }

    /// Called by the app when it unmounts.
    pub fn detach(&self) {
        self.dispatch.borrow_mut().take();
    }

    /// Sends a command; `false` when no app is attached (not mounted yet, or destroyed).
    pub fn send(&self, command: Command) -> bool {
        // Cloned out first: the callback may publish a snapshot, which borrows again.
        let dispatch = self.dispatch.borrow().clone();
        match dispatch {
            Some(dispatch) => {
                dispatch.emit(command);
                true
            }
            None => false,
        }
    }

    pub fn publish(&self, snapshot: Snapshot) {
        let changed = !self.snapshot.borrow().same_as(&snapshot);
        *self.snapshot.borrow_mut() = snapshot;
        // Cloned out first: the watcher may read the snapshot.
        let watcher = self.watcher.borrow().clone();
        if let (true, Some(watcher)) = (changed, watcher) {
            watcher.emit(());
        }
    }

    /// Calls `on_change` after each published snapshot that differs from the one before.
    pub fn watch(&self, on_change: Callback<()>) {
        *self.watcher.borrow_mut() = Some(on_change);
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }
}

/// The app component's properties.
#[derive(Debug, Clone, Properties)]
pub struct AppProps {
    pub options: Rc<Options>,
    pub control: Rc<Control>,
}

impl PartialEq for AppProps {
    fn eq(&self, other: &Self) -> bool {
        self.options == other.options && Rc::ptr_eq(&self.control, &other.control)
    }
}
