//! The discrete-event loop: nodes of the real Babel core, point-to-point links with seeded loss
//! and delay, and virtual time.
//!
//! Owns the event queue, the nodes, the links and their cut state, the FIBs (applied from the
//! core's route changes) and the invariant tallies. It does not decide *when* to cut links or how
//! to measure convergence: that is [`crate::scenario`]'s job, through the public methods here.
//!
//! Time is a base `Instant` taken once at construction plus a virtual offset in nanoseconds. The
//! queue is a binary heap ordered by (time, sequence number), so runs are deterministic. Each node
//! has at most one live timer entry, invalidated lazily by a generation counter when the core's
//! `poll_timeout` moves.
//!
//! Addressing: node `i` has router-id `00:00:00:00:<i+1 as 4 bytes>` (after its `g`-th router-id
//! change, `00:00:<g as 2 bytes>:<i+1 as 4 bytes>`), announces `fd00:6d65:7368::<i+1>/128`, and
//! its `k`-th link (`LinkId(k)`, in the order of the topology's edges) has link-local address
//! `fe80::<(i+1) high 16 bits>:<(i+1) low 16 bits>:<k+1>`. Prefixes with several origins
//! ([`SimConfig::shared`]: `::/0` for gateways, [`anycast_prefix`] for anycast) come after the
//! nodes' own ones in the prefix numbering: prefix `i < nodes` is node `i`'s /128.
//!
//! Faults: a link can be cut (both ways), deaf one way (one end stops hearing the other), in a
//! burst of total loss for a while, or flap; its cost can change; a node can crash, restart
//! without state or with its seqno (as meshd persists it), reboot, change its router-id, and stop
//! or start originating a prefix. See [`Action`].

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use babel::{
    Config, Destination, Event as CoreEvent, LinkConfig, LinkId, Node, Prefix, RouteChange,
};
use babel::{RouterId, Transmit};

use crate::fib::{Entry, Fib, Step, Walk};
use crate::invariants::{is_feasible, Invariants};
use crate::report::Report;
use crate::rng::SplitMix64;
use crate::router::Router;
use crate::topology::{Graph, Topology};

/// Bytes of IPv6 (40) and UDP (8) headers around each Babel packet, for the byte counters.
pub const IP_UDP_HEADER_LEN: u64 = 48;
/// How long a loop across sources (see [`crate::Invariants::source_loops`]) may stand before
/// it counts as a loop: RFC 8966 §1.1 expects it gone "in time proportional to the loop's
/// diameter", a few triggered updates; this is well under one update interval, so a loop that
/// waits for periodic updates to clear counts.
pub const SOURCE_LOOP_BOUND: Duration = Duration::from_secs(5);

/// Everything that defines a run's network.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub nodes: usize,
    pub topology: Topology,
    pub seed: u64,
    /// Probability that one packet in one direction of one link is dropped, in `[0, 1]`.
    pub loss: f64,
    /// Each link's one-way delay is drawn once, uniformly in this range (milliseconds, inclusive).
    pub delay_ms: (u64, u64),
    /// The core's parameters, the same for every node.
    pub babel: Config,
    /// Settings of every link.
    pub link: LinkConfig,
    /// How many invariant violations to describe in [`Invariants::log`].
    pub log_limit: usize,
    /// Prefixes with several origins (gateways announcing `::/0`, anycast), announced from the
    /// start by the listed nodes.
    pub shared: Vec<SharedPrefix>,
    /// Check the feasibility of every selected route of a node after every input to it, not only
    /// of the routes whose next hop changed (an update can change a selected route's router-id or
    /// seqno without moving it). Costs a table scan per packet: on by default up to 64 nodes.
    pub check_every_route: bool,
    /// How long a node may keep forwarding for a prefix after every origin of it became
    /// unreachable from it before the route counts as stale: route expiry (3.5 update intervals,
    /// RFC 8966 §3.5.3) plus margin for lost retractions. `None`: 6 update intervals.
    pub stale_after: Option<Duration>,
    /// How much longer a held (unreachable, RFC 8966 §3.5.4) entry may stay: the core's
    /// `babel::HOLD_TIME` by default.
    pub hold_time: Duration,
}

/// A prefix with several origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedPrefix {
    pub prefix: Prefix,
    pub origins: Vec<usize>,
}

impl SimConfig {
    pub fn new(nodes: usize, topology: Topology, seed: u64) -> SimConfig {
        SimConfig {
            nodes,
            topology,
            seed,
            loss: 0.0,
            delay_ms: (1, 20),
            babel: Config::default(),
            link: LinkConfig::default(),
            log_limit: 20,
            shared: Vec::new(),
            check_every_route: nodes <= 64,
            stale_after: None,
            hold_time: babel::HOLD_TIME,
        }
    }

    /// Adds `count` gateways (seeded choice of nodes) announcing `::/0`.
    pub fn with_gateways(mut self, count: usize) -> SimConfig {
        let origins = pick_nodes(self.seed, 0x6777, self.nodes, count);
        if !origins.is_empty() {
            self.shared.push(SharedPrefix {
                prefix: default_prefix(),
                origins,
            });
        }
        self
    }

    /// Adds one anycast /128 announced by `count` nodes (seeded choice).
    pub fn with_anycast(mut self, count: usize) -> SimConfig {
        let origins = pick_nodes(self.seed, 0x616e_7963, self.nodes, count);
        if !origins.is_empty() {
            let k = self.shared.len();
            self.shared.push(SharedPrefix {
                prefix: anycast_prefix(k),
                origins,
            });
        }
        self
    }

    /// The stale-route bound in force.
    pub fn stale_bound(&self) -> Duration {
        self.stale_after.unwrap_or(self.babel.update_interval * 6)
    }
}

/// `count` distinct nodes out of `nodes`, chosen by `seed`.
fn pick_nodes(seed: u64, salt: u64, nodes: usize, count: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..nodes).collect();
    SplitMix64::derive(seed, salt).shuffle(&mut all);
    all.truncate(count.min(nodes));
    all.sort_unstable();
    all
}

/// `::/0`, what gateways announce.
pub fn default_prefix() -> Prefix {
    Prefix::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).unwrap_or_else(|| unreachable!("/0 is valid"))
}

/// The `k`-th anycast prefix: `fd00:6d65:7368:ffff::<k+1>/128`, outside the nodes' own ones.
pub fn anycast_prefix(k: usize) -> Prefix {
    let addr = Ipv6Addr::new(
        0xfd00,
        0x6d65,
        0x7368,
        0xffff,
        0,
        0,
        0,
        (k as u16).wrapping_add(1),
    );
    Prefix::new(IpAddr::V6(addr), 128).unwrap_or_else(|| unreachable!("/128 is valid"))
}

