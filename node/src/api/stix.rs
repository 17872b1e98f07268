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

use super::{ApiError, ApiPath, ApiQuery, ApiState, blocking};
use crate::stix::log::{StixLogError, decode, log_objects, record_objects};
use crate::stix::{STIX_MEDIA_TYPE, bundle};

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
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = RecordId::from_str(&id).map_err(|_| {
        ApiError::bad_request(
            "bad_id",
            "not a record id: ids are 64 lowercase hex characters, as POST /v1/records returns",
        )
    })?;
    let services = state.services.clone();
    let objects = blocking(move || -> Result<Option<Vec<Value>>, ApiError> {
        let store = services.store();
        let Some(bytes) = store.get(&id)? else {
            return Ok(None);
        };
        let record = decode(&bytes)?;
        Ok(Some(record_objects(store, &record)?))
    })
    .await??
    .ok_or_else(|| ApiError::not_found(format!("this node holds no record with id {id}")))?;
    if objects.is_empty() {
        return Err(ApiError::not_found(format!(
            "record {id} has no STIX form (an unknown kind, an update or revoke that applies to nothing, or a sighting naming nothing this node holds)"
        )));
    }
    Ok(stix_response(&bundle(objects)))
}

/// Query of `GET /v1/stix`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BundleQuery {
    /// Comma-separated TLP labels (default: all but red).
    tlp: Option<String>,
    /// Comma-separated record kinds (incident, indicator, advisory, sighting; default: all).
    kind: Option<String>,
}

pub(super) async fn get_bundle(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<BundleQuery>,
) -> Result<Response, ApiError> {
    let bad = |m: String| ApiError::bad_request("bad_query", m);
    let tlps = match &query.tlp {
        None => vec![Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict],
        Some(list) => list
            .split(',')
            .map(|t| match Tlp::from_str(t.trim()) {
                Ok(Tlp::Red) => Err(bad("tlp red is never exported".into())),
                Ok(t) => Ok(t),
                Err(e) => Err(bad(e.to_string())),
            })
            .collect::<Result<_, _>>()?,
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
    let objects = blocking(move || log_objects(services.store(), &tlps, &kinds)).await??;
    Ok(stix_response(&bundle(objects)))
}
