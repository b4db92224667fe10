//! The networks this router has itself, which no route from the mesh may take over: the subnets
//! and addresses of its interfaces other than the mesh's, and what its own (non-mesh) routes
//! reach directly or through a next hop. Read from the kernel's address and route dumps
//! ([`super::Netlink::local_networks`]); this file only decides, from values already parsed, so
//! the rules are tested without a kernel.

use std::net::IpAddr;

use babel::Prefix;

use super::ROUTE_PROTOCOL;

/// A network the router has, and the interface it is on (as the user knows it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalNetwork {
    pub network: Prefix,
    pub interface: String,
}

/// An address on an interface, from an address dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub interface: String,
    /// The router's own address (`IFA_LOCAL`, or `IFA_ADDRESS` without one).
    pub local: IpAddr,
    /// `IFA_ADDRESS` when it differs: the far end of a point-to-point link.
    pub peer: Option<IpAddr>,
    pub prefix_len: u8,
}

/// `ifaddrmsg` (linux/if_addr.h): family, prefix length, flags, scope, interface index.
const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// An `RTM_NEWADDR` body: (interface index, prefix length, `IFA_LOCAL`, `IFA_ADDRESS`). Read by
/// hand: netlink-packet-route's parser for address messages reads every attribute kind there is,
/// and only these two are wanted. `None` for a truncated message.
pub fn parse_address(body: &[u8]) -> Option<(u32, u8, Option<IpAddr>, Option<IpAddr>)> {
    let header = body.get(..IFADDRMSG_LEN)?;
    let prefix_len = header[1];
    let index = u32::from_ne_bytes([header[4], header[5], header[6], header[7]]);
    let (mut local, mut address) = (None, None);
    let mut rest = &body[IFADDRMSG_LEN..];
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        let value = rest.get(4..len)?;
        let ip = match value.len() {
            4 => <[u8; 4]>::try_from(value).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(value).ok().map(IpAddr::from),
            _ => None,
        };
        match kind {
            IFA_ADDRESS => address = ip,
            IFA_LOCAL => local = ip,
            _ => {}
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    Some((index, prefix_len, local, address))
}

/// What a kernel route is, for this file's purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// Forwards packets (`RTN_UNICAST`).
    Unicast,
    /// Drops them (`unreachable`, `blackhole`, `prohibit`): a prefix the owner holds, such as
    /// a delegated IPv6 prefix routed nowhere but to its LANs.
    Drop,
    /// Anything else (local, broadcast, multicast, ...): not a network of its own.
    Other,
}

/// A route from a route dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    pub destination: Prefix,
    /// Its output interface, when it has one.
    pub interface: Option<String>,
    pub gateway: Option<IpAddr>,
    pub protocol: u8,
    /// The routing table (255 is `local`, whose routes all repeat the addresses).
    pub table: u32,
    pub kind: RouteKind,
}

/// The `local` routing table (linux/rtnetlink.h RT_TABLE_LOCAL).
const LOCAL_TABLE: u32 = 255;

fn host_prefix(address: IpAddr) -> Option<Prefix> {
    Prefix::new(address, if address.is_ipv4() { 32 } else { 128 })
}