/// Something scheduled that is not a packet or a timer. Nodes are never told of a fault: they
/// find out as a real router would, from what stops arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Silently drop everything on a link, both ways.
    CutLink(usize),
    /// Ends a cut and any one-way loss on the link (bursts end by themselves).
    HealLink(usize),
    /// One-way loss: everything end `from` (0 is the lower-numbered node) sends on the link is
    /// lost, so the other end stops hearing it while it still hears the other end. Until healed.
    OneWay { link: usize, from: u8 },
    /// Total loss on the link, both ways, for `millis` milliseconds.
    Burst { link: usize, millis: u64 },
    /// Ends one burst (scheduled by `Burst`).
    EndBurst(usize),
    /// Both ends' nominal cost (`LinkConfig::rxcost`) for the link becomes `rxcost`.
    SetCost { link: usize, rxcost: u16 },
    /// Cut and heal the link `times` times (at most 10,000): cut at once and every `period_ms`,
    /// healed half a period after each cut.
    Flap {
        link: usize,
        period_ms: u64,
        times: u32,
    },
    /// Drop a node's state; its peers are not told.
    Crash(usize),
    /// A crashed node comes back as a fresh core with the same router-id, links and prefixes and
    /// nothing remembered (a new random seqno).
    Restart(usize),
    /// A crashed node comes back with the seqno it had when it crashed, as meshd persists it
    /// (`Node::set_seqno`); everything else is forgotten.
    RestartKeepingSeqno(usize),
    /// Crash and restart at once, with or without the seqno.
    Reboot { node: usize, keep_seqno: bool },
    /// The node restarts at once under a new router-id (a new key, in meshd).
    ChangeRouterId(usize),
    /// The node stops originating prefix number `prefix` (its own /128 or a shared prefix).
    Withdraw { node: usize, prefix: usize },
    /// The node starts originating prefix number `prefix`.
    Announce { node: usize, prefix: usize },
}

#[derive(Debug)]
enum Event {
    /// A packet arrives at end `side` of `link`.
    Deliver {
        link: u32,
        side: u8,
        payload: Vec<u8>,
    },
    Timer {
        node: u32,
        generation: u64,
    },
    Action(Action),
    /// The periodic stale-route check.
    Check,
}

#[derive(Debug)]
struct Scheduled {
    at: u64,
    sequence: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.sequence) == (other.at, other.sequence)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.sequence).cmp(&(self.at, self.sequence))
    }
}

#[derive(Debug)]
struct SimNode<R> {
    router: Option<R>,
    router_id: RouterId,
    /// `(simulator link, which end we are)`, indexed by our `LinkId`.
    links: Vec<(u32, u8)>,
    timer_generation: u64,
    timer_at: Option<u64>,
    restarted_at: Option<u64>,
    incarnation: u64,
    /// How many times the router-id changed.
    router_id_changes: u16,
    /// The seqno when it last crashed.
    saved_seqno: Option<u16>,
    /// Prefix numbers the node originates now (while down: will originate when it restarts).
    announcing: Vec<u32>,
}

#[derive(Debug)]
struct SimLink {
    ends: [u32; 2],
    /// The `LinkId` of this link at each end.
    local: [u32; 2],
    delay: u64,
    /// The nominal cost both ends use for it.
    rxcost: u16,
    cut: bool,
    /// Indexed by the sending end: what that end sends is lost.
    one_way: [bool; 2],
    /// Bursts of total loss in progress.
    bursts: u32,
}

impl SimLink {
    /// Whether a packet sent by end `from` is lost to a fault now.
    fn blocked(&self, from: usize) -> bool {
        self.cut || self.bursts > 0 || self.one_way[from]
    }
}

/// Packet and event counters, all cumulative since the start.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// Events processed (stale timer entries excluded).
    pub events: u64,
    /// Transmits the cores produced.
    pub packets_sent: u64,
    /// Babel payload bytes of those transmits.
    pub payload_bytes: u64,
    /// Payload plus [`IP_UDP_HEADER_LEN`] per transmit.
    pub wire_bytes: u64,
    pub packets_delivered: u64,
    /// Dropped by the random per-link loss.
    pub packets_lost: u64,
    /// Dropped because the link was cut, one-way or in a burst when sent or when due.
    pub packets_dropped_cut: u64,
    /// Arrived at a crashed node.
    pub packets_dropped_crashed: u64,
    /// Unicast to an address that is not the peer's link-local address.
    pub packets_misaddressed: u64,
    /// Transmits or route changes naming a `LinkId` the node never got.
    pub unknown_links: u64,
    /// Route changes whose next hop is not the peer's link-local address on that link.
    pub bad_next_hops: u64,
    /// Route changes for prefixes nobody announced.
    pub unknown_prefixes: u64,
    /// `BadPacket` events from the cores.
    pub bad_packets: u64,
    /// Times a core still reported a due timer right after `handle_timeout` (rescheduled 1 ms on).
    pub stuck_timers: u64,
    pub route_changes: u64,
}

/// The simulator. `R` is the routing core; it is `babel::Node` except in this crate's unit tests.
#[derive(Debug)]
pub struct Sim<R: Router = Node> {
    config: SimConfig,
    graph: Graph,
    base: Instant,
    wall_start: Instant,
    now: u64,
    sequence: u64,
    queue: BinaryHeap<Scheduled>,
    nodes: Vec<SimNode<R>>,
    links: Vec<SimLink>,
    node_down: Vec<bool>,
    /// Per link: cut, one-way or in a burst (unusable for routing either way).
    link_cut: Vec<bool>,
    adjacency: Vec<Vec<(usize, usize)>>,
    prefixes: Vec<Prefix>,
    prefix_index: HashMap<Prefix, u32>,
    fib: Fib,
    rng: SplitMix64,
    counters: Counters,
    invariants: Invariants,
    changed: Vec<u32>,
    /// (prefix, node) pairs whose node has had no origin of the prefix reachable, since when.
    unreachable_since: HashMap<(u32, u32), u64>,
    /// Pairs counted as stale and still so (each stale episode is counted once).
    stale: HashSet<(u32, u32)>,
    /// Prefixes found looping at the last periodic scan, outside the restart allowance.
    standing: HashSet<u32>,
    /// Prefixes with a loop across sources, and when it was first seen (`SOURCE_LOOP_BOUND`).
    source_loop_since: HashMap<u32, u64>,
    /// Per prefix: whether `unreachable_since` or `stale` may hold pairs of it.
    tracked: Vec<bool>,
    labels: Vec<usize>,
}

