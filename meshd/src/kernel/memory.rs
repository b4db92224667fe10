//! [`MemoryKernel`]: the kernel as BTreeMaps, for tests of the daemon driver.
//!
//! It keeps the semantics of [`super::Netlink`] that the driver relies on: replace is idempotent
//! and refuses to overwrite a route that is not ours, delete of a missing route succeeds, flush
//! removes only routes with [`ROUTE_PROTOCOL`], and a link that goes away takes its addresses and
//! routes with it. Unlike the kernel it keeps one route per prefix (no tables, no metrics).

// Used by the daemon driver, being written.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::IpAddr;

use super::{address_what, route_what, Kernel, KernelError, ROUTE_PROTOCOL};

/// One interface as the in-memory kernel sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryLink {
    pub mtu: Option<u16>,
    pub up: bool,
    pub addresses: BTreeSet<(IpAddr, u8)>,
}

/// One route: the device and the protocol that installed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryRoute {
    /// Empty for an unreachable route.
    pub ifname: String,
    pub protocol: u8,
    /// `unreachable prefix`: packets to it are refused.
    pub unreachable: bool,
}

/// The kernel in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryKernel {
    links: BTreeMap<String, MemoryLink>,
    routes: BTreeMap<babel::Prefix, MemoryRoute>,
}

impl MemoryKernel {
    pub fn new() -> MemoryKernel {
        MemoryKernel::default()
    }

    /// Creates an interface, down and unaddressed, as creating the TUN device does. An existing
    /// one is left as it is.
    pub fn add_link(&mut self, ifname: &str) {
        self.links.entry(ifname.to_owned()).or_default();
    }

    /// Removes an interface with its addresses and routes, as closing the TUN device does.
    pub fn remove_link(&mut self, ifname: &str) {
        self.links.remove(ifname);
        self.routes.retain(|_, r| r.ifname != ifname);
    }

    /// Installs a route someone else owns (`protocol` is not [`ROUTE_PROTOCOL`]), replacing
    /// whatever had the prefix: for tests that meshd leaves such routes alone.
    pub fn add_foreign_route(&mut self, ifname: &str, prefix: babel::Prefix, protocol: u8) {
        self.routes.insert(
            prefix,
            MemoryRoute {
                ifname: ifname.to_owned(),
                protocol,
                unreachable: false,
            },
        );
    }

    pub fn link(&self, ifname: &str) -> Option<&MemoryLink> {
        self.links.get(ifname)
    }

    pub fn links(&self) -> &BTreeMap<String, MemoryLink> {
        &self.links
    }

    /// Every route, meshd's and others'.
    pub fn routes(&self) -> &BTreeMap<babel::Prefix, MemoryRoute> {
        &self.routes
    }

    pub fn route(&self, prefix: babel::Prefix) -> Option<&MemoryRoute> {
        self.routes.get(&prefix)
    }

    /// meshd's routes (protocol [`ROUTE_PROTOCOL`]) with their devices.
    pub fn our_routes(&self) -> BTreeMap<babel::Prefix, String> {
        self.routes
            .iter()
            .filter(|(_, r)| r.protocol == ROUTE_PROTOCOL)
            .map(|(p, r)| (*p, r.ifname.clone()))
            .collect()
    }
}

fn valid_address(addr: IpAddr, len: u8) -> bool {
    match addr {
        IpAddr::V4(_) => len <= 32,
        IpAddr::V6(_) => len <= 128,
    }
}

impl Kernel for MemoryKernel {
    async fn configure_link(
        &mut self,
        ifname: &str,
        mtu: u16,
        addresses: &[(IpAddr, u8)],
    ) -> Result<(), KernelError> {
        let Some(link) = self.links.get_mut(ifname) else {
            return Err(KernelError::NoSuchLink {
                what: format!("configuring {ifname}"),
                ifname: ifname.to_owned(),
            });
        };
        if let Some(&(addr, len)) = addresses.iter().find(|(a, l)| !valid_address(*a, *l)) {
            return Err(KernelError::Os {
                what: address_what("adding", "to", ifname, addr, len),
                error: io::Error::from_raw_os_error(libc::EINVAL),
            });
        }
        link.mtu = Some(mtu);
        link.addresses.extend(addresses.iter().copied());
        link.up = true;
        Ok(())
    }

