//! OpenWrt's UCI configuration (`/etc/config/meshd`), read natively: parsed here, mapped onto the
//! same [`Config`] as the TOML file and checked by the same code, so every range and format rule
//! is one rule whichever file the operator writes. Errors name the UCI section and option and the
//! line, as an OpenWrt user knows them:
//!
//! ```text
//! /etc/config/meshd: option listen_port in config meshd 'main' (line 5): must be 0..=65535, not 70000
//! ```
//!
//! The parser reads the subset of the UCI file format that `uci commit` and LuCI write, and that
//! people type by hand: `package`, `config <type> ['<name>']`, `option <name> <value>` and
//! `list <name> <value>`, values bare or in `'...'` or `"..."` (parts run together, so uci's
//! `'it'\''s'` is `it's`; a backslash outside single quotes takes the next character literally),
//! `#` comments and blank lines. Line continuations and `;` separators are refused.
//!
//! How it maps (documented for users in `docs/openwrt.md` and in the shipped file,
//! `openwrt/net/meshd/files/meshd.config`):
//!
//! - one `config meshd` section (usually `'main'`; may be anonymous or absent) holds the `[node]`
//!   and `[babel]` keys under their TOML names, except that the TOML array `prefixes` is written
//!   `list prefix`; `rtt` is a UCI boolean. `enabled` is the init script's switch (meshd itself
//!   only checks it). `[gateway]` is written `option gateway '1'` plus `option uplink '<ifname>'`
//!   (= `share = "<ifname>"`; `uplink` alone shares nothing) and `option use_gateway`
//!   (= `use`).
//! - `config discovery` (at most one) is `[discovery]`, with `list interface` for the TOML array
//!   `interfaces`; `config membership` (at most one) is `[membership]`, with `list allow` and
//!   `list deny`; `config import` (at most one) is `[import]`, with `list allow` and
//!   `list refuse`; `config http` (at most one) is `[http]`, with `option listen`;
//! - each `config peer` section is a `[[peer]]`; `option enabled '0'` leaves the peer out (it is
//!   still checked, on its own).
//!
//! The mapping is done by writing a TOML document with one line per UCI option, parsing it with
//! [`Config::from_toml_str`], and mapping the position of any error back to the UCI line it came
//! from. Values are typed here first (integers, seconds, booleans), since in UCI every value is a
//! string.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};
use crate::keys::PublicKey;
use crate::logging::LogLevel;

/// A configuration read from UCI.
#[derive(Debug, Clone, PartialEq)]
pub struct UciConfig {
    pub config: Config,
    /// `option enabled` of the `meshd` section: whether the init script starts meshd.
    pub enabled: bool,
}

/// Where a run's configuration comes from, so a reload reads the same kind of file again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFile {
    Toml(PathBuf),
    Uci(PathBuf),
}

impl ConfigFile {
    pub fn path(&self) -> &Path {
        match self {
            ConfigFile::Toml(path) | ConfigFile::Uci(path) => path,
        }
    }

    /// Reads and checks the file; the error is one line naming the file and the place.
    pub fn load(&self) -> Result<Config, String> {
        match self {
            ConfigFile::Toml(path) => Config::load(path).map_err(|e| e.to_string()),
            ConfigFile::Uci(path) => load(path).map(|u| u.config).map_err(|e| e.to_string()),
        }
    }
}

/// A UCI file that could not be read, parsed or mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UciError {
    origin: String,
    /// 1-based line of the offending statement.
    line: Option<usize>,
    /// The UCI place: `option listen_port in config meshd 'main'`, or `config peer 'x'`.
    place: Option<String>,
    message: String,
}

impl fmt::Display for UciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.place, self.line) {
            (Some(place), Some(line)) => {
                write!(
                    f,
                    "{}: {place} (line {line}): {}",
                    self.origin, self.message
                )
            }
            (Some(place), None) => write!(f, "{}: {place}: {}", self.origin, self.message),
            (None, Some(line)) => write!(f, "{}:{line}: {}", self.origin, self.message),
            (None, None) => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for UciError {}

/// Reads and maps a UCI file.
pub fn load(path: &Path) -> Result<UciConfig, UciError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| UciError {
        origin: origin.clone(),
        line: None,
        place: None,
        message: format!("cannot read: {e}"),
    })?;
    from_str(&text, &origin)
}

/// Parses and maps UCI text. `origin` names it in errors (usually the file's path).
pub fn from_str(text: &str, origin: &str) -> Result<UciConfig, UciError> {
    let sections = parse(text).map_err(|(line, message)| UciError {
        origin: origin.to_string(),
        line: Some(line),
        place: None,
        message,
    })?;
    map(&sections, origin)
}

// ---------------------------------------------------------------------------------------------
// The file format.

/// One `config` section as written.
#[derive(Debug, Clone, PartialEq)]
struct Section {
    kind: String,
    name: Option<String>,
    /// Position among the sections of its type, for uci's `@peer[1]`.
    index: usize,
    line: usize,
    options: Vec<UciOption>,
}

/// One `option`, or all `list` lines of one name.
#[derive(Debug, Clone, PartialEq)]
struct UciOption {
    name: String,
    is_list: bool,
    /// Each value with its line.
    values: Vec<(String, usize)>,
}

impl Section {
    /// `config peer 'alice'`, or `config peer @peer[0]` for an anonymous section.
    fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("config {} '{name}'", self.kind),
            None => format!("config {} @{}[{}]", self.kind, self.kind, self.index),
        }
    }
}

