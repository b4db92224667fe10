//! RFC 8966 rules, one test per rule, named after the section that states it. Each drives small
//! meshes of the real core in virtual time (babel/tests/net) or feeds one node hand-made TLVs,
//! and checks what a user would notice: forwarding loops, routes used, what goes on the wire.

mod net;

use std::time::Duration;

use babel::{Config, Prefix};
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
