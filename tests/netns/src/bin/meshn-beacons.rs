//! A beacon flood for the namespace tests: meshd discovery beacons (version 1, no MAC), each
//! with a fresh random public key, sent to the beacon group on one interface at a fixed rate for
//! a bounded time. Every tenth datagram is deliberately malformed.
//!
//! ```text
//! meshn-beacons --interface IF --rate N --seconds S [--port P] [--community ID]
//! ```
//!
//! The beacon layout is written out here from its description in meshd's `discovery.rs` (this
//! crate does not depend on meshd): magic `MSHB`, version 1, flags, tunnel port, counter, key,
//! community id length and bytes. Prints `sent N beacons, M malformed` at the end.

use std::fs::File;
use std::io::Read;
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

/// meshd's beacon group, `ff02::6d65:7368`.
const GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0x6d65, 0x7368);
/// Upper bounds, so a typo cannot flood for long.
const MAX_RATE: u64 = 100_000;
const MAX_SECONDS: u64 = 120;

struct Args {
    interface: String,
    rate: u64,
    seconds: u64,
    port: u16,
    community: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        interface: String::new(),
        rate: 0,
        seconds: 0,
        port: 51821,
        community: String::new(),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{flag}: `{v}`"));
        match flag.as_str() {
            "--interface" => args.interface = value,
            "--rate" => args.rate = number(&value)?,
            "--seconds" => args.seconds = number(&value)?,
            "--port" => args.port = value.parse().map_err(|_| format!("--port: `{value}`"))?,
            "--community" => args.community = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.interface.is_empty() || !(1..=MAX_RATE).contains(&args.rate) {
        return Err(format!(
            "need --interface and --rate 1..={MAX_RATE}, --seconds 1..={MAX_SECONDS}"
        ));
    }
    if !(1..=MAX_SECONDS).contains(&args.seconds) || args.community.len() > 32 {
        return Err(format!(
            "--seconds must be 1..={MAX_SECONDS}, --community at most 32 bytes"
        ));
    }
    Ok(args)
}

fn beacon(key: &[u8; 32], counter: u64, community: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(b"MSHB");
    out.push(1);
    out.push(0);
    out.extend_from_slice(&51820u16.to_be_bytes());
    out.extend_from_slice(&counter.to_be_bytes());
    out.extend_from_slice(key);
    out.push(community.len() as u8);
    out.extend_from_slice(community.as_bytes());
}

fn run(args: &Args) -> Result<(u64, u64), String> {
    let index: u32 = std::fs::read_to_string(format!("/sys/class/net/{}/ifindex", args.interface))
        .map_err(|e| format!("no interface {}: {e}", args.interface))?
        .trim()
        .parse()
        .map_err(|_| "unreadable ifindex".to_string())?;
    let socket = UdpSocket::bind("[::]:0").map_err(|e| format!("bind: {e}"))?;
    let to = SocketAddrV6::new(GROUP, args.port, 0, index);
    let mut urandom = File::open("/dev/urandom").map_err(|e| format!("/dev/urandom: {e}"))?;
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let (mut sent, mut malformed) = (0u64, 0u64);
    let mut keys = vec![0u8; 32 * 256];
    let mut datagram = Vec::with_capacity(128);
    while Instant::now() < end {
        urandom
            .read_exact(&mut keys)
            .map_err(|e| format!("/dev/urandom: {e}"))?;
        for key in keys.chunks_exact(32) {
            let mut k = [0u8; 32];
            k.copy_from_slice(key);
            beacon(&k, sent + 1, &args.community, &mut datagram);
            if sent % 10 == 9 {
                datagram.truncate(20);
                malformed += 1;
            }
            // Sending may fail under pressure (ENOBUFS): count only what left.
            if socket.send_to(&datagram, to).is_ok() {
                sent += 1;
            }
            // Pace: sleep until this datagram's due time.
            let due = start + Duration::from_nanos(sent * 1_000_000_000 / args.rate);
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if now >= end {
                break;
            }
        }
    }
    Ok((sent, malformed))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("meshn-beacons: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok((sent, malformed)) => {
            println!("sent {sent} beacons, {malformed} malformed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("meshn-beacons: {e}");
            ExitCode::from(1)
        }
    }
}