/// Splits one line into words, undoing uci's quoting. `Err` says what is malformed.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None | Some('#') => return Ok(words),
            Some(_) => {}
        }
        let mut word = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
            match c {
                '\'' => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated ' quote".to_string()),
                    }
                },
                '"' => loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err("line continuations are not supported".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated \" quote".to_string()),
                    }
                },
                '\\' => match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("line continuations are not supported".to_string()),
                },
                // As in uci, `#` ends a bare word and starts a comment.
                '#' => {
                    words.push(word);
                    return Ok(words);
                }
                ';' => return Err("`;` between statements is not supported".to_string()),
                c => word.push(c),
            }
        }
        words.push(word);
    }
}

/// uci's rule for option and section names.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// uci's rule for section types (names plus `-`).
fn valid_type(kind: &str) -> bool {
    !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The file's sections. `Err` is the line and what is wrong with it.
fn parse(text: &str) -> Result<Vec<Section>, (usize, String)> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let words = words(line).map_err(|e| (number, e))?;
        let Some((keyword, args)) = words.split_first() else {
            continue;
        };
        match keyword.as_str() {
            "package" => {
                if args.len() != 1 {
                    return Err((number, "expected `package <name>`".to_string()));
                }
            }
            "config" => {
                let (kind, name) = match args {
                    [kind] => (kind, None),
                    [kind, name] => (kind, Some(name.clone())),
                    _ => {
                        return Err((number, "expected `config <type> ['<name>']`".to_string()));
                    }
                };
                if !valid_type(kind) {
                    return Err((
                        number,
                        format!("section type `{kind}` must be letters, digits, _ and -"),
                    ));
                }
                if let Some(name) = &name {
                    if !valid_name(name) {
                        return Err((
                            number,
                            format!("section name `{name}` must be letters, digits and _"),
                        ));
                    }
                    if let Some(first) = sections.iter().find(|s| s.name.as_ref() == Some(name)) {
                        return Err((
                            number,
                            format!("section '{name}' is already defined on line {}", first.line),
                        ));
                    }
                }
                let index = sections.iter().filter(|s| &s.kind == kind).count();
                sections.push(Section {
                    kind: kind.clone(),
                    name,
                    index,
                    line: number,
                    options: Vec::new(),
                });
            }
            "option" | "list" => {
                let is_list = keyword == "list";
                let [name, value] = args else {
                    return Err((
                        number,
                        format!("expected `{keyword} <name> '<value>'` (quote values with spaces)"),
                    ));
                };
                if !valid_name(name) {
                    return Err((
                        number,
                        format!("option name `{name}` must be letters, digits and _"),
                    ));
                }
                let Some(section) = sections.last_mut() else {
                    return Err((number, format!("`{keyword}` before any `config` line")));
                };
                match section.options.iter_mut().find(|o| &o.name == name) {
                    Some(existing) if is_list && existing.is_list => {
                        existing.values.push((value.clone(), number));
                    }
                    Some(existing) => {
                        let first = existing.values[0].1;
                        let how = if existing.is_list { "list" } else { "option" };
                        return Err((
                            number,
                            format!(
                                "{name} is already set in {} by the {how} on line {first}",
                                section.label()
                            ),
                        ));
                    }
                    None => section.options.push(UciOption {
                        name: name.clone(),
                        is_list,
                        values: vec![(value.clone(), number)],
                    }),
                }
            }
            other => {
                return Err((
                    number,
                    format!("expected `config`, `option` or `list`, not `{other}`"),
                ));
            }
        }
    }
    Ok(sections)
}

// ---------------------------------------------------------------------------------------------
// The mapping.

/// How a UCI string becomes a TOML value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Integer,
    Seconds,
    Bool,
    LogLevel,
    /// A `list` of strings; the TOML key is an array.
    TextList,
}

/// A UCI option of a section type: its TOML table and key.
struct Known {
    uci: &'static str,
    table: &'static str,
    toml: &'static str,
    kind: Kind,
}

const fn known(uci: &'static str, table: &'static str, toml: &'static str, kind: Kind) -> Known {
    Known {
        uci,
        table,
        toml,
        kind,
    }
}

/// `config meshd`: `[node]`, `[babel]` and `[gateway]`. `enabled`, `gateway` and `uplink` are
/// handled apart.
const MAIN_OPTIONS: &[Known] = &[
    known("interface", "node", "interface", Kind::Text),
    known("listen_port", "node", "listen_port", Kind::Integer),
    known("state_dir", "node", "state_dir", Kind::Text),
    known("private_key_file", "node", "private_key_file", Kind::Text),
    known("mesh_prefix", "node", "mesh_prefix", Kind::Text),
    known("ipv4_address", "node", "ipv4_address", Kind::Text),
    known("prefix", "node", "prefixes", Kind::TextList),
    known("log_level", "node", "log_level", Kind::LogLevel),
    known("underlay_mtu", "node", "underlay_mtu", Kind::Integer),
    known("control_socket", "node", "control_socket", Kind::Text),
    known("hello_interval", "babel", "hello_interval", Kind::Seconds),
    known("update_interval", "babel", "update_interval", Kind::Seconds),
    known("rtt", "babel", "rtt", Kind::Bool),
    known("link_cost", "babel", "link_cost", Kind::Integer),
    known(
        "max_routes_per_neighbour",
        "babel",
        "max_routes_per_neighbour",
        Kind::Integer,
    ),
    known("max_routes", "babel", "max_routes", Kind::Integer),
    known("max_sources", "babel", "max_sources", Kind::Integer),
    known("use_gateway", "gateway", "use", Kind::Text),
];

