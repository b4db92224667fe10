//! [`Netlink`]: [`Kernel`] over rtnetlink.
//!
//! Routes are installed as `prefix dev <ifname> proto 109` in the main table, with the kernel's
//! default metric; default routes (`::/0`, `0.0.0.0/0`, from mesh gateways) get metric
//! [`DEFAULT_ROUTE_METRIC`] instead, so the owner's own default route (the WAN's, usually metric
//! 0 to a few hundred) always wins and is never replaced, and a route MTU when one is set
//! ([`Netlink::set_default_route_mtu`]: room for the tunnel header to the gateway). Every delete names protocol [`ROUTE_PROTOCOL`] (and the device), and the kernel
//! matches on both, so a delete can never hit a route meshd did not install.

// Used by the daemon driver, being written.
#![allow(dead_code)]

use std::io;
use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlag, AddressMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteProtocol,
    RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, IpVersion};

use super::{address_what, route_what, Kernel, KernelError, ROUTE_PROTOCOL};

/// The metric the kernel gives an IPv6 route added without one (IP6_RT_PRIO_USER); IPv4's is 0.
const IPV6_DEFAULT_METRIC: u32 = 1024;

/// The metric of meshd's default routes: far above what a WAN's default route gets (OpenWrt's
/// netifd uses 0 unless told otherwise; DHCP clients use up to a few thousand), so that a node
/// with its own uplink keeps using it, and installing ours never collides with the owner's.
pub const DEFAULT_ROUTE_METRIC: u32 = 1_000_000;

/// The kernel over an rtnetlink socket.
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: Handle,
    default_route_mtu: Option<u32>,
}

/// The errno of a failed rtnetlink request, if the kernel sent one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().raw_os_error(),
        _ => None,
    }
}

fn os_error(what: String, e: rtnetlink::Error) -> KernelError {
    let error = match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other.to_string()),
    };
    KernelError::Os { what, error }
}

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

