//! The identifiers the tables share: links, neighbours, and where a packet goes on a link.
//! They sit below every table (`neighbour.rs`, `route.rs`, `interface.rs`, `resend.rs`) and
//! the node that owns them (`node.rs`), so no table imports the node.

use std::net::Ipv6Addr;

/// A link (RFC 8966 "interface"), numbered by the caller. In meshd each WireGuard session is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u32);

/// Index of a neighbour in the node's neighbour slab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct NeighbourId(pub(crate) u32);

/// Where a transmit goes on its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// `ff02::1:6`, every Babel router on the link.
    Multicast,
    /// One neighbour's link-local address.
    Unicast(Ipv6Addr),
}
