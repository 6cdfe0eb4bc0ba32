//! Running scenarios on a real RabbitMQ, the judge of the engine.
//!
//! The AMQP client is our own, small and synchronous ([`wire`], [`conn`]): every frame of every
//! connection lands in one inbox in arrival order, so a trace keeps the order the broker sent
//! things in, deliveries and confirms and returns of one channel included. (The async client
//! crates hand deliveries to a consumer task and confirms to a callback, so that order is lost.)
//!
//! Steps run one at a time. After each, we wait until the broker has been quiet for
//! [`Options::settle`], so the asynchronous frames a step caused are attributed to it.

mod conn;
mod runner;
mod wire;

use std::collections::HashMap;
use std::fmt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use conn::Endpoint;
pub use runner::normalize;

use crate::scenario::{Op, Scenario};
use crate::trace::TraceEvent;

/// Where a local development broker listens by default.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Quiet time after each step before the next one starts.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(40);

/// How the scenario is isolated from whatever else is on the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A vhost made for this run (`rabbitmqctl add_vhost`) and deleted after it. Runs can then
    /// go in parallel.
    FreshVhost,
    /// The URL's vhost, after deleting every queue and exchange the scenario names.
    Cleanup,
    /// A fresh vhost when `rabbitmqctl` can reach the node, else cleanup.
    Auto,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub url: String,
    /// Erlang node for `rabbitmqctl -n` (fresh vhosts, `broker.restart`); `None` lets
    /// `rabbitmqctl` use its default node.
    pub node: Option<String>,
    pub settle: Duration,
    /// How long a synchronous method may wait for its reply before the run is abandoned.
    pub reply_timeout: Duration,
    pub isolation: Isolation,
    /// A vhost the caller made for this run (empty, with permissions): used as is, whatever
    /// `isolation` says.
    pub vhost: Option<String>,
    /// `clock.advance` is a real sleep on a broker: a scenario that sleeps longer in total is
    /// refused instead of hanging.
    pub max_total_sleep: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            url: DEFAULT_URL.to_owned(),
            node: None,
            settle: DEFAULT_SETTLE,
            reply_timeout: Duration::from_secs(10),
            isolation: Isolation::Auto,
            vhost: None,
            max_total_sleep: Duration::from_secs(600),
        }
    }
}

impl Options {
    /// Defaults overridden by `QP_AMQP_URL`, `QP_RABBITMQ_NODE` and `QP_SETTLE_MS`.
    pub fn from_env() -> Options {
        let mut o = Options::default();
        if let Ok(url) = std::env::var("QP_AMQP_URL") {
            if !url.is_empty() {
                o.url = url;
            }
        }
        if let Ok(node) = std::env::var("QP_RABBITMQ_NODE") {
            if !node.is_empty() {
                o.node = Some(node);
            }
        }
        if let Some(ms) = std::env::var("QP_SETTLE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            o.settle = Duration::from_millis(ms);
        }
        o
    }
}

/// Why a scenario could not be run on the broker (not a channel error: those are behaviour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error(s)
    }
}

/// Whether the scenario restarts the broker, which disturbs every other run on the node: such
/// scenarios must run alone.
pub fn restarts_broker(scenario: &Scenario) -> bool {
    scenario
        .steps
        .iter()
        .any(|s| matches!(s.op, Op::BrokerRestart))
}

/// Runs the scenario on the broker and returns its trace, normalized (see [`normalize`]).
pub fn run(scenario: &Scenario, opts: &Options) -> Result<Vec<TraceEvent>, Error> {
    let sleep_ms: u64 = scenario
        .steps
        .iter()
        .map(|s| match s.op {
            Op::ClockAdvance { ms } => ms,
            _ => 0,
        })
        .fold(0, u64::saturating_add);
    if u128::from(sleep_ms) > opts.max_total_sleep.as_millis() {
        return Err(Error(format!(
            "the scenario advances the clock by {sleep_ms} ms in total; on a real broker that is a real sleep, and at most {} ms are allowed",
            opts.max_total_sleep.as_millis()
        )));
    }
    let ep = Endpoint::parse(&opts.url)?;
    if let Some(vhost) = &opts.vhost {
        let mut events = runner::run(scenario, &ep, vhost, opts)?;
        normalize(&mut events, vhost);
        return Ok(events);
    }
    let fresh = match opts.isolation {
        Isolation::FreshVhost => Some(FreshVhost::create(opts.node.as_deref(), &ep.user)?),
        Isolation::Cleanup => None,
        Isolation::Auto => match FreshVhost::create(opts.node.as_deref(), &ep.user) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!(
                    "qp: no fresh vhost ({e}); deleting the scenario's queues and exchanges in {} instead",
                    ep.vhost
                );
                None
            }
        },
    };
    let vhost = fresh
        .as_ref()
        .map(|v| v.name.clone())
        .unwrap_or_else(|| ep.vhost.clone());
    if fresh.is_none() {
        runner::cleanup(scenario, &ep, &vhost, opts)?;
    }
    let mut events = runner::run(scenario, &ep, &vhost, opts)?;
    normalize(&mut events, &vhost);
    Ok(events)
}

