//! The TUN device and the rtnetlink kernel side against a real kernel, inside a network namespace
//! this test creates (and deletes on every exit path), never in the namespace it was started in.
//!
//! `kernel_in_netns` (the outer test) creates namespace `mshk-<pid>-<n>` and re-runs this test
//! binary inside it with `ip netns exec`, running only `inside_netns` with `MESHD_IN_NETNS` set to
//! the namespace's name; `inside_netns` does nothing without that variable, and refuses to run
//! unless it is in that namespace (`/run/netns/<name>`), and not in init's when that is visible.
//!
//! Needs root, /dev/net/tun and iproute2's `ip`. Without them the test fails if `CI` is set, and
//! prints a loud SKIP otherwise.
//!
//! Addresses are from fd00::/8 and the IPv4 documentation ranges only.

// meshd is a binary crate: include the two modules under test directly. They depend only on
// external crates and `babel`.
#[path = "../src/kernel/mod.rs"]
mod kernel;
#[path = "../src/tun.rs"]
mod tun;

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kernel::{Kernel, KernelError, Netlink, ROUTE_PROTOCOL};
use tun::Tun;

/// Set (to the namespace's name) in the process that runs inside the namespace.
const INNER_ENV: &str = "MESHD_IN_NETNS";
/// The test that does the work inside the namespace.
const INNER_TEST: &str = "inside_netns";
/// How long the inner process may take, all checks included.
const INNER_TIMEOUT: Duration = Duration::from_secs(120);

const IFNAME: &str = "mshtest0";
const MESH_ADDR: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6d65, 0x7368, 0, 0, 0, 0, 1);
const PEER_ADDR: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6d65, 0x7368, 0, 0, 0, 0, 2);
const MESH_ADDR4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const REMOTE4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

// ---------------------------------------------------------------------------------------------
// Outer side: preconditions, the namespace guard, the re-exec.

/// The inode of the network namespace this process is in.
fn netns_inode() -> io::Result<u64> {
    Ok(std::fs::metadata("/proc/self/ns/net")?.ino())
}

/// Why the namespace test cannot run here, if it cannot.
fn missing_precondition() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not running as root".to_owned());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun does not exist".to_owned());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!("`ip -V` failed: {}", out.status)),
        Err(e) => Some(format!("iproute2's `ip` cannot be run: {e}")),
    }
}

/// Fails under CI, prints a loud SKIP otherwise.
fn cannot_run(reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("kernel_netns cannot run and CI is set: {reason}");
    }
    eprintln!();
    eprintln!("**********************************************************************");
    eprintln!("*** SKIP kernel_netns: {reason}");
    eprintln!("*** (TUN + rtnetlink untested; run as root with /dev/net/tun and `ip`)");
    eprintln!("**********************************************************************");
    eprintln!();
}

