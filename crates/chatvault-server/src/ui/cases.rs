//! The UI's case pages: exports of a selection (search results, a case timeline) in any
//! format or as an evidence package, and the identity links a timeline follows. Each calls
//! the same functions as the API ([`crate::cases`]), under the same guards.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde_json::Value;

use super::pages::UiResult;
use super::pages::{form, guard_or, reader_or, render, Done, ErrView};
use super::views::{clean, fmt_ms, Ctx};
use super::{Lang, Req, UiError};
use crate::cases::{run_export, CaseWorker, ExportBody, ExportKind};
use crate::error::ApiError;
use crate::guard::{Caller, ContentReader};

/// `POST /export`: the selection travels in the form body (a query and the search
/// filters, or a timeline's participants and conversations), never in the URL.
pub async fn export_submit(
    req: Req,
    reader: Result<ContentReader, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let f = form(f);
    let fail = |e| UiError::for_caller(&req, &reader.caller, e);
    let mut conversations = f.lines("conversations");
    conversations.extend(f.opt("conversation"));
    let participants = f.lines("participants");
    let mut body = ExportBody {
        conversation: None,
        query: Some(f.get("q").to_owned()),
        from: f.opt("from").map(Value::String),
        to: f.opt("to").map(Value::String),
        platform: f.opt("platform"),
        sender: f.opt("sender"),
        kind: f.opt("kind"),
        conversations: (!conversations.is_empty()).then_some(conversations),
        participants: (!participants.is_empty()).then_some(participants),
        format: f.get("format").to_owned(),
    };
    let kind = ExportKind::parse(&body.format).map_err(fail)?;
    body.resolve_participants(&reader).map_err(fail)?;
    let chosen = body.chosen(reader.state().zone).map_err(fail)?;
    Ok(run_export(&reader, &chosen, kind)
        .map_err(fail)?
        .into_response())
}

// ---- identity links ----

pub struct LinkView {
    id: String,
    handles: Vec<String>,
    name: String,
    by: String,
    created: String,
}

/// The most certain suggestions the page lists; the API gives them all.
const SHOWN_SUGGESTIONS: usize = 30;

pub struct SuggestionView {
    a: String,
    b: String,
    reason: &'static str,
    percent: u32,
    level: &'static str,
}

#[derive(Template)]
#[template(path = "identities.html")]
struct IdentitiesPage {
    ctx: Ctx,
    links: Vec<LinkView>,
    suggestions: Vec<SuggestionView>,
    /// Suggestions beyond the first [`SHOWN_SUGGESTIONS`].
    more: usize,
    notice: Option<&'static str>,
    error: Option<ErrView>,
    handles: String,
    name: String,
}

/// The identity pages take the API's guard (legal and admin); a missing session still
/// redirects to sign-in.

fn reason_text(lang: Lang, reason: &str) -> &'static str {
    let t = lang.strings();
    match reason {
        "the same mobile number" => t.reason_phone,
        "the same e-mail address" => t.reason_email,
        "the same id" => t.reason_id,
        _ => t.reason_name,
    }
}

fn identities_view(
    req: &Req,
    w: &CaseWorker,
    notice: Option<&'static str>,
    error: Option<ErrView>,
    handles: String,
    name: String,
) -> UiResult<Response> {
    let lang = req.lang_for(Some(&w.caller));
    let t = lang.strings();
    let fail = |e| UiError::for_caller(req, &w.caller, e);
    let links = w
        .links()
        .map_err(fail)?
        .into_iter()
        .map(|l| LinkView {
            handles: l.handles.iter().map(|h| clean(&h.to_string())).collect(),
            name: clean(&l.name.unwrap_or_default()),
            by: l.by,
            created: clean(&fmt_ms(l.created_ms, w.state().zone)),
            id: l.id,
        })
        .collect();
    let all = w.suggestions().map_err(fail)?;
    let more = all.len().saturating_sub(SHOWN_SUGGESTIONS);
    let suggestions = all
        .into_iter()
        .take(SHOWN_SUGGESTIONS)
        .map(|s| {
            let percent = (s.confidence * 100.0).round() as u32;
            SuggestionView {
                a: s.a.to_string(),
                b: s.b.to_string(),
                reason: reason_text(lang, s.reason),
                percent,
                level: if percent >= 80 {
                    "good"
                } else if percent >= 60 {
                    "warn"
                } else {
                    "muted"
                },
            }
        })
        .collect();
    let ctx = Ctx::for_caller(lang, &w.caller, "/identities", t.identities_title);
    Ok(render(&IdentitiesPage {
        ctx,
        links,
        suggestions,
        more,
        notice,
        error,
        handles,
        name,
    }))
}

pub async fn identities_page(
    req: Req,
    w: Result<CaseWorker, ApiError>,
    caller: Result<Caller, ApiError>,
    Query(d): Query<Done>,
) -> UiResult<Response> {
    let w = guard_or(&req, w, caller)?;
    let t = req.lang_for(Some(&w.caller)).strings();
    let notice = match d.done.as_deref() {
        Some("link") => Some(t.link_done),
        Some("unlink") => Some(t.unlink_done),
        _ => None,
    };
    identities_view(&req, &w, notice, None, String::new(), String::new())
}

/// Links the handles of the text area, or the pair of a suggestion (`a`, `b`).
pub async fn link_submit(
    req: Req,
    w: Result<CaseWorker, ApiError>,
    caller: Result<Caller, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let w = guard_or(&req, w, caller)?;
    let f = form(f);
    let mut handles = f.lines("handles");
    handles.extend(f.opt("a"));
    handles.extend(f.opt("b"));
    match w.link(&handles, f.opt("name").as_deref()) {
        Ok(_) => Ok(Redirect::to("/identities?done=link").into_response()),
        // The form comes back with what was typed and the error, not a bare error page.
        Err(e) if e.status.is_client_error() && e.code != "access.denied" => {
            let lang = req.lang_for(Some(&w.caller));
            identities_view(
                &req,
                &w,
                None,
                Some(ErrView::of(lang, &e)),
                f.get("handles").to_owned(),
                f.get("name").to_owned(),
            )
        }
        Err(e) => Err(UiError::for_caller(&req, &w.caller, e)),
    }
}

pub async fn unlink_submit(
    req: Req,
    w: Result<CaseWorker, ApiError>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> UiResult<Response> {
    let w = guard_or(&req, w, caller)?;
    w.unlink(&id)
        .map_err(|e| UiError::for_caller(&req, &w.caller, e))?;
    Ok(Redirect::to("/identities?done=unlink").into_response())
}
