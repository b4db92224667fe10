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
//! Addressing: node `i` has router-id `6d:73:00:00:<i+1 as 4 bytes>`, announces
//! `fd00:6d65:7368::<i+1>/128`, and its `k`-th link (`LinkId(k)`, in the order of the topology's
//! edges) has link-local address `fe80::<(i+1) high 16 bits>:<(i+1) low 16 bits>:<k+1>`.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use babel::{
    Config, Destination, Event as CoreEvent, LinkConfig, LinkId, Node, Prefix, RouteChange,
};
use babel::{RouterId, Transmit};

use crate::fib::{Entry, Fib};
use crate::invariants::{is_feasible, Invariants};
use crate::report::Report;
use crate::rng::SplitMix64;
use crate::router::Router;
use crate::topology::{Graph, Topology};

/// Bytes of IPv6 (40) and UDP (8) headers around each Babel packet, for the byte counters.
pub const IP_UDP_HEADER_LEN: u64 = 48;

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
        }
    }
}

/// Something scheduled that is not a packet or a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Silently drop everything on a link, both ways (nodes are not told).
    CutLink(usize),
    HealLink(usize),
    /// Drop a node's state; its peers are not told.
    Crash(usize),
    /// A fresh core with the same router-id, links and prefix.
    Restart(usize),
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
}

