//! What the node sends (RFC 8966 §3.7): triggered, urgent (acknowledged) and periodic updates,
//! split horizon and the retractions it owes, answers to seqno requests, Hellos and IHUs.

use super::*;

impl Node {
    /// Answers a seqno request that what we announce already satisfies (RFC 8966 §3.8.1.2:
    /// "it MUST send an update"): on the requester's link, where the request came from, and
    /// urgently (acknowledged) at most once per `ANSWER_HOLD` for that link and prefix. Other
    /// neighbours asked nothing; a flood of requests costs one coalesced update per flush.
    pub(super) fn answer_request(&mut self, now: Instant, requester: NeighbourId, prefix: Prefix) {
        let Some(link) = self.neighbour(requester).map(|n| n.link) else {
            return;
        };
        let urgent = self
            .urgent_answers
            .get(&(link, prefix))
            .is_none_or(|t| now >= *t + ANSWER_HOLD);
        if urgent {
            self.urgent_answers.insert((link, prefix), now);
        } else {
            self.stats.answers_coalesced += 1;
        }
        self.trigger_on_link(now, link, prefix, urgent);
    }

    pub(super) fn trigger_update(&mut self, now: Instant, prefix: Prefix, urgent: bool) {
        let links: Vec<LinkId> = self.links.keys().copied().collect();
        for link in links {
            self.trigger_on_link(now, link, prefix, urgent);
        }
    }

    pub(super) fn trigger_on_link(
        &mut self,
        now: Instant,
        link: LinkId,
        prefix: Prefix,
        urgent: bool,
    ) {
        let max = self.config.max_pending_per_link;
        let delay = FLUSH_DELAY + self.jitter(FLUSH_DELAY);
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if l.pending_updates.len() >= max && !l.pending_updates.contains_key(&prefix) {
            // Too much changing at once: a full dump says it all in bounded space, except what
            // we no longer have. It carries every route we hold and our own prefixes, but no
            // retraction of a prefix we lost, so those stay queued (at most one per prefix the
            // table held: the route limits bound them).
            self.stats.queue_drops += 1;
            let (routes, local) = (&self.routes, &self.local_prefixes);
            let in_dump = |p: &Prefix| {
                local.contains(p) || routes.get(p).is_some_and(|e| e.selected_route().is_some())
            };
            l.pending_updates.retain(|p, _| !in_dump(p));
            if !in_dump(&prefix) {
                let flag = l.pending_updates.entry(prefix).or_insert(false);
                *flag |= urgent;
            }
            l.full_update_pending = true;
        } else {
            let flag = l.pending_updates.entry(prefix).or_insert(false);
            *flag |= urgent;
        }
        l.schedule_flush(now + delay);
    }

    pub(super) fn trigger_all_local(&mut self, now: Instant) {
        let prefixes: Vec<Prefix> = self.local_prefixes.iter().copied().collect();
        for prefix in prefixes {
            self.trigger_update(now, prefix, true);
        }
    }

