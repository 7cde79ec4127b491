//! Soak: the real server under steady live ingest, with searches and reports beside it,
//! for a long time. Memory must stay flat, p99 latencies must not drift, and every
//! acknowledged message must be in the archive at the end.
//!
//! ```text
//! cargo build --release -p chatvault -p chatvault-bench --bin chatvault --bin soak
//! target/release/soak --minutes 30 --rate 2000
//! ```
//!
//! One thread posts batches to `POST /api/v1/messages` at `--rate` messages a second
//! (an ingest token), the generated conversations stamped as sent now, as live capture
//! sends them (so the alert monitor watches their unanswered turns); one searches
//! (`GET /api/v1/search`, an executive's token, the common keywords of the generated
//! text) and one asks for the SLA report of the last minute of messages
//! (`GET /api/v1/reports/sla?from=…&to=…`, a manager's live dashboard) every 5 seconds.
//! (A report over the whole archive grows with it, by design; its cost at 10M messages
//! is `report-bench`'s to measure.) The server's resident memory is read
//! from /proc. Prints one line per window (default 5 minutes): messages acknowledged,
//! ingest, search and report p50/p99, and resident memory (anonymous, and file-backed:
//! the mmapped index's page cache); then the checks. Exits 1 when a message acknowledged
//! is missing, a request failed, the rate was not reached, anonymous memory grew by more
//! than a quarter (and 64 MiB) from the second window to the last, or the ingest or
//! search p99 in the last window is more than three times the second's (the first warms
//! up).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

#[path = "../runner.rs"]
mod runner;
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    /// How long to run.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Messages per second posted.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Messages per batch.
    #[arg(long, default_value_t = 200)]
    batch: usize,
    /// Length of a reporting window, in seconds.
    #[arg(long, default_value_t = 300)]
    window: u64,
    /// The chatvault binary (default: beside this one).
    #[arg(long)]
    chatvault: Option<PathBuf>,
    /// Writes a line every 10 seconds to this file (CSV): where the server's memory is
    /// (its main heap, other anonymous mappings), its threads, the CPU time its index
    /// merge threads have used, the index's segments, and the size of the alert monitor's
    /// saved state. For finding what memory grows with.
    #[arg(long)]
    trace: Option<PathBuf>,
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// The server's resident memory in KiB: anonymous (its heap and stacks) and file-backed
/// (pages of the mmapped index and databases: the kernel's page cache, dropped under
/// memory pressure, and bounded by the files' size).
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("RssAnon:"), field("RssFile:"))
}

