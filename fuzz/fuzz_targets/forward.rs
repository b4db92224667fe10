//! Feeds arbitrary packets to meshd's userspace forwarding (`Router` in `meshd/src/forward.rs`),
//! as they come out of a tunnel or from `mesh0`: `route`, and the refusals the gateway code asks
//! for (`too_big`, `unreachable`), with a small forwarding table over two links. Nothing may
//! panic, and:
//!
//! - a forwarded packet is the same packet with its hop limit (TTL) one lower, and a valid
//!   IPv4 header checksum; from `mesh0`, untouched;
//! - a packet kept (`Local`) or dropped is untouched;
//! - an ICMP error is a well-formed IPv6 packet of at most 1280 bytes or IPv4 packet of at most
//!   576, with valid checksums, from our address to the packet's source, quoting the start of
//!   the packet; never about an ICMP error; and routing it gives no error in turn.
//!
//! The input is three control bytes, then the packet (see `Control`).

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use babel::{LinkId, Prefix};
use libfuzzer_sys::fuzz_target;
use meshd_fuzz::forward::{Router, Verdict, LOCAL, UNREACHABLE};
use smoltcp::wire::{Icmpv4Packet, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet};

const LINK_A: LinkId = LinkId(1);
const LINK_B: LinkId = LinkId(2);
const OUR_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xff, 0, 0, 0, 0, 0, 1);
const OUR_V4: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 1);

/// The forwarding table: no IPv6 default route (so some destinations have none), an IPv4 one
/// through link B (a gateway).
const ROUTES: &[(&str, LinkId)] = &[
    ("fd00:1::/64", LINK_A),
    ("fd00:2::/48", LINK_B),
    ("fd00::/16", LINK_A),
    ("fd00:dead::/32", UNREACHABLE),
    ("fd00:ff::/64", LOCAL),
    ("10.1.0.0/16", LINK_A),
    ("10.2.0.0/24", LINK_B),
    ("10.7.0.0/16", UNREACHABLE),
    ("10.9.9.0/24", LOCAL),
    ("0.0.0.0/0", LINK_B),
];

/// Destinations the control byte may write into the packet, one per kind of table entry, so
/// the fuzzer need not guess them.
const V6_TARGETS: [Ipv6Addr; 7] = [
    Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 5),
    Ipv6Addr::new(0xfd00, 2, 0, 7, 0, 0, 0, 9),
    Ipv6Addr::new(0xfd00, 0xdead, 0, 0, 0, 0, 0, 1),
    OUR_V6,
    Ipv6Addr::new(0xfd00, 0xff, 0, 0, 0, 0, 0, 2),
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
];
const V4_TARGETS: [Ipv4Addr; 7] = [
    Ipv4Addr::new(10, 1, 2, 3),
    Ipv4Addr::new(10, 2, 0, 9),
    Ipv4Addr::new(10, 7, 0, 1),
    OUR_V4,
    Ipv4Addr::new(10, 9, 9, 77),
    Ipv4Addr::new(192, 0, 2, 1),
    Ipv4Addr::BROADCAST,
];

/// The three control bytes: flags, then a big-endian MTU (the router's for `route`, the path's
/// for `too_big`).
struct Control {
    from_mesh0: bool,
    /// 0 and 1: `route`; 2: `too_big`; 3: `unreachable`.
    call: u8,
    /// Recompute the IPv4 header checksum after the rewrites, which a random header seldom has.
    fix_checksum: bool,
    /// 0: the destination as it came; 1..=7: one of the targets.
    target: usize,
    /// A router without an IPv4 address sends no IPv4 errors.
    no_v4_source: bool,
    mtu: usize,
}

impl Control {
    fn read(data: &[u8]) -> Option<(Control, &[u8])> {
        let (head, packet) = data.split_at_checked(3)?;
        let flags = head[0];
        let control = Control {
            from_mesh0: flags & 1 != 0,
            call: (flags >> 1) & 3,
            fix_checksum: flags & 8 != 0,
            target: usize::from((flags >> 4) & 7),
            no_v4_source: flags & 0x80 != 0,
            mtu: usize::from(u16::from_be_bytes([head[1], head[2]])),
        };
        Some((control, packet))
    }
}

fn router(control: &Control) -> Router {
    let v4_source = (!control.no_v4_source).then_some(OUR_V4);
    let locals = vec![IpAddr::V6(OUR_V6), IpAddr::V4(OUR_V4)];
    let mut router = Router::new(locals, OUR_V6, v4_source, control.mtu);
    for (prefix, link) in ROUTES {
        let prefix: Prefix = prefix.parse().expect("a valid prefix");
        router.fib.insert(prefix, *link);
    }
    router
}

/// Writes the chosen destination into the packet, and the IPv4 checksum if asked.
fn rewrite(control: &Control, packet: &mut [u8]) {
    match packet.first().map(|b| b >> 4) {
        Some(6) if packet.len() >= 40 && control.target > 0 => {
            let target = V6_TARGETS[control.target - 1];
            packet[24..40].copy_from_slice(&target.octets());
        }
        Some(4) if packet.len() >= 20 => {
            if control.target > 0 {
                let target = V4_TARGETS[control.target - 1];
                packet[16..20].copy_from_slice(&target.octets());
            }
            let header_len = usize::from(packet[0] & 0x0f) * 4;
            if control.fix_checksum && (20..=packet.len()).contains(&header_len) {
                Ipv4Packet::new_unchecked(&mut packet[..]).fill_checksum();
            }
        }
        _ => {}
    }
}

