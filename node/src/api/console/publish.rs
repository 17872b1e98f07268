//! Publishing from the console: one form per kind (incident, indicator, advisory, sighting, update,
//! revoke), sealed to named members when the analyst picks recipients. The form becomes the same
//! `POST /v1/records` request the CLI sends, handled by the API's own handler; its errors are shown
//! beside the field they name (`content.title …` beside Title), the rest above the form. An update
//! starts from its target's current content.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use certnet_protocol::record::normalize::detect;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::records::{get_one, publish};
use super::super::wire::PublishRequest;
use super::super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiState};
use super::{Signed, SignedForm, csrf_field, error_page, layout};

/// How a field is entered and becomes content.
#[derive(Clone, Copy)]
enum Input {
    /// One line of text (required: sent even when empty, so validation names it).
    Text { required: bool },
    /// Several lines of text.
    Area { required: bool },
    /// One of these values ("" first: optional).
    Choice(&'static [&'static str]),
    /// A list, comma-separated.
    List,
    /// A list, one per line.
    Lines,
    /// Observables, one per line, each typed from its value.
    Observables,
    /// A whole number.
    Number,
}

struct Field {
    name: &'static str,
    label: &'static str,
    input: Input,
}

const fn field(name: &'static str, label: &'static str, input: Input) -> Field {
    Field { name, label, input }
}

const SEVERITY: &[&str] = &["medium", "low", "high", "critical"];
/// An advisory's severity is optional.
const SEVERITY_OPTIONAL: &[&str] = &["", "low", "medium", "high", "critical"];
const STATUS: &[&str] = &["new", "investigating", "contained", "resolved"];
const TYPES: &[&str] = &[
    "", "ipv4", "ipv6", "cidr", "domain", "url", "email", "sha256", "sha1", "md5", "cve", "asn",
];
const TLPS: &[&str] = &["green", "clear", "amber", "amber+strict", "red"];

/// The content fields of a kind.
fn fields(kind: &str) -> &'static [Field] {
    use Input::*;
    const INCIDENT: &[Field] = &[
        field("title", "Title", Text { required: true }),
        field("summary", "Summary", Area { required: true }),
        field("severity", "Severity", Choice(SEVERITY)),
        field("status", "Status", Choice(STATUS)),
        field("categories", "Categories (comma-separated)", List),
        field("indicators", "Indicators (one per line)", Observables),
        field("references", "Reference URLs (one per line)", Lines),
        field("labels", "Labels (comma-separated)", List),
        field("sectors", "Sectors (comma-separated)", List),
        field("countries", "Countries (ISO codes, comma-separated)", List),
    ];
    const INDICATOR: &[Field] = &[
        field("type", "Type (empty: told from the value)", Choice(TYPES)),
        field("value", "Value", Text { required: true }),
        field("description", "Description", Area { required: false }),
        field("confidence", "Confidence (0–100)", Number),
        field("labels", "Labels (comma-separated)", List),
    ];
    const ADVISORY: &[Field] = &[
        field("title", "Title", Text { required: true }),
        field("summary", "Summary", Area { required: true }),
        field("severity", "Severity", Choice(SEVERITY_OPTIONAL)),
        field("cves", "CVEs (comma-separated)", List),
        field("products", "Products (comma-separated)", List),
        field("references", "Reference URLs (one per line)", Lines),
        field("labels", "Labels (comma-separated)", List),
    ];
    const SIGHTING: &[Field] = &[
        field("count", "Times seen", Number),
        field("indicators", "Indicators seen (one per line)", Observables),
        field("note", "Note", Area { required: false }),
        field("sectors", "Sectors (comma-separated)", List),
        field("countries", "Countries (comma-separated)", List),
    ];
    const REVOKE: &[Field] = &[field("reason", "Reason", Area { required: true })];
    match kind {
        "indicator" => INDICATOR,
        "advisory" => ADVISORY,
        "sighting" => SIGHTING,
        "revoke" => REVOKE,
        _ => INCIDENT,
    }
}

const KINDS: &[&str] = &[
    "incident",
    "indicator",
    "advisory",
    "sighting",
    "update",
    "revoke",
];

/// What the form holds: every field's text, and the recipients ticked.
#[derive(Debug, Default, Clone)]
struct Values {
    fields: BTreeMap<String, String>,
    to: Vec<String>,
}

impl Values {
    fn get(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut v = Values::default();
        for (k, value) in pairs {
            // Browsers send a textarea's line breaks as CRLF; records carry LF only.
            let value = value.replace("\r\n", "\n");
            if k == "to" {
                v.to.push(value);
            } else {
                v.fields.insert(k, value);
            }
        }
        v
    }

