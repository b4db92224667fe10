//! Userspace forwarding: the forwarding table (longest-prefix match from learned prefixes to the
//! link of their next hop) and the duties of a router toward each packet it forwards (RFC 8200
//! §3 hop limit, RFC 4443 ICMPv6 errors, RFC 1812 §4.3/§5.3.1 ICMP errors and TTL).
//!
//! This module decides what happens to one inner packet; it does not read or write devices or
//! tunnels, and it does not choose routes (the Babel core does; the driver mirrors its route
//! changes into `Fib`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use babel::{LinkId, Prefix};
use smoltcp::wire::{
    Icmpv4Message, Icmpv4Packet, Icmpv6Message, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet,
};

/// The forwarding table's "link" for prefixes this node originates (its addresses, its LAN
/// `prefixes`, the default routes of a gateway): deliver to `mesh0`. The packet has arrived, so
/// it loses no hop here (the kernel counts its own when it forwards into the LAN).
pub const LOCAL: LinkId = LinkId(u32::MAX);
/// The forwarding table's "link" for a prefix the Babel core holds unreachable after losing it
/// (RFC 8966 §3.5.4): its packets are answered with destination unreachable instead of falling
/// through to a shorter prefix such as a gateway's default route.
pub const UNREACHABLE: LinkId = LinkId(u32::MAX - 1);

/// The forwarding table: one exact-match map per prefix length present, searched longest first.
/// A lookup masks the address once per length in use (a handful in a real mesh: /128, /64, /48,
/// /32, /24, /0) and never allocates.
#[derive(Debug, Default)]
pub struct Fib {
    v4: Table,
    v6: Table,
}

/// Prefixes of one family. Addresses are kept as `u128` (IPv4 in the low 32 bits) so one
/// implementation serves both.
#[derive(Debug, Default)]
struct Table {
    /// Sorted by prefix length, longest first; no empty maps.
    by_length: Vec<(u8, HashMap<u128, LinkId>)>,
    bits: u8,
}

impl Table {
    fn with_bits(bits: u8) -> Table {
        Table {
            by_length: Vec::new(),
            bits,
        }
    }

    fn mask(&self, addr: u128, len: u8) -> u128 {
        if len == 0 {
            0
        } else {
            addr & (u128::MAX << (self.bits - len))
        }
    }

    fn insert(&mut self, addr: u128, len: u8, link: LinkId) -> bool {
        let key = self.mask(addr, len);
        let position = match self.by_length.binary_search_by(|(l, _)| len.cmp(l)) {
            Ok(position) => position,
            Err(position) => {
                self.by_length.insert(position, (len, HashMap::new()));
                position
            }
        };
        self.by_length[position].1.insert(key, link).is_none()
    }

    fn remove(&mut self, addr: u128, len: u8) -> bool {
        let key = self.mask(addr, len);
        let Ok(position) = self.by_length.binary_search_by(|(l, _)| len.cmp(l)) else {
            return false;
        };
        let removed = self.by_length[position].1.remove(&key).is_some();
        if self.by_length[position].1.is_empty() {
            self.by_length.remove(position);
        }
        removed
    }

    fn lookup(&self, addr: u128) -> Option<LinkId> {
        self.lookup_with_length(addr).map(|(link, _)| link)
    }

    fn lookup_with_length(&self, addr: u128) -> Option<(LinkId, u8)> {
        self.by_length.iter().find_map(|(len, map)| {
            map.get(&self.mask(addr, *len))
                .copied()
                .map(|link| (link, *len))
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_length.iter().map(|(_, map)| map.len()).sum()
    }
}

impl Fib {
    pub fn new() -> Fib {
        Fib {
            v4: Table::with_bits(32),
            v6: Table::with_bits(128),
        }
    }

    /// Adds or replaces the route for `prefix`.
    pub fn insert(&mut self, prefix: Prefix, link: LinkId) {
        match prefix.addr() {
            IpAddr::V4(a) => self.v4.insert(u128::from(u32::from(a)), prefix.len(), link),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), prefix.len(), link),
        };
    }

    pub fn remove(&mut self, prefix: Prefix) {
        match prefix.addr() {
            IpAddr::V4(a) => self.v4.remove(u128::from(u32::from(a)), prefix.len()),
            IpAddr::V6(a) => self.v6.remove(u128::from(a), prefix.len()),
        };
    }

    /// The link of the longest prefix containing `dst`.
    pub fn lookup(&self, dst: IpAddr) -> Option<LinkId> {
        match dst {
            IpAddr::V4(a) => self.v4.lookup(u128::from(u32::from(a))),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a)),
        }
    }

    /// The link and the length of the longest prefix containing `dst`: length 0 means only a
    /// default route covers it.
    pub fn lookup_with_length(&self, dst: IpAddr) -> Option<(LinkId, u8)> {
        match dst {
            IpAddr::V4(a) => self.v4.lookup_with_length(u128::from(u32::from(a))),
            IpAddr::V6(a) => self.v6.lookup_with_length(u128::from(a)),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What to do with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Encrypt it to this link; the hop limit / TTL was already decremented in place.
    Forward { link: LinkId },
    /// For this node: write it to `mesh0`.
    Local,
    /// Silently dropped (malformed, not forwardable, or an ICMP error was due but not allowed);
    /// `Router::stats` says why.
    Drop,
    /// Dropped, and this ICMP error goes back toward the packet's source. The caller routes it
    /// like any packet of ours (its destination may be local, or behind a tunnel).
    Icmp(Vec<u8>),
}

/// Why packets were not forwarded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardStats {
    pub malformed: u32,
    /// Multicast, link-local, broadcast or unspecified destinations: never routed.
    pub not_forwardable: u32,
    pub no_route: u32,
    pub hop_limit_exceeded: u32,
    pub too_big: u32,
    /// IPv4 bigger than the MTU without DF: we do not fragment, so it is dropped silently.
    pub fragmentation_needed: u32,
    pub icmp_rate_limited: u32,
}

