//! Realistic record bodies for `POST /v1/records` (`{kind, tlp, refs?, content}`), as CERTs would
//! publish them: the demo's incidents, and the load the benchmarks send. Shapes are PROTOCOL.md §5;
//! addresses and domains are documentation ranges (RFC 5737, `.example`).

use serde_json::{Value, json};

/// A credential-phishing incident against ministries (the README's example), numbered `n`.
pub fn phishing_incident(n: u64) -> Value {
    json!({
        "kind": "incident",
        "tlp": "amber",
        "content": {
            "title": format!("Credential phishing against ministries impersonating the tax authority (#{n})"),
            "summary": "Since 06:00 UTC mails impersonating the national tax authority link to a credential-harvesting page; a second stage delivers an ISO attachment with a loader. Block the indicators, reset exposed credentials and report sightings.",
            "severity": "high",
            "status": "investigating",
            "categories": ["phishing", "credential-theft"],
            "indicators": [
                {"type": "domain", "value": format!("tax-refund-portal-{n}.example")},
                {"type": "url", "value": format!("https://tax-refund-portal-{n}.example/login")},
                {"type": "ipv4", "value": format!("203.0.113.{}", n % 250 + 1)},
                {"type": "sha256", "value": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
            ],
            "references": ["https://cert.example/advisories/2026-017"],
            "first_seen": 1_767_250_800_000_u64 + n,
            "sectors": ["government"],
            "countries": ["DE", "AT"],
            "labels": ["campaign:taxman"]
        }
    })
}

/// The content of a ransomware incident at a regional hospital, in `status`.
pub fn ransomware_content(n: u64, status: &str) -> Value {
    json!({
        "title": format!("Ransomware at a regional hospital: imaging and lab systems encrypted (#{n})"),
        "summary": "A hospital reports encrypted file servers and PACS after initial access through an unpatched VPN appliance. The ransom note points to a negotiation portal. Emergency care diverted; backups intact. Hunt for the indicators and patch VPN appliances now.",
        "severity": "critical",
        "status": status,
        "categories": ["ransomware"],
        "indicators": [
            {"type": "ipv4", "value": format!("198.51.100.{}", n % 250 + 1)},
            {"type": "domain", "value": "decrypt-files.example"},
            {"type": "cve", "value": "CVE-2024-3400"}
        ],
        "sectors": ["health"],
        "countries": ["NL"],
        "labels": ["actor:unknown"]
    })
}

/// A ransomware incident (TLP:AMBER, investigating), numbered `n`.
pub fn ransomware_incident(n: u64) -> Value {
    json!({"kind": "incident", "tlp": "amber", "content": ransomware_content(n, "investigating")})
}

/// A DDoS incident against banks, numbered `n`.
pub fn ddos_incident(n: u64) -> Value {
    json!({
        "kind": "incident",
        "tlp": "green",
        "content": {
            "title": format!("DDoS against online banking portals (#{n})"),
            "summary": "Layer-7 floods of up to 400k requests/s against the login pages of three banks, from a botnet of compromised routers. Scrubbing in place; availability degraded for 40 minutes. Share source ranges and rate-limit on the indicators.",
            "severity": "medium",
            "status": "contained",
            "categories": ["ddos"],
            "indicators": [
                {"type": "cidr", "value": "192.0.2.0/24"},
                {"type": "asn", "value": "AS64500"}
            ],
            "sectors": ["finance"],
            "countries": ["FR", "BE"]
        }
    })
}

/// An indicator: a command-and-control domain, numbered `n`.
pub fn c2_indicator(n: u64) -> Value {
    json!({
        "kind": "indicator",
        "tlp": "green",
        "content": {
            "type": "domain",
            "value": format!("update-check-{n}.example"),
            "description": "Command-and-control domain of a loader seen in the tax phishing wave",
            "confidence": 80,
            "labels": ["c2"]
        }
    })
}

/// An advisory about an exploited VPN vulnerability, numbered `n`.
pub fn vpn_advisory(n: u64) -> Value {
    json!({
        "kind": "advisory",
        "tlp": "clear",
        "content": {
            "title": format!("Exploited command injection in VPN gateways: patch now (#{n})"),
            "summary": "Unauthenticated command injection in the GlobalProtect feature is exploited in the wild. Apply the vendor fix, or disable the feature, and check appliances for the published indicators.",
            "severity": "critical",
            "cves": ["CVE-2024-3400"],
            "products": ["PAN-OS GlobalProtect"],
            "references": ["https://cert.example/advisories/2026-031"]
        }
    })
}

/// An `update` of the author's own `target` with the complete new content of kind `kind`.
pub fn update(target: &str, tlp: &str, kind: &str, content: Value) -> Value {
    json!({"kind": "update", "tlp": tlp, "refs": [target], "content": {kind: content}})
}

/// A `revoke` of the author's own `target`.
pub fn revoke(target: &str, reason: &str) -> Value {
    json!({"kind": "revoke", "tlp": "green", "refs": [target], "content": {"reason": reason}})
}

/// The `i`-th record of a benchmark's load: the kinds above in turn, each unique.
pub fn load_record(i: u64) -> Value {
    match i % 5 {
        0 => phishing_incident(i),
        1 => ransomware_incident(i),
        2 => ddos_incident(i),
        3 => c2_indicator(i),
        _ => vpn_advisory(i),
    }
}
