//! meshd: the community mesh router daemon. One WireGuard session per neighbour (boringtun's
//! `noise::Tunn`, all on one UDP socket), Babel (the `babel` crate) inside the tunnels, userspace
//! forwarding between the tunnels and the TUN device `mesh0`, and kernel routes over rtnetlink.
//!
//! This binary is being built; until the daemon issue lands it only checks configurations.

mod config;
mod control;
mod daemon;
mod forward;
mod gateway;
mod identity;
mod inner;
mod kernel;
mod keys;
mod logging;
mod nat;
mod state;
mod tun;
mod tunnel;
mod uci;

fn main() -> std::process::ExitCode {
    daemon::main()
}
