//! `cargo run --release -p chatvault-bench -- --messages N [--corpus DIR]`
//!
//! Builds N messages (from `../shared/corpus` when present, else the built-in generator),
//! imports them end to end (parse, encrypt, hash, store, index), then measures search
//! latency per query class, recall and precision against exact substring truth, and runs the
//! same texts and queries through SQLite FTS5 (trigram) and `rg -F` over the JSONL, in the
//! same run, so the figures can be compared on a noisy machine. The last line of output is
//! one JSON object (keys documented in `docs/benchmarks.md`).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chatvault_archive::{Archive, Filters, KeyProvider};
use chatvault_gen::{GenOptions, Generator};
use chatvault_import::{CanonicalJsonl, ImportContext};
use chatvault_model::normalize::normalize;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Messages to generate and import.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Corpus folder (CrossWOZ zips). Default: ../shared/corpus when it exists.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Use the built-in generator even when the corpus is there: short messages (a
    /// sentence each, like chat lines), to measure the fixed cost per message.
    #[arg(long, conflicts_with = "corpus")]
    no_corpus: bool,
    /// Queries per class.
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// Work folder (default: a fresh temporary folder, removed afterwards).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Index writer threads during import.
    #[arg(long, default_value_t = 1)]
    index_threads: usize,
    /// Skip the `rg` baseline (for machines without ripgrep).
    #[arg(long)]
    no_rg: bool,
    /// Skip both baselines (to iterate on chatvault alone; the figures then lack a reference).
    #[arg(long)]
    no_baselines: bool,
    /// Reuse the input and archive already in --work instead of building them again.
    #[arg(long, requires = "work")]
    reuse: bool,
    /// Queries per class for the SQLite FTS5 baseline (default: as many as `--queries`).
    /// Its one- and two-character keywords are `LIKE` scans of every row, about a second
    /// each at 10M messages: a 10M run asks it fewer.
    #[arg(long)]
    fts5_queries: Option<usize>,
}

/// Query classes, as the issue names them.
const CLASSES: &[&str] = &["cjk1", "cjk2", "cjk3", "cjk4+", "ascii"];

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Picks `n` queries of a class from the texts: substrings at random places.
fn pick_queries(texts: &[String], class: &str, n: usize, rng: &mut StdRng) -> Vec<String> {
    let mut out = vec![];
    let mut tries = 0;
    while out.len() < n && tries < n * 2000 {
        tries += 1;
        let t = &texts[rng.gen_range(0..texts.len())];
        let chars: Vec<char> = t.chars().collect();
        if chars.is_empty() {
            continue;
        }
        let start = rng.gen_range(0..chars.len());
        let len = match class {
            "cjk1" => 1,
            "cjk2" => 2,
            "cjk3" => 3,
            "cjk4+" => rng.gen_range(4..=8),
            _ => rng.gen_range(2..=6),
        };
        if start + len > chars.len() {
            continue;
        }
        let s = &chars[start..start + len];
        let ok = if class == "ascii" {
            s.iter().all(|c| c.is_ascii_alphanumeric())
        } else {
            s.iter().all(|&c| is_cjk(c))
        };
        if ok {
            let q: String = s.iter().collect();
            if !out.contains(&q) {
                out.push(q);
            }
        }
    }
    out
}

