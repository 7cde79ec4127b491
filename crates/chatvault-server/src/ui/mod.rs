//! The web UI: server-rendered pages over the same guards and core functions as the
//! API, in Simplified Chinese and English.
//!
//! - Templates are askama (compiled into the binary, escaped by default). No template
//!   marks message content as safe: highlights are segments the template wraps in
//!   `<mark>`, and the one `|safe` is the QR code's SVG, drawn by `qrcode` from the
//!   otpauth URI.
//! - htmx and ECharts are vendored ([`assets`]) and served from the binary; the CSP
//!   allows scripts from the server only, none inline, and no `eval`.
//! - Every form carries a CSRF token: the session's token once signed in (moved from the
//!   form into the header the guards check, by [`form_csrf`]), or a pre-session
//!   double-submit token on the sign-in and language forms.
//! - Queries and other text typed into forms travel in POST bodies, never in URLs: a
//!   URL holds ids, dates and page numbers only.

mod alerts;
pub mod assets;
mod cases;
mod dashboard;
pub mod i18n;
mod pages;
mod views;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::guard::{cookie, Caller, State};
pub use i18n::Lang;

/// The language cookie: set by the language switch, read before sign-in.
pub const LANG_COOKIE: &str = "cv_lang";
/// The pre-session CSRF cookie (double-submit) for the sign-in and language forms.
pub const PRE_COOKIE: &str = "cv_pre";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";

/// The UI's routes (method, path), for the route test.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/login/enrol"),
    ("POST", "/logout"),
    ("POST", "/lang"),
    ("GET", "/search"),
    ("POST", "/search"),
    ("GET", "/conversation"),
    ("GET", "/attachment"),
    ("GET", "/export"),
    ("POST", "/export"),
    ("GET", "/identities"),
    ("POST", "/identities"),
    ("POST", "/identities/{id}/unlink"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/export"),
    ("GET", "/alerts"),
    ("GET", "/alerts/list"),
    ("POST", "/alerts/{id}/ack"),
    ("GET", "/timeline"),
    ("POST", "/timeline"),
    ("GET", "/requests"),
    ("POST", "/requests"),
    ("POST", "/requests/{id}/approve"),
    ("POST", "/requests/{id}/reject"),
    ("POST", "/grants/{id}/revoke"),
    ("GET", "/audit"),
    ("POST", "/audit/verify"),
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("POST", "/admin/users/{name}/{op}"),
    ("GET", "/admin/sources"),
    ("POST", "/admin/sources"),
    ("POST", "/admin/sources/{name}/{op}"),
    ("GET", "/integrity"),
    ("POST", "/integrity/verify"),
    ("GET", "/assets/{name}"),
];

pub fn routes() -> Router<State> {
    use pages::*;
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/login/enrol", post(enrol_submit))
        .route("/logout", post(logout))
        .route("/lang", post(set_lang))
        .route("/search", get(search_page).post(search_submit))
        .route("/conversation", get(conversation_page))
        .route("/attachment", get(attachment))
        .route("/export", get(export).post(cases::export_submit))
        .route(
            "/identities",
            get(cases::identities_page).post(cases::link_submit),
        )
        .route("/identities/{id}/unlink", post(cases::unlink_submit))
        .route("/dashboard", get(dashboard::dashboard_page))
        .route("/dashboard/export", get(dashboard::dashboard_export))
        .route("/alerts", get(alerts::alerts_page))
        .route("/alerts/list", get(alerts::alerts_fragment))
        .route("/alerts/{id}/ack", post(alerts::ack_submit))
        .route("/timeline", get(timeline_page).post(timeline_submit))
        .route("/requests", get(requests_page).post(request_submit))
        .route("/requests/{id}/approve", post(approve_submit))
        .route("/requests/{id}/reject", post(reject_submit))
        .route("/grants/{id}/revoke", post(revoke_submit))
        .route("/audit", get(audit_page))
        .route("/audit/verify", post(audit_verify_submit))
        .route("/admin/users", get(users_page).post(user_add_submit))
        .route("/admin/users/{name}/{op}", post(user_op_submit))
        .route(
            "/admin/sources",
            get(sources::sources_page).post(sources::source_add_submit),
        )
        .route(
            "/admin/sources/{name}/{op}",
            post(sources::source_op_submit),
        )
        .route("/integrity", get(integrity_page))
        .route("/integrity/verify", post(integrity_verify_submit))
        .route("/assets/{name}", get(assets::serve))
}

