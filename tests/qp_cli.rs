//! The `qp` command line: exit codes and messages (no broker needed).

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn qp(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qp"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A developer's broker settings must not change what these tests see.
        .env_remove("QP_AMQP_URL")
        .env_remove("QP_RABBITMQ_NODE")
        .spawn()
        .expect("qp runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(text.as_bytes())
            .expect("qp reads stdin");
    }
    child.wait_with_output().expect("qp exits")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const VALID: &str = r#"{"format": "queue-playground/v1", "steps": [
    {"op": "queue.declare", "queue": "q"},
    {"op": "basic.publish", "exchange": "", "routing_key": "q", "body": "hello"},
    {"op": "basic.get", "queue": "q"}
]}"#;

#[test]
fn check_counts_steps() {
    let out = qp(&["check", "-"], Some(VALID));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok: 3 steps\n");
}

#[test]
fn run_prints_a_v1_trace() {
    let out = qp(&["run", "-"], Some(VALID));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let trace = queue_playground::trace::from_json(&text(&out.stdout)).expect("a v1 trace");
    let expected = queue_playground::run_text(VALID).expect("valid");
    assert_eq!(text(&out.stdout), expected);
    assert!(trace.iter().all(|e| e.step < 3));
}

#[test]
fn invalid_scenario_exits_2_naming_file_step_and_field() {
    let dir = std::env::temp_dir().join(format!("qp-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.json");
    std::fs::write(
        &file,
        r#"{"format": "queue-playground/v1", "steps": [
            {"op": "queue.declare", "queue": "q"},
            {"op": "basic.publish", "exchange": "", "routing_key": "q", "body": "x",
             "properties": {"priority": "high"}}]}"#,
    )
    .unwrap();
    let path = file.to_string_lossy().into_owned();
    for command in ["run", "check", "rabbitmq", "diff"] {
        let out = qp(&[command, &path], None);
        assert_eq!(out.status.code(), Some(2), "qp {command}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with(&format!("{path}: step 1 (basic.publish)")),
            "qp {command}: {err}"
        );
        assert!(err.contains("properties.priority"), "qp {command}: {err}");
        assert!(out.stdout.is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_file_exits_2() {
    let out = qp(&["run", "/nonexistent/scenario.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/scenario.json"));
}

#[test]
fn bad_usage_exits_2_with_usage() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["run"],
        &["run", "a", "b"],
        &["diff", "x", "--url"],
    ] {
        let out = qp(args, None);
        assert_eq!(out.status.code(), Some(2), "qp {args:?}");
        assert!(text(&out.stderr).contains("usage:"), "qp {args:?}");
    }
}

#[test]
fn unreachable_broker_exits_3() {
    // Port 1 on loopback: nothing listens there; the vhost falls back to cleanup mode first.
    let out = qp(
        &[
            "rabbitmq",
            "-",
            "--url",
            "amqp://guest:guest@127.0.0.1:1/%2f",
            "--no-fresh-vhost",
        ],
        Some(VALID),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("127.0.0.1:1"));
}

#[test]
fn compare_reports_differences_with_exit_1() {
    let dir = std::env::temp_dir().join(format!("qp-cli-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.trace.json");
    let b = dir.join("b.trace.json");
    std::fs::write(
        &a,
        r#"[{"step":0,"event":"basic.get-empty","channel":"main"}]"#,
    )
    .unwrap();
    std::fs::write(&b, "[]").unwrap();
    let (a, b) = (
        a.to_string_lossy().into_owned(),
        b.to_string_lossy().into_owned(),
    );
    let same = qp(&["compare", &a, &a], None);
    assert_eq!(same.status.code(), Some(0));
    let differ = qp(&["compare", &a, &b], None);
    assert_eq!(differ.status.code(), Some(1));
    assert!(text(&differ.stdout).contains("channel `main`, event #0: missing"));
    let _ = std::fs::remove_dir_all(&dir);
}
