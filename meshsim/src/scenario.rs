//! A whole measured run: converge, measure steady-state overhead, disrupt, measure repair.
//!
//! Owns the phases and the timings; drives a [`Sim`] in ticks of `connectivity_interval` (100 ms)
//! of virtual time, checking after each tick (the network does not change between events, so a
//! check at a tick boundary sees the state of that instant):
//!
//! 1. `full_connectivity_s`: the first tick at which every live node has an installed route to every
//!    other node's prefix and following next hops from every node reaches every destination.
//! 2. `optimal_s`: once (1) holds, every `optimal_interval` (1 s): the first check at which every
//!    node's installed metric to every destination is within `Config::switch_hysteresis` of the
//!    Dijkstra shortest path over the link costs the cores report (see [`Sim::is_optimal`]). The
//!    resolution is therefore 1 s. Only checked before any disruption.
//! 3. `control_bytes_per_node_s`: steady state, over `steady_window` (60 s) starting when (2) first
//!    holds, or at `converge_deadline` if it has not by then: every transmit the cores produced in
//!    that window (whether it was later lost or not), Babel payload plus 48 bytes of IPv6 and UDP
//!    header each, divided by the node count and the window length.
//! 4. Disruption (only if a cut or crash fraction is given), at the end of that window: a seeded
//!    choice of `round(cut_fraction * links)` links is cut, skipping any link whose removal would
//!    disconnect the graph, and `round(crash_fraction * nodes)` nodes are crashed, likewise skipping
//!    any whose loss would disconnect the live nodes; crashed nodes restart `restart_after` later.
//!    `repair_s` runs from the disruption to the first tick at which full connectivity holds again
//!    among live nodes over the remaining links; `restart_repair_s` from the restart to the first
//!    tick at which it holds with the restarted nodes included.
//!
//! 5. Chaos (only if `chaos` faults are asked for), once (4) is measured (or after the steady
//!    window if there is no disruption): the seeded fault sequence of [`crate::chaos`] over the
//!    chosen kinds, then everything is healed (links, crashed nodes, withdrawn origins);
//!    `chaos_repair_s` runs from the heal to the first tick at which full connectivity holds again.
//!
//! The run stops at `duration` if given; otherwise `settle` (30 s) after every measurement is done,
//! and never later than `max_duration` (300 s, plus the chaos phase and 240 s after its heal).

use std::time::Duration;

use crate::chaos::{self, Kind};
use crate::report::{ChaosReport, CrashReport, CutReport, Report};
use crate::rng::SplitMix64;
use crate::sim::{Action, Sim, SimConfig};

/// The parameters of a measured run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub sim: SimConfig,
    /// Fraction of links to cut, in `[0, 1]`.
    pub cut_fraction: f64,
    /// Fraction of nodes to crash, in `[0, 1]`.
    pub crash_fraction: f64,
    pub restart_after: Duration,
    /// Stop exactly here, measured or not.
    pub duration: Option<Duration>,
    pub max_duration: Duration,
    pub converge_deadline: Duration,
    pub steady_window: Duration,
    pub settle: Duration,
    pub connectivity_interval: Duration,
    pub optimal_interval: Duration,
    /// Crashed nodes restart with the seqno they had (as meshd persists it), not a fresh one.
    pub restart_keeping_seqno: bool,
    /// How many random faults the chaos phase applies (0: no chaos phase).
    pub chaos: usize,
    /// The kinds of fault it draws from.
    pub chaos_kinds: Vec<Kind>,
    /// Virtual milliseconds between its faults, uniform in this range.
    pub chaos_wait_ms: (u64, u64),
    /// Faults at fixed virtual times, scheduled before the run starts (whatever the phases).
    pub events: Vec<(Duration, Action)>,
}

