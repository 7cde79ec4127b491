//! Crash points: SIGKILL every writer of the real binary at random moments and check,
//! after each kill, that the archive holds every acknowledged record exactly once and
//! that `verify`, `audit verify` and `backup verify` pass.
//!
//! ```text
//! cargo run --release -p chatvault-bench --bin crash-campaign -- --kills 1000
//! ```
//!
//! Writers: import (acknowledged = the log size of its last `committed` progress event),
//! checkpoint, key rotation, reindex, a retention sweep (which deletes and purges), a
//! backup to a folder, and a restore. Each round kills one writer after a random delay
//! (or lets it finish, when it is faster), then checks. Prints one line per writer:
//! tried, killed mid-run, held, failed; exits 1 on any failure. The test suite runs a
//! short pass (`tests/crash_campaign.rs`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

#[path = "../runner.rs"]
mod runner;
use clap::Parser;
use rand::{Rng, SeedableRng};
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// How many kills in all, spread over the writers.
    #[arg(long, default_value_t = 1000)]
    kills: usize,
    /// Messages in the generated export each import round reads.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The chatvault binary (default: beside this one).
    #[arg(long)]
    chatvault: Option<PathBuf>,
}

const WRITERS: &[&str] = &[
    "import",
    "checkpoint",
    "keys-rotate",
    "reindex",
    "sweep",
    "backup",
    "restore",
];

#[derive(Default, Clone, Copy)]
struct Tally {
    tried: usize,
    killed: usize,
    held: usize,
    failed: usize,
}

struct World {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    export: PathBuf,
    total: u64,
    backups: PathBuf,
    identity: PathBuf,
    recipient: String,
}

impl World {
    fn cmd(&self, data: &Path) -> Command {
        runner::command(&self.bin, data)
    }

    fn run(&self, data: &Path, args: &[&str]) -> Result<(i32, String)> {
        runner::run(&self.bin, data, args)
    }

