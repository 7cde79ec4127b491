//! `chatvault demo`: a realistic archive built, searched, verified and proven in one go.

use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chatvault_archive::{Archive, Filters, KeyProvider};
use chatvault_gen::{GenOptions, Generator};
use chatvault_import::ImportContext;

use crate::render;

const MARKER: &str = ".chatvault-demo";

struct DemoSearch {
    query: &'static str,
    filters: Filters,
    why: &'static str,
}

/// The demo's accounts: one per role, all named `demo-*` and labelled as demo accounts in
/// the UI. Two agents in different teams show that an agent never reaches another
/// team's conversations; the legal officer sits in team 1, whose lead approves her
/// requests.
const DEMO_USERS: &[(&str, &str, Option<&str>, &str)] = &[
    ("demo-agent", "agent", Some("售后一组"), "a-1001"),
    ("demo-agent2", "agent", Some("售后二组"), "a-1002"),
    ("demo-lead", "team_lead", Some("售后一组"), "a-1003"),
    ("demo-legal", "legal", Some("售后一组"), ""),
    ("demo-exec", "executive", None, ""),
    ("demo-auditor", "auditor", None, ""),
    ("demo-admin", "admin", None, ""),
];

/// The platforms the built-in Chinese dialogues use: an agent's handle on each.
const AGENT_PLATFORMS: &[&str] = &["wecom", "wechat", "dingtalk", "qq"];

#[derive(serde::Serialize)]
struct DemoLogin {
    user: String,
    role: String,
    team: Option<String>,
    password: String,
    /// The role must sign in with TOTP: the first sign-in shows the QR code to scan.
    totp: bool,
}

fn create_demo_users(dir: &Path) -> Result<Vec<DemoLogin>> {
    let (mut acc, _) = crate::security::open_access(dir)?;
    let mut out = vec![];
    for (name, role, team, agent) in DEMO_USERS {
        let role_v = chatvault_policy::Role::parse(role)?;
        let handles: Vec<chatvault_policy::Handle> = if agent.is_empty() {
            vec![]
        } else {
            AGENT_PLATFORMS
                .iter()
                .map(|p| chatvault_policy::Handle::new(p, agent))
                .collect()
        };
        let e = acc.add_user("demo", name, role_v, *team, &handles, None, false)?;
        out.push(DemoLogin {
            user: name.to_string(),
            role: role.to_string(),
            team: team.map(str::to_owned),
            password: e.password.unwrap_or_default(),
            totp: e.otpauth.is_some(),
        });
    }
    Ok(out)
}

