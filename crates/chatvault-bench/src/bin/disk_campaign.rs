//! Full disk: run each writer of the real binary on a small tmpfs that fills up during
//! its run, and check that it fails with a clear `storage.full` error, acknowledges
//! nothing it did not store, leaves an archive that verifies, and finishes the job once
//! space returns.
//!
//! ```text
//! cargo build --release -p chatvault -p chatvault-bench --bin chatvault --bin disk-campaign
//! target/release/disk-campaign --trials 60      # as root: it mounts tmpfs
//! ```
//!
//! Each trial copies a prepared archive onto a fresh tmpfs whose free space is drawn
//! on a log scale between nothing and what the writer needs (measured by one run with
//! room), runs the writer, then grows the tmpfs (`mount -o remount,size=…`, space
//! returning) and checks. Writers: import (acknowledged = its last `committed` progress
//! event), reindex, key rotation, a retention sweep, a backup onto the same disk and a
//! restore onto it (from a backup elsewhere). Prints one line per writer: tried, filled
//! (ran out of space and said `storage.full`), held, failed; exits 1 on any failure.
//!
//! With `--fault fsync`, the disk does not fill: its flushes fail. A small library
//! loaded with `LD_PRELOAD` (`src/shim/failfsync.c`, built here with `cc`) makes the
//! k-th `fsync`/`fdatasync` of the writer and every later one fail with `EIO`, k drawn
//! between the first flush and one past the last (counted in the run with room). The
//! writer must stop with `storage.io`, acknowledge nothing it did not store, and leave
//! an archive that verifies and finishes the job once the disk is sound. No root needed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

#[path = "../runner.rs"]
mod runner;
use clap::Parser;
use rand::{Rng, SeedableRng};
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// Trials in all, spread over the writers.
    #[arg(long, default_value_t = 60)]
    trials: usize,
    /// Messages in the generated export.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    #[arg(long, default_value_t = 11)]
    seed: u64,
    /// The chatvault binary (default: beside this one).
    #[arg(long)]
    chatvault: Option<PathBuf>,
    /// What goes wrong: the disk fills up (`space`, needs root for tmpfs), or its flushes
    /// fail (`fsync`).
    #[arg(long, default_value = "space")]
    fault: Fault,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Fault {
    Space,
    Fsync,
}

impl Fault {
    /// The code a writer that met the fault must give.
    fn code(self) -> &'static str {
        match self {
            Fault::Space => "storage.full",
            Fault::Fsync => "storage.io",
        }
    }
}

/// One trial's fault: a disk of this many bytes, or the flush that fails first.
#[derive(Clone, Copy)]
enum Trial {
    Space { size: u64 },
    Fsync { at: u64 },
}

const WRITERS: &[&str] = &[
    "import",
    "reindex",
    "keys-rotate",
    "sweep",
    "backup",
    "restore",
];

#[derive(Default, Clone, Copy)]
struct Tally {
    tried: usize,
    /// Ran out of space, and said `storage.full` (an unclear failure fails the trial).
    filled: usize,
    held: usize,
    failed: usize,
}

/// A tmpfs mounted for one trial, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, bytes: u64) -> Result<Tmpfs> {
        std::fs::create_dir_all(at)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(at)
            .status()
            .context("running mount")?;
        if !status.success() {
            bail!(
                "cannot mount a tmpfs at {} (the campaign needs root, or CAP_SYS_ADMIN, to make a small disk)",
                at.display()
            );
        }
        Ok(Tmpfs(at.to_owned()))
    }

    /// Space returns: the same disk, bigger.
    fn grow(&self, bytes: u64) -> Result<()> {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(&self.0)
            .status()?;
        if !status.success() {
            bail!("cannot grow the tmpfs at {}", self.0.display());
        }
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn du(path: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => n += du(&e.path()),
                // tmpfs counts whole pages.
                Ok(_) => {
                    n += e
                        .metadata()
                        .map(|m| m.len().div_ceil(4096) * 4096)
                        .unwrap_or(0)
                }
                Err(_) => {}
            }
        }
    }
    n
}

struct World {
    bin: PathBuf,
    dir: PathBuf,
    base: PathBuf,
    export: PathBuf,
    total: u64,
    recipient: String,
    /// A backup of the base archive, off the small disk, and its key (for `restore`).
    backups: PathBuf,
    identity: PathBuf,
    /// The failing-flush library (`--fault fsync`).
    shim: Option<PathBuf>,
}

