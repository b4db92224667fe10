//! Property test: random small geometric networks (5 to 20 nodes) under random sequences of link
//! cuts, heals, crashes and restarts never loop (outside the RFC's restart allowance) and never
//! select an unfeasible route, and reconverge once everything is healed and restarted.
//!
//! Runs 8 cases by default; set `MESHSIM_PROPTEST_CASES` for more. The proptest seed is fixed, so
//! the cases are the same on every run.

mod common;

use std::time::Duration;

use common::{assert_safe, run_until_connected, sim};
use meshsim::{Action, Topology};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn cases() -> u32 {
    std::env::var("MESHSIM_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

/// (seconds to wait before it, kind 0..4, index to reduce modulo the link or node count)
type Step = (u64, u8, usize);

fn run(seed: u64, nodes: usize, steps: &[Step]) {
    let mut sim = sim(nodes, Topology::Geometric, seed);
    sim.run_until(Duration::from_secs(30));
    let links = sim.graph().edges.len();
    for &(wait, kind, index) in steps {
        sim.run_until(sim.now() + Duration::from_secs(wait));
        let action = match kind {
            0 if links > 0 => Action::CutLink(index % links),
            1 if links > 0 => Action::HealLink(index % links),
            2 => Action::Crash(index % nodes),
            _ => Action::Restart(index % nodes),
        };
        sim.apply(action);
        assert_safe(&sim);
    }
    for link in 0..links {
        sim.heal_link(link);
    }
    for node in 0..nodes {
        sim.restart_node(node);
    }
    let end = sim.now() + Duration::from_secs(180);
    assert!(
        run_until_connected(&mut sim, end).is_some(),
        "seed {seed}, {nodes} nodes, {steps:?}: no reconvergence after healing"
    );
    assert_safe(&sim);
}

proptest! {
    #![proptest_config(Config {
        cases: cases(),
        rng_seed: RngSeed::Fixed(0x6d65_7368),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn random_events_never_loop(
        seed in any::<u64>(),
        nodes in 5usize..=20,
        steps in prop::collection::vec((1u64..=20, 0u8..4, any::<usize>()), 0..=10),
    ) {
        run(seed, nodes, &steps);
    }
}
