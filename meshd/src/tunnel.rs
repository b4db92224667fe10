//! The tunnels: one WireGuard session (boringtun's `noise::Tunn`) per neighbour, all sharing one
//! UDP socket. Each session is one Babel link (RFC 8966 §3.2.2 "interface"), named by a `LinkId`.
//!
//! This module is sans-socket: the driver owns the UDP socket and the clock, hands datagrams in and
//! sends what comes back. It owns the peers' keys, endpoints and liveness (`Up`/`Down`/`Roamed`
//! events); it does not look inside the inner packets (see `inner` and `forward`).
//!
//! Dispatch of a datagram to its session follows boringtun's own device: handshake initiations by
//! the sender's static key (`parse_handshake_anon`), everything else by the receiver index, whose
//! upper 24 bits are the session's slot (`Tunn::new` shifts the index it is given by 8 and keeps
//! the low 8 bits for its own session counter).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use babel::LinkId;
use boringtun::noise::errors::WireGuardError;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};

/// A session with no authenticated packet for this long is `Down`. Babel Hellos every 4 s and
/// WireGuard's passive keepalive (10 s) keep a live session busy, so 15 s of silence means the
/// neighbour or the path is gone, and Babel should drop it at once instead of waiting for its own
/// hello timeouts.
pub const DEAD_AFTER: Duration = Duration::from_secs(15);

/// Handshake messages per second, over all peers, before we demand cookies (WireGuard's DoS
/// defence). Each handshake initiation costs us a Diffie-Hellman just to learn who sent it.
const HANDSHAKES_PER_SECOND: u64 = 100;

/// Session slots are 24 bits: `Tunn::new` shifts the index left by 8.
const SLOT_MASK: u32 = 0x00ff_ffff;

/// WireGuard data overhead (header 16 + tag 16), and the size of the largest handshake message.
const DATA_OVERHEAD: usize = 32;
const HANDSHAKE_INIT_LEN: usize = 148;

/// The largest inner packet we encrypt: an IPv6 jumbogram-free packet fits in 65535 bytes.
const MAX_INNER_PACKET: usize = 65535;

/// One configured neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    pub public_key: [u8; 32],
    /// Where to send; `None` for a peer that will find us (learned from its first handshake).
    pub endpoint: Option<SocketAddr>,
    pub persistent_keepalive: Option<u16>,
    pub preshared_key: Option<[u8; 32]>,
}

/// What happened to a session, for the Babel core and the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelEvent {
    /// The session carries traffic both ways: the first handshake response or data message (the
    /// WireGuard key confirmation) after the session was new or `Down`.
    Up { link: LinkId },
    /// No authenticated packet for `DEAD_AFTER`, or the peer was removed while up.
    Down { link: LinkId },
    /// An authenticated packet came from a new address; replies go there now.
    Roamed { link: LinkId, endpoint: SocketAddr },
}

/// One peer as `meshctl` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerStatus {
    pub link: LinkId,
    pub public_key: [u8; 32],
    pub endpoint: Option<SocketAddr>,
    /// Age of the current session's handshake (boringtun's clock), `None` without a session.
    pub last_handshake: Option<Duration>,
    pub rx_bytes: usize,
    pub tx_bytes: usize,
    pub up: bool,
}

/// Datagrams we refused, by cause. Counted, never fatal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelStats {
    /// Not a WireGuard message, or a handshake with a bad MAC (not meant for our key).
    pub malformed: u32,
    /// A valid handshake initiation from a key that is not one of our peers.
    pub unknown_key: u32,
    /// A message for a session index we do not have (stale, or a removed peer).
    pub unknown_index: u32,
    /// Failed authentication or replay inside a session (boringtun said no).
    pub rejected: u32,
    /// Cookie replies sent because handshakes arrived faster than `HANDSHAKES_PER_SECOND`.
    pub cookies_sent: u32,
    /// Packets for a peer whose address we do not know yet.
    pub no_endpoint: u32,
    /// The caller's buffer could not hold the result (would make boringtun panic).
    pub buffer_too_small: u32,
}

struct Peer {
    tunn: Tunn,
    public_key: [u8; 32],
    endpoint: Option<SocketAddr>,
    up: bool,
    last_authenticated: Option<Instant>,
}

