//! The pages. Each handler takes the same guard as the API call it mirrors and calls the
//! same core function in `routes`, so the UI can reach nothing the API would refuse, and
//! every read is audited the same way.

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

// ---- sign-in ----

/// The start page of each role.
pub async fn home(caller: Result<Caller, ApiError>) -> Response {
    match caller {
        Ok(c) => see_other(match c.role() {
            Role::Auditor => "/audit",
            Role::Admin => "/admin/users",
            // Legal sees content only through approved requests.
            Role::Legal => "/requests",
            _ => "/search",
        }),
        Err(_) => see_other("/login"),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: Ctx,
    username: String,
    error: Option<ErrView>,
    totp_focus: bool,
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    ctx: Ctx,
    ticket: String,
    otpauth: String,
    secret: String,
    qr_svg: String,
    error: Option<ErrView>,
}

/// The pre-session token for the page, and the cookie to set when it is new.
fn pre_token(req: &Req) -> (String, Option<String>) {
    match &req.pre {
        Some(p) => (p.clone(), None),
        None => {
            let t = hex::encode(chatvault_crypto::random_bytes::<32>());
            let c = format!("{PRE_COOKIE}={t}{}; Max-Age=86400", cookie_attrs(req.tls));
            (t, Some(c))
        }
    }
}

fn login_form(req: &Req, username: &str, error: Option<&ApiError>) -> Response {
    let (pre, set) = pre_token(req);
    let t = req.lang.strings();
    let totp_focus =
        error.is_some_and(|e| matches!(e.code, "auth.totp_required" | "auth.totp_invalid"));
    let mut r = render(&LoginPage {
        ctx: Ctx::new(req.lang, None, pre, "/login", t.login_title),
        username: clean(username),
        error: error.map(|e| ErrView::of(req.lang, e)),
        totp_focus,
    });
    if let Some(e) = error {
        *r.status_mut() = e.status;
    }
    if let Some(c) = set {
        set_cookie(&mut r, c);
    }
    r
}

pub async fn login_page(req: Req, caller: Result<Caller, ApiError>) -> Response {
    if caller.is_ok() {
        return see_other("/");
    }
    login_form(&req, "", None)
}

/// The QR code of an otpauth URI, as SVG markup drawn by the `qrcode` crate.
fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

fn enrol_form(req: &Req, ticket: &str, otpauth: &str, error: Option<&ApiError>) -> Response {
    let (pre, set) = pre_token(req);
    let secret = chatvault_access::users::otpauth_secret(otpauth).unwrap_or_default();
    // Only an otpauth URI is drawn (the hidden field comes back from the browser).
    let qr = if otpauth.starts_with("otpauth://totp/") {
        qr_svg(otpauth)
    } else {
        String::new()
    };
    let mut r = render(&EnrolPage {
        ctx: Ctx::new(
            req.lang,
            None,
            pre,
            "/login",
            req.lang.strings().enrol_title,
        ),
        ticket: ticket.to_owned(),
        otpauth: otpauth.to_owned(),
        secret: clean(&secret),
        qr_svg: qr,
        error: error.map(|e| ErrView::of(req.lang, e)),
    });
    if let Some(e) = error {
        *r.status_mut() = e.status;
    }
    if let Some(c) = set {
        set_cookie(&mut r, c);
    }
    r
}

fn signed_in(state: &State, req: &Req, session: chatvault_access::SessionInfo) -> Response {
    let mut r = see_other("/");
    let max_age = state.config.security.session_absolute_hours as u64 * 3600;
    set_cookie(
        &mut r,
        format!(
            "{SESSION_COOKIE}={}{}; Max-Age={max_age}",
            session.cookie,
            cookie_attrs(req.tls)
        ),
    );
    r
}

pub async fn login_submit(
    AxState(state): AxState<State>,
    req: Req,
    ClientIp(ip): ClientIp,
    f: Form<Vec<(String, String)>>,
) -> Response {
    let f = form(f);
    if let Err(e) = check_pre(&req, &f) {
        return login_form(&req, f.get("username"), Some(&e));
    }
    let (user, pw, code) = (
        f.get("username").to_owned(),
        f.get("password").to_owned(),
        f.opt("totp"),
    );
    let outcome = blocking(|| -> Result<_, ApiError> {
        let mut acc = state.access()?;
        Ok(acc
            .check_login(&user, &pw, code.as_deref(), ip.as_deref())
            .and_then(|u| acc.create_session(&u)))
    });
    match outcome {
        Ok(Ok(s)) => signed_in(&state, &req, s),
        Ok(Err(chatvault_access::AccessError::TotpEnrol { ticket, otpauth })) => {
            enrol_form(&req, &ticket, &otpauth, None)
        }
        Ok(Err(e)) => login_form(&req, &user, Some(&e.into())),
        Err(e) => login_form(&req, &user, Some(&e)),
    }
}

pub async fn enrol_submit(
    AxState(state): AxState<State>,
    req: Req,
    ClientIp(ip): ClientIp,
    f: Form<Vec<(String, String)>>,
) -> Response {
    let f = form(f);
    let (ticket, otpauth) = (f.get("ticket").to_owned(), f.get("otpauth").to_owned());
    if let Err(e) = check_pre(&req, &f) {
        return login_form(&req, "", Some(&e));
    }
    let code = f.get("code").to_owned();
    let outcome = blocking(|| -> Result<_, ApiError> {
        let mut acc = state.access()?;
        Ok(acc
            .finish_enrolment(&ticket, &code, ip.as_deref())
            .and_then(|u| acc.create_session(&u)))
    });
    match outcome {
        Ok(Ok(s)) => signed_in(&state, &req, s),
        // The enrolment is still open: show the QR code again with the error.
        Ok(Err(
            e @ (chatvault_access::AccessError::TotpInvalid
            | chatvault_access::AccessError::Throttled { .. }),
        )) => enrol_form(&req, &ticket, &otpauth, Some(&e.into())),
        Ok(Err(e)) => login_form(&req, "", Some(&e.into())),
        Err(e) => login_form(&req, "", Some(&e)),
    }
}

pub async fn logout(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    if let Some(c) = &caller.session {
        state
            .access()
            .map_err(|e| UiError::new(&req, e))?
            .end_session(c)
            .map_err(|e| UiError::new(&req, e))?;
    }
    let mut r = see_other("/login");
    set_cookie(
        &mut r,
        format!("{SESSION_COOKIE}={}; Max-Age=0", cookie_attrs(req.tls)),
    );
    Ok(r)
}

/// Where to go back to after switching language: a local path only.
fn local_path(p: &str) -> &str {
    if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && p.len() < 512 {
        p
    } else {
        "/"
    }
}

pub async fn set_lang(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let f = form(f);
    let Some(lang) = Lang::parse(f.get("lang")) else {
        return Err(UiError::new(
            &req,
            ApiError::bad_request("lang: use zh or en"),
        ));
    };
    match caller {
        Ok(c) => {
            state
                .access()
                .map_err(|e| UiError::new(&req, e))?
                .set_lang(c.name(), lang.code())
                .map_err(|e| UiError::new(&req, e))?;
        }
        // Not signed in: the pre-session token guards the form.
        Err(_) => check_pre(&req, &f).map_err(|e| UiError::new(&req, e))?,
    }
    let mut r = see_other(local_path(f.get("back")));
    set_cookie(
        &mut r,
        format!(
            "{LANG_COOKIE}={}{}; Max-Age=31536000",
            lang.code(),
            cookie_attrs(req.tls)
        ),
    );
    Ok(r)
}

// ---- search ----

pub const PLATFORMS: &[&str] = &[
    "wecom",
    "wechat",
    "dingtalk",
    "qq",
    "whatsapp",
    "telegram",
    "slack",
    "discord",
    "signal",
    "messenger",
    "instagram",
    "line",
    "email",
];

#[derive(Default)]
pub struct SearchForm {
    q: String,
    from: String,
    to: String,
    sender: String,
    conversation: String,
    platform: String,
    kind: String,
}

impl SearchForm {
    fn of(f: &Fields) -> SearchForm {
        SearchForm {
            q: f.get("q").to_owned(),
            from: f.get("from").to_owned(),
            to: f.get("to").to_owned(),
            sender: f.get("sender").to_owned(),
            conversation: f.get("conversation").to_owned(),
            platform: f.get("platform").to_owned(),
            kind: f.get("kind").to_owned(),
        }
    }
}

pub struct Pager {
    pub total: u64,
    pub first: u64,
    pub last: u64,
    pub prev: Option<u64>,
    pub next: Option<u64>,
}

impl Pager {
    fn new(total: u64, offset: u64, shown: usize, per_page: u64) -> Pager {
        let offset = offset.min(chatvault_archive::MAX_OFFSET);
        Pager {
            total,
            first: if shown == 0 { 0 } else { offset + 1 },
            last: offset + shown as u64,
            prev: (offset > 0).then(|| offset.saturating_sub(per_page)),
            next: (offset + (shown as u64) < total).then_some(offset + per_page),
        }
    }
}

pub struct ResultsView {
    hits: Vec<HitView>,
    pager: Pager,
    lag: Option<u64>,
    may_export: bool,
    /// The search again, as the export form's hidden fields.
    export_fields: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    ctx: Ctx,
    form: SearchForm,
    results: Option<ResultsView>,
    platforms: &'static [&'static str],
    kinds: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "search_results.html")]
