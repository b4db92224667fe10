//! RFC 8966 rules, one test per rule, named after the section that states it. Each drives small
//! meshes of the real core in virtual time (babel/tests/net) or feeds one node hand-made TLVs,
//! and checks what a user would notice: forwarding loops, routes used, what goes on the wire.

mod net;

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use babel::wire::{parse_packet, Encoder, Message};
use babel::{
    Config, Destination, LinkConfig, LinkId, Node, Prefix, RouteChange, RouterId, HOLD_TIME,
};
use net::Net;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn default_route() -> Prefix {
    "::/0".parse().unwrap()
}

/// Two gateways announce `::/0`. Z switches from its own gateway G2 to G1 (through X and N)
/// while its messages to N are lost, so N keeps Z's old route to G2. When G1 goes away, N takes
/// that stale route and tells X; X tells Z. For Z the update from X is a route to G2 (a router-id
/// change of its selected route) with a metric far above Z's feasibility distance for G2: taking
/// it closes the loop N -> Z -> X -> N. RFC 8966 §3.5.3: an unfeasible update for the selected
/// route MUST unselect it, so Z falls back on its own (expensive, but feasible) link to G2.
#[test]
fn rfc8966_3_5_3_unfeasible_update_unselects_route() {
    let (g1, n, x, z, g2) = (0, 1, 2, 3, 4);
    let mut net = Net::new(5, Config::default());
    net.connect(g1, n);
    net.connect(n, x);
    net.connect_with_costs(x, z, 150, 150);
    net.connect_with_costs(z, n, 900, 900);
    net.connect(z, g2);
    let now = net.now;
    net.nodes[g1].add_local_prefix(now, default_route());
    net.nodes[g2].add_local_prefix(now, default_route());
    net.run_for(secs(20));
    let p = default_route();
    assert_eq!(net.walk_prefix(z, p), Some(vec![z, g2]));
    assert_eq!(net.walk_prefix(x, p), Some(vec![x, n, g1]));

    // Z's link to G2 becomes expensive; N stops hearing Z's updates.
    net.updates_lost.push((z, n));
    let (zl, gl) = (
        net.link_between(z, g2).unwrap(),
        net.link_between(g2, z).unwrap(),
    );
    net.set_rxcost(z, zl, 2000);
    net.set_rxcost(g2, gl, 2000);
    net.run_for(secs(10));
    assert_eq!(net.walk_prefix(z, p), Some(vec![z, x, n, g1]));

    // G1 stops being a gateway.
    let now = net.now;
    net.nodes[g1].remove_local_prefix(now, p);
    for i in 0..200 {
        net.run_for(Duration::from_millis(50));
        if i % 20 == 0 {
            for node in 0..5 {
                eprintln!(
                    "{i} node {node}: {:?} {:?}",
                    net.walk_prefix(node, p),
                    net.nodes[node].selected_route(p)
                );
            }
        }
        assert_eq!(net.looping_from(p), Vec::<usize>::new(), "forwarding loop");
    }
    // Z's messages reach N again: everything settles on G2.
    net.updates_lost.clear();
    net.run_checking_prefix(p, secs(120), Duration::from_millis(100));
    for node in [n, x, z] {
        let path = net.walk_prefix(node, p).unwrap();
        assert_eq!(
            path.last(),
            Some(&g2),
            "node {node} does not reach G2: {path:?}"
        );
    }
}

/// One node under test and scripted neighbours, each on a point-to-point link of its own: the
/// test writes the neighbours' TLVs by hand and reads what the node sends back.
struct Scripted {
    node: Node,
    now: Instant,
    /// Everything the node sent: (link, destination, message).
    sent: Vec<(LinkId, Destination, Message)>,
    peers: usize,
    hello_seqno: u16,
    next_hello: Instant,
    /// Whether the neighbours' multicast Hellos arrive.
    multicast_hellos: bool,
    /// Whether the neighbours also send unicast Hellos (with a seqno counter of their own).
    unicast_hellos: bool,
    unicast_seqno: u16,
}

