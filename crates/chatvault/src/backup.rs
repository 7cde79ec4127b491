//! `chatvault backup …` and `chatvault restore`: encrypted incremental backups to a folder
//! or S3, their verification, pruning of expired sets, and verified restore.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chatvault_archive::{Archive, KeyProvider};
use chatvault_backup::{BackupOptions, Target};
use clap::{Args, Subcommand};

use crate::{print_json, render};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    /// A folder, or s3://bucket/prefix (credentials from AWS_* variables); default
    /// `backup.to` in the config.
    #[arg(long)]
    pub to: Option<String>,
    /// An age recipient (age1…), repeatable; default `backup.recipients` in the config.
    #[arg(long = "recipient")]
    pub recipients: Vec<String>,
    /// Start a new set with a full backup (default: incremental on the latest set).
    #[arg(long)]
    pub full: bool,
    /// The retention tier of this backup (see `backup prune`).
    #[arg(long, default_value = "manual")]
    pub tier: String,
}

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Generate an age identity: the secret goes to --out (mode 0600), the recipient is printed.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// List the backups in a target.
    List { from: String },
    /// Check a backup target without restoring: every manifest's signature by the
    /// archive's key, every chunk against its hash and every checkpoint's signature; with
    /// --identity, every chunk decrypted too.
    Verify {
        from: String,
        #[arg(long)]
        identity: Option<PathBuf>,
        /// The archive the backups must belong to (`sha256:…`, as `chatvault stats`
        /// prints it); default: the archive of the target's first backup.
        #[arg(long)]
        expect_key: Option<String>,
    },
    /// Remove backup sets older than their tier's days (the latest set always stays), and
    /// the chunks nothing references any more.
    Prune {
        from: String,
        /// TIER=DAYS, repeatable (default: the config's backup.keep_days).
        #[arg(long = "keep")]
        keep: Vec<String>,
        /// Prune as of this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        at: Option<String>,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn now_or(at: Option<&str>) -> Result<i64> {
    Ok(match at {
        Some(s) => crate::security::time_arg(s, "--at", false)?,
        None => chrono::Utc::now().timestamp_millis(),
    })
}

