//! The source table (RFC 8966 §3.2.5) and the feasibility condition (§3.5.1): for every
//! (prefix, router-id) we have advertised, the feasibility distance, i.e. the best (seqno, metric)
//! we ever announced for it. A route is accepted only if it is strictly better than that, which is
//! what keeps Babel loop-free at every instant.

use std::time::{Duration, Instant};

use crate::hash::FastMap;
use crate::wire::{seqno_newer, Prefix, RouterId, INFINITY};

/// How long a source entry outlives its last use (RFC 8966 §3.2.5 suggests 3 minutes).
pub(crate) const SOURCE_GC_TIME: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, Copy)]
pub(crate) struct Source {
    pub(crate) seqno: u16,
    pub(crate) metric: u16,
    pub(crate) last_used: Instant,
}

#[derive(Debug)]
pub(crate) struct SourceTable {
    entries: FastMap<(Prefix, RouterId), Source>,
    /// [`crate::Limits::sources`]: with this many entries, a route that needs a new one is not
    /// feasible ([`SourceTable::is_feasible`]), so it is never selected nor announced.
    max: usize,
}

impl Default for SourceTable {
    fn default() -> SourceTable {
        SourceTable::new(crate::Limits::default().sources)
    }
}

impl SourceTable {
    pub(crate) fn new(max: usize) -> SourceTable {
        SourceTable {
            entries: FastMap::default(),
            max,
        }
    }

    /// Whether a route without an entry could get one (the table is below its limit).
    pub(crate) fn has_room(&self) -> bool {
        self.entries.len() < self.max
    }

    pub(crate) fn get(&self, prefix: Prefix, router_id: RouterId) -> Option<&Source> {
        self.entries.get(&(prefix, router_id))
    }

    /// The feasibility condition of RFC 8966 §3.5.1. A retraction is always feasible. A route
    /// with no source entry is feasible only while the table has room for one: announcing it
    /// records its feasibility distance, and one that cannot be recorded cannot be kept.
    pub(crate) fn is_feasible(
        &self,
        prefix: Prefix,
        router_id: RouterId,
        seqno: u16,
        metric: u16,
    ) -> bool {
        if metric == INFINITY {
            return true;
        }
        match self.get(prefix, router_id) {
            None => self.has_room(),
            Some(source) => {
                seqno_newer(seqno, source.seqno)
                    || (seqno == source.seqno && metric < source.metric)
            }
        }
    }

    /// Records that we advertised (seqno, metric) for (prefix, router-id) (§3.7.3).
    pub(crate) fn note_advertised(
        &mut self,
        now: Instant,
        prefix: Prefix,
        router_id: RouterId,
        seqno: u16,
        metric: u16,
    ) {
        if metric == INFINITY {
            return;
        }
        let entry = self.entries.entry((prefix, router_id)).or_insert(Source {
            seqno,
            metric,
            last_used: now,
        });
        if seqno_newer(seqno, entry.seqno) {
            entry.seqno = seqno;
            entry.metric = metric;
        } else if seqno == entry.seqno && metric < entry.metric {
            entry.metric = metric;
        }
        entry.last_used = now;
    }

    /// Drops entries unused for [`SOURCE_GC_TIME`].
    pub(crate) fn collect_garbage(&mut self, now: Instant) {
        self.entries
            .retain(|_, source| now.saturating_duration_since(source.last_used) < SOURCE_GC_TIME);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&(Prefix, RouterId), &Source)> {
        self.entries.iter()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Prefix {
        "fd00::1/128".parse().unwrap()
    }

    const R: RouterId = RouterId([1, 2, 3, 4, 5, 6, 7, 8]);

    #[test]
    fn feasibility_follows_seqno_then_metric() {
        let now = Instant::now();
        let mut t = SourceTable::default();
        assert!(t.is_feasible(p(), R, 7, 500), "no source: anything goes");
        t.note_advertised(now, p(), R, 7, 300);
        assert!(t.is_feasible(p(), R, 7, 299));
        assert!(
            !t.is_feasible(p(), R, 7, 300),
            "equal metric is not strictly better"
        );
        assert!(!t.is_feasible(p(), R, 6, 1), "older seqno never");
        assert!(t.is_feasible(p(), R, 8, 60000), "newer seqno always");
        assert!(t.is_feasible(p(), R, 6, INFINITY), "retractions always");
        t.note_advertised(now, p(), R, 7, 400);
        assert_eq!(
            t.get(p(), R).unwrap().metric,
            300,
            "distance never grows within a seqno"
        );
        t.note_advertised(now, p(), R, 8, 400);
        assert_eq!(t.get(p(), R).map(|s| (s.seqno, s.metric)), Some((8, 400)));
    }

    #[test]
    fn seqno_wraps() {
        let now = Instant::now();
        let mut t = SourceTable::default();
        t.note_advertised(now, p(), R, 0xFFFF, 100);
        assert!(t.is_feasible(p(), R, 0, 5000), "0 follows 0xFFFF");
    }

    #[test]
    fn a_full_table_makes_routes_without_a_source_unfeasible() {
        let now = Instant::now();
        let mut t = SourceTable::new(1);
        let other: Prefix = "fd00::2/128".parse().unwrap();
        assert!(t.is_feasible(other, R, 1, 100), "room for one");
        t.note_advertised(now, p(), R, 7, 300);
        assert!(!t.has_room());
        assert!(
            !t.is_feasible(other, R, 1, 100),
            "no room for a second source"
        );
        assert!(t.is_feasible(other, R, 1, INFINITY), "retractions always");
        assert!(
            t.is_feasible(p(), R, 7, 299),
            "the recorded source still works"
        );
        t.collect_garbage(now + SOURCE_GC_TIME);
        assert!(
            t.is_feasible(other, R, 1, 100),
            "room again once it expired"
        );
    }

    #[test]
    fn garbage_collection() {
        let now = Instant::now();
        let mut t = SourceTable::default();
        t.note_advertised(now, p(), R, 1, 100);
        t.collect_garbage(now + SOURCE_GC_TIME - Duration::from_secs(1));
        assert_eq!(t.len(), 1);
        t.collect_garbage(now + SOURCE_GC_TIME);
        assert_eq!(t.len(), 0);
    }
}
