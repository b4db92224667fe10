//! The neighbour table (RFC 8966 §3.2.4): per neighbour, the Hello history, the txcost learnt from
//! its IHUs, the RTT measured with timestamps (RFC 9616), and the link cost derived from them
//! (RFC 8966 Appendix A). Routing decisions are not made here; the node asks for `cost()`.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::config::{CostModel, LinkConfig, RttConfig};
use crate::ids::LinkId;
use crate::wire::INFINITY;

/// How many AckReq probes we send when a Hello is overdue before declaring the neighbour gone.
pub(crate) const PROBE_ATTEMPTS: u8 = 3;
/// Time we wait for each probe's Ack.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_millis(400);

/// The Hello history of RFC 8966 §A.1: bit 15 is the most recent expected Hello.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HelloHistory {
    /// 1 = received, 0 = missed; only the top `known` bits are meaningful.
    pub(crate) bits: u16,
    /// How many of the 16 bits have been filled since the neighbour appeared.
    pub(crate) known: u8,
    /// The seqno we expect on the next Hello.
    pub(crate) expected_seqno: u16,
}

impl HelloHistory {
    fn new(seqno: u16) -> HelloHistory {
        HelloHistory {
            bits: 0x8000,
            known: 1,
            expected_seqno: seqno.wrapping_add(1),
        }
    }

    fn push(&mut self, received: bool) {
        self.bits = (self.bits >> 1) | if received { 0x8000 } else { 0 };
        self.known = (self.known + 1).min(16);
    }

    /// Records a Hello with `seqno`. Returns false if the seqno jumped so far that the neighbour
    /// must have restarted (the history was reset).
    fn receive(&mut self, seqno: u16) -> bool {
        let ahead = seqno.wrapping_sub(self.expected_seqno);
        if ahead == 0 {
            self.push(true);
        } else if ahead < 16 {
            for _ in 0..ahead {
                self.push(false);
            }
            self.push(true);
        } else if self.expected_seqno.wrapping_sub(seqno) <= u16::from(self.known).min(15) {
            // Behind: Hellos we already counted as missed (the neighbour's interval grew, or
            // this one was held up) were not lost after all. Undo those slots and record this
            // one (RFC 8966 Appendix A.1), rather than start the history again.
            let behind = self.expected_seqno.wrapping_sub(seqno);
            self.bits = self.bits.checked_shl(u32::from(behind)).unwrap_or(0);
            self.known -= behind as u8;
            self.push(true);
        } else {
            *self = HelloHistory::new(seqno);
            return false;
        }
        self.expected_seqno = seqno.wrapping_add(1);
        true
    }

    /// A Hello was due and did not come.
    fn miss(&mut self) {
        self.push(false);
        self.expected_seqno = self.expected_seqno.wrapping_add(1);
    }

    fn received_count(&self) -> u32 {
        let mask = if self.known >= 16 {
            0xFFFF
        } else {
            !(0xFFFFu16 >> self.known)
        };
        (self.bits & mask).count_ones()
    }

    /// The three most recent expected Hellos were all missed.
    fn last_three_missed(&self) -> bool {
        self.known >= 3 && self.bits & 0xE000 == 0
    }
}

/// What we know of a neighbour's unicast Hellos: their own history, interval and deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnicastHellos {
    pub(crate) history: HelloHistory,
    pub(crate) interval: Duration,
    pub(crate) deadline: Instant,
}

