//! A TAXII query: its filters, checked, and the opaque `next` tokens that page through it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::{DEFAULT_PAGE, MAX_PAGE, TaxiiError};
use crate::api::limits::PAGE_TOKEN_LIFETIME;
use crate::stix::ids::parse_timestamp_us;
use crate::stix::log::LogItem;

/// Which endpoint a query is for: decides the filters it may carry and its default `match[version]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    Objects,
    Manifest,
    Object,
    Versions,
}

/// `match[version]` terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum VersionTerm {
    First,
    Last,
    All,
    At(u64),
}

/// A checked query: filters and where to start.
#[derive(Debug, Clone)]
pub(super) struct Query {
    pub(super) added_after: Option<u64>,
    pub(super) limit: usize,
    pub(super) start: (u64, u32),
    ids: Vec<String>,
    types: Vec<String>,
    versions: Vec<VersionTerm>,
    spec_versions: Vec<String>,
    object: Option<String>,
}

impl Query {
    /// Parses the query string of a request to `endpoint` of `collection` (and `object`); a `next`
    /// token is checked with `key` against this query at `now_s` (seconds since the epoch).
    pub(super) fn parse(
        raw: Option<&str>,
        endpoint: Endpoint,
        collection: &str,
        object: Option<&str>,
        key: &[u8; 32],
        now_s: u64,
    ) -> Result<Self, TaxiiError> {
        let mut q = Query {
            added_after: None,
            limit: DEFAULT_PAGE,
            start: (0, 0),
            ids: vec![],
            types: vec![],
            versions: vec![],
            spec_versions: vec![],
            object: object.map(str::to_owned),
        };
        let mut next = None;
        let mut seen: Vec<String> = Vec::new();
        let pairs = form_pairs(raw.unwrap_or(""))?;
        for (key, value) in &pairs {
            if seen.contains(key) {
                return Err(TaxiiError::bad_request(format!(
                    "`{key}` is given twice: give several values as one comma-separated list"
                )));
            }
            seen.push(key.clone());
            let allowed = match key.as_str() {
                "added_after" | "limit" | "next" | "match[spec_version]" => true,
                "match[version]" => endpoint != Endpoint::Versions,
                "match[id]" | "match[type]" => {
                    matches!(endpoint, Endpoint::Objects | Endpoint::Manifest)
                }
                _ => false,
            };
            if !allowed {
                return Err(TaxiiError::bad_request(format!(
                    "`{key}` is not a parameter of this endpoint (it takes added_after, limit, next{})",
                    match endpoint {
                        Endpoint::Objects | Endpoint::Manifest =>
                            ", match[id], match[type], match[version], match[spec_version]",
                        Endpoint::Object => ", match[version], match[spec_version]",
                        Endpoint::Versions => ", match[spec_version]",
                    }
                )));
            }
            let list = || value.split(',').map(str::trim).map(str::to_owned);
            match key.as_str() {
                "added_after" => {
                    q.added_after = Some(parse_timestamp_us(value).ok_or_else(|| {
                        TaxiiError::bad_request(format!(
                            "added_after `{value}` is not a timestamp such as 2026-11-18T11:06:40.000000Z"
                        ))
                    })?);
                }
                "limit" => {
                    let n: usize = value.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        TaxiiError::bad_request(format!(
                            "limit `{value}` must be a positive integer (at most {MAX_PAGE} are returned)"
                        ))
                    })?;
                    q.limit = n.min(MAX_PAGE);
                }
                "next" => next = Some(value.clone()),
                "match[id]" => {
                    for id in list() {
                        if !is_stix_id(&id) {
                            return Err(TaxiiError::bad_request(format!(
                                "match[id] `{id}` is not a STIX id (type--uuid)"
                            )));
                        }
                        q.ids.push(id);
                    }
                }
                "match[type]" => {
                    for t in list() {
                        if !is_stix_type(&t) {
                            return Err(TaxiiError::bad_request(format!(
                                "match[type] `{t}` is not a STIX type such as indicator"
                            )));
                        }
                        q.types.push(t);
                    }
                }
                "match[version]" => {
                    for v in list() {
                        q.versions.push(match v.as_str() {
                            "first" => VersionTerm::First,
                            "last" => VersionTerm::Last,
                            "all" => VersionTerm::All,
                            other => VersionTerm::At(
                                parse_timestamp_us(other).map(|us| us / 1000).ok_or_else(|| {
                                    TaxiiError::bad_request(format!(
                                        "match[version] `{other}` must be first, last, all or a timestamp"
                                    ))
                                })?,
                            ),
                        });
                    }
                }
                "match[spec_version]" => {
                    for v in list() {
                        let ok = v.split_once('.').is_some_and(|(a, b)| {
                            !a.is_empty()
                                && !b.is_empty()
                                && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
                        });
                        if !ok {
                            return Err(TaxiiError::bad_request(format!(
                                "match[spec_version] `{v}` is not a STIX version such as 2.1"
                            )));
                        }
                        q.spec_versions.push(v);
                    }
                }
                _ => {}
            }
        }
        if q.versions.is_empty() && endpoint != Endpoint::Versions {
            q.versions.push(VersionTerm::Last);
        }
        if let Some(token) = next {
            q.start = q.parse_next(&token, endpoint, collection, key, now_s)?;
        }
        Ok(q)
    }

    /// What makes a `next` belong to this query: every filter, the endpoint and the collection.
    pub(super) fn fingerprint(&self, endpoint: Endpoint, collection: &str) -> String {
        let text = format!(
            "{endpoint:?}|{collection}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.object, self.added_after, self.ids, self.types, self.versions, self.spec_versions
        );
        hex::encode(&Sha256::digest(text.as_bytes())[..8])
    }

    /// The MAC of a token's position and expiry, bound to this query.
    fn mac(&self, endpoint: Endpoint, collection: &str, key: &[u8; 32], body: &[u8]) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(body);
        mac.update(self.fingerprint(endpoint, collection).as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag[..16]);
        out
    }

    /// An opaque `next` token for the position `at`: position and expiry, MACed with a key only
    /// this node process holds, bound to this query. It reveals nothing and cannot be forged.
    pub(super) fn next_token(
        &self,
        endpoint: Endpoint,
        collection: &str,
        at: (u64, u32),
        key: &[u8; 32],
        now_s: u64,
    ) -> String {
        let mut body = [0u8; 20];
        body[..8].copy_from_slice(&at.0.to_be_bytes());
        body[8..12].copy_from_slice(&at.1.to_be_bytes());
        let expires = now_s.saturating_add(PAGE_TOKEN_LIFETIME.as_secs());
        body[12..].copy_from_slice(&expires.to_be_bytes());
        let mut token = body.to_vec();
        token.extend_from_slice(&self.mac(endpoint, collection, key, &body));
        URL_SAFE_NO_PAD.encode(token)
    }

    fn parse_next(
        &self,
        token: &str,
        endpoint: Endpoint,
        collection: &str,
        key: &[u8; 32],
        now_s: u64,
    ) -> Result<(u64, u32), TaxiiError> {
        let bad = || {
            TaxiiError::bad_request(
                "next is not a token this query returned: repeat the request with the same filters and the next value from its answer, or without next",
            )
        };
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        if raw.len() != 36 {
            return Err(bad());
        }
        let (body, tag) = raw.split_at(20);
        if !bool::from(self.mac(endpoint, collection, key, body).ct_eq(tag)) {
            return Err(bad());
        }
        let index = u64::from_be_bytes(body[..8].try_into().map_err(|_| bad())?);
        let sub = u32::from_be_bytes(body[8..12].try_into().map_err(|_| bad())?);
        let expires = u64::from_be_bytes(body[12..].try_into().map_err(|_| bad())?);
        if now_s > expires {
            return Err(TaxiiError::bad_request(format!(
                "this next token has expired (tokens live {} minutes and end when the node restarts): repeat the request without next, with added_after set to the X-TAXII-Date-Added-Last of the last page",
                PAGE_TOKEN_LIFETIME.as_secs() / 60
            )));
        }
        Ok((index, sub))
    }

    pub(super) fn matches(&self, item: &LogItem) -> bool {
        let v = &item.version;
        self.added_after.is_none_or(|t| item.added_us > t)
            && self.object.as_ref().is_none_or(|o| *o == v.id)
            && (self.ids.is_empty() || self.ids.contains(&v.id))
            && (self.types.is_empty() || self.types.iter().any(|t| t == v.stix_type()))
            && (self.spec_versions.is_empty() || self.spec_versions.iter().any(|s| s == "2.1"))
            && (self.versions.is_empty()
                || self.versions.iter().any(|t| match t {
                    VersionTerm::All => true,
                    VersionTerm::First => item.first,
                    VersionTerm::Last => item.last,
                    VersionTerm::At(ms) => *ms == v.version_ms,
                }))
    }
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded.
fn form_pairs(raw: &str) -> Result<Vec<(String, String)>, TaxiiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
        .map_err(|e| TaxiiError::bad_request(format!("the query string cannot be read: {e}")))
}

