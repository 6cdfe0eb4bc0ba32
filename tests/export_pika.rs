//! The exported pika programs against a live RabbitMQ: each runs with `python3` in a fresh
//! vhost, and what it prints (trace events, one a line) must be the same behaviour as the
//! engine's trace ([`compare`]: channel by channel, deliveries with body, routing key,
//! redelivered and delivery tag, gets, returns, confirms, errors; declare/purge/delete counts).
//!
//! Needs `QP_AMQP_URL` and `QP_RABBITMQ_NODE` (fresh vhosts via `rabbitmqctl`; the programs
//! of `broker.restart` scenarios restart that node, one at a time), `python3` and pika 1.3+. Without `QP_AMQP_URL` the test is skipped, loudly, except under CI, where skipping
//! is a failure.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use queue_playground::compare::{compare, report};
use queue_playground::rabbitmq::{self, rabbitmqctl};
use queue_playground::scenario::{self, parse, Limits, Op, Scenario};
use queue_playground::trace::TraceEvent;
use queue_playground::{engine, export};

/// Programs running at once.
const PARALLEL: usize = 4;
/// A program that runs longer than this has hung.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(60);
/// Scenarios whose clock advances more than this in total take too long for this test.
const MAX_SLEEP_MS: u64 = 5_000;

/// Scenarios the pika export cannot reproduce, and why.
const UNSUPPORTED: &[(&str, &str)] = &[(
    "consumer-tag-reuse-530.json",
    "pika refuses a consumer tag in use on the channel itself; RabbitMQ's answer is a 530",
)];

/// The live broker the test runs against: its URL, its node (for `rabbitmqctl`) and the user.
struct Broker {
    url: String,
    node: Option<String>,
    user: String,
}

/// `None` (after saying so loudly) when no broker is given; under CI that is a failure.
fn live_broker(test: &str) -> Option<Broker> {
    let Some(url) = std::env::var("QP_AMQP_URL").ok().filter(|v| !v.is_empty()) else {
        eprintln!("\n********************************************************");
        eprintln!("SKIPPED: no RabbitMQ (set QP_AMQP_URL and QP_RABBITMQ_NODE)");
        eprintln!("********************************************************\n");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the {test} test: set QP_AMQP_URL and QP_RABBITMQ_NODE"
        );
        return None;
    };
    let node = std::env::var("QP_RABBITMQ_NODE")
        .ok()
        .filter(|v| !v.is_empty());
    let user = rabbitmq::Endpoint::parse(&url)
        .map(|ep| ep.user)
        .expect("QP_AMQP_URL is an amqp:// URL");
    Some(Broker { url, node, user })
}

/// Why a scenario is not run here, from what it does (`None`: it is run).
fn skip_reason(name: &str, s: &Scenario, node: Option<&str>) -> Option<String> {
    if let Some((_, why)) = UNSUPPORTED.iter().find(|(n, _)| *n == name) {
        return Some((*why).to_owned());
    }
    if rabbitmq::restarts_broker(s) && node.is_none() {
        return Some("restarts the broker: needs QP_RABBITMQ_NODE".into());
    }
    let sleep: u64 = s
        .steps
        .iter()
        .map(|st| match st.op {
            Op::ClockAdvance { ms } => ms,
            _ => 0,
        })
        .sum();
    (sleep > MAX_SLEEP_MS).then(|| format!("sleeps {sleep} ms on a real clock"))
}

fn url_with_vhost(url: &str, vhost: &str) -> String {
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(url);
    format!("{base}/{vhost}")
}

fn erlang_binary(s: &str) -> String {
    format!("<<\"{}\">>", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Makes (`add`) or deletes the vhosts in one `rabbitmqctl eval` (each call costs ~0.4 s).
fn vhosts(node: Option<&str>, user: &str, names: &[String], add: bool) -> Result<(), String> {
    let list: Vec<String> = names.iter().map(|n| erlang_binary(n)).collect();
    let body = if add {
        format!(
            "ok = rabbit_vhost:add(V, <<\"qp\">>), ok = rabbit_auth_backend_internal:set_permissions({}, V, <<\".*\">>, <<\".*\">>, <<\".*\">>, <<\"qp\">>)",
            erlang_binary(user)
        )
    } else {
        "rabbit_vhost:delete(V, <<\"qp\">>)".to_owned()
    };
    let expr = format!(
        "lists:foreach(fun(V) -> {body} end, [{}]).",
        list.join(", ")
    );
    rabbitmqctl(node, &["eval", &expr])
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Runs the program (`restart_node`: the node its `broker.restart` steps restart); its stdout
/// lines as trace events.
fn run_program(
    path: &Path,
    url: &str,
    restart_node: Option<&str>,
) -> Result<Vec<TraceEvent>, String> {
    let mut command = Command::new("python3");
    match restart_node {
        Some(node) => command.env("RABBITMQ_NODE", node),
        None => command.env_remove("RABBITMQ_NODE"),
    };
    let mut child = command
        .arg(path)
        .env("AMQP_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > PROGRAM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {PROGRAM_TIMEOUT:?}: killed"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("python3 failed ({status}):\n{err}"));
    }
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<TraceEvent>(l).map_err(|e| format!("bad line {l:?}: {e}")))
        .collect()
}

/// Where and how programs run.
struct Batch<'a> {
    url: &'a str,
    node: Option<&'a str>,
    user: &'a str,
    tmp: &'a Path,
}

