//! Peers and roster routes: `GET /v1/peers`, `POST /v1/peers/{peer}/block`,
//! `POST /v1/peers/{peer}/unblock`, `POST /v1/roster/reload`; their JSON bodies; and the client
//! calls the CLI uses for them.

use std::time::UNIX_EPOCH;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use libp2p_identity::PeerId;
use serde::{Deserialize, Serialize};

use super::client::{Client, ClientError};
use super::principal::{Action, Principal};
use super::{ApiError, ApiState, Route};
use crate::net::{PeerInfo, PeersSnapshot, RosterChange, RosterReloadError};

/// The routes of this file.
pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new("/v1/peers", &[Method::GET], get(get_peers)),
        Route::new("/v1/peers/{peer}/block", &[Method::POST], post(block)),
        Route::new("/v1/peers/{peer}/unblock", &[Method::POST], post(unblock)),
        Route::new("/v1/roster/reload", &[Method::POST], post(reload_roster)),
    ]
}

/// `GET /v1/peers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeersResponse {
    /// This node's PeerId.
    pub peer_id: String,
    /// Addresses this node listens on (with the ports actually bound).
    pub listen_addrs: Vec<String>,
    /// Connected peers, by member name.
    pub peers: Vec<PeerJson>,
    /// PeerIds the operator blocked.
    pub blocked: Vec<String>,
    /// Every other roster member: connected or not, and when it was last.
    #[serde(default)]
    pub members: Vec<MemberJson>,
}

/// One roster member, connected or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberJson {
    /// Its name in this node's roster.
    pub name: String,
    /// `connected`, `disconnected` (seen since this node started), `never` (not since this node
    /// started) or `blocked`.
    pub state: String,
    /// When its last connection closed, in ms since the Unix epoch (`disconnected` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<u64>,
}

/// One connected peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerJson {
    /// Its PeerId.
    pub peer_id: String,
    /// Its member name in this node's roster.
    pub member: Option<String>,
    /// The connection's remote address, then the listen addresses the peer reported.
    pub addrs: Vec<String>,
    /// `outbound` if this node dialed, else `inbound`.
    pub direction: String,
    /// When the connection was established, in ms since the Unix epoch.
    pub connected_since_ms: u64,
    /// Last ping round trip in ms.
    pub ping_ms: Option<f64>,
    /// Whether it subscribed to the records topic (gossip reaches it).
    pub subscribed: bool,
    /// Its gossipsub score as this node computes it (negative: misbehaving).
    pub gossip_score: Option<f64>,
    /// Its recent sync offences (invalid records or protocol violations).
    pub offences: u32,
    /// When it last answered a Heads request on this connection (a sync round), ms since the Unix
    /// epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heads_ms: Option<u64>,
    /// The roster members' heads it reported then: `ed25519:…` author key → seq.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub heads: std::collections::BTreeMap<String, u64>,
}

/// `POST /v1/peers/{peer}/block` and `/unblock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockResponse {
    /// The peer.
    pub peer_id: String,
    /// Whether it is blocked now.
    pub blocked: bool,
    /// Whether this request changed that.
    pub changed: bool,
}

/// `POST /v1/roster/reload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterReloadResponse {
    /// Members in the roster now.
    pub members: usize,
    /// Members added.
    pub added: Vec<String>,
    /// Members removed (their new records are ignored from now on; stored ones stay).
    pub removed: Vec<String>,
    /// Peers disconnected because they are no longer allowed.
    pub disconnected: Vec<String>,
}

/// A wall-clock time as ms since the Unix epoch.
fn epoch_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl From<PeerInfo> for PeerJson {
    fn from(p: PeerInfo) -> Self {
        Self {
            peer_id: p.peer_id.to_string(),
            member: p.member.map(|m| m.to_string()),
            addrs: p.addrs.iter().map(ToString::to_string).collect(),
            direction: if p.outbound { "outbound" } else { "inbound" }.to_owned(),
            connected_since_ms: epoch_ms(p.connected_since),
            ping_ms: p.ping.map(|d| d.as_secs_f64() * 1000.0),
            subscribed: p.subscribed,
            gossip_score: p.gossip_score,
            offences: p.offences,
            last_heads_ms: p.last_heads.map(epoch_ms),
            heads: p
                .heads
                .iter()
                .map(|(author, seq)| (author.to_string(), *seq))
                .collect(),
        }
    }
}

impl From<PeersSnapshot> for PeersResponse {
    fn from(s: PeersSnapshot) -> Self {
        Self {
            peer_id: s.local_peer_id.to_string(),
            listen_addrs: s.listen_addrs.iter().map(ToString::to_string).collect(),
            peers: s.peers.into_iter().map(PeerJson::from).collect(),
            blocked: s.blocked.iter().map(ToString::to_string).collect(),
            members: s
                .members
                .iter()
                .map(|m| MemberJson {
                    name: m.name.to_string(),
                    state: match (m.blocked, m.connected, m.last_seen) {
                        (true, _, _) => "blocked",
                        (_, true, _) => "connected",
                        (_, _, Some(_)) => "disconnected",
                        _ => "never",
                    }
                    .to_owned(),
                    last_seen_ms: m.last_seen.map(epoch_ms),
                })
                .collect(),
        }
    }
}

impl From<RosterChange> for RosterReloadResponse {
    fn from(c: RosterChange) -> Self {
        Self {
            members: c.members,
            added: c.added.iter().map(ToString::to_string).collect(),
            removed: c.removed.iter().map(ToString::to_string).collect(),
            disconnected: c.disconnected.iter().map(ToString::to_string).collect(),
        }
    }
}

