//! Interoperation with BIRD 2.0.12's Babel over wireguard-go: node 0 runs meshd, node 1 runs
//! wireguard-go (`wg0` here; the test gives it a name unique on the machine, as wireguard-go's
//! control socket path is shared by all namespaces; one peer: node 0, `AllowedIPs = ::/0, 0.0.0.0/0`) and BIRD with a Babel
//! instance on `wg0`, as a community router without meshd would.
//!
//! What BIRD 2.0.12 does not have, and so is not tested here:
//!
//! * RFC 9229 (v4-via-v6). BIRD's Babel gained it after 2.0.12 (its changelog up to 2.0.12 has
//!   only "Fix handling of missing IPv4 next hops": without an IPv4 next hop it skips IPv4 routes
//!   on transmit and ignores them on receive). `wg0` has no IPv4 address, so BIRD announces none
//!   of its IPv4 routes (203.0.113.2/32 stays unannounced) and drops meshd's AE 4 updates
//!   (198.51.100.1/32). The tests check IPv6 only, and check that the AE 4 updates do no harm.
//! * RFC 9616 timestamps (the RTT extension): BIRD 2.0.12 ignores the sub-TLVs, so meshd never
//!   gets its timestamps echoed and measures no RTT; see `meshd_timestamps_are_ignored_cleanly`.
//!
//! How BIRD 2.0.12 behaves on the wire, seen in the captures of
//! `tshark_decodes_meshd_babel_in_the_tunnel` (none of it breaks RFC 8966, all of it differs from
//! babeld or from what meshd assumes):
//!
//! * No split horizon: BIRD announces meshd's own mesh address back to meshd over the same link
//!   (metric 96, meshd's seqno). RFC 8966 §3.7.4 makes split horizon optional; babeld does it on
//!   wired links. meshd ignores the echo of its own prefix.
//! * Its Hellos come late by up to a quarter of the interval (1.25 s apart at `hello interval 1 s`).
//!   meshd counts a Hello as overdue at 1.25 intervals (`babel/src/neighbour.rs`, which assumes
//!   Hellos are "never late"; the README says 1.5), so it now and then sends BIRD an AckReq
//!   probe; BIRD answers it and the Hello history stays full, so it costs a few bytes only.
//! * It sends a wildcard retraction and a wildcard Route Request when its interface comes up, and
//!   its IHU interval is 3 Hello intervals (babeld's default too).
//! * It drops Updates with AE 4 (v4-via-v6) silently, as RFC 8966 asks of an AE a router does not know,
//!   and warns `Missing IPv4 next hop address for wg0` for itself.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use meshd_netns_tests::interop::{
    babel_messages, capture_payload_problems, dissector_complaints, json_list, meshctl_list,
    try_meshctl_json, tshark_read, unique_ifname, wg_socket, SocketCleanup,
};
use meshd_netns_tests::{require_tool, HelperId, Mesh, LISTEN_PORT, ROUTE_PROTOCOL};
use serde_json::Value;

/// node 1's link-local address on `wg0`.
const BIRD_LINK_LOCAL: &str = "fe80::c:1";
/// node 1's IPv6 address on `lo`, announced by BIRD's `protocol direct`.
const BIRD_V6: &str = "fd00:c::1";
/// node 1's IPv4 address on `lo` (BIRD 2.0.12 cannot announce it over a v6-only link).
const BIRD_V4: &str = "203.0.113.2";
/// How long meshd and BIRD get to become neighbours and exchange routes.
const CONVERGE: Duration = Duration::from_secs(60);

/// `meshctl --json <args>` against node 0 (meshd), parsed; `None` while meshd is starting.
fn meshctl_json(mesh: &Mesh, args: &[&str]) -> Option<Value> {
    try_meshctl_json(mesh, 0, args)
}

/// node 0's neighbours, as meshctl reports them.
fn neighbours(mesh: &Mesh) -> Vec<Value> {
    meshctl_list(mesh, 0, "neighbours")
}

/// BIRD in node 1: its control socket and log.
struct Bird {
    /// wireguard-go's interface: unique on the machine, as its control socket's path is shared
    /// by every namespace (`/var/run/wireguard/<name>.sock`).
    ifname: String,
    socket: String,
    log: PathBuf,
    wg: HelperId,
    /// BIRD itself (`ip netns exec` execs it, so the helper's PID is BIRD's).
    daemon: HelperId,
    /// wireguard-go's control socket is on the host's /var/run, and a SIGKILLed wireguard-go
    /// leaves it there: removed when the test ends, however it ends.
    _socket_cleanup: SocketCleanup,
}

