//! `chatvault`: the command line, a front end over the application layer
//! (`chatvault-app`) and the archive: it parses arguments, reads files, draws progress
//! bars, and prints results as text or `--json` (documented in `docs/cli.md`). Use cases
//! shared with the server (exports, evidence, reports, sweeps, deletions) are the app's;
//! the commands an operator runs on the archive alone (import, search, show, verify,
//! reindex, proofs) call `chatvault-archive` directly. It imports the server only to
//! `serve`.

mod backup;
mod compare;
mod demo;
mod evidence;
mod exit;
mod export;
mod identity;
mod import;
mod lifecycle;
mod render;
mod report;
mod security;
mod source;
mod time_arg;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chatvault_archive::{Archive, Filters, KeyProvider};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use time_arg::End;

/// mimalloc rather than glibc malloc: under `serve`, glibc's per-thread arenas kept
/// growing through a soak (520 MiB to 1.6 GiB in 30 minutes); mimalloc returns freed
/// pages to the system. See docs/campaigns.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "chatvault",
    version,
    about = "Encrypted, tamper-evident chat-record archive with exact Chinese search"
)]
struct Cli {
    /// The data folder.
    #[arg(
        long,
        global = true,
        env = "CHATVAULT_DATA",
        default_value = "chatvault-data"
    )]
    data: PathBuf,
    /// Print machine-readable JSON (see docs/cli.md).
    #[arg(long, global = true)]
    json: bool,
    /// Progress output: a bar on a terminal (auto), JSON lines on stderr, or none.
    #[arg(long, global = true, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProgressMode {
    Auto,
    Bar,
    Json,
    None,
}