#[derive(Debug)]
struct SimLink {
    ends: [u32; 2],
    /// The `LinkId` of this link at each end.
    local: [u32; 2],
    delay: u64,
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
    /// Dropped because the link was cut when sent or when due.
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
    link_cut: Vec<bool>,
    prefixes: Vec<Prefix>,
    prefix_index: HashMap<Prefix, u32>,
    fib: Fib,
    rng: SplitMix64,
    counters: Counters,
    invariants: Invariants,
    changed: Vec<u32>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The router-id of node `index`: the low 64 bits of its /128, as meshd derives both from the
/// node's key, which lets updates carry it in the prefix (flag 0x40) instead of a Router-Id TLV.
pub fn router_id(index: usize) -> RouterId {
    let id = (index as u32).wrapping_add(1).to_be_bytes();
    RouterId([0, 0, 0, 0, id[0], id[1], id[2], id[3]])
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
            })
            .collect();
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
            });
        }
        let prefixes: Vec<Prefix> = (0..n).map(mesh_prefix).collect();
        let prefix_index = prefixes
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, i as u32))
            .collect();
        let mut sim = Sim {
            invariants: Invariants::new(config.log_limit),
            fib: Fib::new(n),
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
            config,
        };
        for i in 0..n {
            sim.start_node(i);
        }
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

    /// The prefix node `index` announces.
    pub fn prefix(&self, index: usize) -> Prefix {
        self.prefixes[index]
    }

    /// Node `node`'s installed route to `destination`'s prefix: `(next-hop node, simulator link,
    /// metric)`.
    pub fn route(&self, node: usize, destination: usize) -> Option<(usize, usize, u16)> {
        self.fib
            .get(node, destination)
            .map(|e| (e.next as usize, e.link as usize, e.metric))
    }

    /// Follows installed next hops from `from` towards `to`; the nodes visited, ending at `to` if
    /// it is reached (stops at a loop, a missing route, a cut link or a down node).
    pub fn path(&self, from: usize, to: usize) -> Vec<usize> {
        let mut path = vec![from];
        let mut current = from;
        while current != to && path.len() <= self.nodes.len() {
            let Some(entry) = self.fib.get(current, to) else {
                break;
            };
            if self.link_cut[entry.link as usize] || self.node_down[entry.next as usize] {
                break;
            }
            current = entry.next as usize;
            path.push(current);
        }
        path
    }

    /// Whether following FIB next hops from every live node reaches every other live node, over
    /// links that are not cut.
    pub fn fully_connected(&mut self) -> bool {
        self.fib.fully_connected(&self.node_down, &self.link_cut)
    }

    /// Whether every live node's installed metric to every other live node is within
    /// `switch_hysteresis` of the shortest-path metric over the current link costs (each directed
    /// link costing what the sending node reports in `neighbours()`; cut links and links to down
    /// nodes excluded). Pairs with no finite path are not judged.
    pub fn is_optimal(&self) -> bool {
        self.optimality_violations(1).is_empty()
    }

    /// Up to `limit` (node, destination, selected metric, shortest-path metric) tuples where
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
        for destination in (0..n).filter(|&d| !self.node_down[d]) {
            distance.fill(u32::MAX);
            distance[destination] = 0;
            heap.push(std::cmp::Reverse((0u32, destination as u32)));
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
            for u in (0..n).filter(|&u| u != destination && !self.node_down[u]) {
                if distance[u] >= infinity {
                    continue;
                }
                // The FIB says where packets go; the core's selected route says at what metric
                // (route changes are only reported when the next hop moves).
                if self.fib.get(u, destination).is_none() {
                    violations.push((u, destination, infinity, distance[u]));
                    if violations.len() >= limit {
                        return violations;
                    }
                    continue;
                }
                let prefix = self.prefix(destination);
                let metric = self.nodes[u]
                    .router
                    .as_ref()
                    .and_then(|r| r.selected_route(prefix))
                    .map_or(infinity, |r| u32::from(r.metric));
                if metric > distance[u] + hysteresis {
                    violations.push((u, destination, metric, distance[u]));
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
            restart_loops: self.invariants.restart_loops,
            infeasible: self.invariants.infeasible,
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

    /// Applies `action` now.
    pub fn apply(&mut self, action: Action) {
        self.counters.events += 1;
        match action {
            Action::CutLink(link) => self.link_cut[link] = true,
            Action::HealLink(link) => self.link_cut[link] = false,
            Action::Crash(node) => self.crash(node),
            Action::Restart(node) => {
                if self.node_down[node] {
                    self.nodes[node].restarted_at = Some(self.now);
                    self.nodes[node].incarnation += 1;
                    self.start_node(node);
                }
            }
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
        }
    }

    fn start_node(&mut self, index: usize) {
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
        for (k, &(link, side)) in self.nodes[index].links.iter().enumerate() {
            debug_assert_eq!(self.links[link as usize].local[usize::from(side)], k as u32);
            router.add_link(
                now,
                LinkId(k as u32),
                link_local(index, k as u32),
                self.config.link.clone(),
            );
        }
        router.add_local_prefix(now, self.prefixes[index]);
        self.node_down[index] = false;
        self.after_input(index, router, false);
    }

    fn crash(&mut self, index: usize) {
        let slot = &mut self.nodes[index];
        if slot.router.take().is_none() {
            return;
        }
        slot.timer_generation += 1;
        slot.timer_at = None;
        self.node_down[index] = true;
        self.fib.clear_node(index);
    }

    fn deliver(&mut self, link: usize, side: usize, payload: &[u8]) {
        if self.link_cut[link] {
            self.counters.packets_dropped_cut += 1;
            return;
        }
        let l = &self.links[link];
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
    /// and checks the invariants for the prefixes whose routes changed.
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
        if !self.changed.is_empty() {
            self.changed.sort_unstable();
            self.changed.dedup();
            let changed = std::mem::take(&mut self.changed);
            for &destination in &changed {
                self.check_feasibility(index, &router, destination as usize);
                self.check_loop(index, destination as usize);
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
        if self.link_cut[link as usize] {
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
        let Some(&destination) = self.prefix_index.get(&change.prefix()) else {
            self.counters.unknown_prefixes += 1;
            return;
        };
        let destination = destination as usize;
        let entry = match change {
            // Held unreachable (RFC 8966 §3.5.4): packets are dropped, as with no route, since
            // the simulated FIB has no shorter prefixes to fall through to.
            RouteChange::Unreachable { .. } | RouteChange::Remove { .. } => None,
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
                Some(Entry {
                    next: peer,
                    link: sim_link,
                    metric,
                })
            }
        };
        self.fib.set(index, destination, entry);
        self.changed.push(destination as u32);
    }

    fn check_feasibility(&mut self, index: usize, router: &R, destination: usize) {
        let prefix = self.prefixes[destination];
        let Some(route) = router.selected_route(prefix) else {
            return;
        };
        if route.neighbour.is_none() {
            return;
        }
        let source = router.source(prefix, route.router_id);
        if is_feasible(&route, source.as_ref()) {
            return;
        }
        self.invariants.infeasible += 1;
        let now = self.now();
        self.invariants.record(|| {
            format!(
                "{now:?}: node {index} selected an unfeasible route to {prefix}: \
                 {route:?} against source {source:?}"
            )
        });
    }

    fn check_loop(&mut self, index: usize, destination: usize) {
        let window = nanos(self.config.babel.update_interval.mul_f64(3.5));
        let now = self.now;
        let Some(cycle) = self.fib.find_loop(index, destination) else {
            return;
        };
        let after_restart = cycle.iter().any(|&v| {
            self.nodes[v as usize]
                .restarted_at
                .is_some_and(|at| now.saturating_sub(at) < window)
        });
        let description = if self.invariants.log.len() < self.invariants.log_limit {
            Some(format!(
                "{:?}: loop for destination {destination} ({}) after a change at node {index}: {:?}{}",
                Duration::from_nanos(now),
                self.prefixes[destination],
                cycle,
                if after_restart { " (recent restart)" } else { "" }
            ))
        } else {
            None
        };
        if after_restart {
            self.invariants.restart_loops += 1;
        } else {
            self.invariants.loops += 1;
        }
        if let Some(description) = description {
            self.invariants.record(|| description);
        }
    }
}
