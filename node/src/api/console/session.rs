//! Console sessions: sign-in with the node's API token or a consumer's credentials, a session cookie,
//! a CSRF token per session, sign-out.
//!
//! - The cookie holds 32 random bytes (hex); the node keeps only their SHA-256, with the
//!   [`Principal`] the credentials resolved to (the same one the API would resolve: same bands, same
//!   rule). It is `HttpOnly; SameSite=Strict; Path=/ui`, and `Secure` on HTTPS.
//! - The cookie authenticates `/ui/…` only: the guard ignores it on every other path, so a session
//!   never turns into API access.
//! - Every write the console makes (publish, block, sign a checkpoint, sign out) carries the session's
//!   CSRF token in a form field, compared in constant time. Sign-in itself has no session yet: the
//!   guard refuses cross-site requests (`Origin`, `Sec-Fetch-Site`) before it runs.
//! - Sessions end after [`IDLE`] without a request or [`MAX_AGE`] in all; at most [`MAX_SESSIONS`]
//!   live at once (the oldest is dropped first). They live in memory: a restart signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::super::principal::Principal;

/// The cookie's name.
pub(super) const COOKIE: &str = "certnet_console";
/// A session ends after this long without a request.
pub(crate) const IDLE: Duration = Duration::from_secs(8 * 3600);
/// A session ends this long after sign-in, whatever its use.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Sessions alive at once; signing in past it drops the oldest.
pub(crate) const MAX_SESSIONS: usize = 256;
/// Sessions of one principal alive at once; its next sign-in drops its oldest (so one consumer's
/// credentials cannot push everyone else's sessions out).
pub(crate) const MAX_PER_PRINCIPAL: usize = 16;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Who signed in.
    pub(crate) principal: Principal,
    /// The token every write must carry (hex).
    pub(crate) csrf: String,
    /// The SHA-256 of the cookie's value (to sign out).
    pub(crate) key: [u8; 32],
    created: Instant,
    last: Instant,
}

impl Session {
    /// Whether `token` is this session's CSRF token.
    pub(crate) fn csrf_ok(&self, token: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes()))
    }
}

/// Every live session, by the hash of its cookie.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    live: Mutex<HashMap<[u8; 32], Session>>,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    hex::encode(bytes)
}

fn key_of(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

impl Sessions {
    /// Starts a session for `principal`; returns the cookie value to set.
    pub(crate) fn start(&self, principal: Principal) -> String {
        let cookie = random_hex();
        let now = Instant::now();
        let session = Session {
            principal,
            csrf: random_hex(),
            key: key_of(&cookie),
            created: now,
            last: now,
        };
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|_, s| alive(s, now));
        let label = session.principal.label();
        let mut own: Vec<([u8; 32], Instant)> = live
            .values()
            .filter(|s| s.principal.label() == label)
            .map(|s| (s.key, s.last))
            .collect();
        own.sort_by_key(|(_, last)| *last);
        for (key, _) in own
            .iter()
            .take((own.len() + 1).saturating_sub(MAX_PER_PRINCIPAL))
        {
            live.remove(key);
        }
        while live.len() >= MAX_SESSIONS {
            let Some(oldest) = live.values().min_by_key(|s| s.last).map(|s| s.key) else {
                break;
            };
            live.remove(&oldest);
        }
        live.insert(session.key, session);
        cookie
    }

    /// The live session the request's cookie names, if any (and marks it used).
    pub(crate) fn find(&self, headers: &HeaderMap) -> Option<Session> {
        let cookie = cookie_value(headers)?;
        let key = key_of(cookie);
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let session = live.get_mut(&key)?;
        if !alive(session, now) {
            live.remove(&key);
            return None;
        }
        session.last = now;
        Some(session.clone())
    }

    /// Whether the session with this key is still live (not signed out, not expired).
    pub(crate) fn is_live(&self, key: &[u8; 32]) -> bool {
        let now = Instant::now();
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .is_some_and(|s| alive(s, now))
    }

    /// Ends a session.
    pub(crate) fn end(&self, key: &[u8; 32]) {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last) < IDLE && now.duration_since(s.created) < MAX_AGE
}

/// The console cookie's value in a request, if it sent one that looks like ours.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value starting a session.
pub(super) fn set_cookie(value: &str, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        MAX_AGE.as_secs()
    ))
    .expect("a cookie of hex digits is a valid header value")
}

/// The `Set-Cookie` value ending a session.
pub(super) fn clear_cookie(tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
    .expect("a fixed cookie is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={value}")).unwrap(),
        );
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends() {
        let sessions = Sessions::default();
        let cookie = sessions.start(Principal::Operator);
        let found = sessions.find(&with_cookie(&cookie)).expect("session");
        assert_eq!(found.principal, Principal::Operator);
        assert!(found.csrf_ok(&found.csrf));
        assert!(!found.csrf_ok(""));
        assert!(!found.csrf_ok(&random_hex()));
        assert!(sessions.find(&with_cookie(&random_hex())).is_none());
        assert!(sessions.find(&with_cookie("short")).is_none());
        sessions.end(&found.key);
        assert!(sessions.find(&with_cookie(&cookie)).is_none());
    }

    #[test]
    fn sessions_are_capped_oldest_first_and_per_principal() {
        use crate::store::BandSet;
        let sessions = Sessions::default();
        let operator = sessions.start(Principal::Operator);
        let consumer = |n: usize| Principal::Consumer {
            name: format!("c{n}").into(),
            bands: BandSet::NONE,
            collections: BandSet::NONE,
        };
        // One consumer signing in again and again only replaces its own sessions.
        let first = sessions.start(consumer(0));
        for _ in 0..MAX_SESSIONS {
            sessions.start(consumer(0));
        }
        assert_eq!(sessions.len(), 1 + MAX_PER_PRINCIPAL);
        assert!(sessions.find(&with_cookie(&operator)).is_some());
        assert!(sessions.find(&with_cookie(&first)).is_none());
        // Many principals: the least recently used sessions go first (consumer 0's, then the
        // operator's, used last by the `find` above).
        let second = sessions.start(consumer(1));
        for n in 2..=MAX_SESSIONS {
            sessions.start(consumer(n));
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.find(&with_cookie(&operator)).is_none());
        assert!(sessions.find(&with_cookie(&second)).is_some());
    }

    #[test]
    fn cookies_carry_the_attributes() {
        let c = set_cookie(&"a".repeat(64), false);
        let text = c.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(text.contains("Path=/ui") && !text.contains("Secure"));
        assert!(
            set_cookie("ab", true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
    }
}