    fn json(&self, data: &Path, args: &[&str]) -> Result<(i32, Value)> {
        runner::json(&self.bin, data, args)
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = runner::chatvault_binary(args.chatvault.as_deref())?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().to_owned();
    let data = dir.join("data");
    let export = dir.join("export.jsonl");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&export)?);
        // Half of them old enough for the default 180-day policy to sweep.
        let opts = chatvault_gen::GenOptions {
            messages: args.messages,
            seed: args.seed,
            ..Default::default()
        };
        for l in chatvault_gen::Generator::new(opts, None) {
            writeln!(w, "{l}")?;
        }
    }
    let mut w = World {
        bin,
        data: data.clone(),
        export,
        total: args.messages as u64,
        backups: dir.join("backups"),
        identity: dir.join("backup.key"),
        recipient: String::new(),
        dir,
    };
    let (code, out) = w.run(&data, &["init"])?;
    if code != 0 {
        bail!("init: {out}");
    }
    // An account, so the access database and its audit chain exist from the start.
    let (code, out) = w.run(&data, &["user", "add", "admin", "--role", "admin"])?;
    if code != 0 {
        bail!("user add: {out}");
    }
    let (_, k) = w.json(
        &data,
        &[
            "backup",
            "keygen",
            "--out",
            w.identity.to_str().unwrap_or(""),
        ],
    )?;
    w.recipient = k["recipient"].as_str().unwrap_or_default().to_owned();
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut tallies = vec![Tally::default(); WRITERS.len()];
    // Each writer's last full run, so kills land inside its run, not after it.
    let mut lengths = vec![400u64; WRITERS.len()];
    let mut failures: Vec<String> = vec![];
    let started = Instant::now();
    for round in 0..args.kills {
        let which = round % WRITERS.len();
        let delay = Duration::from_millis(rng.gen_range(1..=lengths[which].max(2)));
        let t = &mut tallies[which];
        t.tried += 1;
        let began = Instant::now();
        match one_round(&w, WRITERS[which], delay, round) {
            Ok(killed) => {
                t.held += 1;
                t.killed += usize::from(killed);
                if !killed {
                    lengths[which] = began.elapsed().as_millis().clamp(2, 5_000) as u64;
                }
            }
            Err(e) => {
                t.failed += 1;
                failures.push(format!("round {round} ({}): {e:#}", WRITERS[which]));
                if failures.len() > 20 {
                    break;
                }
            }
        }
    }
    // Last: the whole export again stores nothing twice and loses nothing.
    let (code, r) = w.json(&data, &["import", w.export.to_str().unwrap_or("")])?;
    let (stored, dups) = (
        r["stored"].as_u64().unwrap_or(0),
        r["duplicates"].as_u64().unwrap_or(0),
    );
    let (_, st) = w.json(&data, &["stats"])?;
    if code != 0 || stored + dups != w.total {
        failures.push(format!(
            "the final import: exit {code}, {stored} stored + {dups} duplicates of {}",
            w.total
        ));
    }
    println!("writer        tried  killed  held  failed");
    for (name, t) in WRITERS.iter().zip(&tallies) {
        println!(
            "{name:<12} {:>6} {:>7} {:>5} {:>7}",
            t.tried, t.killed, t.held, t.failed
        );
    }
    let sum = tallies.iter().fold(Tally::default(), |a, t| Tally {
        tried: a.tried + t.tried,
        killed: a.killed + t.killed,
        held: a.held + t.held,
        failed: a.failed + t.failed,
    });
    println!(
        "all          {:>6} {:>7} {:>5} {:>7}   ({:.0} s; archive {} messages)",
        sum.tried,
        sum.killed,
        sum.held,
        sum.failed,
        started.elapsed().as_secs_f64(),
        st["messages"]
    );
    for f in &failures {
        eprintln!("FAILED {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

/// Starts one writer, kills it after `delay` unless it ended first, then checks every
/// invariant. Returns whether it was killed mid-run.
fn one_round(w: &World, writer: &str, delay: Duration, round: usize) -> Result<bool> {
    let restored = w.dir.join(format!("restored-{round}"));
    let export = w.export.to_str().unwrap_or("");
    let backups = w.backups.to_str().unwrap_or("");
    let sweep_at = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    let args: Vec<&str> = match writer {
        "import" => vec!["import", export, "--json", "--progress", "json"],
        "checkpoint" => vec!["checkpoint"],
        "keys-rotate" => vec!["keys", "rotate"],
        "reindex" => vec!["reindex"],
        "sweep" => vec!["retention", "sweep", "--at", &sweep_at],
        "backup" => vec!["backup", "--to", backups, "--recipient", &w.recipient],
        "restore" => vec![
            "restore",
            backups,
            "--to",
            restored.to_str().unwrap_or(""),
            "--identity",
            w.identity.to_str().unwrap_or(""),
        ],
        other => bail!("unknown writer {other}"),
    };
    if writer == "restore" && !w.backups.join("manifests").is_dir() {
        // Nothing to restore yet: take a backup first (not a kill round's subject).
        w.run(
            &w.data,
            &["backup", "--to", backups, "--recipient", &w.recipient],
        )?;
    }
    let mut child = w
        .cmd(&w.data)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // The import says what is durable as it goes: read it while waiting.
    let stderr = child.stderr.take().context("stderr")?;
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ack = acknowledged.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["event"] == "committed" {
                    if let Some(n) = v["log_size"].as_u64() {
                        ack.store(n, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }
    });
    let deadline = Instant::now() + delay;
    let mut killed = false;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() >= deadline {
            child.kill()?; // SIGKILL
            child.wait()?;
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = reader.join();
    let acknowledged = acknowledged.load(std::sync::atomic::Ordering::SeqCst);

    // Every acknowledged record is there, nothing twice.
    let (code, st) = w.json(&w.data, &["stats"])?;
    if code != 0 {
        bail!("stats after the kill: exit {code}: {st}");
    }
    let log = st["log_size"]
        .as_u64()
        .or(st["messages"].as_u64())
        .unwrap_or(0);
    if log < acknowledged {
        bail!("{log} in the log < {acknowledged} acknowledged");
    }
    if st["messages"].as_u64().unwrap_or(0) > w.total {
        bail!(
            "{} messages > the {} written: stored twice",
            st["messages"],
            w.total
        );
    }
    let (code, v) = w.json(&w.data, &["verify"])?;
    if code != 0 {
        bail!("verify: exit {code}: {v}");
    }
    let (code, v) = w.json(&w.data, &["audit", "verify"])?;
    if code != 0 {
        bail!("audit verify: exit {code}: {v}");
    }
    if w.backups.join("manifests").is_dir() {
        let (code, v) = w.json(&w.data, &["backup", "verify", backups])?;
        if code != 0 {
            bail!("backup verify: exit {code}: {v}");
        }
    }
    // A killed restore leaves nothing, or a whole archive that verifies.
    if restored.exists() {
        let (code, v) = w.json(&restored, &["verify"])?;
        if code != 0 {
            bail!("the restored archive: verify exit {code}: {v}");
        }
        let _ = std::fs::remove_dir_all(&restored);
    }
    let _ = std::fs::remove_dir_all(restored.with_extension("restoring"));
    Ok(killed)
}
