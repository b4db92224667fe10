//! The control protocol spoken on meshd's Unix socket (default [`DEFAULT_SOCKET`]), shared by the
//! daemon and `meshctl` so both sides always agree. It owns only the message types and their JSON
//! form; it must not depend on the daemon (no tokio, boringtun or netlink), so meshctl stays small.
//!
//! The wire form is newline-delimited JSON, one object per line:
//!
//! - the client sends a [`RequestEnvelope`]: `{"version":1,"request":"routes","prefix":"fd00::/64"}`;
//! - the daemon answers with one [`Reply`]: `{"version":1,"status":"ok","data":{"kind":"routes",
//!   "routes":[...]}}` or `{"version":1,"status":"error","error":"..."}`;
//! - after a `monitor` request it keeps sending one `Reply` whose data is an [`Event`] per line
//!   until the client goes away (a client too slow to read is dropped, never waited for).
//!
//! Field names are stable: new fields may be added in a later protocol version, none renamed or
//! removed without a version bump. Keys are WireGuard base64, prefixes and addresses in their usual
//! text form, times in seconds.

use serde::{Deserialize, Serialize};

pub mod time;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Where meshd listens unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/meshd/meshd.sock";

/// The longest request line the daemon reads; longer ones get an error reply.
pub const MAX_REQUEST_LEN: usize = 64 * 1024;

/// A request and the protocol version the client speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub version: u32,
    #[serde(flatten)]
    pub request: Request,
}

impl RequestEnvelope {
    pub fn new(request: Request) -> RequestEnvelope {
        RequestEnvelope {
            version: PROTOCOL_VERSION,
            request,
        }
    }
}

/// What a client may ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Who this node is and how much it knows.
    Status,
    /// Every neighbour with its link quality.
    Neighbours,
    /// Routes; with a prefix, every candidate route for it and why each won or lost.
    Routes {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
    },
    /// The source table (feasibility distances).
    Sources,
    /// Configured and running WireGuard peers.
    Peers,
    /// Adds a peer at runtime (not written to the configuration file).
    PeerAdd {
        public_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
    },
    /// Removes a peer at runtime.
    PeerRemove { public_key: String },
    /// Re-reads the configuration file, as SIGHUP does.
    Reload,
    /// Keys refused by membership (or its caps), with the reason, newest first.
    Refused,
    /// Discovery: the interfaces beacons go out on, and what was heard.
    Discovery,
    /// Streams events until the client disconnects.
    Monitor,
    /// The mesh's internet gateways as this node sees them, and which it uses.
    Gateways,
    /// Packets the router did not forward, by cause (for `/metrics`, docs/metrics.md).
    Forwarding,
}

/// One reply line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub version: u32,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Reply {
    pub fn ok(data: Data) -> Reply {
        Reply {
            version: PROTOCOL_VERSION,
            outcome: Outcome::Ok { data },
        }
    }

    pub fn error(message: impl Into<String>) -> Reply {
        Reply {
            version: PROTOCOL_VERSION,
            outcome: Outcome::Error {
                error: message.into(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Ok { data: Data },
    Error { error: String },
}

/// The body of a successful reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Data {
    Status(Status),
    Neighbours {
        neighbours: Vec<Neighbour>,
    },
    Routes {
        routes: Vec<Route>,
    },
    Sources {
        sources: Vec<Source>,
    },
    Peers {
        peers: Vec<Peer>,
    },
    Refused {
        refused: Vec<Refused>,
    },
    Discovery(Discovery),
    /// A request that changes something succeeded.
    Done {
        message: String,
    },
    Event(Event),
    Gateways {
        /// Whether this node shares its own uplink, and which one.
        sharing: Option<String>,
        /// `auto`, `none` or the pinned gateway's public key.
        policy: String,
        gateways: Vec<Gateway>,
        /// Tunnelled packets sent to gateways and received as one.
        encapsulated: u64,
        decapsulated: u64,
        /// Tunnelled packets dropped: malformed, or an inner source the mesh does not route.
        dropped: u64,
    },
    Forwarding {
        /// Packets not forwarded, by cause: `malformed`, `not_forwardable`, `no_route`,
        /// `hop_limit_exceeded`, `too_big`, `fragmentation_needed`.
        dropped: std::collections::BTreeMap<String, u64>,
        /// ICMP errors that were due but not sent: over the rate limit (RFC 4443 §2.4 (f)).
        icmp_rate_limited: u64,
    },
}

/// One internet gateway (`gateways`): a node announcing a default route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gateway {
    /// The Babel router-id of the gateway.
    pub router_id: String,
    /// Its WireGuard key, when this node knows it (a neighbour, or the pinned gateway).
    pub public_key: Option<String>,
    /// Its mesh address, where tunnelled traffic goes.
    pub mesh_address: String,
    /// Metric of its `::/0` and `0.0.0.0/0`, `None` if it does not announce that family.
    pub metric_v6: Option<u16>,
    pub metric_v4: Option<u16>,
    /// The neighbour traffic to it goes through (its key, if known).
    pub via: Option<String>,
    /// Whether new IPv6 / IPv4 connections go to it now.
    pub chosen_v6: bool,
    pub chosen_v4: bool,
    /// Connections pinned to it.
    pub flows: usize,
}

/// `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// meshd's version.
    pub version: String,
    /// The Babel router-id, `xx:xx:xx:xx:xx:xx:xx:xx`.
    pub router_id: String,
    pub public_key: String,
    pub mesh_address: String,
    pub uptime_s: u64,
    pub peers: usize,
    /// Neighbours whose link cost is finite.
    pub neighbours: usize,
    /// Selected routes (installed in the kernel).
    pub routes: usize,
    pub seqno: u16,
}

