//! `cargo run --release -p chatvault-bench --bin ui-bench -- --messages 5000`
//!
//! The web UI's time to first byte over real TCP, on an archive the size of
//! `chatvault demo`'s (5,000 messages by default), beside baselines measured in the same
//! run:
//! - `Archive::search` in-process (the CLI's path, no HTTP, no access control);
//! - `GET /api/v1/health` over the same socket path (the HTTP floor);
//!
//! and then the search page: the empty page (`GET /search`), a search answered as an
//! htmx fragment and as a full page (`POST /search`), for an agent (own conversations)
//! and an executive (everything). Each answer's count is checked against the API's total
//! for the same user, so a fast wrong page fails the run. The goal: p99 ≤ 100 ms.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chatvault_archive::{Archive, Filters, KeyProvider};
use chatvault_gen::{GenOptions, Generator};
use chatvault_policy::{Handle, Role};
use chatvault_server::{router, Config, Shared};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 5000)]
    messages: usize,
    /// Requests per mode and query.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
}

const QUERIES: &[&str] = &["退款", "订单", "发票", "您好", "refund"];

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// One HTTP/1.1 request on a fresh connection: (ms to the first byte, status, body).
fn request(addr: SocketAddr, raw: &str) -> Result<(f64, u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let t = Instant::now();
    s.write_all(raw.as_bytes())?;
    let mut first = [0u8; 1];
    s.read_exact(&mut first)?;
    let ttfb = t.elapsed().as_secs_f64() * 1000.0;
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)?;
    let mut all = first.to_vec();
    all.extend(rest);
    let text = String::from_utf8_lossy(&all).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default();
    Ok((ttfb, status, body))
}

fn get(path: &str, cookie: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: bench\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")
}

