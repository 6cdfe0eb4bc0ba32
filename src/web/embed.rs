//! Embedding (to be written): `mount(element, options)` and `<queue-playground>`.

use std::rc::Rc;

use super::app::App;
use super::options::{AppProps, Control, Options};

/// Mounts the playgrounds the page asks for. Stand-in until the real embedding lands: the
/// whole body becomes one full app.
pub fn start() {
    let props = AppProps {
        options: Rc::new(Options::default()),
        control: Rc::new(Control::default()),
    };
    yew::Renderer::<App>::with_props(props).render();
}