/// One neighbour (`neighbours`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// The peer's public key, or `None` if the link has no peer any more.
    pub peer: Option<String>,
    pub link: u32,
    /// The peer's UDP endpoint, `[addr]:port`.
    pub endpoint: Option<String>,
    /// The neighbour's link-local address inside the tunnel.
    pub address: String,
    /// Our cost of hearing it, from its Hellos (65535 = infinite).
    pub rxcost: u16,
    /// Its cost of hearing us, from its IHUs.
    pub txcost: u16,
    /// Smoothed round-trip time from Babel timestamps, milliseconds.
    pub rtt_ms: Option<f64>,
    /// The resulting link cost used for routing (65535 = unusable).
    pub cost: u16,
    /// The last 16 Hellos, most recent first: `1` received, `0` missed, `-` not yet due (a new
    /// neighbour).
    pub hello_history: String,
    /// Seconds since the last WireGuard handshake.
    pub last_handshake_s: Option<u64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// How many of its routes the import policy refuses now (docs/import-policy.md).
    #[serde(default)]
    pub refused_routes: u32,
    /// How many routes of its our table holds, and how many updates for new routes a route
    /// limit refused (`[babel] max_routes_per_neighbour`, `max_routes`, `max_sources`).
    #[serde(default)]
    pub routes: u32,
    #[serde(default)]
    pub routes_over_limit: u32,
}

/// One route (`routes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub prefix: String,
    /// `None` for a prefix this node originates.
    pub next_hop: Option<String>,
    /// The public key of the neighbour it was learnt from.
    pub peer: Option<String>,
    pub link: Option<u32>,
    /// Advertised metric plus link cost (65535 = unreachable).
    pub metric: u16,
    pub advertised_metric: u16,
    pub seqno: u16,
    pub router_id: String,
    pub selected: bool,
    pub feasible: bool,
    pub installed: bool,
    /// Why: `local`, `selected`, `worse` (another route is better), `unfeasible` (could loop),
    /// `unreachable` (retracted, or the link is down), `refused` (by the import policy).
    pub reason: String,
    /// For a `refused` route, why: "overlaps lan0 192.0.2.0/24", "martian", "not in import
    /// policy", ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

/// One source table entry (`sources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub prefix: String,
    pub router_id: String,
    pub seqno: u16,
    pub metric: u16,
}

/// One WireGuard peer (`peers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub public_key: String,
    pub link: u32,
    pub endpoint: Option<String>,
    /// Whether an authenticated packet arrived recently.
    pub up: bool,
    pub last_handshake_s: Option<u64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Added with `peers add` rather than from the configuration file.
    pub runtime: bool,
    /// Found by discovery (a beacon, or its handshake came first) rather than configured.
    #[serde(default)]
    pub discovered: bool,
    /// The underlay interface a discovered peer was heard on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

/// One row of `refused`: a key that asked to join and was turned away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    pub public_key: String,
    /// `denied`, `not in allowlist`, `bad community MAC`, `other community`, `no authenticated
    /// beacon`, `max_peers reached`, `handshake rate limit`.
    pub reason: String,
    /// Where it came from: the interface its beacon arrived on, or its address.
    pub place: String,
    pub count: u64,
    /// Seconds since it was last refused.
    pub last_seen_s: u64,
}

/// `discovery`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// `open`, `allowlist` or `community`.
    pub policy: String,
    pub community_id: String,
    /// The interface names and globs configured (empty: discovery is off).
    pub patterns: Vec<String>,
    pub port: u16,
    pub interfaces: Vec<DiscoveryInterface>,
    /// Discovered peers now, and the cap.
    pub peers: usize,
    pub max_peers: usize,
    pub beacons_received: u64,
    /// Datagrams dropped on the beacon port, by cause (`malformed`, `bad MAC`, ...).
    pub dropped: std::collections::BTreeMap<String, u64>,
}

/// One interface discovery runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryInterface {
    pub name: String,
    pub index: u32,
    pub link_local: String,
    pub beacons_sent: u64,
    /// Bytes of beacons sent, IPv6 and UDP headers included.
    pub bytes_sent: u64,
}

