//! TAXII 2.1 (OASIS Standard, 10 June 2021), read-only, under `/taxii2/`: discovery, the API root
//! `/taxii2/certnet/`, one collection per TLP band the caller may read, and each collection's objects,
//! manifest, single object and versions. Objects are the node's STIX mapping ([`crate::stix`]);
//! `date_added` is the time this node added the log entry that made the version.
//!
//! Who sees which collection is the API's one rule ([`Principal::collections`]). A collection is read
//! through the store's band index ([`page`]), so a poll costs what its page holds. Paging is exact:
//! `next` is an opaque token ([`query`]) holding the position of the first object not yet returned
//! (log index, position in entry), MACed with a per-process key, bound to the query, expiring after
//! an hour; pages never skip or repeat objects even when many share one `date_added`. Errors use the
//! TAXII error format. Callers without credentials get 401 unless anonymous callers may read
//! TLP:CLEAR from where they are; collections and objects they may not read answer exactly like ones
//! that do not exist (404).

mod page;
mod query;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use certnet_protocol::record::Tlp;
use serde_json::{Value, json};

use self::page::{Page, scan};
use self::query::{Endpoint, Query, is_stix_id};
use super::principal::Principal;
use super::{ApiState, Route};
use crate::services::now_ms;
use crate::stix::STIX_MEDIA_TYPE;
use crate::stix::ids::{timestamp, timestamp_us, uuid_from_name};
use crate::stix::log::StixLogError;
use crate::store::BandSet;

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

/// The bands a collection can hold. TLP:RED holds only sealed records this node opened (RED never
/// travels in clear), for the operator only (consumers are never given `red`).
const BANDS: [Tlp; 5] = [
    Tlp::Clear,
    Tlp::Green,
    Tlp::Amber,
    Tlp::AmberStrict,
    Tlp::Red,
];

/// The TAXII routes.
pub(super) fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        Route::new("/taxii2/", &[M::GET], get(discovery)),
        Route::new(API_ROOT, &[M::GET], get(api_root)),
        Route::new("/taxii2/certnet/status/{status}/", &[M::GET], get(status)),
        Route::new("/taxii2/certnet/collections/", &[M::GET], get(collections)),
        Route::new(
            "/taxii2/certnet/collections/{collection}/",
            &[M::GET],
            get(collection),
        ),
        Route::new(
            "/taxii2/certnet/collections/{collection}/objects/",
            &[M::GET, M::POST],
            get(objects).post(write_refused),
        ),
        Route::new(
            "/taxii2/certnet/collections/{collection}/manifest/",
            &[M::GET],
            get(manifest),
        ),
        Route::new(
            "/taxii2/certnet/collections/{collection}/objects/{object}/",
            &[M::GET, M::DELETE],
            get(object).delete(write_refused),
        ),
        Route::new(
            "/taxii2/certnet/collections/{collection}/objects/{object}/versions/",
            &[M::GET],
            get(versions),
        ),
    ]
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
            "send HTTP Basic or bearer credentials of one of this node's consumers (`certnet consumer add`), or the node's API token",
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
                HeaderValue::from_static(WWW_AUTHENTICATE),
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

/// An error in TAXII's format from the API's guard (status, code, message).
pub(super) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let title = match status {
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        StatusCode::MISDIRECTED_REQUEST => "Misdirected request",
        _ => "Error",
    };
    let mut response = taxii_json(
        status,
        &json!({
            "title": title,
            "description": message,
            "error_code": code,
            "http_status": status.as_str(),
        }),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTHENTICATE),
        );
    }
    response
}

/// The `WWW-Authenticate` challenge of TAXII's 401s.
const WWW_AUTHENTICATE: &str = "Basic realm=\"certnet TAXII\", Bearer realm=\"certnet TAXII\"";