impl World {
    fn args(&self, writer: &str, disk: &Path, sweep_at: &str) -> Vec<String> {
        let export = self.export.to_string_lossy().into_owned();
        let backups = disk.join("backups").to_string_lossy().into_owned();
        let v: Vec<&str> = match writer {
            "import" => vec!["import", &export, "--json", "--progress", "json"],
            "reindex" => vec!["reindex"],
            "checkpoint" => vec!["checkpoint"],
            "keys-rotate" => vec!["keys", "rotate"],
            "sweep" => vec!["retention", "sweep", "--at", sweep_at],
            "backup" => vec!["backup", "--to", &backups, "--recipient", &self.recipient],
            "restore" => {
                return vec![
                    "restore".into(),
                    self.backups.to_string_lossy().into_owned(),
                    "--to".into(),
                    disk.join("restored").to_string_lossy().into_owned(),
                    "--identity".into(),
                    self.identity.to_string_lossy().into_owned(),
                ]
            }
            _ => vec![],
        };
        v.into_iter().map(str::to_owned).collect()
    }

    /// Runs a writer to its end: exit code, everything it printed, and the log size of
    /// its last `committed` event (what it acknowledged).
    fn writer(&self, data: &Path, args: &[String]) -> Result<(i32, String, u64)> {
        self.writer_with(data, args, &[])
    }