    async fn replace_route(
        &mut self,
        ifname: &str,
        prefix: babel::Prefix,
    ) -> Result<(), KernelError> {
        let what = || route_what("adding", ifname, prefix);
        if !self.links.contains_key(ifname) {
            return Err(KernelError::NoSuchLink {
                what: what(),
                ifname: ifname.to_owned(),
            });
        }
        if let Some(r) = self.routes.get(&prefix) {
            if r.protocol != ROUTE_PROTOCOL {
                return Err(KernelError::ForeignRoute {
                    what: what(),
                    protocol: r.protocol,
                });
            }
        }
        self.routes.insert(
            prefix,
            MemoryRoute {
                ifname: ifname.to_owned(),
                protocol: ROUTE_PROTOCOL,
                unreachable: false,
            },
        );
        Ok(())
    }

    async fn replace_with_unreachable(&mut self, prefix: babel::Prefix) -> Result<(), KernelError> {
        if let Some(r) = self.routes.get(&prefix) {
            if r.protocol != ROUTE_PROTOCOL {
                return Err(KernelError::ForeignRoute {
                    what: format!("adding route unreachable {prefix}"),
                    protocol: r.protocol,
                });
            }
        }
        self.routes.insert(
            prefix,
            MemoryRoute {
                ifname: String::new(),
                protocol: ROUTE_PROTOCOL,
                unreachable: true,
            },
        );
        Ok(())
    }

    async fn delete_unreachable(&mut self, prefix: babel::Prefix) -> Result<(), KernelError> {
        if self
            .routes
            .get(&prefix)
            .is_some_and(|r| r.protocol == ROUTE_PROTOCOL && r.unreachable)
        {
            self.routes.remove(&prefix);
        }
        Ok(())
    }

    async fn delete_route(
        &mut self,
        ifname: &str,
        prefix: babel::Prefix,
    ) -> Result<(), KernelError> {
        if self
            .routes
            .get(&prefix)
            .is_some_and(|r| r.protocol == ROUTE_PROTOCOL && !r.unreachable && r.ifname == ifname)
        {
            self.routes.remove(&prefix);
        }
        Ok(())
    }

    async fn flush_routes(&mut self) -> Result<usize, KernelError> {
        let before = self.routes.len();
        self.routes.retain(|_, r| r.protocol != ROUTE_PROTOCOL);
        Ok(before - self.routes.len())
    }

