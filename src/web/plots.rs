//! Small SVG charts over the steps (stub: interface only).

use std::rc::Rc;

use yew::prelude::*;

use crate::view::series::Series;

#[derive(Debug, Clone, PartialEq, Properties)]
pub struct PlotsProps {
    pub series: Rc<Series>,
    /// Steps applied: where the cursor line is drawn.
    pub position: usize,
    /// A click on a chart jumps to that step.
    pub on_seek: Callback<usize>,
}

#[function_component(Plots)]
pub fn plots(props: &PlotsProps) -> Html {
    let _ = props;
    html! { <div class="plots" /> }
}
