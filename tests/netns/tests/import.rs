//! Import policy and martian filters (docs/import-policy.md), against a neighbour that announces
//! what it should not: a babeld router over wireguard-go (node 1, as in `interop_babeld.rs`) next
//! to meshd router A (node 0), which has a LAN `lan0` (192.0.2.1/24, 2001:db8:aa::1/64) and an
//! uplink `up0` (203.0.113.2/32, default route via 203.0.113.1 on-link), and runs with
//! `[gateway] use = "none"`.
//!
//! babeld announces, from routes in its namespace: parts of A's LAN in both families
//! (192.0.2.0/25, 2001:db8:aa::/65), A's uplink gateway (203.0.113.1/32), the default routes,
//! another node's mesh address under its own router-id, the martians babeld itself does not
//! filter (169.254.7.0/24, fec0::/16), a prefix outside A's policy and one inside it. The
//! martians babeld refuses to announce (loopback, unspecified, link-local, multicast,
//! IPv4-mapped, 0/8, 127/8, 224/4, 240/4) come in one Babel packet sent inside the same tunnel.
//! Then A's LAN is renumbered away from 192.0.2.0/25 and back, and A's policy reloaded, without
//! a restart.
//!
//! One mesh for all of it: babeld takes up to 15 s to make a new link usable.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use babel::wire::{Encoder, Message};
use babel::{Prefix, RouterId};
use meshd_netns_tests::interop::{
    babeld_dump, kernel_destinations, kernel_routes_text, meshctl_json, must_in,
    start_babeld_redistributing, start_wireguard_go, tools_present, try_meshctl_json,
    unique_ifname, wg_socket, SocketCleanup, Tunnel,
};
use meshd_netns_tests::{route_device, Mesh, LISTEN_PORT, TEST_IMPORT};
use serde_json::Value;

const A: usize = 0;
const B: usize = 1;
const CONVERGE: Duration = Duration::from_secs(60);
/// How long a change of A's own networks may take to reach its routes: meshd rereads them
/// 100 ms after a netlink event.
const FOLLOW: Duration = Duration::from_secs(10);

/// What babeld announces (kernel routes `dev lo` in its namespace) and what A must make of it.
const ANNOUNCED: &[(&str, &str)] = &[
    ("192.0.2.0/25", "overlaps lan0 192.0.2.0/24"),
    ("2001:db8:aa::/65", "overlaps lan0 2001:db8:aa::/64"),
    ("203.0.113.1/32", "overlaps up0 203.0.113.1/32"),
    ("0.0.0.0/0", "not in import policy"),
    ("::/0", "not in import policy"),
    ("fd6d:6573:6800:1::1/128", "another node's address"),
    ("169.254.7.0/24", "martian"),
    ("fec0::/16", "martian"),
    ("2001:db8:cc::/64", "not in import policy"),
];
/// Inside A's policy: installed, which shows the rest were refused by the filter, not lost.
const ALLOWED: &str = "2001:db8:bb::/64";
/// The martians of the hand-made packet.
const MARTIANS: &[&str] = &[
    "::1/128",
    "::/128",
    "fe80::/64",
    "ff05::/16",
    "::ffff:192.0.2.0/120",
    "0.0.0.0/8",
    "127.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
];
/// Inside A's policy, in the same packet: it must be taken in.
const CRAFTED_ALLOWED: &str = "2001:db8:dd::/64";

const BABELD_RULES: &str = "redistribute ip 192.0.2.0/24 le 32 allow\n\
                            redistribute ip 203.0.113.0/24 le 32 allow\n\
                            redistribute ip 169.254.0.0/16 le 32 allow\n\
                            redistribute ip 0.0.0.0/0 eq 0 allow\n\
                            redistribute ip ::/0 eq 0 allow\n\
                            redistribute ip 2001:db8::/32 le 128 allow\n\
                            redistribute ip fec0::/10 le 128 allow\n\
                            redistribute ip fd6d:6573:6800::/48 le 128 allow\n\
                            redistribute local deny\n\
                            redistribute deny\n";

fn a_config(mesh: &Mesh) -> String {
    let text = mesh.config_text(A);
    assert!(
        text.contains(TEST_IMPORT),
        "the harness's [import] table moved"
    );
    let import = "\n[import]\n\
                  allow = [\"192.0.2.0/24\", \"2001:db8:aa::/48\", \"2001:db8:bb::/48\", \
                  \"2001:db8:dd::/48\", \"203.0.113.0/24\", \"169.254.0.0/16\"]\n";
    format!(
        "{}\n[gateway]\nuse = \"none\"\n",
        text.replace(TEST_IMPORT, import)
    )
}

/// A's routes as `meshctl --json routes --all` lists them (none while meshd is starting).
fn routes(mesh: &Mesh) -> Vec<Value> {
    match try_meshctl_json(mesh, A, &["routes", "--all"]) {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    }
}

