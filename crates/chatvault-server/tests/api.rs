//! The API in-process (the real router, a real archive and access database): the
//! authorization matrix, each named attack, ingest, and the OpenAPI document.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chatvault_access::users::{otpauth_secret, totp_code};
use chatvault_access::{AuditFilter, TokenScope};
use chatvault_archive::{Archive, KeyProvider};
use chatvault_model::canonical::parse_line;
use chatvault_model::Origin;
use chatvault_policy::{Handle, Role};
use chatvault_server::{router, Config, Shared, State};
use serde_json::{json, Value};
use tower::ServiceExt;

const PW: &str = "correct horse battery";
const DAY: i64 = 86_400_000;

struct World {
    _dir: tempfile::TempDir,
    state: State,
    /// Message ids by label.
    ids: std::collections::HashMap<&'static str, String>,
    totp: std::collections::HashMap<String, String>,
    data: std::path::PathBuf,
    /// One session per user: a TOTP code is accepted once, so users sign in once.
    sessions: std::sync::Mutex<std::collections::HashMap<String, Session>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn rfc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339()
}

/// c1: alice (agent, team t1) and a customer, yesterday, with a phone number and an
/// attachment; c2: bob (agent, team t2), yesterday; c3: alice, 20 days ago.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = KeyProvider::default();
    Archive::init(&data, &keys).unwrap();
    let mut a = Archive::open(&data, &keys).unwrap();
    let now = now_ms();
    let lines = [
        (
            "c1_text",
            json!({"platform":"wecom","conversation_id":"c1","sender_id":"alice","sent_at":rfc(now - DAY),"text":"退款 请拨打 13812345678"}),
        ),
        (
            "c1_cust",
            json!({"platform":"wecom","conversation_id":"c1","sender_id":"cust1","sent_at":rfc(now - DAY + 1000),"text":"退款 什么时候到账"}),
        ),
        (
            "c1_file",
            json!({"platform":"wecom","conversation_id":"c1","sender_id":"cust1","sent_at":rfc(now - DAY + 2000),"text":"发票","attachments":[{"name":"invoice.pdf","mime":"application/pdf","data":"JVBERi0xLjQK"}]}),
        ),
        (
            "c2_text",
            json!({"platform":"wecom","conversation_id":"c2","sender_id":"bob","sent_at":rfc(now - DAY),"text":"退款 另一位客户"}),
        ),
        (
            "c3_old",
            json!({"platform":"wecom","conversation_id":"c3","sender_id":"alice","sent_at":rfc(now - 20 * DAY),"text":"退款 旧记录"}),
        ),
    ];
    let msgs = lines
        .iter()
        .map(|(_, v)| {
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
    let out = a.ingest(msgs).unwrap();
    let mut ids = std::collections::HashMap::new();
    for ((label, _), o) in lines.iter().zip(out) {
        let chatvault_archive::IngestOutcome::Stored { id } = o else {
            panic!("{label} not stored")
        };
        ids.insert(*label, id);
    }
    let cfg = Config::default();
    let mut acc = chatvault_server::open_access(&mut a, cfg.security.clone()).unwrap();
    let mut totp = std::collections::HashMap::new();
    for (name, role, team, handle) in [
        ("alice", Role::Agent, Some("t1"), Some("alice")),
        ("bob", Role::Agent, Some("t2"), Some("bob")),
        ("lead1", Role::TeamLead, Some("t1"), None),
        ("lisa", Role::Legal, None, None),
        ("boss", Role::Executive, None, None),
        ("audi", Role::Auditor, None, None),
        ("root", Role::Admin, None, None),
    ] {
        let handles: Vec<Handle> = handle
            .map(|h| Handle::new("wecom", h))
            .into_iter()
            .collect();
        let e = acc
            .add_user("setup", name, role, team, &handles, Some(PW), false)
            .unwrap();
        if let Some(s) = e.otpauth.as_deref().and_then(otpauth_secret) {
            totp.insert(name.to_owned(), s);
        }
    }
    let state = Arc::new(Shared::new(a, acc, cfg, false));
    World {
        _dir: dir,
        state,
        ids,
        totp,
        data,
        sessions: Default::default(),
    }
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    raw: Vec<u8>,
}

#[derive(Clone, Default)]
struct Session {
    cookie: Option<String>,
    csrf: Option<String>,
    bearer: Option<String>,
}

impl World {
    async fn call(&self, s: &Session, method: Method, uri: &str, body: Option<Value>) -> Resp {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(c) = &s.cookie {
            b = b.header("cookie", format!("cv_session={c}"));
        }
        if let Some(c) = &s.csrf {
            b = b.header("x-csrf-token", c);
        }
        if let Some(t) = &s.bearer {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        let r = router(self.state.clone()).oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let raw = axum::body::to_bytes(r.into_body(), 64 << 20)
            .await
            .unwrap()
            .to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    async fn login(&self, user: &str) -> Session {
        if let Some(s) = self.sessions.lock().unwrap().get(user) {
            return s.clone();
        }
        let code = self.totp.get(user).map(|s| totp_code(s, now_ms()).unwrap());
        let r = self
            .call(
                &Session::default(),
                Method::POST,
                "/api/v1/session",
                Some(json!({"username": user, "password": PW, "totp": code})),
            )
            .await;
        assert_eq!(r.status, 200, "login {user}: {}", r.body);
        let set = r.headers["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("cv_session=")
            .to_owned();
        let s = Session {
            cookie: Some(cookie),
            csrf: r.body["csrf_token"].as_str().map(str::to_owned),
            bearer: None,
        };
        self.sessions
            .lock()
            .unwrap()
            .insert(user.to_owned(), s.clone());
        s
    }

    fn last_audit(&self, actor: &str) -> chatvault_access::AuditEntry {
        let acc = self.state.access.lock().unwrap();
        acc.audit_list(&AuditFilter {
            actor: Some(actor.into()),
            ..Default::default()
        })
        .unwrap()
        .pop()
        .expect("an audit entry")
    }

    fn audit_actions(&self, actor: &str) -> Vec<String> {
        let acc = self.state.access.lock().unwrap();
        acc.audit_list(&AuditFilter {
            actor: Some(actor.into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
    }

    /// lisa files a request for c1 (view + export), boss approves it.
    async fn grant_lisa(&self, rights: &[&str], expires_ms: i64) -> String {
        let lisa = self.login("lisa").await;
        let r = self
            .call(&lisa, Method::POST, "/api/v1/requests", Some(json!({
                "scope": {"conversations": ["wecom:c1"], "participants": [], "from": rfc(now_ms() - 2 * DAY), "to": rfc(now_ms()), "keywords": []},
                "reason": "诉讼保全", "case_number": "(2026)沪0101民初123号", "rights": rights,
            })))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let boss = self.login("boss").await;
        let r = self
            .call(
                &boss,
                Method::POST,
                &format!("/api/v1/requests/{id}/approve"),
                Some(json!({"comment": "同意", "expires_at": expires_ms})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["grant"]["id"].as_str().unwrap().to_owned()
    }
}

/// One content route, in scope and out of scope.
struct RouteCase {
    name: &'static str,
    inside: String,
    outside: String,
    /// The audit action a success leaves.
    action: &'static str,
}

fn routes(w: &World) -> Vec<RouteCase> {
    vec![
        RouteCase {
            name: "search",
            inside: "/api/v1/search?q=%E9%80%80%E6%AC%BE&conversation=wecom:c1".into(),
            outside: "/api/v1/search?q=%E9%80%80%E6%AC%BE&conversation=wecom:c2".into(),
            action: "search",
        },
        RouteCase {
            name: "conversation",
            inside: "/api/v1/conversations/wecom:c1/messages".into(),
            outside: "/api/v1/conversations/wecom:c2/messages".into(),
            action: "view",
        },
        RouteCase {
            name: "message",
            inside: format!("/api/v1/messages/{}", w.ids["c1_text"]),
            outside: format!("/api/v1/messages/{}", w.ids["c2_text"]),
            action: "view",
        },
        // Filled in by the test: it needs the attachment's hash.
        RouteCase {
            name: "attachment",
            inside: String::new(),
            outside: String::new(),
            action: "export",
        },
    ]
}

async fn attachment_uri(w: &World) -> String {
    let boss = w.login("boss").await;
    let r = w
        .call(
            &boss,
            Method::GET,
            &format!("/api/v1/messages/{}", w.ids["c1_file"]),
            None,
        )
        .await;
    let sha = r.body["attachments"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    format!("/api/v1/messages/{}/attachments/{sha}", w.ids["c1_file"])
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_matrix() {
    let w = world();
    let att = attachment_uri(&w).await;
    // Attachments: inside = c1's file; outside = the same path on c2's message id.
    let att_out = att.replace(&w.ids["c1_file"], &w.ids["c2_text"]);
    // (user, grant for lisa?, [search, conversation, message, attachment] × (inside, outside))
    type Row = (&'static str, bool, [(u16, u16); 4]);
    let rows: &[Row] = &[
        (
            "alice",
            false,
            [(200, 403), (200, 403), (200, 403), (403, 403)],
        ),
        (
            "bob",
            false,
            [(403, 200), (403, 200), (403, 200), (403, 403)],
        ),
        (
            "lead1",
            false,
            [(200, 403), (200, 403), (200, 403), (403, 403)],
        ),
        (
            "lisa",
            false,
            [(403, 403), (403, 403), (403, 403), (403, 403)],
        ),
        (
            "lisa",
            true,
            [(200, 403), (200, 403), (200, 403), (200, 403)],
        ),
        (
            "boss",
            false,
            [(200, 200), (200, 200), (200, 200), (403, 403)],
        ),
        (
            "audi",
            false,
            [(403, 403), (403, 403), (403, 403), (403, 403)],
        ),
        (
            "root",
            false,
            [(403, 403), (403, 403), (403, 403), (403, 403)],
        ),
    ];
    let mut cases = routes(&w);
    cases[3].inside = att.clone();
    cases[3].outside = att_out;
    let mut checked = 0;
    for (user, with_grant, expect) in rows {
        if *with_grant {
            w.grant_lisa(&["view", "export"], now_ms() + DAY).await;
        }
        let s = w.login(user).await;
        for (case, (want_in, want_out)) in cases.iter().zip(expect) {
            for (uri, want, side) in [
                (&case.inside, want_in, "inside"),
                (&case.outside, want_out, "outside"),
            ] {
                let r = w.call(&s, Method::GET, uri, None).await;
                let label = format!(
                    "{user}{} {} {side}",
                    if *with_grant { "+grant" } else { "" },
                    case.name
                );
                assert_eq!(r.status.as_u16(), *want, "{label}: {}", r.body);
                let e = w.last_audit(user);
                if *want == 200 {
                    assert_eq!(
                        e.action,
                        if *with_grant {
                            "grant.use"
                        } else {
                            case.action
                        },
                        "{label}: audit"
                    );
                } else {
                    assert_eq!(e.action, "access.denied", "{label}: audit");
                    let code = r.body["error"]["code"].as_str().unwrap();
                    assert!(
                        code == "access.denied" || code == "access.role",
                        "{label}: {code}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, rows.len() * 8);
}

/// The content routes beyond the four reads, in the same matrix: the case timeline, a
/// plain export, an evidence package, a report and the alert list. Each is called for a
/// selection inside the caller's reach and one outside it (c1 is alice's and team t1's,
/// c2 bob's and team t2's); lisa's grant covers c1 with view, export and pii.view.
#[tokio::test(flavor = "multi_thread")]
async fn authorization_matrix_of_every_other_content_route() {
    let w = world();
    type Call = (Method, &'static str, Option<Value>);
    let conv = |c: &str| json!({"conversations": [format!("wecom:{c}")]});
    let export = |c: &str, f: &str| json!({"conversation": format!("wecom:{c}"), "format": f});
    let cases: Vec<(&str, Call, Call)> = vec![
        (
            "timeline",
            (Method::POST, "/api/v1/timeline", Some(conv("c1"))),
            (Method::POST, "/api/v1/timeline", Some(conv("c2"))),
        ),
        (
            "export",
            (Method::POST, "/api/v1/exports", Some(export("c1", "json"))),
            (Method::POST, "/api/v1/exports", Some(export("c2", "json"))),
        ),
        (
            "evidence",
            (
                Method::POST,
                "/api/v1/exports",
                Some(export("c1", "evidence")),
            ),
            (
                Method::POST,
                "/api/v1/exports",
                Some(export("c2", "evidence")),
            ),
        ),
        (
            "report",
            (Method::GET, "/api/v1/reports/sla?team=t1", None),
            (Method::GET, "/api/v1/reports/sla?team=t2", None),
        ),
        (
            "alerts",
            (Method::GET, "/api/v1/alerts", None),
            (Method::GET, "/api/v1/alerts", None),
        ),
    ];
    // (user, with lisa's grant, per case (inside, outside)); alerts have no outside of
    // their own (the list is cut to the caller's teams), so both columns are one call.
    type Row = (&'static str, bool, [(u16, u16); 5]);
    let rows: &[Row] = &[
        (
            "alice",
            false,
            [(200, 403), (403, 403), (403, 403), (403, 403), (200, 200)],
        ),
        (
            "bob",
            false,
            [(403, 200), (403, 403), (403, 403), (403, 403), (200, 200)],
        ),
        (
            "lead1",
            false,
            [(200, 403), (403, 403), (403, 403), (200, 403), (200, 200)],
        ),
        (
            "lisa",
            false,
            [(403, 403), (403, 403), (403, 403), (403, 403), (403, 403)],
        ),
        (
            "lisa",
            true,
            [(200, 403), (200, 403), (200, 403), (403, 403), (403, 403)],
        ),
        (
            "boss",
            false,
            [(200, 200), (403, 403), (403, 403), (200, 200), (200, 200)],
        ),
        (
            "audi",
            false,
            [(403, 403), (403, 403), (403, 403), (403, 403), (403, 403)],
        ),
        (
            "root",
            false,
            [(403, 403), (403, 403), (403, 403), (403, 403), (200, 200)],
        ),
    ];
    let mut checked = 0;
    for (user, with_grant, expect) in rows {
        if *with_grant {
            w.grant_lisa(&["view", "export", "pii.view"], now_ms() + DAY)
                .await;
        }
        let s = w.login(user).await;
        for ((name, inside, outside), (want_in, want_out)) in cases.iter().zip(expect) {
            for ((method, uri, body), want, side) in
                [(inside, want_in, "inside"), (outside, want_out, "outside")]
            {
                let r = w.call(&s, method.clone(), uri, body.clone()).await;
                let label = format!(
                    "{user}{} {name} {side}",
                    if *with_grant { "+grant" } else { "" }
                );
                assert_eq!(r.status.as_u16(), *want, "{label}: {}", r.body);
                if *want == 200 {
                    if *name == "timeline" {
                        assert!(r.body["total"].as_u64().unwrap() > 0, "{label}: {}", r.body);
                    }
                } else {
                    let code = r.body["error"]["code"].as_str().unwrap_or_default();
                    assert!(
                        code.starts_with("access.") || code == "evidence.masked",
                        "{label}: {code}"
                    );
                    // Every refusal is audited as one.
                    let e = w.last_audit(user);
                    assert_eq!(
                        e.result,
                        chatvault_access::Outcome::Denied,
                        "{label}: audit {}",
                        e.action
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, rows.len() * 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_never_reveal_hidden_messages_and_pii_is_masked() {
    let w = world();
    let alice = w.login("alice").await;
    let r = w
        .call(
            &alice,
            Method::GET,
            "/api/v1/search?q=%E9%80%80%E6%AC%BE",
            None,
        )
        .await;
    // 退款 is in c1 (2), c2 (1, bob's) and c3 (20 days old): alice sees c1's two.
    assert_eq!(r.body["total"], 2, "{}", r.body);
    let hits = r.body["hits"].as_array().unwrap();
    assert!(hits.iter().all(|h| h["conversation"] == "wecom:c1"));
    let raw = String::from_utf8_lossy(&r.raw);
    assert!(
        raw.contains("138****5678") && !raw.contains("13812345678"),
        "{raw}"
    );
    let lead = w.login("lead1").await;
    assert_eq!(
        w.call(
            &lead,
            Method::GET,
            "/api/v1/search?q=%E9%80%80%E6%AC%BE",
            None
        )
        .await
        .body["total"],
        3,
        "team lead: c1 and the 20-day-old c3"
    );
    let boss = w.login("boss").await;
    assert_eq!(
        w.call(
            &boss,
            Method::GET,
            "/api/v1/search?q=%E9%80%80%E6%AC%BE",
            None
        )
        .await
        .body["total"],
        4
    );
    // A grant with pii.view shows the number in full; without it, masked.
    w.grant_lisa(&["view", "pii.view"], now_ms() + DAY).await;
    let lisa = w.login("lisa").await;
    let r = w
        .call(
            &lisa,
            Method::GET,
            &format!("/api/v1/messages/{}", w.ids["c1_text"]),
            None,
        )
        .await;
    assert_eq!(r.body["text"], "退款 请拨打 13812345678");
    let r = w
        .call(
            &boss,
            Method::GET,
            &format!("/api/v1/messages/{}", w.ids["c1_text"]),
            None,
        )
        .await;
    assert_eq!(r.body["text"], "退款 请拨打 138****5678");
    // The audit entry of the search holds no message text.
    let acc = w.state.access.lock().unwrap();
    let all = serde_json::to_string(&acc.audit_list(&AuditFilter::default()).unwrap()).unwrap();
    assert!(!all.contains("请拨打") && !all.contains("13812345678") && !all.contains(PW));
}

#[tokio::test(flavor = "multi_thread")]
async fn attack_idor() {
    let w = world();
    let alice = w.login("alice").await;
    let other = w
        .call(
            &alice,
            Method::GET,
            &format!("/api/v1/messages/{}", w.ids["c2_text"]),
            None,
        )
        .await;
    let missing = w
        .call(
            &alice,
            Method::GET,
            "/api/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV",
            None,
        )
        .await;
    let garbage = w
        .call(&alice, Method::GET, "/api/v1/messages/..%2F..%2Fetc", None)
        .await;
    for r in [&other, &missing, &garbage] {
        assert_eq!(r.status, 403);
    }
    assert_eq!(
        other.body, missing.body,
        "another's message and a missing one look the same"
    );
    let conv = w
        .call(
            &alice,
            Method::GET,
            "/api/v1/conversations/wecom:c2/messages?around=x",
            None,
        )
        .await;
    assert_eq!(conv.status, 403);
    // An agent may not read another agent's grants or requests either.
    w.grant_lisa(&["view"], now_ms() + DAY).await;
    let r = w.call(&alice, Method::GET, "/api/v1/grants", None).await;
    assert_eq!(r.body["grants"].as_array().unwrap().len(), 0);
    assert_eq!(
        w.audit_actions("alice")
            .iter()
            .filter(|a| *a == "access.denied")
            .count(),
        4
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn attack_expired_and_revoked_grants() {
    let w = world();
    let uri = format!("/api/v1/messages/{}", w.ids["c1_text"]);
    w.grant_lisa(&["view"], now_ms() + 1500).await;
    let lisa = w.login("lisa").await;
    assert_eq!(w.call(&lisa, Method::GET, &uri, None).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let r = w.call(&lisa, Method::GET, &uri, None).await;
    assert_eq!(r.status, 403, "expired grant: {}", r.body);
    assert_eq!(w.last_audit("lisa").action, "access.denied");
    let g = w.grant_lisa(&["view"], now_ms() + DAY).await;
    assert_eq!(w.call(&lisa, Method::GET, &uri, None).await.status, 200);
    let boss = w.login("boss").await;
    let r = w
        .call(
            &boss,
            Method::POST,
            &format!("/api/v1/grants/{g}/revoke"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        w.call(&lisa, Method::GET, &uri, None).await.status,
        403,
        "revoked grant"
    );
    // Self-approval is impossible, through the API too.
    let r = w
        .call(&lisa, Method::POST, "/api/v1/requests", Some(json!({"scope": {"conversations": ["wecom:c1"], "from": 0, "to": now_ms()}, "reason": "r", "case_number": "c", "rights": ["view"]})))
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = w
        .call(
            &lisa,
            Method::POST,
            &format!("/api/v1/requests/{id}/approve"),
            Some(json!({"comment": "", "expires_at": now_ms() + DAY})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["code"].as_str()),
        (403, Some("policy.self_approval"))
    );
    // An agent may not approve.
    let alice = w.login("alice").await;
    let r = w
        .call(
            &alice,
            Method::POST,
            &format!("/api/v1/requests/{id}/approve"),
            Some(json!({"comment": "", "expires_at": now_ms() + DAY})),
        )
        .await;
    assert_eq!(r.body["error"]["code"], "policy.not_approver");
}

#[tokio::test(flavor = "multi_thread")]
async fn attack_frozen_in_mid_session() {
    let w = world();
    let alice = w.login("alice").await;
    let uri = "/api/v1/search?q=%E9%80%80%E6%AC%BE";
    assert_eq!(w.call(&alice, Method::GET, uri, None).await.status, 200);
    let (_, token) = w
        .state
        .access
        .lock()
        .unwrap()
        .create_token("setup", "alice", TokenScope::Read, None)
        .unwrap();
    let bearer = Session {
        bearer: Some(token),
        ..Default::default()
    };
    assert_eq!(w.call(&bearer, Method::GET, uri, None).await.status, 200);
    let root = w.login("root").await;
    let r = w
        .call(
            &root,
            Method::POST,
            "/api/v1/users/alice/freeze",
            Some(json!({"reason": "离职"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["sessions_ended"], 1);
    let r = w.call(&alice, Method::GET, uri, None).await;
    assert_eq!(r.status, 401, "the session is gone: {}", r.body);
    assert_eq!(
        w.call(&bearer, Method::GET, uri, None).await.status,
        401,
        "the token is revoked"
    );
    let r = w
        .call(
            &Session::default(),
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": "alice", "password": PW})),
        )
        .await;
    assert_eq!(r.body["error"]["code"], "auth.frozen");
    assert!(
        w.audit_actions("root").contains(&"user.freeze".to_owned()),
        "the freeze is audited under the admin's name"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn attack_replayed_totp() {
    let w = world();
    let code = totp_code(&w.totp["boss"], now_ms()).unwrap();
    let body = json!({"username": "boss", "password": PW, "totp": code});
    let r = w
        .call(
            &Session::default(),
            Method::POST,
            "/api/v1/session",
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = w
        .call(
            &Session::default(),
            Method::POST,
            "/api/v1/session",
            Some(body),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["code"].as_str()),
        (401, Some("auth.totp_invalid"))
    );
    let r = w
        .call(
            &Session::default(),
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": "boss", "password": PW})),
        )
        .await;
    assert_eq!(r.body["error"]["code"], "auth.totp_required");
}

#[tokio::test(flavor = "multi_thread")]
async fn attack_brute_force() {
    let w = world();
    for i in 0..5 {
        let r = w
            .call(
                &Session::default(),
                Method::POST,
                "/api/v1/session",
                Some(json!({"username": "alice", "password": format!("guess {i}")})),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let r = w
        .call(
            &Session::default(),
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": "alice", "password": PW})),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(
        w.audit_actions("alice")
            .iter()
            .filter(|a| *a == "login.failure")
            .count(),
        6
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn attack_csrf() {
    let w = world();
    let lisa = w.login("lisa").await;
    let body = json!({"scope": {"conversations": ["wecom:c1"], "from": 0, "to": now_ms()}, "reason": "r", "case_number": "c", "rights": ["view"]});
    let no_token = Session {
        csrf: None,
        ..lisa.clone()
    };
    let wrong = Session {
        csrf: Some("forged".into()),
        ..lisa.clone()
    };
    for (name, s) in [("missing token", &no_token), ("wrong token", &wrong)] {
        let r = w
            .call(s, Method::POST, "/api/v1/requests", Some(body.clone()))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["error"]["code"].as_str()),
            (403, Some("auth.csrf")),
            "{name}"
        );
        assert_eq!(w.last_audit("lisa").action, "access.denied", "{name}");
    }
    let r = w
        .call(&no_token, Method::DELETE, "/api/v1/session", None)
        .await;
    assert_eq!(r.status, 403, "logout needs the token too");
    assert_eq!(
        w.call(&lisa, Method::POST, "/api/v1/requests", Some(body))
            .await
            .status,
        200
    );
    assert_eq!(
        w.state.access.lock().unwrap().requests(None).unwrap().len(),
        1,
        "only the request with the token was filed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn attack_tampered_audit_log() {
    let w = world();
    let audi = w.login("audi").await;
    let r = w
        .call(&audi, Method::GET, "/api/v1/audit/verify", None)
        .await;
    assert_eq!(r.body["ok"], true, "{}", r.body);
    let db = chatvault_store_sqlite::raw::Connection::open(w.data.join("access.db")).unwrap();
    db.execute(
        "UPDATE audit SET body = replace(body, '\"setup\"', '\"nobody\"') WHERE seq = 1",
        [],
    )
    .unwrap();
    let r = w
        .call(&audi, Method::GET, "/api/v1/audit/verify", None)
        .await;
    assert_eq!(r.body["ok"], false);
    assert!(
        r.body["errors"][0].as_str().unwrap().contains("entry 1"),
        "{}",
        r.body
    );
    // Only the auditor reads the log.
    let boss = w.login("boss").await;
    assert_eq!(
        w.call(&boss, Method::GET, "/api/v1/audit", None)
            .await
            .status,
        403
    );
    let r = w
        .call(
            &audi,
            Method::GET,
            "/api/v1/audit?actor=boss&action=login.success",
            None,
        )
        .await;
    let e = r.body["entries"].as_array().unwrap();
    assert_eq!(e.len(), 1);
    for k in ["seq", "time", "actor", "action", "target", "result"] {
        assert!(e[0].get(k).is_some() || k == "target", "{k}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_is_idempotent_limited_and_scoped() {
    let w = world();
    let (token, read_token, scoped) = {
        let mut acc = w.state.access.lock().unwrap();
        (
            acc.create_token("setup", "alice", TokenScope::Ingest, None)
                .unwrap()
                .1,
            acc.create_token("setup", "alice", TokenScope::Read, None)
                .unwrap()
                .1,
            acc.create_token("setup", "alice", TokenScope::Ingest, Some("slack"))
                .unwrap()
                .1,
        )
    };
    let s = Session {
        bearer: Some(token),
        ..Default::default()
    };
    let msg = |id: &str| json!({"platform":"wecom","conversation_id":"c9","sender_id":"alice","source_id":id,"sent_at":rfc(now_ms()),"text":"新消息"});
    let batch = json!({"messages": [msg("m1"), msg("m2"), {"platform":"wecom"}]});
    let r = w
        .call(&s, Method::POST, "/api/v1/messages", Some(batch.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let res = r.body["results"].as_array().unwrap();
    assert_eq!(res[0]["status"], "stored");
    assert!(res[0]["id"].as_str().unwrap().len() == 26);
    assert_eq!(res[1]["status"], "stored");
    assert_eq!(res[2]["status"], "rejected");
    assert!(
        res[2]["reason"].as_str().unwrap().contains("messages[2]"),
        "{}",
        res[2]
    );
    let r = w
        .call(&s, Method::POST, "/api/v1/messages", Some(batch))
        .await;
    let res = r.body["results"].as_array().unwrap();
    assert_eq!(
        (res[0]["status"].as_str(), res[1]["status"].as_str()),
        (Some("duplicate"), Some("duplicate")),
        "replay is idempotent"
    );
    // The stored messages are searchable at once, by someone who may see them.
    let boss = w.login("boss").await;
    assert_eq!(
        w.call(
            &boss,
            Method::GET,
            "/api/v1/search?q=%E6%96%B0%E6%B6%88%E6%81%AF",
            None
        )
        .await
        .body["total"],
        2
    );
    // Limits: too many messages, too many bytes.
    let many = json!({"messages": (0..1001).map(|i| msg(&format!("x{i}"))).collect::<Vec<_>>()});
    let r = w
        .call(&s, Method::POST, "/api/v1/messages", Some(many))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["code"].as_str()),
        (413, Some("ingest.too_large"))
    );
    let huge = json!({"messages": [{"platform":"wecom","conversation_id":"c9","sender_id":"a","sent_at":rfc(now_ms()),"text":"x".repeat(17 << 20)}]});
    let r = w
        .call(&s, Method::POST, "/api/v1/messages", Some(huge))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["code"].as_str()),
        (413, Some("request.too_large"))
    );
    // Scopes: a read token cannot ingest, an ingest token cannot read, a source-bound token
    // ingests only its source.
    let r = w
        .call(
            &Session {
                bearer: Some(read_token),
                ..Default::default()
            },
            Method::POST,
            "/api/v1/messages",
            Some(json!({"messages": []})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        w.call(&s, Method::GET, "/api/v1/search?q=x", None)
            .await
            .status,
        403
    );
    let r = w
        .call(
            &Session {
                bearer: Some(scoped),
                ..Default::default()
            },
            Method::POST,
            "/api/v1/messages",
            Some(json!({"messages": [msg("m3")]})),
        )
        .await;
    assert_eq!(r.body["results"][0]["status"], "rejected");
    // A read token cannot change anything either.
    let (_, read2) = w
        .state
        .access
        .lock()
        .unwrap()
        .create_token("setup", "lisa", TokenScope::Read, None)
        .unwrap();
    let r = w
        .call(&Session { bearer: Some(read2), ..Default::default() }, Method::POST, "/api/v1/requests", Some(json!({"scope": {"conversations": ["wecom:c1"], "from": 0, "to": 1}, "reason": "r", "case_number": "c", "rights": ["view"]})))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["code"].as_str()),
        (403, Some("auth.scope"))
    );
    let r = w.call(&s, Method::GET, "/api/v1/requests", None).await;
    assert_eq!(r.status, 403, "an ingest token lists nothing");
    // A session cannot ingest.
    let alice = w.login("alice").await;
    assert_eq!(
        w.call(
            &alice,
            Method::POST,
            "/api/v1/messages",
            Some(json!({"messages": []}))
        )
        .await
        .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_json_with_codes_and_headers_are_set() {
    let w = world();
    let cases: &[(&str, Method, &str, Option<Value>, u16, &str)] = &[
        (
            "unknown route",
            Method::GET,
            "/api/v1/nothing",
            None,
            404,
            "route.unknown",
        ),
        (
            "wrong method",
            Method::PUT,
            "/api/v1/search",
            None,
            405,
            "route.method",
        ),
        (
            "no session",
            Method::GET,
            "/api/v1/search",
            None,
            401,
            "auth.session",
        ),
        (
            "malformed login",
            Method::POST,
            "/api/v1/session",
            Some(json!({"user": "x"})),
            400,
            "input.invalid",
        ),
        (
            "wrong password",
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": "bob", "password": "nope"})),
            401,
            "auth.invalid",
        ),
    ];
    for (name, m, uri, body, status, code) in cases {
        let r = w
            .call(&Session::default(), m.clone(), uri, body.clone())
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["error"]["code"].as_str()),
            (*status, Some(*code)),
            "{name}: {}",
            r.body
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}"
        );
        for h in [
            "x-content-type-options",
            "x-frame-options",
            "content-security-policy",
            "referrer-policy",
            "cache-control",
        ] {
            assert!(r.headers.contains_key(h), "{name}: {h}");
        }
    }
    let alice = w.login("alice").await;
    let r = w
        .call(
            &alice,
            Method::GET,
            "/api/v1/search?q=a&from=yesterday",
            None,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["code"].as_str()),
        (400, Some("input.invalid"))
    );
    let r = w
        .call(&alice, Method::GET, "/api/v1/search?q=%22unclosed", None)
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

/// Every documented operation is routed, and every route is documented.
#[tokio::test(flavor = "multi_thread")]
async fn openapi_matches_the_routes() {
    let w = world();
    let doc: Value = serde_json::from_str(chatvault_server::OPENAPI).unwrap();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for m in ops.as_object().unwrap().keys() {
            documented.insert((m.to_uppercase(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = chatvault_server::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, routed,
        "the OpenAPI document and the route list differ"
    );
    // And the router really answers each one (not the unknown-route or wrong-method fallback).
    for (m, p) in &documented {
        let uri = p
            .replace("{id}", "x")
            .replace("{sha256}", "00")
            .replace("{name}", "alice");
        let r = w
            .call(
                &Session::default(),
                Method::from_bytes(m.as_bytes()).unwrap(),
                &uri,
                None,
            )
            .await;
        let code = r.body["error"]["code"].as_str().unwrap_or("");
        assert!(
            code != "route.unknown" && code != "route.method",
            "{m} {p}: {}",
            r.body
        );
    }
    let r = w
        .call(
            &Session::default(),
            Method::GET,
            "/api/v1/openapi.json",
            None,
        )
        .await;
    assert_eq!(r.body["openapi"], "3.1.0");
}

#[tokio::test]
async fn storage_only_data_is_blocked_except_by_a_grant_that_says_so() {
    let w = world();
    let boss = w.login("boss").await;
    let total = |r: &Resp| r.body["total"].as_u64().unwrap_or(0);
    let before = w
        .call(
            &boss,
            Method::GET,
            "/api/v1/search?q=%E9%80%80%E6%AC%BE",
            None,
        )
        .await;
    assert_eq!(total(&before), 4, "c1 (two), c2 and c3: {}", before.body);
    w.state
        .access()
        .unwrap()
        .restrict(
            "lisa",
            vec!["wecom:c1".into()],
            vec![],
            "用户撤回同意（个人信息保护法第四十七条）",
        )
        .unwrap();
    let after = w
        .call(
            &boss,
            Method::GET,
            "/api/v1/search?q=%E9%80%80%E6%AC%BE",
            None,
        )
        .await;
    assert_eq!(
        total(&after),
        2,
        "the executive no longer reads c1: {}",
        after.body
    );
    let alice = w.login("alice").await;
    let own = w
        .call(
            &alice,
            Method::GET,
            "/api/v1/conversations/wecom:c1/messages",
            None,
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "nor does its own agent");
    let msg = w
        .call(
            &boss,
            Method::GET,
            &format!("/api/v1/messages/{}", w.ids["c1_text"]),
            None,
        )
        .await;
    assert_eq!(msg.status, StatusCode::FORBIDDEN);
    // A grant with restricted.view reads it; one without does not.
    let lisa = w.login("lisa").await;
    let now = now_ms();
    for (rights, want) in [
        (json!(["view"]), 0u64),
        (json!(["view", "restricted.view"]), 2),
    ] {
        let req = json!({"scope": {"conversations": ["wecom:c1"], "from": now - 30 * DAY, "to": now}, "reason": "法定留存调取", "case_number": "C-47", "rights": rights});
        let r = w
            .call(&lisa, Method::POST, "/api/v1/requests", Some(req))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let a = w
            .call(
                &boss,
                Method::POST,
                &format!("/api/v1/requests/{id}/approve"),
                Some(json!({"expires_at": now + DAY})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let s = w
            .call(
                &lisa,
                Method::GET,
                "/api/v1/search?q=%E9%80%80%E6%AC%BE&conversation=wecom:c1",
                None,
            )
            .await;
        assert_eq!(total(&s), want, "rights {rights}: {}", s.body);
    }
}

#[tokio::test]
async fn conversation_exports_need_the_export_right_and_are_audited() {
    let w = world();
    let boss = w.login("boss").await;
    let r = w
        .call(
            &boss,
            Method::GET,
            "/api/v1/conversations/wecom:c1/export?format=csv",
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "the executive reads but may not export"
    );
    let lisa = w.login("lisa").await;
    let now = now_ms();
    let req = json!({"scope": {"conversations": ["wecom:c1"], "from": now - 30 * DAY, "to": now}, "reason": "取证", "case_number": "C-8", "rights": ["view", "export"]});
    let id = w
        .call(&lisa, Method::POST, "/api/v1/requests", Some(req))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = w
        .call(
            &boss,
            Method::POST,
            &format!("/api/v1/requests/{id}/approve"),
            Some(json!({"expires_at": now + DAY})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let cases = [
        ("csv", "text/csv; charset=utf-8"),
        ("json", "application/json"),
        ("html", "application/octet-stream"),
        ("pdf", "application/pdf"),
    ];
    for (fmt, mime) in cases {
        let r = w
            .call(
                &lisa,
                Method::GET,
                &format!("/api/v1/conversations/wecom:c1/export?format={fmt}"),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{fmt}: {}",
            String::from_utf8_lossy(&r.raw)
        );
        assert_eq!(r.headers["content-type"], mime, "{fmt}");
        assert!(
            r.headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment"),
            "{fmt}: always a download"
        );
        if fmt == "csv" {
            let text = String::from_utf8(r.raw.clone()).unwrap();
            assert!(
                text.starts_with('\u{FEFF}') && text.contains("138****5678"),
                "{text}"
            );
        }
    }
    let bad = w
        .call(
            &lisa,
            Method::GET,
            "/api/v1/conversations/wecom:c1/export?format=xls",
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let out = w
        .call(
            &lisa,
            Method::GET,
            "/api/v1/conversations/wecom:c2/export?format=json",
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::FORBIDDEN, "outside the grant");
    let audit = w
        .state
        .access()
        .unwrap()
        .audit_list(&AuditFilter {
            action: Some("export".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(audit.len(), 4);
    assert!(audit
        .iter()
        .all(|e| e.details["sha256"].as_str().is_some_and(|s| s.len() == 64)));
}

/// lisa's request over c1 with `rights`, approved by boss.
async fn lisa_granted(w: &World, rights: &[&str]) {
    let (lisa, boss, now) = (w.login("lisa").await, w.login("boss").await, now_ms());
    let req = json!({"scope": {"conversations": ["wecom:c1"], "from": now - 30 * DAY, "to": now}, "reason": "诉讼取证", "case_number": "（2026）京0105民初7号", "rights": rights});
    let id = w
        .call(&lisa, Method::POST, "/api/v1/requests", Some(req))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = w
        .call(
            &boss,
            Method::POST,
            &format!("/api/v1/requests/{id}/approve"),
            Some(json!({"expires_at": now + DAY})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn evidence_packages_over_the_api_verify_offline() {
    let w = world();
    let lisa = w.login("lisa").await;
    // Without pii.view the phone number would be masked: a package is never masked.
    lisa_granted(&w, &["view", "export"]).await;
    let r = w
        .call(
            &lisa,
            Method::GET,
            "/api/v1/conversations/wecom:c1/export?format=evidence",
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("evidence.masked")),
        "{}",
        r.body
    );
    lisa_granted(&w, &["view", "export", "pii.view"]).await;
    let r = w
        .call(
            &lisa,
            Method::GET,
            "/api/v1/conversations/wecom:c1/export?format=evidence",
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.raw)
    );
    assert_eq!(r.headers["content-type"], "application/zip");
    let report = chatvault_evidence::check("api.zip", std::io::Cursor::new(r.raw.clone())).unwrap();
    assert!(report.ok && report.messages == 3, "{report:?}");
    // The custody names the request, its case number and the API as the tool.
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(r.raw)).unwrap();
    let custody: Value = serde_json::from_reader(z.by_name("custody.json").unwrap()).unwrap();
    assert!(
        custody["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["case_number"] == "（2026）京0105民初7号"),
        "{custody}"
    );
    assert!(
        custody["export"]["tool"]
            .as_str()
            .unwrap()
            .contains("HTTP API"),
        "{custody}"
    );
    // A query's matches, in the body (never the URL): only what the grant covers.
    let q = w
        .call(
            &lisa,
            Method::POST,
            "/api/v1/exports",
            Some(json!({"query": "退款", "format": "evidence"})),
        )
        .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    let report = chatvault_evidence::check("q.zip", std::io::Cursor::new(q.raw)).unwrap();
    assert!(
        report.ok && report.messages == 2 && report.selection == "query 退款",
        "c1's two 退款 messages, not c2's or c3's: {report:?}"
    );
    let csv = w
        .call(
            &lisa,
            Method::POST,
            "/api/v1/exports",
            Some(json!({"query": "退款", "from": rfc(now_ms() - 2 * DAY), "format": "csv"})),
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    let text = String::from_utf8(csv.raw).unwrap();
    assert!(
        text.contains("什么时候到账") && !text.contains("另一位客户"),
        "{text}"
    );
    // Out of reach: refused and audited, never an empty file.
    let out = w
        .call(
            &lisa,
            Method::POST,
            "/api/v1/exports",
            Some(json!({"conversation": "wecom:c2", "format": "evidence"})),
        )
        .await;
    assert_eq!(out.status, StatusCode::FORBIDDEN, "{}", out.body);
    let none = w
        .call(
            &lisa,
            Method::POST,
            "/api/v1/exports",
            Some(json!({"query": "另一位客户", "format": "json"})),
        )
        .await;
    assert_eq!(none.status, StatusCode::FORBIDDEN, "{}", none.body);
    // Malformed bodies name the field.
    for (name, body, want) in [
        (
            "both",
            json!({"conversation": "wecom:c1", "query": "x", "format": "json"}),
            "exactly one",
        ),
        ("neither", json!({"format": "json"}), "exactly one"),
        (
            "bad format",
            json!({"query": "x", "format": "xls"}),
            "format",
        ),
        (
            "bad time",
            json!({"query": "x", "from": "yesterday", "format": "json"}),
            "from",
        ),
        (
            "reversed",
            json!({"query": "x", "from": "2026-02-01", "to": "2026-01-01", "format": "json"}),
            "after",
        ),
        (
            "unknown field",
            json!({"query": "x", "format": "json", "colour": 1}),
            "colour",
        ),
    ] {
        let r = w
            .call(&lisa, Method::POST, "/api/v1/exports", Some(body))
            .await;
        // Well-formed JSON of the wrong shape too: `input.invalid` has one status, 400.
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.body);
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(want),
            "{name}: {}",
            r.body
        );
    }
    let audit = w
        .state
        .access()
        .unwrap()
        .audit_list(&AuditFilter {
            action: Some("export".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.details["evidence"] == true)
            .count(),
        2,
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_links_over_the_api_are_for_legal_and_admin_and_the_timeline_follows_them() {
    let w = world();
    let (lisa, alice) = (w.login("lisa").await, w.login("alice").await);
    let r = w
        .call(
            &alice,
            Method::POST,
            "/api/v1/identities",
            Some(json!({"handles": ["wecom:cust1", "wecom:bob"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "an agent links no one");
    let r = w
        .call(
            &lisa,
            Method::POST,
            "/api/v1/identities",
            Some(json!({"handles": ["wecom:cust1"]})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "one handle is not a link: {}",
        r.body
    );
    let r = w
        .call(
            &lisa,
            Method::POST,
            "/api/v1/identities",
            Some(json!({"handles": ["cust1", "wecom:bob"]})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a handle without its platform: {}",
        r.body
    );
    let link = w
        .call(
            &lisa,
            Method::POST,
            "/api/v1/identities",
            Some(json!({"handles": ["wecom:cust1", "wecom:bob"], "name": "王女士"})),
        )
        .await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.body);
    let id = link.body["id"].as_str().unwrap().to_owned();
    let list = w.call(&lisa, Method::GET, "/api/v1/identities", None).await;
    assert_eq!(list.body["links"][0]["name"], "王女士");
    let s = w
        .call(
            &w.login("root").await,
            Method::GET,
            "/api/v1/identities/suggestions",
            None,
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    assert!(s.body["suggestions"].is_array());
    // boss (everything, read only) builds a timeline from cust1: the link brings in bob's c2.
    let boss = w.login("boss").await;
    let t = w
        .call(
            &boss,
            Method::POST,
            "/api/v1/timeline",
            Some(json!({"participants": ["wecom:cust1"]})),
        )
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    let convs: BTreeSet<&str> = t.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["conversation"].as_str().unwrap())
        .collect();
    assert_eq!(
        convs,
        BTreeSet::from(["wecom:c1", "wecom:c2"]),
        "{}",
        t.body
    );
    assert!(t.body["handles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["id"] == "bob"));
    let times: Vec<&str> = t.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sent_at"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|x| x[0] <= x[1]),
        "oldest first: {times:?}"
    );
    let r = w
        .call(
            &lisa,
            Method::DELETE,
            &format!("/api/v1/identities/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let t = w
        .call(
            &boss,
            Method::POST,
            "/api/v1/timeline",
            Some(json!({"participants": ["wecom:cust1"]})),
        )
        .await;
    assert!(
        t.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["conversation"] == "wecom:c1"),
        "unlinked: {}",
        t.body
    );
    let acts = w.audit_actions("lisa");
    assert_eq!(
        acts.iter().filter(|a| *a == "identity.link").count(),
        2,
        "{acts:?}"
    );
}

/// Regression (issue 16): the timeline re-read each hit unfiltered and copied back only
/// the masked text, so an agent without `pii.view` saw a customer's phone number as the
/// sender and in the sender's name, masked in `/search`.
#[tokio::test(flavor = "multi_thread")]
async fn the_timeline_masks_senders_as_search_does() {
    let w = world();
    let line = json!({"platform":"wecom","conversation_id":"c1","sender_id":"13812345678","sender_name":"王女士 13812345678","sender_role":"customer","sent_at":rfc(now_ms() - DAY + 3000),"text":"退款 还没到"});
    let m = parse_line(&line.to_string())
        .unwrap()
        .into_new_message(
            line.to_string().into_bytes(),
            Origin {
                file: "t".into(),
                line: 1,
            },
            &mut |_| Err("no".into()),
        )
        .unwrap();
    w.state.archive_for_tests().ingest(vec![m]).unwrap();
    let alice = w.login("alice").await;
    let t = w
        .call(
            &alice,
            Method::POST,
            "/api/v1/timeline",
            Some(json!({"participants": ["wecom:cust1"]})),
        )
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    let shown = t.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"].as_str().is_some_and(|x| x.contains("还没到")))
        .unwrap_or_else(|| panic!("the customer's message is in alice's timeline: {}", t.body))
        .clone();
    assert_eq!(
        (shown["sender"].as_str(), shown["sender_name"].as_str()),
        (Some("138****5678"), Some("王女士 138****5678")),
        "{shown}"
    );
    assert!(!t.body.to_string().contains("13812345678"), "{}", t.body);
    let s = w
        .call(
            &alice,
            Method::GET,
            "/api/v1/search?q=%E8%BF%98%E6%B2%A1%E5%88%B0",
            None,
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    assert!(!s.body.to_string().contains("13812345678"), "{}", s.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_are_for_team_leads_of_their_team_and_executives() {
    let w = world();
    let (alice, lead, boss) = (
        w.login("alice").await,
        w.login("lead1").await,
        w.login("boss").await,
    );
    let r = w
        .call(&alice, Method::GET, "/api/v1/reports/sla", None)
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("access.role")),
        "an agent reads no reports"
    );
    let r = w
        .call(&lead, Method::GET, "/api/v1/reports/sla", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["team"], "t1", "a team lead's report is their team's");
    let r = w
        .call(&lead, Method::GET, "/api/v1/reports/sla?team=t2", None)
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("access.team"))
    );
    for kind in ["sla", "agents", "hours", "topics", "quality"] {
        let r = w
            .call(
                &boss,
                Method::GET,
                &format!("/api/v1/reports/{kind}?from=2020-01-01&team=t2&business_hours=true"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{kind}: {}", r.body);
        assert_eq!(
            (r.body["report"].as_str(), r.body["team"].as_str()),
            (Some(kind), Some("t2"))
        );
    }
    for (name, uri) in [
        ("kind", "/api/v1/reports/speed"),
        ("date", "/api/v1/reports/sla?from=yesterday"),
        (
            "reversed",
            "/api/v1/reports/sla?from=2026-02-01&to=2026-01-01",
        ),
    ] {
        let r = w.call(&boss, Method::GET, uri, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.body);
    }
    assert!(
        w.audit_actions("boss")
            .iter()
            .filter(|a| *a == "report.view")
            .count()
            == 5
    );
    assert!(
        w.data.join("analytics.db").exists(),
        "the cache sits in the data folder"
    );
}

/// Every numeric parameter of every route, at the extremes (and past them), from each
/// role that reaches the most: no answer is a server error, every refusal is the
/// documented JSON error, and afterwards reads and ingest still work. A page far past
/// the end is an empty page.
#[tokio::test(flavor = "multi_thread")]
async fn extreme_numbers_on_every_route_leave_the_server_working() {
    let w = world();
    const EXTREMES: &[&str] = &[
        "0",
        "-1",
        "1",
        "4294967296",
        "9007199254740993",
        "1152921504606846976",
        "4611686018427387904",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "1e308",
        "NaN",
        "abc",
        "",
    ];
    let doc: Value = serde_json::from_str(chatvault_server::OPENAPI).unwrap();
    let numeric = ["limit", "offset", "from", "to", "around"];
    let mut requests: Vec<(Method, String, Option<Value>)> = vec![];
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let Some(get) = ops.get("get") else { continue };
        let base = path
            .replace("{id}", "wecom:c1")
            .replace("{kind}", "sla")
            .replace("{sha256}", "00");
        for p in get["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap();
            if p["in"] != "query" || !numeric.contains(&name) {
                continue;
            }
            for v in EXTREMES {
                let q = if path.contains("search") {
                    "q=%E9%80%80%E6%AC%BE&"
                } else {
                    ""
                };
                requests.push((Method::GET, format!("{base}?{q}{name}={v}"), None));
            }
        }
    }
    for v in EXTREMES {
        requests.push((Method::POST, format!("/api/v1/alerts/{v}/ack"), None));
        let n: Value = serde_json::from_str(v).unwrap_or(Value::String((*v).into()));
        for field in ["limit", "offset", "from", "to"] {
            let mut body = json!({"participants": ["wecom:alice"], "conversations": ["wecom:c1"]});
            body[field] = n.clone();
            requests.push((Method::POST, "/api/v1/timeline".into(), Some(body)));
        }
        requests.push((
            Method::POST,
            "/api/v1/exports".into(),
            Some(json!({"format": "jsonl", "query": "退款", "from": n.clone(), "to": n.clone()})),
        ));
    }
    assert!(requests.len() > 150, "{} requests", requests.len());
    for user in ["boss", "root", "audi", "alice", "lead1"] {
        let s = w.login(user).await;
        for (m, uri, body) in &requests {
            let r = w.call(&s, m.clone(), uri, body.clone()).await;
            assert!(
                r.status.as_u16() < 500,
                "{user} {m} {uri} {body:?}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.raw)
            );
            if r.status.is_client_error() {
                assert!(
                    r.body["error"]["code"].is_string(),
                    "{user} {m} {uri}: a refusal is the JSON error: {}",
                    String::from_utf8_lossy(&r.raw)
                );
            }
        }
    }
    // Far past the end: an empty page with the whole count.
    let boss = w.login("boss").await;
    let r = w
        .call(
            &boss,
            Method::GET,
            "/api/v1/search?q=%E9%80%80%E6%AC%BE&offset=1000000000",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["hits"].as_array().map(Vec::len), Some(0));
    assert_eq!(r.body["total"], 4);
    // Still serving: reads and ingest work.
    let r = w
        .call(
            &boss,
            Method::GET,
            "/api/v1/search?q=%E9%80%80%E6%AC%BE",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total"], 4);
    let token = {
        let mut acc = w.state.access.lock().unwrap();
        acc.create_token("setup", "alice", TokenScope::Ingest, None)
            .unwrap()
            .1
    };
    let ingest = Session {
        bearer: Some(token),
        ..Session::default()
    };
    let r = w
        .call(
            &ingest,
            Method::POST,
            "/api/v1/messages",
            Some(json!({"messages": [{"platform":"wecom","conversation_id":"c9","sender_id":"alice","sent_at":rfc(now_ms()),"text":"之后还能写入"}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = w
        .call(
            &boss,
            Method::GET,
            "/api/v1/search?q=%E4%B9%8B%E5%90%8E%E8%BF%98%E8%83%BD",
            None,
        )
        .await;
    assert_eq!(r.body["total"], 1, "{}", r.body);
}

/// A panic inside one request answers that request with a 500 and leaves the archive
/// usable for the next: the lock it held is taken back.
#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_request_does_not_poison_the_next() {
    let w = world();
    let state = w.state.clone();
    let poisoned = std::thread::spawn(move || {
        let _held = state.archive_for_tests();
        panic!("a request fails half-way");
    })
    .join();
    assert!(poisoned.is_err());
    let boss = w.login("boss").await;
    let r = w
        .call(
            &boss,
            Method::GET,
            "/api/v1/search?q=%E9%80%80%E6%AC%BE",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total"], 4);
}

/// A reader without `pii.view` cannot recover masked digits by searching: text inside a
/// masked span never matches, so hits, counts and snippets agree with what is shown.
/// The executive (all reach, masked) and the agent (own conversations) alike.
#[tokio::test(flavor = "multi_thread")]
async fn searches_never_confirm_masked_personal_data() {
    let w = world();
    // (query, hits an unmasked reader would get, hits a masked reader gets)
    let cases: &[(&str, u64)] = &[
        ("138", 1),  // shown: 138****5678
        ("5678", 1), // shown
        ("1381", 0), // the first hidden digit
        ("13812", 0),
        ("2345", 0),
        ("13812345678", 0),
        ("退款 -1234", 2), // a negation inside the mask hides nothing
        ("退款 -请拨打", 1),
    ];
    for user in ["alice", "boss"] {
        let s = w.login(user).await;
        for (q, want) in cases {
            let uri = format!("/api/v1/search?q={}&conversation=wecom:c1", urlencode(q));
            let r = w.call(&s, Method::GET, &uri, None).await;
            assert_eq!(r.status, 200, "{user} {q}: {}", r.body);
            assert_eq!(r.body["total"], *want, "{user} `{q}`: {}", r.body);
            assert_eq!(
                r.body["hits"].as_array().map(|h| h.len() as u64),
                Some(*want),
                "{user} `{q}`"
            );
            assert!(
                !String::from_utf8_lossy(&r.raw).contains("1234"),
                "{user} `{q}`"
            );
        }
    }
    // Nor can the sender filter confirm personal data used as a handle.
    for user in ["alice", "boss"] {
        let s = w.login(user).await;
        let r = w
            .call(
                &s,
                Method::GET,
                "/api/v1/search?q=&sender=13812345678",
                None,
            )
            .await;
        assert_eq!(r.status, 400, "{user}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "input.invalid");
    }
    // With pii.view (a grant), the full number is found.
    w.grant_lisa(&["view", "pii.view"], now_ms() + DAY).await;
    let lisa = w.login("lisa").await;
    let r = w
        .call(&lisa, Method::GET, "/api/v1/search?q=13812345678", None)
        .await;
    assert_eq!(r.body["total"], 1, "{}", r.body);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Capture sources over the API: admins add (secrets never answered), list with
/// figures, read the quarantine and remove; nobody else may; a chat archive source,
/// which loads code from `sdk_path`, is the console's to add.
#[tokio::test(flavor = "multi_thread")]
async fn capture_sources_over_the_api_are_for_admins() {
    let w = world();
    let root = w.login("root").await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = json!({"name": "crm", "kind": "webhook", "secrets": {"secret": secret}});
    let r = w
        .call(&root, Method::POST, "/api/v1/sources", Some(body.clone()))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["secrets"], json!(["secret"]));
    assert!(!r.body.to_string().contains("MfKQ9r8G"));
    type Case = (&'static str, Value, &'static str);
    let refused: Vec<Case> = vec![
        ("a name that is taken", body.clone(), "exists"),
        (
            "a kind there is no connector for",
            json!({"name": "t", "kind": "teams"}),
            "kind `teams`",
        ),
        (
            "a secret missing",
            json!({"name": "s2", "kind": "slack"}),
            "signing_secret",
        ),
        (
            "an unknown field",
            json!({"name": "s3", "kind": "slack", "colour": "red"}),
            "colour",
        ),
        (
            "a chat archive source, which loads code",
            json!({"name": "arch", "kind": "wecom-archive", "settings": {"receive_id": "ww1", "sdk_path": "/tmp/evil.so"},
                   "secrets": {"corp_secret": "x", "private_key": "y"}}),
            "chatvault source add",
        ),
    ];
    for (name, b, says) in refused {
        let r = w
            .call(&root, Method::POST, "/api/v1/sources", Some(b))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["error"]["code"].as_str()),
            (400, Some("input.invalid")),
            "{name}: {}",
            r.body
        );
        assert!(r.body.to_string().contains(says), "{name}: {}", r.body);
    }
    let r = w.call(&root, Method::GET, "/api/v1/sources", None).await;
    assert_eq!(r.status, 200);
    let s = &r.body["sources"][0];
    assert_eq!(
        (s["name"].as_str(), s["endpoint"].as_str()),
        (Some("crm"), Some("/hooks/crm"))
    );
    assert_eq!(s["figures"]["stored"], 0);
    assert_eq!(s["quarantine"], 0);
    let r = w
        .call(&root, Method::GET, "/api/v1/sources/crm/quarantine", None)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["events"].clone()),
        (200, json!([]))
    );
    let r = w
        .call(
            &root,
            Method::GET,
            "/api/v1/sources/nobody/quarantine",
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    for user in ["alice", "lead1", "lisa", "boss", "audi"] {
        let s = w.login(user).await;
        for (m, path) in [
            (Method::GET, "/api/v1/sources"),
            (Method::GET, "/api/v1/sources/crm/quarantine"),
            (Method::POST, "/api/v1/sources/crm/replay"),
            (Method::DELETE, "/api/v1/sources/crm"),
            (Method::GET, "/metrics"),
        ] {
            let r = w.call(&s, m.clone(), path, None).await;
            assert_eq!(r.status, 403, "{user} {m} {path}: {}", r.body);
        }
    }
    let r = w.call(&root, Method::GET, "/metrics", None).await;
    assert_eq!(r.status, 200, "an admin reads the metrics");
    let r = w
        .call(&root, Method::DELETE, "/api/v1/sources/crm", None)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["removed"].as_bool()),
        (200, Some(true))
    );
    let r = w
        .call(&root, Method::DELETE, "/api/v1/sources/crm", None)
        .await;
    assert_eq!(r.status, 404, "removed once");
}