/// Runs `rabbitmqctl [-n NODE] ARGS`.
pub fn rabbitmqctl(node: Option<&str>, args: &[&str]) -> Result<String, Error> {
    let mut last_err = String::new();
    // Root's PATH has /usr/sbin; other users' often does not.
    for program in ["rabbitmqctl", "/usr/sbin/rabbitmqctl"] {
        let mut cmd = Command::new(program);
        if let Some(node) = node {
            cmd.arg("-n").arg(node);
        }
        match cmd.args(args).stdin(Stdio::null()).output() {
            Ok(out) if out.status.success() => {
                return Ok(String::from_utf8_lossy(&out.stdout).into_owned())
            }
            Ok(out) => {
                // rabbitmqctl explains at length; the first lines say what went wrong.
                let text = String::from_utf8_lossy(&out.stderr).into_owned()
                    + &String::from_utf8_lossy(&out.stdout);
                let brief: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| l.starts_with("Error") || l.contains("epmd reports"))
                    .take(2)
                    .collect();
                let brief = if brief.is_empty() {
                    text.lines().next().unwrap_or("").trim().to_owned()
                } else {
                    brief.join(" ")
                };
                return Err(Error(format!(
                    "rabbitmqctl {} failed ({}): {brief}",
                    args.join(" "),
                    out.status
                )));
            }
            Err(e) => last_err = format!("running {program}: {e}"),
        }
    }
    Err(Error(last_err))
}

/// A vhost for one run, deleted on drop.
struct FreshVhost {
    name: String,
    node: Option<String>,
}

impl FreshVhost {
    fn create(node: Option<&str>, user: &str) -> Result<FreshVhost, Error> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "qp-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        rabbitmqctl(node, &["add_vhost", &name])?;
        let v = FreshVhost {
            name,
            node: node.map(str::to_owned),
        };
        rabbitmqctl(
            node,
            &["set_permissions", "-p", &v.name, user, ".*", ".*", ".*"],
        )?;
        Ok(v)
    }
}

impl Drop for FreshVhost {
    fn drop(&mut self) {
        if let Err(e) = rabbitmqctl(self.node.as_deref(), &["delete_vhost", &self.name]) {
            eprintln!("qp: could not delete vhost {}: {e}", self.name);
        }
    }
}

