//! Shared internet gateways: an "internet" namespace behind two gateway nodes, and a client that
//! reaches it through NAT; a connection stays on the gateway it started on when the other becomes
//! better, and new connections move when their gateway is killed.
//!
//! ```text
//!                 ┌── gateway 1 ── wan0 ┐
//!   host 4 ── client 0     │          internet 3 (203.0.113.100, fd00:5:100::1)
//!   (LAN)         └── gateway 2 ── wan0 ┘
//! ```
//!
//! Mesh links 0–1, 0–2 and 1–2; uplinks 1–3 (203.0.113.0/28, fd00:5:1::/64) and 2–3
//! (203.0.113.16/28, fd00:5:2::/64); the client's LAN 192.0.2.0/25. Timers: the harness's
//! (hello 1 s, update 4 s).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use meshd_netns_tests::{Mesh, COMMAND_TIMEOUT, CONVERGE};

const INTERNET_V4: &str = "203.0.113.100";
const INTERNET_V6: &str = "fd00:5:100::1";
/// The long transfer: 16 MiB at 1 MiB/s.
const LONG_BYTES: u64 = 16 << 20;
const LONG_RATE: u64 = 1 << 20;

/// Uplink address of gateway `i` (1 or 2), as the internet sees it.
fn uplink_v4(i: usize) -> &'static str {
    if i == 1 {
        "203.0.113.2"
    } else {
        "203.0.113.18"
    }
}

fn uplink_v6(i: usize) -> &'static str {
    if i == 1 {
        "fd00:5:1::2"
    } else {
        "fd00:5:2::2"
    }
}

fn build() -> Option<Mesh> {
    let mut mesh = Mesh::new(5)?;
    mesh.link(0, 1);
    mesh.link(0, 2);
    mesh.link(1, 2);
    mesh.must_run_in(3, &["ip", "addr", "add", "203.0.113.100/32", "dev", "lo"]);
    mesh.must_run_in(3, &["ip", "addr", "add", "fd00:5:100::1/64", "dev", "lo"]);
    for (gateway, (v4_gw, v4_net, v6_net)) in [
        (1, ("203.0.113.1", "/28", "fd00:5:1::")),
        (2, ("203.0.113.17", "/28", "fd00:5:2::")),
    ] {
        let there = format!("gw{gateway}");
        mesh.plain_link(gateway, 3, "wan0", &there);
        mesh.add_address(gateway, "wan0", &format!("{}{v4_net}", uplink_v4(gateway)));
        mesh.add_address(gateway, "wan0", &format!("{}/64", uplink_v6(gateway)));
        mesh.add_address(3, &there, &format!("{v4_gw}{v4_net}"));
        mesh.add_address(3, &there, &format!("{v6_net}1/64"));
        mesh.add_route_via(gateway, "default", v4_gw);
        mesh.add_route_via(gateway, "default", &format!("{v6_net}1"));
    }
    mesh.plain_link(0, 4, "lan0", "eth0");
    mesh.add_address(0, "lan0", "192.0.2.1/25");
    mesh.add_address(4, "eth0", "192.0.2.2/25");
    mesh.add_route_via(4, "default", "192.0.2.1");
    Some(mesh)
}

fn start_gateway(mesh: &mut Mesh, i: usize) {
    let config = mesh.config_with(i, &[], "[gateway]\nshare = \"wan0\"\n");
    mesh.start_with_config(i, &config);
}

