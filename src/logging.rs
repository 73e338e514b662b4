//! Logging: a slog root logger writing one JSON object per line (for ELK) or readable text on a
//! terminal, plus the bridge that routes the `log` crate (actix, diesel, redis) into it.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use slog::{Drain, Level, Logger, o};

use crate::config::{LogConfig, LogFormat, LogLevel};

/// Keeps the asynchronous drain and the global `log` bridge alive; dropping it flushes.
pub struct LogGuard {
    _scope: slog_scope::GlobalLoggerGuard,
    _async: slog_async::AsyncGuard,
}

/// The slog level of a configured one.
fn slog_level(level: LogLevel) -> Level {
    match level {
        LogLevel::Trace => Level::Trace,
        LogLevel::Debug => Level::Debug,
        LogLevel::Info => Level::Info,
        LogLevel::Warn => Level::Warning,
        LogLevel::Error => Level::Error,
    }
}

fn log_level(level: Level) -> log::Level {
    match level {
        Level::Critical | Level::Error => log::Level::Error,
        Level::Warning => log::Level::Warn,
        Level::Info => log::Level::Info,
        Level::Debug => log::Level::Debug,
        Level::Trace => log::Level::Trace,
    }
}

/// Whether this config writes JSON (as opposed to terminal text).
pub fn wants_json(config: &LogConfig) -> bool {
    match config.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    }
}

/// Build the process-wide logger on stderr and install it as the `log` crate's backend.
pub fn init(config: &LogConfig) -> (Logger, LogGuard) {
    let level = slog_level(config.level);
    let drain: Box<dyn Drain<Ok = (), Err = slog::Never> + Send> = if wants_json(config) {
        let json = slog_json::Json::new(std::io::stderr()).add_default_keys().build().fuse();
        Box::new(json)
    } else {
        let decorator = slog_term::TermDecorator::new().stderr().build();
        Box::new(slog_term::FullFormat::new(decorator).build().fuse())
    };
    let (drain, async_guard) = slog_async::Async::new(drain)
        .chan_size(8192)
        .overflow_strategy(slog_async::OverflowStrategy::DropAndReport)
        .build_with_guard();
    // Filter before the channel: a record below the level costs nothing, not a hand-off to
    // the logging thread.
    let logger = Logger::root(drain.filter_level(level).fuse(), o!("service" => "jim"));
    let scope_guard = slog_scope::set_global_logger(logger.clone());
    // Libraries log through `log`; cap them at our level so e.g. mio's trace never floods us.
    let _ = slog_stdlog::init_with_level(log_level(level));
    (logger, LogGuard { _scope: scope_guard, _async: async_guard })
}

/// A logger writing JSON lines into a shared buffer, for tests that inspect what was logged.
pub fn capture(level: Level) -> (Logger, CapturedLog) {
    let buffer = CapturedLog::default();
    let json = slog_json::Json::new(buffer.clone()).add_default_keys().build();
    let drain = Mutex::new(json).map(slog::Fuse).filter_level(level).fuse();
    (Logger::root(drain, o!("service" => "jim")), buffer)
}

/// The buffer behind [`capture`].
#[derive(Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Everything logged so far, as text.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
