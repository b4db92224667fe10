//! The daemon's configuration file (`/etc/meshd/meshd.toml`, every key documented in
//! `config/meshd.example.toml`), parsed strictly: an unknown key, a value of the wrong type or out
//! of range is an error that names the file, line and column and says what is wrong. Every section
//! and key is optional; an empty file gives the built-in defaults ([`Config::default`]).
//!
//! The file is read in two steps. serde reads it into `Raw*` structs that mirror the file and keep
//! each value's position (`toml::Spanned`); the conversion to [`Config`] then checks every value
//! and the rules between values (update interval against hello interval, duplicate peers) with the
//! position at hand. This module owns parsing and checking only; applying a configuration is the
//! daemon's job.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::keys::PublicKey;
use crate::logging::LogLevel;

/// WireGuard's overhead over an IPv6 underlay: IPv6 40, UDP 8, WireGuard data header 16, tag 16.
const WIREGUARD_OVERHEAD: u16 = 80;
/// IPv6 header and UDP header, which every Babel packet inside the tunnel carries.
const BABEL_PACKET_OVERHEAD: u16 = 48;
/// The smallest MTU IPv6 allows on a link (RFC 8200 §5); `mesh0` carries IPv6.
const IPV6_MIN_MTU: u16 = 1280;
/// Babel carries intervals as 16-bit centiseconds (RFC 8966 §4.6.5), so 655.35 s at most.
const MAX_UPDATE_INTERVAL_SECS: f64 = 655.0;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub node: NodeConfig,
    pub babel: BabelConfig,
    pub peers: Vec<PeerConfig>,
    pub discovery: DiscoveryConfig,
    pub membership: MembershipConfig,
    pub gateway: GatewayConfig,
    pub import: ImportConfig,
    pub http: HttpConfig,
}

/// `[http]`: the HTTP listener serving `/metrics` (docs/metrics.md). Off unless `listen` is set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpConfig {
    pub listen: Option<std::net::SocketAddr>,
}

/// `[import]`: which routes the mesh may give this router (docs/import-policy.md). What is
/// always refused (martians, the router's own networks) is not configured here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportConfig {
    /// The community's IPv4 range: routes inside it are imported.
    pub ipv4_range: Option<babel::Prefix>,
    /// Further prefixes the mesh may announce to this router (with everything inside them).
    pub allow: Vec<babel::Prefix>,
    /// Prefixes never imported, with everything inside them, whatever `allow` says.
    pub refuse: Vec<babel::Prefix>,
}

/// `[node]`: this router.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Name of the TUN device (1 to 15 characters of `A-Z a-z 0-9 _ . -`).
    pub interface: String,
    /// UDP port of the WireGuard socket; 0 lets the kernel choose.
    pub listen_port: u16,
    /// Where the key (by default) and the state file live.
    pub state_dir: PathBuf,
    /// The private key file; `None` means `<state_dir>/private.key`.
    pub private_key_file: Option<PathBuf>,
    /// The mesh's IPv6 `/48` inside `fc00::/7`; node addresses are derived inside it.
    pub mesh_prefix: babel::Prefix,
    /// The node's IPv4 address on `mesh0`, announced as a `/32`.
    pub ipv4_address: Option<Ipv4Addr>,
    /// Further prefixes this node announces (LANs, default routes of a gateway).
    pub prefixes: Vec<babel::Prefix>,
    pub log_level: LogLevel,
    /// MTU of the underlay path the tunnels run over.
    pub underlay_mtu: u16,
    /// The Unix socket meshctl talks to (mode 0660).
    pub control_socket: PathBuf,
}

/// `[babel]`: protocol timers and link cost.
#[derive(Debug, Clone, PartialEq)]
pub struct BabelConfig {
    pub hello_interval: Duration,
    pub update_interval: Duration,
    /// Measure round-trip times (RFC 9616 timestamps) and add them to link costs.
    pub rtt: bool,
    /// The nominal cost of each tunnel (babeld's `rxcost`).
    pub link_cost: u16,
    /// What neighbours can make the node hold: routes from one neighbour, routes in all, and
    /// source entries (`max_routes_per_neighbour`, `max_routes`, `max_sources`).
    pub limits: babel::Limits,
}

/// `[[peer]]`: a static neighbour.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConfig {
    pub public_key: PublicKey,
    /// `host:port` or `[v6 address]:port`; host names are resolved (and re-resolved) by the daemon.
    pub endpoint: Option<String>,
    /// Seconds between keepalives, for peers behind NAT.
    pub persistent_keepalive: Option<u16>,
    pub preshared_key_file: Option<PathBuf>,
}

/// `[discovery]`: beacons on underlay interfaces (see `discovery.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryConfig {
    /// Interface names and globs (`*`, `?`); empty means discovery is off.
    pub interfaces: Vec<String>,
    /// UDP port beacons use.
    pub port: u16,
    /// Seconds between beacons on each interface (jittered ±25 %).
    pub interval: Duration,
    /// The most discovered (and inbound) peers at once.
    pub max_peers: usize,
    /// The most new discovered peers admitted (handshakes started) per second.
    pub max_handshakes_per_second: u32,
}

impl Default for DiscoveryConfig {
    fn default() -> DiscoveryConfig {
        DiscoveryConfig {
            interfaces: Vec::new(),
            port: crate::discovery::DEFAULT_PORT,
            interval: Duration::from_secs(5),
            max_peers: 32,
            max_handshakes_per_second: 10,
        }
    }
}

/// `[membership]`: who may join (see `membership.rs`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MembershipConfig {
    pub policy: crate::membership::Policy,
    pub allow: Vec<PublicKey>,
    pub deny: Vec<PublicKey>,
    /// Community mode: a file holding the secret (base64 of 32 bytes, as `wg genpsk` prints).
    pub community_secret_file: Option<PathBuf>,
    /// Sent in beacons so that communities sharing a channel ignore each other.
    pub community_id: String,
}

/// `[gateway]`: sharing this node's internet uplink, and using the mesh's gateways.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatewayConfig {
    /// The uplink interface to share: announce `::/0` and `0.0.0.0/0` and masquerade mesh
    /// traffic out of it. `None` (the default) shares nothing.
    pub share: Option<String>,
    /// Which mesh gateways this node's own traffic and its LAN's may use.
    pub use_gateway: GatewayUse,
}

/// `[gateway] use`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GatewayUse {
    /// The best gateway by metric for each new connection.
    #[default]
    Auto,
    /// No mesh gateway: no default route into the mesh.
    None,
    /// Only the gateway with this public key.
    Only(PublicKey),
}

impl Default for NodeConfig {
    fn default() -> NodeConfig {
        NodeConfig {
            interface: "mesh0".to_string(),
            listen_port: 51820,
            state_dir: PathBuf::from("/var/lib/meshd"),
            private_key_file: None,
            mesh_prefix: default_mesh_prefix(),
            ipv4_address: None,
            prefixes: Vec::new(),
            log_level: LogLevel::Info,
            underlay_mtu: 1500,
            control_socket: PathBuf::from(control::DEFAULT_SOCKET),
        }
    }
}

/// `fd6d:6573:6800::/48`: "mesh" in ASCII after the ULA `fd`.
fn default_mesh_prefix() -> babel::Prefix {
    let address = Ipv6Addr::new(0xfd6d, 0x6573, 0x6800, 0, 0, 0, 0, 0);
    babel::Prefix::new(IpAddr::V6(address), 48).unwrap_or_else(|| unreachable!("48 <= 128"))
}

impl Default for BabelConfig {
    fn default() -> BabelConfig {
        BabelConfig {
            hello_interval: Duration::from_secs(4),
            update_interval: Duration::from_secs(16),
            rtt: true,
            link_cost: 96,
            limits: babel::Limits::default(),
        }
    }
}

