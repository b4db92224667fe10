//! The kernel side of meshd: `mesh0`'s MTU, addresses and state, and one route per learned prefix,
//! `dev mesh0 proto 109`, so that `ip route` shows the mesh and local traffic enters it.
//!
//! [`Kernel`] is the interface the daemon drives; [`Netlink`] implements it over a route netlink
//! socket of its own ([`socket`]) and [`MemoryKernel`] in memory, with the same semantics, for tests of the driver.
//!
//! The rules both follow:
//! - every route meshd installs carries [`ROUTE_PROTOCOL`], and meshd only ever replaces, deletes or
//!   flushes routes carrying it: a route someone else installed is never touched, even when it has
//!   the same prefix (installing over it fails instead);
//! - deleting a route that is not there, or removing addresses from a link that is gone, succeeds,
//!   so that stop and restart paths can be run twice.
//!
//! This module depends only on external crates and `babel` (it is also compiled into
//! `tests/kernel_netns.rs`).

// Used by the daemon driver, being written.
#![allow(dead_code)]

mod memory;
mod netlink;
pub mod socket;

use std::fmt;
use std::io;
use std::net::IpAddr;

// Used by the daemon driver, being written.
#[allow(unused_imports)]
pub use memory::{MemoryKernel, MemoryLink, MemoryRoute};
#[allow(unused_imports)]
pub use netlink::Netlink;

/// meshd's own rtnetlink route protocol number. It is unassigned in iproute2's
/// `/etc/iproute2/rt_protos` (which names 0-18, 42 babel, 99 openr, 186-192), so meshd's routes are
/// recognisable and can be flushed by hand: `ip route show proto 109`, `ip route flush proto 109`.
pub const ROUTE_PROTOCOL: u8 = 109;

/// A kernel operation that failed.
#[derive(Debug)]
pub enum KernelError {
    /// The interface does not exist (say, `mesh0` before the TUN device is created).
    NoSuchLink {
        /// What we were doing, e.g. "adding route fd00::/64 dev mesh0".
        what: String,
        ifname: String,
    },
    /// Installing a route would replace one that is not meshd's.
    ForeignRoute {
        what: String,
        /// The route protocol of the route in the way.
        protocol: u8,
    },
    /// The kernel (or the netlink socket) refused the request.
    Os { what: String, error: io::Error },
}

impl KernelError {
    /// What we were doing when it failed.
    pub fn what(&self) -> &str {
        match self {
            KernelError::NoSuchLink { what, .. }
            | KernelError::ForeignRoute { what, .. }
            | KernelError::Os { what, .. } => what,
        }
    }

    /// The errno, when the kernel gave one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            KernelError::Os { error, .. } => error.raw_os_error(),
            KernelError::NoSuchLink { .. } => Some(libc::ENODEV),
            KernelError::ForeignRoute { .. } => Some(libc::EEXIST),
        }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::NoSuchLink { what, ifname } => {
                write!(f, "{what}: no interface named {ifname}")
            }
            KernelError::ForeignRoute { what, protocol } => write!(
                f,
                "{what}: a route for this prefix with protocol {protocol} (not meshd's {ROUTE_PROTOCOL}) \
                 is in the way; meshd leaves it alone"
            ),
            KernelError::Os { what, error } => write!(f, "{what}: {error}"),
        }
    }
}

impl std::error::Error for KernelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KernelError::Os { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The kernel as meshd drives it. One implementation talks rtnetlink ([`Netlink`]), one records
/// everything in memory ([`MemoryKernel`]).
#[allow(async_fn_in_trait)]
pub trait Kernel {
    /// Sets the MTU, adds the addresses (the IPv6 /128 mesh address, an optional IPv4 /32) and
    /// brings the link up. Addresses already present are fine (a restart).
    async fn configure_link(
        &mut self,
        ifname: &str,
        mtu: u16,
        addresses: &[(IpAddr, u8)],
    ) -> Result<(), KernelError>;

    /// Adds or replaces `prefix dev ifname proto ROUTE_PROTOCOL` (IPv4 or IPv6). Fails with
    /// [`KernelError::ForeignRoute`] rather than replace a route that is not meshd's.
    async fn replace_route(
        &mut self,
        ifname: &str,
        prefix: babel::Prefix,
    ) -> Result<(), KernelError>;

    /// Replaces meshd's route for `prefix` (or nothing) with `unreachable prefix proto
    /// ROUTE_PROTOCOL`, so that local traffic to a prefix the mesh lost is refused instead of
    /// following a shorter route (RFC 8966 §3.5.4). Fails with [`KernelError::ForeignRoute`]
    /// rather than replace a route that is not meshd's.
    async fn replace_with_unreachable(&mut self, prefix: babel::Prefix) -> Result<(), KernelError>;

    /// Deletes meshd's unreachable route for `prefix`. A missing route is not an error.
    async fn delete_unreachable(&mut self, prefix: babel::Prefix) -> Result<(), KernelError>;

    /// Deletes meshd's route for `prefix` on `ifname`. A missing route (or link) is not an error.
    async fn delete_route(
        &mut self,
        ifname: &str,
        prefix: babel::Prefix,
    ) -> Result<(), KernelError>;

    /// Deletes every route with protocol ROUTE_PROTOCOL (any device, any table, both families:
    /// the leftovers of a crashed run); returns how many.
    async fn flush_routes(&mut self) -> Result<usize, KernelError>;

    /// Removes the addresses we added (on stop). A link already gone, or an address already
    /// removed, is fine.
    async fn remove_addresses(
        &mut self,
        ifname: &str,
        addresses: &[(IpAddr, u8)],
    ) -> Result<(), KernelError>;
}

/// "adding route fd00::/64 dev mesh0" and the like, for errors.
fn route_what(verb: &str, ifname: &str, prefix: babel::Prefix) -> String {
    format!("{verb} route {prefix} dev {ifname}")
}

/// "adding address fd00::1/128 to mesh0" and the like, for errors.
fn address_what(verb: &str, prep: &str, ifname: &str, addr: IpAddr, len: u8) -> String {
    format!("{verb} address {addr}/{len} {prep} {ifname}")
}