impl Scenario {
    pub fn new(sim: SimConfig) -> Scenario {
        Scenario {
            sim,
            cut_fraction: 0.0,
            crash_fraction: 0.0,
            restart_after: Duration::from_secs(30),
            duration: None,
            max_duration: Duration::from_secs(300),
            converge_deadline: Duration::from_secs(120),
            steady_window: Duration::from_secs(60),
            settle: Duration::from_secs(30),
            connectivity_interval: Duration::from_millis(100),
            optimal_interval: Duration::from_secs(1),
            restart_keeping_seqno: false,
            chaos: 0,
            chaos_kinds: Kind::ALL.to_vec(),
            chaos_wait_ms: (1000, 10_000),
            events: Vec::new(),
        }
    }

    /// Runs the scenario; the simulator is returned for inspection.
    pub fn run(&self) -> Result<(Report, Sim), String> {
        let mut sim = Sim::new(self.sim.clone())?;
        let report = self.drive(&mut sim);
        Ok((report, sim))
    }

    /// Runs the scenario on an existing simulator (for other routing cores in tests).
    pub fn drive<R: crate::Router>(&self, sim: &mut Sim<R>) -> Report {
        let tick = self.connectivity_interval.max(Duration::from_millis(1));
        let optimal_every = (self.optimal_interval.as_nanos() / tick.as_nanos()).max(1) as u64;
        let disrupt = self.cut_fraction > 0.0 || self.crash_fraction > 0.0;
        for &(at, action) in &self.events {
            sim.schedule(at, action);
        }
        let draws = chaos::draws(
            self.sim.seed,
            self.chaos,
            &self.chaos_kinds,
            self.chaos_wait_ms,
        );
        let chaos_span: Duration = draws
            .iter()
            .map(|d| Duration::from_millis(d.wait_ms))
            .sum::<Duration>()
            + if draws.is_empty() {
                Duration::ZERO
            } else {
                chaos::HEAL_LIMIT
            };
        let stop_at = self.duration.unwrap_or(self.max_duration + chaos_span);
        let nodes = sim.graph().nodes;

        let mut full_connectivity = None;
        let mut optimal = None;
        let mut window_start: Option<(Duration, u64)> = None;
        let mut control = None;
        let mut cut: Option<CutReport> = None;
        let mut crash: Option<CrashReport> = None;
        let mut disrupted_at: Option<Duration> = None;
        let mut done_at: Option<Duration> = None;
        let mut chaos_report: Option<ChaosReport> = None;

        let mut k: u64 = 0;
        loop {
            k += 1;
            let t = (sim.now() + tick).min(stop_at);
            sim.run_until(t);

            if full_connectivity.is_none() && sim.fully_connected() {
                full_connectivity = Some(t);
            }
            if full_connectivity.is_some()
                && optimal.is_none()
                && disrupted_at.is_none()
                && k % optimal_every == 0
                && sim.is_optimal()
            {
                optimal = Some(t);
            }
            if window_start.is_none() && (optimal.is_some() || t >= self.converge_deadline) {
                window_start = Some((t, sim.counters().wire_bytes));
            }
            if let Some((start, bytes)) = window_start {
                if control.is_none() && t >= start + self.steady_window {
                    let seconds = (t - start).as_secs_f64();
                    let sent = sim.counters().wire_bytes - bytes;
                    control = Some(sent as f64 / nodes as f64 / seconds);
                }
            }
            if disrupt && disrupted_at.is_none() && control.is_some() {
                disrupted_at = Some(t);
                let (links_cut, crashed) = self.disrupt(sim, t);
                if self.cut_fraction > 0.0 {
                    cut = Some(CutReport {
                        links_cut,
                        at_s: t.as_secs_f64(),
                        repair_s: None,
                    });
                }
                if self.crash_fraction > 0.0 {
                    crash = Some(CrashReport {
                        nodes_crashed: crashed,
                        at_s: t.as_secs_f64(),
                        restart_at_s: (t + self.restart_after).as_secs_f64(),
                        restart_repair_s: None,
                    });
                }
            } else if let Some(at) = disrupted_at {
                let repaired = cut.as_ref().is_none_or(|c| c.repair_s.is_some());
                let restarted = crash
                    .as_ref()
                    .is_none_or(|c| c.restart_repair_s.is_some() || t < at + self.restart_after);
                if (!repaired || !restarted) && sim.fully_connected() {
                    if let Some(cut) = cut.as_mut().filter(|c| c.repair_s.is_none()) {
                        cut.repair_s = Some((t - at).as_secs_f64());
                    }
                    if let Some(crash) = crash.as_mut() {
                        if crash.restart_repair_s.is_none() && t >= at + self.restart_after {
                            crash.restart_repair_s =
                                Some((t - at - self.restart_after).as_secs_f64());
                        }
                    }
                }
            }

            let measured = full_connectivity.is_some()
                && optimal.is_some()
                && control.is_some()
                && (!disrupt || disrupted_at.is_some())
                && cut.as_ref().is_none_or(|c| c.repair_s.is_some())
                && crash.as_ref().is_none_or(|c| c.restart_repair_s.is_some());
            if measured && !draws.is_empty() && chaos_report.is_none() {
                let at = sim.now();
                let applied = chaos::run(sim, &draws);
                sim.heal_everything();
                chaos_report = Some(ChaosReport {
                    events: applied.len(),
                    at_s: at.as_secs_f64(),
                    healed_at_s: sim.now().as_secs_f64(),
                    repair_s: None,
                });
                continue;
            }
            if let Some(report) = chaos_report.as_mut().filter(|c| c.repair_s.is_none()) {
                if sim.fully_connected() {
                    report.repair_s = Some(t.as_secs_f64() - report.healed_at_s);
                }
            }
            let measured = measured
                && chaos_report.as_ref().is_none_or(|c| c.repair_s.is_some())
                && (draws.is_empty() || chaos_report.is_some());
            if measured && done_at.is_none() {
                done_at = Some(t);
            }
            let settled = self.duration.is_none() && done_at.is_some_and(|d| t >= d + self.settle);
            if t >= stop_at || settled {
                break;
            }
        }

        let mut report = sim.report();
        report.full_connectivity_s = full_connectivity.map(|t| t.as_secs_f64());
        report.optimal_s = optimal.map(|t| t.as_secs_f64());
        report.control_bytes_per_node_s = control;
        report.cut = cut;
        report.crash = crash;
        report.chaos = chaos_report;
        report.violations = sim.invariants().log.clone();
        report
    }