/// One event of the `monitor` stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the daemon started.
    pub time_s: f64,
    #[serde(flatten)]
    pub what: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    NeighbourUp {
        link: u32,
        address: String,
    },
    NeighbourDown {
        link: u32,
        address: String,
    },
    NeighbourCost {
        link: u32,
        address: String,
        cost: u16,
    },
    RouteAdded {
        prefix: String,
        link: u32,
        metric: u16,
    },
    RouteChanged {
        prefix: String,
        link: u32,
        metric: u16,
    },
    RouteWithdrawn {
        prefix: String,
    },
    PeerUp {
        public_key: String,
        link: u32,
    },
    PeerDown {
        public_key: String,
        link: u32,
    },
    PeerRoamed {
        public_key: String,
        endpoint: String,
    },
    /// Discovery added a peer: its beacon was heard, or its handshake came first.
    PeerDiscovered {
        public_key: String,
        /// The interface it was heard on, or `inbound` for one whose handshake came first.
        interface: String,
        endpoint: String,
    },
    /// A key was refused for the first time for this reason (repeats only count in `refused`).
    PeerRefused {
        public_key: String,
        reason: String,
        place: String,
    },
    /// The import policy refuses a route it did not refuse before (a new one, or one that a
    /// changed policy or a renumbered network now refuses); refreshes of it are not repeated.
    RouteRefused {
        prefix: String,
        router_id: String,
        link: u32,
        /// The public key of the neighbour that announced it.
        peer: Option<String>,
        reason: String,
    },
    /// A route limit refused a route from this neighbour (sent once until it is below the
    /// limit again; the count is the neighbour's `routes_over_limit`). `limit` is the
    /// configuration key: `max_routes_per_neighbour`, `max_routes` or `max_sources`.
    RouteLimit {
        link: u32,
        peer: Option<String>,
        limit: String,
    },
}

/// Formats a request as one line of JSON, newline included.
pub fn request_line(request: &Request) -> String {
    let mut line = serde_json::to_string(&RequestEnvelope::new(request.clone()))
        .unwrap_or_else(|_| String::from("{}"));
    line.push('\n');
    line
}

/// Parses one request line. The error is meant for the reply: it says what was wrong.
pub fn parse_request(line: &str) -> Result<Request, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let version = value
        .get("version")
        .and_then(|v| v.as_u64())
        .ok_or("missing \"version\"")?;
    if version != u64::from(PROTOCOL_VERSION) {
        return Err(format!(
            "protocol version {version} is not supported; this meshd speaks {PROTOCOL_VERSION}"
        ));
    }
    let envelope: RequestEnvelope =
        serde_json::from_value(value).map_err(|e| format!("bad request: {e}"))?;
    Ok(envelope.request)
}

/// Formats a reply as one line of JSON, newline included.
pub fn reply_line(reply: &Reply) -> String {
    let mut line = serde_json::to_string(reply).unwrap_or_else(|e| {
        format!("{{\"version\":{PROTOCOL_VERSION},\"status\":\"error\",\"error\":\"{e}\"}}")
    });
    line.push('\n');
    line
}

/// Parses one reply line.
pub fn parse_reply(line: &str) -> Result<Reply, String> {
    serde_json::from_str(line).map_err(|e| format!("bad reply from meshd: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_form() {
        assert_eq!(
            request_line(&Request::Status),
            "{\"version\":1,\"request\":\"status\"}\n"
        );
        assert_eq!(
            request_line(&Request::Routes {
                prefix: Some("fd00::/64".into())
            }),
            "{\"version\":1,\"request\":\"routes\",\"prefix\":\"fd00::/64\"}\n"
        );
        assert_eq!(
            parse_request("{\"version\":1,\"request\":\"peer_add\",\"public_key\":\"k\"}"),
            Ok(Request::PeerAdd {
                public_key: "k".into(),
                endpoint: None
            })
        );
    }

    #[test]
    fn bad_requests_say_why() {
        assert!(parse_request("hello").unwrap_err().contains("not JSON"));
        assert!(parse_request("{\"request\":\"status\"}")
            .unwrap_err()
            .contains("version"));
        assert!(parse_request("{\"version\":9,\"request\":\"status\"}")
            .unwrap_err()
            .contains("version 9"));
        assert!(parse_request("{\"version\":1,\"request\":\"reboot\"}")
            .unwrap_err()
            .contains("bad request"));
    }

    #[test]
    fn replies_round_trip() {
        let replies = [
            Reply::ok(Data::Done {
                message: "ok".into(),
            }),
            Reply::error("no such peer"),
            Reply::ok(Data::Event(Event {
                time_s: 1.5,
                what: EventKind::RouteWithdrawn {
                    prefix: "fd00::/64".into(),
                },
            })),
        ];
        for reply in replies {
            let line = reply_line(&reply);
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            assert_eq!(parse_reply(&line), Ok(reply));
        }
        assert_eq!(
            reply_line(&Reply::error("x")),
            "{\"version\":1,\"status\":\"error\",\"error\":\"x\"}\n"
        );
    }
}
