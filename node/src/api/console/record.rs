//! One record's page: its current view and history, indicators, references and related records, and
//! its provenance: author key, seq and `prev`, log index, and the Merkle inclusion proof against the
//! newest signed checkpoint, verified here (leaf hash of the stored bytes, the proof's path, the
//! checkpoint's signature by this node's key) before the page says so. Downloads: the exact COSE
//! bytes and the STIX bundle.

use std::str::FromStr as _;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use certnet_protocol::checkpoint;
use certnet_protocol::id::{Hash, RecordId};
use certnet_protocol::merkle::{leaf_hash, verify_inclusion};
use certnet_protocol::record::Record;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::super::log::{InclusionQuery, inclusion, post_checkpoint};
use super::super::records::{get_one, get_raw};
use super::super::stix::get_record_stix;
use super::super::wire::{InclusionProofResponse, RecordView};
use super::super::{ApiError, ApiPath, ApiQuery, ApiState};
use super::{Signed, SignedForm, csrf_field, error_page, id_link, layout, time, tlp_badge};

/// The record view if this session may see it: the API's answer to the session's principal (a
/// sealed record only for the operator: a consumer gets the 404 of a record the node does not hold).
async fn view_for(state: &ApiState, signed: &Signed, id: &str) -> Result<RecordView, ApiError> {
    let axum::Json(view) = get_one(
        State(state.clone()),
        signed.principal().clone(),
        ApiPath(id.to_owned()),
    )
    .await?;
    Ok(view)
}

/// What the page says about the record's inclusion in the log.
enum Inclusion {
    /// The proof checked out against the signed checkpoint.
    Verified {
        proof: InclusionProofResponse,
        note: String,
    },
    /// The proof or checkpoint did not check out (the store or the node is wrong).
    Failed(String),
    /// No signed checkpoint covers the record yet.
    Pending(String),
}

async fn inclusion_of(state: &ApiState, signed: &Signed, id: &str) -> Inclusion {
    let query = InclusionQuery {
        id: Some(id.to_owned()),
        index: None,
        size: None,
    };
    let proof = match inclusion(
        State(state.clone()),
        signed.principal().clone(),
        ApiQuery(query),
    )
    .await
    {
        Ok(axum::Json(p)) => p,
        Err(e) => return Inclusion::Pending(e.message().to_owned()),
    };
    let services = state.services.clone();
    let raw_id = id.to_owned();
    let checked = state
        .blocking(move || verify(&services, &raw_id, proof))
        .await;
    match checked {
        Ok(Ok((proof, note))) => Inclusion::Verified { proof, note },
        Ok(Err(why)) => Inclusion::Failed(why),
        Err(e) => Inclusion::Failed(e.message().to_owned()),
    }
}

/// Checks a proof as an auditor would: the leaf is the hash of the record's stored bytes, the path
/// leads from it to the root, and the root and size are those of a checkpoint signed by this node.
fn verify(
    services: &crate::services::NodeServices,
    id: &str,
    proof: InclusionProofResponse,
) -> Result<(InclusionProofResponse, String), String> {
    let id = RecordId::from_str(id).map_err(|e| e.to_string())?;
    let bytes = services
        .store()
        .get(&id)
        .map_err(|e| e.to_string())?
        .ok_or("the record is no longer in the store")?;
    let hash = |text: &str| -> Result<Hash, String> {
        let bytes = hex::decode(text).map_err(|e| format!("hash `{text}`: {e}"))?;
        Hash::try_from(bytes.as_slice()).map_err(|_| format!("hash `{text}` is not 32 bytes"))
    };
    let leaf = leaf_hash(&bytes);
    if hex::encode(leaf) != proof.leaf_hash {
        return Err("the proof's leaf is not the hash of the record's bytes".into());
    }
    let path = proof
        .path
        .iter()
        .map(|h| hash(h))
        .collect::<Result<Vec<_>, _>>()?;
    let root = hash(&proof.root)?;
    verify_inclusion(&leaf, proof.index, proof.size, &path, &root)
        .map_err(|e| format!("the inclusion proof does not verify: {e}"))?;
    let note = proof
        .checkpoint
        .clone()
        .ok_or("no signed checkpoint at the proof's size")?;
    let signed = checkpoint::open(note.as_bytes(), services.verifier())
        .map_err(|e| format!("the checkpoint does not verify: {e}"))?;
    if signed.size() != proof.size || *signed.root() != root {
        return Err("the checkpoint's size or root is not the proof's".into());
    }
    Ok((proof, note))
}

