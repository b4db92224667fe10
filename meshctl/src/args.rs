//! meshctl's command line, parsed by hand (as meshd parses its own) rather than with clap, whose
//! parser cost the router build about 100 KiB (openwrt/SIZES.md).
//!
//! Everything meshctl accepts is in one static table, [`ROOT`]: commands with their aliases,
//! options, arguments and doc texts. The parser walks it, the help texts are drawn from it, and
//! with feature `docs` the `clap::Command` behind `meshctl completions` and `meshctl man` is
//! built from it too, so none of them can disagree with another.
//!
//! The grammar: a command's options go anywhere after it, and the root's global ones (all but
//! `--version`) anywhere at all; an option is `--name`, `--name VALUE` (the value is the next
//! argument, whatever it looks like), `--name=VALUE`, or `-h` / `-V`; `--` ends the options;
//! each option may be given once. Help and version are printed as soon as they are seen.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::keys;

/// The shape of `--json` output, shown by `meshctl --help` and in the man page.
pub const JSON_HELP: &str = "\
JSON output (--json):
  meshctl prints the data of meshd's reply as pretty JSON on stdout. Field names
  are those of the control protocol (crate meshd-control) and are stable; new
  fields may appear. Absent values are null, times are seconds, and a cost or
  metric of 65535 means infinite.

  status        {\"version\", \"router_id\", \"public_key\", \"mesh_address\",
                 \"uptime_s\", \"peers\", \"neighbours\", \"routes\", \"seqno\"}
  neighbours    [{\"peer\", \"link\", \"endpoint\", \"address\", \"rxcost\", \"txcost\",
                  \"rtt_ms\", \"cost\", \"hello_history\", \"last_handshake_s\",
                  \"rx_bytes\", \"tx_bytes\", \"refused_routes\", \"routes\",
                  \"routes_over_limit\"}, ...]
  routes        [{\"prefix\", \"next_hop\", \"peer\", \"link\", \"metric\",
                  \"advertised_metric\", \"seqno\", \"router_id\", \"selected\",
                  \"feasible\", \"installed\", \"reason\", \"refusal\"}, ...]
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
                route_withdrawn, route_refused, route_limit, peer_up,
                peer_down, peer_roamed, peer_discovered or peer_refused, with
                that event's fields (\"link\", \"address\", \"cost\", \"prefix\",
                \"metric\", \"router_id\", \"peer\", \"public_key\", \"endpoint\",
                \"interface\", \"reason\", \"place\", \"limit\")

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

/// Help is laid out for terminals this wide.
const WIDTH: usize = 80;

// ---- The table ----

/// One command (or the root, `meshctl` itself).
#[derive(Debug)]
pub struct Cmd {
    pub name: &'static str,
    /// Other names it answers to, shown in help.
    pub aliases: &'static [&'static str],
    /// Which command it is, for turning what was parsed into a [`Command`].
    pub what: What,
    /// Its help: the first paragraph (without its full stop) is the one-line summary, the whole
    /// text is the top of its `--help`.
    pub doc: &'static str,
    /// Printed at the end of `--help` (not `-h`).
    pub after_long: &'static str,
    pub opts: &'static [Opt],
    pub args: &'static [Arg],
    pub subs: &'static [Cmd],
}

/// Which command a [`Cmd`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    Root,
    Status,
    Neighbours,
    Routes,
    Sources,
    Peers,
    PeersAdd,
    PeersRemove,
    Reload,
    Refused,
    Discovery,
    Monitor,
    Gateways,
    Genkey,
    Pubkey,
    #[cfg(feature = "docs")]
    Completions,
    #[cfg(feature = "docs")]
    Man,
    Help,
}

/// An option: `--long`, and `-s` if it has a short name.
#[derive(Debug)]
pub struct Opt {
    pub long: &'static str,
    pub short: Option<char>,
    pub kind: OptKind,
    /// Shown in help; what a missing option with a value means.
    pub default: Option<&'static str>,
    /// Accepted after the command too (only the root's options can be).
    pub global: bool,
    pub doc: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptKind {
    /// On or off.
    Flag,
    /// Takes a value, named so in help.
    Value(&'static str),
    /// Takes a file's path (completions offer files), named so in help.
    Path(&'static str),
    /// `-h` prints the short help, `--help` the long one.
    Help,
    Version,
}

/// A positional argument.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub required: bool,
    /// Takes all the remaining arguments (only the last one can).
    pub many: bool,
    /// The values it takes, if only some; empty for any.
    pub values: &'static [&'static str],
    pub doc: &'static str,
}

const SOCKET: Opt = Opt {
    long: "socket",
    short: None,
    kind: OptKind::Path("PATH"),
    default: Some(control::DEFAULT_SOCKET),
    global: true,
    doc: "meshd's control socket.",
};
const JSON: Opt = Opt {
    long: "json",
    short: None,
    kind: OptKind::Flag,
    default: None,
    global: true,
    doc: "Print the reply as JSON (shapes: `meshctl --help`).",
};
const NO_COLOR: Opt = Opt {
    long: "no-color",
    short: None,
    kind: OptKind::Flag,
    default: None,
    global: true,
    doc: "Never colour the output.",
};
const TIMEOUT: Opt = Opt {
    long: "timeout",
    short: None,
    kind: OptKind::Value("SECONDS"),
    default: Some("5"),
    global: true,
    doc: "How long to wait for meshd to answer.",
};
const HELP: Opt = Opt {
    long: "help",
    short: Some('h'),
    kind: OptKind::Help,
    default: None,
    global: true,
    doc: "Print help (-h: a summary, --help: all of it).",
};
const VERSION: Opt = Opt {
    long: "version",
    short: Some('V'),
    kind: OptKind::Version,
    default: None,
    global: false,
    doc: "Print the version.",
};

/// `help [COMMAND]...`, under the root and under each command that has commands of its own.
const HELP_CMD: Cmd = Cmd {
    name: "help",
    aliases: &[],
    what: What::Help,
    doc: "Print this help, or the help of the given command.",
    after_long: "",
    opts: &[],
    args: &[Arg {
        name: "COMMAND",
        required: false,
        many: true,
        values: &[],
        doc: "The command, and its subcommand if it has one.",
    }],
    subs: &[],
};

/// A command with no options or arguments of its own.
const fn plain(name: &'static str, what: What, doc: &'static str) -> Cmd {
    Cmd {
        name,
        aliases: &[],
        what,
        doc,
        after_long: "",
        opts: &[],
        args: &[],
        subs: &[],
    }
}

/// meshctl's whole command line.
pub static ROOT: Cmd = Cmd {
    name: "meshctl",
    aliases: &[],
    what: What::Root,
    doc: "Inspect and steer a running meshd",
    after_long: JSON_HELP,
    opts: &[SOCKET, JSON, NO_COLOR, TIMEOUT, HELP, VERSION],
    args: &[],
    subs: &[
        plain(
            "status",
            What::Status,
            "This node: router-id, public key, mesh address, uptime, counts.",
        ),
        Cmd {
            aliases: &["neighbors"],
            ..plain(
                "neighbours",
                What::Neighbours,
                "Neighbours and their link quality.",
            )
        },
        Cmd {
            opts: &[Opt {
                long: "all",
                short: None,
                kind: OptKind::Flag,
                default: None,
                global: false,
                doc: "Show every candidate route, not only the selected and local ones.",
            }],
            args: &[Arg {
                name: "PREFIX",
                required: false,
                many: false,
                values: &[],
                doc: "Show every candidate route for this prefix, best first, and why each \
                      loser lost.",
            }],
            ..plain(
                "routes",
                What::Routes,
                "Routes: the selected ones, or every candidate for one prefix and why each \
                 lost.\n\nFlags: S selected, F feasible, I installed in the kernel.",
            )
        },
        plain(
            "sources",
            What::Sources,
            "The source table (feasibility distances).",
        ),
        Cmd {
            subs: &[
                Cmd {
                    args: &[
                        Arg {
                            name: "KEY",
                            required: true,
                            many: false,
                            values: &[],
                            doc: "The peer's public key, base64.",
                        },
                        Arg {
                            name: "ENDPOINT",
                            required: false,
                            many: false,
                            values: &[],
                            doc: "Its UDP endpoint, e.g. `[2001:db8::1]:51820` or \
                                  `192.0.2.1:51820`.",
                        },
                    ],
                    ..plain(
                        "add",
                        What::PeersAdd,
                        "Add a peer at runtime (not written to the configuration file).",
                    )
                },
                Cmd {
                    args: &[Arg {
                        name: "KEY",
                        required: true,
                        many: false,
                        values: &[],
                        doc: "The peer's public key, or a unique start of it of at least 4 \
                              characters (as `meshctl peers` shows it).",
                    }],
                    ..plain("remove", What::PeersRemove, "Remove a peer at runtime.")
                },
                HELP_CMD,
            ],
            ..plain(
                "peers",
                What::Peers,
                "WireGuard peers; with `add` or `remove`, changes them at runtime.",
            )
        },
        plain(
            "reload",
            What::Reload,
            "Re-read the configuration file, as SIGHUP does.",
        ),
        plain(
            "refused",
            What::Refused,
            "Routers that asked to join and were refused, and why (membership policy, deny \
             list, community secret, max_peers, handshake rate), most recent first.",
        ),
        plain(
            "discovery",
            What::Discovery,
            "Discovery: the interfaces beacons go out on, what they cost, and what was dropped.",
        ),
        plain(
            "monitor",
            What::Monitor,
            "Print events as they happen, one per line, until Ctrl-C or meshd closes the \
             socket.\n\nEach line starts with the UTC time it arrived and meshd's own clock \
             (seconds since it started).",
        ),
        plain(
            "gateways",
            What::Gateways,
            "Internet gateways: each one's metric, the way to it, whether new connections go \
             to it, and how many connections are pinned to it.",
        ),
        plain(
            "genkey",
            What::Genkey,
            "Print a new WireGuard private key (like `wg genkey`).",
        ),
        plain(
            "pubkey",
            What::Pubkey,
            "Read a private key on stdin and print its public key (like `wg pubkey`).",
        ),
        #[cfg(feature = "docs")]
        Cmd {
            args: &[Arg {
                name: "SHELL",
                required: true,
                many: false,
                // clap_complete::Shell's names (a test checks).
                values: &["bash", "elvish", "fish", "powershell", "zsh"],
                doc: "The shell to complete meshctl's command line in.",
            }],
            ..plain("completions", What::Completions, "Print shell completions.")
        },
        #[cfg(feature = "docs")]
        plain("man", What::Man, "Print the man page (roff)."),
        HELP_CMD,
    ],
};

// ---- What is parsed ----

/// A command line to run.
#[derive(Debug, PartialEq)]
pub struct Cli {
    pub socket: PathBuf,
    pub json: bool,
    pub no_color: bool,
    pub timeout: Duration,
    pub command: Command,
}

#[derive(Debug, PartialEq)]
pub enum Command {
    Status,
    Neighbours,
    Routes {
        prefix: Option<String>,
        all: bool,
    },
    Sources,
    Peers {
        action: Option<PeersAction>,
    },
    Reload,
    Refused,
    Discovery,
    Monitor,
    Gateways,
    Genkey,
    Pubkey,
    #[cfg(feature = "docs")]
    Completions {
        shell: clap_complete::Shell,
    },
    #[cfg(feature = "docs")]
    Man,
}

#[derive(Debug, PartialEq)]
pub enum PeersAction {
    Add {
        key: String,
        endpoint: Option<String>,
    },
    Remove {
        key: String,
    },
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Cli),
    /// Help to print on stdout (without a final newline).
    Help(String),
    /// `--version`: print [`version`].
    Version,
}

/// What `meshctl --version` prints.
pub fn version() -> String {
    format!("meshctl {}", env!("CARGO_PKG_VERSION"))
}

/// A command line meshctl cannot run: exit status 2.
#[derive(Debug, PartialEq, Eq)]
pub struct Usage {
    /// What is wrong, naming the argument.
    pub message: String,
    /// The command whose help has the answer, as typed: `meshctl peers add`.
    pub command: String,
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "meshctl: {}\nTry '{} --help'.",
            self.message, self.command
        )
    }
}

/// How long to wait for meshd: `--timeout`'s value.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if secs.is_finite() && secs > 0.0 && secs <= 86400.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err("the timeout must be more than 0 and at most 86400 seconds".into())
    }
}