    /// Cuts and crashes at `t`; returns how many links were cut and nodes crashed.
    fn disrupt<R: crate::Router>(&self, sim: &mut Sim<R>, t: Duration) -> (usize, usize) {
        let graph = sim.graph().clone();
        let mut rng = SplitMix64::derive(self.sim.seed, 0x6375_7473);
        let mut cut = sim.cut_flags().to_vec();
        let mut down = sim.down_flags().to_vec();

        let wanted_cuts = (self.cut_fraction * graph.edges.len() as f64).round() as usize;
        let mut candidates: Vec<usize> = (0..graph.edges.len()).collect();
        rng.shuffle(&mut candidates);
        let mut links_cut = 0;
        for link in candidates {
            if links_cut == wanted_cuts {
                break;
            }
            if cut[link] {
                continue;
            }
            cut[link] = true;
            if graph.is_connected(&cut, &down) {
                sim.cut_link(link);
                links_cut += 1;
            } else {
                cut[link] = false;
            }
        }

        let wanted_crashes = (self.crash_fraction * graph.nodes as f64).round() as usize;
        let mut candidates: Vec<usize> = (0..graph.nodes).collect();
        rng.shuffle(&mut candidates);
        let mut crashed = 0;
        for node in candidates {
            let alive = down.iter().filter(|d| !**d).count();
            if crashed == wanted_crashes || alive <= 1 {
                break;
            }
            if down[node] {
                continue;
            }
            down[node] = true;
            if graph.is_connected(&cut, &down) {
                sim.crash_node(node);
                let restart = if self.restart_keeping_seqno {
                    Action::RestartKeepingSeqno(node)
                } else {
                    Action::Restart(node)
                };
                sim.schedule(t + self.restart_after, restart);
                crashed += 1;
            } else {
                down[node] = false;
            }
        }
        (links_cut, crashed)
    }
}
