//! Node.js and the npm tools in `xtask/node`: Playwright (end-to-end tests in Debian's
//! Chromium) and binaryen's wasm-opt (trunk's release build). Also pika, which the exported
//! Python programs need.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{repo_root, status, succeeds, version_of, which};

/// The npm project that holds the tools.
pub fn tools_dir() -> PathBuf {
    repo_root().join("xtask").join("node")
}

/// Where npm puts the tools' commands (wasm-opt); goes on PATH for trunk.
pub fn bin_dir() -> PathBuf {
    tools_dir().join("node_modules").join(".bin")
}

/// Node.js and npm from Debian when missing, then the tools at the versions package-lock.json
/// names (re-installed when the lock file is newer than the install).
pub fn ensure_tools() -> Result<(), String> {
    if version_of("node").is_none() || version_of("npm").is_none() {
        eprintln!("xtask: node or npm is missing; installing them with apt-get (needs root)");
        crate::apt_install(&["nodejs", "npm"])?;
    }
    let dir = tools_dir();
    let stamp = dir.join("node_modules").join(".package-lock.json");
    if is_newer(&stamp, &dir.join("package-lock.json")) && bin_dir().join("wasm-opt").is_file() {
        return Ok(());
    }
    status(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir),
    )
}

fn is_newer(file: &Path, than: &Path) -> bool {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    matches!((modified(file), modified(than)), (Some(a), Some(b)) if a >= b)
}

/// pika for the exported Python programs (`tests/export_pika.rs`).
pub fn ensure_pika() -> Result<(), String> {
    let python = which("python3").ok_or("python3 is not installed (apt-get install python3)")?;
    if succeeds(Command::new(&python).args(["-c", "import pika"])) {
        return Ok(());
    }
    eprintln!("xtask: pika is missing; installing it with pip");
    let pip = status(Command::new(&python).args(["-m", "pip", "install", "--quiet", "pika"]));
    if pip.is_ok() {
        return Ok(());
    }
    // Debian's own Python refuses pip (PEP 668); its package is the way there.
    crate::apt_install(&["python3-pika"])
}
