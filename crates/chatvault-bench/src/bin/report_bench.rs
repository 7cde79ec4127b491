//! `report-bench`: the service-quality reports over an analytics cache of N messages
//! (default 10 million), beside a baseline measured in the same run: plain SQLite, with
//! one row per response (the obvious layout), answering the simplest of the same
//! questions (the FRT median and the share answered within 30 s) with SQL.
//!
//! The cache is filled with summaries of generated conversations (10 messages, 5
//! customer turns each; delays, agents, teams, topics, keywords and risk words drawn at
//! random), written through the same `Cache::store` the sync uses. Building it is not
//! timed: a real archive builds it incrementally as messages arrive. It is kept in
//! `--dir` and reused when it already holds N messages.

use std::time::Instant;

use anyhow::Result;
use chatvault_analytics::cache::Cache;
use chatvault_analytics::report::{self, Context};
use chatvault_analytics::{Content, Resolution, Response, Settings, Summary};
use clap::Parser;
use rand::{Rng, SeedableRng};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000_000)]
    messages: u64,
    #[arg(long, default_value = "target/report-bench")]
    dir: std::path::PathBuf,
    /// Runs of each report; the best and the median are printed.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

const AGENTS: usize = 200;
const TOPICS: [&str; 6] = ["退货", "退款", "物流", "售后", "发票", "账户"];
const TERMS: [&str; 24] = [
    "快递",
    "订单",
    "发货",
    "退款",
    "到账",
    "发票",
    "地址",
    "电话",
    "会员",
    "优惠券",
    "尺码",
    "颜色",
    "质量",
    "破损",
    "客服",
    "物流",
    "多久",
    "安装",
    "保修",
    "换货",
    "密码",
    "登录",
    "积分",
    "价格",
];

fn summaries(n_conv: u64, seed: u64, from: u64) -> Vec<Summary> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let t0 = 1_780_000_000_000i64; // 2026-05
    (from..from + n_conv)
        .map(|i| {
            let start = t0 + (i as i64) * 3_000 + rng.gen_range(0..3_000);
            let agent = format!("wecom:a-{:04}", rng.gen_range(0..AGENTS));
            let mut t = start;
            let mut responses = vec![];
            let mut business = vec![];
            for k in 0..5 {
                let delay = if rng.gen_bool(0.1) {
                    rng.gen_range(60_000..3_600_000)
                } else {
                    rng.gen_range(2_000..90_000)
                };
                let answered = k < 4 || rng.gen_bool(0.8);
                responses.push(Response {
                    start_ms: t,
                    reply_ms: answered.then_some(t + delay),
                    agent: answered.then(|| agent.clone()),
                    first: k == 0,
                });
                business.push(answered.then_some(delay / 2));
                t += delay + rng.gen_range(10_000..120_000);
            }
            let terms: Vec<String> = (0..6)
                .map(|_| TERMS[rng.gen_range(0..TERMS.len())].to_owned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            Summary {
                conversation: format!("wecom:conv-{i:08}"),
                platform: "wecom".into(),
                start_ms: start,
                end_ms: t,
                messages: 10,
                responses,
                business_ms: business,
                last_agent: Some(agent.clone()),
                agent_first_ms: vec![(agent, start)],
                content: Content {
                    topics: vec![TOPICS[rng.gen_range(0..TOPICS.len())].to_owned()],
                    terms,
                    greeting: Some(rng.gen_bool(0.9)),
                    closing: Some(rng.gen_bool(0.6)),
                    risks: vec![],
                    positive: rng.gen_range(0..3),
                    negative: rng.gen_range(0..3),
                    resolution: [
                        Resolution::Confirmed,
                        Resolution::Silence,
                        Resolution::Unresolved,
                    ][rng.gen_range(0..3)],
                },
            }
        })
        .collect()
}

fn time<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, f64, T)> {
    let mut ms = vec![];
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f()?);
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok((
        ms[0],
        ms[ms.len() / 2],
        last.unwrap_or_else(|| unreachable!("runs ≥ 1")),
    ))
}