// ---- The parser ----

/// Where the parser is: the commands typed so far, from the root.
struct At(Vec<&'static Cmd>);

impl At {
    fn cmd(&self) -> &'static Cmd {
        self.0.last().copied().unwrap_or(&ROOT)
    }

    /// `meshctl peers add`.
    fn name(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|c| c.name).collect();
        names.join(" ")
    }

    /// The options it accepts: its own, then the root's global ones.
    fn opts(&self) -> impl Iterator<Item = &'static Opt> {
        let cmd = self.cmd();
        let globals = if self.0.len() > 1 { ROOT.opts } else { &[] };
        cmd.opts.iter().chain(globals.iter().filter(|o| o.global))
    }

    fn usage(&self, message: String) -> Usage {
        Usage {
            message,
            command: self.name(),
        }
    }
}

fn lossy(arg: &OsStr) -> String {
    arg.to_string_lossy().into_owned()
}

fn utf8(at: &At, arg: OsString) -> Result<String, Usage> {
    arg.into_string()
        .map_err(|arg| at.usage(format!("'{}' is not valid UTF-8", lossy(&arg))))
}

/// Parses meshctl's arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, Usage> {
    let mut at = At(vec![&ROOT]);
    let mut given: Vec<(&'static Opt, Option<OsString>)> = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    let mut options_ended = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let bytes = arg.as_bytes();
        if !options_ended && bytes == b"--" {
            options_ended = true;
            continue;
        }
        if !options_ended && bytes.len() > 1 && bytes[0] == b'-' {
            // `--name`, `--name=value` or `-x`.
            let (name, inline) = match bytes.iter().position(|&b| b == b'=') {
                Some(i) if bytes.starts_with(b"--") => (
                    &bytes[..i],
                    Some(OsStr::from_bytes(&bytes[i + 1..]).to_os_string()),
                ),
                _ => (bytes, None),
            };
            let opt = at.opts().find(|o| match name.strip_prefix(b"--") {
                Some(long) => long == o.long.as_bytes(),
                None => o.short.is_some_and(|s| name == format!("-{s}").as_bytes()),
            });
            let Some(opt) = opt else {
                return Err(at.usage(format!("unknown option '{}'", lossy(&arg))));
            };
            let value = match (opt.kind, inline) {
                (OptKind::Value(_) | OptKind::Path(_), Some(value)) => Some(value),
                (OptKind::Value(value_name) | OptKind::Path(value_name), None) => match args.next()
                {
                    Some(value) => Some(value),
                    None => {
                        return Err(at.usage(format!(
                            "'--{0}' needs a value: --{0} {value_name}",
                            opt.long
                        )))
                    }
                },
                (_, Some(_)) => {
                    return Err(at.usage(format!("'--{}' takes no value", opt.long)));
                }
                (OptKind::Help, None) => {
                    return Ok(Parsed::Help(help(&at, bytes == b"--help")));
                }
                (OptKind::Version, None) => return Ok(Parsed::Version),
                (OptKind::Flag, None) => None,
            };
            if given.iter().any(|(o, _)| o.long == opt.long) {
                return Err(at.usage(format!("'--{}' is given more than once", opt.long)));
            }
            given.push((opt, value));
            continue;
        }
        let arg = utf8(&at, arg)?;
        let cmd = at.cmd();
        if !cmd.subs.is_empty() {
            let sub = cmd
                .subs
                .iter()
                .find(|s| s.name == arg || s.aliases.contains(&arg.as_str()));
            match sub {
                Some(sub) => at.0.push(sub),
                None => return Err(at.usage(format!("unrecognized subcommand '{arg}'"))),
            }
        } else if positional.len() < cmd.args.len() || cmd.args.last().is_some_and(|a| a.many) {
            positional.push(arg);
        } else {
            return Err(at.usage(format!("unexpected argument '{arg}'")));
        }
    }
    let cmd = at.cmd();
    match cmd.what {
        What::Root => return Err(at.usage("no command given".into())),
        What::Help => return help_for(&at, positional).map(Parsed::Help),
        _ => {}
    }
    for (i, arg) in cmd.args.iter().enumerate() {
        if arg.required && positional.len() <= i {
            return Err(at.usage(format!("missing {} (usage: {})", arg.name, usage_line(&at))));
        }
    }
    let value = |name: &str| {
        given
            .iter()
            .find(|(o, _)| o.long == name)
            .and_then(|(_, v)| v.clone())
    };
    let flag = |name: &str| {
        debug_assert!(
            at.opts().any(|o| o.long == name),
            "no --{name} in the table"
        );
        given.iter().any(|(o, _)| o.long == name)
    };
    let timeout_text = match value(TIMEOUT.long) {
        Some(text) => utf8(&at, text)?,
        None => TIMEOUT.default.unwrap_or_default().to_string(),
    };
    let timeout = parse_timeout(&timeout_text).map_err(|why| {
        at.usage(format!(
            "invalid value '{timeout_text}' for '--{}': {why}",
            TIMEOUT.long
        ))
    })?;
    let mut positional = positional.into_iter();
    let command = match cmd.what {
        // Handled above.
        What::Root | What::Help => return Err(at.usage("no command given".into())),
        What::Status => Command::Status,
        What::Neighbours => Command::Neighbours,
        What::Routes => Command::Routes {
            prefix: positional.next(),
            all: flag("all"),
        },
        What::Sources => Command::Sources,
        What::Peers => Command::Peers { action: None },
        What::PeersAdd => {
            let key = positional.next().unwrap_or_default();
            let key = keys::parse_key_arg(&key)
                .map_err(|why| at.usage(format!("invalid value '{key}' for KEY: {why}")))?;
            Command::Peers {
                action: Some(PeersAction::Add {
                    key,
                    endpoint: positional.next(),
                }),
            }
        }
        What::PeersRemove => Command::Peers {
            action: Some(PeersAction::Remove {
                key: positional.next().unwrap_or_default(),
            }),
        },
        What::Reload => Command::Reload,
        What::Refused => Command::Refused,
        What::Discovery => Command::Discovery,
        What::Monitor => Command::Monitor,
        What::Gateways => Command::Gateways,
        What::Genkey => Command::Genkey,
        What::Pubkey => Command::Pubkey,
        #[cfg(feature = "docs")]
        What::Completions => {
            let text = positional.next().unwrap_or_default();
            let shell = text.parse().map_err(|_| {
                let names = cmd.args.first().map(|a| a.values).unwrap_or_default();
                at.usage(format!(
                    "invalid value '{text}' for SHELL: it is one of {}",
                    names.join(", ")
                ))
            })?;
            Command::Completions { shell }
        }
        #[cfg(feature = "docs")]
        What::Man => Command::Man,
    };
    let socket = value(SOCKET.long).unwrap_or_else(|| SOCKET.default.unwrap_or_default().into());
    Ok(Parsed::Run(Cli {
        socket: PathBuf::from(socket),
        json: flag(JSON.long),
        no_color: flag(NO_COLOR.long),
        timeout,
        command,
    }))
}

