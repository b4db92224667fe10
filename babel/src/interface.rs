//! The interface table (RFC 8966 §3.2.3): our state per link — Hello seqno and schedule, the
//! periodic full update, and the bounded queues of what is waiting to be sent on it.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;
use std::time::Instant;

use crate::config::LinkConfig;
use crate::hash::FastMap;
use crate::ids::Destination;
use crate::wire::{Message, Prefix};

/// Urgent updates sent with an AckReq and not yet acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Unacked {
    pub(crate) nonce: u16,
    pub(crate) deadline: Instant,
    pub(crate) prefixes: Vec<Prefix>,
    pub(crate) attempts: u8,
}

#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) local: Ipv6Addr,
    pub(crate) config: LinkConfig,
    pub(crate) hello_seqno: u16,
    pub(crate) next_hello: Instant,
    /// IHUs go out with the first Hello at or after this time.
    pub(crate) next_ihu: Instant,
    /// Earliest time an extra (unscheduled) Hello may go out, to greet a new neighbour.
    pub(crate) extra_hello_allowed: Instant,
    /// A full dump is owed (periodic, or asked for by a wildcard Route Request).
    pub(crate) full_update_pending: bool,
    /// Earliest time the next full dump may go out (rate limit for wildcard requests).
    pub(crate) full_update_allowed: Instant,
    /// Prefixes with a triggered update waiting; `true` marks an urgent one (retraction, new
    /// seqno) that is sent with an acknowledgment request on point-to-point links. One entry per
    /// prefix: however often a prefix changes, only its latest state is sent.
    pub(crate) pending_updates: FastMap<Prefix, bool>,
    /// Prefixes a neighbour asked for with a Route Request: each gets an answer, a retraction
    /// where we have nothing to offer this link (RFC 8966 §3.8.1.1).
    pub(crate) requested: BTreeSet<Prefix>,
    /// Requests, acknowledgments and probes waiting to be sent.
    pub(crate) pending_control: Vec<(Destination, Message)>,
    pub(crate) flush_at: Option<Instant>,
    pub(crate) unacked: Vec<Unacked>,
}

impl Link {
    pub(crate) fn new(local: Ipv6Addr, config: LinkConfig, now: Instant) -> Link {
        Link {
            local,
            config,
            hello_seqno: 0,
            next_hello: now,
            next_ihu: now,
            extra_hello_allowed: now,
            full_update_pending: false,
            full_update_allowed: now,
            pending_updates: FastMap::default(),
            requested: BTreeSet::new(),
            pending_control: Vec::new(),
            flush_at: None,
            unacked: Vec::new(),
        }
    }

    /// Makes sure a flush happens no later than `at`.
    pub(crate) fn schedule_flush(&mut self, at: Instant) {
        self.flush_at = Some(match self.flush_at {
            Some(existing) if existing <= at => existing,
            _ => at,
        });
    }
}
