//! The driver: the only code that reads the clock or touches a socket. It owns the UDP socket
//! every WireGuard session shares, the TUN device `mesh0`, the netlink handle and the Babel core,
//! and on every wake-up feeds what arrived into them and sends what they produced:
//!
//! - a datagram on the UDP socket is decrypted by its session ([`tunnel`]); a Babel packet inside
//!   goes to the core, anything else to [`forward`], which hands it to another session (never
//!   through the kernel) or to `mesh0`;
//! - a packet read from `mesh0` is looked up and encrypted to the next hop's session;
//! - the core's transmits are wrapped in IPv6/UDP ([`inner`]) and encrypted to their link's session;
//!   its route changes go to the userspace forwarding table and to the kernel (`dev mesh0`, proto
//!   109); its timers and the sessions' timers decide how long we sleep.
//!
//! Stopping (SIGTERM, SIGINT) removes every route and address meshd installed and saves the
//! seqno; SIGHUP re-reads the configuration, adding and removing peers without touching the
//! sessions that did not change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use babel::{Destination, LinkId, Node, Prefix, RouteChange};
use control::{Data, EventKind, Reply, Request};
use log::{debug, error, info, warn};
use smoltcp::wire::{Ipv4Packet, Ipv6Packet};
use tokio::net::UdpSocket;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Config, GatewayUse, PeerConfig};
use crate::control::{Call, ControlServer};
use crate::forward::{Router, Verdict, LOCAL, UNREACHABLE};
use crate::gateway::{self, Selector};
use crate::identity::Identity;
use crate::inner::{self, Inner};
use crate::kernel::{Kernel, Netlink};
use crate::keys::{self, PublicKey};
use crate::nat;
use crate::state::State;
use crate::tun::Tun;
use crate::tunnel::{PeerSpec, TunnelEvent, Tunnels};
use crate::uci::ConfigFile;

mod carrier;
mod importing;
mod joining;
use importing::Importing;
use joining::Joining;

/// How often the sessions' timers run (handshake retries, keepalives, liveness).
const TUNNEL_TICK: Duration = Duration::from_millis(250);
/// A link we send data over and have heard nothing from for this long is suspect: the Babel
/// core probes its neighbour at once (see [`Daemon::suspect_quiet_links`]).
const QUIET: Duration = Duration::from_millis(500);
/// A suspect link is not probed again sooner than this (a one-way flow to a live peer would
/// otherwise cost an AckReq every tick).
const SUSPECT_AGAIN: Duration = Duration::from_secs(2);
/// Largest datagram or packet we handle: jumbo underlays up to 9000 plus headers.
const BUFFER: usize = 9216 + 128;
/// How often peers whose session is down have their endpoint names looked up again (a dynamic
/// DNS name may point somewhere new).
const RESOLVE_INTERVAL: Duration = Duration::from_secs(30);
/// Packets read from one source per wake-up before looking at the others, so a flood on one
/// side cannot starve the rest.
const BATCH: usize = 64;

const USAGE: &str =
    "usage: meshd [--config PATH | --uci PATH] | --check-config PATH | --check-uci PATH
             | --version | --help

  --config PATH        run with this configuration (TOML); without it, built-in defaults
  --uci PATH           run with an OpenWrt UCI configuration (/etc/config/meshd)
  --check-config PATH  check a configuration and exit: 0 if valid, 1 with the error if not
  --check-uci PATH     check a UCI configuration the same way
  --version            print the version
";

enum Command {
    Run(Option<ConfigFile>),
    Check(ConfigFile),
    Version,
    Help,
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Run(None)),
        [flag] if flag == "--help" || flag == "-h" => Ok(Command::Help),
        [flag] if flag == "--version" || flag == "-V" => Ok(Command::Version),
        [flag, path] if flag == "--config" || flag == "-c" => {
            Ok(Command::Run(Some(ConfigFile::Toml(PathBuf::from(path)))))
        }
        [flag, path] if flag == "--uci" => Ok(Command::Run(Some(ConfigFile::Uci(path.into())))),
        [flag, path] if flag == "--check-config" => {
            Ok(Command::Check(ConfigFile::Toml(PathBuf::from(path))))
        }
        [flag, path] if flag == "--check-uci" => Ok(Command::Check(ConfigFile::Uci(path.into()))),
        [flag]
            if ["--config", "--check-config", "--uci", "--check-uci"].contains(&flag.as_str()) =>
        {
            Err(format!("{flag} needs a file name"))
        }
        _ => Err(format!("unexpected arguments: {}", args.join(" "))),
    }
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("meshd: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let path = match command {
        Command::Help => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("meshd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Check(file) => {
            return match file.load() {
                Ok(_) => {
                    println!("{}: ok", file.path().display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("meshd: {e}");
                    ExitCode::from(1)
                }
            };
        }
        Command::Run(path) => path,
    };
    let config = match &path {
        Some(file) => match file.load() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("meshd: {e}");
                return ExitCode::from(1);
            }
        },
        None => Config::default(),
    };
    crate::logging::init(config.node.log_level.filter());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the event loop: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(config, path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            ExitCode::from(1)
        }
    }
}

/// Seed for the core's jitter: from the kernel's randomness, so restarts do not replay it.
fn random_seed() -> u64 {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            now.as_nanos() as u64 ^ u64::from(std::process::id())
        }
    }
}

fn resolve(endpoint: &str) -> Option<SocketAddr> {
    // `[fe80::1%wlan0]:port`: the standard library takes only an interface index after `%`.
    let named_scope = endpoint
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("]:"))
        .and_then(|(address, port)| {
            let (address, scope) = address.split_once('%')?;
            if scope.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let index = nix::net::if_::if_nametoindex(scope).ok()?;
            Some(format!("[{address}%{index}]:{port}"))
        });
    let endpoint = named_scope.as_deref().unwrap_or(endpoint);
    match endpoint.to_socket_addrs() {
        Ok(mut addrs) => addrs.next(),
        Err(e) => {
            warn!("cannot resolve peer endpoint {endpoint}: {e}");
            None
        }
    }
}

