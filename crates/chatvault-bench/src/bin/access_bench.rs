//! `cargo run --release -p chatvault-bench --bin access-bench -- --messages 200000`
//!
//! What the security core costs. On one generated archive it measures, per query, the
//! latency of the same searches:
//! - baseline: `Archive::search`, the CLI's path (no access control);
//! - through the real router (session, guard, policy per hit, masking, audit entry) for an
//!   executive (everything), an agent (own conversations, 7 days), a team lead (team, 30
//!   days) and a legal officer holding a grant on a few conversations;
//! - ingest: one message posted with an ingest token until an executive's search finds
//!   it (receipt to searchable; the goal is p99 ≤ 1 s).
//!
//! Every mode's result count is checked against the baseline's messages filtered by
//! `chatvault_policy::decide` directly, so a fast wrong answer fails the run.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use axum::body::Body;
use axum::http::Request;
use chatvault_archive::{Archive, Filters, KeyProvider};
use chatvault_gen::{GenOptions, Generator};
use chatvault_policy::{Handle, Role};
use chatvault_server::{router, Config, Shared};
use clap::Parser;
use tower::ServiceExt;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Ingest round trips to time.
    #[arg(long, default_value_t = 50)]
    ingests: usize,
    /// Times each mode runs the ten queries: 100 timings per mode by default, so that the
    /// p99 is not simply the slowest of a few (more, to profile a mode with `perf -p`).
    #[arg(long, default_value_t = 10)]
    rounds: usize,
}

const QUERIES: &[&str] = &[
    "退款", "订单", "发票", "快递", "您好", "谢谢", "地址", "电话", "refund", "order",
];
const DAY: i64 = 86_400_000;

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// The server's router, built once as `serve` builds it, and cloned per request as a
/// server does (building it per request cost as much as the search it served).
struct Client {
    app: axum::Router,
}

