//! The browser app's entry point, built by trunk for wasm32. On native targets there is nothing
//! to run (the command-line tool is `qp`), so `main` does nothing.

#[cfg(target_arch = "wasm32")]
fn main() {
    yew::Renderer::<queue_playground::web::App>::new().render();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {}
