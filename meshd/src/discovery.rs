//! Discovery: beacons on the underlay interfaces named in `[discovery]`, and the table of the
//! peers they found.
//!
//! Every `interval` (jittered ±25 %) meshd sends one small UDP datagram, the *beacon*, from each
//! matching interface's link-local address to the link-local multicast group [`GROUP`] on
//! [`DEFAULT_PORT`] (or `[discovery] port`). It says who we are (public key), where our tunnels
//! listen (UDP port), which community we belong to, and, with a community secret, carries a MAC.
//! A beacon heard on interface `i` from `fe80::x` names the peer's tunnel endpoint
//! `[fe80::x%i]:<port>`; the WireGuard handshake does the rest.
//!
//! This module is sans-socket and takes `now` from the driver: it parses and builds beacons,
//! decides when each interface is due to send, and keeps the discovered peers with the time of
//! their last beacon. Whether a key may join is [`crate::membership`]'s decision; the sockets,
//! the netlink watch and the sessions are the driver's (`daemon.rs`).
//!
//! # The beacon (version 1), big-endian
//!
//! ```text
//!  0  4  magic "MSHB"
//!  4  1  version (1)
//!  5  1  flags: bit 0 = a MAC follows; other bits are ignored by version 1 receivers
//!  6  2  tunnel UDP port of the sender
//!  8  8  counter: the sender's clock in milliseconds; only ever compared with the same sender's
//!        earlier beacons (replay), so routers without a real-time clock are fine
//! 16 32  the sender's WireGuard public key
//! 48  1  length n of the community id (0..=32)
//! 49  n  community id (printable ASCII)
//! 49+n 16 MAC (if flag 0): keyed BLAKE2s-128 of bytes 0..49+n, key derived from the secret
//! ```
//!
//! Anything else (short, long, other magic or version, a MAC flag without a secret) is counted
//! and dropped before any cryptography; a MAC is only computed for a well-formed beacon of our
//! own community.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use blake2::digest::consts::U16;
use blake2::digest::Mac;
use blake2::{Blake2sMac, Blake2sMac256};

/// The link-local multicast group beacons go to: `ff02::6d65:7368` ("mesh" in ASCII), not
/// assigned in IANA's link-local multicast registry.
pub const GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0x6d65, 0x7368);
/// The UDP port beacons are sent to and heard on, one above WireGuard's usual 51820.
pub const DEFAULT_PORT: u16 = 51821;

const MAGIC: &[u8; 4] = b"MSHB";
const VERSION: u8 = 1;
const FLAG_MAC: u8 = 0x01;
const HEADER_LEN: usize = 49;
const MAC_LEN: usize = 16;
/// The longest community id, in bytes.
pub const MAX_COMMUNITY_ID: usize = 32;
/// The longest beacon: header, the longest community id, a MAC.
pub const MAX_BEACON_LEN: usize = HEADER_LEN + MAX_COMMUNITY_ID + MAC_LEN;

/// Beacons sent quickly after an interface appears, so a freshly powered router is heard at
/// once even if the first one is lost: offsets from the moment it appeared.
const STARTUP_BEACONS: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(600),
    Duration::from_millis(1800),
];
/// On hearing a new neighbour we answer with an early beacon on that interface, at most this
/// often, so a new router learns its neighbours without waiting a whole interval.
const EARLY_BEACON_GAP: Duration = Duration::from_secs(1);
/// A discovered peer whose session never came up is given up after this long.
pub const PENDING_TIMEOUT: Duration = Duration::from_secs(20);
/// Beacons missed before a peer counts as gone (it is removed once its session is dead too).
const MISSED_BEACONS: u32 = 3;

/// What is wrong with a datagram on the beacon port. Counted, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dropped {
    /// Not a version 1 beacon of the right length.
    Malformed,
    /// A beacon of another community id, or with/without a MAC where we expect the opposite.
    OtherCommunity,
    /// The MAC does not match our community secret.
    BadMac,
    /// Not newer than the last beacon accepted from that key.
    Replayed,
    /// Our own beacon, looped back.
    Own,
    /// From an address that is not link-local, or on an interface we do not run discovery on.
    NotLinkLocal,
}

