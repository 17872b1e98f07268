//! The content of each known record kind, and its validation. Every string and list is bounded; the
//! bounds are the `MAX_*` constants below and are part of the v1 format (see PROTOCOL.md).
//!
//! Encoding rules that make the bytes unique: optional fields are absent rather than `null`, and empty
//! lists are absent rather than `[]`. A record whose content decodes but does not re-encode to the same
//! value is rejected as non-canonical.

use serde::{Deserialize, Serialize};

use super::indicator::{IndicatorType, IndicatorValue, check_indicator, is_cve, is_url};

/// Longest title, in bytes.
pub const MAX_TITLE: usize = 200;
/// Longest summary or description, in bytes.
pub const MAX_SUMMARY: usize = 8192;
/// Longest free-text note or reason, in bytes.
pub const MAX_NOTE: usize = 2048;
/// Longest short token (category, label, sector, product), in bytes.
pub const MAX_TOKEN: usize = 64;
/// Most entries in a list of short tokens (categories, labels, sectors, products).
pub const MAX_TOKENS: usize = 32;
/// Most indicators in one incident or sighting.
pub const MAX_INDICATORS: usize = 256;
/// Most reference URLs.
pub const MAX_REFERENCES: usize = 32;
/// Most country codes.
pub const MAX_COUNTRIES: usize = 64;
/// Most CVE ids in one advisory.
pub const MAX_CVES: usize = 64;

/// A content field that breaks a rule: the field's path and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {rule}")]
pub struct FieldError {
    /// Path of the field, such as `content.indicators[3].value`.
    pub field: String,
    /// The rule broken, phrased to follow the field name.
    pub rule: String,
}

impl FieldError {
    /// A field error for `field`.
    pub fn new(field: &str, rule: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            rule: rule.into(),
        }
    }
}

/// How bad an incident or advisory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Low impact.
    Low,
    /// Medium impact.
    Medium,
    /// High impact.
    High,
    /// Critical impact.
    Critical,
}

/// Where the handling of an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Reported, not yet looked at.
    New,
    /// Being investigated.
    Investigating,
    /// Contained.
    Contained,
    /// Resolved.
    Resolved,
}

/// Content of an `incident` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// One-line title.
    pub title: String,
    /// What happened.
    pub summary: String,
    /// Severity.
    pub severity: Severity,
    /// Handling status.
    pub status: Status,
    /// Categories (for example `phishing`, `ransomware`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Observables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<IndicatorValue>,
    /// Reference URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// First seen, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<u64>,
    /// Last seen, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<u64>,
    /// Free labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Affected sectors (for example `energy`, `health`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors: Vec<String>,
    /// Affected countries, ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
}

/// Content of an `indicator` record: one observable with context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    /// The indicator type.
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    /// The value, in the canonical form of its type.
    pub value: String,
    /// What it is and why it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Confidence, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    /// Valid from, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<u64>,
    /// Valid until, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<u64>,
    /// Free labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// Content of an `advisory` record: guidance about a vulnerability or campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advisory {
    /// One-line title.
    pub title: String,
    /// The advice.
    pub summary: String,
    /// Severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// CVE ids covered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cves: Vec<String>,
    /// Affected products.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<String>,
    /// Reference URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// Free labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// Content of a `sighting` record: "we saw this too". `refs` name the sighted records; a sighting
/// without refs must carry indicators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sighting {
    /// How many times, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// First seen, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<u64>,
    /// Last seen, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<u64>,
    /// What was observed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<IndicatorValue>,
    /// Sectors where it was seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors: Vec<String>,
    /// Countries where it was seen, ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Content of an `update` record: the complete new content of the target (refs = [target]), tagged by
/// the target's kind, for example `{"incident": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Update {
    /// New content of an incident.
    Incident(Incident),
    /// New content of an indicator.
    Indicator(Indicator),
    /// New content of an advisory.
    Advisory(Advisory),
    /// New content of a sighting.
    Sighting(Sighting),
}

/// Content of a `revoke` record: withdraws the target (refs = [target]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// Why it is withdrawn.
    pub reason: String,
}

