//! The node's inputs (RFC 8966 §3.4–§3.8.1): links and prefixes the caller adds and removes, and
//! packets, one handler per TLV (Hello and IHU feed the neighbour table, Update the route
//! table, Route and Seqno Requests get their answers), with the requests we send and forward.

use super::*;

impl Node {
    /// A link came up; `local` is our link-local address on it. Re-adding an existing link
    /// replaces its settings.
    pub fn add_link(&mut self, now: Instant, link: LinkId, local: Ipv6Addr, config: LinkConfig) {
        if let Some(existing) = self.links.get_mut(&link) {
            existing.local = local;
            existing.config = config;
            return;
        }
        let mut state = Link::new(local, config, now);
        state.hello_seqno = self.rng.next_u16();
        // First Hello soon (not at once, so that many links coming up together spread out), and
        // ask whoever is there for a full table.
        state.next_hello = now + self.jitter(Duration::from_millis(100));
        state.pending_control.push((
            Destination::Multicast,
            Message::RouteRequest { prefix: None },
        ));
        state.schedule_flush(now + FLUSH_DELAY);
        self.links.insert(link, state);
    }

    /// A link went away (tunnel dead, interface gone): its neighbours and their routes go at
    /// once, without waiting for Hellos to time out.
    pub fn remove_link(&mut self, now: Instant, link: LinkId) {
        let gone: Vec<NeighbourId> = self
            .neighbour_index
            .iter()
            .filter(|((l, _), _)| *l == link)
            .map(|(_, id)| *id)
            .collect();
        for id in gone {
            self.remove_neighbour(now, id);
        }
        self.links.remove(&link);
    }

    /// The driver has been sending data over `link` and heard nothing back for a while: ask the
    /// neighbours there at once (AckReqs, as for an overdue Hello) instead of waiting for a Hello
    /// to be overdue, so a peer that died under traffic is dropped in about a second and a half
    /// whatever the Hello interval. Neighbours that do not answer AckReqs, that are being probed
    /// already or that are presumed dead are left as they are; a live neighbour's Ack ends it.
    pub fn suspect_link(&mut self, now: Instant, link: LinkId) {
        for n in self.neighbours.iter_mut().flatten() {
            if n.link == link
                && n.has_hellos()
                && n.answers_probes
                && n.probe.is_none()
                && !n.presumed_dead
            {
                n.probe = Some(Probe {
                    nonce: 0,
                    attempts: 0,
                    deadline: now,
                });
            }
        }
    }

    /// Announces a locally originated prefix.
    pub fn add_local_prefix(&mut self, now: Instant, prefix: Prefix) {
        if !self.local_prefixes.insert(prefix) {
            return;
        }
        // A local prefix overrides anything learnt for it.
        if let Some(entry) = self.routes.get_mut(&prefix) {
            entry.selected = None;
            let installed = entry.installed.take().is_some();
            let held = entry.held_until.take().is_some();
            if installed || held {
                self.route_changes.push_back(RouteChange::Remove { prefix });
            }
        }
        self.trigger_update(now, prefix, false);
    }

