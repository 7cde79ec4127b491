//! Case work over HTTP: exports of a conversation or a query's matches (JSON, CSV, HTML,
//! PDF, or an evidence package), and the identity links a case timeline follows.
//!
//! Every export is decided per message under the `export` right (role or grant), built
//! in memory up to [`MAX_HTTP_EXPORT`] messages, and audited with its SHA-256; larger
//! exports stream from the CLI. Queries travel in POST bodies, never in URLs.

use crate::ApiQuery;
use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chatvault_access::{Action, Outcome};
use chatvault_archive::Filters;
use chatvault_policy::{Handle, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::guard::{Caller, ContentReader};
use crate::routes::{blocking, parse_time};
use crate::ApiJson;
use chatvault_app::exports;
use chatvault_app::time::Zone;

/// The most messages one export over HTTP holds (it is built in memory); larger exports
/// stream from the CLI (`chatvault export`).
pub const MAX_HTTP_EXPORT: u64 = 100_000;

pub use chatvault_app::exports::Chosen;

/// The formats an export is written in: the four of `chatvault_export`, and `evidence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Plain(chatvault_export::Format),
    Evidence,
}

impl ExportKind {
    pub fn parse(s: &str) -> ApiResult<ExportKind> {
        if s == "evidence" {
            return Ok(ExportKind::Evidence);
        }
        chatvault_export::Format::parse(s)
            .map(ExportKind::Plain)
            .ok_or_else(|| ApiError::bad_request("format: use json, csv, html, pdf or evidence"))
    }

    fn mime_and_ext(self) -> (&'static str, &'static str) {
        match self {
            ExportKind::Plain(chatvault_export::Format::Json) => ("application/json", "json"),
            ExportKind::Plain(chatvault_export::Format::Csv) => ("text/csv; charset=utf-8", "csv"),
            // Never rendered by the browser from here: it is downloaded and opened as a file.
            ExportKind::Plain(chatvault_export::Format::Html) => {
                ("application/octet-stream", "html")
            }
            ExportKind::Plain(chatvault_export::Format::Pdf) => ("application/pdf", "pdf"),
            ExportKind::Evidence => ("application/zip", "evidence.zip"),
        }
    }
}

/// A finished export: its bytes, its file name and its content type.
pub struct Download {
    pub bytes: Vec<u8>,
    pub name: String,
    pub mime: &'static str,
}

impl IntoResponse for Download {
    fn into_response(self) -> Response {
        let mut r = self.bytes.into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.mime));
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", self.name)) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        r
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    pub format: String,
}

pub async fn export_conversation(
    reader: ContentReader,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<ExportParams>,
) -> ApiResult<Download> {
    run_export(
        &reader,
        &Chosen::conversation(&id),
        ExportKind::parse(&p.format)?,
    )
}

/// `POST /api/v1/exports`: a conversation (whole or in a range) or a query's matches.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    #[serde(default)]
    pub conversation: Option<String>,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub from: Option<Value>,
    #[serde(default)]
    pub to: Option<Value>,
    #[serde(default)]
    pub platform: Option<String>,
    /// For a query: a sender's handle or display name, as the search filter.
    #[serde(default)]
    pub sender: Option<String>,
    /// For a query: a message kind (text, image, file, …).
    #[serde(default)]
    pub kind: Option<String>,
    /// For a query: only these conversations.
    #[serde(default)]
    pub conversations: Option<Vec<String>>,
    /// A case timeline's export: every conversation these handles (and those linked to
    /// them) took part in, beside `conversations`; the query defaults to every message.
    #[serde(default)]
    pub participants: Option<Vec<String>>,
    pub format: String,
}

fn time_of(v: &Option<Value>, field: &str, end: bool, zone: Zone) -> ApiResult<Option<i64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => parse_time(s, field, end, zone).map(Some),
        // Milliseconds, bounded like a written time.
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| ApiError::bad_request(format!("{field}: not an integer")))
            .and_then(|ms| parse_time(&ms.to_string(), field, end, zone))
            .map(Some),
        Some(_) => Err(ApiError::bad_request(format!(
            "{field}: give RFC 3339 text, YYYY-MM-DD or milliseconds"
        ))),
    }
}

