//! Core behaviour on small scripted topologies, in virtual time.

mod net;

use std::time::Duration;

use babel::wire::INFINITY;
use babel::{Config, RouteStatus};
use net::{node_prefix, Net};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn line_of_three_converges() {
    let mut net = Net::new(3, Config::default());
    net.connect(0, 1);
    net.connect(1, 2);
    net.announce_all();
    net.run_for(secs(10));
    assert_eq!(net.walk(0, 2), Some(vec![0, 1, 2]));
    assert_eq!(net.walk(2, 0), Some(vec![2, 1, 0]));
    let route = net.nodes[0].selected_route(node_prefix(2)).unwrap();
    assert_eq!(route.status, RouteStatus::Selected);
    assert!(
        route.metric >= 192,
        "two hops cost at least two link costs: {route:?}"
    );
    assert_eq!(net.nodes[0].neighbours().len(), 1);
}

#[test]
fn triangle_cut_does_not_count_to_infinity() {
    // 0, 1, 2 form a triangle; 3 hangs off 2. When 2-3 goes silent, 0 and 1 must not route
    // to 3 through each other while the bad news spreads.
    let mut net = Net::new(4, Config::default());
    net.connect(0, 1);
    net.connect(1, 2);
    net.connect(0, 2);
    net.connect(2, 3);
    net.announce_all();
    net.run_for(secs(15));
    assert_eq!(net.walk(0, 3), Some(vec![0, 2, 3]));
    net.cut(2, 3);
    net.run_checking_loops(secs(40), Duration::from_millis(50));
    for node in 0..3 {
        assert!(
            !net.fib[node].contains_key(&node_prefix(3)),
            "node {node} still routes to the unreachable node"
        );
        assert!(net.nodes[node].selected_route(node_prefix(3)).is_none());
    }
    // The rest of the mesh is untouched.
    assert_eq!(net.walk(0, 2), Some(vec![0, 2]));
}

#[test]
fn ring_repairs_after_silent_cut() {
    let mut net = Net::new(6, Config::default());
    for i in 0..6 {
        net.connect(i, (i + 1) % 6);
    }
    net.announce_all();
    net.run_for(secs(15));
    assert_eq!(net.walk(0, 1), Some(vec![0, 1]));
    let cut_at = net.now;
    net.cut(0, 1);
    let mut repaired = None;
    for _ in 0..600 {
        net.run_for(Duration::from_millis(50));
        for from in 0..6 {
            for to in 0..6 {
                assert!(!net.loops(from, to), "loop from {from} to {to}");
            }
        }
        if net.walk(0, 1) == Some(vec![0, 5, 4, 3, 2, 1]) && net.walk(1, 0).is_some() {
            repaired = Some(net.now - cut_at);
            break;
        }
    }
    let repaired = repaired.expect("traffic from 0 to 1 never went the other way round");
    eprintln!("ring repair took {repaired:?} of virtual time");
}

#[test]
fn removed_link_drops_routes_at_once() {
    let mut net = Net::new(3, Config::default());
    net.connect(0, 1);
    net.connect(1, 2);
    net.announce_all();
    net.run_for(secs(10));
    assert!(net.fib[0].contains_key(&node_prefix(2)));
    let now = net.now;
    net.nodes[0].remove_link(now, babel::LinkId(0));
    net.run_for(Duration::from_millis(1));
    assert!(
        net.fib[0].is_empty(),
        "routes through a removed link stay: {:?}",
        net.fib[0]
    );
    assert!(net.nodes[0].neighbours().is_empty());
}

#[test]
fn withdrawn_prefix_is_retracted_everywhere() {
    let mut net = Net::new(4, Config::default());
    for i in 0..3 {
        net.connect(i, i + 1);
    }
    net.announce_all();
    net.run_for(secs(10));
    assert!(net.fib[0].contains_key(&node_prefix(3)));
    let now = net.now;
    net.nodes[3].remove_local_prefix(now, node_prefix(3));
    net.run_checking_loops(secs(2), Duration::from_millis(20));
    for node in 0..3 {
        assert!(!net.fib[node].contains_key(&node_prefix(3)), "node {node}");
    }
}