/// `config peer`: one `[[peer]]`. `enabled` is handled apart.
const PEER_OPTIONS: &[Known] = &[
    known("public_key", "peer", "public_key", Kind::Text),
    known("endpoint", "peer", "endpoint", Kind::Text),
    known(
        "persistent_keepalive",
        "peer",
        "persistent_keepalive",
        Kind::Integer,
    ),
    known(
        "preshared_key_file",
        "peer",
        "preshared_key_file",
        Kind::Text,
    ),
];

/// `config discovery`: `[discovery]`.
const DISCOVERY_OPTIONS: &[Known] = &[
    known("interface", "discovery", "interfaces", Kind::TextList),
    known("port", "discovery", "port", Kind::Integer),
    known("interval", "discovery", "interval", Kind::Seconds),
    known("max_peers", "discovery", "max_peers", Kind::Integer),
    known(
        "max_handshakes_per_second",
        "discovery",
        "max_handshakes_per_second",
        Kind::Integer,
    ),
];

/// `config membership`: `[membership]`.
const MEMBERSHIP_OPTIONS: &[Known] = &[
    known("policy", "membership", "policy", Kind::Text),
    known("allow", "membership", "allow", Kind::TextList),
    known("deny", "membership", "deny", Kind::TextList),
    known(
        "community_secret_file",
        "membership",
        "community_secret_file",
        Kind::Text,
    ),
    known("community_id", "membership", "community_id", Kind::Text),
];

/// `config import`: `[import]`.
const IMPORT_OPTIONS: &[Known] = &[
    known("ipv4_range", "import", "ipv4_range", Kind::Text),
    known("allow", "import", "allow", Kind::TextList),
    known("refuse", "import", "refuse", Kind::TextList),
];

/// `config http`: `[http]`.
const HTTP_OPTIONS: &[Known] = &[known("listen", "http", "listen", Kind::Text)];

/// Options every section type has besides its own.
const SWITCHES_MAIN: &[&str] = &["enabled", "gateway", "uplink"];
const SWITCHES_PEER: &[&str] = &["enabled"];

/// Where a line of the generated TOML came from.
#[derive(Debug, Clone)]
struct Origin {
    section: String,
    section_line: usize,
    /// The UCI option and its value's line; `None` for the section header.
    option: Option<(String, usize)>,
    /// The TOML key, to drop from the front of config.rs's messages.
    toml_key: Option<&'static str>,
}

/// A TOML document being written, with the origin of each line.
#[derive(Default)]
struct Document {
    text: String,
    origins: Vec<Option<Origin>>,
}

impl Document {
    fn line(&mut self, line: &str, origin: Option<Origin>) {
        self.text.push_str(line);
        self.text.push('\n');
        self.origins.push(origin);
    }
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// UCI's booleans, as `config_get_bool` reads them.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "yes" | "on" | "true" | "enabled" => Some(true),
        "0" | "no" | "off" | "false" | "disabled" => Some(false),
        _ => None,
    }
}

const BOOL_HELP: &str = "must be '1' or '0' (or yes/no, on/off, true/false)";

/// The TOML value of a scalar option, or what is wrong with it.
fn toml_value(kind: Kind, value: &str) -> Result<String, String> {
    match kind {
        Kind::Text | Kind::TextList => Ok(toml_string(value)),
        Kind::Integer => {
            let digits = value.strip_prefix('-').unwrap_or(value);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("must be a whole number, not '{value}'"));
            }
            value
                .parse::<i64>()
                .map(|n| n.to_string())
                .map_err(|_| format!("'{value}' is far too large"))
        }
        Kind::Seconds => {
            let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            match value.parse::<f64>() {
                Ok(seconds) if digits(whole) && digits(fraction) => Ok(format!("{seconds:?}")),
                _ => Err(format!(
                    "must be a number of seconds such as '4' or '0.5', not '{value}'"
                )),
            }
        }
        Kind::Bool => parse_bool(value)
            .map(|b| b.to_string())
            .ok_or_else(|| format!("{BOOL_HELP}, not '{value}'")),
        Kind::LogLevel => value
            .parse::<LogLevel>()
            .map(|level| toml_string(level.as_str()))
            .map_err(|_| format!("must be one of error, warn, info, debug, trace, not '{value}'")),
    }
}

/// Builds the UCI errors for one section.
struct Mapper<'a> {
    origin: &'a str,
}