    /// Stops announcing a local prefix: a retraction is sent, and a route learnt from others
    /// may take its place.
    pub fn remove_local_prefix(&mut self, now: Instant, prefix: Prefix) {
        if !self.local_prefixes.remove(&prefix) {
            return;
        }
        let entry = self.routes.entry(prefix).or_default();
        entry.announced = Some(Announcement {
            router_id: self.router_id,
            seqno: self.seqno,
            metric: 0,
        });
        // While we originated the prefix, updates for it were not applied (`handle_update`),
        // so what the table holds for it is what our neighbours said before we started: a
        // neighbour that has since taken our route is silent towards us (split horizon,
        // §3.7.4), and selecting its frozen route now would send our packets to a node that
        // forwards them back. Forget those routes and ask every neighbour for its current
        // route: "if such a route exists, it MUST send an update ...; if such a route does not
        // exist, it MUST send a retraction" (RFC 8966 §3.8.1.1). A neighbour still routing
        // through us answers with our own router-id, which we never select.
        for route in entry.routes.drain(..) {
            count_route(
                &mut self.neighbours,
                &mut self.route_count,
                route.neighbour,
                false,
            );
        }
        entry.selected = None;
        // Every neighbour heard our announcement, the one we routed through before we began
        // originating included: the retraction goes to all of them (split horizon has nothing
        // to spare here).
        entry.last_link = None;
        let links: Vec<LinkId> = self.links.keys().copied().collect();
        for link in links {
            self.queue_control(
                now,
                link,
                Destination::Multicast,
                Message::RouteRequest {
                    prefix: Some(prefix),
                },
            );
        }
        self.reselect(now, prefix);
        // RFC 8966 §3.5.4: "Packets destined to an address within P MUST NOT be forwarded by
        // following a route for a shorter prefix" once P is lost, for the hold time. Our own
        // prefix is lost too when no neighbour's route takes its place: neighbours still routing
        // it through us would otherwise have its packets follow our route for a shorter prefix
        // (`::/0`) back to them. (meshd adds the `unreachable` route exclusively, and replaces
        // only a route of its own protocol: a connected route of the prefix stays.)
        if let Some(entry) = self.routes.get_mut(&prefix) {
            if entry.installed.is_none() {
                entry.held_until = Some(now + HOLD_TIME);
                self.route_changes
                    .push_back(RouteChange::Unreachable { prefix });
            }
        }
        self.trigger_update(now, prefix, true);
    }

    // ---- inputs: packets ----

    /// A Babel packet arrived on `link` from the link-local address `from`. Nothing a neighbour
    /// sends can make this fail: bad packets are counted, reported as events and dropped.
    pub fn handle_packet(&mut self, now: Instant, link: LinkId, from: Ipv6Addr, bytes: &[u8]) {
        if !self.links.contains_key(&link) {
            return;
        }
        self.stats.packets_received += 1;
        let parsed = match parse_packet(bytes, IpAddr::V6(from)) {
            Ok(parsed) => parsed,
            Err(error) => {
                self.stats.packets_rejected += 1;
                self.push_event(Event::BadPacket {
                    link,
                    address: from,
                    reason: error.to_string(),
                });
                return;
            }
        };
        self.stats.malformed_tlvs += u64::from(parsed.stats.malformed_tlvs);
        self.stats.unknown_tlvs += u64::from(parsed.stats.unknown_tlvs);
        if parsed.stats.malformed_tlvs > 0 {
            self.push_event(Event::BadPacket {
                link,
                address: from,
                reason: format!("{} malformed TLVs ignored", parsed.stats.malformed_tlvs),
            });
        }
        let Some(id) = self.find_or_create_neighbour(now, link, from) else {
            self.stats.packets_rejected += 1;
            return;
        };
        if let Some(n) = self.neighbour_mut(id) {
            n.last_heard = now;
            // Any packet proves the neighbour is alive: stop probing.
            n.probe = None;
        }
        // The Hello's timestamp in this packet pairs with the IHU's (RFC 9616 §3.2).
        let hello_timestamp = parsed.messages.iter().find_map(|m| match m {
            Message::Hello {
                unicast: false,
                timestamp,
                ..
            } => *timestamp,
            _ => None,
        });
        for message in parsed.messages {
            self.handle_message(now, link, id, message, hello_timestamp);
        }
        self.check_cost(now, id);
    }

    pub(super) fn find_or_create_neighbour(
        &mut self,
        now: Instant,
        link: LinkId,
        address: Ipv6Addr,
    ) -> Option<NeighbourId> {
        if let Some(id) = self.neighbour_index.get(&(link, address)) {
            return Some(*id);
        }
        let on_link = self
            .neighbour_index
            .keys()
            .filter(|(l, _)| *l == link)
            .count();
        if on_link >= MAX_NEIGHBOURS_PER_LINK {
            return None;
        }
        let neighbour = Neighbour::new(link, address, now);
        let id = match self.neighbours.iter().position(|n| n.is_none()) {
            Some(slot) => {
                self.neighbours[slot] = Some(neighbour);
                NeighbourId(slot as u32)
            }
            None => {
                self.neighbours.push(Some(neighbour));
                NeighbourId((self.neighbours.len() - 1) as u32)
            }
        };
        self.neighbour_index.insert((link, address), id);
        Some(id)
    }

