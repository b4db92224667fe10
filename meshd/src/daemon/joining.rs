//! The driver's side of discovery and membership: the beacon socket, the netlink watch on
//! underlay links and addresses, and turning what [`crate::discovery`] heard and
//! [`crate::membership`] allowed into peers. The decisions live in those two modules; this file
//! only touches sockets, sessions and the clock they give it.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use nix::sys::socket::{recv, MsgFlags};
use tokio::io::unix::AsyncFd;
use tokio::net::UdpSocket;

use super::Daemon;
use crate::config::{Config, PeerConfig};
use crate::discovery::{self, Discovered, Discovery, Dropped, Heard, Origin};
use crate::keys::PublicKey;
use crate::membership::{Membership, Policy, Reason, Rules};
use crate::tunnel::PeerSpec;

/// A rescan of the interfaces at least this often, in case a netlink event was missed.
const RESCAN_INTERVAL: Duration = Duration::from_secs(30);
/// How often discovered peers are checked for expiry.
pub(super) const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// Netlink multicast groups: link changes, IPv6 address changes.
const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
/// Netlink messages drained per wake-up; the rest wait (a rescan reads the truth anyway).
const NETLINK_BATCH: usize = 64;

/// The driver's discovery state.
#[derive(Debug)]
pub(super) struct Joining {
    pub discovery: Discovery,
    pub membership: Membership,
    /// The community preshared key, for every session when policy is `community`.
    pub preshared: Option<[u8; 32]>,
    pub patterns: Vec<String>,
    pub port: u16,
    pub socket: Option<UdpSocket>,
    pub watch: Option<AsyncFd<OwnedFd>>,
    pub rescan_at: Instant,
    pub housekeeping_at: Instant,
}

/// The membership rules of a configuration.
fn rules(config: &Config) -> Rules {
    Rules {
        policy: config.membership.policy,
        allow: config.membership.allow.iter().map(|k| k.0).collect(),
        deny: config.membership.deny.iter().map(|k| k.0).collect(),
        max_peers: config.discovery.max_peers,
        max_handshakes_per_second: config.discovery.max_handshakes_per_second,
    }
}

impl Joining {
    /// Sets up discovery from the configuration: the secret, and (if any interface is named)
    /// the beacon socket and the netlink watch.
    /// `tunnel_port` is the port the WireGuard socket really got (`listen_port` may be 0).
    pub fn start(
        config: &Config,
        our_key: [u8; 32],
        tunnel_port: u16,
        seed: u64,
    ) -> Result<Joining, String> {
        let keys = match (
            &config.membership.community_secret_file,
            config.membership.policy,
        ) {
            (Some(path), Policy::Community) => {
                let secret = crate::keys::load_preshared(path)
                    .map_err(|e| format!("community_secret_file: {e}"))?;
                Some(discovery::CommunityKeys::derive(&secret))
            }
            _ => None,
        };
        let preshared = keys.as_ref().map(|k| k.preshared);
        let settings = discovery::Settings {
            interval: config.discovery.interval,
            community_id: config.membership.community_id.clone(),
            keys,
            our_key,
            tunnel_port,
        };
        let patterns = config.discovery.interfaces.clone();
        let port = config.discovery.port;
        let (socket, watch) = if patterns.is_empty() {
            (None, None)
        } else {
            let socket = beacon_socket(port)
                .map_err(|e| format!("cannot listen for beacons on UDP port {port}: {e}"))?;
            let watch = match netlink_watch() {
                Ok(w) => Some(w),
                Err(e) => {
                    warn!("cannot watch interfaces over netlink ({e}); rescanning every 30 s");
                    None
                }
            };
            (Some(socket), watch)
        };
        let now = Instant::now();
        Ok(Joining {
            discovery: Discovery::new(settings, seed),
            membership: Membership::new(rules(config)),
            preshared,
            patterns,
            port,
            socket,
            watch,
            rescan_at: now,
            housekeeping_at: now + HOUSEKEEPING,
        })
    }

    /// When the driver must next call [`Daemon::discovery_tick`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.patterns.is_empty() {
            return None;
        }
        let mut wake = self.rescan_at.min(self.housekeeping_at);
        if let Some(beacon) = self.discovery.poll_timeout() {
            wake = wake.min(beacon);
        }
        Some(wake)
    }
}

/// The UDP socket beacons are sent from and heard on; multicast memberships are added per
/// interface as they appear. Our own beacons are not looped back.
fn beacon_socket(port: u16) -> io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))?;
    socket.set_multicast_loop_v6(false)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// A netlink socket subscribed to link and IPv6 address changes: each message only tells us to
