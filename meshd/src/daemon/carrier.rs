//! The driver's watch on the underlay: a link whose peer's endpoint lives on an interface that
//! goes down or loses carrier is down at once (`babel::Node::link_down`), instead of after a
//! Hello interval and a round of probes. Nothing can cross an interface without carrier, so
//! waiting only blackholes the traffic routed over it.
//!
//! Which interface carries a link is read from its endpoint while the interface is up: the
//! scope of a link-local endpoint (discovered peers), or the interface with an on-link network
//! holding the endpoint's address (static peers on a shared segment). The answer is remembered,
//! because Linux takes an interface's IPv6 addresses away when it goes down. Peers reached
//! through a gateway (across the internet) have no on-link interface and are left to Babel's
//! own timers: an uplink losing carrier says nothing about the path beyond it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use babel::LinkId;
use log::{info, warn};
use nix::net::if_::InterfaceFlags;
use tokio::io::unix::AsyncFd;

use super::Daemon;

/// Netlink multicast groups: link changes (carrier, up and down), IPv4 and IPv6 addresses.
const GROUPS: u32 = 0x1 | 0x10 | 0x100;
/// A rescan at least this often, in case a netlink event was missed (or there is no watch).
const RESCAN_INTERVAL: Duration = Duration::from_secs(10);

/// One underlay interface as the last scan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Underlay {
    pub name: String,
    pub index: u32,
    /// Up and with carrier (`IFF_UP` and `IFF_RUNNING`).
    pub running: bool,
    /// Its on-link networks: address and prefix length.
    pub networks: Vec<(IpAddr, u8)>,
}

#[derive(Debug)]
pub(super) struct Carrier {
    pub watch: Option<AsyncFd<OwnedFd>>,
    /// The interface each link's endpoint was last seen on, while that interface was running.
    via: HashMap<LinkId, String>,
    pub rescan_at: Instant,
}

impl Carrier {
    pub fn start(now: Instant) -> Carrier {
        let watch = match crate::kernel::socket::open_route_socket(GROUPS) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!("cannot watch underlay interfaces over netlink ({e}); rescanning every 10 s");
                None
            }
        };
        Carrier {
            watch,
            via: HashMap::new(),
            rescan_at: now,
        }
    }
}

/// The interface that carries `endpoint`: the one its scope names, or the one with the longest
/// on-link network holding its address. Loopback and the mesh interface itself never count.
pub(super) fn locate(underlay: &[Underlay], endpoint: SocketAddr) -> Option<&Underlay> {
    if let SocketAddr::V6(v6) = endpoint {
        if v6.scope_id() != 0 {
            return underlay.iter().find(|u| u.index == v6.scope_id());
        }
    }
    let ip = match endpoint.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    underlay
        .iter()
        .flat_map(|u| u.networks.iter().map(move |n| (u, n)))
        .filter(|(_, (network, len))| contains(*network, *len, ip))
        .max_by_key(|(_, (_, len))| *len)
        .map(|(u, _)| u)
}