    pub(super) fn handle_message(
        &mut self,
        now: Instant,
        link: LinkId,
        id: NeighbourId,
        message: Message,
        hello_timestamp: Option<u32>,
    ) {
        match message {
            Message::AckRequest { nonce, .. } => {
                let Some(address) = self.neighbour(id).map(|n| n.address) else {
                    return;
                };
                self.queue_control(
                    now,
                    link,
                    Destination::Unicast(address),
                    Message::Ack { nonce },
                );
            }
            Message::Ack { nonce } => self.handle_ack(link, id, nonce),
            Message::Hello {
                unicast,
                seqno,
                interval,
                timestamp,
            } => self.handle_hello(now, link, id, unicast, seqno, interval, timestamp),
            Message::Ihu {
                address,
                rxcost,
                interval,
                timestamps,
            } => self.handle_ihu(
                now,
                link,
                id,
                address,
                rxcost,
                interval,
                timestamps,
                hello_timestamp,
            ),
            Message::Update {
                prefix,
                router_id,
                next_hop,
                seqno,
                interval,
                metric,
            } => {
                let Some(next_hop) = next_hop else { return };
                self.handle_update(
                    now, id, prefix, router_id, next_hop, seqno, interval, metric,
                );
            }
            Message::RetractAll { .. } => {
                // Nothing held from it, or all retracted already and nothing announced since:
                // nothing to retract, and no table scan to spend.
                let Some(n) = self.neighbour_mut(id) else {
                    return;
                };
                if n.routes == 0 || n.all_retracted {
                    return;
                }
                n.all_retracted = true;
                self.stats.table_scans += 1;
                let prefixes: Vec<Prefix> = self
                    .routes
                    .iter()
                    .filter(|(_, e)| e.route(id).is_some())
                    .map(|(p, _)| *p)
                    .collect();
                for prefix in prefixes {
                    if let Some(route) = self.routes.get_mut(&prefix).and_then(|e| e.route_mut(id))
                    {
                        route.advertised_metric = INFINITY;
                    }
                    self.reselect(now, prefix);
                }
            }
            Message::RouteRequest { prefix } => self.handle_route_request(now, link, prefix),
            Message::SeqnoRequest {
                prefix,
                seqno,
                hop_count,
                router_id,
            } => self.handle_seqno_request(now, id, prefix, seqno, hop_count, router_id),
        }
    }

