//! The gateway failover benchmark, run by `bench/gateway-failover.sh` (ignored in the normal
//! test run: it prints figures and asserts nothing about time).
//!
//! A client with two gateways one hop away (the topology of `gateway.rs`, without the LAN host)
//! pings the internet host every 20 ms. Each round measures the longest gap between replies for
//! a while with nothing happening (the baseline, in the same run), then kills the gateway the
//! ping's flow is pinned to (after the first round, the survivor of the last) with SIGKILL and measures the longest gap again (the outage), then restarts
//! it and waits for the mesh to settle. Timers: `MESHD_BENCH_HELLO` seconds between Hellos
//! (default 1, the harness's), update interval 4 s.

use std::time::Duration;

use meshd_netns_tests::{Mesh, COMMAND_TIMEOUT, CONVERGE};

const INTERNET: &str = "203.0.113.100";
const PING_INTERVAL: &str = "0.02";

fn hello() -> String {
    std::env::var("MESHD_BENCH_HELLO").unwrap_or_else(|_| "1".to_string())
}

fn rounds() -> usize {
    std::env::var("MESHD_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .clamp(1, 20)
}

fn config(mesh: &Mesh, i: usize, extra: &str) -> String {
    mesh.config_with(i, &[], extra).replacen(
        "hello_interval = 1\n",
        &format!("hello_interval = {}\n", hello()),
        1,
    )
}

fn start(mesh: &mut Mesh, i: usize) {
    let extra = if i == 0 {
        ""
    } else {
        "[gateway]\nshare = \"wan0\"\n"
    };
    let text = config(mesh, i, extra);
    mesh.start_with_config(i, &text);
}

/// How long to wait for [`settled`]: 30 s, plus 20 Hello intervals.
fn settle_time() -> Duration {
    let hello: f64 = hello().parse().unwrap_or(1.0);
    CONVERGE + Duration::from_secs_f64(20.0 * hello)
}

/// Whether both gateways are one hop away from the client (each reached through itself).
fn settled(mesh: &Mesh) -> bool {
    let out = mesh.meshctl(0, &["--json", "gateways"], COMMAND_TIMEOUT);
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&out.stdout) else {
        return false;
    };
    json["gateways"].as_array().is_some_and(|g| {
        g.len() == 2
            && g.iter()
                .all(|g| g["via"].is_string() && g["via"] == g["public_key"])
    })
}

/// The bytes each gateway's NAT has forwarded from the mesh.
fn counters(mesh: &Mesh) -> [u64; 2] {
    [1, 2].map(|g| mesh.gateway_forwarded_bytes(g).unwrap_or(0))
}

/// The longest time without a reply in `ping -D` output (seconds), counting the silence at the
/// end of the window (sent but unanswered requests after the last reply), and the replies.
fn longest_gap(output: &str) -> (f64, usize) {
    let interval: f64 = PING_INTERVAL.parse().unwrap_or(0.02);
    let replies: Vec<(f64, u64)> = output
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| {
            let time = l.strip_prefix('[')?.split(']').next()?.parse().ok()?;
            let seq = l
                .split("icmp_seq=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((time, seq))
        })
        .collect();
    let gap = replies
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .fold(0.0_f64, f64::max);
    let sent: u64 = output
        .lines()
        .find_map(|l| {
            l.split(" packets transmitted")
                .next()
                .filter(|_| l.contains(" packets transmitted"))?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let last = replies.last().map_or(0, |r| r.1);
    let trailing = sent.saturating_sub(last) as f64 * interval;
    (gap.max(trailing), replies.len())
}

/// Pings for `seconds`, running `during` after `after`; returns the longest gap and replies.
fn ping_window(
    mesh: &mut Mesh,
    seconds: u32,
    after: Duration,
    during: impl FnOnce(&mut Mesh),
) -> (f64, usize) {
    let deadline = seconds.to_string();
    let ping = mesh.spawn_in(
        0,
        "ping",
        &[
            "ping",
            "-n",
            "-D",
            "-i",
            PING_INTERVAL,
            "-W",
            "1",
            "-w",
            &deadline,
            INTERNET,
        ],
    );
    std::thread::sleep(after);
    during(mesh);
    let (_, output) = mesh.wait_helper(ping, Duration::from_secs(u64::from(seconds) + 5));
    longest_gap(&output)
}

#[test]
#[ignore = "a benchmark: bench/gateway-failover.sh runs it"]
fn gateway_failover_outage() {
    let Some(mut mesh) = Mesh::new(4) else {
        return;
    };
    mesh.link(0, 1);
    mesh.link(0, 2);
    mesh.link(1, 2);
    mesh.must_run_in(3, &["ip", "addr", "add", "203.0.113.100/32", "dev", "lo"]);
    for (gateway, local, remote) in [
        (1, "203.0.113.2/28", "203.0.113.1"),
        (2, "203.0.113.18/28", "203.0.113.17"),
    ] {
        let there = format!("gw{gateway}");
        mesh.plain_link(gateway, 3, "wan0", &there);
        mesh.add_address(gateway, "wan0", local);
        let net = local.replace(".2/", ".1/").replace(".18/", ".17/");
        mesh.add_address(3, &there, &net);
        mesh.add_route_via(gateway, "default", remote);
    }
    for i in 0..3 {
        start(&mut mesh, i);
    }
    println!(
        "timers: hello_interval {} s, update_interval 4 s; ping every {PING_INTERVAL} s",
        hello()
    );
    let mut outages = Vec::new();
    for round in 1..=rounds() {
        assert!(mesh.ping(0, INTERNET.parse().unwrap(), 20, CONVERGE));
        assert!(
            // At long Hello intervals the direct links take longer to win: their first RTT
            // sample counts the WireGuard handshake, and samples come once per IHU (3 Hellos).
            mesh.wait_until(settle_time(), || settled(&mesh)),
            "round {round}: the gateways did not settle: {}",
            mesh.meshctl(0, &["--json", "gateways"], COMMAND_TIMEOUT)
        );
        // The gateway carrying the ping: the one whose NAT forwarded it in the baseline window.
        let before = counters(&mesh);
        let (baseline, replies) = ping_window(&mut mesh, 4, Duration::ZERO, |_| {});
        let after = counters(&mesh);
        let victim = if after[0] - before[0] >= after[1] - before[1] {
            1
        } else {
            2
        };
        let (outage, answered) = ping_window(&mut mesh, 12, Duration::from_secs(2), |mesh| {
            mesh.kill9(victim);
        });
        println!(
            "round {round}: baseline longest gap {baseline:.3} s ({replies} replies in 4 s); \
             kill -9 of gateway {victim}: longest gap {outage:.3} s ({answered} replies in 12 s)"
        );
        outages.push(outage);
        start(&mut mesh, victim);
    }
    outages.sort_by(f64::total_cmp);
    println!(
        "gateway_failover_outage_s: min {:.3} median {:.3} max {:.3} over {} rounds (target < 3 s)",
        outages[0],
        outages[outages.len() / 2],
        outages[outages.len() - 1],
        outages.len()
    );
}