impl Batch<'_> {
    /// Runs the scenarios' programs `parallel` at a time, each in a fresh vhost; the failures.
    fn run(&self, runs: &[(String, Scenario)], parallel: usize, tag: &str) -> Vec<String> {
        if runs.is_empty() {
            return Vec::new();
        }
        let stamp = std::process::id();
        let names: Vec<String> = (0..runs.len())
            .map(|i| format!("qp-export-{stamp}-{tag}{i}"))
            .collect();
        vhosts(self.node, self.user, &names, true).expect("fresh vhosts (QP_RABBITMQ_NODE)");
        // Work for the threads; scenarios as JSON text, as engine values are `Rc`.
        let work: Vec<(String, PathBuf, String, String, bool)> = runs
            .iter()
            .zip(&names)
            .map(|((name, s), vhost)| {
                let program = self.tmp.join(name.replace(".json", ".py"));
                std::fs::write(&program, export::to_pika(s)).expect("write program");
                (
                    name.clone(),
                    program,
                    vhost.clone(),
                    s.to_json().to_string(),
                    rabbitmq::restarts_broker(s),
                )
            })
            .collect();
        let next = Mutex::new(0usize);
        let failures = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..parallel {
                scope.spawn(|| loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some((name, program, vhost, scenario, restarts)) = work.get(i) else {
                        return;
                    };
                    let expected =
                        engine::run(&parse(scenario, &Limits::default()).expect("reads back"));
                    let restart_node = if *restarts { self.node } else { None };
                    let url = url_with_vhost(self.url, vhost);
                    let failure = match run_program(program, &url, restart_node) {
                        Err(e) => Some(format!("{name}: {e}")),
                        Ok(mut actual) => {
                            rabbitmq::normalize(&mut actual, vhost);
                            compare(&expected, &actual).err().map(|diffs| {
                                format!(
                                    "{name} ({}): the pika program's trace differs (expected = engine, got = pika):\n{}",
                                    program.display(),
                                    report(&diffs, 5)
                                )
                            })
                        }
                    };
                    failures.lock().unwrap().extend(failure);
                });
            }
        });
        if let Err(e) = vhosts(self.node, self.user, &names, false) {
            eprintln!("could not delete the test's vhosts: {e}");
        }
        failures.into_inner().unwrap()
    }
}

