//! The scenario editor: a textarea with line numbers, and the parser's error pinned to its
//! line and column, with a button that selects the offending text.
//!
//! Validation itself is the app's (it parses on every edit and passes the error back); the
//! editor finds where that error is in the text (`scenario::locate`).

use std::rc::Rc;

use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use crate::scenario::locate::{locate, utf16_index, Location};
use crate::scenario::ScenarioError;

#[derive(Debug, Clone, PartialEq, Properties)]
pub struct EditorProps {
    /// The scenario text as it is now.
    pub text: AttrValue,
    /// Why `text` is refused, if it is.
    pub error: Option<Rc<ScenarioError>>,
    pub readonly: bool,
    /// Every edit, as it is typed.
    pub on_change: Callback<String>,
}

/// The gutter's text: line numbers before the error line, the error line's, and after.
#[derive(Debug, Clone, PartialEq)]
struct Gutter {
    before: String,
    marked: Option<String>,
    after: String,
}

fn gutter(lines: usize, marked: Option<usize>) -> Gutter {
    let numbers = |range: std::ops::Range<usize>| -> String {
        range.map(|n| n.to_string()).collect::<Vec<_>>().join("\n")
    };
    match marked.filter(|&m| m >= 1 && m <= lines) {
        None => Gutter {
            before: numbers(1..lines + 1),
            marked: None,
            after: String::new(),
        },
        Some(m) => {
            let mut before = numbers(1..m);
            if m > 1 {
                before.push('\n');
            }
            let mut after = numbers(m + 1..lines + 1);
            if m < lines {
                after.insert(0, '\n');
            }
            Gutter {
                before,
                marked: Some(m.to_string()),
                after,
            }
        }
    }
}

#[function_component(Editor)]
pub fn editor(props: &EditorProps) -> Html {
    let area = use_node_ref();
    let numbers = use_node_ref();
    let location = use_memo(
        (props.text.clone(), props.error.clone()),
        |(text, error)| error.as_ref().and_then(|e| locate(text, e)),
    );
    let lines = props.text.matches('\n').count() + 1;
    let gutter_text = use_memo((lines, location.map(|l| l.line)), |(lines, line)| {
        gutter(*lines, *line)
    });

    let oninput = {
        let on_change = props.on_change.clone();
        Callback::from(move |e: InputEvent| {
            let area: HtmlTextAreaElement = e.target_unchecked_into();
            on_change.emit(area.value());
        })
    };
    // The gutter does not scroll by itself: it follows the textarea.
    let onscroll = {
        let numbers = numbers.clone();
        Callback::from(move |e: Event| {
            let area: HtmlTextAreaElement = e.target_unchecked_into();
            if let Some(numbers) = numbers.cast::<web_sys::HtmlElement>() {
                numbers.set_scroll_top(area.scroll_top());
            }
        })
    };
    let go_to_error = {
        let area = area.clone();
        let text = props.text.clone();
        let location = *location;
        Callback::from(move |_: MouseEvent| {
            if let (Some(area), Some(l)) = (area.cast::<HtmlTextAreaElement>(), location) {
                select(&area, &text, l, lines);
            }
        })
    };

    html! {
        <div class="editor">
            <div class="editor-body">
                <pre class="gutter" aria-hidden="true" ref={numbers}>
                    { gutter_text.before.clone() }
                    if let Some(m) = &gutter_text.marked {
                        <mark class="error-line" title="the error is on this line">{ m.clone() }</mark>
                    }
                    { gutter_text.after.clone() }
                </pre>
                <textarea
                    ref={area}
                    value={props.text.clone()}
                    readonly={props.readonly}
                    aria-label="Scenario JSON"
                    aria-invalid={if props.error.is_some() { "true" } else { "false" }}
                    spellcheck="false"
                    autocomplete="off"
                    autocapitalize="off"
                    wrap="off"
                    {oninput}
                    {onscroll}
                />
            </div>
            if let Some(e) = &props.error {
                <div class="error" role="alert">
                    if let Some(l) = *location {
                        <span class="where">{ format!("line {}, column {}: ", l.line, l.column) }</span>
                    }
                    <span class="message">{ e.to_string() }</span>
                    if location.is_some() {
                        <button type="button" class="go-to-error" onclick={go_to_error}>
                            { "Go to error" }
                        </button>
                    }
                </div>
            }
        </div>
    }
}

/// Selects the error's text and scrolls it into view (a third of the way down).
fn select(area: &HtmlTextAreaElement, text: &str, l: Location, lines: usize) {
    let _ = area.focus();
    let start = utf16_index(text, l.start) as u32;
    // An empty range (end of text) still shows the caret there.
    let end = utf16_index(text, l.end) as u32;
    let _ = area.set_selection_range(start, end);
    let line_height = f64::from(area.scroll_height()) / lines.max(1) as f64;
    let top =
        (l.line.saturating_sub(1) as f64) * line_height - f64::from(area.client_height()) / 3.0;
    area.set_scroll_top(top.max(0.0) as i32);
}
