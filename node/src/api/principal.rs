//! Who is asking, and the one rule deciding what they may do: every read and write of `/v1`,
//! `/taxii2`, the live stream (and the console) goes through [`Principal::may`].
//!
//! | principal | reads | writes |
//! |---|---|---|
//! | operator (the node's API token) | every band, status, metrics, log, peers, the audit export | all |
//! | consumer (`[[taxii.consumers]]`) | its bands (AMBER+STRICT only if `own_organisation`), never sealed records; status, log proofs | none |
//! | anonymous | TLP:CLEAR, status and metrics, each only from where `[api]` allows it | none |
//!
//! Sealed records (addressed to named members, PROTOCOL.md §20), RED among them, are read only by the
//! operator, this CERT itself: on every route, in STIX and TAXII, in the live stream and the console,
//! whatever a consumer's bands ([`Principal::may_read_record`]).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use certnet_protocol::record::{Kind, Record, Tlp};

use super::ApiError;
use crate::store::BandSet;

/// The caller of one request, resolved once by the guard before any handler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Holder of the node's API token: this CERT's own operator and tools.
    Operator,
    /// A configured consumer (SIEM, MISP, OpenCTI, a partner's analyst).
    Consumer {
        /// Its name in config.toml.
        name: Arc<str>,
        /// The bands it may read.
        bands: BandSet,
        /// The TAXII collections it sees (a subset of `bands`).
        collections: BandSet,
    },
    /// A caller without credentials; what `[api]` grants it from where it connects.
    Anonymous {
        /// Whether it may read TLP:CLEAR.
        clear: bool,
        /// Whether it may read status and metrics.
        status: bool,
    },
}

/// Something a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read a record (or its STIX objects) marked with this TLP.
    Read(Tlp),
    /// Read `/v1/status`.
    Status,
    /// Read `/metrics`.
    Metrics,
    /// Read checkpoints, proofs and fork lists (sizes and hashes; records inside stay per band).
    Log,
    /// Download the audit export: every entry of the log, whatever its band.
    Export,
    /// Read the peer list.
    Peers,
    /// Publish a record or sign a checkpoint.
    Write,
    /// Block or unblock peers, reload the roster.
    Admin,
}

/// Why a request was refused: the answer differs for callers who could authenticate and did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No credentials were sent, and anonymous callers may not do this (401).
    NeedsCredentials,
    /// The credentials sent do not allow this (403).
    NotAllowed,
}

impl Principal {
    /// The one access rule.
    pub fn may(&self, action: Action) -> Result<(), Denied> {
        let allowed = match (self, action) {
            (Principal::Operator, _) => true,
            (Principal::Consumer { bands, .. }, Action::Read(tlp)) => bands.contains(tlp),
            (Principal::Consumer { .. }, Action::Status | Action::Log) => true,
            (Principal::Consumer { .. }, _) => false,
            (Principal::Anonymous { clear, .. }, Action::Read(Tlp::Clear)) => *clear,
            (
                Principal::Anonymous { status, .. },
                Action::Status | Action::Metrics | Action::Log,
            ) => *status,
            (Principal::Anonymous { .. }, _) => false,
        };
        match (allowed, self) {
            (true, _) => Ok(()),
            (false, Principal::Anonymous { .. }) => Err(Denied::NeedsCredentials),
            (false, _) => Err(Denied::NotAllowed),
        }
    }

    /// Whether a record marked `tlp` may be shown.
    pub fn may_read(&self, tlp: Tlp) -> bool {
        self.may(Action::Read(tlp)).is_ok()
    }

    /// Whether sealed records may be shown to this principal: only to the operator (a sealed record
    /// is need-to-know between named members; a consumer may be another organisation's tool).
    pub fn may_read_sealed(&self) -> bool {
        matches!(self, Principal::Operator)
    }

    /// Whether `record`, as this node reads it (opened if sealed to it), may be shown: its band, and
    /// if it is sealed, only to the operator.
    pub fn may_read_record(&self, record: &Record) -> bool {
        self.may_read(record.payload().tlp) && (!is_sealed(record) || self.may_read_sealed())
    }

    /// Every band this principal may read.
    pub fn readable(&self) -> BandSet {
        BandSet::of(
            [
                Tlp::Clear,
                Tlp::Green,
                Tlp::Amber,
                Tlp::AmberStrict,
                Tlp::Red,
            ]
            .into_iter()
            .filter(|t| self.may_read(*t)),
        )
    }

