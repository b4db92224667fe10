//! A tiny in-memory network for the core's tests: nodes joined by point-to-point links with a
//! fixed delay, virtual time, no loss. (The many-node simulator with loss lives in `meshsim`.)

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use babel::{Config, Destination, Event, LinkConfig, LinkId, Node, Prefix, RouteChange, RouterId};

#[derive(Debug)]
pub struct Net {
    pub start: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    /// (node, link) -> (peer node, peer link, up)
    pub wires: BTreeMap<(usize, u32), (usize, u32, bool)>,
    pub in_flight: Vec<(Instant, usize, u32, Ipv6Addr, Vec<u8>)>,
    pub fib: Vec<BTreeMap<Prefix, (LinkId, IpAddr)>>,
    pub delay: Duration,
    pub changes: Vec<(usize, RouteChange)>,
    /// (from, to): Update TLVs from `from` to `to` are lost (with the acknowledgment requests
    /// that would vouch for them); everything else arrives.
    pub updates_lost: Vec<(usize, usize)>,
    /// (node, event) of every `Event::RouteLimit` (the other events are drained unread).
    pub limit_events: Vec<(usize, Event)>,
}

pub fn link_local(node: usize, link: u32) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, node as u16 + 1, link as u16)
}

pub fn node_prefix(node: usize) -> Prefix {
    Prefix::new(
        IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            0x6d65,
            0x7368,
            0,
            0,
            0,
            0,
            node as u16 + 1,
        )),
        128,
    )
    .unwrap()
}

pub fn router_id(node: usize) -> RouterId {
    let mut id = [0u8; 8];
    id[6..].copy_from_slice(&(node as u16 + 1).to_be_bytes());
    RouterId(id)
}

/// `packet` with its Update TLVs (type 8) and acknowledgment requests (type 2, so a lost update
/// is not acknowledged) taken out: Hellos, IHUs and requests still arrive.
fn without_updates(packet: &[u8]) -> Vec<u8> {
    if packet.len() < 4 {
        return packet.to_vec();
    }
    let mut out = packet[..4].to_vec();
    let mut at = 4;
    while at < packet.len() {
        if packet[at] == 0 {
            out.push(0);
            at += 1;
            continue;
        }
        let Some(&len) = packet.get(at + 1) else {
            break;
        };
        let end = (at + 2 + usize::from(len)).min(packet.len());
        if packet[at] != 8 && packet[at] != 2 {
            out.extend_from_slice(&packet[at..end]);
        }
        at = end;
    }
    let body = (out.len() - 4) as u16;
    out[2..4].copy_from_slice(&body.to_be_bytes());
    out
}

impl Net {
    pub fn new(n: usize, config: Config) -> Net {
        let start = Instant::now();
        let nodes = (0..n)
            .map(|i| Node::new(config.clone(), router_id(i), i as u64 + 1, start))
            .collect();
        Net {
            start,
            now: start,
            nodes,
            wires: BTreeMap::new(),
            in_flight: Vec::new(),
            fib: vec![BTreeMap::new(); n],
            delay: Duration::from_millis(5),
            changes: Vec::new(),
            updates_lost: Vec::new(),
            limit_events: Vec::new(),
        }
    }