impl Bird {
    fn birdc(&self, mesh: &Mesh, args: &[&str]) -> String {
        let mut argv = vec!["birdc", "-s", self.socket.as_str()];
        argv.extend_from_slice(args);
        let out = mesh.run_in(1, &argv, Duration::from_secs(10));
        format!("{}{}", out.stdout, out.stderr)
    }

    fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

#[track_caller]
fn must_in(mesh: &Mesh, i: usize, argv: &[&str]) {
    let out = mesh.run_in(i, argv, Duration::from_secs(10));
    assert!(out.success(), "`{}` in node {i}: {out}", argv.join(" "));
}

/// The tools these tests need besides the harness's own.
fn tools_ok() -> bool {
    require_tool("bird") && require_tool("wireguard-go")
}

/// Two nodes joined by a veth; node 1 gets wireguard-go `wg0` peered with node 0 (meshd, not
/// started yet), the addresses and BIRD. Returns once BIRD answers on its socket.
fn bird_node(mesh: &mut Mesh) -> Bird {
    mesh.link(0, 1);
    let key = mesh.write_private_key_file(1);
    let dir = mesh.node_dir(1).to_path_buf();

    let ifname = unique_ifname(mesh, 'w');
    let socket_cleanup = SocketCleanup(vec![wg_socket(&ifname)]);
    // `-f`: foreground, so the harness owns (and kills) the process itself. wireguard-go must
    // never be run with `--help`: it takes that as the name of a TUN device to create.
    let wg = mesh.spawn_in(1, "wireguard-go", &["wireguard-go", "-f", &ifname]);
    assert!(
        mesh.wait_until(Duration::from_secs(10), || mesh
            .run_in(1, &["wg", "show", &ifname], Duration::from_secs(5))
            .success()),
        "wireguard-go made no {ifname} in node 1"
    );
    let endpoint = format!("[{}]:{LISTEN_PORT}", mesh.underlay_address(0, 1));
    let key = key.to_string_lossy().into_owned();
    let port = LISTEN_PORT.to_string();
    must_in(
        mesh,
        1,
        &[
            "wg",
            "set",
            &ifname,
            "private-key",
            &key,
            "listen-port",
            &port,
            "peer",
            mesh.public_key(0),
            "allowed-ips",
            "::/0,0.0.0.0/0",
            "endpoint",
            &endpoint,
            "persistent-keepalive",
            "5",
        ],
    );
    // No kernel-made link-local: BIRD must speak from fe80::c:1 alone.
    must_in(
        mesh,
        1,
        &["ip", "link", "set", &ifname, "addrgenmode", "none"],
    );
    must_in(
        mesh,
        1,
        &["ip", "link", "set", &ifname, "mtu", "1420", "up"],
    );
    let ll = format!("{BIRD_LINK_LOCAL}/64");
    must_in(
        mesh,
        1,
        &["ip", "addr", "add", &ll, "dev", &ifname, "nodad"],
    );
    let v6 = format!("{BIRD_V6}/128");
    let v4 = format!("{BIRD_V4}/32");
    must_in(mesh, 1, &["ip", "addr", "add", &v6, "dev", "lo"]);
    must_in(mesh, 1, &["ip", "addr", "add", &v4, "dev", "lo"]);

    let log = dir.join("bird.log");
    let socket = dir.join("bird.ctl").to_string_lossy().into_owned();
    let config = format!(
        "log \"{log}\" all;\n\
         router id 192.0.2.2;\n\
         protocol device {{}}\n\
         protocol direct {{ ipv6; ipv4; interface \"lo\"; }}\n\
         protocol kernel {{ ipv6 {{ export where source = RTS_BABEL; }}; }}\n\
         protocol kernel k4 {{ ipv4 {{ export where source = RTS_BABEL; }}; }}\n\
         protocol babel {{\n\
         \tdebug all;\n\
         \tinterface \"{ifname}\" {{ type wired; hello interval 1 s; update interval 4 s; }};\n\
         \tipv6 {{ import all; export all; }};\n\
         \tipv4 {{ import all; export all; }};\n\
         }}\n",
        log = log.display()
    );
    let config_path = dir.join("bird.conf");
    std::fs::write(&config_path, config).expect("write bird.conf");
    let config_path = config_path.to_string_lossy().into_owned();
    let daemon = mesh.spawn_in(
        1,
        "bird",
        &["bird", "-f", "-c", &config_path, "-s", &socket],
    );
    let bird = Bird {
        ifname,
        socket,
        log,
        wg,
        daemon,
        _socket_cleanup: socket_cleanup,
    };
    assert!(
        mesh.wait_until(Duration::from_secs(10), || bird
            .birdc(mesh, &["show", "status"])
            .contains("Daemon is up")),
        "BIRD did not come up in node 1: {}",
        bird.birdc(mesh, &["show", "status"])
    );
    bird
}

/// meshd's link-local address inside the tunnel (the source of the Babel packets BIRD hears),
/// as `birdc show babel neighbors` lists it.
fn bird_neighbour_address(mesh: &Mesh, bird: &Bird) -> Option<Ipv6Addr> {
    let out = bird.birdc(mesh, &["show", "babel", "neighbors"]);
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .find_map(|t| {
            t.parse::<Ipv6Addr>()
                .ok()
                .filter(|a| a.segments()[0] == 0xfe80)
        })
}

fn kernel_has(mesh: &Mesh, i: usize, prefix: &str) -> bool {
    mesh.routes(i).iter().any(|r| {
        r.split_whitespace().next() == Some(prefix)
            || r.split_whitespace().next() == Some(&format!("{prefix}/128"))
    })
}

#[test]
fn bird_over_wireguard_go_is_a_neighbour() {
    let Some(mut mesh) = Mesh::new(2) else { return };
    if !tools_ok() {
        return;
    }
    let bird = bird_node(&mut mesh);
    let started = Instant::now();
    mesh.start(0);
    let addr0 = mesh.mesh_address(0);

    // meshd learns BIRD's loopback address, into the kernel (proto 109) and its own table.
    assert!(
        mesh.wait_until(CONVERGE, || kernel_has(&mesh, 0, BIRD_V6)),
        "meshd installed no route to {BIRD_V6}: {:?}\nBIRD: {}\n{}",
        mesh.routes(0),
        bird.birdc(&mesh, &["show", "babel", "neighbors"]),
        bird.birdc(&mesh, &["show", "route", "all"]),
    );
    let learnt = started.elapsed();
    let routes = meshctl_json(&mesh, &["routes"]).expect("meshctl routes");
    let prefix = format!("{BIRD_V6}/128");
    assert!(
        json_list(&routes, "routes")
            .iter()
            .any(|r| r["prefix"].as_str() == Some(&prefix)
                && r["selected"] == Value::Bool(true)
                && r["installed"] == Value::Bool(true)),
        "meshctl shows no selected, installed {prefix}: {routes}"
    );
    let route_line = mesh
        .routes(0)
        .into_iter()
        .find(|r| r.starts_with(BIRD_V6))
        .expect("the route just seen");
    // `routes` lists `ip route show proto 109` (which leaves the protocol out of each line).
    assert!(
        route_line.contains("dev mesh0"),
        "proto {ROUTE_PROTOCOL} route not via mesh0: {route_line}"
    );

    // BIRD learns meshd's mesh address from Babel and exports it to node 1's kernel.
    let addr0_s = addr0.to_string();
    assert!(
        mesh.wait_until(CONVERGE, || {
            let out = bird.birdc(&mesh, &["show", "route", "protocol", "babel1"]);
            out.contains(&format!("{addr0_s}/128")) && out.contains("babel")
        }),
        "BIRD learnt no route to {addr0}: {}",
        bird.birdc(&mesh, &["show", "route", "all"])
    );

    // Both ways, through meshd's userspace forwarding and wireguard-go.
    assert!(
        mesh.ping(
            0,
            IpAddr::V6(BIRD_V6.parse().unwrap()),
            30,
            Duration::from_secs(30)
        ),
        "node 0 cannot ping {BIRD_V6}"
    );
    let pinged = mesh.wait_until(Duration::from_secs(30), || {
        mesh.run_in(
            1,
            &[
                "ping", "-6", "-n", "-q", "-c1", "-W1", "-I", BIRD_V6, &addr0_s,
            ],
            Duration::from_secs(5),
        )
        .success()
    });
    assert!(pinged, "node 1 cannot ping {addr0} from {BIRD_V6}");
    eprintln!(
        "interop_bird: meshd learnt {BIRD_V6} {:.1} s after start; both pings done at {:.1} s",
        learnt.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let _ = bird.wg;
}

#[test]
fn meshd_timestamps_are_ignored_cleanly() {
    let Some(mut mesh) = Mesh::new(2) else { return };
    if !tools_ok() {
        return;
    }
    let bird = bird_node(&mut mesh);
    mesh.start(0);
    let found = mesh.wait_until(CONVERGE, || {
        neighbours(&mesh).iter().any(|n| {
            n["address"].as_str() == Some(BIRD_LINK_LOCAL)
                && n["cost"].as_u64().is_some_and(|c| c < 65535)
        }) && bird_neighbour_address(&mesh, &bird).is_some()
    });
    assert!(
        found,
        "no adjacency: meshd {:?}; BIRD {}",
        neighbours(&mesh),
        bird.birdc(&mesh, &["show", "babel", "neighbors"])
    );
    let meshd_ll = bird_neighbour_address(&mesh, &bird).expect("just seen");
    eprintln!(
        "interop_bird: BIRD's neighbours:\n{}",
        bird.birdc(&mesh, &["show", "babel", "neighbors"])
    );

    // For 12 s (12 of meshd's Hellos, 12 of BIRD's at `hello interval 1 s`) the adjacency must
    // hold on both sides, and meshd must have no RTT: BIRD 2.0.12 echoes no timestamps.
    let until = Instant::now() + Duration::from_secs(12);
    let mut samples = 0;
    while Instant::now() < until && samples < 100 {
        samples += 1;
        let ours = neighbours(&mesh);
        let n = ours
            .iter()
            .find(|n| n["address"].as_str() == Some(BIRD_LINK_LOCAL))
            .unwrap_or_else(|| panic!("meshd lost BIRD as a neighbour: {ours:?}"));
        assert!(
            n["rtt_ms"].is_null(),
            "meshd has an RTT for BIRD, which echoes no timestamps: {n}"
        );
        let cost = n["cost"].as_u64();
        assert!(
            cost.is_some_and(|c| c < 65535),
            "meshd's cost to BIRD is not finite: {n}"
        );
        let theirs = bird.birdc(&mesh, &["show", "babel", "neighbors"]);
        assert!(
            theirs.contains(&meshd_ll.to_string()),
            "BIRD lost meshd ({meshd_ll}) as a neighbour: {theirs}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    eprintln!(
        "interop_bird: meshd's view of BIRD after 12 s: {:?}",
        neighbours(&mesh)
    );

    // BIRD logged nothing about bad packets: `<RMT>` is its class for "the remote side sent
    // something wrong" (bad TLVs, lengths, AEs), `<ERR>`/`<BUG>` worse. The one warning expected
    // is its own: wg0 has no IPv4 address, so no IPv4 next hop to announce its IPv4 routes with.
    let log = bird.log();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| {
            ["<RMT>", "<ERR>", "<BUG>", "<WARN>", "<FATAL>"]
                .iter()
                .any(|class| l.contains(class))
                || ["malformed", "bad ", "invalid", "unknown", "mismatch"]
                    .iter()
                    .any(|word| l.to_lowercase().contains(word))
        })
        .filter(|l| {
            !l.contains(&format!(
                "Missing IPv4 next hop address for {}",
                bird.ifname
            ))
        })
        .collect();
    assert!(bad.is_empty(), "BIRD complained: {bad:#?}");
    assert!(
        log.contains("Handling hello") && log.contains("Handling IHU"),
        "BIRD's packet trace shows no Hello and IHU from meshd: is `debug all` on?"
    );
}

/// How long meshd may keep BIRD's routes once BIRD is gone: BIRD's Hellos come every second
/// (`hello interval 1 s`), and meshd promises to notice a silent neighbour at 1.25 Hello
/// intervals plus three AckReqs 400 ms apart (2.5 s), or after three missed Hellos (3.25 s) if
/// the neighbour never answered an AckReq. Twice that, for a loaded CI machine.
const BIRD_WITHDRAW: Duration = Duration::from_secs(7);

/// Item 6 of issue 5 for BIRD, the mirror of `interop_babeld.rs`'s stop tests: BIRD gets
/// `signal` (by its PID) while wireguard-go keeps the tunnel up, and meshd must drop BIRD's
/// prefix from its kernel table within [`BIRD_WITHDRAW`], and keep it out.
fn stop_bird_and_expect_withdrawal(signal: &str) {
    let Some(mut mesh) = Mesh::new(2) else { return };
    if !tools_ok() {
        return;
    }
    let bird = bird_node(&mut mesh);
    mesh.start(0);
    let bird_v6: IpAddr = BIRD_V6.parse().expect("literal");
    assert!(
        mesh.wait_until(CONVERGE, || kernel_has(&mesh, 0, BIRD_V6)),
        "meshd installed no route to {BIRD_V6}: {:?}",
        mesh.routes(0)
    );
    // The data path through BIRD's router works before the stop.
    assert!(
        mesh.ping(0, bird_v6, 20, Duration::from_secs(20)),
        "node 0 cannot ping {BIRD_V6} before the stop"
    );
    // Stop only once meshd has probed BIRD with an AckReq and had its answer, as in a network
    // that has run a while: BIRD's Hellos come late now and then (see the module comment), so
    // this takes seconds. Without it meshd judges BIRD by Hellos alone, which is slower.
    let answered = mesh.wait_until(Duration::from_secs(20), || {
        bird.log().to_lowercase().contains("handling ack request")
    });
    eprintln!("interop_bird: BIRD had answered an AckReq before the stop: {answered}");

    let stopped = Instant::now();
    assert!(
        mesh.signal_helper(bird.daemon, signal),
        "BIRD was not running when it was to get {signal}"
    );
    let (status, _) = mesh.wait_helper(bird.daemon, Duration::from_secs(10));
    assert!(status.is_some(), "BIRD did not exit on {signal}");
    let withdrawn = mesh.wait_until(BIRD_WITHDRAW, || !kernel_has(&mesh, 0, BIRD_V6));
    let elapsed = stopped.elapsed();
    assert!(
        withdrawn,
        "meshd still routes to {BIRD_V6} {elapsed:?} after BIRD got {signal}: {:?}",
        mesh.routes(0)
    );
    eprintln!("interop_bird: meshd withdrew {BIRD_V6} {elapsed:?} after kill {signal}");

    // And it stays withdrawn: no stale kernel route, no selected route, no delivery, while the
    // WireGuard session itself lives on.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !kernel_has(&mesh, 0, BIRD_V6),
        "a route to {BIRD_V6} came back: {:?}",
        mesh.routes(0)
    );
    let routes = meshctl_json(&mesh, &["routes"]).expect("meshctl routes");
    let prefix = format!("{BIRD_V6}/128");
    assert!(
        !json_list(&routes, "routes")
            .iter()
            .any(|r| r["prefix"].as_str() == Some(&prefix) && r["selected"] == Value::Bool(true)),
        "meshd still selects a route to {prefix}: {routes}"
    );
    assert!(
        !mesh.ping(0, bird_v6, 2, Duration::from_secs(2)),
        "meshd still delivers to {BIRD_V6} after withdrawing it"
    );
    assert!(
        mesh.run_in(1, &["wg", "show", &bird.ifname], Duration::from_secs(5))
            .success(),
        "wireguard-go went away with BIRD: the test no longer shows Babel's own failure detection"
    );
}

/// BIRD on SIGTERM shuts its Babel protocol down; whatever it sends on the way out, meshd must
/// withdraw.
#[test]
fn meshd_withdraws_when_bird_stops() {
    stop_bird_and_expect_withdrawal("-TERM");
}

/// BIRD SIGKILLed says nothing: only Babel's silence tells.
#[test]
fn meshd_withdraws_when_bird_is_killed() {
    stop_bird_and_expect_withdrawal("-KILL");
}

#[test]
fn tshark_decodes_meshd_babel_in_the_tunnel() {
    let Some(mut mesh) = Mesh::new(2) else { return };
    if !tools_ok() || !require_tool("tshark") {
        return;
    }
    let bird = bird_node(&mut mesh);
    let file = mesh.node_dir(1).join("babel.pcapng");
    let file = file.to_string_lossy().into_owned();
    let capture = mesh.spawn_in(
        1,
        "tshark",
        &[
            "tshark",
            "-n",
            "-i",
            &bird.ifname,
            "-f",
            "udp port 6696",
            "-a",
            "duration:15",
            "-w",
            &file,
        ],
    );
    // tshark says "Capturing on 'wg0'" once its capture runs; only then start meshd.
    // The harness names a helper's log `<name>-<k>.log`.
    let dir = mesh.node_dir(1).to_path_buf();
    let tshark_log = || -> String {
        std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("tshark-"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    };
    assert!(
        mesh.wait_until(Duration::from_secs(15), || tshark_log()
            .contains("Capturing on")),
        "tshark did not start capturing on {}: {}",
        bird.ifname,
        tshark_log()
    );
    mesh.start(0);
    let (status, output) = mesh.wait_helper(capture, Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "tshark: {status:?} {output}"
    );
    let meshd_ll = bird_neighbour_address(&mesh, &bird).expect("BIRD has meshd as a neighbour");

    // Every Babel packet inside the tunnel is meshd's or BIRD's, from its link-local address.
    let sources = tshark_read(
        &mesh,
        1,
        &file,
        &["-Y", "babel", "-T", "fields", "-e", "ipv6.src"],
    );
    let sources: BTreeSet<&str> = sources.lines().map(str::trim).collect();
    let expected: BTreeSet<String> = [meshd_ll.to_string(), BIRD_LINK_LOCAL.to_string()].into();
    assert!(
        sources.iter().all(|s| expected.contains(*s)),
        "Babel from unexpected sources: {sources:?}"
    );

    // Wireshark flags nothing in the whole capture: no malformed packet, no expert info at all.
    let expert = tshark_read(&mesh, 1, &file, &["-q", "-z", "expert"]);
    assert!(
        !expert.contains("Malformed") && !expert.contains("Error") && !expert.contains("Warning"),
        "tshark's expert info: {expert}"
    );

    // meshd's packets, message by message.
    let filter = format!("babel && ipv6.src == {meshd_ll}");
    let verbose = tshark_read(&mesh, 1, &file, &["-Y", &filter, "-V"]);
    let messages = babel_messages(&verbose);
    let packets = verbose.matches("\nBabel Routing Protocol").count();
    assert!(
        packets >= 10,
        "only {packets} Babel packets from meshd in 15 s:\n{verbose}"
    );
    let complaints = dissector_complaints(&verbose);
    assert!(
        complaints.is_empty(),
        "tshark on meshd's packets: {complaints:#?}\n{verbose}"
    );
    let (read, problems) = capture_payload_problems(&mesh, 1, &file, &filter);
    assert!(
        read == packets && problems.is_empty(),
        "meshd's packets read without the dissector: {read} of {packets}; not well-formed: {problems:#?}"
    );

    let types: BTreeSet<u8> = messages.iter().map(|m| m.kind).collect();
    // Hello 4, IHU 5, Update 8, Route Request 9, AckReq 2 (meshd asks a new neighbour whether
    // it answers acknowledgment requests). Never sent here, rightly: Pad1/PadN (0, 1), Ack (3:
    // BIRD sends no AckReq), Next Hop (7: the packet's source is the next hop), Seqno Request
    // (10: nothing starves between two nodes); `interop_babeld.rs`,
    // `tshark_decodes_seqno_requests_and_acks`, makes meshd send the last two. Router-Id (6)
    // precedes the IPv4 update, which cannot carry the router-id in its prefix.
    for (t, name) in [
        (4, "Hello"),
        (5, "IHU"),
        (8, "Update"),
        (9, "Route Request"),
        (2, "AckReq"),
    ] {
        assert!(
            types.contains(&t),
            "meshd sent no {name} ({t}); types {types:?}"
        );
    }
    assert!(
        types.iter().all(|t| [2, 4, 5, 6, 8, 9].contains(t)),
        "meshd sent types {types:?}"
    );
    // RFC 9616: meshd stamps its Hellos (BIRD ignores the sub-TLV, see the test above) and
    // puts no Timestamp on its IHUs, since BIRD's Hellos carry none to echo.
    let hellos = messages.iter().filter(|m| m.kind == 4).count();
    let stamped = messages
        .iter()
        .filter(|m| m.kind == 4 && m.timestamp)
        .count();
    assert!(
        hellos >= 10 && stamped == hellos,
        "{stamped} of {hellos} Hellos stamped"
    );
    assert!(
        messages.iter().all(|m| m.kind != 5 || !m.timestamp),
        "meshd put a Timestamp on an IHU although BIRD sent none"
    );
    eprintln!(
        "interop_bird: {packets} Babel packets from meshd in 15 s; message types {types:?}; {hellos} Hellos"
    );
}
