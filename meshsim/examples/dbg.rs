use meshsim::*;
use std::time::Duration;
fn main() {
    let mut cfg = SimConfig::new(50, Topology::Geometric, 1);
    cfg.loss = 0.01;
    let mut sim = Sim::new(cfg).unwrap();
    sim.run_until(Duration::from_secs(120));
    for (u, d, m, s) in sim.optimality_violations(3) {
        println!("node {u} -> {d}: {m} vs {s}; path {:?}", sim.path(u, d));
        let node = sim.node(u).unwrap();
        for r in node.routes().into_iter().filter(|r| r.prefix == sim.prefix(d)) {
            println!("   {:?} seq {} adv {} metric {} {:?}", r.neighbour, r.seqno, r.advertised_metric, r.metric, r.status);
        }
        println!("   source {:?}", node.source(sim.prefix(d), meshsim::sim::router_id(d)));
        for n in node.neighbours() { println!("   nb {:?} cost {} rx {} tx {} rtt {:?}", n.link, n.cost, n.rxcost, n.txcost, n.rtt); }
    }
}