/// Probing state for a neighbour whose Hello is overdue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    pub(crate) nonce: u16,
    pub(crate) attempts: u8,
    pub(crate) deadline: Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct Neighbour {
    pub(crate) link: LinkId,
    pub(crate) address: Ipv6Addr,
    pub(crate) history: HelloHistory,
    /// The Hello interval the neighbour announced.
    pub(crate) hello_interval: Duration,
    /// When the next Hello is overdue.
    pub(crate) hello_deadline: Instant,
    pub(crate) last_heard: Instant,
    /// When we first heard from it: Hellos we sent before then may have waited on the way
    /// (a tunnel still shaking hands), so their echoes are no RTT samples.
    pub(crate) first_heard: Instant,
    /// The neighbour's rxcost for us, from its last IHU; `INFINITY` when none or expired.
    pub(crate) txcost: u16,
    pub(crate) ihu_expiry: Option<Instant>,
    /// The last Hello timestamp it sent us and when we received it (for our IHU timestamps).
    pub(crate) last_hello_timestamp: Option<(u32, u32)>,
    pub(crate) rtt: Option<Duration>,
    /// How many RTT samples have been folded in.
    pub(crate) rtt_samples: u8,
    /// The neighbour timestamps its Hellos but we have no RTT sample yet: the link stays unusable
    /// until the first sample or this deadline, so that routes are not announced at a cost that
    /// jumps a moment later (which would make every route through it unfeasible downstream and
    /// set off a flood of seqno requests when a mesh starts).
    pub(crate) rtt_deadline: Option<Instant>,
    /// Whether it ever answered an AckReq: only then is a failed probe evidence of death.
    pub(crate) answers_probes: bool,
    pub(crate) probe: Option<Probe>,
    /// Probes failed: unreachable until the next Hello.
    pub(crate) presumed_dead: bool,
    /// IHUs still to send with every Hello, whatever the IHU interval: a new neighbour cannot
    /// use the link until it has one, so one lost IHU must not cost a whole interval.
    pub(crate) eager_ihus: u8,
    /// The cost last used for routing, to notice changes.
    pub(crate) reported_cost: u16,
    /// Unicast Hellos, if it sends any.
    pub(crate) unicast: Option<UnicastHellos>,
    /// It has been usable before: when it becomes usable again it has been presumed dead, and
    /// it and we exchange full tables at once instead of at the next periodic update.
    pub(crate) was_up: bool,
    /// Routes the table holds from it (for [`crate::Limits::routes_per_neighbour`]).
    pub(crate) routes: usize,
    /// Updates for new routes refused because a route limit was reached.
    pub(crate) routes_over_limit: u32,
    /// A limit refused its last new route: the event has been sent, and is sent again only
    /// after one of its new routes was accepted.
    pub(crate) at_limit: bool,
    /// When a change of its cost was last applied: finite changes are applied at most once
    /// per `COST_HOLD` (node.rs), however often its IHUs change.
    pub(crate) cost_changed_at: Option<Instant>,
    /// Its last word on routes was a wildcard retraction (AE 0): another one before any new
    /// route from it has nothing to retract, and costs no pass over the table.
    pub(crate) all_retracted: bool,
}

impl Neighbour {
    pub(crate) fn new(link: LinkId, address: Ipv6Addr, now: Instant) -> Neighbour {
        Neighbour {
            link,
            address,
            history: HelloHistory {
                bits: 0,
                known: 0,
                expected_seqno: 0,
            },
            hello_interval: Duration::ZERO,
            hello_deadline: now,
            last_heard: now,
            first_heard: now,
            txcost: INFINITY,
            ihu_expiry: None,
            last_hello_timestamp: None,
            rtt: None,
            rtt_samples: 0,
            rtt_deadline: None,
            answers_probes: false,
            probe: None,
            presumed_dead: false,
            eager_ihus: 3,
            reported_cost: INFINITY,
            was_up: false,
            unicast: None,
            routes: 0,
            routes_over_limit: 0,
            at_limit: false,
            cost_changed_at: None,
            all_retracted: false,
        }
    }

    /// Whether we have ever received a multicast Hello from it.
    pub(crate) fn has_hellos(&self) -> bool {
        self.history.known > 0
    }

    /// A scheduled (multicast) Hello arrived. Returns false when its seqno is so far from the
    /// expected one that the neighbour must have restarted (the history starts again).
    pub(crate) fn receive_hello(&mut self, now: Instant, seqno: u16, interval: Duration) -> bool {
        let continued = if self.history.known == 0 {
            self.history = HelloHistory::new(seqno);
            true
        } else {
            self.history.receive(seqno)
        };
        self.hello_interval = interval;
        // Our own Hellos come at most a tenth early, never late; a quarter of slack is enough
        // because an overdue Hello only starts a probe, it does not condemn the link.
        self.hello_deadline = now + interval.mul_f32(1.25);
        self.presumed_dead = false;
        self.probe = None;
        continued
    }

    /// A multicast Hello with interval 0 (sent off schedule, as babeld does right after it
    /// starts). It shares the seqno counter, so it fills its slot in the history (RFC 8966
    /// Appendix A.1); it says nothing about when the next one comes, so the timer stays.
    pub(crate) fn receive_unscheduled_hello(&mut self, seqno: u16) {
        if self.has_hellos() {
            self.history.receive(seqno);
            self.presumed_dead = false;
            self.probe = None;
        }
    }

    /// The Hello deadline passed: record a miss and move the deadline one interval on.
    pub(crate) fn miss_hello(&mut self) {
        self.history.miss();
        let step = if self.hello_interval.is_zero() {
            Duration::from_secs(4)
        } else {
            self.hello_interval
        };
        self.hello_deadline += step;
    }

