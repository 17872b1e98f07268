//! Waiting for a condition by polling it until a deadline, never by sleeping a fixed time.

use std::fmt;
use std::time::{Duration, Instant};

/// First pause between polls; it doubles up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(10);
/// Longest pause between polls.
const MAX_POLL: Duration = Duration::from_millis(200);

/// A condition did not hold before the deadline.
#[derive(Debug, Clone, thiserror::Error)]
#[error("timed out after {waited:?} waiting for {what}{}", .last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
pub struct WaitError {
    /// What was awaited.
    pub what: String,
    /// How long it was awaited.
    pub waited: Duration,
    /// The condition's last error, if its last poll failed.
    pub last_error: Option<String>,
}

/// Polls `condition` until it returns `Ok(true)` or `timeout` passes; returns how long it took.
///
/// An `Err` from the condition counts as "not yet" (a node may be restarting) and is reported in
/// the [`WaitError`] if it was the last poll's outcome.
pub fn wait_until<E: fmt::Display>(
    timeout: Duration,
    what: &str,
    mut condition: impl FnMut() -> Result<bool, E>,
) -> Result<Duration, WaitError> {
    let start = Instant::now();
    let mut pause = FIRST_POLL;
    loop {
        let last_error = match condition() {
            Ok(true) => return Ok(start.elapsed()),
            Ok(false) => None,
            Err(err) => Some(err.to_string()),
        };
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(WaitError {
                what: what.to_owned(),
                waited,
                last_error,
            });
        }
        std::thread::sleep(pause.min(timeout - waited));
        pause = (pause * 2).min(MAX_POLL);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn returns_once_the_condition_holds() {
        let mut polls = 0;
        wait_until(Duration::from_secs(10), "three polls", || {
            polls += 1;
            Ok::<_, String>(polls == 3)
        })
        .unwrap();
        assert_eq!(polls, 3);
    }

    #[test]
    fn times_out_with_the_last_error() {
        let err = wait_until(Duration::from_millis(30), "never", || {
            Err::<bool, _>("refused")
        })
        .unwrap_err();
        assert_eq!(err.what, "never");
        assert!(err.waited >= Duration::from_millis(30));
        assert_eq!(err.last_error.as_deref(), Some("refused"));
        assert!(err.to_string().contains("(last error: refused)"), "{err}");
    }
}
