//! Babel inside the tunnels: the inner IPv6/UDP datagrams that carry Babel packets (RFC 8966 §4.1,
//! port 6696, link-local source, `ff02::1:6` or a neighbour's link-local destination, hop limit 1),
//! exactly as babeld sends them on a `wg` interface.
//!
//! This module owns only the inner packet format: building Babel datagrams and telling them apart
//! from forwarded data. It owns no sockets and no tunnels; the Babel payload itself is the `babel`
//! crate's business.

use std::net::Ipv6Addr;

// The Babel port and group are the babel crate's: one definition for the core and the daemon.
use babel::wire::{MULTICAST_V6, PORT};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, IpProtocol, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr};

const IPV6_HEADER_LEN: usize = 40;
const UDP_HEADER_LEN: usize = 8;

/// Builds a Babel datagram: IPv6 (hop limit 1) + UDP 6696 → 6696 with a correct checksum.
/// Clears `out` and fills it, so the caller can reuse one buffer for every transmit.
pub fn build_babel(src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8], out: &mut Vec<u8>) {
    let udp_len = UDP_HEADER_LEN + payload.len();
    out.clear();
    out.resize(IPV6_HEADER_LEN + udp_len, 0);

    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: udp_len,
        // Link-local only: a router must never forward Babel (RFC 8966 §4.1 hop limit 1).
        hop_limit: 1,
    };
    let mut ip_packet = Ipv6Packet::new_unchecked(&mut out[..]);
    ip.emit(&mut ip_packet);

    let udp = UdpRepr {
        src_port: PORT,
        dst_port: PORT,
    };
    let mut udp_packet = UdpPacket::new_unchecked(&mut out[IPV6_HEADER_LEN..]);
    udp.emit(
        &mut udp_packet,
        &IpAddress::Ipv6(src),
        &IpAddress::Ipv6(dst),
        payload.len(),
        |buf| buf.copy_from_slice(payload),
        &ChecksumCapabilities::default(),
    );
}

/// What an inner packet that came out of a tunnel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inner<'a> {
    /// A Babel packet for the routing core.
    Babel {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        payload: &'a [u8],
    },
    /// Addressed to the Babel port from a link-local source, but broken (truncated, lengths that
    /// do not add up, or a bad UDP checksum). The caller counts these: a neighbour sending them is
    /// misbehaving or its path corrupts data, and forwarding them would be wrong either way.
    Malformed,
    /// Anything else: a data packet for the forwarding path.
    Data,
}