/// `help COMMAND...`: the long help of that command, looked up from where `help` was typed.
fn help_for(at: &At, names: Vec<String>) -> Result<String, Usage> {
    // Drop `help` itself.
    let mut path = At(at.0[..at.0.len().saturating_sub(1)].to_vec());
    for name in names {
        let sub = path
            .cmd()
            .subs
            .iter()
            .find(|s| s.name == name || s.aliases.contains(&name.as_str()));
        match sub {
            Some(sub) => path.0.push(sub),
            None => return Err(path.usage(format!("unrecognized subcommand '{name}'"))),
        }
    }
    Ok(help(&path, true))
}

// ---- Help ----

/// The first paragraph of a doc text without its full stop, as help's tables show it.
pub fn summary(doc: &'static str) -> &'static str {
    let first = doc.split("\n\n").next().unwrap_or(doc);
    first.strip_suffix('.').unwrap_or(first)
}

/// `meshctl routes [OPTIONS] [PREFIX]`.
fn usage_line(at: &At) -> String {
    let cmd = at.cmd();
    let mut line = format!("{} [OPTIONS]", at.name());
    if cmd.what == What::Root {
        line.push_str(" <COMMAND>");
    } else if !cmd.subs.is_empty() {
        line.push_str(" [COMMAND]");
    }
    for arg in cmd.args {
        line.push(' ');
        line.push_str(&arg_label(arg));
    }
    line
}

/// `<KEY>`, `[PREFIX]` or `[COMMAND]...`.
fn arg_label(arg: &Arg) -> String {
    match (arg.required, arg.many) {
        (true, false) => format!("<{}>", arg.name),
        (true, true) => format!("<{}>...", arg.name),
        (false, false) => format!("[{}]", arg.name),
        (false, true) => format!("[{}]...", arg.name),
    }
}

/// `  -h, --help`, `      --socket <PATH>`.
fn opt_label(opt: &Opt) -> String {
    let short = match opt.short {
        Some(s) => format!("-{s}, "),
        None => "    ".into(),
    };
    match opt.kind {
        OptKind::Value(name) | OptKind::Path(name) => format!("  {short}--{} <{name}>", opt.long),
        _ => format!("  {short}--{}", opt.long),
    }
}

/// Words of `text` in lines at most `width` wide (a longer word gets a line of its own). A
/// `code span` or a `[bracketed note]` is kept on one line, as if it were one word.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut open = false;
    for word in text.split_whitespace() {
        match words.last_mut() {
            Some(last) if open => {
                last.push(' ');
                last.push_str(word);
            }
            _ => words.push(word.to_string()),
        }
        let last = words.last().map(String::as_str).unwrap_or_default();
        open =
            last.matches('`').count() % 2 == 1 || (last.starts_with('[') && !last.ends_with(']'));
    }
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in words {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    lines.push(line);
    lines
}

/// A titled two-column table, its right column wrapped to fit [`WIDTH`].
fn table(out: &mut String, title: &str, rows: &[(String, String)]) {
    if rows.is_empty() {
        return;
    }
    let column = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    out.push_str(&format!("\n{title}:\n"));
    for (label, text) in rows {
        let indent = " ".repeat(column);
        let lines = wrap(text, WIDTH.saturating_sub(column).max(20));
        out.push_str(&format!(
            "{label:<column$}{}\n",
            lines.join(&format!("\n{indent}"))
        ));
    }
}

/// The help of the command at `at`: `long` is `--help`'s, else `-h`'s.
fn help(at: &At, long: bool) -> String {
    let cmd = at.cmd();
    let mut out = String::new();
    if long {
        let paragraphs: Vec<String> = cmd
            .doc
            .split("\n\n")
            .map(|p| wrap(p, WIDTH).join("\n"))
            .collect();
        out.push_str(&paragraphs.join("\n\n"));
    } else {
        out.push_str(&wrap(summary(cmd.doc), WIDTH).join("\n"));
    }
    out.push_str(&format!("\n\nUsage: {}\n", usage_line(at)));
    let commands: Vec<(String, String)> = cmd
        .subs
        .iter()
        .map(|s| {
            let mut text = summary(s.doc).to_string();
            match s.aliases {
                [] => {}
                [one] => text.push_str(&format!(" [alias: {one}]")),
                many => text.push_str(&format!(" [aliases: {}]", many.join(", "))),
            }
            (format!("  {}", s.name), text)
        })
        .collect();
    table(&mut out, "Commands", &commands);
    let args: Vec<(String, String)> = cmd
        .args
        .iter()
        .map(|a| {
            let mut text = summary(a.doc).to_string();
            if !a.values.is_empty() {
                text.push_str(&format!(" [possible values: {}]", a.values.join(", ")));
            }
            (format!("  {}", arg_label(a)), text)
        })
        .collect();
    table(&mut out, "Arguments", &args);
    let opts: Vec<(String, String)> = at
        .opts()
        .map(|o| {
            let mut text = summary(o.doc).to_string();
            if let Some(default) = o.default {
                text.push_str(&format!(" [default: {default}]"));
            }
            (opt_label(o), text)
        })
        .collect();
    table(&mut out, "Options", &opts);
    if long && !cmd.after_long.is_empty() {
        out.push('\n');
        out.push_str(cmd.after_long);
    }
    out.truncate(out.trim_end().len());
    out
}

// ---- clap, for completions and the man page ----

/// The same command line as a `clap::Command`, for clap_complete and clap_mangen only: meshctl
/// never parses with it.
#[cfg(feature = "docs")]
pub fn clap_command() -> clap::Command {
    to_clap(&ROOT, &[])
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
}

/// `cmd`, under a command whose commands are `siblings` (`cmd` among them).
#[cfg(feature = "docs")]
fn to_clap(cmd: &'static Cmd, siblings: &'static [Cmd]) -> clap::Command {
    use clap::ArgAction;

    let mut command = clap::Command::new(cmd.name)
        .about(summary(cmd.doc))
        .visible_aliases(cmd.aliases.iter().copied())
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true);
    if cmd.doc.contains("\n\n") {
        command = command.long_about(cmd.doc);
    }
    if !cmd.after_long.is_empty() {
        command = command.after_long_help(cmd.after_long);
    }
    for opt in cmd.opts {
        let mut arg = clap::Arg::new(opt.long)
            .long(opt.long)
            .help(summary(opt.doc))
            .global(opt.global);
        if let Some(short) = opt.short {
            arg = arg.short(short);
        }
        if let Some(default) = opt.default {
            arg = arg.default_value(default);
        }
        arg = match opt.kind {
            OptKind::Flag => arg.action(ArgAction::SetTrue),
            OptKind::Value(name) => arg.value_name(name).action(ArgAction::Set),
            OptKind::Path(name) => arg
                .value_name(name)
                .action(ArgAction::Set)
                .value_hint(clap::ValueHint::AnyPath),
            OptKind::Help => arg.action(ArgAction::Help),
            OptKind::Version => arg.action(ArgAction::Version),
        };
        command = command.arg(arg);
    }
    if cmd.what == What::Help {
        // As clap has it, so that completions offer the commands: a `help` command of each.
        return command.subcommands(help_tree(siblings));
    }
    for a in cmd.args {
        let mut arg = clap::Arg::new(a.name)
            .value_name(a.name)
            .required(a.required)
            .help(summary(a.doc));
        if a.many {
            arg = arg.action(ArgAction::Append);
        }
        if !a.values.is_empty() {
            arg = arg.value_parser(clap::builder::PossibleValuesParser::new(
                a.values.iter().copied(),
            ));
        }
        command = command.arg(arg);
    }
    for sub in cmd.subs {
        command = command.subcommand(to_clap(sub, cmd.subs));
    }
    command
}

