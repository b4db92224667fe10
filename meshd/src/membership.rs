//! Membership: who may become a peer (`[membership]`), how fast and how many, and the table of
//! those refused, for `meshctl refused`.
//!
//! - `open`: any key (the default a public community mesh wants);
//! - `allowlist`: only the keys in `allow` (and static peers, which the operator chose);
//! - `community`: only nodes that prove the community secret. Their beacons carry a MAC made
//!   with a key derived from it, and every session uses a preshared key derived from it, so an
//!   outsider can neither be discovered nor complete a handshake;
//!   A non-empty `allow` narrows a community to those keys;
//! - `deny` refuses keys in every mode, static peers included.
//!
//! Discovered and inbound peers together are held to `max_peers`, and at most
//! `max_handshakes_per_second` new ones are admitted per second (each starts a handshake): a
//! flood of beacons with fresh keys costs a bounded table and a bounded rate of Diffie-Hellmans.
//! This module decides; it does not touch sockets or sessions.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// The most refused (key, reason) pairs remembered; the least recently seen goes first.
pub const MAX_REFUSED: usize = 64;
/// New refusals waiting to be announced (`meshctl monitor`); beyond this they are only in the
/// table, so a flood cannot grow the queue.
const MAX_NEW_REFUSALS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    #[default]
    Open,
    Allowlist,
    Community,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Open => "open",
            Policy::Allowlist => "allowlist",
            Policy::Community => "community",
        }
    }
}

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// In `deny`.
    Denied,
    /// Allowlist mode, and not in `allow`.
    NotAllowed,
    /// A beacon whose MAC does not match our community secret.
    BadMac,
    /// A beacon of another community (id, or no MAC where we need one).
    OtherCommunity,
    /// Community mode: a handshake from a key we have no authenticated beacon from.
    NoBeacon,
    /// `max_peers` discovered peers already.
    PeerLimit,
    /// More than `max_handshakes_per_second` new peers this second.
    RateLimit,
    /// Its session did not come up in time (a wrong preshared key, or nobody there).
    NoHandshake,
    /// Open policy: a handshake from a stranger that did not come from a discovery interface
    /// (the internet, say). Open means open to the neighbourhood, not to anyone who knows our
    /// public key.
    NotLocal,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Denied => "denied",
            Reason::NotAllowed => "not in allowlist",
            Reason::BadMac => "bad community MAC",
            Reason::OtherCommunity => "other community",
            Reason::NoBeacon => "no authenticated beacon",
            Reason::PeerLimit => "max_peers reached",
            Reason::RateLimit => "handshake rate limit",
            Reason::NoHandshake => "handshake did not complete",
            Reason::NotLocal => "not from a discovery interface",
        }
    }
}

/// One row of the refused table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub key: [u8; 32],
    pub reason: Reason,
    /// Where it came from: an interface name, or an address.
    pub place: String,
    pub count: u64,
    pub last_seen: Instant,
}

/// The settings of `[membership]` and the caps of `[discovery]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rules {
    pub policy: Policy,
    pub allow: BTreeSet<[u8; 32]>,
    pub deny: BTreeSet<[u8; 32]>,
    pub max_peers: usize,
    pub max_handshakes_per_second: u32,
}

#[derive(Debug)]
pub struct Membership {
    rules: Rules,
    /// Admissions left this second, and when the second started.
    admissions_left: u32,
    window_start: Option<Instant>,
    refused: HashMap<([u8; 32], Reason), Refusal>,
    /// Rows added since the driver last asked ([`Membership::poll_new_refusal`]).
    new_refusals: std::collections::VecDeque<Refusal>,
}

impl Membership {
    pub fn new(rules: Rules) -> Membership {
        Membership {
            admissions_left: rules.max_handshakes_per_second,
            rules,
            window_start: None,
            refused: HashMap::new(),
            new_refusals: std::collections::VecDeque::new(),
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// New lists and caps (a reload); the refused table and this second's count are kept.
    pub fn set_rules(&mut self, rules: Rules) {
        self.rules = rules;
    }

    /// A static peer (configuration or `meshctl peers add`): only `deny` applies.
    pub fn check_static(&self, key: &[u8; 32]) -> Result<(), Reason> {
        if self.rules.deny.contains(key) {
            return Err(Reason::Denied);
        }
        Ok(())
    }

    /// Whether a key may be a peer at all by policy (before caps). `authenticated`: it proved
    /// the community secret (a beacon with a good MAC).
    pub fn check_policy(&self, key: &[u8; 32], authenticated: bool) -> Result<(), Reason> {
        self.check_static(key)?;
        match self.rules.policy {
            Policy::Open => Ok(()),
            Policy::Allowlist if self.rules.allow.contains(key) => Ok(()),
            Policy::Allowlist => Err(Reason::NotAllowed),
            Policy::Community if !authenticated => Err(Reason::NoBeacon),
            Policy::Community if self.rules.allow.is_empty() || self.rules.allow.contains(key) => {
                Ok(())
            }
            Policy::Community => Err(Reason::NotAllowed),
        }
    }

    /// Admits a new discovered or inbound peer: policy, then `max_peers` (given how many
    /// discovered peers there are), then the rate. Consumes one admission on success.
    pub fn admit(
        &mut self,
        now: Instant,
        key: &[u8; 32],
        authenticated: bool,
        discovered: usize,
    ) -> Result<(), Reason> {
        self.check_policy(key, authenticated)?;
        if discovered >= self.rules.max_peers {
            return Err(Reason::PeerLimit);
        }
        let new_window = self
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= Duration::from_secs(1));
        if new_window {
            self.window_start = Some(now);
            self.admissions_left = self.rules.max_handshakes_per_second;
        }
        if self.admissions_left == 0 {
            return Err(Reason::RateLimit);
        }
        self.admissions_left -= 1;
        Ok(())
    }

    /// Records a refusal. The table holds [`MAX_REFUSED`] rows: a flood of fresh keys pushes
    /// out the least recently seen, it does not grow the table.
    pub fn refuse(&mut self, now: Instant, key: [u8; 32], reason: Reason, place: &str) {
        if let Some(row) = self.refused.get_mut(&(key, reason)) {
            row.count += 1;
            row.last_seen = now;
            if row.place != place {
                place.clone_into(&mut row.place);
            }
            return;
        }
        if self.refused.len() >= MAX_REFUSED {
            let oldest = self
                .refused
                .iter()
                .min_by_key(|(_, row)| row.last_seen)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.refused.remove(&oldest);
            }
        }
        let row = Refusal {
            key,
            reason,
            place: place.to_owned(),
            count: 1,
            last_seen: now,
        };
        if self.new_refusals.len() < MAX_NEW_REFUSALS {
            self.new_refusals.push_back(row.clone());
        }
        self.refused.insert((key, reason), row);
    }