impl NodeConfig {
    /// The MTU of `mesh0`: the underlay's minus WireGuard's overhead, but never below the 1280
    /// IPv6 requires (Linux takes IPv6 off a smaller interface). On an underlay under 1360 the
    /// tunnel's packets are then fragmented by the underlay, which is slow but works.
    pub fn mesh_mtu(&self) -> u16 {
        self.underlay_mtu
            .saturating_sub(WIREGUARD_OVERHEAD)
            .max(IPV6_MIN_MTU)
    }
}

impl Config {
    /// Parses a configuration. `origin` names it in errors (usually the file's path).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let source = Source { text, origin };
        let raw: RawConfig = toml::from_str(text).map_err(|e| source.toml_error(&e))?;
        raw.check(&source)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: origin.clone(),
            position: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::from_toml_str(&text, &origin)
    }

    /// The private key file: `node.private_key_file`, or `private.key` in the state directory.
    pub fn private_key_path(&self) -> PathBuf {
        self.node
            .private_key_file
            .clone()
            .unwrap_or_else(|| self.node.state_dir.join("private.key"))
    }

    /// The Babel core's node-wide parameters: the configured timers, defaults for the rest.
    pub fn babel_config(&self) -> babel::Config {
        babel::Config {
            hello_interval: self.babel.hello_interval,
            // IHUs every third Hello, as babeld and BIRD send them.
            ihu_interval: self.babel.hello_interval * 3,
            update_interval: self.babel.update_interval,
            limits: self.babel.limits,
            ..babel::Config::default()
        }
    }

    /// The Babel core's parameters for each tunnel: a point-to-point link with ETX over lossy
    /// underlays, and packets that fit `mesh0`'s MTU after the inner IPv6 and UDP headers.
    pub fn link_config(&self) -> babel::LinkConfig {
        babel::LinkConfig {
            rxcost: self.babel.link_cost,
            cost_model: babel::CostModel::Etx,
            rtt: self.babel.rtt.then(babel::RttConfig::default),
            max_packet_len: usize::from(self.node.mesh_mtu() - BABEL_PACKET_OVERHEAD),
            point_to_point: true,
        }
    }
}

/// A configuration that could not be read or is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    origin: String,
    /// 1-based line and column (in characters) of the offending text, when known.
    position: Option<(usize, usize)>,
    message: String,
}

impl ConfigError {
    /// 1-based line and column of the problem, when it has a place in the text.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.position
    }

    /// What is wrong, without the origin and position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => {
                write!(f, "{}:{line}:{column}: {}", self.origin, self.message)
            }
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The text being parsed, to turn byte spans into positions.
struct Source<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Source<'_> {
    fn error(&self, span: Range<usize>, message: String) -> ConfigError {
        ConfigError {
            origin: self.origin.to_string(),
            position: Some(line_column(self.text, span.start)),
            message,
        }
    }

    fn toml_error(&self, error: &toml::de::Error) -> ConfigError {
        // toml's messages may run over several lines ("invalid table header\nexpected ...").
        let mut message = error
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        // serde names Rust types; the reader of the file knows TOML's.
        for (rust, toml) in [
            ("expected i64", "expected an integer"),
            ("expected f64", "expected a number"),
            ("expected a sequence", "expected an array"),
            ("expected path string", "expected a string"),
        ] {
            message = message.replace(rust, toml);
        }
        if message.is_empty() {
            let at_end = error.span().is_some_and(|s| s.start >= self.text.len());
            message = if at_end {
                "unexpected end of file".to_string()
            } else {
                "invalid TOML".to_string()
            };
        }
        ConfigError {
            origin: self.origin.to_string(),
            position: error.span().map(|s| line_column(self.text, s.start)),
            message,
        }
    }
}

/// 1-based line and column of a byte offset; the column counts characters, as editors do.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

// The file as written, before checking. Numbers are read as i64 and checked here so that every
// range error reads the same way, whatever the type behind it.
//
// Why a second tree of `Raw*` structs rather than serde newtypes that check themselves
// (`#[serde(try_from = ...)]`): an error raised inside serde's deserialisation loses two things
// users get today. It names no key (toml's message is only the newtype's text: "must be
// 1..=65535, not 0", with no `listen_port`), and inside an array it points at the array's `[`,
// not at the element (toml 0.8 reports the whole array's span, `Spanned` elements included).
// Checking after deserialisation, with every value `Spanned`, keeps the key and the exact
// line:column of the element; `errors_in_arrays_point_at_the_element` holds that in place.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    node: RawNode,
    #[serde(default)]
    babel: RawBabel,
    #[serde(default, rename = "peer")]
    peers: Vec<RawPeer>,
    #[serde(default)]
    discovery: RawDiscovery,
    #[serde(default)]
    membership: RawMembership,
    #[serde(default)]
    gateway: RawGateway,
    #[serde(default)]
    import: RawImport,
    #[serde(default)]
    http: RawHttp,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<Spanned<String>>,
}

