//! `chatvault`: the command line. A thin layer over `chatvault-archive`: it parses
//! arguments, reads files, draws progress bars, and prints results as text or `--json`
//! (documented in `docs/cli.md`). It holds no archive logic of its own.

mod demo;
mod render;
mod time_arg;

use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chatvault_archive::{Archive, ArchiveError, Filters, ImportProgress, KeyProvider};
use chatvault_import::{CountingReader, ImportContext};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use time_arg::{parse_bound, End, Zone};

#[derive(Parser)]
#[command(name = "chatvault", version, about = "Encrypted, tamper-evident chat-record archive with exact Chinese search")]
struct Cli {
    /// The data folder.
    #[arg(long, global = true, env = "CHATVAULT_DATA", default_value = "chatvault-data")]
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

#[derive(Subcommand)]
enum Command {
    /// Create an archive: data folder, key file (mode 0600) and signing key.
    Init,
    /// Import export files (format detected by content).
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Force a format instead of detecting it.
        #[arg(long)]
        format: Option<String>,
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
    /// Full integrity check; exits 1 and names the first bad record.
    Verify,
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
    Checkpoint,
    /// Rebuild the search index from the store.
    Reindex,
    /// Counts, sizes, the latest checkpoint and the key fingerprint.
    Stats,
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
    /// Zone for dates without an offset: Asia/Shanghai, UTC, +08:00, local.
    #[arg(long, default_value = "local")]
    tz: String,
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
        let zone = Zone::parse(&self.tz)?;
        let from_ms = self.from.as_deref().map(|s| parse_bound(s, zone, End::From, "--from")).transpose()?;
        let to_ms = self.to.as_deref().map(|s| parse_bound(s, zone, End::To, "--to")).transpose()?;
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f > t {
                bail!("--from is after --to");
            }
        }
        if let Some(k) = &self.kind {
            k.parse::<chatvault_model::MessageKind>().map_err(|e| anyhow::anyhow!("--kind: {e}"))?;
        }
        Ok(Filters {
            from_ms,
            to_ms,
            sender: self.sender.clone(),
            conversation: self.conversation.clone(),
            platform: self.platform.clone(),
            kind: self.kind.clone(),
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = e.downcast_ref::<ArchiveError>().map_or("error", ArchiveError::code);
            let message = format!("{e:#}");
            if json {
                println!("{}", serde_json::json!({"error": {"code": code, "message": message}}));
            } else {
                eprintln!("error[{code}]: {}", render::safe(&message, false));
            }
            ExitCode::from(2)
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
                format!("{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{bytes}}/{{total_bytes}} {{msg}} ETA {{eta}} ({unit})")
            } else {
                format!("{{spinner}} [{{elapsed_precise}}] {{pos}} {unit} {{msg}}")
            };
            b.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Progress { bar, json: mode == ProgressMode::Json }
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
                println!("created archive {} in {}", r.archive_id, r.data_dir.display());
                match &r.key_file {
                    Some(p) => println!("key file: {} (mode 0600; back it up: without it the archive cannot be read)", p.display()),
                    None => println!("key: from {}", if r.key_source == "env" { "CHATVAULT_KEY" } else { "CHATVAULT_PASSPHRASE" }),
                }
                println!("key id: {}", r.key_id);
                println!("checkpoint key fingerprint: {}", r.key_fingerprint);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { files, format } => import(&cli, files, format.as_deref()),
        Command::Search { query, filters, limit, offset } => {
            let f = filters.to_filters()?;
            let mut a = open(&cli)?;
            let r = a.search(query, &f, *limit, *offset)?;
            a.close()?;
            if cli.json {
                print_json(&r)?;
            } else {
                let color = std::io::stdout().is_terminal();
                println!("{} match{}", r.total, if r.total == 1 { "" } else { "es" });
                for h in &r.hits {
                    println!(
                        "{}  {}  {} ({})  {}",
                        h.sent_at,
                        render::safe(&h.conversation, true),
                        render::safe(&h.sender, true),
                        h.sender_role,
                        h.id
                    );
                    println!("    {}", render::highlighted(&h.snippet, &h.highlights, color));
                }
                if let Some(lag) = r.index_lag {
                    println!("({lag} messages are stored but not yet searchable: an import is running)");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { conversation, offset, limit } => {
            let mut a = open(&cli)?;
            let v = a.show(conversation, *offset, *limit)?;
            if cli.json {
                print_json(&v)?;
            } else {
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
                        k => format!("[{k}{}] ", m.target.as_deref().map(|t| format!(" of {}", render::safe(t, true))).unwrap_or_default()),
                    };
                    let text = m.text.as_deref().unwrap_or("(content purged)");
                    println!("{}  {} ({}): {}{}", m.sent_at, render::safe(who, true), m.sender_role, tag, render::safe(text, true));
                    for att in &m.attachments {
                        println!("    attachment {} ({}, {} bytes, sha256 {})", render::safe(&att.name, true), render::safe(&att.mime, true), att.size, hex::encode(att.sha256));
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
                println!("{} {} {} ({}) {}", m.id, m.sent_at, render::safe(&m.sender, true), m.sender_role, render::safe(&m.conversation, true));
                println!("{}", render::safe(m.text.as_deref().unwrap_or("(content purged)"), false));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify => {
            let mut a = open(&cli)?;
            let r = counted(&cli, &mut a, "messages checked", |a, tick| a.verify(tick))?;
            if cli.json {
                print_json(&r)?;
            } else if r.ok {
                println!("ok: {} messages, {} checkpoints verified{}", r.messages, r.checkpoints,
                    if r.unsigned_tail > 0 { format!(" ({} messages after the newest checkpoint)", r.unsigned_tail) } else { String::new() });
            } else {
                println!("FAILED: {} problem(s) in {} messages", r.errors.len(), r.messages);
                for e in &r.errors {
                    match &e.message_id {
                        Some(id) => println!("  message {id}: {}", render::safe(&e.what, true)),
                        None => println!("  {}", render::safe(&e.what, true)),
                    }
                }
            }
            Ok(if r.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Proof { message_id, with_content } => {
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
                println!("ok: message {} is entry {} of the log of {} entries", c.message_id, c.leaf_index, c.tree_size);
                if let Some(t) = &c.checkpoint_time {
                    println!("signed checkpoint of {t}, key {}", c.key_fingerprint);
                }
                if let Some(l) = &c.leaf {
                    println!("{}:{}  {} ({})  {}  {}", render::safe(&l.platform, true), render::safe(&l.conversation_id, true),
                        render::safe(l.sender_name.as_deref().unwrap_or(&l.sender_id), true), l.sender_role, l.sent_at, l.kind);
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
            Ok(if c.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Keys { command: KeysCommand::Rotate } => {
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
        Command::Checkpoint => {
            let mut a = open(&cli)?;
            let c = a.checkpoint()?;
            a.close()?;
            if cli.json {
                print_json(&serde_json::json!({"signed": c}))?;
            } else {
                match c {
                    Some(c) => println!("signed checkpoint: size {} root {} at {}", c.size, c.root, c.time),
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
                println!("messages {}  conversations {}  participants {}  attachments {}", s.messages, s.conversations, s.participants, s.attachments);
                for (p, n) in &s.by_platform {
                    println!("  {p}: {n}");
                }
                println!("store {} bytes, index {} bytes ({} messages indexed)", s.store_bytes, s.index_bytes, s.indexed_messages);
                match &s.latest_checkpoint {
                    Some(c) => println!("latest checkpoint: size {} root {} at {}", c.size, c.root, c.time),
                    None => println!("no checkpoint yet"),
                }
                println!("key id {}  checkpoint key fingerprint {}", s.key_id, s.key_fingerprint);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { messages, dir, corpus } => demo::run(dir, *messages, corpus.as_deref(), cli.json),
    }
}

/// An input file, opened and matched to its importer before anything is written.
struct Input {
    path: PathBuf,
    importer: &'static dyn chatvault_import::Importer,
    size: u64,
}

fn prepare_inputs(files: &[PathBuf], format: Option<&str>) -> Result<Vec<Input>> {
    let forced = format.map(chatvault_import::by_name).transpose()?;
    files
        .iter()
        .map(|path| {
            let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            let importer = match forced {
                Some(i) => i,
                None => {
                    let mut head = vec![0u8; 64 << 10];
                    let n = read_up_to(&mut f, &mut head).with_context(|| format!("cannot read {}", path.display()))?;
                    head.truncate(n);
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    chatvault_import::detect(&head, &name).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
            };
            Ok(Input { path: path.clone(), importer, size })
        })
        .collect()
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn import(cli: &Cli, files: &[PathBuf], format: Option<&str>) -> Result<ExitCode> {
    let inputs = prepare_inputs(files, format)?;
    let mut archive = open(cli)?;
    let total: u64 = inputs.iter().map(|i| i.size).sum();
    let progress = Progress::new(cli.progress, cli.json, Some(total), "messages");
    let mut counters = vec![];
    let mut streams: Vec<chatvault_import::RecordStream<'_>> = vec![];
    for input in &inputs {
        let f = std::fs::File::open(&input.path).with_context(|| format!("cannot open {}", input.path.display()))?;
        let (counting, counter) = CountingReader::new(f);
        counters.push(counter);
        let ctx = ImportContext {
            file_label: input.path.display().to_string(),
            // Attachment paths are relative to the file's folder ("." for a bare file name).
            base_dir: Some(match input.path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                _ => PathBuf::from("."),
            }),
        };
        streams.push(input.importer.open(Box::new(BufReader::with_capacity(1 << 20, counting)), ctx));
    }
    let mut records = streams.into_iter().flatten();
    let read = || counters.iter().map(|c| c.load(std::sync::atomic::Ordering::Relaxed)).sum::<u64>();
    let started = std::time::Instant::now();
    let report = archive.import(&mut records, &mut |p: ImportProgress| {
        if let Some(b) = &progress.bar {
            b.set_position(read());
            let rate = p.stored as f64 / started.elapsed().as_secs_f64().max(1e-3);
            b.set_message(format!("{} stored, {} duplicates, {} rejected, {:.0} msg/s", p.stored, p.duplicates, p.rejected, rate));
        }
        if progress.json {
            // Emitted only after a durable commit: everything counted here survives a crash.
            eprintln!("{}", serde_json::json!({"event": "committed", "stored": p.stored, "duplicates": p.duplicates, "rejected": p.rejected, "log_size": p.log_size}));
        }
    })?;
    archive.close()?;
    if let Some(b) = progress.bar {
        b.finish_and_clear();
    }
    if cli.json {
        print_json(&report)?;
    } else {
        println!(
            "stored {}, duplicates {}, rejected {}, conversations {} ({:.1} s)",
            report.stored,
            report.duplicates,
            report.rejected.len(),
            report.conversations,
            started.elapsed().as_secs_f64()
        );
        for r in report.rejected.iter().take(50) {
            println!("  rejected {}:{}: {}", render::safe(&r.file, true), r.line, render::safe(&r.reason, true));
        }
        if report.rejected.len() > 50 {
            println!("  … and {} more (use --json for the full list)", report.rejected.len() - 50);
        }
    }
    Ok(ExitCode::SUCCESS)
}
