//! Shared internet gateways, the user side: which gateway each connection uses, and the tunnel
//! that carries it there (`docs/architecture.md`, "Gateways"; configuration and figures in
//! `docs/gateways.md`).
//!
//! The source chooses the gateway. A packet from `mesh0` whose destination only the default route
//! covers is looked up in a bounded [`FlowTable`]: a new flow is pinned to the best gateway by
//! metric, an existing one stays on its gateway while that gateway's mesh address is routed, so
//! the NAT state a connection has on its gateway is never lost to a metric change. The packet is
//! then wrapped in an outer IPv6 header addressed to the gateway's mesh address ([`encapsulate`],
//! next header 41 or 4, as RFC 2473 tunnels do) and routed there like any packet, so the default
//! routes of the nodes on the way do not matter. The gateway unwraps it ([`decapsulate`]) and
//! hands the inner packet to its kernel, which NATs it out of the uplink (`nat.rs`).
//!
//! This module neither reads the clock nor touches devices: the driver passes `now` in and does
//! the I/O.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use babel::RouterId;

use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, UdpPacket};

/// What a gateway announces.
pub const DEFAULT_ROUTES: [&str; 2] = ["::/0", "0.0.0.0/0"];

/// The outer header [`encapsulate`] adds.
pub const OUTER_HEADER: usize = IPV6_HEADER;
/// IPv6's fixed header, and IPv4's without options.
const IPV6_HEADER: usize = 40;
const IPV4_HEADER: usize = 20;
/// Next header values of the outer IPv6 header: IPv4 in IPv6 and IPv6 in IPv6 (RFC 2473).
pub const NEXT_HEADER_IPV4: u8 = 4;
pub const NEXT_HEADER_IPV6: u8 = 41;
/// Hop limit of the outer header; the inner one is counted again when the gateway unwraps it.
const OUTER_HOP_LIMIT: u8 = 64;

/// Most flows remembered at once; beyond that the least recently used one is forgotten (it is
/// pinned again, to the best gateway of the moment, if it sends again). About 100 bytes each.
pub const MAX_FLOWS: usize = 16_384;
/// A flow silent this long is forgotten. Long enough for an idle SSH session between keystrokes
/// most of the time; a forgotten flow is pinned again to the best gateway, which is usually the
/// same one.
pub const FLOW_IDLE: Duration = Duration::from_secs(300);
/// How long flows wait for their gateway while it has no usable path, or no route at all, before
/// they move to another: longer than a path change takes to settle (a retraction, a seqno request
/// and the answers, milliseconds apart), short enough for the failover target (measured: 1 s
/// of hold made the median outage 3.3 s at a 1 s hello interval). Moving a flow at once would
/// send a live connection through a NAT that does not know it, which resets it.
pub const HOLD: Duration = Duration::from_millis(500);

/// What identifies one flow: addresses, protocol, and for TCP and UDP the ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    /// Source and destination port (TCP and UDP, first fragments only), else 0 and 0.
    pub ports: (u16, u16),
}

impl FlowKey {
    /// The flow of an IPv4 or IPv6 packet, or `None` if it is too short to tell. IPv6 extension
    /// headers are not walked: such packets are keyed by addresses and the first next header.
    pub fn of(packet: &[u8]) -> Option<FlowKey> {
        match packet.first()? >> 4 {
            6 => {
                // Unchecked views of the fixed header alone: a flow is keyed by its first bytes,
                // whatever the length fields say (the forwarding path checks those).
                let ip = Ipv6Packet::new_unchecked(packet.get(..IPV6_HEADER)?);
                let protocol = ip.next_header();
                Some(FlowKey {
                    src: IpAddr::V6(ip.src_addr()),
                    dst: IpAddr::V6(ip.dst_addr()),
                    protocol: protocol.into(),
                    ports: ports(protocol, packet.get(IPV6_HEADER..)),
                })
            }
            4 => {
                let ip = Ipv4Packet::new_unchecked(packet.get(..IPV4_HEADER)?);
                let header_len = usize::from(ip.header_len());
                if header_len < IPV4_HEADER {
                    return None;
                }
                let protocol = ip.next_header();
                // Only a first fragment carries the ports.
                let payload = if ip.frag_offset() == 0 {
                    packet.get(header_len..)
                } else {
                    None
                };
                Some(FlowKey {
                    src: IpAddr::V4(ip.src_addr()),
                    dst: IpAddr::V4(ip.dst_addr()),
                    protocol: protocol.into(),
                    ports: ports(protocol, payload),
                })
            }
            _ => None,
        }
    }
}