/// The refusal A shows for `prefix`, if A has a route for it.
fn refusal(routes: &[Value], prefix: &str) -> Option<String> {
    routes
        .iter()
        .find(|r| r["prefix"] == prefix && r["peer"].is_string())
        .map(|r| match r["reason"].as_str() {
            Some("refused") => r["refusal"].as_str().unwrap_or("?").to_owned(),
            other => format!("not refused: {other:?}"),
        })
}

fn installed(mesh: &Mesh, prefix: &str) -> bool {
    let prefix: Prefix = prefix.parse().expect("prefix");
    kernel_destinations(mesh, A, "109").contains(&(prefix.addr(), prefix.len()))
}

/// The interface A's kernel sends `address` out of.
fn device_for(mesh: &Mesh, address: &str) -> String {
    let out = must_in(mesh, A, &["ip", "route", "get", address]);
    route_device(&out).unwrap_or("?").to_owned()
}

/// One packet, as a Babel neighbour would send it, with an Update for each of `prefixes`
/// (IPv4 ones as v4-via-v6, next hop the sender), in hex.
fn updates_hex(prefixes: &[&str]) -> String {
    let mut encoder = Encoder::new(1400);
    for text in prefixes {
        encoder.push(&Message::Update {
            prefix: text.parse().expect("prefix"),
            router_id: RouterId([0x0b, 0, 0, 0, 0, 0, 0, 0x0b]),
            next_hop: None,
            seqno: 1,
            interval: 400,
            metric: 96,
        });
    }
    let packets = encoder.finish();
    assert_eq!(packets.len(), 1, "the martians fit one packet");
    packets[0].iter().map(|b| format!("{b:02x}")).collect()
}

fn lan(mesh: &Mesh, verb: &str, cidr: &str) {
    let mut argv = vec!["ip", "addr", verb, cidr, "dev", "lan0"];
    if cidr.contains(':') {
        argv.push("nodad");
    }
    must_in(mesh, A, &argv);
}

