//! Feeds arbitrary lines to the control protocol's request parser, as meshd reads them from its
//! socket: it must answer every line with a request or an error, never panic, and a request it
//! accepts must come back unchanged through `request_line`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let Ok(request) = control::parse_request(&line) else {
        return;
    };
    let again = control::parse_request(&control::request_line(&request))
        .expect("a request meshctl would send parses");
    assert_eq!(again, request);
});
