//! `cargo build --release && cargo run --release -p chatvault-bench --bin import-rss -- --bytes 2000000000`
//!
//! Memory bound of `chatvault import` on a large real-format export. It writes a Telegram
//! Desktop `result.json` (one JSON document, the shape other tools load whole) of about
//! `--bytes`, and the same export at a tenth of the size, imports each with the release
//! binary, and prints throughput and peak memory for both, sampled from `/proc`: the
//! peak RSS, split into anonymous memory (what the import allocates) and file-backed
//! pages (the mmap'd index segments, clean and reclaimable by the kernel). The small
//! import is the baseline of the same run: a bounded importer's anonymous memory does
//! not grow with the input. `--format whatsapp` writes a WhatsApp `.txt` instead (read
//! in two passes).

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Result};
use chatvault_gen::{GenOptions, Generator};
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    /// Size of the large export in bytes.
    #[arg(long, default_value_t = 2_000_000_000)]
    bytes: u64,
    /// telegram or whatsapp.
    #[arg(long, default_value = "telegram")]
    format: String,
    /// Work folder (default: a temporary folder, removed afterwards).
    #[arg(long)]
    work: Option<PathBuf>,
}

fn write_export(path: &Path, format: &str, bytes: u64) -> Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let generator = Generator::new(
        GenOptions {
            messages: usize::MAX,
            ..GenOptions::default()
        },
        None,
    );
    let mut written = 0u64;
    let mut n = 0u64;
    if format == "telegram" {
        let head = "{\n \"name\": \"大群\",\n \"type\": \"private_supergroup\",\n \"id\": 4242,\n \"messages\": [\n";
        out.write_all(head.as_bytes())?;
        written += head.len() as u64;
    }
    for line in generator {
        let v: Value = serde_json::from_str(&line)?;
        let at = chrono::DateTime::parse_from_rfc3339(v["sent_at"].as_str().unwrap_or_default())?;
        let sender = v["sender_name"].as_str().unwrap_or("someone");
        let text = v["text"].as_str().unwrap_or("");
        let record = if format == "telegram" {
            let m = json!({
                "id": n + 1, "type": "message",
                "date": at.format("%Y-%m-%dT%H:%M:%S").to_string(), "date_unixtime": at.timestamp().to_string(),
                "from": sender, "from_id": format!("user{}", sender.len()),
                "text": text, "text_entities": [{"type": "plain", "text": text}],
            });
            format!(
                "{}  {}",
                if n == 0 { "" } else { ",\n" },
                serde_json::to_string_pretty(&m)?
            )
        } else {
            format!("{} - {}: {}\n", at.format("%d/%m/%Y, %H:%M"), sender, text)
        };
        out.write_all(record.as_bytes())?;
        written += record.len() as u64;
        n += 1;
        if written >= bytes {
            break;
        }
    }
    if format == "telegram" {
        out.write_all(b"\n ]\n}\n")?;
    }
    out.flush()?;
    Ok(n)
}

struct Run {
    messages: u64,
    bytes: u64,
    seconds: f64,
    /// Peak resident set (VmHWM): anonymous memory plus mapped file pages.
    peak_rss_mib: f64,
    /// Peak anonymous memory (RssAnon): what the import itself allocates.
    peak_anon_mib: f64,
    /// Peak file-backed pages (RssFile): the mmap'd index segments, clean and reclaimable.
    peak_file_mib: f64,
    stored: u64,
    duplicates: u64,
}

/// The `kB` figures of `/proc/PID/status` that the benchmark samples.
#[derive(Default)]
struct Memory {
    hwm_kib: u64,
    anon_kib: u64,
    file_kib: u64,
}

fn sample(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        hwm_kib: field("VmHWM:")?,
        anon_kib: field("RssAnon:")?,
        file_kib: field("RssFile:")?,
    })
}

