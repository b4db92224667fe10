//! The Babel routing protocol (RFC 8966) as a sans-IO library.
//!
//! This crate owns the wire format ([`wire`]) and the protocol core ([`Node`]): neighbours, sources,
//! routes, feasibility, requests and timers. It owns no sockets, reads no clock and draws no
//! randomness of its own: the caller passes `now` into every `handle_*` call and drains the results
//! with the `poll_*` calls, like `quinn-proto`. The daemon (`meshd`) and the simulator (`meshsim`)
//! are two such callers.

pub mod wire;

mod config;
mod filter;
mod hash;
mod ids;
mod interface;
mod neighbour;
mod node;
mod resend;
mod rng;
mod route;
mod source;

pub use config::{Config, CostModel, Limits, LinkConfig, RttConfig};
pub use filter::{is_within, martian, ImportFilter, Refusal};
pub use node::{
    Destination, Event, LimitKind, LinkId, NeighbourInfo, Node, RouteChange, RouteInfo,
    RouteStatus, SourceInfo, Stats, Transmit,
};
pub use route::HOLD_TIME;
pub use wire::{Prefix, RouterId};
