//! Hosts and uplinks beside the mesh: namespaces of a [`Mesh`] that run no meshd (a host on a
//! router's LAN, an "internet" behind gateways), joined to a router by a plain veth pair that is
//! not a mesh link (no `[[peer]]` in any configuration), and what the LAN and gateway tests need
//! to look at: meshctl's answers and the gateway's nftables counters.
//!
//! Everything here stays inside the mesh's own namespaces, which [`Mesh`]'s drop deletes with
//! their veths, addresses, routes and nftables tables.

use std::time::Duration;

use crate::{must, Mesh, COMMAND_TIMEOUT};

impl Mesh {
    /// Joins nodes `a` and `b` with a veth pair, `if_a` in a and `if_b` in b, both up, without
    /// DAD and without addresses: a LAN cable or an uplink, not a tunnel underlay.
    #[track_caller]
    pub fn plain_link(&mut self, a: usize, b: usize, if_a: &str, if_b: &str) {
        let (ns_a, ns_b) = (self.nodes[a].ns.clone(), self.nodes[b].ns.clone());
        must(&[
            "ip", "link", "add", if_a, "netns", &ns_a, "type", "veth", "peer", "name", if_b,
            "netns", &ns_b,
        ]);
        for (node, ifname) in [(a, if_a), (b, if_b)] {
            self.must_run_in(
                node,
                &[
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{ifname}.accept_dad=0"),
                ],
            );
            self.must_run_in(node, &["ip", "link", "set", ifname, "up"]);
        }
    }

    /// Runs a short command in node `i`'s namespace; panics with its output if it fails.
    #[track_caller]
    pub fn must_run_in(&self, i: usize, argv: &[&str]) -> String {
        let out = self.run_in(i, argv, COMMAND_TIMEOUT);
        assert!(
            out.success(),
            "`{}` in node {i} failed: {out}",
            argv.join(" ")
        );
        out.stdout
    }

    /// Puts `cidr` (`192.0.2.1/25`, `fd00:a::1/64`) on `ifname` in node `i`.
    #[track_caller]
    pub fn add_address(&self, i: usize, ifname: &str, cidr: &str) {
        let mut argv = vec!["ip", "addr", "add", cidr, "dev", ifname];
        if cidr.contains(':') {
            argv.push("nodad");
        }
        self.must_run_in(i, &argv);
    }

    /// `ip route add <destination> via <gateway>` in node `i` (`default` is fine).
    #[track_caller]
    pub fn add_route_via(&self, i: usize, destination: &str, gateway: &str) {
        let family = if gateway.contains(':') { "-6" } else { "-4" };
        self.must_run_in(
            i,
            &["ip", family, "route", "add", destination, "via", gateway],
        );
    }

    /// [`Mesh::config_text`] with `prefixes` announced in `[node]` and `extra` (say a
    /// `[gateway]` table) appended.
    pub fn config_with(&self, i: usize, prefixes: &[&str], extra: &str) -> String {
        let list: Vec<String> = prefixes.iter().map(|p| format!("\"{p}\"")).collect();
        let text = self.config_text(i).replacen(
            "[node]\n",
            &format!("[node]\nprefixes = [{}]\n", list.join(", ")),
            1,
        );
        format!("{text}\n{extra}")
    }

    /// The bytes node `i`'s meshd table has forwarded from the mesh to its uplink (the counter of
    /// the `mesh to uplink` rule of `table inet meshd`), or `None` if there is no such table.
    pub fn gateway_forwarded_bytes(&self, i: usize) -> Option<u64> {
        let out = self.run_in(
            i,
            &["nft", "list", "chain", "inet", "meshd", "forward"],
            COMMAND_TIMEOUT,
        );
        if !out.success() {
            return None;
        }
        let line = out.stdout.lines().find(|l| l.contains("mesh to uplink"))?;
        let mut words = line.split_whitespace();
        words.find(|w| *w == "bytes")?;
        words.next()?.parse().ok()
    }
}

/// How long the LAN and gateway tests wait for one thing to happen.
pub const CONVERGE: Duration = Duration::from_secs(30);