fn main() -> Result<()> {
    let a = Args::parse();
    anyhow::ensure!(a.runs >= 1, "--runs: at least 1");
    std::fs::create_dir_all(&a.dir)?;
    let path = a.dir.join(format!("analytics-{}.db", a.messages));
    let n_conv = a.messages / 10;
    let base_path = a.dir.join(format!("baseline-{}.db", a.messages));
    let mut cache = Cache::open(&path)?;
    if cache.meta("bench_messages")?.as_deref() != Some(a.messages.to_string().as_str())
        || !base_path.exists()
    {
        let t = Instant::now();
        let _ = std::fs::remove_file(&base_path);
        let mut base = rusqlite::Connection::open(&base_path)?;
        base.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; CREATE TABLE responses(conv INTEGER, start_ms INTEGER, reply_ms INTEGER, agent TEXT, first INTEGER);")?;
        let chunk = 50_000;
        let mut done = 0;
        while done < n_conv {
            let n = chunk.min(n_conv - done);
            let last = done + n == n_conv;
            let meta = if last {
                vec![("bench_messages", a.messages.to_string())]
            } else {
                vec![]
            };
            let batch = summaries(n, done, done);
            cache.store(&batch, &meta, done == 0)?;
            let tx = base.transaction()?;
            {
                let mut ins = tx.prepare("INSERT INTO responses VALUES (?1, ?2, ?3, ?4, ?5)")?;
                for (i, s) in batch.iter().enumerate() {
                    for r in &s.responses {
                        ins.execute(rusqlite::params![
                            (done as usize + i) as i64,
                            r.start_ms,
                            r.reply_ms,
                            r.agent,
                            r.first
                        ])?;
                    }
                }
            }
            tx.commit()?;
            done += n;
        }
        eprintln!(
            "built {} conversations ({} messages) in {:.1} s",
            n_conv,
            a.messages,
            t.elapsed().as_secs_f64()
        );
    }
    drop(cache);
    let settings = Settings::default();
    let cal = settings.calendar()?;
    let team = |agent: &str| {
        Some(if agent.ends_with('0') {
            "sales".to_owned()
        } else {
            "service".to_owned()
        })
    };
    let cx = Context {
        settings: &settings,
        calendar: &cal,
        team_of: &team,
        team: None,
        business_hours: false,
        as_of_ms: i64::MAX / 2,
    };

    // The baseline: SQLite alone, over the same file, for the FRT median and the share of
    // answered responses within 30 s (no teams, no unanswered waits, no distributions).
    let conn = rusqlite::Connection::open(&base_path)?;
    let (b_best, b_med, (frt_med, sla)) = time(a.runs, || {
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM responses WHERE first = 1 AND reply_ms IS NOT NULL",
            [],
            |r| r.get(0),
        )?;
        let med: i64 = conn.query_row("SELECT reply_ms - start_ms FROM responses WHERE first = 1 AND reply_ms IS NOT NULL ORDER BY 1 LIMIT 1 OFFSET ?1", [(n + 1) / 2 - 1], |r| r.get(0))?;
        let sla: f64 = conn.query_row(
            "SELECT avg(reply_ms - start_ms <= 30000) FROM responses WHERE reply_ms IS NOT NULL",
            [],
            |r| r.get(0),
        )?;
        Ok((med, sla))
    })?;
    let mut out = serde_json::json!({"messages": a.messages, "conversations": n_conv, "runs": a.runs,
        "baseline_sqlite_frt_median_and_sla_ms": {"best": b_best, "median": b_med}, "baseline_frt_median_s": frt_med as f64 / 1000.0, "baseline_answered_within_30s": sla});
    let c = Cache::open(&path)?;
    use chatvault_analytics::cache::Load;
    let load = |name: &str| Load {
        terms: name == "topics",
        risks: matches!(name, "topics" | "quality" | "agents"),
    };
    let (l_best, l_med, w) = time(a.runs, || {
        Ok(c.window(i64::MIN, i64::MAX, None, load("sla"))?)
    })?;
    out["load_window_ms"] =
        serde_json::json!({"best": l_best, "median": l_med, "responses": w.responses.len()});
    for name in ["sla", "agents", "hours", "topics", "quality"] {
        let (best, med, check) = time(a.runs, || {
            let w = c.window(i64::MIN, i64::MAX, None, load(name))?;
            Ok(match name {
                "sla" => report::sla(&w, &cx).frt.median_s,
                "agents" => report::agents(&w, &cx)
                    .ranking
                    .first()
                    .and_then(|l| l.median_s),
                "hours" => report::hours(&w, &cx).by_hour[0].median_s,
                "topics" => Some(report::topics(&w, &cx).conversations as f64),
                _ => report::quality(&w, &cx).mean_score,
            })
        })?;
        out[format!("report_{name}_ms")] =
            serde_json::json!({"best": best, "median": med, "check": check});
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