struct SearchResults {
    ctx: Ctx,
    form: SearchForm,
    results: ResultsView,
}

const PER_PAGE: u64 = 20;

fn kinds() -> Vec<&'static str> {
    chatvault_model::MessageKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect()
}

pub async fn search_page(req: Req, reader: Result<ContentReader, ApiError>) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let lang = req.lang_for(Some(&reader.caller));
    let ctx = Ctx::for_caller(lang, &reader.caller, "/search", lang.strings().search_title);
    Ok(render(&SearchPage {
        ctx,
        form: SearchForm::default(),
        results: None,
        platforms: PLATFORMS,
        kinds: kinds(),
    }))
}

pub async fn search_submit(
    req: Req,
    reader: Result<ContentReader, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let f = form(f);
    let lang = req.lang_for(Some(&reader.caller));
    let offset: u64 = f
        .get("offset")
        .parse::<u64>()
        .unwrap_or(0)
        .min(chatvault_archive::MAX_OFFSET);
    let p = SearchParams {
        q: f.get("q").to_owned(),
        from: f.opt("from"),
        to: f.opt("to"),
        sender: f.opt("sender"),
        conversation: f.opt("conversation"),
        platform: f.opt("platform"),
        kind: f.opt("kind"),
        limit: Some(PER_PAGE as usize),
        offset: Some(offset as usize),
    };
    let r = routes::run_search(&reader, &p)
        .map_err(|e| UiError::for_caller(&req, &reader.caller, e))?;
    let t = lang.strings();
    let results = ResultsView {
        hits: r
            .hits
            .iter()
            .map(|h| HitView::of(t, reader.state().zone, h))
            .collect(),
        pager: Pager::new(r.total, offset, r.hits.len(), PER_PAGE),
        lag: r.index_lag,
        may_export: may_export(&reader),
        export_fields: [
            "q",
            "from",
            "to",
            "sender",
            "conversation",
            "platform",
            "kind",
        ]
        .into_iter()
        .map(|k| (k, f.get(k).to_owned()))
        .filter(|(_, v)| !v.is_empty())
        .collect(),
    };
    let ctx = Ctx::for_caller(lang, &reader.caller, "/search", t.search_title);
    let form = SearchForm::of(&f);
    Ok(if req.htmx {
        render(&SearchResults { ctx, form, results })
    } else {
        render(&SearchPage {
            ctx,
            form,
            results: Some(results),
            platforms: PLATFORMS,
            kinds: kinds(),
        })
    })
}

