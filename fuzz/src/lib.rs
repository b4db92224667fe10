//! meshd's modules that the fuzz targets drive, compiled from meshd's own source files. meshd is
//! a binary crate, which a fuzz crate cannot link; including its files here keeps meshd as it is
//! (a binary whose dead-code lint covers every module) and fuzzes exactly the code it runs.
//!
//! Each module is listed with the `crate::` modules it reaches: `config` uses `discovery`,
//! `keys`, `logging` and `membership`; `keys` uses `state`; `uci` uses `config`, `keys` and
//! `logging`; `discovery` and `forward` use none.

// The targets call only part of each module, and meshd's items are `pub` for the binary's sake.
#![allow(dead_code)]

#[path = "../../meshd/src/config.rs"]
pub mod config;
#[path = "../../meshd/src/discovery.rs"]
pub mod discovery;
#[path = "../../meshd/src/forward.rs"]
pub mod forward;
#[path = "../../meshd/src/keys.rs"]
pub mod keys;
#[path = "../../meshd/src/logging.rs"]
pub mod logging;
#[path = "../../meshd/src/membership.rs"]
pub mod membership;
#[path = "../../meshd/src/state.rs"]
pub mod state;
#[path = "../../meshd/src/uci.rs"]
pub mod uci;
