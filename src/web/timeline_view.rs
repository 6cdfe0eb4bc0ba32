//! The timeline: playback controls, and the steps with their events in order.
//!
//! The list shows a window of steps around the cursor, so that a scenario of 10,000 steps
//! renders as fast as one of ten; the slider and the step field reach any step.

use yew::prelude::*;

use super::state::SPEEDS;
use crate::scenario::Scenario;
use crate::timeline::Timeline;
use crate::trace::TraceEvent;
use crate::view::describe::{key_fields, step_summary};

/// Steps listed, and how many of them before the cursor.
const WINDOW: usize = 20;
const BEFORE: usize = 3;

#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ControlsProps {
    pub position: usize,
    pub len: usize,
    pub playing: bool,
    pub interval_ms: u32,
    pub on_step: Callback<i64>,
    pub on_seek: Callback<usize>,
    pub on_toggle: Callback<()>,
    pub on_speed: Callback<u32>,
}

#[function_component(Controls)]
pub fn controls(props: &ControlsProps) -> Html {
    let (position, len) = (props.position, props.len);
    let seek = |to: usize| {
        let on_seek = props.on_seek.clone();
        Callback::from(move |_: MouseEvent| on_seek.emit(to))
    };
    let step = |by: i64| {
        let on_step = props.on_step.clone();
        Callback::from(move |_: MouseEvent| on_step.emit(by))
    };
    let toggle = {
        let on_toggle = props.on_toggle.clone();
        Callback::from(move |_: MouseEvent| on_toggle.emit(()))
    };
    let slide = {
        let on_seek = props.on_seek.clone();
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            if let Ok(to) = input.value().parse::<usize>() {
                on_seek.emit(to);
            }
        })
    };
    let speed = {
        let on_speed = props.on_speed.clone();
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            if let Ok(ms) = select.value().parse::<u32>() {
                on_speed.emit(ms);
            }
        })
    };
    let at_start = position == 0;
    let at_end = position >= len;
    let speeds = SPEEDS.iter().map(|(ms, name)| {
        html! { <option value={ms.to_string()} selected={*ms == props.interval_ms}>{ *name }</option> }
    });
    html! {
        <div class="controls" role="toolbar" aria-label="Timeline controls">
            <button class="first" onclick={seek(0)} disabled={at_start} title="First step (Home)"
                    aria-label="Back to the start">{ "|◀" }</button>
            <button class="back" onclick={step(-1)} disabled={at_start} title="Step back (←)"
                    aria-label="Step back">{ "◀" }</button>
            <button class="play" onclick={toggle} disabled={len == 0} title="Play or pause (Space)"
                    aria-label={if props.playing { "Pause" } else { "Play" }}>
                { if props.playing { "Pause" } else { "Play" } }
            </button>
            <button class="forward" onclick={step(1)} disabled={at_end} title="Step forward (→)"
                    aria-label="Step forward">{ "▶" }</button>
            <button class="last" onclick={seek(len)} disabled={at_end} title="Last step (End)"
                    aria-label="To the end">{ "▶|" }</button>
            <span class="counter" aria-live="polite">{ format!("step {position} / {len}") }</span>
            <input class="scrub" type="range" min="0" max={len.to_string()} value={position.to_string()}
                   aria-label="Jump to step" oninput={slide} />
            <label class="speed">
                <span>{ "speed" }</span>
                <select onchange={speed} aria-label="Play speed">{ for speeds }</select>
            </label>
        </div>
    }
}

/// The events of one step, one line each.
pub fn events_list(events: &[TraceEvent]) -> Html {
    if events.is_empty() {
        return html! { <p class="no-events">{ "The broker sent nothing." }</p> };
    }
    html! {
        <ul class="events">
            { for events.iter().map(|e| html! {
                <li>
                    <span class="event">{ e.event.name() }</span>
                    { " " }
                    <span class="fields">{ key_fields(&e.event) }</span>
                </li>
            }) }
        </ul>
    }
}

/// The step just applied and what the broker sent for it (compact mode).
pub fn current_step(scenario: &Scenario, timeline: &Timeline, position: usize) -> Html {
    let Some(index) = position.checked_sub(1) else {
        return html! { <div class="current-step"><p class="no-events">{ "Nothing applied yet: step forward." }</p></div> };
    };
    let (Some(step), Some(record)) = (scenario.steps.get(index), timeline.record(index)) else {
        return html! {};
    };
    html! {
        <div class="current-step" aria-live="polite">
            <p class="summary"><span class="index">{ format!("#{position}") }</span>{ " " }{ step_summary(step) }</p>
            { events_list(&record.events) }
        </div>
    }
}

/// Steps around the cursor, each with its events; a click jumps to the state after it.
pub fn step_list(
    scenario: &Scenario,
    timeline: &Timeline,
    position: usize,
    on_seek: &Callback<usize>,
) -> Html {
    let len = scenario.steps.len();
    // The step just applied near the top, the steps to come below it.
    let start = position
        .saturating_sub(BEFORE)
        .min(len.saturating_sub(WINDOW));
    let end = (start + WINDOW).min(len);
    let items = (start..end).map(|i| {
        let step = &scenario.steps[i];
        let applied = i < position;
        let current = i + 1 == position;
        let onclick = {
            let on_seek = on_seek.clone();
            Callback::from(move |_: MouseEvent| on_seek.emit(i + 1))
        };
        let events = timeline.record(i).map(|r| &r.events[..]).unwrap_or(&[]);
        html! {
            <li key={i} class={classes!("step", applied.then_some("applied"), current.then_some("current"))}
                aria-current={current.then_some("step")}>
                <button class="step-button" {onclick} title={format!("Show the state after step {}", i + 1)}>
                    <span class="index">{ format!("#{}", i + 1) }</span>
                    <span class="summary">{ step_summary(step) }</span>
                </button>
                if current || events.len() <= 3 { { events_list_compact(events) } }
                else { <p class="event-count">{ format!("{} events", events.len()) }</p> }
            </li>
        }
    });
    html! {
        <section class="timeline" aria-label="Steps and events">
            <h2>{ "Timeline" }</h2>
            if start > 0 { <p class="elided">{ format!("… {start} earlier steps") }</p> }
            <ol class="steps">{ for items }</ol>
            if end < len { <p class="elided">{ format!("… {} later steps", len - end) }</p> }
        </section>
    }
}

fn events_list_compact(events: &[TraceEvent]) -> Html {
    if events.is_empty() {
        return html! {};
    }
    events_list(events)
}
