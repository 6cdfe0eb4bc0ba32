//! Proof that the engine gives byte-identical output on native and on wasm.
//!
//! A wasm test can neither read files nor run the native build, so the two meet in a checked-in
//! file, `tests/scenarios/digests.txt`: one line per scenario with the length and the FNV-1a 64
//! hash of what `queue_playground::run_text` returned (the trace JSON, or the error message).
//! - `tests/trace_digests.rs` (native) computes the lines and asserts they equal the file
//!   (`UPDATE_EXPECT=1` rewrites the file instead).
//! - `tests/wasm_traces.rs` (wasm, in a browser) computes the same lines and asserts they equal
//!   the file, embedded at compile time.
//!
//! So native == file == wasm. The scenarios are `tests/scenarios/*.json` (not `*.trace.json`),
//! embedded by `build.rs`, plus a few built in here so that the check covers error messages and
//! is never empty.

include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));

/// Scenarios that always exist: the UI's work queue and two refusals (their messages must be
/// byte-identical too).
const BUILTIN: &[(&str, &str)] = &[
    (
        "builtin:work-queue",
        r#"{"format": "queue-playground/v1", "name": "work queue", "seed": 7, "steps": [
            {"op": "queue.declare", "queue": "task_queue", "durable": true},
            {"op": "basic.qos", "channel": "worker", "prefetch_count": 1},
            {"op": "basic.consume", "channel": "worker", "queue": "task_queue", "consumer_tag": "w1"},
            {"op": "basic.publish", "channel": "producer", "exchange": "", "routing_key": "task_queue",
             "body": "order #1 \u00e9\u4e2d", "properties": {"delivery_mode": 2}},
            {"op": "basic.publish", "channel": "producer", "exchange": "", "routing_key": "task_queue",
             "body": "order #2", "properties": {"delivery_mode": 2}},
            {"op": "basic.ack", "channel": "worker", "delivery_tag": 1},
            {"op": "basic.ack", "channel": "worker", "delivery_tag": 2}
        ]}"#,
    ),
    ("builtin:bad-json", "{\"format\": "),
    (
        "builtin:unknown-op",
        r#"{"format": "queue-playground/v1", "name": "x", "steps": [{"op": "basic.teleport"}]}"#,
    ),
];

/// The file's first line, so that a reader knows what the numbers are and how to refresh them.
pub const HEADER: &str = "# name, bytes and FNV-1a 64 of run_text's output (\"ok\\n\" + trace or \
\"error\\n\" + message). Refresh: UPDATE_EXPECT=1 cargo test --test trace_digests";

/// FNV-1a, 64 bits: tiny, deterministic on every target, enough to tell outputs apart.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What `run_text` returned, as one byte string (success and refusal cannot collide).
fn outcome(text: &str) -> String {
    match queue_playground::run_text(text) {
        Ok(trace) => format!("ok\n{trace}"),
        Err(e) => format!("error\n{e}"),
    }
}

/// The digest file as this build of the engine computes it.
pub fn compute() -> String {
    let mut out = format!("{HEADER}\n");
    for (name, text) in BUILTIN.iter().chain(SCENARIO_FILES) {
        let bytes = outcome(text);
        out.push_str(&format!(
            "{name} {} {:016x}\n",
            bytes.len(),
            fnv1a64(bytes.as_bytes())
        ));
    }
    out
}

/// `Err` names every line that differs, or says the file is missing.
pub fn check(expected: Option<&str>, actual: &str) -> Result<(), String> {
    let Some(expected) = expected else {
        return Err("tests/scenarios/digests.txt is missing; create it with \
             UPDATE_EXPECT=1 cargo test --test trace_digests"
            .to_owned());
    };
    if expected == actual {
        return Ok(());
    }
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let mut report = String::from("trace digests differ from tests/scenarios/digests.txt:\n");
    for i in 0..expected.len().max(actual.len()) {
        let (e, a) = (expected.get(i), actual.get(i));
        if e != a {
            report.push_str(&format!(
                "  file:     {}\n  computed: {}\n",
                e.unwrap_or(&"(no line)"),
                a.unwrap_or(&"(no line)")
            ));
        }
    }
    if expected.len() == actual.len() && expected.iter().eq(actual.iter()) {
        report.push_str("  (only line endings differ)\n");
    }
    report.push_str(
        "If the engine's output changed on purpose, refresh with \
         UPDATE_EXPECT=1 cargo test --test trace_digests",
    );
    Err(report)
}