fn post(path: &str, cookie: &str, form: &[(&str, &str)], htmx: bool) -> Result<String> {
    let body = serde_urlencoded::to_string(form)?;
    let hx = if htmx { "HX-Request: true\r\n" } else { "" };
    Ok(format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nCookie: {cookie}\r\n{hx}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// The result count a search page shows.
fn shown_total(body: &str) -> Option<u64> {
    if body.contains("class=\"empty\"") && !body.contains("<strong>") {
        return Some(0);
    }
    body.split("<p class=\"count\"><strong>")
        .nth(1)?
        .split('<')
        .next()?
        .parse()
        .ok()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let work = std::env::temp_dir().join(format!("chatvault-ui-bench-{}", std::process::id()));
    let data = work.join("archive");
    std::fs::create_dir_all(&work)?;
    let now = chrono::Utc::now().timestamp_millis();
    let start_ms = now - (args.messages as i64 * 40_000).max(3_600_000);
    let lines: Vec<String> = Generator::new(
        GenOptions {
            messages: args.messages,
            start_ms,
            ..Default::default()
        },
        None,
    )
    .collect();
    Archive::init(&data, &KeyProvider::default())?;
    let mut a = Archive::open(&data, &KeyProvider::default())?;
    let raw = work.join("raw.jsonl");
    std::fs::write(&raw, lines.join("\n") + "\n")?;
    let ctx = chatvault_import::ImportContext {
        file_label: raw.display().to_string(),
        ..Default::default()
    };
    let mut records = chatvault_import::CanonicalJsonl.open(
        Box::new(std::io::BufReader::new(std::fs::File::open(&raw)?)),
        ctx,
    );
    let report = a.import(&mut records, &mut |_| {})?;

    let mut base = vec![];
    for _ in 0..args.rounds {
        for q in QUERIES {
            let t = Instant::now();
            a.search(q, &Filters::default(), 20, 0)?;
            base.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }

    let cfg = Config::default();
    let mut acc = chatvault_server::open_access(&mut a, cfg.security.clone())?;
    let pw = Some("benchmark-password-1");
    let agent: Vec<Handle> = ["wecom", "wechat", "dingtalk", "qq"]
        .iter()
        .map(|p| Handle::new(p, "a-1001"))
        .collect();
    acc.add_user("bench", "agent", Role::Agent, Some("t1"), &agent, pw, false)?;
    acc.add_user("bench", "exec", Role::Executive, None, &[], pw, false)?;
    let mut sessions = std::collections::HashMap::new();
    for u in ["agent", "exec"] {
        let user = acc.user(u)?.context("user")?;
        let s = acc.create_session(&user)?;
        sessions.insert(u, (format!("cv_session={}", s.cookie), s.csrf_token));
    }
    let state = Arc::new(Shared::new(a, acc, cfg, false));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    rt.spawn(async move { axum::serve(listener, app).await });

    let note = if args.messages == 5000 {
        " (the demo's size)"
    } else {
        ""
    };
    println!(
        "archive: {} messages{note}, server on {addr}",
        report.stored
    );
    println!(
        "{:<40} {:>9} {:>9}   (ms to the first byte, {} queries × {})",
        "mode",
        "p50",
        "p99",
        QUERIES.len(),
        args.rounds
    );
    println!(
        "{:<40} {:>9.2} {:>9.2}",
        "baseline Archive::search (in-process)",
        pct(base.clone(), 0.5),
        pct(base, 0.99)
    );
    let mut health = vec![];
    for _ in 0..args.rounds * QUERIES.len() {
        let (t, status, _) = request(addr, &get("/api/v1/health", ""))?;
        if status != 200 {
            bail!("health: {status}");
        }
        health.push(t);
    }
    println!(
        "{:<40} {:>9.2} {:>9.2}",
        "baseline GET /api/v1/health (HTTP)",
        pct(health.clone(), 0.5),
        pct(health, 0.99)
    );
    let mut worst: f64 = 0.0;
    for user in ["agent", "exec"] {
        let (cookie, csrf) = &sessions[user];
        let mut empty = vec![];
        for _ in 0..args.rounds * QUERIES.len() {
            let (t, status, body) = request(addr, &get("/search", cookie))?;
            if status != 200 || !body.contains("name=\"q\"") {
                bail!("GET /search as {user}: {status}");
            }
            empty.push(t);
        }
        worst = worst.max(pct(empty.clone(), 0.99));
        println!(
            "{:<40} {:>9.2} {:>9.2}",
            format!("GET /search as {user}"),
            pct(empty.clone(), 0.5),
            pct(empty, 0.99)
        );
        for htmx in [true, false] {
            let mut times = vec![];
            for _ in 0..args.rounds {
                for q in QUERIES {
                    let (t, status, body) = request(
                        addr,
                        &post("/search", cookie, &[("_csrf", csrf), ("q", q)], htmx)?,
                    )?;
                    if status != 200 {
                        bail!("POST /search {q} as {user}: {status} {body}");
                    }
                    // The page's count must be the API's for the same user and query.
                    let api = request(
                        addr,
                        &get(
                            &format!(
                                "/api/v1/search?{}",
                                serde_urlencoded::to_string([("q", *q), ("limit", "1")])?
                            ),
                            cookie,
                        ),
                    )?;
                    let v: serde_json::Value = serde_json::from_str(&api.2)?;
                    if shown_total(&body) != v["total"].as_u64() {
                        bail!(
                            "{user} `{q}`: the page shows {:?} results, the API {}",
                            shown_total(&body),
                            v["total"]
                        );
                    }
                    times.push(t);
                }
            }
            worst = worst.max(pct(times.clone(), 0.99));
            let what = if htmx {
                "POST /search (htmx fragment)"
            } else {
                "POST /search (full page)"
            };
            println!(
                "{:<40} {:>9.2} {:>9.2}",
                format!("{what} as {user}"),
                pct(times.clone(), 0.5),
                pct(times, 0.99)
            );
        }
    }
    println!(
        "goal: the search page's first byte within 100 ms: worst p99 {worst:.2} ms → {}",
        if worst <= 100.0 { "met" } else { "MISSED" }
    );
    std::fs::remove_dir_all(&work)?;
    if worst > 100.0 {
        bail!("the search page's p99 time to first byte is {worst:.2} ms, over 100 ms");
    }
    Ok(())
}