    /// A unicast Hello arrived. Unicast Hellos have a seqno counter of their own, so they have
    /// a history of their own (RFC 8966 Appendix A.1), which link sensing uses beside the
    /// multicast one.
    pub(crate) fn receive_unicast_hello(&mut self, now: Instant, seqno: u16, interval: Duration) {
        match self.unicast.as_mut() {
            None => {
                self.unicast = Some(UnicastHellos {
                    history: HelloHistory::new(seqno),
                    interval,
                    deadline: now + interval.mul_f32(1.25),
                });
            }
            Some(u) => {
                u.history.receive(seqno);
                u.interval = interval;
                u.deadline = now + interval.mul_f32(1.25);
            }
        }
    }

    /// The unicast Hello deadline, while the neighbour sends scheduled unicast Hellos.
    pub(crate) fn unicast_deadline(&self) -> Option<Instant> {
        self.unicast
            .as_ref()
            .filter(|u| !u.interval.is_zero())
            .map(|u| u.deadline)
    }

    /// Records the unicast Hellos due by `now` and not received (at most 16 at once).
    pub(crate) fn miss_unicast_hellos(&mut self, now: Instant) {
        if let Some(u) = self.unicast.as_mut() {
            let mut misses = 0;
            while !u.interval.is_zero() && u.deadline <= now && misses < 16 {
                u.history.miss();
                u.deadline += u.interval;
                misses += 1;
            }
        }
    }

    /// Our cost of receiving from this neighbour, as sent in our IHUs: from the better of its
    /// multicast and unicast Hello histories.
    pub(crate) fn rxcost(&self, config: &LinkConfig) -> u16 {
        if !self.has_hellos() || self.presumed_dead {
            return INFINITY;
        }
        let multicast = history_rxcost(&self.history, config);
        match &self.unicast {
            Some(u) => multicast.min(history_rxcost(&u.history, config)),
            None => multicast,
        }
    }
}

/// The rxcost one Hello history gives (RFC 8966 Appendix A.2).
fn history_rxcost(history: &HelloHistory, config: &LinkConfig) -> u16 {
    match config.cost_model {
        CostModel::KOutOfJ => {
            // At least 2 of the last 3 expected Hellos (fewer if we know fewer).
            let recent = (history.bits & 0xE000).count_ones();
            let needed = u32::from(history.known.min(2));
            if recent >= needed {
                config.rxcost
            } else {
                INFINITY
            }
        }
        CostModel::Etx => {
            if history.last_three_missed() {
                return INFINITY;
            }
            // Slots not yet filled count as received: a new neighbour is presumed good until
            // it shows otherwise, so one early loss costs 1/16 and not half the link (which
            // would raise every route through it at once and, downstream, make them all
            // unfeasible together).
            let received = history.received_count() + 16 - u32::from(history.known);
            if received == 0 {
                return INFINITY;
            }
            let cost = u32::from(config.rxcost) * 16 / received;
            cost.min(u32::from(INFINITY - 1)) as u16
        }
    }
}

impl Neighbour {
    /// The cost of routing through this neighbour (RFC 8966 Appendix A.2), including the RTT
    /// penalty when timestamps are on.
    pub(crate) fn cost(&self, config: &LinkConfig) -> u16 {
        let rxcost = self.rxcost(config);
        if rxcost == INFINITY || self.txcost == INFINITY || self.rtt_deadline.is_some() {
            return INFINITY;
        }
        let base = match config.cost_model {
            CostModel::KOutOfJ => u32::from(self.txcost.max(rxcost)),
            CostModel::Etx => {
                let nominal = u32::from(config.rxcost.max(1));
                (u32::from(rxcost) * u32::from(self.txcost) / nominal).max(1)
            }
        };
        let penalty = match (config.rtt, self.rtt) {
            (Some(rtt_config), Some(rtt)) => u32::from(rtt_penalty(&rtt_config, rtt)),
            _ => 0,
        };
        (base + penalty).min(u32::from(INFINITY - 1)) as u16
    }

    /// Folds one RTT sample into the smoothed RTT (exponential average, weight 1/8 on the
    /// sample, so one delayed packet does not move routes).
    pub(crate) fn add_rtt_sample(&mut self, sample: Duration) {
        self.rtt_deadline = None;
        // The first samples weigh half, later ones an eighth: the very first often includes a
        // WireGuard handshake and would otherwise make a fast link look slow for a minute.
        self.rtt_samples = self.rtt_samples.saturating_add(1);
        self.rtt = Some(match self.rtt {
            None => sample,
            Some(old) if self.rtt_samples <= 4 => (old + sample) / 2,
            Some(old) => (old * 7 + sample) / 8,
        });
    }
}

