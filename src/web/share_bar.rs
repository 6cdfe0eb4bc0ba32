//! Share link, import and export (stub: interface only).

use yew::prelude::*;

#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ShareBarProps {
    /// The scenario text to share or export.
    pub text: AttrValue,
    /// A scenario file the reader imported.
    pub on_import: Callback<String>,
    /// Keep the page URL's fragment in step with `text` (the app page only).
    pub url_fragment: bool,
}

#[function_component(ShareBar)]
pub fn share_bar(props: &ShareBarProps) -> Html {
    let _ = props;
    html! { <div class="share" /> }
}
