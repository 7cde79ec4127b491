//! `chatvault identity …` (explicit and suggested links between one person's handles) and
//! `chatvault timeline` (a case view across conversations and platforms).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use chatvault_archive::{Archive, Filters, KeyProvider, Selection, Visibility};
use chatvault_policy::retention::{suggest_links, Known};
use chatvault_policy::Handle;
use clap::Subcommand;

use crate::security::{console_actor, open_access, time_arg};
use crate::{print_json, render};

#[derive(Subcommand)]
pub enum IdentityCommand {
    /// Link handles (PLATFORM:ID, two or more) as one person.
    Link {
        #[arg(long = "handle", required = true)]
        handles: Vec<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// The explicit links.
    List,
    /// Remove a link.
    Unlink { id: String },
    /// Suggested links, from the same mobile number, e-mail, id or display name, each with
    /// its confidence (a heuristic: review before linking).
    Suggest,
}

fn handles(list: &[String]) -> Result<Vec<Handle>> {
    Ok(list
        .iter()
        .map(|h| chatvault_access::users::parse_handle(h))
        .collect::<Result<_, _>>()?)
}

pub fn identity(data: &Path, json: bool, cmd: &IdentityCommand) -> Result<ExitCode> {
    let (mut acc, _) = open_access(data)?;
    match cmd {
        IdentityCommand::Link { handles: h, name } => {
            let l = acc.link_identity(&console_actor(), handles(h)?, name.as_deref())?;
            if json {
                print_json(&l)?;
            } else {
                println!(
                    "linked {} handles as one person ({})",
                    l.handles.len(),
                    l.id
                );
            }
        }
        IdentityCommand::List => {
            let ls = acc.identity_links()?;
            if json {
                print_json(&ls)?;
            } else {
                for l in ls {
                    let hs = l
                        .handles
                        .iter()
                        .map(|h| h.to_string())
                        .collect::<Vec<_>>()
                        .join(" = ");
                    println!(
                        "{}  {}{}",
                        l.id,
                        render::safe(&hs, true),
                        l.name
                            .map(|n| format!("  ({})", render::safe(&n, true)))
                            .unwrap_or_default()
                    );
                }
            }
        }
        IdentityCommand::Unlink { id } => {
            acc.unlink_identity(&console_actor(), id)?;
            println!("unlinked {id}");
        }
        IdentityCommand::Suggest => {
            let a = Archive::open(data, &KeyProvider::from_env())?;
            let known: Vec<Known> = a
                .known_participants()?
                .into_iter()
                .map(|(handle, display_name)| Known {
                    handle,
                    display_name,
                })
                .collect();
            let s = suggest_links(&known, &acc.identity_links()?);
            if json {
                print_json(&s)?;
            } else {
                for x in s {
                    println!(
                        "{:.0}%  {}:{} = {}:{}  ({})",
                        x.confidence * 100.0,
                        x.a.platform,
                        render::safe(&x.a.id, true),
                        x.b.platform,
                        render::safe(&x.b.id, true),
                        x.reason
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `chatvault timeline`: printed for the console, or (`export`: format, file, user)
/// exported as that user, through `chatvault export`'s own path: their export right,
/// their masking, an audit entry.
pub fn timeline(
    data: &Path,
    json: bool,
    participants: &[String],
    from: Option<&str>,
    to: Option<&str>,
    export: Option<(&str, &Path, &str)>,
) -> Result<ExitCode> {
    let (acc, _) = open_access(data)?;
    let who =
        chatvault_policy::retention::expand_linked(&handles(participants)?, &acc.identity_links()?);
    drop(acc);
    let mut a = Archive::open(data, &KeyProvider::from_env())?;
    let conversations = a.conversations_of(&who)?;
    if conversations.is_empty() {
        bail!(chatvault_policy::PolicyError::Invalid(format!(
            "no conversation of {}",
            participants.join(", ")
        )));
    }
    let filters = Filters {
        from_ms: from.map(|s| time_arg(s, "--from", false)).transpose()?,
        to_ms: to.map(|s| time_arg(s, "--to", true)).transpose()?,
        conversations: Some(conversations.clone()),
        ..Default::default()
    };
    if let Some((format, out, user)) = export {
        drop(a);
        let range = format!(
            "{}{}",
            from.map(|f| format!(" from {f}")).unwrap_or_default(),
            to.map(|t| format!(" to {t}")).unwrap_or_default()
        );
        let mut chosen = crate::export::Chosen::query("", filters, &range);
        chosen.label = format!("case timeline: {}{range}", participants.join(", "));
        return crate::export::export(data, json, user, &chosen, format, out);
    }
    let mut all = |_: &chatvault_model::StoredMessage, _: &[Handle]| Visibility::Full;
    let sel = Selection::Query {
        query: "",
        filters: &filters,
    };
    let mut msgs = vec![];
    a.stream_visible(&sel, &mut all, &mut |m| {
        msgs.push(m.into_inner());
        Ok(())
    })?;
    if json {
        print_json(
            &serde_json::json!({"handles": who, "conversations": conversations, "messages": msgs}),
        )?;
    } else {
        println!(
            "{} messages from {} conversations ({} handles)",
            msgs.len(),
            conversations.len(),
            who.len()
        );
        let zone = crate::time_arg::deployment_zone()?;
        for m in &msgs {
            println!(
                "  {}  {:<10} {}  {}: {}",
                render::safe(&zone.show(&m.sent_at), true),
                m.platform.as_str(),
                render::safe(&m.conversation, true),
                render::safe(m.sender_name.as_deref().unwrap_or(&m.sender), true),
                render::safe(m.text.as_deref().unwrap_or(""), true)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
