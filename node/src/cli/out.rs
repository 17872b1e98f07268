//! Output helpers of the CLI: the only place commands write to stdout, and the formats they share.

use std::io::Write as _;

use anyhow::Context as _;
use serde::Serialize;

/// Prints `text` and a newline on stdout. A reader that stopped reading (`| head`) ends the command
/// quietly with exit 0; any other write error ends it with exit 2.
pub(crate) fn print_text(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        stdout_failed(&e);
    }
}

/// Ends the process after a failed write to stdout (nothing more can be said there).
fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to stdout: {e}");
    std::process::exit(2);
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot encode JSON")?;
    print_text(&text);
    Ok(())
}

/// Writes raw bytes to stdout.
pub(crate) fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        stdout_failed(&e);
    }
    Ok(())
}

/// `2026-01-02 03:04:05Z` for a time in ms since the Unix epoch (UTC, proleptic Gregorian).
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (year, month, day) = certnet_node::stix::ids::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `text` cut to `max` characters, with `…` when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let one_line = text.replace(['\n', '\t'], " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// Percent-encodes a query parameter value (everything but RFC 3986 unreserved characters).
pub(crate) fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(1_767_225_600_000), "2026-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400_000 + 3_723_000), "2000-02-29 01:02:03Z");
    }

    #[test]
    fn clipping_and_query_values() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(query_value("amber+strict"), "amber%2Bstrict");
        assert_eq!(query_value("CERT EU"), "CERT%20EU");
    }
}