// ---- conversation ----

#[derive(Deserialize)]
pub struct ConvQuery {
    id: String,
    around: Option<String>,
    offset: Option<u64>,
}

#[derive(Template)]
#[template(path = "conversation.html")]
struct ConversationPage {
    ctx: Ctx,
    key: String,
    title: String,
    platform: String,
    total: u64,
    messages: Vec<MsgView>,
    pager: Pager,
    earlier_href: Option<String>,
    later_href: Option<String>,
    masked: bool,
    may_export: bool,
    export_links: Vec<(&'static str, String)>,
}

const CONV_PAGE: u64 = 50;

pub async fn conversation_page(
    req: Req,
    reader: Result<ContentReader, ApiError>,
    Query(q): Query<ConvQuery>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let lang = req.lang_for(Some(&reader.caller));
    let p = PageParams {
        offset: q.offset,
        limit: Some(CONV_PAGE),
        around: q.around.clone(),
    };
    let (v, masked) = routes::run_conversation(&reader, &q.id, &p)
        .map_err(|e| UiError::for_caller(&req, &reader.caller, e))?;
    let t = lang.strings();
    let pager = Pager::new(v.total, v.offset, v.messages.len(), CONV_PAGE);
    let page_href = |o: u64| {
        format!(
            "/conversation?{}",
            views::query(&[("id", &v.conversation), ("offset", &o.to_string())])
        )
    };
    let page = ConversationPage {
        ctx: Ctx::for_caller(lang, &reader.caller, "/search", t.conv_title),
        key: clean(&v.conversation),
        title: clean(v.title.as_deref().unwrap_or(&v.conversation)),
        platform: v.platform.clone(),
        total: v.total,
        messages: views::thread(t, reader.state().zone, &v.messages, q.around.as_deref()),
        earlier_href: pager.prev.map(page_href),
        later_href: pager.next.map(page_href),
        pager,
        masked: masked > 0,
        may_export: may_export(&reader),
        export_links: [
            ("json", "json"),
            ("csv", "csv"),
            ("html", "html"),
            ("pdf", "pdf"),
            ("evidence", t.format_evidence),
        ]
        .iter()
        .map(|(f, label)| {
            (
                *label,
                format!(
                    "/export?{}",
                    views::query(&[("id", &v.conversation), ("format", f)])
                ),
            )
        })
        .collect(),
    };
    Ok(render(&page))
}

/// Whether downloads are offered: the role or an active grant carries the export right
/// (each download is still decided per message).
fn may_export(reader: &ContentReader) -> bool {
    reader
        .org
        .policy
        .rules(reader.subject.role)
        .rights
        .contains(&Right::Export)
        || reader
            .grants
            .iter()
            .any(|g| g.rights.contains(&Right::Export))
}

#[derive(Deserialize)]
pub struct ExportQuery {
    id: String,
    format: String,
}

/// A download of the conversation under the caller's export right (the API's export).
pub async fn export(
    req: Req,
    reader: Result<ContentReader, ApiError>,
    Query(q): Query<ExportQuery>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let fail = |e| UiError::for_caller(&req, &reader.caller, e);
    let kind = crate::cases::ExportKind::parse(&q.format).map_err(fail)?;
    Ok(
        crate::cases::run_export(&reader, &crate::cases::Chosen::conversation(&q.id), kind)
            .map_err(fail)?
            .into_response(),
    )
}

#[derive(Deserialize)]
pub struct AttQuery {
    message: String,
    sha256: String,
    mode: String,
}

/// Whether `bytes` really are the raster image `mime` claims (a preview is only sent
/// when the content agrees with the type).
fn image_matches(mime: &str, bytes: &[u8]) -> bool {
    match mime {
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        "image/webp" => bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        _ => false,
    }
}

pub async fn attachment(
    req: Req,
    reader: Result<ContentReader, ApiError>,
    Query(q): Query<AttQuery>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let fail = |e| UiError::for_caller(&req, &reader.caller, e);
    match q.mode.as_str() {
        "preview" => {
            let (att, bytes) = routes::run_attachment(&reader, &q.message, &q.sha256, Right::View)
                .map_err(fail)?;
            if !views::previewable(&att.mime) || !image_matches(&att.mime, &bytes) {
                return Err(fail(ApiError::new(
                    "attachment.not_image",
                    "this attachment is not an image the browser may show",
                )));
            }
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&att.mime) {
                h.insert(header::CONTENT_TYPE, v);
            }
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline"),
            );
            Ok(r)
        }
        "download" => {
            let (att, bytes) =
                routes::run_attachment(&reader, &q.message, &q.sha256, Right::Export)
                    .map_err(fail)?;
            Ok(routes::download(&att.name, bytes))
        }
        _ => Err(fail(ApiError::bad_request("mode: use preview or download"))),
    }
}