/// ICMP errors per second and burst (RFC 4443 §2.4 (f) asks for a limit).
const ICMP_ERRORS_PER_SECOND: f64 = 100.0;
const ICMP_ERROR_BURST: f64 = 50.0;

/// RFC 4443 §2.4 (c): an ICMPv6 error must not exceed the minimum IPv6 MTU.
const ICMPV6_ERROR_MAX: usize = 1280;
/// RFC 1812 §4.3.2.3: an ICMP error holds as much of the datagram as fits in 576 bytes.
const ICMPV4_ERROR_MAX: usize = 576;
const ERROR_HOP_LIMIT: u8 = 64;

const IPV6_HEADER: usize = 40;
const IPV4_HEADER: usize = 20;
const ICMP_HEADER: usize = 8;

/// The router: forwarding table, our own addresses, the mesh MTU and the ICMP error budget.
#[derive(Debug)]
pub struct Router {
    pub fib: Fib,
    locals: Vec<IpAddr>,
    our_v6_source: Ipv6Addr,
    our_v4_source: Option<Ipv4Addr>,
    /// One MTU for every tunnel: the inner packet size the mesh promises to carry.
    pub mtu: usize,
    icmp_tokens: f64,
    icmp_refilled: Option<Instant>,
    stats: ForwardStats,
}

/// The ICMP error to send, before the rate limit and the "may we" checks.
#[derive(Clone, Copy)]
enum Error {
    NoRoute,
    HopLimit,
    TooBig { mtu: u16 },
}

impl Router {
    /// `our_v6_source` (our mesh address) and `our_v4_source` are the sources of our ICMP errors;
    /// without an IPv4 address, IPv4 errors are not sent.
    pub fn new(
        locals: Vec<IpAddr>,
        our_v6_source: Ipv6Addr,
        our_v4_source: Option<Ipv4Addr>,
        mtu: usize,
    ) -> Router {
        Router {
            fib: Fib::new(),
            locals,
            our_v6_source,
            our_v4_source,
            mtu,
            icmp_tokens: ICMP_ERROR_BURST,
            icmp_refilled: None,
            stats: ForwardStats::default(),
        }
    }

    pub fn stats(&self) -> ForwardStats {
        self.stats
    }

    /// Decides the fate of a packet that came out of a tunnel (decrypted) or from `mesh0`.
    ///
    /// Packets from `mesh0` already passed the kernel's forwarding (which decremented the hop
    /// limit of LAN traffic and counted its own hop) or were sent by local applications, so their
    /// hop limit is not decremented or checked again: that would count this node twice.
    pub fn route(&mut self, now: Instant, packet: &mut [u8], from_mesh0: bool) -> Verdict {
        match packet.first().map(|b| b >> 4) {
            Some(6) => self.route_v6(now, packet, from_mesh0),
            Some(4) => self.route_v4(now, packet, from_mesh0),
            _ => {
                self.stats.malformed += 1;
                Verdict::Drop
            }
        }
    }

    fn route_v6(&mut self, now: Instant, packet: &mut [u8], from_mesh0: bool) -> Verdict {
        let Ok(mut ip) = Ipv6Packet::new_checked(&mut packet[..]) else {
            self.stats.malformed += 1;
            return Verdict::Drop;
        };
        let dst = ip.dst_addr();
        let length = ip.total_len();
        let hop_limit = ip.hop_limit();
        if self.locals.contains(&IpAddr::V6(dst)) {
            return Verdict::Local;
        }
        if dst.is_multicast() || dst.is_unspecified() || dst.is_unicast_link_local() {
            self.stats.not_forwardable += 1;
            return Verdict::Drop;
        }
        let link = match self.fib.lookup(IpAddr::V6(dst)) {
            Some(LOCAL) => return Verdict::Local,
            Some(UNREACHABLE) | None => {
                self.stats.no_route += 1;
                return self.error_v6(now, &packet[..length], Error::NoRoute);
            }
            Some(link) => link,
        };
        if !from_mesh0 && hop_limit <= 1 {
            self.stats.hop_limit_exceeded += 1;
            return self.error_v6(now, &packet[..length], Error::HopLimit);
        }
        if length > self.mtu {
            self.stats.too_big += 1;
            let mtu = u16::try_from(self.mtu).unwrap_or(u16::MAX);
            return self.error_v6(now, &packet[..length], Error::TooBig { mtu });
        }
        if !from_mesh0 {
            ip.set_hop_limit(hop_limit - 1);
        }
        Verdict::Forward { link }
    }

