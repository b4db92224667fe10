//! The seam between the simulator and a routing core: the [`Router`] trait, implemented for the
//! real [`babel::Node`] by plain delegation.
//!
//! The simulator is generic over it so another routing core (a babeld model, say) can be put
//! through the same scenarios; every run today uses `babel::Node`.

use std::net::Ipv6Addr;
use std::time::Instant;

use babel::{
    Config, Event, LinkConfig, LinkId, NeighbourInfo, Node, Prefix, RouteChange, RouteInfo,
    RouterId, SourceInfo, Stats, Transmit,
};

/// The sans-IO surface of a routing core that the simulator uses.
pub trait Router {
    fn create(config: Config, router_id: RouterId, seed: u64, now: Instant) -> Self;
    fn add_link(&mut self, now: Instant, link: LinkId, local: Ipv6Addr, config: LinkConfig);
    fn add_local_prefix(&mut self, now: Instant, prefix: Prefix);
    fn remove_local_prefix(&mut self, now: Instant, prefix: Prefix);
    fn seqno(&self) -> u16;
    fn set_seqno(&mut self, seqno: u16);
    fn handle_packet(&mut self, now: Instant, link: LinkId, from: Ipv6Addr, bytes: &[u8]);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self) -> Option<Transmit>;
    fn poll_route_change(&mut self) -> Option<RouteChange>;
    fn poll_event(&mut self) -> Option<Event>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn selected_route(&self, prefix: Prefix) -> Option<RouteInfo>;
    fn source(&self, prefix: Prefix, router_id: RouterId) -> Option<SourceInfo>;
    fn neighbours(&self) -> Vec<NeighbourInfo>;
    fn stats(&self) -> Stats;
}

impl Router for Node {
    fn create(config: Config, router_id: RouterId, seed: u64, now: Instant) -> Node {
        Node::new(config, router_id, seed, now)
    }
    fn add_link(&mut self, now: Instant, link: LinkId, local: Ipv6Addr, config: LinkConfig) {
        Node::add_link(self, now, link, local, config)
    }
    fn add_local_prefix(&mut self, now: Instant, prefix: Prefix) {
        Node::add_local_prefix(self, now, prefix)
    }
    fn remove_local_prefix(&mut self, now: Instant, prefix: Prefix) {
        Node::remove_local_prefix(self, now, prefix)
    }
    fn seqno(&self) -> u16 {
        Node::seqno(self)
    }
    fn set_seqno(&mut self, seqno: u16) {
        Node::set_seqno(self, seqno)
    }
    fn handle_packet(&mut self, now: Instant, link: LinkId, from: Ipv6Addr, bytes: &[u8]) {
        Node::handle_packet(self, now, link, from, bytes)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Node::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        Node::poll_transmit(self)
    }
    fn poll_route_change(&mut self) -> Option<RouteChange> {
        Node::poll_route_change(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Node::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Node::poll_timeout(self)
    }
    fn selected_route(&self, prefix: Prefix) -> Option<RouteInfo> {
        Node::selected_route(self, prefix)
    }
    fn source(&self, prefix: Prefix, router_id: RouterId) -> Option<SourceInfo> {
        Node::source(self, prefix, router_id)
    }
    fn neighbours(&self) -> Vec<NeighbourInfo> {
        Node::neighbours(self)
    }
    fn stats(&self) -> Stats {
        Node::stats(self)
    }
}