/// All WireGuard sessions of this node.
pub struct Tunnels {
    secret: StaticSecret,
    public: PublicKey,
    peers: HashMap<LinkId, Peer>,
    by_key: HashMap<[u8; 32], LinkId>,
    by_slot: HashMap<u32, LinkId>,
    next_link: u32,
    rate_limiter: Arc<RateLimiter>,
    events: VecDeque<TunnelEvent>,
    /// For handshakes, cookies and flushed queues, so the caller's data buffers may be MTU-sized.
    scratch: Vec<u8>,
    stats: TunnelStats,
}

impl std::fmt::Debug for Tunnels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Tunnels")
            .field("peers", &self.peers.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Which kind of message a datagram was, remembered past the borrow of the datagram.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initiation,
    Response,
    Cookie,
    Data,
}

impl Tunnels {
    pub fn new(private_key: [u8; 32]) -> Tunnels {
        let secret = StaticSecret::from(private_key);
        let public = PublicKey::from(&secret);
        Tunnels {
            rate_limiter: Arc::new(RateLimiter::new(&public, HANDSHAKES_PER_SECOND)),
            secret,
            public,
            peers: HashMap::new(),
            by_key: HashMap::new(),
            by_slot: HashMap::new(),
            next_link: 1,
            events: VecDeque::new(),
            scratch: vec![0; MAX_INNER_PACKET + DATA_OVERHEAD],
            stats: TunnelStats::default(),
        }
    }

    /// Adds a neighbour and returns its link. Link numbers are never reused, so a stale `LinkId`
    /// can never name a different neighbour. Adding a key that is already a peer returns its link
    /// (updating the endpoint if one is given): one session per neighbour.
    pub fn add_peer(&mut self, spec: PeerSpec) -> LinkId {
        if let Some(&link) = self.by_key.get(&spec.public_key) {
            if let Some(endpoint) = spec.endpoint {
                self.set_endpoint(link, endpoint);
            }
            return link;
        }
        let link = self.allocate_link();
        let slot = link.0 & SLOT_MASK;
        let tunn = Tunn::new(
            self.secret.clone(),
            PublicKey::from(spec.public_key),
            spec.preshared_key,
            spec.persistent_keepalive,
            slot,
            None,
        );
        self.peers.insert(
            link,
            Peer {
                tunn,
                public_key: spec.public_key,
                endpoint: spec.endpoint,
                up: false,
                last_authenticated: None,
            },
        );
        self.by_key.insert(spec.public_key, link);
        self.by_slot.insert(slot, link);
        link
    }

    /// The next unused link number whose 24-bit session slot is free. Slots only wrap after 16M
    /// additions; skipping busy ones keeps dispatch unambiguous even then.
    fn allocate_link(&mut self) -> LinkId {
        loop {
            let candidate = self.next_link;
            self.next_link = self.next_link.wrapping_add(1);
            let slot = candidate & SLOT_MASK;
            if slot != 0 && !self.by_slot.contains_key(&slot) {
                return LinkId(candidate);
            }
        }
    }

    /// Forgets a neighbour. If its session was up, a `Down` event follows so the routing core
    /// drops the neighbour through the same path as a dead tunnel.
    pub fn remove_peer(&mut self, link: LinkId) {
        let Some(peer) = self.peers.remove(&link) else {
            return;
        };
        self.by_key.remove(&peer.public_key);
        self.by_slot.remove(&(link.0 & SLOT_MASK));
        if peer.up {
            self.events.push_back(TunnelEvent::Down { link });
        }
    }

    /// Sets where a peer's datagrams go, e.g. after re-resolving its host name.
    pub fn set_endpoint(&mut self, link: LinkId, endpoint: SocketAddr) {
        if let Some(peer) = self.peers.get_mut(&link) {
            peer.endpoint = Some(endpoint);
        }
    }

    pub fn link_of(&self, public_key: &[u8; 32]) -> Option<LinkId> {
        self.by_key.get(public_key).copied()
    }

    pub fn public_key(&self, link: LinkId) -> Option<[u8; 32]> {
        self.peers.get(&link).map(|p| p.public_key)
    }

    pub fn endpoint(&self, link: LinkId) -> Option<SocketAddr> {
        self.peers.get(&link).and_then(|p| p.endpoint)
    }

    pub fn is_up(&self, link: LinkId) -> bool {
        self.peers.get(&link).is_some_and(|p| p.up)
    }

