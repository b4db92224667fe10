//! The protocol core: one Babel node (RFC 8966 §3), driven by `handle_*` calls with explicit
//! times and drained with `poll_*` calls. It owns the tables of §3.2 (links, neighbours, sources,
//! routes, pending requests) and never touches a socket or a clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::config::{Config, LinkConfig};
use crate::filter::{ImportFilter, Refusal};
use crate::hash::FastMap;
use crate::interface::{Link, Unacked};
use crate::neighbour::{Neighbour, NeighbourId, Probe, PROBE_ATTEMPTS, PROBE_TIMEOUT};
use crate::resend::{Requests, REQUEST_ATTEMPTS, REQUEST_RESEND};
use crate::rng::Rng;
use crate::route::{
    select, total_metric, Announcement, Candidate, PrefixEntry, Route, HOLD_TIME, RETRACTED_HOLD,
};
use crate::source::SourceTable;
use crate::wire::{
    parse_packet, seqno_newer, Encoder, IhuTimestamps, Message, Prefix, RouterId, INFINITY,
};

// Import filtering's side of the node (`node/import.rs`): setting a filter and re-judging.
mod import;

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
    /// A prefix we routed is lost. Until an `Add` brings it back or a `Remove` ends the hold
    /// ([`HOLD_TIME`] later), its packets must be dropped as unreachable, never forwarded along
    /// a route for a shorter prefix (RFC 8966 §3.5.4): a neighbour may still be routing them
    /// to us, and a shorter prefix could send them back.
    Unreachable { prefix: Prefix },
    /// A prefix is forgotten: nothing is installed for it any more.
    Remove { prefix: Prefix },
}

impl RouteChange {
    /// The prefix this change is about.
    pub fn prefix(&self) -> Prefix {
        match self {
            RouteChange::Add { prefix, .. }
            | RouteChange::Replace { prefix, .. }
            | RouteChange::Unreachable { prefix }
            | RouteChange::Remove { prefix } => *prefix,
        }
    }
}

/// Something an operator may want to see as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    NeighbourUp {
        link: LinkId,
        address: Ipv6Addr,
    },
    NeighbourDown {
        link: LinkId,
        address: Ipv6Addr,
    },
    NeighbourCost {
        link: LinkId,
        address: Ipv6Addr,
        cost: u16,
    },
    /// A packet from a neighbour was rejected or had parts ignored.
    BadPacket {
        link: LinkId,
        address: Ipv6Addr,
        reason: String,
    },
    /// The import filter refuses a route that was not refused before (`filter.rs`).
    RouteRefused {
        link: LinkId,
        address: Ipv6Addr,
        prefix: Prefix,
        router_id: RouterId,
        refusal: Refusal,
    },
    /// A route limit ([`crate::Limits`]) refused a new route from this neighbour; sent once
    /// until one of its new routes is accepted again (the count is in
    /// [`NeighbourInfo::routes_over_limit`] and [`Stats::routes_over_limit`]).
    RouteLimit {
        link: LinkId,
        address: Ipv6Addr,
        limit: LimitKind,
    },
}

/// Which bound of [`crate::Limits`] was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    RoutesPerNeighbour,
    Routes,
    Sources,
}

impl LimitKind {
    /// The name of the limit as the configuration spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::RoutesPerNeighbour => "max_routes_per_neighbour",
            LimitKind::Routes => "max_routes",
            LimitKind::Sources => "max_sources",
        }
    }
}

/// A neighbour as seen by introspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourInfo {
    pub link: LinkId,
    pub address: Ipv6Addr,
    /// Hello reception history, most recent in the high bit.
    pub hello_history: u16,
    /// How many of those 16 bits are meaningful (a new neighbour has fewer).
    pub hello_known: u8,
    pub rxcost: u16,
    pub txcost: u16,
    /// Smoothed RTT, if timestamps are in use on the link and a sample arrived.
    pub rtt: Option<Duration>,
    /// The link cost used for routes through this neighbour (`INFINITY` when unusable).
    pub cost: u16,
    /// How many of its routes the import filter refuses now.
    pub refused_routes: u32,
    /// How many routes it holds in our table, and how many updates for new routes a route
    /// limit refused.
    pub routes: u32,
    pub routes_over_limit: u32,
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
    /// Refused by the import filter: kept for feasibility and retractions, never used.
    Refused(Refusal),
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
    /// Update TLVs sent (periodic, triggered and urgent).
    pub updates_sent: u64,
    /// Packets of urgent updates sent with an acknowledgment request (resends included).
    pub urgent_packets_sent: u64,
    /// Seqno requests we originated (resends included) and ones we forwarded.
    pub seqno_requests_sent: u64,
    pub seqno_requests_forwarded: u64,
    /// Times our own seqno moved because a neighbour asked or echoed a newer one.
    pub seqno_increases: u64,
    /// Routes the import filter came to refuse (each time one that was usable, or new, is).
    pub routes_refused: u64,
    /// Updates for new routes refused because a route limit was reached, and routes left
    /// unselected because the source table was full.
    pub routes_over_limit: u64,
    pub sources_over_limit: u64,
    /// Passes over the whole route table made for one neighbour (its cost changed, it
    /// retracted everything, it went away): the work a neighbour's packets can cost.
    pub table_scans: u64,
    /// Seqno requests answered on the requester's link only, without urgency, because the
    /// same prefix was answered urgently there within `ANSWER_HOLD`, and requests for our own
    /// prefixes that did not step our seqno because it stepped within `SEQNO_STEP_HOLD`.
    pub answers_coalesced: u64,
}

impl Stats {
    /// Adds another node's counters to these (for totals over many nodes).
    pub fn add(&mut self, other: &Stats) {
        self.packets_received += other.packets_received;
        self.packets_rejected += other.packets_rejected;
        self.packets_sent += other.packets_sent;
        self.bytes_sent += other.bytes_sent;
        self.malformed_tlvs += other.malformed_tlvs;
        self.unknown_tlvs += other.unknown_tlvs;
        self.queue_drops += other.queue_drops;
        self.requests_suppressed += other.requests_suppressed;
        self.updates_sent += other.updates_sent;
        self.urgent_packets_sent += other.urgent_packets_sent;
        self.seqno_requests_sent += other.seqno_requests_sent;
        self.seqno_requests_forwarded += other.seqno_requests_forwarded;
        self.seqno_increases += other.seqno_increases;
        self.routes_refused += other.routes_refused;
        self.routes_over_limit += other.routes_over_limit;
        self.sources_over_limit += other.sources_over_limit;
        self.table_scans += other.table_scans;
        self.answers_coalesced += other.answers_coalesced;
    }
}

/// How often pending switches and starving prefixes are looked at again.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);
/// Routes are expired and tables garbage-collected every this many housekeeping ticks: route
/// lifetimes are tens of seconds, so a few seconds of lateness costs nothing, and the scan
/// touches every route.
const EXPIRY_EVERY_TICKS: u32 = 4;
/// Triggered updates wait this long (plus jitter of the same size) so that a burst of changes
/// leaves in one packet: this is the per-link rate limit.
const FLUSH_DELAY: Duration = Duration::from_millis(10);
/// How long we wait for the Ack of an urgent update before sending it again.
const URGENT_ACK_TIMEOUT: Duration = Duration::from_millis(600);
const URGENT_ATTEMPTS: u8 = 3;
/// A neighbour we have not heard from in this long is forgotten.
const NEIGHBOUR_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on neighbours per link; packets from further addresses are dropped.
const MAX_NEIGHBOURS_PER_LINK: usize = 256;
/// How long a new neighbour that timestamps its Hellos may stay unusable while we wait for the
/// first RTT sample (one exchange of Hellos normally gives it within a round trip).
const RTT_WAIT: Duration = Duration::from_secs(5);
/// A neighbour's cost changing from one finite value to another is applied at most once in this
/// long (the change waits for the next check after it): each application re-runs selection for
/// every prefix through the neighbour, and a neighbour whose IHUs change the cost on every
/// packet must not make the node scan its table per packet. Changes to or from infinity (the
/// link coming up or going down) are applied at once.
const COST_HOLD: Duration = Duration::from_secs(1);
/// Our seqno steps at most once in this long in answer to seqno requests (RFC 8966 §3.8.1.2
/// bounds each step to one; this bounds how often): a neighbour flooding requests cannot make
/// every link carry an urgent update per request. A requester still starving asks again later
/// (requests are resent) and gets its step then.
const SEQNO_STEP_HOLD: Duration = Duration::from_secs(1);
/// A seqno request satisfied by what we hold is answered with an urgent (acknowledged) update
/// at most once in this long per link and prefix; more requests within it get a plain
/// triggered update on that link (coalesced with any pending one).
const ANSWER_HOLD: Duration = Duration::from_secs(1);
/// Bound on the event queue; the oldest events are dropped when the caller does not drain it.
const MAX_EVENTS: usize = 1024;
/// A change of our advertised metric by at least this much is sent at once; smaller changes
/// wait for the next periodic update.
const TRIGGER_THRESHOLD: u16 = 32;
/// Upper bound on the Babel-level size of one Update with its Router-Id TLV, used to pack urgent
/// updates into packets that each carry their own acknowledgment request.
const MAX_UPDATE_LEN: usize = 48;

/// Keeps the route counts of [`Limits`](crate::Limits) exact: one route from `id` added to the
/// table (`added`) or removed from it.
fn count_route(
    neighbours: &mut [Option<Neighbour>],
    total: &mut usize,
    id: NeighbourId,
    added: bool,
) {
    let neighbour = neighbours.get_mut(id.0 as usize).and_then(|n| n.as_mut());
    if added {
        *total += 1;
        if let Some(n) = neighbour {
            n.routes += 1;
        }
    } else {
        *total = total.saturating_sub(1);
        if let Some(n) = neighbour {
            n.routes = n.routes.saturating_sub(1);
        }
    }
}

/// A route's metric through its neighbour's current cost (infinite when the neighbour is gone).
fn route_metric(neighbours: &[Option<Neighbour>], route: &Route) -> u16 {
    let cost = neighbours
        .get(route.neighbour.0 as usize)
        .and_then(|n| n.as_ref())
        .map_or(INFINITY, |n| n.reported_cost);
    total_metric(route.advertised_metric, cost)
}

/// A selected route this close to expiring is asked for (§3.8.2.3): more than the expiry scan's
/// period, so the request goes out before the route expires.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(10);
/// The longest wait between two rounds of seqno requests for a starving prefix.
const STARVATION_BACKOFF_MAX: Duration = Duration::from_secs(32);
/// An Update's Interval of 0xFFFF: the sender will send no further update for the prefix.
const UPDATE_INTERVAL_INFINITE: u16 = 0xFFFF;
/// How long "no expiry" lasts: longer than any node runs.
const NO_EXPIRY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn centis(duration: Duration) -> u16 {
    (duration.as_millis() / 10).min(u128::from(u16::MAX)) as u16
}

fn from_centis(centis: u16) -> Duration {
    Duration::from_millis(u64::from(centis) * 10)
}

