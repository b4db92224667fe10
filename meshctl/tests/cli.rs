//! Runs the real meshctl binary against a fake meshd: a Unix socket in a temp dir that answers
//! canned replies built with the control crate, and records what meshctl asked.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use control::{Data, Event, EventKind, Neighbour, Peer, Reply, Request, Route, Source, Status};

const KEY_A: &str = "9mSg3Q1xK7n2o6M8RfYbLw3uJ0cVd1eTqHkZpXyA5Gs=";
const KEY_B: &str = "Qb7LmN2pR4sT6vX8zA0cE2gI4kM6oQ8sU0wY2aC4eG8=";
const KEY_C: &str = "uY1b3D5f7H9j1L3n5P7r9T1v3X5z7B9d1F3h5J7l9N0=";

/// A directory of its own under cargo's temp dir, emptied.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("meshctl-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fake meshd at `<scratch>/meshd.sock`: for each element of `conversations` it accepts one
/// connection, reads the request line, sends those replies and closes. The handle yields the
/// request lines.
fn fake(name: &str, conversations: Vec<Vec<Reply>>) -> (PathBuf, JoinHandle<Vec<String>>) {
    let socket = scratch(name).join("meshd.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let handle = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for replies in conversations {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            requests.push(line);
            let mut stream = stream;
            for reply in replies {
                stream
                    .write_all(control::reply_line(&reply).as_bytes())
                    .unwrap();
            }
        }
        requests
    });
    (socket, handle)
}

fn meshctl(socket: &Path, args: &[&str]) -> Output {
    meshctl_columns(socket, args, None)
}

/// meshctl with `COLUMNS` set to `columns`, or unset (then its output is not a terminal, so
/// its width is unknown and tables fit 80 columns, whatever the terminal the tests run in).
fn meshctl_columns(socket: &Path, args: &[&str], columns: Option<usize>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl"));
    command
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .stdin(Stdio::null());
    if let Some(columns) = columns {
        command.env("COLUMNS", columns.to_string());
    }
    command.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// One request, one reply: the output and the request line meshctl sent.
fn ask(name: &str, args: &[&str], reply: Reply) -> (Output, String) {
    let (socket, server) = fake(name, vec![vec![reply]]);
    let out = meshctl(&socket, args);
    let request = server.join().unwrap().remove(0);
    (out, request)
}

fn assert_fits(text: &str) {
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "wider than 80: {line:?}");
    }
}

fn status() -> Status {
    Status {
        version: "0.1.0".into(),
        router_id: "02:11:22:ff:fe:33:44:55".into(),
        public_key: KEY_A.into(),
        mesh_address: "fd00:1234::1".into(),
        uptime_s: 3725,
        peers: 3,
        neighbours: 2,
        routes: 17,
        seqno: 42,
    }
}

fn neighbours() -> Vec<Neighbour> {
    vec![
        Neighbour {
            peer: Some(KEY_A.into()),
            link: 1,
            endpoint: Some("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:51820".into()),
            address: "fe80::8c1:2ff:fe03:4a5b".into(),
            rxcost: 96,
            txcost: 128,
            rtt_ms: Some(12.34),
            cost: 128,
            hello_history: "1111111101111111".into(),
            last_handshake_s: Some(12),
            rx_bytes: 1536,
            tx_bytes: 20 * 1024 * 1024,
            refused_routes: 3,
            routes: 0,
            routes_over_limit: 0,
        },
        Neighbour {
            peer: None,
            link: 2,
            endpoint: None,
            address: "fe80::2".into(),
            rxcost: 65535,
            txcost: 65535,
            rtt_ms: None,
            cost: 65535,
            hello_history: "0000000000000000".into(),
            last_handshake_s: None,
            rx_bytes: 0,
            tx_bytes: 0,
            refused_routes: 0,
            routes: 0,
            routes_over_limit: 0,
        },
    ]
}