#[test]
fn a_neighbour_cannot_take_the_routers_own_networks_nor_announce_martians() {
    let Some(mut mesh) = Mesh::new(2) else { return };
    if !tools_present() {
        return;
    }
    mesh.link(A, B);
    for argv in [
        // veth pairs with both ends in A: the kernel here may have no dummy interfaces.
        &[
            "ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan0-far",
        ][..],
        &[
            "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0-far",
        ],
        &["ip", "link", "set", "lan0", "up"],
        &["ip", "link", "set", "lan0-far", "up"],
        &["ip", "link", "set", "up0", "up"],
        &["ip", "link", "set", "up0-far", "up"],
        &["ip", "addr", "add", "203.0.113.2/32", "dev", "up0"],
        &[
            "ip",
            "route",
            "add",
            "default",
            "via",
            "203.0.113.1",
            "dev",
            "up0",
            "onlink",
        ],
    ] {
        must_in(&mesh, A, argv);
    }
    lan(&mesh, "add", "192.0.2.1/24");
    lan(&mesh, "add", "2001:db8:aa::1/64");
    for (prefix, _) in ANNOUNCED.iter().chain(&[(ALLOWED, "")]) {
        // proto static: babeld leaves routes of proto boot (`ip route add`'s) alone.
        let argv = ["ip", "route", "add", prefix, "dev", "lo", "proto", "static"];
        must_in(&mesh, B, &argv);
    }
    let tunnel = Tunnel {
        ifname: unique_ifname(&mesh, 'i'),
        listen_port: LISTEN_PORT,
        peer: A,
        fixed_endpoint: true,
        link_local: "fe80::b:1",
    };
    let _cleanup = SocketCleanup(vec![wg_socket(&tunnel.ifname)]);
    let key = mesh.write_foreign_key_file(B, "wg.key");
    start_wireguard_go(&mut mesh, B, &tunnel, &key);
    let babeld =
        start_babeld_redistributing(&mut mesh, B, std::slice::from_ref(&tunnel), BABELD_RULES);
    let config = a_config(&mesh);
    mesh.start_with_config(A, &config);
    let started = Instant::now();

    // The allowed prefix arrives and is installed; everything else is held as refused.
    let mut last = Vec::new();
    let settled = mesh.wait_until(CONVERGE, || {
        last = routes(&mesh);
        installed(&mesh, ALLOWED)
            && ANNOUNCED
                .iter()
                .all(|(prefix, _)| refusal(&last, prefix).is_some())
    });
    assert!(
        settled,
        "A did not take {ALLOWED} and hold babeld's other routes: {last:#?}\nkernel:\n{}\nbabeld: {:#?}",
        kernel_routes_text(&mesh, A, "109"),
        babeld_dump(&babeld)
    );
    eprintln!("import: babeld's routes at A after {:?}", started.elapsed());
    for (prefix, why) in ANNOUNCED {
        assert_eq!(
            refusal(&last, prefix).as_deref(),
            Some(*why),
            "A's view of {prefix}"
        );
        assert!(!installed(&mesh, prefix), "A installed {prefix}");
    }
    // A's own traffic stays where it belongs.
    for (address, device) in [
        ("192.0.2.7", "lan0"),
        ("2001:db8:aa::7", "lan0"),
        ("203.0.113.1", "up0"),
    ] {
        assert_eq!(device_for(&mesh, address), device, "route to {address}");
    }
    let neighbours = meshctl_json(&mesh, A, &["neighbours"]);
    let counted: u64 = neighbours
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|n| n["refused_routes"].as_u64())
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(counted, ANNOUNCED.len() as u64, "{neighbours:#}");

    // The martians babeld would not announce, in one packet inside babeld's tunnel.
    let mut prefixes: Vec<&str> = MARTIANS.to_vec();
    prefixes.push(CRAFTED_ALLOWED);
    let hex = updates_hex(&prefixes);
    let sender = env!("CARGO_BIN_EXE_meshn-udp-send");
    let ifname = tunnel.ifname.as_str();
    let argv = [
        sender,
        "--interface",
        ifname,
        "--to",
        "ff02::1:6",
        "--port",
        "6696",
        "--hex",
        &hex,
    ];
    must_in(&mesh, B, &argv);
    let seen = mesh.wait_until(FOLLOW, || {
        last = routes(&mesh);
        prefixes.iter().all(|p| refusal(&last, p).is_some())
    });
    assert!(seen, "A did not take in the hand-made updates: {last:#?}");
    for prefix in MARTIANS {
        assert_eq!(
            refusal(&last, prefix).as_deref(),
            Some("martian"),
            "A's view of {prefix}"
        );
        assert!(!installed(&mesh, prefix), "A installed {prefix}");
    }
    assert!(
        refusal(&last, CRAFTED_ALLOWED).is_some_and(|r| r.starts_with("not refused")),
        "{CRAFTED_ALLOWED} is refused: {last:#?}"
    );

    // Renumbered: the LAN leaves 192.0.2.0/25, and babeld's route there is taken at once.
    lan(&mesh, "del", "192.0.2.1/24");
    lan(&mesh, "add", "192.0.2.129/25");
    assert!(
        mesh.wait_until(FOLLOW, || installed(&mesh, "192.0.2.0/25")),
        "A did not take 192.0.2.0/25 once its LAN left it: {:?}\nkernel:\n{}",
        refusal(&routes(&mesh), "192.0.2.0/25"),
        kernel_routes_text(&mesh, A, "109")
    );
    assert_eq!(device_for(&mesh, "192.0.2.7"), "mesh0");

    // And back: withdrawn at once, announced once on the monitor.
    let socket = mesh.node_dir(A).join("meshd.sock");
    let mut monitor = Command::new(meshd_netns_tests::meshctl_binary())
        .args(["--socket", &socket.to_string_lossy(), "--json", "monitor"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start meshctl monitor");
    let stdout = monitor.stdout.take().expect("piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Events are not replayed: give meshctl time to subscribe.
    std::thread::sleep(Duration::from_secs(1));
    lan(&mesh, "del", "192.0.2.129/25");
    lan(&mesh, "add", "192.0.2.1/24");
    let withdrawn = mesh.wait_until(FOLLOW, || !installed(&mesh, "192.0.2.0/25"));
    // Time for a duplicate to show (babeld refreshes its routes meanwhile on a changed table).
    std::thread::sleep(Duration::from_secs(3));
    let _ = monitor.kill();
    let _ = monitor.wait();
    let _ = reader.join();
    let events: Vec<Value> = lines_rx
        .try_iter()
        .filter_map(|line| serde_json::from_str(&line).ok())
        .filter(|e: &Value| e["event"] == "route_refused" && e["prefix"] == "192.0.2.0/25")
        .collect();
    assert!(withdrawn, "A kept 192.0.2.0/25 after its LAN came back");
    assert_eq!(device_for(&mesh, "192.0.2.7"), "lan0");
    assert_eq!(events.len(), 1, "route_refused events: {events:#?}");
    assert_eq!(events[0]["reason"], "overlaps lan0 192.0.2.0/24");
    assert_eq!(events[0]["peer"], mesh.public_key(B));

    // A new policy on reload, without a restart: what was allowed is refused now.
    let refusing = config.replacen(
        "[import]\n",
        "[import]\nrefuse = [\"2001:db8:bb::/64\"]\n",
        1,
    );
    assert_ne!(refusing, config);
    std::fs::write(mesh.node_dir(A).join("meshd.toml"), refusing).expect("write config");
    meshctl_json(&mesh, A, &["reload"]);
    let refused = mesh.wait_until(FOLLOW, || {
        last = routes(&mesh);
        !installed(&mesh, ALLOWED)
            && refusal(&last, ALLOWED).as_deref()
                == Some("refused by import policy (2001:db8:bb::/64)")
    });
    assert!(refused, "the reloaded policy left {ALLOWED}: {last:#?}");
}
