//! `cargo xtask serve` and `cargo xtask test`: the project's whole build, test and serve story,
//! so that a fresh Debian machine needs nothing but rustup and these two commands.
//!
//! Plain std on purpose: xtask must build before anything else is installed.

mod node;
mod rabbitmq;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use std::{env, fs};

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  serve [TRUNK ARGS]  install what is missing, then `trunk serve --offline` (default
                      http://127.0.0.1:8080; e.g. `--address 0.0.0.0 --port 9000`)
  test                install what is missing, then fmt, clippy (native and wasm32), the native
                      tests against a private RabbitMQ, the wasm tests in headless Chromium,
                      the JavaScript `Broker` in Node, a release build of the web app and the
                      end-to-end tests against it; stops at the first failure
  build               the release site in dist/ (trunk + wasm-opt), ready for a static host;
                      prints its sizes
  bench-browser       the browser benchmarks (tests/wasm_bench_*.rs, release build, headless
                      Chromium); prints their tables
  record [DIR]        re-record tests/scenarios/*.trace.json from a private RabbitMQ
  help                this text";

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The Cargo profile the site ships with (index.html's `data-cargo-profile`).
const WASM_PROFILE: &str = "wasm-release";
/// trunk 0.22 needs a newer rustc than we require.
const TRUNK_VERSION: &str = "~0.21";
const TRUNK_VERSION_PREFIX: &str = "trunk 0.21.";
/// Seconds a wasm test may take before wasm-bindgen-test-runner gives up (its default is 20,
/// too short for a first browser start on a busy machine).
const WASM_TEST_TIMEOUT_SECS: &str = "120";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("record") => record(&args[1..]),
        Some("build") => build(&args[1..]),
        Some("bench-browser") => bench_browser(&args[1..]),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => Err(format!("no command given\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask record [DIR]`: re-records the scenarios' expected traces from a private RabbitMQ.
fn record(args: &[String]) -> Result<(), String> {
    rabbitmq::ensure_installed()?;
    let node = rabbitmq::start()?;
    let mut qp = cargo(&["run", "--release", "--bin", "qp", "--", "record"]);
    qp.args(args).envs(node.env());
    status(&mut qp)?;
    node.stop()
}

fn serve(trunk_args: &[String]) -> Result<(), String> {
    let mut stages = Stages::new(&["install", "trunk serve"])?;
    install_web_tools(&mut stages)?;
    let path = path_with_node_tools()?;
    stages.run(
        "trunk serve",
        Command::new("trunk")
            .args(["serve", "--offline"])
            .args(trunk_args)
            .env("PATH", path),
    )
}

/// PATH with the npm tools first, so that trunk finds binaryen's wasm-opt.
fn path_with_node_tools() -> Result<OsString, String> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::join_paths(std::iter::once(node::bin_dir()).chain(env::split_paths(&path)))
        .map_err(|e| format!("cannot extend PATH: {e}"))
}

fn test(args: &[String]) -> Result<(), String> {
    no_arguments("test", args)?;
    let mut stages = Stages::new(&[
        "install",
        "fmt",
        "clippy (native)",
        "clippy (wasm32)",
        "tests (native, with RabbitMQ)",
        "tests (wasm32, headless Chromium)",
        "tests (Node: the JavaScript Broker)",
        "release build",
        "tests (end to end, headless Chromium)",
    ])?;
    install_web_tools(&mut stages)?;
    stages.stage("install: chromium and chromedriver", ensure_chromium)?;
    stages.stage("install: rabbitmq-server", rabbitmq::ensure_installed)?;
    stages.stage("install: pika", node::ensure_pika)?;

    stages.run("fmt", &mut cargo(&["fmt", "--all", "--", "--check"]))?;
    stages.run(
        "clippy (native)",
        &mut cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    let wasm_tests = test_files("wasm_", |name| !name.starts_with("wasm_bench_"))?;
    let mut clippy_wasm = cargo(&["clippy", "--target", WASM_TARGET, "--lib", "--bins"]);
    for test in &wasm_tests {
        clippy_wasm.args(["--test", test]);
    }
    stages.run(
        "clippy (wasm32)",
        clippy_wasm.args(["--", "-D", "warnings"]),
    )?;

    stages.stage("tests (native, with RabbitMQ)", || {
        let node = rabbitmq::start()?;
        let version = rabbitmq::version().unwrap_or_else(|e| format!("version unknown: {e}"));
        eprintln!(
            "xtask: RabbitMQ node {} ({version}) at {}",
            node.name(),
            node.url()
        );
        let mut tests = cargo(&["test", "--workspace"]);
        tests.envs(node.env());
        // On failure the node stops when it is dropped; on success stopping must work too.
        status(&mut tests)?;
        node.stop()
    })?;

    let mut wasm = wasm_test_command(&wasm_tests, false)?;
    stages.run("tests (wasm32, headless Chromium)", &mut wasm)?;
    stages.stage("tests (Node: the JavaScript Broker)", node_tests)?;
    stages.stage("release build", release_build)?;
    stages.stage("tests (end to end, headless Chromium)", end_to_end)?;
    stages.summary();
    Ok(())
}

fn no_arguments(command: &str, args: &[String]) -> Result<(), String> {
    match args.first() {
        Some(arg) => Err(format!(
            "`cargo xtask {command}` takes no arguments (got `{arg}`)"
        )),
        None => Ok(()),
    }
}

/// `cargo xtask build`: the release site in `dist/`.
fn build(args: &[String]) -> Result<(), String> {
    no_arguments("build", args)?;
    let mut stages = Stages::new(&["install", "release build"])?;
    install_web_tools(&mut stages)?;
    stages.stage("release build", release_build)?;
    stages.summary();
    Ok(())
}

/// `cargo xtask bench-browser`: every `tests/wasm_bench_*.rs`, optimized, in headless Chromium.
fn bench_browser(args: &[String]) -> Result<(), String> {
    no_arguments("bench-browser", args)?;
    let mut stages = Stages::new(&["install", "browser benchmarks"])?;
    install_web_tools(&mut stages)?;
    stages.stage("install: chromium and chromedriver", ensure_chromium)?;
    let benches = test_files("wasm_bench_", |_| true)?;
    let mut cmd = wasm_test_command(&benches, true)?;
    stages.run("browser benchmarks", &mut cmd)?;
    stages.summary();
    Ok(())
}

/// The names of `tests/PREFIX*.rs` that `keep` accepts, sorted.
fn test_files(prefix: &str, keep: impl Fn(&str) -> bool) -> Result<Vec<String>, String> {
    let dir = repo_root().join("tests");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".rs").map(str::to_owned))
        .filter(|n| n.starts_with(prefix) && keep(n))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("no tests/{prefix}*.rs files"));
    }
    Ok(names)
}

/// `cargo test` of wasm test files in headless Chromium; `bench`: optimized as shipped, with the
/// `#[ignore]`d benchmarks included and their output shown.
fn wasm_test_command(tests: &[String], bench: bool) -> Result<Command, String> {
    let chromedriver = env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| which("chromedriver"))
        .ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
    let mut cmd = cargo(&["test", "--target", WASM_TARGET]);
    if bench {
        cmd.args(["--profile", WASM_PROFILE]);
    }
    for test in tests {
        cmd.args(["--test", test]);
    }
    if bench {
        cmd.args(["--", "--include-ignored", "--nocapture"]);
    }
    cmd.env("CHROMEDRIVER", chromedriver).env(
        "WASM_BINDGEN_TEST_TIMEOUT",
        env::var("WASM_BINDGEN_TEST_TIMEOUT").unwrap_or_else(|_| WASM_TEST_TIMEOUT_SECS.to_owned()),
    );
    Ok(cmd)
}

/// The library as Node loads it (`wasm-bindgen --target nodejs`), then `node --test tests/node`.
fn node_tests() -> Result<(), String> {
    // The browser build's profile: what Node tests is what ships, and the release build that
    // follows reuses every dependency compiled here.
    status(&mut cargo(&[
        "build",
        "--lib",
        "--profile",
        WASM_PROFILE,
        "--target",
        WASM_TARGET,
    ]))?;
    let wasm = repo_root()
        .join("target")
        .join(WASM_TARGET)
        .join(WASM_PROFILE)
        .join("queue_playground.wasm");
    let out = repo_root().join("target").join("node-pkg");
    status(
        Command::new("wasm-bindgen")
            .args(["--target", "nodejs", "--out-dir"])
            .arg(&out)
            .arg(&wasm),
    )?;
    status(&mut cargo(&["build", "--release", "--bin", "qp"]))?;
    let qp = repo_root().join("target").join("release").join("qp");
    status(
        Command::new("node")
            .args(["--test", "tests/node/"])
            .env("QP_NODE_PKG", &out)
            .env("QP_BIN", qp),
    )
}

/// `trunk build --release` with the npm wasm-opt on PATH, then the sizes a reader downloads.
fn release_build() -> Result<(), String> {
    let path = path_with_node_tools()?;
    status(
        Command::new("trunk")
            .args(["build", "--release", "--offline"])
            .env("PATH", path),
    )?;
    report_sizes(&repo_root().join("dist"))
}

/// Prints each wasm and JS file under `dir` with its gzipped size, and the total.
fn report_sizes(dir: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.retain(|p| p.extension().is_some_and(|x| x == "wasm" || x == "js"));
    files.sort();
    let (mut raw, mut zipped) = (0, 0);
    for file in &files {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let gz = gzipped_size(file)?;
        eprintln!(
            "xtask: {:>9} bytes, {:>9} gzipped  {}",
            size,
            gz,
            file.display()
        );
        raw += size;
        zipped += gz;
    }
    eprintln!("xtask: {raw:>9} bytes, {zipped:>9} gzipped  total (wasm + js)");
    Ok(())
}

/// Every file under `dir`, at any depth.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn gzipped_size(file: &Path) -> Result<u64, String> {
    let output = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    if !output.status.success() {
        return Err(format!("gzip failed on {}", file.display()));
    }
    Ok(output.stdout.len() as u64)
}

/// Every `tests/e2e/*.mjs` but the shared helpers, against the release build in `dist/`.
fn end_to_end() -> Result<(), String> {
    let dir = repo_root().join("tests").join("e2e");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut scripts: Vec<PathBuf> = entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mjs"))
        .filter(|p| p.file_name().is_some_and(|n| n != "browser.mjs"))
        .collect();
    scripts.sort();
    if scripts.is_empty() {
        return Err(format!("no end-to-end tests in {}", dir.display()));
    }
    for script in scripts {
        status(
            Command::new("node")
                .arg(&script)
                .env("QP_DIST", repo_root().join("dist")),
        )?;
    }
    Ok(())
}

/// The wasm target, rustfmt and clippy, trunk and the wasm-bindgen CLI that matches Cargo.toml.
fn install_web_tools(stages: &mut Stages) -> Result<(), String> {
    stages.stage("install: wasm32 target", ensure_wasm_target)?;
    stages.stage("install: rustfmt and clippy", ensure_components)?;
    stages.stage("install: trunk", ensure_trunk)?;
    stages.stage("install: wasm-bindgen-cli", ensure_wasm_bindgen)?;
    stages.stage("install: node and npm tools", node::ensure_tools)
}

/// Runs the stages of one command, printing each stage's name and duration.
struct Stages {
    done: Vec<(String, Duration)>,
    started: Instant,
}

impl Stages {
    /// Also prepares the environment every stage shares: the repository root as working
    /// directory and cargo's bin folder on PATH (a fresh rustup may not have put it there).
    fn new(plan: &[&str]) -> Result<Stages, String> {
        env::set_current_dir(repo_root())
            .map_err(|e| format!("cannot enter {}: {e}", repo_root().display()))?;
        let bin = cargo_home().join("bin");
        let path = env::var_os("PATH").unwrap_or_default();
        if !env::split_paths(&path).any(|p| p == bin) {
            let joined = env::join_paths(std::iter::once(bin).chain(env::split_paths(&path)))
                .map_err(|e| format!("cannot extend PATH: {e}"))?;
            // Still single-threaded here, so changing our own environment is sound.
            env::set_var("PATH", joined);
        }
        eprintln!("xtask: stages: {}", plan.join(", "));
        Ok(Stages {
            done: Vec::new(),
            started: Instant::now(),
        })
    }

    fn stage(
        &mut self,
        name: &str,
        work: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        eprintln!("\n==> {name}");
        let start = Instant::now();
        let result = work();
        let took = start.elapsed();
        match result {
            Ok(()) => {
                eprintln!("==> {name}: ok ({})", secs(took));
                self.done.push((name.to_owned(), took));
                Ok(())
            }
            Err(e) => Err(format!("stage `{name}` failed after {}: {e}", secs(took))),
        }
    }

    /// A stage that is a single command.
    fn run(&mut self, name: &str, cmd: &mut Command) -> Result<(), String> {
        self.stage(name, || status(cmd))
    }

    fn summary(&self) {
        eprintln!("\nxtask: all stages passed:");
        for (name, took) in &self.done {
            eprintln!("  {:>8}  {name}", secs(*took));
        }
        eprintln!("  {:>8}  total", secs(self.started.elapsed()));
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Runs a command with inherited output; `Err` says which command failed and how.
fn status(cmd: &mut Command) -> Result<(), String> {
    eprintln!("$ {}", shown(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run `{}`: {e}", shown(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", shown(cmd)))
    }
}

fn shown(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `cargo ARGS`, with the cargo that runs us (the toolchain rustup picked).
fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")));
    cmd.args(args);
    cmd
}

/// The first line a tool prints for `--version`, or `None` when it is not installed.
fn version_of(program: &str) -> Option<String> {
    let output = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    output
        .status
        .success()
        .then(|| text.lines().next().unwrap_or("").trim().to_owned())
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ensure_wasm_target() -> Result<(), String> {
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to add the {WASM_TARGET} target: {e}"))?;
    if String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    status(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

fn ensure_components() -> Result<(), String> {
    if succeeds(&mut cargo(&["fmt", "--version"])) && succeeds(&mut cargo(&["clippy", "--version"]))
    {
        return Ok(());
    }
    status(Command::new("rustup").args(["component", "add", "rustfmt", "clippy"]))
}

fn ensure_trunk() -> Result<(), String> {
    if version_of("trunk").is_some_and(|v| v.starts_with(TRUNK_VERSION_PREFIX)) {
        return Ok(());
    }
    status(&mut cargo(&[
        "install",
        "trunk",
        "--version",
        TRUNK_VERSION,
        "--locked",
    ]))
}

/// trunk and wasm-bindgen-test-runner refuse a CLI whose version differs from the library's,
/// so the CLI follows the exact pin in Cargo.toml.
fn ensure_wasm_bindgen() -> Result<(), String> {
    let manifest = repo_root().join("Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let version = pinned_wasm_bindgen(&text)?;
    let wanted = |tool: &str| version_of(tool) == Some(format!("{tool} {version}"));
    if wanted("wasm-bindgen") && wanted("wasm-bindgen-test-runner") {
        return Ok(());
    }
    // Not --locked: the CLI's own lock file does not build with our toolchain.
    status(&mut cargo(&[
        "install",
        "wasm-bindgen-cli",
        "--version",
        &version,
    ]))
}

/// The version in `wasm-bindgen = "=X.Y.Z"` (or `{ version = "=X.Y.Z", ... }`).
fn pinned_wasm_bindgen(manifest: &str) -> Result<String, String> {
    for line in manifest.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "wasm-bindgen" {
            continue;
        }
        let value = value.trim();
        let requirement = match value.strip_prefix('{') {
            Some(table) => table
                .split(',')
                .filter_map(|item| item.split_once('='))
                .find(|(k, _)| k.trim() == "version")
                .map(|(_, v)| v.trim())
                .unwrap_or(""),
            None => value,
        };
        let requirement = requirement.trim_matches('"');
        return match requirement.strip_prefix('=') {
            Some(version) if is_version(version.trim()) => Ok(version.trim().to_owned()),
            _ => Err(format!(
                "Cargo.toml must pin wasm-bindgen exactly (`wasm-bindgen = \"=0.2.N\"`) so that \
                 the CLI can match it; found `{}`",
                line.trim()
            )),
        };
    }
    Err("Cargo.toml has no `wasm-bindgen = \"=0.2.N\"` line".to_owned())
}

fn is_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn ensure_chromium() -> Result<(), String> {
    let driver = env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| which("chromedriver"));
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| which(name));
    if driver.is_some() && browser.is_some() {
        return Ok(());
    }
    eprintln!("xtask: headless Chromium is missing; installing it with apt-get (needs root)");
    apt_install(&["chromium", "chromium-driver"])
}

/// `apt-get update`, then `apt-get install -y PACKAGES` (needs root).
fn apt_install(packages: &[&str]) -> Result<(), String> {
    status(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    status(
        Command::new("apt-get")
            .args(["install", "-y"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The file `name` would run from PATH.
fn which(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn repo_root() -> PathBuf {
    // xtask/ sits in the repository root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_owned()
}

fn cargo_home() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_exact_wasm_bindgen_pin() {
        let manifest = "[dependencies]\nwasm-bindgen-test = \"0.3\"\nwasm-bindgen = \"=0.2.130\"\n";
        assert_eq!(pinned_wasm_bindgen(manifest), Ok("0.2.130".to_owned()));
        let table = "wasm-bindgen = { version = \"=0.2.99\", features = [\"x\"] }";
        assert_eq!(pinned_wasm_bindgen(table), Ok("0.2.99".to_owned()));
    }

    #[test]
    fn refuses_a_loose_or_missing_pin() {
        let loose = pinned_wasm_bindgen("wasm-bindgen = \"0.2\"").unwrap_err();
        assert!(loose.contains("pin wasm-bindgen exactly"), "{loose}");
        assert!(pinned_wasm_bindgen("wasm-bindgen = \"=0.2\"").is_err());
        assert!(pinned_wasm_bindgen("[dependencies]\nyew = \"0.21\"")
            .unwrap_err()
            .contains("no `wasm-bindgen"));
    }

    #[test]
    fn the_crate_manifest_pins_wasm_bindgen() {
        let text = fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
        assert!(is_version(&pinned_wasm_bindgen(&text).unwrap()));
    }

    #[test]
    fn shows_commands_as_typed() {
        let mut cmd = Command::new("trunk");
        cmd.args(["build", "--release"]);
        assert_eq!(shown(&cmd), "trunk build --release");
    }

    #[test]
    fn a_failing_command_is_an_error_that_names_it() {
        let err = status(Command::new("false").arg("x")).unwrap_err();
        assert!(err.starts_with("`false x` failed"), "{err}");
        let missing = status(&mut Command::new("/nonexistent/tool")).unwrap_err();
        assert!(
            missing.contains("cannot run `/nonexistent/tool`"),
            "{missing}"
        );
    }
}