impl Incident {
    /// Checks every field against its rule.
    pub fn validate(&self, at: &str) -> Result<(), FieldError> {
        text(at, "title", &self.title, 1, MAX_TITLE)?;
        text(at, "summary", &self.summary, 1, MAX_SUMMARY)?;
        tokens(at, "categories", &self.categories)?;
        indicators(at, "indicators", &self.indicators)?;
        urls(at, "references", &self.references)?;
        time_range(
            at,
            ("first_seen", self.first_seen),
            ("last_seen", self.last_seen),
        )?;
        tokens(at, "labels", &self.labels)?;
        tokens(at, "sectors", &self.sectors)?;
        countries(at, "countries", &self.countries)
    }
}

impl Indicator {
    /// Checks every field against its rule.
    pub fn validate(&self, at: &str) -> Result<(), FieldError> {
        check_indicator(self.kind, &self.value)
            .map_err(|rule| FieldError::new(&format!("{at}.value"), rule))?;
        if let Some(d) = &self.description {
            text(at, "description", d, 1, MAX_SUMMARY)?;
        }
        if self.confidence.is_some_and(|c| c > 100) {
            return Err(FieldError::new(
                &format!("{at}.confidence"),
                "must be 0 to 100",
            ));
        }
        time_range(
            at,
            ("valid_from", self.valid_from),
            ("valid_until", self.valid_until),
        )?;
        tokens(at, "labels", &self.labels)
    }
}

impl Advisory {
    /// Checks every field against its rule.
    pub fn validate(&self, at: &str) -> Result<(), FieldError> {
        text(at, "title", &self.title, 1, MAX_TITLE)?;
        text(at, "summary", &self.summary, 1, MAX_SUMMARY)?;
        list_len(at, "cves", self.cves.len(), MAX_CVES)?;
        for (i, cve) in self.cves.iter().enumerate() {
            if !is_cve(cve) {
                return Err(FieldError::new(
                    &format!("{at}.cves[{i}]"),
                    "must be CVE-YYYY-NNNN",
                ));
            }
        }
        unique(at, "cves", &self.cves)?;
        tokens(at, "products", &self.products)?;
        urls(at, "references", &self.references)?;
        tokens(at, "labels", &self.labels)
    }
}

impl Sighting {
    /// Checks every field against its rule. `has_refs` says whether the record names sighted records.
    pub fn validate(&self, at: &str, has_refs: bool) -> Result<(), FieldError> {
        if self.count == Some(0) {
            return Err(FieldError::new(
                &format!("{at}.count"),
                "must be at least 1",
            ));
        }
        time_range(
            at,
            ("first_seen", self.first_seen),
            ("last_seen", self.last_seen),
        )?;
        indicators(at, "indicators", &self.indicators)?;
        if !has_refs && self.indicators.is_empty() {
            return Err(FieldError::new(
                &format!("{at}.indicators"),
                "must not be empty when the sighting has no refs (name what was sighted)",
            ));
        }
        tokens(at, "sectors", &self.sectors)?;
        countries(at, "countries", &self.countries)?;
        if let Some(note) = &self.note {
            text(at, "note", note, 1, MAX_NOTE)?;
        }
        Ok(())
    }
}

impl Update {
    /// Checks the new content.
    pub fn validate(&self, at: &str) -> Result<(), FieldError> {
        match self {
            Update::Incident(c) => c.validate(&format!("{at}.incident")),
            Update::Indicator(c) => c.validate(&format!("{at}.indicator")),
            Update::Advisory(c) => c.validate(&format!("{at}.advisory")),
            // An updated sighting still names what it sighted through the target's refs.
            Update::Sighting(c) => c.validate(&format!("{at}.sighting"), true),
        }
    }

    /// The kind of record this update replaces the content of.
    pub fn target_kind(&self) -> super::Kind {
        match self {
            Update::Incident(_) => super::Kind::Incident,
            Update::Indicator(_) => super::Kind::Indicator,
            Update::Advisory(_) => super::Kind::Advisory,
            Update::Sighting(_) => super::Kind::Sighting,
        }
    }
}

