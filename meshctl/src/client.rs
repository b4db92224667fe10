//! Talking to meshd: connect to its Unix socket, send one request line, read one reply line
//! (or, for `monitor`, a reply line per event until the daemon closes the connection).
//!
//! Plain blocking std I/O with timeouts: meshctl asks one question and exits, so it needs no
//! async runtime, and it must not hang forever on a wedged daemon.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use control::{Data, Outcome, Request};

/// The longest reply line read; a big mesh's route table is far below this, a runaway stream
/// without newlines is not.
const MAX_REPLY_LEN: u64 = 64 * 1024 * 1024;

/// Why a request got no answer the operator can use. Each displays as one sentence naming the
/// socket when the socket is the problem.
#[derive(Debug)]
pub enum Error {
    /// The daemon answered with an error; its message is shown as is.
    Daemon(String),
    /// No connection to the socket.
    Unreachable { socket: PathBuf, reason: String },
    /// Connected, but the conversation failed (timeout, closed early, unreadable reply).
    Conversation { socket: PathBuf, reason: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Daemon(message) => write!(f, "meshd: {message}"),
            Error::Unreachable { socket, reason } => {
                write!(f, "cannot reach meshd at {}: {reason}", socket.display())
            }
            Error::Conversation { socket, reason } => {
                write!(f, "meshd at {} {reason}", socket.display())
            }
        }
    }
}

impl std::error::Error for Error {}

/// Connects to `socket`; `timeout` bounds every later read and write (`None`: wait forever).
pub fn connect(socket: &Path, timeout: Option<Duration>) -> Result<UnixStream, Error> {
    let unreachable = |reason: String| Error::Unreachable {
        socket: socket.to_path_buf(),
        reason,
    };
    let stream = UnixStream::connect(socket).map_err(|e| unreachable(why_unreachable(&e)))?;
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(stream)
}

/// What an operator should hear when the socket cannot be connected to.
fn why_unreachable(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such socket (is meshd running?)".into(),
        io::ErrorKind::PermissionDenied => {
            "permission denied (run as root or as a member of the meshd group)".into()
        }
        io::ErrorKind::ConnectionRefused => {
            "connection refused (is meshd running? the socket may be left over)".into()
        }
        _ => e.to_string(),
    }
}

/// Sends one request and returns the data of the one reply, or the daemon's error.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> Result<Data, Error> {
    let stream = connect(socket, Some(timeout))?;
    let mut conversation = Conversation::start(socket, stream, request, Some(timeout))?;
    match conversation.next()? {
        Some(data) => Ok(data),
        None => Err(conversation.failed("closed the connection without answering".into())),
    }
}

/// Sends `monitor` and hands each event's data to `each` until the daemon closes the
/// connection or `each` returns `false` (say, stdout was closed). Reads wait without a timeout:
/// a quiet mesh sends nothing for a long time.
pub fn monitor(
    socket: &Path,
    timeout: Duration,
    mut each: impl FnMut(Data) -> bool,
) -> Result<(), Error> {
    let stream = connect(socket, Some(timeout))?;
    let mut conversation = Conversation::start(socket, stream, &Request::Monitor, None)?;
    while let Some(data) = conversation.next()? {
        if !each(data) {
            break;
        }
    }
    Ok(())
}

/// One connection after its request was sent.
struct Conversation<'a> {
    socket: &'a Path,
    reader: BufReader<UnixStream>,
    timeout: Option<Duration>,
    line: String,
}

impl<'a> Conversation<'a> {
    fn start(
        socket: &'a Path,
        mut stream: UnixStream,
        request: &Request,
        read_timeout: Option<Duration>,
    ) -> Result<Conversation<'a>, Error> {
        let write_timeout = stream.write_timeout().ok().flatten();
        let mut conversation = Conversation {
            socket,
            reader: BufReader::new(stream.try_clone().map_err(|e| Error::Conversation {
                socket: socket.to_path_buf(),
                reason: format!("failed: {e}"),
            })?),
            timeout: write_timeout,
            line: String::new(),
        };
        stream
            .write_all(control::request_line(request).as_bytes())
            .and_then(|()| stream.flush())
            .map_err(|e| conversation.io_failed(e, "take the request"))?;
        stream
            .set_read_timeout(read_timeout)
            .map_err(|e| conversation.io_failed(e, "take the request"))?;
        conversation.timeout = read_timeout;
        Ok(conversation)
    }

    /// The data of the next reply line, `None` at end of stream, the daemon's error as
    /// [`Error::Daemon`].
    fn next(&mut self) -> Result<Option<Data>, Error> {
        self.line.clear();
        let read = (&mut self.reader)
            .take(MAX_REPLY_LEN)
            .read_line(&mut self.line)
            .map_err(|e| self.io_failed(e, "answer"))?;
        if read == 0 {
            return Ok(None);
        }
        if !self.line.ends_with('\n') && read as u64 == MAX_REPLY_LEN {
            return Err(self.failed(format!("sent a reply longer than {MAX_REPLY_LEN} bytes")));
        }
        let reply = control::parse_reply(self.line.trim_end()).map_err(|e| self.failed(e))?;
        match reply.outcome {
            Outcome::Ok { data } => Ok(Some(data)),
            Outcome::Error { error } => Err(Error::Daemon(error)),
        }
    }

    fn failed(&self, reason: String) -> Error {
        Error::Conversation {
            socket: self.socket.to_path_buf(),
            reason,
        }
    }

    fn io_failed(&self, e: io::Error, what: &str) -> Error {
        self.failed(match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => match self.timeout {
                Some(t) => format!("did not {what} within {}", crate::format::seconds(t)),
                None => format!("did not {what}"),
            },
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                "closed the connection without answering".into()
            }
            _ => format!("failed: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_one_sentence_naming_the_socket() {
        let say = |kind: io::ErrorKind| {
            Error::Unreachable {
                socket: PathBuf::from(control::DEFAULT_SOCKET),
                reason: why_unreachable(&io::Error::from(kind)),
            }
            .to_string()
        };
        assert_eq!(
            say(io::ErrorKind::NotFound),
            "cannot reach meshd at /run/meshd/meshd.sock: no such socket (is meshd running?)"
        );
        // Tests run as root here, so this one cannot be provoked on a real socket.
        assert_eq!(
            say(io::ErrorKind::PermissionDenied),
            "cannot reach meshd at /run/meshd/meshd.sock: permission denied \
             (run as root or as a member of the meshd group)"
        );
        assert!(say(io::ErrorKind::ConnectionRefused).contains("connection refused"));
    }
}
