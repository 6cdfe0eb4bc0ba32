//! A private RabbitMQ node for recording and conformance tests.
//!
//! The node gets its own name, ports and data folder, so it never collides with a system broker
//! on 5672, and starts empty every time. Std-only on purpose: xtask has no dependencies.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Erlang node name of the private broker (`rabbitmqctl -n` takes it).
pub const NODE_NAME: &str = "qp-test@localhost";
/// AMQP port: not 5672, so that a system broker is never touched.
pub const AMQP_PORT: u16 = 5673;
/// Erlang distribution port (`rabbitmqctl` talks to the node through it).
pub const DIST_PORT: u16 = 25673;
/// Data, logs and plugin list of the private node. The server drops to the `rabbitmq` user,
/// so the folder is chowned to it.
pub const BASE_DIR: &str = "/tmp/qp-rabbitmq";

const SERVER: &str = "/usr/sbin/rabbitmq-server";
const CTL: &str = "/usr/sbin/rabbitmqctl";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// Installs the Debian `rabbitmq-server` package when the server is missing (we run as root).
pub fn ensure_installed() -> Result<(), String> {
    if Path::new(SERVER).exists() && Path::new(CTL).exists() {
        return Ok(());
    }
    eprintln!("xtask: rabbitmq-server is missing; installing it with apt-get");
    run_checked(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    // The package's postinst would start a default node on 5672; policy-rc.d exit 101 tells
    // invoke-rc.d not to (the usual container idiom). Only ours is removed afterwards.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let ours = !policy.exists()
        && fs::write(policy, "#!/bin/sh\nexit 101\n").is_ok()
        && Command::new("chmod")
            .args(["755", "/usr/sbin/policy-rc.d"])
            .status()
            .is_ok_and(|s| s.success());
    let installed = run_checked(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "rabbitmq-server",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
    if ours {
        let _ = fs::remove_file(policy);
    }
    installed?;
    if Path::new(SERVER).exists() {
        Ok(())
    } else {
        Err(format!(
            "apt-get installed rabbitmq-server but {SERVER} is still missing"
        ))
    }
}

/// Where a private node lives. [`start`] uses the default; another config (other name, ports and
/// folder) lets two nodes run side by side.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_name: String,
    pub amqp_port: u16,
    pub dist_port: u16,
    pub base_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_name: NODE_NAME.to_owned(),
            amqp_port: AMQP_PORT,
            dist_port: DIST_PORT,
            base_dir: PathBuf::from(BASE_DIR),
        }
    }
}

/// A running private node. `stop()` (or dropping it) stops the node.
pub struct Node {
    config: Config,
    child: Option<Child>,
    stopped: bool,
}

impl Node {
    /// `amqp://guest:guest@127.0.0.1:5673/%2f`: guest may log in because we connect over loopback.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.config.amqp_port)
    }

    pub fn name(&self) -> &str {
        &self.config.node_name
    }

    /// Environment for `qp` and `cargo test --test conformance`: where the broker is
    /// (`QP_AMQP_URL`) and which node `rabbitmqctl` manages (`QP_RABBITMQ_NODE`, used for fresh
    /// vhosts and `broker.restart`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("QP_AMQP_URL", self.url()),
            ("QP_RABBITMQ_NODE", self.config.node_name.clone()),
        ]
    }

    /// Stops the node and waits for the server process to exit.
    pub fn stop(mut self) -> Result<(), String> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let result = ctl_on(&self.config.node_name, &["stop"]);
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        // Only our own child: `su` and the server below it.
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => thread::sleep(Duration::from_millis(100)),
                }
            }
        }
        result.map(|_| ())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!(
                "xtask: stopping RabbitMQ node {}: {e}",
                self.config.node_name
            );
        }
    }
}

/// Starts a fresh private node (empty data folder) and waits until it accepts connections.
pub fn start() -> Result<Node, String> {
    start_with(Config::default())
}

/// [`start`] with another name, ports or folder.
pub fn start_with(config: Config) -> Result<Node, String> {
    ensure_installed()?;
    let (name, port) = (config.node_name.clone(), config.amqp_port);
    let base = config.base_dir.clone();
    if port_open(port) {
        // A node left over from an interrupted run: stop it so this one starts empty.
        eprintln!("xtask: port {port} is busy; stopping a leftover {name}");
        let _ = ctl_on(&name, &["stop"]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while port_open(port) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(200));
        }
        if port_open(port) {
            return Err(format!(
                "port {port} is in use by something that is not {name}"
            ));
        }
    }
    prepare_base(&base).map_err(|e| format!("preparing {}: {e}", base.display()))?;
    let out = fs::File::create(base.join("server.out"))
        .map_err(|e| format!("creating {}: {e}", base.join("server.out").display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(SERVER)
        .env("RABBITMQ_NODENAME", &name)
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", port.to_string())
        .env("RABBITMQ_DIST_PORT", config.dist_port.to_string())
        .env("RABBITMQ_MNESIA_BASE", base.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", base.join("log"))
        .env(
            "RABBITMQ_ENABLED_PLUGINS_FILE",
            base.join("enabled_plugins"),
        )
        // Erlang distribution (rabbitmqctl's way in) on loopback only, like AMQP.
        .env(
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
            "-kernel inet_dist_use_interface {127,0,0,1}",
        )
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting {SERVER}: {e}"))?;
    let mut node = Node {
        config,
        child: Some(child),
        stopped: false,
    };
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Some(child) = node.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                node.stopped = true;
                return Err(format!(
                    "rabbitmq-server exited ({status}) during startup; see {}/server.out and {}/log",
                    base.display(),
                    base.display()
                ));
            }
        }
        // `await_startup` fails at once while the Erlang node is not up yet, so retry it.
        if ctl_on(&name, &["await_startup", "--timeout", "30"]).is_ok() && port_open(port) {
            return Ok(node);
        }
        if Instant::now() > deadline {
            let _ = node.shutdown();
            return Err(format!(
                "{name} did not start within {}s; see {}/log",
                STARTUP_TIMEOUT.as_secs(),
                base.display()
            ));
        }
        thread::sleep(Duration::from_millis(500));
    }
}

/// Runs `rabbitmqctl -n NODE ARGS` on the default node.
pub fn ctl(args: &[&str]) -> Result<String, String> {
    ctl_on(NODE_NAME, args)
}

/// Runs `rabbitmqctl -n NODE ARGS`. The Debian wrapper runs it as the `rabbitmq` user, whose
/// Erlang cookie (/var/lib/rabbitmq/.erlang.cookie) is the one the server uses too.
pub fn ctl_on(node: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(CTL)
        .arg("-n")
        .arg(node)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {CTL}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "rabbitmqctl {} failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The version the node reports, for the record (`3.10.8`).
pub fn version() -> Result<String, String> {
    ctl(&["version"]).map(|s| s.trim().to_owned())
}

fn prepare_base(base: &Path) -> io::Result<()> {
    // An empty node every time: stale queues would leak between runs.
    if base.exists() {
        fs::remove_dir_all(base)?;
    }
    fs::create_dir_all(base.join("mnesia"))?;
    fs::create_dir_all(base.join("log"))?;
    // No plugins: management would only slow the start.
    fs::write(base.join("enabled_plugins"), "[].\n")?;
    let status = Command::new("chown")
        .args(["-R", "rabbitmq:rabbitmq"])
        .arg(base)
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "chown -R rabbitmq:rabbitmq {} failed",
            base.display()
        )));
    }
    Ok(())
}

fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

fn run_checked(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}
