//! The federation: forks (equivocation proofs) and frozen authors as alerts; every roster member with
//! its connection state, ping, gossip score and last sync; per-author heads as each connected peer
//! last reported them against this node's own (who is behind); block and unblock for the operator.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::super::log::forks;
use super::super::peers::{PeersResponse, block as block_peer, get_peers, unblock as unblock_peer};
use super::super::{ApiError, ApiState};
use super::{
    CsrfForm, Signed, SignedForm, csrf_field, duration_ms, error_page, id_link, layout, time,
};

/// One author's row in the heads table.
struct AuthorHeads {
    name: String,
    key: String,
    ours: Option<u64>,
    frozen: Option<u64>,
}

/// `GET /ui/federation`.
pub(super) async fn page(State(state): State<ApiState>, signed: Signed) -> Response {
    let principal = signed.principal().clone();
    let forks = match forks(State(state.clone()), principal.clone()).await {
        Ok(f) => f.0.forks,
        Err(e) => return error_page(Some(&signed), &e),
    };
    // Peers are the operator's view; a consumer sees the alerts and the members.
    let peers: Option<PeersResponse> = match get_peers(State(state.clone()), principal).await {
        Ok(p) => Some(p.0),
        Err(_) => None,
    };
    let services = state.services.clone();
    let authors = state
        .blocking(move || {
            let store = services.store();
            let frozen: BTreeMap<_, _> = store.frozen().into_iter().collect();
            services
                .roster()
                .members()
                .iter()
                .map(|m| AuthorHeads {
                    name: m.name().to_string(),
                    key: m.author_key().to_string(),
                    ours: store.head(m.author_key()).map(|(seq, _)| seq),
                    frozen: frozen.get(m.author_key()).copied(),
                })
                .collect::<Vec<_>>()
        })
        .await;
    let authors = match authors {
        Ok(a) => a,
        Err(e) => return error_page(Some(&signed), &e),
    };
    let now = crate::services::now_ms();
    let body = html! {
        h1 { "Federation" }
        section.alerts id="alerts" {
            @if forks.is_empty() && authors.iter().all(|a| a.frozen.is_none()) {
                p.ok id="no-alerts" { "No fork: every author's records form one chain." }
            }
            @for f in &forks {
                div.alert.fork {
                    strong { "Fork: " (f.author_name.as_deref().unwrap_or(&f.author)) }
                    " signed two different records at seq " (f.seq) ": "
                    @for id in &f.ids { (id_link(id)) " " }
                    " — its later records are not accepted until the operators resolve it. The proof is portable: anyone can verify it."
                }
            }
            @for a in authors.iter().filter(|a| a.frozen.is_some()) {
                @if !forks.iter().any(|f| f.author == a.key) {
                    div.alert.fork { strong { "Frozen: " (a.name) } " at seq " (a.frozen.unwrap_or(0)) " (an equivocation this session may not read the records of)." }
                }
            }
        }
        @match &peers {
            None => p.hint { "Connection details (peers, pings, scores, heads) are shown to the node's operator." },
            Some(p) => {
                section {
                    h2 { "Members" }
                    table.members id="members" {
                        thead { tr { th { "Member" } th { "State" } th { "Ping" } th { "Gossip score" } th { "Last sync" } th { "" } } }
                        tbody {
                            @for m in &p.members {
                                @let peer = p.peers.iter().find(|x| x.member.as_deref() == Some(m.name.as_str()));
                                tr data-member=(m.name) {
                                    td.author { (m.name) }
                                    td { span class={ "state " (m.state) } { (m.state) }
                                        @if let Some(t) = m.last_seen_ms { " (last " (time(t)) ")" } }
                                    td { @if let Some(ms) = peer.and_then(|x| x.ping_ms) { (format!("{ms:.1} ms")) } }
                                    td { @if let Some(s) = peer.and_then(|x| x.gossip_score) {
                                        span class=(if s < 0.0 { "bad" } else { "" }) { (format!("{s:.1}")) } } }
                                    td { @if let Some(t) = peer.and_then(|x| x.last_heads_ms) {
                                        (duration_ms(i64::try_from(now.saturating_sub(t)).unwrap_or(i64::MAX))) " ago" } }
                                    td { @if signed.is_operator() { @if let Some(x) = peer {
                                        form.inline method="post" action={ "/ui/federation/" (x.peer_id) "/block" } {
                                            (csrf_field(&signed)) button type="submit" { "Block" } }
                                    } } }
                                }
                            }
                        }
                    }
                    @if !p.blocked.is_empty() {
                        h3 { "Blocked by this node's operator" }
                        ul.blocked { @for b in &p.blocked { li { code { (b) } " "
                            form.inline method="post" action={ "/ui/federation/" (b) "/unblock" } {
                                (csrf_field(&signed)) button type="submit" { "Unblock" } } } } }
                    }
                }
                section {
                    h2 { "Heads: who is behind" }
                    p.hint { "Each author's highest seq held with a complete chain: this node's, and each connected peer's as its last Heads answer reported it (peers answer when they connect and at every sync round). A lower number is behind; – is none." }
                    table.heads id="heads" {
                        thead { tr {
                            th { "Author" } th { "This node" }
                            @for x in &p.peers { th {
                                (x.member.as_deref().unwrap_or("?"))
                                @if let Some(t) = x.last_heads_ms {
                                    br; span.hint { "as of " (duration_ms(i64::try_from(now.saturating_sub(t)).unwrap_or(i64::MAX))) " ago" }
                                }
                            } }
                        } }
                        tbody { @for a in &authors {
                            @let best = p.peers.iter().filter_map(|x| x.heads.get(&a.key).copied()).chain(a.ours).max();
                            tr {
                                td.author { (a.name) }
                                td class=(if a.ours < best { "behind" } else { "" }) { (a.ours.map_or("–".to_owned(), |s| s.to_string())) }
                                @for x in &p.peers {
                                    @let theirs = x.heads.get(&a.key).copied();
                                    td class=(if theirs < best { "behind" } else { "" }) { (theirs.map_or("–".to_owned(), |s| s.to_string())) }
                                }
                            }
                        } }
                    }
                }
            }
        }
    };
    layout("Federation", Some(&signed), body)
}

/// `POST /ui/federation/{peer}/block` and `/unblock` (operator).
pub(super) async fn block(
    State(state): State<ApiState>,
    Path((peer, action)): Path<(String, String)>,
    SignedForm(signed, _): SignedForm<CsrfForm>,
) -> Response {
    let principal = signed.principal().clone();
    let path = Ok(Path(peer));
    let done = match action.as_str() {
        "block" => block_peer(State(state), principal, path).await.map(|_| ()),
        "unblock" => unblock_peer(State(state), principal, path)
            .await
            .map(|_| ()),
        other => Err(ApiError::not_found(format!(
            "no federation action `{other}`: block or unblock"
        ))),
    };
    match done {
        Ok(()) => Redirect::to("/ui/federation").into_response(),
        Err(e) => error_page(Some(&signed), &e),
    }
}
