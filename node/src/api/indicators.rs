//! Indicator lookup (`GET /v1/indicators/{value}`): every live record that reports or sighted a
//! value, and every member that did, with first and last seen. The value is normalised first (hash
//! and domain case, trailing dot, defanging), so `Evil.Example.` and `hxxp://evil[.]example` find
//! what was published as `evil.example` and `http://evil.example`.

use std::str::FromStr;

use axum::Json;
use axum::extract::State;
use certnet_protocol::record::normalize::{detect, normalize};
use certnet_protocol::record::{IndicatorType, IndicatorValue, Record, indicator::check_indicator};
use serde::Deserialize;

use super::principal::{Action, Principal};
use super::records::{current, record_json};
use super::wire::{IndicatorRecord, IndicatorReport, IndicatorReporter};
use super::{ApiError, ApiPath, ApiQuery, ApiState};
use crate::services::Lookup;
use crate::store::BandSet;

/// Index entries one lookup reads by default, and at most.
const DEFAULT_LIMIT: usize = 1_000;
const MAX_LIMIT: usize = 10_000;

/// Query of `GET /v1/indicators/{value}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LookupQuery {
    /// The value's type, when it cannot be told from the value.
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    /// Most index entries to read (the newest).
    pub(super) limit: Option<usize>,
}

pub(super) async fn lookup(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(value): ApiPath<String>,
    ApiQuery(query): ApiQuery<LookupQuery>,
) -> Result<Json<IndicatorReport>, ApiError> {
    let readable = principal.readable();
    if readable.is_empty() {
        principal.require(Action::Read(certnet_protocol::record::Tlp::Clear))?;
    }
    let wanted = parse(&value, query.kind.as_deref())?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("limit must be 1 to {MAX_LIMIT}"),
        ));
    }
    let sealed = principal.may_read_sealed();
    let services = state.services.clone();
    let report = state
        .blocking(move || {
            let visible = |r: &Record| may_see(&principal, r);
            let found = services.lookup_indicator(&wanted, limit, sealed, visible)?;
            render(&services, found, readable, sealed)
        })
        .await??;
    Ok(Json(report))
}

/// The canonical value asked for, or a 400 saying what is wrong with it.
pub(super) fn parse(value: &str, kind: Option<&str>) -> Result<IndicatorValue, ApiError> {
    let bad = |message: String| ApiError::bad_request("bad_indicator", message);
    match kind {
        None => detect(value).map_err(bad),
        Some(name) => {
            let kind = IndicatorType::from_str(name).map_err(bad)?;
            let canonical = normalize(kind, value);
            check_indicator(kind, &canonical).map_err(|rule| bad(format!("`{value}` {rule}")))?;
            Ok(IndicatorValue {
                kind,
                value: canonical,
            })
        }
    }
}

/// Whether the caller may see `record` (as this node reads it): its band, and sealed records only
/// for the operator (its own organisation).
fn may_see(principal: &Principal, record: &Record) -> bool {
    principal.may_read_record(record)
}

fn render(
    services: &crate::services::NodeServices,
    found: Lookup,
    readable: BandSet,
    sealed: bool,
) -> Result<IndicatorReport, ApiError> {
    let mut records = Vec::with_capacity(found.hits.len());
    for hit in &found.hits {
        let id = hit.record.id();
        let store = services.store();
        let logged = match store.position(&id)? {
            Some(index) => store.added_us(index)?.map(|added| (index, added)),
            None => None,
        };
        let mut json = record_json(services, &hit.record, logged);
        json.current = current(services, &hit.record, readable, sealed)?;
        records.push(IndicatorRecord {
            role: hit.role.as_str().to_owned(),
            first_seen: hit.seen.0,
            last_seen: hit.seen.1,
            record: json,
        });
    }
    let reporters: Vec<IndicatorReporter> = found
        .reporters
        .iter()
        .map(|r| IndicatorReporter {
            author: r.author.to_string(),
            author_name: services.member_name(&r.author),
            reported: r.reported,
            sighted: r.sighted,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
        })
        .collect();
    Ok(IndicatorReport {
        kind: found.value.kind.as_str().to_owned(),
        value: found.value.value,
        first_seen: reporters.iter().map(|r| r.first_seen).min(),
        last_seen: reporters.iter().map(|r| r.last_seen).max(),
        reporters,
        records,
        truncated: found.truncated,
    })
}
