//! Shared by the browser tests (`tests/wasm_*.rs`).

use std::time::Duration;

/// Lets the page run for `ms` milliseconds: Yew renders and effects run meanwhile.
pub async fn sleep(ms: u64) {
    yew::platform::time::sleep(Duration::from_millis(ms)).await;
}