    /// What exports and bundles hold when the caller names no bands: what it may read, without
    /// AMBER+STRICT (organisation only: asked for by name) and RED.
    pub fn default_bands(&self) -> BandSet {
        BandSet::of(
            [Tlp::Clear, Tlp::Green, Tlp::Amber]
                .into_iter()
                .filter(|t| self.may_read(*t)),
        )
    }

    /// The TAXII collections this principal sees: a consumer those configured for it, others every
    /// band they may read (TLP:RED holds only the sealed records this node opened: its own
    /// organisation's reading, through the operator's token).
    pub fn collections(&self) -> BandSet {
        let taxii = BandSet::ALL;
        match self {
            Principal::Consumer { collections, .. } => *collections,
            other => BandSet::of(taxii.iter().filter(|t| other.may_read(*t))),
        }
    }

    /// Whether the caller sent no credentials.
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Principal::Anonymous { .. })
    }

    /// A short label for logs and metrics (never a secret).
    pub fn label(&self) -> String {
        match self {
            Principal::Operator => "operator".into(),
            Principal::Consumer { name, .. } => format!("consumer:{name}"),
            Principal::Anonymous { .. } => "anonymous".into(),
        }
    }

    /// `Ok` if this principal may do `action`, else the API error to answer with.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        self.may(action).map_err(|d| denied(d, action))
    }
}

/// Whether a record is sealed: addressed to named members (opened here or not).
pub(crate) fn is_sealed(record: &Record) -> bool {
    record.audience().is_some() || record.payload().kind == Kind::Sealed
}

/// The API error for a refusal.
pub(super) fn denied(d: Denied, action: Action) -> ApiError {
    let what = match action {
        Action::Read(tlp) => format!("records marked TLP:{}", tlp.as_str().to_ascii_uppercase()),
        Action::Status => "the node's status".into(),
        Action::Metrics => "the metrics".into(),
        Action::Log => "the log's checkpoints and proofs".into(),
        Action::Export => "the audit export (every entry of the log)".into(),
        Action::Peers => "the peer list".into(),
        Action::Write => "publishing and signing".into(),
        Action::Admin => "peer and roster administration".into(),
    };
    match d {
        Denied::NeedsCredentials => ApiError::unauthorized(format!(
            "reading {what} needs credentials: send `Authorization: Bearer <token>` with the token from api.token in the node's data directory, or a consumer's credentials"
        )),
        Denied::NotAllowed => ApiError::forbidden(format!(
            "these credentials do not allow {what}: only the node's API token (api.token) does"
        )),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The guard resolves the principal of every request; a route reached without it is a bug
        // that must fail closed.
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            tracing::error!("a request reached a handler without a resolved principal");
            ApiError::internal("no_principal", "the request was not authenticated")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer(bands: &[Tlp]) -> Principal {
        Principal::Consumer {
            name: "siem".into(),
            bands: BandSet::of(bands.iter().copied()),
            collections: BandSet::of(bands.iter().copied()),
        }
    }

    #[test]
    fn the_rule_table() {
        let op = Principal::Operator;
        let siem = consumer(&[Tlp::Clear, Tlp::Green]);
        let open = Principal::Anonymous {
            clear: true,
            status: true,
        };
        let closed = Principal::Anonymous {
            clear: false,
            status: false,
        };
        for tlp in [
            Tlp::Clear,
            Tlp::Green,
            Tlp::Amber,
            Tlp::AmberStrict,
            Tlp::Red,
        ] {
            assert!(op.may_read(tlp));
            assert_eq!(siem.may_read(tlp), matches!(tlp, Tlp::Clear | Tlp::Green));
            assert_eq!(open.may_read(tlp), tlp == Tlp::Clear);
            assert!(!closed.may_read(tlp));
        }
        for action in [Action::Write, Action::Admin, Action::Export, Action::Peers] {
            assert_eq!(op.may(action), Ok(()));
            assert_eq!(siem.may(action), Err(Denied::NotAllowed));
            assert_eq!(open.may(action), Err(Denied::NeedsCredentials));
        }
        assert_eq!(siem.may(Action::Metrics), Err(Denied::NotAllowed));
        assert_eq!(open.may(Action::Metrics), Ok(()));
        assert_eq!(closed.may(Action::Status), Err(Denied::NeedsCredentials));
        assert_eq!(
            op.default_bands(),
            BandSet::of([Tlp::Clear, Tlp::Green, Tlp::Amber])
        );
        assert_eq!(siem.readable(), BandSet::of([Tlp::Clear, Tlp::Green]));
        assert_eq!(open.collections(), BandSet::one(Tlp::Clear));
        assert_eq!(op.collections(), BandSet::ALL);
    }
}