pub fn run(
    dir: &Path,
    messages: usize,
    corpus: Option<&Path>,
    json: bool,
    serve: Option<&str>,
) -> Result<ExitCode> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            bail!(
                "{} exists and is not a chatvault demo; choose another --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot remove the old demo in {}", dir.display()))?;
    }
    let say = |s: String| {
        if !json {
            println!("{s}");
        }
    };
    let init = Archive::init(dir, &KeyProvider::default())?;
    std::fs::write(
        dir.join(MARKER),
        b"made by `chatvault demo`; safe to delete\n",
    )
    .context("demo marker")?;
    say(format!(
        "1. Created an archive in {} (key file {}, mode 0600)",
        dir.display(),
        dir.join("keys/kek").display()
    ));

    let corpus = corpus.map(chatvault_gen::load_corpus).transpose()?;
    let source = if corpus.is_some() {
        "CrossWOZ dialogues"
    } else {
        "built-in customer-service dialogues"
    };
    let jsonl = dir.join("demo-input.jsonl");
    {
        let mut w = BufWriter::new(std::fs::File::create(&jsonl).context("demo input")?);
        // The conversations end about now, so the roles' windows (an agent's 7 days, a
        // team lead's 30) cover them.
        let start_ms =
            chrono::Utc::now().timestamp_millis() - (messages as i64 * 40_000).max(3_600_000);
        for line in Generator::new(
            GenOptions {
                messages,
                start_ms,
                ..GenOptions::default()
            },
            corpus,
        ) {
            writeln!(w, "{line}").context("demo input")?;
        }
        w.flush().context("demo input")?;
    }
    say(format!(
        "2. Generated {messages} messages from {source}: WeCom, WeChat, DingTalk, QQ, WhatsApp, Telegram and Slack; \
         agents and customers, bursts, slow replies, phone numbers and e-mails, edits and recalls ({})",
        jsonl.display()
    ));

    let mut archive = Archive::open(dir, &KeyProvider::default())?;
    let started = Instant::now();
    let file = std::fs::File::open(&jsonl).context("demo input")?;
    let ctx = ImportContext {
        file_label: jsonl.display().to_string(),
        base_dir: Some(dir.to_owned()),
        ..ImportContext::default()
    };
    let mut records = chatvault_import::CanonicalJsonl.open(Box::new(BufReader::new(file)), ctx);
    let report = archive.import(&mut records, &mut |_| {})?;
    let secs = started.elapsed().as_secs_f64();
    say(format!(
        "3. Imported: {} stored, {} duplicates, {} rejected, {} conversations in {:.2} s ({:.0} messages/s), \
         encrypted with AES-256-GCM, each one a leaf of a signed RFC 6962 Merkle log",
        report.stored,
        report.duplicates,
        report.rejected.len(),
        report.conversations,
        secs,
        report.stored as f64 / secs.max(1e-9)
    ));

    let searches = [
        DemoSearch {
            query: "退款",
            filters: Filters::default(),
            why: "a keyword",
        },
        DemoSearch {
            query: "简单",
            filters: Filters::default(),
            why: "inside 安装简单: engines that segment words miss it",
        },
        DemoSearch {
            query: "处理",
            filters: Filters::default(),
            why: "inside 待处理",
        },
        DemoSearch {
            query: "发票 OR invoice",
            filters: Filters::default(),
            why: "either language",
        },
        DemoSearch {
            query: "退款 -退货",
            filters: Filters {
                sender: Some("张伟".into()),
                ..Filters::default()
            },
            why: "excluding a word, one agent",
        },
        DemoSearch {
            query: "\"iphone 13\"",
            filters: Filters {
                platform: Some("whatsapp".into()),
                ..Filters::default()
            },
            why: "a phrase with a space, any case, one platform",
        },
    ];
    say("4. Searches (exact substring semantics; newest first):".into());
    let color = std::io::stdout().is_terminal();
    let mut results = vec![];
    for s in &searches {
        let t = Instant::now();
        let r = archive.search(s.query, &s.filters, 2, 0)?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let filt = match (&s.filters.sender, &s.filters.platform) {
            (Some(x), _) => format!(" --sender {x}"),
            (_, Some(p)) => format!(" --platform {p}"),
            _ => String::new(),
        };
        say(format!(
            "   chatvault search '{}'{filt}   → {} matches in {ms:.1} ms  ({})",
            s.query, r.total, s.why
        ));
        for h in &r.hits {
            say(format!(
                "      {} {}: {}",
                h.sent_at,
                render::safe(&h.sender, true),
                render::highlighted(&h.snippet, &h.highlights, color)
            ));
        }
        results.push(serde_json::json!({"query": s.query, "total": r.total}));
    }

    let v = archive.verify(&mut |_| {})?;
    say(format!(
        "5. Verified: every message decrypted and re-hashed, {} checkpoint(s) signed by key {}: {}",
        v.checkpoints,
        init.key_fingerprint,
        if v.ok { "ok" } else { "FAILED" }
    ));
    let sample = archive
        .search("退款", &Filters::default(), 1, 0)?
        .hits
        .into_iter()
        .next();
    let mut proof_ok = None;
    if let Some(h) = &sample {
        let proof = archive.proof(&h.id, true)?;
        let path = dir.join("proof.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&proof)?).context("proof file")?;
        let c = chatvault_archive::verify_proof_file(
            &std::fs::read(&path).context("proof file")?,
            Some(&init.key_fingerprint),
        );
        proof_ok = Some(c.ok);
        say(format!(
            "6. Proved message {} offline: {} (inclusion in a log of {} entries, content opened) → {}",
            h.id,
            if c.ok { "ok" } else { "FAILED" },
            proof.tree_size,
            path.display()
        ));
    }
    archive.close()?;
    let logins = create_demo_users(dir)?;
    let d = dir.display();
    let ok = v.ok && proof_ok != Some(false);
    if json {
        crate::print_json(&serde_json::json!({
            "data_dir": dir, "stored": report.stored, "duplicates": report.duplicates,
            "rejected": report.rejected.len(), "conversations": report.conversations,
            "import_seconds": secs, "searches": results, "verify_ok": v.ok, "proof_ok": proof_ok,
            "key_fingerprint": init.key_fingerprint, "logins": logins,
        }))?;
    } else {
        println!();
        println!("Try next (the binary is target/release/chatvault; or prefix `cargo run --release --`):");
        println!("  chatvault --data {d} search '退款' --from 2020-01-01 --tz Asia/Shanghai");
        println!("  chatvault --data {d} search 'refund OR cancel' --platform whatsapp --json");
        if let Some(h) = &sample {
            println!("  chatvault --data {d} show {}", h.conversation);
        }
        println!("  chatvault --data {d} stats");
        println!("  chatvault --data {d} verify");
        println!(
            "  chatvault verify-proof {d}/proof.json --expect-key {}",
            init.key_fingerprint
        );
        println!("  chatvault --data {d} keys rotate && chatvault --data {d} verify");
        println!("  chatvault --data {d} import {d}/demo-input.jsonl    # again: everything is a duplicate");
    }
    let Some(listen) = serve.filter(|_| ok) else {
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    };
    let mut cfg = crate::security::load_config()?;
    // The default port may be taken on this machine: then any free port.
    cfg.listen = match std::net::TcpListener::bind(listen) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && listen == "127.0.0.1:8080" => {
            "127.0.0.1:0".to_owned()
        }
        _ => listen.to_owned(),
    };
    cfg.validate()?;
    let print_logins = move |addr: std::net::SocketAddr| {
        let url = format!("http://{addr}/");
        if json {
            let _ = crate::print_json(&serde_json::json!({"url": url}));
            return;
        }
        println!();
        println!("7. The web UI is serving at {url}  (Ctrl-C stops it)");
        println!("   DEMO ACCOUNTS (for this demo archive only; passwords shown once):");
        for l in &logins {
            let team = l
                .team
                .as_deref()
                .map(|t| format!(", team {t}"))
                .unwrap_or_default();
            let totp = if l.totp {
                "  + TOTP: scan the QR code at the first sign-in"
            } else {
                ""
            };
            println!(
                "   {:<13} {:<26} {}{team}{totp}",
                l.user, l.password, l.role
            );
        }
        println!("   Try: demo-agent searches 退款; demo-legal files a request for a conversation, demo-lead approves it,");
        println!("   demo-legal then sees it; demo-auditor sees every step in the audit log and verifies the chain.");
        println!("   demo-lead reads the service-quality dashboard (/dashboard) and watches live SLA alerts (/alerts) for");
        println!("   messages posted to /api/v1/messages with an ingest token (`token create demo-admin --scope ingest`).");
    };
    crate::security::run_server(dir, cfg, None, print_logins)
}
