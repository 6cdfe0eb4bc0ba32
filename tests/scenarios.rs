//! Data-driven: every `tests/scenarios/NAME.json` runs on the engine and must behave like
//! `NAME.trace.json`, which was recorded from a real RabbitMQ (`qp record`, see the README there).

use std::path::{Path, PathBuf};

use queue_playground::compare::{compare, report};
use queue_playground::scenario::{self, parse, Limits, Scenario};
use queue_playground::{engine, trace};

const RECORD_HINT: &str = "run `cargo xtask record` (see tests/scenarios/README.md)";

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

/// `NAME.json` files (not `NAME.trace.json`), sorted.
fn scenario_files() -> Vec<PathBuf> {
    let dir = scenario_dir();
    let files =
        scenario::files_in(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    assert!(
        !files.is_empty(),
        "no scenarios in {}: this test would check nothing",
        dir.display()
    );
    files
}

fn label(p: &Path) -> String {
    p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(p)
        .display()
        .to_string()
}

fn load(p: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", label(p)))?;
    parse(&text, &Limits::default()).map_err(|e| format!("{}: {e}", label(p)))
}

/// Fails once with every message, so one run shows every broken scenario.
fn fail_if_any(what: &str, failures: Vec<String>) {
    if !failures.is_empty() {
        panic!(
            "{} scenario(s) {what}:\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

#[test]
fn every_scenario_parses() {
    let failures = scenario_files()
        .iter()
        .filter_map(|p| load(p).err())
        .collect();
    fail_if_any("do not parse", failures);
}

#[test]
fn engine_traces_round_trip_through_json() {
    let mut failures = Vec::new();
    for p in scenario_files() {
        let Ok(s) = load(&p) else { continue };
        let events = engine::run(&s);
        let json = trace::to_json(&events);
        match trace::from_json(&json) {
            Ok(back) if back == events => {}
            Ok(_) => failures.push(format!("{}: the trace changes through JSON", label(&p))),
            Err(e) => failures.push(format!("{}: the trace does not parse back: {e}", label(&p))),
        }
    }
    fail_if_any("have traces that do not round-trip", failures);
}

#[test]
fn engine_behaves_like_the_recorded_rabbitmq_trace() {
    let mut failures = Vec::new();
    for p in scenario_files() {
        let s = match load(&p) {
            Ok(s) => s,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let trace_path = p.with_extension("trace.json");
        let expected = match std::fs::read_to_string(&trace_path) {
            Ok(text) => match trace::from_json(&text) {
                Ok(t) => t,
                Err(e) => {
                    failures.push(format!("{}: not a v1 trace: {e}", label(&trace_path)));
                    continue;
                }
            },
            Err(_) => {
                failures.push(format!("{}: no recorded trace: {RECORD_HINT}", label(&p)));
                continue;
            }
        };
        if let Err(diffs) = compare(&expected, &engine::run(&s)) {
            failures.push(format!(
                "{} (expected = RabbitMQ, got = engine):\n{}",
                label(&p),
                report(&diffs, 5)
            ));
        }
    }
    fail_if_any("differ from RabbitMQ (or have no recording)", failures);
}

#[test]
fn every_recorded_trace_has_its_scenario() {
    let dir = scenario_dir();
    let orphans: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p
                .file_name()?
                .to_str()?
                .strip_suffix(".trace.json")?
                .to_owned();
            (!dir.join(format!("{name}.json")).exists()).then(|| label(&p))
        })
        .collect();
    assert!(
        orphans.is_empty(),
        "recorded traces without a scenario (delete them): {orphans:?}"
    );
}
