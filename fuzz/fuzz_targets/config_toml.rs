//! Feeds arbitrary text to meshd's TOML configuration reader (`Config::from_toml_str` in
//! `meshd/src/config.rs`), as `meshd --check-config` reads a file. It must accept the text or
//! refuse it with an error, never panic; an error with a position must point inside the text
//! (a line the text has, a column of that line or just after its end), since the operator is
//! sent there; an accepted configuration must give the Babel core its parameters.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meshd_fuzz::config::Config;

/// Whether 1-based `(line, column)` (the column in characters) lies in `text`: on one of its
/// lines, at most one past that line's last character.
fn inside(text: &str, (line, column): (usize, usize)) -> bool {
    let Some(chars) = line
        .checked_sub(1)
        .and_then(|i| text.split('\n').nth(i))
        .map(|l| l.chars().count())
    else {
        return false;
    };
    (1..=chars + 1).contains(&column)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Config::from_toml_str(&text, "meshd.toml") {
        Ok(config) => {
            let _ = config.babel_config();
            let link = config.link_config();
            assert!(link.max_packet_len > 0);
            assert!(config.node.mesh_mtu() >= 1280);
            let _ = config.private_key_path();
        }
        Err(error) => {
            assert!(!error.message().is_empty());
            if let Some(position) = error.position() {
                assert!(
                    inside(&text, position),
                    "{position:?} is not in the text: {error}"
                );
            }
            let _ = error.to_string();
        }
    }
});
