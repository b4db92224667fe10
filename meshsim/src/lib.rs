//! meshsim: many nodes of the real Babel core (`babel::Node`) in one process, on simulated
//! point-to-point links with seeded loss and delay, in virtual time; after every event it checks
//! that forwarding never loops and every selected route is feasible (`docs/architecture.md`,
//! "Tests, in four levels": level 3).
//!
//! - [`topology`]: graph generators (line, ring, grid, random geometric).
//! - [`sim`]: the event loop, links, FIBs, and the per-event invariant checks.
//! - [`fib`]: all nodes' forwarding tables and the walks over them.
//! - [`invariants`]: what counts as a loop or an unfeasible route, and the tallies.
//! - [`chaos`]: random fault sequences over every kind of fault, for `--chaos` and the property
//!   tests.
//! - [`scenario`]: a measured run (convergence, steady-state overhead, cuts, crashes, repair).
//! - [`report`]: the `key: value` output.
//! - [`rng`]: the seeded PRNG everything random comes from.
//! - [`router`]: the trait the simulator drives, implemented by `babel::Node`.
//!
//! ```no_run
//! use std::time::Duration;
//! use meshsim::{Sim, SimConfig, Topology};
//!
//! let mut sim = Sim::new(SimConfig::new(8, Topology::Ring, 1)).unwrap();
//! sim.run_until(Duration::from_secs(30));
//! assert!(sim.fully_connected());
//! assert_eq!(sim.invariants().loops, 0);
//! ```

pub mod chaos;
pub mod fib;
pub mod invariants;
pub mod report;
pub mod rng;
pub mod router;
pub mod scenario;
pub mod sim;
pub mod topology;

pub use invariants::Invariants;
pub use report::Report;
pub use router::Router;
pub use scenario::Scenario;
pub use sim::{Action, Counters, SharedPrefix, Sim, SimConfig};
pub use topology::{Graph, Topology};
