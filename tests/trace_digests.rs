//! Native half of the native/wasm byte-identity check; the design is in `trace_digest/mod.rs`.
#![cfg(not(target_arch = "wasm32"))]

mod trace_digest;

use std::path::Path;
use std::{env, fs};

#[test]
fn native_trace_digests_match_the_checked_in_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/digests.txt");
    let computed = trace_digest::compute();
    if env::var_os("UPDATE_EXPECT").is_some() {
        fs::create_dir_all(path.parent().expect("the path has a parent"))
            .and_then(|()| fs::write(&path, &computed))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    // Read at run time (not the copy embedded at build time) so a stale build cannot pass.
    let on_disk = fs::read_to_string(&path).ok();
    if let Err(report) = trace_digest::check(on_disk.as_deref(), &computed) {
        panic!("{report}");
    }
}

#[test]
fn a_changed_output_is_reported_line_by_line() {
    let computed = trace_digest::compute();
    let tampered = computed.replace("builtin:bad-json", "x");
    let report = trace_digest::check(Some(&tampered), &computed).unwrap_err();
    assert!(report.contains("computed: builtin:bad-json"), "{report}");
    assert!(trace_digest::check(None, &computed)
        .unwrap_err()
        .contains("missing"));
    assert_eq!(trace_digest::check(Some(&computed), &computed), Ok(()));
}