    pub fn announce_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.nodes[i].add_local_prefix(self.now, node_prefix(i));
        }
    }

    pub fn connect(&mut self, a: usize, b: usize) {
        let la = self.wires.keys().filter(|(n, _)| *n == a).count() as u32;
        let lb = self.wires.keys().filter(|(n, _)| *n == b).count() as u32;
        self.wires.insert((a, la), (b, lb, true));
        self.wires.insert((b, lb), (a, la, true));
        let now = self.now;
        self.nodes[a].add_link(now, LinkId(la), link_local(a, la), LinkConfig::default());
        self.nodes[b].add_link(now, LinkId(lb), link_local(b, lb), LinkConfig::default());
    }

    /// Joins a and b with the given nominal costs (each side's rxcost).
    pub fn connect_with_costs(&mut self, a: usize, b: usize, cost_a: u16, cost_b: u16) {
        self.connect(a, b);
        let la = self.wires.keys().filter(|(n, _)| *n == a).count() as u32 - 1;
        let lb = self.wires.keys().filter(|(n, _)| *n == b).count() as u32 - 1;
        self.set_rxcost(a, la, cost_a);
        self.set_rxcost(b, lb, cost_b);
    }

    /// Changes the nominal cost node `node` measures on its link `link`.
    pub fn set_rxcost(&mut self, node: usize, link: u32, rxcost: u16) {
        let now = self.now;
        let config = LinkConfig {
            rxcost,
            ..LinkConfig::default()
        };
        self.nodes[node].add_link(now, LinkId(link), link_local(node, link), config);
    }

    /// The link of `a` that leads to `b`.
    pub fn link_between(&self, a: usize, b: usize) -> Option<u32> {
        self.wires
            .iter()
            .find(|((n, _), (peer, _, _))| *n == a && *peer == b)
            .map(|((_, l), _)| *l)
    }

    /// Drops everything `from` sends to `to`; the other direction keeps working.
    pub fn cut_one_way(&mut self, from: usize, to: usize) {
        for ((n, _), (peer, _, up)) in self.wires.iter_mut() {
            if *n == from && *peer == to {
                *up = false;
            }
        }
    }

    /// Undoes `cut` and `cut_one_way` between a and b.
    pub fn heal(&mut self, a: usize, b: usize) {
        for ((n, _), (peer, _, up)) in self.wires.iter_mut() {
            if (*n == a && *peer == b) || (*n == b && *peer == a) {
                *up = true;
            }
        }
    }

    /// Replaces node `i` by a fresh one (no state) with `router_id`, on the same links with
    /// default costs, as a router restarted with a new identity would be.
    pub fn restart(&mut self, i: usize, router_id: RouterId, seed: u64) {
        let now = self.now;
        let config = self.nodes[i].config().clone();
        self.nodes[i] = Node::new(config, router_id, seed, now);
        let links: Vec<u32> = self
            .wires
            .keys()
            .filter(|(n, _)| *n == i)
            .map(|(_, l)| *l)
            .collect();
        for l in links {
            self.nodes[i].add_link(now, LinkId(l), link_local(i, l), LinkConfig::default());
        }
        self.in_flight.retain(|p| p.1 != i);
        self.fib[i].clear();
    }

    /// Follows FIB next hops for `prefix` from `from` until a node without a FIB entry for it
    /// (an origin, or a node with no route); `None` when the walk comes back to a node already
    /// visited: a forwarding loop. Works for prefixes with several origins.
    pub fn walk_prefix(&self, from: usize, prefix: Prefix) -> Option<Vec<usize>> {
        let mut path = vec![from];
        let mut at = from;
        while let Some((link, _)) = self.fib[at].get(&prefix) {
            let (peer, _, _) = self.wires.get(&(at, link.0))?;
            if path.contains(peer) {
                return None;
            }
            path.push(*peer);
            at = *peer;
        }
        Some(path)
    }

    /// Nodes from which following the FIB for `prefix` loops.
    pub fn looping_from(&self, prefix: Prefix) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.walk_prefix(*i, prefix).is_none())
            .collect()
    }

    /// Runs `duration` in steps of `step`, asserting after each step that following the FIB for
    /// `prefix` loops from no node.
    pub fn run_checking_prefix(&mut self, prefix: Prefix, duration: Duration, step: Duration) {
        let steps = (duration.as_micros() / step.as_micros().max(1)) as u64;
        for _ in 0..steps {
            self.run_for(step);
            let looping = self.looping_from(prefix);
            assert!(
                looping.is_empty(),
                "forwarding loop for {prefix} from {looping:?} at {:?}",
                self.now - self.start
            );
        }
    }

    /// Silently drops everything between a and b (both directions).
    pub fn cut(&mut self, a: usize, b: usize) {
        for ((n, _), (peer, _, up)) in self.wires.iter_mut() {
            if (*n == a && *peer == b) || (*n == b && *peer == a) {
                *up = false;
            }
        }
    }

    fn drain(&mut self, i: usize) {
        while let Some(t) = self.nodes[i].poll_transmit() {
            let Some(&(peer, peer_link, up)) = self.wires.get(&(i, t.link.0)) else {
                continue;
            };
            if !up {
                continue;
            }
            if let Destination::Unicast(addr) = t.destination {
                if addr != link_local(peer, peer_link) {
                    continue;
                }
            }
            let payload = if self.updates_lost.contains(&(i, peer)) {
                without_updates(&t.payload)
            } else {
                t.payload
            };
            self.in_flight.push((
                self.now + self.delay,
                peer,
                peer_link,
                link_local(i, t.link.0),
                payload,
            ));
        }
        while let Some(change) = self.nodes[i].poll_route_change() {
            match &change {
                RouteChange::Add {
                    prefix,
                    next_hop,
                    link,
                    ..
                }
                | RouteChange::Replace {
                    prefix,
                    next_hop,
                    link,
                    ..
                } => {
                    self.fib[i].insert(*prefix, (*link, *next_hop));
                }
                // Held unreachable: dropped, like no route (the harness has no shorter prefixes).
                RouteChange::Unreachable { prefix } | RouteChange::Remove { prefix } => {
                    self.fib[i].remove(prefix);
                }
            }
            self.changes.push((i, change));
        }
        while let Some(event) = self.nodes[i].poll_event() {
            if matches!(event, Event::RouteLimit { .. }) {
                self.limit_events.push((i, event));
            }
        }
    }

    /// Runs until `until` (virtual), one event at a time.
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        for i in 0..self.nodes.len() {
            self.drain(i);
        }
        for _ in 0..10_000_000 {
            let next_packet = self.in_flight.iter().map(|p| p.0).min();
            let next_timer = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, n)| n.poll_timeout().map(|t| (t, i)))
                .min();
            let next = match (next_packet, next_timer) {
                (Some(p), Some((t, _))) => p.min(t),
                (Some(p), None) => p,
                (None, Some((t, _))) => t,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            if next_packet == Some(next) {
                let index = self.in_flight.iter().position(|p| p.0 == next).unwrap();
                let (_, to, link, from, bytes) = self.in_flight.remove(index);
                self.nodes[to].handle_packet(self.now, LinkId(link), from, &bytes);
                self.drain(to);
            } else if let Some((_, i)) = next_timer {
                self.nodes[i].handle_timeout(self.now);
                self.drain(i);
            }
        }
        self.now = until;
    }

    /// Whether following FIB next hops toward `to` from `from` comes back to a node already
    /// visited.
    pub fn loops(&self, from: usize, to: usize) -> bool {
        let prefix = node_prefix(to);
        let mut seen = vec![from];
        let mut at = from;
        while at != to {
            let Some((link, _)) = self.fib[at].get(&prefix) else {
                return false;
            };
            let Some((peer, _, _)) = self.wires.get(&(at, link.0)) else {
                return false;
            };
            if seen.contains(peer) {
                return true;
            }
            seen.push(*peer);
            at = *peer;
        }
        false
    }

    /// Runs `duration` in steps of `step`, asserting after each step that no FIB loops.
    pub fn run_checking_loops(&mut self, duration: Duration, step: Duration) {
        let steps = (duration.as_micros() / step.as_micros().max(1)) as u64;
        for _ in 0..steps {
            self.run_for(step);
            let n = self.nodes.len();
            for from in 0..n {
                for to in 0..n {
                    assert!(!self.loops(from, to), "forwarding loop from {from} to {to}");
                }
            }
        }
    }

    /// The node reached from `from` by following FIB next hops toward `to`'s prefix, with the
    /// path; `None` when a hop has no route or the walk loops.
    pub fn walk(&self, from: usize, to: usize) -> Option<Vec<usize>> {
        let prefix = node_prefix(to);
        let mut path = vec![from];
        let mut at = from;
        while at != to {
            let (link, _) = self.fib[at].get(&prefix)?;
            let (peer, _, _) = self.wires.get(&(at, link.0))?;
            if path.contains(peer) {
                return None;
            }
            path.push(*peer);
            at = *peer;
        }
        Some(path)
    }
}