#[derive(clap::Args, Clone)]
struct ImportArgs {
    /// Force a format instead of detecting it (`chatvault formats` lists them).
    #[arg(long)]
    format: Option<String>,
    /// Zone of exports that write local time without an offset: an IANA name such as
    /// Asia/Shanghai. Default: the machine's zone (the report states which was used).
    #[arg(long)]
    tz: Option<String>,
    /// Your own name, for exports that write "You" or "我" for you.
    #[arg(long = "self", value_name = "NAME")]
    self_name: Option<String>,
    /// Conversation id for formats that carry none (WhatsApp, Signal, CSV).
    #[arg(long)]
    conversation: Option<String>,
    /// Platform name for generic CSV (default `csv`).
    #[arg(long)]
    platform: Option<String>,
    /// Column mapping for generic CSV: `time=CreateTime,sender=NickName,text=StrContent`
    /// (also `conversation`, `id`, `sender_name`, `reply_to`, `kind`).
    #[arg(long)]
    map: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// List the import formats.
    Formats,
    /// Create an archive: data folder, key file (mode 0600) and signing key.
    Init,
    /// Import export files: WhatsApp, Telegram, Slack, Discord, WeChat, WeCom, QQ,
    /// Messenger/Instagram, Signal, LINE, mbox, CSV, canonical JSONL (see docs/formats.md).
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        options: ImportArgs,
    },
    /// Search with exact substring semantics: `a b` (AND), `a OR b`, `-a`, `"a phrase"`.
    Search {
        #[arg(default_value = "")]
        query: String,
        #[command(flatten)]
        filters: FilterArgs,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Show a conversation (PLATFORM:ID).
    Show {
        conversation: String,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[arg(long, default_value_t = 200)]
        limit: u64,
    },
    /// Show one message by its archive id.
    Message { id: String },
    /// Full integrity check; exits 1 and names the first bad record. With a PACKAGE (an
    /// evidence zip), checks that package offline instead, from the zip alone.
    Verify {
        package: Option<PathBuf>,
        /// With a package: a later checkpoint file (`checkpoint --export`); checks that it
        /// extends the package's checkpoint.
        #[arg(long, requires = "package")]
        against: Option<PathBuf>,
    },
    /// Print an inclusion proof for a message (JSON) against the latest signed checkpoint.
    Proof {
        message_id: String,
        /// Include the text and salt, so the proof also proves the content.
        #[arg(long)]
        with_content: bool,
    },
    /// Check a proof file offline. Needs nothing but the file.
    VerifyProof {
        file: PathBuf,
        /// The archive key fingerprint you trust (sha256:…).
        #[arg(long)]
        expect_key: Option<String>,
    },
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Sign a checkpoint over everything stored.
    Checkpoint {
        /// Also write the newest checkpoint with a consistency proof from this earlier size
        /// (an evidence package's), for `verify PACKAGE --against FILE`.
        #[arg(long, requires = "from_size")]
        export: Option<PathBuf>,
        #[arg(long)]
        from_size: Option<u64>,
    },
    /// Rebuild the search index from the store.
    Reindex,
    /// Counts, sizes, the latest checkpoint and the key fingerprint.
    Stats,
    /// Run the HTTP API (see docs/api.md).
    Serve(security::ServeArgs),
    /// The server's config file.
    Config {
        #[command(subcommand)]
        command: security::ConfigCommand,
    },
    /// Accounts: add, list, freeze (熔断), unfreeze, reset-totp.
    User {
        #[command(subcommand)]
        command: security::UserCommand,
    },
    /// API tokens for machines.
    Token {
        #[command(subcommand)]
        command: security::TokenCommand,
    },
    /// Live capture sources: each listens at /hooks/NAME while `serve` runs.
    Source {
        #[command(subcommand)]
        command: source::SourceCommand,
    },
    /// Retrieval requests (电子证据调取申请).
    Request {
        #[command(subcommand)]
        command: security::RequestCommand,
    },
    /// Grants that approved requests created.
    Grant {
        #[command(subcommand)]
        command: security::GrantCommand,
    },
    /// Service-quality reports: sla, agents, hours, topics, quality (docs/metrics.md).
    Report(report::ReportArgs),
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: security::AuditCommand,
    },
    /// Retention policies, tag rules and the dry-run plan.
    Retention {
        #[command(subcommand)]
        command: lifecycle::RetentionCommand,
    },
    /// Encrypted incremental backups (age; a folder or S3): run, keygen, list, verify, prune.
    Backup(backup::BackupArgs),
    /// Restore a backup into a new data folder, rebuild its index and verify it against the
    /// backup's signed checkpoint.
    Restore {
        /// The backup target: a folder or s3://bucket/prefix.
        from: String,
        /// The new data folder (must not exist, or be empty).
        #[arg(long)]
        to: PathBuf,
        /// The age identity file (from `backup keygen` or age-keygen).
        #[arg(long)]
        identity: PathBuf,
        /// A backup id (default: the latest).
        #[arg(long)]
        backup: Option<String>,
        /// The archive the backup must belong to (`sha256:…`); default: the archive of the
        /// target's first backup. A backup of any other archive is refused.
        #[arg(long)]
        expect_key: Option<String>,
        /// Restore a backup made before manifests were signed (nothing then proves it is
        /// this archive's, or unchanged: check it with `backup verify --identity`).
        #[arg(long)]
        allow_unsigned: bool,
    },
    /// Export a conversation or a query's matches (JSON, CSV or HTML) as a user, under their
    /// export right (role or approved grant); audited.
    Export {
        #[arg(long = "as")]
        user: String,
        #[arg(long)]
        conversation: Option<String>,
        #[arg(long)]
        query: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// json, csv, html or pdf (not with --evidence).
        #[arg(long, required_unless_present = "evidence")]
        format: Option<String>,
        /// Write an evidence package (a zip with proofs, custody and hashes) of the
        /// selection instead; `chatvault verify PACKAGE` checks it offline.
        #[arg(long, conflicts_with = "format")]
        evidence: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// Compare two copies of one conversation: each an export file (any supported format)
    /// or `archive:PLATFORM:ID`. Names messages missing on either side, altered (with a
    /// diff) and reordered; exit 1 when they differ.
    Compare {
        a: String,
        b: String,
        /// The zone of local times in export files without an offset.
        #[arg(long)]
        tz: Option<String>,
        /// How far apart in time two copies of a message may be, after the clock offset.
        #[arg(long, default_value_t = 120)]
        skew_seconds: i64,
    },
    /// Links between one person's handles on different platforms: explicit and suggested.
    Identity {
        #[command(subcommand)]
        command: identity::IdentityCommand,
    },
    /// A case timeline: every message of the conversations these participants (and the
    /// handles linked to them) took part in, across platforms, merged by time.
    Timeline {
        #[arg(long = "participant", required = true)]
        participants: Vec<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// Export it (json, csv, html or pdf) to --out instead of printing.
        #[arg(long, requires = "out")]
        format: Option<String>,
        /// With --format: the file. An export is made as a user (--as), under their export
        /// right and masking, and audited, exactly as `chatvault export`.
        #[arg(long, requires_all = ["format", "user"])]
        out: Option<PathBuf>,
        /// The user the export is made as.
        #[arg(long = "as", requires = "out")]
        user: Option<String>,
    },
    /// Manual deletion and recovery (two people), the deletion list, and purge.
    Delete {
        #[command(subcommand)]
        command: lifecycle::DeleteCommand,
    },
    /// Legal holds: kept whatever the policies say, until a second person approves release.
    Hold {
        #[command(subcommand)]
        command: lifecycle::HoldCommand,
    },
    /// Build a realistic demo archive, search it, verify it, and show what to try next.
    Demo {
        /// Messages to generate.
        #[arg(long, default_value_t = 5000)]
        messages: usize,
        /// Where to build it (replaced if it is an earlier demo).
        #[arg(long, default_value = "chatvault-demo")]
        dir: PathBuf,
        /// Generate from a corpus folder (CrossWOZ zips) instead of the built-in dialogues.
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// Build, check and create the demo accounts, but do not start the server.
        #[arg(long)]
        no_serve: bool,
        /// Where the demo server listens (`127.0.0.1:0` picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Replace the key-encryption key; all data stays readable and the old key is retired.
    Rotate,
}

#[derive(clap::Args)]
struct FilterArgs {
    /// From this time: RFC 3339, YYYY-MM-DD or "YYYY-MM-DD HH:MM" (inclusive).
    #[arg(long)]
    from: Option<String>,
    /// To this time (inclusive: a date means the whole day).
    #[arg(long)]
    to: Option<String>,
    /// Zone for dates without an offset: Asia/Shanghai, UTC, +08:00, local. Default: the
    /// deployment's (`[server] timezone` in the config; else this machine's).
    #[arg(long)]
    tz: Option<String>,
    /// A sender's handle or display name.
    #[arg(long)]
    sender: Option<String>,
    /// PLATFORM:CONVERSATION_ID.
    #[arg(long)]
    conversation: Option<String>,
    #[arg(long)]
    platform: Option<String>,
    /// text, image, voice, video, file, link, location, system, recall, edit, other.
    #[arg(long)]
    kind: Option<String>,
}

impl FilterArgs {
    fn to_filters(&self) -> Result<Filters> {
        let tz = self.tz.as_deref();
        let from_ms = self
            .from
            .as_deref()
            .map(|s| time_arg::parse(s, "--from", End::From, tz))
            .transpose()?;
        let to_ms = self
            .to
            .as_deref()
            .map(|s| time_arg::parse(s, "--to", End::To, tz))
            .transpose()?;
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f > t {
                bail!("--from is after --to");
            }
        }
        if let Some(k) = &self.kind {
            k.parse::<chatvault_model::MessageKind>()
                .map_err(|e| anyhow::anyhow!("--kind: {e}"))?;
        }
        Ok(Filters {
            from_ms,
            to_ms,
            sender: self.sender.clone(),
            conversation: self.conversation.clone(),
            platform: self.platform.clone(),
            kind: self.kind.clone(),
            conversations: None,
            conversation_ids: None,
        })
    }
}