    pub(super) fn handle_ack(&mut self, link: LinkId, id: NeighbourId, nonce: u16) {
        if let Some(n) = self.neighbour_mut(id) {
            if n.probe.is_some_and(|p| p.nonce == nonce) || !n.answers_probes {
                n.answers_probes = true;
            }
        }
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        let Some(at) = l.unacked.iter().position(|u| u.nonce == nonce) else {
            return;
        };
        let acked = l.unacked.remove(at);
        // The neighbour now holds what we last said on this link for these prefixes: no
        // retraction is owed there any more.
        for prefix in acked.prefixes {
            if let Some(entry) = self.routes.get_mut(&prefix) {
                if entry.retract_until.is_some_and(|(l, _)| l == link) {
                    entry.retract_until = None;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_hello(
        &mut self,
        now: Instant,
        link: LinkId,
        id: NeighbourId,
        unicast: bool,
        seqno: u16,
        interval: u16,
        timestamp: Option<u32>,
    ) {
        let our_time = self.timestamp(now);
        let rtt_enabled = self
            .links
            .get(&link)
            .is_some_and(|l| l.config.rtt.is_some());
        let Some(n) = self.neighbour_mut(id) else {
            return;
        };
        if rtt_enabled {
            if let Some(ts) = timestamp {
                n.last_hello_timestamp = Some((ts, our_time));
                if n.rtt.is_none() && n.rtt_deadline.is_none() && !n.has_hellos() {
                    n.rtt_deadline = Some(now + RTT_WAIT);
                }
            }
        }
        if unicast {
            // Unicast Hellos have a seqno counter of their own, so a history of their own,
            // which link sensing uses too (RFC 8966 Appendix A.1); they prove liveness.
            n.receive_unicast_hello(now, seqno, from_centis(interval));
            if n.has_hellos() {
                n.presumed_dead = false;
                n.probe = None;
            }
            return;
        }
        if interval == 0 {
            n.receive_unscheduled_hello(seqno);
            return;
        }
        let first = !n.has_hellos();
        let continued = n.receive_hello(now, seqno, from_centis(interval));
        if first {
            self.greet(now, link, id);
        } else if !continued {
            self.neighbour_restarted(now, link, id);
        }
    }

    /// A neighbour's Hello seqno jumped (RFC 8966 Appendix A.1: it "has probably rebooted"):
    /// what its earlier instance announced may no longer hold, and a route it no longer has
    /// would otherwise stay until it expires (3.5 update intervals). Its routes are dropped at
    /// once (their prefixes are held unreachable if nothing else reaches them) and the tables are
    /// exchanged as with a new neighbour; what it still has comes back in its answer.
    pub(super) fn neighbour_restarted(&mut self, now: Instant, link: LinkId, id: NeighbourId) {
        let held = self.neighbour(id).map_or(0, |n| n.routes);
        let prefixes = self.prefixes_via(id, held);
        for prefix in prefixes {
            if let Some(route) = self.routes.get_mut(&prefix).and_then(|e| e.route_mut(id)) {
                route.advertised_metric = INFINITY;
            }
            self.reselect(now, prefix);
        }
        self.greet(now, link, id);
    }

    /// A new neighbour said Hello: answer with our own Hello and IHU at once (so it can use the
    /// link without waiting a full interval), ask it for its table, send it ours, and learn
    /// whether it answers acknowledgment requests.
    pub(super) fn greet(&mut self, now: Instant, link: LinkId, id: NeighbourId) {
        let Some(address) = self.neighbour(id).map(|n| n.address) else {
            return;
        };
        let nonce = self.rng.next_u16();
        if let Some(n) = self.neighbour_mut(id) {
            n.probe = Some(Probe {
                nonce,
                attempts: PROBE_ATTEMPTS,
                deadline: now + PROBE_TIMEOUT * 4,
            });
        }
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if l.extra_hello_allowed <= now {
            l.extra_hello_allowed = now + Duration::from_secs(1);
            l.next_hello = now;
        }
        l.next_ihu = now;
        l.full_update_pending = true;
        l.pending_control.push((
            Destination::Unicast(address),
            Message::RouteRequest { prefix: None },
        ));
        l.pending_control.push((
            Destination::Unicast(address),
            Message::AckRequest {
                nonce,
                interval: centis(PROBE_TIMEOUT * 4),
            },
        ));
        l.schedule_flush(now + FLUSH_DELAY);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_ihu(
        &mut self,
        now: Instant,
        link: LinkId,
        id: NeighbourId,
        address: Option<IpAddr>,
        rxcost: u16,
        interval: u16,
        timestamps: Option<IhuTimestamps>,
        hello_timestamp: Option<u32>,
    ) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        if let Some(address) = address {
            if address != IpAddr::V6(l.local) {
                return; // for another neighbour on a shared link
            }
        }
        let rtt_enabled = l.config.rtt.is_some();
        let hello_interval = self.config.hello_interval;
        let our_time = self.timestamp(now);
        let Some(n) = self.neighbour_mut(id) else {
            return;
        };
        n.txcost = rxcost;
        let interval = if interval == 0 {
            hello_interval
        } else {
            from_centis(interval)
        };
        n.ihu_expiry = Some(now + interval.mul_f32(3.5));
        if let (true, Some(ts), Some(sent)) = (rtt_enabled, timestamps, hello_timestamp) {
            // RFC 9616 §4: RTT = (now - origin) - (their send time - their receive time).
            let total = our_time.wrapping_sub(ts.origin) as i32;
            let held = sent.wrapping_sub(ts.receive) as i32;
            let rtt = i64::from(total) - i64::from(held);
            // A Hello we sent before we had heard anything from this neighbour may have waited
            // for the link to come up (a WireGuard handshake, a queue): its echo measures that
            // wait, and as a first sample it would make a fast link look slow for minutes.
            // RFC 9616 leaves the choice of samples to the implementation.
            let since_first = now.saturating_duration_since(n.first_heard);
            let before_first = u64::try_from(total)
                .is_ok_and(|t| Duration::from_micros(t) > since_first + Duration::from_millis(1));
            if (0..10_000_000).contains(&rtt) && ts.origin != 0 && !before_first {
                n.add_rtt_sample(Duration::from_micros(rtt as u64));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_update(
        &mut self,
        now: Instant,
        id: NeighbourId,
        prefix: Prefix,
        router_id: RouterId,
        next_hop: IpAddr,
        seqno: u16,
        interval: u16,
        metric: u16,
    ) {
        if router_id == self.router_id && metric != INFINITY {
            // Our own announcement echoed back with a newer seqno: we restarted and lost ours.
            // Jump past it so our updates are feasible again. (The RFC leaves this to us; it
            // bounds only what a seqno request may do, §3.8.1.2.)
            if seqno_newer(seqno, self.seqno) && self.local_prefixes.contains(&prefix) {
                self.seqno = seqno.wrapping_add(1);
                self.stats.seqno_increases += 1;
                self.trigger_all_local(now);
            }
            return;
        }
        // A retraction naming our router-id still retracts the neighbour's route: a neighbour
        // that took our old announcement, and lost it, retracts with the router-id it had.
        if self.local_prefixes.contains(&prefix) {
            return;
        }
        let expires = match interval {
            // Not allowed on the wire; read as our own interval.
            0 => now + self.config.update_interval.mul_f32(3.5),
            // "No further update will be sent" (RFC 8966 §4.6.9): the route lasts as long as the
            // neighbour does, or until it is retracted.
            UPDATE_INTERVAL_INFINITE => now
                .checked_add(NO_EXPIRY)
                .unwrap_or(now + from_centis(interval).mul_f32(3.5)),
            _ => now + from_centis(interval).mul_f32(3.5),
        };
        if let Some(route) = self.routes.get_mut(&prefix).and_then(|e| e.route_mut(id)) {
            if route.router_id == router_id
                && route.seqno == seqno
                && route.advertised_metric == metric
                && route.next_hop == next_hop
            {
                // A periodic refresh of what we already hold: most of every full dump.
                // Nothing to select anew (and a repeated retraction resets no timer).
                if metric != INFINITY {
                    route.expires = expires;
                    route.refresh_requested = false;
                }
                return;
            }
        }
        if metric != INFINITY {
            if let Some(n) = self.neighbour_mut(id) {
                n.all_retracted = false;
            }
        }
        let known = self
            .routes
            .get(&prefix)
            .is_some_and(|e| e.route(id).is_some());
        if !known && metric != INFINITY && !self.admit_route(id) {
            return;
        }
        let feasible = self.sources.is_feasible(prefix, router_id, seqno, metric);
        let refused = self.import_filter.judge(prefix, router_id);
        let mut newly_refused = refused.is_some();
        let entry = self.routes.entry(prefix).or_default();
        let is_selected = entry.selected == Some(id);
        match entry.route_mut(id) {
            None => {
                if metric == INFINITY {
                    if entry.is_empty() {
                        self.routes.remove(&prefix);
                    }
                    return;
                }
                count_route(&mut self.neighbours, &mut self.route_count, id, true);
                entry.routes.push(Route {
                    neighbour: id,
                    router_id,
                    seqno,
                    advertised_metric: metric,
                    next_hop,
                    expires,
                    refused,
                    refresh_requested: false,
                });
            }
            Some(route) => {
                if is_selected && !feasible && route.router_id == router_id {
                    // RFC 8966 §3.5.3: an unfeasible update for the selected route with the same
                    // router-id may be ignored, and we do: the route stays usable at its old
                    // metric. Ignored, it does not refresh the route either, so it expires unless
                    // the source answers the unicast seqno request that §3.8.2.2 says to send
                    // (a newer seqno makes the new metric feasible).
                    let target_seqno = self.wanted_seqno(prefix, router_id, seqno);
                    self.send_seqno_request(now, prefix, router_id, target_seqno, Some(id));
                    return;
                }
                // Applied, feasible or not (§3.5.3). An unfeasible route is never selected
                // (§3.6): `reselect` below unselects it at once if it was selected.
                route.router_id = router_id;
                route.seqno = seqno;
                route.advertised_metric = metric;
                route.next_hop = next_hop;
                if metric != INFINITY {
                    route.expires = expires;
                    route.refresh_requested = false;
                } else {
                    // A retraction does not reset the expiry timer (§3.5.3); the retracted
                    // route is forgotten `RETRACTED_HOLD` after it. Capped, for a route that
                    // was announced with no expiry.
                    let cap = now + self.config.update_interval.mul_f32(3.5);
                    route.expires = route.expires.min(cap);
                }
                newly_refused &= route.refused.is_none();
                route.refused = refused;
            }
        }
        if let (true, Some(refusal)) = (newly_refused, refused) {
            self.note_refused(id, prefix, router_id, refusal);
        }
        if feasible && metric != INFINITY {
            self.requests.satisfy(prefix, router_id, seqno);
        }
        self.reselect(now, prefix);
        if !feasible && metric != INFINITY && refused.is_none() {
            // A route we cannot use yet. If it would be clearly better than what we have (or we
            // have nothing), ask its source for a new seqno (§3.8.2.2).
            let candidate = total_metric(metric, self.neighbour_cost(id));
            let current = self
                .routes
                .get(&prefix)
                .and_then(|e| {
                    e.selected_route()
                        .map(|r| (r.neighbour, r.advertised_metric))
                })
                .map_or(INFINITY, |(n, m)| total_metric(m, self.neighbour_cost(n)));
            if candidate < INFINITY
                && u32::from(candidate) + u32::from(self.config.switch_hysteresis)
                    < u32::from(current)
            {
                let target_seqno = self.wanted_seqno(prefix, router_id, seqno);
                self.send_seqno_request(now, prefix, router_id, target_seqno, Some(id));
            }
        }
    }

    pub(super) fn handle_route_request(
        &mut self,
        now: Instant,
        link: LinkId,
        prefix: Option<Prefix>,
    ) {
        match prefix {
            None => {
                let Some(l) = self.links.get_mut(&link) else {
                    return;
                };
                l.full_update_pending = true;
                let at = l.full_update_allowed.max(now + FLUSH_DELAY);
                l.schedule_flush(at);
            }
            Some(prefix) => {
                let max = self.config.max_pending_per_link;
                let Some(l) = self.links.get_mut(&link) else {
                    return;
                };
                if l.requested.len() >= max && !l.requested.contains(&prefix) {
                    self.stats.queue_drops += 1;
                    return;
                }
                l.requested.insert(prefix);
                l.schedule_flush(now + FLUSH_DELAY);
            }
        }
    }

    pub(super) fn handle_seqno_request(
        &mut self,
        now: Instant,
        requester: NeighbourId,
        prefix: Prefix,
        seqno: u16,
        hop_count: u8,
        router_id: RouterId,
    ) {
        if self.local_prefixes.contains(&prefix) {
            if router_id == self.router_id && seqno_newer(seqno, self.seqno) {
                if self
                    .seqno_stepped_at
                    .is_none_or(|t| now >= t + SEQNO_STEP_HOLD)
                {
                    // Asked for a newer seqno than ours: one step, however far ahead the
                    // request is. "A node MUST NOT increase its sequence number by more than 1
                    // in reaction to a single seqno request" (RFC 8966 §3.8.1.2). The new
                    // seqno goes to every neighbour, urgently.
                    self.seqno = self.seqno.wrapping_add(1);
                    self.seqno_stepped_at = Some(now);
                    self.stats.seqno_increases += 1;
                    self.trigger_update(now, prefix, true);
                    return;
                }
                self.stats.answers_coalesced += 1;
            }
            self.answer_request(now, requester, prefix);
            return;
        }
        // RFC 8966 §3.8.1.2. Not advertising the prefix (no selected route): neither answer
        // nor forward.
        let Some(entry) = self.routes.get(&prefix) else {
            return;
        };
        let Some(selected) = entry.selected_route() else {
            return;
        };
        if route_metric(&self.neighbours, selected) == INFINITY {
            return;
        }
        if selected.router_id != router_id || !seqno_newer(seqno, selected.seqno) {
            // What we have already satisfies the request: a different source, or a seqno at
            // least as new. Send it to the requester.
            self.answer_request(now, requester, prefix);
            return;
        }
        if hop_count < 2 {
            return;
        }
        // Forward: toward a feasible route whose next hop is not the requester (MUST), the
        // selected one first; failing that, toward an unfeasible one (SHOULD). Never back to
        // the requester.
        let mut best_feasible: Option<(bool, u16, NeighbourId)> = None;
        let mut best_unfeasible: Option<(u16, NeighbourId)> = None;
        for route in &entry.routes {
            if route.neighbour == requester || route.refused.is_some() {
                continue;
            }
            let metric = route_metric(&self.neighbours, route);
            if metric == INFINITY {
                continue;
            }
            let feasible = self.sources.is_feasible(
                prefix,
                route.router_id,
                route.seqno,
                route.advertised_metric,
            );
            if feasible {
                let key = (
                    entry.selected != Some(route.neighbour),
                    metric,
                    route.neighbour,
                );
                if best_feasible.is_none_or(|b| key < b) {
                    best_feasible = Some(key);
                }
            } else if best_unfeasible.is_none_or(|b| (metric, route.neighbour) < b) {
                best_unfeasible = Some((metric, route.neighbour));
            }
        }
        let next = match (best_feasible, best_unfeasible) {
            (Some((_, _, n)), _) | (None, Some((_, n))) => n,
            (None, None) => return,
        };
        if !self.requests.should_forward(now, prefix, router_id, seqno) {
            self.stats.requests_suppressed += 1;
            return;
        }
        let Some((link, address)) = self.neighbour(next).map(|n| (n.link, n.address)) else {
            return;
        };
        self.stats.seqno_requests_forwarded += 1;
        self.queue_control(
            now,
            link,
            Destination::Unicast(address),
            Message::SeqnoRequest {
                prefix,
                seqno,
                hop_count: hop_count - 1,
                router_id,
            },
        );
    }

    /// Sends one of our own seqno requests (to one neighbour, or multicast everywhere), unless
    /// an equivalent one is already in flight.
    pub(super) fn send_seqno_request(
        &mut self,
        now: Instant,
        prefix: Prefix,
        router_id: RouterId,
        seqno: u16,
        target: Option<NeighbourId>,
    ) {
        if !self.requests.start(now, prefix, router_id, seqno, target) {
            self.stats.requests_suppressed += 1;
            return;
        }
        self.emit_seqno_request(now, prefix, router_id, seqno, target);
    }

    pub(super) fn emit_seqno_request(
        &mut self,
        now: Instant,
        prefix: Prefix,
        router_id: RouterId,
        seqno: u16,
        target: Option<NeighbourId>,
    ) {
        self.stats.seqno_requests_sent += 1;
        let message = Message::SeqnoRequest {
            prefix,
            seqno,
            hop_count: 64,
            router_id,
        };
        match target.and_then(|t| self.neighbour(t).map(|n| (n.link, n.address))) {
            Some((link, address)) => {
                self.queue_control(now, link, Destination::Unicast(address), message)
            }
            None => {
                let links: Vec<LinkId> = self.links.keys().copied().collect();
                for link in links {
                    self.queue_control(now, link, Destination::Multicast, message.clone());
                }
            }
        }
    }

    pub(super) fn queue_control(
        &mut self,
        now: Instant,
        link: LinkId,
        destination: Destination,
        message: Message,
    ) {
        let max = self.config.max_pending_per_link;
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if l.pending_control.len() >= max {
            self.stats.queue_drops += 1;
            return;
        }
        l.pending_control.push((destination, message));
        l.schedule_flush(now + FLUSH_DELAY);
    }
}