/// What the scripted neighbours report in their IHUs, so a link costs this much: small, like a
/// fast wired link, so that a metric can grow by less than any threshold and still be
/// unfeasible.
const LINK_COST: u16 = 10;
const PEER_ROUTER: RouterId = RouterId([9, 9, 9, 9, 9, 9, 9, 9]);

/// Our link-local address on link `link`.
fn local_on(link: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, link as u16, 1)
}

/// Scripted neighbour `i`'s link-local address (it sits on link `i`).
fn peer_address(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, i as u16, 2)
}

fn peer() -> Ipv6Addr {
    peer_address(0)
}

fn far_prefix() -> Prefix {
    "fd00:99::/64".parse().unwrap()
}

impl Scripted {
    fn new() -> Scripted {
        Scripted::with_peers(1)
    }

    fn with_peers(peers: usize) -> Scripted {
        Scripted::with_links(peers, true)
    }

    /// `peers` neighbours, each on a link of its own, point-to-point (tunnels) or not.
    fn with_links(peers: usize, point_to_point: bool) -> Scripted {
        let now = Instant::now();
        let mut node = Node::new(Config::default(), RouterId([1; 8]), 1, now);
        for i in 0..peers {
            let config = LinkConfig {
                rtt: None,
                point_to_point,
                ..LinkConfig::default()
            };
            node.add_link(now, LinkId(i as u32), local_on(i), config);
        }
        let mut s = Scripted {
            node,
            now,
            sent: Vec::new(),
            peers,
            hello_seqno: 100,
            next_hello: now,
            multicast_hellos: true,
            unicast_hellos: false,
            unicast_seqno: 5000,
        };
        s.run_for(secs(1));
        s
    }

    /// Delivers one packet from neighbour 0.
    fn receive(&mut self, messages: &[Message]) {
        self.receive_from(0, messages);
    }

    /// Delivers one packet from neighbour `i`.
    fn receive_from(&mut self, i: usize, messages: &[Message]) {
        let mut encoder = Encoder::new(1232);
        for m in messages {
            encoder.push(m);
        }
        for packet in encoder.finish() {
            self.node
                .handle_packet(self.now, LinkId(i as u32), peer_address(i), &packet);
        }
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(t) = self.node.poll_transmit() {
            let from = IpAddr::V6(local_on(t.link.0 as usize));
            if let Ok(parsed) = parse_packet(&t.payload, from) {
                for m in parsed.messages {
                    self.sent.push((t.link, t.destination, m));
                }
            }
        }
        while self.node.poll_route_change().is_some() {}
        while self.node.poll_event().is_some() {}
    }

    /// Runs the node's timers for `duration`; the neighbour says Hello (with an IHU) every 4 s.
    fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        for _ in 0..1_000_000 {
            let timer = self.node.poll_timeout().unwrap_or(until).max(self.now);
            let next = timer.min(self.next_hello);
            if next > until {
                break;
            }
            self.now = next;
            if self.next_hello <= self.now {
                self.next_hello = self.now + secs(4);
                self.hello_seqno = self.hello_seqno.wrapping_add(1);
                self.unicast_seqno = self.unicast_seqno.wrapping_add(1);
                for i in 0..self.peers {
                    let ihu = Message::Ihu {
                        address: Some(IpAddr::V6(local_on(i))),
                        rxcost: LINK_COST,
                        interval: 1200,
                        timestamps: None,
                    };
                    if self.multicast_hellos {
                        let hello = Message::Hello {
                            unicast: false,
                            seqno: self.hello_seqno,
                            interval: 400,
                            timestamp: None,
                        };
                        self.receive_from(i, &[hello, ihu.clone()]);
                    }
                    if self.unicast_hellos {
                        let hello = Message::Hello {
                            unicast: true,
                            seqno: self.unicast_seqno,
                            interval: 400,
                            timestamp: None,
                        };
                        self.receive_from(i, &[hello, ihu]);
                    }
                }
            }
            self.node.handle_timeout(self.now);
            self.drain();
        }
        self.now = until;
    }

    fn update(&mut self, prefix: Prefix, router_id: RouterId, seqno: u16, metric: u16) {
        self.update_from(0, prefix, router_id, seqno, metric);
    }

    fn update_from(
        &mut self,
        i: usize,
        prefix: Prefix,
        router_id: RouterId,
        seqno: u16,
        metric: u16,
    ) {
        self.receive_from(
            i,
            &[Message::Update {
                prefix,
                router_id,
                next_hop: None,
                seqno,
                interval: 1600,
                metric,
            }],
        );
    }

    /// The seqno requests the node sent since the last call, as (destination, seqno).
    fn take_seqno_requests(&mut self, for_prefix: Prefix) -> Vec<(Destination, u16)> {
        let out = self
            .sent
            .iter()
            .filter_map(|(_, d, m)| match m {
                Message::SeqnoRequest { prefix, seqno, .. } if *prefix == for_prefix => {
                    Some((*d, *seqno))
                }
                _ => None,
            })
            .collect();
        self.sent.clear();
        out
    }
}

