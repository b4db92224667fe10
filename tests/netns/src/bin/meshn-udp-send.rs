//! Sends one UDP datagram, given in hex, to an IPv6 address on a named interface: for the
//! namespace tests to hand a Babel daemon a message no peer in the test would send (an
//! acknowledgment request, say).
//!
//! ```text
//! meshn-udp-send --interface IF --to ADDR --port PORT --hex BYTES
//! ```
//!
//! The interface gives the scope of a link-local or link-local multicast `--to` (its index is
//! read from `/sys/class/net/IF/ifindex`, which `ip netns exec` mounts for the namespace). The
//! source is an ephemeral port on whatever address the kernel picks. Exits non-zero, with a
//! message, on bad arguments or a failed send.

use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::process::ExitCode;

struct Args {
    interface: String,
    to: Ipv6Addr,
    port: u16,
    bytes: Vec<u8>,
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("--hex {text}: odd number of digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s: String = pair.iter().collect();
            u8::from_str_radix(&s, 16).map_err(|e| format!("--hex: {s}: {e}"))
        })
        .collect()
}

fn parse_args() -> Result<Args, String> {
    let (mut interface, mut to, mut port, mut bytes) = (None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--interface" => interface = Some(value),
            "--to" => to = Some(value.parse().map_err(|e| format!("--to {value}: {e}"))?),
            "--port" => port = Some(value.parse().map_err(|e| format!("--port {value}: {e}"))?),
            "--hex" => bytes = Some(parse_hex(&value)?),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(Args {
        interface: interface.ok_or("--interface is required")?,
        to: to.ok_or("--to is required")?,
        port: port.ok_or("--port is required")?,
        bytes: bytes.ok_or("--hex is required")?,
    })
}

fn send(args: &Args) -> Result<usize, String> {
    let path = format!("/sys/class/net/{}/ifindex", args.interface);
    let index: u32 = std::fs::read_to_string(&path)
        .map_err(|e| format!("{path}: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("{path}: {e}"))?;
    let socket = UdpSocket::bind("[::]:0").map_err(|e| format!("bind [::]:0: {e}"))?;
    let to = SocketAddrV6::new(args.to, args.port, 0, index);
    socket
        .send_to(&args.bytes, to)
        .map_err(|e| format!("send to {to}%{}: {e}", args.interface))
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| send(&args));
    match result {
        Ok(n) => {
            println!("meshn-udp-send: sent {n} bytes");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("meshn-udp-send: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_hex;

    #[test]
    fn hex() {
        assert_eq!(parse_hex("2a02 0008"), Ok(vec![0x2a, 0x02, 0x00, 0x08]));
        assert!(parse_hex("2a0").is_err());
        assert!(parse_hex("zz").is_err());
    }
}
