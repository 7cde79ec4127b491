//! `cargo run --release -p chatvault-bench --bin monitor-bench -- --messages 20000`
//!
//! What the live SLA monitor adds to ingest (the goal: at most 5 %). Two fresh archives
//! take the same generated messages through the real router (`POST /api/v1/messages`
//! with an ingest token), in batches, the batches alternating between the two so that
//! a noisy machine slows both alike:
//! - baseline: `[analytics.alerts] enabled = false`;
//! - monitored: the monitor on with tiers of 1 s and 2 s, its 200 ms tick running and
//!   raising and escalating alerts for the turns left waiting.
//!
//! It prints the median and total batch times of each and the overhead, and also the
//! monitor's own work measured directly (observe plus tick, summed) as a share of the
//! monitored ingest time (with the server's confirmation-phrase check of each customer
//! message). Every message must be stored in both archives.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use axum::body::Body;
use axum::http::Request;
use chatvault_archive::{Archive, KeyProvider};
use chatvault_gen::{GenOptions, Generator};
use chatvault_server::{router, Config, Shared};
use clap::Parser;
use tower::ServiceExt;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    #[arg(long, default_value_t = 100)]
    batch: usize,
}

struct Side {
    state: chatvault_server::State,
    token: String,
    times: Vec<Duration>,
}