pub fn backup(data: &Path, json: bool, args: &BackupArgs) -> Result<ExitCode> {
    let cfg = crate::security::load_config()?;
    match &args.command {
        Some(BackupCommand::Keygen { out }) => {
            if out.exists() {
                bail!(chatvault_backup::BackupError::Key(format!(
                    "{} exists: not overwriting an identity",
                    out.display()
                )));
            }
            let (secret, recipient) = chatvault_backup::keygen();
            let text = format!(
                "# created: {}\n# public key: {recipient}\n{}\n",
                chrono::Utc::now().to_rfc3339(),
                secret.as_str()
            );
            write_secret(out, text.as_bytes())?;
            if json {
                print_json(&serde_json::json!({"identity": out, "recipient": recipient}))?;
            } else {
                println!(
                    "identity written to {} (mode 0600; keep it offline: it decrypts every backup)",
                    out.display()
                );
                println!("recipient: {recipient}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(BackupCommand::List { from }) => {
            let t = Target::parse(from)?;
            let ms = runtime()?.block_on(t.manifests())?;
            if json {
                print_json(&ms)?;
            } else {
                for m in ms {
                    println!(
                        "{}  {:<11} set {}  tier {:<7} {}  {} messages, tree {}  uploaded {} chunks ({} bytes)",
                        m.id, m.kind, m.set, render::safe(&m.tier, true), m.created_at, m.archive.messages, m.archive.tree_size, m.uploaded_chunks, m.uploaded_bytes
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(BackupCommand::Verify {
            from,
            identity,
            expect_key,
        }) => {
            let t = Target::parse(from)?;
            let ids = identity
                .as_deref()
                .map(chatvault_backup::read_identities)
                .transpose()?;
            let check = |note: &str, key: &str| {
                chatvault_ledger::verify_checkpoint(note, key)
                    .map(drop)
                    .map_err(|e| e.to_string())
            };
            let r = runtime()?.block_on(chatvault_backup::verify(
                &t,
                ids.as_deref(),
                &check,
                expect_key.as_deref(),
            ))?;
            if json {
                print_json(&r)?;
            } else {
                println!(
                    "{}: {} backups, {} chunks checked{}",
                    if r.ok { "ok" } else { "FAILED" },
                    r.manifests,
                    r.chunks_checked,
                    if r.decrypted {
                        ", each decrypted and re-hashed"
                    } else {
                        " against their hashes (give --identity to decrypt them too)"
                    }
                );
                for p in &r.problems {
                    println!(
                        "  backup {}: {}{}: {}",
                        p.manifest,
                        p.file
                            .as_deref()
                            .map(|f| format!("{f}, "))
                            .unwrap_or_default(),
                        p.object.as_deref().unwrap_or("manifest"),
                        render::safe(&p.what, true)
                    );
                }
            }
            Ok(if r.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Some(BackupCommand::Prune { from, keep, at }) => {
            let t = Target::parse(from)?;
            let mut days = cfg.backup.keep_days.clone();
            for k in keep {
                let Some((tier, d)) = k.split_once('=') else {
                    bail!(chatvault_backup::BackupError::Key(format!(
                        "--keep `{k}`: write TIER=DAYS"
                    )))
                };
                let d: u32 = d.trim().parse().map_err(|_| {
                    chatvault_backup::BackupError::Key(format!("--keep `{k}`: DAYS is a number"))
                })?;
                days.insert(tier.trim().to_owned(), d);
            }
            let r =
                runtime()?.block_on(chatvault_backup::prune(&t, &days, now_or(at.as_deref())?))?;
            if json {
                print_json(&r)?;
            } else {
                println!(
                    "removed {} expired sets ({} backups) and {} chunks no backup needs",
                    r.sets_removed, r.manifests_removed, r.chunks_removed
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let to = args
                .to
                .clone()
                .or_else(|| (!cfg.backup.to.is_empty()).then(|| cfg.backup.to.clone()));
            let Some(to) = to else {
                bail!(chatvault_backup::BackupError::Target {
                    target: String::new(),
                    why: "give --to DIR or s3://bucket/prefix (or backup.to in the config)".into()
                })
            };
            let recipients = if args.recipients.is_empty() {
                cfg.backup.recipients.clone()
            } else {
                args.recipients.clone()
            };
            // Sign the tail first, so the backup ends at a signed checkpoint; a running server
            // that holds the write lock signs at its own pace. The archive's key signs the
            // manifest.
            match Archive::open(data, &KeyProvider::from_env())
                .and_then(|mut a| a.checkpoint().map(drop))
            {
                Ok(()) | Err(chatvault_archive::ArchiveError::Locked(_)) => {}
                Err(e) => return Err(e.into()),
            }
            // A fresh handle, which takes no write lock: imports and a server go on during
            // the upload.
            let archive = std::sync::Mutex::new(Archive::open(data, &KeyProvider::from_env())?);
            let sign = |text: &str| -> std::result::Result<String, String> {
                archive
                    .lock()
                    .map_err(|_| "the archive lock is poisoned".to_owned())?
                    .sign_statement(text)
                    .map_err(|e| e.to_string())
            };
            let t = Target::parse(&to)?;
            let o = BackupOptions {
                recipients: &recipients,
                full: args.full,
                tier: &args.tier,
                now_ms: chrono::Utc::now().timestamp_millis(),
                sign: &sign,
            };
            let m = runtime()?.block_on(chatvault_backup::backup(data, &t, &o))?;
            let (mut acc, _) = crate::security::open_access(data)?;
            acc.audit(chatvault_access::Event::new(&crate::security::console_actor(), chatvault_access::Action::BackupRun).target(&m.id).details(serde_json::json!({
                "kind": m.kind, "tier": m.tier, "set": m.set, "to": t.display, "tree_size": m.archive.tree_size, "uploaded_chunks": m.uploaded_chunks,
            })))?;
            if json {
                print_json(&m)?;
            } else {
                println!(
                    "{} backup {} to {} (set {}): {} files, {} new chunks ({} bytes), ending at checkpoint {} of {} messages",
                    m.kind,
                    m.id,
                    render::safe(&t.display, true),
                    m.set,
                    m.files.len(),
                    m.uploaded_chunks,
                    m.uploaded_bytes,
                    m.archive.tree_size,
                    m.archive.messages
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o
        .open(path)
        .with_context(|| format!("{}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("{}", path.display()))?;
    Ok(())
}

/// `chatvault restore FROM --to NEWDIR --identity FILE [--backup ID]`.
pub fn restore(
    json: bool,
    from: &str,
    to: &Path,
    identity: &Path,
    id: Option<&str>,
    expect_key: Option<&str>,
    allow_unsigned: bool,
) -> Result<ExitCode> {
    let t = Target::parse(from)?;
    let ids = chatvault_backup::read_identities(identity)?;
    let m = runtime()?.block_on(chatvault_backup::restore(
        &t,
        id,
        &ids,
        to,
        expect_key,
        allow_unsigned,
    ))?;
    let mut a = Archive::open(to, &KeyProvider::from_env())?;
    let indexed = a.reindex(&mut |_| {})?;
    let v = a.verify(&mut |_| {})?;
    let stats = a.stats()?;
    a.close()?;
    drop(a);
    // The restored archive records where it came from.
    let (mut acc, _) = crate::security::open_access(to)?;
    acc.audit(chatvault_access::Event::new(&crate::security::console_actor(), chatvault_access::Action::Restore).target(&m.id).details(serde_json::json!({
        "from": t.display, "created_at": m.created_at, "tree_size": m.archive.tree_size, "verify_ok": v.ok,
    })))?;
    let root = stats.latest_checkpoint.as_ref().map(|c| c.root.clone());
    let root_ok = root == m.archive.root
        && stats.latest_checkpoint.as_ref().map_or(0, |c| c.size) == m.archive.tree_size;
    let ok = v.ok && root_ok;
    if json {
        print_json(&serde_json::json!({
            "backup": m.id, "restored_to": to, "messages": stats.messages, "indexed": indexed,
            "verify_ok": v.ok, "root": root, "backup_root": m.archive.root, "tree_size": m.archive.tree_size, "root_matches": root_ok, "errors": v.errors,
        }))?;
    } else {
        println!(
            "restored backup {} ({}) into {}: {} messages, index rebuilt",
            m.id,
            m.created_at,
            to.display(),
            stats.messages
        );
        println!("verify: {}", if v.ok { "ok" } else { "FAILED" });
        println!(
            "Merkle root {} the backup's signed checkpoint ({} at size {})",
            if root_ok { "equals" } else { "DIFFERS FROM" },
            m.archive.root.as_deref().unwrap_or("none"),
            m.archive.tree_size
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
