//! The driver's side of import filtering: reading the networks the router has itself from the
//! kernel, following them with netlink address and route events (a LAN renumbered, a DHCP lease
//! on the uplink) without a restart, and handing the Babel core a new filter when they change.
//! The rules live in `crate::import` and `kernel/networks.rs`; the core withdraws and restores
//! routes itself when the filter changes.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use nix::sys::socket::{recv, MsgFlags};
use tokio::io::unix::AsyncFd;

use super::Daemon;
use crate::import;
use crate::kernel::networks::LocalNetwork;
use crate::kernel::socket::{self, RTM_DELADDR, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWROUTE};
use crate::kernel::ROUTE_PROTOCOL;

/// Netlink multicast groups (linux/rtnetlink.h): addresses and routes of both families.
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
const RTMGRP_IPV6_ROUTE: u32 = 0x400;
/// Events come in bursts (an interface renumbered is several addresses and routes): one dump
/// this long after the first covers them all.
const SETTLE: Duration = Duration::from_millis(100);
/// At most one dump this often, however busy the kernel's tables are (another routing daemon on
/// the router, say): each one reads every route.
const MIN_GAP: Duration = Duration::from_millis(500);
/// A dump at least this often, in case an event was lost (a full socket buffer drops them).
const REREAD_INTERVAL: Duration = Duration::from_secs(30);
/// Refused routes logged at info level per [`LOG_WINDOW`]; the others are counted and summed up
/// in one line, so a neighbour announcing thousands of martians cannot flood the log (the
/// monitor and `meshctl routes --all` still show each one).
const LOG_BUDGET: u32 = 10;
const LOG_WINDOW: Duration = Duration::from_secs(10);
/// Datagrams drained per wake-up; the rest wait (the dump reads the truth anyway).
const NETLINK_BATCH: usize = 64;
/// Where the protocol byte sits in a route message's `rtmsg` header (linux/rtnetlink.h: family,
/// dst_len, src_len, tos, table, protocol).
const RTM_PROTOCOL_OFFSET: usize = 5;

#[derive(Debug)]
pub(super) struct Importing {
    pub watch: Option<AsyncFd<OwnedFd>>,
    /// The networks of the last dump, for the filter and to name a refusal's interface.
    pub networks: Vec<LocalNetwork>,
    /// When the networks are read again.
    pub reread_at: Instant,
    /// When they were last read.
    pub last_read: Option<Instant>,
    /// Refusals logged in the current window, when it ends, and how many were not logged.
    logged: u32,
    log_window_ends: Instant,
    unlogged: u32,
}

impl Importing {
    pub fn start(now: Instant, config: &crate::config::Config) -> Importing {
        if config.node.ipv4_address.is_some() && config.import.ipv4_range.is_none() {
            warn!(
                "import: [import] ipv4_range is not set, so other nodes' IPv4 addresses are not \
                 imported unless [import] allow covers them (docs/import-policy.md)"
            );
        }
        let groups =
            RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE;
        let watch = match socket::open_route_socket(groups) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!("cannot watch addresses and routes over netlink ({e}); rereading every 30 s");
                None
            }
        };
        Importing {
            watch,
            networks: Vec::new(),
            reread_at: now,
            last_read: None,
            logged: 0,
            log_window_ends: now,
            unlogged: 0,
        }
    }
}

impl Importing {
    /// Whether one more refusal may be logged now; a window that ended says how many were not.
    fn may_log(&mut self, now: Instant) -> bool {
        self.end_log_window(now);
        if self.logged < LOG_BUDGET {
            self.logged += 1;
            true
        } else {
            self.unlogged += 1;
            false
        }
    }

    fn end_log_window(&mut self, now: Instant) {
        if self.log_window_ends > now {
            return;
        }
        if self.unlogged > 0 {
            info!(
                "import: {} more routes refused (meshctl routes --all lists them)",
                self.unlogged
            );
        }
        self.logged = 0;
        self.unlogged = 0;
        self.log_window_ends = now + LOG_WINDOW;
    }
}

/// Whether a netlink event is news for the filter: any address change, and any route change but
/// meshd's own (installing a mesh route must not make us reread everything).
fn is_news(kind: u16, body: &[u8]) -> bool {
    match kind {
        RTM_NEWADDR | RTM_DELADDR => true,
        RTM_NEWROUTE | RTM_DELROUTE => body.get(RTM_PROTOCOL_OFFSET) != Some(&ROUTE_PROTOCOL),
        _ => false,
    }
}

