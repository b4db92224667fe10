//! A random hunt for forwarding loops where two gateways announce `::/0` (babel/tests/net):
//! random small topologies with random costs, then a minute of random events (cost changes,
//! one-way cuts, heals, gateway restarts with a new router-id, withdrawals and announcements),
//! the FIB followed from every node every 100 ms. Ignored by default; run it with
//! `CASES=2000 cargo test -p meshd-babel --release --test loop_hunt -- --ignored --nocapture`,
//! one case with `SEED=n`. It prints every case that looped, with its events and the looping
//! nodes' tables.
//!
//! On the branch that added it, 2000 cases found no persistent loop and 3 transient ones
//! (seeds 501, 1303, 1408; 0.1-1.9 s each), after one-way cuts had silenced a gateway's
//! retraction: the loop lasts until the neighbour that kept the stale route hears better.
//! (Before the fixes of that branch, 300 cases had 2 loops, one of them on a route its holder
//! could not hear about again before it expired.) meshsim's property test is the place to hunt
//! these at scale.

mod net;

use std::time::Duration;

use babel::{Config, Prefix, RouterId};
use net::Net;

/// A small LCG, so a seed names a case on every platform.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[test]
#[ignore = "a hunt, run by hand: CASES=n (default 50), SEED=n for one case"]
fn two_gateways_random_events_no_loop() {
    let p: Prefix = "::/0".parse().unwrap();
    let cases = env("CASES").unwrap_or(50);
    let only = env("SEED");
    let mut looped = Vec::new();
    for seed in (0..cases).filter(|s| only.is_none_or(|o| o == *s)) {
        let mut r = Lcg(seed * 7919 + 1);
        let n = 4 + r.below(4) as usize;
        let mut net = Net::new(n, Config::default());
        let mut edges = Vec::new();
        for i in 1..n {
            edges.push((i, r.below(i as u64) as usize));
        }
        for _ in 0..r.below(n as u64) {
            let (a, b) = (r.below(n as u64) as usize, r.below(n as u64) as usize);
            if a != b && !edges.contains(&(a, b)) && !edges.contains(&(b, a)) {
                edges.push((a, b));
            }
        }
        for &(a, b) in &edges {
            let (ca, cb) = (96 + r.below(400) as u16, 96 + r.below(400) as u16);
            net.connect_with_costs(a, b, ca, cb);
        }
        let gateways = [0usize, n - 1];
        for &g in &gateways {
            let now = net.now;
            net.nodes[g].add_local_prefix(now, p);
        }
        net.run_for(Duration::from_secs(20));
        let mut log = Vec::new();
        let mut samples = 0u32;
        let mut next_router_id = 1000u16;
        for step in 0..60 {
            let (a, b) = edges[r.below(edges.len() as u64) as usize];
            match r.below(7) {
                0 => {
                    let l = net.link_between(a, b).unwrap();
                    net.set_rxcost(a, l, 96 + r.below(600) as u16);
                    log.push(format!("{step}: cost {a}-{b}"));
                }
                1 => {
                    net.cut_one_way(a, b);
                    log.push(format!("{step}: cut {a}->{b}"));
                }
                2 => {
                    net.heal(a, b);
                    log.push(format!("{step}: heal {a}-{b}"));
                }
                3 => {
                    let g = gateways[r.below(2) as usize];
                    next_router_id += 1;
                    let mut id = [0u8; 8];
                    id[..2].copy_from_slice(&next_router_id.to_be_bytes());
                    net.restart(g, RouterId(id), u64::from(next_router_id));
                    let now = net.now;
                    net.nodes[g].add_local_prefix(now, p);
                    log.push(format!("{step}: restart {g}"));
                }
                4 | 5 => {
                    // Small cost drifts, below any threshold.
                    let l = net.link_between(a, b).unwrap();
                    let cost = net.nodes[a]
                        .neighbours()
                        .iter()
                        .find(|x| x.link.0 == l)
                        .map_or(96, |x| x.rxcost);
                    let drift = r.below(30) as u16;
                    let cost = if r.below(2) == 0 {
                        cost.saturating_add(drift)
                    } else {
                        cost.saturating_sub(drift).max(96)
                    };
                    net.set_rxcost(a, l, cost);
                }
                _ => {
                    let g = gateways[r.below(2) as usize];
                    let now = net.now;
                    if r.below(2) == 0 {
                        net.nodes[g].remove_local_prefix(now, p);
                        log.push(format!("{step}: withdraw {g}"));
                    } else {
                        net.nodes[g].add_local_prefix(now, p);
                        log.push(format!("{step}: announce {g}"));
                    }
                }
            }
            for _ in 0..20 {
                net.run_for(Duration::from_millis(100));
                let looping = net.looping_from(p);
                if looping.is_empty() {
                    continue;
                }
                samples += 1;
                if samples == 1 {
                    log.push(format!("loop {looping:?} at {:?}", net.now - net.start));
                    for &i in &looping {
                        log.push(format!(
                            "   node {i}: fib {:?} routes {:?} sources {:?}",
                            net.fib[i].get(&p),
                            net.nodes[i].routes(),
                            net.nodes[i].sources()
                        ));
                    }
                }
            }
        }
        for &(a, b) in &edges {
            net.heal(a, b);
        }
        net.run_for(Duration::from_secs(30));
        let persists = !net.looping_from(p).is_empty();
        if samples > 0 || persists {
            looped.push(seed);
            eprintln!(
                "seed {seed}, {n} nodes, links {edges:?}: {samples} looping samples of 100 ms, \
                 persists after the heal: {persists}\n  {}",
                log.join("\n  ")
            );
        }
    }
    eprintln!("{} of {cases} cases looped: {looped:?}", looped.len());
    assert!(looped.is_empty(), "cases that looped: {looped:?}");
}
