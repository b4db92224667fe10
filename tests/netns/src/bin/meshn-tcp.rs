//! A TCP transfer whose byte count and content can be checked exactly, for the namespace tests.
//! iperf3's byte counters cannot show that every byte arrived: its receiver stops counting when
//! the test ends, with data still in flight, so even over a bare veth its `sum_received` falls
//! megabytes short of `sum_sent`.
//!
//! ```text
//! meshn-tcp sink <bind-addr:port>          accept one connection, read to EOF, answer "<bytes> <fnv64>"
//! meshn-tcp source <addr:port> <bytes> [<bytes per second>]
//!                                          send <bytes> of a fixed pseudo-random stream (no faster
//!                                          than the rate, if given), check the answer
//! ```
//!
//! The sink prints `connection from <addr:port>` first: the source address it saw (behind a NAT,
//! the NAT's).
//!
//! The source prints `sent <n> <hash> received <m> <hash>` and exits 0 only if both match.
//! Every step has a timeout; the sink gives up 30 s after starting if nobody connects.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// FNV-1a, 64 bits.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

fn sink(bind: SocketAddr) -> Result<(), String> {
    let listener = TcpListener::bind(bind).map_err(|e| format!("bind {bind}: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + ACCEPT_TIMEOUT;
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                println!("connection from {peer}");
                break stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(format!("nobody connected within {ACCEPT_TIMEOUT:?}"));
                }
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let (mut count, mut hash) = (0u64, Fnv::new());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream
            .read(&mut buf)
            .map_err(|e| format!("read after {count} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        count += n as u64;
        hash.update(&buf[..n]);
    }
    writeln!(stream, "{count} {:016x}", hash.0).map_err(|e| format!("answer: {e}"))?;
    println!("received {count} {:016x}", hash.0);
    Ok(())
}

fn source(addr: SocketAddr, total: u64, rate: Option<u64>) -> Result<bool, String> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let (mut sent, mut hash) = (0u64, Fnv::new());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 64 * 1024];
    while sent < total {
        for chunk in buf.chunks_mut(8) {
            // xorshift64: a stream that a lost, repeated or reordered block would change.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = chunk.len();
            chunk.copy_from_slice(&state.to_le_bytes()[..len]);
        }
        let n = (total - sent).min(buf.len() as u64) as usize;
        stream
            .write_all(&buf[..n])
            .map_err(|e| format!("write after {sent} bytes: {e}"))?;
        hash.update(&buf[..n]);
        sent += n as u64;
        if let Some(rate) = rate.filter(|r| *r > 0) {
            // Ahead of the rate: wait until it catches up (one write's worth at most).
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                thread::sleep(ahead.min(Duration::from_secs(1)));
            }
        }
    }
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(|e| format!("reading the sink's answer: {e}"))?;
    let mine = format!("{sent} {:016x}", hash.0);
    println!("sent {mine} received {}", answer.trim());
    Ok(answer.trim() == mine)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["sink", bind] => bind
            .parse()
            .map_err(|e| format!("{bind}: {e}"))
            .and_then(sink)
            .map(|()| true),
        ["source", addr, bytes] => match (addr.parse(), bytes.parse()) {
            (Ok(addr), Ok(bytes)) => source(addr, bytes, None),
            _ => Err(format!("bad address {addr} or byte count {bytes}")),
        },
        ["source", addr, bytes, rate] => match (addr.parse(), bytes.parse(), rate.parse()) {
            (Ok(addr), Ok(bytes), Ok(rate)) => source(addr, bytes, Some(rate)),
            _ => Err(format!(
                "bad address {addr}, byte count {bytes} or rate {rate}"
            )),
        },
        _ => Err(
            "usage: meshn-tcp sink <addr:port> | source <addr:port> <bytes> [<bytes per second>]"
                .into(),
        ),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("meshn-tcp: {e}");
            ExitCode::from(2)
        }
    }
}