/// The networks a route from the mesh must not equal or lie inside, sorted, each once:
/// - every address of the router, on any interface (`mesh_interface`'s too: the node's own mesh
///   address), as a /32 or /128;
/// - the subnet of every address on the other interfaces, and the far end of a point-to-point
///   address;
/// - the destination of every route that is not meshd's and not on `mesh_interface` (connected
///   and static routes, and the owner's unreachable ones), except default routes, which are
///   shorter than anything;
/// - the next hop of every such route, default routes included: announcing the /32 of the
///   uplink's gateway would otherwise take all of the router's internet traffic.
///
/// Martians (loopback, link-local) are left out: the filter refuses them anyway.
pub fn local_networks(
    addresses: &[InterfaceAddress],
    routes: &[KernelRoute],
    mesh_interface: &str,
) -> Vec<LocalNetwork> {
    let mut out: Vec<LocalNetwork> = Vec::new();
    let mut push = |network: Option<Prefix>, interface: &str| {
        if let Some(network) = network.filter(|n| !babel::martian(*n)) {
            out.push(LocalNetwork {
                network,
                interface: interface.to_owned(),
            });
        }
    };
    for a in addresses {
        push(host_prefix(a.local), &a.interface);
        if a.interface == mesh_interface {
            continue;
        }
        match a.peer {
            Some(peer) => push(Prefix::new(peer, a.prefix_len), &a.interface),
            None => push(Prefix::new(a.local, a.prefix_len), &a.interface),
        }
    }
    for r in routes {
        let on_mesh = r.interface.as_deref() == Some(mesh_interface);
        if r.protocol == ROUTE_PROTOCOL || on_mesh || r.table == LOCAL_TABLE {
            continue;
        }
        let interface = r.interface.as_deref().unwrap_or("-");
        if let Some(gateway) = r.gateway {
            push(host_prefix(gateway), interface);
        }
        let reaches = match r.kind {
            RouteKind::Unicast => r.gateway.is_none(),
            RouteKind::Drop => true,
            RouteKind::Other => false,
        };
        if reaches && !r.destination.is_default() {
            push(Some(r.destination), interface);
        }
    }
    out.sort();
    // One entry per network: the first interface in name order names it.
    out.dedup_by(|b, a| a.network == b.network);
    out
}

