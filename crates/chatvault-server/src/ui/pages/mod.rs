//! The pages. Each handler takes the same guard as the API call it mirrors and calls the
//! same core function in `routes`, so the UI can reach nothing the API would refuse, and
//! every read is audited the same way.
//!
//! This module holds what the pages share (forms, cookies, redirects, the guards' error
//! pages, the layout's error views); each page is its own module.

use askama::Template;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use chatvault_access::{Action, AuditEntry, Outcome};
use chatvault_policy::{Approves, Handle, Right, Role, Scope, Status};
use serde::Deserialize;

use super::views::{self, clean, fmt_ms, Ctx, HitView, MsgView, UserView};
use super::{Lang, Req, UiError, CSRF_FIELD, LANG_COOKIE, PRE_COOKIE};
use crate::error::ApiError;
use crate::guard::{Caller, ContentReader, State, SESSION_COOKIE};
use crate::routes::{self, blocking, parse_time, ClientIp, PageParams, SearchParams};
use chatvault_app::time::Zone;

pub(super) type UiResult<T> = Result<T, UiError>;

pub(super) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template: {e}")).into_response(),
    }
}

/// A form's fields, repeated names kept (checkboxes).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub(super) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }
    pub(super) fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name).to_owned()).filter(|s| !s.is_empty())
    }
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// A text area's lines, trimmed, blanks dropped.
    pub(super) fn lines(&self, name: &str) -> Vec<String> {
        self.get(name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

pub(super) fn form(Form(v): Form<Vec<(String, String)>>) -> Fields {
    Fields(v)
}

/// The pre-session CSRF check: the form's token must equal the cookie's.
fn check_pre(req: &Req, f: &Fields) -> Result<(), ApiError> {
    match &req.pre {
        Some(p)
            if chatvault_access::users::constant_time_eq(
                p.as_bytes(),
                f.get(CSRF_FIELD).as_bytes(),
            ) =>
        {
            Ok(())
        }
        _ => Err(chatvault_access::AccessError::Csrf.into()),
    }
}

fn set_cookie(r: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn cookie_attrs(tls: bool) -> &'static str {
    if tls {
        "; HttpOnly; SameSite=Strict; Path=/; Secure"
    } else {
        "; HttpOnly; SameSite=Strict; Path=/"
    }
}

/// Redirect after a successful post (303: the browser follows with a GET).
fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A caller, or the error page (the sign-in page when there is no session).
pub(super) fn caller_or(req: &Req, c: Result<Caller, ApiError>) -> UiResult<Caller> {
    c.map_err(|e| UiError::new(req, e))
}

/// A guard's result for a page: its error shown as a page for the signed-in caller
/// (with their language and menu), or as the sign-in page when nobody is signed in.
pub(super) fn guard_or<G>(
    req: &Req,
    g: Result<G, ApiError>,
    caller: Result<Caller, ApiError>,
) -> UiResult<G> {
    match g {
        Ok(g) => Ok(g),
        Err(e) => {
            let caller = caller_or(req, caller)?;
            Err(UiError::for_caller(req, &caller, e))
        }
    }
}

pub(super) fn reader_or(req: &Req, r: Result<ContentReader, ApiError>) -> UiResult<ContentReader> {
    r.map_err(|e| UiError::new(req, e))
}

// ---- layout pieces ----

pub struct ErrView {
    pub code: String,
    pub message: String,
}

impl ErrView {
    pub(super) fn of(lang: Lang, e: &ApiError) -> ErrView {
        let message = match lang.error_text(e.code) {
            Some(m) => m.to_owned(),
            None if e.code == "input.invalid" => {
                format!("{} {}", lang.strings().err_input, clean(&e.message))
            }
            None => clean(&e.message),
        };
        ErrView {
            code: e.code.to_owned(),
            message,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    ctx: Ctx,
    status: u16,
    error: ErrView,
}

#[derive(Template)]
#[template(path = "error_fragment.html")]
struct ErrorFragment {
    ctx: Ctx,
    error: ErrView,
}

pub fn error_page(
    lang: Lang,
    user: Option<UserView>,
    csrf: String,
    e: &ApiError,
    htmx: bool,
) -> Response {
    let ctx = Ctx::new(lang, user, csrf, "", lang.strings().error_title);
    let error = ErrView::of(lang, e);
    if htmx {
        render(&ErrorFragment { ctx, error })
    } else {
        render(&ErrorPage {
            ctx,
            status: e.status.as_u16(),
            error,
        })
    }
}

mod audit;
mod conversation;
mod integrity;
mod requests;
mod search;
mod signin;
pub mod sources;
mod timeline;
mod users;

pub use audit::*;
pub use conversation::*;
pub use integrity::*;
pub use requests::*;
pub use search::*;
pub use signin::*;
pub use timeline::*;
pub use users::*;
