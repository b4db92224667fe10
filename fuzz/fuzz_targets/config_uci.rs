//! Feeds arbitrary text to meshd's UCI reader (`uci::from_str` in `meshd/src/uci.rs`), as
//! `meshd --check-uci` reads `/etc/config/meshd`: it parses the UCI statements, writes them as
//! TOML and checks that with config.rs. It must accept the text or refuse it with an error, never
//! panic; an error that names a line must name one the text has (UCI errors give lines, not
//! columns), and must read as one of the shapes `UciError` prints.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meshd_fuzz::uci;

const ORIGIN: &str = "/etc/config/meshd";

/// The line an error names, read back from how it prints (`UciError` keeps it private, and this
/// is what the operator sees): `ORIGIN:<line>: <message>`, or `ORIGIN: <place> (line <line>):
/// <message>` where the place is `[option <name> in ]config <type> '<name>'|@<type>[<n>]`,
/// whose names cannot hold `(`. `None` when it names no line; panics on any other shape.
fn line_of(error: &str) -> Option<usize> {
    let rest = error
        .strip_prefix(ORIGIN)
        .expect("errors start with the origin");
    if let Some(rest) = rest.strip_prefix(':').filter(|r| !r.starts_with(' ')) {
        let (digits, message) = rest.split_once(": ").expect("`:<line>: <message>`");
        assert!(!message.is_empty());
        return Some(digits.parse().expect("a line number"));
    }
    let rest = rest.strip_prefix(": ").expect("`: ` after the origin");
    let place_end = rest.find(" (line ").filter(|&i| is_place(&rest[..i]))?;
    let (digits, message) = rest[place_end + " (line ".len()..]
        .split_once("): ")
        .expect("`(line <line>): <message>`");
    assert!(!message.is_empty());
    Some(digits.parse().expect("a line number"))
}

/// `config <type> '<name>'`, `config <type> @<type>[<n>]`, each optionally after
/// `option <name> in `.
fn is_place(place: &str) -> bool {
    let name = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let kind = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let section = match place.strip_prefix("option ") {
        Some(rest) => match rest.split_once(" in ") {
            Some((option, section)) if name(option) => section,
            _ => return false,
        },
        None => place,
    };
    let Some((section_type, label)) = section
        .strip_prefix("config ")
        .and_then(|s| s.split_once(' '))
    else {
        return false;
    };
    if !kind(section_type) {
        return false;
    }
    if let Some(quoted) = label.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')) {
        return name(quoted);
    }
    label
        .strip_prefix('@')
        .and_then(|l| l.strip_prefix(section_type))
        .and_then(|l| l.strip_prefix('['))
        .and_then(|l| l.strip_suffix(']'))
        .is_some_and(|n| n.parse::<usize>().is_ok())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match uci::from_str(&text, ORIGIN) {
        Ok(read) => {
            let _ = read.config.babel_config();
            let link = read.config.link_config();
            assert!(link.max_packet_len > 0);
            assert!(read.config.node.mesh_mtu() >= 1280);
        }
        Err(error) => {
            let printed = error.to_string();
            if let Some(line) = line_of(&printed) {
                // The reader numbers lines as `str::lines` splits them.
                let lines = text.lines().count();
                assert!(
                    (1..=lines).contains(&line),
                    "line {line} of a text of {lines} lines: {printed}"
                );
            }
        }
    }
});
