//! The palette and live actions (stub: interface only).

use std::rc::Rc;

use yew::prelude::*;

use crate::engine::state::BrokerState;
use crate::scenario::{Scenario, Step};

#[derive(Debug, Clone, PartialEq, Properties)]
pub struct PaletteProps {
    /// The parsed scenario; `None` while the text is refused (the palette is then disabled).
    pub scenario: Option<Rc<Scenario>>,
    /// The broker at the cursor: live actions offer what makes sense now (ack tag 3, ...).
    pub state: Option<Rc<BrokerState>>,
    /// Adds this step at the end of the scenario.
    pub on_append: Callback<Step>,
}

#[function_component(Palette)]
pub fn palette(props: &PaletteProps) -> Html {
    let _ = props;
    html! { <div class="palette" /> }
}