/// rescan, so its contents are not parsed.
fn netlink_watch() -> io::Result<AsyncFd<OwnedFd>> {
    crate::kernel::socket::open_route_socket(RTMGRP_LINK | RTMGRP_IPV6_IFADDR)
}

/// Waits for a beacon, or forever without a socket.
pub(super) async fn recv_beacon(
    socket: &Option<UdpSocket>,
    buffer: &mut [u8],
) -> io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buffer).await,
        None => std::future::pending().await,
    }
}

/// Waits until the netlink watch has news, and drains it. Forever without a watch.
pub(super) async fn netlink_news(watch: &Option<AsyncFd<OwnedFd>>) {
    let Some(watch) = watch else {
        return std::future::pending().await;
    };
    let Ok(mut guard) = watch.readable().await else {
        return std::future::pending().await;
    };
    let mut buffer = [0u8; 8192];
    for _ in 0..NETLINK_BATCH {
        let fd = std::os::fd::AsRawFd::as_raw_fd(watch.get_ref());
        match recv(fd, &mut buffer, MsgFlags::MSG_DONTWAIT) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => {
                guard.clear_ready();
                break;
            }
        }
    }
}

/// Interfaces matching the patterns that are up and have a link-local address:
/// `(index, name, address)`, ordered by index.
fn scan(patterns: &[String], skip: &str) -> Vec<(u32, String, Ipv6Addr)> {
    let Ok(addresses) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String, Ipv6Addr)> = Vec::new();
    for ifaddr in addresses {
        let name = ifaddr.interface_name;
        if name == skip || !patterns.iter().any(|p| discovery::glob_match(p, &name)) {
            continue;
        }
        use nix::net::if_::InterfaceFlags;
        if !ifaddr.flags.contains(InterfaceFlags::IFF_UP)
            || !ifaddr.flags.contains(InterfaceFlags::IFF_RUNNING)
        {
            continue;
        }
        let Some(address) = ifaddr.address.as_ref().and_then(|a| a.as_sockaddr_in6()) else {
            continue;
        };
        let ip = address.ip();
        if !ip.is_unicast_link_local() || found.iter().any(|(_, n, _)| *n == name) {
            continue;
        }
        let Ok(index) = nix::net::if_::if_nametoindex(name.as_str()) else {
            continue;
        };
        found.push((index, name, ip));
    }
    found.sort();
    found
}

impl Daemon {
    /// Beacons due, interface rescans, expiry of discovered peers.
    pub(super) fn discovery_tick(&mut self, now: Instant) {
        if self.joining.patterns.is_empty() {
            return;
        }
        if self.joining.rescan_at <= now {
            self.joining.rescan_at = now + RESCAN_INTERVAL;
            self.rescan_interfaces(now);
        }
        if self
            .joining
            .discovery
            .poll_timeout()
            .is_some_and(|t| t <= now)
        {
            let group = discovery::GROUP;
            let port = self.joining.port;
            // The beacons' counter is the wall clock (discovery.rs says why); only the driver
            // reads clocks.
            let clock_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            for (index, beacon) in self.joining.discovery.poll_beacons(now, clock_ms) {
                let to = SocketAddr::V6(SocketAddrV6::new(group, port, 0, index));
                if let Some(socket) = &self.joining.socket {
                    if let Err(e) = socket.try_send_to(&beacon, to) {
                        debug!("beacon on interface {index}: {e}");
                    }
                }
            }
        }
        if self.joining.housekeeping_at <= now {
            self.joining.housekeeping_at = now + HOUSEKEEPING;
            self.expire_discovered(now);
        }
    }

    /// A netlink event: rescan soon (events come in bursts; one scan covers them all).
    pub(super) fn interfaces_changed(&mut self, now: Instant) {
        self.joining.rescan_at = self.joining.rescan_at.min(now + Duration::from_millis(100));
    }

    fn rescan_interfaces(&mut self, now: Instant) {
        let current = scan(&self.joining.patterns, &self.config.node.interface);
        let (appeared, gone) = self.joining.discovery.set_interfaces(now, &current);
        let Some(socket) = &self.joining.socket else {
            return;
        };
        for index in gone {
            // The interface may already be gone, taking the membership with it.
            let _ = socket.leave_multicast_v6(&discovery::GROUP, index);
            info!("discovery: interface {index} went away");
        }
        for index in appeared {
            let name = self
                .joining
                .discovery
                .interface_name(index)
                .unwrap_or("?")
                .to_owned();
            match socket.join_multicast_v6(&discovery::GROUP, index) {
                Ok(()) => info!("discovery: beacons on {name} (interface {index})"),
                // Already a member (the same index came back): fine.
                Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {}
                Err(e) => warn!("discovery: cannot join the beacon group on {name}: {e}"),
            }
        }
    }