    /// A key refused for a reason it had not been refused for (or not recently), once.
    pub fn poll_new_refusal(&mut self) -> Option<Refusal> {
        self.new_refusals.pop_front()
    }

    /// The refused table, most recently seen first.
    pub fn refused(&self) -> Vec<Refusal> {
        let mut rows: Vec<Refusal> = self.refused.values().cloned().collect();
        rows.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.key.cmp(&b.key)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(policy: Policy) -> Rules {
        Rules {
            policy,
            allow: [[1; 32]].into_iter().collect(),
            deny: [[2; 32]].into_iter().collect(),
            max_peers: 3,
            max_handshakes_per_second: 2,
        }
    }

    #[test]
    fn policies() {
        let open = Membership::new(rules(Policy::Open));
        assert_eq!(open.check_policy(&[5; 32], false), Ok(()));
        assert_eq!(open.check_policy(&[2; 32], true), Err(Reason::Denied));
        assert_eq!(open.check_static(&[2; 32]), Err(Reason::Denied));
        let allow = Membership::new(rules(Policy::Allowlist));
        assert_eq!(allow.check_policy(&[1; 32], false), Ok(()));
        assert_eq!(allow.check_policy(&[5; 32], true), Err(Reason::NotAllowed));
        assert_eq!(
            allow.check_static(&[5; 32]),
            Ok(()),
            "static peers are chosen"
        );
        let narrowed = Membership::new(rules(Policy::Community));
        assert_eq!(narrowed.check_policy(&[1; 32], true), Ok(()));
        assert_eq!(
            narrowed.check_policy(&[5; 32], true),
            Err(Reason::NotAllowed)
        );
        let community = Membership::new(Rules {
            allow: BTreeSet::new(),
            ..rules(Policy::Community)
        });
        assert_eq!(community.check_policy(&[5; 32], true), Ok(()));
        assert_eq!(
            community.check_policy(&[5; 32], false),
            Err(Reason::NoBeacon)
        );
        assert_eq!(community.check_policy(&[2; 32], true), Err(Reason::Denied));
    }

    #[test]
    fn caps_and_rate() {
        let t0 = Instant::now();
        let mut m = Membership::new(rules(Policy::Open));
        assert_eq!(m.admit(t0, &[5; 32], false, 0), Ok(()));
        assert_eq!(m.admit(t0, &[6; 32], false, 1), Ok(()));
        assert_eq!(m.admit(t0, &[7; 32], false, 2), Err(Reason::RateLimit));
        let next = t0 + Duration::from_secs(1);
        assert_eq!(m.admit(next, &[7; 32], false, 2), Ok(()));
        assert_eq!(m.admit(next, &[8; 32], false, 3), Err(Reason::PeerLimit));
        assert_eq!(m.admit(next, &[2; 32], false, 0), Err(Reason::Denied));
    }

    #[test]
    fn refused_table_counts_and_stays_bounded() {
        let t0 = Instant::now();
        let mut m = Membership::new(rules(Policy::Allowlist));
        m.refuse(t0, [5; 32], Reason::NotAllowed, "lan0");
        m.refuse(
            t0 + Duration::from_secs(1),
            [5; 32],
            Reason::NotAllowed,
            "lan1",
        );
        let rows = m.refused();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].count, 2);
        assert_eq!(
            m.poll_new_refusal().map(|r| r.count),
            Some(1),
            "announced once"
        );
        assert_eq!(m.poll_new_refusal(), None);
        assert_eq!(rows[0].place, "lan1");
        for i in 0..1000u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            key[31] = 1;
            m.refuse(
                t0 + Duration::from_secs(2) + Duration::from_millis(u64::from(i)),
                key,
                Reason::PeerLimit,
                "lan0",
            );
        }
        let rows = m.refused();
        assert_eq!(rows.len(), MAX_REFUSED);
        let announced = std::iter::from_fn(|| m.poll_new_refusal()).count();
        assert_eq!(
            announced, MAX_NEW_REFUSALS,
            "the announcement queue is bounded"
        );
        assert_eq!(
            rows[0].key[..4],
            999u32.to_le_bytes(),
            "newest first, oldest evicted"
        );
        assert!(rows.iter().all(|r| r.key != [5; 32]));
    }
}
