//! Indicator values as people type and paste them, brought to the canonical form a signed record
//! carries (PROTOCOL.md §6.1), and the observables a record's content reports.
//!
//! Signed records accept only canonical forms ([`super::indicator::check_indicator`]); what this
//! module rewrites is input to the node (the API, the CLI, imports, lookups), and only where the
//! meaning is unambiguous: hex digests in any case, DNS names in any case and with a trailing dot,
//! IPv6 in any RFC 4291 text form, defanged forms (`hxxp://`, `[.]`, `(.)`, `{.}`, `[dot]`, `[:]`,
//! `[@]`, `[at]`), `cve-…` and `as…` in lower case. An IPv4 address with leading zeros (octal to some
//! parsers) or a network with host bits set is left as typed, so validation refuses it.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::content::Update;
use super::indicator::{IndicatorType, IndicatorValue, check_indicator};
use super::{Content, Payload};

/// Defanging marks and what they stand for. Canonical values never contain brackets around these.
const REFANG: [(&str, &str); 9] = [
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    ("[dot]", "."),
    ("(dot)", "."),
    ("[:]", ":"),
    ("[@]", "@"),
    ("(@)", "@"),
    ("[at]", "@"),
];

/// Undoes defanging and trims surrounding white space.
fn refang(input: &str) -> String {
    let mut s = input.trim().to_owned();
    for (mark, plain) in REFANG {
        if s.contains(mark) {
            s = s.replace(mark, plain);
        }
    }
    s
}

/// `value` in the canonical form of `kind` where the meaning is unambiguous; otherwise `value` as
/// typed (trimmed), for validation to refuse with the rule it breaks.
pub fn normalize(kind: IndicatorType, value: &str) -> String {
    let s = refang(value);
    let out = match kind {
        IndicatorType::Ipv4 => Some(s.clone()),
        IndicatorType::Ipv6 => ipv6(&s),
        IndicatorType::Cidr => cidr(&s),
        IndicatorType::Domain => Some(domain(&s)),
        IndicatorType::Url => url(&s),
        IndicatorType::Email => email(&s),
        IndicatorType::Sha256 | IndicatorType::Sha1 | IndicatorType::Md5 => {
            Some(s.to_ascii_lowercase())
        }
        IndicatorType::Cve => Some(s.to_ascii_uppercase()),
        IndicatorType::Asn => asn(&s),
    };
    out.unwrap_or(s)
}

/// Works out what kind of indicator `input` is and returns it in canonical form, or says why it
/// cannot: for lookups, where nobody names the type.
pub fn detect(input: &str) -> Result<IndicatorValue, String> {
    let s = refang(input);
    let kind = detect_kind(&s).ok_or_else(|| {
        format!(
            "cannot tell what kind of indicator `{}` is: give an IPv4 or IPv6 address, a network \
             (198.51.100.0/24), a domain, a URL, an email address, an MD5, SHA-1 or SHA-256 digest \
             in hex, a CVE id (CVE-2024-3094) or an AS number (AS64496)",
            input.trim()
        )
    })?;
    let value = normalize(kind, &s);
    check_indicator(kind, &value).map_err(|rule| format!("`{}` {rule}", input.trim()))?;
    Ok(IndicatorValue { kind, value })
}

fn detect_kind(s: &str) -> Option<IndicatorType> {
    let lower = s.to_ascii_lowercase();
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    Some(if scheme_of(s).is_some() {
        IndicatorType::Url
    } else if s.parse::<Ipv4Addr>().is_ok() || is_dotted_quad(s) {
        IndicatorType::Ipv4
    } else if bare.parse::<Ipv6Addr>().is_ok() {
        IndicatorType::Ipv6
    } else if s.contains('/') {
        IndicatorType::Cidr
    } else if s.bytes().all(|b| b.is_ascii_hexdigit()) && [32, 40, 64].contains(&s.len()) {
        match s.len() {
            32 => IndicatorType::Md5,
            40 => IndicatorType::Sha1,
            _ => IndicatorType::Sha256,
        }
    } else if lower.starts_with("cve-") {
        IndicatorType::Cve
    } else if lower.starts_with("as") && lower[2..].trim().bytes().all(|b| b.is_ascii_digit()) {
        if lower.len() == 2 {
            return None;
        }
        IndicatorType::Asn
    } else if s.contains('@') {
        IndicatorType::Email
    } else if s.contains('.') && !s.contains(char::is_whitespace) {
        IndicatorType::Domain
    } else {
        return None;
    })
}

