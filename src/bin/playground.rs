//! The browser app's entry point, built by trunk for wasm32: mounts every playground the page
//! asks for (the app page's own, and any `<queue-playground>` element). On native targets there
//! is nothing to run (the command-line tool is `qp`), so `main` does nothing.

#[cfg(target_arch = "wasm32")]
fn main() {
    queue_playground::web::embed::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {}