/// What `help` takes: the names of these commands (but `help`) and of theirs.
#[cfg(feature = "docs")]
fn help_tree(cmds: &'static [Cmd]) -> Vec<clap::Command> {
    cmds.iter()
        .filter(|c| c.what != What::Help)
        .map(|c| {
            clap::Command::new(c.name)
                .about(summary(c.doc))
                .disable_help_flag(true)
                .disable_help_subcommand(true)
                .subcommands(help_tree(c.subs))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Qb7LmN2pR4sT6vX8zA0cE2gI4kM6oQ8sU0wY2aC4eG8=";

    fn parse_strs(args: &[&str]) -> Result<Parsed, Usage> {
        parse(args.iter().map(OsString::from))
    }

    /// The command line, which must be one to run.
    fn cli(args: &[&str]) -> Cli {
        match parse_strs(args) {
            Ok(Parsed::Run(cli)) => cli,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn command(args: &[&str]) -> Command {
        cli(args).command
    }

    /// The usage error, as (message, command whose help is suggested).
    fn error(args: &[&str]) -> (String, String) {
        match parse_strs(args) {
            Err(usage) => (usage.message, usage.command),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn help_text(args: &[&str]) -> String {
        match parse_strs(args) {
            Ok(Parsed::Help(text)) => text,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn pair(message: &str, command: &str) -> (String, String) {
        (message.to_string(), command.to_string())
    }

    #[test]
    fn every_command() {
        assert_eq!(command(&["status"]), Command::Status);
        assert_eq!(command(&["neighbours"]), Command::Neighbours);
        assert_eq!(command(&["neighbors"]), Command::Neighbours);
        assert_eq!(
            command(&["routes"]),
            Command::Routes {
                prefix: None,
                all: false
            }
        );
        assert_eq!(
            command(&["routes", "fd00:2::/64", "--all"]),
            Command::Routes {
                prefix: Some("fd00:2::/64".into()),
                all: true
            }
        );
        assert_eq!(command(&["sources"]), Command::Sources);
        assert_eq!(command(&["peers"]), Command::Peers { action: None });
        assert_eq!(
            command(&["peers", "add", KEY]),
            Command::Peers {
                action: Some(PeersAction::Add {
                    key: KEY.into(),
                    endpoint: None
                })
            }
        );
        assert_eq!(
            command(&["peers", "add", KEY, "[2001:db8::1]:51820"]),
            Command::Peers {
                action: Some(PeersAction::Add {
                    key: KEY.into(),
                    endpoint: Some("[2001:db8::1]:51820".into())
                })
            }
        );
        assert_eq!(
            command(&["peers", "remove", "Qb7LmN2p…"]),
            Command::Peers {
                action: Some(PeersAction::Remove {
                    key: "Qb7LmN2p…".into()
                })
            }
        );
        assert_eq!(command(&["reload"]), Command::Reload);
        assert_eq!(command(&["refused"]), Command::Refused);
        assert_eq!(command(&["discovery"]), Command::Discovery);
        assert_eq!(command(&["monitor"]), Command::Monitor);
        assert_eq!(command(&["gateways"]), Command::Gateways);
        assert_eq!(command(&["genkey"]), Command::Genkey);
        assert_eq!(command(&["pubkey"]), Command::Pubkey);
    }

    #[cfg(feature = "docs")]
    #[test]
    fn docs_commands() {
        use clap_complete::Shell;
        assert_eq!(
            command(&["completions", "zsh"]),
            Command::Completions { shell: Shell::Zsh }
        );
        assert_eq!(command(&["man"]), Command::Man);
        assert_eq!(
            error(&["completions", "tcsh"]),
            pair(
                "invalid value 'tcsh' for SHELL: it is one of bash, elvish, fish, powershell, zsh",
                "meshctl completions"
            )
        );
        assert_eq!(
            error(&["completions"]),
            pair(
                "missing SHELL (usage: meshctl completions [OPTIONS] <SHELL>)",
                "meshctl completions"
            )
        );
    }

    #[cfg(not(feature = "docs"))]
    #[test]
    fn no_docs_commands_without_the_feature() {
        assert_eq!(
            error(&["man"]),
            pair("unrecognized subcommand 'man'", "meshctl")
        );
        assert_eq!(
            error(&["completions", "bash"]),
            pair("unrecognized subcommand 'completions'", "meshctl")
        );
    }

    #[test]
    fn defaults() {
        assert_eq!(
            cli(&["status"]),
            Cli {
                socket: PathBuf::from(control::DEFAULT_SOCKET),
                json: false,
                no_color: false,
                timeout: Duration::from_secs(5),
                command: Command::Status,
            }
        );
    }

    #[test]
    fn global_options_before_between_and_after_the_command() {
        let expected = Cli {
            socket: PathBuf::from("/tmp/m.sock"),
            json: true,
            no_color: true,
            timeout: Duration::from_millis(1500),
            command: Command::Peers {
                action: Some(PeersAction::Add {
                    key: KEY.into(),
                    endpoint: None,
                }),
            },
        };
        for args in [
            &[
                "--socket",
                "/tmp/m.sock",
                "--json",
                "--no-color",
                "--timeout",
                "1.5",
                "peers",
                "add",
                KEY,
            ][..],
            &[
                "peers",
                "add",
                KEY,
                "--timeout",
                "1.5",
                "--no-color",
                "--json",
                "--socket",
                "/tmp/m.sock",
            ],
            &[
                "--json",
                "peers",
                "--socket",
                "/tmp/m.sock",
                "add",
                "--no-color",
                KEY,
                "--timeout",
                "1.5",
            ],
        ] {
            assert_eq!(cli(args), expected, "{args:?}");
        }
    }

    #[test]
    fn equals_forms() {
        let parsed = cli(&["--socket=/tmp/a=b.sock", "status", "--timeout=0.25"]);
        assert_eq!(parsed.socket, PathBuf::from("/tmp/a=b.sock"));
        assert_eq!(parsed.timeout, Duration::from_millis(250));
        assert_eq!(
            error(&["--json=yes", "status"]),
            pair("'--json' takes no value", "meshctl")
        );
        assert_eq!(
            error(&["routes", "--all="]),
            pair("'--all' takes no value", "meshctl routes")
        );
        // An empty value is a value: here, a bad timeout.
        assert_eq!(
            error(&["status", "--timeout="]),
            pair(
                "invalid value '' for '--timeout': `` is not a number of seconds",
                "meshctl status"
            )
        );
    }

    #[test]
    fn double_dash_ends_the_options() {
        assert_eq!(
            command(&["routes", "--", "fd00::/64"]),
            Command::Routes {
                prefix: Some("fd00::/64".into()),
                all: false
            }
        );
        assert_eq!(
            command(&["routes", "--", "--all"]),
            Command::Routes {
                prefix: Some("--all".into()),
                all: false
            }
        );
        assert_eq!(
            error(&["routes", "fd00::/64", "--", "--all"]),
            pair("unexpected argument '--all'", "meshctl routes")
        );
        // A value is taken as it is, even when it looks like an option.
        assert_eq!(
            cli(&["--socket", "--json", "status"]).socket,
            PathBuf::from("--json")
        );
        assert_eq!(cli(&["--socket", "-", "status"]).socket, PathBuf::from("-"));
    }

    #[test]
    fn unknown_commands() {
        assert_eq!(
            error(&["frobnicate"]),
            pair("unrecognized subcommand 'frobnicate'", "meshctl")
        );
        assert_eq!(
            error(&["--json", "frobnicate", "status"]),
            pair("unrecognized subcommand 'frobnicate'", "meshctl")
        );
        assert_eq!(
            error(&["peers", "frob"]),
            pair("unrecognized subcommand 'frob'", "meshctl peers")
        );
        assert_eq!(
            error(&["help", "peers", "frob"]),
            pair("unrecognized subcommand 'frob'", "meshctl peers")
        );
        assert_eq!(
            error(&["help", "routes", "extra"]),
            pair("unrecognized subcommand 'extra'", "meshctl routes")
        );
    }

    #[test]
    fn no_command() {
        assert_eq!(error(&[]), pair("no command given", "meshctl"));
        assert_eq!(
            error(&["--json", "--socket", "/s"]),
            pair("no command given", "meshctl")
        );
    }

    #[test]
    fn unknown_options() {
        assert_eq!(
            error(&["routes", "--bogus"]),
            pair("unknown option '--bogus'", "meshctl routes")
        );
        assert_eq!(
            error(&["-x", "status"]),
            pair("unknown option '-x'", "meshctl")
        );
        // Short options do not bundle.
        assert_eq!(error(&["-hV"]), pair("unknown option '-hV'", "meshctl"));
        // `--all` is routes' own: not before the command, nor after another one.
        assert_eq!(
            error(&["--all", "routes"]),
            pair("unknown option '--all'", "meshctl")
        );
        assert_eq!(
            error(&["status", "--all"]),
            pair("unknown option '--all'", "meshctl status")
        );
        // Only meshctl itself has a version.
        assert_eq!(
            error(&["status", "-V"]),
            pair("unknown option '-V'", "meshctl status")
        );
        // `--timeout`'s value is taken whatever it looks like, so this is a bad timeout.
        assert_eq!(
            error(&["--timeout", "-1", "status"]),
            pair(
                "invalid value '-1' for '--timeout': the timeout must be more than 0 and at most \
                 86400 seconds",
                "meshctl status"
            )
        );
    }

    #[test]
    fn missing_values() {
        assert_eq!(
            error(&["status", "--socket"]),
            pair("'--socket' needs a value: --socket PATH", "meshctl status")
        );
        assert_eq!(
            error(&["--timeout"]),
            pair("'--timeout' needs a value: --timeout SECONDS", "meshctl")
        );
    }

    #[test]
    fn options_at_most_once() {
        assert_eq!(
            error(&["--socket", "/a", "status", "--socket", "/b"]),
            pair("'--socket' is given more than once", "meshctl status")
        );
        assert_eq!(
            error(&["--json", "--json", "status"]),
            pair("'--json' is given more than once", "meshctl")
        );
    }

    #[test]
    fn extra_and_missing_arguments() {
        assert_eq!(
            error(&["status", "extra"]),
            pair("unexpected argument 'extra'", "meshctl status")
        );
        assert_eq!(
            error(&["routes", "fd00::/64", "fd01::/64"]),
            pair("unexpected argument 'fd01::/64'", "meshctl routes")
        );
        assert_eq!(
            error(&["peers", "add", KEY, "192.0.2.1:51820", "more"]),
            pair("unexpected argument 'more'", "meshctl peers add")
        );
        assert_eq!(
            error(&["peers", "add"]),
            pair(
                "missing KEY (usage: meshctl peers add [OPTIONS] <KEY> [ENDPOINT])",
                "meshctl peers add"
            )
        );
        assert_eq!(
            error(&["peers", "remove"]),
            pair(
                "missing KEY (usage: meshctl peers remove [OPTIONS] <KEY>)",
                "meshctl peers remove"
            )
        );
    }

    #[test]
    fn bad_timeouts() {
        assert_eq!(
            error(&["--timeout", "soon", "status"]),
            pair(
                "invalid value 'soon' for '--timeout': `soon` is not a number of seconds",
                "meshctl status"
            )
        );
        for bad in ["0", "86401", "inf", "NaN"] {
            assert_eq!(
                error(&["status", "--timeout", bad]).0,
                format!(
                    "invalid value '{bad}' for '--timeout': the timeout must be more than 0 and \
                     at most 86400 seconds"
                )
            );
        }
        assert_eq!(
            cli(&["status", "--timeout", "86400"]).timeout,
            Duration::from_secs(86400)
        );
        assert_eq!(
            TIMEOUT.default.map(parse_timeout),
            Some(Ok(Duration::from_secs(5)))
        );
    }

    #[test]
    fn bad_keys() {
        assert_eq!(
            error(&["peers", "add", "not-a-key"]),
            pair(
                "invalid value 'not-a-key' for KEY: not a valid base64 WireGuard key",
                "meshctl peers add"
            )
        );
        assert_eq!(
            error(&["peers", "add", "AAAA"]),
            pair(
                "invalid value 'AAAA' for KEY: not a valid WireGuard key: it decodes to 3 bytes, \
                 not 32",
                "meshctl peers add"
            )
        );
        // `remove` takes the start of a key; meshctl resolves it against meshd's peers.
        assert_eq!(
            command(&["peers", "remove", "AAAA"]),
            Command::Peers {
                action: Some(PeersAction::Remove { key: "AAAA".into() })
            }
        );
    }

    #[test]
    fn non_utf8_arguments() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(b"/tmp/\xff.sock".to_vec());
        let parsed = parse(vec!["--socket".into(), bad.clone(), "status".into()]);
        match parsed {
            Ok(Parsed::Run(cli)) => assert_eq!(cli.socket.as_os_str(), bad.as_os_str()),
            other => panic!("{other:?}"),
        }
        let mut with_equals = OsString::from("--socket=");
        with_equals.push(&bad);
        match parse(vec![with_equals, "status".into()]) {
            Ok(Parsed::Run(cli)) => assert_eq!(cli.socket.as_os_str(), bad.as_os_str()),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(vec!["routes".into(), bad]),
            Err(Usage {
                message: "'/tmp/\u{fffd}.sock' is not valid UTF-8".into(),
                command: "meshctl routes".into()
            })
        );
    }

    #[test]
    fn version_flag() {
        assert_eq!(parse_strs(&["--version"]), Ok(Parsed::Version));
        assert_eq!(parse_strs(&["-V", "bogus"]), Ok(Parsed::Version));
        assert_eq!(
            super::version(),
            format!("meshctl {}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn the_error_names_the_help_to_read() {
        let usage = Usage {
            message: "unknown option '--bogus'".into(),
            command: "meshctl routes".into(),
        };
        assert_eq!(
            usage.to_string(),
            "meshctl: unknown option '--bogus'\nTry 'meshctl routes --help'."
        );
    }

    #[test]
    fn short_and_long_help() {
        let short = help_text(&["-h"]);
        let long = help_text(&["--help"]);
        assert!(short.starts_with(
            "Inspect and steer a running meshd\n\nUsage: meshctl [OPTIONS] <COMMAND>\n"
        ));
        assert!(!short.contains("JSON output"));
        assert!(long.ends_with(JSON_HELP), "{long}");
        assert!(long.starts_with(&short), "{long}");
        assert_eq!(help_text(&["help"]), long);
        assert_eq!(
            help_text(&["status", "--json", "--help"]),
            help_text(&["help", "status"])
        );
        // Help wins over what follows it, even a mistake.
        assert_eq!(
            help_text(&["routes", "-h", "--bogus"]),
            help_text(&["routes", "-h"])
        );
    }

    #[test]
    fn root_help_lists_every_command_and_option() {
        let short = help_text(&["-h"]);
        let lines: Vec<&str> = short.lines().collect();
        for sub in ROOT.subs {
            let label = format!("  {} ", sub.name);
            let row = lines.iter().position(|l| l.starts_with(&label));
            let row = row.unwrap_or_else(|| panic!("no {label:?} in\n{short}"));
            // The summary, wrapped under its column.
            let column = lines[row].len() - lines[row][label.len()..].trim_start().len();
            let mut text = lines[row][column..].to_string();
            for more in &lines[row + 1..] {
                if more.len() <= column || !more[..column].trim().is_empty() {
                    break;
                }
                text = format!("{text} {}", &more[column..]);
            }
            let mut expected = summary(sub.doc).to_string();
            if !sub.aliases.is_empty() {
                expected = format!("{expected} [alias: {}]", sub.aliases.join(", "));
            }
            assert_eq!(text, expected);
        }
        assert!(short.contains("Neighbours and their link quality [alias: neighbors]\n"));
        for label in [
            "      --socket <PATH>      meshd's control socket\n                           [default: /run/meshd/meshd.sock]\n",
            "      --json               Print the reply as JSON (shapes: `meshctl --help`)\n",
            "      --no-color           Never colour the output\n",
            "      --timeout <SECONDS>  How long to wait for meshd to answer [default: 5]\n",
            "  -h, --help               Print help (-h: a summary, --help: all of it)\n",
            "  -V, --version            Print the version",
        ] {
            assert!(short.contains(label), "{label:?} not in\n{short}");
        }
    }

    #[test]
    fn command_help() {
        let routes = help_text(&["routes", "--help"]);
        assert_eq!(
            routes,
            "\
Routes: the selected ones, or every candidate for one prefix and why each lost.

Flags: S selected, F feasible, I installed in the kernel.

Usage: meshctl routes [OPTIONS] [PREFIX]

Arguments:
  [PREFIX]  Show every candidate route for this prefix, best first, and why each
            loser lost

Options:
      --all                Show every candidate route, not only the selected and
                           local ones
      --socket <PATH>      meshd's control socket
                           [default: /run/meshd/meshd.sock]
      --json               Print the reply as JSON (shapes: `meshctl --help`)
      --no-color           Never colour the output
      --timeout <SECONDS>  How long to wait for meshd to answer [default: 5]
  -h, --help               Print help (-h: a summary, --help: all of it)"
        );
        assert!(help_text(&["routes", "-h"]).starts_with(
            "Routes: the selected ones, or every candidate for one prefix and why each lost\n\n\
             Usage:"
        ));
        let add = help_text(&["peers", "add", "-h"]);
        assert!(
            add.starts_with(
                "Add a peer at runtime (not written to the configuration file)\n\n\
             Usage: meshctl peers add [OPTIONS] <KEY> [ENDPOINT]\n\n\
             Arguments:\n  <KEY>       The peer's public key, base64\n"
            ),
            "{add}"
        );
        assert_eq!(
            help_text(&["help", "peers", "add"]),
            help_text(&["peers", "add", "--help"])
        );
        assert_eq!(
            help_text(&["peers", "help", "add"]),
            help_text(&["peers", "add", "--help"])
        );
        assert_eq!(
            help_text(&["help", "neighbors"]),
            help_text(&["neighbours", "--help"])
        );
        let peers = help_text(&["peers", "-h"]);
        assert!(
            peers.contains("Usage: meshctl peers [OPTIONS] [COMMAND]\n"),
            "{peers}"
        );
        assert!(
            peers.contains("\n  add     Add a peer at runtime"),
            "{peers}"
        );
        assert!(help_text(&["help", "help"]).contains("Usage: meshctl help [OPTIONS] [COMMAND]..."));
    }

    /// Every help text, short and long, of every command.
    fn every_help() -> Vec<String> {
        fn walk(path: &mut Vec<&'static Cmd>, out: &mut Vec<String>) {
            let at = At(path.clone());
            out.push(help(&at, false));
            out.push(help(&at, true));
            for sub in at.cmd().subs {
                path.push(sub);
                walk(path, out);
                path.pop();
            }
        }
        let mut out = Vec::new();
        walk(&mut vec![&ROOT], &mut out);
        out
    }

    #[test]
    fn wrapping_keeps_code_and_notes_whole() {
        assert_eq!(wrap("a bb ccc dd", 6), ["a bb", "ccc dd"]);
        assert_eq!(
            wrap("see `wg pubkey` now", 10),
            ["see", "`wg pubkey`", "now"]
        );
        assert_eq!(wrap("x [default: 5] y", 8), ["x", "[default: 5]", "y"]);
        assert_eq!(wrap("", 10), [""]);
    }

    #[test]
    fn help_fits_80_columns() {
        for text in every_help() {
            for line in text.lines() {
                assert!(line.chars().count() <= WIDTH, "wider than 80: {line:?}");
            }
        }
    }

    #[test]
    fn the_table_is_consistent() {
        fn check(cmd: &'static Cmd) {
            let mut names: Vec<&str> = cmd
                .subs
                .iter()
                .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
                .collect();
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count, "a name twice under {}", cmd.name);
            for (i, arg) in cmd.args.iter().enumerate() {
                let last = i + 1 == cmd.args.len();
                assert!(
                    !arg.many || last,
                    "{}: only the last argument can be many",
                    cmd.name
                );
                let before_required = cmd.args[i + 1..].iter().any(|a| a.required);
                assert!(
                    arg.required || !before_required,
                    "{}: optional before required",
                    cmd.name
                );
            }
            assert!(cmd.subs.is_empty() || cmd.args.is_empty(), "{}", cmd.name);
            assert!(cmd.opts.iter().all(|o| !o.global) || std::ptr::eq(cmd, &ROOT));
            for opt in cmd.opts.iter().chain(ROOT.opts) {
                let same = cmd
                    .opts
                    .iter()
                    .chain(ROOT.opts)
                    .filter(|o| o.long == opt.long);
                assert!(
                    same.count() == 1 || std::ptr::eq(cmd, &ROOT),
                    "--{}",
                    opt.long
                );
            }
            cmd.subs.iter().for_each(check);
        }
        check(&ROOT);
    }

    #[cfg(feature = "docs")]
    #[test]
    fn clap_sees_the_same_command_line() {
        use clap::ValueEnum;
        let mut command = clap_command();
        command.build();
        command.clone().debug_assert();
        fn same(ours: &'static Cmd, theirs: &clap::Command) {
            assert_eq!(theirs.get_name(), ours.name);
            let subs: Vec<&str> = theirs.get_subcommands().map(|s| s.get_name()).collect();
            let expected: Vec<&str> = ours.subs.iter().map(|s| s.name).collect();
            assert_eq!(subs, expected);
            let positionals: Vec<&str> = theirs
                .get_positionals()
                .map(|a| a.get_id().as_str())
                .collect();
            let expected: Vec<&str> = ours.args.iter().map(|a| a.name).collect();
            assert_eq!(positionals, expected, "{}", ours.name);
            for (sub, theirs) in ours.subs.iter().zip(theirs.get_subcommands()) {
                if sub.what == What::Help {
                    // `help COMMAND...` is a tree of commands to clap.
                    let names: Vec<&str> = theirs.get_subcommands().map(|s| s.get_name()).collect();
                    let expected: Vec<&str> = ours
                        .subs
                        .iter()
                        .filter(|s| s.what != What::Help)
                        .map(|s| s.name)
                        .collect();
                    assert_eq!(names, expected);
                } else {
                    same(sub, theirs);
                }
            }
        }
        same(&ROOT, &command);
        // Parsing with it accepts what meshctl accepts.
        let matches = command
            .try_get_matches_from(["meshctl", "--json", "peers", "add", KEY, "--timeout", "2"])
            .map_err(|e| e.to_string());
        assert!(matches.is_ok(), "{matches:?}");
        let shells: Vec<String> = clap_complete::Shell::value_variants()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let completions = ROOT.subs.iter().find(|s| s.name == "completions");
        let ours: Vec<String> = completions
            .and_then(|c| c.args.first())
            .map(|a| a.values.iter().map(|v| v.to_string()).collect())
            .unwrap_or_default();
        assert_eq!(ours, shells);
    }
}