    /// The Update we would send for `prefix` on `link` now, recording it in the source table.
    /// `None` when there is nothing to say: no route and nothing announced before, or split
    /// horizon. `requested` answers a Route Request, which always gets an answer (RFC 8966
    /// §3.8.1.1): where we have no route, or split horizon keeps the route from this link, a
    /// retraction.
    pub(super) fn update_message(
        &mut self,
        now: Instant,
        link: LinkId,
        point_to_point: bool,
        prefix: Prefix,
        requested: bool,
    ) -> Option<Message> {
        let interval = centis(self.advertised_update_interval());
        let lifetime = self.advertised_update_interval().mul_f32(3.5);
        if self.local_prefixes.contains(&prefix) {
            self.sources
                .note_advertised(now, prefix, self.router_id, self.seqno, 0);
            return Some(Message::Update {
                prefix,
                router_id: self.router_id,
                next_hop: None,
                seqno: self.seqno,
                interval,
                metric: 0,
            });
        }
        let retraction = |router_id: RouterId, seqno: u16| Message::Update {
            prefix,
            router_id,
            next_hop: None,
            seqno,
            interval,
            metric: INFINITY,
        };
        let neighbours = &self.neighbours;
        let Some(entry) = self.routes.get_mut(&prefix) else {
            if !requested {
                return None;
            }
            self.stats.updates_sent += 1;
            return Some(retraction(self.router_id, self.seqno));
        };
        let selected = entry.selected_route().and_then(|r| {
            let neighbour = neighbours.get(r.neighbour.0 as usize)?.as_ref()?;
            let metric = total_metric(r.advertised_metric, neighbour.reported_cost);
            Some((neighbour.link, r.router_id, r.seqno, metric))
        });
        let message = match selected {
            Some((via, router_id, seqno, metric)) if metric != INFINITY => {
                let announcement = Announcement {
                    router_id,
                    seqno,
                    metric,
                };
                if entry.announced != Some(announcement) {
                    self.sources
                        .note_advertised(now, prefix, router_id, seqno, metric);
                }
                entry.announced = Some(announcement);
                if via == link && point_to_point {
                    // Split horizon: never offer a neighbour its own route back. Say nothing,
                    // unless it may still hold a route we announced before it became our next
                    // hop, or it asked. Such a retraction is owed until the neighbour
                    // acknowledges a packet carrying it (`handle_ack`), or for as long as it may
                    // keep the route: sent once and lost, it would leave the neighbour a route
                    // through us that it may select while we route through it (§3.7.4).
                    let owed = entry.retract_on == Some(link)
                        || entry
                            .retract_until
                            .is_some_and(|(l, until)| l == link && until > now);
                    if !owed && !requested {
                        return None;
                    }
                    if entry.retract_on == Some(link) {
                        entry.retract_on = None;
                        entry.retract_until = Some((link, now + lifetime));
                    }
                    retraction(router_id, seqno)
                } else {
                    Message::Update {
                        prefix,
                        router_id,
                        next_hop: None,
                        seqno,
                        interval,
                        metric,
                    }
                }
            }
            _ => {
                // Split horizon told the last next hop nothing, so a retraction there is noise;
                // unless it may still hold what we announced before it became our next hop.
                let owed = entry
                    .retract_until
                    .is_some_and(|(l, until)| l == link && until > now);
                if point_to_point && entry.last_link == Some(link) && !requested && !owed {
                    return None;
                }
                // Lost: retract what we announced; unknown: say we have nothing.
                let (router_id, seqno) = match entry.announced.as_mut() {
                    Some(a) => {
                        a.metric = INFINITY;
                        (a.router_id, a.seqno)
                    }
                    None => (self.router_id, self.seqno),
                };
                retraction(router_id, seqno)
            }
        };
        self.stats.updates_sent += 1;
        Some(message)
    }

    /// Sends everything waiting on `link`.
    pub(super) fn flush(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        l.flush_at = None;
        let max_len = l.config.max_packet_len.max(64);
        let point_to_point = l.config.point_to_point;
        let control = std::mem::take(&mut l.pending_control);
        let pending = std::mem::take(&mut l.pending_updates);
        let requested = std::mem::take(&mut l.requested);
        let full = l.full_update_pending && l.full_update_allowed <= now;
        if full {
            l.full_update_pending = false;
            l.full_update_allowed = now + Duration::from_secs(1);
        } else if l.full_update_pending {
            let at = l.full_update_allowed;
            l.schedule_flush(at);
        }

        // Control messages, grouped by destination.
        let mut by_destination: Vec<(Destination, Encoder)> = Vec::new();
        for (destination, message) in control {
            let index = match by_destination.iter().position(|(d, _)| *d == destination) {
                Some(i) => i,
                None => {
                    by_destination.push((destination, Encoder::new(max_len)));
                    by_destination.len() - 1
                }
            };
            by_destination[index].1.push(&message);
        }
        for (destination, encoder) in by_destination {
            self.send_packets(link, destination, encoder.finish());
        }

        // Urgent updates: on a point-to-point link, each packet asks for an Ack and is sent
        // again until acknowledged; elsewhere it is sent a few times (§3.7.2).
        let mut urgent: Vec<Prefix> = Vec::new();
        let mut normal: Vec<Prefix> = Vec::new();
        for (prefix, is_urgent) in pending {
            if full && !is_urgent {
                continue; // the dump covers it
            }
            if is_urgent {
                urgent.push(prefix);
            } else {
                normal.push(prefix);
            }
        }
        urgent.sort();
        normal.sort();
        let per_packet = (max_len.saturating_sub(16) / MAX_UPDATE_LEN).max(1);
        for chunk in urgent.chunks(per_packet) {
            self.send_urgent(now, link, chunk.to_vec(), 1);
        }

        let mut encoder = Encoder::new(max_len);
        for prefix in normal {
            if requested.contains(&prefix) {
                continue; // answered below
            }
            if let Some(message) = self.update_message(now, link, point_to_point, prefix, false) {
                encoder.push(&message);
            }
        }
        for prefix in requested {
            if urgent.binary_search(&prefix).is_ok() {
                continue; // already on its way, acknowledged
            }
            if let Some(message) = self.update_message(now, link, point_to_point, prefix, true) {
                encoder.push(&message);
            }
        }
        self.send_packets(link, Destination::Multicast, encoder.finish());
        if full {
            self.full_dump(now, &[link], false);
        }
    }

