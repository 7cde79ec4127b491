//! The web UI in-process (the real router over a real archive): headers, routes, the
//! sign-in and CSRF rules of forms, escaping of hostile content, languages, errors.
//! `crates/chatvault/tests/browser.rs` drives the same pages in Chromium.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chatvault_access::users::{otpauth_secret, totp_code};
use chatvault_archive::{Archive, KeyProvider};
use chatvault_model::canonical::parse_line;
use chatvault_model::Origin;
use chatvault_policy::{Handle, Role};
use chatvault_server::{router, Config, Shared, State};
use serde_json::json;
use tower::ServiceExt;

const PW: &str = "correct horse battery";
const XSS: &str = "<script>alert(1)</script><img src=x onerror=alert(2)><a href=\"javascript:alert(3)\">x</a> 退款 abc\u{202E}gnp.exe";

struct World {
    _dir: tempfile::TempDir,
    state: State,
    root_secret: String,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = KeyProvider::default();
    Archive::init(&data, &keys).unwrap();
    let mut a = Archive::open(&data, &keys).unwrap();
    let t = |mins: i64| (chrono::Utc::now() - chrono::Duration::minutes(mins)).to_rfc3339();
    let lines = [
        json!({"platform":"wecom","conversation_id":"c1","conversation_title":"<b>标题</b>","sender_id":"alice","sender_name":"<i>A</i>","sender_role":"agent","sent_at":t(10),"text":XSS}),
        json!({"platform":"wecom","conversation_id":"c1","sender_id":"cust","sender_role":"customer","sent_at":t(9),"text":"退款 13812345678","attachments":[
            {"name":"fake.png","mime":"image/png","data":"PGh0bWw+PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="},
            {"name":"x.svg","mime":"image/svg+xml","data":"PHN2Zy8+"}]}),
        json!({"platform":"wecom","conversation_id":"c2","sender_id":"bob","sent_at":t(8),"text":"退款 另一组"}),
    ];
    let msgs = lines
        .iter()
        .map(|v| {
            parse_line(&v.to_string())
                .unwrap()
                .into_new_message(
                    v.to_string().into_bytes(),
                    Origin {
                        file: "t".into(),
                        line: 1,
                    },
                    &mut |_| Err("no".into()),
                )
                .unwrap()
        })
        .collect();
    a.ingest(msgs).unwrap();
    let cfg = Config::default();
    let mut acc = chatvault_server::open_access(&mut a, cfg.security.clone()).unwrap();
    acc.add_user(
        "setup",
        "alice",
        Role::Agent,
        Some("t1"),
        &[Handle::new("wecom", "alice")],
        Some(PW),
        false,
    )
    .unwrap();
    acc.add_user(
        "setup",
        "bob",
        Role::Agent,
        Some("t2"),
        &[Handle::new("wecom", "bob")],
        Some(PW),
        false,
    )
    .unwrap();
    acc.add_user(
        "setup",
        "lead1",
        Role::TeamLead,
        Some("t1"),
        &[],
        Some(PW),
        false,
    )
    .unwrap();
    let e = acc
        .add_user("setup", "root", Role::Admin, None, &[], Some(PW), false)
        .unwrap();
    let root_secret = e.otpauth.as_deref().and_then(otpauth_secret).unwrap();
    let state = Arc::new(Shared::new(a, acc, cfg, false));
    World {
        _dir: dir,
        state,
        root_secret,
    }
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Resp {
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| {
                let (k, v) = c.split(';').next()?.split_once('=')?;
                (k == name).then(|| v.to_owned())
            })
    }
    /// The value of the first `name="_csrf"` field.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"_csrf\" value=\"")
            .expect("a CSRF field")
            + 20;
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