pub(super) fn is_stix_type(t: &str) -> bool {
    (3..=250).contains(&t.len())
        && t.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !t.starts_with('-')
        && !t.ends_with('-')
}

pub(super) fn is_stix_id(id: &str) -> bool {
    let Some((t, uuid)) = id.split_once("--") else {
        return false;
    };
    is_stix_type(t)
        && uuid.len() == 36
        && uuid.bytes().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::super::{BANDS, collection_id};
    use super::*;

    #[test]
    fn ids_and_types_are_checked() {
        assert!(is_stix_id(
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        ));
        assert!(!is_stix_id(
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3"
        ));
        assert!(!is_stix_id(
            "Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        ));
        assert!(!is_stix_id("8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"));
        assert!(is_stix_type("marking-definition"));
        assert!(!is_stix_type("x"));
        assert!(!is_stix_type("in dicator"));
    }

    #[test]
    fn next_tokens_are_opaque_bound_to_the_query_and_expire() {
        let key = [7u8; 32];
        let q = |raw: &str| Query::parse(Some(raw), Endpoint::Objects, "c", None, &key, 1000);
        let query = q("limit=5").unwrap();
        let token = query.next_token(Endpoint::Objects, "c", (123_456, 2), &key, 1000);
        assert!(!token.contains("123456"));
        assert_eq!(
            q(&format!("limit=5&next={token}")).unwrap().start,
            (123_456, 2)
        );
        // Another query, another key, a changed byte, an expired token: refused.
        assert!(q(&format!("limit=5&match[type]=indicator&next={token}")).is_err());
        assert!(
            Query::parse(
                Some(&format!("next={token}")),
                Endpoint::Objects,
                "c",
                None,
                &[8; 32],
                1000
            )
            .is_err()
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[3] ^= 1;
        assert!(q(&format!("limit=5&next={}", URL_SAFE_NO_PAD.encode(bytes))).is_err());
        let late = 1000 + PAGE_TOKEN_LIFETIME.as_secs() + 1;
        let err = Query::parse(
            Some(&format!("limit=5&next={token}")),
            Endpoint::Objects,
            "c",
            None,
            &key,
            late,
        )
        .unwrap_err();
        assert!(err.description.contains("expired"), "{}", err.description);
    }

    #[test]
    fn collection_ids_are_distinct_uuids() {
        let ids: Vec<String> = BANDS.iter().map(|b| collection_id(*b)).collect();
        for (i, a) in ids.iter().enumerate() {
            assert_eq!(a.len(), 36);
            assert!(!ids[..i].contains(a));
        }
    }
}