fn contains(network: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Every interface but loopback and `skip` (the mesh interface), with its flags and networks.
fn scan(skip: &str) -> Vec<Underlay> {
    let Ok(addresses) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut found: Vec<Underlay> = Vec::new();
    for ifaddr in addresses {
        let name = ifaddr.interface_name;
        if name == skip || ifaddr.flags.contains(InterfaceFlags::IFF_LOOPBACK) {
            continue;
        }
        let running = ifaddr.flags.contains(InterfaceFlags::IFF_UP)
            && ifaddr.flags.contains(InterfaceFlags::IFF_RUNNING);
        let network = match (ifaddr.address, ifaddr.netmask) {
            (Some(address), Some(mask)) => {
                if let (Some(a), Some(m)) = (address.as_sockaddr_in(), mask.as_sockaddr_in()) {
                    Some((IpAddr::V4(a.ip()), u32::from(m.ip()).count_ones() as u8))
                } else if let (Some(a), Some(m)) =
                    (address.as_sockaddr_in6(), mask.as_sockaddr_in6())
                {
                    Some((IpAddr::V6(a.ip()), u128::from(m.ip()).count_ones() as u8))
                } else {
                    None
                }
            }
            _ => None,
        };
        let entry = match found.iter_mut().position(|u| u.name == name) {
            Some(i) => &mut found[i],
            None => {
                let index = nix::net::if_::if_nametoindex(name.as_str()).unwrap_or(0);
                found.push(Underlay {
                    name,
                    index,
                    running,
                    networks: Vec::new(),
                });
                found.last_mut().expect("just pushed")
            }
        };
        entry.running &= running;
        entry.networks.extend(network);
    }
    found
}

impl Daemon {
    /// Netlink news: rescan shortly (a burst of events, one scan).
    pub(super) fn underlay_changed(&mut self, now: Instant) {
        self.carrier.rescan_at = self.carrier.rescan_at.min(now + Duration::from_millis(20));
    }

    /// Rescans the underlay when due and takes down the links whose interface stopped running.
    pub(super) fn check_underlay(&mut self, now: Instant) {
        if self.carrier.rescan_at > now {
            return;
        }
        self.carrier.rescan_at = now + RESCAN_INTERVAL;
        let underlay = scan(&self.config.node.interface);
        let down = self.carrier.update(&underlay, &self.tunnels.peers());

        for (link, name) in down {
            info!(
                "underlay {name} is down or lost carrier: link {} down",
                link.0
            );
            self.node.link_down(now, link);
        }
    }
}

impl Carrier {
    /// Records where each link's endpoint lives and returns the links whose interface is no
    /// longer running (each once: forgotten until seen on a running interface again).
    fn update(
        &mut self,
        underlay: &[Underlay],
        peers: &[crate::tunnel::PeerStatus],
    ) -> Vec<(LinkId, String)> {
        self.via
            .retain(|link, _| peers.iter().any(|p| p.link == *link));
        for peer in peers {
            let Some(endpoint) = peer.endpoint else {
                continue;
            };
            // An endpoint on an interface that is down now, or not on-link (its interface
            // may have lost its addresses on the way down): `via` keeps what it knew.
            if let Some(u) = locate(underlay, endpoint).filter(|u| u.running) {
                self.via.insert(peer.link, u.name.clone());
            }
        }
        let mut down = Vec::new();
        self.via.retain(|link, name| {
            let running = underlay.iter().any(|u| u.name == *name && u.running);
            if !running {
                down.push((*link, name.clone()));
            }
            running
        });
        down.sort_by_key(|(link, _)| *link);
        down
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::PeerStatus;

    fn underlay(name: &str, index: u32, running: bool, networks: &[&str]) -> Underlay {
        Underlay {
            name: name.into(),
            index,
            running,
            networks: networks
                .iter()
                .map(|n| {
                    let (a, l) = n.split_once('/').unwrap();
                    (a.parse().unwrap(), l.parse().unwrap())
                })
                .collect(),
        }
    }

    fn peer(link: u32, endpoint: &str) -> PeerStatus {
        PeerStatus {
            link: LinkId(link),
            public_key: [link as u8; 32],
            endpoint: Some(endpoint.parse().unwrap()),
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
            up: true,
        }
    }

    #[test]
    fn endpoints_are_located_by_scope_or_on_link_network() {
        let all = [
            underlay("wan", 2, true, &["203.0.113.7/24", "2001:db8:1::7/64"]),
            underlay("lan", 3, true, &["198.51.100.1/24", "fd00:75::1/64"]),
        ];
        let at = |e: &str| locate(&all, e.parse().unwrap()).map(|u| u.name.as_str());
        assert_eq!(at("[fe80::1%3]:51820"), Some("lan"));
        assert_eq!(at("[fd00:75::2]:51820"), Some("lan"));
        assert_eq!(at("198.51.100.9:51820"), Some("lan"));
        assert_eq!(at("[::ffff:203.0.113.9]:51820"), Some("wan"));
        assert_eq!(at("192.0.2.1:51820"), None, "through a gateway");
    }

    #[test]
    fn a_link_goes_down_once_when_its_interface_stops_running() {
        let mut carrier = Carrier {
            watch: None,
            via: HashMap::new(),
            rescan_at: Instant::now(),
        };
        let peers = [peer(1, "[fd00:75::2]:51820"), peer(2, "192.0.2.1:51820")];
        let up = [underlay("veth0", 5, true, &["fd00:75::1/64"])];
        assert!(carrier.update(&up, &peers).is_empty());
        // Down, and its IPv6 addresses gone with it, as Linux does: link 1 is down, once; the
        // peer behind a gateway (link 2) is not the interface's to judge.
        let down = [underlay("veth0", 5, false, &[])];
        assert_eq!(
            carrier.update(&down, &peers),
            vec![(LinkId(1), "veth0".to_string())]
        );
        assert!(carrier.update(&down, &peers).is_empty(), "only once");
        // Back up with its network: tracked again, and down again on the next loss.
        assert!(carrier.update(&up, &peers).is_empty());
        let gone: [Underlay; 0] = [];
        assert_eq!(
            carrier.update(&gone, &peers).len(),
            1,
            "deleted counts as down"
        );
    }
}
