//! `qp`: run scenarios on the engine or on a real RabbitMQ, compare them, record traces, export
//! them (pika, lapin, definitions) and import definitions.
//!
//! Native only: it talks to brokers over TCP and reads files. The wasm build (which builds
//! every binary) gets an empty `main`.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
