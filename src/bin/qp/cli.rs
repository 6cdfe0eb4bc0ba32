//! The `qp` command line: run scenarios on the engine or on a real RabbitMQ, compare them,
//! record traces, export them (pika, lapin, definitions) and import definitions.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use queue_playground::rabbitmq::{self, Isolation, Options};
use queue_playground::scenario::{self, Scenario};
use queue_playground::{compare, export};
use queue_playground::{engine, trace};

const USAGE: &str = "\
usage:
  qp run FILE|-              run a scenario on the engine; print its trace (JSON)
  qp check FILE|-            validate a scenario; print `ok: N steps`
  qp rabbitmq FILE|- [OPT]   run a scenario on a real RabbitMQ; print its trace
  qp diff FILE|- [OPT]       run on both; print the differences (exit 1 if any)
  qp compare EXPECTED ACTUAL compare two trace files (exit 1 if they differ)
  qp record [DIR] [OPT]      re-record DIR/NAME.trace.json for every DIR/NAME.json from
                             RabbitMQ (DIR defaults to tests/scenarios)
  qp export --to FORMAT FILE|-
                             print the scenario as a program or definitions; FORMAT is
                             pika (Python), lapin (Rust) or definitions (RabbitMQ
                             definitions JSON; what it cannot hold is listed on stderr)
  qp import-definitions FILE|- [--vhost NAME]
                             print a scenario declaring the topology of RabbitMQ
                             definitions JSON (`rabbitmqctl export_definitions`)

options (RabbitMQ):
  --url URL         broker (env QP_AMQP_URL; default amqp://guest:guest@127.0.0.1:5672/%2f)
  --node NODE       node for `rabbitmqctl -n`: fresh vhosts, broker.restart
                    (env QP_RABBITMQ_NODE; default: rabbitmqctl's own default)
  --settle-ms MS    quiet time that ends a step (env QP_SETTLE_MS; default 40)
  --no-fresh-vhost  run in the URL's vhost after deleting the scenario's queues and exchanges
  --parallel N      `record`: scenarios run at once (default 8; broker.restart ones run alone)
  --repeat N        `record`: run everything N times and keep only traces that came out the
                    same every time (catches timing-dependent scenarios; default 1)

options (export, import):
  --to FORMAT       `export`: pika, lapin or definitions
  --vhost NAME      `import-definitions`: the vhost to import when the file has several

exit status: 0 ok, 1 traces differ, 2 bad usage or invalid scenario, 3 broker failure";

/// A failure with its exit status; the message goes to stderr.
struct Fail(u8, String);

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match real_main(&args) {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, msg)) => {
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            ExitCode::from(code)
        }
    }
}

fn usage(msg: &str) -> Fail {
    Fail(2, format!("qp: {msg}\n{USAGE}"))
}

struct Cli {
    positional: Vec<String>,
    opts: Options,
    parallel: usize,
    repeat: usize,
    to: Option<String>,
    vhost: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Cli, Fail> {
    let mut cli = Cli {
        positional: Vec::new(),
        opts: Options::from_env(),
        parallel: 8,
        repeat: 1,
        to: None,
        vhost: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match a.as_str() {
            "--url" => cli.opts.url = value("--url")?,
            "--node" => cli.opts.node = Some(value("--node")?),
            "--settle-ms" => {
                let v = value("--settle-ms")?;
                let ms = v
                    .parse::<u64>()
                    .map_err(|_| usage(&format!("--settle-ms: `{v}` is not a number of ms")))?;
                cli.opts.settle = Duration::from_millis(ms);
            }
            "--parallel" => {
                let v = value("--parallel")?;
                cli.parallel =
                    v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                        usage(&format!("--parallel: `{v}` is not a positive number"))
                    })?;
            }
            "--repeat" => {
                let v = value("--repeat")?;
                cli.repeat =
                    v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                        usage(&format!("--repeat: `{v}` is not a positive number"))
                    })?;
            }
            "--to" => cli.to = Some(value("--to")?),
            "--vhost" => cli.vhost = Some(value("--vhost")?),
            "--no-fresh-vhost" => cli.opts.isolation = Isolation::Cleanup,
            "-h" | "--help" => return Err(Fail(0, USAGE.to_owned())),
            flag if flag.starts_with("--") => return Err(usage(&format!("unknown option {flag}"))),
            _ => cli.positional.push(a.clone()),
        }
    }
    Ok(cli)
}

