//! Import filtering: which routes announced by neighbours this node may use. The protocol leaves
//! this to the implementation; babeld refuses martians by default, and a router must not let a
//! neighbour take over the networks it has itself (its LAN, its uplink, its own addresses).
//!
//! The filter is plain data that the caller builds and hands to [`crate::Node::set_import_filter`];
//! [`ImportFilter::judge`] is a pure function of it. A refused route is not dropped: the node keeps
//! it with the metric it was announced with, marked with its [`Refusal`], so that
//! - selection skips it, and it is never installed nor announced to other neighbours;
//! - its seqno and metric are still known, so a retraction of it is handled as any other, and
//!   when a new filter stops refusing it (a LAN renumbered away) it is judged for feasibility
//!   like any route and comes back at once, without waiting for the neighbour's next update.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::{Prefix, RouterId};

/// Why a route is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Not a destination anyone may route to: loopback, unspecified, link-local, multicast,
    /// IPv4-mapped, reserved ([`martian`]).
    Martian,
    /// Inside [`ImportFilter::identity_prefix`], a /128 whose interface identifier is not the
    /// router-id announcing it: a router claiming another node's address.
    ForeignAddress,
    /// Equal to or inside one of the networks the router has itself
    /// ([`ImportFilter::local_networks`]): taking it would send the owner's own traffic into the
    /// mesh.
    Overlaps(Prefix),
    /// Inside one of the prefixes the operator refuses ([`ImportFilter::refused`]).
    Refused(Prefix),
    /// Inside none of the prefixes the import policy allows.
    NotAllowed,
}

impl fmt::Display for Refusal {
    /// The words `meshctl routes --all` shows; an overlap names only the network, since the core
    /// does not know interface names (the caller adds them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Martian => f.write_str("martian"),
            Refusal::ForeignAddress => f.write_str("another node's address"),
            Refusal::Overlaps(network) => write!(f, "overlaps {network}"),
            Refusal::Refused(prefix) => write!(f, "refused by import policy ({prefix})"),
            Refusal::NotAllowed => f.write_str("not in import policy"),
        }
    }
}

/// What a node imports. The default refuses martians only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportFilter {
    /// Networks the router has directly (connected subnets, its own addresses as /32 and /128,
    /// the next hops of its own routes): a route equal to one of them or inside one is refused.
    /// A route that contains one and is shorter (a default route, a /16 around a /24 LAN) is
    /// fine: the router's own, longer route still wins in its forwarding table.
    pub local_networks: Vec<Prefix>,
    /// Prefixes always refused, with everything inside them.
    pub refused: Vec<Prefix>,
    /// When set, only routes equal to or inside one of these are imported. `None`: no policy,
    /// everything not refused otherwise is imported.
    pub allowed: Option<Vec<Prefix>>,
    /// With [`ImportFilter::allowed`] set, the default routes `::/0` and `0.0.0.0/0` themselves
    /// are imported too (not everything inside them).
    pub allow_default_routes: bool,
    /// The prefix inside which a /128 is a node's own address whose low 64 bits are the
    /// router-id of that node (how meshd derives both from one key).
    pub identity_prefix: Option<Prefix>,
}

/// Whether `inner` is equal to `outer` or lies inside it.
pub fn is_within(inner: Prefix, outer: Prefix) -> bool {
    inner.addr().is_ipv4() == outer.addr().is_ipv4()
        && inner.len() >= outer.len()
        && outer.contains(inner.addr())
}

impl ImportFilter {
    /// Why a route for `prefix` announced with `router_id` is refused, or `None` if it may be
    /// used. Checks run from the most fundamental to the operator's policy, so the reason shown
    /// is the one that matters most.
    pub fn judge(&self, prefix: Prefix, router_id: RouterId) -> Option<Refusal> {
        if martian(prefix) {
            return Some(Refusal::Martian);
        }
        if let Some(identity) = self.identity_prefix {
            if prefix.len() == 128 && is_within(prefix, identity) {
                if let IpAddr::V6(address) = prefix.addr() {
                    if address.octets()[8..] != router_id.0 {
                        return Some(Refusal::ForeignAddress);
                    }
                }
            }
        }
        if let Some(network) = self.local_networks.iter().find(|n| is_within(prefix, **n)) {
            return Some(Refusal::Overlaps(*network));
        }
        if let Some(refused) = self.refused.iter().find(|r| is_within(prefix, **r)) {
            return Some(Refusal::Refused(*refused));
        }
        match &self.allowed {
            None => None,
            Some(_) if prefix.is_default() && self.allow_default_routes => None,
            Some(allowed) if allowed.iter().any(|a| is_within(prefix, *a)) => None,
            Some(_) => Some(Refusal::NotAllowed),
        }
    }
}