impl ExportBody {
    /// Turns `participants` into the conversations they took part in (links followed).
    pub fn resolve_participants(&mut self, reader: &ContentReader) -> ApiResult<()> {
        let Some(ps) = self.participants.take().filter(|p| !p.is_empty()) else {
            return Ok(());
        };
        let given = ps
            .iter()
            .map(|h| chatvault_access::users::parse_handle(h.trim()))
            .collect::<Result<Vec<Handle>, _>>()?;
        let convs = blocking(|| reader.state().conversations_of_people(&given))?;
        let mut all = self.conversations.take().unwrap_or_default();
        all.extend(convs);
        all.sort();
        all.dedup();
        self.conversations = Some(all);
        if self.query.is_none() && self.conversation.is_none() {
            self.query = Some(String::new());
        }
        Ok(())
    }

    /// The selection, its times read in `zone` (the deployment's).
    pub fn chosen(&self, zone: Zone) -> ApiResult<Chosen> {
        let (from_ms, to_ms) = (
            time_of(&self.from, "from", false, zone)?,
            time_of(&self.to, "to", true, zone)?,
        );
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f > t {
                return Err(ApiError::bad_request("`from` is after `to`"));
            }
        }
        let show = |v: &Option<Value>| match v {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let (f, t) = (show(&self.from), show(&self.to));
        let range = format!(
            "{}{}",
            if f.is_empty() {
                String::new()
            } else {
                format!(" from {f}")
            },
            if t.is_empty() {
                String::new()
            } else {
                format!(" to {t}")
            }
        );
        let conversation = self
            .conversation
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        match (conversation, self.query.as_deref()) {
            (Some(c), None) if self.platform.is_none() && self.conversations.is_none() && self.sender.is_none() && self.kind.is_none() => Ok(Chosen::conversation_range(c, from_ms, to_ms, &range)),
            (Some(_), None) => Err(ApiError::bad_request("platform, sender, kind and conversations narrow a query; a conversation is given alone")),
            (None, Some(q)) => {
                let some = |v: &Option<String>| v.as_deref().map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned);
                if let Some(k) = some(&self.kind) {
                    k.parse::<chatvault_model::MessageKind>().map_err(|e| ApiError::bad_request(format!("kind: {e}")))?;
                }
                let filters = Filters { from_ms, to_ms, platform: some(&self.platform), sender: some(&self.sender), kind: some(&self.kind), conversations: self.conversations.clone(), ..Filters::default() };
                Ok(Chosen::query(q, filters, &range))
            }
            _ => Err(ApiError::bad_request("give exactly one of `conversation` or `query`")),
        }
    }
}

pub async fn export(
    reader: ContentReader,
    ApiJson(mut body): ApiJson<ExportBody>,
) -> ApiResult<Download> {
    body.resolve_participants(&reader)?;
    let chosen = body.chosen(reader.state().zone)?;
    run_export(&reader, &chosen, ExportKind::parse(&body.format)?)
}

/// An export under the caller's export right, audited with its hash. The API and the UI
/// both answer through it.
pub fn run_export(
    reader: &ContentReader,
    chosen: &Chosen,
    kind: ExportKind,
) -> ApiResult<Download> {
    let (mime, ext) = kind.mime_and_ext();
    let name = format!("{}.{ext}", chosen.file_stem());
    let state = reader.state();
    let bytes = blocking(|| -> chatvault_app::Result<Vec<u8>> {
        match kind {
            ExportKind::Plain(fmt) => {
                let mut buf = vec![];
                state.export_plain(reader, chosen, fmt, &name, Some(MAX_HTTP_EXPORT), &mut buf)?;
                Ok(buf)
            }
            ExportKind::Evidence => {
                let origin = exports::Origin {
                    host: reader.caller.ip.clone().unwrap_or_default(),
                    front_end: "HTTP API",
                };
                Ok(state
                    .evidence_for(reader, chosen, &name, MAX_HTTP_EXPORT, &origin)?
                    .zip)
            }
        }
    })?;
    Ok(Download { bytes, name, mime })
}

// ---- identity links ----

/// Who manages identity links: legal (who builds cases) and the administrator. They join
/// people's handles across platforms, so every change is audited.
pub struct CaseWorker {
    pub caller: Caller,
    state: crate::guard::State,
}

impl axum::extract::FromRequestParts<crate::guard::State> for CaseWorker {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::guard::State,
    ) -> ApiResult<CaseWorker> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if matches!(caller.role(), Role::Legal | Role::Admin) {
            return Ok(CaseWorker {
                caller,
                state: state.clone(),
            });
        }
        state.audit(caller.event(Action::AccessDenied).result(Outcome::Denied).details(json!({"reason": "identity links are for legal and admin", "path": parts.uri.path()})))?;
        Err(ApiError::forbidden(
            "access.role",
            "only the legal and admin roles manage identity links",
        ))
    }
}