/// Whether `packet` is an ICMP(v6) error directly after its IP header.
fn is_icmp_error(packet: &[u8]) -> bool {
    match packet.first().map(|b| b >> 4) {
        Some(6) => Ipv6Packet::new_checked(packet).is_ok_and(|ip| {
            ip.next_header() == IpProtocol::Icmpv6 && ip.payload().first().is_some_and(|t| *t < 128)
        }),
        Some(4) => Ipv4Packet::new_checked(packet).is_ok_and(|ip| {
            ip.next_header() == IpProtocol::Icmp
                && packet
                    .get(usize::from(ip.header_len()))
                    .is_some_and(|t| matches!(t, 3 | 4 | 5 | 11 | 12))
        }),
        _ => false,
    }
}

/// The datagram in `packet`, without what follows its IP length (which is no part of it).
fn datagram(packet: &[u8]) -> &[u8] {
    let len = match packet.first().map(|b| b >> 4) {
        Some(6) => Ipv6Packet::new_checked(packet).map_or(packet.len(), |ip| ip.total_len()),
        Some(4) => Ipv4Packet::new_checked(packet).map_or(packet.len(), |ip| ip.total_len().into()),
        _ => packet.len(),
    };
    &packet[..len]
}

/// An ICMP error about `offending` (the packet as it came): well-formed, valid checksums, within
/// the size limit, from us to the packet's source, quoting the packet's start.
fn check_error(error: &[u8], offending: &[u8]) {
    // Whether it is an error is a matter of the datagram: bytes after its IP length (padding)
    // that look like an ICMP error do not make one.
    assert!(
        !is_icmp_error(datagram(offending)),
        "an ICMP error about an ICMP error"
    );
    match error.first().map(|b| b >> 4) {
        Some(6) => {
            assert!(
                error.len() <= 1280,
                "an ICMPv6 error of {} bytes",
                error.len()
            );
            let ip = Ipv6Packet::new_checked(error).expect("a whole IPv6 header");
            assert_eq!(ip.total_len(), error.len());
            assert_eq!(ip.next_header(), IpProtocol::Icmpv6);
            assert_eq!(ip.src_addr(), OUR_V6);
            let source = Ipv6Packet::new_checked(offending).expect("an IPv6 packet");
            assert_eq!(ip.dst_addr(), source.src_addr());
            let icmp = Icmpv6Packet::new_checked(ip.payload()).expect("a whole ICMPv6 header");
            assert!(icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
            assert!(icmp.msg_type().is_error());
            assert!(offending.starts_with(icmp.payload()));
            assert!(!icmp.payload().is_empty());
        }
        Some(4) => {
            assert!(error.len() <= 576, "an ICMP error of {} bytes", error.len());
            let ip = Ipv4Packet::new_checked(error).expect("a whole IPv4 header");
            assert_eq!(ip.version(), 4);
            assert_eq!(usize::from(ip.header_len()), 20);
            assert_eq!(usize::from(ip.total_len()), error.len());
            assert!(ip.verify_checksum());
            assert_eq!(ip.next_header(), IpProtocol::Icmp);
            assert_eq!(ip.src_addr(), OUR_V4);
            let source = Ipv4Packet::new_checked(offending).expect("an IPv4 packet");
            assert_eq!(ip.dst_addr(), source.src_addr());
            let icmp = Icmpv4Packet::new_checked(ip.payload()).expect("a whole ICMP header");
            assert!(icmp.verify_checksum());
            assert!(matches!(u8::from(icmp.msg_type()), 3 | 11));
            assert!(offending.starts_with(icmp.data()));
            assert!(!icmp.data().is_empty());
        }
        _ => panic!("an ICMP error that is neither IPv6 nor IPv4"),
    }
}

/// A forwarded packet: the same bytes but the hop limit (TTL and header checksum for IPv4), one
/// lower unless it came from `mesh0`.
fn check_forwarded(before: &[u8], after: &[u8], from_mesh0: bool) {
    assert_eq!(before.len(), after.len());
    if from_mesh0 {
        assert_eq!(before, after, "a packet from mesh0 was changed");
        return;
    }
    let (hop, changed): (usize, &[usize]) = match before[0] >> 4 {
        6 => (7, &[7]),
        4 => (8, &[8, 10, 11]),
        _ => panic!("forwarded a packet that is neither IPv6 nor IPv4"),
    };
    assert!(before[hop] > 1, "forwarded with hop limit {}", before[hop]);
    assert_eq!(after[hop], before[hop] - 1);
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        if !changed.contains(&i) {
            assert_eq!(b, a, "byte {i} of a forwarded packet changed");
        }
    }
    if before[0] >> 4 == 4 {
        assert!(Ipv4Packet::new_checked(after)
            .expect("IPv4")
            .verify_checksum());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((control, packet)) = Control::read(data) else {
        return;
    };
    let mut packet = packet.to_vec();
    rewrite(&control, &mut packet);
    let before = packet.clone();
    let mut router = router(&control);
    let now = Instant::now();

    let verdict = match control.call {
        0 | 1 => router.route(now, &mut packet, control.from_mesh0),
        2 => router.too_big(now, &packet, control.mtu),
        _ => router.unreachable(now, &packet),
    };
    match &verdict {
        Verdict::Forward { link } => {
            assert!(control.call <= 1, "too_big or unreachable forwarded");
            assert!(*link == LINK_A || *link == LINK_B);
            check_forwarded(&before, &packet, control.from_mesh0);
        }
        Verdict::Local | Verdict::Drop => assert_eq!(before, packet, "a packet kept was changed"),
        Verdict::Icmp(error) => {
            assert_eq!(before, packet, "the packet of an ICMP error was changed");
            check_error(error, &before);
            // The daemon routes our error like a packet of ours: it must not cause another.
            let mut error = error.clone();
            let again = router.route(now, &mut error, true);
            assert!(
                !matches!(again, Verdict::Icmp(_)),
                "an error about our own error"
            );
        }
    }
});
