//! The live SLA monitor end to end: the real server, messages posted to the ingest API,
//! and a local webhook receiver that checks every signature. A customer left unanswered
//! raises an alert within 1 s of the blue threshold (the first delivery is refused, so it
//! is retried), it escalates to the team lead at the yellow threshold, the team lead
//! acknowledges it (seen on the SSE feed and in the audit log), the server is killed
//! and started again with the alert still open, and the agent's reply resolves it.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};

mod common;
use common::{http, login, request, run_with};

const PW: &str = "alerts-e2e-password";
const SECRET: &str = "e2e-webhook-secret-0123";

/// One webhook request as the receiver saw it.
struct Hook {
    at_ms: i64,
    delivery: String,
    signed: bool,
    body: Value,
}

/// A webhook receiver on a free port: answers 500 to the first request (to make the
/// server retry), 200 after; sends each request, with its arrival time, down the channel.
fn receiver() -> (String, mpsc::Receiver<Hook>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, conn) in l.incoming().enumerate() {
            let Ok(mut s) = conn else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut headers = vec![];
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                headers.push(line.trim_end().to_owned());
            }
            let at_ms = chrono::Utc::now().timestamp_millis();
            let header = |k: &str| {
                headers
                    .iter()
                    .find_map(|h| {
                        h.split_once(':')
                            .filter(|(n, _)| n.eq_ignore_ascii_case(k))
                            .map(|(_, v)| v.trim().to_owned())
                    })
                    .unwrap_or_default()
            };
            let len: usize = header("content-length").parse().unwrap_or(0);
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(header("x-chatvault-timestamp").as_bytes());
            mac.update(b".");
            mac.update(&body);
            let signed = header("x-chatvault-signature")
                == format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            let status = if n == 0 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = s.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            let _ = tx.send(Hook {
                at_ms,
                delivery: header("x-chatvault-delivery"),
                signed,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
        }
    });
    (addr, rx)
}

/// The next webhook whose event is `event` (others are kept in `seen`), within `wait`.
fn next_hook(rx: &mpsc::Receiver<Hook>, event: &str, wait: Duration, seen: &mut Vec<Hook>) -> Hook {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no {event} webhook within {wait:?}"));
        let h = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {event} webhook within {wait:?}"));
        assert!(h.signed, "every delivery is signed: {}", h.body);
        if h.body["event"] == event {
            return h;
        }
        seen.push(h);
    }
}

/// Reads the SSE feed on its own thread: each `event:` name with its data.
fn feed(addr: &str, cookie: &str) -> mpsc::Receiver<(String, Value)> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("GET /api/v1/alerts/stream HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n").as_bytes()).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = BufReader::new(s);
        let mut event = String::new();
        for line in r.lines() {
            let Ok(line) = line else { break };
            if let Some(e) = line
                .strip_prefix("event: ")
                .or_else(|| line.strip_prefix("event:"))
            {
                event = e.trim().to_owned();
            } else if let Some(d) = line
                .strip_prefix("data: ")
                .or_else(|| line.strip_prefix("data:"))
            {
                let _ = tx.send((
                    event.clone(),
                    serde_json::from_str(d.trim()).unwrap_or(Value::Null),
                ));
            }
        }
    });
    rx
}

