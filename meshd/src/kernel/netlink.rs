//! [`Netlink`]: [`Kernel`] over a route netlink socket ([`super::socket`]).
//!
//! Routes are installed as `prefix dev <ifname> proto 109` in the main table, with the kernel's
//! default metric; default routes (`::/0`, `0.0.0.0/0`, from mesh gateways) get metric
//! [`DEFAULT_ROUTE_METRIC`] instead, so the owner's own default route (the WAN's, usually metric
//! 0 to a few hundred) always wins and is never replaced, and a route MTU when one is set
//! ([`Netlink::set_default_route_mtu`]: room for the tunnel header to the gateway). Every delete names protocol [`ROUTE_PROTOCOL`] (and the device), and the kernel
//! matches on both, so a delete can never hit a route meshd did not install.

use std::io;
use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressFlag, AddressMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMessageBuffer, RouteMetric,
    RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_utils::{Emitable, Parseable};

use super::socket::{
    push_attribute, RouteSocket, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, RTM_DELADDR,
    RTM_DELROUTE, RTM_GETROUTE, RTM_NEWADDR, RTM_NEWROUTE, RTM_SETLINK,
};
use super::{address_what, route_what, Kernel, KernelError, ROUTE_PROTOCOL};

/// The metric the kernel gives an IPv6 route added without one (IP6_RT_PRIO_USER); IPv4's is 0.
const IPV6_DEFAULT_METRIC: u32 = 1024;

/// The metric of meshd's default routes: far above what a WAN's default route gets (OpenWrt's
/// netifd uses 0 unless told otherwise; DHCP clients use up to a few thousand), so that a node
/// with its own uplink keeps using it, and installing ours never collides with the owner's.
pub const DEFAULT_ROUTE_METRIC: u32 = 1_000_000;

/// The kernel over a route netlink socket.
#[derive(Debug)]
pub struct Netlink {
    socket: RouteSocket,
    default_route_mtu: Option<u32>,
}

/// The errno of a failed request.
fn errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
}

fn os_error(what: String, error: io::Error) -> KernelError {
    KernelError::Os { what, error }
}

/// A message body as netlink-packet-route emits it.
fn body_of(message: &impl Emitable) -> Vec<u8> {
    let mut body = vec![0; message.buffer_len()];
    message.emit(&mut body);
    body
}

/// `ifinfomsg` (linux/rtnetlink.h) for link `index`: flags `flags` of those in `change`.
fn link_header(index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut header = vec![0u8; 4]; // family AF_UNSPEC, padding, device type 0
    header.extend_from_slice(&index.to_ne_bytes());
    header.extend_from_slice(&flags.to_ne_bytes());
    header.extend_from_slice(&change.to_ne_bytes());
    header
}

/// `addr/len` on link `index`: the address and, as `ip addr add` sets it, the local address. No
/// broadcast address: an IPv4 /32 with one would get a broadcast route for our own address.
fn address_message(index: u32, addr: IpAddr, len: u8) -> AddressMessage {
    let mut message = AddressMessage::default();
    message.header.family = family(addr);
    message.header.prefix_len = len;
    message.header.index = index;
    message.attributes.push(AddressAttribute::Address(addr));
    message.attributes.push(AddressAttribute::Local(addr));
    message
}

/// The key attributes of a route of ours: `prefix` on link `index`.
fn push_destination(message: &mut RouteMessage, index: u32, prefix: babel::Prefix) {
    push_destination_only(message, prefix);
    message.attributes.push(RouteAttribute::Oif(index));
}

/// The destination attribute alone, for routes without a device (unreachable).
fn push_destination_only(message: &mut RouteMessage, prefix: babel::Prefix) {
    message
        .attributes
        .push(RouteAttribute::Destination(match prefix.addr() {
            IpAddr::V4(a) => RouteAddress::Inet(a),
            IpAddr::V6(a) => RouteAddress::Inet6(a),
        }));
}

/// IFLA_MTU (linux/if_link.h).
const IFLA_MTU: u16 = 4;

/// The metric of a dumped route (IPv4 dumps leave out a zero metric).
fn metric(route: &RouteMessage) -> u32 {
    route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Priority(p) => Some(*p),
            _ => None,
        })
        .unwrap_or(0)
}

/// The routing table of a dumped route (tables above 255 only come as an attribute).
fn table(route: &RouteMessage) -> u32 {
    route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table))
}

