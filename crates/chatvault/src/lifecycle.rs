//! `chatvault retention …` and `chatvault hold …`: retention policies, tag rules, hand-set
//! tags, the dry-run plan, and legal holds.

use std::process::ExitCode;

use anyhow::Result;
use chatvault_access::Action;
use chatvault_archive::{Archive, KeyProvider, PlanEntry, RetentionRules};
use chatvault_policy::retention::{HoldScope, Keep, Matcher, Verdict};
use clap::Subcommand;

use crate::security::{console_actor, open_access, time_arg};
use crate::{print_json, render};

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// List the policies, tag rules and hand-set tags.
    List,
    /// Create or change a policy: keep what it matches DAYS from sent_at, or `forever`.
    /// The most protective matching policy wins; `default` matches every message.
    Set {
        name: String,
        /// A number of days, or `forever`.
        #[arg(long)]
        keep: String,
        #[arg(long = "platform")]
        platforms: Vec<String>,
        /// PLATFORM:ID (repeatable).
        #[arg(long = "conversation")]
        conversations: Vec<String>,
        /// PLATFORM:ID of a participant (repeatable).
        #[arg(long = "participant")]
        participants: Vec<String>,
        /// A tag or category (repeatable), set by a tag rule or by hand.
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Lock a policy: from now on it can only be extended, never shortened or removed.
    Lock { name: String },
    /// Remove an unlocked policy.
    Remove { name: String },
    /// Tag messages whose text holds any of the keywords (e.g. complaint words).
    TagRule {
        tag: String,
        #[arg(long = "keyword", required = true)]
        keywords: Vec<String>,
    },
    /// Remove a tag rule.
    RemoveTagRule { tag: String },
    /// Tag one message (by id) or a whole conversation (PLATFORM:ID) by hand.
    Tag { target: String, tag: String },
    /// Dry run: what would be deleted when, and why. Changes nothing.
    Plan {
        /// Decide as of this time (RFC 3339 or YYYY-MM-DD); default now.
        #[arg(long)]
        at: Option<String>,
        /// Also list messages whose keep ends within this many days.
        #[arg(long, default_value_t = 30)]
        horizon_days: u32,
        /// The most entries to list per section (the counts cover everything).
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
}

#[derive(Subcommand)]
pub enum HoldCommand {
    /// Place a legal hold as a user (legal, executive or admin): what it covers is kept,
    /// whatever the policies say, until its release is approved.
    Add {
        #[arg(long = "as")]
        user: String,
        #[arg(long)]
        case_number: String,
        #[arg(long)]
        reason: String,
        #[arg(long = "conversation")]
        conversations: Vec<String>,
        #[arg(long = "participant")]
        participants: Vec<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long = "keyword")]
        keywords: Vec<String>,
    },
    /// List the holds.
    List,
    /// Ask for a hold's release (it stays in force until someone else approves).
    Release {
        id: String,
        #[arg(long = "as")]
        user: String,
        #[arg(long)]
        reason: String,
    },
    /// Approve a requested release, as a second person.
    ApproveRelease {
        id: String,
        #[arg(long = "as")]
        user: String,
    },
}

fn keep_text(k: Keep) -> String {
    k.to_string()
}

