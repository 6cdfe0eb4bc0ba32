//! The palette and live actions: a compact form that appends one of the common steps without
//! typing JSON, and buttons for what makes sense at the cursor (ack this delivery, crash that
//! consumer, publish, restart). The steps and their validation are `view::actions`.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::engine::state::BrokerState;
use crate::scenario::{ExchangeType, Scenario, Step};
use crate::view::actions::{
    fields, live_actions, step_from_form, Field, FieldKind, Group, Known, LiveAction, PALETTE,
};

#[derive(Debug, Clone, PartialEq, Properties)]
pub struct PaletteProps {
    /// The parsed scenario; `None` while the text is refused (the palette is then disabled).
    pub scenario: Option<Rc<Scenario>>,
    /// The broker at the cursor: live actions offer what makes sense now (ack tag 3, ...).
    pub state: Option<Rc<BrokerState>>,
    /// Adds this step at the end of the scenario.
    pub on_append: Callback<Step>,
}

/// Distinct ids for each palette's datalists, so that two playgrounds on a page do not share
/// suggestions.
fn next_instance() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The op the form starts on.
const START_OP: &str = "basic.publish";

#[function_component(Palette)]
pub fn palette(props: &PaletteProps) -> Html {
    let instance = use_state(next_instance);
    let op = use_state(|| START_OP.to_owned());
    // What the reader typed, per field; untouched fields show their default.
    let typed = use_state(HashMap::<&'static str, String>::new);
    let error = use_state(|| None::<String>);
    let known = use_memo((props.scenario.clone(), props.state.clone()), |(s, st)| {
        Known::new(s.as_deref(), st.as_deref())
    });
    let actions = use_memo((props.scenario.clone(), props.state.clone()), |(s, st)| {
        st.as_deref()
            .map(|st| live_actions(st, s.as_deref()))
            .unwrap_or_default()
    });
    let disabled = props.scenario.is_none();

    let value_of = |field: &Field| -> String {
        typed
            .get(field.name)
            .cloned()
            .unwrap_or_else(|| known.default_for(&op, field))
    };

    let on_op = {
        let op = op.clone();
        let typed = typed.clone();
        let error = error.clone();
        Callback::from(move |e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            op.set(select.value());
            typed.set(HashMap::new());
            error.set(None);
        })
    };
    let set_field = |name: &'static str, checkbox: bool| {
        let typed = typed.clone();
        let error = error.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let value = if checkbox {
                input.checked().to_string()
            } else {
                input.value()
            };
            let mut next = (*typed).clone();
            next.insert(name, value);
            typed.set(next);
            error.set(None);
        })
    };
    let on_type = |name: &'static str| {
        let typed = typed.clone();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let mut next = (*typed).clone();
            next.insert(name, input.value());
            typed.set(next);
        })
    };
    let on_select = |name: &'static str| {
        let typed = typed.clone();
        Callback::from(move |e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            let mut next = (*typed).clone();
            next.insert(name, select.value());
            typed.set(next);
        })
    };

    let onsubmit = {
        let op = op.clone();
        let error = error.clone();
        let on_append = props.on_append.clone();
        let values: Vec<(&'static str, String)> =
            fields(&op).iter().map(|f| (f.name, value_of(f))).collect();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let pairs: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
            match step_from_form(&op, &pairs) {
                Ok(step) => {
                    error.set(None);
                    on_append.emit(step);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        })
    };

    let list_id = |what: &str| format!("qp-palette-{}-{what}", *instance);
    let datalist = |what: &str, names: &[String]| {
        html! {
            <datalist id={list_id(what)}>
                { for names.iter().map(|n| html! { <option value={n.clone()} /> }) }
            </datalist>
        }
    };
    let field_view = |field: &Field| -> Html {
        let value = value_of(field);
        let label = field.name.strip_prefix("arguments.").unwrap_or(field.name);
        let input = match field.kind {
            FieldKind::Flag => html! {
                <input type="checkbox" name={field.name} checked={value == "true"}
                    onchange={set_field(field.name, true)} />
            },
            FieldKind::ExchangeType => html! {
                <select name={field.name} onchange={on_select(field.name)}>
                    { for ExchangeType::ALL.iter().map(|k| html! {
                        <option value={k.as_str()} selected={value == k.as_str()}>{ k.as_str() }</option>
                    }) }
                </select>
            },
            kind => {
                let list = match kind {
                    FieldKind::Channel => Some(list_id("channels")),
                    FieldKind::Queue => Some(list_id("queues")),
                    FieldKind::Exchange => Some(list_id("exchanges")),
                    _ => None,
                };
                let placeholder = match (kind, field.optional) {
                    (FieldKind::Exchange, false) => "\"\" (default)",
                    (_, true) => "optional",
                    _ => "",
                };
                html! {
                    <input
                        type={if kind == FieldKind::Number { "number" } else { "text" }}
                        name={field.name}
                        value={value}
                        list={list}
                        placeholder={placeholder}
                        min={(kind == FieldKind::Number).then_some("0")}
                        oninput={on_type(field.name)}
                    />
                }
            }
        };
        html! {
            <label class={classes!("field", (field.kind == FieldKind::Flag).then_some("flag"))}>
                <span>{ label }</span>
                { input }
            </label>
        }
    };

    html! {
        <div class="palette">
            <form class="add-step" {onsubmit}>
                <fieldset disabled={disabled}>
                    <legend>{ "Add a step" }</legend>
                    if disabled {
                        <p class="hint">{ "Fix the scenario's error to add steps." }</p>
                    }
                    <label class="field op">
                        <span>{ "op" }</span>
                        <select name="op" onchange={on_op}>
                            { for PALETTE.iter().map(|(name, _)| html! {
                                <option value={*name} selected={*name == op.as_str()}>{ *name }</option>
                            }) }
                        </select>
                    </label>
                    { for fields(&op).iter().map(field_view) }
                    <button type="submit" class="append">{ "Add step" }</button>
                    if let Some(message) = &*error {
                        <p class="error" role="alert">{ message.clone() }</p>
                    }
                    { datalist("channels", &known.channels) }
                    { datalist("queues", &known.queues) }
                    { datalist("exchanges", &known.exchanges) }
                </fieldset>
            </form>
            { live_view(&actions, props.state.is_some(), disabled, &props.on_append) }
        </div>
    }
}