fn main() -> ExitCode {
    exit::quiet_on_closed_stdout();
    let cli = Cli::parse();
    let json = cli.json;
    let data = cli.data.clone();
    match run(cli) {
        Ok(code) => code,
        // The reader went away (`chatvault search … | head`): stop quietly, as ripgrep does.
        Err(e) if exit::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let code = if e
                .chain()
                .any(|c| chatvault_archive::is_storage_full_under(c, &data))
            {
                "storage.full"
            } else if e.chain().any(|c| chatvault_archive::is_storage_failure(c)) {
                "storage.io"
            } else {
                exit::error_code(&e)
            };
            let mut message = format!("{e:#}");
            if code == "storage.full" {
                message.push_str(" — the disk is full: nothing beyond what was reported as committed was acknowledged; free space and run the command again");
            }
            if code == "storage.io" {
                message.push_str(" — the disk failed a write: nothing beyond what was reported as committed was acknowledged; check the disk, then run the command again");
            }
            if json {
                println!(
                    "{}",
                    serde_json::json!({"error": {"code": code, "message": message}})
                );
            } else {
                eprintln!("error[{code}]: {}", render::safe(&message, false));
            }
            ExitCode::from(chatvault_app::errors::exit(code))
        }
    }
}

fn print_json<T: Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

struct Progress {
    bar: Option<ProgressBar>,
    json: bool,
}