fn route(prefix: &str, metric: u16, reason: &str, peer: Option<&str>) -> Route {
    Route {
        prefix: prefix.into(),
        next_hop: peer.map(|_| "fe80::8c1:2ff:fe03:4a5b".into()),
        peer: peer.map(String::from),
        link: peer.map(|_| 1),
        metric,
        advertised_metric: metric.saturating_sub(96),
        seqno: 7,
        router_id: "02:11:22:ff:fe:33:44:66".into(),
        selected: matches!(reason, "selected" | "local"),
        feasible: reason != "unfeasible",
        installed: reason == "selected",
        reason: reason.into(),
        refusal: None,
    }
}

fn routes() -> Vec<Route> {
    vec![
        route("fd00:2::/64", 65535, "unreachable", Some(KEY_B)),
        route("fd00:2::/64", 400, "unfeasible", Some(KEY_B)),
        route("fd00:2::/64", 352, "worse", Some(KEY_B)),
        route("fd00:2::/64", 224, "selected", Some(KEY_A)),
        route("fd00:1234::1/128", 0, "local", None),
    ]
}

fn table_lines(out: &Output) -> Vec<String> {
    stdout(out).lines().map(String::from).collect()
}

#[test]
fn status_prints_who_this_node_is() {
    let (out, request) = ask("status", &["status"], Reply::ok(Data::Status(status())));
    assert_eq!(request, control::request_line(&Request::Status));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_fits(&text);
    for expected in [
        "router-id:     02:11:22:ff:fe:33:44:55",
        &format!("public key:    {KEY_A}"),
        "mesh address:  fd00:1234::1",
        "uptime:        1h02m",
        "peers:         3",
        "neighbours:    2",
        "routes:        17",
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "no {expected:?} in\n{text}"
        );
    }
    assert!(!text.contains('\x1b'), "colour in a pipe");
}

#[test]
fn status_json_is_the_status_object() {
    let (out, _) = ask(
        "status-json",
        &["--json", "status"],
        Reply::ok(Data::Status(status())),
    );
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(printed, serde_json::to_value(status()).unwrap());
    assert_eq!(printed["router_id"], "02:11:22:ff:fe:33:44:55");
}

#[test]
fn neighbours_table_fits_and_shows_link_quality() {
    let data = Data::Neighbours {
        neighbours: neighbours(),
    };
    let (out, request) = ask("neigh", &["neighbors"], Reply::ok(data));
    assert_eq!(request, control::request_line(&Request::Neighbours));
    assert!(out.status.success());
    let text = stdout(&out);
    assert_fits(&text);
    let lines = table_lines(&out);
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].starts_with("PEER       ADDRESS"));
    assert!(
        lines[0].ends_with("RXCOST  TXCOST  COST      RTT  REFUSED"),
        "{text}"
    );
    assert!(lines[1].starts_with("  HELLOS            HANDSHAKE"));
    assert!(lines[2].starts_with("9mSg3Q1x…  fe80::8c1:2ff:fe03:4a5b"));
    assert!(
        lines[2].ends_with("96     128   128  12.3 ms        3"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("  1111111101111111  12s ago"),
        "{text}"
    );
    assert!(
        lines[3].contains('…'),
        "long endpoint not shortened: {text}"
    );
    assert!(lines[3].ends_with("1.5 KiB  20 MiB"), "{text}");
    assert!(lines[4].starts_with("-          fe80::2"));
    assert!(
        lines[4].ends_with("inf     inf   inf        -        0"),
        "{text}"
    );
    assert!(lines[5].starts_with("  0000000000000000  never"), "{text}");
}

