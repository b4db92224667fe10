//! Route selection (RFC 8966 §3.6): choosing among feasible routes (`route::select`), the
//! forwarding-table changes and announcements that follow, holding a lost prefix unreachable
//! (§3.5.4), and starvation requests (§3.8.2.1).

use super::*;

impl Node {
    /// Re-runs selection for `prefix` and reports what changed: the forwarding table to the
    /// caller, the announcement to our neighbours.
    pub(super) fn reselect(&mut self, now: Instant, prefix: Prefix) {
        if self.local_prefixes.contains(&prefix) {
            return;
        }
        let Some(entry) = self.routes.get(&prefix) else {
            return;
        };
        let mut candidates: Vec<Candidate> = Vec::with_capacity(entry.routes.len());
        let mut sources_full: Vec<NeighbourId> = Vec::new();
        for route in &entry.routes {
            let metric = total_metric(
                route.advertised_metric,
                self.neighbour_cost(route.neighbour),
            );
            if metric == INFINITY || route.expires <= now || route.refused.is_some() {
                continue;
            }
            // RFC 8966 §3.6: only feasible routes are selected, the current one included (a
            // selected route stays feasible while its metric does not grow, since what we
            // announce for it is its metric plus a positive link cost).
            if self.sources.is_feasible(
                prefix,
                route.router_id,
                route.seqno,
                route.advertised_metric,
            ) {
                candidates.push(Candidate {
                    neighbour: route.neighbour,
                    metric,
                });
            } else if !self.sources.has_room()
                && self.sources.get(prefix, route.router_id).is_none()
            {
                // Unfeasible only because the source table is full.
                sources_full.push(route.neighbour);
            }
        }
        if !sources_full.is_empty() {
            for neighbour in sources_full {
                self.stats.sources_over_limit += 1;
                self.note_limit(neighbour, LimitKind::Sources);
            }
        }
        let Some(entry) = self.routes.get(&prefix) else {
            return;
        };
        let mut chosen = select(&candidates, entry.selected, self.config.switch_hysteresis);
        let previous = entry.selected;
        let mut better_since = None;
        let best = candidates
            .iter()
            .copied()
            .min_by_key(|c| (c.metric, c.neighbour));
        if let (Some(kept), Some(best)) = (chosen, best) {
            let margin = u32::from(self.config.switch_hysteresis / 16);
            if best.neighbour != kept.neighbour
                && u32::from(best.metric) + margin < u32::from(kept.metric)
            {
                match entry.better_since {
                    Some((n, since))
                        if n == best.neighbour
                            && now.saturating_duration_since(since) >= self.config.switch_delay =>
                    {
                        chosen = Some(best);
                    }
                    Some((n, since)) if n == best.neighbour => better_since = Some((n, since)),
                    _ => better_since = Some((best.neighbour, now)),
                }
            }
        }
        if better_since.is_some() {
            self.switch_watch.insert(prefix);
        }
        let had_routes_unfeasible = chosen.is_none()
            && entry.routes.iter().any(|r| {
                r.advertised_metric != INFINITY
                    && r.refused.is_none()
                    && self.neighbour_cost(r.neighbour) != INFINITY
            });

        // The forwarding table.
        let new_install = chosen.and_then(|c| {
            let route = entry.route(c.neighbour)?;
            let link = self.neighbour(c.neighbour)?.link;
            Some((link, route.next_hop, c.metric))
        });
        // A route that needs a new source entry takes it now rather than when it is announced
        // a flush later, so that a burst of new routes cannot select past the source limit.
        // Recorded early, the feasibility distance can only be stricter than the announcement
        // would have made it (the smaller of the two metrics within the seqno): still safe.
        let reserve = chosen
            .and_then(|c| entry.route(c.neighbour))
            .filter(|r| self.sources.get(prefix, r.router_id).is_none())
            .zip(chosen)
            .map(|(r, c)| (r.router_id, r.seqno, c.metric));
        let old_install = entry.installed;
        // Lost because our own import filter now refuses the route (filter.rs): the filter, not
        // a neighbour, took it, so there is no stale path to hold off (§3.5.4), and a held
        // `unreachable` route would shadow the very network the refusal protects (a LAN the
        // announcement overlapped). Removed at once instead.
        let lost_to_filter = previous
            .and_then(|n| entry.route(n))
            .is_some_and(|r| r.refused.is_some());
        if let Some((router_id, seqno, metric)) = reserve {
            self.sources
                .note_advertised(now, prefix, router_id, seqno, metric);
        }
        let Some(entry) = self.routes.get_mut(&prefix) else {
            return;
        };
        let new_next_hop = chosen.map(|c| c.neighbour);
        if previous != new_next_hop {
            let told_finite = entry.announced.is_some_and(|a| a.metric != INFINITY);
            entry.retract_on = match new_install {
                Some((link, _, _)) if told_finite => Some(link),
                _ => None,
            };
        }
        entry.selected = new_next_hop;
        entry.better_since = better_since;
        if let Some((link, _, _)) = new_install {
            entry.last_link = Some(link);
        }
        match (old_install, new_install) {
            (None, Some((link, next_hop, metric))) => {
                entry.installed = Some((link, next_hop));
                entry.held_until = None;
                self.route_changes.push_back(RouteChange::Add {
                    prefix,
                    next_hop,
                    link,
                    metric,
                });
            }
            (Some(old), Some((link, next_hop, metric))) if old != (link, next_hop) => {
                entry.installed = Some((link, next_hop));
                self.route_changes.push_back(RouteChange::Replace {
                    prefix,
                    next_hop,
                    link,
                    metric,
                });
            }
            (Some(_), None) if lost_to_filter => {
                entry.installed = None;
                entry.held_until = None;
                self.route_changes.push_back(RouteChange::Remove { prefix });
            }
            (Some(_), None) => {
                entry.installed = None;
                entry.held_until = Some(now + HOLD_TIME);
                self.route_changes
                    .push_back(RouteChange::Unreachable { prefix });
            }
            _ => {}
        }

        // What our neighbours hear.
        let announced = entry.announced;
        let now_announcing = chosen.and_then(|c| {
            let route = entry.route(c.neighbour)?;
            Some(Announcement {
                router_id: route.router_id,
                seqno: route.seqno,
                metric: c.metric,
            })
        });
        match (announced, now_announcing) {
            // A new route is news worth an acknowledgment: without it a neighbour that lost
            // the packet would not hear of the prefix until the next periodic dump.
            (None, Some(_)) => self.trigger_update(now, prefix, true),
            (Some(old), None) if old.metric != INFINITY => {
                self.trigger_update(now, prefix, true);
            }
            (Some(old), Some(new)) => {
                if old.router_id != new.router_id || old.seqno != new.seqno {
                    self.trigger_update(now, prefix, true);
                } else if old.metric == INFINITY
                    || old.metric.abs_diff(new.metric) >= TRIGGER_THRESHOLD
                {
                    self.trigger_update(now, prefix, false);
                } else if previous != chosen.map(|c| c.neighbour) {
                    // Same announcement, new next hop. Split horizon kept the route from the old
                    // next hop, which must hear it now; the new one must hear a retraction so it
                    // does not keep a stale route through us.
                    let links: Vec<LinkId> = [previous, chosen.map(|c| c.neighbour)]
                        .into_iter()
                        .flatten()
                        .filter_map(|n| self.neighbour(n).map(|n| n.link))
                        .collect();
                    for link in links {
                        self.trigger_on_link(now, link, prefix, false);
                    }
                }
            }
            _ => {}
        }
        if !had_routes_unfeasible {
            self.starving.remove(&prefix);
        } else {
            self.request_when_starving(now, prefix);
        }
        if let Some(entry) = self.routes.get(&prefix) {
            if entry.is_empty() {
                self.routes.remove(&prefix);
            }
        }
    }