/// Tells Babel packets from data. Babel iff IPv6, next header UDP (extension headers are not
/// followed: babeld sends none), destination port 6696, destination `ff02::1:6` or link-local,
/// source link-local. Everything else is `Data`, for the forwarding path to judge.
pub fn classify(packet: &[u8]) -> Inner<'_> {
    let Ok(ip) = Ipv6Packet::new_checked(packet) else {
        return Inner::Data;
    };
    if ip.version() != 6 || ip.next_header() != IpProtocol::Udp {
        return Inner::Data;
    }
    let src = ip.src_addr();
    let dst = ip.dst_addr();
    if !src.is_unicast_link_local() || !(dst == MULTICAST_V6 || dst.is_unicast_link_local()) {
        return Inner::Data;
    }
    // From here on the packet looks like Babel: the port decides, and damage is Malformed.
    let ip_payload = ip.payload();
    if ip_payload.len() < UDP_HEADER_LEN {
        return Inner::Malformed;
    }
    // Unchecked for the port alone: a datagram for another port is data, however its UDP
    // length reads.
    if UdpPacket::new_unchecked(ip_payload).dst_port() != PORT {
        return Inner::Data;
    }
    let Ok(udp) = UdpPacket::new_checked(ip_payload) else {
        return Inner::Malformed;
    };
    let (src_ip, dst_ip) = (IpAddress::Ipv6(src), IpAddress::Ipv6(dst));
    // An IPv6 UDP checksum of zero is not allowed (RFC 8200 §8.1); smoltcp accepts it.
    if udp.checksum() == 0 || !udp.verify_checksum(&src_ip, &dst_ip) {
        return Inner::Malformed;
    }
    let udp_len = usize::from(udp.len());
    Inner::Babel {
        src,
        dst,
        payload: &ip_payload[UDP_HEADER_LEN..udp_len],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(last: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last)
    }

    #[test]
    fn build_then_classify_round_trips() {
        let mut out = Vec::new();
        build_babel(ll(1), MULTICAST_V6, b"\x2a\x02\x00\x00", &mut out);
        assert_eq!(out.len(), 40 + 8 + 4);
        assert_eq!(out[0] >> 4, 6);
        assert_eq!(out[6], 17, "next header UDP");
        assert_eq!(out[7], 1, "hop limit 1");
        assert_eq!(&out[40..42], &PORT.to_be_bytes());
        assert_eq!(&out[42..44], &PORT.to_be_bytes());
        assert_eq!(
            classify(&out),
            Inner::Babel {
                src: ll(1),
                dst: MULTICAST_V6,
                payload: b"\x2a\x02\x00\x00"
            }
        );
    }

    #[test]
    fn unicast_to_link_local_is_babel() {
        let mut out = Vec::new();
        build_babel(ll(1), ll(2), b"hello", &mut out);
        assert!(matches!(classify(&out), Inner::Babel { dst, .. } if dst == ll(2)));
    }

    #[test]
    fn build_reuses_and_clears_the_buffer() {
        let mut out = vec![0xff; 500];
        build_babel(ll(1), ll(2), b"x", &mut out);
        assert_eq!(out.len(), 49);
        assert!(matches!(classify(&out), Inner::Babel { payload: b"x", .. }));
    }

    #[test]
    fn checksum_matches_an_independent_computation() {
        let mut out = Vec::new();
        build_babel(ll(1), MULTICAST_V6, b"abc", &mut out);
        let mut sum = crate::ip::Checksum::default();
        sum.add(&out[8..40]); // source and destination
        sum.add(&(11u32).to_be_bytes()); // UDP length
        sum.add(&[0, 0, 0, 17]);
        sum.add(&out[40..]);
        assert_eq!(sum.finish(), 0, "a correct checksum sums to all ones");
    }

    #[test]
    fn bad_checksum_is_malformed() {
        let mut out = Vec::new();
        build_babel(ll(1), MULTICAST_V6, b"abcd", &mut out);
        let last = out.len() - 1;
        out[last] ^= 0x55;
        assert_eq!(classify(&out), Inner::Malformed);
    }

    #[test]
    fn zero_checksum_is_malformed() {
        let mut out = Vec::new();
        build_babel(ll(1), MULTICAST_V6, b"abcd", &mut out);
        out[46] = 0;
        out[47] = 0;
        assert_eq!(classify(&out), Inner::Malformed);
    }

    #[test]
    fn truncated_babel_is_malformed_or_data_never_panics() {
        let mut out = Vec::new();
        build_babel(ll(1), MULTICAST_V6, b"abcdefgh", &mut out);
        for len in 0..out.len() {
            let _ = classify(&out[..len]);
        }
        // Header intact but UDP length lies about the payload.
        let mut lying = out.clone();
        lying[44] = 0xff;
        assert_eq!(classify(&lying), Inner::Malformed);
    }

    #[test]
    fn global_source_or_destination_is_data() {
        let global = Ipv6Addr::new(0xfd00, 1, 2, 3, 0, 0, 0, 1);
        let mut out = Vec::new();
        build_babel(global, MULTICAST_V6, b"x", &mut out);
        assert_eq!(classify(&out), Inner::Data);
        build_babel(ll(1), global, b"x", &mut out);
        assert_eq!(classify(&out), Inner::Data);
        build_babel(
            ll(1),
            Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            b"x",
            &mut out,
        );
        assert_eq!(classify(&out), Inner::Data);
    }

    #[test]
    fn other_port_is_data() {
        let mut out = Vec::new();
        build_babel(ll(1), ll(2), b"x", &mut out);
        out[42..44].copy_from_slice(&53u16.to_be_bytes());
        assert_eq!(classify(&out), Inner::Data);
    }

    #[test]
    fn ipv4_and_garbage_are_data() {
        assert_eq!(classify(&[]), Inner::Data);
        assert_eq!(classify(&[0x45; 60]), Inner::Data);
        assert_eq!(classify(&[0x60; 10]), Inner::Data);
    }
}