/// Address ranges no route from a neighbour may lie in (RFC 6890's special-purpose registries:
/// the ones that are never forwarded, or belong to a link or a host).
const MARTIANS_V6: [(Ipv6Addr, u8); 7] = [
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    // IPv4-mapped (::ffff:0:0/96) and the deprecated IPv4-compatible (::/96): IPv4 routes travel
    // as IPv4 prefixes in Babel, never in these forms.
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96),
    (Ipv6Addr::UNSPECIFIED, 96),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    // Site-local, deprecated by RFC 3879.
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
];

const MARTIANS_V4: [(Ipv4Addr, u8); 5] = [
    // "This network": 0.0.0.0/0 itself is shorter and so is not inside it.
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    // Reserved, with the limited broadcast address 255.255.255.255.
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// Whether `prefix` lies inside a range that is never routed: loopback, unspecified, link-local,
/// multicast, IPv4-mapped and IPv4-compatible, site-local, "this network", reserved. A default
/// route contains them all but is not inside any, so it is not a martian.
pub fn martian(prefix: Prefix) -> bool {
    let inside = |addr: IpAddr, len: u8| {
        Prefix::new(addr, len).is_some_and(|range| is_within(prefix, range))
    };
    match prefix.addr() {
        IpAddr::V6(_) => MARTIANS_V6
            .iter()
            .any(|(addr, len)| inside(IpAddr::V6(*addr), *len)),
        IpAddr::V4(_) => MARTIANS_V4
            .iter()
            .any(|(addr, len)| inside(IpAddr::V4(*addr), *len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Prefix {
        text.parse().unwrap()
    }

    const R: RouterId = RouterId([1, 2, 3, 4, 5, 6, 7, 8]);

    #[test]
    fn martians_in_both_families() {
        for text in [
            "::/128",
            "::1/128",
            "::ffff:192.0.2.0/120",
            "::ffff:0:0/96",
            "::/96",
            "fe80::/64",
            "fe80::1/128",
            "fec0::/16",
            "ff02::1:6/128",
            "ff00::/8",
            "0.0.0.0/8",
            "0.1.2.3/32",
            "127.0.0.1/32",
            "127.0.0.0/8",
            "169.254.7.0/24",
            "224.0.0.0/4",
            "239.1.2.3/32",
            "240.0.0.0/8",
            "255.255.255.255/32",
        ] {
            assert!(martian(p(text)), "{text} is a martian");
        }
        for text in [
            "::/0",
            "0.0.0.0/0",
            "fe00::/8",
            "::/64",
            "2001:db8::/32",
            "fd6d:6573:6800::1/128",
            "64:ff9b::/96",
            "128.0.0.0/1",
            "192.0.2.0/24",
            "198.51.100.1/32",
        ] {
            assert!(!martian(p(text)), "{text} is not a martian");
        }
    }

    #[test]
    fn overlap_is_equal_or_inside_never_around() {
        let filter = ImportFilter {
            local_networks: vec![
                p("192.0.2.0/24"),
                p("2001:db8:aa::/64"),
                p("203.0.113.9/32"),
            ],
            ..ImportFilter::default()
        };
        let overlaps = |text: &str| filter.judge(p(text), R);
        assert_eq!(
            overlaps("192.0.2.0/24"),
            Some(Refusal::Overlaps(p("192.0.2.0/24")))
        );
        assert_eq!(
            overlaps("192.0.2.0/25"),
            Some(Refusal::Overlaps(p("192.0.2.0/24")))
        );
        assert_eq!(
            overlaps("192.0.2.7/32"),
            Some(Refusal::Overlaps(p("192.0.2.0/24")))
        );
        assert_eq!(
            overlaps("2001:db8:aa::/65"),
            Some(Refusal::Overlaps(p("2001:db8:aa::/64")))
        );
        assert_eq!(
            overlaps("203.0.113.9/32"),
            Some(Refusal::Overlaps(p("203.0.113.9/32")))
        );
        // Around the network, or beside it: the router's own longer route still wins.
        assert_eq!(overlaps("192.0.0.0/16"), None);
        assert_eq!(overlaps("0.0.0.0/0"), None);
        assert_eq!(overlaps("::/0"), None);
        assert_eq!(overlaps("2001:db8:aa::/48"), None);
        assert_eq!(overlaps("203.0.113.8/31"), None);
        assert_eq!(overlaps("192.0.3.0/24"), None);
        // Families never mix: ::/0 is no IPv4 network's container, nor inside one.
        assert_eq!(overlaps("c000:200::/24"), None);
    }

    #[test]
    fn policy_allows_inside_and_default_routes_only_when_asked() {
        let mut filter = ImportFilter {
            allowed: Some(vec![p("fd6d:6573:6800::/48"), p("198.51.100.0/24")]),
            refused: vec![p("198.51.100.128/25")],
            ..ImportFilter::default()
        };
        assert_eq!(filter.judge(p("fd6d:6573:6800::1/128"), R), None);
        assert_eq!(filter.judge(p("198.51.100.7/32"), R), None);
        assert_eq!(
            filter.judge(p("198.51.100.200/32"), R),
            Some(Refusal::Refused(p("198.51.100.128/25")))
        );
        assert_eq!(
            filter.judge(p("2001:db8::/64"), R),
            Some(Refusal::NotAllowed)
        );
        assert_eq!(
            filter.judge(p("fd6d:6573::/32"), R),
            Some(Refusal::NotAllowed)
        );
        assert_eq!(filter.judge(p("::/0"), R), Some(Refusal::NotAllowed));
        filter.allow_default_routes = true;
        assert_eq!(filter.judge(p("::/0"), R), None);
        assert_eq!(filter.judge(p("0.0.0.0/0"), R), None);
        assert_eq!(
            filter.judge(p("0.0.0.0/1"), R),
            Some(Refusal::NotAllowed),
            "the default route, not what lies inside it"
        );
        // No policy at all: only martians and overlaps are refused.
        assert_eq!(ImportFilter::default().judge(p("2001:db8::/64"), R), None);
        assert_eq!(
            ImportFilter::default().judge(p("fe80::/64"), R),
            Some(Refusal::Martian)
        );
    }

    #[test]
    fn identity_addresses_belong_to_their_router_id() {
        let filter = ImportFilter {
            identity_prefix: Some(p("fd6d:6573:6800::/48")),
            ..ImportFilter::default()
        };
        let own = p("fd6d:6573:6800:1234:102:304:506:708/128");
        assert_eq!(filter.judge(own, R), None);
        assert_eq!(
            filter.judge(own, RouterId([8, 7, 6, 5, 4, 3, 2, 1])),
            Some(Refusal::ForeignAddress)
        );
        // Shorter prefixes and addresses outside the identity prefix carry no claim.
        assert_eq!(
            filter.judge(p("fd6d:6573:6800:1234::/64"), RouterId([9; 8])),
            None
        );
        assert_eq!(filter.judge(p("fd00::102:304:506:709/128"), R), None);
    }

    #[test]
    fn the_most_fundamental_reason_wins() {
        let filter = ImportFilter {
            local_networks: vec![p("fe80::/64"), p("192.0.2.0/24")],
            refused: vec![p("192.0.0.0/16")],
            allowed: Some(vec![]),
            ..ImportFilter::default()
        };
        assert_eq!(filter.judge(p("fe80::/64"), R), Some(Refusal::Martian));
        assert_eq!(
            filter.judge(p("192.0.2.0/25"), R),
            Some(Refusal::Overlaps(p("192.0.2.0/24")))
        );
        assert_eq!(
            filter.judge(p("192.0.3.0/24"), R),
            Some(Refusal::Refused(p("192.0.0.0/16")))
        );
        assert_eq!(
            filter.judge(p("203.0.113.0/24"), R),
            Some(Refusal::NotAllowed)
        );
    }
}
