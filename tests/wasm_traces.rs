//! Wasm half of the native/wasm byte-identity check (design in `trace_digest/mod.rs`), plus the
//! page's run path. Runs in headless Chromium: `cargo test --target wasm32-unknown-unknown
//! --test wasm_traces` (`cargo xtask test` sets it up).
#![cfg(target_arch = "wasm32")]

mod trace_digest;

use queue_playground::web::app::{self as web, Outcome};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn wasm_trace_digests_match_the_native_ones() {
    if let Err(report) = trace_digest::check(trace_digest::DIGESTS_FILE, &trace_digest::compute()) {
        panic!("{report}");
    }
}

#[wasm_bindgen_test]
fn the_page_shows_the_facades_trace_for_its_default_scenario() {
    let expected =
        queue_playground::run_text(web::DEFAULT_SCENARIO).expect("the default scenario is valid");
    let Outcome::Trace(events) = web::run(web::DEFAULT_SCENARIO) else {
        panic!("the default scenario was refused");
    };
    assert_eq!(queue_playground::trace::to_json(&events), expected);
}

#[wasm_bindgen_test]
fn the_page_shows_the_parse_error_for_a_bad_scenario() {
    let bad = r#"{"format": "queue-playground/v1", "name": "x", "steps": [{"op": "nope"}]}"#;
    let message = queue_playground::run_text(bad).unwrap_err().to_string();
    assert!(message.contains("step 0"), "{message}");
    assert_eq!(web::run(bad), Outcome::Error(message));
}
