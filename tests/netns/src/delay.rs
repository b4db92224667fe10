//! Delay on the underlay without netem: `meshn-delay` (src/bin/meshn-delay.rs), a UDP relay
//! that holds every datagram for a fixed time, placed between a node and its WireGuard peer. The
//! node's configuration names the relay as the peer's endpoint; the peer, configured without an
//! endpoint, roams to the relay's forwarding socket when authenticated packets come from it.

use std::net::Ipv6Addr;

use crate::{HelperId, Mesh};

/// The relays' listening port, beside meshd's.
pub const RELAY_PORT: u16 = 51900;

/// Replaces exactly one occurrence of `from` in `text`; panics if there is not exactly one.
#[track_caller]
pub fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "`{from}` in:\n{text}");
    text.replacen(from, to, 1)
}

/// A `[[peer]]`'s endpoint line in a meshd configuration, as [`Mesh::config_text`] writes it.
pub fn endpoint_line(addr: Ipv6Addr, port: u16) -> String {
    format!("endpoint = \"[{addr}]:{port}\"\n")
}

/// One relay on link `near`–`far`.
#[derive(Debug, Clone, Copy)]
pub struct Relay {
    pub helper: HelperId,
    /// Where it listens: `near`'s underlay address toward `far`, at [`RELAY_PORT`].
    pub listen: Ipv6Addr,
}

/// Starts `relay_bin` (the test's `env!("CARGO_BIN_EXE_meshn-delay")`) in node `near`'s
/// namespace, listening on `near`'s underlay address toward `far` at [`RELAY_PORT`] and
/// forwarding to `far`'s underlay address at `far_port`, holding each datagram `delay_ms` each
/// way. It exits by itself after 300 s and is killed with the mesh.
pub fn start_relay(
    mesh: &mut Mesh,
    relay_bin: &str,
    near: usize,
    far: usize,
    far_port: u16,
    delay_ms: u64,
) -> Relay {
    let listen = mesh.underlay_address(near, far);
    let there = mesh.underlay_address(far, near);
    let (listen_arg, forward, delay) = (
        format!("[{listen}]:{RELAY_PORT}"),
        format!("[{there}]:{far_port}"),
        delay_ms.to_string(),
    );
    let helper = mesh.spawn_in(
        near,
        "delay",
        &[
            relay_bin,
            "--listen",
            &listen_arg,
            "--forward",
            &forward,
            "--delay-ms",
            &delay,
            "--lifetime",
            "300",
        ],
    );
    Relay { helper, listen }
}
