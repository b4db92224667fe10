//! Helpers shared by the integration tests: run a simulation of the real core with bounded
//! virtual time and assert the invariants with a readable failure.

#![allow(dead_code)]

use std::time::Duration;

use meshsim::{Sim, SimConfig, Topology};

pub const TICK: Duration = Duration::from_millis(100);

pub fn sim(nodes: usize, topology: Topology, seed: u64) -> Sim {
    Sim::new(SimConfig::new(nodes, topology, seed)).expect("valid configuration")
}

/// Runs in 100 ms ticks until full connectivity holds or `limit` (absolute virtual time) passes;
/// returns the time it first held.
pub fn run_until_connected(sim: &mut Sim, limit: Duration) -> Option<Duration> {
    let mut t = sim.now();
    while t < limit {
        t += TICK;
        sim.run_until(t);
        if sim.fully_connected() {
            return Some(t);
        }
    }
    None
}

/// Panics, with the recorded violations, if any forwarding loop (outside the restart allowance)
/// or unfeasible route was seen.
pub fn assert_safe(sim: &Sim) {
    let invariants = sim.invariants();
    assert!(
        !invariants.violated(),
        "loops {} infeasible {}:\n{}",
        invariants.loops,
        invariants.infeasible,
        invariants.log.join("\n")
    );
}

pub fn converges(nodes: usize, topology: Topology, seed: u64) -> Sim {
    let mut sim = sim(nodes, topology.clone(), seed);
    let limit = Duration::from_secs(60);
    let at = run_until_connected(&mut sim, limit);
    assert!(
        at.is_some(),
        "{topology} {nodes}: not fully connected by {limit:?}"
    );
    assert_safe(&sim);
    // It stays converged, and reaches the shortest paths.
    let settle = sim.now() + Duration::from_secs(30);
    sim.run_until(settle);
    assert!(
        sim.fully_connected(),
        "{topology} {nodes}: lost connectivity"
    );
    assert!(
        sim.is_optimal(),
        "{topology} {nodes}: not optimal 30 s after converging"
    );
    assert_safe(&sim);
    let counters = sim.counters();
    assert_eq!(counters.unknown_links, 0);
    assert_eq!(counters.bad_next_hops, 0);
    assert_eq!(counters.unknown_prefixes, 0);
    assert_eq!(counters.packets_misaddressed, 0);
    assert_eq!(counters.bad_packets, 0);
    assert_eq!(counters.stuck_timers, 0);
    sim
}
