//! The control socket: a Unix socket (mode 0660) where meshctl and scripts ask questions and
//! steer, in the newline-delimited JSON of the `control` crate.
//!
//! Each client gets a task of its own, so a client that sends garbage or stops reading never
//! stalls routing: its requests reach the event loop through a bounded channel and come back with
//! a oneshot reply; `monitor` clients read from a broadcast channel and are dropped, with an
//! error line, as soon as they fall too far behind.

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use control::{parse_request, reply_line, Data, Event, Reply, Request, MAX_REQUEST_LEN};
use log::{debug, info, warn};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};

/// A request from a client, with where its answer goes.
pub type Call = (Request, oneshot::Sender<Reply>);

/// How many events a monitor client may fall behind before it is dropped.
const MONITOR_BACKLOG: usize = 1024;
/// Concurrent requests waiting for the event loop; beyond this clients wait their turn.
const CALL_QUEUE: usize = 64;

/// The listening side, owned by the daemon.
pub struct ControlServer {
    path: PathBuf,
    pub events: broadcast::Sender<Event>,
    /// Where other read-only front ends (`http.rs`) put their requests, as clients do.
    calls: mpsc::Sender<Call>,
}

impl ControlServer {
    /// Creates the socket (and its directory, mode 0750) and starts accepting clients. Requests
    /// arrive on the returned receiver.
    pub fn start(path: &Path) -> Result<(ControlServer, mpsc::Receiver<Call>), String> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o750)
                    .create(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
        }
        remove_stale(path)?;
        let listener = UnixListener::bind(path)
            .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
        let (calls, receiver) = mpsc::channel(CALL_QUEUE);
        let (events, _) = broadcast::channel(MONITOR_BACKLOG);
        let events_for_clients = events.clone();
        let calls_for_others = calls.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let calls = calls.clone();
                        let events = events_for_clients.clone();
                        tokio::spawn(async move {
                            if let Err(e) = serve(stream, calls, events).await {
                                debug!("control client: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        warn!("control socket: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
        info!("control socket {}", path.display());
        Ok((
            ControlServer {
                path: path.to_path_buf(),
                events,
                calls: calls_for_others,
            },
            receiver,
        ))
    }

    /// A sender for requests to the event loop, answered like a client's.
    pub fn caller(&self) -> mpsc::Sender<Call> {
        self.calls.clone()
    }

    /// Publishes an event to every monitor client (none listening is fine).
    pub fn publish(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A socket file left by a crashed run is removed; one that answers belongs to a running meshd,
/// and we refuse to take it over.
fn remove_stale(path: &Path) -> Result<(), String> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!(
            "{} is in use: is another meshd running?",
            path.display()
        ));
    }
    std::fs::remove_file(path).map_err(|e| format!("cannot remove stale {}: {e}", path.display()))
}

async fn serve(
    stream: UnixStream,
    calls: mpsc::Sender<Call>,
    events: broadcast::Sender<Event>,
) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_REQUEST_LEN as u64 + 1)
            .read_line(&mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if n > MAX_REQUEST_LEN {
            let reply = Reply::error(format!("request longer than {MAX_REQUEST_LEN} bytes"));
            write.write_all(reply_line(&reply).as_bytes()).await?;
            return Ok(());
        }
        let request = match parse_request(line.trim_end()) {
            Ok(r) => r,
            Err(e) => {
                write
                    .write_all(reply_line(&Reply::error(e)).as_bytes())
                    .await?;
                continue;
            }
        };
        if request == Request::Monitor {
            return monitor(write, events.subscribe()).await;
        }
        let (tx, rx) = oneshot::channel();
        if calls.send((request, tx)).await.is_err() {
            return Ok(()); // the daemon is stopping
        }
        let reply = rx
            .await
            .unwrap_or_else(|_| Reply::error("meshd is stopping"));
        write.write_all(reply_line(&reply).as_bytes()).await?;
    }
}

async fn monitor(
    mut write: tokio::net::unix::OwnedWriteHalf,
    mut events: broadcast::Receiver<Event>,
) -> io::Result<()> {
    loop {
        match events.recv().await {
            Ok(event) => {
                let line = reply_line(&Reply::ok(Data::Event(event)));
                write.write_all(line.as_bytes()).await?;
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let reply =
                    Reply::error(format!("dropped: this monitor fell {missed} events behind"));
                let _ = write.write_all(reply_line(&reply).as_bytes()).await;
                return Ok(());
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader as StdBufReader, Write};
    use std::os::unix::net::UnixStream as StdStream;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    fn socket_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("meshd-control-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sub").join("meshd.sock")
    }

    #[test]
    fn garbage_gets_an_error_and_the_connection_goes_on() {
        let rt = runtime();
        let path = socket_path("garbage");
        rt.block_on(async {
            let (server, mut calls) = ControlServer::start(&path).expect("start");
            let mode = std::fs::metadata(&path)
                .expect("socket")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o660);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o750);
            // The "event loop": answers every call with a status-less Done.
            tokio::spawn(async move {
                while let Some((request, reply)) = calls.recv().await {
                    let _ = reply.send(Reply::ok(Data::Done {
                        message: format!("{request:?}"),
                    }));
                }
            });
            let path2 = path.clone();
            let lines = tokio::task::spawn_blocking(move || {
                let mut stream = StdStream::connect(&path2).expect("connect");
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = StdBufReader::new(stream.try_clone().unwrap());
                let mut out = Vec::new();
                for request in [
                    "this is not json\n",
                    "{\"version\":7,\"request\":\"status\"}\n",
                    "{\"version\":1,\"request\":\"status\"}\n",
                ] {
                    stream.write_all(request.as_bytes()).unwrap();
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    out.push(line);
                }
                out
            })
            .await
            .unwrap();
            assert!(lines[0].contains("\"status\":\"error\"") && lines[0].contains("not JSON"));
            assert!(lines[1].contains("version 7"));
            assert!(lines[2].contains("\"status\":\"ok\"") && lines[2].contains("Status"));
            drop(server);
        });
        assert!(!path.exists(), "the socket file outlived the server");
    }

    #[test]
    fn a_monitor_that_does_not_read_is_dropped() {
        let rt = runtime();
        let path = socket_path("slow");
        rt.block_on(async {
            let (server, _calls) = ControlServer::start(&path).expect("start");
            let mut stream = StdStream::connect(&path).expect("connect");
            stream
                .write_all(b"{\"version\":1,\"request\":\"monitor\"}\n")
                .unwrap();
            // Let the server subscribe, then flood it while the client reads nothing.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let big = "x".repeat(512);
            for i in 0..20_000u32 {
                server.publish(Event {
                    time_s: f64::from(i),
                    what: control::EventKind::RouteWithdrawn {
                        prefix: big.clone(),
                    },
                });
                if i % 256 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            // Publishing never waited for the client. Now read what it got: some events, then
            // the error line, then the end.
            let lines = tokio::task::spawn_blocking(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let reader = StdBufReader::new(stream);
                reader.lines().map_while(Result::ok).collect::<Vec<_>>()
            });
            // Keep the runtime turning so the client task can write and notice its lag.
            let lines = lines.await.unwrap();
            let last = lines.last().cloned().unwrap_or_default();
            assert!(
                last.contains("dropped") && last.contains("behind"),
                "last line: {last}"
            );
            assert!(lines.len() < 20_000, "the slow client got everything");
        });
    }
}
