//! `GET /v1/status`: who the node is, how long it has run, and the state of its log and store.

use axum::Json;
use axum::extract::State;

use super::principal::{Action, Principal};
use super::wire::{DiskJson, FrozenAuthor, StatusResponse};
use super::{ApiError, ApiState};

pub(super) async fn get_status(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<StatusResponse>, ApiError> {
    principal.require(Action::Status)?;
    let status = state.node.status().await?;
    let services = state.services.clone();
    let store_status = state
        .blocking(move || -> Result<_, ApiError> {
            let store = services.store();
            let log_size = store.log_size();
            let root = store.root(log_size)?;
            let checkpoint_size = store.latest_checkpoint()?.map(|(size, _)| size);
            let forks = store
                .frozen()
                .into_iter()
                .map(|(author, seq)| FrozenAuthor {
                    author: author.to_string(),
                    author_name: services.member_name(&author),
                    seq,
                })
                .collect();
            Ok((
                log_size,
                root,
                checkpoint_size,
                store.heads().len() as u64,
                store.orphan_count(),
                forks,
                store.size_on_disk()?,
                store.disk(),
            ))
        })
        .await??;
    let (log_size, root, checkpoint_size, heads, orphans, forks, store_bytes, disk) = store_status;
    let (state, free_bytes, limits) = disk;
    let identity = status.identity;
    Ok(Json(StatusResponse {
        name: identity.name.to_string(),
        network: identity.network.to_string(),
        author_key: identity.author_key.to_string(),
        peer_id: identity.peer_id.to_string(),
        version: status.version.to_owned(),
        uptime_secs: status.uptime.as_secs(),
        log_size,
        root: hex::encode(root),
        checkpoint_size,
        heads,
        orphans,
        forks,
        store_bytes,
        disk: DiskJson {
            state: state.as_str().to_owned(),
            free_bytes,
            watermark_bytes: limits.map(|l| l.watermark),
            floor_bytes: limits.map(|l| l.floor),
        },
    }))
}
