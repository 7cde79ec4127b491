//! `chatvault report sla|agents|hours|topics|quality`: service-quality reports over the
//! archive, as text, JSON or CSV (Excel-safe), run at the console (every team).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use chatvault_app::reports::{directory, f, pct, run_report, Kind, Params};
use chatvault_archive::{Archive, KeyProvider};
use serde_json::Value;

use crate::print_json;
use crate::render::safe;
use crate::security::{open_access, time_arg};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// sla, agents, hours, topics or quality.
    pub kind: String,
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub to: Option<String>,
    /// Only this team's responses and conversations.
    #[arg(long)]
    pub team: Option<String>,
    #[arg(long)]
    pub platform: Option<String>,
    /// Count business time only (the calendar of `[analytics.business_hours]`).
    #[arg(long)]
    pub business_hours: bool,
    /// The report's main table as CSV (UTF-8 with a BOM, formula cells neutralised).
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// The whole report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn report(data: &Path, json_flag: bool, a: &ReportArgs) -> Result<ExitCode> {
    let Some(kind) = Kind::parse(&a.kind) else {
        bail!(chatvault_policy::PolicyError::Invalid(format!(
            "report `{}`: use sla, agents, hours, topics or quality",
            a.kind
        )))
    };
    let (mut acc, cfg) = open_access(data)?;
    let p = Params {
        from_ms: a
            .from
            .as_deref()
            .map(|s| time_arg(s, "--from", false))
            .transpose()?,
        to_ms: a
            .to
            .as_deref()
            .map(|s| time_arg(s, "--to", true))
            .transpose()?,
        team: a.team.clone(),
        platform: a.platform.clone(),
        business_hours: a.business_hours,
    };
    if let (Some(f), Some(t)) = (p.from_ms, p.to_ms) {
        if f > t {
            bail!(chatvault_policy::PolicyError::Invalid(
                "--from is after --to".into()
            ));
        }
    }
    let org = acc.org(&cfg.policy())?;
    let mut archive = Archive::open(data, &KeyProvider::from_env())?;
    let now = chrono::Utc::now().timestamp_millis();
    let v = run_report(
        &mut archive,
        &cfg.analytics,
        &directory(&org),
        kind,
        &p,
        now,
    )
    .map_err(|e| anyhow::anyhow!(chatvault_analytics::AnalyticsError::Invalid(e)))?;
    acc.audit(chatvault_access::Event::new(&crate::security::console_actor(), chatvault_access::Action::ReportView).target(kind.name()).details(serde_json::json!({"team": p.team, "from_ms": p.from_ms, "to_ms": p.to_ms, "business_hours": p.business_hours})))?;
    if a.json || json_flag {
        print_json(&v)?;
    } else if a.csv {
        use std::io::Write;
        std::io::stdout().lock().write_all(
            &chatvault_app::reports::csv(kind, &v["data"]).map_err(anyhow::Error::msg)?,
        )?;
    } else {
        text(kind, &v["data"]);
    }
    Ok(ExitCode::SUCCESS)
}

fn dist(name: &str, d: &Value) {
    println!(
        "  {name:<16} n={:<7} median {}s  p90 {}s  p99 {}s",
        f(&d["count"]),
        f(&d["median_s"]),
        f(&d["p90_s"]),
        f(&d["p99_s"])
    );
}

