//! Helpers for tests against other Babel and WireGuard implementations: a "babeld router" (a
//! harness node that runs wireguard-go, one interface per meshd neighbour, and babeld on them
//! instead of meshd), kernel routes of any protocol, pings from a chosen source address, and
//! meshctl's JSON.
//!
//! Interface names are not `wg0`: wireguard-go's control socket is
//! `/var/run/wireguard/<if>.sock`, which is not per network namespace, so two test processes on
//! one machine (or a developer's own `wg0`) would share it and `wg set` could configure someone
//! else's interface. [`unique_ifname`] makes names from the test process's PID and the mesh
//! counter, and [`SocketCleanup`] removes exactly those sockets.

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{
    meshd_binary, route_destination, run, skip_or_fail, wait_until, HelperId, Mesh, LISTEN_PORT,
};

/// babeld's kernel routes carry RTPROT_BABEL.
pub const BABEL_PROTO: &str = "42";
/// wireguard-go's MTU on the babeld router, as `wg-quick` would set it.
pub const WG_MTU: &str = "1420";

/// One wireguard-go interface of the babeld router, toward one meshd node.
#[derive(Debug)]
pub struct Tunnel {
    pub ifname: String,
    /// wireguard-go's UDP port (one per interface: it cannot share one).
    pub listen_port: u16,
    /// The meshd node at the other end.
    pub peer: usize,
    /// The router's link-local address on this interface.
    pub link_local: &'static str,
    /// Whether the peer's endpoint is configured (meshd's underlay address toward this node, at
    /// [`LISTEN_PORT`]). Without it wireguard-go learns the endpoint from the first
    /// authenticated packet: the way to put a [`crate::delay`] relay in between.
    pub fixed_endpoint: bool,
}

/// Removes the control sockets wireguard-go leaves in `/var/run/wireguard` when it is killed
/// (the mesh's drop SIGKILLs it). Only the unique names of this test's interfaces.
#[derive(Debug)]
pub struct SocketCleanup(pub Vec<PathBuf>);

impl Drop for SocketCleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub fn wg_socket(ifname: &str) -> PathBuf {
    Path::new("/var/run/wireguard").join(format!("{ifname}.sock"))
}

/// An interface name unique on this machine while this mesh exists: `ib<pid>-<k><tag>`, from the
/// namespace name `mshn-<pid>-<k>-<i>` (at most 15 characters).
pub fn unique_ifname(mesh: &Mesh, tag: char) -> String {
    let ns = mesh.namespace(0);
    let mut parts = ns.trim_start_matches("mshn-").split('-');
    let pid = parts.next().unwrap_or("0");
    let k = parts.next().unwrap_or("0");
    let name = format!("ib{pid}-{k}{tag}");
    assert!(name.len() <= 15, "interface name {name} is too long");
    name
}

#[track_caller]
pub fn must_in(mesh: &Mesh, i: usize, argv: &[&str]) -> String {
    let out = mesh.run_in(i, argv, Duration::from_secs(10));
    assert!(
        out.success(),
        "`{}` in node {i} failed: {out}",
        argv.join(" ")
    );
    out.stdout
}

/// Starts wireguard-go for `tunnel` in node `node` and configures it with node `node`'s key.
pub fn start_wireguard_go(mesh: &mut Mesh, node: usize, tunnel: &Tunnel, key_file: &Path) {
    let ifname = tunnel.ifname.as_str();
    // Debian's wireguard-go refuses to run where the kernel has WireGuard unless told to.
    mesh.spawn_in(
        node,
        &format!("wireguard-go-{ifname}"),
        &[
            "env",
            "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1",
            "LOG_LEVEL=verbose",
            "wireguard-go",
            "-f",
            ifname,
        ],
    );
    let ready = wait_until(Duration::from_secs(10), || {
        wg_socket(ifname).exists()
            && mesh
                .run_in(
                    node,
                    &["ip", "link", "show", ifname],
                    Duration::from_secs(5),
                )
                .success()
    });
    assert!(ready, "wireguard-go made no {ifname} in node {node}");
    let port = tunnel.listen_port.to_string();
    let endpoint = format!(
        "[{}]:{LISTEN_PORT}",
        mesh.underlay_address(tunnel.peer, node)
    );
    let key = key_file.to_string_lossy().into_owned();
    let peer_key = mesh.public_key(tunnel.peer).to_owned();
    let mut argv = vec![
        "wg",
        "set",
        ifname,
        "private-key",
        &key,
        "listen-port",
        &port,
        "peer",
        &peer_key,
        "allowed-ips",
        "::/0,0.0.0.0/0",
        "persistent-keepalive",
        "5",
    ];
    if tunnel.fixed_endpoint {
        argv.extend(["endpoint", endpoint.as_str()]);
    }
    must_in(mesh, node, &argv);
    let ll = format!("{}/64", tunnel.link_local);
    must_in(
        mesh,
        node,
        &["ip", "addr", "add", &ll, "dev", ifname, "nodad"],
    );
    must_in(
        mesh,
        node,
        &["ip", "link", "set", ifname, "up", "mtu", WG_MTU],
    );
}

