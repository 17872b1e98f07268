//! TAXII 2.1 (OASIS Standard, 10 June 2021), read-only, under `/taxii2/`: discovery, the API root
//! `/taxii2/certnet/`, one collection per TLP band the caller may read, and each collection's objects,
//! manifest, single object and versions. Objects are the node's STIX mapping ([`crate::stix`]);
//! `date_added` is the time this node added the log entry that made the version.
//!
//! Paging is stateless and exact: `next` is `<log index>-<position in entry>-<query fingerprint>`, the
//! position of the first object not yet returned, so pages never skip or repeat objects even when many
//! share one `date_added`; a `next` from another query is refused. Errors use the TAXII error format.
//! Callers that cannot authenticate get 401 everywhere; collections and objects they may not read
//! answer exactly like ones that do not exist (404).

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use certnet_protocol::record::Tlp;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::{ApiState, blocking};
use crate::datadir::config::TaxiiCredential;
use crate::stix::STIX_MEDIA_TYPE;
use crate::stix::ids::{parse_timestamp_us, timestamp, timestamp_us, uuid_from_name};
use crate::stix::log::{LogItem, StixLogError, StoreLookup, decode, entry_items};

/// The TAXII media type.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The API root's path.
pub const API_ROOT: &str = "/taxii2/certnet/";
/// Objects per page when the client names no `limit`.
pub const DEFAULT_PAGE: usize = 100;
/// Most objects per page; a larger `limit` is cut to this.
pub const MAX_PAGE: usize = 1000;
/// Header: `date_added` of the first object of a page.
pub const DATE_ADDED_FIRST: &str = "x-taxii-date-added-first";
/// Header: `date_added` of the last object of a page.
pub const DATE_ADDED_LAST: &str = "x-taxii-date-added-last";

/// The bands a collection can hold (RED is never served).
const BANDS: [Tlp; 4] = [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict];

/// The TAXII routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/taxii2/", get(discovery))
        .route(API_ROOT, get(api_root))
        .route("/taxii2/certnet/status/{status}/", get(status))
        .route("/taxii2/certnet/collections/", get(collections))
        .route("/taxii2/certnet/collections/{collection}/", get(collection))
        .route(
            "/taxii2/certnet/collections/{collection}/objects/",
            get(objects).post(write_refused),
        )
        .route(
            "/taxii2/certnet/collections/{collection}/manifest/",
            get(manifest),
        )
        .route(
            "/taxii2/certnet/collections/{collection}/objects/{object}/",
            get(object).delete(write_refused),
        )
        .route(
            "/taxii2/certnet/collections/{collection}/objects/{object}/versions/",
            get(versions),
        )
}

/// An error in the TAXII error format.
#[derive(Debug, Clone)]
pub(super) struct TaxiiError {
    status: StatusCode,
    title: &'static str,
    description: String,
}

impl TaxiiError {
    fn new(status: StatusCode, title: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            title,
            description: description.into(),
        }
    }

    fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", description)
    }

    fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "no such resource, or not one these credentials may read",
        )
    }

    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "send HTTP Basic or bearer credentials configured for this node's TAXII consumers ([[taxii.consumers]] in config.toml)",
        )
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_str(),
        });
        let mut response = taxii_json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Basic realm=\"certnet TAXII\", Bearer realm=\"certnet TAXII\"",
                ),
            );
        }
        response
    }
}

impl From<StixLogError> for TaxiiError {
    fn from(err: StixLogError) -> Self {
        tracing::error!(error = %err, "TAXII: reading the log failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "the node could not read its log: see its log",
        )
    }
}

impl From<super::ApiError> for TaxiiError {
    fn from(err: super::ApiError) -> Self {
        Self::new(err.status(), "Internal error", err.code())
    }
}

fn taxii_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(TAXII_MEDIA_TYPE),
        )],
        body.to_string(),
    )
        .into_response()
}

/// Whether `path` belongs to the TAXII endpoint.
pub(super) fn is_taxii_path(path: &str) -> bool {
    path == "/taxii2" || path.starts_with("/taxii2/")
}