impl Revoke {
    /// Checks the reason.
    pub fn validate(&self, at: &str) -> Result<(), FieldError> {
        text(at, "reason", &self.reason, 1, MAX_NOTE)
    }
}

fn path(at: &str, name: &str) -> String {
    format!("{at}.{name}")
}

/// Text of `min..=max` bytes with no control characters other than newline and tab.
fn text(at: &str, name: &str, value: &str, min: usize, max: usize) -> Result<(), FieldError> {
    if value.len() < min || value.len() > max {
        return Err(FieldError::new(
            &path(at, name),
            format!("must be {min} to {max} bytes"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(
            &path(at, name),
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn list_len(at: &str, name: &str, len: usize, max: usize) -> Result<(), FieldError> {
    if len > max {
        return Err(FieldError::new(
            &path(at, name),
            format!("must have at most {max} entries"),
        ));
    }
    Ok(())
}

fn unique<T: PartialEq>(at: &str, name: &str, items: &[T]) -> Result<(), FieldError> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(FieldError::new(
                &format!("{at}.{name}[{i}]"),
                "repeats an earlier entry",
            ));
        }
    }
    Ok(())
}

/// Short tokens: 1..=MAX_TOKEN bytes, no whitespace other than single inner spaces, unique.
fn tokens(at: &str, name: &str, items: &[String]) -> Result<(), FieldError> {
    list_len(at, name, items.len(), MAX_TOKENS)?;
    for (i, t) in items.iter().enumerate() {
        let ok = !t.is_empty()
            && t.len() <= MAX_TOKEN
            && t.trim() == t
            && !t.contains("  ")
            && t.chars()
                .all(|c| c == ' ' || !(c.is_whitespace() || c.is_control()));
        if !ok {
            return Err(FieldError::new(
                &format!("{at}.{name}[{i}]"),
                format!(
                    "must be 1 to {MAX_TOKEN} bytes without control characters or extra spaces"
                ),
            ));
        }
    }
    unique(at, name, items)
}

fn indicators(at: &str, name: &str, items: &[IndicatorValue]) -> Result<(), FieldError> {
    list_len(at, name, items.len(), MAX_INDICATORS)?;
    for (i, ind) in items.iter().enumerate() {
        ind.validate(&format!("{at}.{name}[{i}].value"))?;
    }
    unique(at, name, items)
}

fn urls(at: &str, name: &str, items: &[String]) -> Result<(), FieldError> {
    list_len(at, name, items.len(), MAX_REFERENCES)?;
    for (i, u) in items.iter().enumerate() {
        if u.len() > super::indicator::MAX_INDICATOR_VALUE || !is_url(u) {
            return Err(FieldError::new(
                &format!("{at}.{name}[{i}]"),
                "must be an absolute http, https, ftp or sftp url of at most 2048 bytes",
            ));
        }
    }
    unique(at, name, items)
}

fn time_range(
    at: &str,
    (first_name, first): (&str, Option<u64>),
    (last_name, last): (&str, Option<u64>),
) -> Result<(), FieldError> {
    if let (Some(a), Some(b)) = (first, last)
        && a > b
    {
        return Err(FieldError::new(
            &path(at, last_name),
            format!("must not be before {first_name}"),
        ));
    }
    Ok(())
}

fn countries(at: &str, name: &str, items: &[String]) -> Result<(), FieldError> {
    list_len(at, name, items.len(), MAX_COUNTRIES)?;
    for (i, c) in items.iter().enumerate() {
        if !is_country(c) {
            return Err(FieldError::new(
                &format!("{at}.{name}[{i}]"),
                "must be an assigned iso 3166-1 alpha-2 code in upper case, such as DE",
            ));
        }
    }
    unique(at, name, items)
}

/// Whether `code` is an officially assigned ISO 3166-1 alpha-2 code.
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == code)
}

/// The 249 officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET \
FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU \
ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ \
LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ \
UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_list_is_complete_and_exact() {
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 249);
        assert!(is_country("DE") && is_country("UA") && is_country("ZW"));
        assert!(!is_country("EU") && !is_country("de") && !is_country("XX") && !is_country("D"));
    }
}
