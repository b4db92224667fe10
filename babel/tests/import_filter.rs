//! The import filter in the core: a refused route stays in the table as unusable (so its
//! retraction and feasibility are still handled), is never installed nor announced onward, and
//! comes back at once when a new filter stops refusing it.

mod net;

use std::time::Duration;

use babel::{Config, Event, ImportFilter, Refusal, RouteStatus};
use net::{node_prefix, Net};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A filter that refuses node `n`'s prefix as one of the router's own networks.
fn owning(n: usize) -> ImportFilter {
    ImportFilter {
        local_networks: vec![node_prefix(n)],
        ..ImportFilter::default()
    }
}

fn line(n: usize) -> Net {
    let mut net = Net::new(n, Config::default());
    for i in 1..n {
        net.connect(i - 1, i);
    }
    net.announce_all();
    net.run_for(secs(10));
    net
}

fn status(net: &Net, node: usize, prefix_of: usize) -> Vec<RouteStatus> {
    net.nodes[node]
        .routes()
        .into_iter()
        .filter(|r| r.prefix == node_prefix(prefix_of) && r.neighbour.is_some())
        .map(|r| r.status)
        .collect()
}

#[test]
fn a_refused_route_is_kept_unused_and_not_announced_onward() {
    let mut net = line(3);
    assert_eq!(net.walk(0, 2), Some(vec![0, 1, 2]));
    let now = net.now;
    net.nodes[1].set_import_filter(now, owning(2));
    // Withdrawn at once, and reported once.
    let events: Vec<Event> = std::iter::from_fn(|| net.nodes[1].poll_event()).collect();
    let refused: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::RouteRefused { .. }))
        .collect();
    assert_eq!(refused.len(), 1, "{events:?}");
    assert!(matches!(
        refused[0],
        Event::RouteRefused { prefix, refusal: Refusal::Overlaps(network), .. }
            if *prefix == node_prefix(2) && *network == node_prefix(2)
    ));
    net.run_for(secs(1));
    assert!(!net.fib[1].contains_key(&node_prefix(2)));
    assert_eq!(
        status(&net, 1, 2),
        vec![RouteStatus::Refused(Refusal::Overlaps(node_prefix(2)))]
    );
    assert_eq!(
        net.nodes[1]
            .neighbours()
            .iter()
            .map(|n| n.refused_routes)
            .sum::<u32>(),
        1
    );
    // Node 0 heard the retraction and never hears the route again, through several periodic
    // updates of node 2 (which node 1 keeps refreshing its refused route from).
    net.run_for(secs(20));
    assert!(!net.fib[0].contains_key(&node_prefix(2)));
    assert!(net.nodes[0].selected_route(node_prefix(2)).is_none());
    assert_eq!(
        net.nodes[1].stats().routes_refused,
        1,
        "counted once, not per refresh"
    );
    // The rest of the mesh is untouched.
    assert_eq!(net.walk(0, 1), Some(vec![0, 1]));
    assert_eq!(net.walk(2, 0), Some(vec![2, 1, 0]));
}

#[test]
fn a_route_that_stops_being_refused_comes_back_at_once() {
    let mut net = line(3);
    let now = net.now;
    net.nodes[1].set_import_filter(now, owning(2));
    net.run_for(secs(2));
    assert!(!net.fib[0].contains_key(&node_prefix(2)));
    let now = net.now;
    net.nodes[1].set_import_filter(now, ImportFilter::default());
    // Far sooner than node 2's next periodic update (the default interval is 16 s):
    // the kept route is judged feasible from what node 1 already knows.
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.walk(0, 2), Some(vec![0, 1, 2]));
    assert_eq!(status(&net, 1, 2), vec![RouteStatus::Selected]);
}

#[test]
fn a_retraction_of_a_refused_route_is_not_forgotten() {
    let mut net = line(3);
    let now = net.now;
    net.nodes[1].set_import_filter(now, owning(2));
    net.run_for(secs(1));
    // Node 2 stops announcing while node 1 refuses it: lifting the filter afterwards must not
    // bring back a route that no longer exists.
    let now = net.now;
    net.nodes[2].remove_local_prefix(now, node_prefix(2));
    net.run_for(secs(1));
    let now = net.now;
    net.nodes[1].set_import_filter(now, ImportFilter::default());
    net.run_for(secs(2));
    for node in 0..2 {
        assert!(
            !net.fib[node].contains_key(&node_prefix(2)),
            "node {node} routes to a withdrawn prefix"
        );
    }
    assert_eq!(status(&net, 1, 2), vec![RouteStatus::Unreachable]);
}

#[test]
fn refusing_and_allowing_in_a_ring_never_loops() {
    // Node 0 of a ring of 5 refuses node 2's prefix, then node 3's, then nothing, while every
    // step is checked for forwarding loops; traffic from 0 goes the other way round meanwhile.
    let mut net = Net::new(5, Config::default());
    for i in 0..5 {
        net.connect(i, (i + 1) % 5);
    }
    net.announce_all();
    net.run_for(secs(15));
    for filter in [owning(2), owning(3), ImportFilter::default(), owning(2)] {
        let now = net.now;
        net.nodes[0].set_import_filter(now, filter.clone());
        net.run_checking_loops(secs(6), Duration::from_millis(50));
        for n in 1..5 {
            let refused = filter.local_networks.contains(&node_prefix(n));
            assert_eq!(
                net.fib[0].contains_key(&node_prefix(n)),
                !refused,
                "node 0's route to node {n} with {filter:?}"
            );
            // Whoever routes to a refused prefix does not do it through node 0.
            for from in 1..5 {
                if let Some(path) = net.walk(from, n) {
                    assert!(
                        !(refused && path.contains(&0)),
                        "{path:?} goes through node 0"
                    );
                }
            }
        }
    }
}

/// A prefix the filter takes is removed at once, not held `unreachable` for the hold time
/// (§3.5.4): the hold would shadow the router's own network that the refusal protects.
#[test]
fn a_route_refused_by_the_filter_is_removed_not_held_unreachable() {
    use babel::RouteChange;
    let mut net = line(3);
    net.changes.clear();
    let now = net.now;
    net.nodes[1].set_import_filter(now, owning(2));
    net.run_for(secs(1));
    let mine: Vec<&RouteChange> = net
        .changes
        .iter()
        .filter(|(node, change)| *node == 1 && change.prefix() == node_prefix(2))
        .map(|(_, change)| change)
        .collect();
    assert!(
        matches!(mine.as_slice(), [RouteChange::Remove { .. }]),
        "node 1's changes for the refused prefix: {mine:?}"
    );
    assert!(
        status(&net, 1, 2)
            .iter()
            .all(|s| matches!(s, RouteStatus::Refused(_))),
        "{:?}",
        status(&net, 1, 2)
    );
}
