//! The HTTP listener (`[http] listen`, off by default): `GET /metrics` in Prometheus' text format
//! (docs/metrics.md), 404 for any other path. It asks the event loop the same control requests
//! `meshctl` sends (`control.rs`), so there is one source of truth, and renders them with
//! `metrics.rs`.
//!
//! Hand-written HTTP/1.1, one request per connection, because an HTTP crate would cost the
//! router's flash more than this whole module. What a hostile client can take is bounded: a
//! request head of [`MAX_HEAD`] bytes in one fixed buffer, [`MAX_CONNECTIONS`] connections at once
//! (more are closed on accept), [`DEADLINE`] for the whole exchange. Nothing runs while nobody
//! connects: no timer, no task but the accepting one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use control::{Data, Outcome, Request};
use log::{debug, info, warn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::control::Call;
use crate::metrics::{self, Snapshot};

/// The longest request head (request line and headers) read; longer gets 400.
pub const MAX_HEAD: usize = 4096;
/// Connections served at once; beyond this, new ones are closed at once.
pub const MAX_CONNECTIONS: usize = 4;
/// The whole exchange, reading the request to writing the last byte.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A request head that was understood.
#[derive(Debug, PartialEq, Eq)]
pub struct Head<'a> {
    pub method: &'a str,
    /// The path, without any query.
    pub path: &'a str,
}

/// Why a request head was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not ended within [`MAX_HEAD`] bytes.
    TooLong,
    /// Not an HTTP/1.x request line, or not text.
    Malformed,
}

/// Where the head ends (the index after its blank line), if it has within `buffer`.
pub fn head_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Parses the request line of a complete head; headers are not needed and are skipped.
pub fn parse_head(head: &[u8]) -> Result<Head<'_>, HeadError> {
    if head.len() > MAX_HEAD {
        return Err(HeadError::TooLong);
    }
    let text = std::str::from_utf8(head).map_err(|_| HeadError::Malformed)?;
    let line = text.split("\r\n").next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed);
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase());
    if !token(method) || !target.starts_with('/') || !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(HeadError::Malformed);
    }
    let path = target.split('?').next().unwrap_or(target);
    Ok(Head { method, path })
}

/// Binds `listen` and serves it for as long as the daemon runs.
pub fn start(listen: SocketAddr, calls: mpsc::Sender<Call>) -> Result<(), String> {
    let listener = std::net::TcpListener::bind(listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(TcpListener::from_std)
        .map_err(|e| format!("cannot listen for HTTP on {listen}: {e}"))?;
    info!("metrics on http://{listen}/metrics");
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!("HTTP accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                debug!("HTTP: {MAX_CONNECTIONS} connections busy, closing a new one");
                continue; // dropping the stream closes it
            };
            let calls = calls.clone();
            tokio::spawn(async move {
                if tokio::time::timeout(DEADLINE, serve(stream, calls))
                    .await
                    .is_err()
                {
                    debug!("HTTP client too slow: closed");
                }
                drop(slot);
            });
        }
    });
    Ok(())
}