/// Source and destination port of a TCP or UDP header (both begin with them).
fn ports(protocol: IpProtocol, payload: Option<&[u8]>) -> (u16, u16) {
    match (protocol, payload) {
        // Unchecked: only the four bytes of the ports are read (a first fragment may hold little
        // more), and UDP's length field means nothing in a TCP header.
        (IpProtocol::Tcp | IpProtocol::Udp, Some(p)) if p.len() >= 4 => {
            let header = UdpPacket::new_unchecked(p);
            (header.src_port(), header.dst_port())
        }
        _ => (0, 0),
    }
}

#[derive(Debug, Clone, Copy)]
struct Flow {
    gateway: RouterId,
    last_used: Instant,
    /// Position in the recency order.
    tick: u64,
}

/// Which gateway each flow is pinned to: bounded in size (least recently used out first) and in
/// time (idle flows expire), so no peer and no LAN host can make it grow without limit.
#[derive(Debug)]
pub struct FlowTable {
    flows: HashMap<FlowKey, Flow>,
    /// Flows by recency: the first is the least recently used.
    by_use: BTreeMap<u64, FlowKey>,
    next_tick: u64,
    capacity: usize,
    idle: Duration,
    /// Flows forgotten to make room (not by expiry).
    pub evicted: u64,
}

impl FlowTable {
    pub fn new(capacity: usize, idle: Duration) -> FlowTable {
        FlowTable {
            flows: HashMap::new(),
            by_use: BTreeMap::new(),
            next_tick: 0,
            capacity: capacity.max(1),
            idle,
            evicted: 0,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The gateway for a packet of `key`: its pinned gateway while `reachable` says that one is,
    /// else the one `choose` picks now (remembered for the next packets). `None` if there is no
    /// gateway to use; the flow is then forgotten.
    pub fn gateway_for(
        &mut self,
        now: Instant,
        key: FlowKey,
        reachable: impl Fn(RouterId) -> bool,
        choose: impl FnOnce() -> Option<RouterId>,
    ) -> Option<RouterId> {
        self.expire(now);
        let tick = self.next_tick;
        self.next_tick += 1;
        if let Some(flow) = self.flows.get_mut(&key) {
            self.by_use.remove(&flow.tick);
            if reachable(flow.gateway) {
                flow.last_used = now;
                flow.tick = tick;
                self.by_use.insert(tick, key);
                return Some(flow.gateway);
            }
            self.flows.remove(&key);
        }
        let gateway = choose()?;
        if self.flows.len() >= self.capacity {
            if let Some((_, oldest)) = self.by_use.pop_first() {
                self.flows.remove(&oldest);
                self.evicted += 1;
            }
        }
        self.flows.insert(
            key,
            Flow {
                gateway,
                last_used: now,
                tick,
            },
        );
        self.by_use.insert(tick, key);
        Some(gateway)
    }

    /// Forgets flows idle for longer than the idle time.
    pub fn expire(&mut self, now: Instant) {
        while let Some((&tick, key)) = self.by_use.first_key_value() {
            let Some(flow) = self.flows.get(key) else {
                self.by_use.remove(&tick);
                continue;
            };
            if now.saturating_duration_since(flow.last_used) < self.idle {
                break;
            }
            let key = *key;
            self.by_use.remove(&tick);
            self.flows.remove(&key);
        }
    }

    /// How many flows each gateway carries.
    pub fn pinned(&self) -> HashMap<RouterId, usize> {
        let mut counts = HashMap::new();
        for flow in self.flows.values() {
            *counts.entry(flow.gateway).or_insert(0) += 1;
        }
        counts
    }
}

/// Wraps `inner` (an IPv4 or IPv6 packet) in an IPv6 header from `src` to `dst`, into `out`.
/// Returns `false`, leaving `out` empty, if `inner` is neither or too long for one IPv6 packet.
pub fn encapsulate(src: Ipv6Addr, dst: Ipv6Addr, inner: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let next_header = match inner.first().map(|b| b >> 4) {
        Some(4) => NEXT_HEADER_IPV4,
        Some(6) => NEXT_HEADER_IPV6,
        _ => return false,
    };
    let Ok(length) = u16::try_from(inner.len()) else {
        return false;
    };
    out.resize(OUTER_HEADER, 0);
    let mut header = Ipv6Packet::new_unchecked(&mut out[..]);
    header.set_version(6);
    header.set_payload_len(length);
    header.set_next_header(IpProtocol::from(next_header));
    header.set_hop_limit(OUTER_HOP_LIMIT);
    header.set_src_addr(src);
    header.set_dst_addr(dst);
    out.extend_from_slice(inner);
    true
}

/// Why an encapsulated packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecapsulateError {
    /// The outer header is cut short or its length disagrees with the datagram.
    BadOuter,
    /// The inner packet is not the IP version the outer next header says, is cut short, or (IPv4)
    /// has a bad header checksum.
    BadInner,
}

/// Whether `packet` is IPv6 with next header 4 or 41: a tunnelled packet, if it is for us.
pub fn is_encapsulated(packet: &[u8]) -> bool {
    outer(packet).is_some()
}

/// The outer header of a packet [`encapsulate`] could have made: IPv6, next header 4 or 41.
fn outer(packet: &[u8]) -> Option<Ipv6Packet<&[u8]>> {
    let ip = Ipv6Packet::new_unchecked(packet.get(..OUTER_HEADER)?);
    (ip.version() == 6
        && matches!(
            u8::from(ip.next_header()),
            NEXT_HEADER_IPV4 | NEXT_HEADER_IPV6
        ))
    .then_some(ip)
}

/// The outer destination of a packet [`is_encapsulated`] accepted.
pub fn outer_destination(packet: &[u8]) -> Option<Ipv6Addr> {
    Some(outer(packet)?.dst_addr())
}

/// Checks an encapsulated packet and returns where its inner packet lies in it (the inner packet
/// exactly, without trailing bytes).
pub fn decapsulate(packet: &[u8]) -> Result<std::ops::Range<usize>, DecapsulateError> {
    let header = outer(packet).ok_or(DecapsulateError::BadOuter)?;
    let payload = usize::from(header.payload_len());
    let Some(inner) = packet.get(OUTER_HEADER..OUTER_HEADER + payload) else {
        return Err(DecapsulateError::BadOuter);
    };
    let inner_len = if u8::from(header.next_header()) == NEXT_HEADER_IPV6 {
        // new_checked: the header and the payload its length field claims are there.
        match Ipv6Packet::new_checked(inner) {
            Ok(ip) if ip.version() == 6 => ip.total_len(),
            _ => return Err(DecapsulateError::BadInner),
        }
    } else {
        // new_checked: the header, its options and the total length are there; smoltcp lets an
        // IHL below 5 through, so that is checked here, with the header checksum.
        match Ipv4Packet::new_checked(inner) {
            Ok(ip)
                if ip.version() == 4
                    && usize::from(ip.header_len()) >= IPV4_HEADER
                    && ip.verify_checksum() =>
            {
                usize::from(ip.total_len())
            }
            _ => return Err(DecapsulateError::BadInner),
        }
    };
    Ok(OUTER_HEADER..OUTER_HEADER + inner_len)
}

/// One gateway as the route table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub router_id: RouterId,
    /// Its mesh address (the `/128` announced with its router-id), if any candidate route to it
    /// is finite: the gateway is alive.
    pub mesh_address: Option<Ipv6Addr>,
    /// Whether a route to its mesh address is selected (in the forwarding table). A live
    /// gateway may lack one for a moment while the path to it changes (the new path's route
    /// waits for a new seqno to become feasible); its flows wait rather than move, since moving
    /// them would lose their NAT state.
    pub usable: bool,
    /// Metric of its `::/0` and `0.0.0.0/0` routes, if it announces them.
    pub metric_v6: Option<u16>,
    pub metric_v4: Option<u16>,
    /// The link of the route to its mesh address.
    pub via: Option<babel::LinkId>,
}

