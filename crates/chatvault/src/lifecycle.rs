//! `chatvault retention …` and `chatvault hold …`: retention policies, tag rules, hand-set
//! tags, the dry-run plan, and legal holds.

use std::process::ExitCode;

use anyhow::Result;
use chatvault_access::Action;
use chatvault_archive::{Archive, KeyProvider};
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
    /// Put data in the storage-only state (PIPL Art. 47: kept as the law requires, with
    /// processing withdrawn), as a user: no read reaches it except a grant with
    /// `restricted.view`.
    Restrict {
        #[arg(long = "as")]
        user: String,
        #[arg(long = "conversation")]
        conversations: Vec<String>,
        #[arg(long = "participant")]
        participants: Vec<String>,
        #[arg(long)]
        reason: String,
    },
    /// Lift a restriction.
    Unrestrict {
        id: String,
        #[arg(long = "as")]
        user: String,
    },
    /// Tag one message (by id) or a whole conversation (PLATFORM:ID) by hand.
    Tag { target: String, tag: String },
    /// Delete what the policies say has expired (recoverable for `retention.recover_days`),
    /// purge deletions past their window, and write a report under DATA/reports/.
    Sweep {
        /// Sweep as of this time (RFC 3339 or YYYY-MM-DD); default now.
        #[arg(long)]
        at: Option<String>,
    },
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
pub enum DeleteCommand {
    /// Ask for messages to be deleted, as a user (legal, executive or admin). A second
    /// person approves; then they are invisible and unsearchable, recoverable for
    /// `retention.recover_days`, and purged after.
    Request {
        #[arg(long = "as")]
        user: String,
        #[arg(long = "message")]
        messages: Vec<String>,
        /// Every message of a conversation (PLATFORM:ID).
        #[arg(long)]
        conversation: Option<String>,
        /// Every message a participant (PLATFORM:ID) sent.
        #[arg(long)]
        participant: Option<String>,
        /// Every message matching a query (the search syntax), with --from/--to.
        #[arg(long)]
        query: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        reason: String,
    },
    /// Ask for deleted messages to be recovered (inside their window), as an admin.
    Recover {
        #[arg(long = "as")]
        user: String,
        #[arg(long = "message", required = true)]
        messages: Vec<String>,
        #[arg(long)]
        reason: String,
    },
    /// Approve a request, as a second person (executive or admin), and carry it out.
    Approve {
        id: String,
        #[arg(long = "as")]
        user: String,
    },
    /// Reject a request.
    Reject {
        id: String,
        #[arg(long = "as")]
        user: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// The requests, and every deletion and tombstone.
    List,
    /// Purge the deletions whose recovery window has closed.
    Purge {
        #[arg(long)]
        at: Option<String>,
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
                print_json(
                    &serde_json::json!({"policies": l.policies, "tag_rules": l.tag_rules, "tags": l.tags, "restrictions": l.restrictions}),
                )?;
            } else {
                for p in &l.policies {
                    let m = serde_json::to_string(&p.matcher)?;
                    println!(
                        "{:<20} keep {:<12} {}{}",
                        render::safe(&p.name, true),
                        keep_text(p.keep),
                        if p.locked { "LOCKED " } else { "" },
                        render::safe(&m, true)
                    );
                }
                for r in &l.tag_rules {
                    println!(
                        "tag rule {}: {}",
                        render::safe(&r.tag, true),
                        render::safe(&r.keywords.join(", "), true)
                    );
                }
                for t in &l.tags {
                    println!(
                        "tag {} on {} (by {})",
                        render::safe(&t.tag, true),
                        render::safe(&t.target, true),
                        render::safe(&t.by, true)
                    );
                }
                for r in l.restrictions.iter().filter(|r| r.active()) {
                    let what = r
                        .conversations
                        .iter()
                        .cloned()
                        .chain(r.participants.iter().map(|h| h.to_string()))
                        .collect::<Vec<_>>()
                        .join(", ");
                    println!(
                        "storage only {}: {} ({})",
                        r.id,
                        render::safe(&what, true),
                        render::safe(&r.reason, true)
                    );
                }
            }
        }
        RetentionCommand::Set {
            name,
            keep,
            platforms,
            conversations,
            participants,
            tags,
        } => {
            let matcher = Matcher {
                platforms: platforms.clone(),
                conversations: conversations.clone(),
                participants: participants
                    .iter()
                    .map(|h| chatvault_access::users::parse_handle(h))
                    .collect::<Result<_, _>>()?,
                tags: tags.clone(),
            };
            let p = acc.set_policy(&actor, name, matcher, Keep::parse(keep)?)?;
            if json {
                print_json(&p)?;
            } else {
                println!(
                    "policy {}: keep {}{}",
                    render::safe(&p.name, true),
                    keep_text(p.keep),
                    if p.locked { " (locked)" } else { "" }
                );
            }
        }
        RetentionCommand::Lock { name } => {
            let p = acc.lock_policy(&actor, name)?;
            println!(
                "locked {}: keep {}; it can only be extended from now on",
                render::safe(&p.name, true),
                keep_text(p.keep)
            );
        }
        RetentionCommand::Remove { name } => {
            acc.remove_policy(&actor, name)?;
            println!("removed {}", render::safe(name, true));
        }
        RetentionCommand::TagRule { tag, keywords } => {
            let r = acc.set_tag_rule(&actor, tag, keywords.clone())?;
            println!(
                "tag rule {}: {} keywords",
                render::safe(&r.tag, true),
                r.keywords.len()
            );
        }
        RetentionCommand::RemoveTagRule { tag } => {
            acc.remove_tag_rule(&actor, tag)?;
            println!("removed tag rule {}", render::safe(tag, true));
        }
        RetentionCommand::Restrict {
            user,
            conversations,
            participants,
            reason,
        } => {
            let participants = participants
                .iter()
                .map(|h| chatvault_access::users::parse_handle(h))
                .collect::<Result<_, _>>()?;
            let r = acc.restrict(user, conversations.clone(), participants, reason)?;
            if json {
                print_json(&r)?;
            } else {
                println!(
                    "restricted {}: storage only; read only through a grant with restricted.view",
                    r.id
                );
            }
        }
        RetentionCommand::Unrestrict { id, user } => {
            acc.lift_restriction(user, id)?;
            println!("lifted {id}");
        }
        RetentionCommand::Tag { target, tag } => {
            let t = acc.tag(&actor, target, tag)?;
            println!(
                "tagged {} with {}",
                render::safe(&t.target, true),
                render::safe(&t.tag, true)
            );
        }
        RetentionCommand::Plan {
            at,
            horizon_days,
            limit,
        } => return plan(data, json, &mut acc, at.as_deref(), *horizon_days, *limit),
        RetentionCommand::Sweep { at } => {
            let now = at_or_now(at.as_deref())?;
            let recover_days = crate::security::load_config()?.retention.recover_days;
            let mut archive = Archive::open(data, &KeyProvider::from_env())?;
            let r =
                chatvault_app::lifecycle::sweep(&mut archive, &mut acc, &actor, now, recover_days)?;
            archive.close()?;
            if json {
                print_json(&r)?;
            } else {
                let deleted: u64 = r.deleted.values().sum();
                println!(
                    "swept at {}: {} messages, {} expired, {} held by legal holds",
                    r.at, r.plan.messages, r.plan.expired, r.plan.held
                );
                println!("  deleted {deleted} (recoverable for {} days); purged {} whose window closed ({} conversations' keys destroyed)", r.recover_days, r.purge.purged, r.purge.conversations_shredded);
                println!("  report: {}", r.report_file.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn at_or_now(at: Option<&str>) -> Result<i64> {
    Ok(match at {
        Some(s) => time_arg(s, "--at", false)?,
        None => chrono::Utc::now().timestamp_millis(),
    })
}

fn plan(
    data: &std::path::Path,
    json: bool,
    acc: &mut chatvault_access::Access,
    at: Option<&str>,
    horizon_days: u32,
    limit: usize,
) -> Result<ExitCode> {
    let now = at_or_now(at)?;
    let mut archive = Archive::open(data, &KeyProvider::from_env())?;
    let chatvault_app::lifecycle::Plan {
        summary,
        expired,
        expired_not_listed: more_expired,
        upcoming,
        upcoming_not_listed: more_upcoming,
        ..
    } = chatvault_app::lifecycle::plan(
        &mut archive,
        acc,
        &console_actor(),
        now,
        horizon_days,
        limit,
    )?;
    let at_text = chatvault_model::Timestamp::utc(now).to_rfc3339();
    if json {
        print_json(&serde_json::json!({
            "at": at_text, "horizon_days": horizon_days, "summary": summary,
            "expired": expired, "expired_not_listed": more_expired,
            "upcoming": upcoming, "upcoming_not_listed": more_upcoming,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let zone = crate::time_arg::deployment_zone()?;
    println!(
        "retention plan at {} (a dry run: nothing is deleted)",
        zone.rfc3339(now)
    );
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
    let ts = |ms: i64| zone.rfc3339(ms);
    for e in &expired {
        if let Verdict::Expired { policy, since_ms } = &e.verdict {
            println!(
                "  DELETE {} {} sent {} (policy {}, expired {})",
                e.id,
                render::safe(&e.conversation, true),
                ts(e.sent_at_ms),
                render::safe(policy, true),
                ts(*since_ms)
            );
        }
    }
    if more_expired > 0 {
        println!("  … and {more_expired} more due (raise --limit, or --json)");
    }
    for e in &upcoming {
        if let Verdict::Keep {
            policy,
            until_ms: Some(u),
        } = &e.verdict
        {
            println!(
                "  due {} {} {} (policy {})",
                ts(*u),
                e.id,
                render::safe(&e.conversation, true),
                render::safe(policy, true)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn hold(data: &std::path::Path, json: bool, cmd: &HoldCommand) -> Result<ExitCode> {
    let (mut acc, _) = open_access(data)?;
    match cmd {
        HoldCommand::Add {
            user,
            case_number,
            reason,
            conversations,
            participants,
            from,
            to,
            keywords,
        } => {
            let scope = HoldScope {
                conversations: conversations.clone(),
                participants: participants
                    .iter()
                    .map(|h| chatvault_access::users::parse_handle(h))
                    .collect::<Result<_, _>>()?,
                from_ms: from
                    .as_deref()
                    .map(|s| time_arg(s, "--from", false))
                    .transpose()?,
                to_ms: to
                    .as_deref()
                    .map(|s| time_arg(s, "--to", true))
                    .transpose()?,
                keywords: keywords.clone(),
            };
            // A hold naming a conversation the archive does not have is most likely a typo.
            let mut archive = Archive::open(data, &KeyProvider::from_env())?;
            for c in conversations {
                if let Err(chatvault_archive::ArchiveError::NotFound(_)) =
                    archive.participants_of(c)
                {
                    eprintln!("warning: the archive has no conversation {} (yet); the hold covers it once it arrives", render::safe(c, true));
                }
            }
            let h = acc.add_hold(user, case_number, reason, scope)?;
            if json {
                print_json(&h)?;
            } else {
                println!(
                    "placed hold {} for case {}",
                    h.id,
                    render::safe(&h.case_number, true)
                );
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
                        Some(r) if r.approved_by.is_none() => format!(
                            "in force, release requested by {}",
                            render::safe(&r.requested_by, true)
                        ),
                        Some(r) => format!(
                            "released (asked by {}, approved by {})",
                            render::safe(&r.requested_by, true),
                            render::safe(r.approved_by.as_deref().unwrap_or(""), true)
                        ),
                    };
                    println!(
                        "{}  case {}  by {}  {state}",
                        h.id,
                        render::safe(&h.case_number, true),
                        render::safe(&h.created_by, true)
                    );
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

/// The message ids a deletion request names, and how they were chosen.
pub fn delete(data: &std::path::Path, json: bool, cmd: &DeleteCommand) -> Result<ExitCode> {
    let (mut acc, cfg) = open_access(data)?;
    let recover_days = cfg.retention.recover_days;
    // An approval a crash cut off before its deletion ran is carried out first (or by
    // the server's next sweep, when it holds the archive now).
    let executed = acc.executed_deletions()?;
    let cut_off = acc.deletion_requests()?.iter().any(|r| {
        matches!(
            r.status,
            chatvault_policy::retention::DeletionStatus::Approved { .. }
        ) && !executed.contains_key(&r.id)
    });
    if cut_off {
        let done = Archive::open(data, &KeyProvider::from_env())
            .map_err(anyhow::Error::from)
            .and_then(|mut archive| {
                let x = chatvault_app::lifecycle::complete_approved(
                    &mut archive,
                    &mut acc,
                    "chatvault",
                    chrono::Utc::now().timestamp_millis(),
                    recover_days,
                )?;
                archive.close()?;
                Ok(x)
            });
        match done {
            Ok(cut) => {
                for c in cut {
                    match c.outcome {
                        Ok(x) => eprintln!("carried out deletion request {} (approved, then cut off before it ran): {} messages", c.request, x.done),
                        Err(why) => eprintln!("warning: deletion request {} was approved but never carried out: {why}", c.request),
                    }
                }
            }
            Err(e) => eprintln!("warning: an approved deletion request was cut off before it ran and cannot be carried out now ({e:#}); the next `delete` command or sweep does it"),
        }
    }
    match cmd {
        DeleteCommand::Request {
            user,
            messages,
            conversation,
            participant,
            query,
            from,
            to,
            reason,
        } => {
            let mut archive = Archive::open(data, &KeyProvider::from_env())?;
            let (ids, selector) = chatvault_app::lifecycle::select_messages(
                &mut archive,
                &chatvault_app::lifecycle::Selector {
                    messages,
                    conversation: conversation.as_deref(),
                    participant: participant.as_deref(),
                    query: query.as_deref(),
                    from_ms: from
                        .as_deref()
                        .map(|s| time_arg(s, "--from", false))
                        .transpose()?,
                    to_ms: to
                        .as_deref()
                        .map(|s| time_arg(s, "--to", true))
                        .transpose()?,
                },
            )?;
            let r = acc.file_deletion(
                user,
                chatvault_policy::retention::DeletionKind::Delete,
                ids,
                &selector,
                reason,
            )?;
            if json {
                print_json(&r)?;
            } else {
                println!("deletion request {}: {} messages ({}); a second person approves with `chatvault delete approve {} --as USER`", r.id, r.messages.len(), render::safe(&r.selector, true), r.id);
            }
        }
        DeleteCommand::Recover {
            user,
            messages,
            reason,
        } => {
            let r = acc.file_deletion(
                user,
                chatvault_policy::retention::DeletionKind::Recover,
                messages.clone(),
                &format!("messages {}", messages.len()),
                reason,
            )?;
            if json {
                print_json(&r)?;
            } else {
                println!(
                    "recovery request {}: {} messages; a second person approves it",
                    r.id,
                    r.messages.len()
                );
            }
        }
        DeleteCommand::Approve { id, user } => {
            let r = acc.decide_deletion(user, id, true, "")?;
            let mut archive = Archive::open(data, &KeyProvider::from_env())?;
            let x = chatvault_app::lifecycle::execute(
                &mut archive,
                &mut acc,
                user,
                &r,
                chrono::Utc::now().timestamp_millis(),
                recover_days,
            )?;
            archive.close()?;
            if json {
                print_json(&x)?;
            } else {
                let verb = if x.kind == chatvault_policy::retention::DeletionKind::Delete {
                    "deleted"
                } else {
                    "recovered"
                };
                println!("approved {id}: {verb} {} messages", x.done);
                if !x.held.is_empty() {
                    println!("  {} kept: a legal hold covers them", x.held.len());
                }
                if !x.skipped.is_empty() {
                    println!(
                        "  {} not recoverable (purged, or never deleted)",
                        x.skipped.len()
                    );
                }
            }
        }
        DeleteCommand::Reject { id, user, comment } => {
            acc.decide_deletion(user, id, false, comment)?;
            println!("rejected {id}");
        }
        DeleteCommand::List => {
            let requests = acc.deletion_requests()?;
            let mut archive = Archive::open(data, &KeyProvider::from_env())?;
            let deletions = archive.deletion_list()?;
            if json {
                print_json(&serde_json::json!({"requests": requests, "deletions": deletions}))?;
            } else {
                for r in &requests {
                    let status = serde_json::to_value(&r.status)
                        .ok()
                        .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_owned))
                        .unwrap_or_default();
                    println!(
                        "{}  {:?}  {status:<8} {} messages ({}) by {}",
                        r.id,
                        r.kind,
                        r.messages.len(),
                        render::safe(&r.selector, true),
                        render::safe(&r.requested_by, true)
                    );
                }
                let zone = crate::time_arg::deployment_zone()?;
                let ts = |ms: i64| zone.rfc3339(ms);
                for d in &deletions {
                    let when = match d.purged_ms {
                        Some(p) => format!("purged {}", ts(p)),
                        None => format!("recoverable until {}", ts(d.recover_until_ms)),
                    };
                    println!(
                        "{}  {:<7} {}  deleted {}  {when}  ({})",
                        d.id,
                        d.state,
                        render::safe(&d.conversation, true),
                        ts(d.deleted_ms),
                        render::safe(&d.reason.rule, true)
                    );
                }
            }
        }
        DeleteCommand::Purge { at } => {
            let now = at_or_now(at.as_deref())?;
            let mut archive = Archive::open(data, &KeyProvider::from_env())?;
            let p = archive.purge_due(now, &mut |_| {})?;
            archive.close()?;
            acc.audit(chatvault_access::Event::new(&console_actor(), Action::Purge).details(serde_json::json!({
                "purged": p.purged, "attachments_removed": p.attachments_removed, "conversations_shredded": p.conversations_shredded,
            })))?;
            if json {
                print_json(&p)?;
            } else {
                println!(
                    "purged {} messages ({} attachments, {} conversations' keys destroyed)",
                    p.purged, p.attachments_removed, p.conversations_shredded
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