// ---- case timeline ----

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    ctx: Ctx,
    participants: String,
    conversations: String,
    from: String,
    to: String,
    messages: Option<Vec<MsgView>>,
    pager: Option<Pager>,
    error: Option<ErrView>,
    may_export: bool,
    /// Handles the timeline took in through identity links.
    linked: Vec<String>,
    export_fields: Vec<(&'static str, String)>,
}

pub async fn timeline_page(
    req: Req,
    reader: Result<ContentReader, ApiError>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let lang = req.lang_for(Some(&reader.caller));
    let ctx = Ctx::for_caller(
        lang,
        &reader.caller,
        "/timeline",
        lang.strings().timeline_title,
    );
    Ok(render(&TimelinePage {
        ctx,
        participants: String::new(),
        conversations: String::new(),
        from: String::new(),
        to: String::new(),
        messages: None,
        pager: None,
        error: None,
        may_export: false,
        linked: vec![],
        export_fields: vec![],
    }))
}

pub async fn timeline_submit(
    req: Req,
    reader: Result<ContentReader, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let f = form(f);
    let lang = req.lang_for(Some(&reader.caller));
    let t = lang.strings();
    let offset: u64 = f
        .get("offset")
        .parse::<u64>()
        .unwrap_or(0)
        .min(chatvault_archive::MAX_OFFSET);
    let mut page = TimelinePage {
        ctx: Ctx::for_caller(lang, &reader.caller, "/timeline", t.timeline_title),
        participants: f.get("participants").to_owned(),
        conversations: f.get("conversations").to_owned(),
        from: f.get("from").to_owned(),
        to: f.get("to").to_owned(),
        messages: None,
        pager: None,
        error: None,
        may_export: may_export(&reader),
        linked: vec![],
        export_fields: ["participants", "conversations", "from", "to"]
            .into_iter()
            .map(|k| (k, f.get(k).to_owned()))
            .filter(|(_, v)| !v.is_empty())
            .collect(),
    };
    let run = || -> Result<_, ApiError> {
        let handles = f
            .lines("participants")
            .iter()
            .map(|h| chatvault_access::users::parse_handle(h).map_err(ApiError::from))
            .collect::<Result<Vec<Handle>, _>>()?;
        let linked: Vec<String> = crate::cases::linked(reader.state(), &handles)?
            .into_iter()
            .filter(|h| !handles.contains(h))
            .map(|h| clean(&h.to_string()))
            .collect();
        let from = f
            .opt("from")
            .map(|s| parse_time(&s, "from", false, reader.state().zone))
            .transpose()?;
        let to = f
            .opt("to")
            .map(|s| parse_time(&s, "to", true, reader.state().zone))
            .transpose()?;
        let (total, msgs) = routes::run_timeline(
            &reader,
            &handles,
            &f.lines("conversations"),
            from,
            to,
            PER_PAGE as usize * 2,
            offset as usize,
        )?;
        Ok((total, msgs, linked))
    };
    if page.participants.trim().is_empty() && page.conversations.trim().is_empty() {
        page.error = Some(ErrView {
            code: "input.invalid".into(),
            message: t.timeline_empty.into(),
        });
        return Ok(render(&page));
    }
    match run() {
        Ok((total, msgs, linked)) => {
            page.linked = linked;
            page.pager = Some(Pager::new(total, offset, msgs.len(), PER_PAGE * 2));
            page.messages = Some(views::thread(t, reader.state().zone, &msgs, None));
        }
        Err(e) if e.code == "access.denied" => {
            page.pager = Some(Pager::new(0, 0, 0, PER_PAGE * 2));
            page.messages = Some(vec![]);
        }
        Err(e) => return Err(UiError::for_caller(&req, &reader.caller, e)),
    }
    Ok(render(&page))
}

// ---- retrieval requests ----

pub struct RequestView {
    id: String,
    requester: String,
    filed: String,
    status: &'static str,
    status_class: &'static str,
    decided_by: String,
    comment: String,
    reason: String,
    case_number: String,
    scope: String,
    rights: String,
}

