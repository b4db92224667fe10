//! The protocol core: one Babel node (RFC 8966 §3), driven by `handle_*` calls with explicit
//! times and drained with `poll_*` calls. It owns the tables of §3.2 (links, neighbours, sources,
//! routes, pending requests) and never touches a socket or a clock.

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::config::{Config, LinkConfig};
use crate::wire::{Prefix, RouterId};

/// A link (RFC 8966 "interface"), numbered by the caller. In meshd each WireGuard session is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u32);

/// Where a transmit goes on its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// `ff02::1:6`, every Babel router on the link.
    Multicast,
    /// One neighbour's link-local address.
    Unicast(Ipv6Addr),
}

/// A Babel packet to send: UDP from our link-local address, port 6696, to `destination`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub link: LinkId,
    pub destination: Destination,
    pub payload: Vec<u8>,
}

/// A change to the forwarding table that the caller must apply (kernel, userspace FIB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChange {
    /// A prefix became reachable.
    Add {
        prefix: Prefix,
        next_hop: IpAddr,
        link: LinkId,
        metric: u16,
    },
    /// A reachable prefix moved to another next hop or changed metric.
    Replace {
        prefix: Prefix,
        next_hop: IpAddr,
        link: LinkId,
        metric: u16,
    },
    /// A prefix is no longer reachable.
    Remove { prefix: Prefix },
}

impl RouteChange {
    /// The prefix this change is about.
    pub fn prefix(&self) -> Prefix {
        match self {
            RouteChange::Add { prefix, .. }
            | RouteChange::Replace { prefix, .. }
            | RouteChange::Remove { prefix } => *prefix,
        }
    }
}

/// Something an operator may want to see as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    NeighbourUp { link: LinkId, address: Ipv6Addr },
    NeighbourDown { link: LinkId, address: Ipv6Addr },
    NeighbourCost { link: LinkId, address: Ipv6Addr, cost: u16 },
    /// A packet from a neighbour was rejected or had parts ignored.
    BadPacket { link: LinkId, address: Ipv6Addr, reason: String },
}

/// A neighbour as seen by introspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourInfo {
    pub link: LinkId,
    pub address: Ipv6Addr,
    /// Hello reception history, most recent in the high bit.
    pub hello_history: u16,
    pub rxcost: u16,
    pub txcost: u16,
    /// Smoothed RTT, if timestamps are in use on the link and a sample arrived.
    pub rtt: Option<Duration>,
    /// The link cost used for routes through this neighbour (`INFINITY` when unusable).
    pub cost: u16,
}

/// Why a route is or is not the selected one for its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteStatus {
    /// Selected and installed.
    Selected,
    /// Feasible, but another route is better (or not enough better to switch: hysteresis).
    Worse,
    /// Fails the feasibility condition: using it could create a loop.
    Unfeasible,
    /// A retraction, or the neighbour's link cost is infinite.
    Unreachable,
    /// Our own prefix: announced, not installed.
    Local,
}

/// A route as seen by introspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub prefix: Prefix,
    pub router_id: RouterId,
    /// `None` for a locally originated prefix.
    pub neighbour: Option<(LinkId, Ipv6Addr)>,
    pub next_hop: Option<IpAddr>,
    pub seqno: u16,
    /// The metric the neighbour advertised.
    pub advertised_metric: u16,
    /// Advertised metric plus link cost.
    pub metric: u16,
    pub status: RouteStatus,
}

/// A source table entry (RFC 8966 §3.2.5): the feasibility distance for (prefix, router-id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    pub prefix: Prefix,
    pub router_id: RouterId,
    pub seqno: u16,
    pub metric: u16,
}

/// Counters of what the node received and dropped; nothing here is ever fatal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub packets_received: u64,
    pub packets_rejected: u64,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub malformed_tlvs: u64,
    pub unknown_tlvs: u64,
    /// Messages dropped because a bounded queue was full.
    pub queue_drops: u64,
    /// Requests ignored by rate limiting or duplicate suppression.
    pub requests_suppressed: u64,
}

/// One Babel node.
#[derive(Debug)]
pub struct Node {
    config: Config,
    router_id: RouterId,
}

impl Node {
    /// A node with no links and no prefixes. `seed` drives all jitter; `now` is the node's epoch.
    pub fn new(config: Config, router_id: RouterId, seed: u64, now: Instant) -> Node {
        let _ = (seed, now);
        Node { config, router_id }
    }

    // ---- getters ----

    pub fn router_id(&self) -> RouterId {
        self.router_id
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Our current seqno, to persist across restarts.
    pub fn seqno(&self) -> u16 {
        todo!()
    }

    /// Restores a persisted seqno (call before adding prefixes).
    pub fn set_seqno(&mut self, seqno: u16) {
        let _ = seqno;
        todo!()
    }

    pub fn stats(&self) -> Stats {
        todo!()
    }

    pub fn neighbours(&self) -> Vec<NeighbourInfo> {
        todo!()
    }

    /// Every route in the table, for every prefix.
    pub fn routes(&self) -> Vec<RouteInfo> {
        todo!()
    }

    /// The selected route for `prefix`, if any.
    pub fn selected_route(&self, prefix: Prefix) -> Option<RouteInfo> {
        let _ = prefix;
        todo!()
    }

    pub fn sources(&self) -> Vec<SourceInfo> {
        todo!()
    }

    /// The source table entry for (prefix, router-id).
    pub fn source(&self, prefix: Prefix, router_id: RouterId) -> Option<SourceInfo> {
        let _ = (prefix, router_id);
        todo!()
    }

    // ---- inputs ----

    /// A link came up; `local` is our link-local address on it.
    pub fn add_link(&mut self, now: Instant, link: LinkId, local: Ipv6Addr, config: LinkConfig) {
        let _ = (now, link, local, config);
        todo!()
    }

    /// A link went away (tunnel dead, interface gone): its neighbours and routes go at once.
    pub fn remove_link(&mut self, now: Instant, link: LinkId) {
        let _ = (now, link);
        todo!()
    }

    /// Announce a locally originated prefix.
    pub fn add_local_prefix(&mut self, now: Instant, prefix: Prefix) {
        let _ = (now, prefix);
        todo!()
    }

    /// Stop announcing a local prefix (a retraction is sent).
    pub fn remove_local_prefix(&mut self, now: Instant, prefix: Prefix) {
        let _ = (now, prefix);
        todo!()
    }

    /// A Babel packet arrived on `link` from the link-local address `from`.
    pub fn handle_packet(&mut self, now: Instant, link: LinkId, from: Ipv6Addr, bytes: &[u8]) {
        let _ = (now, link, from, bytes);
        todo!()
    }

    /// Runs every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
        todo!()
    }

    // ---- outputs ----

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        todo!()
    }

    pub fn poll_route_change(&mut self) -> Option<RouteChange> {
        todo!()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        todo!()
    }

    /// The next instant `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }
}