impl Gateway {
    pub fn metric(&self, ipv6: bool) -> Option<u16> {
        if ipv6 {
            self.metric_v6
        } else {
            self.metric_v4
        }
    }
}

/// Which gateways a node may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// The best by metric.
    Auto,
    /// Never a mesh gateway.
    None,
    /// Only this one.
    Only(RouterId),
}

/// The gateways in `routes`: nodes that announce a default route (or did, in `remembered`,
/// while they stay alive), each with the metric of the route to its mesh address, where its
/// traffic is tunnelled. `mesh_prefix` is the mesh's `/48`.
///
/// A gateway's own default route hides the others' (a node announces one route per prefix, and a
/// local one wins), so a gateway reached only through another gateway shows no default route at
/// all. That is why an offer, once seen, is remembered for as long as the gateway's mesh address
/// has a finite route: without that, a connection whose path to its gateway changes to pass
/// through another gateway would be moved, and lose its NAT state.
pub fn gateways(
    routes: &[babel::RouteInfo],
    mesh_prefix: babel::Prefix,
    remembered: &[Gateway],
) -> Vec<Gateway> {
    let mut found: BTreeMap<RouterId, Gateway> = BTreeMap::new();
    let mut offer = |id: RouterId, ipv6: bool, ipv4: bool| {
        let entry = found.entry(id).or_insert(Gateway {
            router_id: id,
            mesh_address: None,
            usable: false,
            metric_v6: None,
            metric_v4: None,
            via: None,
        });
        // Placeholders until the route to the mesh address gives the metric.
        if ipv6 {
            entry.metric_v6 = Some(babel::wire::INFINITY);
        }
        if ipv4 {
            entry.metric_v4 = Some(babel::wire::INFINITY);
        }
    };
    for route in routes {
        if route.prefix.len() == 0
            && route.metric != babel::wire::INFINITY
            && route.neighbour.is_some()
        {
            let ipv6 = route.prefix.addr().is_ipv6();
            offer(route.router_id, ipv6, !ipv6);
        }
    }
    for gateway in remembered {
        offer(
            gateway.router_id,
            gateway.metric_v6.is_some(),
            gateway.metric_v4.is_some(),
        );
    }
    // The best finite route to each gateway's mesh address; the selected one if there is one.
    for route in routes {
        if route.metric == babel::wire::INFINITY || route.prefix.len() != 128 {
            continue;
        }
        let IpAddr::V6(address) = route.prefix.addr() else {
            continue;
        };
        if !mesh_prefix.contains(IpAddr::V6(address)) || address.octets()[8..] != route.router_id.0
        {
            continue;
        }
        let Some(gateway) = found.get_mut(&route.router_id) else {
            continue;
        };
        let selected = route.status == babel::RouteStatus::Selected;
        if gateway.usable && !selected {
            continue;
        }
        let better = gateway.mesh_address.is_none()
            || selected
            || gateway
                .metric_v6
                .or(gateway.metric_v4)
                .is_some_and(|m| route.metric < m);
        if !better {
            continue;
        }
        gateway.mesh_address = Some(address);
        gateway.usable = selected;
        gateway.via = route.neighbour.filter(|_| selected).map(|(link, _)| link);
        for metric in [&mut gateway.metric_v6, &mut gateway.metric_v4] {
            if metric.is_some() {
                *metric = Some(route.metric);
            }
        }
    }
    found
        .into_values()
        .filter(|g| g.mesh_address.is_some())
        .collect()
}