impl World {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        cookies: &str,
        form: Option<&[(&str, &str)]>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(uri);
        if !cookies.is_empty() {
            b = b.header("cookie", cookies);
        }
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        let req = match form {
            Some(f) => b
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(serde_urlencoded::to_string(f).unwrap()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        let r = router(self.state.clone()).oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = axum::body::to_bytes(r.into_body(), 64 << 20).await.unwrap();
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// The pre-session cookie and token from the sign-in page.
    async fn pre(&self) -> (String, String) {
        let r = self.call(Method::GET, "/login", "", None, &[]).await;
        let pre = r.cookie("cv_pre").unwrap();
        assert_eq!(r.csrf(), pre, "the form carries the cookie's token");
        (format!("cv_pre={pre}"), pre)
    }

    /// Signs in through the form; returns the session cookie header and the CSRF token.
    async fn sign_in(&self, user: &str) -> (String, String) {
        let (cookie, pre) = self.pre().await;
        let r = self
            .call(
                Method::POST,
                "/login",
                &cookie,
                Some(&[("_csrf", &pre), ("username", user), ("password", PW)]),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{user}: {}", r.body);
        let c = format!("cv_session={}", r.cookie("cv_session").unwrap());
        let page = self.call(Method::GET, "/requests", &c, None, &[]).await;
        (c, page.csrf())
    }
}

#[tokio::test]
async fn pages_carry_the_page_csp_and_assets_are_served_from_the_binary() {
    let w = world();
    let r = w.call(Method::GET, "/login", "", None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert_eq!(csp, chatvault_server::ui::PAGE_CSP);
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    let pre = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        pre.contains("HttpOnly") && pre.contains("SameSite=Strict"),
        "{pre}"
    );
    assert!(
        !r.body.contains("<script>") && !r.body.contains("style=\""),
        "no inline script or style in pages"
    );
    let cases = [
        (
            chatvault_server::ui::assets::HTMX,
            StatusCode::OK,
            "text/javascript",
        ),
        (
            chatvault_server::ui::assets::ECHARTS,
            StatusCode::OK,
            "text/javascript",
        ),
        (
            chatvault_server::ui::assets::APP_CSS,
            StatusCode::OK,
            "text/css",
        ),
        (
            chatvault_server::ui::assets::APP_JS,
            StatusCode::OK,
            "text/javascript",
        ),
        ("../Cargo.toml", StatusCode::NOT_FOUND, ""),
        ("nope.js", StatusCode::NOT_FOUND, ""),
    ];
    for (name, status, mime) in cases {
        let r = w
            .call(Method::GET, &format!("/assets/{name}"), "", None, &[])
            .await;
        assert_eq!(r.status, status, "{name}");
        if status == StatusCode::OK {
            assert!(
                r.headers[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with(mime),
                "{name}"
            );
            assert!(
                r.headers[header::CACHE_CONTROL]
                    .to_str()
                    .unwrap()
                    .contains("immutable"),
                "{name}"
            );
            assert!(r.body.len() > 1000, "{name} is the real file");
        }
    }
}

#[tokio::test]
async fn every_ui_route_is_routed() {
    let w = world();
    for (method, path) in chatvault_server::ui::ROUTES {
        let uri = path
            .replace("{id}", "x")
            .replace("{name}", "alice")
            .replace("{op}", "freeze")
            .replace("{name}", "htmx.js");
        let m: Method = method.parse().unwrap();
        let form: Option<&[(&str, &str)]> = (m == Method::POST).then_some(&[]);
        let r = w.call(m, &uri, "", form, &[]).await;
        assert!(
            !r.body.contains("route.unknown") && r.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
    }
}

#[tokio::test]
async fn without_a_session_pages_send_the_browser_to_sign_in() {
    let w = world();
    for path in [
        "/",
        "/search",
        "/conversation?id=wecom:c1",
        "/requests",
        "/audit",
        "/admin/users",
        "/integrity",
        "/timeline",
    ] {
        let r = w.call(Method::GET, path, "", None, &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers[header::LOCATION], "/login", "{path}");
    }
    let r = w
        .call(
            Method::POST,
            "/search",
            "",
            Some(&[("q", "退款")]),
            &[("hx-request", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers["hx-redirect"], "/login",
        "htmx navigates to the sign-in page"
    );
}

#[tokio::test]
async fn the_sign_in_form_needs_its_pre_session_token() {
    let w = world();
    let (cookie, pre) = w.pre().await;
    let other = "0".repeat(64);
    let cases: &[(&str, &str, &str, &str, StatusCode, &str)] = &[
        (
            "no cookie",
            "",
            &pre,
            PW,
            StatusCode::FORBIDDEN,
            "auth.csrf",
        ),
        (
            "token does not match",
            &cookie,
            &other,
            PW,
            StatusCode::FORBIDDEN,
            "auth.csrf",
        ),
        (
            "no token",
            &cookie,
            "",
            PW,
            StatusCode::FORBIDDEN,
            "auth.csrf",
        ),
        (
            "wrong password",
            &cookie,
            &pre,
            "wrong password!",
            StatusCode::UNAUTHORIZED,
            "auth.invalid",
        ),
    ];
    for (name, cookies, token, pw, status, code) in cases {
        let r = w
            .call(
                Method::POST,
                "/login",
                cookies,
                Some(&[("_csrf", token), ("username", "alice"), ("password", pw)]),
                &[],
            )
            .await;
        assert_eq!(r.status, *status, "{name}: {}", r.body);
        assert!(r.body.contains(code), "{name}: the page names {code}");
        assert!(r.cookie("cv_session").is_none(), "{name}: no session");
    }
    let r = w
        .call(
            Method::POST,
            "/login",
            &cookie,
            Some(&[("_csrf", &pre), ("username", "alice"), ("password", PW)]),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let set = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.starts_with("cv_session=")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Strict"),
        "{set}"
    );
}

#[tokio::test]
async fn every_form_post_needs_the_sessions_csrf_token() {
    let w = world();
    let (session, csrf) = w.sign_in("alice").await;
    let request = [
        ("conversations", "wecom:c1"),
        ("from", "2020-01-01"),
        ("to", "2030-01-01"),
        ("reason", "r"),
        ("case_number", "c-1"),
        ("right", "view"),
    ];
    let cases: &[(&str, Option<&str>, StatusCode)] = &[
        ("no token", None, StatusCode::FORBIDDEN),
        ("wrong token", Some("forged"), StatusCode::FORBIDDEN),
        (
            "the session's token",
            Some(csrf.as_str()),
            StatusCode::SEE_OTHER,
        ),
    ];
    for (name, token, status) in cases {
        let mut f: Vec<(&str, &str)> = request.to_vec();
        if let Some(t) = token {
            f.push(("_csrf", t));
        }
        let r = w
            .call(Method::POST, "/requests", &session, Some(&f), &[])
            .await;
        assert_eq!(r.status, *status, "{name}: {}", r.body);
        if *status == StatusCode::FORBIDDEN {
            assert!(r.body.contains("auth.csrf"), "{name}");
        }
    }
    // A refused form is audited like a refused API call.
    let denied = w
        .state
        .access()
        .unwrap()
        .audit_list(&chatvault_access::AuditFilter {
            action: Some("access.denied".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        denied
            .iter()
            .filter(|e| e.details["reason"] == "auth.csrf")
            .count(),
        2
    );
}

#[tokio::test]
async fn hostile_content_renders_as_text() {
    let w = world();
    let (session, csrf) = w.sign_in("alice").await;
    let search = w
        .call(
            Method::POST,
            "/search",
            &session,
            Some(&[("_csrf", &csrf), ("q", "退款")]),
            &[],
        )
        .await;
    let conv = w
        .call(
            Method::GET,
            "/conversation?id=wecom%3Ac1",
            &session,
            None,
            &[],
        )
        .await;
    for (page, r) in [("search", &search), ("conversation", &conv)] {
        assert_eq!(r.status, StatusCode::OK, "{page}: {}", r.body);
        assert!(
            !r.body.contains("<script>alert"),
            "{page}: no live script tag"
        );
        assert!(
            !r.body.contains("<img src=x") && !r.body.contains("onerror=alert(2)>"),
            "{page}: no live img"
        );
        assert!(
            !r.body.contains("href=\"javascript:"),
            "{page}: no javascript: link"
        );
        assert!(
            r.body.contains("&#34;javascript:alert(3)&#34;"),
            "{page}: the link is shown as text"
        );
        assert!(
            r.body.contains("\\u{202e}") && !r.body.contains('\u{202E}'),
            "{page}: the override is an escape"
        );
        assert!(
            r.body.contains("<mark>退款</mark>") || page == "conversation",
            "{page}: highlighted"
        );
    }
    assert!(
        conv.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || conv.body.contains("&lt;script&gt;alert(1)"),
        "the whole tag is shown as text"
    );
    assert!(
        conv.body.contains("&#60;b&#62;标题") || conv.body.contains("&lt;b&gt;标题"),
        "the title is text"
    );
    assert!(
        conv.body.contains("138****5678"),
        "an agent sees the phone number masked"
    );
    // Filters narrow the page: one sender, one kind.
    let cases = [
        ("sender", "cust", 1),
        ("sender", "alice", 1),
        ("sender", "nobody", 0),
        ("kind", "image", 0),
    ];
    for (field, value, want) in cases {
        let r = w
            .call(
                Method::POST,
                "/search",
                &session,
                Some(&[("_csrf", &csrf), ("q", "退款"), (field, value)]),
                &[],
            )
            .await;
        let shown = r.body.matches("class=\"hit ").count();
        assert_eq!(shown, want, "{field}={value}");
    }
    // No message content in a URL: links carry ids only.
    for href in conv
        .body
        .split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
    {
        assert!(
            !href.contains("退款") && !href.contains("%E9%80%80"),
            "{href}"
        );
    }
}

#[tokio::test]
async fn previews_only_real_raster_images_and_never_svg() {
    let w = world();
    let (session, _) = w.sign_in("alice").await;
    let conv = w
        .call(
            Method::GET,
            "/conversation?id=wecom%3Ac1",
            &session,
            None,
            &[],
        )
        .await;
    // The fake PNG is offered for preview by its claimed type, the SVG is not.
    let previews: Vec<&str> = conv
        .body
        .split("<img src=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(previews.len(), 1, "{previews:?}");
    let r = w
        .call(
            Method::GET,
            &previews[0].replace("&#38;", "&"),
            &session,
            None,
            &[],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "HTML bytes labelled image/png are not served inline"
    );
    assert!(r.body.contains("attachment.not_image"));
    assert!(
        !conv.body.contains("mode=download"),
        "an agent has no export right: no download link is offered"
    );
    let download = previews[0]
        .replace("&#38;", "&")
        .replace("mode=preview", "mode=download");
    let r = w.call(Method::GET, &download, &session, None, &[]).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "and the download itself is refused: {}",
        r.body
    );
}

#[tokio::test]
async fn an_agent_cannot_open_another_teams_conversation() {
    let w = world();
    let (session, csrf) = w.sign_in("alice").await;
    let r = w
        .call(
            Method::GET,
            "/conversation?id=wecom%3Ac2",
            &session,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body.contains("access.denied"),
        "the error page shows the code"
    );
    let missing = w
        .call(
            Method::GET,
            "/conversation?id=wecom%3Anope",
            &session,
            None,
            &[],
        )
        .await;
    assert_eq!(
        missing.status,
        StatusCode::FORBIDDEN,
        "a missing conversation looks the same"
    );
    let r = w
        .call(
            Method::POST,
            "/search",
            &session,
            Some(&[
                ("_csrf", &csrf),
                ("q", "退款"),
                ("conversation", "wecom:c2"),
            ]),
            &[("hx-request", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body.contains("access.denied") && !r.body.contains("<html"),
        "htmx gets a fragment"
    );
    let r = w.call(Method::GET, "/audit", &session, None, &[]).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "the audit log is the auditor's"
    );
}

#[tokio::test]
async fn the_language_comes_from_the_user_then_the_cookie_then_accept_language() {
    let w = world();
    let title = |r: &Resp| {
        r.body
            .split("<h1>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .trim()
            .to_owned()
    };
    let cases = [
        ("no preference", "", "", "登录 chatvault"),
        (
            "english browser",
            "en-US,en;q=0.9",
            "",
            "Sign in to chatvault",
        ),
        ("chinese browser", "zh-CN,zh;q=0.9", "", "登录 chatvault"),
        (
            "cookie beats header",
            "en-US",
            "cv_lang=zh",
            "登录 chatvault",
        ),
        ("unsupported", "fr-FR", "", "登录 chatvault"),
    ];
    for (name, accept, cookie, want) in cases {
        let r = w
            .call(
                Method::GET,
                "/login",
                cookie,
                None,
                &[("accept-language", accept)],
            )
            .await;
        assert_eq!(title(&r), want, "{name}");
        assert!(
            r.body.contains(if want.starts_with("Sign") {
                "lang=\"en\""
            } else {
                "lang=\"zh-CN\""
            }),
            "{name}: html lang"
        );
    }
    // The user's own setting wins over the browser's.
    let (session, csrf) = w.sign_in("alice").await;
    let r = w
        .call(
            Method::POST,
            "/lang",
            &session,
            Some(&[("_csrf", &csrf), ("lang", "en"), ("back", "/search")]),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/search");
    let page = w
        .call(
            Method::GET,
            "/search",
            &session,
            None,
            &[("accept-language", "zh-CN")],
        )
        .await;
    assert_eq!(title(&page), "Search");
    let r = w
        .call(
            Method::POST,
            "/lang",
            &session,
            Some(&[
                ("_csrf", &csrf),
                ("lang", "en"),
                ("back", "//evil.example/"),
            ]),
            &[],
        )
        .await;
    assert_eq!(r.headers[header::LOCATION], "/", "only local paths");
}

#[tokio::test]
async fn unknown_pages_are_html_and_unknown_api_routes_stay_json() {
    let w = world();
    let r = w.call(Method::GET, "/no-such-page", "", None, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("route.unknown") && r.body.contains("<html"));
    let r = w.call(Method::GET, "/api/v1/nope", "", None, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.starts_with("{\"error\""), "{}", r.body);
}

impl World {
    /// Signs root (admin, TOTP) in through enrolment; returns the session and CSRF token.
    async fn sign_in_root(&self) -> (String, String) {
        let (cookie, pre) = self.pre().await;
        let r = self
            .call(
                Method::POST,
                "/login",
                &cookie,
                Some(&[("_csrf", &pre), ("username", "root"), ("password", PW)]),
                &[],
            )
            .await;
        let field = |name: &str| {
            r.body
                .split(&format!("name=\"{name}\" value=\""))
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .replace("&#38;", "&")
        };
        let (ticket, otpauth) = (field("ticket"), field("otpauth"));
        let code = totp_code(&self.root_secret, chrono::Utc::now().timestamp_millis()).unwrap();
        let ok = self
            .call(
                Method::POST,
                "/login/enrol",
                &cookie,
                Some(&[
                    ("_csrf", &pre),
                    ("ticket", &ticket),
                    ("otpauth", &otpauth),
                    ("code", &code),
                ]),
                &[],
            )
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let c = format!("cv_session={}", ok.cookie("cv_session").unwrap());
        let page = self.call(Method::GET, "/admin/users", &c, None, &[]).await;
        (c, page.csrf())
    }
}

#[tokio::test]
async fn exports_of_search_results_go_by_form_under_the_export_right() {
    let w = world();
    let (alice, csrf) = w.sign_in("alice").await;
    // An agent has no export right: no export form, and a forged post is refused.
    let r = w
        .call(
            Method::POST,
            "/search",
            &alice,
            Some(&[("_csrf", &csrf), ("q", "退款")]),
            &[],
        )
        .await;
    assert!(
        !r.body.contains("action=\"/export\""),
        "no export form without the right"
    );
    let r = w
        .call(
            Method::POST,
            "/export",
            &alice,
            Some(&[("_csrf", &csrf), ("q", "退款"), ("format", "csv")]),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // alice asks for export over c1; her team lead approves.
    let f = [
        ("_csrf", csrf.as_str()),
        ("conversations", "wecom:c1"),
        ("from", "2020-01-01"),
        ("to", "2030-01-01"),
        ("reason", "投诉复核"),
        ("case_number", "c-9"),
        ("right", "view"),
        ("right", "export"),
    ];
    assert_eq!(
        w.call(Method::POST, "/requests", &alice, Some(&f), &[])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let id = w.state.access().unwrap().requests(None).unwrap()[0]
        .id
        .clone();
    let (lead, lead_csrf) = w.sign_in("lead1").await;
    let expires = (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let a = w
        .call(
            Method::POST,
            &format!("/requests/{id}/approve"),
            &lead,
            Some(&[
                ("_csrf", &lead_csrf),
                ("comment", "同意"),
                ("expires", &expires),
            ]),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let r = w
        .call(
            Method::POST,
            "/search",
            &alice,
            Some(&[("_csrf", &csrf), ("q", "退款")]),
            &[],
        )
        .await;
    assert!(
        r.body.contains("action=\"/export\"") && r.body.contains("name=\"q\" value=\"退款\""),
        "the form repeats the search in hidden fields"
    );
    let cases: &[(&str, &[(&str, &str)], StatusCode, &str)] = &[
        (
            "csv of the query",
            &[("q", "退款"), ("format", "csv")],
            StatusCode::OK,
            "text/csv; charset=utf-8",
        ),
        (
            "json with a sender filter",
            &[("q", "退款"), ("sender", "cust"), ("format", "json")],
            StatusCode::OK,
            "application/json",
        ),
        (
            "evidence needs pii.view",
            &[("q", "退款"), ("format", "evidence")],
            StatusCode::FORBIDDEN,
            "",
        ),
        (
            "another team's conversation",
            &[
                ("q", "退款"),
                ("conversation", "wecom:c2"),
                ("format", "csv"),
            ],
            StatusCode::FORBIDDEN,
            "",
        ),
        (
            "an unknown format",
            &[("q", "退款"), ("format", "xls")],
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            "a bad kind",
            &[("q", "退款"), ("kind", "hologram"), ("format", "csv")],
            StatusCode::BAD_REQUEST,
            "",
        ),
    ];
    for (name, fields, status, mime) in cases {
        let mut f = vec![("_csrf", csrf.as_str())];
        f.extend_from_slice(fields);
        let r = w.call(Method::POST, "/export", &alice, Some(&f), &[]).await;
        assert_eq!(r.status, *status, "{name}: {}", r.body);
        if r.status == StatusCode::OK {
            assert_eq!(r.headers[header::CONTENT_TYPE], *mime, "{name}");
            assert!(
                r.headers[header::CONTENT_DISPOSITION]
                    .to_str()
                    .unwrap()
                    .starts_with("attachment"),
                "{name}"
            );
            assert!(
                !r.body.contains("另一组"),
                "{name}: only what the grant covers"
            );
        } else {
            assert!(
                r.body.contains("<html") && r.body.contains("code"),
                "{name}: an error page with its code"
            );
        }
    }
    let csv = w
        .call(
            Method::POST,
            "/export",
            &alice,
            Some(&[("_csrf", &csrf), ("q", "退款"), ("format", "csv")]),
            &[],
        )
        .await;
    assert!(
        csv.body.contains("138****5678"),
        "masked without pii.view: {}",
        csv.body
    );
    let audit = w
        .state
        .access()
        .unwrap()
        .audit_list(&chatvault_access::AuditFilter {
            action: Some("export".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(audit.len(), 3, "each download audited: {audit:?}");
}

#[tokio::test]
async fn identity_links_are_managed_on_their_page_by_admin_and_legal_only() {
    let w = world();
    let (alice, _) = w.sign_in("alice").await;
    let r = w.call(Method::GET, "/identities", &alice, None, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("access.role"), "{}", r.body);
    let (root, csrf) = w.sign_in_root().await;
    let page = w.call(Method::GET, "/identities", &root, None, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("href=\"/identities\""),
        "in the navigation"
    );
    let bad = w
        .call(
            Method::POST,
            "/identities",
            &root,
            Some(&[("_csrf", &csrf), ("handles", "wecom:cust")]),
            &[],
        )
        .await;
    assert_eq!(
        bad.status,
        StatusCode::OK,
        "the form comes back with the error"
    );
    assert!(
        bad.body.contains("input.invalid") && bad.body.contains("wecom:cust"),
        "{}",
        bad.body
    );
    let ok = w
        .call(
            Method::POST,
            "/identities",
            &root,
            Some(&[
                ("_csrf", &csrf),
                ("handles", "wecom:cust\nwecom:bob"),
                ("name", "<b>王女士</b>"),
            ]),
            &[],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let page = w
        .call(Method::GET, "/identities?done=link", &root, None, &[])
        .await;
    assert!(
        page.body.contains("wecom:cust") && page.body.contains("wecom:bob"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("<b>王女士") && page.body.contains("王女士"),
        "the name is text"
    );
    let id = w.state.access().unwrap().identity_links().unwrap()[0]
        .id
        .clone();
    let un = w
        .call(
            Method::POST,
            &format!("/identities/{id}/unlink"),
            &root,
            Some(&[("_csrf", &csrf)]),
            &[],
        )
        .await;
    assert_eq!(un.status, StatusCode::SEE_OTHER);
    assert!(w
        .state
        .access()
        .unwrap()
        .identity_links()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_privileged_user_enrols_totp_through_the_form() {
    let w = world();
    let (cookie, pre) = w.pre().await;
    let r = w
        .call(
            Method::POST,
            "/login",
            &cookie,
            Some(&[("_csrf", &pre), ("username", "root"), ("password", PW)]),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("<svg") && r.body.contains(&w.root_secret),
        "the QR code and the key for manual entry"
    );
    assert!(r.cookie("cv_session").is_none());
    let ticket = r
        .body
        .split("name=\"ticket\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let otpauth = r
        .body
        .split("name=\"otpauth\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    let bad = w
        .call(
            Method::POST,
            "/login/enrol",
            &cookie,
            Some(&[
                ("_csrf", &pre),
                ("ticket", &ticket),
                ("otpauth", &otpauth),
                ("code", "12345"),
            ]),
            &[],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(
        bad.body.contains("auth.totp_invalid") && bad.body.contains("<svg"),
        "a wrong code shows the QR code again"
    );
    let code = totp_code(&w.root_secret, chrono::Utc::now().timestamp_millis()).unwrap();
    let ok = w
        .call(
            Method::POST,
            "/login/enrol",
            &cookie,
            Some(&[
                ("_csrf", &pre),
                ("ticket", &ticket),
                ("otpauth", &otpauth),
                ("code", &code),
            ]),
            &[],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let session = format!("cv_session={}", ok.cookie("cv_session").unwrap());
    let home = w.call(Method::GET, "/", &session, None, &[]).await;
    assert_eq!(
        home.headers[header::LOCATION],
        "/admin/users",
        "an admin starts on users"
    );
    // Enrolled: the QR code is never shown again; a code is required.
    let again = w
        .call(
            Method::POST,
            "/login",
            &cookie,
            Some(&[("_csrf", &pre), ("username", "root"), ("password", PW)]),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.body.contains("auth.totp_required") && !again.body.contains("<svg"));
}

#[tokio::test]
async fn the_alert_feed_shows_each_caller_their_alerts_and_acknowledges_by_form() {
    use chatvault_analytics::monitor::Observed;
    use chatvault_analytics::Side;
    let w = world();
    let now = chrono::Utc::now().timestamp_millis();
    let conv = "wecom:<script>alert(1)</script>";
    let seen = |side, sender: &'static str, at: i64| Observed {
        conversation: conv,
        platform: "wecom",
        source: "wecom",
        side: Some(side),
        sender,
        sent_ms: at,
        received_ms: at,
        confirms: false,
    };
    w.state
        .monitor
        .observe(&[
            seen(Side::Agent, "wecom:alice", now - 120_000),
            seen(Side::Customer, "wecom:cust", now - 60_000),
        ])
        .unwrap();
    w.state.monitor.monitor().unwrap().tick(now, &|a: &str| {
        (a == "wecom:alice").then(|| "t1".to_owned())
    });

    // The agent it names and their team lead see it; another team's agent does not.
    let (alice, _) = w.sign_in("alice").await;
    let page = w.call(Method::GET, "/alerts", &alice, None, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"alert-1\""), "{}", page.body);
    assert!(
        !page.body.contains("<script>alert(1)") && page.body.contains("&#60;script&#62;"),
        "a hostile conversation id is text: {}",
        page.body
            .lines()
            .filter(|l| l.contains("script"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        !page.body.contains("id=\"sources\""),
        "agents see no source table"
    );
    let (bob, _) = w.sign_in("bob").await;
    let page = w.call(Method::GET, "/alerts", &bob, None, &[]).await;
    assert!(
        !page.body.contains("id=\"alert-1\""),
        "another team's agent"
    );
    let (lead, csrf) = w.sign_in("lead1").await;
    let page = w.call(Method::GET, "/alerts", &lead, None, &[]).await;
    assert!(page.body.contains("id=\"alert-1\"") && page.body.contains("id=\"sources\""));
    assert!(page
        .body
        .contains("data-alert-stream=\"/api/v1/alerts/stream\""));

    // Acknowledged by form: the list fragment then shows who.
    let no_token = w
        .call(Method::POST, "/alerts/1/ack", &lead, Some(&[]), &[])
        .await;
    assert_eq!(
        no_token.status,
        StatusCode::FORBIDDEN,
        "the form needs its CSRF token"
    );
    let ack = w
        .call(
            Method::POST,
            "/alerts/1/ack",
            &lead,
            Some(&[("_csrf", &csrf)]),
            &[],
        )
        .await;
    assert_eq!(ack.status, StatusCode::SEE_OTHER, "{}", ack.body);
    let list = w.call(Method::GET, "/alerts/list", &lead, None, &[]).await;
    assert!(
        list.body.contains("lead1") && !list.body.contains("<html"),
        "{}",
        list.body
    );
    let again = w
        .call(
            Method::POST,
            "/alerts/1/ack",
            &lead,
            Some(&[("_csrf", &csrf)]),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("alert.state"), "{}", again.body);
    let (root, root_csrf) = w.sign_in_root().await;
    let page = w.call(Method::GET, "/alerts", &root, None, &[]).await;
    assert!(
        !page.body.contains("id=\"alert-1\""),
        "admins see stalled sources only"
    );
    let r = w
        .call(
            Method::POST,
            "/alerts/1/ack",
            &root,
            Some(&[("_csrf", &root_csrf)]),
            &[],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "an alert one does not see is not found"
    );
}
