//! Realistic sample content for tests, benchmarks, vectors and demos (deterministic, no randomness).

use super::{Content, Draft, Incident, IndicatorType, IndicatorValue, Kind, Severity, Status, Tlp};

/// A typical incident draft of roughly 1 KiB once signed; `n` varies the text and indicators.
pub fn incident(n: u64) -> Draft {
    let octet = (n % 250) + 1;
    Draft {
        kind: Kind::Incident,
        tlp: Tlp::Amber,
        refs: vec![],
        content: Content::Incident(Incident {
            title: format!("Phishing wave impersonating national tax authority (#{n})"),
            summary: "Since 06:00 UTC a large phishing campaign impersonates the tax authority. \
                      Mails carry a link to a credential-harvesting page and, in a second stage, an \
                      ISO attachment dropping a loader. Several ministries report compromised \
                      mailboxes; two hospitals report blocked accounts after password resets. \
                      Block the indicators below and reset exposed credentials."
                .to_owned(),
            severity: Severity::High,
            status: Status::Investigating,
            categories: vec!["phishing".to_owned(), "credential-theft".to_owned()],
            indicators: vec![
                IndicatorValue { kind: IndicatorType::Domain, value: format!("tax-refund-{n}.example") },
                IndicatorValue { kind: IndicatorType::Ipv4, value: format!("203.0.113.{octet}") },
                IndicatorValue {
                    kind: IndicatorType::Url,
                    value: format!("https://tax-refund-{n}.example/login?session=a8f3"),
                },
                IndicatorValue {
                    kind: IndicatorType::Sha256,
                    value: format!("{:064x}", u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                },
                IndicatorValue { kind: IndicatorType::Email, value: "refunds@tax-refund.example".to_owned() },
            ],
            references: vec!["https://cert.example/advisories/2026-117".to_owned()],
            first_seen: Some(1_795_000_000_000 + n),
            last_seen: Some(1_795_000_360_000 + n),
            labels: vec!["campaign:taxman".to_owned()],
            sectors: vec!["government".to_owned(), "health".to_owned()],
            countries: vec!["DE".to_owned(), "FR".to_owned(), "NL".to_owned()],
        }),
    }
}
