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
//!
//! Run by hand (or into a file), each line starts with the time, UTC, RFC 3339 to the
//! millisecond, as `meshctl monitor` prints its events: `2026-11-25T13:55:12.236Z info meshd:
//! ...`, so one `grep 2026-11-25T13:55` finds a moment in both. Under a supervisor that stamps
//! lines itself the time is left out, so `logread` and `journalctl` do not show two: systemd
//! says so in `JOURNAL_STREAM` (the device and inode of the stream it gave us, which must be our
//! stderr: a child that inherited the variable but not the stream still gets times), and procd
//! starts services as PID 1 with stderr a pipe it reads. `MESHD_LOG_TIME=1` or `=0` decides
//! instead. This is the one clock meshd reads outside the driver: a log line's time says when it
//! was written, not when anything happened in the protocol.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::sync::OnceLock;
use std::time::SystemTime;

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
        with_time: with_time(),
    });
    // Fails only when a logger is already installed, which is the reload case above.
    let _ = log::set_logger(logger);
    log::set_max_level(level);
}

#[derive(Debug)]
struct StderrLogger {
    with_priority: bool,
    with_time: bool,
}

/// Whether lines start with the time: `MESHD_LOG_TIME` if it says 0 or 1, else unless stderr
/// goes to a supervisor that stamps lines itself.
fn with_time() -> bool {
    match std::env::var("MESHD_LOG_TIME").as_deref() {
        Ok("1") => return true,
        Ok("0") => return false,
        _ => {}
    }
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata());
    let Ok(stderr) = stderr else {
        // No stderr to look at: nobody reads the lines anyway.
        return true;
    };
    let supervised = supervised(
        Stream {
            device: stderr.dev(),
            inode: stderr.ino(),
            pipe: stderr.file_type().is_fifo(),
        },
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        std::os::unix::process::parent_id(),
    );
    !supervised
}

/// What [`supervised`] needs to know of stderr.
#[derive(Debug, Clone, Copy)]
struct Stream {
    device: u64,
    inode: u64,
    pipe: bool,
}

/// Whether stderr is a supervisor's stream that timestamps each line: systemd's journal
/// (`JOURNAL_STREAM` is `<device>:<inode>` of that stream, see systemd.exec(5)), or procd's pipe
/// (procd is PID 1 on OpenWrt and reads services' stderr through a pipe).
fn supervised(stderr: Stream, journal_stream: Option<&str>, parent: u32) -> bool {
    let journal = journal_stream
        .and_then(|v| v.split_once(':'))
        .and_then(|(d, i)| Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?)));
    if journal == Some((stderr.device, stderr.inode)) {
        return true;
    }
    parent == 1 && stderr.pipe
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
        let time = self.with_time.then(SystemTime::now);
        let line = format_line(record.level(), record.args(), self.with_priority, time);
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

/// One record as one line, newline included. The priority comes first, where journald and
/// `logger --prio-prefix` look for it.
fn format_line(
    level: log::Level,
    message: &std::fmt::Arguments<'_>,
    with_priority: bool,
    time: Option<SystemTime>,
) -> String {
    let mut line = String::new();
    if with_priority {
        let _ = write!(line, "<{}>", syslog_priority(level));
    }
    if let Some(time) = time {
        line.push_str(&control::time::rfc3339_utc(time));
        line.push(' ');
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
        let line = format_line(
            log::Level::Info,
            &format_args!("peer {} up", "abc"),
            false,
            None,
        );
        assert_eq!(line, "info meshd: peer abc up\n");
    }

    #[test]
    fn priority_prefix() {
        let line = format_line(log::Level::Warn, &format_args!("x"), true, None);
        assert_eq!(line, "<4>warn meshd: x\n");
        let line = format_line(log::Level::Trace, &format_args!("x"), true, None);
        assert_eq!(line, "<7>trace meshd: x\n");
        let line = format_line(log::Level::Error, &format_args!("x"), true, None);
        assert_eq!(line, "<3>error meshd: x\n");
    }

    #[test]
    fn time_comes_after_the_priority() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_764_078_912_236);
        let line = format_line(log::Level::Info, &format_args!("x"), false, Some(t));
        assert_eq!(line, "2025-11-25T13:55:12.236Z info meshd: x\n");
        let line = format_line(log::Level::Warn, &format_args!("x"), true, Some(t));
        assert_eq!(line, "<4>2025-11-25T13:55:12.236Z warn meshd: x\n");
    }

    #[test]
    fn supervisors_that_stamp_lines_are_recognised() {
        let pipe = Stream {
            device: 12,
            inode: 345,
            pipe: true,
        };
        let file = Stream {
            pipe: false,
            ..pipe
        };
        // systemd: only when the stream it names is our stderr.
        assert!(supervised(file, Some("12:345"), 4242));
        assert!(!supervised(file, Some("12:346"), 4242));
        assert!(!supervised(file, Some("junk"), 4242));
        // procd: PID 1 reading our stderr through a pipe.
        assert!(supervised(pipe, None, 1));
        assert!(!supervised(file, None, 1));
        // A shell, a pipe into `tee`, a test harness: times wanted.
        assert!(!supervised(pipe, None, 4242));
        assert!(!supervised(file, None, 4242));
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        let line = format_line(
            log::Level::Info,
            &format_args!("name {}", "evil\nerror meshd: fake\r\t"),
            false,
            None,
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
