//! meshctl, the operator's tool for a running meshd: it asks the daemon over its control socket
//! (one request, one reply; see the `meshd-control` crate) and prints the answer as a table or,
//! with `--json`, as JSON. It also makes WireGuard keys like `wg genkey` / `wg pubkey`, and
//! prints its own shell completions and man page (feature `docs`, on by default).
//!
//! Exit status: 0 success; 1 the daemon answered with an error, could not be reached, or a key
//! was malformed; 2 a usage error (clap's).

mod client;
mod format;
mod keys;

use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

#[cfg(feature = "docs")]
use clap::CommandFactory;
use clap::{Parser, Subcommand};
use control::{Data, Request};
use serde::Serialize;

use crate::format::Style;

/// The shape of `--json` output, shown by `meshctl --help` and in the man page.
const JSON_HELP: &str = "\
JSON output (--json):
  meshctl prints the data of meshd's reply as pretty JSON on stdout. Field names
  are those of the control protocol (crate meshd-control) and are stable; new
  fields may appear. Absent values are null, times are seconds, and a cost or
  metric of 65535 means infinite.

  status        {\"version\", \"router_id\", \"public_key\", \"mesh_address\",
                 \"uptime_s\", \"peers\", \"neighbours\", \"routes\", \"seqno\"}
  neighbours    [{\"peer\", \"link\", \"endpoint\", \"address\", \"rxcost\", \"txcost\",
                  \"rtt_ms\", \"cost\", \"hello_history\", \"last_handshake_s\",
                  \"rx_bytes\", \"tx_bytes\"}, ...]
  routes        [{\"prefix\", \"next_hop\", \"peer\", \"link\", \"metric\",
                  \"advertised_metric\", \"seqno\", \"router_id\", \"selected\",
                  \"feasible\", \"installed\", \"reason\"}, ...]
                the same routes, in the same order, as the table: without PREFIX
                and --all only the selected and local ones
  sources       [{\"prefix\", \"router_id\", \"seqno\", \"metric\"}, ...]
  peers         [{\"public_key\", \"link\", \"endpoint\", \"up\", \"last_handshake_s\",
                  \"rx_bytes\", \"tx_bytes\", \"runtime\", \"discovered\",
                  \"interface\"}, ...]
  refused       [{\"public_key\", \"reason\", \"place\", \"count\", \"last_seen_s\"}, ...]
  discovery     {\"policy\", \"community_id\", \"patterns\", \"port\", \"interfaces\":
                 [{\"name\", \"index\", \"link_local\", \"beacons_sent\",
                 \"bytes_sent\"}, ...], \"peers\", \"max_peers\",
                 \"beacons_received\", \"dropped\": {cause: count}}
  gateways      {\"sharing\", \"policy\", \"gateways\": [{\"router_id\", \"public_key\",
                  \"mesh_address\", \"metric_v6\", \"metric_v4\", \"via\", \"chosen_v6\",
                  \"chosen_v4\", \"flows\"}, ...], \"encapsulated\", \"decapsulated\",
                  \"dropped\"}
  peers add, peers remove, reload
                {\"message\"}
  monitor       one compact object per line, flushed as it comes:
                {\"time_s\", \"event\", ...}, event being neighbour_up,
                neighbour_down, neighbour_cost, route_added, route_changed,
                route_withdrawn, peer_up, peer_down, peer_roamed,
                peer_discovered or peer_refused, with that event's fields (link,
                address, cost, prefix, metric, public_key, endpoint, interface,
                reason, place)

  Errors are never JSON: they go to stderr as one line, with exit status 1.
  `routes` and `status` also warn on stderr about prefixes announced by more
  than one origin.

Output for people:
  Tables fit 80 columns; long addresses and ids are shortened with an ellipsis
  in the middle, keys to their first 8 characters (--json has every value
  whole). Hello histories, most recent first, are drawn as blocks (█ heard,
  ░ missed) on a terminal and as 1/0 otherwise. Colour is used on a terminal
  unless --no-color is given or NO_COLOR is set to a non-empty value.

Exit status:
  0 success; 1 meshd answered with an error, could not be reached, or a key was
  malformed; 2 the command line was wrong.";

#[derive(Debug, Parser)]
#[command(
    name = "meshctl",
    version,
    about = "Inspect and steer a running meshd",
    after_long_help = JSON_HELP
)]
struct Cli {
    /// meshd's control socket.
    #[arg(long, value_name = "PATH", default_value = control::DEFAULT_SOCKET, global = true)]
    socket: PathBuf,

    /// Print the reply as JSON (shapes: `meshctl --help`).
    #[arg(long, global = true)]
    json: bool,

    /// Never colour the output.
    #[arg(long, global = true)]
    no_color: bool,

    /// How long to wait for meshd to answer.
    #[arg(long, value_name = "SECONDS", default_value = "5", global = true,
          value_parser = parse_timeout)]
    timeout: Duration,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// This node: router-id, public key, mesh address, uptime, counts.
    Status,
    /// Neighbours and their link quality.
    #[command(visible_alias = "neighbors")]
    Neighbours,
    /// Routes: the selected ones, or every candidate for one prefix and why each lost.
    ///
    /// Flags: S selected, F feasible, I installed in the kernel.
    Routes {
        /// Show every candidate route for this prefix, best first, and why each loser lost.
        prefix: Option<String>,
        /// Show every candidate route, not only the selected and local ones.
        #[arg(long)]
        all: bool,
    },
    /// The source table (feasibility distances).
    Sources,
    /// WireGuard peers; with `add` or `remove`, changes them at runtime.
    Peers {
        #[command(subcommand)]
        action: Option<PeersAction>,
    },
    /// Re-read the configuration file, as SIGHUP does.
    Reload,
    /// Routers that asked to join and were refused, and why (membership policy, deny list,
    /// community secret, max_peers, handshake rate), most recent first.
    Refused,
    /// Discovery: the interfaces beacons go out on, what they cost, and what was dropped.
    Discovery,
    /// Print events as they happen, one per line, until Ctrl-C or meshd closes the socket.
    ///
    /// Each line starts with the UTC time it arrived and meshd's own clock (seconds since it
    /// started).
    Monitor,
    /// Internet gateways: each one's metric, the way to it, whether new connections go to
    /// it, and how many connections are pinned to it.
    Gateways,
    /// Print a new WireGuard private key (like `wg genkey`).
    Genkey,
    /// Read a private key on stdin and print its public key (like `wg pubkey`).
    Pubkey,
    /// Print shell completions.
    #[cfg(feature = "docs")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[cfg(feature = "docs")]
    Man,
}

#[derive(Debug, Subcommand)]
enum PeersAction {
    /// Add a peer at runtime (not written to the configuration file).
    Add {
        /// The peer's public key, base64.
        #[arg(value_parser = keys::parse_key_arg)]
        key: String,
        /// Its UDP endpoint, e.g. `[2001:db8::1]:51820` or `192.0.2.1:51820`.
        endpoint: Option<String>,
    },
    /// Remove a peer at runtime.
    Remove {
        /// The peer's public key, or a unique start of it of at least 4 characters (as
        /// `meshctl peers` shows it).
        key: String,
    },
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if secs.is_finite() && secs > 0.0 && secs <= 86400.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err("the timeout must be more than 0 and at most 86400 seconds".into())
    }
}

/// Why meshctl failed; each is printed as one `meshctl: ...` line and exits 1.
#[derive(Debug)]
enum Failure {
    Client(client::Error),
    Other(String),
}

impl From<client::Error> for Failure {
    fn from(e: client::Error) -> Failure {
        Failure::Client(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Other(e.to_string())
    }
}

/// meshctl itself: parses the command line, runs the command, and returns the exit status. The
/// `meshctl` binary is only this; meshd's multi-call build calls it when started as `meshctl`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`meshctl monitor | head`) is not an error.
        Err(Failure::Other(_)) if stdout_closed() => ExitCode::SUCCESS,
        Err(failure) => {
            match failure {
                Failure::Client(e) => eprintln!("meshctl: {e}"),
                Failure::Other(e) => eprintln!("meshctl: {e}"),
            }
            ExitCode::from(1)
        }
    }
}

/// Set once a write to stdout failed because nobody reads it any more.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Writes lines to stdout, flushed; remembers a closed pipe so it ends meshctl quietly.
fn emit(lines: &[String]) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    let result = lines
        .iter()
        .try_for_each(|l| writeln!(out, "{l}"))
        .and_then(|()| out.flush());
    if let Err(e) = &result {
        if e.kind() == io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    Ok(result?)
}

fn emit_json(value: &impl Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Other(e.to_string()))?;
    emit(&[text])
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let terminal = io::stdout().is_terminal();
    let style = Style {
        colour: terminal
            && !cli.no_color
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        blocks: terminal,
    };
    let ask = |request: Request| client::call(&cli.socket, &request, cli.timeout);
    match &cli.command {
        Command::Genkey => emit(&[keys::genkey()?]),
        Command::Pubkey => {
            let mut text = String::new();
            io::stdin()
                .take(4096)
                .read_to_string(&mut text)
                .map_err(|e| Failure::Other(format!("pubkey: cannot read stdin: {e}")))?;
            let public =
                keys::pubkey(&text).map_err(|e| Failure::Other(format!("pubkey: stdin: {e}")))?;
            emit(&[public])
        }
        #[cfg(feature = "docs")]
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "meshctl", &mut out);
            emit(&[String::from_utf8_lossy(&out).trim_end().to_string()])
        }
        #[cfg(feature = "docs")]
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            emit(&[String::from_utf8_lossy(&out).trim_end().to_string()])
        }
        Command::Status => {
            match ask(Request::Status)? {
                Data::Status(status) if cli.json => emit_json(&status)?,
                Data::Status(status) => emit(&format::status(&status, style))?,
                other => return unexpected(other),
            }
            warn_clashes(ask(Request::Routes { prefix: None }).ok());
            Ok(())
        }
        Command::Gateways => match ask(Request::Gateways)? {
            Data::Gateways {
                sharing,
                policy,
                gateways,
                encapsulated,
                decapsulated,
                dropped,
            } => {
                if cli.json {
                    emit_json(&serde_json::json!({
                        "sharing": sharing,
                        "policy": policy,
                        "gateways": gateways,
                        "encapsulated": encapsulated,
                        "decapsulated": decapsulated,
                        "dropped": dropped,
                    }))
                } else {
                    emit(&format::gateways(
                        sharing.as_deref(),
                        &policy,
                        &gateways,
                        (encapsulated, decapsulated, dropped),
                        style,
                    ))
                }
            }
            other => unexpected(other),
        },
        Command::Neighbours => match ask(Request::Neighbours)? {
            Data::Neighbours { neighbours } if cli.json => emit_json(&neighbours),
            Data::Neighbours { neighbours } => emit(&format::neighbours(&neighbours, style)),
            other => unexpected(other),
        },
        Command::Routes { prefix, all } => {
            let request = Request::Routes {
                prefix: prefix.clone(),
            };
            match ask(request)? {
                Data::Routes { mut routes } => {
                    warn_clashes(Some(Data::Routes {
                        routes: routes.clone(),
                    }));
                    let every = *all || prefix.is_some();
                    routes.retain(|r| every || format::shown_by_default(r));
                    format::sort_routes(&mut routes);
                    if cli.json {
                        emit_json(&routes)
                    } else {
                        emit(&format::routes(&routes, prefix.is_some(), style))
                    }
                }
                other => unexpected(other),
            }
        }
        Command::Sources => match ask(Request::Sources)? {
            Data::Sources { sources } if cli.json => emit_json(&sources),
            Data::Sources { sources } => emit(&format::sources(&sources, style)),
            other => unexpected(other),
        },
        Command::Peers { action: None } => match ask(Request::Peers)? {
            Data::Peers { peers } if cli.json => emit_json(&peers),
            Data::Peers { peers } => emit(&format::peers(&peers, style)),
            other => unexpected(other),
        },
        Command::Peers {
            action: Some(PeersAction::Add { key, endpoint }),
        } => done(
            cli,
            ask(Request::PeerAdd {
                public_key: key.clone(),
                endpoint: endpoint.clone(),
            })?,
        ),
        Command::Peers {
            action: Some(PeersAction::Remove { key }),
        } => {
            let public_key = full_key(&cli.socket, cli.timeout, key)?;
            done(cli, ask(Request::PeerRemove { public_key })?)
        }
        Command::Reload => done(cli, ask(Request::Reload)?),
        Command::Refused => match ask(Request::Refused)? {
            Data::Refused { refused } if cli.json => emit_json(&refused),
            Data::Refused { refused } => emit(&format::refused(&refused, style)),
            other => unexpected(other),
        },
        Command::Discovery => match ask(Request::Discovery)? {
            Data::Discovery(d) if cli.json => emit_json(&d),
            Data::Discovery(d) => emit(&format::discovery(&d, style)),
            other => unexpected(other),
        },
        Command::Monitor => monitor(cli, style),
    }
}

/// Prefix clashes, as warnings on stderr (so `--json` output stays clean).
fn warn_clashes(routes: Option<Data>) {
    if let Some(Data::Routes { routes }) = routes {
        for line in format::clashes(&routes) {
            eprintln!("{line}");
        }
    }
}

/// A full key for `peers remove`: the key itself, or the one peer whose key starts with what
/// was typed (so the short form `meshctl peers` shows can be pasted, ellipsis and all).
fn full_key(socket: &Path, timeout: Duration, typed: &str) -> Result<String, Failure> {
    if keys::decode(typed).is_ok() {
        return Ok(typed.trim().to_string());
    }
    let start = typed.trim().trim_end_matches('…');
    if start.chars().count() < 4 {
        return Err(Failure::Other(format!(
            "`{typed}` is neither a WireGuard key nor at least 4 characters of one"
        )));
    }
    let peers = match client::call(socket, &Request::Peers, timeout)? {
        Data::Peers { peers } => peers,
        other => return unexpected(other),
    };
    let matching: Vec<String> = peers
        .into_iter()
        .map(|p| p.public_key)
        .filter(|k| k.starts_with(start))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::Other(format!(
            "no peer's key starts with `{start}`"
        ))),
        many => Err(Failure::Other(format!(
            "`{start}` starts {} peers' keys; give more of the key",
            many.len()
        ))),
    }
}

/// The answer to a request that changes something.
fn done(cli: &Cli, data: Data) -> Result<(), Failure> {
    match data {
        Data::Done { message } if cli.json => emit_json(&serde_json::json!({ "message": message })),
        Data::Done { message } => emit(&[message]),
        other => unexpected(other),
    }
}

fn unexpected<T>(data: Data) -> Result<T, Failure> {
    let kind = serde_json::to_value(&data)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(String::from))
        .unwrap_or_default();
    Err(Failure::Other(format!(
        "meshd answered with unexpected data (`{kind}`); are meshd and meshctl the same version?"
    )))
}

fn monitor(cli: &Cli, style: Style) -> Result<(), Failure> {
    let mut failed = None;
    client::monitor(&cli.socket, cli.timeout, |data| {
        let Data::Event(event) = data else {
            // Nothing else belongs in the stream; skip it rather than stop watching.
            return true;
        };
        let line = if cli.json {
            serde_json::to_string(&event).unwrap_or_default()
        } else {
            format::event(SystemTime::now(), event.time_s, &event.what, style)
        };
        match emit(&[line]) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })?;
    failed.map_or(Ok(()), Err)
}