/// `GET /ui/records/{id}`.
pub(super) async fn page(
    State(state): State<ApiState>,
    signed: Signed,
    ApiPath(id): ApiPath<String>,
) -> Response {
    let view = match view_for(&state, &signed, &id).await {
        Ok(v) => v,
        Err(e) => return error_page(Some(&signed), &e),
    };
    let id = view.record.id.clone();
    let inclusion = inclusion_of(&state, &signed, &id).await;
    let indicators = match observables(&state, &id).await {
        Ok(list) => list,
        Err(e) => return error_page(Some(&signed), &e),
    };
    let r = &view.record;
    let title = super::feed::title_of(r);
    let body = html! {
        article.record data-id=(r.id) {
            h1 { (tlp_badge(&view.view.tlp)) " " (if title.is_empty() { r.kind.clone() } else { title.clone() }) }
            p.meta {
                span.kind { (r.kind) } " by "
                strong.author { (r.author_name.as_deref().unwrap_or(&r.author)) } " · "
                (time(r.time))
                @if view.time_ahead_of_clock { " " span.bad { "(ahead of this node's clock)" } }
            }
            @if view.view.revoked {
                p.banner.revoked id="revoked" { "Revoked by its author" @if let Some(reason) = &view.view.revoked_reason { ": " (reason) } }
            }
            @if r.sealed {
                p.banner.sealed {
                    "Sealed: only its named recipients can read it"
                    @if let Some(to) = &r.recipients { " (" (to.join(", ")) ")" }
                    @if let Some(size) = r.sealed_size { ". This node cannot open it (" (size) " bytes of ciphertext)" }
                    @if let Some(e) = &r.sealed_error { ": " (e) }
                }
            }
            section {
                h2 { "Current view" }
                (content(&view.view.content))
            }
            @if !indicators.is_empty() {
                section {
                    h2 { "Indicators" }
                    ul.indicators {
                        @for (kind, value) in &indicators {
                            li { span.kind { (kind) } " " a href={ "/ui/indicators?value=" (urlencode(value)) } { code { (value) } } }
                        }
                    }
                }
            }
            @if !r.refs.is_empty() {
                section {
                    h2 { "References" }
                    ul { @for id in &r.refs { li { (id_link(id)) } } }
                }
            }
            section {
                h2 { "History and related records" }
                @if view.history.is_empty() { p { "No update, revocation, sighting or other record refers to it." } }
                @else {
                    table.history {
                        thead { tr { th { "Effect" } th { "Kind" } th { "Record" } th { "Seq" } th { "Time" } th { "Note" } } }
                        tbody { @for h in &view.history { tr {
                            td { (h.effect) } td { (h.kind) } td { (id_link(&h.id)) } td { (h.seq) } td { (time(h.time)) }
                            td { @if let Some(reason) = &h.reason { (reason) } }
                        } } }
                    }
                }
            }
            section.provenance id="provenance" {
                h2 { "Provenance" }
                dl {
                    dt { "Record id" } dd { code { (r.id) } }
                    dt { "Author key" } dd { code { (r.author) } @if let Some(n) = &r.author_name { " (" (n) ")" } }
                    dt { "Seq" } dd { (r.seq) }
                    dt { "Previous record" } dd { @match &r.prev { Some(p) => (id_link(p)), None => "none (first of its author)" } }
                    dt { "Signature" } dd {
                        @if view.verified { span.ok id="signature" { "✓ COSE_Sign1 signature verified now (ed25519, verify_strict)" } }
                        @else { span.bad id="signature" { "✗ " (view.verify_error.as_deref().unwrap_or("does not verify")) } }
                    }
                    dt { "Log index" } dd { @match r.index { Some(i) => (i), None => "not in this node's log" } }
                    @if let Some(us) = r.added_us { dt { "Added here" } dd { (time(us / 1000)) } }
                }
                h3 { "Inclusion in the log" }
                (inclusion_markup(&inclusion, &signed, &r.id))
                p.downloads {
                    a href={ "/ui/records/" (r.id) "/raw" } download={ (r.id) ".cose" } { "Raw COSE bytes" }
                    " · "
                    a href={ "/ui/records/" (r.id) "/stix" } download={ (r.id) ".stix.json" } { "STIX 2.1 bundle" }
                }
            }
        }
    };
    layout(&title, Some(&signed), body)
}

fn inclusion_markup(inclusion: &Inclusion, signed: &Signed, id: &str) -> Markup {
    match inclusion {
        Inclusion::Verified { proof, note } => html! {
            p.ok id="inclusion" {
                "✓ Inclusion proof verified: entry " (proof.index) " of the log of " (proof.size)
                " entries, under the root of a checkpoint signed by this node"
            }
            details {
                summary { "Proof and checkpoint" }
                dl {
                    dt { "Leaf hash" } dd { code { (proof.leaf_hash) } }
                    dt { "Root" } dd { code { (proof.root) } }
                    dt { "Path" } dd { ol { @for h in &proof.path { li { code { (h) } } } } }
                }
                pre.note { (note) }
            }
        },
        Inclusion::Failed(why) => html! {
            p.bad id="inclusion" { "✗ The inclusion proof does not verify: " (why) }
        },
        Inclusion::Pending(why) => html! {
            p.pending id="inclusion" { "Not yet covered by a signed checkpoint: " (why) }
            @if signed.is_operator() {
                form method="post" action="/ui/checkpoint" {
                    (csrf_field(signed))
                    input type="hidden" name="back" value=(id);
                    button type="submit" id="sign-checkpoint" { "Sign a checkpoint now" }
                }
            }
        },
    }
}