    fn route_v4(&mut self, now: Instant, packet: &mut [u8], from_mesh0: bool) -> Verdict {
        let Ok(mut ip) = Ipv4Packet::new_checked(&mut packet[..]) else {
            self.stats.malformed += 1;
            return Verdict::Drop;
        };
        // smoltcp's length check lets an IHL below 5 through.
        if ip.version() != 4 || usize::from(ip.header_len()) < IPV4_HEADER || !ip.verify_checksum()
        {
            self.stats.malformed += 1;
            return Verdict::Drop;
        }
        let dst = ip.dst_addr();
        let length = usize::from(ip.total_len());
        let ttl = ip.hop_limit();
        let dont_fragment = ip.dont_frag();
        if self.locals.contains(&IpAddr::V4(dst)) {
            return Verdict::Local;
        }
        if dst.is_multicast() || dst.is_broadcast() || dst.is_unspecified() {
            self.stats.not_forwardable += 1;
            return Verdict::Drop;
        }
        let link = match self.fib.lookup(IpAddr::V4(dst)) {
            Some(LOCAL) => return Verdict::Local,
            Some(UNREACHABLE) | None => {
                self.stats.no_route += 1;
                return self.error_v4(now, &packet[..length], Error::NoRoute);
            }
            Some(link) => link,
        };
        if !from_mesh0 && ttl <= 1 {
            self.stats.hop_limit_exceeded += 1;
            return self.error_v4(now, &packet[..length], Error::HopLimit);
        }
        if length > self.mtu {
            if !dont_fragment {
                // We do not fragment (it would cost a copy per fragment on the data path, and
                // hosts do path MTU discovery); without DF the sender asked for fragmentation,
                // so the packet is lost. Keep the mesh0 MTU at the mesh MTU to avoid this.
                self.stats.fragmentation_needed += 1;
                return Verdict::Drop;
            }
            self.stats.too_big += 1;
            let mtu = u16::try_from(self.mtu).unwrap_or(u16::MAX);
            return self.error_v4(now, &packet[..length], Error::TooBig { mtu });
        }
        if !from_mesh0 {
            ip.set_hop_limit(ttl - 1);
            ip.fill_checksum();
        }
        Verdict::Forward { link }
    }

    /// Refuses a packet from `mesh0` that has nowhere to go (no gateway may be used for it):
    /// destination unreachable, rate-limited like every error.
    pub fn unreachable(&mut self, now: Instant, packet: &[u8]) -> Verdict {
        self.stats.no_route += 1;
        let packet = ip_packet(packet);
        match packet.first().map(|b| b >> 4) {
            Some(6) if Ipv6Packet::new_checked(packet).is_ok() => {
                self.error_v6(now, packet, Error::NoRoute)
            }
            Some(4) if is_valid_ipv4(packet) => self.error_v4(now, packet, Error::NoRoute),
            _ => Verdict::Drop,
        }
    }

    /// Refuses a packet that does not fit `mtu` (the path MTU inside a tunnel to a gateway):
    /// packet too big, or fragmentation needed for IPv4 with DF; IPv4 without DF is dropped,
    /// since we do not fragment.
    pub fn too_big(&mut self, now: Instant, packet: &[u8], mtu: usize) -> Verdict {
        let mtu = u16::try_from(mtu).unwrap_or(u16::MAX);
        let packet = ip_packet(packet);
        match packet.first().map(|b| b >> 4) {
            Some(6) if Ipv6Packet::new_checked(packet).is_ok() => {
                self.stats.too_big += 1;
                self.error_v6(now, packet, Error::TooBig { mtu })
            }
            Some(4) if is_valid_ipv4(packet) => {
                if !Ipv4Packet::new_unchecked(packet).dont_frag() {
                    self.stats.fragmentation_needed += 1;
                    return Verdict::Drop;
                }
                self.stats.too_big += 1;
                self.error_v4(now, packet, Error::TooBig { mtu })
            }
            _ => {
                self.stats.malformed += 1;
                Verdict::Drop
            }
        }
    }

    /// Takes a token from the ICMP error bucket, refilled at `ICMP_ERRORS_PER_SECOND`.
    fn may_send_icmp(&mut self, now: Instant) -> bool {
        if let Some(last) = self.icmp_refilled {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.icmp_tokens =
                (self.icmp_tokens + elapsed * ICMP_ERRORS_PER_SECOND).min(ICMP_ERROR_BURST);
        }
        self.icmp_refilled = Some(now);
        if self.icmp_tokens >= 1.0 {
            self.icmp_tokens -= 1.0;
            true
        } else {
            self.stats.icmp_rate_limited += 1;
            false
        }
    }

    fn error_v6(&mut self, now: Instant, offending: &[u8], error: Error) -> Verdict {
        // The caller parsed this as IPv6 already; the header is there.
        let Ok(ip) = Ipv6Packet::new_checked(offending) else {
            return Verdict::Drop;
        };
        let src = ip.src_addr();
        if src.is_unspecified() || src.is_multicast() || is_icmpv6_error(offending) {
            return Verdict::Drop;
        }
        if !self.may_send_icmp(now) {
            return Verdict::Drop;
        }
        let (message, word) = match error {
            Error::NoRoute => (Icmpv6Message::DstUnreachable, 0),
            Error::HopLimit => (Icmpv6Message::TimeExceeded, 0),
            Error::TooBig { mtu } => (Icmpv6Message::PktTooBig, u32::from(mtu)),
        };
        let quoted = offending
            .len()
            .min(ICMPV6_ERROR_MAX - IPV6_HEADER - ICMP_HEADER);
        let icmp_len = ICMP_HEADER + quoted;
        let mut out = vec![0u8; IPV6_HEADER + icmp_len];
        let mut header = Ipv6Packet::new_unchecked(&mut out[..]);
        header.set_version(6);
        header.set_payload_len(icmp_len as u16);
        header.set_next_header(IpProtocol::Icmpv6);
        header.set_hop_limit(ERROR_HOP_LIMIT);
        header.set_src_addr(self.our_v6_source);
        header.set_dst_addr(src);
        let mut icmp = Icmpv6Packet::new_unchecked(header.payload_mut());
        icmp.set_msg_type(message);
        // Code 0 for all three: no route, hop limit exceeded in transit, and packet too big.
        icmp.set_msg_code(0);
        // The MTU of packet too big; the unused word of the other two.
        icmp.set_pkt_too_big_mtu(word);
        icmp.payload_mut().copy_from_slice(&offending[..quoted]);
        icmp.fill_checksum(&self.our_v6_source, &src);
        Verdict::Icmp(out)
    }