/// One Babel node.
#[derive(Debug)]
pub struct Node {
    config: Config,
    router_id: RouterId,
    seqno: u16,
    epoch: Instant,
    rng: Rng,
    links: BTreeMap<LinkId, Link>,
    neighbours: Vec<Option<Neighbour>>,
    neighbour_index: FastMap<(LinkId, Ipv6Addr), NeighbourId>,
    routes: FastMap<Prefix, PrefixEntry>,
    /// Routes in `routes`, all neighbours together (for [`crate::Limits::routes`]).
    route_count: usize,
    /// When our seqno last stepped for a request (`SEQNO_STEP_HOLD`).
    seqno_stepped_at: Option<Instant>,
    /// (link, prefix) -> when a seqno request for it was last answered urgently there
    /// (`ANSWER_HOLD`); entries older than that are dropped at housekeeping.
    urgent_answers: FastMap<(LinkId, Prefix), Instant>,
    sources: SourceTable,
    local_prefixes: BTreeSet<Prefix>,
    requests: Requests,
    /// Prefixes with a slightly better route waiting out `switch_delay`.
    switch_watch: BTreeSet<Prefix>,
    /// Prefixes with routes but none feasible: we keep asking for a new seqno until one comes,
    /// since a request can be lost on a path that is itself still repairing, at growing
    /// intervals: when the next round of requests is due, and the interval after it.
    starving: BTreeMap<Prefix, (Instant, Duration)>,
    next_housekeeping: Instant,
    housekeeping_ticks: u32,
    /// When our whole table next goes out on every link (RFC 8966 §3.7.1).
    next_full_update: Instant,
    transmits: VecDeque<Transmit>,
    route_changes: VecDeque<RouteChange>,
    events: VecDeque<Event>,
    stats: Stats,
    import_filter: ImportFilter,
}

impl Node {
    /// A node with no links and no prefixes. `seed` drives all jitter and the initial seqno;
    /// `now` is the node's epoch for timestamps.
    pub fn new(config: Config, router_id: RouterId, seed: u64, now: Instant) -> Node {
        let mut rng = Rng::new(seed);
        // The first periodic dump comes a few seconds in: by then a starting node has learnt
        // most of its neighbourhood, and it repairs whatever early triggered update was lost.
        let first = (config.update_interval / 4).min(Duration::from_secs(3));
        let first_dump = now + first + Duration::from_micros(rng.below(first.as_micros() as u64));
        let seqno = rng.next_u16();
        let sources = config.limits.sources;
        Node {
            config,
            router_id,
            seqno,
            epoch: now,
            rng,
            links: BTreeMap::new(),
            neighbours: Vec::new(),
            neighbour_index: FastMap::default(),
            routes: FastMap::default(),
            sources: SourceTable::new(sources),
            route_count: 0,
            seqno_stepped_at: None,
            urgent_answers: FastMap::default(),
            local_prefixes: BTreeSet::new(),
            requests: Requests::default(),
            switch_watch: BTreeSet::new(),
            starving: BTreeMap::new(),
            next_housekeeping: now + HOUSEKEEPING_INTERVAL,
            housekeeping_ticks: 0,
            next_full_update: first_dump,
            transmits: VecDeque::new(),
            route_changes: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            import_filter: ImportFilter::default(),
        }
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
        self.seqno
    }