    /// Sends our whole table on `links`: every local prefix and every selected route, each
    /// computed once and written into every link's packets (a periodic dump touches every route,
    /// so it must not look each one up again per link). Split horizon leaves a route out on the
    /// point-to-point link it was learnt from.
    pub(super) fn full_dump(&mut self, now: Instant, links: &[LinkId], with_hello: bool) {
        let interval = centis(self.advertised_update_interval());
        let mut targets: Vec<(LinkId, bool, Encoder)> = Vec::with_capacity(links.len());
        for id in links {
            let Some(l) = self.links.get(id) else {
                continue;
            };
            let point_to_point = l.config.point_to_point;
            let max_len = l.config.max_packet_len.max(64);
            // The periodic dump carries the link's next Hello (sent early), which saves a
            // packet header per dump: about a tenth of a small mesh's control traffic.
            let encoder = if with_hello {
                self.begin_hello(now, *id)
            } else {
                None
            };
            targets.push((
                *id,
                point_to_point,
                encoder.unwrap_or_else(|| Encoder::new(max_len)),
            ));
        }
        let mut sent = 0u64;
        for prefix in &self.local_prefixes {
            self.sources
                .note_advertised(now, *prefix, self.router_id, self.seqno, 0);
            let message = Message::Update {
                prefix: *prefix,
                router_id: self.router_id,
                next_hop: None,
                seqno: self.seqno,
                interval,
                metric: 0,
            };
            for (_, _, encoder) in targets.iter_mut() {
                encoder.push(&message);
                sent += 1;
            }
        }
        let neighbours = &self.neighbours;
        for (prefix, entry) in self.routes.iter_mut() {
            let Some(route) = entry.selected_route() else {
                // Nothing to offer, but a neighbour may hold what we lost to tell it.
                let Some(owed) = entry
                    .retract_until
                    .filter(|(_, until)| *until > now)
                    .map(|(link, _)| link)
                else {
                    continue;
                };
                let (router_id, seqno) = entry
                    .announced
                    .map_or((self.router_id, self.seqno), |a| (a.router_id, a.seqno));
                if let Some((_, _, encoder)) =
                    targets.iter_mut().find(|(l, p2p, _)| *l == owed && *p2p)
                {
                    encoder.push(&Message::Update {
                        prefix: *prefix,
                        router_id,
                        next_hop: None,
                        seqno,
                        interval,
                        metric: INFINITY,
                    });
                    sent += 1;
                }
                continue;
            };
            let Some(neighbour) = neighbours
                .get(route.neighbour.0 as usize)
                .and_then(|n| n.as_ref())
            else {
                continue;
            };
            let metric = total_metric(route.advertised_metric, neighbour.reported_cost);
            if metric == INFINITY || self.local_prefixes.contains(prefix) {
                continue;
            }
            let (via, router_id, seqno) = (neighbour.link, route.router_id, route.seqno);
            entry.announced = Some(Announcement {
                router_id,
                seqno,
                metric,
            });
            self.sources
                .note_advertised(now, *prefix, router_id, seqno, metric);
            let message = Message::Update {
                prefix: *prefix,
                router_id,
                next_hop: None,
                seqno,
                interval,
                metric,
            };
            let retract_until = entry.retract_until;
            for (link, point_to_point, encoder) in targets.iter_mut() {
                if *point_to_point && *link == via {
                    if retract_until.is_some_and(|(l, until)| l == *link && until > now) {
                        encoder.push(&Message::Update {
                            prefix: *prefix,
                            router_id,
                            next_hop: None,
                            seqno,
                            interval,
                            metric: INFINITY,
                        });
                        sent += 1;
                    }
                    continue;
                }
                encoder.push(&message);
                sent += 1;
            }
        }
        self.stats.updates_sent += sent;
        for (link, _, encoder) in targets {
            self.send_packets(link, Destination::Multicast, encoder.finish());
        }
    }

