//! Prometheus metrics as an operator sees them (docs/metrics.md): a line of three routers, the
//! middle one with `[http] listen` on its mesh IPv4 address. Scraped from the first router's
//! namespace across the mesh, the text passes `promtool check metrics` and shows both neighbours'
//! link costs; then Debian's Prometheus server, run in that namespace, scrapes it and a PromQL
//! query through its HTTP API returns a neighbour's cost.

use std::net::IpAddr;
use std::time::Duration;

use meshd_netns_tests::{require_tool, run, Mesh};
use serde_json::Value;

const CONVERGE: Duration = Duration::from_secs(60);
const PORT: u16 = 9464;
const PROMETHEUS_PORT: u16 = 9090;

/// `curl` in node `i`'s namespace: the body, or `None` on a failure or a non-2xx answer.
fn fetch(mesh: &Mesh, i: usize, url: &str) -> Option<String> {
    let out = mesh.run_in(
        i,
        &["curl", "--silent", "--fail", "--max-time", "5", url],
        Duration::from_secs(10),
    );
    out.success().then_some(out.stdout)
}

/// The HTTP status line's code for `url`, fetched from node `i`'s namespace.
fn status_code(mesh: &Mesh, i: usize, url: &str, method: &str) -> String {
    mesh.run_in(
        i,
        &[
            "curl",
            "--silent",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            method,
            url,
        ],
        Duration::from_secs(10),
    )
    .stdout
}

/// `meshd_neighbour_cost` samples with a finite cost.
fn finite_costs(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("meshd_neighbour_cost{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .filter(|c| *c < 65535.0)
        .count()
}

#[test]
fn prometheus_scrapes_a_neighbour_cost() {
    if !require_tool("curl") || !require_tool("promtool") || !require_tool("prometheus") {
        return;
    }
    let Some(mut mesh) = Mesh::new(3) else { return };
    mesh.link_line();
    let listen = format!("{}:{PORT}", mesh.ipv4_address(1));
    for i in 0..3 {
        let mut config = mesh.config_text(i);
        if i == 1 {
            config.push_str(&format!("\n[http]\nlisten = \"{listen}\"\n"));
        }
        mesh.start_with_config(i, &config);
    }
    let addrs = mesh.mesh_addresses();
    assert!(
        mesh.ping(0, IpAddr::from(addrs[2]), 120, CONVERGE),
        "no convergence"
    );

    // Both of the middle node's neighbours show a usable cost, seen from across the mesh.
    let url = format!("http://{listen}/metrics");
    let mut text = String::new();
    assert!(
        mesh.wait_until(Duration::from_secs(30), || {
            text = fetch(&mesh, 0, &url).unwrap_or_default();
            finite_costs(&text) == 2
        }),
        "node 1's metrics never showed two neighbour costs:\n{text}"
    );
    let check = run(
        &["promtool", "check", "metrics"],
        Some(&text),
        Duration::from_secs(20),
    );
    assert!(check.success(), "promtool check metrics: {check}\n{text}");
    for family in [
        "meshd_routes{state=\"selected\"}",
        "meshd_sessions{state=\"up\"} 2",
        "process_resident_memory_bytes",
        "meshd_neighbour_transmit_bytes_total{",
    ] {
        assert!(text.contains(family), "no {family} in:\n{text}");
    }
    // A packet that runs out of hops at the middle node is counted there by cause.
    let hop = mesh.run_in(
        0,
        &[
            "ping",
            "-6",
            "-c",
            "2",
            "-i",
            "0.2",
            "-t",
            "1",
            "-W",
            "1",
            &addrs[2].to_string(),
        ],
        Duration::from_secs(10),
    );
    let counted = mesh.wait_until(Duration::from_secs(10), || {
        text = fetch(&mesh, 0, &url).unwrap_or_default();
        text.lines()
            .find(|l| {
                l.starts_with("meshd_forward_dropped_packets_total{cause=\"hop_limit_exceeded\"}")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .is_some_and(|n| n >= 1.0)
    });
    assert!(counted, "hop-limited ping ({hop}) not counted:\n{text}");

    // Only /metrics is served; nodes without [http] listen on nothing.
    assert_eq!(
        status_code(&mesh, 0, &format!("http://{listen}/"), "GET"),
        "404"
    );
    assert_eq!(status_code(&mesh, 0, &url, "DELETE"), "405");
    let node0 = format!("http://{}:{PORT}/metrics", mesh.ipv4_address(0));
    assert_eq!(
        fetch(&mesh, 0, &node0),
        None,
        "node 0 serves metrics unasked"
    );

    // Prometheus in node 0's namespace, scraping node 1 every second.
    let dir = mesh.node_dir(0).join("prometheus");
    std::fs::create_dir_all(&dir).expect("prometheus dir");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: meshd\n    static_configs:\n      \
             - targets: ['{listen}']\n"
        ),
    )
    .expect("prometheus.yml");
    let config_arg = format!("--config.file={}", config.display());
    let storage_arg = format!("--storage.tsdb.path={}", dir.join("data").display());
    let web_arg = format!("--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}");
    let server = mesh.spawn_in(
        0,
        "prometheus",
        &["prometheus", &config_arg, &storage_arg, &web_arg],
    );
    let query = format!(
        "http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/query?query=meshd_neighbour_cost%3C65535"
    );
    let mut answer = String::new();
    let found = mesh.wait_until(Duration::from_secs(60), || {
        answer = fetch(&mesh, 0, &query).unwrap_or_default();
        let Ok(value) = serde_json::from_str::<Value>(&answer) else {
            return false;
        };
        let results = value["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        results.len() == 2
            && results.iter().all(|r| {
                r["metric"]["job"] == "meshd"
                    && [mesh.public_key(0), mesh.public_key(2)]
                        .iter()
                        .any(|k| r["metric"]["peer"].as_str() == Some(k))
            })
    });
    mesh.signal_helper(server, "-TERM");
    let (_, log) = mesh.wait_helper(server, Duration::from_secs(10));
    assert!(
        found,
        "PromQL never returned both neighbour costs: {answer}\nprometheus log:\n{log}"
    );
}