    /// Restores a persisted seqno. A restarted node that restores its seqno is believed by its
    /// neighbours at once instead of waiting for their sources to expire.
    pub fn set_seqno(&mut self, seqno: u16) {
        self.seqno = seqno;
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn neighbours(&self) -> Vec<NeighbourInfo> {
        let refused = self.refused_per_neighbour();
        self.neighbours
            .iter()
            .flatten()
            .filter_map(|n| {
                let link = self.links.get(&n.link)?;
                Some(NeighbourInfo {
                    link: n.link,
                    address: n.address,
                    hello_history: n.history.bits,
                    hello_known: n.history.known,
                    rxcost: n.rxcost(&link.config),
                    txcost: n.txcost,
                    rtt: n.rtt,
                    cost: n.cost(&link.config),
                    refused_routes: self
                        .neighbour_index
                        .get(&(n.link, n.address))
                        .and_then(|id| refused.get(id))
                        .copied()
                        .unwrap_or(0),
                    routes: u32::try_from(n.routes).unwrap_or(u32::MAX),
                    routes_over_limit: n.routes_over_limit,
                })
            })
            .collect()
    }

    /// Every route in the table, for every prefix, with why it is or is not selected.
    pub fn routes(&self) -> Vec<RouteInfo> {
        let mut out = Vec::new();
        for prefix in &self.local_prefixes {
            out.push(RouteInfo {
                prefix: *prefix,
                router_id: self.router_id,
                neighbour: None,
                next_hop: None,
                seqno: self.seqno,
                advertised_metric: 0,
                metric: 0,
                status: RouteStatus::Local,
            });
        }
        for (prefix, entry) in &self.routes {
            for route in &entry.routes {
                out.push(self.route_info(*prefix, entry, route));
            }
        }
        out.sort_by_key(|r| (r.prefix, r.metric));
        out
    }

    /// The selected route for `prefix`, if any.
    pub fn selected_route(&self, prefix: Prefix) -> Option<RouteInfo> {
        let entry = self.routes.get(&prefix)?;
        let route = entry.selected_route()?;
        Some(self.route_info(prefix, entry, route))
    }

    pub fn sources(&self) -> Vec<SourceInfo> {
        let mut out: Vec<SourceInfo> = self
            .sources
            .iter()
            .map(|((prefix, router_id), s)| SourceInfo {
                prefix: *prefix,
                router_id: *router_id,
                seqno: s.seqno,
                metric: s.metric,
            })
            .collect();
        out.sort_by_key(|s| (s.prefix, s.router_id));
        out
    }

    /// The source table entry for (prefix, router-id).
    pub fn source(&self, prefix: Prefix, router_id: RouterId) -> Option<SourceInfo> {
        self.sources.get(prefix, router_id).map(|s| SourceInfo {
            prefix,
            router_id,
            seqno: s.seqno,
            metric: s.metric,
        })
    }

    fn route_info(&self, prefix: Prefix, entry: &PrefixEntry, route: &Route) -> RouteInfo {
        let neighbour = self.neighbour(route.neighbour);
        let cost = self.neighbour_cost(route.neighbour);
        let metric = total_metric(route.advertised_metric, cost);
        let status = if let Some(refusal) = route.refused {
            RouteStatus::Refused(refusal)
        } else if entry.selected == Some(route.neighbour) {
            RouteStatus::Selected
        } else if metric == INFINITY {
            RouteStatus::Unreachable
        } else if !self.sources.is_feasible(
            prefix,
            route.router_id,
            route.seqno,
            route.advertised_metric,
        ) {
            RouteStatus::Unfeasible
        } else {
            RouteStatus::Worse
        };
        RouteInfo {
            prefix,
            router_id: route.router_id,
            neighbour: neighbour.map(|n| (n.link, n.address)),
            next_hop: Some(route.next_hop),
            seqno: route.seqno,
            advertised_metric: route.advertised_metric,
            metric,
            status,
        }
    }

    fn neighbour(&self, id: NeighbourId) -> Option<&Neighbour> {
        self.neighbours.get(id.0 as usize).and_then(|n| n.as_ref())
    }

    fn neighbour_mut(&mut self, id: NeighbourId) -> Option<&mut Neighbour> {
        self.neighbours
            .get_mut(id.0 as usize)
            .and_then(|n| n.as_mut())
    }

    fn neighbour_cost(&self, id: NeighbourId) -> u16 {
        match self.neighbour(id) {
            Some(n) => n.reported_cost,
            None => INFINITY,
        }
    }

    /// The seqno to ask a source for so that its routes become feasible again: one past our
    /// feasibility distance's, or past `seen` if we have no source entry.
    fn wanted_seqno(&self, prefix: Prefix, router_id: RouterId, seen: u16) -> u16 {
        self.sources
            .get(prefix, router_id)
            .map_or(seen, |s| s.seqno)
            .wrapping_add(1)
    }

    /// The Interval our Updates carry: "an upper bound ... on the time after which the sending
    /// node will send a new update" (RFC 8966 §4.6.9), which neighbours expire our routes by.
    /// Periodic dumps are jittered up to an eighth past the configured interval, so that is the
    /// bound.
    fn advertised_update_interval(&self) -> Duration {
        self.config.update_interval + self.config.update_interval / 8
    }

    fn timestamp(&self, now: Instant) -> u32 {
        // Microseconds modulo 2^32, as RFC 9616 timestamps are.
        now.saturating_duration_since(self.epoch).as_micros() as u32
    }

    fn jitter(&mut self, max: Duration) -> Duration {
        let micros = max.as_micros().min(u128::from(u64::MAX)) as u64;
        Duration::from_micros(self.rng.below(micros.saturating_add(1)))
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    // ---- inputs: links and prefixes ----

    /// A link came up; `local` is our link-local address on it. Re-adding an existing link
    /// replaces its settings.
    pub fn add_link(&mut self, now: Instant, link: LinkId, local: Ipv6Addr, config: LinkConfig) {
        if let Some(existing) = self.links.get_mut(&link) {
            existing.local = local;
            existing.config = config;
            return;
        }
        let mut state = Link::new(local, config, now);
        state.hello_seqno = self.rng.next_u16();
        // First Hello soon (not at once, so that many links coming up together spread out), and
        // ask whoever is there for a full table.
        state.next_hello = now + self.jitter(Duration::from_millis(100));
        state.pending_control.push((
            Destination::Multicast,
            Message::RouteRequest { prefix: None },
        ));
        state.schedule_flush(now + FLUSH_DELAY);
        self.links.insert(link, state);
    }

    /// A link went away (tunnel dead, interface gone): its neighbours and their routes go at
    /// once, without waiting for Hellos to time out.
    pub fn remove_link(&mut self, now: Instant, link: LinkId) {
        let gone: Vec<NeighbourId> = self
            .neighbour_index
            .iter()
            .filter(|((l, _), _)| *l == link)
            .map(|(_, id)| *id)
            .collect();
        for id in gone {
            self.remove_neighbour(now, id);
        }
        self.links.remove(&link);
    }

    /// The driver has been sending data over `link` and heard nothing back for a while: ask the
    /// neighbours there at once (AckReqs, as for an overdue Hello) instead of waiting for a Hello
    /// to be overdue, so a peer that died under traffic is dropped in about a second and a half
    /// whatever the Hello interval. Neighbours that do not answer AckReqs, that are being probed
    /// already or that are presumed dead are left as they are; a live neighbour's Ack ends it.
    pub fn suspect_link(&mut self, now: Instant, link: LinkId) {
        for n in self.neighbours.iter_mut().flatten() {
            if n.link == link
                && n.has_hellos()
                && n.answers_probes
                && n.probe.is_none()
                && !n.presumed_dead
            {
                n.probe = Some(Probe {
                    nonce: 0,
                    attempts: 0,
                    deadline: now,
                });
            }
        }
    }

    /// Announces a locally originated prefix.
    pub fn add_local_prefix(&mut self, now: Instant, prefix: Prefix) {
        if !self.local_prefixes.insert(prefix) {
            return;
        }
        // A local prefix overrides anything learnt for it.
        if let Some(entry) = self.routes.get_mut(&prefix) {
            entry.selected = None;
            let installed = entry.installed.take().is_some();
            let held = entry.held_until.take().is_some();
            if installed || held {
                self.route_changes.push_back(RouteChange::Remove { prefix });
            }
        }
        self.trigger_update(now, prefix, false);
    }

    /// Stops announcing a local prefix: a retraction is sent, and a route learnt from others
    /// may take its place.
    pub fn remove_local_prefix(&mut self, now: Instant, prefix: Prefix) {
        if !self.local_prefixes.remove(&prefix) {
            return;
        }
        let entry = self.routes.entry(prefix).or_default();
        entry.announced = Some(Announcement {
            router_id: self.router_id,
            seqno: self.seqno,
            metric: 0,
        });
        // While we originated the prefix, updates for it were not applied (`handle_update`),
        // so what the table holds for it is what our neighbours said before we started: a
        // neighbour that has since taken our route is silent towards us (split horizon,
        // §3.7.4), and selecting its frozen route now would send our packets to a node that
        // forwards them back. Forget those routes and ask every neighbour for its current
        // route: "if such a route exists, it MUST send an update ...; if such a route does not
        // exist, it MUST send a retraction" (RFC 8966 §3.8.1.1). A neighbour still routing
        // through us answers with our own router-id, which we never select.
        for route in entry.routes.drain(..) {
            count_route(
                &mut self.neighbours,
                &mut self.route_count,
                route.neighbour,
                false,
            );
        }
        entry.selected = None;
        // Every neighbour heard our announcement, the one we routed through before we began
        // originating included: the retraction goes to all of them (split horizon has nothing
        // to spare here).
        entry.last_link = None;
        let links: Vec<LinkId> = self.links.keys().copied().collect();
        for link in links {
            self.queue_control(
                now,
                link,
                Destination::Multicast,
                Message::RouteRequest {
                    prefix: Some(prefix),
                },
            );
        }
        self.reselect(now, prefix);
        // RFC 8966 §3.5.4: "Packets destined to an address within P MUST NOT be forwarded by
        // following a route for a shorter prefix" once P is lost, for the hold time. Our own
        // prefix is lost too when no neighbour's route takes its place: neighbours still routing
        // it through us would otherwise have its packets follow our route for a shorter prefix
        // (`::/0`) back to them. (meshd adds the `unreachable` route exclusively, and replaces
        // only a route of its own protocol: a connected route of the prefix stays.)
        if let Some(entry) = self.routes.get_mut(&prefix) {
            if entry.installed.is_none() {
                entry.held_until = Some(now + HOLD_TIME);
                self.route_changes
                    .push_back(RouteChange::Unreachable { prefix });
            }
        }
        self.trigger_update(now, prefix, true);
    }

    // ---- inputs: packets ----

    /// A Babel packet arrived on `link` from the link-local address `from`. Nothing a neighbour
    /// sends can make this fail: bad packets are counted, reported as events and dropped.
    pub fn handle_packet(&mut self, now: Instant, link: LinkId, from: Ipv6Addr, bytes: &[u8]) {
        if !self.links.contains_key(&link) {
            return;
        }
        self.stats.packets_received += 1;
        let parsed = match parse_packet(bytes, IpAddr::V6(from)) {
            Ok(parsed) => parsed,
            Err(error) => {
                self.stats.packets_rejected += 1;
                self.push_event(Event::BadPacket {
                    link,
                    address: from,
                    reason: error.to_string(),
                });
                return;
            }
        };
        self.stats.malformed_tlvs += u64::from(parsed.stats.malformed_tlvs);
        self.stats.unknown_tlvs += u64::from(parsed.stats.unknown_tlvs);
        if parsed.stats.malformed_tlvs > 0 {
            self.push_event(Event::BadPacket {
                link,
                address: from,
                reason: format!("{} malformed TLVs ignored", parsed.stats.malformed_tlvs),
            });
        }
        let Some(id) = self.find_or_create_neighbour(now, link, from) else {
            self.stats.packets_rejected += 1;
            return;
        };
        if let Some(n) = self.neighbour_mut(id) {
            n.last_heard = now;
            // Any packet proves the neighbour is alive: stop probing.
            n.probe = None;
        }
        // The Hello's timestamp in this packet pairs with the IHU's (RFC 9616 §3.2).
        let hello_timestamp = parsed.messages.iter().find_map(|m| match m {
            Message::Hello {
                unicast: false,
                timestamp,
                ..
            } => *timestamp,
            _ => None,
        });
        for message in parsed.messages {
            self.handle_message(now, link, id, message, hello_timestamp);
        }
        self.check_cost(now, id);
    }

    fn find_or_create_neighbour(
        &mut self,
        now: Instant,
        link: LinkId,
        address: Ipv6Addr,
    ) -> Option<NeighbourId> {
        if let Some(id) = self.neighbour_index.get(&(link, address)) {
            return Some(*id);
        }
        let on_link = self
            .neighbour_index
            .keys()
            .filter(|(l, _)| *l == link)
            .count();
        if on_link >= MAX_NEIGHBOURS_PER_LINK {
            return None;
        }
        let neighbour = Neighbour::new(link, address, now);
        let id = match self.neighbours.iter().position(|n| n.is_none()) {
            Some(slot) => {
                self.neighbours[slot] = Some(neighbour);
                NeighbourId(slot as u32)
            }
            None => {
                self.neighbours.push(Some(neighbour));
                NeighbourId((self.neighbours.len() - 1) as u32)
            }
        };
        self.neighbour_index.insert((link, address), id);
        Some(id)
    }

    fn handle_message(
        &mut self,
        now: Instant,
        link: LinkId,
        id: NeighbourId,
        message: Message,
        hello_timestamp: Option<u32>,
    ) {
        match message {
            Message::AckRequest { nonce, .. } => {
                let Some(address) = self.neighbour(id).map(|n| n.address) else {
                    return;
                };
                self.queue_control(
                    now,
                    link,
                    Destination::Unicast(address),
                    Message::Ack { nonce },
                );
            }
            Message::Ack { nonce } => self.handle_ack(link, id, nonce),
            Message::Hello {
                unicast,
                seqno,
                interval,
                timestamp,
            } => self.handle_hello(now, link, id, unicast, seqno, interval, timestamp),
            Message::Ihu {
                address,
                rxcost,
                interval,
                timestamps,
            } => self.handle_ihu(
                now,
                link,
                id,
                address,
                rxcost,
                interval,
                timestamps,
                hello_timestamp,
            ),
            Message::Update {
                prefix,
                router_id,
                next_hop,
                seqno,
                interval,
                metric,
            } => {
                let Some(next_hop) = next_hop else { return };
                self.handle_update(
                    now, id, prefix, router_id, next_hop, seqno, interval, metric,
                );
            }
            Message::RetractAll { .. } => {
                // Nothing held from it, or all retracted already and nothing announced since:
                // nothing to retract, and no table scan to spend.
                let Some(n) = self.neighbour_mut(id) else {
                    return;
                };
                if n.routes == 0 || n.all_retracted {
                    return;
                }
                n.all_retracted = true;
                self.stats.table_scans += 1;
                let prefixes: Vec<Prefix> = self
                    .routes
                    .iter()
                    .filter(|(_, e)| e.route(id).is_some())
                    .map(|(p, _)| *p)
                    .collect();
                for prefix in prefixes {
                    if let Some(route) = self.routes.get_mut(&prefix).and_then(|e| e.route_mut(id))
                    {
                        route.advertised_metric = INFINITY;
                    }
                    self.reselect(now, prefix);
                }
            }
            Message::RouteRequest { prefix } => self.handle_route_request(now, link, prefix),
            Message::SeqnoRequest {
                prefix,
                seqno,
                hop_count,
                router_id,
            } => self.handle_seqno_request(now, id, prefix, seqno, hop_count, router_id),
        }
    }

    fn handle_ack(&mut self, link: LinkId, id: NeighbourId, nonce: u16) {
        if let Some(n) = self.neighbour_mut(id) {
            if n.probe.is_some_and(|p| p.nonce == nonce) || !n.answers_probes {
                n.answers_probes = true;
            }
        }
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        let Some(at) = l.unacked.iter().position(|u| u.nonce == nonce) else {
            return;
        };
        let acked = l.unacked.remove(at);
        // The neighbour now holds what we last said on this link for these prefixes: no
        // retraction is owed there any more.
        for prefix in acked.prefixes {
            if let Some(entry) = self.routes.get_mut(&prefix) {
                if entry.retract_until.is_some_and(|(l, _)| l == link) {
                    entry.retract_until = None;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_hello(
        &mut self,
        now: Instant,
        link: LinkId,
        id: NeighbourId,
        unicast: bool,
        seqno: u16,
        interval: u16,
        timestamp: Option<u32>,
    ) {
        let our_time = self.timestamp(now);
        let rtt_enabled = self
            .links
            .get(&link)
            .is_some_and(|l| l.config.rtt.is_some());
        let Some(n) = self.neighbour_mut(id) else {
            return;
        };
        if rtt_enabled {
            if let Some(ts) = timestamp {
                n.last_hello_timestamp = Some((ts, our_time));
                if n.rtt.is_none() && n.rtt_deadline.is_none() && !n.has_hellos() {
                    n.rtt_deadline = Some(now + RTT_WAIT);
                }
            }
        }
        if unicast {
            // Unicast Hellos have a seqno counter of their own, so a history of their own,
            // which link sensing uses too (RFC 8966 Appendix A.1); they prove liveness.
            n.receive_unicast_hello(now, seqno, from_centis(interval));
            if n.has_hellos() {
                n.presumed_dead = false;
                n.probe = None;
            }
            return;
        }
        if interval == 0 {
            n.receive_unscheduled_hello(seqno);
            return;
        }
        let first = !n.has_hellos();
        let continued = n.receive_hello(now, seqno, from_centis(interval));
        if first {
            self.greet(now, link, id);
        } else if !continued {
            self.neighbour_restarted(now, link, id);
        }
    }

    /// A neighbour's Hello seqno jumped (RFC 8966 Appendix A.1: it "has probably rebooted"):
    /// what its earlier instance announced may no longer hold, and a route it no longer has
    /// would otherwise stay until it expires (3.5 update intervals). Its routes are dropped at
    /// once (their prefixes are held unreachable if nothing else reaches them) and the tables are
    /// exchanged as with a new neighbour; what it still has comes back in its answer.
    fn neighbour_restarted(&mut self, now: Instant, link: LinkId, id: NeighbourId) {
        // A pass over the whole table, only for a neighbour we hold routes from.
        let holds_routes = self.neighbour(id).is_some_and(|n| n.routes > 0);
        if holds_routes {
            self.stats.table_scans += 1;
        }
        let prefixes: Vec<Prefix> = if holds_routes {
            self.routes
                .iter()
                .filter(|(_, e)| e.route(id).is_some())
                .map(|(p, _)| *p)
                .collect()
        } else {
            Vec::new()
        };
        for prefix in prefixes {
            if let Some(route) = self.routes.get_mut(&prefix).and_then(|e| e.route_mut(id)) {
                route.advertised_metric = INFINITY;
            }
            self.reselect(now, prefix);
        }
        self.greet(now, link, id);
    }

    /// A new neighbour said Hello: answer with our own Hello and IHU at once (so it can use the
    /// link without waiting a full interval), ask it for its table, send it ours, and learn
    /// whether it answers acknowledgment requests.
    fn greet(&mut self, now: Instant, link: LinkId, id: NeighbourId) {
        let Some(address) = self.neighbour(id).map(|n| n.address) else {
            return;
        };
        let nonce = self.rng.next_u16();
        if let Some(n) = self.neighbour_mut(id) {
            n.probe = Some(Probe {
                nonce,
                attempts: PROBE_ATTEMPTS,
                deadline: now + PROBE_TIMEOUT * 4,
            });
        }
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if l.extra_hello_allowed <= now {
            l.extra_hello_allowed = now + Duration::from_secs(1);
            l.next_hello = now;
        }
        l.next_ihu = now;
        l.full_update_pending = true;
        l.pending_control.push((
            Destination::Unicast(address),
            Message::RouteRequest { prefix: None },
        ));
        l.pending_control.push((
            Destination::Unicast(address),
            Message::AckRequest {
                nonce,
                interval: centis(PROBE_TIMEOUT * 4),
            },
        ));
        l.schedule_flush(now + FLUSH_DELAY);
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_ihu(
        &mut self,
        now: Instant,
        link: LinkId,
        id: NeighbourId,
        address: Option<IpAddr>,
        rxcost: u16,
        interval: u16,
        timestamps: Option<IhuTimestamps>,
        hello_timestamp: Option<u32>,
    ) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        if let Some(address) = address {
            if address != IpAddr::V6(l.local) {
                return; // for another neighbour on a shared link
            }
        }
        let rtt_enabled = l.config.rtt.is_some();
        let hello_interval = self.config.hello_interval;
        let our_time = self.timestamp(now);
        let Some(n) = self.neighbour_mut(id) else {
            return;
        };
        n.txcost = rxcost;
        let interval = if interval == 0 {
            hello_interval
        } else {
            from_centis(interval)
        };
        n.ihu_expiry = Some(now + interval.mul_f32(3.5));
        if let (true, Some(ts), Some(sent)) = (rtt_enabled, timestamps, hello_timestamp) {
            // RFC 9616 §4: RTT = (now - origin) - (their send time - their receive time).
            let total = our_time.wrapping_sub(ts.origin) as i32;
            let held = sent.wrapping_sub(ts.receive) as i32;
            let rtt = i64::from(total) - i64::from(held);
            // A Hello we sent before we had heard anything from this neighbour may have waited
            // for the link to come up (a WireGuard handshake, a queue): its echo measures that
            // wait, and as a first sample it would make a fast link look slow for minutes.
            // RFC 9616 leaves the choice of samples to the implementation.
            let since_first = now.saturating_duration_since(n.first_heard);
            let before_first = u64::try_from(total)
                .is_ok_and(|t| Duration::from_micros(t) > since_first + Duration::from_millis(1));
            if (0..10_000_000).contains(&rtt) && ts.origin != 0 && !before_first {
                n.add_rtt_sample(Duration::from_micros(rtt as u64));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_update(
        &mut self,
        now: Instant,
        id: NeighbourId,
        prefix: Prefix,
        router_id: RouterId,
        next_hop: IpAddr,
        seqno: u16,
        interval: u16,
        metric: u16,
    ) {
        if router_id == self.router_id && metric != INFINITY {
            // Our own announcement echoed back with a newer seqno: we restarted and lost ours.
            // Jump past it so our updates are feasible again. (The RFC leaves this to us; it
            // bounds only what a seqno request may do, §3.8.1.2.)
            if seqno_newer(seqno, self.seqno) && self.local_prefixes.contains(&prefix) {
                self.seqno = seqno.wrapping_add(1);
                self.stats.seqno_increases += 1;
                self.trigger_all_local(now);
            }
            return;
        }
        // A retraction naming our router-id still retracts the neighbour's route: a neighbour
        // that took our old announcement, and lost it, retracts with the router-id it had.
        if self.local_prefixes.contains(&prefix) {
            return;
        }
        let expires = match interval {
            // Not allowed on the wire; read as our own interval.
            0 => now + self.config.update_interval.mul_f32(3.5),
            // "No further update will be sent" (RFC 8966 §4.6.9): the route lasts as long as the
            // neighbour does, or until it is retracted.
            UPDATE_INTERVAL_INFINITE => now
                .checked_add(NO_EXPIRY)
                .unwrap_or(now + from_centis(interval).mul_f32(3.5)),
            _ => now + from_centis(interval).mul_f32(3.5),
        };
        if let Some(route) = self.routes.get_mut(&prefix).and_then(|e| e.route_mut(id)) {
            if route.router_id == router_id
                && route.seqno == seqno
                && route.advertised_metric == metric
                && route.next_hop == next_hop
            {
                // A periodic refresh of what we already hold: most of every full dump.
                // Nothing to select anew (and a repeated retraction resets no timer).
                if metric != INFINITY {
                    route.expires = expires;
                    route.refresh_requested = false;
                }
                return;
            }
        }
        if metric != INFINITY {
            if let Some(n) = self.neighbour_mut(id) {
                n.all_retracted = false;
            }
        }
        let known = self
            .routes
            .get(&prefix)
            .is_some_and(|e| e.route(id).is_some());
        if !known && metric != INFINITY && !self.admit_route(id) {
            return;
        }
        let feasible = self.sources.is_feasible(prefix, router_id, seqno, metric);
        let refused = self.import_filter.judge(prefix, router_id);
        let mut newly_refused = refused.is_some();
        let entry = self.routes.entry(prefix).or_default();
        let is_selected = entry.selected == Some(id);
        match entry.route_mut(id) {
            None => {
                if metric == INFINITY {
                    if entry.is_empty() {
                        self.routes.remove(&prefix);
                    }
                    return;
                }
                count_route(&mut self.neighbours, &mut self.route_count, id, true);
                entry.routes.push(Route {
                    neighbour: id,
                    router_id,
                    seqno,
                    advertised_metric: metric,
                    next_hop,
                    expires,
                    refused,
                    refresh_requested: false,
                });
            }
            Some(route) => {
                if is_selected && !feasible && route.router_id == router_id {
                    // RFC 8966 §3.5.3: an unfeasible update for the selected route with the same
                    // router-id may be ignored, and we do: the route stays usable at its old
                    // metric. Ignored, it does not refresh the route either, so it expires unless
                    // the source answers the unicast seqno request that §3.8.2.2 says to send
                    // (a newer seqno makes the new metric feasible).
                    let target_seqno = self.wanted_seqno(prefix, router_id, seqno);
                    self.send_seqno_request(now, prefix, router_id, target_seqno, Some(id));
                    return;
                }
                // Applied, feasible or not (§3.5.3). An unfeasible route is never selected
                // (§3.6): `reselect` below unselects it at once if it was selected.
                route.router_id = router_id;
                route.seqno = seqno;
                route.advertised_metric = metric;
                route.next_hop = next_hop;
                if metric != INFINITY {
                    route.expires = expires;
                    route.refresh_requested = false;
                } else {
                    // A retraction does not reset the expiry timer (§3.5.3); the retracted
                    // route is forgotten `RETRACTED_HOLD` after it. Capped, for a route that
                    // was announced with no expiry.
                    let cap = now + self.config.update_interval.mul_f32(3.5);
                    route.expires = route.expires.min(cap);
                }
                newly_refused &= route.refused.is_none();
                route.refused = refused;
            }
        }
        if let (true, Some(refusal)) = (newly_refused, refused) {
            self.note_refused(id, prefix, router_id, refusal);
        }
        if feasible && metric != INFINITY {
            self.requests.satisfy(prefix, router_id, seqno);
        }
        self.reselect(now, prefix);
        if !feasible && metric != INFINITY && refused.is_none() {
            // A route we cannot use yet. If it would be clearly better than what we have (or we
            // have nothing), ask its source for a new seqno (§3.8.2.2).
            let candidate = total_metric(metric, self.neighbour_cost(id));
            let current = self
                .routes
                .get(&prefix)
                .and_then(|e| {
                    e.selected_route()
                        .map(|r| (r.neighbour, r.advertised_metric))
                })
                .map_or(INFINITY, |(n, m)| total_metric(m, self.neighbour_cost(n)));
            if candidate < INFINITY
                && u32::from(candidate) + u32::from(self.config.switch_hysteresis)
                    < u32::from(current)
            {
                let target_seqno = self.wanted_seqno(prefix, router_id, seqno);
                self.send_seqno_request(now, prefix, router_id, target_seqno, Some(id));
            }
        }
    }

    fn handle_route_request(&mut self, now: Instant, link: LinkId, prefix: Option<Prefix>) {
        match prefix {
            None => {
                let Some(l) = self.links.get_mut(&link) else {
                    return;
                };
                l.full_update_pending = true;
                let at = l.full_update_allowed.max(now + FLUSH_DELAY);
                l.schedule_flush(at);
            }
            Some(prefix) => {
                let max = self.config.max_pending_per_link;
                let Some(l) = self.links.get_mut(&link) else {
                    return;
                };
                if l.requested.len() >= max && !l.requested.contains(&prefix) {
                    self.stats.queue_drops += 1;
                    return;
                }
                l.requested.insert(prefix);
                l.schedule_flush(now + FLUSH_DELAY);
            }
        }
    }

    fn handle_seqno_request(
        &mut self,
        now: Instant,
        requester: NeighbourId,
        prefix: Prefix,
        seqno: u16,
        hop_count: u8,
        router_id: RouterId,
    ) {
        if self.local_prefixes.contains(&prefix) {
            if router_id == self.router_id && seqno_newer(seqno, self.seqno) {
                if self
                    .seqno_stepped_at
                    .is_none_or(|t| now >= t + SEQNO_STEP_HOLD)
                {
                    // Asked for a newer seqno than ours: one step, however far ahead the
                    // request is. "A node MUST NOT increase its sequence number by more than 1
                    // in reaction to a single seqno request" (RFC 8966 §3.8.1.2). The new
                    // seqno goes to every neighbour, urgently.
                    self.seqno = self.seqno.wrapping_add(1);
                    self.seqno_stepped_at = Some(now);
                    self.stats.seqno_increases += 1;
                    self.trigger_update(now, prefix, true);
                    return;
                }
                self.stats.answers_coalesced += 1;
            }
            self.answer_request(now, requester, prefix);
            return;
        }
        // RFC 8966 §3.8.1.2. Not advertising the prefix (no selected route): neither answer
        // nor forward.
        let Some(entry) = self.routes.get(&prefix) else {
            return;
        };
        let Some(selected) = entry.selected_route() else {
            return;
        };
        if route_metric(&self.neighbours, selected) == INFINITY {
            return;
        }
        if selected.router_id != router_id || !seqno_newer(seqno, selected.seqno) {
            // What we have already satisfies the request: a different source, or a seqno at
            // least as new. Send it to the requester.
            self.answer_request(now, requester, prefix);
            return;
        }
        if hop_count < 2 {
            return;
        }
        // Forward: toward a feasible route whose next hop is not the requester (MUST), the
        // selected one first; failing that, toward an unfeasible one (SHOULD). Never back to
        // the requester.
        let mut best_feasible: Option<(bool, u16, NeighbourId)> = None;
        let mut best_unfeasible: Option<(u16, NeighbourId)> = None;
        for route in &entry.routes {
            if route.neighbour == requester || route.refused.is_some() {
                continue;
            }
            let metric = route_metric(&self.neighbours, route);
            if metric == INFINITY {
                continue;
            }
            let feasible = self.sources.is_feasible(
                prefix,
                route.router_id,
                route.seqno,
                route.advertised_metric,
            );
            if feasible {
                let key = (
                    entry.selected != Some(route.neighbour),
                    metric,
                    route.neighbour,
                );
                if best_feasible.is_none_or(|b| key < b) {
                    best_feasible = Some(key);
                }
            } else if best_unfeasible.is_none_or(|b| (metric, route.neighbour) < b) {
                best_unfeasible = Some((metric, route.neighbour));
            }
        }
        let next = match (best_feasible, best_unfeasible) {
            (Some((_, _, n)), _) | (None, Some((_, n))) => n,
            (None, None) => return,
        };
        if !self.requests.should_forward(now, prefix, router_id, seqno) {
            self.stats.requests_suppressed += 1;
            return;
        }
        let Some((link, address)) = self.neighbour(next).map(|n| (n.link, n.address)) else {
            return;
        };
        self.stats.seqno_requests_forwarded += 1;
        self.queue_control(
            now,
            link,
            Destination::Unicast(address),
            Message::SeqnoRequest {
                prefix,
                seqno,
                hop_count: hop_count - 1,
                router_id,
            },
        );
    }

    /// Sends one of our own seqno requests (to one neighbour, or multicast everywhere), unless
    /// an equivalent one is already in flight.
    fn send_seqno_request(
        &mut self,
        now: Instant,
        prefix: Prefix,
        router_id: RouterId,
        seqno: u16,
        target: Option<NeighbourId>,
    ) {
        if !self.requests.start(now, prefix, router_id, seqno, target) {
            self.stats.requests_suppressed += 1;
            return;
        }
        self.emit_seqno_request(now, prefix, router_id, seqno, target);
    }

    fn emit_seqno_request(
        &mut self,
        now: Instant,
        prefix: Prefix,
        router_id: RouterId,
        seqno: u16,
        target: Option<NeighbourId>,
    ) {
        self.stats.seqno_requests_sent += 1;
        let message = Message::SeqnoRequest {
            prefix,
            seqno,
            hop_count: 64,
            router_id,
        };
        match target.and_then(|t| self.neighbour(t).map(|n| (n.link, n.address))) {
            Some((link, address)) => {
                self.queue_control(now, link, Destination::Unicast(address), message)
            }
            None => {
                let links: Vec<LinkId> = self.links.keys().copied().collect();
                for link in links {
                    self.queue_control(now, link, Destination::Multicast, message.clone());
                }
            }
        }
    }

    fn queue_control(
        &mut self,
        now: Instant,
        link: LinkId,
        destination: Destination,
        message: Message,
    ) {
        let max = self.config.max_pending_per_link;
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if l.pending_control.len() >= max {
            self.stats.queue_drops += 1;
            return;
        }
        l.pending_control.push((destination, message));
        l.schedule_flush(now + FLUSH_DELAY);
    }

    // ---- neighbours and costs ----

    /// Recomputes a neighbour's cost; on a change, reports it and re-runs route selection for
    /// every prefix with a route through it.
    fn check_cost(&mut self, now: Instant, id: NeighbourId) {
        let Some(n) = self.neighbour(id) else {
            return;
        };
        let Some(link) = self.links.get(&n.link) else {
            return;
        };
        let cost = n.cost(&link.config);
        let old = n.reported_cost;
        if cost == old {
            return;
        }
        if old != INFINITY
            && cost != INFINITY
            && n.cost_changed_at.is_some_and(|t| now < t + COST_HOLD)
        {
            // Applied by a later check (every timer run checks every neighbour).
            return;
        }
        let (link_id, address) = (n.link, n.address);
        if let Some(n) = self.neighbour_mut(id) {
            n.reported_cost = cost;
            n.cost_changed_at = Some(now);
        }
        if old == INFINITY {
            self.push_event(Event::NeighbourUp {
                link: link_id,
                address,
            });
            let returning = self.neighbour(id).is_some_and(|n| n.was_up);
            if let Some(n) = self.neighbour_mut(id) {
                n.was_up = true;
            }
            if returning {
                // Back after being presumed dead: it may have missed any number of updates,
                // and so may we. Full tables both ways now, not at the next
                // periodic update (RFC 8966 §3.8.1.1 allows the wildcard request).
                if let Some(l) = self.links.get_mut(&link_id) {
                    l.full_update_pending = true;
                    l.pending_control.push((
                        Destination::Unicast(address),
                        Message::RouteRequest { prefix: None },
                    ));
                    let at = l.full_update_allowed.max(now + FLUSH_DELAY);
                    l.schedule_flush(at);
                }
            }
        } else if cost == INFINITY {
            self.push_event(Event::NeighbourDown {
                link: link_id,
                address,
            });
        } else if old.abs_diff(cost) >= old / 8 {
            self.push_event(Event::NeighbourCost {
                link: link_id,
                address,
                cost,
            });
        }
        // A pass over the whole table, only for a neighbour we hold routes from.
        let holds_routes = self.neighbour(id).is_some_and(|n| n.routes > 0);
        if holds_routes {
            self.stats.table_scans += 1;
        }
        let prefixes: Vec<Prefix> = if holds_routes {
            self.routes
                .iter()
                .filter(|(_, e)| e.route(id).is_some())
                .map(|(p, _)| *p)
                .collect()
        } else {
            Vec::new()
        };
        for prefix in prefixes {
            self.reselect(now, prefix);
        }
    }

    fn remove_neighbour(&mut self, now: Instant, id: NeighbourId) {
        let Some(n) = self
            .neighbours
            .get_mut(id.0 as usize)
            .and_then(|n| n.take())
        else {
            return;
        };
        self.neighbour_index.remove(&(n.link, n.address));
        self.requests.forget_neighbour(id);
        if n.reported_cost != INFINITY {
            self.push_event(Event::NeighbourDown {
                link: n.link,
                address: n.address,
            });
        }
        let prefixes: Vec<Prefix> = if n.routes > 0 {
            self.stats.table_scans += 1;
            self.routes
                .iter()
                .filter(|(_, e)| e.route(id).is_some())
                .map(|(p, _)| *p)
                .collect()
        } else {
            Vec::new()
        };
        for prefix in prefixes {
            if let Some(entry) = self.routes.get_mut(&prefix) {
                // Its own count left with it (it is out of `neighbours` already).
                let before = entry.routes.len();
                entry.routes.retain(|r| r.neighbour != id);
                self.route_count -= before - entry.routes.len();
            }
            self.reselect(now, prefix);
        }
    }

    /// Whether a new route from `id` fits the route limits; if not, it is counted and the
    /// neighbour's first refusal in a row becomes an event.
    fn admit_route(&mut self, id: NeighbourId) -> bool {
        let limits = self.config.limits;
        let held = self.neighbour(id).map_or(0, |n| n.routes);
        let limit = if held >= limits.routes_per_neighbour {
            LimitKind::RoutesPerNeighbour
        } else if self.route_count >= limits.routes {
            LimitKind::Routes
        } else {
            if let Some(n) = self
                .neighbours
                .get_mut(id.0 as usize)
                .and_then(|n| n.as_mut())
            {
                n.at_limit = false;
            }
            return true;
        };
        self.stats.routes_over_limit += 1;
        if let Some(n) = self
            .neighbours
            .get_mut(id.0 as usize)
            .and_then(|n| n.as_mut())
        {
            n.routes_over_limit = n.routes_over_limit.saturating_add(1);
        }
        self.note_limit(id, limit);
        false
    }

    /// Tells the caller, once until the neighbour's next accepted new route, that a limit
    /// refused one of its routes.
    fn note_limit(&mut self, id: NeighbourId, limit: LimitKind) {
        let Some(n) = self
            .neighbours
            .get_mut(id.0 as usize)
            .and_then(|n| n.as_mut())
        else {
            return;
        };
        if n.at_limit {
            return;
        }
        n.at_limit = true;
        let (link, address) = (n.link, n.address);
        self.push_event(Event::RouteLimit {
            link,
            address,
            limit,
        });
    }

    // ---- route selection ----

    /// Re-runs selection for `prefix` and reports what changed: the forwarding table to the
    /// caller, the announcement to our neighbours.
    fn reselect(&mut self, now: Instant, prefix: Prefix) {
        if self.local_prefixes.contains(&prefix) {
            return;
        }
        let Some(entry) = self.routes.get(&prefix) else {
            return;
        };
        let mut candidates: Vec<Candidate> = Vec::with_capacity(entry.routes.len());
        let mut sources_full: Vec<NeighbourId> = Vec::new();
        for route in &entry.routes {
            let metric = total_metric(
                route.advertised_metric,
                self.neighbour_cost(route.neighbour),
            );
            if metric == INFINITY || route.expires <= now || route.refused.is_some() {
                continue;
            }
            // RFC 8966 §3.6: only feasible routes are selected, the current one included (a
            // selected route stays feasible while its metric does not grow, since what we
            // announce for it is its metric plus a positive link cost).
            if self.sources.is_feasible(
                prefix,
                route.router_id,
                route.seqno,
                route.advertised_metric,
            ) {
                candidates.push(Candidate {
                    neighbour: route.neighbour,
                    metric,
                });
            } else if !self.sources.has_room()
                && self.sources.get(prefix, route.router_id).is_none()
            {
                // Unfeasible only because the source table is full.
                sources_full.push(route.neighbour);
            }
        }
        if !sources_full.is_empty() {
            for neighbour in sources_full {
                self.stats.sources_over_limit += 1;
                self.note_limit(neighbour, LimitKind::Sources);
            }
        }
        let Some(entry) = self.routes.get(&prefix) else {
            return;
        };
        let mut chosen = select(&candidates, entry.selected, self.config.switch_hysteresis);
        let previous = entry.selected;
        let mut better_since = None;
        let best = candidates
            .iter()
            .copied()
            .min_by_key(|c| (c.metric, c.neighbour));
        if let (Some(kept), Some(best)) = (chosen, best) {
            let margin = u32::from(self.config.switch_hysteresis / 16);
            if best.neighbour != kept.neighbour
                && u32::from(best.metric) + margin < u32::from(kept.metric)
            {
                match entry.better_since {
                    Some((n, since))
                        if n == best.neighbour
                            && now.saturating_duration_since(since) >= self.config.switch_delay =>
                    {
                        chosen = Some(best);
                    }
                    Some((n, since)) if n == best.neighbour => better_since = Some((n, since)),
                    _ => better_since = Some((best.neighbour, now)),
                }
            }
        }
        if better_since.is_some() {
            self.switch_watch.insert(prefix);
        }
        let had_routes_unfeasible = chosen.is_none()
            && entry.routes.iter().any(|r| {
                r.advertised_metric != INFINITY
                    && r.refused.is_none()
                    && self.neighbour_cost(r.neighbour) != INFINITY
            });

        // The forwarding table.
        let new_install = chosen.and_then(|c| {
            let route = entry.route(c.neighbour)?;
            let link = self.neighbour(c.neighbour)?.link;
            Some((link, route.next_hop, c.metric))
        });
        // A route that needs a new source entry takes it now rather than when it is announced
        // a flush later, so that a burst of new routes cannot select past the source limit.
        // Recorded early, the feasibility distance can only be stricter than the announcement
        // would have made it (the smaller of the two metrics within the seqno): still safe.
        let reserve = chosen
            .and_then(|c| entry.route(c.neighbour))
            .filter(|r| self.sources.get(prefix, r.router_id).is_none())
            .zip(chosen)
            .map(|(r, c)| (r.router_id, r.seqno, c.metric));
        let old_install = entry.installed;
        // Lost because our own import filter now refuses the route (filter.rs): the filter, not
        // a neighbour, took it, so there is no stale path to hold off (§3.5.4), and a held
        // `unreachable` route would shadow the very network the refusal protects (a LAN the
        // announcement overlapped). Removed at once instead.
        let lost_to_filter = previous
            .and_then(|n| entry.route(n))
            .is_some_and(|r| r.refused.is_some());
        if let Some((router_id, seqno, metric)) = reserve {
            self.sources
                .note_advertised(now, prefix, router_id, seqno, metric);
        }
        let Some(entry) = self.routes.get_mut(&prefix) else {
            return;
        };
        let new_next_hop = chosen.map(|c| c.neighbour);
        if previous != new_next_hop {
            let told_finite = entry.announced.is_some_and(|a| a.metric != INFINITY);
            entry.retract_on = match new_install {
                Some((link, _, _)) if told_finite => Some(link),
                _ => None,
            };
        }
        entry.selected = new_next_hop;
        entry.better_since = better_since;
        if let Some((link, _, _)) = new_install {
            entry.last_link = Some(link);
        }
        match (old_install, new_install) {
            (None, Some((link, next_hop, metric))) => {
                entry.installed = Some((link, next_hop));
                entry.held_until = None;
                self.route_changes.push_back(RouteChange::Add {
                    prefix,
                    next_hop,
                    link,
                    metric,
                });
            }
            (Some(old), Some((link, next_hop, metric))) if old != (link, next_hop) => {
                entry.installed = Some((link, next_hop));
                self.route_changes.push_back(RouteChange::Replace {
                    prefix,
                    next_hop,
                    link,
                    metric,
                });
            }
            (Some(_), None) if lost_to_filter => {
                entry.installed = None;
                entry.held_until = None;
                self.route_changes.push_back(RouteChange::Remove { prefix });
            }
            (Some(_), None) => {
                entry.installed = None;
                entry.held_until = Some(now + HOLD_TIME);
                self.route_changes
                    .push_back(RouteChange::Unreachable { prefix });
            }
            _ => {}
        }

        // What our neighbours hear.
        let announced = entry.announced;
        let now_announcing = chosen.and_then(|c| {
            let route = entry.route(c.neighbour)?;
            Some(Announcement {
                router_id: route.router_id,
                seqno: route.seqno,
                metric: c.metric,
            })
        });
        match (announced, now_announcing) {
            // A new route is news worth an acknowledgment: without it a neighbour that lost
            // the packet would not hear of the prefix until the next periodic dump.
            (None, Some(_)) => self.trigger_update(now, prefix, true),
            (Some(old), None) if old.metric != INFINITY => {
                self.trigger_update(now, prefix, true);
            }
            (Some(old), Some(new)) => {
                if old.router_id != new.router_id || old.seqno != new.seqno {
                    self.trigger_update(now, prefix, true);
                } else if old.metric == INFINITY
                    || old.metric.abs_diff(new.metric) >= TRIGGER_THRESHOLD
                {
                    self.trigger_update(now, prefix, false);
                } else if previous != chosen.map(|c| c.neighbour) {
                    // Same announcement, new next hop. Split horizon kept the route from the old
                    // next hop, which must hear it now; the new one must hear a retraction so it
                    // does not keep a stale route through us.
                    let links: Vec<LinkId> = [previous, chosen.map(|c| c.neighbour)]
                        .into_iter()
                        .flatten()
                        .filter_map(|n| self.neighbour(n).map(|n| n.link))
                        .collect();
                    for link in links {
                        self.trigger_on_link(now, link, prefix, false);
                    }
                }
            }
            _ => {}
        }
        if !had_routes_unfeasible {
            self.starving.remove(&prefix);
        } else {
            self.request_when_starving(now, prefix);
        }
        if let Some(entry) = self.routes.get(&prefix) {
            if entry.is_empty() {
                self.routes.remove(&prefix);
            }
        }
    }

    /// Starvation (RFC 8966 §3.8.2.1): routes exist but none is feasible. Every neighbour
    /// advertising one of them is asked for a new seqno of its route's source, unicast (one of
    /// them may sit on the path that is repairing); unanswered, the round is repeated at
    /// doubling intervals up to [`STARVATION_BACKOFF_MAX`], not every second for ever.
    fn request_when_starving(&mut self, now: Instant, prefix: Prefix) {
        let backoff = match self.starving.get(&prefix) {
            Some((next, _)) if *next > now => return,
            Some((_, backoff)) => (*backoff * 2).min(STARVATION_BACKOFF_MAX),
            None => REQUEST_RESEND,
        };
        self.starving.insert(prefix, (now + backoff, backoff));
        let Some(entry) = self.routes.get(&prefix) else {
            return;
        };
        let asks: Vec<(NeighbourId, RouterId, u16)> = entry
            .routes
            .iter()
            .filter(|r| r.refused.is_none() && route_metric(&self.neighbours, r) != INFINITY)
            .map(|r| {
                let seqno = self.wanted_seqno(prefix, r.router_id, r.seqno);
                (r.neighbour, r.router_id, seqno)
            })
            .collect();
        for (neighbour, router_id, seqno) in asks {
            self.emit_seqno_request(now, prefix, router_id, seqno, Some(neighbour));
        }
    }

    // ---- sending updates ----

    /// Answers a seqno request that what we announce already satisfies (RFC 8966 §3.8.1.2:
    /// "it MUST send an update"): on the requester's link, where the request came from, and
    /// urgently (acknowledged) at most once per `ANSWER_HOLD` for that link and prefix. Other
    /// neighbours asked nothing; a flood of requests costs one coalesced update per flush.
    fn answer_request(&mut self, now: Instant, requester: NeighbourId, prefix: Prefix) {
        let Some(link) = self.neighbour(requester).map(|n| n.link) else {
            return;
        };
        let urgent = self
            .urgent_answers
            .get(&(link, prefix))
            .is_none_or(|t| now >= *t + ANSWER_HOLD);
        if urgent {
            self.urgent_answers.insert((link, prefix), now);
        } else {
            self.stats.answers_coalesced += 1;
        }
        self.trigger_on_link(now, link, prefix, urgent);
    }

    fn trigger_update(&mut self, now: Instant, prefix: Prefix, urgent: bool) {
        let links: Vec<LinkId> = self.links.keys().copied().collect();
        for link in links {
            self.trigger_on_link(now, link, prefix, urgent);
        }
    }

    fn trigger_on_link(&mut self, now: Instant, link: LinkId, prefix: Prefix, urgent: bool) {
        let max = self.config.max_pending_per_link;
        let delay = FLUSH_DELAY + self.jitter(FLUSH_DELAY);
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if l.pending_updates.len() >= max && !l.pending_updates.contains_key(&prefix) {
            // Too much changing at once: a full dump says it all in bounded space, except what
            // we no longer have. It carries every route we hold and our own prefixes, but no
            // retraction of a prefix we lost, so those stay queued (at most one per prefix the
            // table held: the route limits bound them).
            self.stats.queue_drops += 1;
            let (routes, local) = (&self.routes, &self.local_prefixes);
            let in_dump = |p: &Prefix| {
                local.contains(p) || routes.get(p).is_some_and(|e| e.selected_route().is_some())
            };
            l.pending_updates.retain(|p, _| !in_dump(p));
            if !in_dump(&prefix) {
                let flag = l.pending_updates.entry(prefix).or_insert(false);
                *flag |= urgent;
            }
            l.full_update_pending = true;
        } else {
            let flag = l.pending_updates.entry(prefix).or_insert(false);
            *flag |= urgent;
        }
        l.schedule_flush(now + delay);
    }

    fn trigger_all_local(&mut self, now: Instant) {
        let prefixes: Vec<Prefix> = self.local_prefixes.iter().copied().collect();
        for prefix in prefixes {
            self.trigger_update(now, prefix, true);
        }
    }

    /// The Update we would send for `prefix` on `link` now, recording it in the source table.
    /// `None` when there is nothing to say: no route and nothing announced before, or split
    /// horizon. `requested` answers a Route Request, which always gets an answer (RFC 8966
    /// §3.8.1.1): where we have no route, or split horizon keeps the route from this link, a
    /// retraction.
    fn update_message(
        &mut self,
        now: Instant,
        link: LinkId,
        point_to_point: bool,
        prefix: Prefix,
        requested: bool,
    ) -> Option<Message> {
        let interval = centis(self.advertised_update_interval());
        let lifetime = self.advertised_update_interval().mul_f32(3.5);
        if self.local_prefixes.contains(&prefix) {
            self.sources
                .note_advertised(now, prefix, self.router_id, self.seqno, 0);
            return Some(Message::Update {
                prefix,
                router_id: self.router_id,
                next_hop: None,
                seqno: self.seqno,
                interval,
                metric: 0,
            });
        }
        let retraction = |router_id: RouterId, seqno: u16| Message::Update {
            prefix,
            router_id,
            next_hop: None,
            seqno,
            interval,
            metric: INFINITY,
        };
        let neighbours = &self.neighbours;
        let Some(entry) = self.routes.get_mut(&prefix) else {
            if !requested {
                return None;
            }
            self.stats.updates_sent += 1;
            return Some(retraction(self.router_id, self.seqno));
        };
        let selected = entry.selected_route().and_then(|r| {
            let neighbour = neighbours.get(r.neighbour.0 as usize)?.as_ref()?;
            let metric = total_metric(r.advertised_metric, neighbour.reported_cost);
            Some((neighbour.link, r.router_id, r.seqno, metric))
        });
        let message = match selected {
            Some((via, router_id, seqno, metric)) if metric != INFINITY => {
                let announcement = Announcement {
                    router_id,
                    seqno,
                    metric,
                };
                if entry.announced != Some(announcement) {
                    self.sources
                        .note_advertised(now, prefix, router_id, seqno, metric);
                }
                entry.announced = Some(announcement);
                if via == link && point_to_point {
                    // Split horizon: never offer a neighbour its own route back. Say nothing,
                    // unless it may still hold a route we announced before it became our next
                    // hop, or it asked. Such a retraction is owed until the neighbour
                    // acknowledges a packet carrying it (`handle_ack`), or for as long as it may
                    // keep the route: sent once and lost, it would leave the neighbour a route
                    // through us that it may select while we route through it (§3.7.4).
                    let owed = entry.retract_on == Some(link)
                        || entry
                            .retract_until
                            .is_some_and(|(l, until)| l == link && until > now);
                    if !owed && !requested {
                        return None;
                    }
                    if entry.retract_on == Some(link) {
                        entry.retract_on = None;
                        entry.retract_until = Some((link, now + lifetime));
                    }
                    retraction(router_id, seqno)
                } else {
                    Message::Update {
                        prefix,
                        router_id,
                        next_hop: None,
                        seqno,
                        interval,
                        metric,
                    }
                }
            }
            _ => {
                // Split horizon told the last next hop nothing, so a retraction there is noise;
                // unless it may still hold what we announced before it became our next hop.
                let owed = entry
                    .retract_until
                    .is_some_and(|(l, until)| l == link && until > now);
                if point_to_point && entry.last_link == Some(link) && !requested && !owed {
                    return None;
                }
                // Lost: retract what we announced; unknown: say we have nothing.
                let (router_id, seqno) = match entry.announced.as_mut() {
                    Some(a) => {
                        a.metric = INFINITY;
                        (a.router_id, a.seqno)
                    }
                    None => (self.router_id, self.seqno),
                };
                retraction(router_id, seqno)
            }
        };
        self.stats.updates_sent += 1;
        Some(message)
    }

    /// Sends everything waiting on `link`.
    fn flush(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        l.flush_at = None;
        let max_len = l.config.max_packet_len.max(64);
        let point_to_point = l.config.point_to_point;
        let control = std::mem::take(&mut l.pending_control);
        let pending = std::mem::take(&mut l.pending_updates);
        let requested = std::mem::take(&mut l.requested);
        let full = l.full_update_pending && l.full_update_allowed <= now;
        if full {
            l.full_update_pending = false;
            l.full_update_allowed = now + Duration::from_secs(1);
        } else if l.full_update_pending {
            let at = l.full_update_allowed;
            l.schedule_flush(at);
        }

        // Control messages, grouped by destination.
        let mut by_destination: Vec<(Destination, Encoder)> = Vec::new();
        for (destination, message) in control {
            let index = match by_destination.iter().position(|(d, _)| *d == destination) {
                Some(i) => i,
                None => {
                    by_destination.push((destination, Encoder::new(max_len)));
                    by_destination.len() - 1
                }
            };
            by_destination[index].1.push(&message);
        }
        for (destination, encoder) in by_destination {
            self.send_packets(link, destination, encoder.finish());
        }

        // Urgent updates: on a point-to-point link, each packet asks for an Ack and is sent
        // again until acknowledged; elsewhere it is sent a few times (§3.7.2).
        let mut urgent: Vec<Prefix> = Vec::new();
        let mut normal: Vec<Prefix> = Vec::new();
        for (prefix, is_urgent) in pending {
            if full && !is_urgent {
                continue; // the dump covers it
            }
            if is_urgent {
                urgent.push(prefix);
            } else {
                normal.push(prefix);
            }
        }
        urgent.sort();
        normal.sort();
        let per_packet = (max_len.saturating_sub(16) / MAX_UPDATE_LEN).max(1);
        for chunk in urgent.chunks(per_packet) {
            self.send_urgent(now, link, chunk.to_vec(), 1);
        }

        let mut encoder = Encoder::new(max_len);
        for prefix in normal {
            if requested.contains(&prefix) {
                continue; // answered below
            }
            if let Some(message) = self.update_message(now, link, point_to_point, prefix, false) {
                encoder.push(&message);
            }
        }
        for prefix in requested {
            if urgent.binary_search(&prefix).is_ok() {
                continue; // already on its way, acknowledged
            }
            if let Some(message) = self.update_message(now, link, point_to_point, prefix, true) {
                encoder.push(&message);
            }
        }
        self.send_packets(link, Destination::Multicast, encoder.finish());
        if full {
            self.full_dump(now, &[link], false);
        }
    }

    /// Sends our whole table on `links`: every local prefix and every selected route, each
    /// computed once and written into every link's packets (a periodic dump touches every route,
    /// so it must not look each one up again per link). Split horizon leaves a route out on the
    /// point-to-point link it was learnt from.
    fn full_dump(&mut self, now: Instant, links: &[LinkId], with_hello: bool) {
        let interval = centis(self.advertised_update_interval());
        let mut targets: Vec<(LinkId, bool, Encoder)> = Vec::with_capacity(links.len());
        for id in links {
            let Some(l) = self.links.get(id) else {
                continue;
            };
            let point_to_point = l.config.point_to_point;
            let max_len = l.config.max_packet_len.max(64);
            // The periodic dump carries the link's next Hello (sent early), which saves a
            // packet header per dump: about a tenth of a small mesh's control traffic.
            let encoder = if with_hello {
                self.begin_hello(now, *id)
            } else {
                None
            };
            targets.push((
                *id,
                point_to_point,
                encoder.unwrap_or_else(|| Encoder::new(max_len)),
            ));
        }
        let mut sent = 0u64;
        for prefix in &self.local_prefixes {
            self.sources
                .note_advertised(now, *prefix, self.router_id, self.seqno, 0);
            let message = Message::Update {
                prefix: *prefix,
                router_id: self.router_id,
                next_hop: None,
                seqno: self.seqno,
                interval,
                metric: 0,
            };
            for (_, _, encoder) in targets.iter_mut() {
                encoder.push(&message);
                sent += 1;
            }
        }
        let neighbours = &self.neighbours;
        for (prefix, entry) in self.routes.iter_mut() {
            let Some(route) = entry.selected_route() else {
                // Nothing to offer, but a neighbour may hold what we lost to tell it.
                let Some(owed) = entry
                    .retract_until
                    .filter(|(_, until)| *until > now)
                    .map(|(link, _)| link)
                else {
                    continue;
                };
                let (router_id, seqno) = entry
                    .announced
                    .map_or((self.router_id, self.seqno), |a| (a.router_id, a.seqno));
                if let Some((_, _, encoder)) =
                    targets.iter_mut().find(|(l, p2p, _)| *l == owed && *p2p)
                {
                    encoder.push(&Message::Update {
                        prefix: *prefix,
                        router_id,
                        next_hop: None,
                        seqno,
                        interval,
                        metric: INFINITY,
                    });
                    sent += 1;
                }
                continue;
            };
            let Some(neighbour) = neighbours
                .get(route.neighbour.0 as usize)
                .and_then(|n| n.as_ref())
            else {
                continue;
            };
            let metric = total_metric(route.advertised_metric, neighbour.reported_cost);
            if metric == INFINITY || self.local_prefixes.contains(prefix) {
                continue;
            }
            let (via, router_id, seqno) = (neighbour.link, route.router_id, route.seqno);
            entry.announced = Some(Announcement {
                router_id,
                seqno,
                metric,
            });
            self.sources
                .note_advertised(now, *prefix, router_id, seqno, metric);
            let message = Message::Update {
                prefix: *prefix,
                router_id,
                next_hop: None,
                seqno,
                interval,
                metric,
            };
            let retract_until = entry.retract_until;
            for (link, point_to_point, encoder) in targets.iter_mut() {
                if *point_to_point && *link == via {
                    if retract_until.is_some_and(|(l, until)| l == *link && until > now) {
                        encoder.push(&Message::Update {
                            prefix: *prefix,
                            router_id,
                            next_hop: None,
                            seqno,
                            interval,
                            metric: INFINITY,
                        });
                        sent += 1;
                    }
                    continue;
                }
                encoder.push(&message);
                sent += 1;
            }
        }
        self.stats.updates_sent += sent;
        for (link, _, encoder) in targets {
            self.send_packets(link, Destination::Multicast, encoder.finish());
        }
    }

    fn send_urgent(&mut self, now: Instant, link: LinkId, prefixes: Vec<Prefix>, attempt: u8) {
        let (max_len, point_to_point) = match self.links.get(&link) {
            Some(l) => (l.config.max_packet_len.max(64), l.config.point_to_point),
            None => return,
        };
        let nonce = self.rng.next_u16();
        let mut encoder = Encoder::new(max_len);
        if point_to_point {
            encoder.push(&Message::AckRequest {
                nonce,
                interval: centis(URGENT_ACK_TIMEOUT),
            });
        }
        // On a link with several neighbours no one acknowledges a multicast: the update simply
        // goes out `URGENT_ATTEMPTS` times (RFC 8966 §3.7.2).
        // A repeat always says something: what the first attempt said was not acknowledged, so
        // the neighbour may still hold an older finite route from us, even where split horizon
        // would now keep us silent (we took a route through it meanwhile). It gets a retraction
        // then, like a requester (`update_message`); silent, we would never give up on it below
        // and never keep retracting there (`retract_until`).
        let repeat = attempt > 1;
        let mut any = false;
        for prefix in &prefixes {
            if let Some(message) = self.update_message(now, link, point_to_point, *prefix, repeat) {
                encoder.push(&message);
                any = true;
            }
        }
        if !any {
            return;
        }
        self.stats.urgent_packets_sent += 1;
        self.send_packets(link, Destination::Multicast, encoder.finish());
        // The last attempt is tracked too: unacknowledged, it is given up in `resend_unacked`.
        if attempt <= URGENT_ATTEMPTS {
            if let Some(l) = self.links.get_mut(&link) {
                l.unacked.push(Unacked {
                    nonce,
                    deadline: now + URGENT_ACK_TIMEOUT,
                    prefixes,
                    attempts: attempt,
                });
            }
        }
    }

    fn send_packets(&mut self, link: LinkId, destination: Destination, packets: Vec<Vec<u8>>) {
        for payload in packets {
            self.stats.packets_sent += 1;
            self.stats.bytes_sent += payload.len() as u64;
            self.transmits.push_back(Transmit {
                link,
                destination,
                payload,
            });
        }
    }

    /// Our scheduled Hello on `link`, with an IHU for every neighbour there in the same packet
    /// (RFC 9616 pairs the IHU's timestamps with that Hello's).
    fn send_hello(&mut self, now: Instant, link: LinkId) {
        if let Some(encoder) = self.begin_hello(now, link) {
            self.send_packets(link, Destination::Multicast, encoder.finish());
        }
    }

    /// A packet for `link` that starts with our Hello (and the IHUs, when due); more messages may
    /// follow it in the same packet.
    fn begin_hello(&mut self, now: Instant, link: LinkId) -> Option<Encoder> {
        let timestamp = self.timestamp(now);
        let hello_interval = self.config.hello_interval;
        let ihu_interval = self.config.ihu_interval;
        let jitter = self.jitter(hello_interval / 10);
        let l = self.links.get_mut(&link)?;
        l.hello_seqno = l.hello_seqno.wrapping_add(1);
        l.next_hello = now + hello_interval - jitter;
        let with_ihus = l.next_ihu <= now;
        if with_ihus {
            // A little early rather than a Hello late: the next IHU rides the Hello due then.
            l.next_ihu = now + ihu_interval.saturating_sub(hello_interval / 2);
        }
        let rtt = l.config.rtt.is_some();
        let max_len = l.config.max_packet_len.max(64);
        let seqno = l.hello_seqno;
        let config = l.config.clone();
        let mut encoder = Encoder::new(max_len);
        encoder.push(&Message::Hello {
            unicast: false,
            seqno,
            interval: centis(hello_interval),
            timestamp: rtt.then_some(timestamp),
        });
        for n in self.neighbours.iter_mut().flatten() {
            if n.link != link || !n.has_hellos() || !(with_ihus || n.eager_ihus > 0) {
                continue;
            }
            n.eager_ihus = n.eager_ihus.saturating_sub(1);
            let timestamps = if rtt {
                n.last_hello_timestamp
                    .map(|(origin, receive)| IhuTimestamps { origin, receive })
            } else {
                None
            };
            encoder.push(&Message::Ihu {
                address: Some(IpAddr::V6(n.address)),
                rxcost: n.rxcost(&config),
                interval: centis(ihu_interval),
                timestamps,
            });
        }
        Some(encoder)
    }

    // ---- timers ----

    /// Runs every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let links: Vec<LinkId> = self.links.keys().copied().collect();
        for link in &links {
            let Some(l) = self.links.get_mut(link) else {
                continue;
            };
            if l.next_hello <= now {
                self.send_hello(now, *link);
            }
        }
        if self.next_full_update <= now {
            let update = self.config.update_interval;
            // Jittered around the interval, so the mean is the interval; what our updates
            // advertise is the latest the next one can come (`advertised_update_interval`).
            let jitter = self.jitter(update / 4);
            self.next_full_update = now + update - update / 8 + jitter;
            self.full_dump(now, &links, true);
        }
        self.neighbour_timers(now);
        for link in &links {
            self.resend_unacked(now, *link);
        }
        self.resend_requests(now);
        if self.next_housekeeping <= now {
            self.next_housekeeping = now + HOUSEKEEPING_INTERVAL;
            self.housekeeping(now);
        }
        for link in &links {
            if self
                .links
                .get(link)
                .and_then(|l| l.flush_at)
                .is_some_and(|at| at <= now)
            {
                self.flush(now, *link);
            }
        }
    }

    fn neighbour_timers(&mut self, now: Instant) {
        for index in 0..self.neighbours.len() {
            let id = NeighbourId(index as u32);
            let mut probe_to_send = None;
            let mut forget = false;
            {
                let Some(n) = self.neighbours[index].as_mut() else {
                    continue;
                };
                let mut missed_now = false;
                let mut misses = 0;
                while n.has_hellos() && n.hello_deadline <= now && misses < 16 {
                    n.miss_hello();
                    misses += 1;
                    missed_now = true;
                }
                n.miss_unicast_hellos(now);
                if n.rtt_deadline.is_some_and(|t| t <= now) {
                    n.rtt_deadline = None;
                }
                if n.ihu_expiry.is_some_and(|t| t <= now) {
                    n.ihu_expiry = None;
                    n.txcost = INFINITY;
                }
                // A Hello is overdue: ask the neighbour directly instead of waiting for the
                // history to decay. Only for neighbours known to answer AckReqs.
                if missed_now && n.answers_probes && n.probe.is_none() && !n.presumed_dead {
                    n.probe = Some(Probe {
                        nonce: 0,
                        attempts: 0,
                        deadline: now,
                    });
                }
                if let Some(probe) = n.probe {
                    if probe.deadline <= now {
                        if probe.attempts >= PROBE_ATTEMPTS {
                            n.probe = None;
                            if n.answers_probes {
                                n.presumed_dead = true;
                            }
                        } else {
                            probe_to_send = Some((n.link, n.address, probe.attempts + 1));
                        }
                    }
                }
                if now.saturating_duration_since(n.last_heard) >= NEIGHBOUR_TIMEOUT {
                    forget = true;
                }
            }
            if forget {
                self.remove_neighbour(now, id);
                continue;
            }
            if let Some((link, address, attempts)) = probe_to_send {
                let nonce = self.rng.next_u16();
                if let Some(n) = self.neighbour_mut(id) {
                    n.probe = Some(Probe {
                        nonce,
                        attempts,
                        deadline: now + PROBE_TIMEOUT,
                    });
                }
                self.queue_control(
                    now,
                    link,
                    Destination::Unicast(address),
                    Message::AckRequest {
                        nonce,
                        interval: centis(PROBE_TIMEOUT),
                    },
                );
                if let Some(l) = self.links.get_mut(&link) {
                    l.schedule_flush(now);
                }
            }
            self.check_cost(now, id);
        }
    }

    fn resend_unacked(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if !l.unacked.iter().any(|u| u.deadline <= now) {
            return;
        }
        let (due, keep): (Vec<Unacked>, Vec<Unacked>) =
            l.unacked.drain(..).partition(|u| u.deadline <= now);
        l.unacked = keep;
        let point_to_point = l.config.point_to_point;
        let lifetime = self.advertised_update_interval().mul_f32(3.5);
        for unacked in due {
            if unacked.attempts < URGENT_ATTEMPTS {
                self.send_urgent(now, link, unacked.prefixes, unacked.attempts + 1);
                continue;
            }
            if !point_to_point {
                continue; // repeats, never acknowledged: nothing to give up
            }
            // Given up: the neighbour may still hold what we said before. Where split horizon
            // (or having no route) would say nothing more there, we keep retracting on this link
            // for as long as it may keep that route.
            for prefix in unacked.prefixes {
                if let Some(entry) = self.routes.get_mut(&prefix) {
                    entry.retract_until = Some((link, now + lifetime));
                }
            }
        }
    }

    fn resend_requests(&mut self, now: Instant) {
        let due: Vec<Prefix> = self
            .requests
            .ours
            .iter()
            .filter(|(_, r)| r.resend_at <= now)
            .map(|(p, _)| *p)
            .collect();
        for prefix in due {
            let Some(request) = self.requests.ours.get_mut(&prefix) else {
                continue;
            };
            if request.attempts >= REQUEST_ATTEMPTS {
                self.requests.ours.remove(&prefix);
                continue;
            }
            request.attempts += 1;
            request.resend_at = now + REQUEST_RESEND;
            let (router_id, seqno, target) = (request.router_id, request.seqno, request.target);
            self.emit_seqno_request(now, prefix, router_id, seqno, target);
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        let mut changed: Vec<Prefix> = std::mem::take(&mut self.switch_watch)
            .into_iter()
            .chain(self.starving.keys().copied())
            .collect();
        self.housekeeping_ticks = self.housekeeping_ticks.wrapping_add(1);
        if self.housekeeping_ticks % EXPIRY_EVERY_TICKS != 0 {
            for prefix in changed {
                self.reselect(now, prefix);
            }
            return;
        }
        let mut refresh: Vec<(NeighbourId, Prefix)> = Vec::new();
        for (prefix, entry) in self.routes.iter_mut() {
            if entry.held_until.is_some_and(|t| t <= now) {
                entry.held_until = None;
                self.route_changes
                    .push_back(RouteChange::Remove { prefix: *prefix });
            }
            // A selected route about to expire: ask its neighbour for it once, unicast, so that
            // lost updates do not cost us the route (RFC 8966 §3.8.2.3).
            let selected = entry.selected;
            if let Some(route) = entry
                .routes
                .iter_mut()
                .find(|r| Some(r.neighbour) == selected)
            {
                if !route.refresh_requested
                    && route.advertised_metric != INFINITY
                    && route.expires > now
                    && route.expires <= now + REFRESH_BEFORE_EXPIRY
                {
                    route.refresh_requested = true;
                    refresh.push((route.neighbour, *prefix));
                }
            }
            let before = entry.routes.len();
            let mut expired = false;
            entry.routes.retain_mut(|route| {
                if route.expires <= now && route.advertised_metric != INFINITY {
                    route.advertised_metric = INFINITY;
                    expired = true;
                }
                // Retracted routes are held a while, then forgotten.
                let keep =
                    !(route.advertised_metric == INFINITY && route.expires + RETRACTED_HOLD <= now);
                if !keep {
                    count_route(
                        &mut self.neighbours,
                        &mut self.route_count,
                        route.neighbour,
                        false,
                    );
                }
                keep
            });
            if expired || entry.routes.len() != before {
                changed.push(*prefix);
            }
        }
        for (neighbour, prefix) in refresh {
            if let Some((link, address)) = self.neighbour(neighbour).map(|n| (n.link, n.address)) {
                self.queue_control(
                    now,
                    link,
                    Destination::Unicast(address),
                    Message::RouteRequest {
                        prefix: Some(prefix),
                    },
                );
            }
        }
        for prefix in changed {
            self.reselect(now, prefix);
        }
        self.routes.retain(|_, e| {
            !(e.routes.is_empty()
                && e.selected.is_none()
                && e.held_until.is_none()
                && e.announced.is_none_or(|a| a.metric == INFINITY))
        });
        self.sources.collect_garbage(now);
        self.requests.collect_garbage(now);
        self.urgent_answers
            .retain(|_, t| now.saturating_duration_since(*t) < ANSWER_HOLD);
    }

    // ---- outputs ----

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_route_change(&mut self) -> Option<RouteChange> {
        self.route_changes.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next instant `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = Some(self.next_housekeeping.min(self.next_full_update));
        let mut consider = |t: Instant| {
            next = Some(match next {
                Some(n) if n <= t => n,
                _ => t,
            });
        };
        for l in self.links.values() {
            consider(l.next_hello);
            if let Some(t) = l.flush_at {
                consider(t);
            }
            for u in &l.unacked {
                consider(u.deadline);
            }
        }
        for n in self.neighbours.iter().flatten() {
            if n.has_hellos() {
                consider(n.hello_deadline);
            }
            if let Some(t) = n.unicast_deadline() {
                consider(t);
            }
            if let Some(t) = n.ihu_expiry {
                consider(t);
            }
            if let Some(t) = n.rtt_deadline {
                consider(t);
            }
            if let Some(p) = n.probe {
                consider(p.deadline);
            }
            consider(n.last_heard + NEIGHBOUR_TIMEOUT);
        }
        if let Some(t) = self.requests.next_deadline() {
            consider(t);
        }
        next
    }
}