/// The neighbour keeps advertising a worse metric at the same seqno for our selected route and
/// never answers our seqno requests. §3.5.3: the update may be ignored, but then it does not
/// reset the route's expiry timer, so the route expires instead of living for ever at its old,
/// better metric; §3.8.2.2: the node sends a unicast seqno request to the neighbour.
#[test]
fn rfc8966_3_5_3_ignored_unfeasible_update_does_not_refresh_route() {
    let mut s = Scripted::new();
    let p = far_prefix();
    s.update(p, PEER_ROUTER, 10, 100);
    s.run_for(secs(2));
    let route = s.node.selected_route(p).expect("route not selected");
    assert_eq!(route.advertised_metric, 100);
    s.sent.clear();
    // Our feasibility distance is 100 + 10: an increase by 15 is unfeasible.
    s.update(p, PEER_ROUTER, 10, 115);
    s.run_for(Duration::from_millis(100));
    let requests = s.take_seqno_requests(p);
    assert!(
        requests.contains(&(Destination::Unicast(peer()), 11)),
        "no unicast seqno request for seqno 11: {requests:?}"
    );
    for _ in 0..5 {
        s.run_for(secs(16));
        s.update(p, PEER_ROUTER, 10, 115);
    }
    let selected = s.node.selected_route(p);
    assert!(
        selected.as_ref().is_none_or(|r| r.advertised_metric != 100),
        "80 s of ignored updates kept the route alive at its old metric: {selected:?}"
    );
}

/// A seqno request for our own prefix asks for a seqno far ahead of ours. §3.8.1.2: "A node
/// MUST NOT increase its sequence number by more than 1 in reaction to a single seqno request."
#[test]
fn rfc8966_3_8_1_2_seqno_request_increases_own_seqno_by_one() {
    let mut s = Scripted::new();
    let own: Prefix = "fd00:1::/64".parse().unwrap();
    let now = s.now;
    s.node.add_local_prefix(now, own);
    s.run_for(secs(1));
    let before = s.node.seqno();
    s.sent.clear();
    s.receive(&[Message::SeqnoRequest {
        prefix: own,
        seqno: before.wrapping_add(0x7000),
        hop_count: 10,
        router_id: RouterId([1; 8]),
    }]);
    s.run_for(secs(1));
    assert_eq!(s.node.seqno(), before.wrapping_add(1));
    let sent_seqnos: Vec<u16> = s
        .sent
        .iter()
        .filter_map(|(_, _, m)| match m {
            Message::Update { prefix, seqno, .. } if *prefix == own => Some(*seqno),
            _ => None,
        })
        .collect();
    assert!(
        sent_seqnos.contains(&before.wrapping_add(1)),
        "no update with the new seqno: {sent_seqnos:?}"
    );
    // A request for a seqno we already have changes nothing.
    s.receive(&[Message::SeqnoRequest {
        prefix: own,
        seqno: before,
        hop_count: 10,
        router_id: RouterId([1; 8]),
    }]);
    assert_eq!(s.node.seqno(), before.wrapping_add(1));
}