    fn error_v4(&mut self, now: Instant, offending: &[u8], error: Error) -> Verdict {
        let Some(our_source) = self.our_v4_source else {
            return Verdict::Drop;
        };
        // The caller checked the header (`is_valid_ipv4`).
        let Ok(ip) = Ipv4Packet::new_checked(offending) else {
            return Verdict::Drop;
        };
        let src = ip.src_addr();
        // RFC 1812 §4.3.2.7: no errors about ICMP errors, non-first fragments, or to sources
        // that do not name one host.
        if src.is_unspecified()
            || src.is_multicast()
            || src.is_broadcast()
            || ip.frag_offset() != 0
            || is_icmpv4_error(offending)
        {
            return Verdict::Drop;
        }
        if !self.may_send_icmp(now) {
            return Verdict::Drop;
        }
        let (message, code, mtu) = match error {
            Error::NoRoute => (Icmpv4Message::DstUnreachable, 0, 0),
            Error::HopLimit => (Icmpv4Message::TimeExceeded, 0, 0),
            // Code 4, fragmentation needed and DF set.
            Error::TooBig { mtu } => (Icmpv4Message::DstUnreachable, 4, mtu),
        };
        let quoted = offending
            .len()
            .min(ICMPV4_ERROR_MAX - IPV4_HEADER - ICMP_HEADER);
        let total = IPV4_HEADER + ICMP_HEADER + quoted;
        let mut out = vec![0u8; total];
        let mut header = Ipv4Packet::new_unchecked(&mut out[..]);
        header.set_version(4);
        header.set_header_len(IPV4_HEADER as u8);
        header.set_total_len(total as u16);
        header.set_hop_limit(ERROR_HOP_LIMIT);
        header.set_next_header(IpProtocol::Icmp);
        header.set_src_addr(our_source);
        header.set_dst_addr(src);
        header.fill_checksum();
        let mut icmp = Icmpv4Packet::new_unchecked(header.payload_mut());
        icmp.set_msg_type(message);
        icmp.set_msg_code(code);
        // RFC 1191: the next-hop MTU in the low 16 bits of the word after the checksum (zero,
        // "unused", for the other errors); smoltcp has no setter for it.
        icmp.set_echo_seq_no(mtu);
        icmp.data_mut().copy_from_slice(&offending[..quoted]);
        icmp.fill_checksum();
        Verdict::Icmp(out)
    }
}

/// The IP packet in `buffer` without what follows its length field (as `route` cuts it), so
/// an error never quotes, or is judged by, bytes that are not the packet. Unchanged when the
/// header is not whole or the length runs past the buffer (the caller refuses those).
fn ip_packet(buffer: &[u8]) -> &[u8] {
    let length = match buffer.first().map(|b| b >> 4) {
        Some(6) => Ipv6Packet::new_checked(buffer)
            .ok()
            .map(|ip| ip.total_len()),
        Some(4) => Ipv4Packet::new_checked(buffer)
            .ok()
            .map(|ip| usize::from(ip.total_len())),
        _ => None,
    };
    length.map_or(buffer, |l| &buffer[..l])
}

/// An IPv4 header the error builders may read: long enough, IHL at least 5.
fn is_valid_ipv4(packet: &[u8]) -> bool {
    Ipv4Packet::new_checked(packet)
        .is_ok_and(|ip| usize::from(ip.header_len()) >= IPV4_HEADER && ip.version() == 4)
}

/// An ICMPv6 error (types 0–127) directly after the IPv6 header. Errors behind extension headers
/// are not recognised; answering one of those is harmless (it is rate-limited and cannot loop,
/// since our own errors carry no extension headers).
fn is_icmpv6_error(packet: &[u8]) -> bool {
    Ipv6Packet::new_checked(packet).is_ok_and(|ip| {
        ip.next_header() == IpProtocol::Icmpv6 && ip.payload().first().is_some_and(|t| *t < 128)
    })
}