    /// When the peer on `link` last sent us an authenticated packet (data, keepalive or
    /// handshake), if ever.
    pub fn last_authenticated(&self, link: LinkId) -> Option<Instant> {
        self.peers.get(&link).and_then(|p| p.last_authenticated)
    }

    #[cfg(test)]
    pub fn stats(&self) -> TunnelStats {
        self.stats
    }

    /// A datagram arrived on the UDP socket from `from`. A decrypted inner packet is written to
    /// `out` and returned as `(link, length)`; handshake replies, cookies and packets that were
    /// waiting for the session go to `send`. `out` must hold `datagram.len()` bytes, or the
    /// datagram is dropped and counted. (The daemon always admits by policy, so only tests
    /// need this form.)
    #[cfg(test)]
    pub fn decapsulate(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut [u8],
        send: &mut Vec<(SocketAddr, Vec<u8>)>,
    ) -> Option<(LinkId, usize)> {
        self.decapsulate_admitting(now, from, datagram, out, send, &mut |_, _| None)
    }

    /// [`Tunnels::decapsulate`], but a valid handshake initiation from a key that is not a
    /// peer is shown to `admit` (its key and address) first: if it returns a peer, that peer
    /// is added and the initiation answered at once, so an admitted stranger's first
    /// handshake succeeds instead of waiting for its retry.
    pub fn decapsulate_admitting(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut [u8],
        send: &mut Vec<(SocketAddr, Vec<u8>)>,
        admit: &mut dyn FnMut([u8; 32], SocketAddr) -> Option<PeerSpec>,
    ) -> Option<(LinkId, usize)> {
        // MACs first: cheap, and under load it asks for a cookie before we spend a DH on it.
        let (kind, link) = {
            let packet =
                match self
                    .rate_limiter
                    .verify_packet(Some(from.ip()), datagram, &mut self.scratch)
                {
                    Ok(packet) => packet,
                    Err(TunnResult::WriteToNetwork(cookie)) => {
                        self.stats.cookies_sent += 1;
                        send.push((from, cookie.to_vec()));
                        return None;
                    }
                    Err(_) => {
                        self.stats.malformed += 1;
                        return None;
                    }
                };
            match packet {
                Packet::HandshakeInit(init) => {
                    let Ok(half) = parse_handshake_anon(&self.secret, &self.public, &init) else {
                        self.stats.malformed += 1;
                        return None;
                    };
                    let key = half.peer_static_public;
                    let link = match self.by_key.get(&key) {
                        Some(&link) => link,
                        None => match admit(key, from) {
                            Some(spec) if spec.public_key == key => self.add_peer(spec),
                            _ => {
                                self.stats.unknown_key += 1;
                                return None;
                            }
                        },
                    };
                    (Kind::Initiation, link)
                }
                Packet::HandshakeResponse(p) => (Kind::Response, self.slot_link(p.receiver_idx)?),
                Packet::PacketCookieReply(p) => (Kind::Cookie, self.slot_link(p.receiver_idx)?),
                Packet::PacketData(p) => (Kind::Data, self.slot_link(p.receiver_idx)?),
            }
        };

        let peer = self.peers.get_mut(&link)?;
        let mut inner_len = None;
        let authenticated = if kind == Kind::Data {
            // boringtun panics if the ciphertext does not fit.
            if out.len() < datagram.len() {
                self.stats.buffer_too_small += 1;
                return None;
            }
            match peer.tunn.decapsulate(Some(from.ip()), datagram, out) {
                TunnResult::Done => true, // a keepalive
                TunnResult::WriteToTunnelV4(packet, _) | TunnResult::WriteToTunnelV6(packet, _) => {
                    inner_len = Some(packet.len());
                    true
                }
                TunnResult::WriteToNetwork(reply) => {
                    send.push((from, reply.to_vec()));
                    false
                }
                TunnResult::Err(error) => {
                    count_error(&mut self.stats, &error);
                    false
                }
            }
        } else {
            match peer
                .tunn
                .decapsulate(Some(from.ip()), datagram, &mut self.scratch)
            {
                TunnResult::WriteToNetwork(reply) => {
                    send.push((from, reply.to_vec()));
                    // Both handshake messages are authenticated by the peer's static key;
                    // a cookie reply is not (anyone knowing our public key can make one).
                    kind != Kind::Cookie
                }
                TunnResult::Done => false,
                TunnResult::WriteToTunnelV4(..) | TunnResult::WriteToTunnelV6(..) => false,
                TunnResult::Err(error) => {
                    count_error(&mut self.stats, &error);
                    false
                }
            }
        };
        if !authenticated {
            return inner_len.map(|len| (link, len));
        }

        // A confirmed session releases the packets that waited for it, to where the peer is now.
        // An initiation alone is not confirmed: WireGuard's responder must not send data before
        // the initiator's first data message, so flushing then would only start a crossing
        // handshake, and the link is not yet usable both ways.
        let confirmed = kind != Kind::Initiation;
        if confirmed {
            while let TunnResult::WriteToNetwork(queued) =
                peer.tunn.decapsulate(None, &[], &mut self.scratch)
            {
                send.push((from, queued.to_vec()));
            }
        }

        peer.last_authenticated = Some(now);
        if !peer.up && confirmed {
            peer.up = true;
            self.events.push_back(TunnelEvent::Up { link });
        }
        if peer.endpoint != Some(from) {
            peer.endpoint = Some(from);
            self.events.push_back(TunnelEvent::Roamed {
                link,
                endpoint: from,
            });
        }
        inner_len.map(|len| (link, len))
    }

