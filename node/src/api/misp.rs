//! `POST /v1/misp/events`: publish one MISP event as mapped by `crate::misp` (the CLI maps, so a
//! mapping problem is reported with the file and JSON path where the operator is). Idempotent:
//! the same event again publishes nothing; a changed one becomes an update (`services::misp`).

use axum::Json;
use axum::extract::State;

use serde::{Deserialize, Serialize};

use super::principal::{Action, Principal};
use super::records::{announce_to_gossip, own_feed_floor};
use super::wire::MispImportResponse;
use super::{ApiError, ApiJson, ApiState};
use crate::misp::Mapped;
use crate::services::now_ms;

/// `POST /v1/misp/withdraw`: the events a source lists now.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WithdrawRequest {
    source: String,
    present: Vec<String>,
}

/// The answer: the events withdrawn (their incidents revoked).
#[derive(Debug, Serialize)]
pub(super) struct WithdrawResponse {
    withdrawn: Vec<String>,
}

pub(super) async fn withdraw(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(body): ApiJson<WithdrawRequest>,
) -> Result<Json<WithdrawResponse>, ApiError> {
    principal.require(Action::Write)?;
    let present = body
        .present
        .iter()
        .map(|u| u.trim().to_ascii_lowercase())
        .collect();
    let peers_have = own_feed_floor(&state).await;
    let services = state.services.clone();
    let now = now_ms();
    let (withdrawn, published) = state
        .blocking(move || services.withdraw_misp(&body.source, &present, now, peers_have))
        .await??;
    for p in published {
        announce_to_gossip(&state.node, p).await;
    }
    Ok(Json(WithdrawResponse { withdrawn }))
}

pub(super) async fn import_event(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(mapped): ApiJson<Mapped>,
) -> Result<Json<MispImportResponse>, ApiError> {
    principal.require(Action::Write)?;
    let invalid = |message: String| ApiError::unprocessable("invalid_record", message);
    mapped
        .incident
        .validate("incident")
        .map_err(|e| invalid(format!("MISP event {}: {e}", mapped.uuid)))?;
    for (i, s) in mapped.sightings.iter().enumerate() {
        s.content
            .validate(&format!("sightings[{i}].content"), true)
            .map_err(|e| invalid(format!("MISP event {}: {e}", mapped.uuid)))?;
    }
    let peers_have = own_feed_floor(&state).await;
    let services = state.services.clone();
    let now = now_ms();
    let imported = state
        .blocking(move || {
            services
                .import_misp(&mapped, now, peers_have)
                .map(|i| (mapped.uuid, i))
        })
        .await??;
    let (uuid, imported) = imported;
    let answer = MispImportResponse {
        uuid,
        outcome: imported.outcome,
        incident: imported.incident.to_string(),
        sightings: imported.sightings,
    };
    for p in imported.published {
        announce_to_gossip(&state.node, p).await;
    }
    Ok(Json(answer))
}
