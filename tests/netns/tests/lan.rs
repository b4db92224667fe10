//! LANs behind mesh routers: hosts in their own namespaces, behind routers that announce their
//! LAN prefixes (an IPv6 /64 and an IPv4 subnet, the latter over IPv6 next hops), reach each other
//! across three mesh hops in both families; and a prefix two routers both announce is routed to
//! the nearer one, with a warning from meshctl.
//!
//! ```text
//!   host 4 ── router 0 ── router 1 ── router 2 ── router 3 ── host 5
//!   LAN fd00:4c41:1::/64                     LAN fd00:4c41:2::/64
//!       192.0.2.0/25                             192.0.2.128/25
//!   both routers 0 and 3 announce fd00:c1a5::/64 (0 holds ::10 of it, 3 holds ::30)
//! ```

use std::net::IpAddr;
use std::time::{Duration, Instant};

use meshd_netns_tests::{Mesh, COMMAND_TIMEOUT, CONVERGE};

const CLASH: &str = "fd00:c1a5::/64";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn lan_hosts_reach_each_other_and_a_clash_goes_to_the_nearer_origin() {
    let Some(mut mesh) = Mesh::new(6) else {
        return;
    };
    let started = Instant::now();
    for i in 1..4 {
        mesh.link(i - 1, i);
    }
    // The LANs: a veth from each edge router to its host, addresses and default routes.
    for (router, host, v6, v4) in [
        (
            0,
            4,
            "fd00:4c41:1::",
            ("192.0.2.1/25", "192.0.2.2/25", "192.0.2.1"),
        ),
        (
            3,
            5,
            "fd00:4c41:2::",
            ("192.0.2.129/25", "192.0.2.130/25", "192.0.2.129"),
        ),
    ] {
        mesh.plain_link(router, host, "lan0", "eth0");
        mesh.add_address(router, "lan0", &format!("{v6}1/64"));
        mesh.add_address(router, "lan0", v4.0);
        mesh.add_address(host, "eth0", &format!("{v6}2/64"));
        mesh.add_address(host, "eth0", v4.1);
        mesh.add_route_via(host, "default", &format!("{v6}1"));
        mesh.add_route_via(host, "default", v4.2);
    }
    // The clashing prefix: each origin holds a different address of it.
    mesh.must_run_in(0, &["ip", "addr", "add", "fd00:c1a5::10/128", "dev", "lo"]);
    mesh.must_run_in(3, &["ip", "addr", "add", "fd00:c1a5::30/128", "dev", "lo"]);
    let config0 = mesh.config_with(0, &["fd00:4c41:1::/64", "192.0.2.0/25", CLASH], "");
    let config3 = mesh.config_with(3, &["fd00:4c41:2::/64", "192.0.2.128/25", CLASH], "");
    mesh.start_with_config(0, &config0);
    mesh.start(1);
    mesh.start(2);
    mesh.start_with_config(3, &config3);

    // Host to host, three mesh hops, both families.
    for (from, to) in [
        (4, "fd00:4c41:2::2"),
        (5, "fd00:4c41:1::2"),
        (4, "192.0.2.130"),
        (5, "192.0.2.2"),
    ] {
        assert!(
            mesh.ping(from, ip(to), 40, CONVERGE),
            "host {from} cannot reach {to} across the mesh"
        );
    }
    eprintln!("LAN to LAN in both families after {:?}", started.elapsed());

    // Routers 1 and 2 install the clash prefix toward their nearer origin.
    let origin_of = |mesh: &Mesh, router: usize| -> Option<String> {
        let out = mesh.meshctl(router, &["--json", "routes", CLASH], COMMAND_TIMEOUT);
        let routes: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
        routes
            .as_array()?
            .iter()
            .find(|r| r["selected"] == true)
            .map(|r| r["router_id"].as_str().unwrap_or_default().to_string())
    };
    let router_id = |mesh: &Mesh, i: usize| -> String {
        let out = mesh.meshctl(i, &["--json", "status"], COMMAND_TIMEOUT);
        let status: serde_json::Value = serde_json::from_str(&out.stdout).expect("status JSON");
        status["router_id"].as_str().expect("router_id").to_string()
    };
    let (id0, id3) = (router_id(&mesh, 0), router_id(&mesh, 3));
    assert!(
        mesh.wait_until(CONVERGE, || origin_of(&mesh, 1).as_deref() == Some(&id0)
            && origin_of(&mesh, 2).as_deref() == Some(&id3)),
        "router 1 should route {CLASH} to router 0 ({id0}) and router 2 to router 3 ({id3}): \
         {:?} {:?}",
        origin_of(&mesh, 1),
        origin_of(&mesh, 2)
    );
    // So traffic to the prefix ends at the nearer origin: router 1 reaches router 0's address
    // in it and not router 3's; router 2 the other way round.
    assert!(mesh.ping(1, ip("fd00:c1a5::10"), 5, Duration::from_secs(10)));
    assert!(mesh.ping(2, ip("fd00:c1a5::30"), 5, Duration::from_secs(10)));
    assert!(!mesh.ping(1, ip("fd00:c1a5::30"), 2, Duration::from_secs(3)));
    assert!(!mesh.ping(2, ip("fd00:c1a5::10"), 2, Duration::from_secs(3)));

    // meshctl warns about it, in `routes` and in `status`, naming both origins; not about the
    // LAN prefixes, which have one origin each.
    for args in [&["routes"][..], &["status"][..], &["--json", "routes"][..]] {
        let out = mesh.meshctl(1, args, COMMAND_TIMEOUT);
        assert!(out.success(), "meshctl {args:?}: {out}");
        let warnings: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .collect();
        assert_eq!(warnings.len(), 1, "meshctl {args:?}: {out}");
        let warning = warnings[0];
        assert!(
            warning.contains(CLASH)
                && warning.contains(&id0)
                && warning.contains(&id3)
                && warning.ends_with(&format!("the nearer one, {id0}")),
            "meshctl {args:?}: {warning}"
        );
    }
    // (An origin itself does not see the clash: the core ignores announcements of prefixes it
    // originates, so only the other nodes can warn.)
    eprintln!("LAN test done in {:?}", started.elapsed());
}