    async fn remove_addresses(
        &mut self,
        ifname: &str,
        addresses: &[(IpAddr, u8)],
    ) -> Result<(), KernelError> {
        if let Some(link) = self.links.get_mut(ifname) {
            for a in addresses {
                link.addresses.remove(a);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// MemoryKernel's futures never wait; poll once.
    fn now<F: Future>(f: F) -> F::Output {
        let mut cx = Context::from_waker(Waker::noop());
        match pin!(f).poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("MemoryKernel future pending"),
        }
    }

    fn p(s: &str) -> babel::Prefix {
        s.parse().unwrap()
    }

    const STATIC: u8 = 4;

    #[test]
    fn configure_needs_the_link_and_is_idempotent() {
        let mut k = MemoryKernel::new();
        let addrs = [
            ("fd00:6d65:7368::1".parse().unwrap(), 128),
            ("198.51.100.1".parse().unwrap(), 32),
        ];
        let e = now(k.configure_link("mesh0", 1420, &addrs)).unwrap_err();
        assert!(matches!(e, KernelError::NoSuchLink { .. }), "{e}");
        assert_eq!(e.to_string(), "configuring mesh0: no interface named mesh0");

        k.add_link("mesh0");
        now(k.configure_link("mesh0", 1420, &addrs)).unwrap();
        now(k.configure_link("mesh0", 1420, &addrs)).unwrap();
        let link = k.link("mesh0").unwrap();
        assert_eq!(link.mtu, Some(1420));
        assert!(link.up);
        assert_eq!(link.addresses, addrs.iter().copied().collect());

        now(k.remove_addresses("mesh0", &addrs[..1])).unwrap();
        assert_eq!(k.link("mesh0").unwrap().addresses.len(), 1);
        now(k.remove_addresses("mesh0", &addrs)).unwrap();
        assert!(k.link("mesh0").unwrap().addresses.is_empty());
        now(k.remove_addresses("gone0", &addrs)).unwrap();
    }

    #[test]
    fn routes_replace_delete_and_flush_only_ours() {
        let mut k = MemoryKernel::new();
        k.add_link("mesh0");
        k.add_link("eth0");
        k.add_foreign_route("eth0", p("fd00:dead::/64"), STATIC);
        k.add_foreign_route("eth0", p("192.0.2.0/24"), STATIC);

        let e = now(k.replace_route("mesh1", p("fd00:1::/64"))).unwrap_err();
        assert!(matches!(e, KernelError::NoSuchLink { .. }), "{e}");

        now(k.replace_route("mesh0", p("fd00:1::/64"))).unwrap();
        now(k.replace_route("mesh0", p("fd00:1::/64"))).unwrap();
        now(k.replace_route("mesh0", p("203.0.113.0/24"))).unwrap();
        now(k.replace_route("eth0", p("203.0.113.0/24"))).unwrap();
        assert_eq!(k.our_routes().len(), 2);
        assert_eq!(k.route(p("203.0.113.0/24")).unwrap().ifname, "eth0");

        let e = now(k.replace_route("mesh0", p("fd00:dead::/64"))).unwrap_err();
        assert!(
            matches!(
                e,
                KernelError::ForeignRoute {
                    protocol: STATIC,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(k.route(p("fd00:dead::/64")).unwrap().ifname, "eth0");

        // Deleting someone else's route, or ours on another device, does nothing.
        now(k.delete_route("eth0", p("fd00:dead::/64"))).unwrap();
        now(k.delete_route("mesh0", p("203.0.113.0/24"))).unwrap();
        assert_eq!(k.routes().len(), 4);
        now(k.delete_route("mesh0", p("fd00:1::/64"))).unwrap();
        now(k.delete_route("mesh0", p("fd00:1::/64"))).unwrap();
        assert_eq!(k.routes().len(), 3);

        now(k.replace_route("mesh0", p("fd00:2::/64"))).unwrap();
        assert_eq!(now(k.flush_routes()).unwrap(), 2);
        assert_eq!(now(k.flush_routes()).unwrap(), 0);
        let left: Vec<_> = k.routes().keys().copied().collect();
        assert_eq!(left, vec![p("192.0.2.0/24"), p("fd00:dead::/64")]);
    }

    #[test]
    fn unreachable_routes_replace_ours_only_and_go_with_a_flush() {
        let mut k = MemoryKernel::new();
        k.add_link("mesh0");
        k.add_foreign_route("eth0", p("fd00:dead::/64"), STATIC);
        now(k.replace_route("mesh0", p("fd00:1::/64"))).unwrap();
        now(k.replace_with_unreachable(p("fd00:1::/64"))).unwrap();
        assert!(k.route(p("fd00:1::/64")).unwrap().unreachable);
        let e = now(k.replace_with_unreachable(p("fd00:dead::/64"))).unwrap_err();
        assert!(matches!(e, KernelError::ForeignRoute { .. }), "{e}");
        // A unicast delete leaves the unreachable route; its own delete takes it.
        now(k.delete_route("mesh0", p("fd00:1::/64"))).unwrap();
        assert!(k.route(p("fd00:1::/64")).is_some());
        now(k.delete_unreachable(p("fd00:1::/64"))).unwrap();
        assert!(k.route(p("fd00:1::/64")).is_none());
        // Back to a route, then a flush takes every one of ours, unreachable ones too.
        now(k.replace_with_unreachable(p("203.0.113.0/24"))).unwrap();
        now(k.replace_route("mesh0", p("203.0.113.0/24"))).unwrap();
        assert!(!k.route(p("203.0.113.0/24")).unwrap().unreachable);
        now(k.replace_with_unreachable(p("fd00:3::/64"))).unwrap();
        assert_eq!(now(k.flush_routes()).unwrap(), 2);
        assert_eq!(k.our_routes().len(), 0);
    }

    #[test]
    fn a_link_takes_its_routes_with_it() {
        let mut k = MemoryKernel::new();
        k.add_link("mesh0");
        now(k.replace_route("mesh0", p("fd00:1::/64"))).unwrap();
        k.remove_link("mesh0");
        assert!(k.routes().is_empty());
        now(k.delete_route("mesh0", p("fd00:1::/64"))).unwrap();
    }
}