#[test]
fn starvation_is_resolved_with_a_seqno_request() {
    // In a ring of 6, node 0 reaches 1 directly. When that link goes silent, the only other way
    // is 5 hops long: its metric is above node 0's feasibility distance, so node 0 must get a
    // new seqno from node 1 before it may use it.
    let mut net = Net::new(6, Config::default());
    for i in 0..6 {
        net.connect(i, (i + 1) % 6);
    }
    net.announce_all();
    net.run_for(secs(15));
    let before = net.nodes[0].selected_route(node_prefix(1)).unwrap();
    net.cut(0, 1);
    net.run_checking_loops(secs(15), Duration::from_millis(50));
    let after = net.nodes[0]
        .selected_route(node_prefix(1))
        .expect("node 0 starved: no route to node 1 after the cut");
    assert!(
        babel::wire::seqno_newer(after.seqno, before.seqno),
        "the long route was used without a new seqno: before {before:?}, after {after:?}"
    );
    assert_eq!(net.walk(0, 1), Some(vec![0, 5, 4, 3, 2, 1]));
}

#[test]
fn rtt_is_measured_with_timestamps() {
    let mut net = Net::new(2, Config::default());
    net.delay = Duration::from_millis(30);
    net.connect(0, 1);
    net.announce_all();
    net.run_for(secs(30));
    for node in 0..2 {
        let neighbours = net.nodes[node].neighbours();
        let rtt = neighbours[0].rtt.expect("no RTT sample");
        assert!(
            rtt >= Duration::from_millis(59) && rtt <= Duration::from_millis(61),
            "node {node} measured {rtt:?} for a 60 ms round trip"
        );
        // 60 ms is above the 10 ms floor of the default RTT cost: the link costs more than 96.
        assert!(neighbours[0].cost > 96, "{:?}", neighbours[0]);
    }
}

/// The first Hellos wait 1.5 s on the way (as they do in a WireGuard tunnel still shaking
/// hands): the echo of a Hello sent before we had heard from the neighbour measures that wait,
/// not the path, and must not make a fast link look slow for minutes.
#[test]
fn a_hello_held_up_before_the_link_came_up_is_no_rtt_sample() {
    let mut net = Net::new(2, Config::default());
    net.delay = Duration::from_millis(1500);
    net.connect(0, 1);
    net.announce_all();
    net.run_for(Duration::from_millis(10));
    net.delay = Duration::from_millis(5);
    net.run_for(secs(40));
    for node in 0..2 {
        let neighbours = net.nodes[node].neighbours();
        let rtt = neighbours[0].rtt.expect("no RTT sample");
        assert!(
            rtt <= Duration::from_millis(20),
            "node {node} measured {rtt:?} for a 10 ms round trip"
        );
    }
}

#[test]
fn garbage_from_a_neighbour_is_counted_not_fatal() {
    let mut net = Net::new(2, Config::default());
    net.connect(0, 1);
    net.announce_all();
    net.run_for(secs(5));
    let now = net.now;
    let from = net::link_local(1, 0);
    let node = &mut net.nodes[0];
    node.handle_packet(now, babel::LinkId(0), from, &[]);
    node.handle_packet(now, babel::LinkId(0), from, &[43, 2, 0, 0]);
    node.handle_packet(now, babel::LinkId(0), from, &[42, 2, 0, 200, 1, 2]);
    // A valid header around a TLV that claims more than it has.
    node.handle_packet(now, babel::LinkId(0), from, &[42, 2, 0, 4, 8, 30, 2, 0]);
    assert!(node.stats().packets_rejected >= 3, "{:?}", node.stats());
    net.run_for(secs(5));
    assert_eq!(net.walk(0, 1), Some(vec![0, 1]), "the adjacency survived");
}

/// A link the driver suspects (data sent, nothing heard back) is probed at once: a dead
/// neighbour is dropped in well under one Hello interval, a live one answers and stays.
#[test]
fn a_suspected_link_is_probed_at_once() {
    let config = Config::default();
    let hello = config.hello_interval;
    let mut net = Net::new(3, config);
    net.connect(0, 1);
    net.connect(0, 2);
    net.announce_all();
    net.run_for(secs(20));
    assert!(net.fib[0].contains_key(&node_prefix(1)));
    assert!(net.fib[0].contains_key(&node_prefix(2)));

    // Node 1 goes silent; node 2 stays. The driver suspects both links at once.
    net.cut(0, 1);
    let now = net.now;
    net.nodes[0].suspect_link(now, babel::LinkId(0));
    net.nodes[0].suspect_link(now, babel::LinkId(1));
    let mut gone = None;
    for step in 1..=60u32 {
        net.run_for(Duration::from_millis(50));
        if gone.is_none() && !net.fib[0].contains_key(&node_prefix(1)) {
            gone = Some(Duration::from_millis(50) * step);
        }
    }
    let gone = gone.expect("the silent neighbour's route stayed for 3 s after suspicion");
    assert!(
        gone < hello,
        "probing took {gone:?}, no faster than waiting for a Hello ({hello:?})"
    );
    assert!(
        net.fib[0].contains_key(&node_prefix(2)),
        "the neighbour that answered was dropped too"
    );
    assert_eq!(
        net.nodes[0].neighbours().len(),
        2,
        "node 1 is presumed dead, not forgotten"
    );
}

