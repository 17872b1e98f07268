//! Records: publish (`POST /v1/records`), list (`GET /v1/records`), one record's JSON view with its
//! current view and history (`GET /v1/records/{id}`) and its exact bytes (`GET /v1/records/{id}/raw`).

use std::str::FromStr;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use certnet_protocol::id::RecordId;
use certnet_protocol::keys::{AuthorKey, KEY_TEXT_PREFIX};
use certnet_protocol::record::{Content, Draft, Kind, Payload, Record, Tlp, verify_record};
use certnet_protocol::view::{Effect, current_view};
use serde::Deserialize;
use serde_json::Value;
use tracing::{debug, warn};

use super::principal::{Action, Principal};
use super::wire::{
    COSE_CONTENT_TYPE, Current, CurrentView, DEFAULT_LIMIT, HistoryItem, MAX_LIMIT, PublishRequest,
    PublishResponse, RecordJson, RecordList, RecordView,
};
use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiState};
use crate::node::NodeHandle;
use crate::services::{NodeServices, Published, now_ms};
use crate::store::BandSet;

/// Most log entries one `GET /v1/records` looks at; a page may end early with a `next_cursor`.
pub(super) const MAX_SCAN: u64 = 10_000;
/// A record's time this far ahead of the local clock is flagged.
pub(super) const AHEAD_TOLERANCE_MS: u64 = 5 * 60 * 1000;

