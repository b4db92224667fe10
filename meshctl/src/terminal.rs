//! The width of the terminal meshctl prints to, when there is one. Tables that can be read on one
//! line per row when the screen is wide (`meshctl neighbours`) ask here; everything else is cut to
//! 80 columns whatever the terminal, so output piped to a file or a script does not depend on
//! the window it was run in.
//!
//! This file is the one place in meshctl that needs `unsafe`: TIOCGWINSZ has no safe wrapper.
#![allow(unsafe_code)]

use std::io::IsTerminal;
use std::os::fd::AsRawFd;

/// Columns of the terminal on stdout, or `None` when stdout is no terminal or the terminal does
/// not say. `COLUMNS` (a number, set by the user) wins, as `ls` and `man` let it.
pub fn width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return Some(columns);
    }
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer, which points at a live,
    // writable `libc::winsize` for the whole call; the descriptor is stdout's, open while `stdout`
    // lives, and a failing call (not a terminal after all) leaves `size` zeroed and returns -1.
    let rc = unsafe { libc::ioctl(stdout.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}