/// The answer for a TAXII path no route serves: 401 for callers who may see no collection (so
/// nothing is revealed), else a TAXII 404 (paths need their trailing slash) or 405.
pub(super) fn unrouted(principal: &Principal, status: StatusCode) -> Response {
    if let Err(e) = bands_of(principal) {
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

/// TAXII's 401, the same whether credentials were missing or wrong.
pub(super) fn unauthorized() -> Response {
    TaxiiError::unauthorized().into_response()
}

/// The collections the caller sees: 401 for an anonymous caller who sees none.
fn bands_of(principal: &Principal) -> Result<BandSet, TaxiiError> {
    let bands = principal.collections();
    if bands.is_empty() && principal.is_anonymous() {
        return Err(TaxiiError::unauthorized());
    }
    Ok(bands)
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

/// Checks that the caller sees some collection and accepts TAXII; returns its collections.
fn enter(principal: &Principal, headers: &HeaderMap) -> Result<BandSet, TaxiiError> {
    let bands = bands_of(principal)?;
    check_accept(headers, TAXII_MEDIA_TYPE)?;
    Ok(bands)
}

/// The collection id of a band.
pub fn collection_id(tlp: Tlp) -> String {
    uuid_from_name(&format!("taxii/collection/{tlp}"))
}

fn band_of(collection: &str, bands: BandSet) -> Result<Tlp, TaxiiError> {
    bands
        .iter()
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
    principal: Principal,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    enter(&principal, &headers)?;
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
    principal: Principal,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    enter(&principal, &headers)?;
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
async fn status(principal: Principal, headers: HeaderMap) -> Result<Response, TaxiiError> {
    enter(&principal, &headers)?;
    Err(TaxiiError::not_found())
}

async fn collections(principal: Principal, headers: HeaderMap) -> Result<Response, TaxiiError> {
    let bands = enter(&principal, &headers)?;
    let list: Vec<Value> = BANDS
        .iter()
        .filter(|b| bands.contains(**b))
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
    principal: Principal,
    headers: HeaderMap,
    Path(collection): Path<String>,
) -> Result<Response, TaxiiError> {
    let bands = enter(&principal, &headers)?;
    let band = band_of(&collection, bands)?;
    Ok(taxii_json(StatusCode::OK, &collection_json(band)))
}

/// POST objects and DELETE object: this root never writes. A collection the caller may read answers
/// 403 (TAXII 2.1 §5.5, §5.7: no write access); anything else answers 404 like a missing one.
async fn write_refused(principal: Principal, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let bands = match bands_of(&principal) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let collection = path
        .trim_start_matches("/taxii2/certnet/collections/")
        .split('/')
        .next()
        .unwrap_or("");
    match band_of(collection, bands) {
        Ok(_) => TaxiiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "this collection is read-only (can_write is false): records enter certnet only as signed records, through POST /v1/records",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Runs a paged query on a readable collection in a blocking task.
async fn page(
    state: &ApiState,
    principal: &Principal,
    headers: &HeaderMap,
    collection: &str,
    object: Option<&str>,
    raw_query: Option<String>,
    endpoint: Endpoint,
) -> Result<(Query, Page), TaxiiError> {
    let bands = enter(principal, headers)?;
    let band = band_of(collection, bands)?;
    if let Some(o) = object
        && !is_stix_id(o)
    {
        return Err(TaxiiError::not_found());
    }
    let key = state.access.secret();
    let query = Query::parse(
        raw_query.as_deref(),
        endpoint,
        collection,
        object,
        key,
        now_s(),
    )?;
    let services = state.services.clone();
    let q = query.clone();
    let principal = principal.clone();
    let page = state
        .blocking(move || {
            let roster = services.roster();
            scan(
                super::stix::lookup_for(&services, &roster, &principal),
                band,
                &q,
            )
        })
        .await??;
    Ok((query, page))
}

/// The answer: body plus the `X-TAXII-Date-Added-*` headers of the page.
fn paged(
    state: &ApiState,
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
            json!(query.next_token(endpoint, collection, at, state.access.secret(), now_s())),
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
    principal: Principal,
    headers: HeaderMap,
    Path(collection): Path<String>,
    request: Request,
) -> Result<Response, TaxiiError> {
    let raw = request.uri().query().map(str::to_owned);
    let (query, page) = page(
        &state,
        &principal,
        &headers,
        &collection,
        None,
        raw,
        Endpoint::Objects,
    )
    .await?;
    let list = page
        .items
        .iter()
        .map(|i| i.version.object.clone())
        .collect();
    Ok(paged(
        &state,
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
    principal: Principal,
    headers: HeaderMap,
    Path(collection): Path<String>,
    request: Request,
) -> Result<Response, TaxiiError> {
    let raw = request.uri().query().map(str::to_owned);
    let (query, page) = page(
        &state,
        &principal,
        &headers,
        &collection,
        None,
        raw,
        Endpoint::Manifest,
    )
    .await?;
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
        &state,
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
    principal: Principal,
    headers: HeaderMap,
    Path((collection, object)): Path<(String, String)>,
    request: Request,
) -> Result<Response, TaxiiError> {
    let raw = request.uri().query().map(str::to_owned);
    object_page(
        &state,
        &principal,
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
    principal: Principal,
    headers: HeaderMap,
    Path((collection, object)): Path<(String, String)>,
    request: Request,
) -> Result<Response, TaxiiError> {
    let raw = request.uri().query().map(str::to_owned);
    object_page(
        &state,
        &principal,
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
    principal: &Principal,
    headers: &HeaderMap,
    collection: &str,
    object: &str,
    raw: Option<String>,
    endpoint: Endpoint,
) -> Result<Response, TaxiiError> {
    let (query, page) = page(
        state,
        principal,
        headers,
        collection,
        Some(object),
        raw,
        endpoint,
    )
    .await?;
    if page.items.is_empty()
        && query.start == (0, 0)
        && !exists(state, principal, headers, collection, object).await?
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
    Ok(paged(state, &query, &page, endpoint, collection, key, list))
}

/// Whether the collection holds any version of `object` (filters aside): an object that exists but
/// matches no filter answers 200 with an empty list, one that does not exist 404.
async fn exists(
    state: &ApiState,
    principal: &Principal,
    headers: &HeaderMap,
    collection: &str,
    object: &str,
) -> Result<bool, TaxiiError> {
    let (_, page) = page(
        state,
        principal,
        headers,
        collection,
        Some(object),
        Some("match[version]=all&limit=1".to_owned()),
        Endpoint::Object,
    )
    .await?;
    Ok(!page.items.is_empty())
}

/// Seconds since the Unix epoch (for page token expiry).
fn now_s() -> u64 {
    now_ms() / 1000
}
