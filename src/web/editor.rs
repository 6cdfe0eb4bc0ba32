//! The scenario editor (stub: interface only).

use std::rc::Rc;

use yew::prelude::*;

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

#[function_component(Editor)]
pub fn editor(props: &EditorProps) -> Html {
    let on_change = props.on_change.clone();
    let oninput = Callback::from(move |e: InputEvent| {
        let area: web_sys::HtmlTextAreaElement = e.target_unchecked_into();
        on_change.emit(area.value());
    });
    html! {
        <div class="editor">
            <textarea value={props.text.clone()} readonly={props.readonly} {oninput} />
            if let Some(e) = &props.error { <p class="error" role="alert">{ e.to_string() }</p> }
        </div>
    }
}
