//! The protocol core: one Babel node (RFC 8966 §3), driven by `handle_*` calls with explicit
//! times and drained with `poll_*` calls. It owns the tables of §3.2 (links, neighbours, sources,
//! routes, pending requests) and never touches a socket or a clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::config::{Config, LinkConfig};
use crate::filter::{ImportFilter, Refusal};
use crate::hash::FastMap;
use crate::ids::NeighbourId;
pub use crate::ids::{Destination, LinkId};
use crate::interface::{Link, Unacked};
use crate::neighbour::{Neighbour, Probe, PROBE_ATTEMPTS, PROBE_TIMEOUT};
use crate::resend::{Requests, REQUEST_ATTEMPTS, REQUEST_RESEND};
use crate::rng::Rng;
use crate::route::{
    select, total_metric, Announcement, Candidate, PrefixEntry, Route, HOLD_TIME, RETRACTED_HOLD,
};
use crate::source::SourceTable;
use crate::wire::{
    parse_packet, seqno_newer, Encoder, IhuTimestamps, Message, Prefix, RouterId, INFINITY,
};

// The rest of `impl Node`, one file per part of the protocol: inputs (per-TLV handlers),
// neighbours and costs, selection, outputs and timers; and import filtering's side of the node
// (`node/import.rs`): setting a filter and re-judging.
mod import;
mod input;
mod neighbours;
mod output;
mod select;
mod timers;

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