/// The answer for a TAXII path no route serves: 401 for callers without valid credentials (so
/// nothing is revealed), else a TAXII 404 (paths need their trailing slash) or 405.
pub(super) fn unrouted(state: &ApiState, headers: &HeaderMap, status: StatusCode) -> Response {
    if let Err(e) = caller_bands(state, headers) {
        return e.into_response();
    }
    let error = if status == StatusCode::METHOD_NOT_ALLOWED {
        TaxiiError::new(
            status,
            "Method not allowed",
            "this TAXII resource is read-only: use GET",
        )
    } else {
        TaxiiError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "no such TAXII resource (TAXII paths end in `/`, for example /taxii2/)",
        )
    };
    error.into_response()
}

/// Who is asking: the TLP bands the caller may read.
fn caller_bands(state: &ApiState, headers: &HeaderMap) -> Result<Vec<Tlp>, TaxiiError> {
    let taxii = state.auth.taxii();
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return if taxii.public_clear() {
            Ok(vec![Tlp::Clear])
        } else {
            Err(TaxiiError::unauthorized())
        };
    };
    let value = value.as_bytes();
    let space = value
        .iter()
        .position(|b| *b == b' ')
        .ok_or_else(TaxiiError::unauthorized)?;
    let (scheme, rest) = value.split_at(space);
    let secret = rest.trim_ascii();
    if scheme.eq_ignore_ascii_case(b"bearer") {
        if state.auth.token_matches(secret) {
            return Ok(BANDS.to_vec());
        }
        let hash: [u8; 32] = Sha256::digest(secret).into();
        let mut found = None;
        for c in taxii.consumers() {
            if let TaxiiCredential::Bearer { token_sha256 } = c.credential()
                && bool::from(token_sha256.ct_eq(&hash))
            {
                found = Some(c.tlp().to_vec());
            }
        }
        return found.ok_or_else(TaxiiError::unauthorized);
    }
    if scheme.eq_ignore_ascii_case(b"basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(secret)
            .map_err(|_| TaxiiError::unauthorized())?;
        let colon = decoded
            .iter()
            .position(|b| *b == b':')
            .ok_or_else(TaxiiError::unauthorized)?;
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let hash: [u8; 32] = Sha256::digest(password).into();
        for c in taxii.consumers() {
            if let TaxiiCredential::Basic {
                username,
                password_sha256,
            } = c.credential()
                && username.as_bytes() == user
            {
                return if bool::from(password_sha256.ct_eq(&hash)) {
                    Ok(c.tlp().to_vec())
                } else {
                    Err(TaxiiError::unauthorized())
                };
            }
        }
    }
    Err(TaxiiError::unauthorized())
}

/// 406 unless the client accepts the TAXII media type.
fn check_accept(headers: &HeaderMap, media: &str) -> Result<(), TaxiiError> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let accept = accept.to_str().unwrap_or("").to_ascii_lowercase();
    let (family, _) = media.split_once(';').unwrap_or((media, ""));
    let ok = accept.split(',').any(|item| {
        let compact: String = item.chars().filter(|c| !c.is_whitespace()).collect();
        let base = compact.split(';').next().unwrap_or("");
        base == "*/*"
            || base == "application/*"
            || compact.starts_with(media)
            || (base == family && !compact.contains("version="))
    });
    if ok {
        Ok(())
    } else {
        Err(TaxiiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not acceptable",
            format!("this endpoint answers with {media}: send `Accept: {media}`"),
        ))
    }
}

/// Authenticates, checks Accept and returns the caller's bands.
fn enter(state: &ApiState, headers: &HeaderMap) -> Result<Vec<Tlp>, TaxiiError> {
    let bands = caller_bands(state, headers)?;
    check_accept(headers, TAXII_MEDIA_TYPE)?;
    Ok(bands)
}

/// The collection id of a band.
pub fn collection_id(tlp: Tlp) -> String {
    uuid_from_name(&format!("taxii/collection/{tlp}"))
}

fn band_of(collection: &str, bands: &[Tlp]) -> Result<Tlp, TaxiiError> {
    bands
        .iter()
        .copied()
        .find(|b| collection_id(*b) == collection)
        .ok_or_else(TaxiiError::not_found)
}