fn main() -> Result<()> {
    let args = Args::parse();
    let corpus_dir = args.corpus.clone().or_else(|| {
        if args.no_corpus {
            return None;
        }
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
        p.is_dir().then_some(p)
    });
    let tmp;
    let work = match &args.work {
        Some(w) => {
            std::fs::create_dir_all(w)?;
            w.clone()
        }
        None => {
            tmp = std::env::temp_dir().join(format!("chatvault-bench-{}", std::process::id()));
            std::fs::create_dir_all(&tmp)?;
            tmp.clone()
        }
    };
    let n = args.messages;

    // 1. The input.
    let corpus = corpus_dir
        .as_deref()
        .map(chatvault_gen::load_corpus)
        .transpose()?;
    let source = match (&corpus, &corpus_dir) {
        (Some(c), Some(d)) => format!("{} CrossWOZ dialogues from {}", c.len(), d.display()),
        _ => "the built-in generator".to_owned(),
    };
    let raw = work.join("raw.jsonl");
    let data = work.join("archive");
    let reuse = args.reuse && raw.exists() && data.exists();
    if !reuse {
        let mut w = BufWriter::new(std::fs::File::create(&raw)?);
        for l in Generator::new(
            GenOptions {
                messages: n,
                seed: 1,
                ..Default::default()
            },
            corpus,
        ) {
            writeln!(w, "{l}")?;
        }
        w.flush()?;
    }
    let raw_bytes = std::fs::metadata(&raw)?.len();
    println!("input: {n} messages from {source}, {raw_bytes} bytes of JSONL");

    // 2. chatvault import, end to end.
    if !reuse && data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    if reuse {
        println!(
            "reusing the archive in {} (import not measured)",
            data.display()
        );
    } else {
        Archive::init(&data, &KeyProvider::default())?;
    }
    let mut archive = Archive::open(&data, &KeyProvider::default())?;
    archive.set_index_budget(args.index_threads, 256 << 20);
    let t = Instant::now();
    if !reuse {
        let ctx = ImportContext {
            file_label: raw.display().to_string(),
            base_dir: None,
            ..ImportContext::default()
        };
        let mut records = CanonicalJsonl.open(
            Box::new(BufReader::with_capacity(
                1 << 20,
                std::fs::File::open(&raw)?,
            )),
            ctx,
        );
        let report = archive.import(&mut records, &mut |_| {})?;
        if report.stored != n as u64 {
            bail!(
                "stored {} of {n} (duplicates {}, rejected {})",
                report.stored,
                report.duplicates,
                report.rejected.len()
            );
        }
    }
    let import_s = t.elapsed().as_secs_f64();
    archive.close()?;
    let import_rate = n as f64 / import_s;
    let peak_rss = peak_rss_bytes();
    let stats = archive.stats()?;
    let (store_bytes, index_bytes) = (stats.store_bytes, stats.index_bytes);
    println!(
        "chatvault import: {import_s:.1} s, {import_rate:.0} msg/s; store {store_bytes} B + index {index_bytes} B = {:.2}× raw; peak RSS {} MiB",
        (store_bytes + index_bytes) as f64 / raw_bytes as f64,
        peak_rss >> 20
    );

    // 3. Truth: the normalised texts, line i = seq i.
    let mut texts = Vec::with_capacity(n);
    let mut text_bytes = 0u64;
    for line in BufReader::new(std::fs::File::open(&raw)?).lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let text = v["text"].as_str().unwrap_or_default();
        text_bytes += text.len() as u64;
        texts.push(normalize(text));
    }
    // What a message costs beyond its text: ids, times, names, keys, hashes, the log,
    // the store's indexes and the search index's postings and columns.
    let overhead = (store_bytes + index_bytes).saturating_sub(text_bytes) as f64 / n.max(1) as f64;
    println!(
        "texts: {text_bytes} bytes, {:.0} per message; store and index beyond the text: {overhead:.0} bytes per message",
        text_bytes as f64 / n.max(1) as f64
    );
    let mut rng = StdRng::seed_from_u64(42);
    let queries: Vec<(&str, Vec<String>)> = CLASSES
        .iter()
        .map(|c| (*c, pick_queries(&texts, c, args.queries, &mut rng)))
        .collect();
    // Substring truth: one buffer of every text, with 0xFF (never a byte of UTF-8, so never
    // inside a keyword or a match) between them, searched by both cores. Each keyword's
    // answer is kept: the FTS5 check asks for it again.
    let mut hay: Vec<u8> = Vec::with_capacity(text_bytes as usize + n);
    let mut starts: Vec<usize> = Vec::with_capacity(n + 1);
    for t in &texts {
        starts.push(hay.len());
        hay.extend_from_slice(t.as_bytes());
        hay.push(0xFF);
    }
    starts.push(hay.len());
    let found: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<Vec<u64>>>> =
        Default::default();
    let truth = |q: &str| -> std::rc::Rc<Vec<u64>> {
        if let Some(v) = found.borrow().get(q) {
            return v.clone();
        }
        let f = memchr::memmem::Finder::new(q.as_bytes());
        // The texts in `docs` holding `q`, in order: a match moves on to the next text.
        let scan = |docs: std::ops::Range<usize>| -> Vec<u64> {
            let (mut at, end) = (starts[docs.start], starts[docs.end]);
            let mut out = vec![];
            while at < end {
                let Some(p) = f.find(&hay[at..end]) else {
                    break;
                };
                let doc = starts.partition_point(|&s| s <= at + p) - 1;
                out.push(doc as u64);
                at = starts[doc + 1];
            }
            out
        };
        let half = texts.len() / 2;
        let mut all = std::thread::scope(|s| {
            let first = s.spawn(|| scan(0..half));
            let second = scan(half..texts.len());
            let mut first = first.join().expect("the truth scan panicked");
            first.extend(second);
            first
        });
        all.shrink_to_fit();
        let all = std::rc::Rc::new(all);
        found.borrow_mut().insert(q.to_owned(), all.clone());
        all
    };

    // 4. chatvault search: latency of the user-facing call (index, store, decrypt, snippet).
    let mut archive = Archive::open(&data, &KeyProvider::default())?;
    let none = Filters::default();
    for (_, qs) in &queries {
        for q in qs.iter().take(5) {
            archive.search(q, &none, 20, 0)?; // warm the caches
        }
    }
    let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
    let mut all_ms = vec![];
    let mut per_class = serde_json::Map::new();
    println!(
        "{:<8} {:>6} {:>10} {:>10} {:>12}",
        "class", "n", "p50 ms", "p99 ms", "mean hits"
    );
    for (class, qs) in &queries {
        let mut ms = vec![];
        let mut hits = 0u64;
        for q in qs {
            let t = Instant::now();
            let r = archive.search(q, &none, 20, 0)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            hits += r.total;
            let got: HashSet<u64> = archive.matching_seqs(q, &none)?.into_iter().collect();
            let want: HashSet<u64> = truth(q).iter().copied().collect();
            if r.total != want.len() as u64 {
                println!(
                    "  total mismatch for {q:?}: {} vs truth {}",
                    r.total,
                    want.len()
                );
            }
            tp += got.intersection(&want).count() as u64;
            fp += got.difference(&want).count() as u64;
            fn_ += want.difference(&got).count() as u64;
        }
        ms.sort_by(f64::total_cmp);
        per_class.insert(
            (*class).to_owned(),
            json!({
                "p50_ms": (percentile(&ms, 0.5) * 1000.0).round() / 1000.0,
                "p99_ms": (percentile(&ms, 0.99) * 1000.0).round() / 1000.0,
                "mean_hits": (hits as f64 / qs.len().max(1) as f64).round(),
            }),
        );
        println!(
            "{class:<8} {:>6} {:>10.3} {:>10.3} {:>12.0}",
            qs.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            hits as f64 / qs.len().max(1) as f64
        );
        all_ms.extend(ms);
    }
    all_ms.sort_by(f64::total_cmp);
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    println!(
        "chatvault: p50 {:.3} ms, p99 {:.3} ms, recall {recall:.6}, precision {precision:.6}",
        percentile(&all_ms, 0.5),
        percentile(&all_ms, 0.99)
    );
    drop(archive);

    if recall < 1.0 || precision < 1.0 {
        bail!(
            "search is not exact: recall {recall}, precision {precision} against substring truth"
        );
    }
    if args.no_baselines {
        return Ok(());
    }

    // 5. SQLite FTS5 trigram over the same normalised texts.
    let fts_path = work.join("fts5.db");
    let _ = std::fs::remove_file(&fts_path);
    let fts = rusqlite::Connection::open(&fts_path)?;
    fts.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE VIRTUAL TABLE t USING fts5(body, tokenize='trigram');")?;
    let t = Instant::now();
    {
        let tx = fts.unchecked_transaction()?;
        {
            let mut st = tx.prepare("INSERT INTO t(rowid, body) VALUES (?1, ?2)")?;
            for (i, s) in texts.iter().enumerate() {
                st.execute(rusqlite::params![i as i64, s])?;
            }
        }
        tx.commit()?;
    }
    let fts_build = n as f64 / t.elapsed().as_secs_f64();
    let fts_bytes = std::fs::metadata(&fts_path).map(|m| m.len()).unwrap_or(0);
    let (mut ftp, mut ffn) = (0u64, 0u64);
    let mut fts_ms = vec![];
    for (_, qs) in &queries {
        for q in qs.iter().take(args.fts5_queries.unwrap_or(usize::MAX)) {
            // Trigram MATCH needs 3 characters; shorter keywords fall back to LIKE (a scan),
            // which is what a user of FTS5 trigram gets.
            let t = Instant::now();
            let (count_sql, page_sql, param) = if q.chars().count() >= 3 {
                (
                    "SELECT count(*) FROM t WHERE t MATCH ?1",
                    "SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY rowid DESC LIMIT 20",
                    format!("\"{}\"", q.replace('"', "\"\"")),
                )
            } else {
                (
                    "SELECT count(*) FROM t WHERE body LIKE ?1",
                    "SELECT rowid FROM t WHERE body LIKE ?1 ORDER BY rowid DESC LIMIT 20",
                    format!("%{q}%"),
                )
            };
            let _count: i64 = fts.query_row(count_sql, [&param], |r| r.get(0))?;
            let mut st = fts.prepare_cached(page_sql)?;
            let _page: Vec<i64> = st
                .query_map([&param], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            fts_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            let mut st =
                fts.prepare_cached(&page_sql.replace(" ORDER BY rowid DESC LIMIT 20", ""))?;
            let got: HashSet<u64> = st
                .query_map([&param], |r| r.get::<_, i64>(0))?
                .map(|r| r.map(|x| x as u64))
                .collect::<rusqlite::Result<_>>()?;
            let want: HashSet<u64> = truth(q).iter().copied().collect();
            ftp += got.intersection(&want).count() as u64;
            ffn += want.difference(&got).count() as u64;
        }
    }
    fts_ms.sort_by(f64::total_cmp);
    let fts_recall = ftp as f64 / (ftp + ffn).max(1) as f64;
    println!(
        "sqlite fts5 trigram: build {fts_build:.0} msg/s, {fts_bytes} B, p50 {:.3} ms, p99 {:.3} ms, recall {fts_recall:.6}",
        percentile(&fts_ms, 0.5),
        percentile(&fts_ms, 0.99)
    );

    // 6. ripgrep over the raw JSONL (a scan; it also matches other fields, so timing only).
    let rg_p50 = if args.no_rg {
        None
    } else {
        let mut ms = vec![];
        for (_, qs) in &queries {
            for q in qs.iter().take(4) {
                let t = Instant::now();
                let out = std::process::Command::new("rg")
                    .args(["-F", "-c", "--", q])
                    .arg(&raw)
                    .output()
                    .context(
                        "running `rg`: install ripgrep (apt-get install ripgrep) or pass --no-rg",
                    )?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                if !(out.status.success() || out.status.code() == Some(1)) {
                    bail!("rg failed: {}", String::from_utf8_lossy(&out.stderr));
                }
            }
        }
        ms.sort_by(f64::total_cmp);
        println!("rg -F over the JSONL: p50 {:.1} ms", percentile(&ms, 0.5));
        Some(percentile(&ms, 0.5))
    };

    if args.work.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    println!(
        "{}",
        json!({
            "messages": n,
            "source": source,
            "import_msgs_per_s": import_rate.round(),
            "store_bytes": store_bytes,
            "index_bytes": index_bytes,
            "raw_bytes": raw_bytes,
            "text_bytes": text_bytes,
            "overhead_bytes_per_message": overhead.round(),
            "size_ratio": ((store_bytes + index_bytes) as f64 / raw_bytes as f64 * 1000.0).round() / 1000.0,
            "peak_rss_bytes": peak_rss,
            "search_p50_ms": (percentile(&all_ms, 0.5) * 1000.0).round() / 1000.0,
            "search_p99_ms": (percentile(&all_ms, 0.99) * 1000.0).round() / 1000.0,
            "classes": per_class,
            "recall": recall,
            "precision": precision,
            "fts5_build_msgs_per_s": fts_build.round(),
            "fts5_p99_ms": (percentile(&fts_ms, 0.99) * 1000.0).round() / 1000.0,
            "fts5_recall": fts_recall,
            "rg_p50_ms": rg_p50.map(|v| (v * 10.0).round() / 10.0),
        })
    );
    Ok(())
}