pub struct GrantView {
    id: String,
    holder: String,
    approved_by: String,
    scope: String,
    rights: String,
    expires: String,
    can_revoke: bool,
}

fn scope_text(t: &super::i18n::Strings, zone: Zone, s: &Scope) -> String {
    let mut parts = vec![];
    if !s.conversations.is_empty() {
        parts.push(s.conversations.join(", "));
    }
    if !s.participants.is_empty() {
        parts.push(
            s.participants
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    parts.push(format!(
        "{} – {}",
        fmt_ms(s.from_ms, zone),
        fmt_ms(s.to_ms, zone)
    ));
    if !s.keywords.is_empty() {
        parts.push(format!("{} ×{}", t.keywords_short, s.keywords.len()));
    }
    clean(&parts.join(" · "))
}

fn rights_text(t: &super::i18n::Strings, rights: &[Right]) -> String {
    rights
        .iter()
        .map(|r| match r {
            Right::View => t.right_view,
            Right::Export => t.right_export,
            Right::PiiView => t.right_pii,
            Right::RestrictedView => t.right_restricted,
        })
        .collect::<Vec<_>>()
        .join("、")
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsPage {
    ctx: Ctx,
    mine: Vec<RequestView>,
    inbox: Vec<RequestView>,
    others: Vec<RequestView>,
    grants: Vec<GrantView>,
    notice: Option<&'static str>,
    may_file: bool,
    approver: bool,
    default_from: String,
    default_to: String,
    default_expiry: String,
}

#[derive(Deserialize)]
pub struct Done {
    pub(super) done: Option<String>,
}

pub async fn requests_page(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Query(d): Query<Done>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let lang = req.lang_for(Some(&caller));
    let t = lang.strings();
    let fail = |e| UiError::for_caller(&req, &caller, e);
    let policy = state.config.policy();
    let approver = policy.rules(caller.role()).approves != Approves::Nobody;
    let requests = routes::visible_requests(&state, &caller).map_err(fail)?;
    let grants = routes::visible_grants(&state, &caller).map_err(fail)?;
    let (mut mine, mut inbox, mut others) = (vec![], vec![], vec![]);
    for r in requests.iter().rev() {
        let (status, class, by, comment) = match &r.status {
            Status::Pending => (t.status_pending, "pending", String::new(), String::new()),
            Status::Approved { by, comment, .. } => {
                (t.status_approved, "approved", by.clone(), comment.clone())
            }
            Status::Rejected { by, comment, .. } => {
                (t.status_rejected, "rejected", by.clone(), comment.clone())
            }
        };
        let can_decide =
            approver && matches!(r.status, Status::Pending) && r.requester != caller.name();
        let v = RequestView {
            id: r.id.clone(),
            requester: clean(&r.requester),
            filed: fmt_ms(r.filed_ms, state.zone),
            status,
            status_class: class,
            decided_by: clean(&by),
            comment: clean(&comment),
            reason: clean(&r.reason),
            case_number: clean(&r.case_number),
            scope: scope_text(t, state.zone, &r.scope),
            rights: rights_text(t, &r.rights),
        };
        if r.requester == caller.name() {
            mine.push(v);
        } else if can_decide {
            inbox.push(v);
        } else {
            others.push(v);
        }
    }
    let grants = grants
        .into_iter()
        .filter(|(_, active)| *active)
        .map(|(g, _)| GrantView {
            id: g.id.clone(),
            holder: clean(&g.holder),
            approved_by: clean(&g.approved_by),
            scope: scope_text(t, state.zone, &g.scope),
            rights: rights_text(t, &g.rights),
            expires: fmt_ms(g.expires_ms, state.zone),
            can_revoke: true,
        })
        .collect();
    let notice = match d.done.as_deref() {
        Some("filed") => Some(t.request_filed),
        Some("approved") => Some(t.request_approved),
        Some("rejected") => Some(t.request_rejected),
        Some("revoked") => Some(t.grant_revoked),
        _ => None,
    };
    let now = chrono::Utc::now();
    let day = |d: i64| {
        (now + chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    };
    Ok(render(&RequestsPage {
        ctx: Ctx::for_caller(lang, &caller, "/requests", t.requests_title),
        mine,
        inbox,
        others,
        grants,
        notice,
        may_file: !matches!(caller.role(), Role::Auditor | Role::Admin),
        approver,
        default_from: day(-30),
        default_to: day(0),
        default_expiry: day(7),
    }))
}

pub async fn request_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let f = form(f);
    let run = || -> Result<(), ApiError> {
        let scope = Scope {
            conversations: f.lines("conversations"),
            participants: f
                .lines("participants")
                .iter()
                .map(|h| chatvault_access::users::parse_handle(h).map_err(ApiError::from))
                .collect::<Result<_, _>>()?,
            from_ms: parse_time(f.get("from"), "scope.from", false, state.zone)?,
            to_ms: parse_time(f.get("to"), "scope.to", true, state.zone)?,
            keywords: f.lines("keywords"),
        };
        let rights =
            f.all("right")
                .iter()
                .map(|r| {
                    serde_json::from_value::<Right>(serde_json::Value::String((*r).to_owned()))
                        .map_err(|_| {
                            ApiError::bad_request(format!(
                                "right `{r}`: use view, export, pii.view or restricted.view"
                            ))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
        blocking(|| {
            state
                .access()?
                .file_request(
                    caller.name(),
                    scope,
                    f.get("reason"),
                    f.get("case_number"),
                    &rights,
                )
                .map_err(ApiError::from)
        })?;
        Ok(())
    };
    run().map_err(|e| UiError::for_caller(&req, &caller, e))?;
    Ok(see_other("/requests?done=filed"))
}

pub async fn approve_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let f = form(f);
    let run = || -> Result<(), ApiError> {
        let expires = parse_time(f.get("expires"), "expires", true, state.zone)?;
        let policy = state.config.policy();
        blocking(|| {
            state
                .access()?
                .approve_request(caller.name(), &id, f.get("comment"), expires, &policy)
                .map_err(ApiError::from)
        })?;
        Ok(())
    };
    run().map_err(|e| UiError::for_caller(&req, &caller, e))?;
    Ok(see_other("/requests?done=approved"))
}

pub async fn reject_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let f = form(f);
    let policy = state.config.policy();
    blocking(|| {
        state
            .access()?
            .reject_request(caller.name(), &id, f.get("comment"), &policy)
            .map_err(ApiError::from)
    })
    .map_err(|e| UiError::for_caller(&req, &caller, e))?;
    Ok(see_other("/requests?done=rejected"))
}

pub async fn revoke_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let policy = state.config.policy();
    let r = state.access().map_err(ApiError::from).and_then(|mut a| {
        a.revoke_grant(caller.name(), &id, &policy)
            .map_err(ApiError::from)
    });
    r.map_err(|e| UiError::for_caller(&req, &caller, e))?;
    Ok(see_other("/requests?done=revoked"))
}

// ---- audit ----

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    flagged: Option<String>,
}

pub struct EntryView {
    seq: u64,
    time: String,
    actor: String,
    action: String,
    target: String,
    result: &'static str,
    result_label: &'static str,
    flags: String,
    details: String,
    ip: String,
}

impl EntryView {
    fn of(t: &super::i18n::Strings, zone: Zone, e: &AuditEntry) -> EntryView {
        EntryView {
            seq: e.seq,
            time: fmt_ms(e.time_ms, zone),
            actor: clean(&e.actor),
            action: clean(&e.action),
            target: clean(e.target.as_deref().unwrap_or("")),
            result: match e.result {
                Outcome::Ok => "ok",
                Outcome::Denied => "denied",
                Outcome::Failed => "failed",
            },
            result_label: match e.result {
                Outcome::Ok => t.result_ok,
                Outcome::Denied => t.result_denied,
                Outcome::Failed => t.result_failed,
            },
            flags: clean(&e.flags.join(", ")),
            details: if e.details.is_null() {
                String::new()
            } else {
                clean(&e.details.to_string())
            },
            ip: clean(e.ip.as_deref().unwrap_or("")),
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    ctx: Ctx,
    q: AuditForm,
    entries: Vec<EntryView>,
    chart: String,
    actions: Vec<&'static str>,
}

#[derive(Default)]
struct AuditForm {
    actor: String,
    action: String,
    from: String,
    to: String,
    flagged: bool,
}

/// Entries per minute, hour or day (whichever fits the span shown), flagged ones apart,
/// as the chart's JSON (`app.js` draws it).
fn activity_chart(t: &super::i18n::Strings, entries: &[AuditEntry]) -> String {
    let span = match (entries.first(), entries.last()) {
        (Some(a), Some(b)) => b.time_ms - a.time_ms,
        _ => 0,
    };
    let (bucket, fmt) = if span <= 3 * 3_600_000 {
        (60_000, "%m-%d %H:%M")
    } else if span <= 4 * 86_400_000 {
        (3_600_000, "%m-%d %H:00")
    } else {
        (86_400_000, "%Y-%m-%d")
    };
    let mut by_hour: std::collections::BTreeMap<i64, (u64, u64)> = Default::default();
    for e in entries {
        let slot = by_hour.entry(e.time_ms.div_euclid(bucket)).or_default();
        if e.flags.is_empty() {
            slot.0 += 1;
        } else {
            slot.1 += 1;
        }
    }
    let label = |k: i64| {
        chrono::DateTime::from_timestamp_millis(k * bucket)
            .map(|t| t.format(fmt).to_string())
            .unwrap_or_default()
    };
    let hours: Vec<String> = by_hour.keys().map(|k| label(*k)).collect();
    let plain: Vec<u64> = by_hour.values().map(|v| v.0).collect();
    let flagged: Vec<u64> = by_hour.values().map(|v| v.1).collect();
    serde_json::json!({"hours": hours, "plain": plain, "flagged": flagged, "labels": [t.chart_ok, t.chart_flagged]}).to_string()
}

pub async fn audit_page(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Query(q): Query<AuditQuery>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let lang = req.lang_for(Some(&caller));
    let fail = |e| UiError::for_caller(&req, &caller, e);
    if caller.role() != Role::Auditor {
        return Err(fail(role_denied(&state, &caller, Role::Auditor, "/audit")));
    }
    let p = routes::AuditParams {
        actor: q.actor.clone(),
        action: q.action.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
        flagged: q.flagged.as_deref().is_some_and(|v| !v.is_empty()),
        limit: Some(500),
    };
    let entries = routes::run_audit_list(&state, &caller, &p).map_err(fail)?;
    let t = lang.strings();
    let chart = activity_chart(t, &entries);
    Ok(render(&AuditPage {
        ctx: Ctx::for_caller(lang, &caller, "/audit", t.audit_title),
        q: AuditForm {
            actor: clean(q.actor.as_deref().unwrap_or("")),
            action: clean(q.action.as_deref().unwrap_or("")),
            from: clean(q.from.as_deref().unwrap_or("")),
            to: clean(q.to.as_deref().unwrap_or("")),
            flagged: p.flagged,
        },
        entries: entries
            .iter()
            .rev()
            .map(|e| EntryView::of(t, state.zone, e))
            .collect(),
        chart,
        actions: Action::ALL.iter().map(|a| a.name()).collect(),
    }))
}

/// A role refusal, audited like the API's.
fn role_denied(state: &State, caller: &Caller, role: Role, path: &str) -> ApiError {
    let ev = caller.event(Action::AccessDenied).result(Outcome::Denied).details(serde_json::json!({"reason": format!("needs the {} role", role.as_str()), "path": path}));
    match state.audit(ev) {
        Ok(()) => ApiError::forbidden(
            "access.role",
            format!("only the {} role may use this", role.as_str()),
        ),
        Err(e) => e.into(),
    }
}

#[derive(Template)]
#[template(path = "verify_result.html")]
struct VerifyResult {
    ok: bool,
    ok_text: &'static str,
    fail_text: &'static str,
    summary: String,
    errors: Vec<String>,
}

pub async fn audit_verify_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let lang = req.lang_for(Some(&caller));
    let fail = |e| UiError::for_caller(&req, &caller, e);
    if caller.role() != Role::Auditor {
        return Err(fail(role_denied(
            &state,
            &caller,
            Role::Auditor,
            "/audit/verify",
        )));
    }
    let r = routes::run_audit_verify(&state, &caller).map_err(fail)?;
    let t = lang.strings();
    let summary = format!(
        "{} {} · {} {} · {}: {}",
        r.entries, t.entries, r.checkpoints, t.checkpoints, t.verifier_key, r.verifier_key
    );
    Ok(render(&VerifyResult {
        ok: r.ok,
        ok_text: t.chain_ok,
        fail_text: t.chain_failed,
        summary: clean(&summary),
        errors: r.errors.iter().map(|e| clean(e)).collect(),
    }))
}

// ---- users ----

pub struct UserRow {
    name: String,
    role: &'static str,
    team: String,
    handles: String,
    totp: &'static str,
    state: &'static str,
    state_class: &'static str,
    frozen: bool,
    created: String,
}

pub struct Created {
    name: String,
    password: Option<String>,
    pending_totp: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    ctx: Ctx,
    users: Vec<UserRow>,
    roles: Vec<(&'static str, &'static str)>,
    created: Option<Created>,
    notice: Option<&'static str>,
}

fn users_view(
    state: &State,
    req: &Req,
    caller: &Caller,
    created: Option<Created>,
    notice: Option<&'static str>,
) -> Result<Response, ApiError> {
    let lang = req.lang_for(Some(caller));
    let t = lang.strings();
    let users = state.access()?.users()?;
    let rows = users
        .iter()
        .map(|u| UserRow {
            name: clean(&u.name),
            role: views::role_label(t, u.role),
            team: clean(u.team.as_deref().unwrap_or("")),
            handles: clean(
                &u.handles
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            totp: if u.totp_pending {
                t.totp_pending_label
            } else if u.totp {
                t.totp_on
            } else {
                t.totp_off
            },
            state: if u.locked {
                t.locked
            } else if u.frozen {
                t.frozen
            } else {
                t.active
            },
            state_class: if u.locked || u.frozen { "bad" } else { "good" },
            frozen: u.frozen || u.locked,
            created: clean(&u.created_at),
        })
        .collect();
    let roles = [
        Role::Agent,
        Role::TeamLead,
        Role::Legal,
        Role::Executive,
        Role::Auditor,
        Role::Admin,
    ]
    .iter()
    .map(|r| (r.as_str(), views::role_label(t, *r)))
    .collect();
    Ok(render(&UsersPage {
        ctx: Ctx::for_caller(lang, caller, "/admin/users", t.users_title),
        users: rows,
        roles,
        created,
        notice,
    }))
}

fn admin_or(
    state: &State,
    req: &Req,
    caller: Result<Caller, ApiError>,
    path: &str,
) -> UiResult<Caller> {
    let caller = caller_or(req, caller)?;
    if caller.role() != Role::Admin {
        let e = role_denied(state, &caller, Role::Admin, path);
        return Err(UiError::for_caller(req, &caller, e));
    }
    Ok(caller)
}

pub async fn users_page(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Query(d): Query<Done>,
) -> UiResult<Response> {
    let caller = admin_or(&state, &req, caller, "/admin/users")?;
    let t = req.lang_for(Some(&caller)).strings();
    let notice = match d.done.as_deref() {
        Some("freeze") => Some(t.user_frozen),
        Some("unfreeze") => Some(t.user_unfrozen),
        Some("reset-totp") => Some(t.totp_reset_done),
        _ => None,
    };
    users_view(&state, &req, &caller, None, notice)
        .map_err(|e| UiError::for_caller(&req, &caller, e))
}

pub async fn user_add_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let caller = admin_or(&state, &req, caller, "/admin/users")?;
    let f = form(f);
    let run = || -> Result<Response, ApiError> {
        let role = Role::parse(f.get("role"))?;
        let handles = f
            .lines("handles")
            .iter()
            .map(|h| chatvault_access::users::parse_handle(h).map_err(ApiError::from))
            .collect::<Result<Vec<Handle>, _>>()?;
        let password = f.opt("password");
        let team = f.opt("team");
        let e = blocking(|| {
            state
                .access()?
                .add_user(
                    caller.name(),
                    f.get("name"),
                    role,
                    team.as_deref(),
                    &handles,
                    password.as_deref(),
                    !f.get("totp").is_empty(),
                )
                .map_err(ApiError::from)
        })?;
        let created = Created {
            name: clean(&e.user),
            password: e.password.clone(),
            pending_totp: e.otpauth.is_some(),
        };
        users_view(&state, &req, &caller, Some(created), None)
    };
    run().map_err(|e| UiError::for_caller(&req, &caller, e))
}

pub async fn user_op_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Path((name, op)): Path<(String, String)>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let caller = admin_or(&state, &req, caller, "/admin/users")?;
    let f = form(f);
    let run = || -> Result<(), ApiError> {
        let mut acc = state.access()?;
        match op.as_str() {
            "freeze" => {
                acc.freeze(caller.name(), &name, f.get("reason"))?;
            }
            "unfreeze" => acc.unfreeze(caller.name(), &name)?,
            "reset-totp" => {
                acc.reset_totp(caller.name(), &name)?;
            }
            _ => return Err(ApiError::new("route.unknown", "no such user operation")),
        }
        Ok(())
    };
    run().map_err(|e| UiError::for_caller(&req, &caller, e))?;
    Ok(see_other(&format!(
        "/admin/users?{}",
        views::query(&[("done", &op)])
    )))
}

// ---- integrity ----

#[derive(Template)]
#[template(path = "integrity.html")]
struct IntegrityPage {
    ctx: Ctx,
    stats: chatvault_archive::Stats,
    last: Option<EntryView>,
    last_ok: bool,
    may_verify: bool,
    audit_key: String,
}

pub async fn integrity_page(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let lang = req.lang_for(Some(&caller));
    let fail = |e: chatvault_app::Error| UiError::for_caller(&req, &caller, e);
    let stats = state.archive_stats().map_err(fail)?;
    let (last, audit_key) = {
        let acc = state.access().map_err(fail)?;
        let f = chatvault_access::AuditFilter {
            action: Some(Action::IntegrityVerify.name().into()),
            limit: Some(1),
            ..Default::default()
        };
        (
            acc.audit_list(&f).map_err(|e| fail(e.into()))?.pop(),
            acc.audit_verifier_key().to_owned(),
        )
    };
    let t = lang.strings();
    Ok(render(&IntegrityPage {
        ctx: Ctx::for_caller(lang, &caller, "/integrity", t.integrity_title),
        last_ok: last.as_ref().is_some_and(|e| e.result == Outcome::Ok),
        last: last.as_ref().map(|e| EntryView::of(t, state.zone, e)),
        stats,
        may_verify: matches!(caller.role(), Role::Auditor | Role::Admin),
        audit_key: clean(&audit_key),
    }))
}

pub async fn integrity_verify_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let lang = req.lang_for(Some(&caller));
    let fail = |e| UiError::for_caller(&req, &caller, e);
    if !matches!(caller.role(), Role::Auditor | Role::Admin) {
        return Err(fail(role_denied(
            &state,
            &caller,
            Role::Auditor,
            "/integrity/verify",
        )));
    }
    let r = blocking(|| state.archive_verify()).map_err(|e| fail(e.into()))?;
    let t = lang.strings();
    state
        .audit(caller.event(Action::IntegrityVerify).result(if r.ok { Outcome::Ok } else { Outcome::Failed }).details(serde_json::json!({
            "messages": r.messages, "checkpoints": r.checkpoints, "errors": r.errors.len(), "unsigned_tail": r.unsigned_tail,
        })))
        .map_err(|e| fail(e.into()))?;
    let summary = format!(
        "{} {} · {} {} · {} {}",
        r.messages, t.messages, r.checkpoints, t.checkpoints, r.unsigned_tail, t.unsigned_tail
    );
    let errors = r
        .errors
        .iter()
        .take(50)
        .map(|e| clean(&format!("{e:?}")))
        .collect();
    Ok(render(&VerifyResult {
        ok: r.ok,
        ok_text: t.verify_ok,
        fail_text: t.verify_failed,
        summary,
        errors,
    }))
}
