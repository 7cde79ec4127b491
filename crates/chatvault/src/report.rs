//! `chatvault report sla|agents|hours|topics|quality`: service-quality reports over the
//! archive, as text, JSON or CSV (Excel-safe), run at the console (every team).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use chatvault_access::{Action, Event};
use chatvault_analytics::report::{
    AgentsReport, Count, Distribution, HoursReport, QualityReport, SlaReport, TopicsReport,
};
use chatvault_app::reports::{csv, for_manager, num, opt, opt_text, pct, Kind, Params, Report};

use crate::print_json;
use crate::render::safe;
use crate::security::time_arg;

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
            "report `{}`: use {}",
            a.kind,
            Kind::names()
        )))
    };
    let app = crate::security::open_app(data)?;
    let p = Params::checked(
        a.from
            .as_deref()
            .map(|s| time_arg(s, "--from", false))
            .transpose()?,
        a.to.as_deref()
            .map(|s| time_arg(s, "--to", true))
            .transpose()?,
        a.team.clone(),
        a.platform.clone(),
        a.business_hours,
    )
    .map_err(|_| chatvault_policy::PolicyError::Invalid("--from is after --to".into()))?;
    // At the console: every team, audited as the console's user.
    let event = Event::new(&crate::security::console_actor(), Action::ReportView);
    let Some(r) = for_manager(&app, event, &[kind], &p)?.pop() else {
        bail!("the report did not run");
    };
    if a.json || json_flag {
        print_json(&r.json()?)?;
    } else if a.csv {
        use std::io::Write;
        std::io::stdout()
            .lock()
            .write_all(&csv(&r.data.table()).map_err(anyhow::Error::msg)?)?;
    } else {
        text(&r);
    }
    Ok(ExitCode::SUCCESS)
}

fn dist(name: &str, d: &Distribution) {
    println!(
        "  {name:<16} n={:<7} median {}s  p90 {}s  p99 {}s",
        d.count,
        opt(d.median_s),
        opt(d.p90_s),
        opt(d.p99_s)
    );
}

/// A report as text: each kind the CLI knows in its own layout, any other as its table.
fn text(r: &Report) {
    if let Some(d) = r.data::<SlaReport>() {
        sla(d);
    } else if let Some(d) = r.data::<AgentsReport>() {
        agents(d);
    } else if let Some(d) = r.data::<HoursReport>() {
        hours(d);
    } else if let Some(d) = r.data::<TopicsReport>() {
        topics(d);
    } else if let Some(d) = r.data::<QualityReport>() {
        quality(d);
    } else {
        let t = r.data.table();
        println!("{}", t.columns.join("\t"));
        for row in &t.rows {
            let cells: Vec<String> = row.iter().map(|c| safe(c, true)).collect();
            println!("{}", cells.join("\t"));
        }
    }
}

fn sla(d: &SlaReport) {
    println!(
        "{} conversations, {} unanswered{}",
        d.conversations,
        d.unanswered_conversations,
        if d.business_hours {
            " (business hours)"
        } else {
            ""
        }
    );
    dist("first response", &d.frt);
    dist("next responses", &d.next_response);
    dist("all responses", &d.response);
    println!("  histogram: {}", hist(&d.response.histogram));
    let o = &d.overall;
    println!(
        "SLA met {} ({} met, {} breached, {} pending)",
        pct(o.met_ratio),
        o.met,
        o.breached,
        o.pending
    );
    for t in &d.teams {
        println!(
            "  team {:<20} {}  ({} / {})",
            safe(&t.name, true),
            pct(t.met_ratio),
            t.met,
            t.breached
        );
    }
    let b = &d.breaches;
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
            safe(&x.conversation, true),
            safe(&opt_text(x.agent.as_deref()), true),
            num(x.waited_s),
            num(x.threshold_s),
            if x.answered { "" } else { ", unanswered" }
        );
    }
}

fn agents(d: &AgentsReport) {
    for (name, c) in [("new", &d.new), ("experienced", &d.experienced)] {
        println!(
            "{name:<12} {} agents, median {}s, p90 {}s, SLA met {}",
            c.agents,
            opt(c.response.median_s),
            opt(c.response.p90_s),
            pct(c.sla.met_ratio)
        );
    }
    println!(
        "{:<28} {:<14} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "agent", "team", "responses", "median s", "p90 s", "SLA", "quality"
    );
    for l in &d.ranking {
        println!(
            "{:<28} {:<14} {:>9} {:>9} {:>9} {:>8} {:>8}{}",
            safe(&l.agent, true),
            safe(&l.team, true),
            l.responses,
            opt(l.median_s),
            opt(l.p90_s),
            pct(l.sla.met_ratio),
            opt(l.mean_quality),
            if l.new { "  (new)" } else { "" }
        );
    }
}

fn hours(d: &HoursReport) {
    println!("median response by hour ({}):", d.timezone);
    for c in d.by_hour.iter().filter(|c| c.responses > 0) {
        println!(
            "  {:02}:00  n={:<7} median {}s",
            c.hour,
            c.responses,
            opt(c.median_s)
        );
    }
    if let Some(h) = d.slowest_hour {
        println!("slowest hour: {h:02}:00–{:02}:00", h + 1);
    }
}

fn topics(d: &TopicsReport) {
    println!("{} conversations", d.conversations);
    println!("topics:   {}", counts(&d.topics));
    println!("keywords: {}", counts(&d.keywords));
    println!(
        "scripts:  greeting {}, closing {}, both {} (of {} with an agent)",
        pct(d.greeting_ratio),
        pct(d.closing_ratio),
        pct(d.both_ratio),
        d.with_agent
    );
    println!("risk words: {}", counts(&d.risk_words));
}

fn quality(d: &QualityReport) {
    println!(
        "{} conversations, mean score {}, resolved {}, mean sentiment {}",
        d.conversations,
        opt(d.mean_score),
        pct(d.resolved_ratio),
        opt(d.mean_sentiment)
    );
    println!("the 10 lowest:");
    for l in d.conversations_by_score.iter().take(10) {
        println!(
            "  {:>5}  {}  {}  {}",
            num(l.score),
            safe(&l.conversation, true),
            safe(&opt_text(l.agent.as_deref()), true),
            l.resolution.as_str()
        );
    }
}

fn counts(list: &[Count]) -> String {
    list.iter()
        .take(15)
        .map(|c| format!("{} {}", safe(&c.name, true), c.conversations))
        .collect::<Vec<_>>()
        .join(", ")
}

fn hist(h: &[(String, u64)]) -> String {
    h.iter()
        .map(|(label, n)| format!("{label} {n}"))
        .collect::<Vec<_>>()
        .join(" | ")
}