/// One line of `--trace`: memory by kind of mapping, threads, merge CPU, segments, and the
/// size of the alert monitor's saved state.
fn trace_line(pid: u32, data: &std::path::Path) -> String {
    let index = data.join("index");
    // Resident KiB of the main heap (`[heap]`: glibc's main arena) and of the other
    // anonymous mappings (thread arenas, stacks, large allocations).
    let (mut heap, mut anon, mut anon_maps) = (0u64, 0u64, 0u64);
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut kind = 0u8; // 1 heap, 2 other anonymous, 0 file-backed
    for l in smaps.lines() {
        let mut w = l.split_whitespace();
        let first = w.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let rest: Vec<&str> = w.collect();
            let inode = rest.get(3).copied().unwrap_or("0");
            let name = rest.get(4).copied().unwrap_or("");
            kind = if name == "[heap]" {
                1
            } else if inode == "0" && (name.is_empty() || name.starts_with('[')) {
                anon_maps += 1;
                2
            } else {
                0
            };
        } else if first == "Rss:" {
            let kib: u64 = w.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            match kind {
                1 => heap += kib,
                2 => anon += kib,
                _ => {}
            }
        }
    }
    // Threads, and the CPU seconds of tantivy's merge threads (named merge_thread_N).
    let (mut threads, mut merge_ticks) = (0u64, 0u64);
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            threads += 1;
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            if stat[open + 1..close].starts_with("merge_thread") {
                let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
                let tick = |i: usize| f.get(i).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
                merge_ticks += tick(11) + tick(12); // utime, stime
            }
        }
    }
    let meta: Value = std::fs::read_to_string(index.join("meta.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let docs: Vec<u64> = meta["segments"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["max_doc"].as_u64()).collect())
        .unwrap_or_default();
    let (anon_rss, file_rss) = rss_kib(pid);
    // The alert monitor's saved state: what it watches.
    let monitor_kib =
        std::fs::metadata(data.join("alerts-state.json")).map_or(0, |m| m.len() / 1024);
    format!(
        "{},{},{},{},{},{},{:.1},{},{},{},{}",
        anon_rss / 1024,
        file_rss / 1024,
        heap / 1024,
        anon / 1024,
        anon_maps,
        threads,
        merge_ticks as f64 / 100.0,
        docs.len(),
        docs.iter().max().copied().unwrap_or(0),
        docs.iter().sum::<u64>(),
        monitor_kib
    )
}

#[derive(Default)]
struct Window {
    ingest: Vec<f64>,
    search: Vec<f64>,
    report: Vec<f64>,
    acked: u64,
    rss: Vec<(u64, u64)>,
    errors: Vec<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = runner::chatvault_binary(args.chatvault.as_deref())?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    for a in [
        &["init"][..],
        &["user", "add", "ops", "--role", "admin"],
        &["user", "add", "boss", "--role", "executive"],
    ] {
        let (code, out) = runner::run(&bin, &data, a)?;
        if code != 0 {
            bail!("{a:?}: {out}");
        }
    }
    let ingest_token = runner::token(
        &bin,
        &data,
        &["token", "create", "ops", "--scope", "ingest"],
    )?;
    let read_token = runner::token(&bin, &data, &["token", "create", "boss", "--scope", "read"])?;
    let (mut server, addr) = runner::serve(&bin, &data)?;
    let pid = server.id();

    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let window = Duration::from_secs(args.window.max(1));
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let windows: Arc<Mutex<Vec<Window>>> = Arc::new(Mutex::new(vec![]));
    let at = {
        let windows = windows.clone();
        move |f: &mut dyn FnMut(&mut Window)| {
            let i = (started.elapsed().as_secs_f64() / window.as_secs_f64()) as usize;
            let mut w = windows.lock().unwrap_or_else(|p| p.into_inner());
            while w.len() <= i {
                w.push(Window::default());
            }
            f(&mut w[i]);
        }
    };
    let acked_total = Arc::new(AtomicU64::new(0));
    // The newest message time posted (generated time runs far faster than the clock).
    let newest_ms = Arc::new(std::sync::atomic::AtomicI64::new(0));

    // Ingest: one batch every batch/rate seconds, on schedule (a slow answer is caught up).
    let ingest = {
        let (stop, at, acked_total, addr, token, newest_ms) = (
            stop.clone(),
            at.clone(),
            acked_total.clone(),
            addr.clone(),
            ingest_token.clone(),
            newest_ms.clone(),
        );
        let (rate, batch) = (args.rate.max(1), args.batch.max(1));
        std::thread::spawn(move || {
            let mut gen = chatvault_gen::Generator::new(
                chatvault_gen::GenOptions {
                    messages: usize::MAX / 2,
                    seed: 5,
                    ..Default::default()
                },
                None,
            );
            let period = Duration::from_secs_f64(batch as f64 / rate as f64);
            let mut next = Instant::now();
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                // Live messages: sent now, a millisecond apart in the generator's order.
                // (The generator's own clock runs years ahead in minutes: its messages
                // would cross the wall clock mid-run, turning history into live turns
                // for the alert monitor halfway through.)
                let now_ms = chrono::Utc::now().timestamp_millis();
                let msgs: Vec<Value> = (&mut gen)
                    .take(batch)
                    .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
                    .enumerate()
                    .map(|(i, mut v)| {
                        // Every message unique: the generator repeats its texts.
                        n += 1;
                        v["source_id"] = json!(format!("soak-{n}"));
                        let at = now_ms + i as i64;
                        v["sent_at"] = json!(chatvault_model::Timestamp::utc(at).to_rfc3339());
                        newest_ms.fetch_max(at, Ordering::SeqCst);
                        v
                    })
                    .collect();
                let body = json!({ "messages": msgs }).to_string();
                match runner::http(&addr, "POST", "/api/v1/messages", &token, Some(&body)) {
                    Ok((ms, 200, b)) => {
                        let stored = serde_json::from_str::<Value>(&b)
                            .ok()
                            .and_then(|v| {
                                v["results"].as_array().map(|r| {
                                    r.iter()
                                        .filter(|x| {
                                            x["status"] == "stored" || x["status"] == "duplicate"
                                        })
                                        .count() as u64
                                })
                            })
                            .unwrap_or(0);
                        acked_total.fetch_add(stored, Ordering::SeqCst);
                        at(&mut |w| {
                            w.ingest.push(ms);
                            w.acked += stored;
                        });
                    }
                    Ok((_, s, b)) => at(&mut |w| {
                        w.errors
                            .push(format!("ingest {s}: {}", &b[..b.len().min(200)]))
                    }),
                    Err(e) => at(&mut |w| w.errors.push(format!("ingest: {e}"))),
                }
                next += period;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
            }
        })
    };
    let reader = |path_of: Box<dyn Fn(usize) -> String + Send>, every: Duration, report: bool| {
        let (stop, at, addr, token) = (stop.clone(), at.clone(), addr.clone(), read_token.clone());
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let path = path_of(i);
                i += 1;
                match runner::http(&addr, "GET", &path, &token, None) {
                    Ok((ms, 200, _)) => at(&mut |w| {
                        if report {
                            w.report.push(ms)
                        } else {
                            w.search.push(ms)
                        }
                    }),
                    Ok((_, s, b)) => at(&mut |w| {
                        w.errors
                            .push(format!("{path} {s}: {}", &b[..b.len().min(200)]))
                    }),
                    Err(e) => at(&mut |w| w.errors.push(format!("{path}: {e}"))),
                }
                std::thread::sleep(every);
            }
        })
    };
    const QUERIES: &[&str] = &[
        "%E9%80%80%E6%AC%BE",
        "%E8%AE%A2%E5%8D%95",
        "%E7%9A%84",
        "refund",
        "%E5%8F%91%E7%A5%A8%20%E9%80%80%E6%AC%BE",
    ];
    let search = reader(
        Box::new(|i| format!("/api/v1/search?q={}&limit=20", QUERIES[i % QUERIES.len()])),
        Duration::from_millis(100),
        false,
    );
    let report = {
        let newest_ms = newest_ms.clone();
        reader(
            Box::new(move |_| {
                let to = newest_ms.load(Ordering::SeqCst);
                format!("/api/v1/reports/sla?from={}&to={to}", to - 60_000)
            }),
            Duration::from_secs(5),
            true,
        )
    };
    let mut trace = match &args.trace {
        Some(p) => {
            let mut f = std::fs::File::create(p)?;
            use std::io::Write;
            writeln!(f, "secs,acked,anon_mib,file_mib,heap_mib,other_anon_mib,anon_maps,threads,merge_cpu_s,segments,largest_segment_docs,index_docs,monitor_state_kib")?;
            Some(f)
        }
        None => None,
    };
    let mut traced = Instant::now();
    while started.elapsed() < total {
        std::thread::sleep(Duration::from_secs(1));
        let r = rss_kib(pid);
        at(&mut |w| w.rss.push(r));
        if let Some(f) = trace
            .as_mut()
            .filter(|_| traced.elapsed() >= Duration::from_secs(10))
        {
            use std::io::Write;
            traced = Instant::now();
            writeln!(
                f,
                "{:.0},{},{}",
                started.elapsed().as_secs_f64(),
                acked_total.load(Ordering::SeqCst),
                trace_line(pid, &data)
            )?;
        }
        if let Ok(Some(s)) = server.try_wait() {
            bail!("the server ended during the soak: {s}");
        }
    }
    stop.store(true, Ordering::SeqCst);
    for t in [ingest, search, report] {
        let _ = t.join();
    }
    // Every acknowledged message is there: counted by the CLI once the server is gone.
    let _ = server.kill();
    let _ = server.wait();
    let (code, stats) = runner::json(&bin, &data, &["stats"])?;
    if code != 0 {
        bail!("stats after the soak: exit {code}: {stats}");
    }
    let stored = stats["messages"].as_u64().unwrap_or(0);
    let acked = acked_total.load(Ordering::SeqCst);

    let mut windows = std::mem::take(&mut *windows.lock().unwrap_or_else(|p| p.into_inner()));
    // A last window shorter than a fifth of a window is folded out of the drift check.
    println!("window   acked  msg/s  ingest p50/p99 ms  search p50/p99 ms  report p50/p99 ms  RSS anon / file MiB  errors");
    let mut rows = vec![];
    let mut failures = vec![];
    for (i, w) in windows.iter_mut().enumerate() {
        let secs = window
            .as_secs_f64()
            .min(total.as_secs_f64() - i as f64 * window.as_secs_f64());
        let row = (
            pct(&mut w.ingest, 0.5),
            pct(&mut w.ingest, 0.99),
            pct(&mut w.search, 0.5),
            pct(&mut w.search, 0.99),
            pct(&mut w.report, 0.5),
            pct(&mut w.report, 0.99),
            w.rss.iter().map(|r| r.0).max().unwrap_or(0) as f64 / 1024.0,
            w.rss.iter().map(|r| r.1).max().unwrap_or(0) as f64 / 1024.0,
        );
        println!(
            "{:>5}  {:>7} {:>6.0}  {:>7.1} / {:>7.1}  {:>7.1} / {:>7.1}  {:>7.1} / {:>7.1}  {:>8.1} / {:>7.1}  {:>6}",
            i + 1,
            w.acked,
            w.acked as f64 / secs.max(1.0),
            row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7,
            w.errors.len()
        );
        for e in w.errors.iter().take(3) {
            eprintln!("  window {}: {e}", i + 1);
        }
        if !w.errors.is_empty() {
            failures.push(format!(
                "window {}: {} failed requests",
                i + 1,
                w.errors.len()
            ));
        }
        if secs >= window.as_secs_f64() / 5.0 {
            rows.push((row, w.acked as f64 / secs.max(1.0)));
        }
    }
    if stored < acked {
        failures.push(format!("{stored} messages stored < {acked} acknowledged"));
    }
    println!(
        "acknowledged {acked}, stored {stored} in {} conversations ({} participants), in {:.0} s",
        stats["conversations"],
        stats["participants"],
        started.elapsed().as_secs_f64()
    );
    // Drift: the last full window against the second (the first warms up). The report's
    // time is printed, not held to the second window's.
    if let (Some(first), Some(last)) = (rows.get(1).or(rows.first()), rows.last()) {
        let (f, l) = (first.0, last.0);
        // The heap must stay flat. File-backed pages grow with the index the searches
        // touch (page cache, bounded by the files): printed, not held.
        if l.6 > f.6 * 1.25 && l.6 - f.6 > 64.0 {
            failures.push(format!(
                "anonymous RSS grew from {:.0} MiB to {:.0} MiB",
                f.6, l.6
            ));
        }
        for (what, a, b) in [("ingest", f.1, l.1), ("search", f.3, l.3)] {
            if b > a * 3.0 && b - a > 50.0 {
                failures.push(format!("{what} p99 drifted from {a:.1} ms to {b:.1} ms"));
            }
        }
    }
    for (i, r) in rows.iter().enumerate() {
        if r.1 < args.rate as f64 * 0.95 {
            failures.push(format!(
                "window {}: {:.0} msg/s < the {} asked",
                i + 1,
                r.1,
                args.rate
            ));
        }
    }
    slow_locks(&data.with_extension("server.log"));
    for f in &failures {
        eprintln!("FAILED {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

/// What the server logged about slow holds of the archive's lock
/// (`CHATVAULT_SERVER__SLOW_LOCK_MS`, default 1000): how often each place took it slowly,
/// and its longest hold and wait.
fn slow_locks(log: &std::path::Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut by: std::collections::BTreeMap<String, (u64, u64, u64)> = Default::default();
    for l in text.lines() {
        let Some(rest) = l.strip_prefix("slow archive lock: ") else {
            continue;
        };
        let mut w = rest.split_whitespace();
        let (Some(at), Some(_), Some(waited), Some(_), Some(_), Some(held)) =
            (w.next(), w.next(), w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        let e = by.entry(at.to_owned()).or_default();
        e.0 += 1;
        e.1 = e.1.max(waited.parse().unwrap_or(0));
        e.2 = e.2.max(held.trim_end_matches(',').parse().unwrap_or(0));
    }
    if by.is_empty() {
        println!("no slow archive lock logged");
    }
    for (at, (n, waited, held)) in by {
        println!("slow archive lock at {at}: {n} times, longest wait {waited} ms, longest hold {held} ms");
    }
}