/// The destination of a dumped route (absent for a default route).
fn destination(route: &RouteMessage) -> Option<IpAddr> {
    route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
        RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
        _ => None,
    })
}

fn is_ours(route: &RouteMessage) -> bool {
    u8::from(route.header.protocol) == ROUTE_PROTOCOL
}

fn family(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// A minimal RTM_DELROUTE for a dumped route: its key (family, table, destination, metric), its
/// protocol and its next hops, without the statistics and cache attributes of the dump.
fn deletion_of(route: &RouteMessage) -> RouteMessage {
    let mut del = RouteMessage::default();
    del.header = route.header.clone();
    del.header.flags.clear();
    del.attributes = route
        .attributes
        .iter()
        .filter(|a| {
            matches!(
                a,
                RouteAttribute::Destination(_)
                    | RouteAttribute::Source(_)
                    | RouteAttribute::Oif(_)
                    | RouteAttribute::Gateway(_)
                    | RouteAttribute::Via(_)
                    | RouteAttribute::Priority(_)
                    | RouteAttribute::Table(_)
            )
        })
        .cloned()
        .collect();
    del
}

impl Netlink {
    /// Opens a route netlink socket.
    pub async fn open() -> Result<Netlink, KernelError> {
        let socket = RouteSocket::open().map_err(|error| KernelError::Os {
            what: "opening a route netlink socket".to_owned(),
            error,
        })?;
        Ok(Netlink {
            socket,
            default_route_mtu: None,
        })
    }

    /// The MTU default routes get from now on (the mesh MTU less the tunnel header to the
    /// gateway), so local TCP picks a segment size that fits without a Packet Too Big first.
    pub fn set_default_route_mtu(&mut self, mtu: u32) {
        self.default_route_mtu = Some(mtu);
    }

    /// The index of interface `ifname`.
    async fn link_index(&self, ifname: &str, what: &str) -> Result<u32, KernelError> {
        match nix::net::if_::if_nametoindex(ifname) {
            Ok(index) => Ok(index),
            Err(nix::errno::Errno::ENODEV) => Err(KernelError::NoSuchLink {
                what: what.to_owned(),
                ifname: ifname.to_owned(),
            }),
            Err(e) => Err(os_error(what.to_owned(), e.into())),
        }
    }

    /// Every route of `family`, in every table.
    async fn routes(&mut self, family: AddressFamily) -> io::Result<Vec<RouteMessage>> {
        let mut request = RouteMessage::default();
        request.header.address_family = family;
        let bodies = self.socket.dump(RTM_GETROUTE, &body_of(&request)).await?;
        bodies
            .iter()
            .map(|body| {
                RouteMessageBuffer::new_checked(body)
                    .and_then(|buffer| RouteMessage::parse(&buffer))
                    .map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("unreadable route from the kernel: {e}"),
                        )
                    })
            })
            .collect()
    }

    /// Adds `prefix dev <index> proto 109` (with `device`) or `unreachable prefix proto 109`
    /// (without); with `replace`, over an existing route of the same key, whatever its type.
    async fn add_route(
        &mut self,
        device: Option<u32>,
        prefix: babel::Prefix,
        replace: bool,
    ) -> io::Result<()> {
        let mut message = RouteMessage::default();
        message.header.address_family = family(prefix.addr());
        message.header.table = RouteHeader::RT_TABLE_MAIN;
        message.header.protocol = RouteProtocol::from(ROUTE_PROTOCOL);
        message.header.destination_prefix_length = prefix.len();
        match device {
            Some(index) => {
                message.header.kind = RouteType::Unicast;
                // A route without a gateway is link-scoped, as `ip route add ... dev` makes it;
                // IPv6 routes are always universe-scoped.
                message.header.scope = match prefix.addr() {
                    IpAddr::V4(_) => RouteScope::Link,
                    IpAddr::V6(_) => RouteScope::Universe,
                };
                push_destination(&mut message, index, prefix);
            }
            None => {
                // As `ip route add unreachable` makes it: no device (the kernel refuses one for
                // IPv4 reject routes), universe scope.
                message.header.kind = RouteType::Unreachable;
                message.header.scope = RouteScope::Universe;
                push_destination_only(&mut message, prefix);
            }
        }
        if prefix.len() == 0 {
            message
                .attributes
                .push(RouteAttribute::Priority(DEFAULT_ROUTE_METRIC));
            if let (Some(mtu), Some(_)) = (self.default_route_mtu, device) {
                message
                    .attributes
                    .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
            }
        }
        let flags = NLM_F_CREATE | if replace { NLM_F_REPLACE } else { NLM_F_EXCL };
        self.socket
            .request(RTM_NEWROUTE, flags, &body_of(&message))
            .await
    }

    /// Adds a route of ours for `prefix` (on `device`, or unreachable without one), replacing a
    /// route of ours with the same key but never someone else's.
    async fn install(
        &mut self,
        device: Option<u32>,
        prefix: babel::Prefix,
        what: String,
    ) -> Result<(), KernelError> {
        // Add exclusively first, so that a route of someone else's is never replaced silently.
        let err = match self.add_route(device, prefix, false).await {
            Ok(()) => return Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => e,
            Err(e) => return Err(os_error(what, e)),
        };
        let in_the_way = self.routes_with_our_key(prefix, &what).await?;
        if let Some(foreign) = in_the_way.iter().find(|r| !is_ours(r)) {
            return Err(KernelError::ForeignRoute {
                what,
                protocol: u8::from(foreign.header.protocol),
            });
        }
        if in_the_way.is_empty() {
            // Gone since, or a collision we cannot see: report the original error.
            return Err(os_error(what, err));
        }
        self.add_route(device, prefix, true)
            .await
            .map_err(|e| os_error(what.replacen("adding", "replacing", 1), e))
    }

    /// The main-table routes with exactly `prefix` and the metric ours get, which an add of ours
    /// would collide with.
    async fn routes_with_our_key(
        &mut self,
        prefix: babel::Prefix,
        what: &str,
    ) -> Result<Vec<RouteMessage>, KernelError> {
        let our_metric = match prefix.addr() {
            _ if prefix.len() == 0 => DEFAULT_ROUTE_METRIC,
            IpAddr::V4(_) => 0,
            IpAddr::V6(_) => IPV6_DEFAULT_METRIC,
        };
        let routes = self
            .routes(family(prefix.addr()))
            .await
            .map_err(|e| os_error(format!("{what}: listing routes"), e))?;
        Ok(routes
            .into_iter()
            .filter(|r| {
                table(r) == u32::from(RouteHeader::RT_TABLE_MAIN)
                    && r.header.destination_prefix_length == prefix.len()
                    && r.header.source_prefix_length == 0
                    && destination(r).map_or(prefix.len() == 0, |d| d == prefix.addr())
                    && metric(r) == our_metric
            })
            .collect())
    }
}

