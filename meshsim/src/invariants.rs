//! The two safety properties the simulator checks after every event, and their tallies.
//!
//! - **Loop freedom**: following forwarding-table next hops for one prefix never revisits a node.
//!   Only a FIB change can close a loop, and a loop closed by a change at node `n` passes through
//!   `n`, so after each event the simulator walks the FIBs from every node whose entry for a
//!   prefix changed in that event (at most one walk per changed prefix, bounded by the node count).
//!   A loop is counted once per (event, prefix). Loops through a node that restarted (with or without
//!   its seqno, or under a new router-id: its source table is gone either way) less than 3.5
//!   update intervals ago go to `restart_loops` instead: RFC 8966 only promises
//!   loop freedom to nodes that keep their sequence numbers and source table.
//!   In networks small enough for `SimConfig::check_every_route`, every prefix's tables are also
//!   walked once a second, and a loop still standing once the allowance has passed for every node
//!   in it is counted (`standing_loops`), however it formed.
//! - **Feasibility** (RFC 8966 §3.5.1): for each prefix whose route changed at a node, its selected
//!   route (if learned from a neighbour) must satisfy the feasibility condition against the node's
//!   own source table entry for (prefix, router-id): a strictly newer seqno (modulo 2^16), or the
//!   same seqno and an advertised metric strictly below the feasibility distance. No source entry
//!   means every route is feasible. The core updates its source entry when it advertises, so a
//!   selected route whose advertised metric is at or above an equal-seqno feasibility distance is
//!   one that could loop.
//!
//! - **No stale routes**: once a second, for every (node, prefix) with no live origin of the
//!   prefix reachable from the node over usable links (not cut, one-way or in a burst), the node's
//!   entry must be gone within [`crate::SimConfig::stale_bound`] (route expiry plus margin), a
//!   held unreachable entry within the hold time after that.
//!
//! This module owns the tallies and the debugging log; the walks themselves live with the FIB
//! ([`crate::fib`]).

use babel::wire::seqno_newer;
use babel::{RouteInfo, SourceInfo};

/// Tallies of invariant violations, with the first few described for debugging.
#[derive(Debug, Clone, Default)]
pub struct Invariants {
    /// Forwarding loops among nodes that kept their state, once per (event, prefix).
    pub loops: u64,
    /// Those of `loops` found by the periodic scan of small networks: a loop still standing once
    /// no node in it restarted within the allowance, whether or not it was counted when it formed.
    pub standing_loops: u64,
    /// Those of `loops` where a node forwarded by a shorter prefix (`::/0`) for want of an entry
    /// of its own: what holding a lost prefix unreachable (RFC 8966 §3.5.4) prevents.
    pub loops_through_shorter: u64,
    /// Forwarding loops through a recently restarted node (allowed by the RFC).
    pub restart_loops: u64,
    /// Transient forwarding loops across sources: the nodes of the cycle forward by routes of
    /// two router-ids (a node's old and new one, or two origins of a prefix). RFC 8966 §1.1
    /// allows these ("gone in time proportional to the loop's diameter"); one still standing
    /// [`crate::sim::SOURCE_LOOP_BOUND`] after it formed counts in `loops` and `standing_loops`.
    pub source_loops: u64,
    /// Selected routes that fail the feasibility condition, once per (event, prefix).
    pub infeasible: u64,
    /// Forwarding entries (or held unreachable ones) that a node kept for a prefix too long
    /// after no origin of it was reachable: beyond route expiry plus margin, plus the hold time
    /// for a held entry (`SimConfig::stale_bound`, `SimConfig::hold_time`). Once per (node,
    /// prefix) episode.
    pub stale_routes: u64,
    /// Human-readable descriptions of the first `log_limit` violations.
    pub log: Vec<String>,
    pub log_limit: usize,
}

impl Invariants {
    pub fn new(log_limit: usize) -> Invariants {
        Invariants {
            log_limit,
            ..Invariants::default()
        }
    }

    pub fn record(&mut self, message: impl FnOnce() -> String) {
        if self.log.len() < self.log_limit {
            self.log.push(message());
        }
    }

    /// Whether any violation the RFC forbids was seen.
    pub fn violated(&self) -> bool {
        self.loops > 0 || self.infeasible > 0 || self.stale_routes > 0
    }
}

/// RFC 8966 §3.5.1 for a selected route against the source entry for its (prefix, router-id).
pub fn is_feasible(route: &RouteInfo, source: Option<&SourceInfo>) -> bool {
    let Some(source) = source else {
        return true;
    };
    seqno_newer(route.seqno, source.seqno)
        || (route.seqno == source.seqno && route.advertised_metric < source.metric)
}

#[cfg(test)]
mod tests {
    use super::*;
    use babel::{Prefix, RouteStatus, RouterId};

    fn route(seqno: u16, advertised_metric: u16) -> RouteInfo {
        RouteInfo {
            prefix: "fd00::1/128".parse::<Prefix>().unwrap(),
            router_id: RouterId([0, 0, 0, 0, 0, 0, 0, 1]),
            neighbour: None,
            next_hop: None,
            seqno,
            advertised_metric,
            metric: advertised_metric + 96,
            status: RouteStatus::Selected,
        }
    }

    fn source(seqno: u16, metric: u16) -> SourceInfo {
        SourceInfo {
            prefix: "fd00::1/128".parse::<Prefix>().unwrap(),
            router_id: RouterId([0, 0, 0, 0, 0, 0, 0, 1]),
            seqno,
            metric,
        }
    }

    #[test]
    fn feasibility_condition() {
        assert!(is_feasible(&route(5, 1000), None));
        assert!(is_feasible(&route(6, 1000), Some(&source(5, 10))));
        assert!(is_feasible(&route(0, 1000), Some(&source(0xFFFF, 10))));
        assert!(is_feasible(&route(5, 9), Some(&source(5, 10))));
        assert!(!is_feasible(&route(5, 10), Some(&source(5, 10))));
        assert!(!is_feasible(&route(4, 1), Some(&source(5, 10))));
    }
}