impl Progress {
    fn new(mode: ProgressMode, json_output: bool, len: Option<u64>, unit: &str) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let show_bar = match mode {
            ProgressMode::Bar => true,
            ProgressMode::Auto => tty && !json_output,
            _ => false,
        };
        let bar = show_bar.then(|| {
            let b = match len {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            let template = if len.is_some() {
                // Sized bars measure input bytes; the message counts are in `msg`.
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}, ETA {eta}"
                    .to_owned()
            } else {
                format!("{{spinner}} [{{elapsed_precise}}] {{pos}} {unit} {{msg}}")
            };
            b.set_style(
                ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Progress {
            bar,
            json: mode == ProgressMode::Json,
        }
    }
}

/// Runs a pass over every message with a progress bar counting messages.
fn counted<T>(
    cli: &Cli,
    a: &mut Archive,
    unit: &str,
    pass: impl FnOnce(&mut Archive, &mut dyn FnMut(u64)) -> chatvault_archive::Result<T>,
) -> Result<T> {
    let total = a.stats()?.messages;
    let p = Progress::new(cli.progress, cli.json, None, unit);
    if let Some(b) = &p.bar {
        b.set_length(total);
    }
    let out = pass(a, &mut |n| {
        if let Some(b) = &p.bar {
            b.set_position(n);
        }
    })?;
    if let Some(b) = p.bar {
        b.finish_and_clear();
    }
    Ok(out)
}

fn open(cli: &Cli) -> Result<Archive> {
    Ok(Archive::open(&cli.data, &KeyProvider::from_env())?)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Init => {
            let r = Archive::init(&cli.data, &KeyProvider::from_env())?;
            if cli.json {
                print_json(&r)?;
            } else {
                println!(
                    "created archive {} in {}",
                    r.archive_id,
                    r.data_dir.display()
                );
                match &r.key_file {
                    Some(p) => println!("key file: {} (mode 0600; back it up: without it the archive cannot be read)", p.display()),
                    None => println!("key: from {}", if r.key_source == "env" { "CHATVAULT_KEY" } else { "CHATVAULT_PASSPHRASE" }),
                }
                println!("key id: {}", r.key_id);
                println!("checkpoint key fingerprint: {}", r.key_fingerprint);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { files, options } => import::import(&cli, files, options),
        Command::Formats => {
            if cli.json {
                let list: Vec<_> = chatvault_import::IMPORTERS
                    .iter()
                    .map(|i| serde_json::json!({"name": i.name(), "description": i.description()}))
                    .collect();
                print_json(&list)?;
            } else {
                for i in chatvault_import::IMPORTERS {
                    println!("{:<18} {}", i.name(), i.description());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Search {
            query,
            filters,
            limit,
            offset,
        } => {
            let f = filters.to_filters()?;
            let mut a = open(&cli)?;
            let r = a.search(query, &f, *limit, *offset)?;
            a.close()?;
            if cli.json {
                print_json(&r)?;
            } else {
                let color = std::io::stdout().is_terminal();
                let zone = time_arg::deployment_zone()?;
                println!("{} match{}", r.total, if r.total == 1 { "" } else { "es" });
                for h in &r.hits {
                    println!(
                        "{}  {}  {} ({})  {}",
                        render::safe(&zone.show(&h.sent_at), true),
                        render::safe(&h.conversation, true),
                        render::safe(&h.sender, true),
                        h.sender_role,
                        h.id
                    );
                    println!(
                        "    {}",
                        render::highlighted(&h.snippet, &h.highlights, color)
                    );
                }
                if let Some(lag) = r.index_lag {
                    println!(
                        "({lag} messages are stored but not yet searchable: an import is running)"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show {
            conversation,
            offset,
            limit,
        } => {
            let mut a = open(&cli)?;
            let v = a.show(conversation, *offset, *limit)?;
            if cli.json {
                print_json(&v)?;
            } else {
                let zone = time_arg::deployment_zone()?;
                println!(
                    "{} — {} ({} messages)",
                    render::safe(&v.conversation, true),
                    render::safe(v.title.as_deref().unwrap_or("(untitled)"), true),
                    v.total
                );
                for m in &v.messages {
                    let who = m.sender_name.as_deref().unwrap_or(&m.sender);
                    let tag = match m.kind {
                        chatvault_model::MessageKind::Text => String::new(),
                        k => format!(
                            "[{k}{}] ",
                            m.target
                                .as_deref()
                                .map(|t| format!(" of {}", render::safe(t, true)))
                                .unwrap_or_default()
                        ),
                    };
                    let text = m.text.as_deref().unwrap_or("(content purged)");
                    println!(
                        "{}  {} ({}): {}{}",
                        render::safe(&zone.show(&m.sent_at), true),
                        render::safe(who, true),
                        m.sender_role,
                        tag,
                        render::safe(text, true)
                    );
                    for att in &m.attachments {
                        println!(
                            "    attachment {} ({}, {} bytes, sha256 {})",
                            render::safe(&att.name, true),
                            render::safe(&att.mime, true),
                            att.size,
                            hex::encode(att.sha256)
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Message { id } => {
            let mut a = open(&cli)?;
            let m = a.message(id)?;
            if cli.json {
                print_json(&m)?;
            } else {
                let zone = time_arg::deployment_zone()?;
                println!(
                    "{} {} {} ({}) {}",
                    m.id,
                    render::safe(&zone.show(&m.sent_at), true),
                    render::safe(&m.sender, true),
                    m.sender_role,
                    render::safe(&m.conversation, true)
                );
                println!(
                    "{}",
                    render::safe(m.text.as_deref().unwrap_or("(content purged)"), false)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            package: Some(p),
            against,
        } => evidence::verify(p, against.as_deref(), cli.json),
        Command::Verify { package: None, .. } => {
            let mut a = open(&cli)?;
            let r = counted(&cli, &mut a, "messages checked", |a, tick| a.verify(tick))?;
            if cli.json {
                print_json(&r)?;
            } else if r.ok {
                println!(
                    "ok: {} messages, {} checkpoints verified{}",
                    r.messages,
                    r.checkpoints,
                    if r.unsigned_tail > 0 {
                        format!(
                            " ({} messages after the newest checkpoint)",
                            r.unsigned_tail
                        )
                    } else {
                        String::new()
                    }
                );
            } else {
                println!(
                    "FAILED: {} problem(s) in {} messages",
                    r.errors.len(),
                    r.messages
                );
                for e in &r.errors {
                    match &e.message_id {
                        Some(id) => println!("  message {id}: {}", render::safe(&e.what, true)),
                        None => println!("  {}", render::safe(&e.what, true)),
                    }
                }
            }
            Ok(if r.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Proof {
            message_id,
            with_content,
        } => {
            let mut a = open(&cli)?;
            let p = a.proof(message_id, *with_content)?;
            a.close()?;
            println!("{}", serde_json::to_string_pretty(&p)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyProof { file, expect_key } => {
            let mut bytes = vec![];
            std::fs::File::open(file)
                .with_context(|| format!("{}", file.display()))?
                .take(16 << 20)
                .read_to_end(&mut bytes)
                .with_context(|| format!("{}", file.display()))?;
            let c = chatvault_archive::verify_proof_file(&bytes, expect_key.as_deref());
            if cli.json {
                print_json(&c)?;
            } else if c.ok {
                println!(
                    "ok: message {} is entry {} of the log of {} entries",
                    c.message_id, c.leaf_index, c.tree_size
                );
                if let Some(t) = &c.checkpoint_time {
                    println!("signed checkpoint of {t}, key {}", c.key_fingerprint);
                }
                if let Some(l) = &c.leaf {
                    println!(
                        "{}:{}  {} ({})  {}  {}",
                        render::safe(&l.platform, true),
                        render::safe(&l.conversation_id, true),
                        render::safe(l.sender_name.as_deref().unwrap_or(&l.sender_id), true),
                        l.sender_role,
                        l.sent_at,
                        l.kind
                    );
                }
                match &c.text {
                    Some(t) => println!("content proven: {}", render::safe(t, true)),
                    None => println!("content not included (make the proof with --with-content to prove the text)"),
                }
                if expect_key.is_none() {
                    println!("note: compare the key fingerprint with the one the archive published, or pass --expect-key");
                }
            } else {
                println!("FAILED: the proof does not hold");
                for e in &c.errors {
                    println!("  {}", render::safe(e, true));
                }
            }
            Ok(if c.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let mut a = open(&cli)?;
            let (old, new) = a.rotate_key(&KeyProvider::from_env())?;
            a.close()?;
            if cli.json {
                print_json(&serde_json::json!({"old_key_id": old, "new_key_id": new}))?;
            } else {
                println!("rotated: key {old} retired, key {new} in use");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Checkpoint {
            export: Some(out),
            from_size: Some(n),
        } => {
            let mut a = open(&cli)?;
            a.checkpoint()?;
            let f = a.consistency(*n)?;
            a.close()?;
            std::fs::write(out, serde_json::to_vec_pretty(&f)?)
                .with_context(|| out.display().to_string())?;
            if cli.json {
                print_json(
                    &serde_json::json!({"out": out, "tree_size": f.tree_size, "from_size": n}),
                )?;
            } else {
                println!(
                    "wrote {}: checkpoint of size {} with a consistency proof from size {n}",
                    out.display(),
                    f.tree_size
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Checkpoint { .. } => {
            let mut a = open(&cli)?;
            let c = a.checkpoint()?;
            a.close()?;
            if cli.json {
                print_json(&serde_json::json!({"signed": c}))?;
            } else {
                match c {
                    Some(c) => println!(
                        "signed checkpoint: size {} root {} at {}",
                        c.size, c.root, c.time
                    ),
                    None => println!("the latest checkpoint already covers every message"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reindex => {
            let mut a = open(&cli)?;
            let n = counted(&cli, &mut a, "messages indexed", |a, tick| a.reindex(tick))?;
            if cli.json {
                print_json(&serde_json::json!({"indexed": n}))?;
            } else {
                println!("indexed {n} messages");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats => {
            let a = open(&cli)?;
            let s = a.stats()?;
            if cli.json {
                print_json(&s)?;
            } else {
                println!("archive {}", s.archive_id);
                println!(
                    "messages {}  conversations {}  participants {}  attachments {}",
                    s.messages, s.conversations, s.participants, s.attachments
                );
                for (p, n) in &s.by_platform {
                    println!("  {p}: {n}");
                }
                println!(
                    "store {} bytes, index {} bytes ({} messages indexed)",
                    s.store_bytes, s.index_bytes, s.indexed_messages
                );
                match &s.latest_checkpoint {
                    Some(c) => println!(
                        "latest checkpoint: size {} root {} at {}",
                        c.size, c.root, c.time
                    ),
                    None => println!("no checkpoint yet"),
                }
                println!(
                    "key id {}  checkpoint key fingerprint {}",
                    s.key_id, s.key_fingerprint
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            messages,
            dir,
            corpus,
            no_serve,
            listen,
        } => demo::run(
            dir,
            *messages,
            corpus.as_deref(),
            cli.json,
            (!*no_serve).then_some(listen.as_str()),
        ),
        Command::Serve(args) => security::serve(&cli.data, args),
        Command::Config { command } => security::config(command),
        Command::User { command } => security::user(&cli.data, cli.json, command),
        Command::Token { command } => security::token(&cli.data, cli.json, command),
        Command::Source { command } => source::source(&cli.data, cli.json, command),
        Command::Request { command } => security::request(&cli.data, cli.json, command),
        Command::Grant { command } => security::grant(&cli.data, cli.json, command),
        Command::Audit { command } => security::audit(&cli.data, cli.json, command),
        Command::Report(args) => report::report(&cli.data, cli.json, args),
        Command::Retention { command } => lifecycle::retention(&cli.data, cli.json, command),
        Command::Hold { command } => lifecycle::hold(&cli.data, cli.json, command),
        Command::Delete { command } => lifecycle::delete(&cli.data, cli.json, command),
        Command::Backup(args) => backup::backup(&cli.data, cli.json, args),
        Command::Export {
            user,
            conversation,
            query,
            from,
            to,
            format,
            evidence,
            out,
        } => {
            let chosen = export::chosen(
                conversation.as_deref(),
                query.as_deref(),
                from.as_deref(),
                to.as_deref(),
            )?;
            if *evidence {
                evidence::build(&cli.data, cli.json, user, &chosen, out)
            } else {
                export::export(
                    &cli.data,
                    cli.json,
                    user,
                    &chosen,
                    format.as_deref().unwrap_or_default(),
                    out,
                )
            }
        }
        Command::Identity { command } => identity::identity(&cli.data, cli.json, command),
        Command::Timeline {
            participants,
            from,
            to,
            format,
            out,
            user,
        } => identity::timeline(
            &cli.data,
            cli.json,
            participants,
            from.as_deref(),
            to.as_deref(),
            match (format, out, user) {
                (Some(f), Some(o), Some(u)) => Some((f.as_str(), o.as_path(), u.as_str())),
                _ => None,
            },
        ),
        Command::Compare {
            a,
            b,
            tz,
            skew_seconds,
        } => compare::compare(&cli.data, cli.json, a, b, tz.as_deref(), *skew_seconds),
        Command::Restore {
            from,
            to,
            identity,
            backup: id,
            expect_key,
            allow_unsigned,
        } => backup::restore(
            cli.json,
            from,
            to,
            identity,
            id.as_deref(),
            expect_key.as_deref(),
            *allow_unsigned,
        ),
    }
}