#[test]
fn neighbours_take_one_line_each_when_the_width_allows() {
    let data = Data::Neighbours {
        neighbours: neighbours(),
    };
    let (socket, server) = fake("neigh-wide", vec![vec![Reply::ok(data.clone())]]);
    let out = meshctl_columns(&socket, &["neighbours"], Some(200));
    server.join().unwrap();
    let text = stdout(&out);
    let lines = table_lines(&out);
    assert_eq!(
        lines.len(),
        3,
        "one header and one line per neighbour: {text}"
    );
    assert!(lines[0].starts_with("PEER       ADDRESS"), "{text}");
    assert!(lines[0].contains("RTT  REFUSED  HELLOS"), "{text}");
    assert!(
        lines[1].starts_with("9mSg3Q1x…  fe80::8c1:2ff:fe03:4a5b"),
        "{text}"
    );
    assert!(lines[1].ends_with("1.5 KiB  20 MiB"), "{text}");
    assert!(lines.iter().all(|l| l.chars().count() <= 200), "{text}");
    // A width too small for one line: folded, as when the width is unknown.
    let (socket, server) = fake("neigh-narrow", vec![vec![Reply::ok(data)]]);
    let out = meshctl_columns(&socket, &["neighbours"], Some(90));
    server.join().unwrap();
    assert_eq!(
        table_lines(&out).len(),
        6,
        "two lines each: {}",
        stdout(&out)
    );
}

#[test]
fn neighbours_json_is_the_list() {
    let data = Data::Neighbours {
        neighbours: neighbours(),
    };
    let (out, _) = ask("neigh-json", &["neighbours", "--json"], Reply::ok(data));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(printed, serde_json::to_value(neighbours()).unwrap());
    assert_eq!(printed[0]["hello_history"], "1111111101111111");
}

#[test]
fn routes_show_the_selected_ones_by_default() {
    let data = Data::Routes { routes: routes() };
    let (out, request) = ask("routes", &["routes"], Reply::ok(data));
    assert_eq!(
        request,
        control::request_line(&Request::Routes { prefix: None })
    );
    assert!(out.status.success());
    let text = stdout(&out);
    assert_fits(&text);
    let lines = table_lines(&out);
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("PREFIX            NEXT HOP"), "{text}");
    assert!(lines[1].starts_with("fd00:1234::1/128  local"), "{text}");
    assert!(
        lines[1].ends_with("S--") || lines[1].ends_with("SF-"),
        "{text}"
    );
    // Next hop and origin are cut in the middle to fit: their ends tell them apart.
    assert!(
        lines[2].starts_with(
            "fd00:2::/64       fe80::…03:4a5b  9mSg3Q1x…     224      7  02:11:…:44:66"
        ),
        "{text}"
    );
    assert!(lines[2].ends_with("SFI"), "{text}");
    assert!(!text.contains("lost"));
}

#[test]
fn routes_all_shows_every_candidate() {
    let data = Data::Routes { routes: routes() };
    let (out, _) = ask("routes-all", &["routes", "--all"], Reply::ok(data));
    let lines = table_lines(&out);
    assert_eq!(lines.len(), 6, "{}", stdout(&out));
    assert!(lines[5].contains("inf"));
}

#[test]
fn routes_for_a_prefix_explain_why_each_loser_lost() {
    let candidates: Vec<Route> = routes()
        .into_iter()
        .filter(|r| r.prefix == "fd00:2::/64")
        .collect();
    let data = Data::Routes { routes: candidates };
    let (out, request) = ask("routes-prefix", &["routes", "fd00:2::/64"], Reply::ok(data));
    assert_eq!(
        request,
        control::request_line(&Request::Routes {
            prefix: Some("fd00:2::/64".into())
        })
    );
    let text = stdout(&out);
    assert_fits(&text);
    let lines = table_lines(&out);
    assert_eq!(lines.len(), 1 + 4 + 3, "{text}");
    assert!(
        lines[1].contains("  224  ") && lines[1].ends_with("SFI"),
        "{text}"
    );
    assert!(
        lines[2].contains("  352  ") && lines[2].ends_with("-F-"),
        "{text}"
    );
    assert!(lines[3].trim_start().starts_with("└ lost: worse"), "{text}");
    assert!(
        lines[4].contains("  400  ") && lines[4].ends_with("---"),
        "{text}"
    );
    assert!(lines[5].contains("lost: unfeasible"), "{text}");
    assert!(lines[6].contains("  inf  "), "{text}");
    assert!(lines[7].contains("lost: unreachable"), "{text}");
}