/// A network namespace this test created; dropping it deletes it (and with it every link and
/// route made inside).
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Result<Netns, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "mshk-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .map_err(|e| format!("running `ip netns add {name}`: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`ip netns add {name}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Netns { name })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        match Command::new("ip")
            .args(["netns", "del", &self.name])
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "warning: `ip netns del {}` failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("warning: `ip netns del {}`: {e}", self.name),
        }
    }
}

/// The inner process: killed and reaped if still running when dropped, its log file removed.
struct Inner {
    child: Child,
    log: PathBuf,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

#[test]
fn kernel_in_netns() {
    if std::env::var_os(INNER_ENV).is_some() {
        return; // This is the inner process; `inside_netns` does the work.
    }
    if let Some(reason) = missing_precondition() {
        cannot_run(&reason);
        return;
    }
    let ns = match Netns::create() {
        Ok(ns) => ns,
        Err(reason) => {
            cannot_run(&reason);
            return;
        }
    };

    let exe = std::env::current_exe().expect("current test binary");
    let log = std::env::temp_dir().join(format!("{}.log", ns.name));
    let log_file = File::create(&log).expect("creating the inner log");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(&exe)
        .args(["--exact", INNER_TEST, "--nocapture", "--test-threads=1"])
        .env(INNER_ENV, &ns.name)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log fd"))
        .stderr(log_file)
        .spawn()
        .expect("spawning `ip netns exec`");
    let mut inner = Inner { child, log };

    let deadline = Instant::now() + INNER_TIMEOUT;
    let status = loop {
        if let Some(status) = inner.child.try_wait().expect("waiting for the inner test") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&inner.log).unwrap_or_default();
    println!("----- inner test output (namespace {}) -----", ns.name);
    println!("{output}");
    println!("----- end of inner test output -----");
    match status {
        None => panic!("the inner test did not finish within {INNER_TIMEOUT:?}"),
        Some(status) => assert!(status.success(), "the inner test failed: {status}"),
    }
    // With --nocapture the test's own output sits between "test inside_netns ..." and "ok".
    assert!(
        output.contains("test result: ok. 1 passed;"),
        "the inner test did not run"
    );
    drop(inner);
    drop(ns);
}

// ---------------------------------------------------------------------------------------------
// Inner side: the checks, inside the namespace.

#[test]
fn inside_netns() {
    let Some(name) = std::env::var_os(INNER_ENV) else {
        return; // Run by `kernel_in_netns`, inside its namespace.
    };
    // Whatever the variable says, touch nothing unless this process is really in the test's
    // namespace: the one `ip netns` bind-mounted under that name, not init's.
    let name = name.to_str().expect("namespace name");
    let here = netns_inode().expect("reading /proc/self/ns/net");
    let named = std::fs::metadata(Path::new("/run/netns").join(name)).map(|m| m.ino());
    let init = std::fs::metadata("/proc/1/ns/net").map(|m| m.ino());
    assert!(
        name.starts_with("mshk-") && !name.contains('/') && named.ok() == Some(here),
        "refusing to touch links and routes: not inside the test's namespace {name:?}"
    );
    // (Sandboxes may hide init's namespace even from root; the check above is the one that counts.)
    assert!(
        init.map_or(true, |init| init != here),
        "refusing to touch links and routes: in init's network namespace"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), checks())
            .await
            .expect("the namespace checks timed out")
    });
}

/// Runs `ip <args>` and returns its stdout; panics if it fails.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("ip output is UTF-8")
}

fn prefix(s: &str) -> babel::Prefix {
    s.parse().expect("prefix")
}

async fn checks() {
    let tun = Tun::create(IFNAME).expect("creating the TUN device");
    assert_eq!(tun.name(), IFNAME);
    assert_eq!(
        Tun::create("a-name-far-too-long").unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );

    let mut nl = Netlink::open().await.expect("opening rtnetlink");
    let addresses = [(IpAddr::V6(MESH_ADDR), 128), (IpAddr::V4(MESH_ADDR4), 32)];

    // configure_link: MTU, addresses, up; twice, as a restart would.
    nl.configure_link(IFNAME, 1420, &addresses)
        .await
        .expect("configure_link");
    nl.configure_link(IFNAME, 1420, &addresses)
        .await
        .expect("configure_link again");
    let link = ip(&["-o", "link", "show", "dev", IFNAME]);
    println!("{link}");
    assert!(link.contains(" mtu 1420 "), "MTU not set: {link}");
    let flags = link
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(flags, _)| flags)
        .expect("link flags");
    assert!(flags.split(',').any(|f| f == "UP"), "link not up: {link}");
    let addrs = ip(&["-o", "addr", "show", "dev", IFNAME]);
    println!("{addrs}");
    assert!(addrs.contains(&format!("inet6 {MESH_ADDR}/128")), "{addrs}");
    assert!(addrs.contains(&format!("inet {MESH_ADDR4}/32")), "{addrs}");
    assert!(
        !addrs.contains("brd"),
        "no broadcast address wanted: {addrs}"
    );
    assert!(!addrs.contains("tentative"), "DAD should be off: {addrs}");

    let err = nl
        .configure_link("mshnone0", 1420, &addresses)
        .await
        .unwrap_err();
    assert!(matches!(err, KernelError::NoSuchLink { .. }), "{err}");
    println!("missing link: {err}");

    // Routes of ours, both families, idempotent.
    let v6 = prefix(&format!("{PEER_ADDR}/128"));
    let v4 = prefix("203.0.113.0/24");
    for _ in 0..2 {
        nl.replace_route(IFNAME, v6)
            .await
            .expect("replace v6 route");
        nl.replace_route(IFNAME, v4)
            .await
            .expect("replace v4 route");
    }
    let proto = ROUTE_PROTOCOL.to_string();
    let ours6 = ip(&["-6", "route", "show", "proto", &proto]);
    let ours4 = ip(&["-4", "route", "show", "proto", &proto]);
    println!("ours:\n{ours6}{ours4}");
    assert_eq!(ours6.lines().count(), 1, "{ours6}");
    assert!(
        ours6.contains(&format!("{PEER_ADDR} dev {IFNAME}")),
        "{ours6}"
    );
    assert_eq!(ours4.lines().count(), 1, "{ours4}");
    assert!(
        ours4.contains(&format!("203.0.113.0/24 dev {IFNAME}")),
        "{ours4}"
    );

    // Replace moves our route to another device (the namespace's own loopback).
    ip(&["link", "set", "lo", "up"]);
    nl.replace_route("lo", v4)
        .await
        .expect("move v4 route to lo");
    let moved = ip(&["-4", "route", "show", "proto", &proto]);
    assert_eq!(moved.lines().count(), 1, "{moved}");
    assert!(moved.contains("203.0.113.0/24 dev lo"), "{moved}");
    nl.replace_route(IFNAME, v4)
        .await
        .expect("move v4 route back");
    let back = ip(&["-4", "route", "show", "proto", &proto]);
    assert!(
        back.contains(&format!("203.0.113.0/24 dev {IFNAME}")),
        "{back}"
    );

    // Foreign routes: never replaced, deleted or flushed.
    ip(&[
        "-6",
        "route",
        "add",
        "fd00:dead::/64",
        "dev",
        IFNAME,
        "proto",
        "static",
    ]);
    ip(&[
        "-4",
        "route",
        "add",
        "192.0.2.0/24",
        "dev",
        IFNAME,
        "proto",
        "static",
    ]);
    let err = nl
        .replace_route(IFNAME, prefix("fd00:dead::/64"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, KernelError::ForeignRoute { protocol: 4, .. }),
        "{err}"
    );
    println!("foreign route: {err}");
    let err = nl
        .replace_route(IFNAME, prefix("192.0.2.0/24"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, KernelError::ForeignRoute { protocol: 4, .. }),
        "{err}"
    );
    nl.delete_route(IFNAME, prefix("fd00:dead::/64"))
        .await
        .expect("deleting a foreign prefix is a no-op");
    nl.delete_route(IFNAME, prefix("192.0.2.0/24"))
        .await
        .expect("deleting a foreign prefix is a no-op");
    let foreign = ip(&["route", "show", "proto", "static"])
        + &ip(&["-6", "route", "show", "proto", "static"]);
    assert!(foreign.contains("192.0.2.0/24"), "{foreign}");
    assert!(foreign.contains("fd00:dead::/64"), "{foreign}");

    // Missing routes and links are not errors.
    nl.delete_route(IFNAME, prefix("fd00:6d65:7368::3/128"))
        .await
        .expect("deleting a missing route");
    nl.delete_route(IFNAME, prefix("198.51.100.128/25"))
        .await
        .expect("deleting a missing route");
    nl.delete_route("mshnone0", v6)
        .await
        .expect("deleting on a missing link");

    // delete_route removes ours.
    nl.delete_route(IFNAME, v4).await.expect("delete v4");
    assert_eq!(ip(&["-4", "route", "show", "proto", &proto]), "");
    nl.replace_route(IFNAME, v4)
        .await
        .expect("replace v4 route");

    // Unreachable routes (a prefix the mesh lost, held for RFC 8966 §3.5.4): over ours in one
    // step, and local packets to the prefix are refused although a shorter route covers it.
    ip(&[
        "-6",
        "route",
        "add",
        "fd00:6d65:7368::/48",
        "dev",
        IFNAME,
        "proto",
        "static",
    ]);
    nl.replace_with_unreachable(v6)
        .await
        .expect("v6 unreachable over our route");
    nl.replace_with_unreachable(v6)
        .await
        .expect("v6 unreachable again");
    nl.replace_with_unreachable(prefix("198.51.100.128/25"))
        .await
        .expect("v4 unreachable where nothing was");
    let held6 = ip(&["-6", "route", "show", "proto", &proto]);
    let held4 = ip(&["-4", "route", "show", "proto", &proto]);
    println!("held:\n{held6}{held4}");
    assert_eq!(held6.lines().count(), 1, "{held6}");
    assert!(
        held6.starts_with(&format!("unreachable {PEER_ADDR} ")),
        "{held6}"
    );
    assert!(held4.contains("unreachable 198.51.100.128/25 "), "{held4}");
    let refused = std::net::UdpSocket::bind((MESH_ADDR, 0))
        .expect("bind v6")
        .send_to(b"held", (PEER_ADDR, 9));
    println!("sending to a held prefix: {refused:?}");
    assert!(refused.is_err(), "the kernel sent to a held prefix");
    let err = nl
        .replace_with_unreachable(prefix("fd00:dead::/64"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, KernelError::ForeignRoute { protocol: 4, .. }),
        "{err}"
    );
    // A route comes back over the unreachable one; a deleted hold is gone.
    nl.replace_route(IFNAME, v6)
        .await
        .expect("route over the unreachable one");
    let back6 = ip(&["-6", "route", "show", "proto", &proto]);
    assert_eq!(back6.lines().count(), 1, "{back6}");
    assert!(
        back6.contains(&format!("{PEER_ADDR} dev {IFNAME}")),
        "{back6}"
    );
    nl.delete_unreachable(prefix("198.51.100.128/25"))
        .await
        .expect("delete v4 unreachable");
    nl.delete_unreachable(prefix("198.51.100.128/25"))
        .await
        .expect("delete a missing unreachable route");
    let after4 = ip(&["-4", "route", "show", "proto", &proto]);
    assert!(!after4.contains("unreachable"), "{after4}");
    // Held again: the flush below must take it too.
    nl.replace_with_unreachable(v6)
        .await
        .expect("v6 unreachable");
    ip(&[
        "-6",
        "route",
        "del",
        "fd00:6d65:7368::/48",
        "proto",
        "static",
    ]);

    // flush_routes: ours only, both families, unreachable ones included.
    assert_eq!(nl.flush_routes().await.expect("flush"), 2);
    assert_eq!(nl.flush_routes().await.expect("flush again"), 0);
    assert_eq!(ip(&["-6", "route", "show", "proto", &proto]), "");
    assert_eq!(ip(&["-4", "route", "show", "proto", &proto]), "");
    let foreign = ip(&["route", "show", "proto", "static"])
        + &ip(&["-6", "route", "show", "proto", "static"]);
    assert!(foreign.contains("192.0.2.0/24"), "{foreign}");
    assert!(foreign.contains("fd00:dead::/64"), "{foreign}");

    // Packets: what the kernel routes to the device comes out of Tun::recv...
    nl.replace_route(IFNAME, v6)
        .await
        .expect("replace v6 route");
    nl.replace_route(IFNAME, v4)
        .await
        .expect("replace v4 route");
    drain(&tun);
    let socket6 = std::net::UdpSocket::bind((MESH_ADDR, 0)).expect("bind v6");
    socket6
        .send_to(b"meshd-probe-6", (PEER_ADDR, 9))
        .expect("send v6");
    let packet = recv_udp(&tun, IpAddr::V6(PEER_ADDR)).await;
    assert_eq!(packet.src, IpAddr::V6(MESH_ADDR));
    assert_eq!(packet.dst_port, 9);
    assert_eq!(packet.payload, b"meshd-probe-6");
    let socket4 = std::net::UdpSocket::bind((MESH_ADDR4, 0)).expect("bind v4");
    socket4
        .send_to(b"meshd-probe-4", (REMOTE4, 9))
        .expect("send v4");
    let packet = recv_udp(&tun, IpAddr::V4(REMOTE4)).await;
    assert_eq!(packet.src, IpAddr::V4(MESH_ADDR4));
    assert_eq!(packet.payload, b"meshd-probe-4");

    // ...and what Tun::send / try_send write is delivered by the kernel.
    let listener6 = tokio::net::UdpSocket::bind((MESH_ADDR, 0))
        .await
        .expect("bind v6 listener");
    let port6 = listener6.local_addr().unwrap().port();
    let packet = ipv6_udp(PEER_ADDR, 4242, MESH_ADDR, port6, b"from-the-mesh-6");
    assert_eq!(tun.send(&packet).await.expect("Tun::send"), packet.len());
    let (payload, from) = recv_from(&listener6).await;
    assert_eq!(payload, b"from-the-mesh-6");
    assert_eq!(from, SocketAddr::from((PEER_ADDR, 4242)));

    let listener4 = tokio::net::UdpSocket::bind((MESH_ADDR4, 0))
        .await
        .expect("bind v4 listener");
    let port4 = listener4.local_addr().unwrap().port();
    let remote = Ipv4Addr::new(203, 0, 113, 9);
    let packet = ipv4_udp(remote, 4343, MESH_ADDR4, port4, b"from-the-mesh-4");
    assert_eq!(tun.try_send(&packet).expect("Tun::try_send"), packet.len());
    let (payload, from) = recv_from(&listener4).await;
    assert_eq!(payload, b"from-the-mesh-4");
    assert_eq!(from, SocketAddr::from((remote, 4343)));

    // Stop: flush, remove addresses (twice: idempotent), close the device.
    assert_eq!(nl.flush_routes().await.expect("flush"), 2);
    nl.remove_addresses(IFNAME, &addresses)
        .await
        .expect("remove_addresses");
    nl.remove_addresses(IFNAME, &addresses)
        .await
        .expect("remove_addresses again");
    let addrs = ip(&["-o", "addr", "show", "dev", IFNAME]);
    assert!(!addrs.contains("fd00:6d65:7368::1"), "{addrs}");
    assert!(!addrs.contains("198.51.100.1"), "{addrs}");
    drop(tun);
    nl.remove_addresses(IFNAME, &addresses)
        .await
        .expect("remove_addresses on a gone link");
    nl.delete_route(IFNAME, v6)
        .await
        .expect("delete_route on a gone link");
    let err = nl.replace_route(IFNAME, v6).await.unwrap_err();
    assert!(matches!(err, KernelError::NoSuchLink { .. }), "{err}");
}

/// Reads whatever the kernel queued on the device (router solicitations, MLD reports), bounded.
fn drain(tun: &Tun) {
    let mut buf = [0u8; 2048];
    for _ in 0..1000 {
        match tun.try_recv(&mut buf) {
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("Tun::try_recv: {e}"),
        }
    }
    panic!("the TUN queue did not drain");
}

struct Udp {
    src: IpAddr,
    dst_port: u16,
    payload: Vec<u8>,
}

/// Parses an IPv4 or IPv6 (no extension headers) UDP packet; returns its destination too.
fn parse_udp(p: &[u8]) -> Option<(IpAddr, Udp)> {
    let (src, dst, udp) = match p.first()? >> 4 {
        6 if p.len() >= 48 && p[6] == 17 => {
            let src: [u8; 16] = p[8..24].try_into().ok()?;
            let dst: [u8; 16] = p[24..40].try_into().ok()?;
            (IpAddr::from(src), IpAddr::from(dst), &p[40..])
        }
        4 if p.len() >= 28 && p[9] == 17 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let src: [u8; 4] = p[12..16].try_into().ok()?;
            let dst: [u8; 4] = p[16..20].try_into().ok()?;
            (IpAddr::from(src), IpAddr::from(dst), p.get(ihl..)?)
        }
        _ => return None,
    };
    let dst_port = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    Some((
        dst,
        Udp {
            src,
            dst_port,
            payload: udp.get(8..)?.to_vec(),
        },
    ))
}

/// Waits (bounded) for a UDP packet to `dst` on the device, skipping anything else.
async fn recv_udp(tun: &Tun, dst: IpAddr) -> Udp {
    let mut buf = [0u8; 2048];
    for _ in 0..100 {
        let n = tokio::time::timeout(Duration::from_secs(5), tun.recv(&mut buf))
            .await
            .expect("no packet from the TUN device within 5 s")
            .expect("Tun::recv");
        match parse_udp(&buf[..n]) {
            Some((to, udp)) if to == dst => return udp,
            _ => println!("skipping a {n}-byte packet"),
        }
    }
    panic!("no UDP packet to {dst} among 100 packets");
}

async fn recv_from(socket: &tokio::net::UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("the packet written to the TUN device was not delivered within 5 s")
        .expect("recv_from");
    (buf[..n].to_vec(), from)
}

/// The Internet checksum of the concatenated slices.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for byte in parts.iter().flat_map(|p| p.iter().copied()) {
        match odd.take() {
            Some(hi) => sum += u32::from(u16::from_be_bytes([hi, byte])),
            None => odd = Some(byte),
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn udp_header(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + payload.len()).expect("small payload");
    let mut udp = Vec::with_capacity(usize::from(len));
    udp.extend_from_slice(&src_port.to_be_bytes());
    udp.extend_from_slice(&dst_port.to_be_bytes());
    udp.extend_from_slice(&len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    udp
}

fn ipv6_udp(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut udp = udp_header(sport, dport, payload);
    let len = u16::try_from(udp.len()).unwrap();
    let pseudo_tail = [0, 0, (len >> 8) as u8, len as u8, 0, 0, 0, 17];
    let sum = checksum(&[&src.octets(), &dst.octets(), &pseudo_tail, &udp]);
    udp[6..8].copy_from_slice(&if sum == 0 { 0xffff } else { sum }.to_be_bytes());
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[17, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&udp);
    p
}

fn ipv4_udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp = udp_header(sport, dport, payload); // checksum 0: none, allowed for IPv4
    let total = u16::try_from(20 + udp.len()).unwrap();
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = checksum(&[&p]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&udp);
    p
}