    /// [`Self::writer`] with more environment (the failing-flush library's).
    fn writer_with(
        &self,
        data: &Path,
        args: &[String],
        env: &[(&str, String)],
    ) -> Result<(i32, String, u64)> {
        let mut child = runner::command(&self.bin, data)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().context("stderr")?;
        let reader = std::thread::spawn(move || {
            let mut ack = 0u64;
            let mut text = String::new();
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["event"] == "committed" {
                        ack = v["log_size"].as_u64().unwrap_or(ack);
                        continue;
                    }
                }
                text.push_str(&line);
                text.push('\n');
            }
            (ack, text)
        });
        let mut stdout = String::new();
        if let Some(mut o) = child.stdout.take() {
            std::io::Read::read_to_string(&mut o, &mut stdout)?;
        }
        let status = child.wait()?;
        let (ack, err) = reader.join().unwrap_or_default();
        Ok((status.code().unwrap_or(-1), format!("{stdout}{err}"), ack))
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = runner::chatvault_binary(args.chatvault.as_deref())?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().to_owned();
    let base = dir.join("base");
    let export = dir.join("export.jsonl");
    let half = dir.join("half.jsonl");
    {
        let lines: Vec<String> = chatvault_gen::Generator::new(
            chatvault_gen::GenOptions {
                messages: args.messages,
                seed: args.seed,
                ..Default::default()
            },
            None,
        )
        .collect();
        let mut w = std::io::BufWriter::new(std::fs::File::create(&export)?);
        for l in &lines {
            writeln!(w, "{l}")?;
        }
        let mut h = std::io::BufWriter::new(std::fs::File::create(&half)?);
        for l in &lines[..lines.len() / 2] {
            writeln!(h, "{l}")?;
        }
    }
    let mut w = World {
        bin,
        dir: dir.clone(),
        base: base.clone(),
        export,
        total: args.messages as u64,
        recipient: String::new(),
        backups: dir.join("base-backups"),
        identity: dir.join("backup.key"),
        shim: None,
    };
    if args.fault == Fault::Fsync {
        let src = dir.join("failfsync.c");
        let so = dir.join("failfsync.so");
        std::fs::write(&src, include_str!("../shim/failfsync.c"))?;
        let status = Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&so)
            .arg(&src)
            .arg("-ldl")
            .status()
            .context("running cc (the fsync fault needs a C compiler: apt-get install gcc)")?;
        if !status.success() {
            bail!("cc could not build the failing-flush library");
        }
        w.shim = Some(so);
    }
    for a in [
        &["init"][..],
        &["user", "add", "admin", "--role", "admin"],
        &["import", half.to_str().unwrap_or("")],
    ] {
        let (code, out) = runner::run(&w.bin, &base, a)?;
        if code != 0 {
            bail!("{a:?}: {out}");
        }
    }
    let (_, k) = runner::json(
        &w.bin,
        &base,
        &[
            "backup",
            "keygen",
            "--out",
            dir.join("backup.key").to_str().unwrap_or(""),
        ],
    )?;
    w.recipient = k["recipient"].as_str().unwrap_or_default().to_owned();
    let (code, out) = runner::run(
        &w.bin,
        &base,
        &[
            "backup",
            "--to",
            w.backups.to_str().unwrap_or(""),
            "--recipient",
            &w.recipient,
        ],
    )?;
    if code != 0 {
        bail!("the base backup: {out}");
    }
    let sweep_at = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    let base_bytes = du(&base);

    // What each writer needs: one run with room, on a copy (its growth, and how many
    // flushes it makes).
    let mut need = vec![0u64; WRITERS.len()];
    let mut flushes = vec![0u64; WRITERS.len()];
    for (i, writer) in WRITERS.iter().enumerate() {
        let room = dir.join(format!("room-{writer}"));
        let data = room.join("data");
        runner::copy_dir(&base, &data)?;
        let count = dir.join(format!("flushes-{writer}"));
        let env: Vec<(&str, String)> = match &w.shim {
            Some(so) => vec![
                ("LD_PRELOAD", so.to_string_lossy().into_owned()),
                ("FAILFSYNC_COUNT", count.to_string_lossy().into_owned()),
            ],
            None => vec![],
        };
        let (code, out, _) = w.writer_with(&data, &w.args(writer, &room, &sweep_at), &env)?;
        if code != 0 {
            bail!("{writer} with room to spare: exit {code}: {out}");
        }
        // Net growth understates a writer that replaces what it wrote (reindex, key
        // rotation): its peak is higher, so the draw reaches half the archive's size.
        need[i] = du(&room).saturating_sub(base_bytes).max(base_bytes / 2);
        if w.shim.is_some() {
            flushes[i] = std::fs::read_to_string(&count)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .context("the failing-flush library did not count the writer's flushes")?;
            if flushes[i] == 0 {
                bail!("{writer} made no fsync: nothing to fail");
            }
        }
        let _ = std::fs::remove_dir_all(&room);
    }

    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut tallies = vec![Tally::default(); WRITERS.len()];
    let mut failures: Vec<String> = vec![];
    let started = Instant::now();
    for trial in 0..args.trials {
        let which = trial % WRITERS.len();
        let writer = WRITERS[which];
        // Free space from nothing to a little more than the writer needs, drawn evenly on
        // a log scale (most trials fill early, some late, some pass: the campaign also
        // checks that a writer with room is not refused).
        let top = (need[which] + need[which] / 5).max(8192) as f64;
        let (fault, what) = match args.fault {
            Fault::Space => {
                let free = if rng.gen_bool(0.1) {
                    0
                } else {
                    rng.gen_range(4096f64.ln()..=top.ln()).exp() as u64
                };
                (
                    Trial::Space {
                        size: base_bytes + 2 * 4096 + free,
                    },
                    format!("{free} bytes free"),
                )
            }
            Fault::Fsync => {
                // One past the last flush: the writer must then succeed.
                let at = rng.gen_range(1..=flushes[which] + 1);
                (
                    Trial::Fsync { at },
                    format!("flush {at} of {} failing", flushes[which]),
                )
            }
        };
        let t = &mut tallies[which];
        t.tried += 1;
        match one_trial(&w, writer, trial, fault, &sweep_at) {
            Ok(filled) => {
                t.held += 1;
                t.filled += usize::from(filled);
            }
            Err(e) => {
                t.failed += 1;
                failures.push(format!("trial {trial} ({writer}, {what}): {e:#}"));
            }
        }
    }
    let met = match args.fault {
        Fault::Space => "filled",
        Fault::Fsync => "   hit",
    };
    println!("writer        tried  {met}  held  failed");
    for (name, t) in WRITERS.iter().zip(&tallies) {
        println!(
            "{name:<12} {:>6} {:>7} {:>5} {:>7}",
            t.tried, t.filled, t.held, t.failed
        );
    }
    let sum = tallies.iter().fold(Tally::default(), |a, t| Tally {
        tried: a.tried + t.tried,
        filled: a.filled + t.filled,
        held: a.held + t.held,
        failed: a.failed + t.failed,
    });
    println!(
        "all          {:>6} {:>7} {:>5} {:>7}   ({:.0} s)",
        sum.tried,
        sum.filled,
        sum.held,
        sum.failed,
        started.elapsed().as_secs_f64()
    );
    for f in &failures {
        eprintln!("FAILED {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

/// The folder a trial's writer works in: on a small tmpfs, or a plain folder.
struct Disk {
    root: PathBuf,
    tmpfs: Option<Tmpfs>,
}

impl Drop for Disk {
    fn drop(&mut self) {
        if self.tmpfs.is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// One writer meeting one fault. Returns whether it met it (and said so clearly); any
/// broken invariant is an error.
fn one_trial(w: &World, writer: &str, trial: usize, fault: Trial, sweep_at: &str) -> Result<bool> {
    let root = w.dir.join(format!("disk-{trial}"));
    let (disk, env, expected) = match fault {
        Trial::Space { size } => (
            Disk {
                root: root.clone(),
                tmpfs: Some(Tmpfs::mount(&root, size)?),
            },
            vec![],
            Fault::Space.code(),
        ),
        Trial::Fsync { at } => {
            std::fs::create_dir_all(&root)?;
            let so = w.shim.as_ref().context("no failing-flush library")?;
            (
                Disk { root, tmpfs: None },
                vec![
                    ("LD_PRELOAD", so.to_string_lossy().into_owned()),
                    ("FAILFSYNC_AT", at.to_string()),
                ],
                Fault::Fsync.code(),
            )
        }
    };
    let data = disk.root.join("data");
    runner::copy_dir(&w.base, &data).context("copying the archive onto the trial's disk")?;
    let args = w.args(writer, &disk.root, sweep_at);
    let (code, out, acknowledged) = w.writer_with(&data, &args, &env)?;
    let met = code != 0;
    if met && !out.contains(expected) {
        bail!(
            "it failed without a clear {expected} error: exit {code}: {}",
            tail(&out)
        );
    }
    // A Rust panic prints "thread … panicked at"; tantivy's own message for a dead writer
    // thread says "…or panicked." without one.
    if code == 101 || out.contains("panicked at") {
        bail!("it panicked: {}", tail(&out));
    }
    // Space returns; a failing disk is replaced by a sound one (the rest runs without
    // the failing-flush library).
    if let (Some(t), Trial::Space { size }) = (&disk.tmpfs, fault) {
        t.grow(size * 4 + (256 << 20))?;
    }
    let (code, st) = runner::json(&w.bin, &data, &["stats"])?;
    if code != 0 {
        bail!("stats after the full disk: exit {code}: {st}");
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
    for check in [&["verify"][..], &["audit", "verify"]] {
        let (code, v) = runner::json(&w.bin, &data, check)?;
        if code != 0 {
            bail!("{check:?} after the full disk: exit {code}: {v}");
        }
    }
    let backups = disk.root.join("backups");
    if backups.join("manifests").is_dir() {
        let (code, v) = runner::json(
            &w.bin,
            &data,
            &["backup", "verify", backups.to_str().unwrap_or("")],
        )?;
        if code != 0 {
            bail!("backup verify after the full disk: exit {code}: {v}");
        }
    }
    if writer == "restore" {
        let restored = disk.root.join("restored");
        if restored.exists() {
            let (code, v) = runner::json(&w.bin, &restored, &["verify"])?;
            if code != 0 {
                bail!("a restore that ran out of space left a folder that does not verify: {v}");
            }
            std::fs::remove_dir_all(&restored)?;
        }
    }
    // The same job, with room, finishes.
    let (code, out, _) = w.writer(&data, &args)?;
    if code != 0 {
        bail!("run again with room: exit {code}: {}", tail(&out));
    }
    if writer == "import" {
        let (_, st) = runner::json(&w.bin, &data, &["stats"])?;
        if st["messages"].as_u64() != Some(w.total) {
            bail!(
                "after the import with room: {} messages of {}",
                st["messages"],
                w.total
            );
        }
    }
    let checked = if writer == "restore" {
        disk.root.join("restored")
    } else {
        data
    };
    let (code, v) = runner::json(&w.bin, &checked, &["verify"])?;
    if code != 0 {
        bail!("verify after the run with room: exit {code}: {v}");
    }
    Ok(met)
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(6)..].join(" | ")
}