/// Four dot-separated decimal numbers: an IPv4 address, perhaps in a form validation refuses
/// (leading zeros), so the refusal names the IPv4 rule rather than a domain's.
fn is_dotted_quad(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn ipv6(s: &str) -> Option<String> {
    let bare = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    bare.unwrap_or(s)
        .parse::<Ipv6Addr>()
        .ok()
        .map(|a| a.to_string())
}

/// The address part in canonical text; the prefix and the host bits as typed (validation checks).
fn cidr(s: &str) -> Option<String> {
    let (addr, prefix) = s.split_once('/')?;
    let addr = if addr.contains(':') {
        ipv6(addr)?
    } else {
        addr.to_owned()
    };
    Some(format!("{addr}/{}", prefix.trim()))
}

fn domain(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    lower.strip_suffix('.').unwrap_or(&lower).to_owned()
}

/// The scheme's length in `s` and its canonical name, if `s` starts with a known or defanged one.
fn scheme_of(s: &str) -> Option<(usize, &'static str)> {
    let (scheme, _) = s.split_once("://")?;
    let lower = scheme.to_ascii_lowercase();
    let plain = match lower.as_str() {
        "http" | "hxxp" => "http",
        "https" | "hxxps" => "https",
        "ftp" | "fxp" => "ftp",
        "sftp" | "sfxp" => "sftp",
        _ => return None,
    };
    Some((scheme.len(), plain))
}

/// Scheme and host lower case (both are case-insensitive, RFC 3986 §6.2.2.1), scheme refanged; the
/// user info, port, path, query and fragment as typed.
fn url(s: &str) -> Option<String> {
    let (len, scheme) = scheme_of(s)?;
    let rest = &s[len + 3..];
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(host_end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut out = format!("{scheme}://");
    if let Some(u) = userinfo {
        out.push_str(u);
        out.push('@');
    }
    out.push_str(&hostport.to_ascii_lowercase());
    out.push_str(tail);
    Some(out)
}

/// The domain part in canonical form; the local part as typed (it may be case-sensitive).
fn email(s: &str) -> Option<String> {
    let (local, dom) = s.rsplit_once('@')?;
    Some(format!("{local}@{}", domain(dom)))
}

fn asn(s: &str) -> Option<String> {
    let digits = match s.get(..2) {
        Some(p) if p.eq_ignore_ascii_case("as") => s[2..].trim(),
        _ => s,
    };
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| format!("AS{digits}"))
}

impl Content {
    /// Every observable this content reports, as (type, value): the indicators of an incident or
    /// sighting, an indicator record's value, an advisory's CVE ids, and those of an update's new
    /// content. Revokes, sealed envelopes and unknown kinds report none.
    pub fn observables(&self) -> Vec<(IndicatorType, &str)> {
        fn list(items: &[IndicatorValue]) -> Vec<(IndicatorType, &str)> {
            items.iter().map(|i| (i.kind, i.value.as_str())).collect()
        }
        match self {
            Content::Incident(c) | Content::Update(Update::Incident(c)) => list(&c.indicators),
            Content::Sighting(c) | Content::Update(Update::Sighting(c)) => list(&c.indicators),
            Content::Indicator(c) | Content::Update(Update::Indicator(c)) => {
                vec![(c.kind, c.value.as_str())]
            }
            Content::Advisory(c) | Content::Update(Update::Advisory(c)) => c
                .cves
                .iter()
                .map(|cve| (IndicatorType::Cve, cve.as_str()))
                .collect(),
            Content::Revoke(_) | Content::Sealed(_) | Content::Other(_) => Vec::new(),
        }
    }

    /// Brings every observable to its canonical form (see [`normalize`]), before validation.
    pub fn normalize_observables(&mut self) {
        let list = |items: &mut Vec<IndicatorValue>| {
            for i in items {
                i.value = normalize(i.kind, &i.value);
            }
        };
        match self {
            Content::Incident(c) | Content::Update(Update::Incident(c)) => list(&mut c.indicators),
            Content::Sighting(c) | Content::Update(Update::Sighting(c)) => list(&mut c.indicators),
            Content::Indicator(c) | Content::Update(Update::Indicator(c)) => {
                c.value = normalize(c.kind, &c.value);
            }
            Content::Advisory(c) | Content::Update(Update::Advisory(c)) => {
                for cve in &mut c.cves {
                    *cve = normalize(IndicatorType::Cve, cve);
                }
            }
            Content::Revoke(_) | Content::Sealed(_) | Content::Other(_) => {}
        }
    }
}

impl Payload {
    /// The observables of this record's content (see [`Content::observables`]).
    pub fn observables(&self) -> Vec<(IndicatorType, &str)> {
        self.content.observables()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorType::*;

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn typed_forms_become_canonical() {
        let cases = [
            (Sha256, SHA.to_ascii_uppercase(), SHA.to_owned()),
            (
                Md5,
                " D41D8CD98F00B204E9800998ECF8427E ".into(),
                "d41d8cd98f00b204e9800998ecf8427e".into(),
            ),
            (Domain, "Evil.Example.".into(), "evil.example".into()),
            (Domain, "evil[.]example".into(), "evil.example".into()),
            (Domain, "evil(.)example".into(), "evil.example".into()),
            (
                Url,
                "hxxp://Evil[.]Example/Path?Q=A".into(),
                "http://evil.example/Path?Q=A".into(),
            ),
            (
                Url,
                "HXXPS://evil.example".into(),
                "https://evil.example".into(),
            ),
            (
                Url,
                "https://User@EVIL.example:8443/".into(),
                "https://User@evil.example:8443/".into(),
            ),
            (
                Email,
                "Phish[@]Evil[.]Example".into(),
                "Phish@evil.example".into(),
            ),
            (Ipv4, "192.0.2[.]1".into(), "192.0.2.1".into()),
            (Ipv6, "2001:DB8:0:0:0:0:0:1".into(), "2001:db8::1".into()),
            (Ipv6, "[2001:db8::1]".into(), "2001:db8::1".into()),
            (Cidr, "2001:DB8::/32".into(), "2001:db8::/32".into()),
            (Cve, "cve-2024-3094".into(), "CVE-2024-3094".into()),
            (Asn, "as64496".into(), "AS64496".into()),
            (Asn, "64496".into(), "AS64496".into()),
        ];
        for (kind, typed, canonical) in cases {
            let got = normalize(kind, &typed);
            assert_eq!(got, canonical, "{kind:?} {typed}");
            assert_eq!(check_indicator(kind, &got), Ok(()), "{kind:?} {got}");
        }
    }

    #[test]
    fn ambiguous_forms_are_left_for_validation_to_refuse() {
        for (kind, typed) in [
            (Ipv4, "192.168.001.001"),
            (Cidr, "198.51.100.1/24"),
            (Asn, "AS064496"),
            (Url, "javascript:alert(1)"),
        ] {
            assert!(
                check_indicator(kind, &normalize(kind, typed)).is_err(),
                "{kind:?} {typed}"
            );
        }
    }

    #[test]
    fn detect_names_the_type() {
        let cases = [
            ("203.0.113.7", Ipv4, "203.0.113.7"),
            ("203.0.113[.]7", Ipv4, "203.0.113.7"),
            ("2001:DB8::1", Ipv6, "2001:db8::1"),
            ("198.51.100.0/24", Cidr, "198.51.100.0/24"),
            ("Evil.Example.", Domain, "evil.example"),
            ("hxxp://evil[.]example/x", Url, "http://evil.example/x"),
            ("phish@Evil.Example", Email, "phish@evil.example"),
            (SHA, Sha256, SHA),
            (
                "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
                Sha1,
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            ),
            (
                "d41d8cd98f00b204e9800998ecf8427e",
                Md5,
                "d41d8cd98f00b204e9800998ecf8427e",
            ),
            ("cve-2021-44228", Cve, "CVE-2021-44228"),
            ("AS64496", Asn, "AS64496"),
        ];
        for (typed, kind, value) in cases {
            assert_eq!(
                detect(typed),
                Ok(IndicatorValue {
                    kind,
                    value: value.into()
                }),
                "{typed}"
            );
        }
    }

    #[test]
    fn detect_says_what_it_could_not_read() {
        let err = detect("hello").unwrap_err();
        assert!(err.contains("cannot tell"), "{err}");
        let err = detect("192.168.001.001").unwrap_err();
        assert!(err.contains("not a valid ipv4"), "{err}");
        assert!(detect("as").is_err());
        assert!(detect("").is_err());
    }
}