fn live_view(
    actions: &[LiveAction],
    has_state: bool,
    disabled: bool,
    on_append: &Callback<Step>,
) -> Html {
    if !has_state {
        return html! {};
    }
    let group = |g: Group, title: &str| -> Html {
        let items: Vec<&LiveAction> = actions.iter().filter(|a| a.group == g).collect();
        if items.is_empty() {
            return html! {};
        }
        // Actions on one subject (three for a delivery) share a row.
        let mut rows: Vec<(&str, Vec<&LiveAction>)> = Vec::new();
        for a in items {
            match rows.last_mut() {
                Some((subject, list)) if *subject == a.subject => list.push(a),
                _ => rows.push((&a.subject, vec![a])),
            }
        }
        html! {
            <section class={classes!("live-group", format!("live-{g:?}").to_lowercase())}>
                <h4>{ title.to_owned() }</h4>
                <ul>
                    { for rows.into_iter().map(|(subject, list)| html! {
                        <li>
                            <span class="subject">{ subject.to_owned() }</span>
                            { for list.into_iter().map(|a| {
                                let step = a.step.clone();
                                let on_append = on_append.clone();
                                let onclick = Callback::from(move |_: MouseEvent| on_append.emit(step.clone()));
                                html! {
                                    <button type="button" class="live-action" {disabled} {onclick}>
                                        { a.verb }
                                    </button>
                                }
                            }) }
                        </li>
                    }) }
                </ul>
            </section>
        }
    };
    html! {
        <div class="live" aria-label="Live actions">
            <h3>{ "Live actions" }</h3>
            { group(Group::Delivery, "Unacked deliveries") }
            { group(Group::Consumer, "Consumers") }
            { group(Group::Publish, "Publish") }
            { group(Group::Broker, "Broker") }
        </div>
    }
}