/// Runs many scenarios, each in its own fresh vhost: those that do not restart the broker
/// `parallel` at a time, then the restarting ones alone. Results come back in input order.
pub fn run_many(
    scenarios: &[(String, Scenario)],
    opts: &Options,
    parallel: usize,
) -> Vec<Result<Vec<TraceEvent>, Error>> {
    // Scenarios that restart the broker run alone, after the others, and then only their own
    // vhost exists: start_app restarts every vhost, which is slow when there are hundreds.
    let (serial, concurrent): (Vec<usize>, Vec<usize>) =
        (0..scenarios.len()).partition(|&i| restarts_broker(&scenarios[i].1));
    // The others' vhosts are made (and later deleted) in one rabbitmqctl call, as each call
    // costs ~0.4 s of CPU. Parallel runs in one shared vhost would trample each other, so
    // without fresh vhosts scenarios run one at a time.
    let mut opts = opts.clone();
    let mut parallel = parallel;
    let user = Endpoint::parse(&opts.url)
        .map(|ep| ep.user)
        .unwrap_or_default();
    let mut vhosts: HashMap<usize, String> = HashMap::new();
    if opts.vhost.is_none() && opts.isolation != Isolation::Cleanup && !concurrent.is_empty() {
        let names = fresh_names(concurrent.len());
        match create_vhosts(opts.node.as_deref(), &user, &names) {
            Ok(()) => {
                vhosts = concurrent.iter().copied().zip(names).collect();
                opts.isolation = Isolation::FreshVhost;
            }
            Err(e) if opts.isolation == Isolation::FreshVhost => {
                return scenarios.iter().map(|_| Err(e.clone())).collect();
            }
            Err(e) => {
                eprintln!("qp: no fresh vhosts ({e}); running one scenario at a time, deleting its queues and exchanges first");
                opts.isolation = Isolation::Cleanup;
            }
        }
    }
    if opts.vhost.is_none() && opts.isolation == Isolation::Cleanup {
        parallel = 1;
    }
    // The engine's values are single-threaded (`Rc`): worker threads get each scenario as
    // JSON text and hand the trace back as JSON text.
    let texts: Vec<String> = scenarios
        .iter()
        .map(|(_, s)| s.to_json().to_string())
        .collect();
    let run_one = |i: usize| -> Result<String, Error> {
        let mut o = opts.clone();
        if let Some(v) = vhosts.get(&i) {
            o.vhost = Some(v.clone());
        }
        let scenario = crate::scenario::parse(&texts[i], &crate::scenario::Limits::default())
            .map_err(|e| Error(format!("the scenario does not read back: {e}")))?;
        run(&scenario, &o).map(|t| crate::trace::to_json(&t))
    };
    let read_back = |r: Result<String, Error>| {
        r.and_then(|t| {
            crate::trace::from_json(&t).map_err(|e| Error(format!("trace does not read back: {e}")))
        })
    };
    let mut results: Vec<Option<Result<Vec<TraceEvent>, Error>>> =
        (0..scenarios.len()).map(|_| None).collect();
    let next = std::sync::Mutex::new(concurrent.into_iter());
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..parallel.max(1) {
            s.spawn(|| loop {
                let Some(i) = next.lock().map(|mut it| it.next()).unwrap_or(None) else {
                    return;
                };
                let r = run_one(i);
                if let Ok(mut d) = done.lock() {
                    d.push((i, r));
                }
            });
        }
    });
    for (i, r) in done.into_inner().unwrap_or_default() {
        results[i] = Some(read_back(r));
    }
    let made: Vec<String> = vhosts.values().cloned().collect();
    if !made.is_empty() {
        if let Err(e) = delete_vhosts(opts.node.as_deref(), &made) {
            eprintln!("qp: could not delete the run's vhosts: {e}");
        }
    }
    for i in serial {
        results[i] = Some(run(&scenarios[i].1, &opts));
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error("not run (a worker thread failed)".into()))))
        .collect()
}

fn fresh_names(n: usize) -> Vec<String> {
    static BATCH: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let batch = BATCH.fetch_add(1, Ordering::Relaxed);
    (0..n)
        .map(|i| format!("qp-{}-b{batch}-{nanos}-{i}", std::process::id()))
        .collect()
}

fn erlang_binary(s: &str) -> String {
    format!("<<\"{}\">>", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Creates vhosts with full permissions for `user`, all in one `rabbitmqctl eval` (RabbitMQ's
/// internal API, as of 3.10); falls back to one `add_vhost` + `set_permissions` per vhost.
fn create_vhosts(node: Option<&str>, user: &str, names: &[String]) -> Result<(), Error> {
    let list: Vec<String> = names.iter().map(|n| erlang_binary(n)).collect();
    let expr = format!(
        "lists:foreach(fun(V) -> ok = rabbit_vhost:add(V, <<\"qp\">>), ok = rabbit_auth_backend_internal:set_permissions({}, V, <<\".*\">>, <<\".*\">>, <<\".*\">>, <<\"qp\">>) end, [{}]).",
        erlang_binary(user),
        list.join(", ")
    );
    if rabbitmqctl(node, &["eval", &expr]).is_ok() {
        return Ok(());
    }
    for name in names {
        rabbitmqctl(node, &["add_vhost", name])?;
        rabbitmqctl(
            node,
            &["set_permissions", "-p", name, user, ".*", ".*", ".*"],
        )?;
    }
    Ok(())
}

fn delete_vhosts(node: Option<&str>, names: &[String]) -> Result<(), Error> {
    let list: Vec<String> = names.iter().map(|n| erlang_binary(n)).collect();
    let expr = format!(
        "lists:foreach(fun(V) -> rabbit_vhost:delete(V, <<\"qp\">>) end, [{}]).",
        list.join(", ")
    );
    if rabbitmqctl(node, &["eval", &expr]).is_ok() {
        return Ok(());
    }
    for name in names {
        rabbitmqctl(node, &["delete_vhost", name])?;
    }
    Ok(())
}
