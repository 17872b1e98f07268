//! The analyst's console: HTML pages served by the node at `/ui/`, rendered on the server from the
//! same answers the JSON API gives (each page calls the API's handlers in-process with the session's
//! [`Principal`], so one rule decides what the console and the API show).
//!
//! - Pages are server-rendered HTML ([`maud`]: every value escaped by construction) with plain forms
//!   that work without script; one small embedded script (`assets/console.js`) makes the feed live
//!   (Server-Sent Events of rendered rows) and nothing else. No CDN, no build step, nothing fetched at
//!   run time: the page works air-gapped. ARCHITECTURE.md says why.
//! - Sign-in, sessions and CSRF: [`session`]. Every route but `/ui/login` and the two assets needs a
//!   session; every write carries the session's CSRF token.
//! - Every console answer carries a strict Content-Security-Policy (scripts and styles only from the
//!   node itself, no inline script, no framing), `nosniff`, `Referrer-Policy: same-origin` (with `no-referrer` Chromium sends `Origin: null` on form posts, which the guard refuses) and `no-store`.
//! - What a session sees: the bands of its principal, and sealed (need-to-know) records only for the
//!   operator, the node's own organisation; consumers never see them, even when their bands cover the
//!   record's marking.
//!
//! | route | page |
//! |---|---|
//! | `GET`, `POST /ui/login`; `POST /ui/logout` | sign in (token, or consumer name and password); sign out |
//! | `GET /ui/` | the feed: newest first, filters, paging, live ([`feed`]) |
//! | `GET /ui/stream` | the feed's live rows (Server-Sent Events of HTML rows) |
//! | `GET /ui/records/{id}` (`/raw`, `/stix`) | one record: current view, history, provenance, proof ([`record`]) |
//! | `POST /ui/checkpoint` | sign a checkpoint now (operator) |
//! | `GET /ui/indicators` | search a value across the log ([`indicators`]) |
//! | `GET /ui/federation`; `POST /ui/federation/{peer}/block`, `/unblock` | members, peers, heads, forks ([`federation`]) |
//! | `GET`, `POST /ui/publish` | forms for every kind ([`publish`]) |
//! | `GET /ui/activity` | records per day per CERT and arrival latency, as SVG ([`charts`]) |

mod charts;
mod federation;
mod feed;
mod indicators;
mod publish;
mod record;
pub(crate) mod session;

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use certnet_protocol::record::Tlp;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::access::ConnInfo;
use super::principal::Principal;
use super::{ApiError, ApiState, Route};
pub(crate) use session::{Session, Sessions};

/// The console's routes.
pub(super) fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        Route::new("/ui", &[M::GET], get(|| async { Redirect::to("/ui/") })),
        Route::new("/ui/", &[M::GET], get(feed::page)),
        Route::new("/ui/login", &[M::GET, M::POST], get(login_page).post(login)),
        Route::new("/ui/logout", &[M::POST], post(logout)),
        Route::new("/ui/stream", &[M::GET], get(feed::stream)),
        Route::new("/ui/records/{id}", &[M::GET], get(record::page)),
        Route::new("/ui/records/{id}/raw", &[M::GET], get(record::raw)),
        Route::new("/ui/records/{id}/stix", &[M::GET], get(record::stix)),
        Route::new("/ui/checkpoint", &[M::POST], post(record::checkpoint)),
        Route::new("/ui/indicators", &[M::GET], get(indicators::page)),
        Route::new("/ui/federation", &[M::GET], get(federation::page)),
        Route::new(
            "/ui/federation/{peer}/{action}",
            &[M::POST],
            post(federation::block),
        ),
        Route::new(
            "/ui/publish",
            &[M::GET, M::POST],
            get(publish::form).post(publish::submit),
        ),
        Route::new("/ui/activity", &[M::GET], get(charts::page)),
        Route::new("/ui/assets/{file}", &[M::GET], get(asset)),
    ]
}