/// Waits until the watch has news for the filter, draining what it reads. Forever without a
/// watch. A lost event (the socket's buffer overflowed) counts as news.
pub(super) async fn netlink_news(watch: &Option<AsyncFd<OwnedFd>>) {
    let Some(watch) = watch else {
        return std::future::pending().await;
    };
    let mut buffer = vec![0u8; 16384];
    loop {
        let Ok(mut guard) = watch.readable().await else {
            return std::future::pending().await;
        };
        let mut news = false;
        for _ in 0..NETLINK_BATCH {
            let fd = std::os::fd::AsRawFd::as_raw_fd(watch.get_ref());
            match recv(fd, &mut buffer, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => break,
                Ok(len) => {
                    news |= socket::messages(&buffer[..len])
                        .any(|m| m.map_or(true, |m| is_news(m.kind, m.body)));
                }
                Err(nix::errno::Errno::EAGAIN) => {
                    guard.clear_ready();
                    break;
                }
                Err(_) => {
                    news = true;
                    guard.clear_ready();
                    break;
                }
            }
        }
        if news {
            return;
        }
    }
}

impl Daemon {
    /// A netlink event that matters: reread soon.
    pub(super) fn local_networks_changed(&mut self, now: Instant) {
        let earliest = self.importing.last_read.map_or(now, |t| t + MIN_GAP);
        let at = (now + SETTLE).max(earliest);
        self.importing.reread_at = self.importing.reread_at.min(at);
    }

    /// Reads the router's networks again if it is time, and gives the core the filter they
    /// make with the configuration (the core does nothing when it has not changed).
    pub(super) async fn reread_local_networks(&mut self, now: Instant) {
        if self.importing.reread_at > now {
            return;
        }
        self.importing.reread_at = now + REREAD_INTERVAL;
        self.importing.last_read = Some(now);
        self.importing.end_log_window(now);
        let ifname = self.config.node.interface.clone();
        match self.kernel.local_networks(&ifname).await {
            Ok(networks) => {
                if networks != self.importing.networks {
                    let list: Vec<String> = networks
                        .iter()
                        .map(|n| format!("{} {}", n.interface, n.network))
                        .collect();
                    debug!("import: the router's own networks: {}", list.join(", "));
                    self.importing.networks = networks;
                }
            }
            Err(e) => warn!("import: {e}; keeping the networks read before"),
        }
        self.apply_import_filter(now);
    }

    /// Hands the core the filter of the current configuration and networks.
    pub(super) fn apply_import_filter(&mut self, now: Instant) {
        let filter = import::filter(&self.config, &self.importing.networks);
        self.node.set_import_filter(now, filter);
    }

    /// Logs and publishes a route the filter came to refuse.
    pub(super) fn route_refused(
        &mut self,
        link: babel::LinkId,
        prefix: babel::Prefix,
        router_id: babel::RouterId,
        refusal: babel::Refusal,
    ) {
        let reason = import::describe(refusal, &self.importing.networks);
        let peer = self.key_of(link);
        if self.importing.may_log(Instant::now()) {
            info!(
                "import: refused {prefix} from router-id {router_id} (peer {}): {reason}",
                peer.as_deref().unwrap_or("?")
            );
        }
        self.publish(control::EventKind::RouteRefused {
            prefix: prefix.to_string(),
            router_id: router_id.to_string(),
            link: link.0,
            peer,
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_within_a_budget() {
        let start = Instant::now();
        let mut importing = Importing {
            watch: None,
            networks: Vec::new(),
            reread_at: start,
            last_read: None,
            logged: 0,
            log_window_ends: start,
            unlogged: 0,
        };
        let logged = (0..100).filter(|_| importing.may_log(start)).count();
        assert_eq!(logged, LOG_BUDGET as usize);
        assert_eq!(importing.unlogged, 100 - LOG_BUDGET);
        assert!(importing.may_log(start + LOG_WINDOW), "a new window");
        assert_eq!(importing.unlogged, 0);
    }

    #[test]
    fn our_own_route_changes_are_no_news() {
        let mut route = vec![0u8; 12];
        route[RTM_PROTOCOL_OFFSET] = ROUTE_PROTOCOL;
        assert!(!is_news(RTM_NEWROUTE, &route));
        assert!(!is_news(RTM_DELROUTE, &route));
        route[RTM_PROTOCOL_OFFSET] = 4; // static
        assert!(is_news(RTM_NEWROUTE, &route));
        assert!(is_news(RTM_DELADDR, &[]));
        assert!(is_news(RTM_NEWROUTE, &[]), "unreadable: reread to be safe");
        assert!(!is_news(16, &route), "RTM_NEWLINK is not for us");
    }
}
