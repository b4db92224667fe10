//! Neighbours and their cost (RFC 8966 §3.4.3, Appendix A): applying a cost change to the routes
//! through a neighbour, forgetting a neighbour, and the route limits (`Limits`) that bound what
//! one can make the node hold.

use super::*;

impl Node {
    /// The prefixes with a route through neighbour `id`, which holds `held` routes: a pass over
    /// the whole table (counted in `Stats::table_scans`), or none when it holds nothing.
    pub(super) fn prefixes_via(&mut self, id: NeighbourId, held: usize) -> Vec<Prefix> {
        if held == 0 {
            return Vec::new();
        }
        self.stats.table_scans += 1;
        self.routes
            .iter()
            .filter(|(_, e)| e.route(id).is_some())
            .map(|(p, _)| *p)
            .collect()
    }

    /// The driver knows `link` cannot carry packets now (the underlay interface its endpoint
    /// lives on went down or lost carrier): its neighbours become unusable at once, as if their
    /// probes had failed, instead of after a Hello interval and a round of probes. Their routes
    /// are reselected now; a neighbour's next Hello makes it usable again.
    pub fn link_down(&mut self, now: Instant, link: LinkId) {
        let ids: Vec<NeighbourId> = self
            .neighbours
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().filter(|n| n.link == link).map(|_| i))
            .map(|i| NeighbourId(i as u32))
            .collect();
        for id in ids {
            if let Some(n) = self.neighbour_mut(id) {
                n.presumed_dead = true;
                n.probe = None;
            }
            self.check_cost(now, id);
        }
    }

    /// Recomputes a neighbour's cost; on a change, reports it and re-runs route selection for
    /// every prefix with a route through it.
    pub(super) fn check_cost(&mut self, now: Instant, id: NeighbourId) {
        let Some(n) = self.neighbour(id) else {
            return;
        };
        let Some(link) = self.links.get(&n.link) else {
            return;
        };
        let cost = n.cost(&link.config);
        let old = n.reported_cost;
        if cost == old {
            return;
        }
        if old != INFINITY
            && cost != INFINITY
            && n.cost_changed_at.is_some_and(|t| now < t + COST_HOLD)
        {
            // Applied by a later check (every timer run checks every neighbour).
            return;
        }
        let (link_id, address) = (n.link, n.address);
        if let Some(n) = self.neighbour_mut(id) {
            n.reported_cost = cost;
            n.cost_changed_at = Some(now);
        }
        if old == INFINITY {
            self.push_event(Event::NeighbourUp {
                link: link_id,
                address,
            });
            let returning = self.neighbour(id).is_some_and(|n| n.was_up);
            if let Some(n) = self.neighbour_mut(id) {
                n.was_up = true;
            }
            if returning {
                // Back after being presumed dead: it may have missed any number of updates,
                // and so may we. Full tables both ways now, not at the next
                // periodic update (RFC 8966 §3.8.1.1 allows the wildcard request).
                if let Some(l) = self.links.get_mut(&link_id) {
                    l.full_update_pending = true;
                    l.pending_control.push((
                        Destination::Unicast(address),
                        Message::RouteRequest { prefix: None },
                    ));
                    let at = l.full_update_allowed.max(now + FLUSH_DELAY);
                    l.schedule_flush(at);
                }
            }
        } else if cost == INFINITY {
            self.push_event(Event::NeighbourDown {
                link: link_id,
                address,
            });
        } else if old.abs_diff(cost) >= old / 8 {
            self.push_event(Event::NeighbourCost {
                link: link_id,
                address,
                cost,
            });
        }
        let held = self.neighbour(id).map_or(0, |n| n.routes);
        let prefixes = self.prefixes_via(id, held);
        for prefix in prefixes {
            self.reselect(now, prefix);
        }
    }

    pub(super) fn remove_neighbour(&mut self, now: Instant, id: NeighbourId) {
        let Some(n) = self
            .neighbours
            .get_mut(id.0 as usize)
            .and_then(|n| n.take())
        else {
            return;
        };
        self.neighbour_index.remove(&(n.link, n.address));
        self.requests.forget_neighbour(id);
        if n.reported_cost != INFINITY {
            self.push_event(Event::NeighbourDown {
                link: n.link,
                address: n.address,
            });
        }
        let prefixes = self.prefixes_via(id, n.routes);
        for prefix in prefixes {
            if let Some(entry) = self.routes.get_mut(&prefix) {
                // Its own count left with it (it is out of `neighbours` already).
                let before = entry.routes.len();
                entry.routes.retain(|r| r.neighbour != id);
                self.route_count -= before - entry.routes.len();
            }
            self.reselect(now, prefix);
        }
    }

    /// Whether a new route from `id` fits the route limits; if not, it is counted and the
    /// neighbour's first refusal in a row becomes an event.
    pub(super) fn admit_route(&mut self, id: NeighbourId) -> bool {
        let limits = self.config.limits;
        let held = self.neighbour(id).map_or(0, |n| n.routes);
        let limit = if held >= limits.routes_per_neighbour {
            LimitKind::RoutesPerNeighbour
        } else if self.route_count >= limits.routes {
            LimitKind::Routes
        } else {
            if let Some(n) = self
                .neighbours
                .get_mut(id.0 as usize)
                .and_then(|n| n.as_mut())
            {
                n.at_limit = false;
            }
            return true;
        };
        self.stats.routes_over_limit += 1;
        if let Some(n) = self
            .neighbours
            .get_mut(id.0 as usize)
            .and_then(|n| n.as_mut())
        {
            n.routes_over_limit = n.routes_over_limit.saturating_add(1);
        }
        self.note_limit(id, limit);
        false
    }

    /// Tells the caller, once until the neighbour's next accepted new route, that a limit
    /// refused one of its routes.
    pub(super) fn note_limit(&mut self, id: NeighbourId, limit: LimitKind) {
        let Some(n) = self
            .neighbours
            .get_mut(id.0 as usize)
            .and_then(|n| n.as_mut())
        else {
            return;
        };
        if n.at_limit {
            return;
        }
        n.at_limit = true;
        let (link, address) = (n.link, n.address);
        self.push_event(Event::RouteLimit {
            link,
            address,
            limit,
        });
    }
}
