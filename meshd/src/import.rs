//! meshd's import policy (docs/import-policy.md): the Babel core's [`babel::ImportFilter`] made
//! from the configuration and the networks the router has itself, and the words a refusal is
//! shown with. Reading those networks from the kernel is `kernel/networks.rs`'s job; following
//! their changes is the driver's (`daemon/importing.rs`).

use babel::{ImportFilter, Refusal};

use crate::config::{Config, GatewayUse};
use crate::kernel::networks::{interface_of, LocalNetwork};

/// The filter for `config` on a router that has `networks`:
/// - martians, and a route equal to or inside one of `networks`, are always refused;
/// - a /128 inside the mesh prefix must be announced by the router-id derived from the same key
///   (the low 64 bits of the address, `identity.rs`);
/// - allowed: the mesh prefix, `[import] ipv4_range`, `[import] allow`, and the default routes
///   unless `[gateway] use = "none"`; `[import] refuse` wins over all of them.
pub fn filter(config: &Config, networks: &[LocalNetwork]) -> ImportFilter {
    let mut allowed = vec![config.node.mesh_prefix];
    allowed.extend(config.import.ipv4_range);
    allowed.extend(config.import.allow.iter().copied());
    ImportFilter {
        local_networks: networks.iter().map(|n| n.network).collect(),
        refused: config.import.refuse.clone(),
        allowed: Some(allowed),
        allow_default_routes: config.gateway.use_gateway != GatewayUse::None,
        identity_prefix: Some(config.node.mesh_prefix),
    }
}

/// What `meshctl routes --all` and the monitor say about a refusal: "overlaps lan0
/// 192.0.2.0/24", "martian", "not in import policy".
pub fn describe(refusal: Refusal, networks: &[LocalNetwork]) -> String {
    match refusal {
        Refusal::Overlaps(network) => match interface_of(networks, network) {
            Some(interface) => format!("overlaps {interface} {network}"),
            None => format!("overlaps {network}"),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use babel::{Prefix, RouterId};

    fn p(text: &str) -> Prefix {
        text.parse().unwrap()
    }

    fn network(interface: &str, text: &str) -> LocalNetwork {
        LocalNetwork {
            network: p(text),
            interface: interface.into(),
        }
    }

    const R: RouterId = RouterId([1, 2, 3, 4, 5, 6, 7, 8]);

    /// A router with a LAN in both families and an uplink whose gateway is not inside any
    /// subnet of its own (an on-link or point-to-point gateway).
    fn home() -> Vec<LocalNetwork> {
        vec![
            network("lan0", "192.0.2.0/24"),
            network("lan0", "192.0.2.1/32"),
            network("lan0", "2001:db8:aa::/64"),
            network("lan0", "2001:db8:aa::1/128"),
            network("wan0", "203.0.113.1/32"),
        ]
    }

    fn judge(config: &Config, text: &str) -> Option<String> {
        let networks = home();
        filter(config, &networks)
            .judge(p(text), R)
            .map(|r| describe(r, &networks))
    }

    fn permissive() -> Config {
        let mut config = Config::default();
        config.import.allow = vec![p("::/0"), p("0.0.0.0/0")];
        config
    }

    #[test]
    fn the_owners_networks_are_never_taken_whatever_the_policy() {
        let config = permissive();
        let overlaps = |text: &str, what: &str| {
            assert_eq!(judge(&config, text).as_deref(), Some(what), "{text}");
        };
        overlaps("192.0.2.0/25", "overlaps lan0 192.0.2.0/24");
        overlaps("192.0.2.0/24", "overlaps lan0 192.0.2.0/24");
        overlaps("192.0.2.7/32", "overlaps lan0 192.0.2.0/24");
        overlaps("2001:db8:aa::/65", "overlaps lan0 2001:db8:aa::/64");
        overlaps("203.0.113.1/32", "overlaps wan0 203.0.113.1/32");
        // Shorter routes around them are fine: the router's own route is longer.
        for text in [
            "192.0.0.0/16",
            "0.0.0.0/0",
            "::/0",
            "2001:db8::/32",
            "203.0.113.0/24",
        ] {
            assert_eq!(judge(&config, text), None, "{text}");
        }
        assert_eq!(judge(&config, "fe80::/64").as_deref(), Some("martian"));
    }

    #[test]
    fn the_default_policy_takes_the_mesh_and_default_routes_only() {
        let mut config = Config::default();
        let own = "fd6d:6573:6800:7a7a:102:304:506:708/128";
        assert_eq!(judge(&config, own), None);
        assert_eq!(judge(&config, "::/0"), None);
        assert_eq!(judge(&config, "0.0.0.0/0"), None);
        for text in ["2001:db8:bb::/64", "198.51.100.9/32", "fd00::/8"] {
            assert_eq!(
                judge(&config, text).as_deref(),
                Some("not in import policy"),
                "{text}"
            );
        }
        config.import.ipv4_range = Some(p("198.51.100.0/24"));
        config.import.allow = vec![p("2001:db8:bb::/48")];
        config.import.refuse = vec![p("2001:db8:bb:66::/64")];
        assert_eq!(judge(&config, "198.51.100.9/32"), None);
        assert_eq!(judge(&config, "2001:db8:bb::/64"), None);
        assert_eq!(
            judge(&config, "2001:db8:bb:66::/64").as_deref(),
            Some("refused by import policy (2001:db8:bb:66::/64)")
        );
        config.gateway.use_gateway = GatewayUse::None;
        assert_eq!(
            judge(&config, "::/0").as_deref(),
            Some("not in import policy")
        );
        assert_eq!(
            judge(&config, "0.0.0.0/0").as_deref(),
            Some("not in import policy")
        );
    }

    #[test]
    fn a_mesh_address_belongs_to_the_key_it_is_derived_from() {
        let config = Config::default();
        let key = crate::keys::PublicKey([7; 32]);
        let identity = crate::identity::Identity::derive(&key, config.node.mesh_prefix);
        let address = Prefix::new(std::net::IpAddr::V6(identity.mesh_address), 128).unwrap();
        let filter = filter(&config, &[]);
        assert_eq!(filter.judge(address, identity.router_id), None);
        assert_eq!(filter.judge(address, R), Some(Refusal::ForeignAddress));
    }
}