fn version(prefix: babel::Prefix) -> IpVersion {
    match prefix.addr() {
        IpAddr::V4(_) => IpVersion::V4,
        IpAddr::V6(_) => IpVersion::V6,
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
    /// Opens an rtnetlink socket; its connection runs as a task on the current tokio runtime and
    /// ends when the last clone of this `Netlink` is dropped.
    pub async fn open() -> Result<Netlink, KernelError> {
        let (connection, handle, _unsolicited) =
            rtnetlink::new_connection().map_err(|error| KernelError::Os {
                what: "opening an rtnetlink socket".to_owned(),
                error,
            })?;
        tokio::spawn(connection);
        Ok(Netlink {
            handle,
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
        let no_such_link = || KernelError::NoSuchLink {
            what: what.to_owned(),
            ifname: ifname.to_owned(),
        };
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(ifname.to_owned())
            .execute();
        match links.try_next().await {
            Ok(Some(link)) => Ok(link.header.index),
            Ok(None) => Err(no_such_link()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Err(no_such_link()),
            Err(e) => Err(os_error(what.to_owned(), e)),
        }
    }

    /// Adds `prefix dev <index> proto 109`; with `replace`, over an existing route of the same key.
    async fn add_route(
        &self,
        index: u32,
        prefix: babel::Prefix,
        replace: bool,
    ) -> Result<(), rtnetlink::Error> {
        let mut request = self
            .handle
            .route()
            .add()
            .protocol(RouteProtocol::from(ROUTE_PROTOCOL))
            .output_interface(index);
        if prefix.len() == 0 {
            request = request.priority(DEFAULT_ROUTE_METRIC);
            if let Some(mtu) = self.default_route_mtu {
                request
                    .message_mut()
                    .attributes
                    .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
            }
        }
        // rtnetlink's `replace()` must come after `v4()`/`v6()`, which reset it.
        match prefix.addr() {
            IpAddr::V4(addr) => {
                // A route without a gateway is link-scoped, as `ip route add ... dev` makes it.
                let r = request
                    .v4()
                    .scope(RouteScope::Link)
                    .destination_prefix(addr, prefix.len());
                if replace { r.replace() } else { r }.execute().await
            }
            IpAddr::V6(addr) => {
                let r = request.v6().destination_prefix(addr, prefix.len());
                if replace { r.replace() } else { r }.execute().await
            }
        }
    }

    /// The main-table routes with exactly `prefix` and the metric ours get, which an add of ours
    /// would collide with.
    async fn routes_with_our_key(
        &self,
        prefix: babel::Prefix,
        what: &str,
    ) -> Result<Vec<RouteMessage>, KernelError> {
        let our_metric = match prefix.addr() {
            _ if prefix.len() == 0 => DEFAULT_ROUTE_METRIC,
            IpAddr::V4(_) => 0,
            IpAddr::V6(_) => IPV6_DEFAULT_METRIC,
        };
        let routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(version(prefix))
            .execute()
            .try_collect()
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
        self.handle
            .link()
            .set(index)
            .mtu(u32::from(mtu))
            .execute()
            .await
            .map_err(|e| os_error(format!("setting MTU {mtu} on {ifname}"), e))?;
        for &(addr, len) in addresses {
            let mut request = self.handle.address().add(index, addr, len);
            let message = request.message_mut();
            // rtnetlink sets the broadcast address of an IPv4 /32 to the address itself, which
            // would add a broadcast route for our own address; `ip addr add` sets none.
            message
                .attributes
                .retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
            if addr.is_ipv6() {
                // A point-to-point TUN has no one to detect duplicates with; don't wait for it.
                message
                    .attributes
                    .push(AddressAttribute::Flags(vec![AddressFlag::Nodad]));
            }
            match request.execute().await {
                Ok(()) => {}
                // Already there (a restart): fine.
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(os_error(address_what("adding", "to", ifname, addr, len), e)),
            }
        }
        self.handle
            .link()
            .set(index)
            .up()
            .execute()
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
        // Add exclusively first, so that a route of someone else's is never replaced silently.
        let err = match self.add_route(index, prefix, false).await {
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
        self.add_route(index, prefix, true)
            .await
            .map_err(|e| os_error(route_what("replacing", ifname, prefix), e))
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
        message.header.address_family = match prefix.addr() {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        message
            .attributes
            .push(RouteAttribute::Destination(match prefix.addr() {
                IpAddr::V4(a) => RouteAddress::Inet(a),
                IpAddr::V6(a) => RouteAddress::Inet6(a),
            }));
        message.attributes.push(RouteAttribute::Oif(index));
        match self.handle.route().del(message).execute().await {
            Ok(()) => Ok(()),
            // Not there (IPv4 and IPv6 say so differently).
            Err(e) if matches!(errno(&e), Some(libc::ESRCH | libc::ENOENT)) => Ok(()),
            Err(e) => Err(os_error(what, e)),
        }
    }

    async fn flush_routes(&mut self) -> Result<usize, KernelError> {
        let mut flushed = 0;
        for (family, version) in [("IPv4", IpVersion::V4), ("IPv6", IpVersion::V6)] {
            let routes: Vec<RouteMessage> = self
                .handle
                .route()
                .get(version)
                .execute()
                .try_collect()
                .await
                .map_err(|e| os_error(format!("listing {family} routes"), e))?;
            for route in routes.iter().filter(|r| is_ours(r)) {
                let del = deletion_of(route);
                match self.handle.route().del(del).execute().await {
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
            let mut message = AddressMessage::default();
            message.header.family = match addr {
                IpAddr::V4(_) => AddressFamily::Inet,
                IpAddr::V6(_) => AddressFamily::Inet6,
            };
            message.header.prefix_len = len;
            message.header.index = index;
            message.attributes.push(AddressAttribute::Address(addr));
            message.attributes.push(AddressAttribute::Local(addr));
            match self.handle.address().del(message).execute().await {
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
