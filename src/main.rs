//! The `jim` binary: parse the command line, run it on a multi-thread runtime, exit with its code.

use std::process::ExitCode;

use clap::Parser;

/// jemalloc: the send path allocates many small short-lived buffers (requests, rows, frames),
/// often freed on another thread than the one that allocated them; glibc's allocator spent
/// ~12% of the server's time under load, mimalloc kept faulting in fresh huge pages. It also
/// serves C's `malloc` (Cargo feature `unprefixed_malloc_on_supported_platforms`), so that the
/// bundled SQLite's allocations stop costing the message writer ~12% of its time in glibc.
/// jemalloc does not build for MSVC targets; Windows builds keep the system allocator.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