    /// The form's values from a record's content (to start an update from).
    fn from_content(kind: &str, content: &Value) -> Self {
        let mut v = Values::default();
        for f in fields(kind) {
            let text = match (f.input, content.get(f.name)) {
                (_, None) => continue,
                (Input::Observables, Some(Value::Array(items))) => items
                    .iter()
                    .filter_map(|i| i.get("value").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
                (Input::Lines, Some(Value::Array(items))) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n"),
                (_, Some(Value::Array(items))) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                (_, Some(Value::String(s))) => s.clone(),
                (_, Some(other)) => other.to_string(),
            };
            v.fields.insert(f.name.to_owned(), text);
        }
        v
    }
}

/// Errors to show: by field name (`""`: above the form).
type Errors = BTreeMap<String, String>;

/// The content the form's fields make for `kind`, or the fields that cannot become content. `base`:
/// the content an update starts from (fields the form does not show, such as `first_seen`, are
/// kept; a form field left empty removes its value).
fn content(kind: &str, v: &Values, base: Option<Map<String, Value>>) -> Result<Value, Errors> {
    let mut out = base.unwrap_or_default();
    let mut errors = Errors::new();
    for f in fields(kind) {
        let text = v.get(f.name).trim();
        let list = |sep: char| -> Vec<Value> {
            text.split(sep)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect()
        };
        let value = match f.input {
            Input::Text { required } | Input::Area { required } => {
                (required || !text.is_empty()).then(|| Value::String(text.to_owned()))
            }
            Input::Choice(_) => (!text.is_empty()).then(|| Value::String(text.to_owned())),
            Input::List => Some(Value::Array(list(','))).filter(|a| a != &json!([])),
            Input::Lines => Some(Value::Array(list('\n'))).filter(|a| a != &json!([])),
            Input::Number if text.is_empty() => None,
            Input::Number => match text.parse::<u64>() {
                Ok(n) => Some(json!(n)),
                Err(_) => {
                    errors.insert(f.name.into(), format!("`{text}` is not a whole number"));
                    None
                }
            },
            Input::Observables => {
                let mut items = Vec::new();
                for (n, line) in text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .enumerate()
                {
                    match detect(line) {
                        Ok(i) => items.push(json!({"type": i.kind, "value": i.value})),
                        Err(e) => {
                            errors.insert(f.name.into(), format!("line {}: {e}", n + 1));
                        }
                    }
                }
                (!items.is_empty()).then_some(Value::Array(items))
            }
        };
        match value {
            Some(value) => out.insert(f.name.to_owned(), value),
            None => out.remove(f.name),
        };
    }
    // An indicator without a type takes the one its value shows.
    if kind == "indicator" && v.get("type").is_empty() {
        match detect(v.get("value").trim()) {
            Ok(i) => {
                out.insert("type".into(), json!(i.kind));
                out.insert("value".into(), json!(i.value));
            }
            Err(e) if !v.get("value").trim().is_empty() => {
                errors.insert("value".into(), e);
            }
            Err(_) => {
                out.insert("type".into(), json!("domain"));
            }
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errors)
    }
}

/// The form field an API error names (`content.title …` → `title`, `content.incident.title …` in an
/// update → `title`, `refs[0] …` → `refs`), or `""` (above the form) when the form has no such field.
fn field_of(error: &ApiError, kind: &str) -> String {
    if error.code() == "tlp_red" {
        return "to".into();
    }
    let m = error.message();
    let (rest, content) = match m.strip_prefix("content.") {
        Some(rest) => {
            let inner = format!("{kind}.");
            (rest.strip_prefix(inner.as_str()).unwrap_or(rest), true)
        }
        None => (m, false),
    };
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let on_form = if content {
        fields(kind).iter().any(|f| f.name == name)
    } else {
        ["refs", "tlp", "to"].contains(&name.as_str())
    };
    if on_form { name } else { String::new() }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FormQuery {
    #[serde(default)]
    kind: String,
    /// For an update or revoke: the record it applies to.
    #[serde(default)]
    target: String,
}

/// `GET /ui/publish?kind=…[&target=…]`.
pub(super) async fn form(
    State(state): State<ApiState>,
    signed: Signed,
    ApiQuery(query): ApiQuery<FormQuery>,
) -> Response {
    let kind = if KINDS.contains(&query.kind.as_str()) {
        query.kind.clone()
    } else {
        "incident".into()
    };
    let mut values = Values::default();
    values.fields.insert("refs".into(), query.target.clone());
    let mut of = None;
    if kind == "update" && !query.target.is_empty() {
        match get_one(
            State(state.clone()),
            signed.principal().clone(),
            ApiPath(query.target.clone()),
        )
        .await
        {
            Ok(view) => {
                let target_kind = view.0.record.kind.clone();
                values = Values::from_content(&target_kind, &view.0.view.content);
                values
                    .fields
                    .insert("base".into(), view.0.view.content.to_string());
                values
                    .fields
                    .insert("refs".into(), view.0.record.id.clone());
                values.fields.insert("tlp".into(), view.0.view.tlp.clone());
                of = Some(target_kind);
            }
            Err(e) => return error_page(Some(&signed), &e),
        }
    }
    render(
        &state,
        &signed,
        &kind,
        of.as_deref(),
        &values,
        &Errors::new(),
        StatusCode::OK,
    )
}

/// `POST /ui/publish`.
pub(super) async fn submit(
    State(state): State<ApiState>,
    SignedForm(signed, pairs): SignedForm<Vec<(String, String)>>,
) -> Response {
    let values = Values::from_pairs(pairs);
    let kind = values.get("kind").to_owned();
    if !KINDS.contains(&kind.as_str()) {
        return error_page(
            Some(&signed),
            &ApiError::bad_request("bad_form", format!("no form for kind `{kind}`")),
        );
    }
    let of = Some(values.get("of").to_owned()).filter(|o| !o.is_empty());
    let fields_kind = of.as_deref().unwrap_or(&kind);
    let base = match serde_json::from_str::<Value>(values.get("base")) {
        Ok(Value::Object(map)) if kind == "update" => Some(map),
        _ => None,
    };
    let content = match content(fields_kind, &values, base) {
        Ok(c) if kind == "update" => json!({ fields_kind: c }),
        Ok(c) => c,
        Err(errors) => {
            return render(
                &state,
                &signed,
                &kind,
                of.as_deref(),
                &values,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let refs = values
        .get("refs")
        .split([',', '\n', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let request = PublishRequest {
        kind: kind.clone(),
        tlp: values.get("tlp").to_owned(),
        refs,
        content,
        to: (!values.to.is_empty()).then(|| values.to.clone()),
        force: values.get("force") == "on",
    };
    match publish(
        State(state.clone()),
        signed.principal().clone(),
        ApiJson(request),
    )
    .await
    {
        Ok((_, answer)) => Redirect::to(&format!("/ui/records/{}", answer.0.id)).into_response(),
        Err(e) => {
            let mut errors = Errors::new();
            errors.insert(field_of(&e, fields_kind), e.message().to_owned());
            render(
                &state,
                &signed,
                &kind,
                of.as_deref(),
                &values,
                &errors,
                e.status(),
            )
        }
    }
}

fn render(
    state: &ApiState,
    signed: &Signed,
    kind: &str,
    of: Option<&str>,
    values: &Values,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    if !signed.is_operator() {
        return error_page(
            Some(signed),
            &ApiError::forbidden(
                "publishing needs the node's API token: these credentials may only read",
            ),
        );
    }
    let roster = state.services.roster();
    let own = state.services.author_key();
    let members: Vec<String> = roster
        .members()
        .iter()
        .filter(|m| *m.author_key() != own)
        .map(|m| m.name().to_string())
        .collect();
    // An update or revoke applies to exactly one record; a sighting may name the record it saw.
    let needs_target = matches!(kind, "update" | "revoke");
    let refs_label = match kind {
        "update" | "revoke" => "Target record (id or prefix)",
        "sighting" => "Sighted record (id or prefix; optional when indicators are given)",
        _ => "Related records (ids, optional)",
    };
    let fields_kind = of.unwrap_or(kind);
    let error_at = |name: &str| -> Markup {
        html! { @if let Some(e) = errors.get(name) { span.field-error id={ "error-" (name) } { (e) } } }
    };
    let body = html! {
        h1 { "Publish" }
        nav.kinds { @for k in KINDS {
            a href={ "/ui/publish?kind=" (k) } class=(if *k == kind { "current" } else { "" }) { (k) }
        } }
        @if kind == "update" && of.is_none() {
            form method="get" action="/ui/publish" {
                input type="hidden" name="kind" value="update";
                label { "Record to update (id or prefix)" input type="text" name="target" required; }
                button type="submit" { "Start from its current content" }
            }
        } @else {
            @if let Some(e) = errors.get("") { p.error id="form-error" { (e) } }
            form.publish method="post" action="/ui/publish" {
                (csrf_field(signed))
                input type="hidden" name="kind" value=(kind);
                @if let Some(of) = of {
                    input type="hidden" name="of" value=(of);
                    input type="hidden" name="base" value=(values.get("base"));
                    p { "Updating a record of kind " strong { (of) } ": its complete new content (fields not shown here are kept)." }
                }
                label { "TLP" select name="tlp" {
                    @for t in TLPS { option value=(t) selected[*t == values.get("tlp")] { (t.to_ascii_uppercase()) } }
                } (error_at("tlp")) }
                label { (refs_label)
                    input type="text" name="refs" value=(values.get("refs")) required[needs_target]; (error_at("refs")) }
                @for f in fields(fields_kind) {
                    label data-field=(f.name) { (f.label)
                        @match f.input {
                            Input::Area { .. } | Input::Lines | Input::Observables => textarea name=(f.name) rows="3" { (values.get(f.name)) },
                            Input::Choice(options) => select name=(f.name) {
                                @for o in options { option value=(o) selected[*o == values.get(f.name)] { (if o.is_empty() { "–" } else { o }) } }
                            },
                            _ => input type="text" name=(f.name) value=(values.get(f.name));,
                        }
                        (error_at(f.name))
                    }
                }
                @if !members.is_empty() && kind != "update" && kind != "revoke" {
                    fieldset.recipients {
                        legend { "Seal to (need-to-know; none ticked: the whole federation)" }
                        @for m in &members { label.check { input type="checkbox" name="to" value=(m) checked[values.to.contains(m)]; " " (m) } }
                        (error_at("to"))
                    }
                }
                @if errors.get("").is_some_and(|e| e.contains("identical")) {
                    label.check { input type="checkbox" name="force"; " publish anyway (it is identical to a recent record)" }
                }
                button type="submit" id="publish" { "Sign and publish" }
            }
        }
    };
    let mut response = layout("Publish", Some(signed), body);
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        Values {
            fields: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            to: Vec::new(),
        }
    }

    #[test]
    fn form_fields_become_content() {
        let v = values(&[
            ("title", " Phishing wave "),
            ("summary", "Mails"),
            ("severity", "high"),
            ("status", "new"),
            ("categories", "phishing, , fraud"),
            ("indicators", "Evil.Example.\nhxxp://evil[.]example/x\n"),
            ("references", ""),
        ]);
        let c = content("incident", &v, None).unwrap();
        assert_eq!(c["title"], "Phishing wave");
        assert_eq!(c["categories"], json!(["phishing", "fraud"]));
        assert_eq!(
            c["indicators"],
            json!([{"type": "domain", "value": "evil.example"}, {"type": "url", "value": "http://evil.example/x"}])
        );
        assert!(c.get("references").is_none());
    }

    #[test]
    fn bad_fields_are_named() {
        let v = values(&[
            ("title", ""),
            ("indicators", "not an indicator at all!"),
            ("summary", "x"),
        ]);
        let errors = content("incident", &v, None).unwrap_err();
        assert!(errors["indicators"].starts_with("line 1"), "{errors:?}");
        let v = values(&[("count", "many")]);
        assert!(
            content("sighting", &v, None)
                .unwrap_err()
                .contains_key("count")
        );
        // An empty required field is sent, so validation names it.
        let v = values(&[("summary", "x")]);
        assert_eq!(content("incident", &v, None).unwrap()["title"], "");
    }

    #[test]
    fn api_errors_land_beside_their_field() {
        let e = ApiError::unprocessable("invalid_record", "content.title must not be empty");
        assert_eq!(field_of(&e, "incident"), "title");
        let e = ApiError::unprocessable("invalid_record", "content.indicators[2].value is bad");
        assert_eq!(field_of(&e, "incident"), "indicators");
        // An update's errors name the target kind's field.
        let e =
            ApiError::unprocessable("invalid_record", "content.incident.title must not be empty");
        assert_eq!(field_of(&e, "incident"), "title");
        // A field the form does not show: above the form, not lost.
        let e = ApiError::unprocessable("invalid_record", "content.first_seen is after last_seen");
        assert_eq!(field_of(&e, "incident"), "");
        let e = ApiError::unprocessable("invalid_record", "refs[0] must be a record id");
        assert_eq!(field_of(&e, "incident"), "refs");
        let e = ApiError::unprocessable("tlp_red", "red needs recipients");
        assert_eq!(field_of(&e, "incident"), "to");
        let e = ApiError::unprocessable("duplicate", "identical to record …");
        assert_eq!(field_of(&e, "incident"), "");
    }

    #[test]
    fn an_update_starts_from_the_content() {
        let c = json!({"title": "T", "summary": "S", "severity": "low", "status": "new",
            "indicators": [{"type": "ipv4", "value": "192.0.2.1"}], "labels": ["a", "b"]});
        let v = Values::from_content("incident", &c);
        assert_eq!(v.get("indicators"), "192.0.2.1");
        assert_eq!(v.get("labels"), "a, b");
        assert_eq!(content("incident", &v, None).unwrap(), c);
        // Fields the form does not show survive an update; a field emptied on the form goes.
        let mut with_times = c.clone();
        with_times["first_seen"] = json!(1_767_225_600_000u64);
        let Value::Object(base) = with_times.clone() else {
            panic!()
        };
        let mut edited = Values::from_content("incident", &with_times);
        edited.fields.insert("labels".into(), String::new());
        let updated = content("incident", &edited, Some(base)).unwrap();
        assert_eq!(updated["first_seen"], json!(1_767_225_600_000u64));
        assert!(updated.get("labels").is_none());
    }
}
