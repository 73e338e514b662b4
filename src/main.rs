//! The `jim` binary: parse the command line, run it on a multi-thread runtime, exit with its code.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the send path allocates many small short-lived buffers (requests, rows, frames),
/// where glibc's allocator spent ~12% of the server's time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = jim::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(jim::cli::run(cli))
}
