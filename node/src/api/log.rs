//! The log's commitments: signed checkpoints (`/v1/log/checkpoint`), inclusion and consistency
//! proofs (`/v1/log/proof/*`) and fork proofs (`/v1/forks`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use certnet_protocol::chain::EquivocationProof;
use certnet_protocol::id::Hash;
use certnet_protocol::merkle::{ProofError, leaf_hash};
use certnet_protocol::record::Record;
use serde::Deserialize;

use super::principal::{Action, Principal};
use super::records::{IdText, parse_id, resolve_id};
use super::wire::{
    CheckpointResponse, ConsistencyProofResponse, ForkJson, ForksResponse, InclusionProofResponse,
};
use super::{ApiError, ApiQuery, ApiState};
use crate::services::{NodeServices, SignedCheckpoint};
use crate::store::StoreError;

fn checkpoint_json(
    services: &NodeServices,
    signed: SignedCheckpoint,
    created: Option<bool>,
) -> CheckpointResponse {
    CheckpointResponse {
        size: signed.checkpoint.size(),
        root: hex::encode(signed.checkpoint.root()),
        origin: signed.checkpoint.origin().to_owned(),
        key: services.author_key().to_string(),
        verifier_key: services.verifier().to_string(),
        note: signed.note,
        created,
    }
}

fn no_checkpoint(what: &str) -> ApiError {
    ApiError::not_found(format!(
        "this node has not signed a checkpoint yet{what}: POST /v1/log/checkpoint (`certnet checkpoint --new`) makes one"
    ))
}

pub(super) async fn get_checkpoint(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<CheckpointResponse>, ApiError> {
    principal.require(Action::Log)?;
    let services = state.services.clone();
    let latest = state
        .blocking(move || {
            services
                .latest_checkpoint()
                .map(|c| c.map(|c| checkpoint_json(&services, c, None)))
        })
        .await??;
    latest.map(Json).ok_or_else(|| no_checkpoint(""))
}

pub(super) async fn post_checkpoint(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<(StatusCode, Json<CheckpointResponse>), ApiError> {
    principal.require(Action::Write)?;
    let services = state.services.clone();
    let signed = state
        .blocking(move || {
            services.checkpoint_now().map(|c| {
                let created = c.created;
                (created, checkpoint_json(&services, c, Some(created)))
            })
        })
        .await??;
    let status = if signed.0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(signed.1)))
}

/// The tree size a proof is for: the one asked for, else the newest checkpoint's.
fn size_or_checkpoint(services: &NodeServices, size: Option<u64>) -> Result<u64, ApiError> {
    match size {
        Some(size) => Ok(size),
        None => services
            .store()
            .latest_checkpoint()?
            .map(|(size, _)| size)
            .ok_or_else(|| no_checkpoint(" (pass size= or make one)")),
    }
}

fn out_of_range(message: String) -> ApiError {
    ApiError::unprocessable("out_of_range", message)
}

/// Checks a tree size against the log before asking the store for a proof.
fn check_size(size: u64, log_size: u64) -> Result<(), ApiError> {
    if size > log_size {
        return Err(out_of_range(format!(
            "size {size} is beyond the log, which has {log_size} entries"
        )));
    }
    Ok(())
}

/// A proof the store could not make: sizes were checked before, so this is the store failing.
fn proof_error(err: ProofError<StoreError>) -> ApiError {
    match err {
        ProofError::Source(e) => e.into(),
        other => out_of_range(other.to_string()),
    }
}

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// Query of `GET /v1/log/proof/inclusion`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InclusionQuery {
    pub(super) id: Option<String>,
    pub(super) index: Option<u64>,
    pub(super) size: Option<u64>,
}

/// Which entry an inclusion proof is for.
enum Target {
    Id(IdText),
    Index(u64),
}

