//! Service-quality reports against a generated archive whose truth is known: every
//! conversation's delays, teams, topics, risk words and endings are injected, and every
//! report must equal what the test computes from them on its own.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, TimeZone, Timelike};
use serde_json::{json, Value};

mod common;
use common::{ok, run_env, run_with};

const CONFIG: &str = r#"
[analytics]
timezone = "Asia/Shanghai"
new_agent_days = 30
[analytics.business_hours]
days = ["mon", "tue", "wed", "thu", "fri"]
open = "09:00"
close = "18:00"
[analytics.sla]
default_seconds = 30
teams = { sales = 60 }
"#;

const AGENTS: [(&str, &str); 3] = [("svc-1", "svc"), ("svc-2", "svc"), ("sales-1", "sales")];
const N: i64 = 48;

/// One generated conversation and its truth.
struct Conv {
    key: String,
    agent: &'static str,
    team: &'static str,
    start_ms: i64,
    /// First response delay, seconds.
    d1: i64,
    /// The follow-up's response delay; `None`: left unanswered.
    d2: Option<i64>,
    topic: &'static str,
    risk: bool,
    confirms: bool,
}

fn tz() -> chrono_tz::Tz {
    "Asia/Shanghai".parse().unwrap()
}

fn generate() -> Vec<Conv> {
    // Monday 2026-09-28 09:00 in Shanghai.
    let base = tz()
        .with_ymd_and_hms(2026, 9, 28, 9, 0, 0)
        .unwrap()
        .timestamp_millis();
    (0..N)
        .map(|i| {
            let (agent, team) = AGENTS[(i % 3) as usize];
            Conv {
                key: format!("wecom:c{i:02}"),
                agent,
                team,
                start_ms: base + i * 37 * 60_000,
                d1: [5, 20, 45, 90, 200][(i % 5) as usize],
                d2: (i % 7 != 0).then_some([10, 70][(i % 2) as usize]),
                topic: ["快递", "退货", "发票", "售后"][(i % 4) as usize],
                risk: i % 6 == 0,
                confirms: i % 5 == 0,
            }
        })
        .collect()
}

fn rfc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339()
}

fn jsonl(convs: &[Conv]) -> String {
    let mut out = String::new();
    for c in convs {
        let id = c.key.trim_start_matches("wecom:");
        let line = |n: &str, who: &str, role: &str, at: i64, text: String| {
            json!({"platform":"wecom","conversation_id":id,"source_id":format!("{id}-{n}"),"sender_id":who,"sender_role":role,"sent_at":rfc(at),"text":text}).to_string() + "\n"
        };
        let q = format!(
            "我的{}有问题{}",
            c.topic,
            if c.risk {
                "，不处理就要求赔偿"
            } else {
                ""
            }
        );
        out += &line("1", "cust", "customer", c.start_ms, q);
        let r1 = c.start_ms + c.d1 * 1000;
        out += &line("2", c.agent, "agent", r1, "您好，正在为您处理".into());
        let f = r1 + 60_000;
        out += &line(
            "3",
            "cust",
            "customer",
            f,
            if c.confirms {
                "好的谢谢".into()
            } else {
                "还有一个问题".into()
            },
        );
        if let Some(d2) = c.d2 {
            out += &line("4", c.agent, "agent", f + d2 * 1000, "已经处理完毕".into());
        }
    }
    // svc-1 answered once two months earlier, outside every report window: an experienced
    // agent by the window's end; svc-2 and sales-1 are new.
    let old = tz()
        .with_ymd_and_hms(2026, 8, 1, 10, 0, 0)
        .unwrap()
        .timestamp_millis();
    out += &(json!({"platform":"wecom","conversation_id":"old","source_id":"o1","sender_id":"cust0","sender_role":"customer","sent_at":rfc(old),"text":"在吗"}).to_string() + "\n");
    out += &(json!({"platform":"wecom","conversation_id":"old","source_id":"o2","sender_id":"svc-1","sender_role":"agent","sent_at":rfc(old + 5000),"text":"您好"}).to_string() + "\n");
    out
}