#[test]
fn exported_pika_programs_match_the_engine_on_live_rabbitmq() {
    let Some(Broker { url, node, user }) = live_broker("pika export") else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut skipped = Vec::new();
    let mut runs: Vec<(String, Scenario)> = Vec::new();
    for path in scenario::files_in(&dir).expect("tests/scenarios") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("readable scenario");
        let s = parse(&text, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        match skip_reason(&name, &s, node.as_deref()) {
            Some(why) => skipped.push(format!("{name}: {why}")),
            None => runs.push((name, s)),
        }
    }
    // Text that tries to break out of the program's literals must reach the broker and come
    // back as it is.
    let nasty = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export/nasty-text.json");
    let text = std::fs::read_to_string(&nasty).expect("tests/export/nasty-text.json");
    runs.push((
        "nasty-text.json".into(),
        parse(&text, &Limits::default()).expect("nasty-text.json is a scenario"),
    ));
    assert!(
        runs.len() >= 100,
        "only {} scenarios left to run",
        runs.len()
    );
    // Restarts disturb every other run on the node, and start_app restarts every vhost: those
    // scenarios run alone, after the others' vhosts are gone.
    let (serial, concurrent): (Vec<_>, Vec<_>) = runs
        .iter()
        .cloned()
        .partition(|(_, s)| rabbitmq::restarts_broker(s));
    let tmp = std::env::temp_dir().join(format!("qp-export-pika-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let batch = Batch {
        url: &url,
        node: node.as_deref(),
        user: &user,
        tmp: &tmp,
    };
    let mut failures = batch.run(&concurrent, PARALLEL, "c");
    failures.extend(batch.run(&serial, 1, "s"));
    eprintln!(
        "pika export: ran {} scenarios; skipped {}:\n  {}",
        runs.len(),
        skipped.len(),
        skipped.join("\n  ")
    );
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(
        failures.is_empty(),
        "{} of {} exported pika programs differ from the engine:\n\n{}",
        failures.len(),
        runs.len(),
        failures.join("\n\n")
    );
}

/// The topology as RabbitMQ's `export_definitions` writes it: it imports internal exchanges
/// (and their bindings, either way) but leaves them out of its exports.
fn without_internal_exchanges(topology: &serde_json::Value) -> serde_json::Value {
    let mut t = topology.clone();
    let internal: Vec<serde_json::Value> = t["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["internal"] == true)
        .map(|x| x["name"].clone())
        .collect();
    t["exchanges"]
        .as_array_mut()
        .unwrap()
        .retain(|x| x["internal"] != true);
    t["bindings"]
        .as_array_mut()
        .unwrap()
        .retain(|b| !internal.contains(&b["source"]) && !internal.contains(&b["destination"]));
    t
}

/// Definitions through RabbitMQ: every scenario's exported definitions, each rewritten into a
/// vhost of its own, go into the node with one `rabbitmqctl import_definitions`; one
/// `export_definitions` brings them back, and each vhost's topology must be the scenario's.
#[test]
fn definitions_survive_rabbitmqctl_import_and_export() {
    let Some(Broker { node, user, .. }) = live_broker("definitions") else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let stamp = std::process::id();
    let mut all = serde_json::json!({"vhosts": [], "queues": [], "exchanges": [], "bindings": []});
    let mut expected = Vec::new();
    for (i, path) in scenario::files_in(&dir)
        .expect("tests/scenarios")
        .iter()
        .enumerate()
    {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let s = parse(&std::fs::read_to_string(path).unwrap(), &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let topology = export::topology(&s);
        if topology["queues"].as_array().is_none_or(|q| q.is_empty()) {
            continue;
        }
        // A lease shorter than the test runs out on the broker before the export.
        if topology["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["arguments"].get("x-expires").is_some())
        {
            continue;
        }
        let vhost = format!("qp-defs-{stamp}-{i}");
        let mut defs: serde_json::Value =
            serde_json::from_str(&export::to_definitions(&s)).expect("definitions are JSON");
        all["vhosts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"name": vhost}));
        for section in ["queues", "exchanges", "bindings"] {
            for mut entry in defs[section].as_array_mut().unwrap().drain(..) {
                entry["vhost"] = serde_json::Value::from(vhost.clone());
                all[section].as_array_mut().unwrap().push(entry);
            }
        }
        expected.push((name, vhost, topology));
    }
    assert!(expected.len() > 100, "only {} scenarios", expected.len());
    let file = std::env::temp_dir().join(format!("qp-defs-{stamp}.json"));
    std::fs::write(&file, all.to_string()).expect("write definitions");
    let vhost_names: Vec<String> = expected.iter().map(|(_, v, _)| v.clone()).collect();
    let imported = rabbitmqctl(
        node.as_deref(),
        &["import_definitions", &file.to_string_lossy(), "-q"],
    );
    let exported =
        imported.and_then(|_| rabbitmqctl(node.as_deref(), &["export_definitions", "-", "-q"]));
    if let Err(e) = vhosts(node.as_deref(), &user, &vhost_names, false) {
        eprintln!("could not delete the test's vhosts: {e}");
    }
    let _ = std::fs::remove_file(&file);
    let exported = exported.expect("rabbitmqctl import_definitions and export_definitions");
    let mut failures = Vec::new();
    for (name, vhost, want) in &expected {
        match export::from_definitions_in(&exported, vhost) {
            Ok(back) => {
                let got = export::topology(&back);
                let want = &without_internal_exchanges(want);
                if &got != want {
                    failures.push(format!("{name}: RabbitMQ gave back another topology\n  want: {want}\n  got:  {got}"));
                }
            }
            Err(e) => failures.push(format!("{name}: RabbitMQ's export does not import: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} topologies did not survive RabbitMQ:\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n")
    );
}