fn peer_spec(peer: &PeerConfig) -> Result<PeerSpec, String> {
    let preshared_key = match &peer.preshared_key_file {
        Some(path) => Some(keys::load_preshared(path).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok(PeerSpec {
        public_key: peer.public_key.0,
        endpoint: peer.endpoint.as_deref().and_then(resolve),
        persistent_keepalive: peer.persistent_keepalive,
        preshared_key,
    })
}

/// Everything the loop owns.
struct Daemon {
    config: Config,
    config_path: Option<ConfigFile>,
    identity: Identity,
    node: Node,
    tunnels: Tunnels,
    router: Router,
    kernel: Netlink,
    tun: Tun,
    socket: UdpSocket,
    /// Peers by public key, with the endpoint text to re-resolve.
    peers: BTreeMap<PublicKey, (LinkId, PeerConfig)>,
    /// Prefixes installed in the kernel.
    installed: BTreeMap<Prefix, LinkId>,
    /// Prefixes the core holds unreachable after losing them (RFC 8966 §3.5.4): the FIB refuses
    /// their packets and the kernel has an `unreachable` route for each, until the core's
    /// `Remove` at the end of the hold time.
    held: BTreeSet<Prefix>,
    addresses: Vec<(IpAddr, u8)>,
    saved_seqno: Option<u16>,
    send: Vec<(SocketAddr, Vec<u8>)>,
    scratch: Vec<u8>,
    datagram: Vec<u8>,
    /// Where the core's Babel packets are wrapped in IPv6/UDP before encryption.
    babel_packet: Vec<u8>,
    control: ControlServer,
    started: Instant,
    /// Peers added with `meshctl peers add` (not in the configuration file).
    runtime_peers: std::collections::BTreeSet<PublicKey>,
    /// Discovery and membership (`daemon/joining.rs`).
    joining: Joining,
    /// The router's own networks and the import filter they make (`daemon/importing.rs`).
    importing: Importing,
    /// The underlay interfaces under the links (`daemon/carrier.rs`).
    carrier: carrier::Carrier,
    /// Mesh gateways: the known ones, the policy, the flows pinned to each.
    gateways: Selector,
    /// Where packets to a gateway are wrapped.
    tunnelled: Vec<u8>,
    /// When we last sent data (not Babel) over each link, kept for [`QUIET`].
    data_sent: HashMap<LinkId, Instant>,
    /// When each link was last suspected, kept for [`SUSPECT_AGAIN`].
    suspected: HashMap<LinkId, Instant>,
}

async fn run(config: Config, config_path: Option<ConfigFile>) -> Result<(), String> {
    let key_path = config.private_key_path();
    let (private_key, generated) = keys::load_or_generate(&key_path).map_err(|e| e.to_string())?;
    if generated {
        info!("generated a new private key in {}", key_path.display());
    }
    let identity = Identity::derive(&private_key.public_key(), config.node.mesh_prefix);
    info!("public key {}", identity.public_key);
    info!("mesh address {}", identity.mesh_address);
    info!("router-id {}", identity.router_id);

    let state_dir = config.node.state_dir.clone();
    let state = State::load(&state_dir).map_err(|e| e.to_string())?;

    let mut kernel = Netlink::open().await.map_err(|e| e.to_string())?;
    match kernel.flush_routes().await {
        Ok(0) => {}
        Ok(n) => info!("removed {n} routes left behind by an earlier run"),
        Err(e) => warn!("cannot flush old routes: {e}"),
    }
    let ifname = config.node.interface.clone();
    let tun = Tun::create(&ifname).map_err(|e| format!("cannot create {ifname}: {e}"))?;
    let mut addresses: Vec<(IpAddr, u8)> = vec![(IpAddr::V6(identity.mesh_address), 128)];
    if let Some(v4) = config.node.ipv4_address {
        addresses.push((IpAddr::V4(v4), 32));
    }
    let mtu = config.node.mesh_mtu();
    kernel.set_default_route_mtu(u32::from(mtu) - gateway::OUTER_HEADER as u32);
    kernel
        .configure_link(&ifname, mtu, &addresses)
        .await
        .map_err(|e| e.to_string())?;

    let port = config.node.listen_port;
    let socket = UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
        .await
        .map_err(|e| format!("cannot listen on UDP port {port}: {e}"))?;

    let now = Instant::now();
    let mut node = Node::new(
        config.babel_config(),
        identity.router_id,
        random_seed(),
        now,
    );
    if let Some(seqno) = state.seqno {
        node.set_seqno(seqno);
    }
    for (addr, len) in &addresses {
        if let Some(prefix) = Prefix::new(*addr, *len) {
            node.add_local_prefix(now, prefix);
        }
    }
    for prefix in &config.node.prefixes {
        node.add_local_prefix(now, *prefix);
    }

    let mut router = Router::new(
        addresses.iter().map(|(a, _)| *a).collect(),
        identity.mesh_address,
        config.node.ipv4_address,
        usize::from(mtu),
    );
    for (addr, len) in &addresses {
        if let Some(prefix) = Prefix::new(*addr, *len) {
            router.fib.insert(prefix, LOCAL);
        }
    }
    for prefix in &config.node.prefixes {
        router.fib.insert(*prefix, LOCAL);
    }
    if let Some(uplink) = &config.gateway.share {
        start_sharing(&ifname, uplink)?;
        for prefix in gateway::DEFAULT_ROUTES {
            let prefix: Prefix = prefix.parse()?;
            node.add_local_prefix(now, prefix);
            router.fib.insert(prefix, LOCAL);
        }
    } else if let Err(e) = nat::remove() {
        debug!("no nftables table of an earlier run to remove: {e}");
    }
    let policy = match config.gateway.use_gateway {
        GatewayUse::Auto => gateway::Use::Auto,
        GatewayUse::None => gateway::Use::None,
        GatewayUse::Only(key) => {
            gateway::Use::Only(Identity::derive(&key, config.node.mesh_prefix).router_id)
        }
    };

    let tunnel_port = socket.local_addr().map_or(port, |a| a.port());
    let joining = Joining::start(&config, identity.public_key.0, tunnel_port, random_seed())?;
    let (control, calls) = ControlServer::start(&config.node.control_socket)?;
    if let Some(listen) = config.http.listen {
        crate::http::start(listen, control.caller())?;
    }
    let mut daemon = Daemon {
        joining,
        importing: Importing::start(now, &config),
        carrier: carrier::Carrier::start(now),
        control,
        started: now,
        runtime_peers: std::collections::BTreeSet::new(),
        gateways: Selector::new(policy),
        tunnelled: Vec::with_capacity(BUFFER),
        data_sent: HashMap::new(),
        suspected: HashMap::new(),
        tunnels: Tunnels::new(private_key.bytes()),
        config,
        config_path,
        identity,
        node,
        router,
        kernel,
        tun,
        socket,
        peers: BTreeMap::new(),
        installed: BTreeMap::new(),
        held: BTreeSet::new(),
        addresses,
        saved_seqno: state.seqno,
        send: Vec::new(),
        scratch: Vec::with_capacity(BUFFER),
        datagram: vec![0; BUFFER],
        babel_packet: Vec::with_capacity(BUFFER),
    };
    // The filter is in place before the first neighbour can announce anything.
    daemon.reread_local_networks(now).await;
    let peers = daemon.config.peers.clone();
    for peer in peers {
        daemon.add_peer(now, peer);
    }
    info!(
        "running on {} with {} peers, UDP port {}",
        ifname,
        daemon.peers.len(),
        port
    );
    let result = daemon.event_loop(calls).await;
    daemon.shutdown().await;
    result
}

/// A gateway's duties toward its uplink: forwarding on, and the masquerading table (replacing
/// any an earlier run left). Failing here stops meshd: announcing a default route without NAT
/// behind it would black-hole the mesh's internet traffic.
fn start_sharing(ifname: &str, uplink: &str) -> Result<(), String> {
    if !std::path::Path::new("/sys/class/net").join(uplink).exists() {
        warn!("gateway: uplink {uplink} does not exist (yet); sharing it once it does");
    }
    match nat::enable_forwarding() {
        Ok(changed) => {
            for path in changed {
                info!("gateway: turned on {path}");
            }
        }
        Err(e) => return Err(format!("gateway: cannot turn on forwarding: {e}")),
    }
    nat::install(ifname, uplink)
        .map_err(|e| format!("gateway: cannot install nftables table {}: {e}", nat::TABLE))?;
    info!(
        "gateway: sharing {uplink}: announcing default routes, masquerading {ifname} -> {uplink} (nftables table {})",
        nat::TABLE
    );
    Ok(())
}

impl Daemon {
    fn add_peer(&mut self, now: Instant, peer: PeerConfig) {
        if peer.public_key == self.identity.public_key {
            warn!("ignoring a peer with our own public key");
            return;
        }
        if self.static_peer_refused(&peer.public_key) {
            return;
        }
        let mut spec = match peer_spec(&peer) {
            Ok(s) => s,
            Err(e) => {
                error!("peer {}: {e}", peer.public_key.short());
                return;
            }
        };
        if spec.preshared_key.is_none() {
            spec.preshared_key = self.community_preshared();
        }
        let link = self.tunnels.add_peer(spec);
        self.node.add_link(
            now,
            link,
            self.identity.link_local,
            self.config.link_config(),
        );
        info!(
            "peer {} on link {} endpoint {}",
            peer.public_key.short(),
            link.0,
            peer.endpoint
                .as_deref()
                .unwrap_or("(learnt from its packets)")
        );
        self.peers.insert(peer.public_key, (link, peer));
    }

    fn remove_peer(&mut self, now: Instant, key: &PublicKey) {
        if let Some((link, _)) = self.peers.remove(key) {
            self.node.remove_link(now, link);
            self.tunnels.remove_peer(link);
            info!("peer {} removed", key.short());
        }
    }

    async fn event_loop(
        &mut self,
        mut calls: tokio::sync::mpsc::Receiver<Call>,
    ) -> Result<(), String> {
        let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        let mut hangup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
        let mut packet = vec![0u8; BUFFER];
        let mut local = vec![0u8; BUFFER];
        let mut next_tunnel_tick = Instant::now();
        let mut next_resolve = Instant::now() + RESOLVE_INTERVAL;
        let mut beacon = vec![0u8; 2048];
        let (resolved_tx, mut resolved_rx) =
            tokio::sync::mpsc::channel::<(PublicKey, SocketAddr)>(64);
        loop {
            let now = Instant::now();
            let wake = self
                .node
                .poll_timeout()
                .map_or(next_tunnel_tick, |t| t.min(next_tunnel_tick))
                .min(self.joining.poll_timeout().unwrap_or(next_tunnel_tick))
                .min(self.importing.reread_at)
                .min(self.carrier.rescan_at)
                .max(now);
            tokio::select! {
                _ = terminate.recv() => { info!("SIGTERM: stopping"); return Ok(()); }
                _ = interrupt.recv() => { info!("SIGINT: stopping"); return Ok(()); }
                _ = hangup.recv() => { let _ = self.reload().await; }
                Some((request, reply)) = calls.recv() => {
                    let answer = self.answer(request).await;
                    let _ = reply.send(answer);
                }
                Some((key, endpoint)) = resolved_rx.recv() => {
                    if let Some((link, _)) = self.peers.get(&key) {
                        if self.tunnels.endpoint(*link) != Some(endpoint) {
                            info!("peer {}: endpoint now {endpoint}", key.short());
                            self.tunnels.set_endpoint(*link, endpoint);
                        }
                    }
                }
                received = self.socket.recv_from(&mut packet) => {
                    match received {
                        Ok((len, from)) => {
                            self.on_datagram(Instant::now(), from, &packet[..len]);
                            // Drain what else is waiting, up to a batch.
                            for _ in 0..BATCH {
                                match self.socket.try_recv_from(&mut packet) {
                                    Ok((len, from)) => self.on_datagram(Instant::now(), from, &packet[..len]),
                                    Err(_) => break,
                                }
                            }
                        }
                        Err(e) => warn!("UDP receive: {e}"),
                    }
                }
                received = self.tun.recv(&mut local) => {
                    match received {
                        Ok(len) => {
                            self.on_local_packet(Instant::now(), &mut local[..len]);
                            for _ in 0..BATCH {
                                match self.tun.try_recv(&mut local) {
                                    Ok(len) => self.on_local_packet(Instant::now(), &mut local[..len]),
                                    Err(_) => break,
                                }
                            }
                        }
                        Err(e) => return Err(format!("reading {}: {e}", self.tun.name())),
                    }
                }
                received = joining::recv_beacon(&self.joining.socket, &mut beacon) => {
                    if let Ok((len, from)) = received {
                        self.on_beacon(Instant::now(), from, &beacon[..len]);
                        for _ in 0..BATCH {
                            let Some(socket) = &self.joining.socket else { break };
                            match socket.try_recv_from(&mut beacon) {
                                Ok((len, from)) => self.on_beacon(Instant::now(), from, &beacon[..len]),
                                Err(_) => break,
                            }
                        }
                    }
                }
                () = joining::netlink_news(&self.joining.watch) => {
                    self.interfaces_changed(Instant::now());
                }
                () = importing::netlink_news(&self.importing.watch) => {
                    self.local_networks_changed(Instant::now());
                }
                () = joining::netlink_news(&self.carrier.watch) => {
                    self.underlay_changed(Instant::now());
                }
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            let now = Instant::now();
            if next_tunnel_tick <= now {
                next_tunnel_tick = now + TUNNEL_TICK;
                self.tunnels.update_timers(now, &mut self.send);
                self.suspect_quiet_links(now);
                // Metrics of gateways we do not route through change without a route change.
                self.refresh_gateways();
            }
            if next_resolve <= now {
                next_resolve = now + RESOLVE_INTERVAL;
                self.resolve_down_peers(&resolved_tx);
            }
            self.discovery_tick(now);
            self.reread_local_networks(now).await;
            self.check_underlay(now);
            self.publish_refusals();
            if self.node.poll_timeout().is_some_and(|t| t <= now) {
                self.node.handle_timeout(now);
            }
            self.process_outputs(now).await;
        }
    }

    /// Looks up, off the event loop, the endpoint names of peers whose session is down; the
    /// answers come back through `results`.
    fn resolve_down_peers(&self, results: &tokio::sync::mpsc::Sender<(PublicKey, SocketAddr)>) {
        for (key, (link, peer)) in &self.peers {
            let Some(endpoint) = peer.endpoint.clone() else {
                continue;
            };
            if self.tunnels.is_up(*link) {
                continue;
            }
            let (key, results) = (*key, results.clone());
            tokio::spawn(async move {
                match tokio::net::lookup_host(endpoint.as_str()).await {
                    Ok(mut addrs) => {
                        if let Some(addr) = addrs.next() {
                            let _ = results.send((key, addr)).await;
                        }
                    }
                    Err(e) => debug!("resolving {endpoint}: {e}"),
                }
            });
        }
    }

    /// A datagram from the underlay: decrypt, then Babel to the core, data to the router.
    fn on_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let mut admitted = Vec::new();
        let joining = &mut self.joining;
        let decrypted = self.tunnels.decapsulate_admitting(
            now,
            from,
            datagram,
            &mut self.datagram,
            &mut self.send,
            &mut |key, at| Self::admit_inbound(joining, now, key, at, &mut admitted),
        );
        if !admitted.is_empty() {
            self.admitted_inbound(now, admitted);
        }
        let Some((link, len)) = decrypted else {
            return;
        };
        let mut packet = std::mem::take(&mut self.datagram);
        match inner::classify(&packet[..len]) {
            Inner::Babel { src, dst, payload } => {
                if dst == babel::wire::MULTICAST_V6 || dst == self.identity.link_local {
                    self.node.handle_packet(now, link, src, payload);
                }
            }
            Inner::Data if self.is_tunnelled_to_us(&packet[..len]) => {
                self.on_tunnelled(now, &mut packet[..len])
            }
            Inner::Data => self.forward(now, &mut packet[..len], false),
            Inner::Malformed => debug!("malformed inner packet on link {}", link.0),
        }
        self.datagram = packet;
    }

    /// A packet from this host (or its LAN) through `mesh0`.
    fn on_local_packet(&mut self, now: Instant, packet: &mut [u8]) {
        if self.send_to_gateway(now, packet) {
            return;
        }
        self.forward(now, packet, true);
    }

    /// A packet from `mesh0` that only a default route covers goes to the gateway its flow is
    /// pinned to, tunnelled; returns `false` for every other packet.
    fn send_to_gateway(&mut self, now: Instant, packet: &[u8]) -> bool {
        if self.config.gateway.share.is_some() {
            return false; // our own uplink serves us
        }
        let Some(dst) = gateway::FlowKey::of(packet).map(|k| k.dst) else {
            return false;
        };
        if !matches!(self.router.fib.lookup_with_length(dst), Some((_, 0))) {
            return false;
        }
        let verdict = match self.gateways.gateway_for(now, packet) {
            gateway::Choice::NoGateway => self.router.unreachable(now, packet),
            gateway::Choice::Held => {
                self.gateways.stats.held += 1;
                return true;
            }
            gateway::Choice::Tunnel(_)
                if packet.len() + gateway::OUTER_HEADER > self.router.mtu =>
            {
                let room = self.router.mtu - gateway::OUTER_HEADER;
                self.router.too_big(now, packet, room)
            }
            gateway::Choice::Tunnel(to) => {
                let mut out = std::mem::take(&mut self.tunnelled);
                if gateway::encapsulate(self.identity.mesh_address, to, packet, &mut out) {
                    if let Some(link) = self
                        .router
                        .fib
                        .lookup(IpAddr::V6(to))
                        .filter(|l| *l != LOCAL && *l != UNREACHABLE)
                    {
                        self.gateways.stats.encapsulated += 1;
                        self.data_sent.insert(link, now);
                        self.send_on_link(link, &out);
                    }
                }
                self.tunnelled = out;
                return true;
            }
        };
        if let Verdict::Icmp(error) = verdict {
            self.send_icmp(&error);
        }
        true
    }

    fn is_tunnelled_to_us(&self, packet: &[u8]) -> bool {
        gateway::is_encapsulated(packet)
            && gateway::outer_destination(packet) == Some(self.identity.mesh_address)
    }

    /// A packet tunnelled to us: unwrapped and routed (to `mesh0` and the uplink on a gateway;
    /// hop by hop on a node that no longer is one). Its inner source must be one the mesh routes,
    /// so the tunnel cannot carry what could not have come hop by hop.
    fn on_tunnelled(&mut self, now: Instant, packet: &mut [u8]) {
        let range = match gateway::decapsulate(packet) {
            Ok(range) => range,
            Err(e) => {
                self.gateways.stats.malformed += 1;
                debug!("dropped a tunnelled packet: {e:?}");
                return;
            }
        };
        let inner = &mut packet[range];
        let from_mesh = gateway::FlowKey::of(inner)
            .and_then(|k| self.router.fib.lookup_with_length(k.src))
            .is_some_and(|(link, len)| len > 0 && link != LOCAL && link != UNREACHABLE);
        if !from_mesh {
            self.gateways.stats.spoofed += 1;
            return;
        }
        self.gateways.stats.decapsulated += 1;
        self.forward(now, inner, false);
    }

    /// Data went out over a link lately but nothing has come back from its peer for [`QUIET`]:
    /// the peer may have died under traffic. The Babel core then probes the neighbour at once
    /// (three AckReqs 400 ms apart), so a dead next hop is dropped about 2 s after it died
    /// whatever the Hello interval, instead of 5 s or more at the default 4 s; a live one
    /// answers and nothing changes. Idle links are left to Hellos.
    fn suspect_quiet_links(&mut self, now: Instant) {
        self.data_sent
            .retain(|_, sent| now.saturating_duration_since(*sent) < QUIET);
        self.suspected
            .retain(|_, at| now.saturating_duration_since(*at) < SUSPECT_AGAIN);
        for &link in self.data_sent.keys() {
            let quiet = self
                .tunnels
                .last_authenticated(link)
                .is_none_or(|heard| now.saturating_duration_since(heard) >= QUIET);
            if quiet && !self.suspected.contains_key(&link) {
                debug!(
                    "link {}: data sent, nothing heard for {QUIET:?}: probing",
                    link.0
                );
                self.suspected.insert(link, now);
                self.node.suspect_link(now, link);
            }
        }
    }

    fn refresh_gateways(&mut self) {
        let routes = self.node.routes();
        self.gateways
            .update(Instant::now(), &routes, self.config.node.mesh_prefix);
    }

    fn forward(&mut self, now: Instant, packet: &mut [u8], from_mesh0: bool) {
        match self.router.route(now, packet, from_mesh0) {
            Verdict::Forward { link } => {
                self.data_sent.insert(link, now);
                self.send_on_link(link, packet)
            }
            Verdict::Local => self.deliver_local(packet),
            Verdict::Drop => {}
            Verdict::Icmp(error) => self.send_icmp(&error),
        }
    }

    /// An ICMP error we generated goes back toward the offending packet's source.
    fn send_icmp(&mut self, packet: &[u8]) {
        // forward.rs built it: a whole IPv6 or IPv4 header.
        let destination = match packet.first().map(|b| b >> 4) {
            Some(6) => match Ipv6Packet::new_checked(packet) {
                Ok(ip) => IpAddr::V6(ip.dst_addr()),
                Err(_) => return,
            },
            Some(4) => match Ipv4Packet::new_checked(packet) {
                Ok(ip) => IpAddr::V4(ip.dst_addr()),
                Err(_) => return,
            },
            _ => return,
        };
        match self.router.fib.lookup(destination) {
            Some(LOCAL) => self.deliver_local(packet),
            // An error about an error is never sent (RFC 4443 §2.4 (e)).
            Some(UNREACHABLE) => {}
            Some(link) => self.send_on_link(link, packet),
            None => {
                // The source is on this host: it came in through mesh0.
                self.deliver_local(packet)
            }
        }
    }

    fn deliver_local(&mut self, packet: &[u8]) {
        if let Err(e) = self.tun.try_send(packet) {
            debug!("writing to {}: {e}", self.tun.name());
        }
    }

    fn send_on_link(&mut self, link: LinkId, packet: &[u8]) {
        let mut out = std::mem::take(&mut self.scratch);
        out.resize(BUFFER, 0);
        if let Some((to, len)) = self
            .tunnels
            .encapsulate(link, packet, &mut out, &mut self.send)
        {
            if let Err(e) = self.socket.try_send_to(&out[..len], to) {
                debug!("sending to {to}: {e}");
            }
        }
        self.scratch = out;
    }

    /// Sends what the core and the sessions produced, applies route changes, logs events.
    async fn process_outputs(&mut self, now: Instant) {
        let mut inner_packet = std::mem::take(&mut self.babel_packet);
        while let Some(transmit) = self.node.poll_transmit() {
            let dst = match transmit.destination {
                Destination::Multicast => babel::wire::MULTICAST_V6,
                Destination::Unicast(addr) => addr,
            };
            inner::build_babel(
                self.identity.link_local,
                dst,
                &transmit.payload,
                &mut inner_packet,
            );
            self.send_on_link(transmit.link, &inner_packet);
        }
        self.babel_packet = inner_packet;
        while let Some(event) = self.tunnels.poll_event() {
            let key = |link: LinkId| self.key_of(link).unwrap_or_default();
            match &event {
                TunnelEvent::Up { link } => self.publish(EventKind::PeerUp {
                    public_key: key(*link),
                    link: link.0,
                }),
                TunnelEvent::Down { link } => self.publish(EventKind::PeerDown {
                    public_key: key(*link),
                    link: link.0,
                }),
                TunnelEvent::Roamed { link, endpoint } => self.publish(EventKind::PeerRoamed {
                    public_key: key(*link),
                    endpoint: endpoint.to_string(),
                }),
            }
            match event {
                TunnelEvent::Up { link } => info!("link {}: session up", link.0),
                TunnelEvent::Down { link } => {
                    // The session died: drop its neighbour and routes at once, then start over
                    // so our Hellos bring the session back when the peer returns.
                    info!("link {}: session down", link.0);
                    self.node.remove_link(now, link);
                    self.node.add_link(
                        now,
                        link,
                        self.identity.link_local,
                        self.config.link_config(),
                    );
                }
                TunnelEvent::Roamed { link, endpoint } => {
                    info!("link {}: peer moved to {endpoint}", link.0)
                }
            }
        }
        for (to, datagram) in std::mem::take(&mut self.send) {
            if let Err(e) = self.socket.try_send_to(&datagram, to) {
                debug!("sending to {to}: {e}");
            }
        }
        while let Some(event) = self.node.poll_event() {
            debug!("babel: {event:?}");
            let what = match event {
                babel::Event::NeighbourUp { link, address } => {
                    // Packets cross its underlay now: learn which interface that is (a scan
                    // made while the interface was still coming up could not).
                    self.underlay_changed(Instant::now());
                    EventKind::NeighbourUp {
                        link: link.0,
                        address: address.to_string(),
                    }
                }
                babel::Event::NeighbourDown { link, address } => EventKind::NeighbourDown {
                    link: link.0,
                    address: address.to_string(),
                },
                babel::Event::NeighbourCost {
                    link,
                    address,
                    cost,
                } => EventKind::NeighbourCost {
                    link: link.0,
                    address: address.to_string(),
                    cost,
                },
                babel::Event::BadPacket { .. } => continue,
                babel::Event::RouteRefused {
                    link,
                    prefix,
                    router_id,
                    refusal,
                    ..
                } => {
                    self.route_refused(link, prefix, router_id, refusal);
                    continue;
                }
                babel::Event::RouteLimit { link, limit, .. } => {
                    let peer = self.key_of(link);
                    warn!(
                        "neighbour {} on link {}: {} reached, its new routes are refused",
                        peer.as_deref().unwrap_or("?"),
                        link.0,
                        limit.as_str()
                    );
                    EventKind::RouteLimit {
                        link: link.0,
                        peer,
                        limit: limit.as_str().to_string(),
                    }
                }
            };
            self.publish(what);
        }
        let mut changed = false;
        while let Some(change) = self.node.poll_route_change() {
            self.apply_route_change(change).await;
            changed = true;
        }
        if changed {
            self.refresh_gateways();
        }
        let seqno = self.node.seqno();
        if self.saved_seqno != Some(seqno) {
            self.saved_seqno = Some(seqno);
            let state = State { seqno: Some(seqno) };
            if let Err(e) = state.save(&self.config.node.state_dir) {
                warn!("cannot save state: {e}");
            }
        }
    }

    async fn apply_route_change(&mut self, change: RouteChange) {
        let ifname = self.config.node.interface.clone();
        match change {
            RouteChange::Add {
                prefix,
                link,
                metric,
                ..
            }
            | RouteChange::Replace {
                prefix,
                link,
                metric,
                ..
            } => {
                debug!("route {prefix} via link {} metric {metric}", link.0);
                self.router.fib.insert(prefix, link);
                self.held.remove(&prefix);
                let what = if self.installed.contains_key(&prefix) {
                    EventKind::RouteChanged {
                        prefix: prefix.to_string(),
                        link: link.0,
                        metric,
                    }
                } else {
                    EventKind::RouteAdded {
                        prefix: prefix.to_string(),
                        link: link.0,
                        metric,
                    }
                };
                self.publish(what);
                if prefix.len() == 0 && self.gateways.policy == gateway::Use::None {
                    // Refusing mesh gateways: forwarded hop by hop for others, never ours.
                    return;
                }
                if self.installed.insert(prefix, link).is_none() {
                    if let Err(e) = self.kernel.replace_route(&ifname, prefix).await {
                        warn!("{e}");
                    }
                }
            }
            // A default route has no shorter prefix to fall through to: nothing to hold.
            RouteChange::Unreachable { prefix } if prefix.len() > 0 => {
                debug!("route {prefix} lost: unreachable for the hold time");
                self.publish(EventKind::RouteWithdrawn {
                    prefix: prefix.to_string(),
                });
                self.router.fib.insert(prefix, UNREACHABLE);
                self.installed.remove(&prefix);
                self.held.insert(prefix);
                // Over the route of ours, if there is one, in one step: no instant in which the
                // kernel would route the prefix along a shorter one.
                if let Err(e) = self.kernel.replace_with_unreachable(prefix).await {
                    warn!("{e}");
                }
            }
            RouteChange::Unreachable { prefix } | RouteChange::Remove { prefix } => {
                let was_held = self.held.remove(&prefix);
                if was_held {
                    debug!("route {prefix}: hold time over");
                } else {
                    debug!("route {prefix} withdrawn");
                    self.publish(EventKind::RouteWithdrawn {
                        prefix: prefix.to_string(),
                    });
                }
                self.router.fib.remove(prefix);
                if self.installed.remove(&prefix).is_some() {
                    if let Err(e) = self.kernel.delete_route(&ifname, prefix).await {
                        warn!("{e}");
                    }
                }
                if was_held {
                    if let Err(e) = self.kernel.delete_unreachable(prefix).await {
                        warn!("{e}");
                    }
                }
            }
        }
    }

    /// Answers one control request.
    async fn answer(&mut self, request: Request) -> Reply {
        match request {
            Request::Status => Reply::ok(Data::Status(self.status())),
            Request::Neighbours => Reply::ok(Data::Neighbours {
                neighbours: self.neighbour_list(),
            }),
            Request::Routes { prefix } => {
                let filter = match prefix.as_deref().map(str::parse::<Prefix>) {
                    None => None,
                    Some(Ok(p)) => Some(p),
                    Some(Err(e)) => return Reply::error(e),
                };
                Reply::ok(Data::Routes {
                    routes: self.route_list(filter),
                })
            }
            Request::Sources => Reply::ok(Data::Sources {
                sources: self
                    .node
                    .sources()
                    .into_iter()
                    .map(|s| control::Source {
                        prefix: s.prefix.to_string(),
                        router_id: s.router_id.to_string(),
                        seqno: s.seqno,
                        metric: s.metric,
                    })
                    .collect(),
            }),
            Request::Peers => Reply::ok(Data::Peers {
                peers: self.peer_list(),
            }),
            Request::PeerAdd {
                public_key,
                endpoint,
            } => self.runtime_add(&public_key, endpoint),
            Request::PeerRemove { public_key } => {
                let key: PublicKey = match public_key.trim().parse() {
                    Ok(k) => k,
                    Err(e) => return Reply::error(format!("{e}")),
                };
                if !self.peers.contains_key(&key) {
                    return Reply::error(format!("no peer {}", key.short()));
                }
                self.remove_peer(Instant::now(), &key);
                self.runtime_peers.remove(&key);
                Reply::ok(Data::Done {
                    message: format!("peer {} removed", key.short()),
                })
            }
            Request::Refused => Reply::ok(Data::Refused {
                refused: self.refused_list(),
            }),
            Request::Discovery => Reply::ok(Data::Discovery(self.discovery_status())),
            Request::Reload => match self.reload().await {
                Ok(message) => Reply::ok(Data::Done { message }),
                Err(e) => Reply::error(e),
            },
            Request::Gateways => Reply::ok(self.gateway_list()),
            Request::Forwarding => Reply::ok(crate::metrics::forwarding(self.router.stats())),
            // Monitor is served by the control task itself.
            Request::Monitor => Reply::error("monitor is a stream; it is not answered here"),
        }
    }

    fn runtime_add(&mut self, public_key: &str, endpoint: Option<String>) -> Reply {
        let key: PublicKey = match public_key.trim().parse() {
            Ok(k) => k,
            Err(e) => return Reply::error(format!("{e}")),
        };
        if key == self.identity.public_key {
            return Reply::error("that is this node's own public key");
        }
        if self.peers.contains_key(&key) {
            return Reply::error(format!("peer {} already exists", key.short()));
        }
        if self.joining.membership.check_static(&key.0).is_err() {
            return Reply::error(format!(
                "peer {} is in [membership] deny; remove it there first",
                key.short()
            ));
        }
        if let Some(endpoint) = &endpoint {
            if resolve(endpoint).is_none() {
                return Reply::error(format!(
                    "cannot use endpoint {endpoint}: expected host:port or [IPv6]:port that resolves"
                ));
            }
        }
        let peer = PeerConfig {
            public_key: key,
            endpoint,
            persistent_keepalive: None,
            preshared_key_file: None,
        };
        self.add_peer(Instant::now(), peer);
        self.runtime_peers.insert(key);
        Reply::ok(Data::Done {
            message: format!("peer {} added (until restart)", key.short()),
        })
    }

    fn status(&self) -> control::Status {
        let routes = self
            .node
            .routes()
            .iter()
            .filter(|r| r.status == babel::RouteStatus::Selected)
            .count();
        control::Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            router_id: self.identity.router_id.to_string(),
            public_key: self.identity.public_key.to_string(),
            mesh_address: self.identity.mesh_address.to_string(),
            uptime_s: self.started.elapsed().as_secs(),
            peers: self.peers.len(),
            neighbours: self
                .node
                .neighbours()
                .iter()
                .filter(|n| n.cost != babel::wire::INFINITY)
                .count(),
            routes,
            seqno: self.node.seqno(),
        }
    }

    fn key_of(&self, link: LinkId) -> Option<String> {
        self.tunnels
            .public_key(link)
            .map(|k| PublicKey(k).to_string())
    }

    fn neighbour_list(&self) -> Vec<control::Neighbour> {
        let peers: BTreeMap<LinkId, crate::tunnel::PeerStatus> = self
            .tunnels
            .peers()
            .into_iter()
            .map(|p| (p.link, p))
            .collect();
        self.node
            .neighbours()
            .into_iter()
            .map(|n| {
                let peer = peers.get(&n.link);
                let history: String = (0..16)
                    .map(|bit| {
                        if bit >= n.hello_known {
                            '-'
                        } else if n.hello_history & (0x8000 >> bit) != 0 {
                            '1'
                        } else {
                            '0'
                        }
                    })
                    .collect();
                control::Neighbour {
                    peer: self.key_of(n.link),
                    link: n.link.0,
                    endpoint: peer.and_then(|p| p.endpoint).map(|e| e.to_string()),
                    address: n.address.to_string(),
                    rxcost: n.rxcost,
                    txcost: n.txcost,
                    rtt_ms: n.rtt.map(|d| d.as_secs_f64() * 1000.0),
                    cost: n.cost,
                    hello_history: history,
                    last_handshake_s: peer.and_then(|p| p.last_handshake).map(|d| d.as_secs()),
                    rx_bytes: peer.map_or(0, |p| p.rx_bytes as u64),
                    tx_bytes: peer.map_or(0, |p| p.tx_bytes as u64),
                    refused_routes: n.refused_routes,
                    routes: n.routes,
                    routes_over_limit: n.routes_over_limit,
                }
            })
            .collect()
    }

    fn route_list(&self, filter: Option<Prefix>) -> Vec<control::Route> {
        self.node
            .routes()
            .into_iter()
            .filter(|r| filter.is_none_or(|p| r.prefix == p))
            .map(|r| {
                let (reason, selected) = match r.status {
                    babel::RouteStatus::Local => ("local", true),
                    babel::RouteStatus::Selected => ("selected", true),
                    babel::RouteStatus::Worse => ("worse", false),
                    babel::RouteStatus::Unfeasible => ("unfeasible", false),
                    babel::RouteStatus::Unreachable => ("unreachable", false),
                    babel::RouteStatus::Refused(_) => ("refused", false),
                };
                let refusal = match r.status {
                    babel::RouteStatus::Refused(refusal) => {
                        Some(crate::import::describe(refusal, &self.importing.networks))
                    }
                    _ => None,
                };
                let link = r.neighbour.map(|(link, _)| link);
                control::Route {
                    prefix: r.prefix.to_string(),
                    next_hop: r.next_hop.map(|a| a.to_string()),
                    peer: link.and_then(|l| self.key_of(l)),
                    link: link.map(|l| l.0),
                    metric: r.metric,
                    advertised_metric: r.advertised_metric,
                    seqno: r.seqno,
                    router_id: r.router_id.to_string(),
                    selected,
                    feasible: r.status != babel::RouteStatus::Unfeasible,
                    installed: r.status == babel::RouteStatus::Selected
                        && self.installed.contains_key(&r.prefix),
                    reason: reason.to_string(),
                    refusal,
                }
            })
            .collect()
    }

    fn gateway_list(&self) -> Data {
        let pinned = self.gateways.flows.pinned();
        let (chosen_v6, chosen_v4) = self.gateways.chosen();
        let key_of_router = |id: babel::RouterId| {
            let pinned_key = match self.config.gateway.use_gateway {
                GatewayUse::Only(key) => Some(key),
                _ => None,
            };
            self.peers
                .keys()
                .copied()
                .chain(pinned_key)
                .find(|k| Identity::derive(k, self.config.node.mesh_prefix).router_id == id)
                .map(|k| k.to_string())
        };
        let gateways = self
            .gateways
            .known
            .iter()
            .map(|g| control::Gateway {
                router_id: g.router_id.to_string(),
                public_key: key_of_router(g.router_id),
                mesh_address: g.mesh_address.map(|a| a.to_string()).unwrap_or_default(),
                metric_v6: g.metric_v6,
                metric_v4: g.metric_v4,
                via: g.via.and_then(|l| self.key_of(l)),
                chosen_v6: chosen_v6 == Some(g.router_id),
                chosen_v4: chosen_v4 == Some(g.router_id),
                flows: pinned.get(&g.router_id).copied().unwrap_or(0),
            })
            .collect();
        let stats = self.gateways.stats;
        Data::Gateways {
            sharing: self.config.gateway.share.clone(),
            policy: match self.config.gateway.use_gateway {
                GatewayUse::Auto => "auto".to_string(),
                GatewayUse::None => "none".to_string(),
                GatewayUse::Only(key) => key.to_string(),
            },
            gateways,
            encapsulated: stats.encapsulated,
            decapsulated: stats.decapsulated,
            dropped: stats.malformed + stats.spoofed,
        }
    }

    fn peer_list(&self) -> Vec<control::Peer> {
        self.tunnels
            .peers()
            .into_iter()
            .map(|p| {
                let key = PublicKey(p.public_key);
                control::Peer {
                    public_key: key.to_string(),
                    link: p.link.0,
                    endpoint: p.endpoint.map(|e| e.to_string()),
                    up: p.up,
                    last_handshake_s: p.last_handshake.map(|d| d.as_secs()),
                    rx_bytes: p.rx_bytes as u64,
                    tx_bytes: p.tx_bytes as u64,
                    runtime: self.runtime_peers.contains(&key),
                    discovered: self.is_discovered(&key),
                    interface: self.discovered_interface(&key.0).flatten(),
                }
            })
            .collect()
    }

    fn publish(&self, what: EventKind) {
        self.control.publish(control::Event {
            time_s: self.started.elapsed().as_secs_f64(),
            what,
        });
    }

    /// SIGHUP: re-read the configuration and apply peer changes; sessions of peers that did not
    /// change stay up. Other settings need a restart, which we say.
    async fn reload(&mut self) -> Result<String, String> {
        let Some(file) = self.config_path.clone() else {
            info!("reload: no configuration file, nothing to reload");
            return Err("meshd runs on built-in defaults: there is no file to reload".into());
        };
        let path = file.path();
        let config = match file.load() {
            Ok(c) => c,
            Err(e) => {
                error!("reload failed, keeping the running configuration: {e}");
                return Err(format!(
                    "reload failed, keeping the running configuration: {e}"
                ));
            }
        };
        let now = Instant::now();
        // New allow and deny lists first, so that the peers below are judged by them.
        let joining_restart = self.reload_membership(now, &config);
        let wanted: BTreeMap<PublicKey, PeerConfig> = config
            .peers
            .iter()
            .map(|p| (p.public_key, p.clone()))
            .collect();
        let current: Vec<PublicKey> = self.peers.keys().copied().collect();
        let (mut added, mut removed) = (0, 0);
        for key in current {
            if (self.runtime_peers.contains(&key) || self.is_discovered(&key))
                && !wanted.contains_key(&key)
            {
                continue; // added at runtime or found by discovery: not the file's to remove
            }
            match wanted.get(&key) {
                Some(peer) if Some(peer) == self.peers.get(&key).map(|(_, p)| p) => {}
                _ => {
                    self.remove_peer(now, &key);
                    removed += 1;
                }
            }
        }
        for (key, peer) in wanted {
            if !self.peers.contains_key(&key) {
                self.runtime_peers.remove(&key);
                self.forget_discovered(&key);
                self.add_peer(now, peer);
                if self.peers.contains_key(&key) {
                    added += 1;
                }
            }
        }
        if config.node != self.config.node || config.babel != self.config.babel || joining_restart {
            warn!(
                "reload: [node], [babel], [discovery] and [membership] changes (other than \
                 allow, deny, max_peers and max_handshakes_per_second) take effect at the next \
                 restart"
            );
        }
        if !joining_restart {
            self.config.discovery = config.discovery;
            self.config.membership = config.membership;
        }
        if config.gateway != self.config.gateway {
            warn!("reload: [gateway] changes take effect at the next restart");
        }
        if config.http != self.config.http {
            warn!("reload: [http] changes take effect at the next restart");
        }
        if config.import != self.config.import {
            self.config.import = config.import;
            self.apply_import_filter(now);
            info!("reload: new [import] policy applied");
        }
        self.config.peers = config.peers;
        info!("reloaded {}", path.display());
        Ok(format!(
            "reloaded {}: {added} peers added, {removed} removed",
            path.display()
        ))
    }

    /// Leaves nothing behind: routes, addresses (the TUN device goes with our file descriptor),
    /// and saves the seqno so a restart is believed at once.
    async fn shutdown(&mut self) {
        let ifname = self.config.node.interface.clone();
        let prefixes: Vec<Prefix> = self.installed.keys().copied().collect();
        for prefix in prefixes {
            if let Err(e) = self.kernel.delete_route(&ifname, prefix).await {
                warn!("{e}");
            }
        }
        // Unreachable routes have no device: closing mesh0 would not take them.
        let held: Vec<Prefix> = self.held.iter().copied().collect();
        for prefix in held {
            if let Err(e) = self.kernel.delete_unreachable(prefix).await {
                warn!("{e}");
            }
        }
        match self.kernel.flush_routes().await {
            Ok(_) => {}
            Err(e) => warn!("{e}"),
        }
        if let Err(e) = self.kernel.remove_addresses(&ifname, &self.addresses).await {
            warn!("{e}");
        }
        if self.config.gateway.share.is_some() {
            match nat::remove() {
                Ok(()) => info!("gateway: removed nftables table {}", nat::TABLE),
                Err(e) => warn!("gateway: cannot remove nftables table {}: {e}", nat::TABLE),
            }
        }
        let state = State {
            seqno: Some(self.node.seqno()),
        };
        if let Err(e) = state.save(&self.config.node.state_dir) {
            warn!("cannot save state: {e}");
        }
        info!("stopped");
    }
}
