//! Requests in flight (RFC 8966 §3.2.7 and §3.8): our own seqno requests, resent a bounded number
//! of times until a feasible route arrives, and the record of requests we forwarded, for duplicate
//! suppression. Both tables are bounded.

use std::time::{Duration, Instant};

use crate::hash::FastMap;
use crate::ids::NeighbourId;
use crate::wire::{seqno_newer, Prefix, RouterId};

/// At most this many requests of each kind are tracked; beyond it new ones are dropped.
pub(crate) const MAX_TRACKED_REQUESTS: usize = 4096;
/// How often an unanswered seqno request of ours is sent again.
pub(crate) const REQUEST_RESEND: Duration = Duration::from_millis(1000);
/// How many times in all we send one of our seqno requests.
pub(crate) const REQUEST_ATTEMPTS: u8 = 3;
/// A request for the same (prefix, router-id, seqno) is not forwarded twice within this time.
/// Shorter than [`REQUEST_RESEND`], so that a requester's own resends still get through when
/// the first copy was lost.
pub(crate) const DUPLICATE_WINDOW: Duration = Duration::from_millis(700);

#[derive(Debug, Clone)]
pub(crate) struct PendingRequest {
    pub(crate) router_id: RouterId,
    pub(crate) seqno: u16,
    /// `None`: ask every neighbour (multicast on every link).
    pub(crate) target: Option<NeighbourId>,
    pub(crate) resend_at: Instant,
    pub(crate) attempts: u8,
}

#[derive(Debug, Default)]
pub(crate) struct Requests {
    pub(crate) ours: FastMap<Prefix, PendingRequest>,
    forwarded: FastMap<(Prefix, RouterId), (u16, Instant)>,
}

impl Requests {
    /// Starts (or strengthens) our request for `prefix`. Returns false if an equivalent request
    /// is already in flight, or the table is full.
    pub(crate) fn start(
        &mut self,
        now: Instant,
        prefix: Prefix,
        router_id: RouterId,
        seqno: u16,
        target: Option<NeighbourId>,
    ) -> bool {
        if let Some(existing) = self.ours.get(&prefix) {
            if existing.router_id == router_id && !seqno_newer(seqno, existing.seqno) {
                return false;
            }
        } else if self.ours.len() >= MAX_TRACKED_REQUESTS {
            return false;
        }
        self.ours.insert(
            prefix,
            PendingRequest {
                router_id,
                seqno,
                target,
                resend_at: now + REQUEST_RESEND,
                attempts: 1,
            },
        );
        true
    }

    /// A route with (router-id, seqno) became available for `prefix`: stop asking if that
    /// satisfies our request.
    pub(crate) fn satisfy(&mut self, prefix: Prefix, router_id: RouterId, seqno: u16) {
        if let Some(request) = self.ours.get(&prefix) {
            if request.router_id != router_id || !seqno_newer(request.seqno, seqno) {
                self.ours.remove(&prefix);
            }
        }
    }

    /// Whether a request we received should be forwarded, recording it if so.
    pub(crate) fn should_forward(
        &mut self,
        now: Instant,
        prefix: Prefix,
        router_id: RouterId,
        seqno: u16,
    ) -> bool {
        if let Some((last_seqno, at)) = self.forwarded.get(&(prefix, router_id)) {
            let recent = now.saturating_duration_since(*at) < DUPLICATE_WINDOW;
            if recent && !seqno_newer(seqno, *last_seqno) {
                return false;
            }
        }
        if self.forwarded.len() >= MAX_TRACKED_REQUESTS {
            self.collect_garbage(now);
            if self.forwarded.len() >= MAX_TRACKED_REQUESTS {
                return false;
            }
        }
        self.forwarded.insert((prefix, router_id), (seqno, now));
        true
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.ours.values().map(|r| r.resend_at).min()
    }

    pub(crate) fn collect_garbage(&mut self, now: Instant) {
        self.forwarded
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < DUPLICATE_WINDOW);
    }

    /// Forgets requests aimed at a neighbour that went away.
    pub(crate) fn forget_neighbour(&mut self, neighbour: NeighbourId) {
        self.ours.retain(|_, r| r.target != Some(neighbour));
    }
}