/// Whether a path is the console's.
pub(super) fn is_console_path(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// The Content-Security-Policy of every console answer: nothing but the node itself.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the console's security headers to every answer under `/ui`.
pub(super) async fn security_headers(request: Request, next: Next) -> Response {
    let console = is_console_path(request.uri().path());
    let mut response = next.run(request).await;
    if console {
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    response
}

/// A signed-in console request: its session. Without one, the request is sent to the sign-in page.
pub(crate) struct Signed(pub(crate) Session);

impl<S: Send + Sync> FromRequestParts<S> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Session>() {
            Some(s) => Ok(Signed(s.clone())),
            None if parts.method == Method::GET => Err(Redirect::to("/ui/login").into_response()),
            None => Err(ApiError::unauthorized(
                "the console's session has ended: sign in again at /ui/login",
            )
            .into_response()),
        }
    }
}

/// A console form post: the signed-in session and the form's fields, once the session's CSRF token in
/// the form checked out. Everything else is refused before the handler runs: no session 401, a
/// missing or wrong token 403, an unreadable form 400. Every console `POST` but sign-in takes one.
pub(crate) struct SignedForm<T>(pub(crate) Signed, pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for SignedForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let refuse = |e: &ApiError| error_page(Some(&signed), e);
        let bytes = axum::body::to_bytes(body, super::MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                refuse(&ApiError::bad_request(
                    "bad_form",
                    "the form's body could not be read",
                ))
            })?;
        let token: CsrfForm = parse_form(&bytes).map_err(|e| refuse(&e))?;
        if let Some(refused) = signed.csrf_refusal(&token.csrf) {
            return Err(refused);
        }
        let form = parse_form(&bytes).map_err(|e| refuse(&e))?;
        Ok(SignedForm(signed, form))
    }
}

impl Signed {
    pub(crate) fn principal(&self) -> &Principal {
        &self.0.principal
    }

    pub(crate) fn is_operator(&self) -> bool {
        matches!(self.0.principal, Principal::Operator)
    }

    /// The 403 to answer with if `token` is not this session's CSRF token.
    pub(crate) fn csrf_refusal(&self, token: &str) -> Option<Response> {
        (!self.0.csrf_ok(token)).then(|| {
            error_page(
                Some(self),
                &ApiError::forbidden(
                    "this form is missing the session's CSRF token (or it is stale): reload the page and submit again",
                ),
            )
        })
    }
}

/// A whole page: head, navigation, `body`.
pub(crate) fn layout(title: &str, signed: Option<&Signed>, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · certnet" }
                link rel="stylesheet" href="/ui/assets/console.css";
                script src="/ui/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/ui/" { "certnet" }
                    @if let Some(s) = signed {
                        nav {
                            a href="/ui/" { "Feed" }
                            a href="/ui/indicators" { "Indicators" }
                            a href="/ui/federation" { "Federation" }
                            a href="/ui/activity" { "Activity" }
                            @if s.is_operator() { a href="/ui/publish" { "Publish" } }
                        }
                        form.signout method="post" action="/ui/logout" {
                            span.who { (s.principal().label()) }
                            (csrf_field(s))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// The hidden field carrying the session's CSRF token.
pub(crate) fn csrf_field(s: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.0.csrf); }
}

/// An error as a page with the API's status, code and message.
pub(crate) fn error_page(signed: Option<&Signed>, error: &ApiError) -> Response {
    let mut response = layout(
        "Error",
        signed,
        html! {
            section.error {
                h1 { "Refused" }
                p.message data-code=(error.code()) { (error.message()) }
                p { a href="/ui/" { "Back to the feed" } }
            }
        },
    );
    *response.status_mut() = error.status();
    response
}

/// The TLP badge (TLP 2.0 colours, in console.css).
pub(crate) fn tlp_badge(tlp: &str) -> Markup {
    let class = format!("tlp tlp-{}", tlp.replace('+', "-"));
    html! { span class=(class) { "TLP:" (tlp.to_ascii_uppercase()) } }
}

/// A time in ms since the epoch, as UTC.
pub(crate) fn time(ms: u64) -> Markup {
    let stamp = crate::stix::ids::timestamp(ms);
    let shown = stamp.get(..19).unwrap_or(&stamp).replace('T', " ");
    html! { time datetime=(stamp) { (shown) } }
}

/// A duration in ms, short.
pub(crate) fn duration_ms(ms: i64) -> String {
    let abs = ms.unsigned_abs();
    let sign = if ms < 0 { "-" } else { "" };
    match abs {
        0..1_000 => format!("{sign}{abs} ms"),
        1_000..60_000 => format!("{sign}{:.1} s", abs as f64 / 1000.0),
        60_000..3_600_000 => format!("{sign}{} min", abs / 60_000),
        _ => format!("{sign}{:.1} h", abs as f64 / 3_600_000.0),
    }
}

/// The first characters of an id, linked to its page.
pub(crate) fn id_link(id: &str) -> Markup {
    html! { a.id href={ "/ui/records/" (id) } title=(id) { code { (id.get(..12).unwrap_or(id)) } } }
}

/// The bands a console principal may read, as TLP names for filters.
pub(crate) fn readable_tlps(principal: &Principal) -> Vec<Tlp> {
    principal.readable().iter().collect()
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
}

async fn login_page() -> Response {
    login_form(None, StatusCode::OK)
}

fn login_form(error: Option<&str>, status: StatusCode) -> Response {
    let mut response = layout(
        "Sign in",
        None,
        html! {
            section.login {
                h1 { "Sign in to this node's console" }
                @if let Some(e) = error { p.error id="login-error" { (e) } }
                form method="post" action="/ui/login" {
                    label { "API token or consumer token"
                        input type="password" name="token" autocomplete="current-password" autofocus; }
                    p.or { "or, for a consumer with a password:" }
                    label { "Consumer name" input type="text" name="user" autocomplete="username"; }
                    label { "Password" input type="password" name="password" autocomplete="current-password"; }
                    button type="submit" { "Sign in" }
                }
                p.hint { "The operator's token is in " code { "api.token" } " in the node's data directory; consumers are configured in config.toml ([[taxii.consumers]])." }
            }
        },
    );
    *response.status_mut() = status;
    response
}

/// A form body (`application/x-www-form-urlencoded`), or the page saying what is wrong with it.
pub(crate) fn parse_form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_urlencoded::from_bytes(body).map_err(|e| {
        ApiError::bad_request(
            "bad_form",
            format!("the form's fields could not be read: {e}"),
        )
    })
}