pub(super) async fn publish(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(body): ApiJson<PublishRequest>,
) -> Result<(StatusCode, Json<PublishResponse>), ApiError> {
    principal.require(Action::Write)?;
    let to = body.to.clone();
    let force = body.force;
    let body = resolve_refs(&state, &principal, body).await?;
    let draft = draft(body)?;
    let peers_have = own_feed_floor(&state).await;
    let services = state.services.clone();
    let now = now_ms();
    let published = state
        .blocking(move || services.publish_to(draft, to.as_deref(), force, now, peers_have))
        .await??;
    debug!(id = %published.id, seq = published.seq, index = published.index, "record published");
    let answer = PublishResponse {
        id: published.id.to_string(),
        seq: published.seq,
        index: published.index,
    };
    announce_to_gossip(&state.node, published).await;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The publish request with every ref given as a unique id prefix (8+ hex characters) replaced by
/// the whole id, as `certnet show` takes them.
async fn resolve_refs(
    state: &ApiState,
    principal: &Principal,
    mut body: PublishRequest,
) -> Result<PublishRequest, ApiError> {
    if body.refs.iter().all(|r| RecordId::from_str(r).is_ok()) {
        return Ok(body);
    }
    let services = state.services.clone();
    let principal = principal.clone();
    let refs = std::mem::take(&mut body.refs);
    body.refs = state
        .blocking(move || {
            refs.into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let text = parse_id(&r).map_err(|_| {
                        ApiError::unprocessable(
                            "invalid_record",
                            format!(
                                "refs[{i}] must be a record id: 64 lowercase hex characters, or a unique prefix of {MIN_ID_PREFIX} or more"
                            ),
                        )
                    })?;
                    resolve_id(&services, &principal, text).map(|id| id.to_string())
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await??;
    Ok(body)
}

/// How long the first publish after start waits for a peer's Heads answer.
const OWN_FEED_WAIT: Duration = Duration::from_secs(5);

/// Before the first publish after start (DESIGN.md "Own feed"): the highest seq of this node's own
/// feed a peer *proved* (handed over the record signed by this node's key), so a node restored from
/// an old backup never signs a seq twice. Waits (up to [`OWN_FEED_WAIT`]) for a first Heads answer
/// when the roster names other members, and for claims still being proven; a claim not proven by
/// then never holds the publish back (a lying peer cannot block it). A node alone, or whose peers stay
/// silent, publishes on what it has.
pub(super) async fn own_feed_floor(state: &ApiState) -> Option<u64> {
    let services = &state.services;
    if services.own_feed_checked() {
        return None;
    }
    let others = services.roster().members().len() > 1;
    let deadline = tokio::time::Instant::now() + OWN_FEED_WAIT;
    let mut told = false;
    loop {
        let view = state.node.own_feed().await.ok()?;
        let waiting = others && (view.answers == 0 || view.pending > 0);
        if !waiting || tokio::time::Instant::now() >= deadline {
            if view.answers == 0 && others {
                warn!(
                    "no peer answered before the first publish: publishing on this store's own head"
                );
            }
            return view.proven;
        }
        if !told {
            debug!(
                answers = view.answers,
                pending = view.pending,
                "first publish since start: waiting for peers to tell (and prove) how far this node's own feed goes"
            );
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Hands a record this node published to gossip, after it is durably stored and before the API
/// answers (persist first, then publish: DESIGN.md). Not reaching peers now is not a failure: sync
/// delivers the record when they connect.
pub(super) async fn announce_to_gossip(node: &NodeHandle, published: Published) {
    match node.announce(published.bytes).await {
        Ok(outcome) => debug!(id = %published.id, ?outcome, "record announced"),
        Err(_) => debug!(id = %published.id, "event loop stopping: record left to sync"),
    }
}

/// The draft a publish request asks for, or the 4xx saying what is wrong with it.
fn draft(body: PublishRequest) -> Result<Draft, ApiError> {
    let invalid = |message: String| ApiError::unprocessable("invalid_record", message);
    let kind = Kind::from_str(&body.kind).map_err(|e| invalid(e.to_string()))?;
    if let Kind::Other(name) = &kind {
        return Err(invalid(format!(
            "kind `{name}` is not one this node can publish: use incident, indicator, advisory, sighting, update or revoke"
        )));
    }
    let tlp = Tlp::from_str(&body.tlp).map_err(|e| invalid(e.to_string()))?;
    if tlp == Tlp::Red && body.to.is_none() && !matches!(kind, Kind::Update | Kind::Revoke) {
        return Err(ApiError::unprocessable(
            "tlp_red",
            certnet_protocol::record::RecordError::TlpRed.to_string(),
        ));
    }
    let refs = body
        .refs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            RecordId::from_str(r).map_err(|_| {
                invalid(format!(
                    "refs[{i}] must be a record id: 64 lowercase hex characters"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut track = serde_path_to_error::Track::new();
    let mut content = Content::deserialize_for(
        &kind,
        serde_path_to_error::Deserializer::new(body.content, &mut track),
    )
    .map_err(|e| {
        let path = track.path().to_string();
        let at = if path == "." {
            "content".to_owned()
        } else {
            format!("content.{path}")
        };
        invalid(format!("{at}: {e} (for kind `{kind}`)"))
    })?;
    // Typed forms (upper-case hashes, `Evil.Example.`, `hxxp://evil[.]example`) become the canonical
    // forms a signed record carries; what stays ambiguous is refused by validation, naming the rule.
    content.normalize_observables();
    Ok(Draft {
        kind,
        tlp,
        refs,
        content,
    })
}

/// Query of `GET /v1/records`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// `ed25519:…` key or member name.
    author: Option<String>,
    kind: Option<String>,
    tlp: Option<String>,
    /// Records with `time` at or after this, ms since the epoch.
    since: Option<u64>,
    /// Records with `time` at or before this, ms since the epoch.
    until: Option<u64>,
    /// Log index to start at.
    cursor: Option<u64>,
    limit: Option<usize>,
    /// List records their author revoked too (hidden by default).
    #[serde(default)]
    include_revoked: bool,
}

/// The checked filters of a list request, and the bands the caller may read.
pub(super) struct Filter {
    pub(super) author: Option<AuthorKey>,
    pub(super) kind: Option<Kind>,
    pub(super) tlp: Option<Tlp>,
    pub(super) since: Option<u64>,
    pub(super) until: Option<u64>,
    /// The bands the caller may read; records of other bands are never listed.
    pub(super) readable: BandSet,
    /// List revoked records too.
    pub(super) include_revoked: bool,
    /// List sealed records too (only the operator may: [`Principal::may_read_sealed`]).
    pub(super) sealed: bool,
}

impl Filter {
    pub(super) fn matches(&self, p: &Payload) -> bool {
        self.readable.contains(p.tlp)
            && self.author.is_none_or(|a| a == p.author)
            && self.kind.as_ref().is_none_or(|k| *k == p.kind)
            && self.tlp.is_none_or(|t| t == p.tlp)
            && self.since.is_none_or(|s| p.time >= s)
            && self.until.is_none_or(|u| p.time <= u)
    }

    /// Whether a record as this node reads it passes: [`Filter::matches`], and sealed only if allowed.
    pub(super) fn shows(&self, record: &Record) -> bool {
        self.matches(record.payload()) && (self.sealed || !super::principal::is_sealed(record))
    }

    /// The bands whose entries may match.
    pub(super) fn bands(&self) -> BandSet {
        match self.tlp {
            Some(t) if self.readable.contains(t) => BandSet::one(t),
            Some(_) => BandSet::NONE,
            None => self.readable,
        }
    }
}

pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RecordList>, ApiError> {
    let readable = principal.readable();
    if readable.is_empty() {
        // Anonymous callers that may read nothing learn that they need credentials.
        principal.require(Action::Read(Tlp::Clear))?;
    }
    let bad = |message: String| ApiError::bad_request("bad_query", message);
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let author = match query.author {
        None => None,
        Some(text) if text.starts_with(KEY_TEXT_PREFIX) => Some(
            AuthorKey::from_str(&text).map_err(|e| bad(format!("author: {e}")))?,
        ),
        Some(name) => Some(
            *state
                .services
                .roster()
                .member_by_name(&name)
                .ok_or_else(|| {
                    bad(format!(
                        "author `{name}` is neither an ed25519:… key nor a member name in roster.toml"
                    ))
                })?
                .author_key(),
        ),
    };
    let filter = Filter {
        author,
        kind: query
            .kind
            .map(|k| match Kind::from_str(&k) {
                Ok(Kind::Other(name)) => Err(format!(
                    "kind `{name}` is not one of incident, indicator, advisory, sighting, update, revoke, sealed"
                )),
                other => other.map_err(|e| e.to_string()),
            })
            .transpose()
            .map_err(bad)?,
        tlp: query
            .tlp
            .map(|t| Tlp::from_str(&t))
            .transpose()
            .map_err(|e| bad(e.to_string()))?,
        since: query.since,
        until: query.until,
        readable,
        include_revoked: query.include_revoked,
        sealed: principal.may_read_sealed(),
    };
    let cursor = query.cursor.unwrap_or(0);
    let services = state.services.clone();
    let page = state
        .blocking(move || scan(&services, &filter, cursor, limit, MAX_SCAN))
        .await??;
    Ok(Json(page))
}

/// One page: entries from `cursor` on that match, at most `limit`, looking at most at `max_scan`
/// entries (then the page ends early, with the cursor to go on from). Only the entries of the bands
/// the filter allows are looked at (the store's band index), so a sparse band pages fast.
fn scan(
    services: &NodeServices,
    filter: &Filter,
    cursor: u64,
    limit: usize,
    max_scan: u64,
) -> Result<RecordList, ApiError> {
    let store = services.store();
    let bands = filter.bands();
    let entries: Box<
        dyn Iterator<Item = Result<crate::store::LogEntry, crate::store::StoreError>>,
    > = if bands == BandSet::ALL {
        Box::new(store.log_iter(cursor))
    } else {
        Box::new(
            store
                .band_entries(bands, cursor)
                .filter_map(|index| index.and_then(|i| store.entry(i)).transpose()),
        )
    };
    let mut records = Vec::new();
    let mut next_cursor = None;
    for (scanned, item) in (0..).zip(entries) {
        let entry = item?;
        let index = entry.index;
        if scanned == max_scan {
            next_cursor = Some(index);
            break;
        }
        let record = services.present(decode_stored(&entry.bytes)?);
        if filter.shows(&record) {
            let current = current(services, &record, filter.readable, filter.sealed)?;
            if !filter.include_revoked && current.as_ref().is_some_and(|c| c.revoked) {
                continue;
            }
            let mut json = record_json(services, &record, Some((index, entry.added_us)));
            json.current = current;
            records.push(json);
            if records.len() == limit {
                next_cursor = (index + 1 < store.log_size()).then_some(index + 1);
                break;
            }
        }
    }
    Ok(RecordList {
        records,
        next_cursor,
    })
}

/// A listed record as it stands now: `None` for kinds without a current view (updates, revokes,
/// unknown kinds, sealed records this node cannot read). `readable`: the caller's bands (a revoke
/// reason in another band is not shown); `sealed`: whether the caller may read sealed records (else
/// sealed updates and revokes are left out of the view).
pub(super) fn current(
    services: &NodeServices,
    record: &Record,
    readable: BandSet,
    sealed: bool,
) -> Result<Option<Current>, ApiError> {
    let p = record.payload();
    if !matches!(
        p.kind,
        Kind::Incident | Kind::Indicator | Kind::Advisory | Kind::Sighting
    ) {
        return Ok(None);
    }
    let referrers = services.referrers_as(&record.id(), sealed)?;
    let pairs: Vec<(RecordId, &Payload)> =
        referrers.iter().map(|r| (r.id(), r.payload())).collect();
    let view = current_view(p, &pairs);
    let updates = view
        .history
        .iter()
        .filter(|h| matches!(h.effect, Effect::Updated))
        .count();
    let revoke_readable = view.history.iter().any(|h| {
        matches!(h.effect, Effect::Revoked)
            && referrers
                .iter()
                .any(|r| r.id() == h.id && readable.contains(r.payload().tlp))
    });
    let field = |name: &str| {
        serde_json::to_value(&view.content)
            .ok()
            .and_then(|v| v.get(name).and_then(Value::as_str).map(str::to_owned))
    };
    Ok(Some(Current {
        tlp: view.tlp.to_string(),
        revoked: view.revoked.is_some(),
        revoked_reason: view.revoked.filter(|_| revoke_readable),
        updates: u32::try_from(updates).unwrap_or(u32::MAX),
        severity: field("severity"),
        status: field("status"),
        content: (updates > 0).then(|| content_json(&view.content)),
    }))
}

/// Decodes bytes the store holds (verified when they were stored).
pub(super) fn decode_stored(bytes: &[u8]) -> Result<Record, ApiError> {
    Record::decode(bytes).map_err(|e| {
        tracing::error!(error = %e, "a stored record no longer decodes");
        ApiError::internal(
            "store_corrupt",
            format!("a stored record no longer decodes ({e}): the store is damaged"),
        )
    })
}

/// `logged` is the record's (index, added time) in this node's log, if it is logged.
pub(super) fn record_json(
    services: &NodeServices,
    record: &Record,
    logged: Option<(u64, u64)>,
) -> RecordJson {
    let p = record.payload();
    let unread = match &p.content {
        Content::Sealed(s) => Some(s.envelope().ciphertext.len()),
        _ => None,
    };
    let sealed_error = if unread.is_some() {
        services.store().sealed_flag(&record.id()).ok().flatten()
    } else {
        None
    };
    RecordJson {
        sealed: unread.is_some() || record.audience().is_some(),
        recipients: record.audience().map(|keys| {
            keys.iter()
                .map(|k| match AuthorKey::from_bytes(*k) {
                    Ok(key) => services
                        .member_name(&key)
                        .unwrap_or_else(|| key.to_string()),
                    Err(_) => hex::encode(k),
                })
                .collect()
        }),
        sealed_size: unread,
        sealed_error,
        current: None,
        id: record.id().to_string(),
        index: logged.map(|l| l.0),
        added_us: logged.map(|l| l.1),
        author: p.author.to_string(),
        author_name: services.member_name(&p.author),
        seq: p.seq,
        prev: p.prev.map(|id| id.to_string()),
        time: p.time,
        kind: p.kind.to_string(),
        tlp: p.tlp.to_string(),
        refs: p.refs.iter().map(ToString::to_string).collect(),
        content: match unread {
            Some(_) => serde_json::json!({}),
            None => content_json(&p.content),
        },
    }
}

/// Content as JSON. Content of an unknown kind may hold CBOR JSON cannot show (byte strings, integer
/// keys): then a note saying so.
fn content_json(content: &Content) -> Value {
    serde_json::to_value(content).unwrap_or_else(|e| {
        serde_json::json!({ "unrenderable": format!("content cannot be shown as JSON: {e}; fetch /raw") })
    })
}

/// A record id from a path, or the 400 saying what an id looks like.
/// Shortest id prefix taken.
const MIN_ID_PREFIX: usize = 8;
/// Candidates an ambiguous prefix lists.
const MAX_ID_CANDIDATES: usize = 10;

/// What an id in a path may be: a whole id, or a prefix to look up in the store.
pub(super) enum IdText {
    Whole(RecordId),
    Prefix(String),
}

pub(super) fn parse_id(text: &str) -> Result<IdText, ApiError> {
    if let Ok(id) = RecordId::from_str(text) {
        return Ok(IdText::Whole(id));
    }
    if (MIN_ID_PREFIX..64).contains(&text.len())
        && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Ok(IdText::Prefix(text.to_owned()));
    }
    Err(ApiError::bad_request(
        "bad_id",
        format!(
            "`{}` is not a record id: ids are 64 lowercase hex characters, as POST /v1/records returns, or a unique prefix of {MIN_ID_PREFIX} or more of them",
            text.chars().take(80).collect::<String>()
        ),
    ))
}

/// The id `text` names among the records the caller may read: a prefix matching none is 404, one
/// matching several is 400 listing them (records the caller may not read are never listed).
pub(super) fn resolve_id(
    services: &NodeServices,
    principal: &Principal,
    text: IdText,
) -> Result<RecordId, ApiError> {
    let prefix = match text {
        IdText::Whole(id) => return Ok(id),
        IdText::Prefix(prefix) => prefix,
    };
    let mut readable = Vec::new();
    // Looks a little past the listing limit so that unreadable matches cannot hide readable ones
    // from the count.
    for id in services
        .store()
        .ids_with_prefix(&prefix, MAX_ID_CANDIDATES * 4)?
    {
        if readable_bytes(services, principal, &id).is_ok() {
            readable.push(id);
        }
    }
    match readable.as_slice() {
        [] => Err(ApiError::not_found(format!(
            "this node holds no record whose id starts with {prefix}"
        ))),
        [one] => Ok(*one),
        many => Err(ApiError::bad_request(
            "ambiguous_id",
            format!(
                "{prefix} starts {}{} record ids: give more characters ({})",
                many.len(),
                if many.len() >= MAX_ID_CANDIDATES * 4 {
                    " or more"
                } else {
                    ""
                },
                many.iter()
                    .take(MAX_ID_CANDIDATES)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

fn no_record(id: &RecordId) -> ApiError {
    ApiError::not_found(format!("this node holds no record with id {id}"))
}

pub(super) async fn get_one(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RecordView>, ApiError> {
    let id = parse_id(&id)?;
    let services = state.services.clone();
    let now = now_ms();
    let view = state
        .blocking(move || {
            let id = resolve_id(&services, &principal, id)?;
            view(&services, &principal, &id, now)
        })
        .await??;
    Ok(Json(view))
}

/// The stored bytes of `id` if the caller may read it; a record it may not read answers exactly
/// like one this node does not hold.
fn readable_bytes(
    services: &NodeServices,
    principal: &Principal,
    id: &RecordId,
) -> Result<Vec<u8>, ApiError> {
    let bytes = services.store().get(id)?.ok_or_else(|| no_record(id))?;
    let record = decode_stored(&bytes)?;
    if principal.may_read_record(&record) {
        Ok(bytes)
    } else if principal.is_anonymous() && principal.readable().is_empty() {
        Err(principal
            .require(Action::Read(record.payload().tlp))
            .err()
            .unwrap_or_else(|| no_record(id)))
    } else {
        Err(no_record(id))
    }
}

fn view(
    services: &NodeServices,
    principal: &Principal,
    id: &RecordId,
    now: u64,
) -> Result<RecordView, ApiError> {
    let store = services.store();
    let bytes = readable_bytes(services, principal, id)?;
    let logged = match store.position(id)? {
        Some(index) => store.added_us(index)?.map(|added| (index, added)),
        None => None,
    };
    let (record, verify_error) = match verify_record(&bytes, services.net()) {
        Ok(verified) => (verified.record().clone(), None),
        Err(e) => (decode_stored(&bytes)?, Some(e.to_string())),
    };
    let record = services.present(record);
    let referrers = services.referrers_as(id, principal.may_read_sealed())?;
    let pairs: Vec<(RecordId, &Payload)> =
        referrers.iter().map(|r| (r.id(), r.payload())).collect();
    let current = current_view(record.payload(), &pairs);
    let mut history = Vec::with_capacity(current.history.len());
    let mut revoke_hidden = false;
    for entry in &current.history {
        let Some(referrer) = referrers.iter().find(|r| r.id() == entry.id) else {
            continue;
        };
        // Records of bands the caller may not read are left out of the history; a withdrawal's
        // reason is shown only if its revoke is readable.
        if !principal.may_read_record(referrer) {
            revoke_hidden |= matches!(entry.effect, Effect::Revoked);
            continue;
        }
        let (effect, reason) = match &entry.effect {
            Effect::Updated => ("updated", None),
            Effect::Revoked => ("revoked", None),
            Effect::Referenced => ("referenced", None),
            Effect::Ignored(why) => ("ignored", Some((*why).to_owned())),
        };
        history.push(HistoryItem {
            id: entry.id.to_string(),
            index: store.position(&entry.id)?,
            author: referrer.payload().author.to_string(),
            kind: entry.kind.to_string(),
            seq: entry.seq,
            time: referrer.payload().time,
            effect: effect.to_owned(),
            reason,
        });
    }
    Ok(RecordView {
        record: record_json(services, &record, logged),
        verified: verify_error.is_none(),
        verify_error,
        time_ahead_of_clock: record.payload().time > now.saturating_add(AHEAD_TOLERANCE_MS),
        view: CurrentView {
            content: content_json(&current.content),
            tlp: current.tlp.to_string(),
            revoked: current.revoked.is_some(),
            revoked_reason: if revoke_hidden {
                current.revoked.map(|_| {
                    "withdrawn by its author (the revoke is above the bands these credentials may read)".to_owned()
                })
            } else {
                current.revoked
            },
        },
        history,
    })
}

pub(super) async fn get_raw(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let services = state.services.clone();
    let bytes = state
        .blocking(move || {
            let id = resolve_id(&services, &principal, id)?;
            readable_bytes(&services, &principal, &id)
        })
        .await??;
    Ok(([(header::CONTENT_TYPE, COSE_CONTENT_TYPE)], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use certnet_protocol::keys::AuthorSecret;
    use certnet_protocol::record::sample;

    use super::*;
    use crate::membership::{Member, NetworkId, Roster};
    use crate::metrics::Metrics;
    use crate::store::{Store, StoreConfig};

    #[test]
    fn a_sparse_filter_ends_the_page_early_with_a_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let author = AuthorSecret::from_seed(&[5; 32]);
        let mut roster = Roster::new(NetworkId::dev());
        roster
            .add_member(Member::new(
                "CERT-S".parse().unwrap(),
                author.public(),
                vec![],
                vec![],
            ))
            .unwrap();
        let store = Store::open(&StoreConfig {
            path: dir.path().join("store"),
            cache_capacity: 8 << 20,
            net: NetworkId::dev().as_str().to_owned(),
            max_orphans: 10,
            disk: None,
        })
        .unwrap();
        let services = NodeServices::new(
            Arc::new(store),
            crate::membership::RosterCell::new(roster),
            author,
            Arc::new(Metrics::new()),
        )
        .unwrap();
        let now = 1_767_225_600_000;
        for n in 0..5 {
            services
                .publish(sample::incident(n), now + n, None)
                .unwrap();
        }
        let late = Filter {
            author: None,
            kind: None,
            tlp: None,
            since: Some(now + 4),
            until: None,
            readable: BandSet::ALL,
            include_revoked: false,
            sealed: true,
        };
        let first = scan(&services, &late, 0, 10, 3).unwrap();
        assert!(first.records.is_empty());
        assert_eq!(first.next_cursor, Some(3));
        let second = scan(&services, &late, 3, 10, 3).unwrap();
        assert_eq!(second.records.len(), 1);
        assert_eq!(second.records[0].index, Some(4));
        assert_eq!(second.next_cursor, None);
    }
}