impl Dropped {
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::Malformed => "malformed",
            Dropped::OtherCommunity => "other community",
            Dropped::BadMac => "bad MAC",
            Dropped::Replayed => "replayed",
            Dropped::Own => "own",
            Dropped::NotLinkLocal => "not link-local",
        }
    }
}

/// A beacon, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beacon {
    pub public_key: [u8; 32],
    pub port: u16,
    pub counter: u64,
    pub community_id: String,
    pub has_mac: bool,
}

/// The community secret's derived keys.
#[derive(Clone, PartialEq, Eq)]
pub struct CommunityKeys {
    /// Authenticates beacons.
    pub beacon: [u8; 32],
    /// The WireGuard preshared key of every session in the community.
    pub preshared: [u8; 32],
}

impl std::fmt::Debug for CommunityKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommunityKeys(..)") // never print key material
    }
}

impl CommunityKeys {
    /// Derives independent keys for the two uses, so a leak of one reveals nothing of the other.
    pub fn derive(secret: &[u8; 32]) -> CommunityKeys {
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut mac = <Blake2sMac256 as Mac>::new_from_slice(secret)
                .unwrap_or_else(|_| unreachable!("32-byte keys are valid for BLAKE2s"));
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        CommunityKeys {
            beacon: derive(b"meshd community beacon v1"),
            preshared: derive(b"meshd community wireguard psk v1"),
        }
    }
}

fn beacon_mac(key: &[u8; 32], bytes: &[u8]) -> [u8; MAC_LEN] {
    let mut mac = <Blake2sMac<U16> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("32-byte keys are valid for BLAKE2s"));
    mac.update(bytes);
    mac.finalize().into_bytes().into()
}

/// Writes a beacon into `out` (cleared first); with `mac_key`, authenticated.
pub fn emit(beacon: &Beacon, mac_key: Option<&[u8; 32]>, out: &mut Vec<u8>) {
    out.clear();
    let id = beacon.community_id.as_bytes();
    let id = &id[..id.len().min(MAX_COMMUNITY_ID)];
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(if mac_key.is_some() { FLAG_MAC } else { 0 });
    out.extend_from_slice(&beacon.port.to_be_bytes());
    out.extend_from_slice(&beacon.counter.to_be_bytes());
    out.extend_from_slice(&beacon.public_key);
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    if let Some(key) = mac_key {
        let mac = beacon_mac(key, out);
        out.extend_from_slice(&mac);
    }
}