    fn slot_link(&mut self, receiver_index: u32) -> Option<LinkId> {
        let link = self.by_slot.get(&(receiver_index >> 8)).copied();
        if link.is_none() {
            self.stats.unknown_index += 1;
        }
        link
    }

    /// Encrypts an inner packet for `link` into `out` and returns where to send it. `None` when the
    /// peer has no endpoint yet or no session: then boringtun queues the packet and starts a
    /// handshake, whose initiation goes to `send`. `out` must hold `packet.len() + 32` bytes.
    pub fn encapsulate(
        &mut self,
        link: LinkId,
        packet: &[u8],
        out: &mut [u8],
        send: &mut Vec<(SocketAddr, Vec<u8>)>,
    ) -> Option<(SocketAddr, usize)> {
        let peer = self.peers.get_mut(&link)?;
        let Some(endpoint) = peer.endpoint else {
            // Nobody to handshake with: queueing would only fill boringtun's queue.
            self.stats.no_endpoint += 1;
            return None;
        };
        if packet.len() > MAX_INNER_PACKET
            || out.len() < packet.len() + DATA_OVERHEAD
            || out.len() < HANDSHAKE_INIT_LEN
        {
            self.stats.buffer_too_small += 1;
            return None;
        }
        match peer.tunn.encapsulate(packet, out) {
            TunnResult::WriteToNetwork(datagram) => {
                if is_data_message(datagram) {
                    Some((endpoint, datagram.len()))
                } else {
                    // No session: this is the handshake initiation, the packet waits in the queue.
                    send.push((endpoint, datagram.to_vec()));
                    None
                }
            }
            TunnResult::Err(error) => {
                count_error(&mut self.stats, &error);
                None
            }
            _ => None,
        }
    }

    /// Runs boringtun's timers for every peer (call every ~250 ms): handshake retries, rekeys and
    /// keepalives go to `send`. Also decides liveness: a session silent for `DEAD_AFTER` goes
    /// `Down`.
    pub fn update_timers(&mut self, now: Instant, send: &mut Vec<(SocketAddr, Vec<u8>)>) {
        self.rate_limiter.reset_count();
        for (&link, peer) in self.peers.iter_mut() {
            // ConnectionExpired means the session gave up; the next packet we send restarts it.
            if let TunnResult::WriteToNetwork(datagram) = peer.tunn.update_timers(&mut self.scratch)
            {
                match peer.endpoint {
                    Some(endpoint) => send.push((endpoint, datagram.to_vec())),
                    None => self.stats.no_endpoint += 1,
                }
            }
            let silent = peer
                .last_authenticated
                .is_none_or(|last| now.saturating_duration_since(last) >= DEAD_AFTER);
            if peer.up && silent {
                peer.up = false;
                self.events.push_back(TunnelEvent::Down { link });
            }
        }
    }

    pub fn poll_event(&mut self) -> Option<TunnelEvent> {
        self.events.pop_front()
    }

