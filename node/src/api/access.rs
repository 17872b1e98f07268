//! Turning a request's credentials into a [`Principal`]: the node's API token, a consumer's bearer
//! token or HTTP Basic password, or none. Every comparison is constant-time, a username that does not
//! exist costs the same Argon2 work as one that does, failures are throttled per client address, and
//! no secret is logged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordVerifier as _;
use argon2::password_hash::phc::PasswordHash as Phc;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tracing::warn;
use zeroize::Zeroizing;

use super::limits::{
    AUTH_WINDOW, MAX_AUTH_FAILURES, MAX_TRACKED_CLIENTS, PASSWORD_CACHE_ENTRIES,
    PASSWORD_CACHE_TIME,
};
use super::principal::Principal;
use crate::datadir::config::{ApiConfig, PasswordHash, Reach, TaxiiConsumer, TaxiiCredential};
use crate::datadir::token::ApiToken;
use crate::store::BandSet;

/// Why credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Credentials were sent and are not valid (401).
    Invalid,
    /// This client failed too often recently: retry after this long (429).
    Throttled(Duration),
}

/// Where a request came from, as the listener saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
    /// Whether the connection is HTTPS.
    pub tls: bool,
}

/// Who may call the API, and how a request's credentials are checked.
pub struct AccessPolicy {
    token: ApiToken,
    consumers: Vec<TaxiiConsumer>,
    anonymous_clear: Reach,
    anonymous_status: Reach,
    /// Names the API answers to: `localhost`, its listen IPs, `[api] hosts`.
    hosts: Vec<String>,
    /// Random per process: keys the password cache and TAXII page tokens.
    secret: Zeroizing<[u8; 32]>,
    /// An Argon2id hash of a random password, checked when a Basic username is unknown so that
    /// unknown and known usernames cost the same time.
    decoy: String,
    passwords: Mutex<HashMap<[u8; 32], Instant>>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl std::fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessPolicy")
            .field("consumers", &self.consumers.len())
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl AccessPolicy {
    /// The policy of an API configured by `api`, listening on `listening`, with the node's `token`
    /// and these consumers. Logs a warning for every consumer whose password hash is legacy.
    pub fn new(
        api: &ApiConfig,
        listening: &[SocketAddr],
        token: ApiToken,
        consumers: Vec<TaxiiConsumer>,
    ) -> Self {
        let mut hosts = vec!["localhost".to_owned()];
        for addr in listening {
            if !addr.ip().is_unspecified() {
                hosts.push(addr.ip().to_string());
            }
        }
        hosts.extend(api.hosts().iter().cloned());
        for c in &consumers {
            if let Some(fix) = c.legacy_fix() {
                warn!(
                    consumer = c.name(),
                    "this TAXII consumer's password is an unsalted SHA-256 hash: replace it with an Argon2id one: {fix}"
                );
            }
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        // Without OS randomness the node cannot make keys either; a zero key only weakens the
        // password cache and page tokens of this one process.
        let _ = getrandom::fill(&mut secret[..]);
        let decoy = hash_password(&secret[..]).unwrap_or_default();
        Self {
            token,
            consumers,
            anonymous_clear: api.anonymous_clear(),
            anonymous_status: api.anonymous_status(),
            hosts,
            secret,
            decoy,
            passwords: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// A key only this process knows, for MACs of values it hands out (TAXII page tokens).
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// Whether `host` (a `Host` header's name, without port) is one of this API's names: `localhost`,
    /// a loopback address, a listen address, `[api] hosts`; `conn` adds the address the client
    /// connected to (an IP literal names no DNS record to rebind).
    pub fn is_own_host(&self, host: &str, conn: Option<&ConnInfo>) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if self.hosts.iter().any(|h| *h == bare) {
            return true;
        }
        // A loopback IP literal names no DNS record that a web page could rebind.
        if bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
            return true;
        }
        conn.is_some_and(|c| bare.parse::<IpAddr>().is_ok_and(|ip| ip == c.local.ip()))
    }

    /// The names this API answers to (for error messages).
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The principal of a request with these headers from `conn` (unknown in in-process tests:
    /// then the caller counts as remote). Blocking (Argon2): call it off the async workers.
    pub fn resolve(
        &self,
        headers: &HeaderMap,
        conn: Option<&ConnInfo>,
    ) -> Result<Principal, AuthError> {
        let client = conn.map(|c| c.remote.ip());
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            let loopback = client.is_some_and(|ip| ip.is_loopback());
            return Ok(Principal::Anonymous {
                clear: self.anonymous_clear.admits(loopback),
                status: self.anonymous_status.admits(loopback),
            });
        };
        if let Some(ip) = client {
            self.check_throttle(ip)?;
        }
        let found = self.credentials(value.as_bytes());
        if found.is_none()
            && let Some(ip) = client
        {
            self.failed(ip);
        }
        found.ok_or(AuthError::Invalid)
    }

    /// The principal for an `Authorization` value, if it is valid.
    fn credentials(&self, value: &[u8]) -> Option<Principal> {
        let space = value.iter().position(|b| *b == b' ')?;
        let (scheme, rest) = value.split_at(space);
        let secret = rest.trim_ascii();
        if scheme.eq_ignore_ascii_case(b"bearer") {
            if self.token.matches(secret) {
                return Some(Principal::Operator);
            }
            let hash: [u8; 32] = Sha256::digest(secret).into();
            let mut found = None;
            // Every consumer is compared, so the time does not tell which one matched.
            for c in &self.consumers {
                if let TaxiiCredential::Bearer { token_sha256 } = c.credential()
                    && bool::from(token_sha256.ct_eq(&hash))
                {
                    found = Some(consumer(c));
                }
            }
            return found;
        }
        if scheme.eq_ignore_ascii_case(b"basic") {
            let decoded = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(secret)
                    .ok()?,
            );
            let colon = decoded.iter().position(|b| *b == b':')?;
            let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
            return self.basic(user, password);
        }
        None
    }

    fn basic(&self, user: &[u8], password: &[u8]) -> Option<Principal> {
        let mut found: Option<&TaxiiConsumer> = None;
        for c in &self.consumers {
            if let TaxiiCredential::Basic { username, .. } = c.credential()
                && bool::from(username.as_bytes().ct_eq(user))
            {
                found = Some(c);
            }
        }
        let Some(c) = found else {
            // The same Argon2 work as a real check, so unknown usernames cannot be told apart.
            if let Ok(decoy) = Phc::new(&self.decoy) {
                let _ = argon2::Argon2::default().verify_password(password, &decoy);
            }
            return None;
        };
        let TaxiiCredential::Basic { password: hash, .. } = c.credential() else {
            return None;
        };
        let ok = match hash {
            PasswordHash::LegacySha256(expected) => {
                let got: [u8; 32] = Sha256::digest(password).into();
                bool::from(expected.ct_eq(&got))
            }
            PasswordHash::Argon2id(phc) => self.argon2_ok(user, password, phc),
        };
        ok.then(|| consumer(c))
    }

    /// Checks an Argon2id hash, remembering a success for [`PASSWORD_CACHE_TIME`].
    fn argon2_ok(&self, user: &[u8], password: &[u8], phc: &str) -> bool {
        let mut h = Sha256::new();
        h.update(&self.secret[..]);
        h.update((user.len() as u64).to_be_bytes());
        h.update(user);
        h.update(password);
        h.update(phc.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        let now = Instant::now();
        {
            let cache = self.passwords.lock().unwrap_or_else(|e| e.into_inner());
            if cache
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < PASSWORD_CACHE_TIME)
            {
                return true;
            }
        }
        let ok = Phc::new(phc).is_ok_and(|parsed| {
            argon2::Argon2::default()
                .verify_password(password, &parsed)
                .is_ok()
        });
        if ok {
            let mut cache = self.passwords.lock().unwrap_or_else(|e| e.into_inner());
            cache.retain(|_, t| now.duration_since(*t) < PASSWORD_CACHE_TIME);
            if cache.len() >= PASSWORD_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, now);
        }
        ok
    }