/// Paths of one babeld run.
#[derive(Debug)]
pub struct Babeld {
    pub helper: HelperId,
    pub pidfile: PathBuf,
    pub socket: PathBuf,
}

/// Starts babeld in node `node` on `tunnels`, announcing only the addresses on `lo` in
/// fd00:b::/32 and 203.0.113.0/24.
pub fn start_babeld(mesh: &mut Mesh, node: usize, tunnels: &[Tunnel]) -> Babeld {
    let dir = mesh.node_dir(node).to_path_buf();
    let pidfile = dir.join("babeld.pid");
    let state = dir.join("babeld.state");
    let socket = dir.join("babeld.sock");
    let config = dir.join("babeld.conf");
    let mut text = format!("local-path {}\n", socket.display());
    for tunnel in tunnels {
        // `type tunnel` turns on timestamps (RTT) and a 96 max RTT penalty; v4-via-v6 because
        // the interface has no IPv4 address.
        text.push_str(&format!(
            "interface {} type tunnel v4-via-v6 true\n",
            tunnel.ifname
        ));
    }
    text.push_str(
        "redistribute local ip fd00:b::/32 le 128 allow\n\
         redistribute local ip 203.0.113.0/24 le 32 allow\n\
         redistribute local deny\n",
    );
    std::fs::write(&config, text).expect("write babeld.conf");
    let (config, pid, state) = (
        config.to_string_lossy().into_owned(),
        pidfile.to_string_lossy().into_owned(),
        state.to_string_lossy().into_owned(),
    );
    let helper = mesh.spawn_in(
        node,
        "babeld",
        &["babeld", "-c", &config, "-I", &pid, "-S", &state, "-d", "0"],
    );
    Babeld {
        helper,
        pidfile,
        socket,
    }
}

/// babeld's PID from its pidfile (babeld is the process `spawn_in` started: `ip netns exec`
/// execs it).
pub fn babeld_pid(babeld: &Babeld) -> String {
    let mut pid = String::new();
    let found = wait_until(Duration::from_secs(10), || {
        pid = std::fs::read_to_string(&babeld.pidfile)
            .unwrap_or_default()
            .trim()
            .to_owned();
        pid.parse::<u32>().is_ok()
    });
    assert!(
        found,
        "babeld wrote no pidfile {}",
        babeld.pidfile.display()
    );
    pid
}

/// babeld's `dump` over its read-only local socket: the lines up to `ok`.
pub fn babeld_dump(babeld: &Babeld) -> Vec<String> {
    let Ok(mut stream) = UnixStream::connect(&babeld.socket) else {
        return Vec::new();
    };
    let timeout = Some(Duration::from_secs(2));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    if stream.write_all(b"dump\n").is_err() {
        return Vec::new();
    }
    let mut lines = Vec::new();
    let mut oks = 0;
    for line in BufReader::new(stream).lines().take(10_000) {
        let Ok(line) = line else { break };
        // The greeting ends with one `ok`, the dump with another.
        if line == "ok" {
            oks += 1;
            if oks == 2 {
                break;
            }
            continue;
        }
        lines.push(line);
    }
    lines
}

/// The value after `key` in a babeld dump line.
pub fn dump_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let mut tokens = line.split_whitespace();
    tokens.find(|t| *t == key)?;
    tokens.next()
}

/// The destinations of node `i`'s kernel routes of protocol `proto`, both families.
pub fn kernel_destinations(mesh: &Mesh, i: usize, proto: &str) -> Vec<(IpAddr, u8)> {
    let mut dsts = Vec::new();
    for family in ["-6", "-4"] {
        let out = mesh.run_in(
            i,
            &["ip", family, "route", "show", "proto", proto],
            Duration::from_secs(5),
        );
        dsts.extend(out.stdout.lines().filter_map(route_destination));
    }
    dsts
}

pub fn kernel_routes_text(mesh: &Mesh, i: usize, proto: &str) -> String {
    let mut text = String::new();
    for family in ["-6", "-4"] {
        let out = mesh.run_in(
            i,
            &["ip", family, "route", "show", "proto", proto],
            Duration::from_secs(5),
        );
        text.push_str(&out.stdout);
    }
    text
}

