//! Indicator values (`{type, value}`) and the syntax check for each indicator type.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::content::FieldError;

/// Longest indicator value (a URL can be long; everything else is far shorter).
pub const MAX_INDICATOR_VALUE: usize = 2048;

/// What an indicator value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndicatorType {
    /// Dotted-quad IPv4 address, canonical form (`192.0.2.1`).
    Ipv4,
    /// IPv6 address in RFC 5952 canonical form (`2001:db8::1`).
    Ipv6,
    /// Network in CIDR notation with host bits zero (`198.51.100.0/24`, `2001:db8::/32`).
    Cidr,
    /// Lowercase DNS name without trailing dot (`evil.example`).
    Domain,
    /// Absolute URL with scheme http, https, ftp or sftp.
    Url,
    /// Email address (`phish@evil.example`).
    Email,
    /// SHA-256 digest, 64 lowercase hex.
    Sha256,
    /// SHA-1 digest, 40 lowercase hex.
    Sha1,
    /// MD5 digest, 32 lowercase hex.
    Md5,
    /// CVE identifier (`CVE-2024-3094`).
    Cve,
    /// Autonomous system number (`AS64496`).
    Asn,
}

/// One observable: a typed, syntax-checked value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorValue {
    /// The indicator type.
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    /// The value, in the canonical form of its type.
    pub value: String,
}

impl IndicatorValue {
    /// Checks `value` against its type's syntax; `field` names it in the error.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        check_indicator(self.kind, &self.value).map_err(|rule| FieldError::new(field, rule))
    }
}

/// Checks one indicator value; the error is the rule it breaks.
pub fn check_indicator(kind: IndicatorType, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_INDICATOR_VALUE {
        return Err(format!("must be 1 to {MAX_INDICATOR_VALUE} bytes"));
    }
    let ok = match kind {
        IndicatorType::Ipv4 => canonical_parse::<Ipv4Addr>(value),
        IndicatorType::Ipv6 => canonical_parse::<Ipv6Addr>(value),
        IndicatorType::Cidr => is_cidr(value),
        IndicatorType::Domain => is_domain(value),
        IndicatorType::Url => is_url(value),
        IndicatorType::Email => is_email(value),
        IndicatorType::Sha256 => is_lower_hex(value, 64),
        IndicatorType::Sha1 => is_lower_hex(value, 40),
        IndicatorType::Md5 => is_lower_hex(value, 32),
        IndicatorType::Cve => is_cve(value),
        IndicatorType::Asn => is_asn(value),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "is not a valid {}: {}",
            kind.as_str(),
            expected_form(kind)
        ))
    }
}

impl IndicatorType {
    /// The type's name as signed (`ipv4`, `sha256`, …; its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorType::Ipv4 => "ipv4",
            IndicatorType::Ipv6 => "ipv6",
            IndicatorType::Cidr => "cidr",
            IndicatorType::Domain => "domain",
            IndicatorType::Url => "url",
            IndicatorType::Email => "email",
            IndicatorType::Sha256 => "sha256",
            IndicatorType::Sha1 => "sha1",
            IndicatorType::Md5 => "md5",
            IndicatorType::Cve => "cve",
            IndicatorType::Asn => "asn",
        }
    }
}

impl FromStr for IndicatorType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ALL_TYPES
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ALL_TYPES.iter().map(|t| t.as_str()).collect();
                format!(
                    "unknown indicator type `{s}`: use one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Every indicator type, in the order PROTOCOL.md lists them.
pub const ALL_TYPES: [IndicatorType; 11] = [
    IndicatorType::Ipv4,
    IndicatorType::Ipv6,
    IndicatorType::Cidr,
    IndicatorType::Domain,
    IndicatorType::Url,
    IndicatorType::Email,
    IndicatorType::Sha256,
    IndicatorType::Sha1,
    IndicatorType::Md5,
    IndicatorType::Cve,
    IndicatorType::Asn,
];

fn expected_form(kind: IndicatorType) -> &'static str {
    match kind {
        IndicatorType::Ipv4 => "expected a dotted quad such as 192.0.2.1",
        IndicatorType::Ipv6 => "expected rfc 5952 form such as 2001:db8::1",
        IndicatorType::Cidr => {
            "expected network/prefix with host bits zero, such as 198.51.100.0/24"
        }
        IndicatorType::Domain => "expected a lowercase dns name such as evil.example",
        IndicatorType::Url => "expected an absolute http, https, ftp or sftp url without spaces",
        IndicatorType::Email => "expected local@domain with a lowercase domain",
        IndicatorType::Sha256 => "expected 64 lowercase hex characters",
        IndicatorType::Sha1 => "expected 40 lowercase hex characters",
        IndicatorType::Md5 => "expected 32 lowercase hex characters",
        IndicatorType::Cve => "expected CVE-YYYY-NNNN",
        IndicatorType::Asn => "expected AS followed by a number, such as AS64496",
    }
}