/// Most cut-and-heal cycles one `Flap` schedules.
const MAX_FLAPS: u32 = 10_000;

/// How often the stale-route check runs.
const CHECK_INTERVAL: u64 = 1_000_000_000;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The router-id of node `index`: the low 64 bits of its /128, as meshd derives both from the
/// node's key, which lets updates carry it in the prefix (flag 0x40) instead of a Router-Id TLV.
pub fn router_id(index: usize) -> RouterId {
    changed_router_id(index, 0)
}

/// The router-id of node `index` after `changes` router-id changes.
pub fn changed_router_id(index: usize, changes: u16) -> RouterId {
    let id = (index as u32).wrapping_add(1).to_be_bytes();
    let g = changes.to_be_bytes();
    RouterId([0, 0, g[0], g[1], id[0], id[1], id[2], id[3]])
}

/// The prefix node `index` announces.
pub fn mesh_prefix(index: usize) -> Prefix {
    let id = (index as u32).wrapping_add(1);
    let addr = Ipv6Addr::new(
        0xfd00,
        0x6d65,
        0x7368,
        0,
        0,
        0,
        (id >> 16) as u16,
        id as u16,
    );
    Prefix::new(IpAddr::V6(addr), 128).unwrap_or_else(|| unreachable!("/128 is valid"))
}

/// The link-local address of node `index` on its link `LinkId(link)`.
pub fn link_local(index: usize, link: u32) -> Ipv6Addr {
    let id = (index as u32).wrapping_add(1);
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        0,
        (id >> 16) as u16,
        id as u16,
        (link as u16).wrapping_add(1),
    )
}

impl Sim<Node> {
    /// Builds the network and starts every node at virtual time zero.
    pub fn new(config: SimConfig) -> Result<Sim<Node>, String> {
        Sim::with_router(config)
    }
}