impl Mapper<'_> {
    fn error(&self, section: &Section, option: Option<(&str, usize)>, message: String) -> UciError {
        let (place, line) = match option {
            Some((name, line)) => (format!("option {name} in {}", section.label()), line),
            None => (section.label(), section.line),
        };
        UciError {
            origin: self.origin.to_string(),
            line: Some(line),
            place: Some(place),
            message,
        }
    }

    /// A boolean switch (`enabled`, `gateway`): its value, `default` when absent.
    fn switch(&self, section: &Section, name: &str, default: bool) -> Result<bool, UciError> {
        let Some(option) = section.options.iter().find(|o| o.name == name) else {
            return Ok(default);
        };
        let (value, line) = &option.values[0];
        if option.is_list {
            return Err(self.error(
                section,
                Some((name, *line)),
                format!("is a single value: write `option {name} '{value}'`"),
            ));
        }
        parse_bool(value).ok_or_else(|| {
            self.error(
                section,
                Some((name, *line)),
                format!("{BOOL_HELP}, not '{value}'"),
            )
        })
    }

    /// Writes a section's options into `doc` under the current TOML table; refuses unknown
    /// options and options written as the wrong one of `option` and `list`.
    fn emit(
        &self,
        doc: &mut Document,
        section: &Section,
        table: &str,
        known: &[Known],
        switches: &[&str],
    ) -> Result<(), UciError> {
        let label = section.label();
        for option in &section.options {
            if switches.contains(&option.name.as_str()) {
                continue;
            }
            let Some(spec) = known
                .iter()
                .find(|k| k.uci == option.name && k.table == table)
            else {
                if known.iter().any(|k| k.uci == option.name) {
                    continue; // the other table of the same section
                }
                let mut names: Vec<&str> = known.iter().map(|k| k.uci).collect();
                names.extend_from_slice(switches);
                return Err(self.error(
                    section,
                    Some((&option.name, option.values[0].1)),
                    format!(
                        "unknown option (config {} takes {})",
                        section.kind,
                        names.join(", ")
                    ),
                ));
            };
            let origin = |line: usize| Origin {
                section: label.clone(),
                section_line: section.line,
                option: Some((option.name.clone(), line)),
                toml_key: Some(spec.toml),
            };
            match (spec.kind == Kind::TextList, option.is_list) {
                (true, true) => {
                    let first = option.values[0].1;
                    doc.line(&format!("{} = [", spec.toml), Some(origin(first)));
                    for (value, line) in &option.values {
                        doc.line(&format!("{},", toml_string(value)), Some(origin(*line)));
                    }
                    doc.line("]", Some(origin(first)));
                }
                (false, false) => {
                    let (value, line) = &option.values[0];
                    let toml = toml_value(spec.kind, value)
                        .map_err(|why| self.error(section, Some((&option.name, *line)), why))?;
                    doc.line(&format!("{} = {toml}", spec.toml), Some(origin(*line)));
                }
                (true, false) => {
                    let (value, line) = &option.values[0];
                    return Err(self.error(
                        section,
                        Some((&option.name, *line)),
                        format!("is a list: write `list {} '{value}'`", option.name),
                    ));
                }
                (false, true) => {
                    let (value, line) = &option.values[0];
                    return Err(self.error(
                        section,
                        Some((&option.name, *line)),
                        format!(
                            "is a single value: write `option {} '{value}'`",
                            option.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Turns config.rs's error on the generated TOML into one on the UCI line it came from.
    fn translate(&self, doc: &Document, error: &ConfigError) -> UciError {
        let origin = error
            .position()
            .and_then(|(line, _)| doc.origins.get(line.saturating_sub(1)))
            .cloned()
            .flatten();
        let Some(origin) = origin else {
            return UciError {
                origin: self.origin.to_string(),
                line: None,
                place: None,
                message: error.message().to_string(),
            };
        };
        let mut message = error.message();
        if let Some(key) = origin.toml_key {
            // "listen_port must be ..." reads "must be ..." after the option's name; but
            // "update_interval (2 s) must ..." keeps its subject.
            if let Some(rest) = message.strip_prefix(key) {
                let rest = rest.strip_prefix(':').unwrap_or(rest);
                if rest.starts_with(' ') && !rest.trim_start().starts_with('(') {
                    message = rest.trim_start();
                }
            }
        }
        let (place, line) = match &origin.option {
            Some((name, line)) => (format!("option {name} in {}", origin.section), *line),
            None => (origin.section.clone(), origin.section_line),
        };
        UciError {
            origin: self.origin.to_string(),
            line: Some(line),
            place: Some(place),
            message: message.to_string(),
        }
    }

    /// `option gateway '1'` with `option uplink '<ifname>'` is `[gateway] share = "<ifname>"`
    /// (written last in the `[gateway]` table). `uplink` alone is kept for when the switch is
    /// turned on.
    fn emit_share(&self, doc: &mut Document, main: &Section) -> Result<(), UciError> {
        let uplink = main.options.iter().find(|o| o.name == "uplink");
        if let Some(option) = uplink.filter(|o| o.is_list) {
            let (value, line) = &option.values[0];
            return Err(self.error(
                main,
                Some(("uplink", *line)),
                format!("is a single value: write `option uplink '{value}'`"),
            ));
        }
        if !self.switch(main, "gateway", false)? {
            return Ok(());
        }
        let Some(option) = uplink else {
            let line = main
                .options
                .iter()
                .find(|o| o.name == "gateway")
                .map_or(main.line, |o| o.values[0].1);
            return Err(self.error(
                main,
                Some(("gateway", line)),
                "'1' needs option uplink: the interface whose internet connection is shared \
                 (for example 'wan')"
                    .to_string(),
            ));
        };
        let (value, line) = &option.values[0];
        let origin = Origin {
            section: main.label(),
            section_line: main.line,
            option: Some(("uplink".to_string(), *line)),
            toml_key: Some("share"),
        };
        doc.line(&format!("share = {}", toml_string(value)), Some(origin));
        Ok(())
    }

    /// Writes a `config peer` section as a `[[peer]]` table.
    fn emit_peer(&self, doc: &mut Document, peer: &Section) -> Result<(), UciError> {
        let header = Origin {
            section: peer.label(),
            section_line: peer.line,
            option: None,
            toml_key: None,
        };
        doc.line("[[peer]]", Some(header));
        self.emit(doc, peer, "peer", PEER_OPTIONS, SWITCHES_PEER)?;
        if !peer.options.iter().any(|o| o.name == "public_key") {
            return Err(self.error(
                peer,
                None,
                "option public_key is missing (the peer's key, as `wg pubkey` prints it)"
                    .to_string(),
            ));
        }
        Ok(())
    }

    /// Parses a generated document with config.rs's checks.
    fn check(&self, doc: &Document) -> Result<Config, UciError> {
        Config::from_toml_str(&doc.text, self.origin).map_err(|e| self.translate(doc, &e))
    }
}

/// Maps parsed sections onto a [`Config`].
fn map(sections: &[Section], origin: &str) -> Result<UciConfig, UciError> {
    let mapper = Mapper { origin };
    let mut main: Option<&Section> = None;
    let mut peers: Vec<(&Section, bool)> = Vec::new();
    // `config discovery` and `config membership`: at most one of each.
    let mut singles: Vec<(&str, &Section)> = Vec::new();
    for section in sections {
        match section.kind.as_str() {
            kind @ ("discovery" | "membership" | "import" | "http") => {
                if let Some((_, first)) = singles.iter().find(|(k, _)| *k == kind) {
                    return Err(mapper.error(
                        section,
                        None,
                        format!(
                            "only one config {kind} section is allowed; the first is {} on line {}",
                            first.label(),
                            first.line
                        ),
                    ));
                }
                singles.push((kind, section));
            }
            "meshd" => {
                if let Some(first) = main {
                    return Err(mapper.error(
                        section,
                        None,
                        format!(
                            "only one config meshd section is allowed; the first is {} on line {}",
                            first.label(),
                            first.line
                        ),
                    ));
                }
                main = Some(section);
            }
            "peer" => peers.push((section, mapper.switch(section, "enabled", true)?)),
            other => {
                return Err(mapper.error(
                    section,
                    None,
                    format!(
                        "unknown section type `{other}` (meshd reads `meshd`, `peer`, \
                         `discovery`, `membership`, `import` and `http`)"
                    ),
                ));
            }
        }
    }

    let mut doc = Document::default();
    let mut enabled = true;
    if let Some(main) = main {
        enabled = mapper.switch(main, "enabled", true)?;
        for table in ["node", "babel", "gateway"] {
            doc.line(&format!("[{table}]"), None);
            mapper.emit(&mut doc, main, table, MAIN_OPTIONS, SWITCHES_MAIN)?;
        }
        mapper.emit_share(&mut doc, main)?;
    }

    // Duplicate keys are found here rather than by config.rs, whose message would cite a line
    // of the generated TOML.
    let mut seen: Vec<(PublicKey, &Section)> = Vec::new();
    for (peer, peer_enabled) in &peers {
        if !peer_enabled {
            continue;
        }
        let Some(option) = peer.options.iter().find(|o| o.name == "public_key") else {
            continue;
        };
        let (value, line) = &option.values[0];
        let Ok(key) = value.parse::<PublicKey>() else {
            continue; // reported by the checks below
        };
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            return Err(mapper.error(
                peer,
                Some(("public_key", *line)),
                format!(
                    "peer {key} is already configured in {} (line {})",
                    first.label(),
                    first.line
                ),
            ));
        }
        seen.push((key, peer));
    }

    let mut enabled_peers = 0;
    for (peer, peer_enabled) in &peers {
        if *peer_enabled {
            mapper.emit_peer(&mut doc, peer)?;
            enabled_peers += 1;
        } else {
            // A disabled peer is still checked, on its own so that it may repeat a key.
            let mut alone = Document::default();
            mapper.emit_peer(&mut alone, peer)?;
            mapper.check(&alone)?;
        }
    }
    for (kind, section) in &singles {
        let header = Origin {
            section: section.label(),
            section_line: section.line,
            option: None,
            toml_key: None,
        };
        doc.line(&format!("[{kind}]"), Some(header));
        let options = match *kind {
            "discovery" => DISCOVERY_OPTIONS,
            "import" => IMPORT_OPTIONS,
            "http" => HTTP_OPTIONS,
            _ => MEMBERSHIP_OPTIONS,
        };
        mapper.emit(&mut doc, section, kind, options, &[])?;
    }
    let config = mapper.check(&doc)?;
    debug_assert_eq!(config.peers.len(), enabled_peers);
    Ok(UciConfig { config, enabled })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    const KEY_A: &str = "r+OEzvZ8mDnDSJxL4KDoiIVVKcgPn9vCKq0W+pLORAw=";
    const KEY_B: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

    fn parse_ok(text: &str) -> UciConfig {
        from_str(text, "meshd").unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> String {
        from_str(text, "meshd")
            .expect_err("should be refused")
            .to_string()
    }

    #[test]
    fn words_undo_uci_quoting() {
        let cases: &[(&str, &[&str])] = &[
            ("option a 'b c'", &["option", "a", "b c"]),
            ("option a \"b c\"", &["option", "a", "b c"]),
            ("  option\ta  bare  ", &["option", "a", "bare"]),
            ("option a 'it'\\''s'", &["option", "a", "it's"]),
            (
                "option a \"say \\\"hi\\\" \\\\\"",
                &["option", "a", "say \"hi\" \\"],
            ),
            ("option a ''", &["option", "a", ""]),
            ("option a 'x' # comment", &["option", "a", "x"]),
            ("option a x#comment", &["option", "a", "x"]),
            (
                "option a '#not a comment'",
                &["option", "a", "#not a comment"],
            ),
            ("# only a comment", &[]),
            ("", &[]),
        ];
        for (line, expected) in cases {
            let got = words(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(got, *expected, "{line}");
        }
        for (line, expected) in [
            ("option a 'open", "unterminated ' quote"),
            ("option a \"open", "unterminated \" quote"),
            ("option a b\\", "line continuations"),
            ("option a b; option c d", "`;`"),
        ] {
            let message = words(line).expect_err(line);
            assert!(message.contains(expected), "{line}: {message}");
        }
    }

    #[test]
    fn empty_file_and_bare_section_are_the_defaults() {
        assert_eq!(
            parse_ok(""),
            UciConfig {
                config: Config::default(),
                enabled: true
            }
        );
        let uci = parse_ok("package meshd\n\nconfig meshd 'main'\n\toption enabled '0'\n");
        assert_eq!(uci.config, Config::default());
        assert!(!uci.enabled);
    }

    #[test]
    fn every_option_maps() {
        let text = format!(
            "config meshd 'main'\n\
             \toption enabled 'yes'\n\
             \toption gateway 'off'\n\
             \toption interface 'mesh7'\n\
             \toption listen_port '4242'\n\
             \toption state_dir '/etc/meshd'\n\
             \toption private_key_file '/etc/meshd/key'\n\
             \toption mesh_prefix 'fd00:1:2::/48'\n\
             \toption ipv4_address '10.73.0.9'\n\
             \tlist prefix '2001:db8:7::/64'\n\
             \tlist prefix \"192.168.7.0/24\"\n\
             \toption log_level debug\n\
             \toption underlay_mtu '1420'\n\
             \toption control_socket '/tmp/m.sock'\n\
             \toption hello_interval '0.5'\n\
             \toption update_interval '8'\n\
             \toption rtt '0'\n\
             \toption link_cost '256'\n\
             \toption uplink 'eth0.2'\n\
             \toption use_gateway '{KEY_B}'\n\
             \n\
             config peer 'a'\n\
             \toption public_key '{KEY_A}'\n\
             \toption endpoint '[2001:db8::2]:51820'\n\
             \toption persistent_keepalive '25'\n\
             \toption preshared_key_file '/etc/meshd/a.psk'\n\
             config peer\n\
             \toption public_key '{KEY_B}'\n\
             \toption enabled '0'\n"
        );
        let uci = parse_ok(&text);
        assert!(uci.enabled);
        let c = uci.config;
        assert_eq!(c.node.interface, "mesh7");
        assert_eq!(c.node.listen_port, 4242);
        assert_eq!(c.node.state_dir, PathBuf::from("/etc/meshd"));
        assert_eq!(
            c.node.private_key_file,
            Some(PathBuf::from("/etc/meshd/key"))
        );
        assert_eq!(c.node.mesh_prefix.to_string(), "fd00:1:2::/48");
        assert_eq!(c.node.ipv4_address, Some(Ipv4Addr::new(10, 73, 0, 9)));
        let prefixes: Vec<String> = c.node.prefixes.iter().map(|p| p.to_string()).collect();
        assert_eq!(prefixes, ["2001:db8:7::/64", "192.168.7.0/24"]);
        assert_eq!(c.node.log_level, LogLevel::Debug);
        assert_eq!(c.node.underlay_mtu, 1420);
        assert_eq!(c.node.control_socket, PathBuf::from("/tmp/m.sock"));
        assert_eq!(c.babel.hello_interval, Duration::from_millis(500));
        assert_eq!(c.babel.update_interval, Duration::from_secs(8));
        assert!(!c.babel.rtt);
        assert_eq!(c.babel.link_cost, 256);
        assert_eq!(c.gateway.share, None, "uplink alone shares nothing");
        assert_eq!(
            c.gateway.use_gateway,
            crate::config::GatewayUse::Only(KEY_B.parse().unwrap())
        );
        assert_eq!(c.peers.len(), 1, "the disabled peer is left out");
        let peer = &c.peers[0];
        assert_eq!(peer.public_key.to_string(), KEY_A);
        assert_eq!(peer.endpoint.as_deref(), Some("[2001:db8::2]:51820"));
        assert_eq!(peer.persistent_keepalive, Some(25));
        assert_eq!(
            peer.preshared_key_file,
            Some(PathBuf::from("/etc/meshd/a.psk"))
        );
    }

    #[test]
    fn values_are_checked_and_named() {
        for (option, value, expected) in [
            (
                "listen_port",
                "70000",
                "option listen_port in config meshd 'main' (line 2): must be 0..=65535, not 70000",
            ),
            (
                "listen_port",
                "51820x",
                "must be a whole number, not '51820x'",
            ),
            ("listen_port", "99999999999999999999", "far too large"),
            ("underlay_mtu", "1000", "must be 1280..=9000, not 1000"),
            ("link_cost", "0", "must be 1..=65534, not 0"),
            (
                "hello_interval",
                "0.05",
                "must be 0.1..=600 seconds, not 0.05",
            ),
            ("hello_interval", "fast", "number of seconds"),
            ("hello_interval", "nan", "number of seconds"),
            (
                "update_interval",
                "1",
                "must not be shorter than hello_interval",
            ),
            ("rtt", "maybe", "must be '1' or '0'"),
            ("log_level", "verbose", "must be one of error, warn"),
            (
                "interface",
                "a very long name",
                "must be 1 to 15 characters",
            ),
            (
                "mesh_prefix",
                "2001:db8::/48",
                "must be an IPv6 /48 inside fc00::/7",
            ),
            ("ipv4_address", "10.0.0.300", "is not an IPv4 address"),
            ("state_dir", "", "must not be empty"),
            (
                "enabled",
                "2",
                "option enabled in config meshd 'main' (line 2): must be '1'",
            ),
            ("gateway", "1", "'1' needs option uplink"),
            ("gateway", "maybe", "must be '1' or '0'"),
            ("use_gateway", "best", "`best` is not \"auto\", \"none\""),
        ] {
            let message = error(&format!(
                "config meshd 'main'\n\toption {option} '{value}'\n"
            ));
            assert!(
                message.starts_with(&format!(
                    "meshd: option {option} in config meshd 'main' (line 2): "
                )),
                "{option}: {message}"
            );
            assert!(message.contains(expected), "{option}: {message}");
        }
        let uci = parse_ok("config meshd 'main'\n\toption gateway '1'\n\toption uplink 'wan'\n");
        assert_eq!(uci.config.gateway.share.as_deref(), Some("wan"));
        let message = error(
            "config meshd 'main'\n\toption gateway '1'\n\toption interface 'up'\n\toption uplink 'up'\n",
        );
        assert_eq!(
            message,
            "meshd: option uplink in config meshd 'main' (line 4): `up` is the mesh interface \
             itself; name the uplink to share"
        );
        let message =
            error("config meshd 'main'\n\tlist prefix '10.0.0.0/8'\n\tlist prefix '10.1.2.3/16'\n");
        assert_eq!(
            message,
            "meshd: option prefix in config meshd 'main' (line 3): `10.1.2.3/16` has host bits \
             set; the network is 10.1.0.0/16"
        );
    }

    #[test]
    fn peers_are_checked_and_named() {
        let message = error("config peer 'x'\n\toption public_key 'abc'\n");
        assert!(
            message.starts_with("meshd: option public_key in config peer 'x' (line 2): "),
            "{message}"
        );
        let message = error(&format!(
            "config peer\n\toption public_key '{KEY_A}'\n\toption endpoint 'example.net'\n"
        ));
        assert!(
            message.starts_with("meshd: option endpoint in config peer @peer[0] (line 3): "),
            "{message}"
        );
        assert!(message.contains("missing :port"), "{message}");
        let message = error("config peer 'x'\n\toption endpoint 'a:1'\n");
        assert_eq!(
            message,
            "meshd: config peer 'x' (line 1): option public_key is missing (the peer's key, as \
             `wg pubkey` prints it)"
        );
        // A disabled peer is checked too.
        let message = error(&format!(
            "config peer\n\toption enabled '0'\n\toption public_key '{KEY_A}'\n\
             \toption persistent_keepalive '0'\n"
        ));
        assert!(message.contains("option persistent_keepalive"), "{message}");
        assert!(
            message.contains("(line 4): must be 1..=65535, not 0"),
            "{message}"
        );
    }

    #[test]
    fn duplicate_peers_name_both_sections() {
        let text = format!(
            "config peer 'a'\n\toption public_key '{KEY_A}'\n\
             config peer 'b'\n\toption public_key '{KEY_A}'\n"
        );
        assert_eq!(
            error(&text),
            format!(
                "meshd: option public_key in config peer 'b' (line 4): peer {KEY_A} is already \
                 configured in config peer 'a' (line 1)"
            )
        );
        // One of the two disabled: fine.
        let text = format!(
            "config peer 'a'\n\toption public_key '{KEY_A}'\n\
             config peer 'b'\n\toption public_key '{KEY_A}'\n\toption enabled '0'\n"
        );
        assert_eq!(parse_ok(&text).config.peers.len(), 1);
    }

    #[test]
    fn strict_about_names_and_shapes() {
        for (text, expected) in [
            (
                "config meshd 'main'\n\toption listen_prot '1'\n",
                "meshd: option listen_prot in config meshd 'main' (line 2): unknown option",
            ),
            (
                "config peer 'p'\n\toption keepalive '25'\n",
                "meshd: option keepalive in config peer 'p' (line 2): unknown option",
            ),
            (
                "config meshd 'main'\n\toption prefix '10.0.0.0/8'\n",
                "is a list: write `list prefix '10.0.0.0/8'`",
            ),
            (
                "config meshd 'main'\n\tlist listen_port '1'\n",
                "is a single value: write `option listen_port '1'`",
            ),
            (
                "config meshd 'main'\n\toption rtt '1'\n\toption rtt '0'\n",
                "meshd:3: rtt is already set in config meshd 'main' by the option on line 2",
            ),
            (
                "config meshd 'main'\nconfig meshd 'other'\n",
                "only one config meshd section",
            ),
            (
                "config node 'main'\n",
                "meshd: config node 'main' (line 1): unknown section type `node`",
            ),
            (
                "option rtt '1'\n",
                "meshd:1: `option` before any `config` line",
            ),
            (
                "config meshd 'main'\n\toption rtt\n",
                "meshd:2: expected `option <name>",
            ),
            (
                "config meshd 'main'\n\toption rtt 1 2\n",
                "meshd:2: expected `option",
            ),
            (
                "config meshd 'main'\n\tset rtt 1\n",
                "meshd:2: expected `config`, `option` or `list`",
            ),
            ("config meshd 'ma-in'\n", "meshd:1: section name `ma-in`"),
            (
                "config meshd 'a'\nconfig peer 'a'\n",
                "meshd:2: section 'a' is already defined on line 1",
            ),
            (
                "config meshd 'main'\n\toption bad-name '1'\n",
                "meshd:2: option name `bad-name`",
            ),
        ] {
            let message = error(text);
            assert!(
                message.starts_with("meshd") && message.contains(expected),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string("a\"b\\c\td"), "\"a\\\"b\\\\c\\u0009d\"");
        let uci = parse_ok("config meshd\n\toption state_dir '/tmp/a \"b\" \\c'\n");
        assert_eq!(uci.config.node.state_dir, PathBuf::from("/tmp/a \"b\" \\c"));
    }

    #[test]
    fn config_file_loads_either_kind() {
        let tmp = crate::state::tests::TempDir::new("uci-load");
        let uci = tmp.0.join("meshd");
        std::fs::write(&uci, "config meshd 'main'\n\toption listen_port '7'\n").expect("write");
        let file = ConfigFile::Uci(uci.clone());
        assert_eq!(file.load().expect("uci").node.listen_port, 7);
        assert_eq!(file.path(), uci.as_path());
        let toml = tmp.0.join("meshd.toml");
        std::fs::write(&toml, "[node]\nlisten_port = 8\n").expect("write");
        assert_eq!(
            ConfigFile::Toml(toml)
                .load()
                .expect("toml")
                .node
                .listen_port,
            8
        );
        let missing = ConfigFile::Uci(tmp.0.join("missing"));
        assert!(missing.load().expect_err("missing").contains("cannot read"));
    }

    const SHIPPED: &str = include_str!("../../openwrt/net/meshd/files/meshd.config");

    #[test]
    fn shipped_default_is_the_default_with_the_key_on_flash() {
        let uci = from_str(SHIPPED, "meshd.config").unwrap_or_else(|e| panic!("{e}"));
        assert!(uci.enabled);
        let mut expected = Config::default();
        expected.node.private_key_file = Some(PathBuf::from("/etc/meshd/private.key"));
        assert_eq!(uci.config, expected);
    }

    #[test]
    fn shipped_default_shows_every_option() {
        // Every `#option`, `#list` and `#config` line switched on, and the peer's body.
        let text: String = SHIPPED
            .lines()
            .map(|line| {
                let indent = line.len() - line.trim_start().len();
                let rest = &line[indent..];
                let setting = ["#option ", "#list ", "#config ", "#\t"]
                    .iter()
                    .any(|p| rest.starts_with(p));
                if setting {
                    format!("{}{}\n", &line[..indent], &rest[1..])
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        let uci = from_str(&text, "meshd.config (uncommented)").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(uci.config.peers.len(), 1);
        assert_eq!(uci.config.node.prefixes.len(), 2);
        assert_eq!(
            uci.config.node.ipv4_address,
            Some(Ipv4Addr::new(10, 73, 0, 1))
        );
        let mut names: Vec<&str> = MAIN_OPTIONS
            .iter()
            .chain(PEER_OPTIONS)
            .chain(DISCOVERY_OPTIONS)
            .chain(MEMBERSHIP_OPTIONS)
            .chain(IMPORT_OPTIONS)
            .map(|k| k.uci)
            .chain(["enabled", "gateway", "uplink"])
            .collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let shown = text.lines().any(|l| {
                let mut words = l.split_whitespace();
                matches!(words.next(), Some("option" | "list")) && words.next() == Some(name)
            });
            assert!(shown, "{name} is not shown in meshd.config");
        }
    }

    #[test]
    fn http_section_sets_the_listener_and_it_is_off_without() {
        let config = parse_ok("config http 'http'\n\toption listen '127.0.0.1:8080'\n").config;
        assert_eq!(config.http.listen, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(parse_ok("config http 'http'\n").config.http.listen, None);
        let error = from_str("config http\n\toption listen 'localhost'\n", "meshd")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("option listen") && error.contains("not an address"),
            "{error}"
        );
    }

    #[test]
    fn discovery_and_membership_sections_map_and_errors_name_the_option() {
        let text = format!(
            "config discovery 'discovery'\n\tlist interface 'wlan0-mesh'\n\tlist interface 'lan*'\n\
             \toption interval '2.5'\n\toption max_peers '8'\n\
             config membership 'membership'\n\toption policy 'allowlist'\n\tlist allow '{KEY_A}'\n\
             \tlist deny '{KEY_B}'\n\toption community_id 'harbour'\n"
        );
        let config = parse_ok(&text).config;
        let import = parse_ok(
            "config import\n\toption ipv4_range '198.51.100.0/24'\n\tlist allow '2001:db8::/32'\n\
             \tlist refuse '2001:db8:66::/48'\n",
        )
        .config
        .import;
        assert_eq!(import.ipv4_range, Some("198.51.100.0/24".parse().unwrap()));
        assert_eq!(import.allow, ["2001:db8::/32".parse().unwrap()]);
        assert_eq!(import.refuse, ["2001:db8:66::/48".parse().unwrap()]);
        assert_eq!(config.discovery.interfaces, vec!["wlan0-mesh", "lan*"]);
        assert_eq!(config.discovery.interval, Duration::from_millis(2500));
        assert_eq!(config.discovery.max_peers, 8);
        assert_eq!(
            config.membership.policy,
            crate::membership::Policy::Allowlist
        );
        assert_eq!(config.membership.allow[0].to_string(), KEY_A);
        assert_eq!(config.membership.deny[0].to_string(), KEY_B);
        assert_eq!(config.membership.community_id, "harbour");

        for (text, expected) in [
            (
                "config discovery\n\toption port 'x'\n",
                "option port in config discovery @discovery[0] (line 2): must be a whole number",
            ),
            (
                "config discovery\n\toption interface 'lan0'\n",
                "option interface in config discovery @discovery[0] (line 2): is a list",
            ),
            (
                "config discovery\n\toption max_peers '0'\n",
                "option max_peers in config discovery @discovery[0] (line 2): must be 1..=1024, not 0",
            ),
            (
                "config membership\n\toption policy 'closed'\n",
                "option policy in config membership @membership[0] (line 2): must be \"open\"",
            ),
            (
                "config membership\n\toption policy 'community'\n",
                "option policy in config membership @membership[0] (line 2): \"community\" needs",
            ),
            (
                "config membership\n\tlist deny 'nope'\n",
                "option deny in config membership @membership[0] (line 2): not a WireGuard public key",
            ),
            (
                "config discovery\nconfig discovery\n",
                "only one config discovery section",
            ),
            (
                "config membership\n\toption colour 'red'\n",
                "unknown option (config membership takes policy, allow, deny",
            ),
        ] {
            let message = error(text);
            assert!(message.contains(expected), "{text:?}: {message}");
        }
    }
}