/// RTT cost shape of the delay-based metric extension: nothing below `min`, linear up to
/// `max_penalty` at `max`, flat above.
pub(crate) fn rtt_penalty(config: &RttConfig, rtt: Duration) -> u16 {
    if rtt <= config.min {
        return 0;
    }
    if rtt >= config.max || config.max <= config.min {
        return config.max_penalty;
    }
    let above = (rtt - config.min).as_micros();
    let span = (config.max - config.min).as_micros();
    (u128::from(config.max_penalty) * above / span) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neighbour() -> Neighbour {
        Neighbour::new(LinkId(1), Ipv6Addr::LOCALHOST, Instant::now())
    }

    #[test]
    fn k_out_of_j_needs_two_of_three() {
        let config = LinkConfig {
            cost_model: CostModel::KOutOfJ,
            rtt: None,
            ..LinkConfig::default()
        };
        let now = Instant::now();
        let mut n = neighbour();
        n.txcost = 96;
        n.receive_hello(now, 10, Duration::from_secs(4));
        assert_eq!(n.cost(&config), 96);
        n.miss_hello();
        assert_eq!(n.cost(&config), INFINITY, "1 of the last 2 is not 2 of 3");
        n.receive_hello(now, 12, Duration::from_secs(4));
        assert_eq!(n.cost(&config), 96);
        n.miss_hello();
        n.miss_hello();
        assert_eq!(n.cost(&config), INFINITY);
    }

    #[test]
    fn etx_grows_with_loss_and_dies_after_three_misses() {
        let config = LinkConfig {
            cost_model: CostModel::Etx,
            rtt: None,
            ..LinkConfig::default()
        };
        let now = Instant::now();
        let mut n = neighbour();
        n.txcost = 96;
        for seqno in 0..16 {
            n.receive_hello(now, seqno, Duration::from_secs(4));
        }
        assert_eq!(n.cost(&config), 96);
        // Every other Hello lost: reception 1/2, so rxcost doubles.
        for seqno in (17..48).step_by(2) {
            n.receive_hello(now, seqno, Duration::from_secs(4));
        }
        assert_eq!(n.rxcost(&config), 192);
        n.miss_hello();
        n.miss_hello();
        n.miss_hello();
        assert_eq!(n.cost(&config), INFINITY);
    }

    #[test]
    fn late_hello_is_not_a_loss() {
        let mut h = HelloHistory::new(5);
        h.miss();
        assert_eq!(h.bits & 0x8000, 0);
        assert!(h.receive(6));
        assert_eq!(h.bits & 0xC000, 0xC000);
        assert!(h.receive(7));
        assert_eq!(h.received_count(), 3);
    }

    #[test]
    fn unscheduled_hello_is_not_a_loss() {
        let now = Instant::now();
        let mut n = neighbour();
        n.receive_hello(now, 10, Duration::from_secs(4));
        n.receive_unscheduled_hello(11);
        n.receive_hello(now, 12, Duration::from_secs(4));
        assert_eq!(n.history.received_count(), 3);
        assert_eq!(n.history.bits & 0xE000, 0xE000);
    }

    /// Appendix A.1: a Hello a few seqnos behind the expected one undoes the slots counted as
    /// missed since it, instead of resetting the history (which made a good link look new).
    #[test]
    fn rfc8966_appendix_a_1_hello_behind_undoes_missed_slots() {
        let mut h = HelloHistory::new(5);
        for seqno in 6..12 {
            assert!(h.receive(seqno));
        }
        // Four Hellos counted as missed (12..=15), then 12 arrives, late.
        for _ in 0..4 {
            h.miss();
        }
        assert_eq!(h.received_count(), 7);
        assert_eq!(h.known, 11);
        assert!(h.receive(12), "a late Hello is no restart");
        assert_eq!(h.known, 8, "four slots undone, one recorded");
        assert_eq!(h.received_count(), 8);
        assert_eq!(h.expected_seqno, 13);
        assert!(h.receive(13));
        assert_eq!(h.received_count(), 9);
        // Further behind than the history reaches: a restart.
        assert!(!h.receive(13u16.wrapping_sub(40)));
        assert_eq!(h.known, 1);
    }

    #[test]
    fn seqno_jump_resets_history() {
        let mut h = HelloHistory::new(5);
        h.miss();
        h.miss();
        assert!(!h.receive(1000));
        assert_eq!(h.known, 1);
        assert_eq!(h.expected_seqno, 1001);
    }

    #[test]
    fn rtt_penalty_shape() {
        let c = RttConfig {
            min: Duration::from_millis(10),
            max: Duration::from_millis(110),
            max_penalty: 100,
        };
        assert_eq!(rtt_penalty(&c, Duration::from_millis(5)), 0);
        assert_eq!(rtt_penalty(&c, Duration::from_millis(60)), 50);
        assert_eq!(rtt_penalty(&c, Duration::from_millis(500)), 100);
    }
}