#[test]
fn routes_json_is_the_shown_list_best_first() {
    let data = Data::Routes { routes: routes() };
    let (out, _) = ask("routes-json", &["--json", "routes"], Reply::ok(data));
    let printed: Vec<Route> = serde_json::from_str(&stdout(&out)).unwrap();
    let reasons: Vec<&str> = printed.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons, ["local", "selected"]);
    let data = Data::Routes { routes: routes() };
    let (out, _) = ask(
        "routes-json-all",
        &["--json", "routes", "--all"],
        Reply::ok(data),
    );
    let printed: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let reasons: Vec<&str> = printed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["local", "selected", "worse", "unfeasible", "unreachable"]
    );
}

#[test]
fn sources_and_peers_tables() {
    let sources = vec![Source {
        prefix: "fd00:2::/64".into(),
        router_id: "02:11:22:ff:fe:33:44:66".into(),
        seqno: 7,
        metric: 224,
    }];
    let (out, request) = ask(
        "sources",
        &["sources"],
        Reply::ok(Data::Sources { sources }),
    );
    assert_eq!(request, control::request_line(&Request::Sources));
    assert_eq!(
        table_lines(&out),
        [
            "PREFIX       ORIGIN                   SEQNO  METRIC",
            "fd00:2::/64  02:11:22:ff:fe:33:44:66      7     224",
        ]
    );

    let peers = vec![
        Peer {
            public_key: KEY_A.into(),
            link: 1,
            endpoint: Some("192.0.2.1:51820".into()),
            up: true,
            last_handshake_s: Some(95),
            rx_bytes: 2048,
            tx_bytes: 100,
            runtime: false,
            discovered: false,
            interface: None,
        },
        Peer {
            public_key: KEY_B.into(),
            link: 2,
            endpoint: None,
            up: false,
            last_handshake_s: None,
            rx_bytes: 0,
            tx_bytes: 0,
            runtime: true,
            discovered: false,
            interface: None,
        },
        Peer {
            public_key: KEY_C.into(),
            link: 3,
            endpoint: Some("[fe80::2%7]:51820".into()),
            up: true,
            last_handshake_s: Some(3),
            rx_bytes: 10,
            tx_bytes: 10,
            runtime: false,
            discovered: true,
            interface: Some("wlan0-mesh".into()),
        },
    ];
    let (out, request) = ask("peers", &["peers"], Reply::ok(Data::Peers { peers }));
    assert_eq!(request, control::request_line(&Request::Peers));
    let text = stdout(&out);
    assert_fits(&text);
    assert_eq!(
        table_lines(&out),
        [
            "KEY        ENDPOINT           STATE  HANDSHAKE       IN    OUT  ADDED",
            "9mSg3Q1x…  192.0.2.1:51820    up     1m35s ago  2.0 KiB  100 B  config",
            "Qb7LmN2p…  -                  down   never          0 B    0 B  runtime",
            "uY1b3D5f…  [fe80::2%7]:51820  up     3s ago        10 B   10 B  found wlan0-mesh",
        ]
    );
}

#[test]
fn peers_add_and_reload_print_the_daemon_message() {
    let done = Reply::ok(Data::Done {
        message: "peer added".into(),
    });
    let (out, request) = ask(
        "peers-add",
        &["peers", "add", KEY_B, "[2001:db8::2]:51820"],
        done,
    );
    assert_eq!(
        request,
        control::request_line(&Request::PeerAdd {
            public_key: KEY_B.into(),
            endpoint: Some("[2001:db8::2]:51820".into())
        })
    );
    assert!(out.status.success());
    assert_eq!(stdout(&out), "peer added\n");

    let done = Reply::ok(Data::Done {
        message: "configuration reloaded".into(),
    });
    let (out, request) = ask("reload", &["--json", "reload"], done);
    assert_eq!(request, control::request_line(&Request::Reload));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        printed,
        serde_json::json!({ "message": "configuration reloaded" })
    );
}