/// Parses a beacon and checks it belongs to our community (`community_id`, and the MAC with
/// `mac_key` when we have a secret). Cheap checks first: the MAC is computed last.
pub fn parse(
    bytes: &[u8],
    community_id: &str,
    mac_key: Option<&[u8; 32]>,
) -> Result<Beacon, Dropped> {
    if bytes.len() < HEADER_LEN || &bytes[0..4] != MAGIC || bytes[4] != VERSION {
        return Err(Dropped::Malformed);
    }
    let has_mac = bytes[5] & FLAG_MAC != 0;
    let id_len = usize::from(bytes[48]);
    let body_len = HEADER_LEN + id_len;
    let expected = body_len + if has_mac { MAC_LEN } else { 0 };
    if id_len > MAX_COMMUNITY_ID || bytes.len() != expected {
        return Err(Dropped::Malformed);
    }
    let id = &bytes[HEADER_LEN..body_len];
    if !id.iter().all(|b| b.is_ascii_graphic()) {
        return Err(Dropped::Malformed);
    }
    if id != community_id.as_bytes() || has_mac != mac_key.is_some() {
        return Err(Dropped::OtherCommunity);
    }
    if let Some(key) = mac_key {
        let expected = beacon_mac(key, &bytes[..body_len]);
        // Not constant-time: the MAC is over public data, and a forger learns nothing useful
        // from timing a 16-byte comparison of a value it cannot compute.
        if bytes[body_len..] != expected {
            return Err(Dropped::BadMac);
        }
    }
    let mut public_key = [0u8; 32];
    public_key.copy_from_slice(&bytes[16..48]);
    let mut counter = [0u8; 8];
    counter.copy_from_slice(&bytes[8..16]);
    Ok(Beacon {
        public_key,
        port: u16::from_be_bytes([bytes[6], bytes[7]]),
        counter: u64::from_be_bytes(counter),
        community_id: String::from_utf8_lossy(id).into_owned(),
        has_mac,
    })
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters and `?` for one.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matching with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The settings discovery runs with (from `[discovery]` and `[membership]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub interval: Duration,
    pub community_id: String,
    pub keys: Option<CommunityKeys>,
    pub our_key: [u8; 32],
    pub tunnel_port: u16,
}

/// One interface discovery runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub link_local: Ipv6Addr,
    next_beacon: Instant,
    startup_left: usize,
    appeared: Instant,
    last_early: Option<Instant>,
    pub beacons_sent: u64,
    pub bytes_sent: u64,
}

/// How a discovered peer came to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// We heard its beacon.
    Beacon,
    /// It sent us a handshake first (open and allowlist modes).
    Inbound,
}

/// A peer found by discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub origin: Origin,
    /// Interface of the last beacon (or of the inbound handshake, if link-local).
    pub interface: Option<String>,
    pub endpoint: Option<SocketAddrV6>,
    pub last_beacon: Option<Instant>,
    pub counter: u64,
    pub added: Instant,
    /// Whether its session has ever been up.
    pub was_up: bool,
}

/// What the driver should do with a beacon that passed [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A peer we already have: its beacon refreshed it.
    Known {
        key: [u8; 32],
        endpoint: SocketAddrV6,
    },
    /// A key we have not discovered: ask membership, then [`Discovery::add`].
    New {
        key: [u8; 32],
        endpoint: SocketAddrV6,
        counter: u64,
        interface: String,
    },
}

/// Counters for `meshctl discovery`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub received: u64,
    pub dropped: BTreeMap<Dropped, u64>,
}

/// The discovery state of one node.
#[derive(Debug)]
pub struct Discovery {
    settings: Settings,
    interfaces: BTreeMap<u32, Interface>,
    peers: HashMap<[u8; 32], Discovered>,
    rng: u64,
    stats: Stats,
    scratch: Vec<u8>,
    /// The counter of our last beacon.
    last_counter: u64,
}

impl Discovery {
    pub fn new(settings: Settings, seed: u64) -> Discovery {
        Discovery {
            settings,
            interfaces: BTreeMap::new(),
            peers: HashMap::new(),
            rng: seed | 1,
            stats: Stats::default(),
            scratch: Vec::with_capacity(MAX_BEACON_LEN),
            last_counter: 0,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: jitter only, nothing secret depends on it.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `interval` ±25 %.
    fn jittered_interval(&mut self) -> Duration {
        let base = self.settings.interval.as_millis() as u64;
        let spread = base / 2;
        let offset = if spread == 0 {
            0
        } else {
            self.random() % (spread + 1)
        };
        Duration::from_millis(base - base / 4 + offset)
    }

    pub fn interfaces(&self) -> impl Iterator<Item = &Interface> {
        self.interfaces.values()
    }

    pub fn interface_name(&self, index: u32) -> Option<&str> {
        self.interfaces.get(&index).map(|i| i.name.as_str())
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The interfaces that match now, from a scan: `(index, name, link-local address)`. Returns
    /// the indexes that appeared and those that went away, for the driver's multicast joins.
    pub fn set_interfaces(
        &mut self,
        now: Instant,
        current: &[(u32, String, Ipv6Addr)],
    ) -> (Vec<u32>, Vec<u32>) {
        let gone: Vec<u32> = self
            .interfaces
            .keys()
            .copied()
            .filter(|index| !current.iter().any(|(i, _, _)| i == index))
            .collect();
        for index in &gone {
            self.interfaces.remove(index);
        }
        let mut appeared = Vec::new();
        for (index, name, link_local) in current {
            match self.interfaces.get_mut(index) {
                Some(interface) => {
                    interface.name.clone_from(name);
                    interface.link_local = *link_local;
                }
                None => {
                    self.interfaces.insert(
                        *index,
                        Interface {
                            name: name.clone(),
                            index: *index,
                            link_local: *link_local,
                            next_beacon: now + STARTUP_BEACONS[0],
                            startup_left: STARTUP_BEACONS.len(),
                            appeared: now,
                            last_early: None,
                            beacons_sent: 0,
                            bytes_sent: 0,
                        },
                    );
                    appeared.push(*index);
                }
            }
        }
        (appeared, gone)
    }

    /// When the next beacon is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.interfaces.values().map(|i| i.next_beacon).min()
    }

    /// Beacons due by `now`, as `(interface index, datagram)`. `clock_ms` is the wall clock in
    /// milliseconds since 1970, as the driver read it: the beacons' counter.
    pub fn poll_beacons(&mut self, now: Instant, clock_ms: u64) -> Vec<(u32, Vec<u8>)> {
        let due: Vec<u32> = self
            .interfaces
            .values()
            .filter(|i| i.next_beacon <= now)
            .map(|i| i.index)
            .collect();
        let mut out = Vec::with_capacity(due.len());
        for index in due {
            let next = self.jittered_interval();
            // The clock, but strictly increasing: beacons on two interfaces in the same
            // millisecond, or a clock stepped back, must not look like replays.
            let counter = clock_ms.max(self.last_counter + 1);
            self.last_counter = counter;
            let beacon = Beacon {
                public_key: self.settings.our_key,
                port: self.settings.tunnel_port,
                counter,
                community_id: self.settings.community_id.clone(),
                has_mac: self.settings.keys.is_some(),
            };
            let mut bytes = std::mem::take(&mut self.scratch);
            emit(
                &beacon,
                self.settings.keys.as_ref().map(|k| &k.beacon),
                &mut bytes,
            );
            let Some(interface) = self.interfaces.get_mut(&index) else {
                continue;
            };
            interface.beacons_sent += 1;
            // IPv6 and UDP headers too: what the beacon costs the link.
            interface.bytes_sent += bytes.len() as u64 + 48;
            interface.next_beacon = if interface.startup_left > 1 {
                interface.startup_left -= 1;
                let step = STARTUP_BEACONS.len() - interface.startup_left;
                interface.appeared + STARTUP_BEACONS[step]
            } else {
                interface.startup_left = 0;
                now + next
            };
            out.push((index, bytes.clone()));
            self.scratch = bytes;
        }
        out
    }

    /// A datagram arrived on the beacon port from `from` (link-local, its scope the interface).
    pub fn handle_datagram(&mut self, from: SocketAddrV6, bytes: &[u8]) -> Result<Heard, Dropped> {
        self.stats.received += 1;
        let result = self.check(from, bytes);
        if let Err(dropped) = result {
            *self.stats.dropped.entry(dropped).or_insert(0) += 1;
        }
        result
    }

    fn check(&mut self, from: SocketAddrV6, bytes: &[u8]) -> Result<Heard, Dropped> {
        let link_local = from.ip().is_unicast_link_local();
        let Some(interface) = self.interfaces.get(&from.scope_id()) else {
            return Err(Dropped::NotLinkLocal);
        };
        if !link_local {
            return Err(Dropped::NotLinkLocal);
        }
        let interface = interface.name.clone();
        let beacon = parse(
            bytes,
            &self.settings.community_id,
            self.settings.keys.as_ref().map(|k| &k.beacon),
        )?;
        if beacon.public_key == self.settings.our_key {
            return Err(Dropped::Own);
        }
        if beacon.port == 0 {
            return Err(Dropped::Malformed);
        }
        let endpoint = SocketAddrV6::new(*from.ip(), beacon.port, 0, from.scope_id());
        let key = beacon.public_key;
        match self.peers.get(&key) {
            Some(peer) if peer.origin == Origin::Beacon && beacon.counter <= peer.counter => {
                Err(Dropped::Replayed)
            }
            Some(_) => Ok(Heard::Known { key, endpoint }),
            None => Ok(Heard::New {
                key,
                endpoint,
                counter: beacon.counter,
                interface,
            }),
        }
    }

    /// Records a refreshed peer's beacon.
    pub fn refresh(&mut self, now: Instant, key: &[u8; 32], endpoint: SocketAddrV6, counter: u64) {
        let name = self.interface_name(endpoint.scope_id()).map(str::to_owned);
        if let Some(peer) = self.peers.get_mut(key) {
            peer.origin = Origin::Beacon;
            peer.last_beacon = Some(now);
            peer.counter = peer.counter.max(counter);
            peer.endpoint = Some(endpoint);
            peer.interface = name;
        }
    }

    /// The counter of a datagram already accepted by [`Discovery::handle_datagram`].
    pub fn counter_of(bytes: &[u8]) -> u64 {
        let mut counter = [0u8; 8];
        if let Some(b) = bytes.get(8..16) {
            counter.copy_from_slice(b);
        }
        u64::from_be_bytes(counter)
    }

    /// Schedules an early beacon on `index`: a new neighbour appeared there and should learn of
    /// us without waiting for the interval. At most one per [`EARLY_BEACON_GAP`].
    pub fn answer_soon(&mut self, now: Instant, index: u32) {
        let delay = Duration::from_millis(20 + self.random() % 80);
        let Some(interface) = self.interfaces.get_mut(&index) else {
            return;
        };
        if interface
            .last_early
            .is_some_and(|t| now.saturating_duration_since(t) < EARLY_BEACON_GAP)
        {
            return;
        }
        interface.last_early = Some(now);
        interface.next_beacon = interface.next_beacon.min(now + delay);
    }

    pub fn add(&mut self, key: [u8; 32], peer: Discovered) {
        self.peers.insert(key, peer);
    }

    pub fn remove(&mut self, key: &[u8; 32]) -> Option<Discovered> {
        self.peers.remove(key)
    }

    pub fn get(&self, key: &[u8; 32]) -> Option<&Discovered> {
        self.peers.get(key)
    }

    pub fn contains(&self, key: &[u8; 32]) -> bool {
        self.peers.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    pub fn is_active(&self, index: u32) -> bool {
        self.interfaces.contains_key(&index)
    }

    /// Discovered peers to remove now, given whether each one's session is up: those whose
    /// session never came up within [`PENDING_TIMEOUT`], and those whose beacons stopped
    /// ([`MISSED_BEACONS`] intervals) while their session is dead.
    pub fn expired(
        &mut self,
        now: Instant,
        is_up: impl Fn(&[u8; 32]) -> bool,
    ) -> Vec<([u8; 32], Discovered)> {
        let silence = self.settings.interval * MISSED_BEACONS + Duration::from_secs(1);
        let mut out = Vec::new();
        for (key, peer) in self.peers.iter_mut() {
            let up = is_up(key);
            peer.was_up |= up;
            if up {
                continue;
            }
            let pending_too_long =
                !peer.was_up && now.saturating_duration_since(peer.added) >= PENDING_TIMEOUT;
            let heard = peer.last_beacon.unwrap_or(peer.added);
            let beacons_stopped = now.saturating_duration_since(heard) >= silence;
            if pending_too_long || (peer.was_up && beacons_stopped) {
                out.push(*key);
            }
        }
        out.into_iter()
            .filter_map(|key| self.peers.remove(&key).map(|peer| (key, peer)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const OURS: [u8; 32] = [9; 32];
    /// The wall clock the tests' driver reads: 2023-11-14T22:13:20Z.
    const CLOCK_MS: u64 = 1_700_000_000_000;

    fn beacon(id: &str) -> Beacon {
        Beacon {
            public_key: KEY,
            port: 51820,
            counter: 1_700_000_000_000,
            community_id: id.to_string(),
            has_mac: false,
        }
    }

    fn bytes(b: &Beacon, key: Option<&[u8; 32]>) -> Vec<u8> {
        let mut out = Vec::new();
        emit(b, key, &mut out);
        out
    }

    #[test]
    fn round_trip_without_and_with_mac() {
        let plain = beacon("");
        let wire = bytes(&plain, None);
        assert_eq!(wire.len(), 49);
        assert_eq!(&wire[..6], b"MSHB\x01\x00");
        assert_eq!(&wire[6..8], &51820u16.to_be_bytes());
        assert_eq!(parse(&wire, "", None), Ok(plain));

        let keys = CommunityKeys::derive(&[3; 32]);
        let mut signed = beacon("harbour");
        signed.has_mac = true;
        let wire = bytes(&signed, Some(&keys.beacon));
        assert_eq!(wire.len(), 49 + 7 + 16);
        assert_eq!(wire[5], FLAG_MAC);
        assert_eq!(parse(&wire, "harbour", Some(&keys.beacon)), Ok(signed));
        assert!(wire.len() <= MAX_BEACON_LEN);
    }

    #[test]
    fn malformed_beacons_are_refused_without_panic() {
        let wire = bytes(&beacon("x"), None);
        for len in 0..wire.len() {
            assert_eq!(parse(&wire[..len], "x", None), Err(Dropped::Malformed));
        }
        let mut long = wire.clone();
        long.push(0);
        assert_eq!(parse(&long, "x", None), Err(Dropped::Malformed));
        let mut bad_magic = wire.clone();
        bad_magic[0] = b'X';
        assert_eq!(parse(&bad_magic, "x", None), Err(Dropped::Malformed));
        let mut version2 = wire.clone();
        version2[4] = 2;
        assert_eq!(parse(&version2, "x", None), Err(Dropped::Malformed));
        let mut huge_id = wire.clone();
        huge_id[48] = 200;
        assert_eq!(parse(&huge_id, "x", None), Err(Dropped::Malformed));
        let mut control_char = wire.clone();
        control_char[49] = b'\n';
        assert_eq!(parse(&control_char, "\n", None), Err(Dropped::Malformed));
        // Every byte value at every position: no panic, whatever comes out.
        for at in 0..wire.len() {
            for value in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = wire.clone();
                b[at] = value;
                let _ = parse(&b, "x", None);
            }
        }
    }

    #[test]
    fn wrong_community_and_bad_mac() {
        let keys = CommunityKeys::derive(&[3; 32]);
        let other = CommunityKeys::derive(&[4; 32]);
        let mut b = beacon("harbour");
        b.has_mac = true;
        let wire = bytes(&b, Some(&keys.beacon));
        assert_eq!(
            parse(&wire, "harbour", Some(&other.beacon)),
            Err(Dropped::BadMac)
        );
        assert_eq!(
            parse(&wire, "market", Some(&keys.beacon)),
            Err(Dropped::OtherCommunity)
        );
        assert_eq!(parse(&wire, "harbour", None), Err(Dropped::OtherCommunity));
        let plain = bytes(&beacon("harbour"), None);
        assert_eq!(
            parse(&plain, "harbour", Some(&keys.beacon)),
            Err(Dropped::OtherCommunity),
            "an unauthenticated beacon in a community with a secret"
        );
        // A flipped bit anywhere in the signed part breaks the MAC.
        for at in [6, 8, 20, 47] {
            let mut tampered = wire.clone();
            tampered[at] ^= 1;
            assert_eq!(
                parse(&tampered, "harbour", Some(&keys.beacon)),
                Err(Dropped::BadMac),
                "byte {at}"
            );
        }
    }

    #[test]
    fn derived_keys_differ_from_each_other_and_the_secret() {
        let keys = CommunityKeys::derive(&[3; 32]);
        assert_ne!(keys.beacon, keys.preshared);
        assert_ne!(keys.beacon, [3; 32]);
        assert_eq!(keys, CommunityKeys::derive(&[3; 32]));
        assert_ne!(keys, CommunityKeys::derive(&[5; 32]));
    }

    #[test]
    fn globs() {
        assert!(glob_match("lan*", "lan1"));
        assert!(glob_match("lan*", "lan"));
        assert!(!glob_match("lan*", "wlan0"));
        assert!(glob_match("*mesh*", "wlan0-mesh"));
        assert!(glob_match("eth?", "eth0"));
        assert!(!glob_match("eth?", "eth10"));
        assert!(glob_match("wlan0-mesh", "wlan0-mesh"));
        assert!(!glob_match("wlan0-mesh", "wlan0-mesh2"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }

    fn discovery(interval: Duration) -> Discovery {
        Discovery::new(
            Settings {
                interval,
                community_id: String::new(),
                keys: None,
                our_key: OURS,
                tunnel_port: 51820,
            },
            42,
        )
    }

    fn link_local(last: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last)
    }

    #[test]
    fn startup_beacons_then_jittered_interval() {
        let t0 = Instant::now();
        let mut d = discovery(Duration::from_secs(4));
        let (appeared, gone) = d.set_interfaces(t0, &[(3, "lan0".into(), link_local(1))]);
        assert_eq!((appeared, gone), (vec![3], vec![]));
        let mut sent = Vec::new();
        let mut now = t0;
        for _ in 0..2000 {
            now += Duration::from_millis(50);
            for (index, bytes) in d.poll_beacons(now, CLOCK_MS) {
                assert_eq!(index, 3);
                assert!(parse(&bytes, "", None).is_ok());
                sent.push(now - t0);
            }
        }
        // Three start-up beacons inside 2 s, then every 3..5 s over the remaining ~98 s.
        assert!(
            sent[..3].iter().all(|t| *t <= Duration::from_secs(2)),
            "{sent:?}"
        );
        for pair in sent[3..].windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= Duration::from_secs(3) && gap <= Duration::from_millis(5050));
        }
        assert!((20..=35).contains(&sent.len()), "{} beacons", sent.len());
        let iface = d.interfaces().next().expect("one interface");
        assert_eq!(iface.beacons_sent as usize, sent.len());
        assert_eq!(iface.bytes_sent, sent.len() as u64 * (49 + 48));
    }

    #[test]
    fn beacons_are_accepted_refreshed_and_replays_dropped() {
        let t0 = Instant::now();
        let mut d = discovery(Duration::from_secs(4));
        d.set_interfaces(t0, &[(3, "lan0".into(), link_local(1))]);
        let from = SocketAddrV6::new(link_local(2), 51821, 0, 3);
        let wire = bytes(&beacon(""), None);
        let Ok(Heard::New {
            key,
            endpoint,
            counter,
            interface,
        }) = d.handle_datagram(from, &wire)
        else {
            panic!("a new neighbour");
        };
        assert_eq!(key, KEY);
        assert_eq!(endpoint, SocketAddrV6::new(link_local(2), 51820, 0, 3));
        assert_eq!(interface, "lan0");
        d.add(
            key,
            Discovered {
                origin: Origin::Beacon,
                interface: Some(interface),
                endpoint: Some(endpoint),
                last_beacon: Some(t0),
                counter,
                added: t0,
                was_up: false,
            },
        );
        assert_eq!(d.handle_datagram(from, &wire), Err(Dropped::Replayed));
        let mut newer = beacon("");
        newer.counter += 1;
        assert!(matches!(
            d.handle_datagram(from, &bytes(&newer, None)),
            Ok(Heard::Known { .. })
        ));
        // Our own beacon, a global source, an interface we do not run on.
        let mut own = beacon("");
        own.public_key = OURS;
        assert_eq!(
            d.handle_datagram(from, &bytes(&own, None)),
            Err(Dropped::Own)
        );
        let global = SocketAddrV6::new("fd00::2".parse().unwrap(), 51821, 0, 3);
        assert_eq!(d.handle_datagram(global, &wire), Err(Dropped::NotLinkLocal));
        let elsewhere = SocketAddrV6::new(link_local(2), 51821, 0, 9);
        assert_eq!(
            d.handle_datagram(elsewhere, &wire),
            Err(Dropped::NotLinkLocal)
        );
        assert_eq!(d.stats().received, 6);
        assert_eq!(d.stats().dropped[&Dropped::NotLinkLocal], 2);
    }

    #[test]
    fn peers_expire_when_pending_too_long_or_silent_and_down() {
        let t0 = Instant::now();
        let mut d = discovery(Duration::from_secs(2));
        let peer = |added| Discovered {
            origin: Origin::Beacon,
            interface: None,
            endpoint: None,
            last_beacon: Some(added),
            counter: 0,
            added,
            was_up: false,
        };
        d.add([1; 32], peer(t0));
        d.add([2; 32], peer(t0));
        // [1] comes up, [2] never does.
        let up = |k: &[u8; 32]| *k == [1; 32];
        let keys = |list: Vec<([u8; 32], Discovered)>| -> Vec<[u8; 32]> {
            list.into_iter().map(|(k, _)| k).collect()
        };
        assert!(d.expired(t0 + Duration::from_secs(5), up).is_empty());
        assert_eq!(keys(d.expired(t0 + PENDING_TIMEOUT, up)), vec![[2; 32]]);
        // [1]: beacons stopped long ago, but its session is up: kept. Once down: removed.
        assert!(d.expired(t0 + Duration::from_secs(60), up).is_empty());
        let gone = d.expired(t0 + Duration::from_secs(61), |_| false);
        assert_eq!(keys(gone.clone()), vec![[1; 32]]);
        assert!(gone[0].1.was_up);
        assert!(d.is_empty());
    }

    #[test]
    fn counters_increase_across_interfaces() {
        let t0 = Instant::now();
        let mut d = discovery(Duration::from_secs(4));
        d.set_interfaces(
            t0,
            &[
                (3, "lan0".into(), link_local(1)),
                (4, "lan1".into(), link_local(1)),
            ],
        );
        let sent = d.poll_beacons(t0 + Duration::from_secs(1), CLOCK_MS);
        assert_eq!(sent.len(), 2);
        let counters: Vec<u64> = sent
            .iter()
            .map(|(_, b)| parse(b, "", None).expect("a beacon").counter)
            .collect();
        assert_eq!(counters, [CLOCK_MS, CLOCK_MS + 1]);
        // The counter is the driver's clock, never less than one past the last one sent, even
        // when the clock is stepped back.
        let later = d.poll_timeout().expect("next beacon due");
        let sent = d.poll_beacons(later, CLOCK_MS - 60_000);
        let counter = parse(&sent[0].1, "", None).expect("a beacon").counter;
        assert_eq!(counter, CLOCK_MS + 2);
        let later = d.poll_timeout().expect("next beacon due");
        let sent = d.poll_beacons(later, CLOCK_MS + 5_000);
        let counter = parse(&sent[0].1, "", None).expect("a beacon").counter;
        assert_eq!(counter, CLOCK_MS + 5_000);
    }

    #[test]
    fn interfaces_come_and_go_and_answers_are_rate_limited() {
        let t0 = Instant::now();
        let mut d = discovery(Duration::from_secs(30));
        d.set_interfaces(t0, &[(3, "lan0".into(), link_local(1))]);
        let later = t0 + Duration::from_secs(5);
        for _ in 0..4 {
            d.poll_beacons(later, CLOCK_MS);
        }
        assert!(d
            .poll_timeout()
            .is_some_and(|t| t > later + Duration::from_secs(10)));
        d.answer_soon(later, 3);
        assert!(d
            .poll_timeout()
            .is_some_and(|t| t <= later + Duration::from_millis(100)));
        assert_eq!(
            d.poll_beacons(later + Duration::from_millis(100), CLOCK_MS)
                .len(),
            1
        );
        d.answer_soon(later + Duration::from_millis(200), 3);
        assert!(
            d.poll_timeout()
                .is_some_and(|t| t > later + Duration::from_secs(10)),
            "a second answer within a second is not sent"
        );
        let (appeared, gone) = d.set_interfaces(later, &[(4, "lan0".into(), link_local(1))]);
        assert_eq!((appeared, gone), (vec![4], vec![3]));
        assert_eq!(d.interface_name(4), Some("lan0"));
        assert_eq!(d.interface_name(3), None);
    }
}
