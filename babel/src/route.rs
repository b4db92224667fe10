//! The route table (RFC 8966 §3.2.6) and route selection (§3.6): every route each neighbour
//! announced, per prefix, and which one we use. Selection prefers the smallest metric among the
//! feasible routes, and leaves a selected route only for one better by more than the hysteresis
//! margin, so that near-equal routes do not flap.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::filter::Refusal;
use crate::ids::{LinkId, NeighbourId};
use crate::wire::{RouterId, INFINITY};

/// How long a retracted route is kept so its (seqno, router-id) still informs requests.
pub(crate) const RETRACTED_HOLD: Duration = Duration::from_secs(60);

/// How long a lost prefix stays unreachable before it is forgotten (RFC 8966 §3.5.4: while a
/// prefix is held, its packets must not follow a route for a shorter prefix). Longer than the
/// 63 s a neighbour keeps a route it no longer hears about (3.5 advertised update intervals of
/// 18 s with the default settings), so a neighbour that still routes the prefix through us has
/// forgotten it by the time our own shorter prefix would take over.
pub const HOLD_TIME: Duration = Duration::from_secs(64);

#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) neighbour: NeighbourId,
    pub(crate) router_id: RouterId,
    pub(crate) seqno: u16,
    /// The metric the neighbour advertised (RFC "reported distance").
    pub(crate) advertised_metric: u16,
    pub(crate) next_hop: IpAddr,
    /// After this the route is treated as retracted.
    pub(crate) expires: Instant,
    /// Why the import filter refuses it: kept, never selected (`filter.rs`).
    pub(crate) refused: Option<Refusal>,
    /// We asked the neighbour for it because it was about to expire (§3.8.2.3).
    pub(crate) refresh_requested: bool,
}

/// What we last announced for a prefix, to decide whether a change deserves a triggered update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Announcement {
    pub(crate) router_id: RouterId,
    pub(crate) seqno: u16,
    pub(crate) metric: u16,
}

/// Everything we know about one prefix.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixEntry {
    pub(crate) routes: Vec<Route>,
    /// The neighbour whose route is selected.
    pub(crate) selected: Option<NeighbourId>,
    /// What the caller was told to install: (link, next hop).
    pub(crate) installed: Option<(LinkId, IpAddr)>,
    /// The prefix was installed and is lost: the caller holds it unreachable until then.
    pub(crate) held_until: Option<Instant>,
    pub(crate) announced: Option<Announcement>,
    /// The link of the last selected route. Split horizon never told that link's neighbour a
    /// finite metric, so a retraction there would be noise.
    pub(crate) last_link: Option<LinkId>,
    /// The link whose neighbour became our next hop while it may still hold a finite route from
    /// us: split horizon owes it one retraction.
    pub(crate) retract_on: Option<LinkId>,
    /// A link where an urgent update for the prefix went unacknowledged, and until when our
    /// updates there carry a retraction where split horizon (or having no route) would say
    /// nothing: the neighbour may still hold what we said before, and keeps a route it hears
    /// nothing about for its whole lifetime, long enough to come back into use through us.
    pub(crate) retract_until: Option<(LinkId, Instant)>,
    /// A route better than the selected one, by too little to switch at once, and since when.
    pub(crate) better_since: Option<(NeighbourId, Instant)>,
}

impl PrefixEntry {
    pub(crate) fn route(&self, neighbour: NeighbourId) -> Option<&Route> {
        self.routes.iter().find(|r| r.neighbour == neighbour)
    }

    pub(crate) fn route_mut(&mut self, neighbour: NeighbourId) -> Option<&mut Route> {
        self.routes.iter_mut().find(|r| r.neighbour == neighbour)
    }

    pub(crate) fn selected_route(&self) -> Option<&Route> {
        self.selected.and_then(|n| self.route(n))
    }

    /// Whether the entry can be forgotten: no routes left, nothing selected or announced.
    pub(crate) fn is_empty(&self) -> bool {
        self.routes.is_empty()
            && self.selected.is_none()
            && self.announced.is_none()
            && self.held_until.is_none()
    }
}

/// A candidate for selection: the route's neighbour and its total metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) neighbour: NeighbourId,
    pub(crate) metric: u16,
}

/// Picks the route to use among `candidates` (already filtered to feasible, finite routes), given
/// the currently selected neighbour: keep the current one unless another is better by more than
/// `hysteresis`.
pub(crate) fn select(
    candidates: &[Candidate],
    current: Option<NeighbourId>,
    hysteresis: u16,
) -> Option<Candidate> {
    let best = candidates
        .iter()
        .copied()
        .min_by_key(|c| (c.metric, Some(c.neighbour) != current, c.neighbour))?;
    let Some(current) = current.and_then(|n| candidates.iter().find(|c| c.neighbour == n)) else {
        return Some(best);
    };
    if u32::from(best.metric) + u32::from(hysteresis) < u32::from(current.metric) {
        Some(best)
    } else {
        Some(*current)
    }
}

/// Metric through a neighbour: advertised metric plus link cost, saturating at infinity.
pub(crate) fn total_metric(advertised: u16, cost: u16) -> u16 {
    if advertised == INFINITY || cost == INFINITY {
        return INFINITY;
    }
    (u32::from(advertised) + u32::from(cost)).min(u32::from(INFINITY)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: u32, metric: u16) -> Candidate {
        Candidate {
            neighbour: NeighbourId(n),
            metric,
        }
    }

    #[test]
    fn picks_smallest_metric_without_a_current_route() {
        assert_eq!(select(&[c(1, 300), c(2, 200)], None, 32), Some(c(2, 200)));
        assert_eq!(select(&[], None, 32), None);
    }

    #[test]
    fn hysteresis_keeps_near_equal_route() {
        assert_eq!(
            select(&[c(1, 300), c(2, 280)], Some(NeighbourId(1)), 32),
            Some(c(1, 300))
        );
        assert_eq!(
            select(&[c(1, 300), c(2, 260)], Some(NeighbourId(1)), 32),
            Some(c(2, 260))
        );
    }

    #[test]
    fn equal_metrics_prefer_current() {
        assert_eq!(
            select(&[c(1, 300), c(2, 300)], Some(NeighbourId(2)), 0),
            Some(c(2, 300))
        );
    }

    #[test]
    fn lost_current_route_falls_back_to_best() {
        assert_eq!(
            select(&[c(1, 900), c(2, 500)], Some(NeighbourId(3)), 32),
            Some(c(2, 500))
        );
    }

    #[test]
    fn metric_saturates() {
        assert_eq!(total_metric(65000, 1000), INFINITY);
        assert_eq!(total_metric(INFINITY, 1), INFINITY);
        assert_eq!(total_metric(100, 96), 196);
    }
}