    pub(super) fn send_urgent(
        &mut self,
        now: Instant,
        link: LinkId,
        prefixes: Vec<Prefix>,
        attempt: u8,
    ) {
        let (max_len, point_to_point) = match self.links.get(&link) {
            Some(l) => (l.config.max_packet_len.max(64), l.config.point_to_point),
            None => return,
        };
        let nonce = self.rng.next_u16();
        let mut encoder = Encoder::new(max_len);
        if point_to_point {
            encoder.push(&Message::AckRequest {
                nonce,
                interval: centis(URGENT_ACK_TIMEOUT),
            });
        }
        // On a link with several neighbours no one acknowledges a multicast: the update simply
        // goes out `URGENT_ATTEMPTS` times (RFC 8966 §3.7.2).
        // A repeat always says something: what the first attempt said was not acknowledged, so
        // the neighbour may still hold an older finite route from us, even where split horizon
        // would now keep us silent (we took a route through it meanwhile). It gets a retraction
        // then, like a requester (`update_message`); silent, we would never give up on it below
        // and never keep retracting there (`retract_until`).
        let repeat = attempt > 1;
        let mut any = false;
        for prefix in &prefixes {
            if let Some(message) = self.update_message(now, link, point_to_point, *prefix, repeat) {
                encoder.push(&message);
                any = true;
            }
        }
        if !any {
            return;
        }
        self.stats.urgent_packets_sent += 1;
        self.send_packets(link, Destination::Multicast, encoder.finish());
        // The last attempt is tracked too: unacknowledged, it is given up in `resend_unacked`.
        if attempt <= URGENT_ATTEMPTS {
            if let Some(l) = self.links.get_mut(&link) {
                l.unacked.push(Unacked {
                    nonce,
                    deadline: now + URGENT_ACK_TIMEOUT,
                    prefixes,
                    attempts: attempt,
                });
            }
        }
    }

    pub(super) fn send_packets(
        &mut self,
        link: LinkId,
        destination: Destination,
        packets: Vec<Vec<u8>>,
    ) {
        for payload in packets {
            self.stats.packets_sent += 1;
            self.stats.bytes_sent += payload.len() as u64;
            self.transmits.push_back(Transmit {
                link,
                destination,
                payload,
            });
        }
    }

    /// Our scheduled Hello on `link`, with an IHU for every neighbour there in the same packet
    /// (RFC 9616 pairs the IHU's timestamps with that Hello's).
    pub(super) fn send_hello(&mut self, now: Instant, link: LinkId) {
        if let Some(encoder) = self.begin_hello(now, link) {
            self.send_packets(link, Destination::Multicast, encoder.finish());
        }
    }

    /// A packet for `link` that starts with our Hello (and the IHUs, when due); more messages may
    /// follow it in the same packet.
    pub(super) fn begin_hello(&mut self, now: Instant, link: LinkId) -> Option<Encoder> {
        let timestamp = self.timestamp(now);
        let hello_interval = self.config.hello_interval;
        let ihu_interval = self.config.ihu_interval;
        let jitter = self.jitter(hello_interval / 10);
        let l = self.links.get_mut(&link)?;
        l.hello_seqno = l.hello_seqno.wrapping_add(1);
        l.next_hello = now + hello_interval - jitter;
        let with_ihus = l.next_ihu <= now;
        if with_ihus {
            // A little early rather than a Hello late: the next IHU rides the Hello due then.
            l.next_ihu = now + ihu_interval.saturating_sub(hello_interval / 2);
        }
        let rtt = l.config.rtt.is_some();
        let max_len = l.config.max_packet_len.max(64);
        let seqno = l.hello_seqno;
        let config = l.config.clone();
        let mut encoder = Encoder::new(max_len);
        encoder.push(&Message::Hello {
            unicast: false,
            seqno,
            interval: centis(hello_interval),
            timestamp: rtt.then_some(timestamp),
        });
        for n in self.neighbours.iter_mut().flatten() {
            if n.link != link || !n.has_hellos() || !(with_ihus || n.eager_ihus > 0) {
                continue;
            }
            n.eager_ihus = n.eager_ihus.saturating_sub(1);
            let timestamps = if rtt {
                n.last_hello_timestamp
                    .map(|(origin, receive)| IhuTimestamps { origin, receive })
            } else {
                None
            };
            encoder.push(&Message::Ihu {
                address: Some(IpAddr::V6(n.address)),
                rxcost: n.rxcost(&config),
                interval: centis(ihu_interval),
                timestamps,
            });
        }
        Some(encoder)
    }
}
