//! A tiny distance-vector stand-in for the Babel core, used only by this crate's unit tests to
//! exercise the event loop before (and independently of) the real core. It is not Babel: no
//! feasibility condition, so it may loop transiently; it never reports a selected route, so the
//! feasibility check is skipped for it.
//!
//! Packets: a sequence of (16-byte IPv6 prefix address, 2-byte metric) pairs, all /128, sent to
//! every link every second; routes expire 3.5 s after their last refresh, and 10 hops is infinity.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use babel::{
    Config, Destination, Event, LinkConfig, LinkId, NeighbourInfo, Prefix, RouteChange, RouteInfo,
    RouterId, SourceInfo, Transmit,
};

use crate::rng::SplitMix64;
use crate::router::Router;

const COST: u16 = 96;
const EXPIRY: Duration = Duration::from_millis(3500);
/// RIP-style infinity (10 hops), so that counting to infinity ends quickly in small tests.
const UNREACHABLE: u16 = 10 * COST;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Route {
    metric: u16,
    link: LinkId,
    from: Ipv6Addr,
    refreshed: Instant,
}

#[derive(Debug)]
pub struct FakeNode {
    links: Vec<LinkId>,
    heard: HashMap<LinkId, (Ipv6Addr, Instant)>,
    own: Vec<Prefix>,
    table: HashMap<Prefix, Route>,
    installed: HashMap<Prefix, (LinkId, Ipv6Addr, u16)>,
    transmits: Vec<Transmit>,
    changes: Vec<RouteChange>,
    next_update: Instant,
    rng: SplitMix64,
}

impl FakeNode {
    fn sync_installed(&mut self) {
        let mut removed: Vec<Prefix> = self
            .installed
            .keys()
            .filter(|p| !self.table.contains_key(*p))
            .copied()
            .collect();
        removed.sort();
        for prefix in removed {
            self.installed.remove(&prefix);
            self.changes.push(RouteChange::Remove { prefix });
        }
        let mut prefixes: Vec<Prefix> = self.table.keys().copied().collect();
        prefixes.sort();
        for prefix in prefixes {
            let route = self.table[&prefix];
            let now = (route.link, route.from, route.metric);
            match self.installed.insert(prefix, now) {
                None => self.changes.push(RouteChange::Add {
                    prefix,
                    next_hop: IpAddr::V6(route.from),
                    link: route.link,
                    metric: route.metric,
                }),
                Some(was) if was != now => self.changes.push(RouteChange::Replace {
                    prefix,
                    next_hop: IpAddr::V6(route.from),
                    link: route.link,
                    metric: route.metric,
                }),
                Some(_) => {}
            }
        }
    }
}

impl Router for FakeNode {
    fn create(_config: Config, _router_id: RouterId, seed: u64, now: Instant) -> FakeNode {
        let mut rng = SplitMix64::new(seed);
        let first = Duration::from_millis(rng.range_inclusive(0, 1000));
        FakeNode {
            links: Vec::new(),
            heard: HashMap::new(),
            own: Vec::new(),
            table: HashMap::new(),
            installed: HashMap::new(),
            transmits: Vec::new(),
            changes: Vec::new(),
            next_update: now + first,
            rng,
        }
    }
    fn add_link(&mut self, _now: Instant, link: LinkId, _local: Ipv6Addr, _config: LinkConfig) {
        self.links.push(link);
    }
    fn add_local_prefix(&mut self, _now: Instant, prefix: Prefix) {
        self.own.push(prefix);
    }
    fn handle_packet(&mut self, now: Instant, link: LinkId, from: Ipv6Addr, bytes: &[u8]) {
        self.heard.insert(link, (from, now));
        for chunk in bytes.chunks_exact(18) {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&chunk[..16]);
            let Some(prefix) = Prefix::new(IpAddr::V6(Ipv6Addr::from(octets)), 128) else {
                continue;
            };
            if self.own.contains(&prefix) {
                continue;
            }
            let metric = u16::from_be_bytes([chunk[16], chunk[17]]).saturating_add(COST);
            let offered = Route {
                metric,
                link,
                from,
                refreshed: now,
            };
            if metric >= UNREACHABLE {
                if self.table.get(&prefix).is_some_and(|r| r.link == link) {
                    self.table.remove(&prefix);
                }
                continue;
            }
            match self.table.get(&prefix) {
                Some(current) if current.link == link || metric < current.metric => {
                    self.table.insert(prefix, offered);
                }
                None => {
                    self.table.insert(prefix, offered);
                }
                Some(_) => {}
            }
        }
        self.sync_installed();
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.table
            .retain(|_, r| now.duration_since(r.refreshed) < EXPIRY);
        self.heard
            .retain(|_, (_, at)| now.duration_since(*at) < EXPIRY);
        self.sync_installed();
        if now >= self.next_update {
            for &link in &self.links {
                let mut payload = Vec::new();
                for prefix in &self.own {
                    if let IpAddr::V6(a) = prefix.addr() {
                        payload.extend_from_slice(&a.octets());
                        payload.extend_from_slice(&0u16.to_be_bytes());
                    }
                }
                let mut entries: Vec<(&Prefix, &Route)> = self.table.iter().collect();
                entries.sort_by_key(|(p, _)| **p);
                for (prefix, route) in entries {
                    if route.link == link {
                        continue;
                    }
                    if let IpAddr::V6(a) = prefix.addr() {
                        payload.extend_from_slice(&a.octets());
                        payload.extend_from_slice(&route.metric.to_be_bytes());
                    }
                }
                self.transmits.push(Transmit {
                    link,
                    destination: Destination::Multicast,
                    payload,
                });
            }
            self.next_update = now + Duration::from_millis(900 + self.rng.range_inclusive(0, 200));
        }
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop()
    }
    fn poll_route_change(&mut self) -> Option<RouteChange> {
        if self.changes.is_empty() {
            None
        } else {
            Some(self.changes.remove(0))
        }
    }
    fn poll_event(&mut self) -> Option<Event> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        let expiry = self
            .table
            .values()
            .map(|r| r.refreshed + EXPIRY)
            .chain(self.heard.values().map(|(_, at)| *at + EXPIRY))
            .min();
        Some(expiry.map_or(self.next_update, |e| e.min(self.next_update)))
    }
    fn selected_route(&self, _prefix: Prefix) -> Option<RouteInfo> {
        None
    }
    fn source(&self, _prefix: Prefix, _router_id: RouterId) -> Option<SourceInfo> {
        None
    }
    fn neighbours(&self) -> Vec<NeighbourInfo> {
        let mut out: Vec<NeighbourInfo> = self
            .heard
            .iter()
            .map(|(&link, &(address, _))| NeighbourInfo {
                link,
                address,
                hello_history: 0xFFFF,
                rxcost: COST,
                txcost: COST,
                rtt: None,
                cost: COST,
            })
            .collect();
        out.sort_by_key(|n| n.link);
        out
    }
}
