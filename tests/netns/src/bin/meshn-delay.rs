//! A UDP relay that delays every datagram, both ways, for the namespace tests (this kernel may
//! have no netem).
//!
//! ```text
//! meshn-delay --listen ADDR:PORT --forward ADDR:PORT --delay-ms N [--lifetime S]
//! ```
//!
//! Datagrams arriving on `--listen` are sent to `--forward` N ms later, from a second socket on
//! an ephemeral port; datagrams arriving on that socket (from anywhere) are sent N ms later to
//! the last address that sent to `--listen`. Single thread, non-blocking sockets, a FIFO queue
//! (the delay is constant, so arrival order is due order), sleeps of at most 1 ms. Exits after
//! `--lifetime` seconds (default 600) so that it can never run forever.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

/// Most datagrams queued at once; beyond that new ones are dropped.
const MAX_QUEUED: usize = 65_536;
/// Most datagrams read from one socket per turn, so the other one is not starved.
const BURST: usize = 64;

struct Args {
    listen: SocketAddr,
    forward: SocketAddr,
    delay: Duration,
    lifetime: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut forward = None;
    let mut delay = None;
    let mut lifetime = Duration::from_secs(600);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => {
                listen = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--listen {value}: {e}"))?,
                )
            }
            "--forward" => {
                forward = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--forward {value}: {e}"))?,
                )
            }
            "--delay-ms" => {
                let ms: u64 = value
                    .parse()
                    .map_err(|e| format!("--delay-ms {value}: {e}"))?;
                delay = Some(Duration::from_millis(ms));
            }
            "--lifetime" => {
                let s: u64 = value
                    .parse()
                    .map_err(|e| format!("--lifetime {value}: {e}"))?;
                lifetime = Duration::from_secs(s);
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(Args {
        listen: listen.ok_or("--listen is required")?,
        forward: forward.ok_or("--forward is required")?,
        delay: delay.ok_or("--delay-ms is required")?,
        lifetime,
    })
}

/// Which way a queued datagram goes.
#[derive(Clone, Copy)]
enum Way {
    /// From the listen side to `--forward`.
    Out,
    /// From `--forward` back to the last sender on the listen side.
    Back,
}

fn relay(args: &Args) -> Result<(), String> {
    let listen = UdpSocket::bind(args.listen).map_err(|e| format!("bind {}: {e}", args.listen))?;
    let ephemeral: SocketAddr = if args.forward.is_ipv6() {
        "[::]:0".parse().expect("literal")
    } else {
        "0.0.0.0:0".parse().expect("literal")
    };
    let outward = UdpSocket::bind(ephemeral).map_err(|e| format!("bind {ephemeral}: {e}"))?;
    for socket in [&listen, &outward] {
        socket
            .set_nonblocking(true)
            .map_err(|e| format!("set_nonblocking: {e}"))?;
    }
    println!(
        "meshn-delay: {} -> {} (from {}), {} ms each way",
        args.listen,
        args.forward,
        outward.local_addr().map_err(|e| e.to_string())?,
        args.delay.as_millis()
    );

    let started = Instant::now();
    let mut queue: VecDeque<(Instant, Way, Vec<u8>)> = VecDeque::new();
    let mut sender: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 65_536];
    let (mut out_count, mut back_count, mut dropped) = (0u64, 0u64, 0u64);
    while started.elapsed() < args.lifetime {
        let mut got = false;
        for (socket, way) in [(&listen, Way::Out), (&outward, Way::Back)] {
            for _ in 0..BURST {
                match socket.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        got = true;
                        if let Way::Out = way {
                            sender = Some(from);
                        }
                        if queue.len() < MAX_QUEUED {
                            queue.push_back((Instant::now() + args.delay, way, buf[..n].to_vec()));
                        } else {
                            dropped += 1;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    // ICMP errors (port unreachable while the far side starts) surface here.
                    Err(_) => break,
                }
            }
        }
        let now = Instant::now();
        while queue.front().is_some_and(|(due, _, _)| *due <= now) {
            let (_, way, bytes) = queue.pop_front().expect("front exists");
            match way {
                Way::Out => {
                    let _ = outward.send_to(&bytes, args.forward);
                    out_count += 1;
                }
                Way::Back => {
                    if let Some(to) = sender {
                        let _ = listen.send_to(&bytes, to);
                        back_count += 1;
                    } else {
                        dropped += 1;
                    }
                }
            }
        }
        if !got {
            let pause = queue
                .front()
                .map_or(Duration::from_millis(1), |(due, _, _)| {
                    due.saturating_duration_since(Instant::now())
                })
                .min(Duration::from_millis(1));
            thread::sleep(pause);
        }
    }
    println!(
        "meshn-delay: lifetime over; relayed {out_count} out, {back_count} back, dropped {dropped}"
    );
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| relay(&args));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshn-delay: {e}");
            ExitCode::from(2)
        }
    }
}
