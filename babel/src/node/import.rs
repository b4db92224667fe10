//! The node's side of import filtering (`filter.rs` decides): setting a new filter re-judges
//! every route and re-runs selection where a verdict changed, so a route that became refused is
//! withdrawn (from the forwarding table and from our neighbours) at once, and one that stopped
//! being refused is used again without waiting for its next update.

use std::time::Instant;

use super::{Event, Node};
use crate::filter::{ImportFilter, Refusal};
use crate::hash::FastMap;
use crate::ids::NeighbourId;
use crate::wire::{Prefix, RouterId};

impl Node {
    /// The import filter in force.
    pub fn import_filter(&self) -> &ImportFilter {
        &self.import_filter
    }

    /// Replaces the import filter. Every route is judged again; where a verdict changed, the
    /// prefix's selection runs again, which removes or installs routes (`poll_route_change`) and
    /// triggers the updates our neighbours need. Each route that becomes refused is reported
    /// once ([`Event::RouteRefused`]). Setting the filter already in force costs one comparison.
    pub fn set_import_filter(&mut self, now: Instant, filter: ImportFilter) {
        if filter == self.import_filter {
            return;
        }
        self.import_filter = filter;
        let mut changed: Vec<Prefix> = Vec::new();
        let mut newly: Vec<(NeighbourId, Prefix, RouterId, Refusal)> = Vec::new();
        let judge = &self.import_filter;
        for (prefix, entry) in self.routes.iter_mut() {
            let mut any = false;
            for route in entry.routes.iter_mut() {
                let verdict = judge.judge(*prefix, route.router_id);
                if verdict == route.refused {
                    continue;
                }
                if let (None, Some(refusal)) = (route.refused, verdict) {
                    newly.push((route.neighbour, *prefix, route.router_id, refusal));
                }
                route.refused = verdict;
                any = true;
            }
            if any {
                changed.push(*prefix);
            }
        }
        changed.sort();
        for prefix in changed {
            self.reselect(now, prefix);
        }
        for (neighbour, prefix, router_id, refusal) in newly {
            self.note_refused(neighbour, prefix, router_id, refusal);
        }
    }

    /// Counts and reports a route that has just become refused.
    pub(super) fn note_refused(
        &mut self,
        neighbour: NeighbourId,
        prefix: Prefix,
        router_id: RouterId,
        refusal: Refusal,
    ) {
        self.stats.routes_refused += 1;
        let Some((link, address)) = self.neighbour(neighbour).map(|n| (n.link, n.address)) else {
            return;
        };
        self.push_event(Event::RouteRefused {
            link,
            address,
            prefix,
            router_id,
            refusal,
        });
    }

    /// How many refused routes each neighbour has in the table now.
    pub(super) fn refused_per_neighbour(&self) -> FastMap<NeighbourId, u32> {
        let mut counts: FastMap<NeighbourId, u32> = FastMap::default();
        for route in self.routes.values().flat_map(|e| e.routes.iter()) {
            if route.refused.is_some() {
                *counts.entry(route.neighbour).or_insert(0) += 1;
            }
        }
        counts
    }
}
