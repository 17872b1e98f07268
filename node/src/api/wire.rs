//! JSON bodies of the API, shared by the server and the client so both sides agree by construction.

use serde::{Deserialize, Serialize};

use crate::node::NodeStatus;

/// Every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// What went wrong: a stable machine-readable code and a message saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable identifier, e.g. `unauthorized`, `not_found`, `bad_json`.
    pub code: String,
    /// For people: what is wrong and what to do.
    pub message: String,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// Member name.
    pub name: String,
    /// Network id.
    pub network: String,
    /// Author public key, `ed25519:...`.
    pub author_key: String,
    /// libp2p PeerId.
    pub peer_id: String,
    /// certnet version.
    pub version: String,
    /// Whole seconds since the node started.
    pub uptime_secs: u64,
}

impl From<NodeStatus> for StatusResponse {
    fn from(status: NodeStatus) -> Self {
        Self {
            name: status.identity.name.to_string(),
            network: status.identity.network.to_string(),
            author_key: status.identity.author_key.to_string(),
            peer_id: status.identity.peer_id.to_string(),
            version: status.version.to_owned(),
            uptime_secs: status.uptime.as_secs(),
        }
    }
}
