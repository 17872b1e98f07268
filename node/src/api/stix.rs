//! STIX 2.1 bundles over the node API: one record's objects (`GET /v1/records/{id}/stix`) and the
//! whole log, filtered (`GET /v1/stix`), both as `application/stix+json;version=2.1`.

use std::str::FromStr as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use certnet_protocol::id::RecordId;
use certnet_protocol::record::{Kind, Tlp};
use serde::Deserialize;
use serde_json::Value;

use super::body::streamed;
use super::principal::{Action, Principal};
use super::{ApiError, ApiPath, ApiQuery, ApiState};
use crate::services::NodeServices;
use crate::stix::log::{StixLogError, StoreLookup, record_objects};
use crate::stix::stream::write_bundle;
use crate::stix::{STIX_MEDIA_TYPE, bundle};
use crate::store::BandSet;

impl From<StixLogError> for ApiError {
    fn from(err: StixLogError) -> Self {
        match err {
            StixLogError::Store(e) => e.into(),
            StixLogError::Corrupt { .. } => {
                tracing::error!(error = %err, "a stored record no longer decodes");
                ApiError::internal("store_corrupt", err.to_string())
            }
        }
    }
}

fn stix_response(bundle: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, STIX_MEDIA_TYPE)],
        bundle.to_string(),
    )
        .into_response()
}

pub(super) async fn get_record_stix(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = super::records::parse_id(&id)?;
    let services = state.services.clone();
    let (id, objects) = state
        .blocking(move || -> Result<_, ApiError> {
            let id = super::records::resolve_id(&services, &principal, id)?;
            Ok((id, readable_objects(&services, &principal, &id)?))
        })
        .await??;
    let objects = objects
        .ok_or_else(|| ApiError::not_found(format!("this node holds no record with id {id}")))?;
    if objects.is_empty() {
        return Err(ApiError::not_found(format!(
            "record {id} has no STIX form (an unknown kind, an update or revoke that applies to nothing, or a sighting naming nothing this node holds)"
        )));
    }
    Ok(stix_response(&bundle(objects)))
}

/// The STIX objects of record `id` if the caller may read it (`None`: not held, or not readable,
/// which answers alike).
fn readable_objects(
    services: &NodeServices,
    principal: &Principal,
    id: &RecordId,
) -> Result<Option<Vec<Value>>, ApiError> {
    let roster = services.roster();
    let lookup = lookup_for(services, &roster, principal);
    let Some(bytes) = lookup.store.get(id)? else {
        return Ok(None);
    };
    let record = lookup.decode(&bytes)?;
    if !principal.may_read_record(&record) {
        return Ok(None);
    }
    Ok(Some(record_objects(
        &lookup,
        &record,
        principal.readable(),
    )?))
}

/// How `principal` reads the store for STIX: sealed records opened only for the operator (for anyone
/// else a sealed record has no STIX form, as on a node it is not addressed to).
pub(super) fn lookup_for<'a>(
    services: &'a NodeServices,
    roster: &'a crate::membership::Roster,
    principal: &Principal,
) -> StoreLookup<'a> {
    if principal.may_read_sealed() {
        StoreLookup::reading(services, roster)
    } else {
        StoreLookup::plain(services.store())
    }
}

/// Query of `GET /v1/stix`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BundleQuery {
    /// Comma-separated TLP labels (default: what the caller may read, without amber+strict).
    tlp: Option<String>,
    /// Comma-separated record kinds (incident, indicator, advisory, sighting; default: all).
    kind: Option<String>,
}

pub(super) async fn get_bundle(
    State(state): State<ApiState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<BundleQuery>,
) -> Result<Response, ApiError> {
    let bad = |m: String| ApiError::bad_request("bad_query", m);
    let bands = match &query.tlp {
        None => {
            if principal.default_bands().is_empty() {
                principal.require(Action::Read(Tlp::Clear))?;
            }
            principal.default_bands()
        }
        Some(list) => {
            let mut bands = BandSet::NONE;
            for t in list.split(',') {
                let tlp = match Tlp::from_str(t.trim()) {
                    Ok(Tlp::Red) => return Err(bad("tlp red is never exported".into())),
                    Ok(t) => t,
                    Err(e) => return Err(bad(e.to_string())),
                };
                principal.require(Action::Read(tlp))?;
                bands = bands.with(BandSet::one(tlp));
            }
            bands
        }
    };
    let kinds = match &query.kind {
        None => vec![],
        Some(list) => list
            .split(',')
            .map(|k| match Kind::from_str(k.trim()) {
                Ok(k @ (Kind::Incident | Kind::Indicator | Kind::Advisory | Kind::Sighting)) => {
                    Ok(k)
                }
                _ => Err(bad(format!(
                    "kind `{k}` has no STIX form: use incident, indicator, advisory or sighting"
                ))),
            })
            .collect::<Result<_, _>>()?,
    };
    let services = state.services.clone();
    let permit = state.blocking_permit().await?;
    let body = streamed(permit, "STIX bundle", move |out| {
        let roster = services.roster();
        write_bundle(
            lookup_for(&services, &roster, &principal),
            bands,
            &kinds,
            out,
        )
        .map(|_| ())
    });
    Ok(([(header::CONTENT_TYPE, STIX_MEDIA_TYPE)], body).into_response())
}
