//! meshd: the community mesh router daemon. One WireGuard session per neighbour (boringtun's
//! `noise::Tunn`, all on one UDP socket), Babel (the `babel` crate) inside the tunnels, userspace
//! forwarding between the tunnels and the TUN device `mesh0`, and kernel routes over rtnetlink.
//!
//! `daemon.rs` is the driver: it parses the command line (`--config`, `--uci`, `--check-config`,
//! `--check-uci`), runs the event loop and is the only code that reads the clock for the protocol;
//! the other modules are the parts it drives. `docs/architecture.md` follows one packet and one
//! route through them. Built with the feature `meshctl`, the same binary is meshctl when started
//! under that name.

mod config;
mod control;
mod daemon;
mod discovery;
mod forward;
mod gateway;
mod http;
mod identity;
mod import;
mod inner;
#[cfg(test)]
mod ip;
mod kernel;
mod keys;
mod logging;
mod membership;
mod metrics;
mod nat;
mod state;
mod tun;
mod tunnel;
mod uci;

fn main() -> std::process::ExitCode {
    #[cfg(feature = "meshctl")]
    if started_as_meshctl() {
        return meshctl::main();
    }
    daemon::main()
}

/// The multi-call build (feature `meshctl`) is meshctl when the file it was started as, the last
/// part of `argv[0]`, is named `meshctl`: a symlink to meshd, as the OpenWrt package installs.
#[cfg(feature = "meshctl")]
fn started_as_meshctl() -> bool {
    std::env::args_os()
        .next()
        .is_some_and(|arg0| std::path::Path::new(&arg0).file_name() == Some("meshctl".as_ref()))
}