/// The gateway a new flow of the given family should use under `policy`: the lowest metric, ties
/// to the lowest router-id (so every node breaks them the same way). Only usable gateways.
pub fn best(gateways: &[Gateway], ipv6: bool, policy: Use) -> Option<RouterId> {
    let mut usable = gateways.iter().filter(|g| g.usable);
    match policy {
        Use::None => None,
        Use::Only(id) => usable
            .find(|g| g.router_id == id && g.metric(ipv6).is_some())
            .map(|g| g.router_id),
        Use::Auto => usable
            .filter_map(|g| Some((g.metric(ipv6)?, g.router_id)))
            .min()
            .map(|(_, id)| id),
    }
}

/// Counters of the tunnels to and from gateways.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelStats {
    pub encapsulated: u64,
    pub decapsulated: u64,
    /// Tunnelled packets that failed [`decapsulate`].
    pub malformed: u64,
    /// Tunnelled packets whose inner source the mesh does not route (not from the mesh).
    pub spoofed: u64,
    /// Packets dropped while their gateway had no path (it was changing).
    pub held: u64,
}

/// Where a packet for a gateway goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Tunnelled to this gateway address.
    Tunnel(Ipv6Addr),
    /// Its gateway is alive but has no path this moment: dropped, and the flow kept.
    Held,
    /// No gateway may take it.
    NoGateway,
}

/// The user side's state: the gateways known, the policy, the flows pinned.
#[derive(Debug)]
pub struct Selector {
    pub policy: Use,
    pub flows: FlowTable,
    pub known: Vec<Gateway>,
    pub stats: TunnelStats,
    /// Since when each live gateway has had no usable path.
    unusable_since: HashMap<RouterId, Instant>,
}

impl Selector {
    pub fn new(policy: Use) -> Selector {
        Selector {
            policy,
            flows: FlowTable::new(MAX_FLOWS, FLOW_IDLE),
            known: Vec::new(),
            stats: TunnelStats::default(),
            unusable_since: HashMap::new(),
        }
    }

    /// Re-reads the gateways from the route table.
    pub fn update(
        &mut self,
        now: Instant,
        routes: &[babel::RouteInfo],
        mesh_prefix: babel::Prefix,
    ) {
        let previous = std::mem::take(&mut self.known);
        self.known = gateways(routes, mesh_prefix, &previous);
        // A gateway that lost every route is kept, unusable, for the hold: while paths change
        // (a neighbour lost, the other way not yet announced) a live gateway can vanish for a
        // moment.
        for old in previous {
            let vanished = !self.known.iter().any(|g| g.router_id == old.router_id);
            let since = self.unusable_since.get(&old.router_id).copied();
            if vanished && since.is_none_or(|t| now.saturating_duration_since(t) < HOLD) {
                self.known.push(Gateway {
                    usable: false,
                    via: None,
                    ..old
                });
            }
        }
        self.known.sort_by_key(|g| g.router_id);
        let mut since = std::mem::take(&mut self.unusable_since);
        for gateway in self.known.iter().filter(|g| !g.usable) {
            let start = since.get(&gateway.router_id).copied().unwrap_or(now);
            self.unusable_since.insert(gateway.router_id, start);
        }
        since.clear();
    }