fn collection_json(tlp: Tlp) -> Value {
    let name = tlp.as_str().to_ascii_uppercase();
    json!({
        "id": collection_id(tlp),
        "title": format!("TLP:{name}"),
        "description": format!("Every STIX object this node holds marked TLP:{name}"),
        "alias": format!("tlp-{}", tlp.as_str().replace('+', "-")),
        "can_read": true,
        "can_write": false,
        "media_types": [STIX_MEDIA_TYPE],
    })
}

async fn discovery(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    enter(&state, &headers)?;
    let root = match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => {
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .filter(|p| *p == "https")
                .unwrap_or("http");
            format!("{scheme}://{host}{API_ROOT}")
        }
        None => API_ROOT.to_owned(),
    };
    Ok(taxii_json(
        StatusCode::OK,
        &json!({
            "title": format!("certnet node {}", state.services.net()),
            "description": "Signed incident records of a certnet federation as STIX 2.1 (read-only)",
            "default": root,
            "api_roots": [root],
        }),
    ))
}

async fn api_root(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    enter(&state, &headers)?;
    Ok(taxii_json(
        StatusCode::OK,
        &json!({
            "title": format!("certnet {}", state.services.net()),
            "description": "One collection per TLP band these credentials may read",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": super::MAX_BODY_BYTES,
        }),
    ))
}

/// Status resources exist only for writes, and this root accepts none.
async fn status(State(state): State<ApiState>, headers: HeaderMap) -> Result<Response, TaxiiError> {
    enter(&state, &headers)?;
    Err(TaxiiError::not_found())
}

async fn collections(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let bands = enter(&state, &headers)?;
    let list: Vec<Value> = BANDS
        .iter()
        .filter(|b| bands.contains(b))
        .map(|b| collection_json(*b))
        .collect();
    let body = if list.is_empty() {
        json!({})
    } else {
        json!({ "collections": list })
    };
    Ok(taxii_json(StatusCode::OK, &body))
}

async fn collection(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(collection): Path<String>,
) -> Result<Response, TaxiiError> {
    let bands = enter(&state, &headers)?;
    let band = band_of(&collection, &bands)?;
    Ok(taxii_json(StatusCode::OK, &collection_json(band)))
}

