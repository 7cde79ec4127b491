//! `chatvault compare A B`: two copies of one conversation, each an export file in any
//! supported format or `archive:PLATFORM:ID`, aligned and their differences named.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use chatvault_archive::{Archive, KeyProvider};
use chatvault_compare::{Msg, Options};

use crate::{print_json, render};

/// One side's messages, in its own order.
fn side(data: &std::path::Path, spec: &str, tz: Option<&str>) -> Result<Vec<Msg>> {
    if let Some(conv) = spec.strip_prefix("archive:") {
        let mut a = Archive::open(data, &KeyProvider::from_env())?;
        let mut out = vec![];
        let mut offset = 0;
        loop {
            let page = a.show(conv, offset, 1000)?;
            let n = page.messages.len() as u64;
            for m in page.messages {
                if matches!(
                    m.kind,
                    chatvault_model::MessageKind::Recall | chatvault_model::MessageKind::Edit
                ) {
                    continue;
                }
                out.push(Msg {
                    key: m.id,
                    sender: m.sender_name.unwrap_or(m.sender),
                    at_ms: m.sent_at_ts.utc_ms,
                    text: m.text.unwrap_or_default(),
                });
            }
            offset += 1000;
            if n == 0 || offset >= page.total {
                break;
            }
        }
        return Ok(out);
    }
    let path = PathBuf::from(spec);
    let source = chatvault_import::Source::open(&path, &chatvault_import::Limits::default())?;
    let mut probe = source.probe()?;
    probe.file_name = source.label.clone();
    let importer = chatvault_import::detect(&probe)?;
    let tz = match tz {
        Some(name) => name
            .parse::<chrono_tz::Tz>()
            .map_err(|_| anyhow::anyhow!("--tz: unknown zone `{name}`"))?,
        None => chatvault_import::machine_zone().0,
    };
    let ctx = chatvault_import::ImportContext {
        tz,
        file_label: spec.to_owned(),
        ..Default::default()
    };
    let mut out = vec![];
    let mut rejected = 0u64;
    importer.import(
        &source,
        &ctx,
        &mut chatvault_import::Sink::new(&mut |p| {
            match p {
                chatvault_import::Parsed::Message(m)
                    if !matches!(
                        m.kind,
                        chatvault_model::MessageKind::Recall | chatvault_model::MessageKind::Edit
                    ) =>
                {
                    out.push(Msg {
                        key: m
                            .source_id
                            .clone()
                            .unwrap_or_else(|| format!("{} line {}", m.origin.file, m.origin.line)),
                        sender: m.sender.name.clone().unwrap_or_else(|| m.sender.id.clone()),
                        at_ms: m.sent_at.utc_ms,
                        text: m.text.clone(),
                    })
                }
                chatvault_import::Parsed::Rejected(_) => rejected += 1,
                _ => {}
            }
            true
        }),
    )?;
    if out.is_empty() {
        bail!(chatvault_policy::PolicyError::Invalid(format!(
            "{spec}: no message read ({rejected} rejected)"
        )));
    }
    Ok(out)
}

pub fn compare(
    data: &std::path::Path,
    json: bool,
    a: &str,
    b: &str,
    tz: Option<&str>,
    skew_s: i64,
) -> Result<ExitCode> {
    let (sa, sb) = (side(data, a, tz)?, side(data, b, tz)?);
    let r = chatvault_compare::compare(
        &sa,
        &sb,
        &Options {
            skew_ms: skew_s * 1000,
            ..Options::default()
        },
    );
    if json {
        print_json(&r)?;
    } else {
        println!(
            "{} (A = {}, B = {}; B's clock is {:+} s from A's)",
            r.verdict,
            render::safe(a, true),
            render::safe(b, true),
            r.offset_ms / 1000
        );
        let line = |m: &Msg| {
            format!(
                "{} {}: {}",
                chatvault_model::Timestamp::utc(m.at_ms).to_rfc3339(),
                render::safe(&m.sender, true),
                render::safe(&m.text, true)
            )
        };
        for m in &r.missing_from_b {
            println!("  only in A  {}  ({})", line(m), render::safe(&m.key, true));
        }
        for m in &r.missing_from_a {
            println!("  only in B  {}  ({})", line(m), render::safe(&m.key, true));
        }
        for x in &r.altered {
            println!(
                "  altered    {}  →  {}",
                line(&x.a),
                render::safe(&x.diff, true)
            );
        }
        for (x, _) in &r.reordered {
            println!("  reordered  {}", line(x));
        }
    }
    Ok(if r.identical() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