pub async fn list_identities(w: CaseWorker) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"links": w.links()?})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    pub handles: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
}

pub async fn link_identity(
    w: CaseWorker,
    ApiJson(body): ApiJson<LinkBody>,
) -> ApiResult<Json<Value>> {
    let link = w.link(&body.handles, body.name.as_deref())?;
    Ok(Json(json!(link)))
}

impl CaseWorker {
    pub fn state(&self) -> &crate::guard::State {
        &self.state
    }

    pub fn links(&self) -> ApiResult<Vec<chatvault_policy::retention::IdentityLink>> {
        blocking(|| -> ApiResult<_> { Ok(self.state.access()?.identity_links()?) })
    }

    /// Links handles (`platform:id`, two or more) as one person; audited.
    pub fn link(
        &self,
        handles: &[String],
        name: Option<&str>,
    ) -> ApiResult<chatvault_policy::retention::IdentityLink> {
        let hs = handles
            .iter()
            .map(|h| chatvault_access::users::parse_handle(h.trim()))
            .collect::<Result<Vec<Handle>, _>>()?;
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        blocking(|| -> ApiResult<_> {
            Ok(self
                .state
                .access()?
                .link_identity(self.caller.name(), hs, name)?)
        })
    }

    /// Removes a link; audited.
    pub fn unlink(&self, id: &str) -> ApiResult<()> {
        blocking(|| -> ApiResult<_> {
            Ok(self
                .state
                .access()?
                .unlink_identity(self.caller.name(), id)?)
        })
    }

    /// Suggested links (the same mobile number, e-mail, id or display name), most certain
    /// first, each with its confidence and reason. The handles are shown whole: linking
    /// needs them exactly, and these roles already name handles in requests and links.
    /// The listing is audited.
    pub fn suggestions(&self) -> ApiResult<Vec<chatvault_policy::retention::Suggestion>> {
        let known: Vec<chatvault_policy::retention::Known> = blocking(|| -> ApiResult<_> {
            let a = self.state.archive()?;
            Ok(a.known_participants()?
                .into_iter()
                .map(
                    |(handle, display_name)| chatvault_policy::retention::Known {
                        handle,
                        display_name,
                    },
                )
                .collect())
        })?;
        let s = chatvault_policy::retention::suggest_links(&known, &self.links()?);
        self.state.audit(
            self.caller
                .event(Action::Search)
                .details(json!({"identity_suggestions": s.len()})),
        )?;
        Ok(s)
    }
}

pub async fn unlink_identity(w: CaseWorker, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    w.unlink(&id)?;
    Ok(Json(json!({"unlinked": id})))
}

pub async fn identity_suggestions(w: CaseWorker) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"suggestions": w.suggestions()?})))
}

// ---- the case timeline ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineBody {
    #[serde(default)]
    pub participants: Vec<String>,
    #[serde(default)]
    pub conversations: Vec<String>,
    #[serde(default)]
    pub from: Option<Value>,
    #[serde(default)]
    pub to: Option<Value>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: Option<usize>,
}

/// `POST /api/v1/timeline`: the case view across conversations and platforms, following
/// identity links; the handles it followed are returned with it.
pub async fn timeline(
    reader: ContentReader,
    ApiJson(b): ApiJson<TimelineBody>,
) -> ApiResult<Json<Value>> {
    if b.participants.is_empty() && b.conversations.is_empty() {
        return Err(ApiError::bad_request(
            "give participants (platform:id) or conversations",
        ));
    }
    let given = b
        .participants
        .iter()
        .map(|h| chatvault_access::users::parse_handle(h.trim()))
        .collect::<Result<Vec<Handle>, _>>()?;
    let handles = blocking(|| reader.state().linked(&given))?;
    let ask = crate::routes::TimelineAsk {
        participants: given,
        conversations: b.conversations.clone(),
        from_ms: time_of(&b.from, "from", false, reader.state().zone)?,
        to_ms: time_of(&b.to, "to", true, reader.state().zone)?,
        limit: b.limit.unwrap_or(200).clamp(1, 1000),
        offset: b.offset.unwrap_or(0),
    };
    let (total, messages) = crate::routes::run_timeline(&reader, &ask)?;
    Ok(Json(
        json!({"handles": handles, "total": total, "messages": messages}),
    ))
}
