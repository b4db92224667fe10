//! meshctl, the operator's tool for a running meshd: it asks the daemon over its control socket
//! (one request, one reply; see the `meshd-control` crate) and prints the answer as a table or,
//! with `--json`, as JSON. It also makes WireGuard keys like `wg genkey` / `wg pubkey`, and
//! prints its own shell completions and man page (feature `docs`, on by default).
//!
//! Exit status: 0 success; 1 the daemon answered with an error, could not be reached, or a key
//! was malformed; 2 a usage error (`args`, which parses the command line by hand).

mod args;
mod client;
mod format;
mod keys;
mod terminal;

use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use control::{Data, Request};
use serde::Serialize;

use crate::args::{Cli, Command, Parsed, PeersAction};
use crate::format::Style;

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
    let result = match args::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(cli)) => run(&cli),
        Ok(Parsed::Help(text)) => emit(&[text]),
        Ok(Parsed::Version) => emit(&[args::version()]),
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    match result {
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
        width: terminal::width(),
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
            clap_complete::generate(*shell, &mut args::clap_command(), "meshctl", &mut out);
            emit(&[String::from_utf8_lossy(&out).trim_end().to_string()])
        }
        #[cfg(feature = "docs")]
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(args::clap_command()).render(&mut out)?;
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
