//! Shared internet gateways, the gateway side: the nftables table that masquerades mesh traffic
//! leaving the uplink, and the forwarding switches the kernel needs for it.
//!
//! meshd owns exactly one table, `inet meshd`, and nothing else in nftables: it replaces the table
//! whole at start (so a table a crashed run left behind is flushed in the same transaction) and
//! deletes it on stop. The rules are generated here as an `nft -f` script and applied with the
//! `nft` command, which OpenWrt (fw4) and Debian both have.
//!
//! Masquerading covers IPv6 too: mesh addresses are ULAs, which the internet does not route.
//! The forward chain only counts and accepts; it cannot open what another table (the owner's
//! firewall) drops, which is the firewall's decision to make.

use std::io::Write;
use std::process::{Command, Stdio};

/// The nftables family and name of meshd's table.
pub const TABLE: &str = "inet meshd";

/// The `nft -f` script that (re)creates meshd's table for masquerading traffic from `mesh_if`
/// out of `uplink`. Interface names were checked by the configuration (no quotes or spaces).
pub fn ruleset(mesh_if: &str, uplink: &str) -> String {
    // `add` then `delete` makes the delete succeed whether or not a table was left behind; the
    // whole script is one transaction.
    format!(
        "add table {TABLE}\n\
         delete table {TABLE}\n\
         table {TABLE} {{\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"{mesh_if}\" oifname \"{uplink}\" counter accept comment \"mesh to uplink\"\n\
         \t\tiifname \"{uplink}\" oifname \"{mesh_if}\" ct state established,related counter accept comment \"uplink to mesh\"\n\
         \t}}\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tiifname \"{mesh_if}\" oifname \"{uplink}\" counter masquerade comment \"mesh behind the uplink address\"\n\
         \t}}\n\
         }}\n"
    )
}

/// The script that removes meshd's table (again without failing if it is not there).
pub fn removal() -> String {
    format!("add table {TABLE}\ndelete table {TABLE}\n")
}

/// Runs `nft -f -` with `script`.
fn nft(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| format!("writing to nft: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("waiting for nft: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Installs (or replaces) the table.
pub fn install(mesh_if: &str, uplink: &str) -> Result<(), String> {
    nft(&ruleset(mesh_if, uplink))
}

/// Removes the table.
pub fn remove() -> Result<(), String> {
    nft(&removal())
}

/// The sysctls a gateway needs: forwarding for both families.
const FORWARDING: [&str; 2] = [
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/ipv6/conf/all/forwarding",
];

/// Turns on forwarding where it is off; returns the switches it turned on, for the log.
pub fn enable_forwarding() -> Result<Vec<&'static str>, String> {
    let mut changed = Vec::new();
    for path in FORWARDING {
        let current = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
        if current.trim() != "1" {
            std::fs::write(path, "1").map_err(|e| format!("setting {path} to 1: {e}"))?;
            changed.push(path);
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ruleset_masquerades_mesh_traffic_out_of_the_uplink_only() {
        let script = ruleset("mesh0", "wan");
        let lines: Vec<&str> = script.lines().map(str::trim).collect();
        assert_eq!(lines[0], "add table inet meshd");
        assert_eq!(lines[1], "delete table inet meshd");
        assert_eq!(lines[2], "table inet meshd {");
        let masquerade: Vec<&&str> = lines.iter().filter(|l| l.contains("masquerade")).collect();
        assert_eq!(masquerade.len(), 1);
        assert!(masquerade[0].starts_with("iifname \"mesh0\" oifname \"wan\" counter masquerade"));
        assert!(script.contains("type nat hook postrouting priority srcnat; policy accept;"));
        assert!(script.contains("type filter hook forward priority filter; policy accept;"));
        assert!(script.contains(
            "iifname \"wan\" oifname \"mesh0\" ct state established,related counter accept"
        ));
        // No rule names a table, hook or interface other than ours.
        assert!(!script.contains("drop"));
        assert_eq!(script.matches("table ").count(), 3);
        // Braces balance, so nft reads one table with two chains.
        assert_eq!(script.matches('{').count(), script.matches('}').count());
        assert_eq!(script.matches("chain ").count(), 2);
    }

    #[test]
    fn interface_names_are_used_as_given() {
        let script = ruleset("mesh-1", "eth0.2");
        assert!(script.contains("iifname \"mesh-1\" oifname \"eth0.2\" counter masquerade"));
        assert!(!script.contains("\"mesh0\""));
    }

    #[test]
    fn removal_never_fails_on_a_missing_table() {
        assert_eq!(removal(), "add table inet meshd\ndelete table inet meshd\n");
    }
}