fn import(bin: &Path, work: &Path, export: &Path, messages: u64) -> Result<Run> {
    let data = work.join("archive");
    let _ = std::fs::remove_dir_all(&data);
    let init = Command::new(bin)
        .arg("--data")
        .arg(&data)
        .arg("init")
        .output()?;
    if !init.status.success() {
        bail!("init failed: {}", String::from_utf8_lossy(&init.stderr));
    }
    let started = Instant::now();
    // Sampled from /proc every 20 ms, rather than read once from /usr/bin/time, so the
    // peak can be split into anonymous memory and mapped index files.
    let mut child = Command::new(bin)
        .arg("--data")
        .arg(&data)
        .args([
            "--progress",
            "none",
            "import",
            "--tz",
            "Asia/Shanghai",
            "--json",
        ])
        .arg(export)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let mut peak = Memory::default();
    let status = loop {
        if let Some(m) = sample(child.id()) {
            peak.hwm_kib = peak.hwm_kib.max(m.hwm_kib);
            peak.anon_kib = peak.anon_kib.max(m.anon_kib);
            peak.file_kib = peak.file_kib.max(m.file_kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let seconds = started.elapsed().as_secs_f64();
    let stdout = stdout
        .join()
        .map_err(|_| anyhow::anyhow!("stdout reader"))?;
    let stderr = stderr
        .join()
        .map_err(|_| anyhow::anyhow!("stderr reader"))?;
    if !status.success() {
        bail!("import failed: {}", String::from_utf8_lossy(&stderr));
    }
    let report: Value = serde_json::from_slice(&stdout)?;
    let _ = std::fs::remove_dir_all(&data);
    let mib = |kib: u64| kib as f64 / 1024.0;
    Ok(Run {
        messages,
        bytes: std::fs::metadata(export)?.len(),
        seconds,
        peak_rss_mib: mib(peak.hwm_kib),
        peak_anon_mib: mib(peak.anon_kib),
        peak_file_mib: mib(peak.file_kib),
        stored: report["stored"].as_u64().unwrap_or(0),
        duplicates: report["duplicates"].as_u64().unwrap_or(0),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !["telegram", "whatsapp"].contains(&args.format.as_str()) {
        bail!("--format must be telegram or whatsapp");
    }
    let bin = std::env::current_exe()?.with_file_name("chatvault");
    if !bin.is_file() {
        bail!(
            "{} is missing: run `cargo build --release` first",
            bin.display()
        );
    }
    let work = match &args.work {
        Some(w) => w.clone(),
        None => std::env::temp_dir().join(format!("chatvault-import-rss-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work)?;
    let ext = if args.format == "telegram" {
        "json"
    } else {
        "txt"
    };
    let mut rows = vec![];
    for (label, bytes) in [("small (baseline)", args.bytes / 10), ("large", args.bytes)] {
        let export = work.join(format!("export-{bytes}.{ext}"));
        let messages = write_export(&export, &args.format, bytes)?;
        let run = import(&bin, &work, &export, messages)?;
        // WhatsApp has no ids: identical lines in the same minute are one message counted
        // twice by content, so stored + duplicates is what must add up.
        if run.stored + run.duplicates != run.messages {
            bail!(
                "{label}: {} stored + {} duplicates of {} messages",
                run.stored,
                run.duplicates,
                run.messages
            );
        }
        let _ = std::fs::remove_file(&export);
        println!(
            "{label:>17}: {:>6.0} MB, {:>9} messages, {:>7.1} s, {:>7.0} msg/s, {:>6.1} MB/s, peak RSS {:>6.1} MiB (anonymous {:>6.1}, index files {:>6.1})",
            run.bytes as f64 / 1e6,
            run.messages,
            run.seconds,
            run.messages as f64 / run.seconds,
            run.bytes as f64 / 1e6 / run.seconds,
            run.peak_rss_mib,
            run.peak_anon_mib,
            run.peak_file_mib
        );
        rows.push(run);
    }
    let (small, large) = (&rows[0], &rows[1]);
    println!(
        "{}",
        json!({
            "format": args.format,
            "large_bytes": large.bytes, "large_messages": large.messages, "large_seconds": large.seconds, "large_peak_rss_mib": large.peak_rss_mib, "large_peak_anon_mib": large.peak_anon_mib, "large_peak_file_mib": large.peak_file_mib,
            "small_bytes": small.bytes, "small_messages": small.messages, "small_seconds": small.seconds, "small_peak_rss_mib": small.peak_rss_mib, "small_peak_anon_mib": small.peak_anon_mib, "small_peak_file_mib": small.peak_file_mib,
            "rss_growth": large.peak_rss_mib / small.peak_rss_mib,
            "anon_growth": large.peak_anon_mib / small.peak_anon_mib,
        })
    );
    if args.work.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}
