//! CSV import validation on any file: no panic, every line number points into the file
//! after its header (line 1), and no accepted value holds a NUL byte (PostgreSQL refuses
//! it in text, which aborted an import half-way).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relais::audience::import::parse_csv;

fuzz_target!(|data: &[u8]| {
    let Ok((good, bad)) = parse_csv(data) else {
        return;
    };
    // A record starts on a line that exists: lines are counted by line feeds, CR LF or LF.
    let lines = data.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    for (line, subscriber) in &good {
        assert!(
            (2..=lines).contains(line),
            "accepted line numbered {line} in a file of {lines} line(s)"
        );
        let values = subscriber
            .email
            .iter()
            .map(|e| e.as_str())
            .chain([subscriber.name.as_str()])
            .chain(subscriber.college.as_deref())
            .chain(subscriber.newsletters.iter().map(String::as_str))
            .chain(subscriber.themes.iter().map(String::as_str))
            .chain(subscriber.countries.iter().map(String::as_str))
            .chain(subscriber.departements.iter().map(String::as_str));
        for value in values {
            assert!(
                !value.contains('\0'),
                "line {line} accepted with a NUL byte in {value:?}"
            );
        }
    }
    for rejected in &bad {
        assert!(
            (2..=lines).contains(&rejected.line),
            "line rejected as number {} in a file of {lines} line(s): {}",
            rejected.line,
            rejected.reason
        );
    }
});
