//! `cargo run --release -p chatvault-bench --bin export-bench -- --messages 1000000`
//!
//! Memory of a streamed export. One conversation of N messages is imported, then exported
//! to JSON through `Archive::stream_visible` and the JSON sink, and the process's peak
//! resident memory (VmHWM) is read before and after. In the same run, the baseline: the
//! same messages collected into memory first (what a non-streaming export would hold).
//! The goal: the streamed export adds little to the peak, whatever N.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use chatvault_archive::{Archive, KeyProvider, Selection, Visibility};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 200_000)]
    messages: usize,
}

/// Peak resident memory so far, in MiB (Linux).
fn peak_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let work = std::env::temp_dir().join(format!("chatvault-export-bench-{}", std::process::id()));
    let data = work.join("archive");
    std::fs::create_dir_all(&work)?;
    let raw = work.join("raw.jsonl");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&raw)?);
        let t0 = chrono::Utc::now().timestamp_millis() - args.messages as i64 * 1000;
        for i in 0..args.messages {
            let at = chrono::DateTime::from_timestamp_millis(t0 + i as i64 * 1000)
                .unwrap_or_default()
                .to_rfc3339();
            let who = if i % 2 == 0 { "cust" } else { "a-1" };
            let line = serde_json::json!({"platform":"wecom","conversation_id":"big","source_id":i.to_string(),"sender_id":who,"sent_at":at,
                "text":format!("第{i}条消息：您好，关于订单 A-{i} 的退款申请已受理，预计三到五个工作日原路退回。")});
            writeln!(w, "{line}")?;
        }
    }
    Archive::init(&data, &KeyProvider::default())?;
    let mut a = Archive::open(&data, &KeyProvider::default())?;
    let ctx = chatvault_import::ImportContext {
        file_label: raw.display().to_string(),
        ..Default::default()
    };
    let mut records = chatvault_import::CanonicalJsonl.open(
        Box::new(std::io::BufReader::new(std::fs::File::open(&raw)?)),
        ctx,
    );
    let t = Instant::now();
    let report = a.import(&mut records, &mut |_| {})?;
    a.close()?;
    drop(a);
    println!(
        "archive: {} messages in one conversation, imported in {:.1} s",
        report.stored,
        t.elapsed().as_secs_f64()
    );

    // A fresh process state for the measurement: reopen (the import's buffers are gone,
    // but VmHWM remembers them, so the import's peak is reported as the starting point).
    let mut a = Archive::open(&data, &KeyProvider::default())?;
    let before = peak_mib();
    let out = work.join("export.json");
    let t = Instant::now();
    let mut n = 0u64;
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&out)?);
        let mut sink = chatvault_export::sink(chatvault_export::Format::Json, Box::new(file));
        sink.begin(&chatvault_export::Header {
            format: chatvault_export::FORMAT,
            title: "bench".into(),
            selection: "conversation wecom:big".into(),
            exported_by: "bench".into(),
            exported_at: String::new(),
            archive_id: String::new(),
            key_fingerprint: String::new(),
            grants: vec![],
            time_zone: String::new(),
        })?;
        let mut all =
            |_: &chatvault_model::StoredMessage, _: &[chatvault_policy::Handle]| Visibility::Full;
        a.stream_visible(&Selection::Conversation("wecom:big"), &mut all, &mut |m| {
            n += 1;
            sink.message(&m)
                .map_err(|e| chatvault_archive::ArchiveError::Corrupt(e.to_string()))
        })?;
        sink.finish(n)?;
    }
    let stream_s = t.elapsed().as_secs_f64();
    let after_stream = peak_mib();
    let size = std::fs::metadata(&out)?.len();
    // Baseline: the same messages held in memory at once.
    let t = Instant::now();
    let mut held = vec![];
    let mut all =
        |_: &chatvault_model::StoredMessage, _: &[chatvault_policy::Handle]| Visibility::Full;
    a.stream_visible(&Selection::Conversation("wecom:big"), &mut all, &mut |m| {
        held.push(m.into_inner());
        Ok(())
    })?;
    let collect_s = t.elapsed().as_secs_f64();
    let after_collect = peak_mib();
    println!("{:<46} {:>12} {:>12}", "step", "peak MiB", "seconds");
    println!(
        "{:<46} {:>12.1} {:>12}",
        "after import and reopen (the starting peak)", before, ""
    );
    println!(
        "{:<46} {:>12.1} {:>12.2}",
        format!("streamed JSON export ({} messages, {} MiB)", n, size >> 20),
        after_stream,
        stream_s
    );
    println!(
        "{:<46} {:>12.1} {:>12.2}",
        format!("baseline: the same {} messages held in memory", held.len()),
        after_collect,
        collect_s
    );
    println!("the streamed export raised the peak by {:.1} MiB; holding the messages raised it by {:.1} MiB more", after_stream - before, after_collect - after_stream);
    drop(held);
    std::fs::remove_dir_all(&work)?;
    Ok(())
}