pub(super) async fn get_peers(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<PeersResponse>, ApiError> {
    principal.require(Action::Peers)?;
    Ok(Json(state.node.peers().await?.into()))
}

fn peer_param(path: Result<Path<String>, PathRejection>) -> Result<PeerId, ApiError> {
    let Path(text) = path.map_err(|e| ApiError::bad_request("bad_path", e.body_text()))?;
    text.parse().map_err(|_| {
        ApiError::bad_request(
            "bad_peer_id",
            format!("`{text}` is not a peer id (they look like 12D3KooW...; see `certnet peers`)"),
        )
    })
}

pub(super) async fn block(
    State(state): State<ApiState>,
    principal: Principal,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BlockResponse>, ApiError> {
    principal.require(Action::Admin)?;
    let peer = peer_param(path)?;
    let changed = state.node.block(peer).await?;
    Ok(Json(BlockResponse {
        peer_id: peer.to_string(),
        blocked: true,
        changed,
    }))
}

pub(super) async fn unblock(
    State(state): State<ApiState>,
    principal: Principal,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BlockResponse>, ApiError> {
    principal.require(Action::Admin)?;
    let peer = peer_param(path)?;
    let changed = state.node.unblock(peer).await?;
    Ok(Json(BlockResponse {
        peer_id: peer.to_string(),
        blocked: false,
        changed,
    }))
}

async fn reload_roster(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<RosterReloadResponse>, ApiError> {
    principal.require(Action::Admin)?;
    match state.node.reload_roster().await? {
        Ok(change) => Ok(Json(change.into())),
        Err(e @ RosterReloadError::NoFile) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_roster_file",
            e.to_string(),
        )),
        Err(e @ (RosterReloadError::Invalid(_) | RosterReloadError::NetworkChanged { .. })) => {
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_roster",
                format!("{e}; the running roster stays"),
            ))
        }
    }
}

impl Client {
    /// `GET /v1/peers`.
    pub fn peers(&self) -> Result<PeersResponse, ClientError> {
        self.get_json("/v1/peers")
    }

    /// `POST /v1/peers/{peer}/block`.
    pub fn block_peer(&self, peer: &PeerId) -> Result<BlockResponse, ClientError> {
        self.post_empty(&format!("/v1/peers/{peer}/block"))
    }

    /// `POST /v1/peers/{peer}/unblock`.
    pub fn unblock_peer(&self, peer: &PeerId) -> Result<BlockResponse, ClientError> {
        self.post_empty(&format!("/v1/peers/{peer}/unblock"))
    }

    /// `POST /v1/roster/reload`.
    pub fn reload_roster(&self) -> Result<RosterReloadResponse, ClientError> {
        self.post_empty("/v1/roster/reload")
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;
    use crate::api::AccessPolicy;
    use crate::datadir::keys::NodeSecret;
    use crate::datadir::token::ApiToken;
    use crate::node::{Node, NodeIdentity};
    use certnet_protocol::keys::AuthorSecret;

    fn router() -> (axum::Router, PeerId, ApiToken, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let author = AuthorSecret::from_seed(&[1; 32]);
        let mut roster = crate::membership::Roster::new("test".parse().unwrap());
        roster
            .add_member(crate::membership::Member::new(
                "CERT-T".parse().unwrap(),
                author.public(),
                vec![],
                vec![],
            ))
            .unwrap();
        let store = crate::store::Store::open(&crate::store::StoreConfig {
            path: dir.path().join("store"),
            cache_capacity: 8 << 20,
            net: "test".into(),
            max_orphans: 100,
            disk: None,
        })
        .unwrap();
        let services = std::sync::Arc::new(
            crate::services::NodeServices::new(
                std::sync::Arc::new(store),
                crate::membership::RosterCell::new(roster),
                author,
                std::sync::Arc::new(crate::metrics::Metrics::new()),
            )
            .unwrap(),
        );
        let peer_id = NodeSecret::from_seed(&[2; 32]).unwrap().peer_id();
        let (handle, node) = Node::new(NodeIdentity {
            name: "CERT-T".parse().unwrap(),
            network: "test".parse().unwrap(),
            author_key: AuthorSecret::from_seed(&[1; 32]).public(),
            peer_id,
        });
        tokio::spawn(node.run(std::future::pending()));
        let token = ApiToken::generate().unwrap();
        let access = AccessPolicy::new(
            &Default::default(),
            &["127.0.0.1:4470".parse().unwrap()],
            token.clone(),
            vec![],
        );
        let state = ApiState::new(handle, services, access);
        (super::super::router(state), peer_id, token, dir)
    }

    async fn call(
        router: &axum::Router,
        token: &str,
        method: &str,
        uri: &str,
    ) -> (StatusCode, serde_json::Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "127.0.0.1:4470")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn peers_of_an_offline_node_and_bad_peer_ids() {
        let (router, peer_id, token, _dir) = router();
        let t = token.as_str();
        let (status, body) = call(&router, "x", "GET", "/v1/peers").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let (status, body) = call(&router, t, "GET", "/v1/peers").await;
        assert_eq!(status, StatusCode::OK);
        let peers: PeersResponse = serde_json::from_value(body).unwrap();
        assert_eq!(peers.peer_id, peer_id.to_string());
        assert!(peers.peers.is_empty());

        let (status, body) = call(&router, t, "POST", "/v1/peers/nonsense/block").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "bad_peer_id");

        let (status, body) = call(&router, t, "POST", "/v1/roster/reload").await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"]["code"], "no_roster_file");
    }
}