pub(super) async fn inclusion(
    State(state): State<ApiState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<InclusionQuery>,
) -> Result<Json<InclusionProofResponse>, ApiError> {
    principal.require(Action::Log)?;
    let target = match (&query.id, query.index) {
        (Some(id), None) => Target::Id(parse_id(id)?),
        (None, Some(index)) => Target::Index(index),
        _ => {
            return Err(ApiError::bad_request(
                "bad_query",
                "pass exactly one of id=<record id> or index=<log index>",
            ));
        }
    };
    let services = state.services.clone();
    let proof = state.blocking(move || -> Result<_, ApiError> {
        let store = services.store();
        let size = size_or_checkpoint(&services, query.size)?;
        let index = match target {
            Target::Id(text) => {
                let id = resolve_id(&services, &principal, text)?;
                store.position(&id)?.ok_or_else(|| {
                    ApiError::not_found(format!("this node's log holds no record with id {id}"))
                })?
            }
            Target::Index(index) => index,
        };
        check_size(size, store.log_size())?;
        if index >= size {
            return Err(out_of_range(format!(
                "entry {index} is not in the tree of size {size}: pass size= above {index} (the log has {} entries)",
                store.log_size()
            )));
        }
        let path = store.inclusion_proof(index, size).map_err(proof_error)?;
        let bytes = store
            .log_iter(index)
            .next()
            .ok_or_else(|| {
                ApiError::from(StoreError::Corrupt(format!("log entry {index} is missing")))
            })??
            .bytes;
        let record = Record::decode(&bytes)
            .map_err(|e| ApiError::from(StoreError::Corrupt(format!("log entry {index}: {e}"))))?;
        Ok(InclusionProofResponse {
            index,
            size,
            id: record.id().to_string(),
            leaf_hash: hex::encode(leaf_hash(&bytes)),
            root: hex::encode(store.root(size)?),
            path: hexes(&path),
            checkpoint: store.checkpoint_at(size)?,
        })
    })
    .await??;
    Ok(Json(proof))
}

/// Query of `GET /v1/log/proof/consistency`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsistencyQuery {
    old: u64,
    new: Option<u64>,
}

pub(super) async fn consistency(
    State(state): State<ApiState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProofResponse>, ApiError> {
    principal.require(Action::Log)?;
    let services = state.services.clone();
    let proof = state
        .blocking(move || -> Result<_, ApiError> {
            let store = services.store();
            let new = size_or_checkpoint(&services, query.new)?;
            let old = query.old;
            check_size(new, store.log_size())?;
            if old > new {
                return Err(out_of_range(format!(
                    "old size {old} is larger than new size {new}: pass old <= new"
                )));
            }
            let path = store.consistency_proof(old, new).map_err(proof_error)?;
            Ok(ConsistencyProofResponse {
                old,
                new,
                old_root: hex::encode(store.root(old)?),
                new_root: hex::encode(store.root(new)?),
                path: hexes(&path),
                old_checkpoint: store.checkpoint_at(old)?,
                new_checkpoint: store.checkpoint_at(new)?,
            })
        })
        .await??;
    Ok(Json(proof))
}

/// Fork proofs whose two records the caller may read (a proof holds both records in full).
pub(super) async fn forks(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<ForksResponse>, ApiError> {
    principal.require(Action::Log)?;
    let services = state.services.clone();
    let forks = state
        .blocking(move || -> Result<_, ApiError> {
            let mut forks = Vec::new();
            for bytes in services.store().forks()? {
                let proof = EquivocationProof::from_cbor(&bytes, services.net()).map_err(|e| {
                    ApiError::from(StoreError::Corrupt(format!(
                        "a stored fork proof is invalid: {e}"
                    )))
                })?;
                // A proof holds both records in full: shown only to who may read both.
                if !proof
                    .records()
                    .iter()
                    .all(|r| principal.may_read_record(r.record()))
                {
                    continue;
                }
                let author = proof.author();
                forks.push(ForkJson {
                    author: author.to_string(),
                    author_name: services.member_name(&author),
                    seq: proof.seq(),
                    ids: proof.records().iter().map(|r| r.id().to_string()).collect(),
                    proof: hex::encode(&bytes),
                });
            }
            Ok(forks)
        })
        .await??;
    Ok(Json(ForksResponse { forks }))
}
