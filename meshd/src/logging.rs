//! The daemon's logger: `log` records to stderr, one line each, in a form procd, syslog and
//! journald keep well. This module owns only formatting and the level; what is worth logging, and
//! keeping secrets out of it, is the caller's business.
//!
//! Each record is one line: `<level> meshd: <message>`, for example `warn meshd: peer 3fT4Wg0k…
//! handshake timed out`. Control characters in the message (a newline in a resolver's error, a
//! name a peer sent) are escaped, so one record can never forge a second line.
//!
//! With `MESHD_LOG_PRIORITY=1` in the environment each line starts with its syslog priority in
//! angle brackets (`<3>` error, `<4>` warn, `<6>` info, `<7>` debug and trace), which journald
//! and `logger --prio-prefix` turn into the record's level. It is off by default because procd
//! copies stderr to syslog as it is, and the prefix would then only clutter `logread`.

// Used by the daemon driver, being written.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;

use serde::Deserialize;

/// How much to log, as the configuration spells it (`log_level = "info"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The `log` crate's filter for this level.
    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }

    /// The name used in the configuration file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<LogLevel, String> {
        match s {
            "error" => Ok(LogLevel::Error),
            "warn" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            "trace" => Ok(LogLevel::Trace),
            _ => Err(format!(
                "unknown log level `{s}`, expected one of error, warn, info, debug, trace"
            )),
        }
    }
}

/// The one logger of the process. `log` without its `std` feature only takes a `&'static`
/// logger, hence the cell.
static LOGGER: OnceLock<StderrLogger> = OnceLock::new();

/// Installs the stderr logger (once; later calls only change the level, as `reload` needs).
pub fn init(level: log::LevelFilter) {
    let logger = LOGGER.get_or_init(|| StderrLogger {
        with_priority: std::env::var_os("MESHD_LOG_PRIORITY").is_some_and(|v| v == "1"),
    });
    // Fails only when a logger is already installed, which is the reload case above.
    let _ = log::set_logger(logger);
    log::set_max_level(level);
}

#[derive(Debug)]
struct StderrLogger {
    with_priority: bool,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // Libraries only get to report errors: netlink-packet-route, for one, warns on every
        // dump about kernel attributes newer than itself, which an operator can do nothing about.
        let ours = metadata.target().starts_with("meshd");
        metadata.level() <= log::max_level() && (ours || metadata.level() <= log::Level::Error)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(record.level(), record.args(), self.with_priority);
        // Whole lines in one write, so records from different threads do not interleave. A
        // logger has nowhere to report its own failure.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// The syslog priority of a level (RFC 5424 severities).
fn syslog_priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "error",
        log::Level::Warn => "warn",
        log::Level::Info => "info",
        log::Level::Debug => "debug",
        log::Level::Trace => "trace",
    }
}

/// One record as one line, newline included.
fn format_line(
    level: log::Level,
    message: &std::fmt::Arguments<'_>,
    with_priority: bool,
) -> String {
    let mut line = String::new();
    if with_priority {
        let _ = write!(line, "<{}>", syslog_priority(level));
    }
    let _ = write!(line, "{} meshd: ", level_name(level));
    let message = message.to_string();
    for c in message.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line() {
        let line = format_line(log::Level::Info, &format_args!("peer {} up", "abc"), false);
        assert_eq!(line, "info meshd: peer abc up\n");
    }

    #[test]
    fn priority_prefix() {
        let line = format_line(log::Level::Warn, &format_args!("x"), true);
        assert_eq!(line, "<4>warn meshd: x\n");
        let line = format_line(log::Level::Trace, &format_args!("x"), true);
        assert_eq!(line, "<7>trace meshd: x\n");
        let line = format_line(log::Level::Error, &format_args!("x"), true);
        assert_eq!(line, "<3>error meshd: x\n");
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        let line = format_line(
            log::Level::Info,
            &format_args!("name {}", "evil\nerror meshd: fake\r\t"),
            false,
        );
        assert_eq!(line, "info meshd: name evil\\nerror meshd: fake\\r\\t\n");
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn levels_map_to_filters() {
        assert_eq!(LogLevel::default(), LogLevel::Info);
        assert_eq!(LogLevel::Error.filter(), log::LevelFilter::Error);
        assert_eq!(LogLevel::Trace.filter(), log::LevelFilter::Trace);
        for level in [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ] {
            assert_eq!(level.as_str().parse::<LogLevel>(), Ok(level));
        }
        assert!("verbose".parse::<LogLevel>().is_err());
        assert!("INFO".parse::<LogLevel>().is_err());
    }

    #[test]
    fn init_twice_changes_level() {
        init(log::LevelFilter::Warn);
        assert_eq!(log::max_level(), log::LevelFilter::Warn);
        init(log::LevelFilter::Debug);
        assert_eq!(log::max_level(), log::LevelFilter::Debug);
        log::debug!("logging test record");
    }
}