async fn login(
    State(state): State<ApiState>,
    conn: Option<axum::Extension<ConnInfo>>,
    body: axum::body::Bytes,
) -> Response {
    let form: LoginForm = match parse_form(&body) {
        Ok(f) => f,
        Err(e) => return error_page(None, &e),
    };
    let value = if !form.token.trim().is_empty() {
        format!("Bearer {}", form.token.trim())
    } else if !form.user.is_empty() {
        use base64::Engine as _;
        let pair = format!("{}:{}", form.user, form.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    } else {
        return login_form(
            Some("give the API token, or a consumer's name and password"),
            StatusCode::BAD_REQUEST,
        );
    };
    let Ok(value) = HeaderValue::from_str(&value) else {
        return login_form(
            Some("the token holds characters no token has"),
            StatusCode::UNAUTHORIZED,
        );
    };
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value);
    let conn = conn.map(|c| c.0);
    let access = state.access.clone();
    let resolved = state
        .blocking(move || access.resolve(&headers, conn.as_ref()))
        .await;
    let principal = match resolved {
        Ok(Ok(p)) if !p.is_anonymous() => p,
        Ok(Err(super::access::AuthError::Throttled(retry))) => {
            return login_form(
                Some(&format!(
                    "too many failed sign-ins from this address: retry in {} s",
                    retry.as_secs().max(1)
                )),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Ok(_) => {
            return login_form(
                Some(
                    "invalid credentials: use the node's API token (api.token) or a configured consumer's",
                ),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(busy) => return error_page(None, &busy),
    };
    tracing::info!(who = %principal.label(), "console sign-in");
    let cookie = state.console.start(principal);
    let tls = conn.is_some_and(|c| c.tls);
    let mut response = Redirect::to("/ui/").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::set_cookie(&cookie, tls));
    response
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<ApiState>,
    conn: Option<axum::Extension<ConnInfo>>,
    SignedForm(signed, _): SignedForm<CsrfForm>,
) -> Response {
    state.console.end(&signed.0.key);
    let tls = conn.is_some_and(|c| c.0.tls);
    let mut response = Redirect::to("/ui/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(tls));
    response
}

/// The embedded assets.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "console.css" => (
            include_str!("assets/console.css"),
            "text/css; charset=utf-8",
        ),
        "console.js" => (
            include_str!("assets/console.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return ApiError::not_found(format!("no console asset {file}")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}
