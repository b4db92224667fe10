//! The node's timers (RFC 8966 §3.4–§3.8): Hellos and full dumps per link, neighbour expiry and
//! probes, resends of unacknowledged urgent updates and of our requests, and the housekeeping
//! that expires routes and collects the tables' garbage.

use super::*;

impl Node {
    /// Runs every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let links: Vec<LinkId> = self.links.keys().copied().collect();
        for link in &links {
            let Some(l) = self.links.get_mut(link) else {
                continue;
            };
            if l.next_hello <= now {
                self.send_hello(now, *link);
            }
        }
        if self.next_full_update <= now {
            let update = self.config.update_interval;
            // Jittered around the interval, so the mean is the interval; what our updates
            // advertise is the latest the next one can come (`advertised_update_interval`).
            let jitter = self.jitter(update / 4);
            self.next_full_update = now + update - update / 8 + jitter;
            self.full_dump(now, &links, true);
        }
        self.neighbour_timers(now);
        for link in &links {
            self.resend_unacked(now, *link);
        }
        self.resend_requests(now);
        if self.next_housekeeping <= now {
            self.next_housekeeping = now + HOUSEKEEPING_INTERVAL;
            self.housekeeping(now);
        }
        for link in &links {
            if self
                .links
                .get(link)
                .and_then(|l| l.flush_at)
                .is_some_and(|at| at <= now)
            {
                self.flush(now, *link);
            }
        }
    }

    pub(super) fn neighbour_timers(&mut self, now: Instant) {
        for index in 0..self.neighbours.len() {
            let id = NeighbourId(index as u32);
            let mut probe_to_send = None;
            let mut forget = false;
            {
                let Some(n) = self.neighbours[index].as_mut() else {
                    continue;
                };
                let mut missed_now = false;
                let mut misses = 0;
                while n.has_hellos() && n.hello_deadline <= now && misses < 16 {
                    n.miss_hello();
                    misses += 1;
                    missed_now = true;
                }
                n.miss_unicast_hellos(now);
                if n.rtt_deadline.is_some_and(|t| t <= now) {
                    n.rtt_deadline = None;
                }
                if n.ihu_expiry.is_some_and(|t| t <= now) {
                    n.ihu_expiry = None;
                    n.txcost = INFINITY;
                }
                // A Hello is overdue: ask the neighbour directly instead of waiting for the
                // history to decay. Only for neighbours known to answer AckReqs.
                if missed_now && n.answers_probes && n.probe.is_none() && !n.presumed_dead {
                    n.probe = Some(Probe {
                        nonce: 0,
                        attempts: 0,
                        deadline: now,
                    });
                }
                if let Some(probe) = n.probe {
                    if probe.deadline <= now {
                        if probe.attempts >= PROBE_ATTEMPTS {
                            n.probe = None;
                            if n.answers_probes {
                                n.presumed_dead = true;
                            }
                        } else {
                            probe_to_send = Some((n.link, n.address, probe.attempts + 1));
                        }
                    }
                }
                if now.saturating_duration_since(n.last_heard) >= NEIGHBOUR_TIMEOUT {
                    forget = true;
                }
            }
            if forget {
                self.remove_neighbour(now, id);
                continue;
            }
            if let Some((link, address, attempts)) = probe_to_send {
                let nonce = self.rng.next_u16();
                if let Some(n) = self.neighbour_mut(id) {
                    n.probe = Some(Probe {
                        nonce,
                        attempts,
                        deadline: now + PROBE_TIMEOUT,
                    });
                }
                self.queue_control(
                    now,
                    link,
                    Destination::Unicast(address),
                    Message::AckRequest {
                        nonce,
                        interval: centis(PROBE_TIMEOUT),
                    },
                );
                if let Some(l) = self.links.get_mut(&link) {
                    l.schedule_flush(now);
                }
            }
            self.check_cost(now, id);
        }
    }

    pub(super) fn resend_unacked(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if !l.unacked.iter().any(|u| u.deadline <= now) {
            return;
        }
        let (due, keep): (Vec<Unacked>, Vec<Unacked>) =
            l.unacked.drain(..).partition(|u| u.deadline <= now);
        l.unacked = keep;
        let point_to_point = l.config.point_to_point;
        let lifetime = self.advertised_update_interval().mul_f32(3.5);
        for unacked in due {
            if unacked.attempts < URGENT_ATTEMPTS {
                self.send_urgent(now, link, unacked.prefixes, unacked.attempts + 1);
                continue;
            }
            if !point_to_point {
                continue; // repeats, never acknowledged: nothing to give up
            }
            // Given up: the neighbour may still hold what we said before. Where split horizon
            // (or having no route) would say nothing more there, we keep retracting on this link
            // for as long as it may keep that route.
            for prefix in unacked.prefixes {
                if let Some(entry) = self.routes.get_mut(&prefix) {
                    entry.retract_until = Some((link, now + lifetime));
                }
            }
        }
    }

    pub(super) fn resend_requests(&mut self, now: Instant) {
        let due: Vec<Prefix> = self
            .requests
            .ours
            .iter()
            .filter(|(_, r)| r.resend_at <= now)
            .map(|(p, _)| *p)
            .collect();
        for prefix in due {
            let Some(request) = self.requests.ours.get_mut(&prefix) else {
                continue;
            };
            if request.attempts >= REQUEST_ATTEMPTS {
                self.requests.ours.remove(&prefix);
                continue;
            }
            request.attempts += 1;
            request.resend_at = now + REQUEST_RESEND;
            let (router_id, seqno, target) = (request.router_id, request.seqno, request.target);
            self.emit_seqno_request(now, prefix, router_id, seqno, target);
        }
    }

    pub(super) fn housekeeping(&mut self, now: Instant) {
        let mut changed: Vec<Prefix> = std::mem::take(&mut self.switch_watch)
            .into_iter()
            .chain(self.starving.keys().copied())
            .collect();
        self.housekeeping_ticks = self.housekeeping_ticks.wrapping_add(1);
        if self.housekeeping_ticks % EXPIRY_EVERY_TICKS != 0 {
            for prefix in changed {
                self.reselect(now, prefix);
            }
            return;
        }
        let mut refresh: Vec<(NeighbourId, Prefix)> = Vec::new();
        for (prefix, entry) in self.routes.iter_mut() {
            if entry.held_until.is_some_and(|t| t <= now) {
                entry.held_until = None;
                self.route_changes
                    .push_back(RouteChange::Remove { prefix: *prefix });
            }
            // A selected route about to expire: ask its neighbour for it once, unicast, so that
            // lost updates do not cost us the route (RFC 8966 §3.8.2.3).
            let selected = entry.selected;
            if let Some(route) = entry
                .routes
                .iter_mut()
                .find(|r| Some(r.neighbour) == selected)
            {
                if !route.refresh_requested
                    && route.advertised_metric != INFINITY
                    && route.expires > now
                    && route.expires <= now + REFRESH_BEFORE_EXPIRY
                {
                    route.refresh_requested = true;
                    refresh.push((route.neighbour, *prefix));
                }
            }
            let before = entry.routes.len();
            let mut expired = false;
            entry.routes.retain_mut(|route| {
                if route.expires <= now && route.advertised_metric != INFINITY {
                    route.advertised_metric = INFINITY;
                    expired = true;
                }
                // Retracted routes are held a while, then forgotten.
                let keep =
                    !(route.advertised_metric == INFINITY && route.expires + RETRACTED_HOLD <= now);
                if !keep {
                    count_route(
                        &mut self.neighbours,
                        &mut self.route_count,
                        route.neighbour,
                        false,
                    );
                }
                keep
            });
            if expired || entry.routes.len() != before {
                changed.push(*prefix);
            }
        }
        for (neighbour, prefix) in refresh {
            if let Some((link, address)) = self.neighbour(neighbour).map(|n| (n.link, n.address)) {
                self.queue_control(
                    now,
                    link,
                    Destination::Unicast(address),
                    Message::RouteRequest {
                        prefix: Some(prefix),
                    },
                );
            }
        }
        for prefix in changed {
            self.reselect(now, prefix);
        }
        self.routes.retain(|_, e| {
            !(e.routes.is_empty()
                && e.selected.is_none()
                && e.held_until.is_none()
                && e.announced.is_none_or(|a| a.metric == INFINITY))
        });
        self.check_route_counts();
        self.sources.collect_garbage(now);
        self.requests.collect_garbage(now);
        self.urgent_answers
            .retain(|_, t| now.saturating_duration_since(*t) < ANSWER_HOLD);
    }

    /// The route counts behind `Limits` are kept by hand at every insertion and removal; in
    /// debug builds (the core's tests, the simulator's), every expiry pass recounts them.
    fn check_route_counts(&self) {
        if cfg!(debug_assertions) {
            let mut per_neighbour = vec![0usize; self.neighbours.len()];
            let mut total = 0;
            for route in self.routes.values().flat_map(|e| &e.routes) {
                total += 1;
                if let Some(count) = per_neighbour.get_mut(route.neighbour.0 as usize) {
                    *count += 1;
                }
            }
            debug_assert_eq!(self.route_count, total, "routes counted by hand");
            for (n, counted) in self.neighbours.iter().zip(per_neighbour) {
                if let Some(n) = n {
                    debug_assert_eq!(n.routes, counted, "routes of a neighbour counted by hand");
                }
            }
        }
    }
}