    fn check_throttle(&self, ip: IpAddr) -> Result<(), AuthError> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(&ip) {
            Some((count, since)) if *count >= MAX_AUTH_FAILURES => {
                let elapsed = since.elapsed();
                if elapsed < AUTH_WINDOW {
                    Err(AuthError::Throttled(AUTH_WINDOW - elapsed))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED_CLIENTS && !failures.contains_key(&ip) {
            failures.retain(|_, (_, since)| now.duration_since(*since) < AUTH_WINDOW);
            if failures.len() >= MAX_TRACKED_CLIENTS
                && let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, (_, s))| *s)
                    .map(|(ip, _)| *ip)
            {
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= AUTH_WINDOW {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
        if entry.0 == MAX_AUTH_FAILURES {
            warn!(client = %ip, failures = entry.0, "repeated failed authentication: this client gets 429 for the rest of the minute");
        }
    }
}

fn consumer(c: &TaxiiConsumer) -> Principal {
    Principal::Consumer {
        name: Arc::from(c.name()),
        bands: BandSet::of(c.tlp().iter().copied()),
        collections: BandSet::of(c.collections().iter().copied()),
    }
}

/// An Argon2id PHC string for `password`, with a fresh random salt (for `certnet consumer add`).
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    use argon2::password_hash::PasswordHasher as _;
    argon2::Argon2::default()
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use certnet_protocol::record::Tlp;

    use super::*;

    fn basic(user: &str, password: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let value = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {value}").parse().unwrap(),
        );
        h
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    fn conn(ip: [u8; 4]) -> ConnInfo {
        ConnInfo {
            remote: SocketAddr::from((ip, 5000)),
            local: SocketAddr::from(([127, 0, 0, 1], 4470)),
            tls: false,
        }
    }

    #[test]
    fn credentials_resolve_to_principals_and_failures_are_throttled() {
        let token = ApiToken::generate().unwrap();
        let phc = hash_password(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        let consumers = vec![
            TaxiiConsumer::new(
                "misp",
                vec![Tlp::Clear, Tlp::Green],
                false,
                TaxiiCredential::Basic {
                    username: "misp".into(),
                    password: PasswordHash::Argon2id(phc),
                },
            ),
            TaxiiConsumer::new(
                "old",
                vec![Tlp::Clear],
                false,
                TaxiiCredential::Basic {
                    username: "old".into(),
                    password: PasswordHash::LegacySha256(Sha256::digest(b"pw").into()),
                },
            ),
        ];
        let policy = AccessPolicy::new(
            &ApiConfig::default(),
            &["127.0.0.1:4470".parse().unwrap()],
            token.clone(),
            consumers,
        );
        let local = conn([127, 0, 0, 1]);
        let far = conn([192, 0, 2, 9]);
        assert_eq!(
            policy.resolve(&bearer(token.as_str()), Some(&far)),
            Ok(Principal::Operator)
        );
        let misp = policy
            .resolve(&basic("misp", "correct horse"), Some(&far))
            .unwrap();
        assert!(misp.may_read(Tlp::Green) && !misp.may_read(Tlp::Amber));
        // Cached now: the same answer again.
        assert_eq!(
            policy.resolve(&basic("misp", "correct horse"), Some(&far)),
            Ok(misp)
        );
        assert!(policy.resolve(&basic("old", "pw"), Some(&far)).is_ok());
        assert_eq!(
            policy.resolve(&HeaderMap::new(), Some(&local)),
            Ok(Principal::Anonymous {
                clear: true,
                status: true
            })
        );
        assert_eq!(
            policy.resolve(&HeaderMap::new(), Some(&far)),
            Ok(Principal::Anonymous {
                clear: false,
                status: false
            })
        );
        for _ in 0..MAX_AUTH_FAILURES {
            assert_eq!(
                policy.resolve(&basic("misp", "wrong"), Some(&far)),
                Err(AuthError::Invalid)
            );
        }
        assert!(matches!(
            policy.resolve(&basic("misp", "correct horse"), Some(&far)),
            Err(AuthError::Throttled(_))
        ));
        // Another client is not affected.
        assert_eq!(
            policy.resolve(&bearer(token.as_str()), Some(&local)),
            Ok(Principal::Operator)
        );
        assert_eq!(
            policy.resolve(&basic("nobody", "x"), Some(&local)),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn own_hosts() {
        let api = ApiConfig::default().with_hosts(vec!["certnet.cert.example".into()]);
        let policy = AccessPolicy::new(
            &api,
            &["0.0.0.0:4470".parse().unwrap()],
            ApiToken::generate().unwrap(),
            vec![],
        );
        let c = ConnInfo {
            remote: "192.0.2.1:9".parse().unwrap(),
            local: "192.0.2.10:4470".parse().unwrap(),
            tls: false,
        };
        assert!(policy.is_own_host("localhost", None));
        assert!(policy.is_own_host("CERTNET.cert.example.", None));
        assert!(policy.is_own_host("192.0.2.10", Some(&c)));
        assert!(!policy.is_own_host("192.0.2.10", None));
        assert!(!policy.is_own_host("rebind.attacker.example", Some(&c)));
        assert!(!policy.is_own_host("0.0.0.0", Some(&c)));
    }
}
