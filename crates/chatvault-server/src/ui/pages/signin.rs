//! The sign-in pages: the password form, TOTP enrolment with its QR code, sign-out and the language switch.

use super::*;

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