fn rfc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[test]
fn an_unanswered_customer_is_alerted_escalated_acknowledged_and_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_eq!(run_with(&data, &["init"], None).0, 0);
    let mut totp = std::collections::HashMap::new();
    for (name, args) in [
        (
            "amy",
            vec![
                "--role",
                "agent",
                "--team",
                "service",
                "--handle",
                "wecom:amy",
            ],
        ),
        ("tom", vec!["--role", "team_lead", "--team", "service"]),
        ("boss", vec!["--role", "executive"]),
        ("ops", vec!["--role", "admin"]),
        ("audrey", vec!["--role", "auditor"]),
    ] {
        let mut a = vec!["--json", "user", "add", name];
        a.extend(args);
        let (code, out, err) = run_with(&data, &a, Some(PW));
        assert_eq!(code, 0, "{out}{err}");
        let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        if let Some(uri) = v["otpauth"].as_str() {
            totp.insert(name, chatvault_access::users::otpauth_secret(uri).unwrap());
        }
    }
    let (code, out, err) = run_with(
        &data,
        &[
            "token", "create", "ops", "--scope", "ingest", "--source", "wecom",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("cvt_"))
        .unwrap()
        .to_owned();

    let (hook_addr, hooks) = receiver();
    let cfg = dir.path().join("chatvault.toml");
    std::fs::write(
        &cfg,
        format!("[analytics.alerts]\nblue_seconds = 2\nyellow_seconds = 5\nred_seconds = 3600\nstalled_source_seconds = 3600\nwebhooks = [\"http://{hook_addr}/hook\"]\nwebhook_secret = \"{SECRET}\"\n"),
    )
    .unwrap();
    let server = common::start(&data, &["--config", cfg.to_str().unwrap()]);
    let addr = server.addr.clone();
    let code_for = |u: &str| {
        totp.get(u).map(|s| {
            chatvault_access::users::totp_code(s, chrono::Utc::now().timestamp_millis()).unwrap()
        })
    };
    let ingest = |addr: &str, msgs: Value| {
        let r = request(
            addr,
            "POST",
            "/api/v1/messages",
            &[format!("Authorization: Bearer {token}")],
            Some(&json!({ "messages": msgs })),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["status"] == "stored"),
            "{}",
            r.body
        );
    };
    let msg = |sender: &str, role: &str, sent_ms: i64, text: &str| json!({"platform": "wecom", "conversation_id": "c-42", "sender_id": sender, "sender_role": role, "sent_at": rfc(sent_ms), "text": text});

    // The team lead watches the live feed.
    let (tom, tom_csrf) = login(&addr, "tom", PW, code_for("tom"));
    let events = feed(&addr, &tom);
    std::thread::sleep(Duration::from_millis(300));

    // The agent greets; the customer asks and is left waiting.
    let now = chrono::Utc::now().timestamp_millis();
    ingest(
        &addr,
        json!([msg(
            "amy",
            "agent",
            now - 60_000,
            "您好，请问有什么可以帮您？"
        )]),
    );
    // In another conversation the customer only says thanks: nothing to answer, so it
    // opens no wait (the `waiting` counts below would show it).
    let other = |sender: &str, role: &str, sent_ms: i64, text: &str| json!({"platform": "wecom", "conversation_id": "c-43", "sender_id": sender, "sender_role": role, "sent_at": rfc(sent_ms), "text": text});
    ingest(
        &addr,
        json!([
            other("amy", "agent", now - 30_000, "已为您办理退货"),
            other("cust-2", "customer", now, "好的，谢谢！")
        ]),
    );
    let asked = chrono::Utc::now().timestamp_millis();
    ingest(
        &addr,
        json!([msg("cust-1", "customer", asked, "我的快递三天没到了")]),
    );

    // Raised within 1 s of the blue threshold; the refused first delivery is retried.
    let mut others = vec![];
    let raised = next_hook(&hooks, "alert.raised", Duration::from_secs(10), &mut others);
    let late = raised.at_ms - (asked + 2000);
    assert!(
        (0..1000).contains(&late),
        "raised {late} ms after the threshold"
    );
    let a = &raised.body["alert"];
    assert_eq!(
        (
            a["tier"].as_str(),
            a["notify"].as_str(),
            a["agent"].as_str(),
            a["team"].as_str(),
            a["conversation"].as_str()
        ),
        (
            Some("blue"),
            Some("agent"),
            Some("wecom:amy"),
            Some("service"),
            Some("wecom:c-42")
        )
    );
    assert_eq!(raised.body["recipients"], json!(["amy"]));
    let retry = next_hook(&hooks, "alert.raised", Duration::from_secs(5), &mut others);
    assert_eq!(
        retry.delivery, raised.delivery,
        "the retry is the same delivery"
    );
    assert!(
        retry.at_ms - raised.at_ms >= 900,
        "retried after the 1 s backoff"
    );
    let id = a["id"].as_u64().unwrap();

    // Escalated to the team lead at the yellow threshold.
    let esc = next_hook(
        &hooks,
        "alert.escalated",
        Duration::from_secs(10),
        &mut others,
    );
    let late = esc.at_ms - (asked + 5000);
    assert!(
        (0..1000).contains(&late),
        "escalated {late} ms after the threshold"
    );
    assert_eq!(
        (
            esc.body["alert"]["tier"].as_str(),
            esc.body["alert"]["notify"].as_str()
        ),
        (Some("yellow"), Some("team_lead"))
    );
    assert_eq!(esc.body["recipients"], json!(["tom"]));
    let steps: Vec<&str> = esc.body["alert"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["notify"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["agent", "team_lead"]);

    // Who sees it: the team lead and the executive; not the auditor.
    let r = http(&addr, "GET", "/api/v1/alerts", Some(&tom), None, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            r.body["waiting"].as_u64(),
            r.body["alerts"][0]["id"].as_u64()
        ),
        (Some(1), Some(id))
    );
    let src = &r.body["sources"][0];
    assert_eq!(src["source"], "wecom");
    // Four messages: the customers', posted as sent, and the agents', posted 30 s and a minute late.
    assert_eq!(src["messages"], 4, "{src}");
    assert!(
        src["p50_ms"].as_i64().unwrap() < 2000 && src["p99_ms"].as_i64().unwrap() >= 60_000,
        "{src}"
    );
    let (audrey, _) = login(&addr, "audrey", PW, code_for("audrey"));
    assert_eq!(
        http(&addr, "GET", "/api/v1/alerts", Some(&audrey), None, None).status,
        403
    );

    // Acknowledged by the team lead: who and when; a second acknowledgement is refused.
    let r = http(
        &addr,
        "POST",
        &format!("/api/v1/alerts/{id}/ack"),
        Some(&tom),
        Some(&tom_csrf),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["alert"]["ack"]["by"], "tom");
    let r = http(
        &addr,
        "POST",
        &format!("/api/v1/alerts/{id}/ack"),
        Some(&tom),
        Some(&tom_csrf),
        None,
    );
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (409, Some("alert.state"))
    );
    assert_eq!(
        http(
            &addr,
            "POST",
            "/api/v1/alerts/999/ack",
            Some(&tom),
            Some(&tom_csrf),
            None
        )
        .status,
        404
    );
    let acked = next_hook(
        &hooks,
        "alert.acknowledged",
        Duration::from_secs(5),
        &mut others,
    );
    assert_eq!(acked.body["alert"]["ack"]["by"], "tom");

    // The team lead's feed saw each step, in order.
    let mut names = vec![];
    while names.len() < 3 {
        let (name, data) = events
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("the feed stopped after {names:?}"));
        assert_eq!(data["alert"]["id"].as_u64(), Some(id));
        names.push(name);
    }
    assert_eq!(
        names,
        ["alert.raised", "alert.escalated", "alert.acknowledged"]
    );

    // Every attempt is logged: the refused one, then the retry.
    let (boss, _) = login(&addr, "boss", PW, code_for("boss"));
    let r = http(
        &addr,
        "GET",
        "/api/v1/alerts/deliveries",
        Some(&boss),
        None,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut log: Vec<(String, u64, bool)> = r.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["event"].as_str().unwrap().to_owned(),
                d["attempt"].as_u64().unwrap(),
                d["ok"] == true,
            )
        })
        .collect();
    log.reverse();
    let want = |e: &str, n: u64, ok: bool| (e.to_owned(), n, ok);
    assert_eq!(
        log,
        [
            want("alert.raised", 1, false),
            want("alert.raised", 2, true),
            want("alert.escalated", 1, true),
            want("alert.acknowledged", 1, true)
        ]
    );

    // The server is killed and started again: the acknowledged alert is still open.
    std::thread::sleep(Duration::from_millis(2500));
    drop(server);
    let server = common::start(&data, &["--config", cfg.to_str().unwrap()]);
    let addr = server.addr.clone();
    let r = http(&addr, "GET", "/api/v1/alerts", Some(&tom), None, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let a = &r.body["alerts"][0];
    assert_eq!(
        (
            r.body["waiting"].as_u64(),
            a["id"].as_u64(),
            a["tier"].as_str(),
            a["ack"]["by"].as_str()
        ),
        (Some(1), Some(id), Some("yellow"), Some("tom")),
        "{}",
        r.body
    );
    let events = feed(&addr, &tom);
    std::thread::sleep(Duration::from_millis(300));

    // The agent answers: resolved.
    ingest(
        &addr,
        json!([msg(
            "amy",
            "agent",
            chrono::Utc::now().timestamp_millis(),
            "抱歉久等，已为您催件"
        )]),
    );
    let resolved = next_hook(
        &hooks,
        "alert.resolved",
        Duration::from_secs(5),
        &mut others,
    );
    assert_eq!(resolved.body["alert"]["resolved"]["reason"], "answered");
    assert_eq!(resolved.body["alert"]["resolved"]["by"], "wecom:amy");
    let (name, data_) = events.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (name.as_str(), data_["alert"]["id"].as_u64()),
        ("alert.resolved", Some(id))
    );
    let r = http(&addr, "GET", "/api/v1/alerts", Some(&tom), None, None);
    assert_eq!(r.body["waiting"], 0);
    others.extend(hooks.try_iter());
    assert!(
        others
            .iter()
            .all(|h| h.body["alert"]["conversation"] == "wecom:c-42"),
        "no alert for the customer who said thanks"
    );
    let file = std::fs::read_to_string(data.join("alerts-webhooks.jsonl")).unwrap();
    assert_eq!(
        file.lines().count(),
        log.len() + 1,
        "the log file holds every attempt, across the restart"
    );
    drop(server);

    // The acknowledgement is in the audit trail.
    let (code, out, err) = run_with(
        &data,
        &["--json", "audit", "list", "--action", "alert.ack"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let e = &v["entries"][0];
    assert_eq!(
        (e["actor"].as_str(), e["target"].as_str()),
        (Some("tom"), Some(id.to_string().as_str())),
        "{v}"
    );
}

#[test]
fn serve_refuses_to_start_on_unusable_alert_settings_or_state() {
    let cases: &[(&str, &str, Option<&str>, &str)] = &[
        ("webhooks without a key", "[analytics.alerts]\nwebhooks = [\"http://127.0.0.1:9/hook\"]\n", None, "webhook_secret"),
        ("a key too short", "[analytics.alerts]\nwebhooks = [\"http://127.0.0.1:9/hook\"]\nwebhook_secret = \"short\"\n", None, "at least 16 characters"),
        ("tiers that fall", "[analytics.alerts]\nblue_seconds = 60\nyellow_seconds = 30\n", None, "tiers must rise"),
        ("a saved state that is not JSON", "", Some("{not json"), "alerts-state.json"),
        ("a saved state of another version", "", Some(r#"{"version":9,"taken_ms":0,"next_id":1,"open":[],"last_agent":[],"alerts":[],"resolved":[],"sources":[]}"#), "version 9"),
    ];
    for (name, config, state, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert_eq!(run_with(&data, &["init"], None).0, 0);
        let cfg = dir.path().join("chatvault.toml");
        std::fs::write(&cfg, config).unwrap();
        if let Some(st) = state {
            std::fs::write(data.join("alerts-state.json"), st).unwrap();
        }
        let (code, out, err) = common::run_env(
            &data,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--config",
                cfg.to_str().unwrap(),
            ],
            &[],
        );
        assert_ne!(code, 0, "{name}: {out}");
        assert!(err.contains(want), "{name}: {err}");
    }
}
