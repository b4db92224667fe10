//! The outcome of a run, printed as `key: value` lines in a fixed order. Owns formatting only; the
//! numbers come from [`crate::sim`] (counters, invariants) and [`crate::scenario`] (timings).
//!
//! Times are virtual seconds. A measurement that did not happen within the run prints `none`.

use std::fmt;

use crate::sim::Counters;

/// What happened to the links that were cut.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CutReport {
    /// Links actually cut (fewer than asked if more would have disconnected the graph).
    pub links_cut: usize,
    pub at_s: f64,
    /// From the cut until full connectivity held again among live nodes over the remaining links.
    pub repair_s: Option<f64>,
}

/// What happened to the nodes that were crashed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrashReport {
    pub nodes_crashed: usize,
    pub at_s: f64,
    pub restart_at_s: f64,
    /// From the restart until full connectivity held again, the restarted nodes included.
    pub restart_repair_s: Option<f64>,
}

/// What the chaos phase did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChaosReport {
    /// Faults applied.
    pub events: usize,
    pub at_s: f64,
    /// When everything was healed, after the last fault.
    pub healed_at_s: f64,
    /// From the heal until full connectivity held again.
    pub repair_s: Option<f64>,
}

/// Every measurement of one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub nodes: usize,
    pub links: usize,
    pub seed: u64,
    pub loss: f64,
    pub full_connectivity_s: Option<f64>,
    pub optimal_s: Option<f64>,
    pub cut: Option<CutReport>,
    pub crash: Option<CrashReport>,
    pub chaos: Option<ChaosReport>,
    pub loops: u64,
    pub loops_through_shorter: u64,
    pub restart_loops: u64,
    pub source_loops: u64,
    pub infeasible: u64,
    pub stale_routes: u64,
    pub control_bytes_per_node_s: Option<f64>,
    pub packets_sent: u64,
    pub events: u64,
    pub sim_seconds: f64,
    pub wall_seconds: f64,
    pub sim_seconds_per_wall_second: f64,
    /// The detailed counters, printed after the main keys.
    pub counters: Counters,
    /// The cores' own counters, summed over the nodes alive at the end.
    pub core: babel::Stats,
    /// The first invariant violations, described (not printed by `Display`).
    pub violations: Vec<String>,
}

impl Report {
    /// The exit status the CLI uses: success only without loops, unfeasible and stale routes.
    pub fn passed(&self) -> bool {
        self.loops == 0 && self.infeasible == 0 && self.stale_routes == 0
    }
}

struct Seconds(Option<f64>);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, "{s:.3}"),
            None => f.write_str("none"),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "nodes: {}", self.nodes)?;
        writeln!(f, "links: {}", self.links)?;
        writeln!(f, "seed: {}", self.seed)?;
        writeln!(f, "loss: {}", self.loss)?;
        writeln!(
            f,
            "full_connectivity_s: {}",
            Seconds(self.full_connectivity_s)
        )?;
        writeln!(f, "optimal_s: {}", Seconds(self.optimal_s))?;
        if let Some(cut) = &self.cut {
            writeln!(f, "cut_links: {}", cut.links_cut)?;
            writeln!(f, "cut_at_s: {:.3}", cut.at_s)?;
            writeln!(f, "repair_s: {}", Seconds(cut.repair_s))?;
        }
        if let Some(crash) = &self.crash {
            writeln!(f, "crashed_nodes: {}", crash.nodes_crashed)?;
            writeln!(f, "crash_at_s: {:.3}", crash.at_s)?;
            writeln!(f, "restart_at_s: {:.3}", crash.restart_at_s)?;
            writeln!(f, "restart_repair_s: {}", Seconds(crash.restart_repair_s))?;
        }
        if let Some(chaos) = &self.chaos {
            writeln!(f, "chaos_events: {}", chaos.events)?;
            writeln!(f, "chaos_at_s: {:.3}", chaos.at_s)?;
            writeln!(f, "chaos_healed_at_s: {:.3}", chaos.healed_at_s)?;
            writeln!(f, "chaos_repair_s: {}", Seconds(chaos.repair_s))?;
        }
        writeln!(f, "loops: {}", self.loops)?;
        writeln!(
            f,
            "loops_through_shorter_prefix: {}",
            self.loops_through_shorter
        )?;
        writeln!(f, "restart_loops: {}", self.restart_loops)?;
        writeln!(f, "source_loops: {}", self.source_loops)?;
        writeln!(f, "infeasible: {}", self.infeasible)?;
        writeln!(f, "stale_routes: {}", self.stale_routes)?;
        match self.control_bytes_per_node_s {
            Some(b) => writeln!(f, "control_bytes_per_node_s: {b:.1}")?,
            None => writeln!(f, "control_bytes_per_node_s: none")?,
        }
        writeln!(f, "packets_sent: {}", self.packets_sent)?;
        writeln!(f, "events: {}", self.events)?;
        writeln!(f, "sim_seconds: {:.3}", self.sim_seconds)?;
        writeln!(f, "wall_seconds: {:.3}", self.wall_seconds)?;
        writeln!(
            f,
            "sim_seconds_per_wall_second: {:.1}",
            self.sim_seconds_per_wall_second
        )?;
        let c = &self.counters;
        writeln!(f, "payload_bytes: {}", c.payload_bytes)?;
        writeln!(f, "packets_delivered: {}", c.packets_delivered)?;
        writeln!(f, "packets_lost: {}", c.packets_lost)?;
        writeln!(f, "packets_dropped_cut: {}", c.packets_dropped_cut)?;
        writeln!(f, "packets_dropped_crashed: {}", c.packets_dropped_crashed)?;
        writeln!(f, "packets_misaddressed: {}", c.packets_misaddressed)?;
        writeln!(f, "route_changes: {}", c.route_changes)?;
        writeln!(f, "bad_packets: {}", c.bad_packets)?;
        writeln!(f, "bad_next_hops: {}", c.bad_next_hops)?;
        writeln!(f, "unknown_links: {}", c.unknown_links)?;
        writeln!(f, "unknown_prefixes: {}", c.unknown_prefixes)?;
        writeln!(f, "stuck_timers: {}", c.stuck_timers)?;
        let k = &self.core;
        writeln!(f, "core_updates_sent: {}", k.updates_sent)?;
        writeln!(f, "core_urgent_packets_sent: {}", k.urgent_packets_sent)?;
        writeln!(f, "core_seqno_requests_sent: {}", k.seqno_requests_sent)?;
        writeln!(
            f,
            "core_seqno_requests_forwarded: {}",
            k.seqno_requests_forwarded
        )?;
        writeln!(f, "core_seqno_increases: {}", k.seqno_increases)?;
        writeln!(f, "core_requests_suppressed: {}", k.requests_suppressed)?;
        writeln!(f, "core_queue_drops: {}", k.queue_drops)
    }
}