fn nearest_rank(v: &mut [i64], q: f64) -> Option<f64> {
    v.sort_unstable();
    (!v.is_empty()).then(|| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1] as f64)
}

/// Seconds of Monday–Friday 09:00–18:00 Shanghai time in [a, b), counted second by second.
fn business_seconds(a: i64, b: i64) -> i64 {
    (a / 1000..b / 1000)
        .filter(|s| {
            let t = tz().timestamp_opt(*s, 0).unwrap();
            t.weekday().num_days_from_monday() < 5 && (9..18).contains(&t.hour())
        })
        .count() as i64
}

fn setup(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<Conv>) {
    let data = dir.join("data");
    ok(&data, &["init"]);
    let convs = generate();
    let f = dir.join("gen.jsonl");
    std::fs::write(&f, jsonl(&convs)).unwrap();
    ok(&data, &["import", f.to_str().unwrap()]);
    for (name, team) in AGENTS {
        let handle = format!("wecom:{name}");
        let (code, out, err) = run_with(
            &data,
            &[
                "user", "add", name, "--role", "agent", "--team", team, "--handle", &handle,
            ],
            Some("correct horse battery"),
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    let cfg = dir.join("chatvault.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    (data, cfg, convs)
}

fn report(data: &Path, cfg: &Path, args: &[&str]) -> Value {
    let mut a = vec!["report"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--from", "2026-09-27", "--to", "2026-09-30", "--json"]);
    let (code, out, err) = run_env(data, &a, &[("CHATVAULT_CONFIG", cfg.to_str().unwrap())]);
    assert_eq!(code, 0, "{args:?}: {out}{err}");
    serde_json::from_str::<Value>(&out).unwrap()["data"].clone()
}

#[test]
fn every_report_equals_the_injected_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cfg, convs) = setup(dir.path());
    let threshold = |team: &str| if team == "sales" { 60 } else { 30 };

    // ---- sla ----
    let sla = report(&data, &cfg, &["sla"]);
    let mut frt: Vec<i64> = convs.iter().map(|c| c.d1 * 1000).collect();
    let mut next: Vec<i64> = convs
        .iter()
        .filter_map(|c| c.d2.map(|d| d * 1000))
        .collect();
    let mut all: Vec<i64> = frt.iter().chain(&next).copied().collect();
    for (name, list, got) in [
        ("frt", &mut frt, &sla["frt"]),
        ("next", &mut next, &sla["next_response"]),
        ("all", &mut all, &sla["response"]),
    ] {
        assert_eq!(got["count"], list.len(), "{name}");
        for (q, field) in [(0.5, "median_s"), (0.9, "p90_s"), (0.99, "p99_s")] {
            assert_eq!(
                got[field].as_f64(),
                nearest_rank(list, q).map(|x| x / 1000.0),
                "{name} {field}"
            );
        }
    }
    let hist: Vec<u64> = sla["response"]["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[1].as_u64().unwrap())
        .collect();
    let bucket = |s: i64| {
        [0, 10, 30, 60, 120, 300, 900, 3600, 14400]
            .iter()
            .rposition(|lo| s >= *lo)
            .unwrap()
    };
    let mut want_hist = vec![0u64; 9];
    for ms in &all {
        want_hist[bucket(ms / 1000)] += 1;
    }
    assert_eq!(hist, want_hist, "histogram");
    let mut want: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for c in &convs {
        let e = want.entry(c.team).or_default();
        for d in [Some(c.d1), c.d2] {
            match d {
                Some(d) if d <= threshold(c.team) => e.0 += 1,
                _ => e.1 += 1, // too slow, or unanswered for days by the report's end
            }
        }
    }
    for t in sla["teams"].as_array().unwrap() {
        let (met, breached) = want[t["name"].as_str().unwrap()];
        assert_eq!(
            (
                t["met"].as_u64().unwrap(),
                t["breached"].as_u64().unwrap(),
                t["pending"].as_u64().unwrap()
            ),
            (met, breached, 0),
            "team {}",
            t["name"]
        );
    }
    assert_eq!(sla["teams"].as_array().unwrap().len(), 2);
    let total_breached: u64 = want.values().map(|x| x.1).sum();
    assert_eq!(sla["breaches_total"].as_u64().unwrap(), total_breached);
    assert_eq!(
        sla["breaches"].as_array().unwrap().len() as u64,
        total_breached,
        "all listed: fewer than the list limit"
    );
    let waits: Vec<f64> = sla["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["waited_s"].as_f64().unwrap())
        .collect();
    assert!(waits.windows(2).all(|w| w[0] >= w[1]), "longest wait first");
    assert_eq!(
        sla["unanswered_conversations"],
        convs.iter().filter(|c| c.d2.is_none()).count()
    );
    let b = &sla["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["answered"] == true)
        .unwrap();
    let c = convs.iter().find(|c| c.key == b["conversation"]).unwrap();
    assert_eq!(
        b["agent"],
        format!("wecom:{}", c.agent),
        "a breach drills down to its conversation and agent"
    );

    // ---- sla, business hours ----
    let biz = report(&data, &cfg, &["sla", "--business-hours"]);
    let mut bfrt: Vec<i64> = convs
        .iter()
        .map(|c| business_seconds(c.start_ms, c.start_ms + c.d1 * 1000) * 1000)
        .collect();
    assert_eq!(
        biz["frt"]["median_s"].as_f64(),
        nearest_rank(&mut bfrt, 0.5).map(|x| x / 1000.0)
    );
    assert_eq!(
        biz["frt"]["p90_s"].as_f64(),
        nearest_rank(&mut bfrt, 0.9).map(|x| x / 1000.0)
    );
    assert!(
        bfrt.iter().filter(|x| **x == 0).count() > 0,
        "some questions came after hours (the generator spans the night)"
    );

    // ---- agents ----
    let agents = report(&data, &cfg, &["agents"]);
    for line in agents["ranking"].as_array().unwrap() {
        let name = line["agent"].as_str().unwrap().trim_start_matches("wecom:");
        let mine: Vec<&Conv> = convs.iter().filter(|c| c.agent == name).collect();
        let answered = mine
            .iter()
            .map(|c| 1 + u64::from(c.d2.is_some()))
            .sum::<u64>();
        assert_eq!(line["responses"].as_u64().unwrap(), answered, "{name}");
        assert_eq!(line["team"], mine[0].team, "{name}");
        assert_eq!(
            line["new"],
            name != "svc-1",
            "{name}: new means fewer than 30 days since the first message"
        );
    }
    assert_eq!(agents["ranking"].as_array().unwrap().len(), 3);
    let ratios: Vec<f64> = agents["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sla"]["met_ratio"].as_f64().unwrap())
        .collect();
    assert!(
        ratios.windows(2).all(|w| w[0] >= w[1]),
        "ranked by SLA met: {ratios:?}"
    );
    let of = |who: &str| {
        convs
            .iter()
            .filter(|c| c.agent == who)
            .map(|c| 1 + u64::from(c.d2.is_some()))
            .sum::<u64>()
    };
    assert_eq!(
        agents["experienced"]["response"]["count"].as_u64().unwrap(),
        of("svc-1")
    );
    assert_eq!(
        agents["new"]["response"]["count"].as_u64().unwrap(),
        of("svc-2") + of("sales-1")
    );
    assert_eq!(
        (
            agents["new"]["agents"].as_u64(),
            agents["experienced"]["agents"].as_u64()
        ),
        (Some(2), Some(1))
    );

    // ---- hours ----
    let hours = report(&data, &cfg, &["hours"]);
    let mut cells: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for c in &convs {
        let mut at = |ms: i64| {
            let t = tz().timestamp_millis_opt(ms).unwrap();
            *cells
                .entry((t.weekday().num_days_from_monday() as u64, t.hour() as u64))
                .or_default() += 1;
        };
        at(c.start_ms);
        if c.d2.is_some() {
            at(c.start_ms + c.d1 * 1000 + 60_000);
        }
    }
    for cell in hours["heatmap"].as_array().unwrap() {
        let k = (
            cell["weekday"].as_u64().unwrap(),
            cell["hour"].as_u64().unwrap(),
        );
        assert_eq!(
            cell["responses"].as_u64().unwrap(),
            cells.get(&k).copied().unwrap_or(0),
            "cell {k:?}"
        );
    }

    // ---- topics ----
    let topics = report(&data, &cfg, &["topics"]);
    let count = |list: &Value, name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map_or(0, |c| c["conversations"].as_u64().unwrap())
    };
    for (topic, kw) in [
        ("物流", "快递"),
        ("退货", "退货"),
        ("发票", "发票"),
        ("售后", "售后"),
    ] {
        assert_eq!(
            count(&topics["topics"], topic),
            convs.iter().filter(|c| c.topic == kw).count() as u64,
            "{topic}"
        );
    }
    assert_eq!(
        count(&topics["risk_words"], "赔偿"),
        convs.iter().filter(|c| c.risk).count() as u64
    );
    assert_eq!(
        topics["risk_hits"].as_array().unwrap().len(),
        convs.iter().filter(|c| c.risk).count()
    );
    assert_eq!(topics["greeting_ratio"], 1.0, "every first reply greets");
    assert_eq!(
        topics["closing_ratio"], 0.0,
        "no reply closes with a script phrase"
    );

    // ---- quality ----
    let quality = report(&data, &cfg, &["quality"]);
    let mut want_res: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &convs {
        *want_res
            .entry(if c.confirms {
                "confirmed"
            } else if c.d2.is_none() {
                "unresolved"
            } else {
                "silence"
            })
            .or_default() += 1;
    }
    let got_res: BTreeMap<&str, u64> = quality["resolution"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(got_res, want_res);
    let scores: Vec<f64> = quality["conversations_by_score"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] <= w[1]) && scores.iter().all(|s| (0.0..=100.0).contains(s)),
        "worst first, 0–100"
    );

    // ---- a team and the CSV ----
    let sales = report(&data, &cfg, &["sla", "--team", "sales"]);
    assert_eq!(sales["teams"].as_array().unwrap().len(), 1);
    assert_eq!(sales["overall"]["met"].as_u64().unwrap(), want["sales"].0);
    let (code, csv, err) = run_env(
        &data,
        &["report", "agents", "--csv"],
        &[("CHATVAULT_CONFIG", cfg.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        csv.starts_with('\u{FEFF}') && csv.lines().count() == 4,
        "{csv}"
    );
}

#[test]
fn bad_report_arguments_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cfg, _) = setup(dir.path());
    let bad_cfg = dir.path().join("bad.toml");
    std::fs::write(&bad_cfg, "[analytics.business_hours]\nopen = \"9am\"\n").unwrap();
    let cases: &[(&str, &[&str], &Path, &str)] = &[
        (
            "unknown report",
            &["report", "speed"],
            &cfg,
            "use sla, agents",
        ),
        (
            "bad date",
            &["report", "sla", "--from", "yesterday"],
            &cfg,
            "--from",
        ),
        (
            "reversed range",
            &[
                "report",
                "sla",
                "--from",
                "2026-10-01",
                "--to",
                "2026-09-01",
            ],
            &cfg,
            "after",
        ),
        (
            "bad calendar in the config",
            &["report", "sla"],
            &bad_cfg,
            "analytics.business_hours.open",
        ),
    ];
    for (name, args, c, want) in cases {
        let (code, out, err) = run_env(&data, args, &[("CHATVAULT_CONFIG", c.to_str().unwrap())]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(want), "{name}: {err}");
    }
}
