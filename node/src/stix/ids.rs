//! STIX identifiers, timestamps and the official TLP 2.0 marking-definitions.
//!
//! Ids are name-based and deterministic: the UUID is the first 16 bytes of
//! SHA-256(`NAMESPACE` ‖ name) with the RFC 9562 version nibble set to 4 and the variant bits to `10`.
//! STIX 2.1 §2.9 says SDO/SRO ids SHOULD be UUIDv4 (and `stix2_validator --strict` enforces it), so a
//! UUIDv5 would fail strict validation; a hash-derived UUID in v4 form is valid for both (node/STIX.md).

use certnet_protocol::record::Tlp;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The namespace of certnet's STIX ids (a UUID, `5f1c7a2e-3b0d-4c4e-9a61-6d2f0c8e1b47`).
pub const NAMESPACE: [u8; 16] = [
    0x5f, 0x1c, 0x7a, 0x2e, 0x3b, 0x0d, 0x4c, 0x4e, 0x9a, 0x61, 0x6d, 0x2f, 0x0c, 0x8e, 0x1b, 0x47,
];

/// The TLP 2.0 extension-definition the official marking-definitions use.
pub const TLP_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";
/// The OASIS incident-core extension-definition.
pub const INCIDENT_EXTENSION: &str = "extension-definition--ef765651-680c-498d-9894-99799f2fa126";
/// `created` of the official TLP 2.0 marking-definitions.
pub const TLP_CREATED: &str = "2022-10-01T00:00:00.000Z";
/// The latest time a STIX timestamp can show (9999-12-31T23:59:59.999Z), in ms since the epoch.
pub const MAX_MS: u64 = 253_402_300_799_999;

/// The UUID (lowercase, hyphenated) certnet derives from `name`.
pub fn uuid_from_name(name: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(NAMESPACE);
    hash.update(name.as_bytes());
    let digest = hash.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The STIX id `type--uuid` for `name`.
pub fn stix_id(stix_type: &str, name: &str) -> String {
    format!("{stix_type}--{}", uuid_from_name(name))
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn date_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `ms` since the epoch as a STIX timestamp with milliseconds (`2026-11-18T11:06:40.000Z`); times past
/// the year 9999 show as [`MAX_MS`].
pub fn timestamp(ms: u64) -> String {
    let ms = ms.min(MAX_MS);
    format!("{}.{:03}Z", date_time(ms / 1000), ms % 1000)
}

/// `us` since the epoch with microseconds, as TAXII's `date_added` and its headers show it.
pub fn timestamp_us(us: u64) -> String {
    let us = us.min(MAX_MS * 1000 + 999);
    format!("{}.{:06}Z", date_time(us / 1_000_000), us % 1_000_000)
}

/// Parses an RFC 3339 UTC timestamp (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`, as STIX and TAXII write them)
/// into microseconds since the epoch; digits beyond microseconds are cut off. `None` if it is not one.
pub fn parse_timestamp_us(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || !(b[b.len() - 1] == b'Z' || b[b.len() - 1] == b'z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = text.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let month = month as u32;
    let days_in_month = days_from_civil(
        year as i64 + i64::from(month == 12),
        if month == 12 { 1 } else { month + 1 },
        1,
    ) - days_from_civil(year as i64, month, 1);
    if day == 0 || day as i64 > days_in_month {
        return None;
    }
    let rest = &text[19..text.len() - 1];
    let micros = if rest.is_empty() {
        0
    } else {
        let digits = rest.strip_prefix('.')?;
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut six: String = digits.chars().take(6).collect();
        while six.len() < 6 {
            six.push('0');
        }
        six.parse::<u64>().ok()?
    };
    let days = u64::try_from(days_from_civil(year as i64, month, day as u32)).ok()?;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59);
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// The official TLP 2.0 marking-definition id for `tlp`.
pub fn marking_id(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
}

/// The TLP a TLP 2.0 marking-definition id stands for.
pub fn tlp_of_marking(id: &str) -> Option<Tlp> {
    [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ]
    .into_iter()
    .find(|t| marking_id(*t) == id)
}

/// The official TLP 2.0 marking-definition object for `tlp`, exactly as OASIS publishes it.
pub fn marking_definition(tlp: Tlp) -> Value {
    let name = match tlp {
        Tlp::Clear => "TLP:CLEAR",
        Tlp::Green => "TLP:GREEN",
        Tlp::Amber => "TLP:AMBER",
        Tlp::AmberStrict => "TLP:AMBER+STRICT",
        Tlp::Red => "TLP:RED",
    };
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": marking_id(tlp),
        "created": TLP_CREATED,
        "name": name,
        "extensions": {
            TLP_EXTENSION: {
                "extension_type": "property-extension",
                "tlp_2_0": tlp.as_str(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_v4_shaped_and_stable() {
        let a = uuid_from_name("record/00");
        assert_eq!(a, uuid_from_name("record/00"));
        assert_ne!(a, uuid_from_name("record/01"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn timestamps_round_trip_and_clamp() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_795_000_000_000), "2026-11-18T11:06:40.000Z");
        assert_eq!(timestamp(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(timestamp(u64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            timestamp_us(1_795_000_000_000_001),
            "2026-11-18T11:06:40.000001Z"
        );
        assert_eq!(
            parse_timestamp_us("2026-11-18T11:06:40.000001Z"),
            Some(1_795_000_000_000_001)
        );
        assert_eq!(
            parse_timestamp_us("2026-11-18T11:06:40Z"),
            Some(1_795_000_000_000_000)
        );
        assert_eq!(
            parse_timestamp_us("2000-02-29T00:00:00.1234567Z"),
            Some(951_782_400_123_456)
        );
        for bad in [
            "2026-11-18",
            "2026-11-18T11:06:40",
            "2026-11-18T11:06:40+01:00",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-18T11:06:40.Z",
            "x026-11-18T11:06:40Z",
        ] {
            assert_eq!(parse_timestamp_us(bad), None, "{bad}");
        }
    }

    #[test]
    fn markings_are_the_official_objects() {
        let m = marking_definition(Tlp::AmberStrict);
        assert_eq!(
            m["id"],
            "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
        );
        assert_eq!(m["name"], "TLP:AMBER+STRICT");
        assert_eq!(m["extensions"][TLP_EXTENSION]["tlp_2_0"], "amber+strict");
        assert_eq!(tlp_of_marking(marking_id(Tlp::Green)), Some(Tlp::Green));
    }
}