    /// Where `packet` (from `mesh0`, covered only by a default route) goes, pinning its flow.
    pub fn gateway_for(&mut self, now: Instant, packet: &[u8]) -> Choice {
        let Some(key) = FlowKey::of(packet) else {
            return Choice::NoGateway;
        };
        let ipv6 = key.dst.is_ipv6();
        let known = &self.known;
        let policy = self.policy;
        let unusable_since = &self.unusable_since;
        let alive = |id: RouterId| {
            let held_too_long = unusable_since
                .get(&id)
                .is_some_and(|since| now.saturating_duration_since(*since) >= HOLD);
            !held_too_long
                && known
                    .iter()
                    .any(|g| g.router_id == id && g.metric(ipv6).is_some())
        };
        let Some(id) = self
            .flows
            .gateway_for(now, key, alive, || best(known, ipv6, policy))
        else {
            return Choice::NoGateway;
        };
        match self.known.iter().find(|g| g.router_id == id) {
            Some(Gateway {
                mesh_address: Some(address),
                usable: true,
                ..
            }) => Choice::Tunnel(*address),
            _ => Choice::Held,
        }
    }

    /// The gateways new flows of each family go to now.
    pub fn chosen(&self) -> (Option<RouterId>, Option<RouterId>) {
        (
            best(&self.known, true, self.policy),
            best(&self.known, false, self.policy),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{checksum, ipv6_at};

    fn id(n: u8) -> RouterId {
        RouterId([0, 0, 0, 0, 0, 0, 0, n])
    }

    fn key(port: u16) -> FlowKey {
        FlowKey {
            src: "fd00::1".parse().unwrap(),
            dst: "fd00:5::1".parse().unwrap(),
            protocol: 6,
            ports: (port, 80),
        }
    }

    fn v6_packet(payload: usize) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(payload as u16).to_be_bytes());
        p.extend_from_slice(&[17, 64]);
        p.extend_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"fd00:5::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&[0x12, 0x34, 0x00, 0x35]);
        p.resize(40 + payload, 0xab);
        p
    }