impl<R: Router> Sim<R> {
    /// [`Sim::new`] with another routing core.
    pub fn with_router(config: SimConfig) -> Result<Sim<R>, String> {
        if !(0.0..=1.0).contains(&config.loss) {
            return Err(format!("loss {} is not a fraction in [0, 1]", config.loss));
        }
        if config.delay_ms.0 > config.delay_ms.1 {
            return Err("delay range is empty".to_string());
        }
        if config.nodes == 0 || config.nodes > u32::MAX as usize / 2 {
            return Err(format!("bad node count {}", config.nodes));
        }
        let graph = Graph::generate(&config.topology, config.nodes, config.seed)?;
        let n = config.nodes;
        let mut prefixes: Vec<Prefix> = (0..n).map(mesh_prefix).collect();
        let mut origins: Vec<Vec<u32>> = (0..n).map(|i| vec![i as u32]).collect();
        for shared in &config.shared {
            if prefixes.contains(&shared.prefix) {
                return Err(format!("prefix {} given twice", shared.prefix));
            }
            if let Some(&bad) = shared.origins.iter().find(|&&o| o >= n) {
                return Err(format!("origin {bad} of {} is not a node", shared.prefix));
            }
            prefixes.push(shared.prefix);
            let mut list: Vec<u32> = shared.origins.iter().map(|&o| o as u32).collect();
            list.sort_unstable();
            list.dedup();
            origins.push(list);
        }
        let mut rng = SplitMix64::derive(config.seed, 0x6c69_6e6b);
        let mut nodes: Vec<SimNode<R>> = (0..n)
            .map(|i| SimNode {
                router: None,
                router_id: router_id(i),
                links: Vec::new(),
                timer_generation: 0,
                timer_at: None,
                restarted_at: None,
                incarnation: 0,
                router_id_changes: 0,
                saved_seqno: None,
                announcing: Vec::new(),
            })
            .collect();
        for (p, list) in origins.iter().enumerate() {
            for &o in list {
                nodes[o as usize].announcing.push(p as u32);
            }
        }
        let mut links = Vec::with_capacity(graph.edges.len());
        for (index, &(a, b)) in graph.edges.iter().enumerate() {
            let local = [nodes[a].links.len() as u32, nodes[b].links.len() as u32];
            nodes[a].links.push((index as u32, 0));
            nodes[b].links.push((index as u32, 1));
            let delay_ms = rng.range_inclusive(config.delay_ms.0, config.delay_ms.1);
            links.push(SimLink {
                ends: [a as u32, b as u32],
                local,
                delay: delay_ms * 1_000_000,
                rxcost: config.link.rxcost,
                cut: false,
                one_way: [false; 2],
                bursts: 0,
            });
        }
        let bits: Vec<(u128, u8)> = prefixes
            .iter()
            .map(|p| match p.addr() {
                IpAddr::V6(a) => (u128::from(a), p.len()),
                // IPv4 prefixes are never covered by the IPv6 ones: keep them apart.
                IpAddr::V4(a) => (u128::from(u32::from(a)), p.len() + 96),
            })
            .collect();
        let prefix_index = prefixes
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, i as u32))
            .collect();
        let mut sim = Sim {
            invariants: Invariants::new(config.log_limit),
            fib: Fib::new(n, &bits, origins),
            adjacency: graph.adjacency(),
            graph,
            base: Instant::now(),
            wall_start: Instant::now(),
            now: 0,
            sequence: 0,
            queue: BinaryHeap::new(),
            nodes,
            link_cut: vec![false; links.len()],
            links,
            node_down: vec![true; n],
            prefixes,
            prefix_index,
            rng: SplitMix64::derive(config.seed, 0x6c6f_7373),
            counters: Counters::default(),
            changed: Vec::new(),
            unreachable_since: HashMap::new(),
            stale: HashSet::new(),
            standing: HashSet::new(),
            source_loop_since: HashMap::new(),
            tracked: vec![false; n + config.shared.len()],
            labels: vec![0; n],
            config,
        };
        for i in 0..n {
            sim.start_node(i, None);
        }
        sim.push(CHECK_INTERVAL, Event::Check);
        Ok(sim)
    }

    // ---- getters ----

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Virtual time since the start.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.now)
    }

    /// The `Instant` the cores see for virtual time `t`.
    pub fn instant(&self, t: Duration) -> Instant {
        self.base + t
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn invariants(&self) -> &Invariants {
        &self.invariants
    }

    /// Node `index`'s core, unless it is crashed.
    pub fn node(&self, index: usize) -> Option<&R> {
        self.nodes.get(index)?.router.as_ref()
    }

    pub fn is_down(&self, index: usize) -> bool {
        self.node_down[index]
    }

    pub fn is_cut(&self, link: usize) -> bool {
        self.link_cut[link]
    }

    pub fn cut_flags(&self) -> &[bool] {
        &self.link_cut
    }

    pub fn down_flags(&self) -> &[bool] {
        &self.node_down
    }

    /// Prefix number `index`: node `index`'s /128 for `index < nodes`, then the shared ones.
    pub fn prefix(&self, index: usize) -> Prefix {
        self.prefixes[index]
    }

    /// How many prefixes there are (the nodes' own, then the shared ones).
    pub fn prefix_count(&self) -> usize {
        self.prefixes.len()
    }

    /// The number of a prefix, if the simulator announces it.
    pub fn prefix_number(&self, prefix: Prefix) -> Option<usize> {
        self.prefix_index.get(&prefix).map(|&i| i as usize)
    }

    /// The nodes originating prefix number `prefix` now (crashed ones included: they will again
    /// when they restart).
    pub fn origins(&self, prefix: usize) -> &[u32] {
        self.fib.origins(prefix)
    }

    /// The prefix numbers node `node` originates now.
    pub fn announcing(&self, node: usize) -> &[u32] {
        &self.nodes[node].announcing
    }

    /// Node `node`'s router-id now.
    pub fn router_id_of(&self, node: usize) -> RouterId {
        self.nodes[node].router_id
    }

    /// Node `node`'s forwarding entry for prefix number `prefix`.
    pub fn entry(&self, node: usize, prefix: usize) -> Option<Entry> {
        self.fib.get(node, prefix)
    }

    /// Node `node`'s installed route to `destination`'s prefix: `(next-hop node, simulator link,
    /// metric)` (`None` if none, or held unreachable).
    pub fn route(&self, node: usize, destination: usize) -> Option<(usize, usize, u16)> {
        match self.fib.get(node, destination) {
            Some(Entry::Forward { next, link, metric }) => {
                Some((next as usize, link as usize, metric))
            }
            _ => None,
        }
    }

    /// The real cost of crossing `link` from node `from`: the nominal cost both ends use, plus the
    /// RTT penalty its round-trip delay earns (RFC 9616, the core's shape), if RTT is in use.
    pub fn link_cost(&self, link: usize, _from: usize) -> u64 {
        let l = &self.links[link];
        let mut cost = u64::from(l.rxcost);
        if let Some(rtt) = &self.config.link.rtt {
            let round_trip = Duration::from_nanos(2 * l.delay);
            if round_trip >= rtt.max {
                cost += u64::from(rtt.max_penalty);
            } else if round_trip > rtt.min {
                let span = (rtt.max - rtt.min).as_nanos() as u64;
                let over = (round_trip - rtt.min).as_nanos() as u64;
                cost += u64::from(rtt.max_penalty) * over / span.max(1);
            }
        }
        cost
    }

    /// The forwarding walk from `from` for an address in prefix number `prefix`, by
    /// longest-prefix match at every node, with the real cost of the links crossed.
    pub fn forwarding_walk(&self, from: usize, prefix: usize) -> Walk {
        self.fib.walk(from, prefix, &self.node_down, |link, node| {
            self.link_cost(link, node)
        })
    }

    /// Follows forwarding decisions from `from` towards `to`'s /128 (or prefix number `to`); the
    /// nodes visited, ending at an origin if one is reached (stops at a loop, a missing route, a
    /// cut link or a down node).
    pub fn path(&self, from: usize, to: usize) -> Vec<usize> {
        let mut path = vec![from];
        let mut current = from;
        while path.len() <= self.nodes.len() {
            let Step::Forward { next, link } = self.fib.step(current, to, &self.node_down) else {
                break;
            };
            if self.link_cut[link as usize] || self.node_down[next as usize] {
                break;
            }
            current = next as usize;
            path.push(current);
        }
        path
    }

    /// Whether forwarding from every live node reaches a live origin of every prefix that has
    /// one, over links that are not cut, one-way or in a burst.
    pub fn fully_connected(&mut self) -> bool {
        self.fib.fully_connected(&self.node_down, &self.link_cut)
    }

    /// Whether every live node's installed metric to every prefix (every live origin's, for a
    /// shared one: the nearest) is within `switch_hysteresis` of the shortest-path metric over
    /// the current link costs (each directed link costing what the sending node reports in
    /// `neighbours()`; faulty links and links to down nodes excluded). Pairs with no finite path
    /// are not judged.
    pub fn is_optimal(&self) -> bool {
        self.optimality_violations(1).is_empty()
    }

    /// Up to `limit` (node, prefix number, selected metric, shortest-path metric) tuples where
    /// the node's route is missing or worse than the shortest path by more than the hysteresis.
    pub fn optimality_violations(&self, limit: usize) -> Vec<(usize, usize, u32, u32)> {
        let mut violations = Vec::new();
        let n = self.nodes.len();
        let infinity = u32::from(babel::wire::INFINITY);
        // Reverse adjacency: for each node v, the (u, cost of u -> v) pairs.
        let mut reverse: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
        for (u, slot) in self.nodes.iter().enumerate() {
            let Some(router) = &slot.router else { continue };
            for neighbour in router.neighbours() {
                let Some(&(link, side)) = slot.links.get(neighbour.link.0 as usize) else {
                    continue;
                };
                let link = link as usize;
                let peer_side = usize::from(1 - side);
                let v = self.links[link].ends[peer_side] as usize;
                if self.link_cut[link]
                    || self.node_down[v]
                    || neighbour.cost == babel::wire::INFINITY
                    || neighbour.address != link_local(v, self.links[link].local[peer_side])
                {
                    continue;
                }
                reverse[v].push((u as u32, u32::from(neighbour.cost)));
            }
        }
        let hysteresis = u32::from(self.config.babel.switch_hysteresis);
        let mut distance = vec![u32::MAX; n];
        let mut heap = BinaryHeap::new();
        for prefix in 0..self.prefixes.len() {
            distance.fill(u32::MAX);
            let mut any = false;
            for &o in self.fib.origins(prefix) {
                if !self.node_down[o as usize] {
                    distance[o as usize] = 0;
                    heap.push(std::cmp::Reverse((0u32, o)));
                    any = true;
                }
            }
            if !any {
                continue;
            }
            while let Some(std::cmp::Reverse((d, v))) = heap.pop() {
                if d > distance[v as usize] {
                    continue;
                }
                for &(u, cost) in &reverse[v as usize] {
                    let candidate = d + cost;
                    if candidate < distance[u as usize] {
                        distance[u as usize] = candidate;
                        heap.push(std::cmp::Reverse((candidate, u)));
                    }
                }
            }
            let p = self.prefixes[prefix];
            for u in (0..n).filter(|&u| !self.node_down[u] && distance[u] != 0) {
                if distance[u] >= infinity {
                    continue;
                }
                // The FIB says where packets go; the core's selected route says at what metric
                // (route changes are only reported when the next hop moves).
                if !matches!(self.fib.get(u, prefix), Some(Entry::Forward { .. })) {
                    violations.push((u, prefix, infinity, distance[u]));
                    if violations.len() >= limit {
                        return violations;
                    }
                    continue;
                }
                let metric = self.nodes[u]
                    .router
                    .as_ref()
                    .and_then(|r| r.selected_route(p))
                    .map_or(infinity, |r| u32::from(r.metric));
                if metric > distance[u] + hysteresis {
                    violations.push((u, prefix, metric, distance[u]));
                    if violations.len() >= limit {
                        return violations;
                    }
                }
            }
        }
        violations
    }

    /// Counters and invariants as a [`Report`], without the scenario's measurements.
    pub fn report(&self) -> Report {
        let wall = self.wall_start.elapsed().as_secs_f64();
        let sim_seconds = self.now().as_secs_f64();
        Report {
            nodes: self.nodes.len(),
            links: self.links.len(),
            seed: self.config.seed,
            loss: self.config.loss,
            loops: self.invariants.loops,
            loops_through_shorter: self.invariants.loops_through_shorter,
            restart_loops: self.invariants.restart_loops,
            source_loops: self.invariants.source_loops,
            infeasible: self.invariants.infeasible,
            stale_routes: self.invariants.stale_routes,
            packets_sent: self.counters.packets_sent,
            events: self.counters.events,
            sim_seconds,
            wall_seconds: wall,
            sim_seconds_per_wall_second: if wall > 0.0 { sim_seconds / wall } else { 0.0 },
            counters: self.counters,
            core: self
                .nodes
                .iter()
                .fold(babel::Stats::default(), |mut total, slot| {
                    if let Some(router) = &slot.router {
                        total.add(&router.stats());
                    }
                    total
                }),
            ..Report::default()
        }
    }

    // ---- driving ----

    /// Processes every event due at or before virtual time `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: Duration) {
        let until = nanos(t);
        while self.queue.peek().is_some_and(|s| s.at <= until) {
            let Some(scheduled) = self.queue.pop() else {
                break;
            };
            self.now = self.now.max(scheduled.at);
            self.process(scheduled.event);
        }
        self.now = self.now.max(until);
    }

    /// Schedules `action` at virtual time `at` (or now, if that is past).
    pub fn schedule(&mut self, at: Duration, action: Action) {
        let at = nanos(at).max(self.now);
        self.push(at, Event::Action(action));
    }

    /// Applies `action` now. Indices out of range are ignored.
    pub fn apply(&mut self, action: Action) {
        self.counters.events += 1;
        let links = self.links.len();
        let nodes = self.nodes.len();
        match action {
            Action::CutLink(link) if link < links => {
                self.links[link].cut = true;
                self.link_changed(link);
            }
            Action::HealLink(link) if link < links => {
                self.links[link].cut = false;
                self.links[link].one_way = [false; 2];
                self.link_changed(link);
            }
            Action::OneWay { link, from } if link < links && from < 2 => {
                self.links[link].one_way[usize::from(from)] = true;
                self.link_changed(link);
            }
            Action::Burst { link, millis } if link < links => {
                self.links[link].bursts += 1;
                self.link_changed(link);
                let at = self.now + millis.saturating_mul(1_000_000);
                self.push(at, Event::Action(Action::EndBurst(link)));
            }
            Action::EndBurst(link) if link < links => {
                self.links[link].bursts = self.links[link].bursts.saturating_sub(1);
                self.link_changed(link);
            }
            Action::SetCost { link, rxcost } if link < links => self.set_cost(link, rxcost),
            Action::Flap {
                link,
                period_ms,
                times,
            } if link < links => {
                let period = period_ms.max(2).saturating_mul(1_000_000);
                // Bounded, so that a mistyped count cannot fill memory with events.
                for k in 0..u64::from(times.min(MAX_FLAPS)) {
                    let at = self.now + k * period;
                    self.push(at, Event::Action(Action::CutLink(link)));
                    self.push(at + period / 2, Event::Action(Action::HealLink(link)));
                }
            }
            Action::Crash(node) if node < nodes => self.crash(node),
            Action::Restart(node) if node < nodes => self.restart(node, false),
            Action::RestartKeepingSeqno(node) if node < nodes => self.restart(node, true),
            Action::Reboot { node, keep_seqno } if node < nodes => {
                self.crash(node);
                self.restart(node, keep_seqno);
            }
            Action::ChangeRouterId(node) if node < nodes => {
                self.crash(node);
                let slot = &mut self.nodes[node];
                slot.router_id_changes = slot.router_id_changes.wrapping_add(1);
                slot.router_id = changed_router_id(node, slot.router_id_changes);
                self.restart(node, false);
            }
            Action::Withdraw { node, prefix } if node < nodes && prefix < self.prefixes.len() => {
                self.withdraw(node, prefix)
            }
            Action::Announce { node, prefix } if node < nodes && prefix < self.prefixes.len() => {
                self.announce(node, prefix)
            }
            _ => {}
        }
    }

    /// Ends every fault: heals every link (cuts and one-way loss; bursts end by themselves),
    /// restarts every crashed node (without state) and has every node originate what it
    /// originated at the start again.
    pub fn heal_everything(&mut self) {
        for link in 0..self.links.len() {
            self.apply(Action::HealLink(link));
        }
        for node in 0..self.nodes.len() {
            self.apply(Action::Restart(node));
        }
        let mut initial: Vec<(usize, usize)> = (0..self.nodes.len()).map(|i| (i, i)).collect();
        for (k, shared) in self.config.shared.iter().enumerate() {
            for &o in &shared.origins {
                initial.push((o, self.nodes.len() + k));
            }
        }
        for (node, prefix) in initial {
            self.apply(Action::Announce { node, prefix });
        }
    }

    pub fn cut_link(&mut self, link: usize) {
        self.apply(Action::CutLink(link));
    }

    pub fn heal_link(&mut self, link: usize) {
        self.apply(Action::HealLink(link));
    }

    pub fn crash_node(&mut self, node: usize) {
        self.apply(Action::Crash(node));
    }

    pub fn restart_node(&mut self, node: usize) {
        self.apply(Action::Restart(node));
    }

    fn push(&mut self, at: u64, event: Event) {
        self.sequence += 1;
        self.queue.push(Scheduled {
            at,
            sequence: self.sequence,
            event,
        });
    }

    fn link_changed(&mut self, link: usize) {
        let l = &self.links[link];
        self.link_cut[link] = l.cut || l.bursts > 0 || l.one_way[0] || l.one_way[1];
    }

    fn process(&mut self, event: Event) {
        match event {
            Event::Deliver {
                link,
                side,
                payload,
            } => {
                self.counters.events += 1;
                self.deliver(link as usize, usize::from(side), &payload);
            }
            Event::Timer { node, generation } => {
                let node = node as usize;
                if self.nodes[node].timer_generation != generation {
                    return;
                }
                self.counters.events += 1;
                self.nodes[node].timer_at = None;
                let now = self.base + Duration::from_nanos(self.now);
                let Some(mut router) = self.nodes[node].router.take() else {
                    return;
                };
                router.handle_timeout(now);
                self.after_input(node, router, true);
            }
            Event::Action(action) => self.apply(action),
            Event::Check => {
                self.check_stale();
                if self.config.check_every_route {
                    self.scan_loops();
                }
                self.push(self.now + CHECK_INTERVAL, Event::Check);
            }
        }
    }

    fn start_node(&mut self, index: usize, seqno: Option<u16>) {
        let seed = SplitMix64::derive(
            self.config.seed,
            ((index as u64) << 20) ^ self.nodes[index].incarnation,
        )
        .next_u64();
        let now = self.base + Duration::from_nanos(self.now);
        let mut router = R::create(
            self.config.babel.clone(),
            self.nodes[index].router_id,
            seed,
            now,
        );
        if let Some(seqno) = seqno {
            router.set_seqno(seqno);
        }
        for (k, &(link, side)) in self.nodes[index].links.iter().enumerate() {
            let l = &self.links[link as usize];
            debug_assert_eq!(l.local[usize::from(side)], k as u32);
            let mut config = self.config.link.clone();
            config.rxcost = l.rxcost;
            router.add_link(now, LinkId(k as u32), link_local(index, k as u32), config);
        }
        for &p in &self.nodes[index].announcing {
            router.add_local_prefix(now, self.prefixes[p as usize]);
        }
        self.node_down[index] = false;
        self.after_input(index, router, false);
    }

    fn restart(&mut self, index: usize, keep_seqno: bool) {
        if !self.node_down[index] {
            return;
        }
        let slot = &mut self.nodes[index];
        slot.restarted_at = Some(self.now);
        slot.incarnation += 1;
        let seqno = if keep_seqno { slot.saved_seqno } else { None };
        self.start_node(index, seqno);
    }

    fn crash(&mut self, index: usize) {
        let slot = &mut self.nodes[index];
        let Some(router) = slot.router.take() else {
            return;
        };
        slot.saved_seqno = Some(router.seqno());
        slot.timer_generation += 1;
        slot.timer_at = None;
        self.node_down[index] = true;
        self.fib.clear_node(index);
    }

    fn set_cost(&mut self, link: usize, rxcost: u16) {
        self.links[link].rxcost = rxcost;
        let now = self.base + Duration::from_nanos(self.now);
        for side in 0..2 {
            let l = &self.links[link];
            let (node, local) = (l.ends[side] as usize, l.local[side]);
            let Some(mut router) = self.nodes[node].router.take() else {
                continue;
            };
            let mut config = self.config.link.clone();
            config.rxcost = rxcost;
            router.add_link(now, LinkId(local), link_local(node, local), config);
            self.after_input(node, router, false);
        }
    }

    fn withdraw(&mut self, node: usize, prefix: usize) {
        let slot = &mut self.nodes[node];
        let Some(i) = slot.announcing.iter().position(|&p| p as usize == prefix) else {
            return;
        };
        slot.announcing.remove(i);
        self.fib.set_origin(prefix, node, false);
        if let Some(mut router) = self.nodes[node].router.take() {
            let now = self.base + Duration::from_nanos(self.now);
            router.remove_local_prefix(now, self.prefixes[prefix]);
            self.after_input(node, router, false);
        }
        // Packets for the prefix that arrived here now go by this node's table: that can close
        // a loop without any route changing.
        let covered = self.fib.covered_by(prefix).to_vec();
        self.check_loop(node, prefix, None);
        for p in covered {
            if self.fib.decides_by(node, p as usize, prefix) {
                self.check_loop(node, p as usize, None);
            }
        }
    }

    fn announce(&mut self, node: usize, prefix: usize) {
        let slot = &mut self.nodes[node];
        if slot.announcing.iter().any(|&p| p as usize == prefix) {
            return;
        }
        slot.announcing.push(prefix as u32);
        self.fib.set_origin(prefix, node, true);
        if let Some(mut router) = self.nodes[node].router.take() {
            let now = self.base + Duration::from_nanos(self.now);
            router.add_local_prefix(now, self.prefixes[prefix]);
            self.after_input(node, router, false);
        }
    }

    fn deliver(&mut self, link: usize, side: usize, payload: &[u8]) {
        let l = &self.links[link];
        if l.blocked(1 - side) {
            self.counters.packets_dropped_cut += 1;
            return;
        }
        let to = l.ends[side] as usize;
        let local = LinkId(l.local[side]);
        let from = link_local(l.ends[1 - side] as usize, l.local[1 - side]);
        let Some(mut router) = self.nodes[to].router.take() else {
            self.counters.packets_dropped_crashed += 1;
            return;
        };
        self.counters.packets_delivered += 1;
        router.handle_packet(
            self.base + Duration::from_nanos(self.now),
            local,
            from,
            payload,
        );
        self.after_input(to, router, false);
    }

    /// Drains everything the core produced after one input, puts it back, reschedules its timer
    /// and checks the invariants for the prefixes whose routes changed (and, with
    /// `check_every_route`, the feasibility of every selected route).
    fn after_input(&mut self, index: usize, mut router: R, ran_timeout: bool) {
        while let Some(transmit) = router.poll_transmit() {
            self.send(index, transmit);
        }
        self.changed.clear();
        while let Some(change) = router.poll_route_change() {
            self.apply_route_change(index, change);
        }
        while let Some(event) = router.poll_event() {
            if let CoreEvent::BadPacket { .. } = event {
                self.counters.bad_packets += 1;
            }
        }
        self.reschedule_timer(index, &router, ran_timeout);
        if self.config.check_every_route {
            for prefix in 0..self.prefixes.len() {
                self.check_feasibility(index, &router, prefix);
            }
        }
        if !self.changed.is_empty() {
            self.changed.sort_unstable();
            self.changed.dedup();
            let changed = std::mem::take(&mut self.changed);
            for &prefix in &changed {
                let prefix = prefix as usize;
                if !self.config.check_every_route {
                    self.check_feasibility(index, &router, prefix);
                }
                self.check_loop(index, prefix, Some(&router));
                // A covering prefix (`::/0`) also carries the packets of every prefix this node
                // has no entry of its own for.
                for i in 0..self.fib.covered_by(prefix).len() {
                    let p = self.fib.covered_by(prefix)[i] as usize;
                    if self.fib.decides_by(index, p, prefix) {
                        self.check_loop(index, p, Some(&router));
                    }
                }
            }
            self.changed = changed;
        }
        self.nodes[index].router = Some(router);
    }

    fn reschedule_timer(&mut self, index: usize, router: &R, ran_timeout: bool) {
        let slot = &mut self.nodes[index];
        let Some(deadline) = router.poll_timeout() else {
            if slot.timer_at.is_some() {
                slot.timer_generation += 1;
                slot.timer_at = None;
            }
            return;
        };
        let mut at = nanos(deadline.saturating_duration_since(self.base)).max(self.now);
        if ran_timeout && at <= self.now {
            // The core left a due timer after running its timers: do not spin on it.
            self.counters.stuck_timers += 1;
            at = self.now + 1_000_000;
        }
        if slot.timer_at == Some(at) {
            return;
        }
        slot.timer_generation += 1;
        slot.timer_at = Some(at);
        let generation = slot.timer_generation;
        self.push(
            at,
            Event::Timer {
                node: index as u32,
                generation,
            },
        );
    }

    fn send(&mut self, index: usize, transmit: Transmit) {
        let length = transmit.payload.len() as u64;
        self.counters.packets_sent += 1;
        self.counters.payload_bytes += length;
        self.counters.wire_bytes += length + IP_UDP_HEADER_LEN;
        let Some(&(link, side)) = self.nodes[index].links.get(transmit.link.0 as usize) else {
            self.counters.unknown_links += 1;
            return;
        };
        let l = &self.links[link as usize];
        let peer_side = 1 - usize::from(side);
        if let Destination::Unicast(address) = transmit.destination {
            if address != link_local(l.ends[peer_side] as usize, l.local[peer_side]) {
                self.counters.packets_misaddressed += 1;
                return;
            }
        }
        if l.blocked(usize::from(side)) {
            self.counters.packets_dropped_cut += 1;
            return;
        }
        if self.config.loss > 0.0 && self.rng.next_f64() < self.config.loss {
            self.counters.packets_lost += 1;
            return;
        }
        let at = self.now + l.delay;
        self.push(
            at,
            Event::Deliver {
                link,
                side: peer_side as u8,
                payload: transmit.payload,
            },
        );
    }

    fn apply_route_change(&mut self, index: usize, change: RouteChange) {
        self.counters.route_changes += 1;
        let Some(&prefix) = self.prefix_index.get(&change.prefix()) else {
            self.counters.unknown_prefixes += 1;
            return;
        };
        let prefix = prefix as usize;
        let entry = match change {
            // Held unreachable (RFC 8966 §3.5.4): packets are dropped, never forwarded by a
            // shorter prefix such as `::/0`.
            RouteChange::Unreachable { .. } => Some(Entry::Drop),
            RouteChange::Remove { .. } => None,
            RouteChange::Add {
                next_hop,
                link,
                metric,
                ..
            }
            | RouteChange::Replace {
                next_hop,
                link,
                metric,
                ..
            } => {
                let Some(&(sim_link, side)) = self.nodes[index].links.get(link.0 as usize) else {
                    self.counters.unknown_links += 1;
                    return;
                };
                let l = &self.links[sim_link as usize];
                let peer_side = 1 - usize::from(side);
                let peer = l.ends[peer_side];
                if next_hop != IpAddr::V6(link_local(peer as usize, l.local[peer_side])) {
                    // Forwarding would still leave by this link, to its only peer.
                    self.counters.bad_next_hops += 1;
                }
                Some(Entry::Forward {
                    next: peer,
                    link: sim_link,
                    metric,
                })
            }
        };
        self.fib.set(index, prefix, entry);
        self.changed.push(prefix as u32);
    }

    fn check_feasibility(&mut self, index: usize, router: &R, prefix: usize) {
        let p = self.prefixes[prefix];
        let Some(route) = router.selected_route(p) else {
            return;
        };
        if route.neighbour.is_none() {
            return;
        }
        let source = router.source(p, route.router_id);
        if is_feasible(&route, source.as_ref()) {
            return;
        }
        self.invariants.infeasible += 1;
        let now = self.now();
        self.invariants.record(|| {
            format!(
                "{now:?}: node {index} selected an unfeasible route to {p}: \
                 {route:?} against source {source:?}"
            )
        });
    }

    /// The router-ids of the routes the nodes of `cycle` forward `prefix` by: more than one is
    /// a loop across sources (RFC 8966 §1.1). `current` is the node whose router is out of its
    /// slot while its outputs are handled.
    fn cycle_sources(&self, cycle: &[u32], prefix: usize, current: Option<(usize, &R)>) -> usize {
        let p = self.prefixes[prefix];
        let mut ids: Vec<RouterId> = cycle
            .iter()
            .filter_map(|&v| {
                let v = v as usize;
                let router = match current {
                    Some((i, r)) if i == v => Some(r),
                    _ => self.nodes[v].router.as_ref(),
                };
                router
                    .and_then(|r| r.selected_route(p))
                    .map(|r| r.router_id)
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    fn check_loop(&mut self, index: usize, prefix: usize, current: Option<&R>) {
        let window = nanos(self.config.babel.update_interval.mul_f64(3.5));
        let now = self.now;
        let Some(cycle) = self.fib.find_loop(index, prefix, &self.node_down) else {
            return;
        };
        let cycle = cycle.to_vec();
        if self.cycle_sources(&cycle, prefix, current.map(|r| (index, r))) > 1 {
            // Across sources: allowed while transient (RFC 8966 §1.1); `scan_loops` counts one
            // that stands longer than `SOURCE_LOOP_BOUND`.
            self.invariants.source_loops += 1;
            self.source_loop_since.entry(prefix as u32).or_insert(now);
            let p = self.prefixes[prefix];
            self.invariants.record(|| {
                format!(
                    "{:?}: loop across sources for prefix {prefix} ({p}) after a change at node \
                     {index}: {cycle:?} (allowed while transient)",
                    Duration::from_nanos(now)
                )
            });
            return;
        }
        let after_restart = cycle.iter().any(|&v| {
            self.nodes[v as usize]
                .restarted_at
                .is_some_and(|at| now.saturating_sub(at) < window)
        });
        // A node in the cycle with no entry of its own for the prefix forwards by a shorter one.
        let shorter = cycle.iter().any(|&v| !self.fib.has_own(v as usize, prefix));
        let description = if self.invariants.log.len() < self.invariants.log_limit {
            Some(format!(
                "{:?}: loop for prefix {prefix} ({}) after a change at node {index}: {:?}{}{}",
                Duration::from_nanos(now),
                self.prefixes[prefix],
                cycle,
                if shorter {
                    " (through a shorter prefix)"
                } else {
                    ""
                },
                if after_restart {
                    " (recent restart)"
                } else {
                    ""
                }
            ))
        } else {
            None
        };
        if after_restart {
            self.invariants.restart_loops += 1;
        } else {
            self.invariants.loops += 1;
            if shorter {
                self.invariants.loops_through_shorter += 1;
            }
        }
        if let Some(description) = description {
            self.invariants.record(|| description);
        }
    }

    /// Walks every prefix's tables from every node: a loop still standing once no node in it is
    /// within the restart allowance is counted (once per episode), even if it formed inside the
    /// allowance or no entry in it changed since. Runs once a virtual second, for small networks
    /// (`check_every_route`).
    fn scan_loops(&mut self) {
        let window = nanos(self.config.babel.update_interval.mul_f64(3.5));
        let now = self.now;
        for prefix in 0..self.prefixes.len() {
            let Some(cycle) = self.fib.any_cycle(prefix, &self.node_down) else {
                self.standing.remove(&(prefix as u32));
                self.source_loop_since.remove(&(prefix as u32));
                continue;
            };
            if self.standing.contains(&(prefix as u32)) {
                continue;
            }
            let cycle = cycle.to_vec();
            if self.cycle_sources(&cycle, prefix, None) > 1 {
                // Across sources: excused while younger than the bound.
                let since = *self.source_loop_since.entry(prefix as u32).or_insert(now);
                if now.saturating_sub(since) < nanos(SOURCE_LOOP_BOUND) {
                    continue;
                }
            } else {
                self.source_loop_since.remove(&(prefix as u32));
            }
            let excused = cycle.iter().any(|&v| {
                self.nodes[v as usize]
                    .restarted_at
                    .is_some_and(|at| now.saturating_sub(at) < window)
            });
            if excused {
                continue;
            }
            self.standing.insert(prefix as u32);
            self.invariants.loops += 1;
            self.invariants.standing_loops += 1;
            let shorter = cycle.iter().any(|&v| !self.fib.has_own(v as usize, prefix));
            if shorter {
                self.invariants.loops_through_shorter += 1;
            }
            let p = self.prefixes[prefix];
            self.invariants.record(|| {
                format!(
                    "{:?}: loop standing for prefix {prefix} ({p}): {cycle:?}{}",
                    Duration::from_nanos(now),
                    if shorter {
                        " (through a shorter prefix)"
                    } else {
                        ""
                    }
                )
            });
        }
    }

    /// Counts entries (forward or held) that a node keeps for a prefix longer than the bound
    /// after no live origin of it is reachable from the node over usable links. Runs once a
    /// virtual second; costs one pass over the links, plus one over the nodes for each prefix
    /// that some live node cannot reach.
    fn check_stale(&mut self) {
        let n = self.nodes.len();
        // Component labels over usable links and live nodes.
        let mut queue = Vec::new();
        self.labels.fill(usize::MAX);
        let mut components = 0;
        for start in 0..n {
            if self.node_down[start] || self.labels[start] != usize::MAX {
                continue;
            }
            components += 1;
            self.labels[start] = start;
            queue.push(start);
            while let Some(v) = queue.pop() {
                for &(w, link) in &self.adjacency[v] {
                    if !self.link_cut[link] && !self.node_down[w] && self.labels[w] == usize::MAX {
                        self.labels[w] = start;
                        queue.push(w);
                    }
                }
            }
        }
        let now = self.now;
        let forward_bound = nanos(self.config.stale_bound());
        let held_bound = forward_bound.saturating_add(nanos(self.config.hold_time));
        let mut origin_labels = Vec::new();
        for prefix in 0..self.prefixes.len() {
            origin_labels.clear();
            for &o in self.fib.origins(prefix) {
                if !self.node_down[o as usize] {
                    origin_labels.push(self.labels[o as usize]);
                }
            }
            if components <= 1 && !origin_labels.is_empty() {
                // Everyone reaches an origin: nothing here can be stale.
                if std::mem::take(&mut self.tracked[prefix]) {
                    for v in 0..n {
                        let key = (prefix as u32, v as u32);
                        self.unreachable_since.remove(&key);
                        self.stale.remove(&key);
                    }
                }
                continue;
            }
            self.tracked[prefix] = true;
            for v in 0..n {
                let key = (prefix as u32, v as u32);
                if self.node_down[v] || origin_labels.contains(&self.labels[v]) {
                    self.unreachable_since.remove(&key);
                    self.stale.remove(&key);
                    continue;
                }
                let since = *self.unreachable_since.entry(key).or_insert(now);
                let bound = match self.fib.get(v, prefix) {
                    None => {
                        self.stale.remove(&key);
                        continue;
                    }
                    Some(Entry::Forward { .. }) => forward_bound,
                    Some(Entry::Drop) => held_bound,
                };
                if now - since > bound && self.stale.insert(key) {
                    self.invariants.stale_routes += 1;
                    let p = self.prefixes[prefix];
                    let entry = self.fib.get(v, prefix);
                    self.invariants.record(|| {
                        format!(
                            "{:?}: node {v} still has {entry:?} for prefix {prefix} ({p}), \
                             {:?} after its last origin became unreachable",
                            Duration::from_nanos(now),
                            Duration::from_nanos(now - since)
                        )
                    });
                }
            }
        }
    }
}
