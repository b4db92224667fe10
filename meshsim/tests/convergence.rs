//! The real Babel core in the simulator: convergence on each topology, repair after cuts, the
//! triangle that invites counting to infinity, crash and restart, and a whole measured scenario.
//! Every test bounds virtual time.

mod common;

use std::time::Duration;

use common::{assert_safe, converges, run_until_connected};
use meshsim::{Scenario, SimConfig, Topology};

#[test]
fn line_of_5_converges() {
    let sim = converges(5, Topology::Line, 1);
    assert_eq!(sim.path(0, 4), vec![0, 1, 2, 3, 4]);
    assert_eq!(sim.path(4, 0), vec![4, 3, 2, 1, 0]);
}

#[test]
fn ring_of_8_converges() {
    let sim = converges(8, Topology::Ring, 2);
    // Neighbours route directly; the far side is 4 hops either way.
    assert_eq!(sim.path(0, 1), vec![0, 1]);
    assert_eq!(sim.path(0, 7), vec![0, 7]);
    assert_eq!(sim.path(0, 4).len(), 5);
}

#[test]
fn grid_of_16_converges() {
    let sim = converges(16, Topology::Grid, 3);
    // Corner to corner (link costs vary with each link's delay, so the exact path may too).
    let path = sim.path(0, 15);
    assert_eq!(path.last(), Some(&15), "{path:?}");
    assert!(path.len() >= 7, "{path:?}");
}

#[test]
fn geometric_30_converges() {
    converges(30, Topology::Geometric, 4);
}

#[test]
fn geometric_30_converges_with_loss() {
    let mut config = SimConfig::new(30, Topology::Geometric, 5);
    config.loss = 0.05;
    let mut sim = meshsim::Sim::new(config).unwrap();
    assert!(run_until_connected(&mut sim, Duration::from_secs(120)).is_some());
    sim.run_until(sim.now() + Duration::from_secs(60));
    assert!(sim.fully_connected());
    assert!(sim.counters().packets_lost > 0);
    assert_safe(&sim);
}

#[test]
fn ring_repairs_after_a_cut() {
    let mut sim = converges(8, Topology::Ring, 6);
    // Link 0 joins nodes 0 and 1.
    assert_eq!(sim.graph().edges[0], (0, 1));
    sim.cut_link(0);
    assert!(!sim.fully_connected());
    let cut_at = sim.now();
    let repaired = run_until_connected(&mut sim, cut_at + Duration::from_secs(120));
    assert!(repaired.is_some(), "no repair within 120 s of the cut");
    assert_eq!(sim.path(0, 1), vec![0, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(sim.path(1, 0), vec![1, 2, 3, 4, 5, 6, 7, 0]);
    sim.run_until(sim.now() + Duration::from_secs(60));
    assert!(sim.fully_connected());
    assert_safe(&sim);
    // Heal: the direct link comes back into use.
    sim.heal_link(0);
    sim.run_until(sim.now() + Duration::from_secs(60));
    assert_eq!(sim.path(0, 1), vec![0, 1]);
    assert_safe(&sim);
}

/// A - B - C - A. Cutting A - B silently is the textbook setting for counting to infinity: A and B
/// each hear a stale route to the other through C. Babel's feasibility condition must prevent a
/// loop, and the network must settle on the two-hop paths through C.
#[test]
fn triangle_cut_settles_without_loop() {
    let topology = Topology::Edges(vec![(0, 1), (1, 2), (0, 2)]);
    let mut sim = converges(3, topology, 7);
    assert_eq!(sim.path(0, 1), vec![0, 1]);
    sim.cut_link(0);
    let cut_at = sim.now();
    assert!(run_until_connected(&mut sim, cut_at + Duration::from_secs(120)).is_some());
    sim.run_until(cut_at + Duration::from_secs(180));
    assert_eq!(sim.path(0, 1), vec![0, 2, 1]);
    assert_eq!(sim.path(1, 0), vec![1, 2, 0]);
    assert_eq!(sim.path(2, 0), vec![2, 0]);
    assert_eq!(sim.path(2, 1), vec![2, 1]);
    assert!(sim.is_optimal());
    assert_safe(&sim);
    assert_eq!(sim.invariants().restart_loops, 0);
}

#[test]
fn crash_and_restart_reconverge() {
    let mut sim = converges(9, Topology::Grid, 8);
    // The centre of the 3x3 grid; the others stay connected around it.
    sim.crash_node(4);
    let crashed_at = sim.now();
    sim.run_until(crashed_at + Duration::from_secs(90));
    assert!(
        sim.fully_connected(),
        "live nodes must route around the crash"
    );
    assert_safe(&sim);
    sim.restart_node(4);
    let restarted_at = sim.now();
    assert!(
        run_until_connected(&mut sim, restarted_at + Duration::from_secs(120)).is_some(),
        "no reconvergence within 120 s of the restart"
    );
    sim.run_until(sim.now() + Duration::from_secs(60));
    assert!(sim.fully_connected());
    assert_eq!(sim.path(1, 7), vec![1, 4, 7]);
    assert_safe(&sim);
}

#[test]
fn scenario_reports_repair() {
    let mut config = SimConfig::new(12, Topology::Ring, 9);
    config.loss = 0.01;
    let mut scenario = Scenario::new(config);
    scenario.cut_fraction = 0.1;
    scenario.crash_fraction = 0.1;
    scenario.restart_after = Duration::from_secs(20);
    let (report, _sim) = scenario.run().unwrap();
    let text = report.to_string();
    assert!(report.passed(), "{text}\n{}", report.violations.join("\n"));
    assert!(report.full_connectivity_s.is_some(), "{text}");
    assert!(report.optimal_s.is_some(), "{text}");
    assert!(report.control_bytes_per_node_s.is_some(), "{text}");
    // A ring survives only one cut.
    let cut = report.cut.as_ref().unwrap();
    assert_eq!(cut.links_cut, 1, "{text}");
    assert!(cut.repair_s.is_some(), "{text}");
    // With one link cut, a ring is a line: no node can crash without disconnecting it, except an
    // end of that line.
    let crash = report.crash.as_ref().unwrap();
    assert!(crash.nodes_crashed <= 1, "{text}");
    if crash.nodes_crashed == 1 {
        assert!(crash.restart_repair_s.is_some(), "{text}");
    }
    assert!(report.sim_seconds <= 300.0);
}
