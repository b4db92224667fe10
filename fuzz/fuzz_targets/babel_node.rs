//! Drives one whole Babel node (`babel::Node`) with arbitrary input: packets from three
//! neighbours on three links, time passing, links coming and going, local prefixes announced
//! and withdrawn. Whatever comes in, the node must not panic, every output it produces must be
//! drainable, and every packet it sends must parse.
//!
//! The input is read as a list of operations, one leading byte each (see `step`).

#![no_main]

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use babel::wire::parse_packet;
use babel::{Config, LinkConfig, LinkId, Node, Prefix, RouterId};
use libfuzzer_sys::fuzz_target;

const LINKS: u32 = 3;

fn neighbour(link: u32) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x100 + link as u16)
}

fn drain(node: &mut Node) {
    while let Some(transmit) = node.poll_transmit() {
        let ours = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
        parse_packet(&transmit.payload, ours).expect("the node's own packets parse");
    }
    while node.poll_route_change().is_some() {}
    while node.poll_event().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let local = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let mut node = Node::new(
        Config::default(),
        RouterId([1, 2, 3, 4, 5, 6, 7, 8]),
        7,
        now,
    );
    for link in 0..LINKS {
        node.add_link(now, LinkId(link), local, LinkConfig::default());
    }
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let link = u32::from(op >> 4) % LINKS;
        match op & 0x0f {
            // A packet: a length byte, then that many bytes (or what is left).
            0..=7 => {
                let Some((&len, tail)) = rest.split_first() else {
                    break;
                };
                let len = usize::from(len).min(tail.len());
                let (packet, tail) = tail.split_at(len);
                rest = tail;
                node.handle_packet(now, LinkId(link), neighbour(link), packet);
            }
            // Time passes: up to the node's own deadline, or a fixed step.
            8 | 9 => {
                now = node
                    .poll_timeout()
                    .map_or(now + Duration::from_secs(1), |t| t.max(now));
                node.handle_timeout(now);
            }
            10 => {
                now += Duration::from_millis(u64::from(op >> 4) * 250);
                node.handle_timeout(now);
            }
            11 => node.remove_link(now, LinkId(link)),
            12 => node.add_link(now, LinkId(link), local, LinkConfig::default()),
            13 => node.suspect_link(now, LinkId(link)),
            14 | 15 => {
                let text = format!("fd00:{}::/64", op >> 4);
                let prefix: Prefix = text.parse().expect("a valid prefix");
                if op & 1 == 0 {
                    node.add_local_prefix(now, prefix);
                } else {
                    node.remove_local_prefix(now, prefix);
                }
            }
            _ => unreachable!("op & 0x0f"),
        }
        drain(&mut node);
        // Bounded: a node's tables never hold more than its limits allow.
        let _ = node.routes();
        let _ = node.sources();
    }
});