/// POST objects and DELETE object: this root never writes. A collection the caller may read answers
/// 403 (TAXII 2.1 §5.5, §5.7: no write access); anything else answers 404 like a missing one.
async fn write_refused(State(state): State<ApiState>, request: Request) -> Response {
    let headers = request.headers().clone();
    let path = request.uri().path().to_owned();
    let bands = match caller_bands(&state, &headers) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let collection = path
        .trim_start_matches("/taxii2/certnet/collections/")
        .split('/')
        .next()
        .unwrap_or("");
    match band_of(collection, &bands) {
        Ok(_) => TaxiiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "this collection is read-only (can_write is false): records enter certnet only as signed records, through POST /v1/records",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Which endpoint a query is for: decides the filters it may carry and its default `match[version]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Objects,
    Manifest,
    Object,
    Versions,
}

/// `match[version]` terms.
#[derive(Debug, Clone, PartialEq, Eq)]
enum VersionTerm {
    First,
    Last,
    All,
    At(u64),
}

/// A checked query: filters and where to start.
#[derive(Debug, Clone)]
struct Query {
    added_after: Option<u64>,
    limit: usize,
    start: (u64, u32),
    ids: Vec<String>,
    types: Vec<String>,
    versions: Vec<VersionTerm>,
    spec_versions: Vec<String>,
    object: Option<String>,
}

impl Query {
    fn parse(
        raw: Option<&str>,
        endpoint: Endpoint,
        collection: &str,
        object: Option<&str>,
    ) -> Result<Self, TaxiiError> {
        let mut q = Query {
            added_after: None,
            limit: DEFAULT_PAGE,
            start: (0, 0),
            ids: vec![],
            types: vec![],
            versions: vec![],
            spec_versions: vec![],
            object: object.map(str::to_owned),
        };
        let mut next = None;
        let mut seen: Vec<String> = Vec::new();
        let pairs = form_pairs(raw.unwrap_or(""))?;
        for (key, value) in &pairs {
            if seen.contains(key) {
                return Err(TaxiiError::bad_request(format!(
                    "`{key}` is given twice: give several values as one comma-separated list"
                )));
            }
            seen.push(key.clone());
            let allowed = match key.as_str() {
                "added_after" | "limit" | "next" | "match[spec_version]" => true,
                "match[version]" => endpoint != Endpoint::Versions,
                "match[id]" | "match[type]" => {
                    matches!(endpoint, Endpoint::Objects | Endpoint::Manifest)
                }
                _ => false,
            };
            if !allowed {
                return Err(TaxiiError::bad_request(format!(
                    "`{key}` is not a parameter of this endpoint (it takes added_after, limit, next{})",
                    match endpoint {
                        Endpoint::Objects | Endpoint::Manifest =>
                            ", match[id], match[type], match[version], match[spec_version]",
                        Endpoint::Object => ", match[version], match[spec_version]",
                        Endpoint::Versions => ", match[spec_version]",
                    }
                )));
            }
            let list = || value.split(',').map(str::trim).map(str::to_owned);
            match key.as_str() {
                "added_after" => {
                    q.added_after = Some(parse_timestamp_us(value).ok_or_else(|| {
                        TaxiiError::bad_request(format!(
                            "added_after `{value}` is not a timestamp such as 2026-11-18T11:06:40.000000Z"
                        ))
                    })?);
                }
                "limit" => {
                    let n: usize = value.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        TaxiiError::bad_request(format!(
                            "limit `{value}` must be a positive integer (at most {MAX_PAGE} are returned)"
                        ))
                    })?;
                    q.limit = n.min(MAX_PAGE);
                }
                "next" => next = Some(value.clone()),
                "match[id]" => {
                    for id in list() {
                        if !is_stix_id(&id) {
                            return Err(TaxiiError::bad_request(format!(
                                "match[id] `{id}` is not a STIX id (type--uuid)"
                            )));
                        }
                        q.ids.push(id);
                    }
                }
                "match[type]" => {
                    for t in list() {
                        if !is_stix_type(&t) {
                            return Err(TaxiiError::bad_request(format!(
                                "match[type] `{t}` is not a STIX type such as indicator"
                            )));
                        }
                        q.types.push(t);
                    }
                }
                "match[version]" => {
                    for v in list() {
                        q.versions.push(match v.as_str() {
                            "first" => VersionTerm::First,
                            "last" => VersionTerm::Last,
                            "all" => VersionTerm::All,
                            other => VersionTerm::At(
                                parse_timestamp_us(other).map(|us| us / 1000).ok_or_else(|| {
                                    TaxiiError::bad_request(format!(
                                        "match[version] `{other}` must be first, last, all or a timestamp"
                                    ))
                                })?,
                            ),
                        });
                    }
                }
                "match[spec_version]" => {
                    for v in list() {
                        let ok = v.split_once('.').is_some_and(|(a, b)| {
                            !a.is_empty()
                                && !b.is_empty()
                                && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
                        });
                        if !ok {
                            return Err(TaxiiError::bad_request(format!(
                                "match[spec_version] `{v}` is not a STIX version such as 2.1"
                            )));
                        }
                        q.spec_versions.push(v);
                    }
                }
                _ => {}
            }
        }
        if q.versions.is_empty() && endpoint != Endpoint::Versions {
            q.versions.push(VersionTerm::Last);
        }
        if let Some(token) = next {
            q.start = q.parse_next(&token, endpoint, collection)?;
        }
        Ok(q)
    }

    /// What makes a `next` belong to this query: every filter, the endpoint and the collection.
    fn fingerprint(&self, endpoint: Endpoint, collection: &str) -> String {
        let text = format!(
            "{endpoint:?}|{collection}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.object, self.added_after, self.ids, self.types, self.versions, self.spec_versions
        );
        hex::encode(&Sha256::digest(text.as_bytes())[..8])
    }

    fn next_token(&self, endpoint: Endpoint, collection: &str, at: (u64, u32)) -> String {
        format!(
            "{}-{}-{}",
            at.0,
            at.1,
            self.fingerprint(endpoint, collection)
        )
    }

    fn parse_next(
        &self,
        token: &str,
        endpoint: Endpoint,
        collection: &str,
    ) -> Result<(u64, u32), TaxiiError> {
        let bad = || {
            TaxiiError::bad_request(
                "next is not a token this query returned: repeat the request with the same filters and the next value from its answer, or without next",
            )
        };
        let mut parts = token.splitn(3, '-');
        let index = parts
            .next()
            .and_then(|p| p.parse::<u64>().ok())
            .ok_or_else(bad)?;
        let sub = parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .ok_or_else(bad)?;
        let fp = parts.next().ok_or_else(bad)?;
        if fp != self.fingerprint(endpoint, collection) {
            return Err(bad());
        }
        Ok((index, sub))
    }

    fn matches(&self, item: &LogItem) -> bool {
        let v = &item.version;
        self.added_after.is_none_or(|t| item.added_us > t)
            && self.object.as_ref().is_none_or(|o| *o == v.id)
            && (self.ids.is_empty() || self.ids.contains(&v.id))
            && (self.types.is_empty() || self.types.iter().any(|t| t == v.stix_type()))
            && (self.spec_versions.is_empty() || self.spec_versions.iter().any(|s| s == "2.1"))
            && (self.versions.is_empty()
                || self.versions.iter().any(|t| match t {
                    VersionTerm::All => true,
                    VersionTerm::First => item.first,
                    VersionTerm::Last => item.last,
                    VersionTerm::At(ms) => *ms == v.version_ms,
                }))
    }
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded.
fn form_pairs(raw: &str) -> Result<Vec<(String, String)>, TaxiiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
        .map_err(|e| TaxiiError::bad_request(format!("the query string cannot be read: {e}")))
}

fn is_stix_type(t: &str) -> bool {
    (3..=250).contains(&t.len())
        && t.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !t.starts_with('-')
        && !t.ends_with('-')
}

fn is_stix_id(id: &str) -> bool {
    let Some((t, uuid)) = id.split_once("--") else {
        return false;
    };
    is_stix_type(t)
        && uuid.len() == 36
        && uuid.bytes().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// One page: the matching items from the query's start, and where the next page starts.
struct Page {
    items: Vec<LogItem>,
    next: Option<(u64, u32)>,
}

/// Scans the collection of `band` from the query's start for one page.
fn scan(state: &ApiState, band: Tlp, query: &Query) -> Result<Page, TaxiiError> {
    let store = state.services.store();
    let lookup = StoreLookup(store);
    let mut items = Vec::new();
    for entry in store.log_iter(query.start.0) {
        let entry = entry.map_err(StixLogError::from)?;
        if query.added_after.is_some_and(|t| entry.added_us <= t) && entry.index != 0 {
            continue;
        }
        let record = decode(&entry.bytes)?;
        for item in entry_items(&lookup, entry.index, entry.added_us, &record, Some(band))? {
            if (item.index, item.sub) < query.start || !query.matches(&item) {
                continue;
            }
            if items.len() == query.limit {
                return Ok(Page {
                    items,
                    next: Some((item.index, item.sub)),
                });
            }
            items.push(item);
        }
    }
    Ok(Page { items, next: None })
}

/// Runs a paged query on a readable collection in a blocking task.
async fn page(
    state: &ApiState,
    headers: &HeaderMap,
    collection: &str,
    object: Option<&str>,
    raw_query: Option<String>,
    endpoint: Endpoint,
) -> Result<(Query, Page), TaxiiError> {
    let bands = enter(state, headers)?;
    let band = band_of(collection, &bands)?;
    if let Some(o) = object
        && !is_stix_id(o)
    {
        return Err(TaxiiError::not_found());
    }
    let query = Query::parse(raw_query.as_deref(), endpoint, collection, object)?;
    let st = state.clone();
    let q = query.clone();
    let page = blocking(move || scan(&st, band, &q)).await??;
    Ok((query, page))
}

/// The answer: body plus the `X-TAXII-Date-Added-*` headers of the page.
fn paged(
    query: &Query,
    page: &Page,
    endpoint: Endpoint,
    collection: &str,
    list_key: &str,
    list: Vec<Value>,
) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("more".into(), json!(page.next.is_some()));
    if let Some(at) = page.next {
        body.insert(
            "next".into(),
            json!(query.next_token(endpoint, collection, at)),
        );
    }
    if !list.is_empty() {
        body.insert(list_key.into(), Value::Array(list));
    }
    let mut response = taxii_json(StatusCode::OK, &Value::Object(body));
    if let (Some(first), Some(last)) = (page.items.first(), page.items.last()) {
        for (name, us) in [
            (DATE_ADDED_FIRST, first.added_us),
            (DATE_ADDED_LAST, last.added_us),
        ] {
            if let Ok(v) = HeaderValue::from_str(&timestamp_us(us)) {
                response.headers_mut().insert(name, v);
            }
        }
    }
    response
}

async fn objects(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    request: Request,
) -> Result<Response, TaxiiError> {
    let raw = request.uri().query().map(str::to_owned);
    let (query, page) = page(&state, &headers, &collection, None, raw, Endpoint::Objects).await?;
    let list = page
        .items
        .iter()
        .map(|i| i.version.object.clone())
        .collect();
    Ok(paged(
        &query,
        &page,
        Endpoint::Objects,
        &collection,
        "objects",
        list,
    ))
}

async fn manifest(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    request: Request,
) -> Result<Response, TaxiiError> {
    let raw = request.uri().query().map(str::to_owned);
    let (query, page) = page(&state, &headers, &collection, None, raw, Endpoint::Manifest).await?;
    let list = page
        .items
        .iter()
        .map(|i| {
            json!({
                "id": i.version.id,
                "date_added": timestamp_us(i.added_us),
                "version": timestamp(i.version.version_ms),
                "media_type": STIX_MEDIA_TYPE,
            })
        })
        .collect();
    Ok(paged(
        &query,
        &page,
        Endpoint::Manifest,
        &collection,
        "objects",
        list,
    ))
}

async fn object(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((collection, object)): Path<(String, String)>,
    request: Request,
) -> Result<Response, TaxiiError> {
    let raw = request.uri().query().map(str::to_owned);
    object_page(
        &state,
        &headers,
        &collection,
        &object,
        raw,
        Endpoint::Object,
    )
    .await
}

async fn versions(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((collection, object)): Path<(String, String)>,
    request: Request,
) -> Result<Response, TaxiiError> {
    let raw = request.uri().query().map(str::to_owned);
    object_page(
        &state,
        &headers,
        &collection,
        &object,
        raw,
        Endpoint::Versions,
    )
    .await
}

/// A page of one object's versions: the versions themselves (`Object`) or their `modified` times
/// (`Versions`). 404 when the collection holds no version of it at all.
async fn object_page(
    state: &ApiState,
    headers: &HeaderMap,
    collection: &str,
    object: &str,
    raw: Option<String>,
    endpoint: Endpoint,
) -> Result<Response, TaxiiError> {
    let (query, page) = page(state, headers, collection, Some(object), raw, endpoint).await?;
    if page.items.is_empty()
        && query.start == (0, 0)
        && !exists(state, headers, collection, object).await?
    {
        return Err(TaxiiError::not_found());
    }
    let (key, list) = match endpoint {
        Endpoint::Versions => (
            "versions",
            page.items
                .iter()
                .map(|i| json!(timestamp(i.version.version_ms)))
                .collect(),
        ),
        _ => (
            "objects",
            page.items
                .iter()
                .map(|i| i.version.object.clone())
                .collect(),
        ),
    };
    Ok(paged(&query, &page, endpoint, collection, key, list))
}

/// Whether the collection holds any version of `object` (filters aside): an object that exists but
/// matches no filter answers 200 with an empty list, one that does not exist 404.
async fn exists(
    state: &ApiState,
    headers: &HeaderMap,
    collection: &str,
    object: &str,
) -> Result<bool, TaxiiError> {
    let (_, page) = page(
        state,
        headers,
        collection,
        Some(object),
        Some("match[version]=all&limit=1".to_owned()),
        Endpoint::Object,
    )
    .await?;
    Ok(!page.items.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_types_are_checked() {
        assert!(is_stix_id(
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        ));
        assert!(!is_stix_id(
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3"
        ));
        assert!(!is_stix_id(
            "Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        ));
        assert!(!is_stix_id("8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"));
        assert!(is_stix_type("marking-definition"));
        assert!(!is_stix_type("x"));
        assert!(!is_stix_type("in dicator"));
    }

    #[test]
    fn collection_ids_are_distinct_uuids() {
        let ids: Vec<String> = BANDS.iter().map(|b| collection_id(*b)).collect();
        for (i, a) in ids.iter().enumerate() {
            assert_eq!(a.len(), 36);
            assert!(!ids[..i].contains(a));
        }
    }
}