pub fn retention(data: &std::path::Path, json: bool, cmd: &RetentionCommand) -> Result<ExitCode> {
    let (mut acc, _) = open_access(data)?;
    let actor = console_actor();
    match cmd {
        RetentionCommand::List => {
            let l = acc.lifecycle()?;
            if json {
                print_json(&serde_json::json!({"policies": l.policies, "tag_rules": l.tag_rules, "tags": l.tags}))?;
            } else {
                for p in &l.policies {
                    let m = serde_json::to_string(&p.matcher)?;
                    println!("{:<20} keep {:<12} {}{}", render::safe(&p.name, true), keep_text(p.keep), if p.locked { "LOCKED " } else { "" }, render::safe(&m, true));
                }
                for r in &l.tag_rules {
                    println!("tag rule {}: {}", render::safe(&r.tag, true), render::safe(&r.keywords.join(", "), true));
                }
                for t in &l.tags {
                    println!("tag {} on {} (by {})", render::safe(&t.tag, true), render::safe(&t.target, true), render::safe(&t.by, true));
                }
            }
        }
        RetentionCommand::Set { name, keep, platforms, conversations, participants, tags } => {
            let matcher = Matcher {
                platforms: platforms.clone(),
                conversations: conversations.clone(),
                participants: participants.iter().map(|h| chatvault_access::users::parse_handle(h)).collect::<Result<_, _>>()?,
                tags: tags.clone(),
            };
            let p = acc.set_policy(&actor, name, matcher, Keep::parse(keep)?)?;
            if json {
                print_json(&p)?;
            } else {
                println!("policy {}: keep {}{}", render::safe(&p.name, true), keep_text(p.keep), if p.locked { " (locked)" } else { "" });
            }
        }
        RetentionCommand::Lock { name } => {
            let p = acc.lock_policy(&actor, name)?;
            println!("locked {}: keep {}; it can only be extended from now on", render::safe(&p.name, true), keep_text(p.keep));
        }
        RetentionCommand::Remove { name } => {
            acc.remove_policy(&actor, name)?;
            println!("removed {}", render::safe(name, true));
        }
        RetentionCommand::TagRule { tag, keywords } => {
            let r = acc.set_tag_rule(&actor, tag, keywords.clone())?;
            println!("tag rule {}: {} keywords", render::safe(&r.tag, true), r.keywords.len());
        }
        RetentionCommand::RemoveTagRule { tag } => {
            acc.remove_tag_rule(&actor, tag)?;
            println!("removed tag rule {}", render::safe(tag, true));
        }
        RetentionCommand::Tag { target, tag } => {
            let t = acc.tag(&actor, target, tag)?;
            println!("tagged {} with {}", render::safe(&t.target, true), render::safe(&t.tag, true));
        }
        RetentionCommand::Plan { at, horizon_days, limit } => return plan(data, json, &mut acc, at.as_deref(), *horizon_days, *limit),
    }
    Ok(ExitCode::SUCCESS)
}