impl Kernel for Netlink {
    async fn configure_link(
        &mut self,
        ifname: &str,
        mtu: u16,
        addresses: &[(IpAddr, u8)],
    ) -> Result<(), KernelError> {
        let index = self
            .link_index(ifname, &format!("configuring {ifname}"))
            .await?;
        let mut link = link_header(index, 0, 0);
        push_attribute(&mut link, IFLA_MTU, &u32::from(mtu).to_ne_bytes());
        self.socket
            .request(RTM_SETLINK, 0, &link)
            .await
            .map_err(|e| os_error(format!("setting MTU {mtu} on {ifname}"), e))?;
        for &(addr, len) in addresses {
            let mut message = address_message(index, addr, len);
            if addr.is_ipv6() {
                // A point-to-point TUN has no one to detect duplicates with; don't wait for it.
                message
                    .attributes
                    .push(AddressAttribute::Flags(vec![AddressFlag::Nodad]));
            }
            let body = body_of(&message);
            match self
                .socket
                .request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &body)
                .await
            {
                Ok(()) => {}
                // Already there (a restart): fine.
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(os_error(address_what("adding", "to", ifname, addr, len), e)),
            }
        }
        let up = libc::IFF_UP as u32;
        self.socket
            .request(RTM_SETLINK, 0, &link_header(index, up, up))
            .await
            .map_err(|e| os_error(format!("bringing {ifname} up"), e))
    }

    async fn replace_route(
        &mut self,
        ifname: &str,
        prefix: babel::Prefix,
    ) -> Result<(), KernelError> {
        let what = route_what("adding", ifname, prefix);
        let index = self.link_index(ifname, &what).await?;
        self.install(Some(index), prefix, what).await
    }

    async fn replace_with_unreachable(&mut self, prefix: babel::Prefix) -> Result<(), KernelError> {
        self.install(None, prefix, format!("adding route unreachable {prefix}"))
            .await
    }

    async fn delete_unreachable(&mut self, prefix: babel::Prefix) -> Result<(), KernelError> {
        let mut message = RouteMessage::default();
        message.header.table = RouteHeader::RT_TABLE_MAIN;
        message.header.protocol = RouteProtocol::from(ROUTE_PROTOCOL);
        message.header.scope = RouteScope::NoWhere;
        // IPv4 deletes match the type; both families match the protocol, so this never removes
        // a route of someone else's.
        message.header.kind = RouteType::Unreachable;
        message.header.destination_prefix_length = prefix.len();
        message.header.address_family = family(prefix.addr());
        push_destination_only(&mut message, prefix);
        match self
            .socket
            .request(RTM_DELROUTE, 0, &body_of(&message))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(libc::ESRCH | libc::ENOENT)) => Ok(()),
            Err(e) => Err(os_error(format!("deleting route unreachable {prefix}"), e)),
        }
    }

    async fn delete_route(
        &mut self,
        ifname: &str,
        prefix: babel::Prefix,
    ) -> Result<(), KernelError> {
        let what = route_what("deleting", ifname, prefix);
        let index = match self.link_index(ifname, &what).await {
            Ok(index) => index,
            // The link took its routes with it.
            Err(KernelError::NoSuchLink { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut message = RouteMessage::default();
        message.header.table = RouteHeader::RT_TABLE_MAIN;
        message.header.protocol = RouteProtocol::from(ROUTE_PROTOCOL);
        // "Any scope", as `ip route del` asks.
        message.header.scope = RouteScope::NoWhere;
        message.header.kind = RouteType::Unicast;
        message.header.destination_prefix_length = prefix.len();
        message.header.address_family = family(prefix.addr());
        push_destination(&mut message, index, prefix);
        match self
            .socket
            .request(RTM_DELROUTE, 0, &body_of(&message))
            .await
        {
            Ok(()) => Ok(()),
            // Not there (IPv4 and IPv6 say so differently).
            Err(e) if matches!(errno(&e), Some(libc::ESRCH | libc::ENOENT)) => Ok(()),
            Err(e) => Err(os_error(what, e)),
        }
    }

    async fn flush_routes(&mut self) -> Result<usize, KernelError> {
        let mut flushed = 0;
        for (name, family) in [
            ("IPv4", AddressFamily::Inet),
            ("IPv6", AddressFamily::Inet6),
        ] {
            let routes = self
                .routes(family)
                .await
                .map_err(|e| os_error(format!("listing {name} routes"), e))?;
            for route in routes.iter().filter(|r| is_ours(r)) {
                let del = deletion_of(route);
                match self.socket.request(RTM_DELROUTE, 0, &body_of(&del)).await {
                    Ok(()) => flushed += 1,
                    Err(e) if matches!(errno(&e), Some(libc::ESRCH | libc::ENOENT)) => {}
                    Err(e) => {
                        let dst = destination(route).map_or("default".to_owned(), |d| {
                            format!("{d}/{}", route.header.destination_prefix_length)
                        });
                        return Err(os_error(
                            format!("flushing route {dst} proto {ROUTE_PROTOCOL}"),
                            e,
                        ));
                    }
                }
            }
        }
        Ok(flushed)
    }

    async fn remove_addresses(
        &mut self,
        ifname: &str,
        addresses: &[(IpAddr, u8)],
    ) -> Result<(), KernelError> {
        let index = match self
            .link_index(ifname, &format!("removing addresses from {ifname}"))
            .await
        {
            Ok(index) => index,
            Err(KernelError::NoSuchLink { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        for &(addr, len) in addresses {
            let message = address_message(index, addr, len);
            match self
                .socket
                .request(RTM_DELADDR, 0, &body_of(&message))
                .await
            {
                Ok(()) => {}
                // Already gone, or the link lost its IPv6 state on the way down.
                Err(e) if matches!(errno(&e), Some(libc::EADDRNOTAVAIL | libc::ENODEV)) => {}
                Err(e) => {
                    return Err(os_error(
                        address_what("removing", "from", ifname, addr, len),
                        e,
                    ))
                }
            }
        }
        Ok(())
    }
}