async fn serve(mut stream: TcpStream, calls: mpsc::Sender<Call>) {
    let mut buffer = [0u8; MAX_HEAD];
    let mut filled = 0;
    let end = loop {
        if let Some(end) = head_end(&buffer[..filled]) {
            break Some(end);
        }
        if filled == buffer.len() {
            break None;
        }
        match stream.read(&mut buffer[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
    };
    let head = match end {
        Some(end) => parse_head(&buffer[..end]),
        None => Err(HeadError::TooLong),
    };
    let response = match head {
        Err(e) => respond("400 Bad Request", "text/plain", &format!("{e:?}\n"), true),
        Ok(Head { method, path }) => {
            let with_body = method != "HEAD";
            match (method, path) {
                ("GET" | "HEAD", "/metrics") => match gather(&calls).await {
                    Some(snapshot) => respond(
                        "200 OK",
                        "text/plain; version=0.0.4; charset=utf-8",
                        &metrics::render(&snapshot),
                        with_body,
                    ),
                    None => respond("503 Service Unavailable", "text/plain", "stopping\n", true),
                },
                ("GET" | "HEAD", _) => {
                    respond("404 Not Found", "text/plain", "not found\n", with_body)
                }
                _ => respond("405 Method Not Allowed", "text/plain", "only GET\n", true),
            }
        }
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

fn respond(status: &str, content_type: &str, body: &str, with_body: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// Asks the event loop what `meshctl` would; `None` if the daemon is stopping.
async fn gather(calls: &mpsc::Sender<Call>) -> Option<Snapshot> {
    let mut snapshot = Snapshot::default();
    for request in [
        Request::Status,
        Request::Neighbours,
        Request::Routes { prefix: None },
        Request::Peers,
        Request::Discovery,
        Request::Refused,
        Request::Gateways,
        Request::Forwarding,
    ] {
        let (tx, rx) = oneshot::channel();
        calls.send((request, tx)).await.ok()?;
        let Outcome::Ok { data } = rx.await.ok()?.outcome else {
            continue;
        };
        match data {
            Data::Status(status) => snapshot.status = Some(status),
            Data::Neighbours { neighbours } => snapshot.neighbours = neighbours,
            Data::Routes { routes } => snapshot.routes = routes,
            Data::Peers { peers } => snapshot.peers = peers,
            Data::Discovery(discovery) => snapshot.discovery = Some(discovery),
            Data::Refused { refused } => snapshot.refused = refused,
            Data::Gateways {
                gateways,
                encapsulated,
                decapsulated,
                dropped,
                ..
            } => {
                snapshot.gateways = Some(metrics::Gateways {
                    flows: gateways
                        .into_iter()
                        .map(|g| (g.router_id, g.flows))
                        .collect(),
                    encapsulated,
                    decapsulated,
                    dropped,
                })
            }
            Data::Forwarding {
                dropped,
                icmp_rate_limited,
            } => snapshot.forwarding = Some((dropped, icmp_rate_limited)),
            _ => {}
        }
    }
    snapshot.process = metrics::read_process();
    Some(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn request_lines_are_parsed_strictly() {
        assert_eq!(
            parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Ok(Head {
                method: "GET",
                path: "/metrics"
            })
        );
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET /metrics HTTP/2.0\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"get /metrics HTTP/1.1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1 extra\r\n\r\n",
            b"\xff\xfe /metrics HTTP/1.1\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert_eq!(parse_head(bad), Err(HeadError::Malformed), "{bad:?}");
        }
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse_head(long.as_bytes()), Err(HeadError::TooLong));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
    }

    /// Sends `request` to a server on loopback whose event loop answers nothing useful, and
    /// returns what came back (until the server closed).
    fn exchange(requests: &[&[u8]]) -> Vec<String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let address = probe.local_addr().unwrap();
            drop(probe);
            let (calls, mut receiver) = mpsc::channel::<Call>(8);
            start(address, calls).expect("start");
            tokio::spawn(async move {
                while let Some((_, reply)) = receiver.recv().await {
                    let _ = reply.send(control::Reply::error("test"));
                }
            });
            let requests: Vec<Vec<u8>> = requests.iter().map(|r| r.to_vec()).collect();
            tokio::task::spawn_blocking(move || {
                requests
                    .iter()
                    .map(|request| {
                        let mut stream = std::net::TcpStream::connect(address).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_secs(10)))
                            .unwrap();
                        let _ = stream.write_all(request);
                        let mut answer = String::new();
                        let _ = stream.read_to_string(&mut answer);
                        answer
                    })
                    .collect()
            })
            .await
            .unwrap()
        })
    }

    #[test]
    fn metrics_are_served_and_everything_else_refused() {
        let oversized = format!("GET /{} HTTP/1.1\r\n", "a".repeat(2 * MAX_HEAD));
        let answers = exchange(&[
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api HTTP/1.1\r\n\r\n",
            b"POST /metrics HTTP/1.1\r\n\r\n",
            b"BREW /pot HTCPCP/1.0\r\n\r\n",
            oversized.as_bytes(),
        ]);
        assert!(
            answers[0].starts_with("HTTP/1.1 200 OK\r\n"),
            "{}",
            answers[0]
        );
        assert!(answers[0].contains("# TYPE meshd_sessions gauge"));
        assert!(answers[1].starts_with("HTTP/1.1 404 "), "{}", answers[1]);
        assert!(answers[2].starts_with("HTTP/1.1 405 "), "{}", answers[2]);
        assert!(answers[3].starts_with("HTTP/1.1 400 "), "{}", answers[3]);
        assert!(answers[4].starts_with("HTTP/1.1 400 "), "{}", answers[4]);
    }

    #[test]
    fn clients_that_say_nothing_are_closed_and_do_not_block_others() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let address = probe.local_addr().unwrap();
            drop(probe);
            let (calls, mut receiver) = mpsc::channel::<Call>(8);
            start(address, calls).expect("start");
            tokio::spawn(async move {
                while let Some((_, reply)) = receiver.recv().await {
                    let _ = reply.send(control::Reply::error("test"));
                }
            });
            tokio::task::spawn_blocking(move || {
                // Silent clients fill every slot; one more is closed at once.
                let silent: Vec<std::net::TcpStream> = (0..MAX_CONNECTIONS)
                    .map(|_| std::net::TcpStream::connect(address).unwrap())
                    .collect();
                std::thread::sleep(Duration::from_millis(200));
                let mut extra = std::net::TcpStream::connect(address).unwrap();
                extra
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut answer = Vec::new();
                assert_eq!(extra.read_to_end(&mut answer).map_err(|e| e.kind()), Ok(0));
                // The silent ones are closed by the deadline, then a scrape works again.
                for mut s in silent {
                    s.set_read_timeout(Some(DEADLINE * 3)).unwrap();
                    assert_eq!(s.read_to_end(&mut answer).map_err(|e| e.kind()), Ok(0));
                }
                let mut stream = std::net::TcpStream::connect(address).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                stream.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
                let mut text = String::new();
                stream.read_to_string(&mut text).unwrap();
                assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
            })
            .await
            .unwrap();
        });
    }
}