    /// A datagram on the beacon port.
    pub(super) fn on_beacon(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let SocketAddr::V6(from) = from else {
            return;
        };
        let place = self
            .joining
            .discovery
            .interface_name(from.scope_id())
            .map_or_else(|| from.ip().to_string(), str::to_owned);
        let heard = match self.joining.discovery.handle_datagram(from, bytes) {
            Ok(heard) => heard,
            Err(dropped) => {
                let reason = match dropped {
                    Dropped::BadMac => Reason::BadMac,
                    Dropped::OtherCommunity => Reason::OtherCommunity,
                    _ => return,
                };
                if let Some(claimed) = bytes.get(16..48) {
                    let mut key = [0u8; 32];
                    key.copy_from_slice(claimed);
                    self.joining.membership.refuse(now, key, reason, &place);
                }
                return;
            }
        };
        match heard {
            Heard::Known { key, endpoint } => {
                let counter = Discovery::counter_of(bytes);
                self.joining.discovery.refresh(now, &key, endpoint, counter);
                if let Some((link, _)) = self.peers.get(&PublicKey(key)) {
                    let current = self.tunnels.endpoint(*link);
                    // A link-local endpoint on an interface that went away is useless; one the
                    // peer roamed to elsewhere (authenticated by WireGuard) is its choice.
                    let stale = match current {
                        Some(SocketAddr::V6(e)) if e.ip().is_unicast_link_local() => {
                            !self.joining.discovery.is_active(e.scope_id())
                        }
                        Some(_) => false,
                        None => true,
                    };
                    if (!self.tunnels.is_up(*link) || stale)
                        && current != Some(SocketAddr::V6(endpoint))
                    {
                        info!("peer {}: endpoint now {endpoint}", PublicKey(key).short());
                        self.tunnels.set_endpoint(*link, SocketAddr::V6(endpoint));
                    }
                }
            }
            Heard::New {
                key,
                endpoint,
                counter,
                interface,
            } => self.heard_new(now, key, endpoint, counter, interface),
        }
    }

    fn heard_new(
        &mut self,
        now: Instant,
        key: [u8; 32],
        endpoint: SocketAddrV6,
        counter: u64,
        interface: String,
    ) {
        if let Some((link, _)) = self.peers.get(&PublicKey(key)) {
            // A static or runtime peer beaconing: its configuration rules, but a peer without
            // an endpoint (or whose session is down) may use the one it told us.
            let link = *link;
            if !self.tunnels.is_up(link) && self.tunnels.endpoint(link).is_none() {
                self.tunnels.set_endpoint(link, SocketAddr::V6(endpoint));
            }
            return;
        }
        let authenticated = self.joining.preshared.is_some();
        let count = self.joining.discovery.len();
        if let Err(reason) = self
            .joining
            .membership
            .admit(now, &key, authenticated, count)
        {
            self.joining.membership.refuse(now, key, reason, &interface);
            return;
        }
        self.joining.discovery.answer_soon(now, endpoint.scope_id());
        info!(
            "discovered {} on {interface} at {endpoint}",
            PublicKey(key).short()
        );
        self.joining.discovery.add(
            key,
            Discovered {
                origin: Origin::Beacon,
                interface: Some(interface),
                endpoint: Some(endpoint),
                last_beacon: Some(now),
                counter,
                added: now,
                was_up: false,
            },
        );
        self.add_discovered_peer(now, key, Some(SocketAddr::V6(endpoint)));
        self.publish(control::EventKind::PeerDiscovered {
            public_key: PublicKey(key).to_string(),
            interface: self
                .joining
                .discovery
                .interface_name(endpoint.scope_id())
                .unwrap_or("?")
                .to_owned(),
            endpoint: endpoint.to_string(),
        });
    }

    /// Announces new refusals on the event stream (`meshctl monitor`).
    pub(super) fn publish_refusals(&mut self) {
        while let Some(row) = self.joining.membership.poll_new_refusal() {
            self.publish(control::EventKind::PeerRefused {
                public_key: PublicKey(row.key).to_string(),
                reason: row.reason.as_str().to_string(),
                place: row.place,
            });
        }
    }

