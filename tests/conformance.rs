//! Conformance against a live RabbitMQ: every scenario (and every preset the app offers, in
//! `www/presets`) runs on the broker and on the engine, and any difference fails. The broker run is also compared with the recorded trace, so stale or
//! timing-dependent recordings show up.
//!
//! Needs `QP_AMQP_URL` (and `QP_RABBITMQ_NODE` for the node's `rabbitmqctl`: each scenario gets
//! a fresh vhost, which lets scenarios run in parallel). Without it the test is skipped, loudly,
//! except under CI, where skipping is a failure.

use std::path::{Path, PathBuf};

use queue_playground::compare::{compare, report};
use queue_playground::rabbitmq::{self, Isolation, Options};
use queue_playground::scenario::{self, parse, Limits};
use queue_playground::{engine, trace};

/// Scenarios on the broker at once (broker.restart ones always run alone).
const PARALLEL: usize = 8;

fn scenario_files() -> Vec<PathBuf> {
    ["tests/scenarios", "www/presets"]
        .iter()
        .flat_map(|dir| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            scenario::files_in(&dir)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        })
        .collect()
}

#[test]
fn engine_matches_live_rabbitmq() {
    if std::env::var_os("QP_AMQP_URL").is_none_or(|v| v.is_empty()) {
        eprintln!("\n********************************************************");
        eprintln!("SKIPPED: no RabbitMQ (set QP_AMQP_URL)");
        eprintln!("********************************************************\n");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the conformance test: set QP_AMQP_URL (and QP_RABBITMQ_NODE)"
        );
        return;
    }
    let opts = Options {
        isolation: Isolation::FreshVhost,
        ..Options::from_env()
    };
    let files = scenario_files();
    assert!(!files.is_empty(), "no scenarios in tests/scenarios");
    let mut failures = Vec::new();
    let mut scenarios = Vec::new();
    for p in &files {
        // Relative to the repository, so that a preset and a scenario never share a name.
        let name = p
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(p)
            .to_string_lossy()
            .trim_start_matches('/')
            .to_owned();
        match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| parse(&t, &Limits::default()).map_err(|e| e.to_string()))
        {
            Ok(s) => scenarios.push((name, s)),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    let results = rabbitmq::run_many(&scenarios, &opts, PARALLEL);
    for ((name, s), result) in scenarios.iter().zip(results) {
        let broker = match result {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: could not run on RabbitMQ: {e}"));
                continue;
            }
        };
        if let Err(diffs) = compare(&broker, &engine::run(s)) {
            failures.push(format!(
                "{name}: the engine differs from RabbitMQ (expected = RabbitMQ, got = engine):\n{}",
                report(&diffs, 5)
            ));
        }
        // Presets have no recording: the live broker is their reference.
        let recorded = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(name.trim_end_matches(".json").to_owned() + ".trace.json");
        if let Some(Ok(recorded)) = std::fs::read_to_string(&recorded)
            .ok()
            .map(|t| trace::from_json(&t))
        {
            if let Err(diffs) = compare(&recorded, &broker) {
                failures.push(format!(
                    "{name}: RabbitMQ now differs from its recorded trace (expected = recorded, got = live; re-record or make the scenario timing-independent):\n{}",
                    report(&diffs, 5)
                ));
            }
        }
    }
    if !failures.is_empty() {
        panic!(
            "{} conformance failure(s):\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}