/// A prefix is lost (its origin withdraws it). §3.5.4: for the hold time its packets "MUST NOT
/// be forwarded by following a route for a shorter prefix", so the core reports it unreachable
/// at once and forgets it only after [`babel::HOLD_TIME`]; a route that comes back during the
/// hold is installed over the unreachable one.
#[test]
fn rfc8966_3_5_4_lost_prefix_is_held_unreachable() {
    let mut net = Net::new(3, Config::default());
    net.connect(0, 1);
    net.connect(1, 2);
    net.announce_all();
    net.run_for(secs(10));
    let p = net::node_prefix(2);
    assert!(net.fib[0].contains_key(&p));
    net.changes.clear();
    let lost_at = net.now;
    net.nodes[2].remove_local_prefix(lost_at, p);
    let mut unreachable_at = None;
    let mut removed_at = None;
    for _ in 0..800 {
        net.run_for(Duration::from_millis(100));
        for (node, change) in net.changes.drain(..) {
            if node != 0 || change.prefix() != p {
                continue;
            }
            match change {
                RouteChange::Unreachable { .. } => unreachable_at = Some(net.now - lost_at),
                RouteChange::Remove { .. } => removed_at = Some(net.now - lost_at),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let unreachable_at = unreachable_at.expect("the lost prefix was never held unreachable");
    let removed_at = removed_at.expect("the held prefix was never forgotten");
    assert!(unreachable_at < secs(2), "held after {unreachable_at:?}");
    assert!(
        removed_at >= HOLD_TIME && removed_at <= HOLD_TIME + secs(10),
        "forgotten {removed_at:?} after it was lost; the hold time is {HOLD_TIME:?}"
    );

    // Lost again, and back during the hold: an Add ends it, and no Remove follows.
    let now = net.now;
    net.nodes[2].add_local_prefix(now, p);
    net.run_for(secs(5));
    let now = net.now;
    net.nodes[2].remove_local_prefix(now, p);
    net.run_for(secs(5));
    net.changes.clear();
    let now = net.now;
    net.nodes[2].add_local_prefix(now, p);
    net.run_for(HOLD_TIME + secs(10));
    let at_0: Vec<&RouteChange> = net
        .changes
        .iter()
        .filter(|(node, c)| *node == 0 && c.prefix() == p)
        .map(|(_, c)| c)
        .collect();
    assert!(
        matches!(at_0.as_slice(), [RouteChange::Add { .. }]),
        "{at_0:?}"
    );
}

/// Retractions the node sent for `prefix` on `link`.
fn retractions(s: &Scripted, link: usize, for_prefix: Prefix) -> usize {
    s.sent
        .iter()
        .filter(|(l, _, m)| {
            l.0 as usize == link
                && matches!(m, Message::Update { prefix, metric, .. }
                    if *prefix == for_prefix && *metric == 0xFFFF)
        })
        .count()
}

/// §3.8.1.1: "If the node has no route to P, it MUST send a retraction" in answer to a Route
/// Request for P; so it must when split horizon keeps its route from the requester's link.
#[test]
fn rfc8966_3_8_1_1_route_request_without_a_route_gets_a_retraction() {
    let mut s = Scripted::with_peers(2);
    let unknown: Prefix = "fd00:77::/64".parse().unwrap();
    s.sent.clear();
    s.receive_from(
        0,
        &[Message::RouteRequest {
            prefix: Some(unknown),
        }],
    );
    s.run_for(Duration::from_millis(100));
    assert_eq!(retractions(&s, 0, unknown), 1, "{:?}", s.sent);

    // A route learnt from neighbour 1: neighbour 1 asking for it gets a retraction (split
    // horizon), neighbour 0 the route.
    let p = far_prefix();
    s.update_from(1, p, PEER_ROUTER, 10, 100);
    s.run_for(secs(1));
    assert!(s.node.selected_route(p).is_some());
    s.sent.clear();
    s.receive_from(1, &[Message::RouteRequest { prefix: Some(p) }]);
    s.receive_from(0, &[Message::RouteRequest { prefix: Some(p) }]);
    s.run_for(Duration::from_millis(100));
    assert_eq!(retractions(&s, 1, p), 1, "{:?}", s.sent);
    assert!(
        s.sent.iter().any(|(l, _, m)| l.0 == 0
            && matches!(m, Message::Update { prefix, metric, .. } if *prefix == p && *metric == 110)),
        "{:?}",
        s.sent
    );
}

/// The seqno requests the node forwarded (hop count below what the test sent) for `for_prefix`,
/// as (link, hop count).
fn forwarded_requests(s: &Scripted, for_prefix: Prefix, sent_hop_count: u8) -> Vec<(u32, u8)> {
    s.sent
        .iter()
        .filter_map(|(l, _, m)| match m {
            Message::SeqnoRequest {
                prefix, hop_count, ..
            } if *prefix == for_prefix && *hop_count < sent_hop_count => Some((l.0, *hop_count)),
            _ => None,
        })
        .collect()
}

/// §3.8.1.2: a seqno request the node cannot satisfy "MUST" be forwarded toward a feasible
/// route whose next hop is not the requester, even when the requester is the selected next hop;
/// and it is not forwarded by a node that is not advertising the prefix.
#[test]
fn rfc8966_3_8_1_2_seqno_request_is_forwarded_past_the_requester() {
    let mut s = Scripted::with_peers(2);
    let p = far_prefix();
    // Neighbour 0 offers 100 (110 through it), neighbour 1 offers 105 (115): 0 is selected, 1
    // is feasible (105 < 110).
    s.update_from(0, p, PEER_ROUTER, 10, 100);
    s.run_for(secs(1));
    s.update_from(1, p, PEER_ROUTER, 10, 105);
    s.run_for(secs(1));
    let selected = s.node.selected_route(p).unwrap();
    assert_eq!(selected.neighbour.map(|n| n.0), Some(LinkId(0)));
    s.sent.clear();
    s.receive_from(
        0,
        &[Message::SeqnoRequest {
            prefix: p,
            seqno: 11,
            hop_count: 5,
            router_id: PEER_ROUTER,
        }],
    );
    s.run_for(Duration::from_millis(100));
    assert_eq!(forwarded_requests(&s, p, 5), vec![(1, 4)], "{:?}", s.sent);

    // Neighbour 0 retracts; neighbour 1 now offers only an unfeasible 200. Not advertising the
    // prefix any more, the node does not forward neighbour 0's request.
    s.update_from(1, p, PEER_ROUTER, 10, 200);
    s.update_from(0, p, PEER_ROUTER, 10, 0xFFFF);
    s.run_for(secs(1));
    assert!(s.node.selected_route(p).is_none());
    s.sent.clear();
    s.receive_from(
        0,
        &[Message::SeqnoRequest {
            prefix: p,
            seqno: 12,
            hop_count: 5,
            router_id: PEER_ROUTER,
        }],
    );
    s.run_for(Duration::from_millis(100));
    assert_eq!(forwarded_requests(&s, p, 5), vec![], "{:?}", s.sent);
}

/// §3.7.2: an urgent update (here a retraction) is made reliable: on a point-to-point link with
/// an acknowledgment request, resent until acknowledged; on a link that is not point-to-point,
/// where no one acknowledges a multicast, by sending it a few times.
#[test]
fn rfc8966_3_7_2_urgent_updates_are_repeated_on_shared_links() {
    for point_to_point in [true, false] {
        let mut s = Scripted::with_links(2, point_to_point);
        let p = far_prefix();
        s.update_from(0, p, PEER_ROUTER, 10, 100);
        s.run_for(secs(2));
        assert!(s.node.selected_route(p).is_some());
        s.sent.clear();
        s.update_from(0, p, PEER_ROUTER, 10, 0xFFFF);
        s.run_for(secs(3));
        let sent = retractions(&s, 1, p);
        assert!(
            sent >= 2,
            "point-to-point {point_to_point}: the retraction went out {sent} times on link 1"
        );
    }
}

/// §4.6.9: an Update's Interval of 0xFFFF says no further update will be sent, so the route
/// does not expire by the timer (it used to last 3.5 x 655.35 s); it still goes with a retraction.
#[test]
fn rfc8966_4_6_9_infinite_update_interval_never_expires() {
    let mut s = Scripted::new();
    let p = far_prefix();
    s.receive(&[Message::Update {
        prefix: p,
        router_id: PEER_ROUTER,
        next_hop: None,
        seqno: 10,
        interval: 0xFFFF,
        metric: 100,
    }]);
    s.run_for(secs(3000));
    assert!(
        s.node.selected_route(p).is_some(),
        "the route expired although its neighbour said it sends no further update"
    );
    s.update(p, PEER_ROUTER, 10, 0xFFFF);
    s.run_for(secs(1));
    assert!(s.node.selected_route(p).is_none());
}

/// §4.6.9: the Interval in our Updates is "an upper bound ... on the time after which the
/// sending node will send a new update", and neighbours expire our routes by it: our periodic
/// updates never come later than that.
#[test]
fn rfc8966_4_6_9_periodic_updates_come_within_the_advertised_interval() {
    let mut s = Scripted::new();
    let own: Prefix = "fd00:1::/64".parse().unwrap();
    let now = s.now;
    s.node.add_local_prefix(now, own);
    let mut last: Option<Instant> = None;
    let mut advertised = None;
    let mut longest = Duration::ZERO;
    for _ in 0..4000 {
        s.run_for(Duration::from_millis(100));
        let interval = s.sent.iter().find_map(|(_, _, m)| match m {
            Message::Update {
                prefix, interval, ..
            } if *prefix == own => Some(*interval),
            _ => None,
        });
        s.sent.clear();
        if let Some(interval) = interval {
            advertised = Some(Duration::from_millis(u64::from(interval) * 10));
            if let Some(last) = last {
                longest = longest.max(s.now - last);
            }
            last = Some(s.now);
        }
    }
    let advertised = advertised.expect("no update for our prefix");
    // Seen within one 100 ms step of being sent.
    assert!(
        longest <= advertised + Duration::from_millis(100),
        "{longest:?} between two updates, more than the {advertised:?} they advertise"
    );
}

/// §3.8.2.1: a node whose routes for a prefix are all unfeasible asks for a new seqno. Both
/// neighbours advertising the prefix are asked (either may be on the path being repaired), and
/// while no answer comes the rounds grow further apart instead of coming every second for ever.
#[test]
fn rfc8966_3_8_2_1_starvation_asks_every_advertising_neighbour_with_backoff() {
    let mut s = Scripted::with_peers(2);
    let p = far_prefix();
    // Selected through neighbour 0 (110, our distance); neighbour 1's 120 is unfeasible.
    s.update_from(0, p, PEER_ROUTER, 10, 100);
    s.update_from(1, p, PEER_ROUTER, 10, 120);
    s.run_for(secs(1));
    assert_eq!(
        s.node
            .selected_route(p)
            .and_then(|r| r.neighbour)
            .map(|n| n.0),
        Some(LinkId(0))
    );
    // Neighbour 0 loses it and comes back with an unfeasible 150: starvation.
    s.update_from(0, p, PEER_ROUTER, 10, 0xFFFF);
    s.update_from(0, p, PEER_ROUTER, 10, 150);
    s.sent.clear();
    let mut per_link = [0usize; 2];
    for _ in 0..6 {
        s.run_for(secs(10));
        // The neighbours keep their routes alive, and never answer.
        s.update_from(0, p, PEER_ROUTER, 10, 150);
        s.update_from(1, p, PEER_ROUTER, 10, 120);
        assert!(s.node.selected_route(p).is_none());
        for (link, _, m) in s.sent.drain(..) {
            if matches!(m, Message::SeqnoRequest { prefix, seqno: 11, .. } if prefix == p) {
                per_link[link.0 as usize] += 1;
            }
        }
    }
    eprintln!("seqno requests in 60 s of starvation, per neighbour: {per_link:?}");
    assert!(
        per_link.iter().all(|n| *n >= 2),
        "each advertising neighbour should be asked: {per_link:?}"
    );
    assert!(
        per_link.iter().all(|n| *n <= 10),
        "60 s of starvation sent {per_link:?} requests: no backoff"
    );
}

/// §3.8.2.3: shortly before a selected route expires (its neighbour's updates were lost), the
/// node asks the neighbour for it with a unicast route request, once; an answer keeps it.
#[test]
fn rfc8966_3_8_2_3_route_request_before_the_selected_route_expires() {
    let mut s = Scripted::new();
    let p = far_prefix();
    s.update(p, PEER_ROUTER, 10, 100);
    let announced = s.now;
    let mut asked = Vec::new();
    for _ in 0..700 {
        s.run_for(Duration::from_millis(100));
        for (_, d, m) in s.sent.drain(..) {
            if matches!(m, Message::RouteRequest { prefix: Some(q) } if q == p) {
                asked.push((s.now - announced, d));
            }
        }
        if !asked.is_empty() && s.node.selected_route(p).is_some() {
            // Answer the first request.
            s.update(p, PEER_ROUTER, 10, 100);
            break;
        }
    }
    // The update said 16 s, so the route lives 56 s.
    let lifetime = Duration::from_millis(1600 * 10 * 35 / 10);
    let (at, destination) = *asked
        .first()
        .expect("no route request before the route expired");
    assert_eq!(destination, Destination::Unicast(peer()));
    assert!(
        at < lifetime,
        "asked {at:?} after the update, past its lifetime"
    );
    assert!(
        at + secs(20) > lifetime,
        "asked {at:?} after the update: too early"
    );
    s.run_for(secs(30));
    assert!(
        s.node.selected_route(p).is_some(),
        "the answer did not keep it"
    );
}

/// Appendix A.1: unicast Hellos carry a seqno counter of their own and feed link sensing with
/// a history of their own. A neighbour whose multicast Hellos stop arriving while its unicast
/// ones do is still heard, and its link stays usable.
#[test]
fn rfc8966_appendix_a_1_unicast_hellos_feed_link_sensing() {
    let mut s = Scripted::new();
    s.unicast_hellos = true;
    let p = far_prefix();
    s.update(p, PEER_ROUTER, 10, 100);
    s.run_for(secs(20));
    assert!(s.node.selected_route(p).is_some());
    s.multicast_hellos = false;
    for _ in 0..3 {
        s.run_for(secs(10));
        s.update(p, PEER_ROUTER, 10, 100);
    }
    let neighbour = &s.node.neighbours()[0];
    assert!(
        neighbour.cost < 0xFFFF,
        "30 s of unicast Hellos, yet the link is down: {neighbour:?}"
    );
    assert!(s.node.selected_route(p).is_some());
    // Without either, the link goes down.
    s.unicast_hellos = false;
    s.run_for(secs(30));
    assert_eq!(s.node.neighbours()[0].cost, 0xFFFF);
}

/// Split horizon (§3.7.4) with a lost retraction. Gateway G1 stops announcing `::/0` while its
/// updates to X are lost, and takes X's route to G2; its retraction never reaches X, which
/// keeps G1's old route as an alternative. When X's own path gets worse, X takes that stale
/// route: X -> G1 -> X. Split horizon kept G1 from ever telling X anything about the prefix,
/// so the loop lasted until X's copy expired. G1 now retracts on that link (in its full updates,
/// and when its own route goes) for as long as X may hold the old route.
#[test]
fn rfc8966_3_7_4_split_horizon_still_retracts_what_the_neighbour_may_hold() {
    let (g1, x, y, g2) = (0, 1, 2, 3);
    let mut net = Net::new(4, Config::default());
    net.connect_with_costs(g1, x, 300, 300);
    net.connect(x, y);
    net.connect(y, g2);
    let p = default_route();
    let now = net.now;
    net.nodes[g1].add_local_prefix(now, p);
    net.nodes[g2].add_local_prefix(now, p);
    net.run_for(secs(20));
    assert_eq!(net.walk_prefix(x, p), Some(vec![x, y, g2]));

    // G1 withdraws; X hears G1's Hellos but not its updates.
    net.updates_lost.push((g1, x));
    let now = net.now;
    net.nodes[g1].remove_local_prefix(now, p);
    net.run_for(secs(5));
    assert_eq!(net.walk_prefix(g1, p), Some(vec![g1, x, y, g2]));
    net.updates_lost.clear();
    net.run_for(secs(1));

    // X's way to G2 gets expensive: G1's stale route looks better.
    let (xl, yl) = (
        net.link_between(x, y).unwrap(),
        net.link_between(y, x).unwrap(),
    );
    net.set_rxcost(x, xl, 2000);
    net.set_rxcost(y, yl, 2000);
    let (mut looping, mut stranded) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..700 {
        net.run_for(Duration::from_millis(100));
        match net.walk_prefix(x, p) {
            None => looping += Duration::from_millis(100),
            Some(path) if path.last() != Some(&g2) => stranded += Duration::from_millis(100),
            Some(_) => {}
        }
    }
    eprintln!("X looped for {looping:?}, and followed a stale route to nowhere for {stranded:?}");
    assert!(looping <= secs(1), "looped for {looping:?}");
    assert!(stranded <= secs(1), "stranded for {stranded:?}");
    assert_eq!(net.walk_prefix(x, p), Some(vec![x, y, g2]));
}

/// §3.8.1.1 (and §3.7.4). O becomes a second origin of `::/0`; N, its neighbour, takes O's route
/// and from then tells O nothing about the prefix (split horizon). While O originated it, O
/// applied no update for it, so what O held from N was N's old route, through G. When O
/// withdraws, selecting that frozen route would send O's packets to N, which forwards them back
/// to O. O forgets those routes and asks its neighbours for current ones (a route request, which
/// the receiver MUST answer): no loop, and O ends up routing through N to G.
#[test]
fn rfc8966_3_8_1_1_withdrawing_origin_asks_anew_instead_of_using_frozen_routes() {
    let (g, n, o) = (0, 1, 2);
    let mut net = Net::new(3, Config::default());
    net.connect_with_costs(g, n, 256, 256);
    net.connect_with_costs(n, o, 96, 96);
    let p = default_route();
    let now = net.now;
    net.nodes[g].add_local_prefix(now, p);
    net.run_for(secs(20));
    assert_eq!(net.walk_prefix(o, p), Some(vec![o, n, g]));
    let now = net.now;
    net.nodes[o].add_local_prefix(now, p);
    net.run_for(secs(20));
    assert_eq!(net.walk_prefix(n, p), Some(vec![n, o]));
    let now = net.now;
    net.nodes[o].remove_local_prefix(now, p);
    net.run_checking_prefix(p, secs(10), Duration::from_millis(1));
    assert_eq!(net.walk_prefix(o, p), Some(vec![o, n, g]));
}

/// §3.5.4 at the origin. Node 2 stops originating its /128 and has no other route to it: it
/// holds the prefix unreachable for the hold time (packets for it are dropped, not sent along a
/// shorter prefix such as a `::/0` that leads back into the mesh), then forgets it.
#[test]
fn rfc8966_3_5_4_origin_holds_its_withdrawn_prefix_unreachable() {
    let mut net = Net::new(3, Config::default());
    net.connect(0, 1);
    net.connect(1, 2);
    net.announce_all();
    net.run_for(secs(10));
    let p = net::node_prefix(2);
    net.changes.clear();
    let lost_at = net.now;
    net.nodes[2].remove_local_prefix(lost_at, p);
    let (mut unreachable_at, mut removed_at) = (None, None);
    for _ in 0..800 {
        net.run_for(Duration::from_millis(100));
        for (node, change) in net.changes.drain(..) {
            if node != 2 || change.prefix() != p {
                continue;
            }
            match change {
                RouteChange::Unreachable { .. } => unreachable_at = Some(net.now - lost_at),
                RouteChange::Remove { .. } => removed_at = Some(net.now - lost_at),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let unreachable_at = unreachable_at.expect("the withdrawn prefix was never held unreachable");
    let removed_at = removed_at.expect("the held prefix was never forgotten");
    assert!(unreachable_at <= secs(1), "held after {unreachable_at:?}");
    assert!(
        removed_at >= HOLD_TIME && removed_at <= HOLD_TIME + secs(10),
        "forgotten {removed_at:?} after it was withdrawn; the hold time is {HOLD_TIME:?}"
    );
}