    /// The Babel link and the peer table entry of a discovered or admitted peer whose session
    /// `Tunnels` already has on `link` (no endpoint text: there is no name to re-resolve).
    fn attach_dynamic_peer(&mut self, now: Instant, key: [u8; 32], link: babel::LinkId) {
        self.node.add_link(
            now,
            link,
            self.identity.link_local,
            self.config.link_config(),
        );
        let peer = PeerConfig {
            public_key: PublicKey(key),
            endpoint: None,
            persistent_keepalive: None,
            preshared_key_file: None,
        };
        self.peers.insert(PublicKey(key), (link, peer));
    }

    /// Adds a peer found by discovery or admitted on its handshake: a session (with the
    /// community's preshared key) and a Babel link, as for a static peer.
    fn add_discovered_peer(&mut self, now: Instant, key: [u8; 32], endpoint: Option<SocketAddr>) {
        let link = self.tunnels.add_peer(PeerSpec {
            public_key: key,
            endpoint,
            persistent_keepalive: None,
            preshared_key: self.joining.preshared,
        });
        self.attach_dynamic_peer(now, key, link);
    }

    /// The admission test for a handshake initiation from a key that is not a peer, run by
    /// `Tunnels` before it answers. Under `open`, only from a link-local address on a
    /// discovery interface: with discovery off (the default), or from the internet, strangers'
    /// handshakes are refused as before; `allowlist` keys are welcome from anywhere. `admitted` collects the keys let in, for
    /// [`Daemon::admitted_inbound`] once the datagram is handled.
    pub(super) fn admit_inbound(
        joining: &mut Joining,
        now: Instant,
        key: [u8; 32],
        from: SocketAddr,
        admitted: &mut Vec<([u8; 32], SocketAddr)>,
    ) -> Option<PeerSpec> {
        let count = joining.discovery.len() + admitted.len();
        // In community mode only a beacon with a good MAC proves membership: an initiation
        // cannot (its preshared key is only checked by the initiator, on our response).
        let place = match from {
            SocketAddr::V6(v6) => joining
                .discovery
                .interface_name(v6.scope_id())
                .map_or_else(|| from.ip().to_string(), str::to_owned),
            SocketAddr::V4(_) => from.ip().to_string(),
        };
        let local = match from {
            SocketAddr::V6(v6) => {
                v6.ip().is_unicast_link_local() && joining.discovery.is_active(v6.scope_id())
            }
            SocketAddr::V4(_) => false,
        };
        let verdict = match joining.membership.check_policy(&key, false) {
            Ok(()) if joining.membership.rules().policy == Policy::Open && !local => {
                Err(Reason::NotLocal)
            }
            Ok(()) => joining.membership.admit(now, &key, false, count),
            Err(reason) => Err(reason),
        };
        match verdict {
            Ok(()) => {
                admitted.push((key, from));
                Some(PeerSpec {
                    public_key: key,
                    endpoint: Some(from),
                    persistent_keepalive: None,
                    preshared_key: joining.preshared,
                })
            }
            Err(reason) => {
                joining.membership.refuse(now, key, reason, &place);
                None
            }
        }
    }

    /// Gives the peers [`Daemon::admit_inbound`] let in their Babel link and discovery entry.
    pub(super) fn admitted_inbound(&mut self, now: Instant, admitted: Vec<([u8; 32], SocketAddr)>) {
        for (key, from) in admitted {
            let Some(link) = self.tunnels.link_of(&key) else {
                continue;
            };
            let (interface, endpoint) = match from {
                SocketAddr::V6(v6) => (
                    self.joining
                        .discovery
                        .interface_name(v6.scope_id())
                        .map(str::to_owned),
                    Some(v6),
                ),
                SocketAddr::V4(_) => (None, None),
            };
            info!(
                "accepted {} from {from}: its handshake came first",
                PublicKey(key).short()
            );
            self.publish(control::EventKind::PeerDiscovered {
                public_key: PublicKey(key).to_string(),
                interface: interface.clone().unwrap_or_else(|| "inbound".to_string()),
                endpoint: from.to_string(),
            });
            self.joining.discovery.add(
                key,
                Discovered {
                    origin: Origin::Inbound,
                    interface,
                    endpoint,
                    last_beacon: None,
                    counter: 0,
                    added: now,
                    was_up: false,
                },
            );
            self.attach_dynamic_peer(now, key, link);
        }
    }