pub fn has_route(mesh: &Mesh, i: usize, proto: &str, addr: IpAddr) -> bool {
    let len = if addr.is_ipv6() { 128 } else { 32 };
    kernel_destinations(mesh, i, proto).contains(&(addr, len))
}

/// Pings `dst` from node `i`, from source address `src`, until a reply comes or `timeout`.
pub fn ping_from(mesh: &Mesh, i: usize, src: IpAddr, dst: IpAddr, timeout: Duration) -> bool {
    let family = if dst.is_ipv6() { "-6" } else { "-4" };
    let (src, dst) = (src.to_string(), dst.to_string());
    wait_until(timeout, || {
        mesh.run_in(
            i,
            &["ping", family, "-n", "-q", "-c1", "-W1", "-I", &src, &dst],
            Duration::from_secs(5),
        )
        .success()
    })
}

/// Asserts that node `i` can ping `dst` from `src` within 20 s.
#[track_caller]
pub fn assert_ping(mesh: &Mesh, i: usize, src: IpAddr, dst: IpAddr) {
    let started = Instant::now();
    assert!(
        ping_from(mesh, i, src, dst, Duration::from_secs(20)),
        "node {i} cannot ping {dst} from {src}; node {i}'s routes:\n{}\n{}",
        kernel_routes_text(mesh, i, "109"),
        kernel_routes_text(mesh, i, BABEL_PROTO),
    );
    eprintln!(
        "node {i} pinged {dst} from {src} in {:?}",
        started.elapsed()
    );
}

/// meshctl: env `MESHCTL_BIN`, else the one next to [`meshd_binary`]. Panics if there is none.
pub fn meshctl_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("MESHCTL_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    let bin = meshd_binary().with_file_name("meshctl");
    assert!(
        bin.is_file(),
        "no meshctl next to meshd ({}): build it (`cargo build --release -p meshctl`)",
        bin.display()
    );
    bin
}

/// `meshctl --socket <node i's socket> --json <args>`, parsed; `None` if meshctl failed (meshd
/// not yet listening) or printed no JSON.
pub fn try_meshctl_json(mesh: &Mesh, i: usize, args: &[&str]) -> Option<Value> {
    let output = Command::new(meshctl_binary())
        .arg("--socket")
        .arg(mesh.node_dir(i).join("meshd.sock"))
        .arg("--json")
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

/// [`try_meshctl_json`], panicking with meshctl's output if it fails.
#[track_caller]
pub fn meshctl_json(mesh: &Mesh, i: usize, args: &[&str]) -> Value {
    let output = Command::new(meshctl_binary())
        .arg("--socket")
        .arg(mesh.node_dir(i).join("meshd.sock"))
        .arg("--json")
        .args(args)
        .output()
        .expect("run meshctl");
    assert!(
        output.status.success(),
        "meshctl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "meshctl {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The list under `key`, whether meshctl printed the whole data object or the list alone.
pub fn json_list(value: &Value, key: &str) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Node `i`'s list `what` (`neighbours`, `routes`, …) from meshctl; empty while meshd is still
/// starting.
pub fn meshctl_list(mesh: &Mesh, i: usize, what: &str) -> Vec<Value> {
    try_meshctl_json(mesh, i, &[what])
        .map(|v| json_list(&v, what))
        .unwrap_or_default()
}

/// The neighbours in meshctl's `neighbours` answer.
pub fn neighbours(value: &Value) -> Vec<Value> {
    json_list(value, "neighbours")
}

/// The `rtt_ms` of the neighbour with public key `key` in meshctl's `neighbours` list.
pub fn rtt_ms(neighbours: &[Value], key: &str) -> Option<f64> {
    neighbours
        .iter()
        .find(|n| n["peer"].as_str() == Some(key))
        .and_then(|n| n["rtt_ms"].as_f64())
}

/// The public key of the peer of the selected route to `dst` in meshctl's `routes` list.
pub fn selected_peer(routes: &[Value], dst: &str) -> Option<String> {
    routes
        .iter()
        .find(|r| r["prefix"].as_str() == Some(dst) && r["selected"] == Value::Bool(true))
        .and_then(|r| r["peer"].as_str().map(str::to_owned))
}

/// babeld and wireguard-go answer their version options (babeld has no `--version`); otherwise
/// a SKIP line (a failure under CI).
pub fn tools_present() -> bool {
    for argv in [&["babeld", "-V"][..], &["wireguard-go", "--version"][..]] {
        let out = run(argv, None, Duration::from_secs(10));
        if !out.success() {
            skip_or_fail(&format!("`{}` is missing or broken: {out}", argv[0]));
            return false;
        }
    }
    true
}
