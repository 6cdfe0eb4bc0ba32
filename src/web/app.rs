//! The app (skeleton, to be replaced): a scenario editor, a Run button and the trace as a list.
//!
//! Everything the user typed and every message body is shown through Yew text nodes, which the
//! DOM escapes; nothing here builds HTML from strings.

use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use super::options::AppProps;
use crate::trace::{self, Event, TraceEvent};

/// The work queue from the article: a durable queue, one message at a time per worker
/// (`prefetch_count` 1), persistent messages and manual acks.
pub const DEFAULT_SCENARIO: &str = crate::presets::PRESETS[0].text;

/// What the last run produced.
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

/// The fields worth seeing at a glance, as `key=value` pairs.
pub fn key_fields(event: &Event) -> String {
    match event {
        Event::QueueDeclareOk {
            queue,
            message_count,
            consumer_count,
        } => format!("queue={queue} messages={message_count} consumers={consumer_count}"),
        Event::ConsumeOk {
            channel,
            consumer_tag,
        }
        | Event::Cancel {
            channel,
            consumer_tag,
        } => format!("channel={channel} consumer_tag={consumer_tag}"),
        Event::Deliver {
            channel,
            consumer_tag,
            delivery_tag,
            redelivered,
            routing_key,
            body,
            ..
        } => format!(
            "channel={channel} consumer_tag={consumer_tag} delivery_tag={delivery_tag} \
             redelivered={redelivered} routing_key={routing_key} body={body:?}"
        ),
        Event::GetOk {
            channel,
            delivery_tag,
            redelivered,
            routing_key,
            body,
            message_count,
            ..
        } => format!(
            "channel={channel} delivery_tag={delivery_tag} redelivered={redelivered} \
             routing_key={routing_key} body={body:?} messages={message_count}"
        ),
        Event::GetEmpty { channel } => format!("channel={channel}"),
        Event::Return {
            channel,
            reply_code,
            reply_text,
            routing_key,
            body,
            ..
        } => format!(
            "channel={channel} {reply_code} {reply_text} routing_key={routing_key} body={body:?}"
        ),
        Event::ConfirmAck {
            channel,
            delivery_tag,
            multiple,
        }
        | Event::ConfirmNack {
            channel,
            delivery_tag,
            multiple,
        } => format!("channel={channel} delivery_tag={delivery_tag} multiple={multiple}"),
        Event::PurgeOk {
            queue,
            message_count,
        }
        | Event::DeleteOk {
            queue,
            message_count,
        } => format!("queue={queue} messages={message_count}"),
        Event::ChannelClose {
            channel,
            reply_code,
            reply_text,
        } => format!("channel={channel} {reply_code} {reply_text}"),
        Event::ConnectionClose {
            connection,
            reply_code,
            reply_text,
        } => format!("connection={connection} {reply_code} {reply_text}"),
    }
}

#[function_component(App)]
pub fn app(_props: &AppProps) -> Html {
    let text = use_state(|| DEFAULT_SCENARIO.to_owned());
    // Run once on load so the page opens on a trace, not on an empty box.
    let outcome = use_state(|| run(DEFAULT_SCENARIO));

    let oninput = {
        let text = text.clone();
        Callback::from(move |e: InputEvent| {
            let area: HtmlTextAreaElement = e.target_unchecked_into();
            text.set(area.value());
        })
    };
    let area = use_node_ref();
    let onclick = {
        let (area, text, outcome) = (area.clone(), text.clone(), outcome.clone());
        Callback::from(move |_: MouseEvent| {
            // Read the box itself: a click can come before the re-render that follows typing,
            // and this closure's `text` is the value of the render that made it.
            let current = area
                .cast::<HtmlTextAreaElement>()
                .map(|a| a.value())
                .unwrap_or_else(|| (*text).clone());
            outcome.set(run(&current));
            text.set(current);
        })
    };

    html! {
        <main>
            <h1>{ "queue-playground" }</h1>
            <p class="tagline">{ "RabbitMQ's semantics, running in your browser." }</p>
            <label for="scenario">{ "Scenario (format v1)" }</label>
            <textarea id="scenario" ref={area} spellcheck="false" value={(*text).clone()} {oninput} />
            <div class="actions">
                <button id="run" {onclick}>{ "Run" }</button>
            </div>
            <section class="result">{ view_outcome(&outcome) }</section>
        </main>
    }
}

fn view_outcome(outcome: &Outcome) -> Html {
    match outcome {
        Outcome::Error(message) => html! {
            <p class="error" role="alert">{ message.clone() }</p>
        },
        Outcome::Trace(events) if events.is_empty() => html! {
            <p class="empty">{ "The broker sent nothing." }</p>
        },
        Outcome::Trace(events) => html! {
            <ol class="trace">
                { for events.iter().map(view_event) }
            </ol>
        },
    }
}

fn view_event(e: &TraceEvent) -> Html {
    html! {
        <li>
            <span class="step">{ format!("step {}", e.step) }</span>
            <span class="event">{ e.event.name() }</span>
            <span class="fields">{ key_fields(&e.event) }</span>
        </li>
    }
}