impl RawHttp {
    fn check(self, source: &Source<'_>) -> Result<HttpConfig, ConfigError> {
        let Some(listen) = self.listen else {
            return Ok(HttpConfig::default());
        };
        let span = listen.span();
        let text = listen.into_inner();
        let address = text.parse().map_err(|_| {
            source.error(
                span,
                format!(
                    "`{text}` is not an address and port, such as 127.0.0.1:8080 or [fd00::1]:8080"
                ),
            )
        })?;
        Ok(HttpConfig {
            listen: Some(address),
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawImport {
    ipv4_range: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    #[serde(default)]
    refuse: Vec<Spanned<String>>,
}

impl RawImport {
    fn check(self, source: &Source<'_>) -> Result<ImportConfig, ConfigError> {
        let ipv4_range = match self.ipv4_range {
            None => None,
            Some(v) => {
                let span = v.span();
                let text = v.into_inner();
                let prefix = parse_prefix(&text)
                    .map_err(|why| source.error(span.clone(), format!("ipv4_range: {why}")))?;
                if !prefix.addr().is_ipv4() {
                    return Err(
                        source.error(span, format!("ipv4_range: `{text}` is not an IPv4 prefix"))
                    );
                }
                Some(prefix)
            }
        };
        let list = |values: Vec<Spanned<String>>, key: &str| {
            let mut out: Vec<babel::Prefix> = Vec::with_capacity(values.len());
            for v in values {
                let span = v.span();
                let prefix = parse_prefix(v.get_ref())
                    .map_err(|why| source.error(span.clone(), format!("{key}: {why}")))?;
                if out.contains(&prefix) {
                    return Err(source.error(span, format!("{key}: {prefix} is listed twice")));
                }
                out.push(prefix);
            }
            Ok::<_, ConfigError>(out)
        };
        Ok(ImportConfig {
            ipv4_range,
            allow: list(self.allow, "allow")?,
            refuse: list(self.refuse, "refuse")?,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDiscovery {
    #[serde(default)]
    interfaces: Vec<Spanned<String>>,
    port: Option<Spanned<i64>>,
    interval: Option<Spanned<f64>>,
    max_peers: Option<Spanned<i64>>,
    max_handshakes_per_second: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMembership {
    policy: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    #[serde(default)]
    deny: Vec<Spanned<String>>,
    community_secret_file: Option<Spanned<PathBuf>>,
    community_id: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    share: Option<Spanned<String>>,
    #[serde(rename = "use")]
    use_gateway: Option<Spanned<String>>,
}

impl RawGateway {
    fn check(self, source: &Source<'_>, node: &NodeConfig) -> Result<GatewayConfig, ConfigError> {
        let share = match self.share {
            Some(v) => {
                let span = v.span();
                let name = check_interface_name(source, v)?;
                if name == node.interface {
                    return Err(source.error(
                        span,
                        format!("share: `{name}` is the mesh interface itself; name the uplink to share"),
                    ));
                }
                Some(name)
            }
            None => None,
        };
        let use_gateway = match self.use_gateway {
            None => GatewayUse::Auto,
            Some(v) => {
                let span = v.span();
                match parse_gateway_use(v.get_ref()) {
                    Ok(u) => u,
                    Err(message) => return Err(source.error(span, message)),
                }
            }
        };
        Ok(GatewayConfig { share, use_gateway })
    }
}

/// `auto`, `none` or a public key; the error says which forms are allowed.
pub fn parse_gateway_use(text: &str) -> Result<GatewayUse, String> {
    match text.trim() {
        "auto" => Ok(GatewayUse::Auto),
        "none" => Ok(GatewayUse::None),
        key => key.parse().map(GatewayUse::Only).map_err(|_| {
            format!("use: `{text}` is not \"auto\", \"none\" or a gateway's WireGuard public key")
        }),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNode {
    interface: Option<Spanned<String>>,
    listen_port: Option<Spanned<i64>>,
    state_dir: Option<Spanned<PathBuf>>,
    private_key_file: Option<Spanned<PathBuf>>,
    mesh_prefix: Option<Spanned<String>>,
    ipv4_address: Option<Spanned<String>>,
    #[serde(default)]
    prefixes: Vec<Spanned<String>>,
    log_level: Option<LogLevel>,
    underlay_mtu: Option<Spanned<i64>>,
    control_socket: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBabel {
    hello_interval: Option<Spanned<f64>>,
    update_interval: Option<Spanned<f64>>,
    rtt: Option<bool>,
    link_cost: Option<Spanned<i64>>,
    max_routes_per_neighbour: Option<Spanned<i64>>,
    max_routes: Option<Spanned<i64>>,
    max_sources: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    public_key: Spanned<String>,
    endpoint: Option<Spanned<String>>,
    persistent_keepalive: Option<Spanned<i64>>,
    preshared_key_file: Option<Spanned<PathBuf>>,
}

impl RawConfig {
    fn check(self, source: &Source<'_>) -> Result<Config, ConfigError> {
        let node = self.node.check(source)?;
        let babel = self.babel.check(source)?;
        let mut peers = Vec::with_capacity(self.peers.len());
        // Public key -> line of its first [[peer]], to point at both.
        let mut seen: HashMap<PublicKey, usize> = HashMap::new();
        for raw in self.peers {
            let span = raw.public_key.span();
            let peer = raw.check(source)?;
            let line = line_column(source.text, span.start).0;
            if let Some(first) = seen.insert(peer.public_key, line) {
                return Err(source.error(
                    span,
                    format!(
                        "peer {} is already configured on line {first}",
                        peer.public_key
                    ),
                ));
            }
            peers.push(peer);
        }
        let discovery = self.discovery.check(source)?;
        let membership = self.membership.check(source)?;
        if discovery.port == node.listen_port {
            return Err(ConfigError {
                origin: source.origin.to_string(),
                position: None,
                message: format!(
                    "[discovery] port and [node] listen_port are both {}; they must differ",
                    node.listen_port
                ),
            });
        }
        let gateway = self.gateway.check(source, &node)?;
        let import = self.import.check(source)?;
        let http = self.http.check(source)?;
        Ok(Config {
            http,
            import,
            node,
            babel,
            peers,
            gateway,
            discovery,
            membership,
        })
    }
}

impl RawDiscovery {
    fn check(self, source: &Source<'_>) -> Result<DiscoveryConfig, ConfigError> {
        let defaults = DiscoveryConfig::default();
        let mut interfaces: Vec<String> = Vec::with_capacity(self.interfaces.len());
        for v in self.interfaces {
            let span = v.span();
            let name = v.into_inner();
            let valid_char =
                |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*' | '?');
            if !(1..=15).contains(&name.len()) || !name.chars().all(valid_char) {
                return Err(source.error(
                    span,
                    format!(
                        "interfaces: `{name}` must be an interface name or glob: 1 to 15 \
                         characters of A-Z a-z 0-9 _ . - and the wildcards * ?"
                    ),
                ));
            }
            if interfaces.contains(&name) {
                return Err(source.error(span, format!("interfaces: `{name}` is listed twice")));
            }
            interfaces.push(name);
        }
        let port = match self.port {
            Some(v) => check_range(source, "port", v, 1, 65535)?,
            None => defaults.port,
        };
        let interval = match self.interval {
            Some(v) => check_seconds(source, "interval", v, 0.5, 300.0)?,
            None => defaults.interval,
        };
        let max_peers = match self.max_peers {
            Some(v) => check_range(source, "max_peers", v, 1, 1024)?,
            None => defaults.max_peers,
        };
        let max_handshakes_per_second = match self.max_handshakes_per_second {
            Some(v) => check_range(source, "max_handshakes_per_second", v, 1, 1000)?,
            None => defaults.max_handshakes_per_second,
        };
        Ok(DiscoveryConfig {
            interfaces,
            port,
            interval,
            max_peers,
            max_handshakes_per_second,
        })
    }
}

impl RawMembership {
    fn check(self, source: &Source<'_>) -> Result<MembershipConfig, ConfigError> {
        use crate::membership::Policy;
        let policy_span = self.policy.as_ref().map(Spanned::span);
        let policy = match self.policy {
            None => Policy::Open,
            Some(v) => {
                let span = v.span();
                match v.into_inner().as_str() {
                    "open" => Policy::Open,
                    "allowlist" => Policy::Allowlist,
                    "community" => Policy::Community,
                    other => {
                        return Err(source.error(
                            span,
                            format!(
                                "policy must be \"open\", \"allowlist\" or \"community\", \
                                 not \"{other}\""
                            ),
                        ))
                    }
                }
            }
        };
        let keys = |list: Vec<Spanned<String>>, key: &str| -> Result<Vec<PublicKey>, ConfigError> {
            let mut out: Vec<PublicKey> = Vec::with_capacity(list.len());
            for v in list {
                let span = v.span();
                let parsed: PublicKey = v.into_inner().trim().parse().map_err(|_| {
                    source.error(
                        span.clone(),
                        format!(
                            "{key}: not a WireGuard public key (expected 32 bytes in base64, \
                             as `wg pubkey` prints)"
                        ),
                    )
                })?;
                if out.contains(&parsed) {
                    return Err(source.error(span, format!("{key}: {parsed} is listed twice")));
                }
                out.push(parsed);
            }
            Ok(out)
        };
        let allow = keys(self.allow, "allow")?;
        let deny = keys(self.deny, "deny")?;
        let community_secret_file = self
            .community_secret_file
            .map(|v| check_path(source, "community_secret_file", v))
            .transpose()?;
        let community_id = match self.community_id {
            None => String::new(),
            Some(v) => {
                let span = v.span();
                let id = v.into_inner();
                if id.len() > crate::discovery::MAX_COMMUNITY_ID
                    || !id.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(source.error(
                        span,
                        format!(
                            "community_id `{id}` must be at most {} printable ASCII characters \
                             without spaces",
                            crate::discovery::MAX_COMMUNITY_ID
                        ),
                    ));
                }
                id
            }
        };
        let at_policy = |message: String| match &policy_span {
            Some(span) => source.error(span.clone(), message),
            None => ConfigError {
                origin: source.origin.to_string(),
                position: None,
                message,
            },
        };
        match policy {
            Policy::Community if community_secret_file.is_none() => {
                return Err(at_policy(
                    "policy \"community\" needs community_secret_file (a secret made with \
                     `wg genpsk`, the same on every router of the community)"
                        .to_string(),
                ))
            }
            Policy::Allowlist if allow.is_empty() => {
                return Err(at_policy(
                    "policy \"allowlist\" needs at least one key in allow".to_string(),
                ))
            }
            Policy::Open | Policy::Allowlist if community_secret_file.is_some() => {
                return Err(at_policy(format!(
                    "community_secret_file is only used with policy \"community\", not \"{}\"",
                    policy.as_str()
                )))
            }
            Policy::Open if !allow.is_empty() => {
                return Err(at_policy(
                    "allow is only used with policy \"allowlist\" or \"community\"; with \
                     \"open\" any key may join"
                        .to_string(),
                ))
            }
            _ => {}
        }
        if let Some(both) = allow.iter().find(|k| deny.contains(k)) {
            return Err(at_policy(format!("{both} is both in allow and in deny")));
        }
        Ok(MembershipConfig {
            policy,
            allow,
            deny,
            community_secret_file,
            community_id,
        })
    }
}

impl RawNode {
    fn check(self, source: &Source<'_>) -> Result<NodeConfig, ConfigError> {
        let defaults = NodeConfig::default();
        let interface = match self.interface {
            Some(v) => check_interface_name(source, v)?,
            None => defaults.interface,
        };
        let listen_port = match self.listen_port {
            Some(v) => check_range(source, "listen_port", v, 0, 65535)?,
            None => defaults.listen_port,
        };
        let state_dir = match self.state_dir {
            Some(v) => check_path(source, "state_dir", v)?,
            None => defaults.state_dir,
        };
        let private_key_file = self
            .private_key_file
            .map(|v| check_path(source, "private_key_file", v))
            .transpose()?;
        let mesh_prefix = match self.mesh_prefix {
            Some(v) => check_mesh_prefix(source, v)?,
            None => defaults.mesh_prefix,
        };
        let ipv4_address = self
            .ipv4_address
            .map(|v| check_ipv4_address(source, v))
            .transpose()?;
        let mut prefixes: Vec<babel::Prefix> = Vec::with_capacity(self.prefixes.len());
        for v in self.prefixes {
            let span = v.span();
            let prefix = check_announced_prefix(source, v)?;
            if prefixes.contains(&prefix) {
                return Err(source.error(span, format!("prefix {prefix} is listed twice")));
            }
            prefixes.push(prefix);
        }
        let underlay_mtu = match self.underlay_mtu {
            Some(v) => check_range(source, "underlay_mtu", v, 1280, 9000)?,
            None => defaults.underlay_mtu,
        };
        let control_socket = match self.control_socket {
            Some(v) => check_path(source, "control_socket", v)?,
            None => defaults.control_socket,
        };
        Ok(NodeConfig {
            control_socket,
            interface,
            listen_port,
            state_dir,
            private_key_file,
            mesh_prefix,
            ipv4_address,
            prefixes,
            log_level: self.log_level.unwrap_or(defaults.log_level),
            underlay_mtu,
        })
    }
}

impl RawBabel {
    fn check(self, source: &Source<'_>) -> Result<BabelConfig, ConfigError> {
        let defaults = BabelConfig::default();
        let hello_interval = match self.hello_interval {
            Some(v) => check_seconds(source, "hello_interval", v, 0.1, 600.0)?,
            None => defaults.hello_interval,
        };
        let update_interval = match self.update_interval {
            Some(v) => {
                let span = v.span();
                let interval =
                    check_seconds(source, "update_interval", v, 0.1, MAX_UPDATE_INTERVAL_SECS)?;
                if interval < hello_interval {
                    return Err(source.error(
                        span,
                        format!(
                            "update_interval ({} s) must not be shorter than hello_interval ({} s)",
                            interval.as_secs_f64(),
                            hello_interval.as_secs_f64()
                        ),
                    ));
                }
                interval
            }
            // Keep the default's ratio sound when only the hello interval was raised.
            None => defaults.update_interval.max(hello_interval),
        };
        let link_cost = match self.link_cost {
            Some(v) => check_range(source, "link_cost", v, 1, 65534)?,
            None => defaults.link_cost,
        };
        // Down to 16 (a test mesh), up to a million (about 100 MB of routes: more than any
        // router has to give).
        let limit = |key: &str, value: Option<Spanned<i64>>, default: usize| match value {
            Some(v) => check_range(source, key, v, 16, 1_000_000),
            None => Ok(default),
        };
        let routes_per_neighbour = limit(
            "max_routes_per_neighbour",
            self.max_routes_per_neighbour,
            defaults.limits.routes_per_neighbour,
        )?;
        let routes = limit("max_routes", self.max_routes, defaults.limits.routes)?;
        let sources = limit("max_sources", self.max_sources, defaults.limits.sources)?;
        Ok(BabelConfig {
            hello_interval,
            update_interval,
            rtt: self.rtt.unwrap_or(defaults.rtt),
            link_cost,
            limits: babel::Limits {
                routes_per_neighbour,
                routes,
                sources,
            },
        })
    }
}

impl RawPeer {
    fn check(self, source: &Source<'_>) -> Result<PeerConfig, ConfigError> {
        let span = self.public_key.span();
        let public_key = self.public_key.into_inner().parse().map_err(|_| {
            source.error(
                span,
                "public_key is not a WireGuard public key (expected 32 bytes in base64, \
                 as `wg pubkey` prints)"
                    .to_string(),
            )
        })?;
        let endpoint = self
            .endpoint
            .map(|v| {
                let span = v.span();
                let text = v.into_inner();
                match check_endpoint(&text) {
                    Ok(()) => Ok(text),
                    Err(why) => Err(source.error(span, format!("endpoint `{text}`: {why}"))),
                }
            })
            .transpose()?;
        let persistent_keepalive = self
            .persistent_keepalive
            .map(|v| check_range(source, "persistent_keepalive", v, 1, 65535))
            .transpose()?;
        let preshared_key_file = self
            .preshared_key_file
            .map(|v| check_path(source, "preshared_key_file", v))
            .transpose()?;
        Ok(PeerConfig {
            public_key,
            endpoint,
            persistent_keepalive,
            preshared_key_file,
        })
    }
}

/// An integer key that must lie in `min..=max` and fit `T`.
fn check_range<T: TryFrom<i64>>(
    source: &Source<'_>,
    key: &str,
    value: Spanned<i64>,
    min: i64,
    max: i64,
) -> Result<T, ConfigError> {
    let span = value.span();
    let n = value.into_inner();
    let out_of_range = || {
        source.error(
            span.clone(),
            format!("{key} must be {min}..={max}, not {n}"),
        )
    };
    if !(min..=max).contains(&n) {
        return Err(out_of_range());
    }
    T::try_from(n).map_err(|_| out_of_range())
}

/// A duration in seconds (integer or float) that must lie in `min..=max`.
fn check_seconds(
    source: &Source<'_>,
    key: &str,
    value: Spanned<f64>,
    min: f64,
    max: f64,
) -> Result<Duration, ConfigError> {
    let span = value.span();
    let seconds = value.into_inner();
    let out_of_range = || {
        source.error(
            span.clone(),
            format!("{key} must be {min}..={max} seconds, not {seconds}"),
        )
    };
    // `contains` is false for NaN, so nan and inf are refused here too.
    if !(min..=max).contains(&seconds) {
        return Err(out_of_range());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| out_of_range())
}

fn check_path(
    source: &Source<'_>,
    key: &str,
    value: Spanned<PathBuf>,
) -> Result<PathBuf, ConfigError> {
    let span = value.span();
    let path = value.into_inner();
    if path.as_os_str().is_empty() {
        return Err(source.error(span, format!("{key} must not be empty")));
    }
    Ok(path)
}

/// Linux interface names: at most 15 bytes (IFNAMSIZ - 1). The character set is narrower than
/// the kernel's, to keep names safe in shell scripts, UCI and firewall rules.
fn check_interface_name(
    source: &Source<'_>,
    value: Spanned<String>,
) -> Result<String, ConfigError> {
    let span = value.span();
    let name = value.into_inner();
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let valid = (1..=15).contains(&name.len())
        && name.chars().all(valid_char)
        && name != "."
        && name != "..";
    if !valid {
        return Err(source.error(
            span,
            format!("interface `{name}`: must be 1 to 15 characters of A-Z a-z 0-9 _ . -"),
        ));
    }
    Ok(name)
}

/// Parses a prefix, refusing one with host bits set: `10.0.0.1/24` is more likely a typo for an
/// address than a way of writing `10.0.0.0/24`.
fn parse_prefix(text: &str) -> Result<babel::Prefix, String> {
    let prefix: babel::Prefix = text.parse()?;
    let address = text.split_once('/').map_or(text, |(a, _)| a);
    if address.parse::<IpAddr>().ok() != Some(prefix.addr()) {
        return Err(format!(
            "`{text}` has host bits set; the network is {prefix}"
        ));
    }
    Ok(prefix)
}

fn check_mesh_prefix(
    source: &Source<'_>,
    value: Spanned<String>,
) -> Result<babel::Prefix, ConfigError> {
    let span = value.span();
    let text = value.into_inner();
    let error = |why: String| source.error(span.clone(), format!("mesh_prefix {why}"));
    let prefix = parse_prefix(&text).map_err(error)?;
    let unique_local =
        babel::Prefix::new(IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)), 7);
    let inside_ula = unique_local.is_some_and(|ula| ula.contains(prefix.addr()));
    if prefix.len() != 48 || !inside_ula {
        return Err(error(format!(
            "`{text}` must be an IPv6 /48 inside fc00::/7 (a unique local prefix such as \
             fd6d:6573:6800::/48)"
        )));
    }
    Ok(prefix)
}

fn check_ipv4_address(
    source: &Source<'_>,
    value: Spanned<String>,
) -> Result<Ipv4Addr, ConfigError> {
    let span = value.span();
    let text = value.into_inner();
    let address: Ipv4Addr = text.parse().map_err(|_| {
        source.error(
            span.clone(),
            format!("ipv4_address `{text}` is not an IPv4 address"),
        )
    })?;
    if address.is_unspecified()
        || address.is_broadcast()
        || address.is_multicast()
        || address.is_loopback()
    {
        return Err(source.error(
            span,
            format!("ipv4_address {address} cannot be a node's address"),
        ));
    }
    Ok(address)
}

fn check_announced_prefix(
    source: &Source<'_>,
    value: Spanned<String>,
) -> Result<babel::Prefix, ConfigError> {
    let span = value.span();
    let text = value.into_inner();
    let prefix = parse_prefix(&text)
        .map_err(|why| source.error(span.clone(), format!("prefixes: {why}")))?;
    let unroutable = match prefix.addr() {
        IpAddr::V4(a) => {
            prefix.len() > 0 && (a.is_multicast() || a.is_loopback() || a.is_link_local())
        }
        IpAddr::V6(a) => {
            prefix.len() > 0 && (a.is_multicast() || a.is_loopback() || a.is_unicast_link_local())
        }
    };
    if unroutable {
        return Err(source.error(
            span,
            format!("prefixes: {prefix} is multicast, loopback or link-local and cannot be routed"),
        ));
    }
    Ok(prefix)
}

/// Checks `host:port` or `[IPv6 address]:port`. Host names are allowed (resolved later); a bare
/// IPv6 address without brackets is refused because its last group would read as the port.
fn check_endpoint(text: &str) -> Result<(), String> {
    let port = if let Some(rest) = text.strip_prefix('[') {
        let (address, port) = rest
            .split_once("]:")
            .ok_or("write an IPv6 endpoint as [address]:port")?;
        // A link-local address needs its interface: `[fe80::1%wlan0]:51820` (or the index).
        let (address, scope) = match address.split_once('%') {
            Some((a, scope)) => (a, Some(scope)),
            None => (address, None),
        };
        let parsed = address
            .parse::<Ipv6Addr>()
            .map_err(|_| format!("`{address}` is not an IPv6 address"))?;
        let link_local = parsed.is_unicast_link_local();
        match scope {
            Some(scope) if !link_local => {
                return Err(format!(
                    "`%{scope}` is only for link-local (fe80::/10) addresses"
                ))
            }
            Some(scope)
                if scope.is_empty()
                    || scope.len() > 15
                    || !scope
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) =>
            {
                return Err(format!("`%{scope}` is not an interface name or index"))
            }
            None if link_local => {
                return Err(format!(
                    "link-local `{address}` needs its interface: [{address}%wlan0]:port"
                ))
            }
            _ => {}
        }
        port
    } else {
        let (host, port) = text.rsplit_once(':').ok_or("missing :port")?;
        if host.contains(':') {
            return Err("write an IPv6 endpoint as [address]:port".to_string());
        }
        check_host(host)?;
        port
    };
    let valid_port = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p != 0);
    if !valid_port {
        return Err(format!("port `{port}` must be a number 1..=65535"));
    }
    Ok(())
}

/// A DNS name or IPv4 address: labels of letters, digits, `-` and `_`, separated by dots.
fn check_host(host: &str) -> Result<(), String> {
    let valid_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    if host.len() > 253 || name.is_empty() || !name.split('.').all(valid_label) {
        return Err(format!("`{host}` is not a host name or address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
    const KEY_B: &str = "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, "meshd.toml")
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(config) => panic!("accepted {text:?} as {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn prefix(text: &str) -> babel::Prefix {
        text.parse().expect("test prefix")
    }

    #[test]
    fn empty_file_is_the_default() {
        let config = parse("").expect("empty");
        assert_eq!(config, Config::default());
        assert_eq!(config.node.interface, "mesh0");
        assert_eq!(config.node.listen_port, 51820);
        assert_eq!(config.node.mesh_prefix, prefix("fd6d:6573:6800::/48"));
        assert_eq!(config.node.mesh_mtu(), 1420);
        assert_eq!(config.babel.hello_interval, Duration::from_secs(4));
        assert_eq!(config.babel.update_interval, Duration::from_secs(16));
        assert_eq!(
            config.private_key_path(),
            PathBuf::from("/var/lib/meshd/private.key")
        );
        assert_eq!(parse("[node]\n[babel]\n").expect("empty sections"), config);
    }

    #[test]
    fn full_file() {
        let text = format!(
            r#"
[node]
interface = "wg-mesh"
listen_port = 0
state_dir = "/tmp/meshd"
private_key_file = "/etc/meshd/key"
mesh_prefix = "fd12:3456:789a::/48"
ipv4_address = "10.99.1.1"
prefixes = ["2001:db8:1::/64", "192.168.7.0/24", "::/0", "0.0.0.0/0"]
log_level = "debug"
underlay_mtu = 1400

[babel]
hello_interval = 0.5
update_interval = 2
rtt = false
link_cost = 256

[[peer]]
public_key = "{KEY_A}"
endpoint = "[2001:db8::1]:51820"
persistent_keepalive = 25
preshared_key_file = "/etc/meshd/psk"

[[peer]]
public_key = "{KEY_B}"
"#
        );
        let config = parse(&text).expect("full file");
        assert_eq!(config.node.interface, "wg-mesh");
        assert_eq!(config.node.listen_port, 0);
        assert_eq!(config.private_key_path(), PathBuf::from("/etc/meshd/key"));
        assert_eq!(config.node.ipv4_address, Some(Ipv4Addr::new(10, 99, 1, 1)));
        assert_eq!(config.node.prefixes.len(), 4);
        assert_eq!(config.node.prefixes[1], prefix("192.168.7.0/24"));
        assert_eq!(config.node.log_level, LogLevel::Debug);
        assert_eq!(config.node.mesh_mtu(), 1320);
        assert_eq!(config.babel.hello_interval, Duration::from_millis(500));
        assert_eq!(config.babel.update_interval, Duration::from_secs(2));
        assert_eq!(config.peers.len(), 2);
        assert_eq!(config.peers[0].public_key.to_string(), KEY_A);
        assert_eq!(
            config.peers[0].endpoint.as_deref(),
            Some("[2001:db8::1]:51820")
        );
        assert_eq!(config.peers[0].persistent_keepalive, Some(25));
        assert_eq!(config.peers[1].endpoint, None);

        let babel = config.babel_config();
        assert_eq!(babel.hello_interval, Duration::from_millis(500));
        assert_eq!(babel.update_interval, Duration::from_secs(2));
        assert_eq!(
            babel.switch_hysteresis,
            babel::Config::default().switch_hysteresis
        );
        let link = config.link_config();
        assert_eq!(link.rxcost, 256);
        assert_eq!(link.rtt, None);
        assert_eq!(link.max_packet_len, 1320 - 48);
        assert!(link.point_to_point);
        assert_eq!(link.cost_model, babel::CostModel::Etx);
    }

    #[test]
    fn default_link_config() {
        let link = Config::default().link_config();
        assert_eq!(link.rxcost, 96);
        assert_eq!(link.rtt, Some(babel::RttConfig::default()));
        assert_eq!(link.max_packet_len, 1420 - 48);
    }

    #[test]
    fn mesh_mtu_never_below_ipv6_minimum() {
        let mut node = NodeConfig::default();
        for (underlay, mesh) in [(1280, 1280), (1360, 1280), (1361, 1281), (9000, 8920)] {
            node.underlay_mtu = underlay;
            assert_eq!(node.mesh_mtu(), mesh, "underlay {underlay}");
        }
    }

    #[test]
    fn errors_have_file_line_and_column() {
        assert_eq!(
            error("[node]\nlisten_port = 70000\n"),
            "meshd.toml:2:15: listen_port must be 0..=65535, not 70000"
        );
        assert_eq!(
            error("[node]\ninterface = \"this-name-is-too-long\"\n"),
            "meshd.toml:2:13: interface `this-name-is-too-long`: must be 1 to 15 characters \
             of A-Z a-z 0-9 _ . -"
        );
    }

    #[test]
    fn route_limits_are_read_and_checked() {
        let config = parse(
            "[babel]\nmax_routes_per_neighbour = 100\nmax_routes = 2000\nmax_sources = 3000\n",
        )
        .expect("limits");
        assert_eq!(
            config.babel_config().limits,
            babel::Limits {
                routes_per_neighbour: 100,
                routes: 2000,
                sources: 3000,
            }
        );
        assert_eq!(parse("").unwrap().babel.limits, babel::Limits::default());
        assert_eq!(
            error("[babel]\nmax_routes = 0\n"),
            "meshd.toml:2:14: max_routes must be 16..=1000000, not 0"
        );
    }

    #[test]
    fn errors_in_arrays_point_at_the_element() {
        // The third element, on line 5 column 5, not the array's `[` on line 2.
        let text = "[node]\nprefixes = [\n    \"192.0.2.0/24\",\n    \"198.51.100.0/24\",\n    \"203.0.113.1/24\",\n]\n";
        assert_eq!(
            error(text),
            "meshd.toml:5:5: prefixes: `203.0.113.1/24` has host bits set; the network is \
             203.0.113.0/24"
        );
        let text = "[discovery]\ninterfaces = [\n  \"lan0\",\n  \"lan 1\",\n]\n";
        assert!(error(text).starts_with("meshd.toml:4:3: interfaces: `lan 1`"));
    }

    #[test]
    fn unknown_keys_are_errors_with_position() {
        let text = error("[node]\ninterface = \"mesh0\"\n  listen_prot = 1\n");
        assert!(
            text.starts_with("meshd.toml:3:3: unknown field `listen_prot`"),
            "{text}"
        );
        let text = error("[nodes]\n");
        assert!(
            text.starts_with("meshd.toml:1:2: unknown field `nodes`"),
            "{text}"
        );
        let text = error(&format!(
            "[[peer]]\npublic_key = \"{KEY_A}\"\nkeepalive = 5\n"
        ));
        assert!(
            text.starts_with("meshd.toml:3:1: unknown field `keepalive`"),
            "{text}"
        );
        let text = error("[babel]\nhello = 4\n");
        assert!(
            text.starts_with("meshd.toml:2:1: unknown field `hello`"),
            "{text}"
        );
    }

    #[test]
    fn syntax_and_type_errors_have_position() {
        let text = error("[node\n");
        assert!(text.starts_with("meshd.toml:1:"), "{text}");
        assert!(!text.contains('\n'), "{text}");
        let text = error("[node]\nlisten_port = \"51820\"\n");
        assert!(
            text.starts_with("meshd.toml:2:15: invalid type: string"),
            "{text}"
        );
        let text = error("[node]\nlog_level = \"verbose\"\n");
        assert!(
            text.starts_with("meshd.toml:2:13: unknown variant `verbose`"),
            "{text}"
        );
        let text = error("[[peer]]\nendpoint = \"a:1\"\n");
        assert!(text.contains("missing field `public_key`"), "{text}");
        assert!(text.starts_with("meshd.toml:1:"), "{text}");
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_column("", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 3), (2, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é = 1", 2), (1, 2));
        assert_eq!(line_column("é = 1", 3), (1, 3));
        assert_eq!(line_column("é", 1), (1, 1));
        assert_eq!(line_column("ab", 99), (1, 3));
    }

    #[test]
    fn node_values_are_checked() {
        for (text, expected) in [
            ("interface = \"\"", "must be 1 to 15"),
            ("interface = \"mesh 0\"", "must be 1 to 15"),
            ("interface = \"..\"", "must be 1 to 15"),
            ("listen_port = -1", "listen_port must be 0..=65535, not -1"),
            ("state_dir = \"\"", "state_dir must not be empty"),
            (
                "mesh_prefix = \"fd00::/64\"",
                "must be an IPv6 /48 inside fc00::/7",
            ),
            (
                "mesh_prefix = \"2001:db8::/48\"",
                "must be an IPv6 /48 inside fc00::/7",
            ),
            (
                "mesh_prefix = \"10.0.0.0/8\"",
                "must be an IPv6 /48 inside fc00::/7",
            ),
            (
                "mesh_prefix = \"fd00::1/48\"",
                "has host bits set; the network is fd00::/48",
            ),
            ("mesh_prefix = \"mesh\"", "is not an IP prefix"),
            ("ipv4_address = \"10.0.0.256\"", "is not an IPv4 address"),
            ("ipv4_address = \"fd00::1\"", "is not an IPv4 address"),
            ("ipv4_address = \"0.0.0.0\"", "cannot be a node's address"),
            ("prefixes = [\"10.0.0.1/24\"]", "the network is 10.0.0.0/24"),
            (
                "prefixes = [\"10.0.0.0/33\"]",
                "prefix length must be 0..=32",
            ),
            ("prefixes = [\"fe80::/64\"]", "cannot be routed"),
            ("prefixes = [\"ff02::/16\"]", "cannot be routed"),
            ("prefixes = [\"127.0.0.0/8\"]", "cannot be routed"),
            (
                "prefixes = [\"::/0\", \"10.0.0.0/8\", \"::/0\"]",
                "prefix ::/0 is listed twice",
            ),
            (
                "underlay_mtu = 1279",
                "underlay_mtu must be 1280..=9000, not 1279",
            ),
            ("underlay_mtu = 9001", "underlay_mtu must be 1280..=9000"),
        ] {
            let message = error(&format!("[node]\n{text}\n"));
            assert!(message.starts_with("meshd.toml:2:"), "{text}: {message}");
            assert!(message.contains(expected), "{text}: {message}");
        }
        // A prefix list error points at the offending element.
        let message = error("[node]\nprefixes = [\"::/0\", \"10.0.0.1/8\"]\n");
        assert!(message.starts_with("meshd.toml:2:21:"), "{message}");
    }

    #[test]
    fn babel_values_are_checked() {
        for (text, expected) in [
            (
                "hello_interval = 0.05",
                "hello_interval must be 0.1..=600 seconds, not 0.05",
            ),
            (
                "hello_interval = 601",
                "hello_interval must be 0.1..=600 seconds",
            ),
            (
                "hello_interval = nan",
                "hello_interval must be 0.1..=600 seconds, not NaN",
            ),
            ("hello_interval = -inf", "hello_interval must be"),
            (
                "update_interval = 3",
                "must not be shorter than hello_interval (4 s)",
            ),
            (
                "update_interval = 700",
                "update_interval must be 0.1..=655 seconds",
            ),
            ("link_cost = 0", "link_cost must be 1..=65534, not 0"),
            ("link_cost = 65535", "link_cost must be 1..=65534"),
            ("rtt = 1", "invalid type: integer"),
        ] {
            let message = error(&format!("[babel]\n{text}\n"));
            assert!(message.starts_with("meshd.toml:2:"), "{text}: {message}");
            assert!(message.contains(expected), "{text}: {message}");
        }
        let config = parse("[babel]\nhello_interval = 20\n").expect("long hellos");
        assert_eq!(config.babel.update_interval, Duration::from_secs(20));
        let config = parse("[babel]\nhello_interval = 2\nupdate_interval = 2\n").expect("equal");
        assert_eq!(config.babel.update_interval, Duration::from_secs(2));
    }

    #[test]
    fn peer_values_are_checked() {
        for (text, expected) in [
            (
                "public_key = \"abc\"",
                "public_key is not a WireGuard public key",
            ),
            (
                "persistent_keepalive = 0",
                "persistent_keepalive must be 1..=65535, not 0",
            ),
            (
                "persistent_keepalive = 65536",
                "persistent_keepalive must be 1..=65535",
            ),
            (
                "preshared_key_file = \"\"",
                "preshared_key_file must not be empty",
            ),
            ("endpoint = \"example.net\"", "missing :port"),
            ("endpoint = \"example.net:\"", "port `` must be a number"),
            (
                "endpoint = \"example.net:0\"",
                "port `0` must be a number 1..=65535",
            ),
            (
                "endpoint = \"example.net:+51\"",
                "port `+51` must be a number",
            ),
            (
                "endpoint = \"example.net:70000\"",
                "must be a number 1..=65535",
            ),
            (
                "endpoint = \"2001:db8::1:51820\"",
                "write an IPv6 endpoint as [address]:port",
            ),
            (
                "endpoint = \"[2001:db8::1]\"",
                "write an IPv6 endpoint as [address]:port",
            ),
            ("endpoint = \"[example.net]:1\"", "is not an IPv6 address"),
            ("endpoint = \"[fe80::1]:1\"", "needs its interface"),
            ("endpoint = \"[fd00::1%eth0]:1\"", "only for link-local"),
            (
                "endpoint = \"[fe80::1%]:1\"",
                "is not an interface name or index",
            ),
            (
                "endpoint = \"exa mple.net:1\"",
                "is not a host name or address",
            ),
            ("endpoint = \":51820\"", "is not a host name or address"),
            ("endpoint = \"a..b:1\"", "is not a host name or address"),
            ("endpoint = \"-a.net:1\"", "is not a host name or address"),
        ] {
            let body = if text.starts_with("public_key") {
                text.to_string()
            } else {
                format!("public_key = \"{KEY_A}\"\n{text}")
            };
            let message = error(&format!("[[peer]]\n{body}\n"));
            assert!(message.starts_with("meshd.toml:"), "{text}: {message}");
            assert!(message.contains(expected), "{text}: {message}");
        }
        for endpoint in [
            "example.net:51820",
            "example.net.:1",
            "192.0.2.7:51820",
            "[fe80::1%eth0]:1",
            "[::1]:65535",
            "node_7.mesh.example:4",
        ] {
            let text = format!("[[peer]]\npublic_key = \"{KEY_A}\"\nendpoint = \"{endpoint}\"\n");
            let result = parse(&text);
            // A zone (interface) is needed for a link-local endpoint, e.g. a router on the
            // other end of a cable, and allowed only there.
            assert!(result.is_ok(), "{endpoint}: {result:?}");
        }
    }

    #[test]
    fn duplicate_peers_name_the_second() {
        let text = format!(
            "[[peer]]\npublic_key = \"{KEY_A}\"\n\n[[peer]]\npublic_key = \"{KEY_B}\"\n\n\
             [[peer]]\nendpoint = \"x:1\"\npublic_key = \"{KEY_A}\"\n"
        );
        assert_eq!(
            error(&text),
            format!("meshd.toml:9:14: peer {KEY_A} is already configured on line 2")
        );
    }

    #[test]
    fn load_reads_files_and_names_them() {
        let tmp = crate::state::tests::TempDir::new("config-load");
        let path = tmp.0.join("meshd.toml");
        std::fs::write(&path, "[node]\nlisten_port = 1\n").expect("write");
        assert_eq!(Config::load(&path).expect("load").node.listen_port, 1);

        std::fs::write(&path, "[node]\nlisten_port = true\n").expect("write");
        let message = Config::load(&path).expect_err("bad").to_string();
        assert!(
            message.starts_with(&format!("{}:2:15: ", path.display())),
            "{message}"
        );

        let missing = tmp.0.join("missing.toml");
        let err = Config::load(&missing).expect_err("missing");
        assert_eq!(err.position(), None);
        assert!(
            err.to_string()
                .starts_with(&format!("{}: cannot read: ", missing.display())),
            "{err}"
        );
    }

    const EXAMPLE: &str = include_str!("../../config/meshd.example.toml");

    /// The example with every `#key = value` setting line switched on.
    fn example_uncommented() -> String {
        EXAMPLE
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest) if !rest.is_empty() && !rest.starts_with([' ', '#']) => rest,
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect()
    }

    #[test]
    fn example_as_shipped_is_the_default() {
        let config = Config::from_toml_str(EXAMPLE, "meshd.example.toml").expect("example");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn example_settings_show_the_defaults() {
        let text = example_uncommented();
        let config = Config::from_toml_str(&text, "meshd.example.toml (uncommented)")
            .unwrap_or_else(|e| panic!("{e}"));
        // Keys with a default show it; the others show an example.
        let defaults = Config::default();
        let expected = Config {
            node: NodeConfig {
                private_key_file: Some(PathBuf::from("/etc/meshd/private.key")),
                ipv4_address: Some(Ipv4Addr::new(10, 73, 0, 1)),
                prefixes: vec![prefix("2001:db8:7::/64"), prefix("192.168.7.0/24")],
                ..defaults.node
            },
            babel: defaults.babel,
            peers: vec![PeerConfig {
                public_key: "r+OEzvZ8mDnDSJxL4KDoiIVVKcgPn9vCKq0W+pLORAw="
                    .parse()
                    .expect("example key"),
                endpoint: Some("mesh.example.net:51820".to_string()),
                persistent_keepalive: Some(25),
                preshared_key_file: Some(PathBuf::from("/etc/meshd/example.psk")),
            }],
            discovery: DiscoveryConfig {
                interfaces: vec!["wlan0-mesh".to_string(), "lan*".to_string()],
                ..defaults.discovery
            },
            membership: MembershipConfig {
                policy: crate::membership::Policy::Community,
                allow: vec!["r+OEzvZ8mDnDSJxL4KDoiIVVKcgPn9vCKq0W+pLORAw="
                    .parse()
                    .expect("example key")],
                deny: vec!["HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
                    .parse()
                    .expect("example key")],
                community_secret_file: Some(PathBuf::from("/etc/meshd/community.key")),
                community_id: "harbour".to_string(),
            },
            gateway: GatewayConfig {
                share: Some("wan".to_string()),
                use_gateway: GatewayUse::Auto,
            },
            import: ImportConfig {
                ipv4_range: Some(prefix("198.51.100.0/24")),
                allow: vec![prefix("2001:db8:100::/40")],
                refuse: vec![prefix("2001:db8:100:66::/64")],
            },
            http: HttpConfig {
                listen: Some("127.0.0.1:8080".parse().unwrap()),
            },
        };
        assert_eq!(config, expected);
    }

    #[test]
    fn example_documents_every_key() {
        let text = example_uncommented();
        let keys = [
            "interface",
            "listen_port",
            "state_dir",
            "private_key_file",
            "mesh_prefix",
            "ipv4_address",
            "prefixes",
            "log_level",
            "underlay_mtu",
            "control_socket",
            "hello_interval",
            "update_interval",
            "rtt",
            "link_cost",
            "max_routes_per_neighbour",
            "max_routes",
            "max_sources",
            "public_key",
            "endpoint",
            "persistent_keepalive",
            "preshared_key_file",
            "interfaces",
            "port",
            "interval",
            "max_peers",
            "max_handshakes_per_second",
            "policy",
            "allow",
            "deny",
            "community_secret_file",
            "community_id",
            "share",
            "use",
            "ipv4_range",
            "refuse",
            "listen",
        ];
        for key in keys {
            let set = text
                .lines()
                .filter(|l| l.starts_with(&format!("{key} = ")))
                .count();
            // [membership] and [import] both have an allow list.
            let expected = if key == "allow" { 2 } else { 1 };
            assert_eq!(
                set, expected,
                "{key} should appear {expected} times as a setting in the example"
            );
        }
        let settings = text
            .lines()
            .filter(|l| l.contains(" = ") && !l.starts_with('#'))
            .count();
        assert_eq!(
            settings,
            keys.len() + 1, // allow, twice
            "a setting in the example is not in this list"
        );
    }

    #[test]
    fn discovery_and_membership_defaults_and_values() {
        let config = parse("").expect("empty");
        assert!(
            config.discovery.interfaces.is_empty(),
            "discovery is off by default"
        );
        assert_eq!(config.discovery.port, 51821);
        assert_eq!(config.membership.policy, crate::membership::Policy::Open);
        let text = format!(
            "[discovery]\ninterfaces = [\"veth*\", \"br-lan\"]\nport = 4000\ninterval = 0.5\n\
             max_peers = 8\nmax_handshakes_per_second = 3\n\
             [membership]\npolicy = \"allowlist\"\nallow = [\"{KEY_A}\"]\ndeny = [\"{KEY_B}\"]\n"
        );
        let config = parse(&text).expect("valid");
        assert_eq!(config.discovery.interfaces, vec!["veth*", "br-lan"]);
        assert_eq!(config.discovery.port, 4000);
        assert_eq!(config.discovery.interval, Duration::from_millis(500));
        assert_eq!(config.discovery.max_peers, 8);
        assert_eq!(config.discovery.max_handshakes_per_second, 3);
        assert_eq!(config.membership.allow[0].to_string(), KEY_A);
        assert_eq!(config.membership.deny[0].to_string(), KEY_B);
    }

    #[test]
    fn discovery_and_membership_values_are_checked() {
        for (text, expected) in [
            (
                "[discovery]\ninterfaces = [\"wlan0 mesh\"]",
                "meshd.toml:2:15: interfaces: `wlan0 mesh`",
            ),
            (
                "[discovery]\ninterfaces = [\"a\", \"a\"]",
                "`a` is listed twice",
            ),
            (
                "[discovery]\ninterfaces = [\"\"]",
                "must be an interface name or glob",
            ),
            ("[discovery]\nport = 0", "port must be 1..=65535, not 0"),
            ("[discovery]\nport = 51820", "must differ"),
            (
                "[discovery]\ninterval = 0.1",
                "interval must be 0.5..=300 seconds",
            ),
            ("[discovery]\nmax_peers = 0", "max_peers must be 1..=1024"),
            (
                "[discovery]\nmax_handshakes_per_second = 5000",
                "must be 1..=1000",
            ),
            ("[discovery]\nbeacons = 1", "unknown field `beacons`"),
            (
                "[membership]\npolicy = \"closed\"",
                "policy must be \"open\", \"allowlist\" or \"community\"",
            ),
            (
                "[membership]\npolicy = \"community\"",
                "needs community_secret_file",
            ),
            (
                "[membership]\npolicy = \"allowlist\"",
                "needs at least one key in allow",
            ),
            (
                "[membership]\ncommunity_secret_file = \"/k\"",
                "only used with policy \"community\"",
            ),
            (
                "[membership]\nallow = [\"{KEY_A}\"]",
                "allow is only used with policy",
            ),
            (
                "[membership]\ndeny = [\"nope\"]",
                "deny: not a WireGuard public key",
            ),
            (
                "[membership]\ndeny = [\"{KEY_A}\", \"{KEY_A}\"]",
                "is listed twice",
            ),
            (
                "[membership]\npolicy = \"allowlist\"\nallow = [\"{KEY_A}\"]\ndeny = [\"{KEY_A}\"]",
                "both in allow and in deny",
            ),
            (
                "[membership]\ncommunity_id = \"has space\"",
                "printable ASCII",
            ),
            (
                "[membership]\ncommunity_id = \"0123456789012345678901234567890123\"",
                "at most 32",
            ),
        ] {
            let text = text.replace("{KEY_A}", KEY_A);
            let message = error(&text);
            assert!(message.contains(expected), "{text:?}: {message}");
        }
    }

    #[test]
    fn gateway_section_is_checked() {
        let config =
            Config::from_toml_str("[gateway]\nshare = \"eth0.2\"\nuse = \"none\"\n", "t.toml")
                .unwrap();
        assert_eq!(config.gateway.share.as_deref(), Some("eth0.2"));
        assert_eq!(config.gateway.use_gateway, GatewayUse::None);
        let key = "r+OEzvZ8mDnDSJxL4KDoiIVVKcgPn9vCKq0W+pLORAw=";
        let config =
            Config::from_toml_str(&format!("[gateway]\nuse = \"{key}\"\n"), "t.toml").unwrap();
        assert_eq!(
            config.gateway.use_gateway,
            GatewayUse::Only(key.parse().unwrap())
        );
        for (text, message) in [
            (
                "[gateway]\nuse = \"best\"\n",
                "t.toml:2:7: use: `best` is not \"auto\", \"none\" or a gateway's WireGuard public key",
            ),
            (
                "[gateway]\nshare = \"mesh0\"\n",
                "t.toml:2:9: share: `mesh0` is the mesh interface itself; name the uplink to share",
            ),
            (
                "[gateway]\nshare = \"a b\"\n",
                "t.toml:2:9: interface `a b`: must be 1 to 15 characters of A-Z a-z 0-9 _ . -",
            ),
        ] {
            let err = Config::from_toml_str(text, "t.toml").unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        let err = Config::from_toml_str("[gateway]\nexit = true\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("exit"), "{err}");
    }

    #[test]
    fn import_section_is_checked() {
        let config = Config::from_toml_str(
            "[import]\nallow = [\"::/0\", \"192.0.2.0/24\"]\nrefuse = [\"192.0.2.128/25\"]\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            config.import.allow,
            [prefix("::/0"), prefix("192.0.2.0/24")]
        );
        assert_eq!(config.import.refuse, [prefix("192.0.2.128/25")]);
        assert_eq!(config.import.ipv4_range, None);
        for (text, message) in [
            (
                "[import]\nipv4_range = \"2001:db8::/32\"\n",
                "t.toml:2:14: ipv4_range: `2001:db8::/32` is not an IPv4 prefix",
            ),
            (
                "[import]\nallow = [\"192.0.2.1/24\"]\n",
                "t.toml:2:10: allow: `192.0.2.1/24` has host bits set; the network is 192.0.2.0/24",
            ),
            (
                "[import]\nrefuse = [\"fd00::/8\", \"fd00::/8\"]\n",
                "t.toml:2:23: refuse: fd00::/8 is listed twice",
            ),
        ] {
            let err = Config::from_toml_str(text, "t.toml").unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }
}