    /// Every peer, ordered by link.
    pub fn peers(&self) -> Vec<PeerStatus> {
        let mut list: Vec<PeerStatus> = self
            .peers
            .iter()
            .map(|(&link, peer)| {
                let (last_handshake, tx_bytes, rx_bytes, _loss, _rtt) = peer.tunn.stats();
                PeerStatus {
                    link,
                    public_key: peer.public_key,
                    endpoint: peer.endpoint,
                    last_handshake,
                    rx_bytes,
                    tx_bytes,
                    up: peer.up,
                }
            })
            .collect();
        list.sort_by_key(|p| p.link);
        list
    }
}

fn is_data_message(datagram: &[u8]) -> bool {
    datagram.first() == Some(&4)
}

fn count_error(stats: &mut TunnelStats, error: &WireGuardError) {
    match error {
        WireGuardError::DestinationBufferTooSmall => stats.buffer_too_small += 1,
        WireGuardError::NoCurrentSession | WireGuardError::WrongIndex => stats.unknown_index += 1,
        WireGuardError::InvalidPacket | WireGuardError::IncorrectPacketLength => {
            stats.malformed += 1
        }
        // Expired sessions, replays, bad tags, wrong keys: a peer we cannot authenticate.
        _ => stats.rejected += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inner::{build_babel, classify, Inner};
    use babel::wire::MULTICAST_V6;
    use std::net::Ipv6Addr;

    type Queue = Vec<(SocketAddr, Vec<u8>)>;

    const KEY_A: [u8; 32] = [0x11; 32];
    const KEY_B: [u8; 32] = [0x22; 32];
    const KEY_C: [u8; 32] = [0x33; 32];

    fn public(secret: [u8; 32]) -> [u8; 32] {
        PublicKey::from(&StaticSecret::from(secret)).to_bytes()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    struct Pair {
        a: Tunnels,
        b: Tunnels,
        a_link: LinkId, // B as seen by A
        b_link: LinkId, // A as seen by B
        a_addr: SocketAddr,
        b_addr: SocketAddr,
        now: Instant,
    }

    fn spec(key: [u8; 32], endpoint: Option<SocketAddr>) -> PeerSpec {
        PeerSpec {
            public_key: public(key),
            endpoint,
            persistent_keepalive: None,
            preshared_key: None,
        }
    }

    fn pair() -> Pair {
        let a_addr = addr("192.0.2.1:51820");
        let b_addr = addr("192.0.2.2:51820");
        let mut a = Tunnels::new(KEY_A);
        let mut b = Tunnels::new(KEY_B);
        // A knows where B is; B learns A's address from the handshake.
        let a_link = a.add_peer(spec(KEY_B, Some(b_addr)));
        let b_link = b.add_peer(spec(KEY_A, None));
        Pair {
            a,
            b,
            a_link,
            b_link,
            a_addr,
            b_addr,
            now: Instant::now(),
        }
    }

    /// Delivers datagrams back and forth until both queues are empty (bounded), collecting the
    /// inner packets each side decrypted.
    fn exchange(p: &mut Pair, mut to_b: Queue, mut to_a: Queue) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        let mut out = vec![0u8; 2048];
        for _ in 0..20 {
            if to_a.is_empty() && to_b.is_empty() {
                break;
            }
            let mut next_to_a = Queue::new();
            let mut next_to_b = Queue::new();
            for (dst, datagram) in to_b.drain(..) {
                assert_eq!(dst, p.b_addr);
                if let Some((link, len)) =
                    p.b.decapsulate(p.now, p.a_addr, &datagram, &mut out, &mut next_to_a)
                {
                    assert_eq!(link, p.b_link);
                    got_b.push(out[..len].to_vec());
                }
            }
            for (dst, datagram) in to_a.drain(..) {
                assert_eq!(dst, p.a_addr);
                if let Some((link, len)) =
                    p.a.decapsulate(p.now, p.b_addr, &datagram, &mut out, &mut next_to_b)
                {
                    assert_eq!(link, p.a_link);
                    got_a.push(out[..len].to_vec());
                }
            }
            to_a = next_to_a;
            to_b = next_to_b;
        }
        assert!(
            to_a.is_empty() && to_b.is_empty(),
            "exchange did not settle"
        );
        (got_a, got_b)
    }

    fn events(t: &mut Tunnels) -> Vec<TunnelEvent> {
        std::iter::from_fn(|| t.poll_event()).collect()
    }

    fn hello(from_last: u16) -> Vec<u8> {
        let mut packet = Vec::new();
        let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, from_last);
        build_babel(src, MULTICAST_V6, b"\x2a\x02\x00\x00", &mut packet);
        packet
    }

    /// Handshake by sending a first packet A→B; returns the pair with the session up both ways.
    fn connected() -> Pair {
        let mut p = pair();
        let mut out = vec![0u8; 2048];
        let mut to_b = Queue::new();
        let first = hello(1);
        let sent = p.a.encapsulate(p.a_link, &first, &mut out, &mut to_b);
        assert_eq!(
            sent, None,
            "no session yet: the packet waits for the handshake"
        );
        assert_eq!(to_b.len(), 1, "a handshake initiation");
        let (_, got_b) = exchange(&mut p, to_b, Queue::new());
        assert_eq!(
            got_b,
            vec![first],
            "the queued packet arrives after the handshake"
        );
        p
    }

    #[test]
    fn handshake_completes_and_both_sides_come_up() {
        let mut p = connected();
        assert_eq!(events(&mut p.a), vec![TunnelEvent::Up { link: p.a_link }]);
        assert_eq!(
            events(&mut p.b),
            vec![
                // Learned from the initiation; up once A's first data message confirms the keys.
                TunnelEvent::Roamed {
                    link: p.b_link,
                    endpoint: p.a_addr
                },
                TunnelEvent::Up { link: p.b_link },
            ]
        );
        assert_eq!(
            p.b.endpoint(p.b_link),
            Some(p.a_addr),
            "learned from the handshake"
        );
        assert!(p.a.is_up(p.a_link) && p.b.is_up(p.b_link));
        let status = p.a.peers();
        assert_eq!(status.len(), 1);
        assert_eq!(status[0].public_key, public(KEY_B));
        assert!(status[0].up);
        assert!(status[0].last_handshake.is_some());
        assert!(status[0].tx_bytes > 0);
    }

    #[test]
    fn babel_packets_cross_intact_both_ways() {
        let mut p = connected();
        let mut out = vec![0u8; 2048];
        let mut send = Queue::new();

        let a_to_b = hello(1);
        let (dst, len) =
            p.a.encapsulate(p.a_link, &a_to_b, &mut out, &mut send)
                .expect("session is up");
        assert_eq!(dst, p.b_addr);
        let (_, got_b) = exchange(&mut p, vec![(dst, out[..len].to_vec())], Queue::new());
        assert_eq!(got_b, vec![a_to_b.clone()]);
        assert!(matches!(classify(&got_b[0]), Inner::Babel { .. }));

        let b_to_a = hello(2);
        let (dst, len) =
            p.b.encapsulate(p.b_link, &b_to_a, &mut out, &mut send)
                .expect("responder's session is confirmed");
        assert_eq!(dst, p.a_addr);
        let (got_a, _) = exchange(&mut p, Queue::new(), vec![(dst, out[..len].to_vec())]);
        assert_eq!(got_a, vec![b_to_a]);
        assert!(send.is_empty());
    }

    #[test]
    fn initiation_from_an_unknown_key_is_dropped_and_counted() {
        let mut p = pair();
        let mut stranger = Tunnels::new(KEY_C);
        let link = stranger.add_peer(spec(KEY_B, Some(p.b_addr)));
        let mut out = vec![0u8; 2048];
        let mut send = Queue::new();
        assert_eq!(
            stranger.encapsulate(link, &hello(3), &mut out, &mut send),
            None
        );
        assert_eq!(send.len(), 1);
        let mut replies = Queue::new();
        let got = p.b.decapsulate(
            p.now,
            addr("198.51.100.7:1"),
            &send[0].1,
            &mut out,
            &mut replies,
        );
        assert_eq!(got, None);
        assert!(replies.is_empty(), "no response to a stranger");
        assert_eq!(p.b.stats().unknown_key, 1);
        assert!(events(&mut p.b).is_empty());
    }

    #[test]
    fn garbage_does_not_panic() {
        let mut p = connected();
        let mut out = vec![0u8; 2048];
        let mut send = Queue::new();
        let from = addr("203.0.113.9:9");
        let mut datagrams: Vec<Vec<u8>> = vec![
            vec![],
            vec![1],
            vec![4, 0, 0, 0],
            vec![1; 148],
            vec![2; 92],
            vec![3; 64],
            vec![4; 32],
            vec![4; 1500],
        ];
        // Data messages naming A's real session index, with forged contents.
        let mut forged = vec![0u8; 100];
        forged[0] = 4;
        forged[4..8].copy_from_slice(&((p.b_link.0 << 8) | 1).to_le_bytes());
        datagrams.push(forged);
        for length in 0..200u8 {
            datagrams.push((0..length).map(|i| i.wrapping_mul(37)).collect());
        }
        for datagram in &datagrams {
            assert_eq!(
                p.a.decapsulate(p.now, from, datagram, &mut out, &mut send),
                None
            );
        }
        // A datagram bigger than the caller's buffer is refused, not a panic in boringtun.
        let mut tiny = [0u8; 16];
        let mut big = vec![0u8; 64];
        big[0] = 4;
        big[4..8].copy_from_slice(&((p.a_link.0 << 8) | 1).to_le_bytes());
        assert_eq!(
            p.b.decapsulate(p.now, from, &big, &mut tiny, &mut send),
            None
        );
        assert!(send.is_empty());
        assert_eq!(
            p.a.endpoint(p.a_link),
            Some(p.b_addr),
            "no roaming on garbage"
        );
        assert!(p.a.stats().malformed > 0);
    }

    #[test]
    fn roaming_is_detected_on_authenticated_packets_only() {
        let mut p = connected();
        events(&mut p.a);
        let mut out = vec![0u8; 2048];
        let mut send = Queue::new();
        let (_, len) =
            p.b.encapsulate(p.b_link, &hello(2), &mut out, &mut send)
                .unwrap();
        let datagram = out[..len].to_vec();
        let new_addr = addr("[2001:db8::2]:4000");
        let mut inner = vec![0u8; 2048];
        let got =
            p.a.decapsulate(p.now, new_addr, &datagram, &mut inner, &mut send);
        assert_eq!(got.map(|(link, _)| link), Some(p.a_link));
        assert_eq!(p.a.endpoint(p.a_link), Some(new_addr));
        assert_eq!(
            events(&mut p.a),
            vec![TunnelEvent::Roamed {
                link: p.a_link,
                endpoint: new_addr
            }]
        );
        // A replay from yet another address is rejected and does not move the endpoint.
        let replayed = p.a.decapsulate(
            p.now,
            addr("198.51.100.1:1"),
            &datagram,
            &mut inner,
            &mut send,
        );
        assert_eq!(replayed, None);
        assert_eq!(p.a.endpoint(p.a_link), Some(new_addr));
        assert!(events(&mut p.a).is_empty());
    }

    #[test]
    fn silence_brings_the_link_down_once_and_traffic_brings_it_up() {
        let mut p = connected();
        events(&mut p.a);
        let mut send = Queue::new();
        p.a.update_timers(p.now + Duration::from_secs(5), &mut send);
        assert!(events(&mut p.a).is_empty(), "not dead yet");
        let later = p.now + DEAD_AFTER + Duration::from_secs(1);
        p.a.update_timers(later, &mut send);
        assert_eq!(events(&mut p.a), vec![TunnelEvent::Down { link: p.a_link }]);
        p.a.update_timers(later + Duration::from_secs(30), &mut send);
        assert!(events(&mut p.a).is_empty(), "Down is emitted once");
        assert!(!p.a.is_up(p.a_link));

        p.now = later + Duration::from_secs(31);
        let mut out = vec![0u8; 2048];
        let (dst, len) =
            p.b.encapsulate(p.b_link, &hello(2), &mut out, &mut send)
                .unwrap();
        exchange(&mut p, Queue::new(), vec![(dst, out[..len].to_vec())]);
        assert_eq!(events(&mut p.a), vec![TunnelEvent::Up { link: p.a_link }]);
    }

    #[test]
    fn links_are_never_reused_and_keys_map_both_ways() {
        let mut t = Tunnels::new(KEY_A);
        let b = t.add_peer(spec(KEY_B, None));
        assert_eq!(t.add_peer(spec(KEY_B, None)), b, "one session per key");
        assert_eq!(t.link_of(&public(KEY_B)), Some(b));
        assert_eq!(t.public_key(b), Some(public(KEY_B)));
        t.remove_peer(b);
        assert_eq!(t.link_of(&public(KEY_B)), None);
        let again = t.add_peer(spec(KEY_B, None));
        assert_ne!(again, b);
        t.set_endpoint(again, addr("192.0.2.9:1"));
        assert_eq!(t.endpoint(again), Some(addr("192.0.2.9:1")));
        assert!(
            t.poll_event().is_none(),
            "a peer that never came up does not go down"
        );
    }

    #[test]
    fn removing_an_up_peer_reports_down_and_forgets_its_sessions() {
        let mut p = connected();
        events(&mut p.a);
        let mut out = vec![0u8; 2048];
        let mut send = Queue::new();
        let (_, len) =
            p.b.encapsulate(p.b_link, &hello(2), &mut out, &mut send)
                .unwrap();
        let datagram = out[..len].to_vec();
        p.a.remove_peer(p.a_link);
        assert_eq!(events(&mut p.a), vec![TunnelEvent::Down { link: p.a_link }]);
        let mut inner = vec![0u8; 2048];
        assert_eq!(
            p.a.decapsulate(p.now, p.b_addr, &datagram, &mut inner, &mut send),
            None
        );
        assert_eq!(p.a.stats().unknown_index, 1);
    }

    #[test]
    fn no_endpoint_means_nothing_to_send() {
        let mut t = Tunnels::new(KEY_A);
        let link = t.add_peer(spec(KEY_B, None));
        let mut out = vec![0u8; 2048];
        let mut send = Queue::new();
        assert_eq!(t.encapsulate(link, &hello(1), &mut out, &mut send), None);
        assert!(send.is_empty());
        assert_eq!(t.stats().no_endpoint, 1);
        assert_eq!(
            t.encapsulate(LinkId(999), &hello(1), &mut out, &mut send),
            None
        );
    }

    #[test]
    fn small_output_buffer_is_refused_not_a_panic() {
        let mut p = connected();
        let mut out = [0u8; 64];
        let mut send = Queue::new();
        assert_eq!(
            p.a.encapsulate(p.a_link, &hello(1), &mut out, &mut send),
            None
        );
        assert_eq!(p.a.stats().buffer_too_small, 1);
    }

    #[test]
    fn an_admitted_stranger_completes_its_first_handshake() {
        let mut p = pair();
        let mut stranger = Tunnels::new(KEY_C);
        let link = stranger.add_peer(spec(KEY_B, Some(p.b_addr)));
        let mut out = vec![0u8; 2048];
        let mut send = Queue::new();
        stranger.encapsulate(link, &hello(3), &mut out, &mut send);
        let from = addr("198.51.100.7:1");
        let mut replies = Queue::new();
        let mut asked = Vec::new();
        let got = p.b.decapsulate_admitting(
            p.now,
            from,
            &send[0].1,
            &mut out,
            &mut replies,
            &mut |key, at| {
                asked.push((key, at));
                Some(spec(KEY_C, Some(at)))
            },
        );
        assert_eq!(got, None, "an initiation carries no data");
        assert_eq!(asked, vec![(public(KEY_C), from)]);
        assert_eq!(replies.len(), 1, "answered at once");
        let admitted = p.b.link_of(&public(KEY_C)).expect("now a peer");
        assert_eq!(p.b.endpoint(admitted), Some(from));
        // The response completes the stranger's session.
        let mut back = Queue::new();
        stranger.decapsulate(p.now, p.b_addr, &replies[0].1, &mut out, &mut back);
        assert!(stranger.is_up(link));
        assert_eq!(p.b.stats().unknown_key, 0);
        // Refused: counted, not answered.
        let mut other = Tunnels::new([0x44; 32]);
        let olink = other.add_peer(spec(KEY_B, Some(p.b_addr)));
        let mut osend = Queue::new();
        other.encapsulate(olink, &hello(4), &mut out, &mut osend);
        let mut none = Queue::new();
        p.b.decapsulate_admitting(
            p.now,
            from,
            &osend[0].1,
            &mut out,
            &mut none,
            &mut |_, _| None,
        );
        assert!(none.is_empty());
        assert_eq!(p.b.stats().unknown_key, 1);
    }
}