fn real_main(args: &[String]) -> Result<u8, Fail> {
    let Some(command) = args.first() else {
        return Err(usage("no command"));
    };
    if matches!(command.as_str(), "-h" | "--help" | "help") {
        println!("{USAGE}");
        return Ok(0);
    }
    let cli = parse_args(&args[1..])?;
    let one_file = |cli: &Cli| -> Result<String, Fail> {
        match cli.positional.as_slice() {
            [f] => Ok(f.clone()),
            [] => Err(usage(&format!(
                "`qp {command}` needs a scenario file (or - for stdin)"
            ))),
            _ => Err(usage(&format!("`qp {command}` takes one scenario file"))),
        }
    };
    match command.as_str() {
        "run" => {
            let s = load(&one_file(&cli)?)?;
            print!("{}", trace::to_json(&engine::run(&s)));
            Ok(0)
        }
        "check" => {
            let s = load(&one_file(&cli)?)?;
            println!("ok: {} steps", s.steps.len());
            Ok(0)
        }
        "rabbitmq" => {
            let s = load(&one_file(&cli)?)?;
            let events = rabbitmq::run(&s, &cli.opts).map_err(broker_fail)?;
            print!("{}", trace::to_json(&events));
            Ok(0)
        }
        "diff" => {
            let file = one_file(&cli)?;
            let s = load(&file)?;
            let broker = rabbitmq::run(&s, &cli.opts).map_err(broker_fail)?;
            let ours = engine::run(&s);
            match compare::compare(&broker, &ours) {
                Ok(()) => {
                    println!("same behaviour ({} broker events)", broker.len());
                    Ok(0)
                }
                Err(diffs) => {
                    println!(
                        "{file}: the engine differs from RabbitMQ (expected = RabbitMQ, got = engine):\n{}",
                        compare::report(&diffs, 10)
                    );
                    Ok(1)
                }
            }
        }
        "record" => record(&cli),
        "compare" => {
            let [expected, actual] = cli.positional.as_slice() else {
                return Err(usage("`qp compare` takes two trace files"));
            };
            match compare::compare(&load_trace(expected)?, &load_trace(actual)?) {
                Ok(()) => {
                    println!("same behaviour");
                    Ok(0)
                }
                Err(diffs) => {
                    println!("{}", compare::report(&diffs, 10));
                    Ok(1)
                }
            }
        }
        "export" => {
            let s = load(&one_file(&cli)?)?;
            match cli.to.as_deref() {
                Some("pika") => print!("{}", export::to_pika(&s)),
                Some("lapin") => print!("{}", export::to_lapin(&s)),
                Some("definitions") => {
                    let (text, notes) = export::to_definitions_with_notes(&s);
                    for n in notes {
                        eprintln!("qp: {n}");
                    }
                    print!("{text}");
                }
                Some(other) => {
                    return Err(usage(&format!(
                        "--to: `{other}` is not pika, lapin or definitions"
                    )))
                }
                None => return Err(usage("`qp export` needs --to pika|lapin|definitions")),
            }
            Ok(0)
        }
        "import-definitions" => {
            let [file] = cli.positional.as_slice() else {
                return Err(usage(
                    "`qp import-definitions` takes one definitions file (or - for stdin)",
                ));
            };
            let (label, text) = read_input(file)?;
            let imported = match cli.vhost.as_deref() {
                Some(v) => export::from_definitions_in(&text, v),
                None => export::from_definitions(&text),
            };
            let s = imported.map_err(|e| Fail(2, format!("{label}: {e}")))?;
            println!("{}", s.to_pretty_json());
            Ok(0)
        }
        other => Err(usage(&format!("unknown command `{other}`"))),
    }
}

fn broker_fail(e: rabbitmq::Error) -> Fail {
    Fail(3, format!("qp: RabbitMQ: {e}"))
}

/// Reads and validates a scenario; errors name the file.
fn load(path: &str) -> Result<Scenario, Fail> {
    let (label, text) = read_input(path)?;
    scenario::parse(&text, &scenario::Limits::default())
        .map_err(|e| Fail(2, format!("{label}: {e}")))
}

/// A file's text (or stdin's, for `-`) and the name to give it in errors.
fn read_input(path: &str) -> Result<(String, String), Fail> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Fail(2, format!("qp: reading stdin: {e}")))?;
        Ok(("<stdin>".to_owned(), text))
    } else {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Fail(2, format!("qp: cannot read {path}: {e}")))?;
        Ok((path.to_owned(), text))
    }
}

fn load_trace(path: &str) -> Result<Vec<trace::TraceEvent>, Fail> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail(2, format!("qp: cannot read {path}: {e}")))?;
    trace::from_json(&text).map_err(|e| Fail(2, format!("{path}: not a v1 trace: {e}")))
}

fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, Fail> {
    scenario::files_in(dir).map_err(|e| Fail(2, format!("qp: cannot read {}: {e}", dir.display())))
}

fn record(cli: &Cli) -> Result<u8, Fail> {
    let dir = match cli.positional.as_slice() {
        [] => PathBuf::from("tests/scenarios"),
        [d] => PathBuf::from(d),
        _ => return Err(usage("`qp record` takes at most one folder")),
    };
    let mut scenarios = Vec::new();
    let mut status = 0;
    for path in scenario_files(&dir)? {
        match load(&path.to_string_lossy()) {
            Ok(s) => scenarios.push((path.to_string_lossy().into_owned(), s)),
            Err(Fail(_, msg)) => {
                eprintln!("{msg}");
                status = 2;
            }
        }
    }
    if scenarios.is_empty() && status == 0 {
        eprintln!("qp: no scenarios in {}", dir.display());
        return Ok(2);
    }
    let mut results = rabbitmq::run_many(&scenarios, &cli.opts, cli.parallel);
    for round in 1..cli.repeat {
        let again = rabbitmq::run_many(&scenarios, &cli.opts, cli.parallel);
        for (first, other) in results.iter_mut().zip(again) {
            let (Ok(a), Ok(b)) = (&*first, &other) else {
                if first.is_ok() {
                    *first = other;
                }
                continue;
            };
            if let Err(diffs) = compare::compare(a, b) {
                *first = Err(rabbitmq::Error(format!(
                    "run {} differs from run 1 (the scenario depends on timing):\n{}",
                    round + 1,
                    compare::report(&diffs, 5)
                )));
            }
        }
    }
    for ((path, _), result) in scenarios.iter().zip(results) {
        let out = PathBuf::from(path.trim_end_matches(".json").to_owned() + ".trace.json");
        match result {
            Ok(events) => match std::fs::write(&out, trace::to_json(&events)) {
                Ok(()) => eprintln!("recorded {} ({} events)", out.display(), events.len()),
                Err(e) => {
                    eprintln!("qp: writing {}: {e}", out.display());
                    status = status.max(3);
                }
            },
            Err(e) => {
                eprintln!("qp: {path}: RabbitMQ: {e}");
                status = status.max(3);
            }
        }
    }
    Ok(status)
}
