//! Lists the scenario files under `tests/scenarios` for the trace-identity tests
//! (`tests/trace_digests.rs` natively, `tests/wasm_traces.rs` in a browser). A wasm test has no
//! file system, so the list becomes `include_str!` lines in `$OUT_DIR/scenarios.rs`. This script
//! only lists files: it never runs the engine, and the library itself does not use its output.

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs, io};

/// Written next to the scenarios by `UPDATE_EXPECT=1 cargo test --test trace_digests`.
const DIGESTS: &str = "digests.txt";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=tests/scenarios");
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let dir = Path::new(&manifest_dir).join("tests").join("scenarios");

    let mut scenarios = Vec::new();
    match fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries {
                let path = entry
                    .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
                    .path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    return Err(format!("{}: file names must be UTF-8", path.display()).into());
                };
                if name.ends_with(".json") && !name.ends_with(".trace.json") {
                    // The digest file is one `name bytes hash` line per scenario.
                    if !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                    {
                        return Err(format!(
                            "{}: scenario file names may use only letters, digits, `.`, `_` and `-`",
                            path.display()
                        )
                        .into());
                    }
                    scenarios.push((name.to_owned(), path.clone()));
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display()).into()),
    }
    scenarios.sort();

    let mut out = String::from("/// `(file name, file text)` of every scenario, sorted by name.\n");
    out.push_str("pub const SCENARIO_FILES: &[(&str, &str)] = &[\n");
    for (name, path) in &scenarios {
        let path = path.to_str().ok_or("the crate path must be UTF-8")?;
        // `{:?}` of a str is a valid Rust string literal.
        writeln!(out, "    ({name:?}, include_str!({path:?})),")?;
    }
    out.push_str("];\n\n/// The checked-in digests, when the file exists.\n");
    // The native test reads the file at run time instead.
    out.push_str("#[allow(dead_code)]\n");
    let digests = dir.join(DIGESTS);
    if digests.is_file() {
        let path = digests.to_str().ok_or("the crate path must be UTF-8")?;
        writeln!(
            out,
            "pub const DIGESTS_FILE: Option<&str> = Some(include_str!({path:?}));"
        )?;
    } else {
        out.push_str("pub const DIGESTS_FILE: Option<&str> = None;\n");
    }

    let out_dir = env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?;
    fs::write(Path::new(&out_dir).join("scenarios.rs"), out)?;
    Ok(())
}
