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
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{
    route_destination, run, skip_or_fail, wait_until, HelperId, Mesh, COMMAND_TIMEOUT, LISTEN_PORT,
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

/// The destinations of node `i`'s kernel routes of protocol `proto`, both families. A prefix
/// meshd holds `unreachable` after losing it (RFC 8966 §3.5.4) is no route to it, and is left
/// out.
pub fn kernel_destinations(mesh: &Mesh, i: usize, proto: &str) -> Vec<(IpAddr, u8)> {
    let mut dsts = Vec::new();
    for family in ["-6", "-4"] {
        let out = mesh.run_in(
            i,
            &["ip", family, "route", "show", "proto", proto],
            Duration::from_secs(5),
        );
        dsts.extend(
            out.stdout
                .lines()
                .filter(|line| !line.starts_with("unreachable "))
                .filter_map(route_destination),
        );
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

/// `meshctl --json <args>` on node `i`, parsed; `None` if meshctl failed (meshd not yet
/// listening) or printed no JSON. Bounded by the harness's command timeout.
pub fn try_meshctl_json(mesh: &Mesh, i: usize, args: &[&str]) -> Option<Value> {
    let mut argv = vec!["--json"];
    argv.extend_from_slice(args);
    let out = mesh.meshctl(i, &argv, COMMAND_TIMEOUT);
    if !out.success() {
        return None;
    }
    serde_json::from_str(&out.stdout).ok()
}

/// [`try_meshctl_json`], panicking with meshctl's output if it fails.
#[track_caller]
pub fn meshctl_json(mesh: &Mesh, i: usize, args: &[&str]) -> Value {
    let mut argv = vec!["--json"];
    argv.extend_from_slice(args);
    let out = mesh.meshctl(i, &argv, COMMAND_TIMEOUT);
    assert!(out.success(), "meshctl {args:?} on node {i}: {out}");
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("meshctl {args:?} printed no JSON ({e}): {out}"))
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

// ---------------------------------------------------------------------------------------------
// Reading captures with tshark's Babel dissector
// ---------------------------------------------------------------------------------------------

/// One `tshark -n -r <file> <args>` in node `i`'s namespace (where the file was written);
/// panics if tshark fails.
#[track_caller]
pub fn tshark_read(mesh: &Mesh, i: usize, file: &str, args: &[&str]) -> String {
    let mut argv = vec!["tshark", "-n", "-r", file];
    argv.extend_from_slice(args);
    let out = mesh.run_in(i, &argv, Duration::from_secs(60));
    assert!(out.success(), "`{}`: {out}", argv.join(" "));
    out.stdout
}

/// One Babel message (TLV) in `tshark -V`'s tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BabelMessage {
    /// The TLV type.
    pub kind: u8,
    /// Whether it carries a Timestamp sub-TLV (RFC 9616).
    pub timestamp: bool,
    /// The lines of its subtree, trimmed (`Prefix: …`, `Seqno: …`, `Nonce: …`).
    pub lines: Vec<String>,
}

impl BabelMessage {
    /// The value after `<field>: ` on the first line that starts with it.
    pub fn field(&self, field: &str) -> Option<&str> {
        let start = format!("{field}: ");
        self.lines.iter().find_map(|l| l.strip_prefix(&start))
    }
}

/// The messages of the Babel trees in `tshark -V` output, in order.
pub fn babel_messages(verbose: &str) -> Vec<BabelMessage> {
    let mut messages: Vec<BabelMessage> = Vec::new();
    let mut inside = false;
    for line in verbose.lines() {
        if let Some(rest) = line.strip_prefix("    Message ") {
            inside = false;
            let kind = rest
                .rsplit_once('(')
                .and_then(|(_, n)| n.trim_end_matches(')').parse().ok());
            if let Some(kind) = kind {
                inside = true;
                messages.push(BabelMessage {
                    kind,
                    timestamp: false,
                    lines: Vec::new(),
                });
            }
        } else if inside && line.starts_with("        ") {
            let Some(last) = messages.last_mut() else {
                continue;
            };
            if line.starts_with("        Sub TLV timestamp") {
                last.timestamp = true;
            }
            last.lines.push(line.trim().to_owned());
        } else {
            inside = false;
        }
    }
    messages
}

/// What Wireshark's Babel dissector flags in `tshark -V` output: malformed packets, expert
/// info, missing fields, and "Unknown" anything, except where the dissector (Wireshark 4.0) is
/// behind or wrong rather than the packet:
///
/// * `Raw Prefix: <MISSING>`: a wildcard Route Request (AE 0) has no prefix bytes, which is how
///   Wireshark shows zero bytes.
/// * `Address Encoding: Unknown (4)` (the prefix printed as `corrupt/32`): AE 4 is RFC 9229
///   v4-via-v6, newer than the dissector.
/// * `Sub-TLV Length: Unknown (4)` and `(8)`: the dissector prints a sub-TLV's length through
///   its table of sub-TLV type names; 4 is right for a Hello's Timestamp, 8 for an IHU's.
/// * A packet that ends with an IHU carrying a Timestamp (RFC 9616: origin and receive time, 8
///   bytes) is "Malformed" after `Timestamp origin`: the dissector gives the receive-time field
///   the sub-TLV's whole length (8) from 4 bytes in, so it reads 4 bytes past the end of the
///   packet. babeld's IHUs, byte for byte the same layout, pass only because other messages
///   follow them. Such a packet is excused only if that is exactly its shape (its last message
///   an IHU whose tree stops after the origin time); [`babel_payload_problems`] checks the
///   bytes themselves.
pub fn dissector_complaints(verbose: &str) -> Vec<String> {
    const EXCUSED: [&str; 4] = [
        "Raw Prefix: <MISSING>",
        "Address Encoding: Unknown (4)",
        "Sub-TLV Length: Unknown (4)",
        "Sub-TLV Length: Unknown (8)",
    ];
    let mut complaints = Vec::new();
    for frame in frames(verbose) {
        let messages = babel_messages(frame);
        let ihu_at_end_cut_short = messages.last().is_some_and(|m| {
            m.kind == 5
                && m.lines.iter().any(|l| l.starts_with("Timestamp origin"))
                && !m.lines.iter().any(|l| l.starts_with("Timestamp receive"))
        });
        for line in frame.lines().map(str::trim) {
            let bad = ["Malformed", "Expert Info", "<MISSING>", "Unknown"]
                .iter()
                .any(|bad| line.contains(bad));
            let excused = EXCUSED.iter().any(|ok| line.contains(ok))
                || (ihu_at_end_cut_short && line.contains("Malformed"));
            if bad && !excused {
                complaints.push(line.to_owned());
            }
        }
    }
    complaints
}

/// `tshark -V` output split into frames (each starts with a line `Frame <n>: …`).
fn frames(verbose: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = verbose
        .match_indices("Frame ")
        .map(|(at, _)| at)
        .filter(|&at| at == 0 || verbose.as_bytes()[at - 1] == b'\n')
        .collect();
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    starts
        .iter()
        .zip(starts.iter().skip(1).chain([&verbose.len()]))
        .map(|(&a, &b)| &verbose[a..b])
        .collect()
}

/// Reads the UDP payloads of the packets `filter` selects in capture `file` (in node `i`) and
/// checks each with [`babel_payload_problems`]: how many it read, and `frame: problem` for each
/// bad one.
pub fn capture_payload_problems(
    mesh: &Mesh,
    i: usize,
    file: &str,
    filter: &str,
) -> (usize, Vec<String>) {
    let fields = [
        "-Y",
        filter,
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "udp.payload",
    ];
    let payloads = tshark_read(mesh, i, file, &fields);
    let mut problems = Vec::new();
    let mut read = 0;
    for line in payloads.lines() {
        let (frame, hex) = line.split_once('\t').unwrap_or((line, ""));
        read += 1;
        if let Some(problem) = babel_payload_problems(hex.trim()) {
            problems.push(format!("frame {frame}: {problem}: {hex}"));
        }
    }
    (read, problems)
}

/// Why the Babel packet in `hex` (a UDP payload, as `tshark -e udp.payload` prints it) is not
/// well-formed at the TLV level (RFC 8966 §4.2-4.3), or `None` if it is: magic 42, version 2, a
/// body length that fits, TLVs (Pad1 aside) whose lengths fit the body exactly, the fixed part of
/// each known type present, and sub-TLVs after it that fit their TLV exactly, a Timestamp being
/// 4 bytes in a Hello and 8 in an IHU (RFC 9616). An independent reading, for where Wireshark's
/// dissector cannot be trusted.
pub fn babel_payload_problems(hex: &str) -> Option<String> {
    let bytes = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>();
    let Some(bytes) = bytes.filter(|_| hex.len() % 2 == 0) else {
        return Some(format!("not hex: {hex}"));
    };
    if bytes.len() < 4 || bytes[0] != 42 || bytes[1] != 2 {
        return Some(format!("bad header {:02x?}", &bytes[..bytes.len().min(4)]));
    }
    let body_len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    let Some(body) = bytes.get(4..4 + body_len) else {
        return Some(format!(
            "body length {body_len} > {} bytes",
            bytes.len() - 4
        ));
    };
    let mut at = 0;
    while at < body.len() {
        let kind = body[at];
        if kind == 0 {
            at += 1;
            continue;
        }
        let Some(&len) = body.get(at + 1) else {
            return Some(format!("TLV {kind} at {at} has no length"));
        };
        let len = usize::from(len);
        let Some(value) = body.get(at + 2..at + 2 + len) else {
            return Some(format!(
                "TLV {kind} at {at}: length {len} runs past the body"
            ));
        };
        // The fixed part, before any sub-TLV; `None` where the end is the address's.
        let fixed = match kind {
            2 => Some(6),
            3 => Some(2),
            4 => Some(6),
            5 => {
                let address = match value.first() {
                    Some(0) => 0,
                    Some(1) => 4,
                    Some(2) => 16,
                    Some(3) => 8,
                    other => return Some(format!("IHU with AE {other:?}")),
                };
                Some(6 + address)
            }
            6 => Some(10),
            _ => None,
        };
        if let Some(fixed) = fixed {
            if len < fixed {
                return Some(format!("TLV {kind}: length {len} < {fixed}"));
            }
            let mut sub = fixed;
            while sub < len {
                let sub_kind = value[sub];
                if sub_kind == 0 {
                    sub += 1;
                    continue;
                }
                let Some(&sub_len) = value.get(sub + 1) else {
                    return Some(format!("TLV {kind}: sub-TLV {sub_kind} has no length"));
                };
                let sub_len = usize::from(sub_len);
                if sub + 2 + sub_len > len {
                    return Some(format!("TLV {kind}: sub-TLV {sub_kind} runs past the TLV"));
                }
                let want = match (kind, sub_kind) {
                    (4, 3) => Some(4),
                    (5, 3) => Some(8),
                    _ => None,
                };
                if want.is_some_and(|w| w != sub_len) {
                    return Some(format!("TLV {kind}: Timestamp of {sub_len} bytes"));
                }
                sub += 2 + sub_len;
            }
        }
        at += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet of meshd's from a capture: a Hello with a Timestamp, then an IHU (AE 3) with
    /// origin and receive times, which ends the packet.
    const HELLO_IHU: &str =
        "2a020028040c0000c02d0064030400003425051803000060012c28ce0dcdbfd553a60308ac0a50b000003424";

    #[test]
    fn payloads() {
        assert_eq!(babel_payload_problems(HELLO_IHU), None);
        // One byte short: the body length no longer fits.
        let short = &HELLO_IHU[..HELLO_IHU.len() - 2];
        assert!(babel_payload_problems(short).is_some());
        // The IHU's Timestamp claims 4 bytes (a Hello's size): the TLV then has 4 left over,
        // read as a sub-TLV that runs past it.
        let wrong = HELLO_IHU.replace("0308ac0a50b0", "0304ac0a50b0");
        assert!(babel_payload_problems(&wrong).is_some());
        assert!(babel_payload_problems("2a02zz").is_some());
        assert!(babel_payload_problems("2b020000").is_some());
    }

    #[test]
    fn complaints_excuse_only_the_cut_short_ihu() {
        let cut_short = "Frame 1: 96 bytes\nBabel Routing Protocol\n    Message ihu (5)\n        \
                         Sub TLV timestamp (3)\n            Sub-TLV Length: Unknown (8)\n            \
                         Timestamp origin : 1.0s\n[Malformed Packet: Babel]\n";
        assert_eq!(dissector_complaints(cut_short), Vec::<String>::new());
        // The same complaint after an Update is the packet's fault.
        let update = "Frame 2: 96 bytes\nBabel Routing Protocol\n    Message update (8)\n        \
                      Metric: 96\n[Malformed Packet: Babel]\n";
        assert_eq!(
            dissector_complaints(&format!("{cut_short}{update}")),
            vec!["[Malformed Packet: Babel]".to_owned()]
        );
    }
}