/// Fields shown first, in this order; the rest follow alphabetically.
const FIRST: [&str; 6] = ["title", "value", "type", "summary", "severity", "status"];

/// Content as a definition list: text as text, lists joined, observables as `type value`, times
/// as UTC, anything else as compact JSON.
pub(crate) fn content(value: &Value) -> Markup {
    let Value::Object(map) = value else {
        return html! { p { "No readable content." } };
    };
    if map.is_empty() {
        return html! { p { "No readable content." } };
    }
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| (FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()), *k));
    html! {
        dl.content {
            @for k in keys {
                @let v = &map[k];
                dt { (k) }
                dd { @match v {
                    Value::String(s) => (s),
                    Value::Array(items) if items.iter().all(Value::is_string) => {
                        (items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                    }
                    Value::Array(items) if items.iter().all(|i| i.get("value").is_some()) => {
                        @for i in items {
                            span.observable { span.kind { (i["type"].as_str().unwrap_or("")) } " " code { (i["value"].as_str().unwrap_or("")) } } " "
                        }
                    }
                    Value::Number(n) if k.ends_with("_seen") || k.starts_with("valid_") => {
                        (n.as_u64().map(time).unwrap_or_else(|| html! { (n) }))
                    }
                    other => code { (other.to_string()) },
                } }
            }
        }
    }
}

fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// The observables a record reports (opened if sealed to this node), as (type, value).
async fn observables(state: &ApiState, id: &str) -> Result<Vec<(String, String)>, ApiError> {
    let services = state.services.clone();
    let id = RecordId::from_str(id).map_err(|e| ApiError::bad_request("bad_id", e.to_string()))?;
    state
        .blocking(move || -> Result<_, ApiError> {
            let Some(bytes) = services.store().get(&id)? else {
                return Ok(Vec::new());
            };
            let record = services.present(super::super::records::decode_stored(&bytes)?);
            Ok(list(&record))
        })
        .await?
}

fn list(record: &Record) -> Vec<(String, String)> {
    record
        .payload()
        .observables()
        .into_iter()
        .map(|(kind, value)| (kind.as_str().to_owned(), value.to_owned()))
        .collect()
}

/// `GET /ui/records/{id}/raw`: the exact COSE bytes, as a download.
pub(super) async fn raw(
    State(state): State<ApiState>,
    signed: Signed,
    ApiPath(id): ApiPath<String>,
) -> Response {
    download(&state, &signed, &id, "cose", |state, principal, id| {
        Box::pin(get_raw(State(state), principal, ApiPath(id)))
    })
    .await
}

/// `GET /ui/records/{id}/stix`: the STIX bundle, as a download.
pub(super) async fn stix(
    State(state): State<ApiState>,
    signed: Signed,
    ApiPath(id): ApiPath<String>,
) -> Response {
    download(&state, &signed, &id, "stix.json", |state, principal, id| {
        Box::pin(get_record_stix(State(state), principal, ApiPath(id)))
    })
    .await
}

type Answer = std::pin::Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send>>;

async fn download(
    state: &ApiState,
    signed: &Signed,
    id: &str,
    extension: &str,
    handler: impl FnOnce(ApiState, super::super::Principal, String) -> Answer,
) -> Response {
    let view = match view_for(state, signed, id).await {
        Ok(v) => v,
        Err(e) => return error_page(Some(signed), &e),
    };
    let id = view.record.id;
    match handler(state.clone(), signed.principal().clone(), id.clone()).await {
        Ok(mut response) => {
            if let Ok(v) =
                HeaderValue::from_str(&format!("attachment; filename=\"{id}.{extension}\""))
            {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(e) => error_page(Some(signed), &e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CheckpointForm {
    #[serde(default)]
    back: String,
}

/// `POST /ui/checkpoint`: sign a checkpoint now (operator), then back to the record.
pub(super) async fn checkpoint(
    State(state): State<ApiState>,
    SignedForm(signed, form): SignedForm<CheckpointForm>,
) -> Response {
    if let Err(e) = post_checkpoint(State(state), signed.principal().clone()).await {
        return error_page(Some(&signed), &e);
    }
    // Only back to a record page (no open redirect).
    match RecordId::from_str(&form.back) {
        Ok(id) => Redirect::to(&format!("/ui/records/{id}")).into_response(),
        Err(_) => Redirect::to("/ui/").into_response(),
    }
}