    /// Starvation (RFC 8966 §3.8.2.1): routes exist but none is feasible. Every neighbour
    /// advertising one of them is asked for a new seqno of its route's source, unicast (one of
    /// them may sit on the path that is repairing); unanswered, the round is repeated at
    /// doubling intervals up to [`STARVATION_BACKOFF_MAX`], not every second for ever.
    pub(super) fn request_when_starving(&mut self, now: Instant, prefix: Prefix) {
        let backoff = match self.starving.get(&prefix) {
            Some((next, _)) if *next > now => return,
            Some((_, backoff)) => (*backoff * 2).min(STARVATION_BACKOFF_MAX),
            None => REQUEST_RESEND,
        };
        self.starving.insert(prefix, (now + backoff, backoff));
        let Some(entry) = self.routes.get(&prefix) else {
            return;
        };
        let asks: Vec<(NeighbourId, RouterId, u16)> = entry
            .routes
            .iter()
            .filter(|r| r.refused.is_none() && route_metric(&self.neighbours, r) != INFINITY)
            .map(|r| {
                let seqno = self.wanted_seqno(prefix, r.router_id, r.seqno);
                (r.neighbour, r.router_id, seqno)
            })
            .collect();
        for (neighbour, router_id, seqno) in asks {
            self.emit_seqno_request(now, prefix, router_id, seqno, Some(neighbour));
        }
    }
}