impl Client {
    async fn get(&self, cookie: &str, uri: &str) -> Result<serde_json::Value> {
        let req = Request::get(uri)
            .header("cookie", format!("cv_session={cookie}"))
            .body(Body::empty())?;
        let r = self.app.clone().oneshot(req).await?;
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 64 << 20).await?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)?;
        if !status.is_success() {
            bail!("GET {uri}: {status} {v}");
        }
        Ok(v)
    }
    async fn post(
        &self,
        bearer: &str,
        uri: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let req = Request::post(uri)
            .header("authorization", format!("Bearer {bearer}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))?;
        let r = self.app.clone().oneshot(req).await?;
        let bytes = axum::body::to_bytes(r.into_body(), 64 << 20).await?;
        Ok(serde_json::from_slice(&bytes)?)
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let work = std::env::temp_dir().join(format!("chatvault-access-bench-{}", std::process::id()));
    let data = work.join("archive");
    std::fs::create_dir_all(&work)?;
    let now = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    let mut phases: Vec<(&str, f64)> = vec![];
    let mut phase = {
        let mut last = Instant::now();
        move |name: &'static str, phases: &mut Vec<(&str, f64)>| {
            phases.push((name, last.elapsed().as_secs_f64()));
            last = Instant::now();
        }
    };
    // Spread the messages over the last ~60 days, so the 7- and 30-day windows matter.
    // The lines stream to the file (10M of them would be gigabytes in memory).
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        platform: &'a str,
        sender_id: &'a str,
        sender_role: &'a str,
    }
    let raw = work.join("raw.jsonl");
    let mut agents: std::collections::BTreeMap<String, usize> = Default::default();
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&raw)?);
        let lines = Generator::new(
            GenOptions {
                messages: args.messages,
                seed: 3,
                start_ms: now - 60 * DAY,
                ..Default::default()
            },
            None,
        );
        for l in lines {
            let v: Line<'_> = serde_json::from_str(&l)?;
            if v.sender_role == "agent" {
                *agents
                    .entry(format!("{}:{}", v.platform, v.sender_id))
                    .or_default() += 1;
            }
            out.write_all(l.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    phase("generate", &mut phases);
    let mut by_count: Vec<(String, usize)> = agents.into_iter().collect();
    by_count.sort_by_key(|x| std::cmp::Reverse(x.1));
    let handle = |s: &str| {
        let (p, id) = s.split_once(':').unwrap_or(("", s));
        Handle::new(p, id)
    };
    let agent = handle(&by_count[0].0);
    let teammate = handle(
        &by_count
            .get(1)
            .map_or(by_count[0].0.clone(), |x| x.0.clone()),
    );

    Archive::init(&data, &KeyProvider::default())?;
    let mut a = Archive::open(&data, &KeyProvider::default())?;
    let ctx = chatvault_import::ImportContext {
        file_label: raw.display().to_string(),
        ..Default::default()
    };
    let mut records = chatvault_import::CanonicalJsonl.open(
        Box::new(std::io::BufReader::new(std::fs::File::open(&raw)?)),
        ctx,
    );
    let report = a.import(&mut records, &mut |_| {})?;
    println!(
        "archive: {} messages over 60 days, agent {}:{} ({} messages sent)",
        report.stored, agent.platform, agent.id, by_count[0].1
    );
    phase("import", &mut phases);

    let cfg = Config::default();
    let mut acc = chatvault_server::open_access(&mut a, cfg.security.clone())?;
    let pw = Some("benchmark-password-1");
    acc.add_user("bench", "exec", Role::Executive, None, &[], pw, false)?;
    acc.add_user(
        "bench",
        "agent",
        Role::Agent,
        Some("t1"),
        std::slice::from_ref(&agent),
        pw,
        false,
    )?;
    acc.add_user(
        "bench",
        "mate",
        Role::Agent,
        Some("t1"),
        std::slice::from_ref(&teammate),
        pw,
        false,
    )?;
    acc.add_user("bench", "lead", Role::TeamLead, Some("t1"), &[], pw, false)?;
    acc.add_user("bench", "legal", Role::Legal, None, &[], pw, false)?;
    // The legal officer's grant: five of the agent's conversations, all time.
    let convs: Vec<String> = a
        .conversations_of(std::slice::from_ref(&agent))?
        .into_iter()
        .take(5)
        .collect();
    let scope = chatvault_policy::Scope {
        conversations: convs,
        participants: vec![],
        from_ms: 0,
        to_ms: now + DAY,
        keywords: vec![],
    };
    let r = acc.file_request(
        "legal",
        scope,
        "bench",
        "bench-1",
        &[chatvault_policy::Right::View],
    )?;
    acc.approve_request("exec", &r.id, "", now + DAY, &cfg.policy())?;
    let mut cookies = std::collections::HashMap::new();
    for u in ["exec", "agent", "lead", "legal"] {
        let user = acc.user(u)?.ok_or_else(|| anyhow::anyhow!("no user {u}"))?;
        cookies.insert(u, acc.create_session(&user)?.cookie);
    }
    let (_, ingest_token) =
        acc.create_token("bench", "agent", chatvault_access::TokenScope::Ingest, None)?;

    // Truth per role: the baseline's every match, decided directly by the policy.
    let org = acc.org(&cfg.policy())?;
    let grants = acc.grants(Some("legal"))?;
    let mut subject = |u: &str| acc.user(u).ok().flatten().map(|x| x.subject());
    let subjects: Vec<(&str, chatvault_policy::Subject)> = ["exec", "agent", "lead", "legal"]
        .iter()
        .filter_map(|u| subject(u).map(|s| (*u, s)))
        .collect();
    let mut truth: std::collections::HashMap<(&str, &str), u64> = Default::default();
    // Decisions are made at the time of the search (the grant starts at its approval).
    let now = chrono::Utc::now().timestamp_millis();
    let mut members: std::collections::HashMap<String, Arc<[Handle]>> = Default::default();
    for q in QUERIES {
        // Every match, a page of `MAX_PAGE` at a time (a search never answers more).
        let page = chatvault_archive::MAX_PAGE as usize;
        let mut seen = 0;
        loop {
            let all = a.search(q, &Filters::default(), page, seen)?;
            seen += all.hits.len();
            let mut n = vec![0u64; subjects.len()];
            for h in &all.hits {
                // Each conversation's members once (a hit's decision needs them).
                if !members.contains_key(&h.conversation) {
                    members.insert(h.conversation.clone(), a.participants_of(&h.conversation)?);
                }
                // The hit carries the whole message as the archive stores it.
                let sent_at_ms =
                    chrono::DateTime::parse_from_rfc3339(&h.sent_at)?.timestamp_millis();
                let facts = chatvault_policy::MessageFacts {
                    conversation: &h.conversation,
                    participants: &members[&h.conversation],
                    sent_at_ms,
                    text: Some(h.text.as_str()),
                    restricted: false,
                };
                for (i, (_, s)) in subjects.iter().enumerate() {
                    if chatvault_policy::decide(
                        s,
                        chatvault_policy::Right::View,
                        &facts,
                        now,
                        &grants,
                        &org,
                    )
                    .allowed()
                    {
                        n[i] += 1;
                    }
                }
            }
            for (i, (name, _)) in subjects.iter().enumerate() {
                *truth.entry((name, q)).or_insert(0) += n[i];
            }
            if all.hits.len() < page {
                if seen as u64 != all.total {
                    bail!("`{q}`: read {seen} matches of {}", all.total);
                }
                break;
            }
        }
    }

    phase("truth (every match, decided)", &mut phases);
    // Baseline: the CLI's search, in this process, same archive, once warm (the first
    // search of a generation opens its columns and reads each segment's time blocks:
    // that is once per generation, for every mode alike, and each mode is warmed below).
    for q in QUERIES {
        a.search(q, &Filters::default(), 20, 0)?;
    }
    let mut base = vec![];
    for _ in 0..args.rounds {
        for q in QUERIES {
            let t = Instant::now();
            a.search(q, &Filters::default(), 20, 0)?;
            base.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let state = Arc::new(Shared::new(a, acc, cfg, false));
    let client = Client { app: router(state) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "{:<34} {:>9} {:>9}   (ms per query, {} queries × {})",
        "mode",
        "p50",
        "p99",
        QUERIES.len(),
        args.rounds
    );
    let mut figures = serde_json::Map::new();
    figures.insert("messages".into(), args.messages.into());
    figures.insert("baseline_p50_ms".into(), round2(pct(base.clone(), 0.5)));
    figures.insert("baseline_p99_ms".into(), round2(pct(base.clone(), 0.99)));
    println!(
        "{:<34} {:>9.2} {:>9.2}",
        "baseline Archive::search (CLI)",
        pct(base.clone(), 0.5),
        pct(base, 0.99)
    );
    for user in ["exec", "agent", "lead", "legal"] {
        let uri = format!("/api/v1/search?q={}", percent(QUERIES[0]));
        rt.block_on(client.get(&cookies[user], &uri))?;
        let mut times = vec![];
        for _ in 0..args.rounds {
            for q in QUERIES {
                let uri = format!("/api/v1/search?q={}", percent(q));
                let t = Instant::now();
                let v = rt.block_on(client.get(&cookies[user], &uri))?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                let want = truth[&(user, *q)];
                if v["total"].as_u64() != Some(want) {
                    bail!("{user} `{q}`: the API says {} matches, the policy applied to every match says {want}", v["total"]);
                }
            }
        }
        figures.insert(format!("{user}_p50_ms"), round2(pct(times.clone(), 0.5)));
        figures.insert(format!("{user}_p99_ms"), round2(pct(times.clone(), 0.99)));
        println!(
            "{:<34} {:>9.2} {:>9.2}",
            format!("API search as {user}"),
            pct(times.clone(), 0.5),
            pct(times, 0.99)
        );
    }
    // Ingest: receipt to searchable.
    let mut lat = vec![];
    for i in 0..args.ingests {
        let marker = format!("benchmarker{i}x");
        let msg = serde_json::json!({"messages": [{"platform": agent.platform, "conversation_id": "bench-ingest", "sender_id": agent.id,
            "source_id": format!("b{i}"), "sent_at": chrono::Utc::now().to_rfc3339(), "text": format!("到账确认 {marker}")}]});
        let t = Instant::now();
        let r = rt.block_on(client.post(&ingest_token, "/api/v1/messages", msg))?;
        if r["results"][0]["status"] != "stored" {
            bail!("ingest: {r}");
        }
        let v = rt.block_on(client.get(&cookies["exec"], &format!("/api/v1/search?q={marker}")))?;
        if v["total"] != 1 {
            bail!("ingested message {i} not searchable: {v}");
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "{:<34} {:>9.2} {:>9.2}   (ms, {} single-message batches; goal p99 ≤ 1000)",
        "ingest → searchable",
        pct(lat.clone(), 0.5),
        pct(lat.clone(), 0.99),
        args.ingests
    );
    figures.insert("ingest_p99_ms".into(), round2(pct(lat.clone(), 0.99)));
    phase("searches and ingests", &mut phases);
    println!("result counts: every mode equals the policy applied to every baseline match");
    let phases: Vec<String> = phases
        .iter()
        .map(|(n, s)| format!("{n} {s:.0} s"))
        .collect();
    println!(
        "time: {} (total {:.0} s)",
        phases.join(", "),
        started.elapsed().as_secs_f64()
    );
    // The last line: the figures as one JSON object (`docs/benchmarks.md`).
    println!("{}", serde_json::Value::Object(figures));
    drop(client);
    std::fs::remove_dir_all(&work)?;
    Ok(())
}

fn round2(v: f64) -> serde_json::Value {
    ((v * 100.0).round() / 100.0).into()
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
