//! Unit tests of the event loop and the scenario driver with the fake core of [`crate::fake`]:
//! they check the simulator's own plumbing (delivery, timers, FIB, cuts, crashes, determinism),
//! not Babel. Babel is tested by the integration tests in `tests/`, with the real core.

use std::time::Duration;

use crate::fake::FakeNode;
use crate::{Scenario, Sim, SimConfig, Topology};

fn sim(nodes: usize, topology: Topology, seed: u64) -> Sim<FakeNode> {
    Sim::with_router(SimConfig::new(nodes, topology, seed)).unwrap()
}

#[test]
fn grid_converges_to_shortest_paths() {
    let mut sim = sim(16, Topology::Grid, 1);
    assert!(!sim.fully_connected());
    sim.run_until(Duration::from_secs(15));
    assert!(sim.fully_connected());
    assert!(sim.is_optimal());
    // Corner to corner in a 4x4 grid: 6 hops of cost 96.
    assert_eq!(sim.route(0, 15).map(|r| r.2), Some(6 * 96));
    assert_eq!(*sim.path(0, 15).last().unwrap(), 15);
    assert_eq!(sim.path(0, 15).len(), 7);
    assert_eq!(sim.counters().unknown_links, 0);
    assert_eq!(sim.counters().bad_next_hops, 0);
    assert_eq!(sim.counters().packets_misaddressed, 0);
    assert_eq!(sim.counters().stuck_timers, 0);
}

#[test]
fn runs_are_deterministic() {
    let run = || {
        let mut config = SimConfig::new(30, Topology::Geometric, 9);
        config.loss = 0.1;
        let mut sim: Sim<FakeNode> = Sim::with_router(config).unwrap();
        sim.run_until(Duration::from_secs(20));
        let c = *sim.counters();
        (
            c.events,
            c.packets_sent,
            c.packets_lost,
            c.route_changes,
            sim.fully_connected(),
        )
    };
    let first = run();
    assert_eq!(first, run());
    assert!(first.2 > 0, "some packets were lost");
}

#[test]
fn cut_link_drops_silently_and_routes_repair() {
    let mut sim = sim(8, Topology::Ring, 2);
    sim.run_until(Duration::from_secs(10));
    assert!(sim.fully_connected());
    // Link 0 joins nodes 0 and 1.
    assert_eq!(sim.route(0, 1).map(|r| r.1), Some(0));
    sim.cut_link(0);
    assert!(!sim.fully_connected(), "the FIB still uses the cut link");
    // The fake forgets stale routes one hop per 3.5 s.
    sim.run_until(Duration::from_secs(40));
    assert!(sim.fully_connected());
    assert_eq!(sim.path(0, 1), vec![0, 7, 6, 5, 4, 3, 2, 1]);
    assert!(sim.counters().packets_dropped_cut > 0);
    sim.heal_link(0);
    sim.run_until(Duration::from_secs(50));
    assert_eq!(sim.path(0, 1), vec![0, 1]);
}

#[test]
fn crash_and_restart() {
    let mut sim = sim(5, Topology::Line, 3);
    sim.run_until(Duration::from_secs(10));
    assert!(sim.fully_connected());
    sim.crash_node(4);
    assert!(sim.is_down(4));
    assert!(sim.node(4).is_none());
    assert!(sim.route(4, 0).is_none());
    // The live nodes still reach each other.
    assert!(sim.fully_connected());
    // The fake forgets stale routes one hop per 3.5 s.
    sim.run_until(Duration::from_secs(30));
    assert!(
        sim.route(0, 4).is_none(),
        "route to the crashed node expired"
    );
    assert!(sim.counters().packets_dropped_crashed > 0);
    sim.restart_node(4);
    sim.run_until(Duration::from_secs(40));
    assert!(sim.fully_connected());
    assert_eq!(sim.route(0, 4).map(|r| r.2), Some(4 * 96));
}

#[test]
fn scheduled_actions_run_at_their_time() {
    let mut sim = sim(4, Topology::Ring, 4);
    sim.schedule(Duration::from_secs(5), crate::Action::CutLink(1));
    sim.run_until(Duration::from_millis(4999));
    assert!(!sim.is_cut(1));
    sim.run_until(Duration::from_secs(5));
    assert!(sim.is_cut(1));
}

#[test]
fn scenario_measures_everything() {
    let mut config = SimConfig::new(20, Topology::Grid, 5);
    config.loss = 0.01;
    let mut scenario = Scenario::new(config);
    scenario.cut_fraction = 0.1;
    scenario.crash_fraction = 0.1;
    scenario.restart_after = Duration::from_secs(10);
    let mut sim: Sim<FakeNode> = Sim::with_router(scenario.sim.clone()).unwrap();
    let report = scenario.drive(&mut sim);
    let text = report.to_string();
    assert!(report.full_connectivity_s.is_some(), "{text}");
    assert!(report.optimal_s.is_some(), "{text}");
    assert!(
        report.control_bytes_per_node_s.is_some_and(|b| b > 0.0),
        "{text}"
    );
    let cut = report.cut.clone().unwrap();
    assert_eq!(cut.links_cut, 3);
    assert!(cut.repair_s.is_some(), "{text}");
    let crash = report.crash.clone().unwrap();
    assert_eq!(crash.nodes_crashed, 2);
    assert!(crash.restart_repair_s.is_some(), "{text}");
    let keys: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap()).collect();
    let expected = [
        "nodes",
        "links",
        "seed",
        "loss",
        "full_connectivity_s",
        "optimal_s",
        "cut_links",
        "cut_at_s",
        "repair_s",
    ];
    assert_eq!(&keys[..expected.len()], &expected);
    let index = |k: &str| keys.iter().position(|x| *x == k).unwrap();
    assert!(index("loops") < index("restart_loops"));
    assert!(index("infeasible") < index("control_bytes_per_node_s"));
    assert!(index("packets_sent") < index("events"));
    assert!(index("sim_seconds") < index("wall_seconds"));
    assert!(index("wall_seconds") < index("sim_seconds_per_wall_second"));
    // Stopped after settling, not at the 300 s bound.
    assert!(report.sim_seconds < 299.0, "{text}");
}

/// `cargo test -p meshsim --release -- --ignored --nocapture fake_scale`: the simulator's own
/// overhead at 1000 nodes (the fake core is much cheaper than Babel).
#[test]
#[ignore]
fn fake_scale() {
    let mut sim = sim(1000, Topology::Geometric, 1);
    let start = std::time::Instant::now();
    sim.run_until(Duration::from_secs(60));
    let wall = start.elapsed().as_secs_f64();
    let connected = sim.fully_connected();
    eprintln!(
        "1000 nodes, 60 s virtual in {wall:.2} s wall ({:.1}x), {} events, connected {connected}",
        60.0 / wall,
        sim.counters().events
    );
}