fn gateways_json(mesh: &Mesh) -> serde_json::Value {
    let out = mesh.meshctl(0, &["--json", "gateways"], COMMAND_TIMEOUT);
    serde_json::from_str(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Whether both gateways are one hop away from the client (each reached through itself).
fn direct(mesh: &Mesh) -> bool {
    gateways_json(mesh)["gateways"].as_array().is_some_and(|g| {
        g.len() == 2
            && g.iter()
                .all(|g| g["via"].is_string() && g["via"] == g["public_key"])
    })
}

/// Which gateway node (1 or 2) the client sends new IPv4 connections to, if any.
fn chosen(mesh: &Mesh, addresses: &[String]) -> Option<usize> {
    let json = gateways_json(mesh);
    let gateway = json["gateways"]
        .as_array()?
        .iter()
        .find(|g| g["chosen_v4"] == true)?;
    let address = gateway["mesh_address"].as_str()?;
    addresses.iter().position(|a| a == address)
}

/// One TCP connection from node `from` to the internet host, `bytes` long (paced at `rate`);
/// returns the source address the internet host saw, or the failure.
fn transfer(
    mesh: &mut Mesh,
    from: usize,
    target: &str,
    port: u16,
    bytes: u64,
    rate: Option<u64>,
    timeout: Duration,
) -> Result<String, String> {
    let tool = env!("CARGO_BIN_EXE_meshn-tcp");
    let bind = if target.contains(':') {
        format!("[::]:{port}")
    } else {
        format!("0.0.0.0:{port}")
    };
    let sink = mesh.spawn_in(3, "tcp-sink", &[tool, "sink", &bind]);
    let listening = mesh.wait_until(Duration::from_secs(10), || {
        mesh.run_in(3, &["ss", "-Htln"], Duration::from_secs(5))
            .stdout
            .contains(&format!(":{port}"))
    });
    assert!(listening, "the sink on port {port} is not listening");
    let address = if target.contains(':') {
        format!("[{target}]:{port}")
    } else {
        format!("{target}:{port}")
    };
    let (bytes, rate) = (bytes.to_string(), rate.map(|r| r.to_string()));
    let mut argv = vec![tool, "source", &address, &bytes];
    if let Some(rate) = &rate {
        argv.push(rate);
    }
    let source = mesh.run_in(from, &argv, timeout);
    let (_, sink_log) = mesh.wait_helper(sink, Duration::from_secs(5));
    if !source.success() {
        return Err(format!("{source}\nsink: {sink_log}"));
    }
    sink_log
        .lines()
        .find_map(|l| l.strip_prefix("connection from "))
        .map(|peer| {
            let host = peer.rsplit_once(':').map_or(peer, |(h, _)| h);
            host.trim_matches(['[', ']']).to_string()
        })
        .ok_or_else(|| format!("the sink saw no connection: {sink_log}"))
}

#[test]
fn clients_use_gateways_through_nat_keep_their_gateway_and_fail_over() {
    let Some(mut mesh) = build() else {
        return;
    };
    let started = Instant::now();
    start_gateway(&mut mesh, 1);
    start_gateway(&mut mesh, 2);
    let client = mesh.config_with(0, &["192.0.2.0/25"], "");
    mesh.start_with_config(0, &client);
    let addresses: Vec<String> = (0..3).map(|i| mesh.mesh_address(i).to_string()).collect();

    // Both gateways known, a default route into the mesh, with a high metric and room for the
    // tunnel header; gateways NAT in their own table.
    assert!(
        mesh.wait_until(CONVERGE, || {
            gateways_json(&mesh)["gateways"]
                .as_array()
                .is_some_and(|g| g.len() == 2)
        }),
        "the client does not see two gateways: {}",
        gateways_json(&mesh)
    );
    let defaults = mesh.must_run_in(0, &["ip", "-6", "route", "show", "default"]);
    assert!(
        defaults.contains("dev mesh0 proto 109 metric 1000000") && defaults.contains("mtu 1380"),
        "{defaults}"
    );
    for gateway in [1, 2] {
        assert!(mesh.gateway_forwarded_bytes(gateway).is_some());
        let routes = mesh.must_run_in(gateway, &["ip", "route", "show", "default"]);
        assert!(
            !routes.contains("mesh0"),
            "a gateway uses its uplink: {routes}"
        );
    }

    // Reachable through NAT, both families, from the client and from its LAN.
    for (from, target) in [(0, INTERNET_V4), (0, INTERNET_V6), (4, INTERNET_V4)] {
        let target: IpAddr = target.parse().unwrap();
        assert!(
            mesh.ping(from, target, 20, CONVERGE),
            "node {from} cannot reach {target}"
        );
    }
    // The path MTU through the tunnel: 1380 bytes (mesh MTU 1420 less the 40-byte outer
    // header) pass with DF set, from the client and from its LAN; one byte more is refused with
    // "fragmentation needed" (by the client's kernel, from the default route's MTU).
    for from in [0, 4] {
        let fits = mesh.run_in(
            from,
            &[
                "ping",
                "-n",
                "-c1",
                "-W2",
                "-M",
                "do",
                "-s",
                "1352",
                INTERNET_V4,
            ],
            Duration::from_secs(5),
        );
        assert!(fits.success(), "1380 bytes from node {from}: {fits}");
        let too_big = mesh.run_in(
            from,
            &[
                "ping",
                "-n",
                "-c2",
                "-W2",
                "-M",
                "do",
                "-s",
                "1353",
                INTERNET_V4,
            ],
            Duration::from_secs(8),
        );
        assert!(!too_big.success(), "1381 bytes from node {from}: {too_big}");
        let said = format!("{}{}", too_big.stdout, too_big.stderr).to_lowercase();
        assert!(
            said.contains("mtu = 1380")
                || said.contains("mtu=1380")
                || said.contains("message too long"),
            "node {from} should learn the 1380-byte MTU: {too_big}"
        );
    }
    let seen = transfer(&mut mesh, 0, INTERNET_V6, 5400, 65536, None, CONVERGE).unwrap();
    assert!(
        seen == uplink_v6(1) || seen == uplink_v6(2),
        "IPv6 leaves masqueraded by a gateway: {seen}"
    );
    eprintln!("NAT works after {:?}", started.elapsed());
    eprintln!(
        "$ meshctl gateways\n{}",
        mesh.meshctl(0, &["gateways"], COMMAND_TIMEOUT).stdout
    );

    // The long transfer starts once both gateways are one hop away; the gateway carrying it
    // (`first`) is the one whose NAT counts its bytes. Then the client's link to `first` is cut,
    // so `first` is reached through `other` at twice the metric and `other` becomes the better
    // gateway. The connection stays on `first`.
    assert!(
        mesh.wait_until(CONVERGE, || direct(&mesh)),
        "both gateways should be one hop away: {}",
        gateways_json(&mesh)
    );
    // A counter that cannot be read, or that goes backwards (the table was replaced: a gateway
    // restarted), fails the test instead of reading as 0 or wrapping.
    let forwarded = |mesh: &Mesh, g: usize| {
        mesh.gateway_forwarded_bytes(g).unwrap_or_else(|| {
            panic!("gateway {g}'s nftables counter \"mesh to uplink\" is unreadable")
        })
    };
    let grown = |now: u64, then: u64, g: usize| {
        now.checked_sub(then)
            .unwrap_or_else(|| panic!("gateway {g}'s counter went back from {then} to {now}"))
    };
    let counters = |mesh: &Mesh| [1, 2].map(|g| forwarded(mesh, g));
    let at_start = counters(&mesh);
    let tool = env!("CARGO_BIN_EXE_meshn-tcp");
    let sink = mesh.spawn_in(3, "long-sink", &[tool, "sink", "0.0.0.0:5401"]);
    assert!(mesh.wait_until(Duration::from_secs(10), || {
        mesh.run_in(3, &["ss", "-Htln"], Duration::from_secs(5))
            .stdout
            .contains(":5401")
    }));
    let target = format!("{INTERNET_V4}:5401");
    let (bytes, rate) = (LONG_BYTES.to_string(), LONG_RATE.to_string());
    let long = mesh.spawn_in(0, "long-source", &[tool, "source", &target, &bytes, &rate]);
    std::thread::sleep(Duration::from_secs(3));
    let so_far = counters(&mesh);
    let first = if grown(so_far[0], at_start[0], 1) >= grown(so_far[1], at_start[1], 2) {
        1
    } else {
        2
    };
    let other = 3 - first;
    let before = (at_start[first - 1], at_start[other - 1]);
    eprintln!("the long transfer runs through gateway {first}");
    mesh.cut_silent(0, first);
    assert!(
        mesh.wait_until(CONVERGE, || chosen(&mesh, &addresses) == Some(other)),
        "gateway {other} did not become the better one: {}",
        gateways_json(&mesh)
    );
    eprintln!("gateway {other} better after {:?}", started.elapsed());
    // New connections take the better gateway meanwhile.
    let seen = transfer(&mut mesh, 0, INTERNET_V4, 5402, 65536, None, CONVERGE).unwrap();
    assert_eq!(
        seen,
        uplink_v4(other),
        "a new connection uses the better gateway"
    );
    let (status, source_log) = mesh.wait_helper(long, Duration::from_secs(60));
    let (_, sink_log) = mesh.wait_helper(sink, Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "the long transfer failed: {status:?} {source_log}\nsink: {sink_log}"
    );
    assert!(
        sink_log.contains(&format!("connection from {}:", uplink_v4(first))),
        "the long transfer left through {first}: {sink_log}"
    );
    let after = (forwarded(&mesh, first), forwarded(&mesh, other));
    let carried = (
        grown(after.0, before.0, first),
        grown(after.1, before.1, other),
    );
    eprintln!(
        "long transfer: {} after {:?}; gateway {first} forwarded {} B, gateway {other} {} B",
        source_log.trim(),
        started.elapsed(),
        carried.0,
        carried.1
    );
    assert!(carried.0 >= LONG_BYTES, "gateway {first} carried it");
    assert!(
        carried.1 < LONG_BYTES / 8,
        "gateway {other} carried only the short connection"
    );

    // Heal, and wait until both gateways are direct neighbours again (each reached through itself, not through the other); the
    // chosen one (ties go to the lower router-id) is then killed, and new connections must go
    // through the other.
    mesh.heal(0, first);
    assert!(
        mesh.wait_until(CONVERGE, || direct(&mesh)),
        "both gateways should be one hop away again: {}",
        gateways_json(&mesh)
    );
    let victim = chosen(&mesh, &addresses).expect("a chosen gateway");
    let survivor = 3 - victim;
    mesh.kill9(victim);
    let killed = Instant::now();
    let mut seen = Err(String::new());
    for attempt in 0..20 {
        seen = transfer(
            &mut mesh,
            0,
            INTERNET_V4,
            5410 + attempt,
            65536,
            None,
            Duration::from_secs(4),
        );
        if seen.is_ok() || killed.elapsed() > CONVERGE {
            break;
        }
    }
    let seen = seen.unwrap_or_else(|e| panic!("no new connection after the kill: {e}"));
    assert_eq!(seen, uplink_v4(survivor));
    eprintln!(
        "after killing gateway {victim}: a new connection through {survivor} within {:?}; test {:?}",
        killed.elapsed(),
        started.elapsed()
    );
    // The dead gateway leaves the list once the mesh has retracted its routes.
    assert!(
        mesh.wait_until(CONVERGE, || gateways_json(&mesh)["gateways"]
            .as_array()
            .map(Vec::len)
            == Some(1)),
        "{}",
        gateways_json(&mesh)
    );

    // The killed gateway left its nftables table behind; a restart replaces it (one table, the
    // same rules), and a clean stop removes it.
    let tables = |mesh: &Mesh, i: usize| {
        mesh.must_run_in(i, &["nft", "list", "tables"])
            .lines()
            .filter(|l| l.trim() == "table inet meshd")
            .count()
    };
    assert_eq!(tables(&mesh, victim), 1, "kill -9 leaves the table");
    start_gateway(&mut mesh, victim);
    assert!(
        mesh.wait_until(Duration::from_secs(10), || mesh
            .current_log(victim)
            .contains("gateway: sharing wan0")),
        "the restarted gateway does not share"
    );
    assert_eq!(tables(&mesh, victim), 1);
    assert_eq!(
        mesh.gateway_forwarded_bytes(victim),
        Some(0),
        "a fresh table"
    );
    for i in [victim, survivor] {
        mesh.stop(i).expect("a clean stop");
        assert_eq!(tables(&mesh, i), 0, "node {i} left its table after SIGTERM");
        assert!(mesh
            .current_log(i)
            .contains("removed nftables table inet meshd"));
    }
}