    fn v4_packet(payload: usize) -> Vec<u8> {
        let total = (20 + payload) as u16;
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 1, 203, 0, 113, 9]);
        let sum = checksum(&p);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(&[0x9c, 0x40, 0x01, 0xbb]);
        p.resize(20 + payload, 0xcd);
        p
    }

    #[test]
    fn new_flows_take_the_choice_and_keep_it_while_reachable() {
        let mut table = FlowTable::new(10, FLOW_IDLE);
        let now = Instant::now();
        assert_eq!(
            table.gateway_for(now, key(1), |_| true, || Some(id(1))),
            Some(id(1))
        );
        // Another gateway became better: the flow stays.
        assert_eq!(
            table.gateway_for(now, key(1), |_| true, || Some(id(2))),
            Some(id(1))
        );
        // A new flow takes the new best.
        assert_eq!(
            table.gateway_for(now, key(2), |_| true, || Some(id(2))),
            Some(id(2))
        );
        // Gateway 1 is gone: its flow moves to the next best, and stays there.
        let alive = |g: RouterId| g != id(1);
        assert_eq!(
            table.gateway_for(now, key(1), alive, || Some(id(2))),
            Some(id(2))
        );
        assert_eq!(
            table.gateway_for(now, key(1), |_| true, || Some(id(1))),
            Some(id(2))
        );
        assert_eq!(table.pinned().get(&id(2)), Some(&2));
        // No gateway at all: nothing, and the flow is forgotten.
        assert_eq!(table.gateway_for(now, key(1), |_| false, || None), None);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn the_table_is_bounded_and_evicts_the_least_recently_used() {
        let mut table = FlowTable::new(3, FLOW_IDLE);
        let now = Instant::now();
        for port in 1..=3 {
            table.gateway_for(now, key(port), |_| true, || Some(id(1)));
        }
        // Flow 1 is used again, so flow 2 is the least recently used.
        table.gateway_for(now, key(1), |_| true, || Some(id(9)));
        table.gateway_for(now, key(4), |_| true, || Some(id(2)));
        assert_eq!(table.len(), 3);
        assert_eq!(table.evicted, 1);
        // Flow 2 was forgotten: it is pinned anew, to gateway 3; flow 1 kept gateway 1.
        assert_eq!(
            table.gateway_for(now, key(2), |_| true, || Some(id(3))),
            Some(id(3))
        );
        assert_eq!(
            table.gateway_for(now, key(1), |_| true, || Some(id(3))),
            Some(id(1))
        );
        for port in 100..10_100 {
            table.gateway_for(now, key(port), |_| true, || Some(id(1)));
        }
        assert_eq!(table.len(), 3, "never more than the capacity");
        assert_eq!(table.by_use.len(), 3);
    }

    #[test]
    fn idle_flows_expire() {
        let mut table = FlowTable::new(10, Duration::from_secs(60));
        let start = Instant::now();
        table.gateway_for(start, key(1), |_| true, || Some(id(1)));
        table.gateway_for(
            start + Duration::from_secs(30),
            key(2),
            |_| true,
            || Some(id(1)),
        );
        table.expire(start + Duration::from_secs(61));
        assert_eq!(table.len(), 1, "flow 1 was idle for 61 s, flow 2 for 31 s");
        // Flow 1 comes back after expiring: pinned to today's best.
        let later = start + Duration::from_secs(62);
        assert_eq!(
            table.gateway_for(later, key(1), |_| true, || Some(id(2))),
            Some(id(2))
        );
        table.expire(later + Duration::from_secs(600));
        assert!(table.is_empty());
        assert!(table.by_use.is_empty());
    }

    #[test]
    fn flow_keys_from_packets() {
        let k = FlowKey::of(&v6_packet(20)).unwrap();
        assert_eq!(k.protocol, 17);
        assert_eq!(k.ports, (0x1234, 0x35));
        assert_eq!(k.dst, "fd00:5::1".parse::<IpAddr>().unwrap());
        let k = FlowKey::of(&v4_packet(20)).unwrap();
        assert_eq!(k.protocol, 6);
        assert_eq!(k.ports, (40000, 443));
        assert_eq!(k.src, "198.51.100.1".parse::<IpAddr>().unwrap());
        // A later fragment has no ports to read.
        let mut fragment = v4_packet(20);
        fragment[7] = 8;
        assert_eq!(FlowKey::of(&fragment).unwrap().ports, (0, 0));
        // Too short, or not IP.
        for len in 0..20 {
            assert_eq!(FlowKey::of(&v4_packet(20)[..len]), None, "{len}");
        }
        assert_eq!(FlowKey::of(&v6_packet(20)[..39]), None);
        assert_eq!(FlowKey::of(&[0x50; 60]), None);
        let mut bad_ihl = v4_packet(20);
        bad_ihl[0] = 0x43;
        assert_eq!(FlowKey::of(&bad_ihl), None);
    }

    #[test]
    fn encapsulation_round_trips_both_families() {
        let src: Ipv6Addr = "fd6d:6573:6800::1".parse().unwrap();
        let dst: Ipv6Addr = "fd6d:6573:6800::2".parse().unwrap();
        for (inner, next) in [(v6_packet(100), 41), (v4_packet(100), 4)] {
            let mut out = Vec::new();
            assert!(encapsulate(src, dst, &inner, &mut out));
            assert_eq!(out.len(), inner.len() + OUTER_HEADER);
            assert_eq!(out[6], next);
            assert!(is_encapsulated(&out));
            assert_eq!(outer_destination(&out), Some(dst));
            assert_eq!(ipv6_at(&out, 8), src);
            let range = decapsulate(&out).unwrap();
            assert_eq!(&out[range], &inner[..]);
            // Trailing bytes after the outer payload are not part of the inner packet.
            out.extend_from_slice(&[0; 7]);
            let range = decapsulate(&out).unwrap();
            assert_eq!(&out[range], &inner[..]);
        }
        let mut out = vec![1, 2, 3];
        assert!(!encapsulate(src, dst, &[0x50; 30], &mut out));
        assert!(out.is_empty());
        assert!(!encapsulate(src, dst, &[], &mut out));
    }

    #[test]
    fn malformed_encapsulated_packets_are_errors_not_panics() {
        let src: Ipv6Addr = "fd6d:6573:6800::1".parse().unwrap();
        let dst: Ipv6Addr = "fd6d:6573:6800::2".parse().unwrap();
        for inner in [v6_packet(60), v4_packet(60)] {
            let mut good = Vec::new();
            encapsulate(src, dst, &inner, &mut good);
            // Every truncation.
            for len in 0..good.len() {
                assert!(decapsulate(&good[..len]).is_err(), "length {len}");
            }
            // Every single byte flipped: an error or a packet inside the datagram, never a panic.
            for at in 0..good.len() {
                let mut p = good.clone();
                p[at] ^= 0xff;
                if let Ok(range) = decapsulate(&p) {
                    assert!(range.end <= p.len());
                }
            }
        }
        // The outer says IPv4, the inner is IPv6.
        let mut p = Vec::new();
        encapsulate(src, dst, &v6_packet(20), &mut p);
        p[6] = NEXT_HEADER_IPV4;
        assert_eq!(decapsulate(&p), Err(DecapsulateError::BadInner));
        // The inner IPv4 header checksum is wrong.
        let mut inner = v4_packet(20);
        inner[11] ^= 1;
        encapsulate(src, dst, &inner, &mut p);
        assert_eq!(decapsulate(&p), Err(DecapsulateError::BadInner));
        // The inner claims more than the outer carries.
        let mut inner = v6_packet(20);
        inner[5] = 200;
        encapsulate(src, dst, &inner, &mut p);
        assert_eq!(decapsulate(&p), Err(DecapsulateError::BadInner));
        // Not tunnelled at all.
        assert_eq!(decapsulate(&v6_packet(60)), Err(DecapsulateError::BadOuter));
    }

    fn route(
        prefix: &str,
        router: u8,
        metric: u16,
        status: babel::RouteStatus,
    ) -> babel::RouteInfo {
        babel::RouteInfo {
            prefix: prefix.parse().unwrap(),
            router_id: id(router),
            neighbour: Some((babel::LinkId(u32::from(router)), "fe80::1".parse().unwrap())),
            next_hop: None,
            seqno: 1,
            advertised_metric: 0,
            metric,
            status,
        }
    }

    #[test]
    fn gateways_come_from_default_routes_with_a_routed_mesh_address() {
        use babel::RouteStatus::{Selected, Worse};
        let mesh: babel::Prefix = "fd6d:6573:6800::/48".parse().unwrap();
        let routes = vec![
            route("::/0", 1, 300, Selected),
            route("::/0", 2, 200, Worse),
            route("0.0.0.0/0", 2, 200, Selected),
            route("::/0", 3, 100, Worse),
            route("fd6d:6573:6800:1::1/128", 1, 300, Selected),
            route("fd6d:6573:6800:1::2/128", 2, 200, Selected),
            // Gateway 3 is alive, but its address has no selected route: not usable now.
            route("fd6d:6573:6800:1::3/128", 3, 100, Worse),
            route("::/0", 4, babel::wire::INFINITY, Worse),
            route("fd6d:6573:6800:1::4/128", 4, 100, Selected),
        ];
        let found = gateways(&routes, mesh, &[]);
        let ids: Vec<RouterId> = found.iter().map(|g| g.router_id).collect();
        assert_eq!(ids, [id(1), id(2), id(3)], "4 is retracted");
        let usable: Vec<bool> = found.iter().map(|g| g.usable).collect();
        assert_eq!(usable, [true, true, false], "3 has no selected route");
        assert_eq!(found[1].metric_v4, Some(200));
        assert_eq!(
            found[1].mesh_address,
            Some("fd6d:6573:6800:1::2".parse().unwrap())
        );
        assert_eq!(best(&found, true, Use::Auto), Some(id(2)));
        assert_eq!(best(&found, false, Use::Auto), Some(id(2)));
        assert_eq!(best(&found, true, Use::Only(id(1))), Some(id(1)));
        assert_eq!(
            best(&found, false, Use::Only(id(1))),
            None,
            "1 has no IPv4 default"
        );
        assert_eq!(best(&found, true, Use::None), None);
        assert_eq!(best(&found, true, Use::Only(id(3))), None);
        assert_eq!(
            found[2].metric_v6,
            Some(100),
            "the best metric, but unusable"
        );
    }

    #[test]
    fn the_selector_pins_flows_and_moves_them_when_their_gateway_goes() {
        use babel::RouteStatus::{Selected, Worse};
        let mesh: babel::Prefix = "fd6d:6573:6800::/48".parse().unwrap();
        let both = |m1: u16, m2: u16| {
            vec![
                route("::/0", 1, m1, Selected),
                route("::/0", 2, m2, Worse),
                route("fd6d:6573:6800:1::1/128", 1, m1, Selected),
                route("fd6d:6573:6800:1::2/128", 2, m2, Selected),
            ]
        };
        let gw1: Ipv6Addr = "fd6d:6573:6800:1::1".parse().unwrap();
        let gw2: Ipv6Addr = "fd6d:6573:6800:1::2".parse().unwrap();
        let mut selector = Selector::new(Use::Auto);
        let now = Instant::now();
        selector.update(now, &both(100, 200), mesh);
        let first = v6_packet(20);
        assert_eq!(selector.gateway_for(now, &first), Choice::Tunnel(gw1));
        // Gateway 2 becomes better: the flow stays, a new flow goes to 2.
        selector.update(now, &both(300, 200), mesh);
        assert_eq!(selector.gateway_for(now, &first), Choice::Tunnel(gw1));
        let mut second = v6_packet(20);
        second[41] = 0x99; // another source port
        assert_eq!(selector.gateway_for(now, &second), Choice::Tunnel(gw2));
        assert_eq!(selector.chosen(), (Some(id(2)), None));
        // The path to gateway 1 changes: for a moment its only routes are unfeasible. Its flow
        // waits for it instead of moving.
        let mut changing = both(300, 200);
        changing[0].status = babel::RouteStatus::Unfeasible;
        changing[2].status = babel::RouteStatus::Unfeasible;
        selector.update(now, &changing, mesh);
        assert_eq!(selector.gateway_for(now, &first), Choice::Held);
        let later = now + HOLD / 2;
        selector.update(later, &changing, mesh);
        assert_eq!(
            selector.gateway_for(later, &first),
            Choice::Held,
            "still within the hold"
        );
        selector.update(now, &both(400, 200), mesh);
        assert_eq!(selector.gateway_for(now, &first), Choice::Tunnel(gw1));
        // Now gateway 1 is reached through gateway 2, whose own default route hides gateway
        // 1's: gateway 1 is still a gateway while its address is routed.
        let hidden: Vec<babel::RouteInfo> = both(400, 200)
            .into_iter()
            .filter(|r| !(r.prefix.len() == 0 && r.router_id == id(1)))
            .collect();
        selector.update(now, &hidden, mesh);
        assert_eq!(selector.gateway_for(now, &first), Choice::Tunnel(gw1));
        assert_eq!(
            selector.known[0].metric_v6,
            Some(400),
            "the metric to its address"
        );
        // A gateway that stays unusable for longer than the hold loses its flows, even if a
        // stale route keeps it looking alive.
        let mut third = v6_packet(20);
        third[41] = 0x77;
        assert_eq!(selector.gateway_for(now, &third), Choice::Tunnel(gw2));
        let mut stuck = both(100, 300);
        stuck[0].status = babel::RouteStatus::Unfeasible;
        stuck[2].status = babel::RouteStatus::Unfeasible;
        selector.update(now, &stuck, mesh);
        let mut fourth = v6_packet(20);
        fourth[41] = 0x55;
        assert_eq!(
            selector.gateway_for(now, &fourth),
            Choice::Tunnel(gw2),
            "1 is not usable"
        );
        let late = now + HOLD;
        selector.update(late, &stuck, mesh);
        assert_eq!(selector.gateway_for(late, &first), Choice::Tunnel(gw2));
        selector.update(late, &both(100, 200), mesh);
        let mut fifth = v6_packet(20);
        fifth[41] = 0x33;
        assert_eq!(selector.gateway_for(late, &fifth), Choice::Tunnel(gw1));
        // Gateway 1 is gone (retracted): its flow waits for the hold, then moves to 2.
        let mut gone = both(100, 200);
        gone[0].metric = babel::wire::INFINITY;
        gone[2].metric = babel::wire::INFINITY;
        selector.update(late, &gone, mesh);
        assert_eq!(selector.gateway_for(late, &fifth), Choice::Held);
        let after = late + HOLD;
        selector.update(after, &gone, mesh);
        assert_eq!(selector.gateway_for(after, &fifth), Choice::Tunnel(gw2));
        assert_eq!(
            selector.known.len(),
            1,
            "gateway 1 is forgotten after the hold"
        );
        assert_eq!(selector.flows.pinned().get(&id(2)), Some(&5));
        // IPv4 has no gateway at all.
        assert_eq!(selector.gateway_for(now, &v4_packet(20)), Choice::NoGateway);
        // A node that refuses gateways uses none.
        let mut refusing = Selector::new(Use::None);
        refusing.update(now, &both(100, 200), mesh);
        assert_eq!(refusing.gateway_for(now, &first), Choice::NoGateway);
    }

    #[test]
    fn equal_metrics_break_ties_by_router_id() {
        let g = |n: u8| Gateway {
            router_id: id(n),
            mesh_address: Some(Ipv6Addr::LOCALHOST),
            usable: true,
            metric_v6: Some(96),
            metric_v4: None,
            via: None,
        };
        assert_eq!(best(&[g(7), g(3), g(5)], true, Use::Auto), Some(id(3)));
    }
}