/// An ICMP error: destination unreachable, source quench, redirect, time exceeded, parameter
/// problem (RFC 1812 §4.3.2.7).
fn is_icmpv4_error(packet: &[u8]) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(packet) else {
        return false;
    };
    if ip.next_header() != IpProtocol::Icmp {
        return false;
    }
    packet
        .get(usize::from(ip.header_len()))
        .is_some_and(|t| matches!(t, 3 | 4 | 5 | 11 | 12))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::Checksum;
    use std::time::Duration;

    const MTU: usize = 1400;

    fn prefix(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// IPv6 + `payload_len` bytes of payload with next header `next`.
    fn packet_v6(src: &str, dst: &str, hop_limit: u8, next: u8, payload_len: usize) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(payload_len as u16).to_be_bytes());
        p.push(next);
        p.push(hop_limit);
        p.extend_from_slice(&v6(src).octets());
        p.extend_from_slice(&v6(dst).octets());
        p.extend((0..payload_len).map(|i| i as u8));
        p
    }

    fn udp_v6(src: &str, dst: &str, hop_limit: u8, payload_len: usize) -> Vec<u8> {
        packet_v6(src, dst, hop_limit, 17, payload_len)
    }

    fn packet_v4(
        src: &str,
        dst: &str,
        ttl: u8,
        proto: u8,
        df: bool,
        payload_len: usize,
    ) -> Vec<u8> {
        let total = 20 + payload_len;
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&(total as u16).to_be_bytes());
        p.extend_from_slice(&[0x12, 0x34, if df { 0x40 } else { 0 }, 0, ttl, proto, 0, 0]);
        p.extend_from_slice(&v4(src).octets());
        p.extend_from_slice(&v4(dst).octets());
        let mut sum = Checksum::default();
        sum.add(&p);
        let checksum = sum.finish();
        p[10..12].copy_from_slice(&checksum.to_be_bytes());
        p.extend((0..payload_len).map(|i| i as u8));
        p
    }

    fn udp_v4(src: &str, dst: &str, ttl: u8, df: bool, payload_len: usize) -> Vec<u8> {
        packet_v4(src, dst, ttl, 17, df, payload_len)
    }

    fn router() -> Router {
        let mut r = Router::new(
            vec!["fd00:1::1".parse().unwrap(), "192.0.2.1".parse().unwrap()],
            v6("fd00:1::1"),
            Some(v4("192.0.2.1")),
            MTU,
        );
        r.fib.insert(prefix("fd00:2::/48"), LinkId(2));
        r.fib.insert(prefix("fd00:2:0:5::/64"), LinkId(5));
        r.fib.insert(prefix("198.51.100.0/24"), LinkId(2));
        r.fib.insert(prefix("198.51.100.48/28"), LinkId(3));
        r
    }

    /// Checks an ICMPv6 error: addresses, type/code, checksum, and the quote of `offending`.
    fn assert_icmpv6(out: &[u8], to: &str, kind: u8, code: u8, offending: &[u8]) -> u32 {
        let ip = Ipv6Packet::new_checked(out).expect("valid IPv6");
        assert_eq!(ip.src_addr(), v6("fd00:1::1"));
        assert_eq!(ip.dst_addr(), v6(to));
        assert_eq!(ip.next_header(), IpProtocol::Icmpv6);
        assert_eq!(ip.total_len(), out.len());
        assert!(out.len() <= 1280);
        let icmp = Icmpv6Packet::new_checked(&out[40..]).expect("valid ICMPv6");
        assert!(icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
        assert_eq!((out[40], out[41]), (kind, code));
        let quoted = &out[48..];
        assert_eq!(quoted, &offending[..quoted.len()]);
        u32::from_be_bytes([out[44], out[45], out[46], out[47]])
    }

    fn assert_icmpv4(out: &[u8], to: &str, kind: u8, code: u8, offending: &[u8]) -> u16 {
        let ip = Ipv4Packet::new_checked(out).expect("valid IPv4");
        assert!(ip.verify_checksum());
        assert_eq!(ip.src_addr(), v4("192.0.2.1"));
        assert_eq!(ip.dst_addr(), v4(to));
        assert_eq!(ip.next_header(), IpProtocol::Icmp);
        assert_eq!(usize::from(ip.total_len()), out.len());
        assert!(out.len() <= 576);
        let icmp = Icmpv4Packet::new_checked(&out[20..]).expect("valid ICMP");
        assert!(icmp.verify_checksum());
        assert_eq!((out[20], out[21]), (kind, code));
        let quoted = &out[28..];
        assert_eq!(quoted, &offending[..quoted.len()]);
        u16::from_be_bytes([out[26], out[27]])
    }

    #[test]
    fn errors_quote_the_packet_not_what_follows_it_in_the_buffer() {
        // 60 bytes of IPv6 (20 of payload) and 60 of IPv4, each followed by 40 bytes that are
        // not part of it: the error quotes exactly the packet.
        let now = Instant::now();
        let mut v6_buffer = udp_v6("fd00:9::1", "fd00:3::1", 64, 20);
        let packet_len = v6_buffer.len();
        v6_buffer.extend([0xee; 40]);
        let mut r = router();
        let Verdict::Icmp(out) = r.unreachable(now, &v6_buffer) else {
            panic!("no error for an unroutable packet");
        };
        assert_icmpv6(&out, "fd00:9::1", 1, 0, &v6_buffer[..packet_len]);
        assert_eq!(out.len(), 48 + packet_len);
        let mut v4_buffer = udp_v4("198.51.100.9", "203.0.113.1", 64, true, 40);
        let packet_len = v4_buffer.len();
        v4_buffer.extend([0xee; 40]);
        let Verdict::Icmp(out) = r.too_big(now, &v4_buffer, 40) else {
            panic!("no error for a packet over the MTU with DF");
        };
        assert_icmpv4(&out, "198.51.100.9", 3, 4, &v4_buffer[..packet_len]);
        assert_eq!(out.len(), 28 + packet_len);
    }

    #[test]
    fn fib_longest_prefix_wins() {
        let r = router();
        assert_eq!(r.fib.len(), 4);
        let at = |s: &str| r.fib.lookup(s.parse().unwrap());
        assert_eq!(at("fd00:2::9"), Some(LinkId(2)));
        assert_eq!(at("fd00:2:0:5::9"), Some(LinkId(5)));
        assert_eq!(at("fd00:3::1"), None);
        assert_eq!(at("198.51.100.99"), Some(LinkId(2)));
        assert_eq!(at("198.51.100.52"), Some(LinkId(3)));
        assert_eq!(at("203.0.113.1"), None);
        assert_eq!(at("::ffff:198.51.100.52"), None, "families do not mix");
    }

    #[test]
    fn fib_defaults_host_routes_replace_and_remove() {
        let mut fib = Fib::new();
        assert!(fib.is_empty());
        fib.insert(prefix("::/0"), LinkId(1));
        fib.insert(prefix("0.0.0.0/0"), LinkId(1));
        fib.insert(prefix("fd00::7/128"), LinkId(7));
        fib.insert(prefix("203.0.113.7/32"), LinkId(7));
        assert_eq!(fib.lookup("2001:db8::1".parse().unwrap()), Some(LinkId(1)));
        assert_eq!(fib.lookup("fd00::7".parse().unwrap()), Some(LinkId(7)));
        assert_eq!(fib.lookup("203.0.113.7".parse().unwrap()), Some(LinkId(7)));
        assert_eq!(fib.lookup("203.0.113.8".parse().unwrap()), Some(LinkId(1)));
        fib.insert(prefix("fd00::7/128"), LinkId(8));
        assert_eq!(fib.len(), 4, "replacing keeps one entry");
        assert_eq!(fib.lookup("fd00::7".parse().unwrap()), Some(LinkId(8)));
        fib.remove(prefix("fd00::7/128"));
        fib.remove(prefix("fd00::7/128"));
        assert_eq!(fib.lookup("fd00::7".parse().unwrap()), Some(LinkId(1)));
        fib.remove(prefix("::/0"));
        assert_eq!(fib.lookup("fd00::7".parse().unwrap()), None);
        assert_eq!(fib.len(), 2);
    }

    #[test]
    fn fib_agrees_with_a_linear_scan() {
        let mut fib = Fib::new();
        let mut all = Vec::new();
        let mut seed: u32 = 12345;
        let mut next = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            seed
        };
        for i in 0..200 {
            let addr = Ipv4Addr::from(next() & 0xff0f_0000 | 0x0a00_0000);
            let len = (next() % 33) as u8;
            let p = Prefix::new(IpAddr::V4(addr), len).unwrap();
            fib.insert(p, LinkId(i));
            all.retain(|(q, _)| *q != p);
            all.push((p, LinkId(i)));
        }
        for _ in 0..2000 {
            let dst = IpAddr::V4(Ipv4Addr::from(next() & 0xff0f_ffff | 0x0a00_0000));
            let expected = all
                .iter()
                .filter(|(p, _)| p.contains(dst))
                .max_by_key(|(p, _)| p.len())
                .map(|(_, l)| *l);
            assert_eq!(fib.lookup(dst), expected, "{dst}");
        }
    }

    #[test]
    fn forwards_and_decrements_hop_limit() {
        let mut r = router();
        let now = Instant::now();
        let mut p = udp_v6("fd00:9::1", "fd00:2:0:5::1", 64, 100);
        assert_eq!(
            r.route(now, &mut p, false),
            Verdict::Forward { link: LinkId(5) }
        );
        assert_eq!(p[7], 63);
        // From mesh0 the kernel already counted this hop.
        let mut p = udp_v6("fd00:1::1", "fd00:2::1", 1, 100);
        assert_eq!(
            r.route(now, &mut p, true),
            Verdict::Forward { link: LinkId(2) }
        );
        assert_eq!(p[7], 1);
    }

    #[test]
    fn forwards_ipv4_and_keeps_the_header_checksum_right() {
        let mut r = router();
        let mut p = udp_v4("203.0.113.9", "198.51.100.52", 10, true, 50);
        assert_eq!(
            r.route(Instant::now(), &mut p, false),
            Verdict::Forward { link: LinkId(3) }
        );
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(ip.hop_limit(), 9);
        assert!(ip.verify_checksum());
    }

    #[test]
    fn local_destinations_are_local() {
        let mut r = router();
        let mut p = udp_v6("fd00:2::1", "fd00:1::1", 1, 10);
        assert_eq!(r.route(Instant::now(), &mut p, false), Verdict::Local);
        let mut p = udp_v4("198.51.100.1", "192.0.2.1", 1, false, 10);
        assert_eq!(r.route(Instant::now(), &mut p, false), Verdict::Local);
    }

    #[test]
    fn no_route_answers_destination_unreachable() {
        let mut r = router();
        let mut p = udp_v6("fd00:2::1", "fd00:77::1", 64, 30);
        let Verdict::Icmp(out) = r.route(Instant::now(), &mut p, false) else {
            panic!("expected an ICMPv6 error");
        };
        assert_icmpv6(&out, "fd00:2::1", 1, 0, &p);
        assert_eq!(
            out.len(),
            40 + 8 + p.len(),
            "a small packet is quoted whole"
        );

        let mut p = udp_v4("198.51.100.1", "203.0.113.77", 64, false, 30);
        let Verdict::Icmp(out) = r.route(Instant::now(), &mut p, false) else {
            panic!("expected an ICMP error");
        };
        assert_icmpv4(&out, "198.51.100.1", 3, 0, &p);
        assert_eq!(r.stats().no_route, 2);
    }

    #[test]
    fn expiring_hop_limit_answers_time_exceeded() {
        let mut r = router();
        let mut p = udp_v6("fd00:9::1", "fd00:2::1", 1, 2000);
        let Verdict::Icmp(out) = r.route(Instant::now(), &mut p, false) else {
            panic!("expected an ICMPv6 error");
        };
        assert_icmpv6(&out, "fd00:9::1", 3, 0, &p);
        assert_eq!(out.len(), 1280, "as much as fits in the minimum MTU");
        assert_eq!(p[7], 1, "not decremented when dropped");

        let mut p = udp_v4("203.0.113.9", "198.51.100.1", 1, false, 1000);
        let Verdict::Icmp(out) = r.route(Instant::now(), &mut p, false) else {
            panic!("expected an ICMP error");
        };
        assert_icmpv4(&out, "203.0.113.9", 11, 0, &p);
        assert_eq!(out.len(), 576);
    }

    /// A neighbour's `ping -t 1` to an address in one of our announced prefixes (a LAN /64, a
    /// gateway's default route) reaches us: the packet has arrived, it is not forwarded, so it
    /// loses no hop here and gets no "time exceeded".
    #[test]
    fn addressed_to_an_announced_prefix_loses_no_hop() {
        let mut r = router();
        r.fib.insert(prefix("fd00:1:0:7::/64"), LOCAL);
        r.fib.insert(prefix("203.0.113.0/24"), LOCAL);
        let mut p = udp_v6("fd00:9::1", "fd00:1:0:7::1", 1, 100);
        assert_eq!(r.route(Instant::now(), &mut p, false), Verdict::Local);
        assert_eq!(p[7], 1);
        let mut p = udp_v4("198.51.100.9", "203.0.113.5", 1, false, 100);
        assert_eq!(r.route(Instant::now(), &mut p, false), Verdict::Local);
        assert_eq!(Ipv4Packet::new_checked(&p[..]).unwrap().hop_limit(), 1);
        assert_eq!(r.stats().hop_limit_exceeded, 0);
    }

    /// RFC 8966 §3.5.4: a prefix the core holds unreachable answers destination unreachable,
    /// even though a shorter prefix (here the /48 and the /24) covers the destination.
    #[test]
    fn held_prefix_answers_unreachable_not_shorter_prefix() {
        let mut r = router();
        r.fib.insert(prefix("fd00:2:0:5::/64"), UNREACHABLE);
        r.fib.insert(prefix("198.51.100.48/28"), UNREACHABLE);
        let mut p = udp_v6("fd00:9::1", "fd00:2:0:5::1", 64, 30);
        let Verdict::Icmp(out) = r.route(Instant::now(), &mut p, false) else {
            panic!("expected an ICMPv6 error");
        };
        assert_icmpv6(&out, "fd00:9::1", 1, 0, &p);
        let mut p = udp_v4("203.0.113.9", "198.51.100.50", 64, false, 30);
        let Verdict::Icmp(out) = r.route(Instant::now(), &mut p, false) else {
            panic!("expected an ICMP error");
        };
        assert_icmpv4(&out, "203.0.113.9", 3, 0, &p);
        // The rest of the shorter prefixes still forward.
        let mut p = udp_v6("fd00:9::1", "fd00:2:0:6::1", 64, 30);
        assert_eq!(
            r.route(Instant::now(), &mut p, false),
            Verdict::Forward { link: LinkId(2) }
        );
        assert_eq!(r.stats().no_route, 2);
    }

    #[test]
    fn oversized_packets_answer_packet_too_big() {
        let mut r = router();
        let mut p = udp_v6("fd00:9::1", "fd00:2::1", 64, MTU);
        let Verdict::Icmp(out) = r.route(Instant::now(), &mut p, false) else {
            panic!("expected packet too big");
        };
        assert_eq!(assert_icmpv6(&out, "fd00:9::1", 2, 0, &p), MTU as u32);

        let mut p = udp_v4("203.0.113.9", "198.51.100.1", 64, true, MTU);
        let Verdict::Icmp(out) = r.route(Instant::now(), &mut p, false) else {
            panic!("expected fragmentation needed");
        };
        assert_eq!(assert_icmpv4(&out, "203.0.113.9", 3, 4, &p), MTU as u16);

        let mut p = udp_v4("203.0.113.9", "198.51.100.1", 64, false, MTU);
        assert_eq!(r.route(Instant::now(), &mut p, false), Verdict::Drop);
        assert_eq!(r.stats().fragmentation_needed, 1);

        let mut p = udp_v6("fd00:9::1", "fd00:2::1", 64, MTU - 40);
        assert_eq!(
            r.route(Instant::now(), &mut p, false),
            Verdict::Forward { link: LinkId(2) },
            "exactly the MTU fits"
        );
    }

    #[test]
    fn no_errors_about_errors_or_to_bad_sources() {
        let mut r = router();
        let now = Instant::now();
        // An ICMPv6 error (type 1) and an ICMP time exceeded (type 11) with no route.
        let mut p = packet_v6("fd00:9::1", "fd00:77::1", 64, 58, 48);
        p[40] = 1;
        assert_eq!(r.route(now, &mut p, false), Verdict::Drop);
        let mut p = packet_v4("203.0.113.9", "203.0.113.77", 64, 1, false, 36);
        p[20] = 11;
        assert_eq!(r.route(now, &mut p, false), Verdict::Drop);
        // An echo request is answered.
        let mut p = packet_v6("fd00:9::1", "fd00:77::1", 64, 58, 48);
        p[40] = 128;
        assert!(matches!(r.route(now, &mut p, false), Verdict::Icmp(_)));
        // Unspecified and multicast sources.
        let mut p = udp_v6("::", "fd00:77::1", 64, 8);
        assert_eq!(r.route(now, &mut p, false), Verdict::Drop);
        let mut p = udp_v6("ff02::1", "fd00:77::1", 64, 8);
        assert_eq!(r.route(now, &mut p, false), Verdict::Drop);
        let mut p = udp_v4("224.0.0.5", "203.0.113.77", 64, false, 8);
        assert_eq!(r.route(now, &mut p, false), Verdict::Drop);
    }

    #[test]
    fn multicast_and_link_local_destinations_are_not_forwarded() {
        let mut r = router();
        r.fib.insert(prefix("::/0"), LinkId(1));
        r.fib.insert(prefix("0.0.0.0/0"), LinkId(1));
        let now = Instant::now();
        for dst in ["ff02::1:6", "fe80::1", "ff0e::1"] {
            let mut p = udp_v6("fd00:9::1", dst, 64, 8);
            assert_eq!(r.route(now, &mut p, false), Verdict::Drop, "{dst}");
        }
        for dst in ["224.0.0.1", "255.255.255.255"] {
            let mut p = udp_v4("203.0.113.9", dst, 64, false, 8);
            assert_eq!(r.route(now, &mut p, false), Verdict::Drop, "{dst}");
        }
        assert_eq!(r.stats().not_forwardable, 5);
    }

    #[test]
    fn icmp_errors_are_rate_limited() {
        let mut r = router();
        let start = Instant::now();
        let offending = udp_v6("fd00:9::1", "fd00:77::1", 64, 8);
        // Sends `count` packets with no route at `at`; returns how many were answered, each
        // with destination unreachable (no route, code 0) to the sender, the rest dropped.
        let mut answered = |at: Instant, count: usize| {
            let mut answers = 0;
            for _ in 0..count {
                match r.route(at, &mut offending.clone(), false) {
                    Verdict::Icmp(out) => {
                        assert_icmpv6(&out, "fd00:9::1", 1, 0, &offending);
                        answers += 1;
                    }
                    Verdict::Drop => {}
                    other => panic!("a packet with no route was {other:?}"),
                }
            }
            answers
        };
        assert_eq!(answered(start, 200), 50, "the burst");
        assert_eq!(
            answered(start + Duration::from_millis(100), 20),
            10,
            "100 per second"
        );
        assert_eq!(r.stats().icmp_rate_limited, 150 + 10);
    }

    #[test]
    fn ipv4_errors_need_an_ipv4_source() {
        let mut r = Router::new(vec![], v6("fd00:1::1"), None, MTU);
        let mut p = udp_v4("203.0.113.9", "203.0.113.77", 64, false, 8);
        assert_eq!(r.route(Instant::now(), &mut p, false), Verdict::Drop);
    }

    #[test]
    fn malformed_packets_are_dropped_not_panics() {
        let mut r = router();
        r.fib.insert(prefix("::/0"), LinkId(1));
        r.fib.insert(prefix("0.0.0.0/0"), LinkId(1));
        let now = Instant::now();
        let good_v6 = udp_v6("fd00:9::1", "fd00:2::1", 64, 40);
        let good_v4 = udp_v4("203.0.113.9", "198.51.100.1", 64, false, 40);
        // Each bad packet is dropped and counted once as malformed: a drop counted as something
        // else (or not at all) would hide bad input from the operator.
        let dropped = |r: &mut Router, p: &mut [u8], what: &str| {
            let before = r.stats().malformed;
            assert_eq!(r.route(now, p, false), Verdict::Drop, "{what}");
            assert_eq!(
                r.stats().malformed,
                before + 1,
                "{what} counted as malformed"
            );
        };
        for good in [&good_v6, &good_v4] {
            for len in 0..good.len() {
                dropped(
                    &mut r,
                    &mut good[..len].to_vec(),
                    &format!("cut to {len} bytes"),
                );
            }
        }
        let mut bad_checksum = good_v4.clone();
        bad_checksum[10] ^= 1;
        dropped(&mut r, &mut bad_checksum, "bad IPv4 header checksum");
        let mut short_ihl = good_v4.clone();
        short_ihl[0] = 0x41;
        dropped(&mut r, &mut short_ihl, "IPv4 header length 4");
        dropped(&mut r, &mut [0x50; 60], "IP version 5");
        let total = u32::try_from(good_v6.len() + good_v4.len() + 3).unwrap();
        assert_eq!(r.stats().malformed, total);
        // The whole packets themselves are forwarded, so the drops above were the cuts.
        for good in [good_v6, good_v4] {
            let verdict = r.route(now, &mut good.clone(), false);
            assert!(matches!(verdict, Verdict::Forward { .. }), "{verdict:?}");
        }
    }

    #[test]
    fn packets_for_a_gateway_tunnel_get_errors_with_the_tunnel_mtu() {
        let mut r = router();
        let now = Instant::now();
        let p = udp_v6("fd00:1::1", "2001:db8::1", 64, MTU - 40);
        let Verdict::Icmp(out) = r.too_big(now, &p, MTU - 40) else {
            panic!("expected packet too big");
        };
        assert_eq!(
            assert_icmpv6(&out, "fd00:1::1", 2, 0, &p),
            (MTU - 40) as u32
        );
        let p = udp_v4("192.0.2.1", "192.0.2.9", 64, true, MTU - 20);
        let Verdict::Icmp(out) = r.too_big(now, &p, MTU - 40) else {
            panic!("expected fragmentation needed");
        };
        assert_eq!(
            assert_icmpv4(&out, "192.0.2.1", 3, 4, &p),
            (MTU - 40) as u16
        );
        let p = udp_v4("192.0.2.1", "192.0.2.9", 64, false, MTU - 20);
        assert_eq!(
            r.too_big(now, &p, MTU - 40),
            Verdict::Drop,
            "no DF: dropped"
        );
        assert_eq!(r.stats().fragmentation_needed, 1);
        let p = udp_v6("fd00:1::1", "2001:db8::1", 64, 20);
        let Verdict::Icmp(out) = r.unreachable(now, &p) else {
            panic!("expected destination unreachable");
        };
        assert_icmpv6(&out, "fd00:1::1", 1, 0, &p);
        for bad in [&[][..], &[0x45, 0, 0][..], &[0x60; 10][..], &[0x41; 40][..]] {
            assert_eq!(r.unreachable(now, bad), Verdict::Drop);
            assert_eq!(r.too_big(now, bad, 1280), Verdict::Drop);
        }
    }
}