fn text(kind: Kind, d: &Value) {
    let arr = |k: &str| d[k].as_array().cloned().unwrap_or_default();
    match kind {
        Kind::Sla => {
            println!(
                "{} conversations, {} unanswered{}",
                f(&d["conversations"]),
                f(&d["unanswered_conversations"]),
                if d["business_hours"] == true {
                    " (business hours)"
                } else {
                    ""
                }
            );
            dist("first response", &d["frt"]);
            dist("next responses", &d["next_response"]);
            dist("all responses", &d["response"]);
            println!("  histogram: {}", arr_hist(&d["response"]["histogram"]));
            let o = &d["overall"];
            println!(
                "SLA met {} ({} met, {} breached, {} pending)",
                pct(&o["met_ratio"]),
                f(&o["met"]),
                f(&o["breached"]),
                f(&o["pending"])
            );
            for t in arr("teams") {
                println!(
                    "  team {:<20} {}  ({} / {})",
                    safe(&f(&t["name"]), true),
                    pct(&t["met_ratio"]),
                    f(&t["met"]),
                    f(&t["breached"])
                );
            }
            let b = arr("breaches");
            println!(
                "{} breaches{}",
                b.len(),
                if b.len() > 20 {
                    ", the 20 longest:"
                } else {
                    ":"
                }
            );
            for x in b.iter().take(20) {
                println!(
                    "  {}  {}  waited {}s (threshold {}s){}",
                    safe(&f(&x["conversation"]), true),
                    safe(&f(&x["agent"]), true),
                    f(&x["waited_s"]),
                    f(&x["threshold_s"]),
                    if x["answered"] == false {
                        ", unanswered"
                    } else {
                        ""
                    }
                );
            }
        }
        Kind::Agents => {
            for (name, c) in [("new", &d["new"]), ("experienced", &d["experienced"])] {
                println!(
                    "{name:<12} {} agents, median {}s, p90 {}s, SLA met {}",
                    f(&c["agents"]),
                    f(&c["response"]["median_s"]),
                    f(&c["response"]["p90_s"]),
                    pct(&c["sla"]["met_ratio"])
                );
            }
            println!(
                "{:<28} {:<14} {:>9} {:>9} {:>9} {:>8} {:>8}",
                "agent", "team", "responses", "median s", "p90 s", "SLA", "quality"
            );
            for l in arr("ranking") {
                println!(
                    "{:<28} {:<14} {:>9} {:>9} {:>9} {:>8} {:>8}{}",
                    safe(&f(&l["agent"]), true),
                    safe(&f(&l["team"]), true),
                    f(&l["responses"]),
                    f(&l["median_s"]),
                    f(&l["p90_s"]),
                    pct(&l["sla"]["met_ratio"]),
                    f(&l["mean_quality"]),
                    if l["new"] == true { "  (new)" } else { "" }
                );
            }
        }
        Kind::Hours => {
            println!("median response by hour ({}):", f(&d["timezone"]));
            for c in arr("by_hour")
                .iter()
                .filter(|c| c["responses"].as_u64().unwrap_or(0) > 0)
            {
                println!(
                    "  {:02}:00  n={:<7} median {}s",
                    c["hour"].as_u64().unwrap_or(0),
                    f(&c["responses"]),
                    f(&c["median_s"])
                );
            }
            if let Some(h) = d["slowest_hour"].as_u64() {
                println!("slowest hour: {h:02}:00–{:02}:00", h + 1);
            }
        }
        Kind::Topics => {
            println!("{} conversations", f(&d["conversations"]));
            println!("topics:   {}", counts(&arr("topics")));
            println!("keywords: {}", counts(&arr("keywords")));
            println!(
                "scripts:  greeting {}, closing {}, both {} (of {} with an agent)",
                pct(&d["greeting_ratio"]),
                pct(&d["closing_ratio"]),
                pct(&d["both_ratio"]),
                f(&d["with_agent"])
            );
            println!("risk words: {}", counts(&arr("risk_words")));
        }
        Kind::Quality => {
            println!(
                "{} conversations, mean score {}, resolved {}, mean sentiment {}",
                f(&d["conversations"]),
                f(&d["mean_score"]),
                pct(&d["resolved_ratio"]),
                f(&d["mean_sentiment"])
            );
            println!("the 10 lowest:");
            for l in arr("conversations_by_score").iter().take(10) {
                println!(
                    "  {:>5}  {}  {}  {}",
                    f(&l["score"]),
                    safe(&f(&l["conversation"]), true),
                    safe(&f(&l["agent"]), true),
                    f(&l["resolution"])
                );
            }
        }
    }
}

fn counts(list: &[Value]) -> String {
    list.iter()
        .take(15)
        .map(|c| format!("{} {}", safe(&f(&c["name"]), true), f(&c["conversations"])))
        .collect::<Vec<_>>()
        .join(", ")
}

fn arr_hist(h: &Value) -> String {
    h.as_array()
        .map(|a| {
            a.iter()
                .map(|b| format!("{} {}", f(&b[0]), f(&b[1])))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .unwrap_or_default()
}