/// Parses and requires the value to be in the type's canonical text form.
fn canonical_parse<T: FromStr + ToString>(value: &str) -> bool {
    value.parse::<T>().is_ok_and(|v| v.to_string() == value)
}

fn is_cidr(value: &str) -> bool {
    let Some((addr, prefix)) = value.split_once('/') else {
        return false;
    };
    let Some(prefix) = canonical_u32(prefix) else {
        return false;
    };
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        return v4.to_string() == addr
            && prefix <= 32
            && u32::from(v4).checked_shl(prefix).unwrap_or(0) == 0;
    }
    if let Ok(v6) = addr.parse::<Ipv6Addr>() {
        return v6.to_string() == addr
            && prefix <= 128
            && u128::from(v6).checked_shl(prefix).unwrap_or(0) == 0;
    }
    false
}

fn canonical_u32(s: &str) -> Option<u32> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// Lowercase LDH (plus `_`) labels, 1–63 bytes each, at least two labels, at most 253 bytes.
pub(crate) fn is_domain(value: &str) -> bool {
    if value.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = value.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

/// An absolute URL: allowed scheme, `://`, a non-empty host, no whitespace or control characters.
pub fn is_url(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..host_end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    matches!(scheme, "http" | "https" | "ftp" | "sftp")
        && !host.is_empty()
        && !host.starts_with(':')
        && value.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '@')
        && is_domain(domain)
}

fn is_lower_hex(value: &str, len: usize) -> bool {
    value.len() == len
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `CVE-YYYY-NNNN…`: a year from 1999 and at least four digits.
pub(crate) fn is_cve(value: &str) -> bool {
    let mut parts = value.split('-');
    let (Some("CVE"), Some(year), Some(num), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && year >= "1999"
        && (4..=19).contains(&num.len())
        && num.bytes().all(|b| b.is_ascii_digit())
}

fn is_asn(value: &str) -> bool {
    value.strip_prefix("AS").and_then(canonical_u32).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorType::*;

    #[test]
    fn accepts_canonical_values() {
        let good = [
            (Ipv4, "192.0.2.1"),
            (Ipv6, "2001:db8::1"),
            (Cidr, "198.51.100.0/24"),
            (Cidr, "2001:db8::/32"),
            (Cidr, "0.0.0.0/0"),
            (Domain, "evil.example"),
            (Domain, "xn--80ak6aa92e.example"),
            (Url, "https://evil.example/payload?id=1"),
            (Url, "http://192.0.2.1:8080/x"),
            (Email, "phish@evil.example"),
            (
                Sha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (Sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            (Md5, "d41d8cd98f00b204e9800998ecf8427e"),
            (Cve, "CVE-2024-3094"),
            (Cve, "CVE-2021-44228"),
            (Asn, "AS64496"),
        ];
        for (kind, value) in good {
            assert_eq!(check_indicator(kind, value), Ok(()), "{kind:?} {value}");
        }
    }

    #[test]
    fn rejects_malformed_values() {
        let bad = [
            (Ipv4, "192.0.2.01"),
            (Ipv4, "192.0.2"),
            (Ipv6, "2001:DB8::1"),
            (Ipv6, "2001:db8:0:0:0:0:0:1"),
            (Cidr, "198.51.100.1/24"),
            (Cidr, "198.51.100.0/33"),
            (Cidr, "198.51.100.0/024"),
            (Cidr, "198.51.100.0"),
            (Domain, "Evil.example"),
            (Domain, "localhost"),
            (Domain, "evil.example."),
            (Domain, "-evil.example"),
            (Url, "javascript:alert(1)"),
            (Url, "https://"),
            (Url, "https://evil.example/a b"),
            (Email, "phish.evil.example"),
            (Email, "@evil.example"),
            (
                Sha256,
                "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            ),
            (Sha1, "da39a3ee"),
            (Md5, "zz1d8cd98f00b204e9800998ecf8427e"),
            (Cve, "CVE-24-3094"),
            (Cve, "CVE-2024-309"),
            (Cve, "cve-2024-3094"),
            (Asn, "64496"),
            (Asn, "AS064496"),
            (Asn, "AS99999999999"),
            (Domain, ""),
        ];
        for (kind, value) in bad {
            assert!(
                check_indicator(kind, value).is_err(),
                "{kind:?} {value} accepted"
            );
        }
    }
}