fn plan(data: &std::path::Path, json: bool, acc: &mut chatvault_access::Access, at: Option<&str>, horizon_days: u32, limit: usize) -> Result<ExitCode> {
    let now = match at {
        Some(s) => time_arg(s, "--at", false)?,
        None => chrono::Utc::now().timestamp_millis(),
    };
    let life = acc.lifecycle()?;
    let mut archive = Archive::open(data, &KeyProvider::from_env())?;
    let manual = |id: &str, conv: &str| life.manual_tags(id, conv);
    let rules = RetentionRules { policies: &life.policies, tag_rules: &life.tag_rules, holds: &life.holds, manual_tags: &manual };
    let horizon = now + horizon_days as i64 * 86_400_000;
    let (mut expired, mut upcoming): (Vec<PlanEntry>, Vec<PlanEntry>) = (vec![], vec![]);
    let (mut more_expired, mut more_upcoming) = (0u64, 0u64);
    let summary = archive.retention_plan(&rules, now, &mut |e| {
        match &e.verdict {
            Verdict::Expired { .. } if expired.len() < limit => expired.push(e),
            Verdict::Expired { .. } => more_expired += 1,
            Verdict::Keep { until_ms: Some(u), .. } if *u <= horizon => {
                if upcoming.len() < limit {
                    upcoming.push(e)
                } else {
                    more_upcoming += 1
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    upcoming.sort_by_key(|e| match e.verdict {
        Verdict::Keep { until_ms, .. } => until_ms,
        _ => None,
    });
    acc.audit(chatvault_access::Event::new(&console_actor(), Action::RetentionPlan).details(serde_json::json!({
        "at_ms": now, "messages": summary.messages, "expired": summary.expired, "held": summary.held,
    })))?;
    let at_text = chatvault_model::Timestamp::utc(now).to_rfc3339();
    if json {
        print_json(&serde_json::json!({
            "at": at_text, "horizon_days": horizon_days, "summary": summary,
            "expired": expired, "expired_not_listed": more_expired,
            "upcoming": upcoming, "upcoming_not_listed": more_upcoming,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("retention plan at {at_text} (a dry run: nothing is deleted)");
    println!(
        "  {} messages: {} due for deletion, {} under legal hold, {} kept ({} already deleted)",
        summary.messages, summary.expired, summary.held, summary.kept, summary.deleted
    );
    for (p, n) in &summary.expired_by_policy {
        println!("  due under {}: {n}", render::safe(p, true));
    }
    for (h, n) in &summary.held_by_hold {
        println!("  held by {h}: {n}");
    }
    let ts = |ms: i64| chatvault_model::Timestamp::utc(ms).to_rfc3339();
    for e in &expired {
        if let Verdict::Expired { policy, since_ms } = &e.verdict {
            println!("  DELETE {} {} sent {} (policy {}, expired {})", e.id, render::safe(&e.conversation, true), ts(e.sent_at_ms), render::safe(policy, true), ts(*since_ms));
        }
    }
    if more_expired > 0 {
        println!("  … and {more_expired} more due (raise --limit, or --json)");
    }
    for e in &upcoming {
        if let Verdict::Keep { policy, until_ms: Some(u) } = &e.verdict {
            println!("  due {} {} {} (policy {})", ts(*u), e.id, render::safe(&e.conversation, true), render::safe(policy, true));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn hold(data: &std::path::Path, json: bool, cmd: &HoldCommand) -> Result<ExitCode> {
    let (mut acc, _) = open_access(data)?;
    match cmd {
        HoldCommand::Add { user, case_number, reason, conversations, participants, from, to, keywords } => {
            let scope = HoldScope {
                conversations: conversations.clone(),
                participants: participants.iter().map(|h| chatvault_access::users::parse_handle(h)).collect::<Result<_, _>>()?,
                from_ms: from.as_deref().map(|s| time_arg(s, "--from", false)).transpose()?,
                to_ms: to.as_deref().map(|s| time_arg(s, "--to", true)).transpose()?,
                keywords: keywords.clone(),
            };
            // A hold naming a conversation the archive does not have is most likely a typo.
            let mut archive = Archive::open(data, &KeyProvider::from_env())?;
            for c in conversations {
                if let Err(chatvault_archive::ArchiveError::NotFound(_)) = archive.participants_of(c) {
                    eprintln!("warning: the archive has no conversation {} (yet); the hold covers it once it arrives", render::safe(c, true));
                }
            }
            let h = acc.add_hold(user, case_number, reason, scope)?;
            if json {
                print_json(&h)?;
            } else {
                println!("placed hold {} for case {}", h.id, render::safe(&h.case_number, true));
            }
        }
        HoldCommand::List => {
            let holds = acc.lifecycle()?.holds;
            if json {
                print_json(&holds)?;
            } else {
                for h in holds {
                    let state = match &h.release {
                        None => "in force".to_owned(),
                        Some(r) if r.approved_by.is_none() => format!("in force, release requested by {}", render::safe(&r.requested_by, true)),
                        Some(r) => format!("released (asked by {}, approved by {})", render::safe(&r.requested_by, true), render::safe(r.approved_by.as_deref().unwrap_or(""), true)),
                    };
                    println!("{}  case {}  by {}  {state}", h.id, render::safe(&h.case_number, true), render::safe(&h.created_by, true));
                }
            }
        }
        HoldCommand::Release { id, user, reason } => {
            acc.request_hold_release(user, id, reason)?;
            println!("release of {id} requested; it stays in force until someone else approves");
        }
        HoldCommand::ApproveRelease { id, user } => {
            acc.approve_hold_release(user, id)?;
            println!("released {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