/// The CSP of every page: scripts, styles and images from this server only; no inline
/// script, no `eval`, no plugins, no framing, forms only to this server.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Moves a form's `_csrf` field into the `X-CSRF-Token` header, so the guards check a
/// form post exactly as they check an API call. Bodies are bounded by the body limit.
pub async fn form_csrf(req: Request, next: Next) -> Response {
    let is_form = req.method() == Method::POST
        && !req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form || req.headers().contains_key(crate::guard::CSRF_HEADER) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, 16 << 20).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new("request.too_large", "the form is too large").into_response()
        }
    };
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v)
        });
    if let Some(v) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
        parts.headers.insert(crate::guard::CSRF_HEADER, v);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// What every page needs to know about the request before anyone is signed in: the
/// language (cookie, then `Accept-Language`), the pre-session CSRF token, and whether
/// htmx asked (then a fragment is answered).
pub struct Req {
    pub lang: Lang,
    pub pre: Option<String>,
    pub htmx: bool,
    pub tls: bool,
}

impl FromRequestParts<State> for Req {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Req, Self::Rejection> {
        let lang = cookie(&parts.headers, LANG_COOKIE)
            .and_then(|c| Lang::parse(&c))
            .or_else(|| {
                parts
                    .headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Lang::from_accept_language)
            })
            .unwrap_or(Lang::Zh);
        Ok(Req {
            lang,
            pre: cookie(&parts.headers, PRE_COOKIE)
                .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit())),
            htmx: parts.headers.contains_key("hx-request"),
            tls: state.tls,
        })
    }
}

impl Req {
    /// The language for a signed-in user: their setting, else the request's.
    pub fn lang_for(&self, caller: Option<&Caller>) -> Lang {
        caller
            .and_then(|c| c.principal.user.lang.as_deref())
            .and_then(Lang::parse)
            .unwrap_or(self.lang)
    }
}

/// An error shown as a page (or, to htmx, as a fragment), with its code. A missing or
/// expired session sends the browser to the sign-in page instead. (Boxed: handlers
/// return it by value.)
pub struct UiError(Box<UiErrorParts>);

pub struct UiErrorParts {
    lang: Lang,
    err: ApiError,
    htmx: bool,
    caller: Option<views::UserView>,
    csrf: String,
}

impl UiError {
    pub fn new(req: &Req, err: impl Into<ApiError>) -> UiError {
        UiError(Box::new(UiErrorParts {
            lang: req.lang,
            err: err.into(),
            htmx: req.htmx,
            caller: None,
            csrf: String::new(),
        }))
    }
    pub fn for_caller(req: &Req, caller: &Caller, err: impl Into<ApiError>) -> UiError {
        let lang = req.lang_for(Some(caller));
        UiError(Box::new(UiErrorParts {
            lang,
            err: err.into(),
            htmx: req.htmx,
            caller: Some(views::UserView::of(caller, lang)),
            csrf: views::csrf_of(caller),
        }))
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let e = *self.0;
        e.into_response()
    }
}

impl IntoResponse for UiErrorParts {
    fn into_response(self) -> Response {
        if self.err.code == "auth.session" {
            if self.htmx {
                // htmx follows HX-Redirect with a full navigation.
                let mut r = StatusCode::UNAUTHORIZED.into_response();
                r.headers_mut()
                    .insert("hx-redirect", HeaderValue::from_static("/login"));
                return r;
            }
            return Redirect::to("/login").into_response();
        }
        let status = self.err.status;
        let mut r = pages::error_page(self.lang, self.caller, self.csrf, &self.err, self.htmx)
            .into_response();
        *r.status_mut() = status;
        if let Some(s) = self.err.retry_after_s {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

/// The HTML 404 for paths outside the API.
pub async fn not_found(req: Req) -> Response {
    UiError::new(&req, ApiError::new("route.unknown", "no such page")).into_response()
}