#[test]
fn peers_remove_takes_the_short_key_peers_shows() {
    let peers = vec![KEY_A, KEY_B]
        .into_iter()
        .map(|k| Peer {
            public_key: k.into(),
            link: 1,
            endpoint: None,
            up: true,
            last_handshake_s: None,
            rx_bytes: 0,
            tx_bytes: 0,
            runtime: true,
            discovered: false,
            interface: None,
        })
        .collect();
    let (socket, server) = fake(
        "peers-remove",
        vec![
            vec![Reply::ok(Data::Peers { peers })],
            vec![Reply::ok(Data::Done {
                message: "peer removed".into(),
            })],
        ],
    );
    let out = meshctl(&socket, &["peers", "remove", "Qb7LmN2p…"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "peer removed\n");
    let requests = server.join().unwrap();
    assert_eq!(
        requests[1],
        control::request_line(&Request::PeerRemove {
            public_key: KEY_B.into()
        })
    );
}

#[test]
fn an_error_reply_is_printed_and_exits_1() {
    let (out, _) = ask(
        "error",
        &["peers", "remove", KEY_B],
        Reply::error("no peer with key Qb7LmN2p…"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "meshctl: meshd: no peer with key Qb7LmN2p…\n");
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_missing_daemon_is_one_sentence_naming_the_socket() {
    let socket = scratch("missing").join("meshd.sock");
    let out = meshctl(&socket, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "meshctl: cannot reach meshd at {}: no such socket (is meshd running?)\n",
            socket.display()
        )
    );
}

#[test]
fn a_left_over_socket_is_refused() {
    let socket = scratch("stale").join("meshd.sock");
    drop(UnixListener::bind(&socket).unwrap());
    let out = meshctl(&socket, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "meshctl: cannot reach meshd at {}: connection refused",
            socket.display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn a_silent_daemon_times_out() {
    let socket = scratch("silent").join("meshd.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_secs(3));
        drop(stream);
    });
    let out = meshctl(&socket, &["--timeout", "0.3", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "meshctl: meshd at {} did not answer within 0.3 s\n",
            socket.display()
        )
    );
}

#[test]
fn bad_arguments_exit_2() {
    let socket = scratch("usage").join("meshd.sock");
    for args in [
        &["routes", "--bogus"][..],
        &["frobnicate"],
        &[],
        &["peers", "add", "not-a-key"],
        &["--timeout", "-1", "status"],
        &["completions", "tcsh"],
    ] {
        let out = meshctl(&socket, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

fn events() -> Vec<Event> {
    vec![
        Event {
            time_s: 1.5,
            what: EventKind::NeighbourUp {
                link: 1,
                address: "fe80::1".into(),
            },
        },
        Event {
            time_s: 2.25,
            what: EventKind::RouteAdded {
                prefix: "fd00:2::/64".into(),
                link: 1,
                metric: 224,
            },
        },
        Event {
            time_s: 30.0,
            what: EventKind::PeerRoamed {
                public_key: KEY_A.into(),
                endpoint: "192.0.2.9:51820".into(),
            },
        },
        Event {
            time_s: 31.0,
            what: EventKind::PeerDiscovered {
                public_key: KEY_B.into(),
                interface: "wlan0-mesh".into(),
                endpoint: "[fe80::2%7]:51820".into(),
            },
        },
        Event {
            time_s: 32.0,
            what: EventKind::PeerRefused {
                public_key: KEY_C.into(),
                reason: "bad community MAC".into(),
                place: "wlan0-mesh".into(),
            },
        },
    ]
}

#[test]
fn monitor_prints_events_until_the_daemon_closes() {
    let replies = events()
        .into_iter()
        .map(|e| Reply::ok(Data::Event(e)))
        .collect();
    let (socket, server) = fake("monitor", vec![replies]);
    let out = meshctl(&socket, &["monitor"]);
    assert_eq!(
        server.join().unwrap()[0],
        control::request_line(&Request::Monitor)
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = table_lines(&out);
    assert_eq!(lines.len(), 5, "{}", stdout(&out));
    for line in &lines {
        // 2025-11-25T12:03:04.512Z
        let stamp = line.split_whitespace().next().unwrap();
        assert_eq!(stamp.len(), 24, "{line}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{line}"
        );
    }
    assert!(
        lines[0].ends_with("1.500  neighbour up    fe80::1 link 1"),
        "{}",
        lines[0]
    );
    assert!(lines[1].ends_with("2.250  route added     fd00:2::/64 link 1 metric 224"));
    assert!(lines[2].ends_with(&format!(
        "30.000  peer roamed     {KEY_A} to 192.0.2.9:51820"
    )));
    assert!(lines[3].ends_with(&format!(
        "31.000  peer found      {KEY_B} on wlan0-mesh at [fe80::2%7]:51820"
    )));
    assert!(lines[4].ends_with(&format!(
        "32.000  peer refused    {KEY_C} on wlan0-mesh: bad community MAC"
    )));
}

#[test]
fn monitor_json_is_one_event_per_line() {
    let replies = events()
        .into_iter()
        .map(|e| Reply::ok(Data::Event(e)))
        .collect();
    let (socket, _server) = fake("monitor-json", vec![replies]);
    let out = meshctl(&socket, &["monitor", "--json"]);
    assert!(out.status.success());
    let printed: Vec<Event> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(printed, events());
    assert!(stdout(&out).starts_with("{\"time_s\":1.5,\"event\":\"neighbour_up\""));
}

#[test]
fn monitor_refused_exits_1() {
    let (out, _) = ask(
        "monitor-error",
        &["monitor"],
        Reply::error("too many monitors"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "meshctl: meshd: too many monitors\n");
}

fn run_with_stdin(program: &str, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

const MESHCTL: &str = env!("CARGO_BIN_EXE_meshctl");

#[test]
fn genkey_and_pubkey_agree_with_wg() {
    let wg = "/usr/bin/wg";
    if !Path::new(wg).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{wg} is missing; CI must have wireguard-tools to check meshctl against it"
        );
        eprintln!("skipped: {wg} is missing");
        return;
    }
    for _ in 0..4 {
        let ours = run_with_stdin(MESHCTL, &["genkey"], "");
        assert!(ours.status.success());
        let private = stdout(&ours);
        assert_eq!(private.len(), 45, "{private:?}");
        assert!(private.ends_with("=\n"));
        let theirs = stdout(&run_with_stdin(wg, &["genkey"], ""));
        for key in [&private, &theirs] {
            let a = run_with_stdin(MESHCTL, &["pubkey"], key);
            let b = run_with_stdin(wg, &["pubkey"], key);
            assert!(a.status.success() && b.status.success());
            assert_eq!(stdout(&a), stdout(&b), "public key of {key}");
        }
    }
}

#[test]
fn pubkey_rejects_bad_input() {
    for input in ["", "hello\n", "AAAA\n"] {
        let out = run_with_stdin(MESHCTL, &["pubkey"], input);
        assert_eq!(out.status.code(), Some(1), "{input:?}");
        let err = stderr(&out);
        assert!(err.starts_with("meshctl: pubkey: stdin: "), "{err}");
        assert_eq!(err.lines().count(), 1);
        assert!(stdout(&out).is_empty());
    }
}

#[cfg(feature = "docs")]
#[test]
fn completions_and_man_page_come_from_the_cli() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run_with_stdin(MESHCTL, &["completions", shell], "");
        assert!(out.status.success(), "{shell}");
        let text = stdout(&out);
        assert!(
            text.contains("meshctl") && text.contains("neighbours"),
            "{shell}"
        );
    }
    let out = run_with_stdin(MESHCTL, &["man"], "");
    assert!(out.status.success());
    let roff = stdout(&out);
    assert!(roff.contains(".TH meshctl"), "{roff}");
    assert!(roff.contains("JSON output"));
}

#[test]
fn long_help_documents_every_json_field() {
    let out = run_with_stdin(MESHCTL, &["--help"], "");
    assert!(out.status.success());
    let help = stdout(&out);
    let mut samples = vec![
        serde_json::to_value(status()).unwrap(),
        serde_json::to_value(&neighbours()[0]).unwrap(),
        serde_json::to_value(&routes()[0]).unwrap(),
        serde_json::to_value(Source {
            prefix: String::new(),
            router_id: String::new(),
            seqno: 0,
            metric: 0,
        })
        .unwrap(),
        serde_json::to_value(Peer {
            public_key: String::new(),
            link: 0,
            endpoint: None,
            up: true,
            last_handshake_s: None,
            rx_bytes: 0,
            tx_bytes: 0,
            runtime: false,
            discovered: true,
            interface: Some("lan0".into()),
        })
        .unwrap(),
        serde_json::to_value(control::Refused {
            public_key: String::new(),
            reason: String::new(),
            place: String::new(),
            count: 0,
            last_seen_s: 0,
        })
        .unwrap(),
        // `dropped` is a map of causes, not fields: left empty.
        serde_json::to_value(control::Discovery {
            policy: String::new(),
            community_id: String::new(),
            patterns: vec![],
            port: 0,
            interfaces: vec![control::DiscoveryInterface {
                name: String::new(),
                index: 0,
                link_local: String::new(),
                beacons_sent: 0,
                bytes_sent: 0,
            }],
            peers: 0,
            max_peers: 0,
            beacons_received: 0,
            dropped: Default::default(),
        })
        .unwrap(),
        serde_json::to_value(Data::Gateways {
            sharing: None,
            policy: String::new(),
            gateways: vec![control::Gateway {
                router_id: String::new(),
                public_key: None,
                mesh_address: String::new(),
                metric_v6: None,
                metric_v4: None,
                via: None,
                chosen_v6: false,
                chosen_v4: false,
                flows: 0,
            }],
            encapsulated: 0,
            decapsulated: 0,
            dropped: 0,
        })
        .unwrap(),
    ];
    let text = String::new;
    // One event of every kind; the match makes a new kind a compile error here until it has a
    // sample (and so its fields a check).
    let kinds = [
        EventKind::NeighbourUp {
            link: 0,
            address: text(),
        },
        EventKind::NeighbourDown {
            link: 0,
            address: text(),
        },
        EventKind::NeighbourCost {
            link: 0,
            address: text(),
            cost: 0,
        },
        EventKind::RouteAdded {
            prefix: text(),
            link: 0,
            metric: 0,
        },
        EventKind::RouteChanged {
            prefix: text(),
            link: 0,
            metric: 0,
        },
        EventKind::RouteWithdrawn { prefix: text() },
        EventKind::PeerUp {
            public_key: text(),
            link: 0,
        },
        EventKind::PeerDown {
            public_key: text(),
            link: 0,
        },
        EventKind::PeerRoamed {
            public_key: text(),
            endpoint: text(),
        },
        EventKind::PeerDiscovered {
            public_key: text(),
            interface: text(),
            endpoint: text(),
        },
        EventKind::PeerRefused {
            public_key: text(),
            reason: text(),
            place: text(),
        },
        EventKind::RouteRefused {
            prefix: text(),
            router_id: text(),
            link: 1,
            peer: Some(text()),
            reason: text(),
        },
        EventKind::RouteLimit {
            link: 1,
            peer: Some(text()),
            limit: text(),
        },
    ];
    let mut seen = std::collections::BTreeSet::new();
    for kind in kinds {
        let name = match &kind {
            EventKind::NeighbourUp { .. } => "neighbour_up",
            EventKind::NeighbourDown { .. } => "neighbour_down",
            EventKind::NeighbourCost { .. } => "neighbour_cost",
            EventKind::RouteAdded { .. } => "route_added",
            EventKind::RouteChanged { .. } => "route_changed",
            EventKind::RouteWithdrawn { .. } => "route_withdrawn",
            EventKind::PeerUp { .. } => "peer_up",
            EventKind::PeerDown { .. } => "peer_down",
            EventKind::PeerRoamed { .. } => "peer_roamed",
            EventKind::PeerDiscovered { .. } => "peer_discovered",
            EventKind::PeerRefused { .. } => "peer_refused",
            EventKind::RouteRefused { .. } => "route_refused",
            EventKind::RouteLimit { .. } => "route_limit",
        };
        assert!(seen.insert(name), "{name} twice");
        assert!(help.contains(name), "event {name} not in --help");
        samples.push(
            serde_json::to_value(Event {
                time_s: 0.0,
                what: kind,
            })
            .unwrap(),
        );
    }
    assert_eq!(seen.len(), 13, "one sample of each event kind");
    // Every field name, nested ones included (a gateway's, a discovery interface's).
    fn fields(value: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    out.insert(key.clone());
                    fields(inner, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| fields(i, out)),
            _ => {}
        }
    }
    let mut names = std::collections::BTreeSet::new();
    samples.iter().for_each(|s| fields(s, &mut names));
    // `kind` tags the reply's data object, which --json leaves out.
    names.remove("kind");
    let missing: Vec<&String> = names
        .iter()
        .filter(|f| !help.contains(&format!("\"{f}\"")))
        .collect();
    assert!(missing.is_empty(), "fields not in --help: {missing:?}");
}

#[test]
fn refused_and_discovery_tables() {
    let refused = vec![control::Refused {
        public_key: KEY_B.into(),
        reason: "not in allowlist".into(),
        place: "veth0".into(),
        count: 12,
        last_seen_s: 2,
    }];
    let (out, request) = ask(
        "refused",
        &["refused"],
        Reply::ok(Data::Refused { refused }),
    );
    assert_eq!(request, control::request_line(&Request::Refused));
    assert_fits(&stdout(&out));
    assert_eq!(
        table_lines(&out),
        [
            "KEY        REASON            WHERE  COUNT  LAST",
            "Qb7LmN2p…  not in allowlist  veth0     12  2s ago",
        ]
    );
    let discovery = control::Discovery {
        policy: "community".into(),
        community_id: "harbour".into(),
        patterns: vec!["lan*".into()],
        port: 51821,
        interfaces: vec![control::DiscoveryInterface {
            name: "lan0".into(),
            index: 4,
            link_local: "fe80::1".into(),
            beacons_sent: 10,
            bytes_sent: 1130,
        }],
        peers: 3,
        max_peers: 32,
        beacons_received: 40,
        dropped: [("bad MAC".to_string(), 2)].into_iter().collect(),
    };
    let (out, _) = ask(
        "discovery",
        &["discovery"],
        Reply::ok(Data::Discovery(discovery)),
    );
    let text = stdout(&out);
    assert_fits(&text);
    assert!(text.contains("policy community, community harbour; interfaces lan* on UDP 51821"));
    assert!(text.contains("discovered peers 3 of 32; beacons heard 40"));
    assert!(text.contains("dropped: bad MAC 2"));
    assert!(text.contains("lan0"), "{text}");
}

/// The router build (no `docs` feature) has no completions or man page, and says so as a usage
/// error rather than printing nothing.
#[cfg(not(feature = "docs"))]
#[test]
fn router_build_has_no_completions_or_man_page() {
    for args in [&["completions", "bash"][..], &["man"]] {
        let out = run_with_stdin(MESHCTL, args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("unrecognized subcommand"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty());
    }
}