    /// Removes discovered peers whose session never came up, or whose beacons stopped while
    /// their session is dead.
    fn expire_discovered(&mut self, now: Instant) {
        if self.joining.discovery.is_empty() {
            return;
        }
        let peers = &self.peers;
        let tunnels = &self.tunnels;
        let expired = self.joining.discovery.expired(now, |key| {
            peers
                .get(&PublicKey(*key))
                .is_some_and(|(link, _)| tunnels.is_up(*link))
        });
        for (key, peer) in expired {
            if peer.was_up {
                info!("discovered peer {} gone", PublicKey(key).short());
            } else {
                // Nobody answered, or the answer did not authenticate (another community's
                // preshared key): make room, and say so.
                info!(
                    "discovered peer {}: no session in {} s, given up",
                    PublicKey(key).short(),
                    discovery::PENDING_TIMEOUT.as_secs()
                );
                let place = peer.interface.unwrap_or_else(|| "-".to_string());
                self.joining
                    .membership
                    .refuse(now, key, Reason::NoHandshake, &place);
            }
            self.remove_peer(now, &PublicKey(key));
        }
    }

    /// A reload: new `allow` and `deny` lists and new caps apply at once, and peers they now
    /// refuse are dropped, static peers included. Returns whether other discovery or
    /// membership settings changed, which take effect at the next restart.
    pub(super) fn reload_membership(&mut self, now: Instant, config: &Config) -> bool {
        let (old, new) = (&self.config, config);
        let needs_restart = old.discovery.interfaces != new.discovery.interfaces
            || old.discovery.port != new.discovery.port
            || old.discovery.interval != new.discovery.interval
            || old.membership.policy != new.membership.policy
            || old.membership.community_secret_file != new.membership.community_secret_file
            || old.membership.community_id != new.membership.community_id;
        if needs_restart {
            // A policy change needs its secret loaded and beacons rebuilt: keep the running one.
            return true;
        }
        self.joining.membership.set_rules(rules(config));
        let authenticated = self.joining.preshared.is_some();
        let keys: Vec<PublicKey> = self.peers.keys().copied().collect();
        for key in keys {
            let verdict = if self.is_discovered(&key) {
                self.joining.membership.check_policy(&key.0, authenticated)
            } else {
                self.joining.membership.check_static(&key.0)
            };
            if let Err(reason) = verdict {
                info!(
                    "reload: peer {} is now refused ({})",
                    key.short(),
                    reason.as_str()
                );
                self.joining
                    .membership
                    .refuse(now, key.0, reason, "configuration");
                self.forget_discovered(&key);
                self.runtime_peers.remove(&key);
                self.remove_peer(now, &key);
            }
        }
        false
    }

    pub(super) fn is_discovered(&self, key: &PublicKey) -> bool {
        self.joining.discovery.contains(&key.0)
    }

    /// Forgets that a key was discovered (it became a static peer).
    pub(super) fn forget_discovered(&mut self, key: &PublicKey) {
        self.joining.discovery.remove(&key.0);
    }

    /// `deny` applies to static peers too.
    pub(super) fn static_peer_refused(&mut self, key: &PublicKey) -> bool {
        match self.joining.membership.check_static(&key.0) {
            Ok(()) => false,
            Err(reason) => {
                warn!("peer {} is in [membership] deny: not added", key.short());
                self.joining
                    .membership
                    .refuse(Instant::now(), key.0, reason, "configuration");
                true
            }
        }
    }

    /// The community preshared key for a static peer without its own.
    pub(super) fn community_preshared(&self) -> Option<[u8; 32]> {
        self.joining.preshared
    }

    pub(super) fn discovered_interface(&self, key: &[u8; 32]) -> Option<Option<String>> {
        self.joining.discovery.get(key).map(|d| d.interface.clone())
    }

    pub(super) fn refused_list(&self) -> Vec<control::Refused> {
        let now = Instant::now();
        self.joining
            .membership
            .refused()
            .into_iter()
            .map(|r| control::Refused {
                public_key: PublicKey(r.key).to_string(),
                reason: r.reason.as_str().to_string(),
                place: r.place,
                count: r.count,
                last_seen_s: now.saturating_duration_since(r.last_seen).as_secs(),
            })
            .collect()
    }

    pub(super) fn discovery_status(&self) -> control::Discovery {
        let d = &self.joining.discovery;
        control::Discovery {
            policy: self.joining.membership.rules().policy.as_str().to_string(),
            community_id: self.config.membership.community_id.clone(),
            patterns: self.joining.patterns.clone(),
            port: self.joining.port,
            interfaces: d
                .interfaces()
                .map(|i| control::DiscoveryInterface {
                    name: i.name.clone(),
                    index: i.index,
                    link_local: IpAddr::V6(i.link_local).to_string(),
                    beacons_sent: i.beacons_sent,
                    bytes_sent: i.bytes_sent,
                })
                .collect(),
            peers: d.len(),
            max_peers: self.joining.membership.rules().max_peers,
            beacons_received: d.stats().received,
            dropped: d
                .stats()
                .dropped
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect(),
        }
    }
}