/// The interface a refusal's network is on, for "overlaps lan0 192.0.2.0/24".
pub fn interface_of(networks: &[LocalNetwork], network: Prefix) -> Option<&str> {
    networks
        .iter()
        .find(|n| n.network == network)
        .map(|n| n.interface.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Prefix {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn address(interface: &str, text: &str) -> InterfaceAddress {
        let (local, len) = text.split_once('/').unwrap();
        InterfaceAddress {
            interface: interface.into(),
            local: ip(local),
            peer: None,
            prefix_len: len.parse().unwrap(),
        }
    }

    fn route(destination: &str, interface: &str, gateway: Option<&str>) -> KernelRoute {
        KernelRoute {
            destination: p(destination),
            interface: Some(interface.into()),
            gateway: gateway.map(ip),
            protocol: 3, // boot: `ip route add`
            table: 254,
            kind: RouteKind::Unicast,
        }
    }

    fn names(list: &[LocalNetwork]) -> Vec<String> {
        list.iter()
            .map(|n| format!("{} {}", n.interface, n.network))
            .collect()
    }

    #[test]
    fn addresses_give_their_subnet_and_themselves() {
        let list = local_networks(
            &[
                address("lan0", "192.0.2.1/24"),
                address("lan0", "2001:db8:aa::1/64"),
                address("lan0", "fe80::1/64"),
                address("lo", "127.0.0.1/8"),
                address("lo", "::1/128"),
                address("mesh0", "fd6d:6573:6800:1:2:3:4:5/128"),
                address("mesh0", "198.51.100.7/32"),
            ],
            &[],
            "mesh0",
        );
        assert_eq!(
            names(&list),
            [
                "lan0 192.0.2.0/24",
                "lan0 192.0.2.1/32",
                "mesh0 198.51.100.7/32",
                "lan0 2001:db8:aa::/64",
                "lan0 2001:db8:aa::1/128",
                "mesh0 fd6d:6573:6800:1:2:3:4:5/128",
            ]
        );
    }

    #[test]
    fn a_point_to_point_address_gives_its_far_end() {
        let mut ppp = address("ppp0", "203.0.113.9/32");
        ppp.peer = Some(ip("198.51.100.1"));
        let list = local_networks(&[ppp], &[], "mesh0");
        assert_eq!(
            names(&list),
            ["ppp0 198.51.100.1/32", "ppp0 203.0.113.9/32"]
        );
    }

    #[test]
    fn routes_give_what_they_reach_and_their_next_hops() {
        let mut ours = route("fd00:1::/64", "mesh0", None);
        ours.protocol = ROUTE_PROTOCOL;
        let mut ours_elsewhere = route("203.0.113.128/25", "lan0", None);
        ours_elsewhere.protocol = ROUTE_PROTOCOL;
        let mut delegated = route("2001:db8:aa::/48", "lo", None);
        delegated.kind = RouteKind::Drop;
        let mut broadcast = route("192.0.2.255/32", "lan0", None);
        broadcast.table = LOCAL_TABLE;
        let mut multicast = route("ff00::/8", "lan0", None);
        multicast.kind = RouteKind::Other;
        let list = local_networks(
            &[],
            &[
                // The uplink's default route: its gateway, not everything.
                route("0.0.0.0/0", "wan0", Some("198.51.100.1")),
                route("::/0", "wan0", Some("fe80::1")),
                // A static route over the LAN: reached through a host there.
                route("203.0.113.0/25", "lan0", Some("192.0.2.9")),
                // On-link without an address of ours in it.
                route("203.0.113.200/29", "eth9", None),
                ours,
                ours_elsewhere,
                delegated,
                broadcast,
                multicast,
                // Someone else's route on mesh0 (a gateway user's tunnel, say).
                route("2001:db8:bb::/64", "mesh0", None),
            ],
            "mesh0",
        );
        assert_eq!(
            names(&list),
            [
                "lan0 192.0.2.9/32",
                "wan0 198.51.100.1/32",
                "eth9 203.0.113.200/29",
                "lo 2001:db8:aa::/48",
            ]
        );
    }

    #[test]
    fn address_messages_are_read_by_hand() {
        let mut body = vec![2, 24, 0, 0];
        body.extend_from_slice(&7u32.to_ne_bytes());
        crate::kernel::socket::push_attribute(&mut body, IFA_ADDRESS, &[192, 0, 2, 1]);
        crate::kernel::socket::push_attribute(&mut body, 8, &[0; 4]); // IFA_FLAGS: skipped
        crate::kernel::socket::push_attribute(&mut body, IFA_LOCAL, &[192, 0, 2, 2]);
        assert_eq!(
            parse_address(&body),
            Some((7, 24, Some(ip("192.0.2.2")), Some(ip("192.0.2.1"))))
        );
        let v6 = ip("2001:db8:aa::1");
        let mut body = vec![10, 64, 0, 0];
        body.extend_from_slice(&3u32.to_ne_bytes());
        let IpAddr::V6(octets) = v6 else {
            unreachable!()
        };
        crate::kernel::socket::push_attribute(&mut body, IFA_ADDRESS, &octets.octets());
        assert_eq!(parse_address(&body), Some((3, 64, None, Some(v6))));
        // Truncated: a header cut short, an attribute longer than the message.
        assert_eq!(parse_address(&[2, 24, 0]), None);
        let mut bad = vec![2, 24, 0, 0, 1, 0, 0, 0];
        bad.extend_from_slice(&[40, 0, 1, 0, 192, 0, 2, 1]);
        assert_eq!(parse_address(&bad), None);
    }

    #[test]
    fn each_network_once() {
        let list = local_networks(
            &[
                address("lan0", "192.0.2.1/24"),
                address("lan0", "192.0.2.2/24"),
            ],
            &[route("192.0.2.0/24", "lan0", None)],
            "mesh0",
        );
        assert_eq!(
            names(&list),
            [
                "lan0 192.0.2.0/24",
                "lan0 192.0.2.1/32",
                "lan0 192.0.2.2/32"
            ]
        );
        assert_eq!(interface_of(&list, p("192.0.2.0/24")), Some("lan0"));
        assert_eq!(interface_of(&list, p("192.0.3.0/24")), None);
    }
}