fn side(work: &std::path::Path, enabled: bool) -> Result<Side> {
    let data = work.join(if enabled { "monitored" } else { "baseline" });
    Archive::init(&data, &KeyProvider::default())?;
    let mut archive = Archive::open(&data, &KeyProvider::default())?;
    let mut config = Config::default();
    config.analytics.alerts.enabled = enabled;
    // Short tiers, so the tick raises and escalates alerts while the ingest runs.
    config.analytics.alerts.blue_seconds = 1;
    config.analytics.alerts.yellow_seconds = 2;
    let mut access = chatvault_server::open_access(&mut archive, config.security.clone())?;
    access.add_user(
        "bench",
        "ops",
        chatvault_policy::Role::Admin,
        None,
        &[],
        Some("monitor-bench-password"),
        false,
    )?;
    let (_, token) = access.create_token(
        "bench",
        "ops",
        chatvault_access::TokenScope::Ingest,
        Some("wecom"),
    )?;
    let state = std::sync::Arc::new(Shared::new(archive, access, config, false));
    Ok(Side {
        state,
        token,
        times: vec![],
    })
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let mut lines: Vec<serde_json::Value> = vec![];
    for l in Generator::new(
        GenOptions {
            messages: args.messages,
            seed: 11,
            ..Default::default()
        },
        None,
    ) {
        let mut v: serde_json::Value = serde_json::from_str(&l)?;
        v["platform"] = "wecom".into();
        lines.push(v);
    }
    let work = std::env::temp_dir().join(format!("chatvault-monitor-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let mut base = side(&work, false)?;
    let mut live = side(&work, true)?;
    chatvault_server::alerts::start(&live.state).map_err(anyhow::Error::msg)?;
    let began = Instant::now();
    for (n, chunk) in lines.chunks(args.batch).enumerate() {
        // Live traffic: each batch is stamped as just sent, in its order.
        let now = chrono::Utc::now().timestamp_millis();
        let msgs: Vec<serde_json::Value> = chunk
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let mut v = v.clone();
                let at = chrono::DateTime::from_timestamp_millis(now - (chunk.len() - j) as i64)
                    .unwrap_or_default();
                v["sent_at"] = at.to_rfc3339().into();
                v
            })
            .collect();
        let body = serde_json::json!({ "messages": msgs }).to_string();
        // Alternate which goes first, so neither always meets a warm or a cold cache.
        let order: [&mut Side; 2] = if n % 2 == 0 {
            [&mut base, &mut live]
        } else {
            [&mut live, &mut base]
        };
        for s in order {
            let req = Request::post("/api/v1/messages")
                .header("authorization", format!("Bearer {}", s.token))
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))?;
            let t = Instant::now();
            let r = router(s.state.clone()).oneshot(req).await?;
            let status = r.status();
            let bytes = axum::body::to_bytes(r.into_body(), 64 << 20).await?;
            s.times.push(t.elapsed());
            let v: serde_json::Value = serde_json::from_slice(&bytes)?;
            let stored = v["results"]
                .as_array()
                .map_or(0, |a| a.iter().filter(|x| x["status"] == "stored").count());
            if !status.is_success() || stored != chunk.len() {
                bail!(
                    "batch {n}: {status}, {stored} of {} stored: {v}",
                    chunk.len()
                );
            }
        }
    }
    let wall = began.elapsed();
    // The monitor's own work, measured directly on a copy fed the same messages.
    let mut m = chatvault_analytics::monitor::Monitor::new(
        &chatvault_analytics::settings::Alerts::default(),
    );
    let facts: Vec<_> = lines
        .iter()
        .map(|v| {
            let side = match v["sender_role"].as_str() {
                Some("agent") => Some(chatvault_analytics::Side::Agent),
                Some("customer") => Some(chatvault_analytics::Side::Customer),
                _ => None,
            };
            (
                format!(
                    "wecom:{}",
                    v["conversation_id"].as_str().unwrap_or_default()
                ),
                side,
                format!("wecom:{}", v["sender_id"].as_str().unwrap_or_default()),
                v["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let lex = chatvault_analytics::Lexicons::new(&chatvault_analytics::Settings::default());
    let t = Instant::now();
    let start = chrono::Utc::now().timestamp_millis();
    for (i, (conv, side, sender, text)) in facts.iter().enumerate() {
        let at = start + i as i64;
        // The server's part too: the customer's confirmation-phrase check.
        let confirms = *side == Some(chatvault_analytics::Side::Customer) && lex.confirms(text);
        m.observe(&chatvault_analytics::monitor::Observed {
            conversation: conv,
            platform: "wecom",
            source: "wecom",
            side: *side,
            sender,
            sent_ms: at,
            received_ms: at + 5,
            confirms,
        });
        if i % args.batch == 0 {
            m.tick(at + 60_000, &|_| None);
            m.drain();
        }
    }
    let direct = t.elapsed();
    let (bt, lt): (Duration, Duration) = (base.times.iter().sum(), live.times.iter().sum());
    let (bm, lm) = (median(&base.times), median(&live.times));
    let overhead = (lt.as_secs_f64() / bt.as_secs_f64() - 1.0) * 100.0;
    let (alerts, waiting) = live
        .state
        .monitor
        .monitor()
        .map(|m| (m.alerts().len(), m.waiting()))
        .unwrap_or_default();
    println!("monitor-bench: {} messages in batches of {} ({:.1} s wall); the live side raised {alerts} alerts and has {waiting} customers waiting", lines.len(), args.batch, wall.as_secs_f64());
    println!(
        "  baseline (monitor off):  median batch {:>8.2} ms   total {:>8.2} s",
        bm.as_secs_f64() * 1e3,
        bt.as_secs_f64()
    );
    println!(
        "  monitored:               median batch {:>8.2} ms   total {:>8.2} s",
        lm.as_secs_f64() * 1e3,
        lt.as_secs_f64()
    );
    println!(
        "  overhead (total): {overhead:+.2} %   (median: {:+.2} %)",
        (lm.as_secs_f64() / bm.as_secs_f64() - 1.0) * 100.0
    );
    println!("  the monitor's own work, direct: {:.2} ms for all messages = {:.3} % of the monitored ingest time (goal ≤ 5 %)", direct.as_secs_f64() * 1e3, direct.as_secs_f64() / lt.as_secs_f64() * 100.0);
    drop((base, live));
    std::fs::remove_dir_all(&work)?;
    Ok(())
}