/// A neighbour presumed dead comes back: it missed what changed meanwhile (the retries of the
/// urgent update gave up), and gets our table as soon as it is usable again, not at the next
/// periodic update.
#[test]
fn a_returning_neighbour_gets_the_table_at_once() {
    let config = Config::default();
    let (hello, update) = (config.hello_interval, config.update_interval);
    let mut net = Net::new(3, config);
    net.connect(0, 1);
    net.connect(1, 2);
    net.announce_all();
    net.run_for(secs(20));
    net.cut(0, 1);
    net.run_for(secs(20));
    assert!(net.fib[0].is_empty(), "node 1 still up at node 0");
    // Node 2 starts announcing a prefix while node 0 cannot hear it.
    let new = net::node_prefix(7);
    let now = net.now;
    net.nodes[2].add_local_prefix(now, new);
    net.run_for(secs(5));
    assert!(net.fib[1].contains_key(&new));
    net.heal(0, 1);
    let healed = net.now;
    let mut up = None;
    let mut learnt = None;
    for _ in 0..400 {
        net.run_for(Duration::from_millis(50));
        let usable = net.nodes[0].neighbours().iter().any(|n| n.cost != INFINITY);
        if up.is_none() && usable {
            up = Some(net.now);
        }
        if net.fib[0].contains_key(&new) {
            learnt = Some(net.now);
            break;
        }
    }
    let up = up.expect("node 1 never came back at node 0");
    let learnt = learnt.expect("node 0 never learnt the new prefix");
    eprintln!(
        "back {:?} after the heal, the new prefix {:?} later",
        up - healed,
        learnt - up
    );
    assert!(
        learnt - up < hello,
        "{:?} from the neighbour's return to the new prefix: waited for a periodic update ({update:?})",
        learnt - up
    );
}

/// A neighbour restarts (its Hello seqno jumps) with fewer links than before: the routes its
/// earlier instance announced go at once, not 3.5 update intervals later.
#[test]
fn a_restarted_neighbours_stale_routes_go_at_once() {
    let mut net = Net::new(3, Config::default());
    net.connect(0, 1);
    net.connect(1, 2);
    net.announce_all();
    net.run_for(secs(20));
    assert!(net.fib[0].contains_key(&node_prefix(2)));
    // Node 1 restarts, and its link to node 2 is gone.
    net.cut(1, 2);
    net.restart(1, net::router_id(1), 99);
    let now = net.now;
    net.nodes[1].add_local_prefix(now, node_prefix(1));
    let restarted = net.now;
    let mut gone = None;
    for _ in 0..400 {
        net.run_for(Duration::from_millis(50));
        if !net.fib[0].contains_key(&node_prefix(2)) {
            gone = Some(net.now - restarted);
            break;
        }
    }
    let gone = gone.expect("node 0 kept the restarted node's stale route for 20 s");
    eprintln!("stale route gone {gone:?} after the restart");
    assert!(gone < Config::default().update_interval, "{gone:?}");
    net.run_for(secs(5));
    assert_eq!(
        net.walk(0, 1),
        Some(vec![0, 1]),
        "the restarted node is reachable"
    );
}

#[test]
fn link_down_makes_its_neighbour_unusable_at_once_and_a_hello_brings_it_back() {
    // A ring of three: 0 reaches 1 directly. The driver says 0's link to 1 is down (its
    // underlay lost carrier): at once, without a Hello interval, 0 routes to 1 through 2.
    let mut net = Net::new(3, Config::default());
    net.connect(0, 1);
    net.connect(1, 2);
    net.connect(2, 0);
    net.announce_all();
    net.run_for(secs(15));
    assert_eq!(net.walk(0, 1), Some(vec![0, 1]));
    let link = net.link_between(0, 1).unwrap();
    net.cut(0, 1);
    let now = net.now;
    net.nodes[0].link_down(now, babel::LinkId(link));
    net.run_for(Duration::from_millis(100));
    assert_eq!(
        net.walk(0, 1),
        Some(vec![0, 2, 1]),
        "0 still routes over the dead link"
    );
    let info = net.nodes[0]
        .neighbours()
        .into_iter()
        .find(|n| n.link.0 == link)
        .unwrap();
    assert_eq!(info.cost, INFINITY);
    // The underlay comes back: the neighbour's Hellos make it usable again.
    net.heal(0, 1);
    net.run_for(secs(30));
    assert_eq!(net.walk(0, 1), Some(vec![0, 1]));
}
