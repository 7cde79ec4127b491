//! `chatvault import`: every input opened, checked and matched to its importer before
//! anything is written, then streamed into the archive with progress, and the report
//! printed (each rejection and warning named by file and line).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chatvault_archive::ImportProgress;
use chatvault_import::ImportContext;
use serde::Serialize;

use crate::{open, print_json, render, Cli, ImportArgs, Progress};

/// An input, opened, checked and matched to its importer before anything is written.
struct Input {
    source: chatvault_import::Source,
    importer: &'static dyn chatvault_import::Importer,
}

fn prepare_inputs(files: &[PathBuf], format: Option<&str>) -> Result<Vec<Input>> {
    let forced = format.map(chatvault_import::by_name).transpose()?;
    let limits = chatvault_import::Limits::default();
    files
        .iter()
        .map(|path| {
            let source = chatvault_import::Source::open(path, &limits)?;
            let importer = match forced {
                Some(i) => i,
                None => {
                    let mut probe = source
                        .probe()
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    // Errors name the input as the user typed it.
                    probe.file_name = source.label.clone();
                    chatvault_import::detect(&probe)?
                }
            };
            Ok(Input { source, importer })
        })
        .collect()
}

/// The import report as printed: the archive's report, plus how the inputs were read.
#[derive(Serialize)]
struct ImportOutput<'a> {
    #[serde(flatten)]
    report: &'a chatvault_archive::ImportReport,
    /// The zone used for local times without an offset.
    timezone: String,
    inputs: Vec<serde_json::Value>,
}

fn import_context(options: &ImportArgs) -> Result<(ImportContext, String)> {
    let (tz, tz_note) = match &options.tz {
        Some(name) => (
            name.parse::<chrono_tz::Tz>().map_err(|_| {
                anyhow::anyhow!(
                    "--tz: unknown zone `{name}`; use an IANA name such as Asia/Shanghai or UTC"
                )
            })?,
            format!("{name} (from --tz)"),
        ),
        None => chatvault_import::machine_zone(),
    };
    let platform = options
        .platform
        .as_deref()
        .map(chatvault_model::Platform::new)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--platform: {e}"))?;
    let csv_map = options
        .map
        .as_deref()
        .map(chatvault_import::CsvMap::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--map: {e}"))?;
    let ctx = ImportContext {
        tz,
        self_name: options.self_name.clone(),
        conversation: options.conversation.clone(),
        platform,
        csv_map,
        ..ImportContext::default()
    };
    Ok((ctx, tz_note))
}

pub fn import(cli: &Cli, files: &[PathBuf], options: &ImportArgs) -> Result<ExitCode> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (base_ctx, tz_note) = import_context(options)?;
    let inputs = prepare_inputs(files, options.format.as_deref())?;
    for i in &inputs {
        i.importer
            .check(&base_ctx)
            .map_err(|e| anyhow::anyhow!("{}: {e}", i.source.label))?;
    }
    let mut archive = open(cli)?;
    let total: u64 = inputs.iter().map(|i| i.source.progress_total()).sum();
    let progress = Progress::new(cli.progress, cli.json, Some(total), "messages");
    let current = AtomicUsize::new(0);
    let mut produce = |push: &mut dyn FnMut(chatvault_import::Parsed) -> bool| {
        for (k, input) in inputs.iter().enumerate() {
            current.store(k, Ordering::Relaxed);
            let ctx = ImportContext {
                file_label: input.source.label.clone(),
                // Attachment paths are relative to the file's folder ("." for a bare file name).
                base_dir: Some(match input.source.path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                    _ => PathBuf::from("."),
                }),
                ..base_ctx.clone()
            };
            if !chatvault_import::run(input.importer, &input.source, &ctx, push) {
                return;
            }
        }
    };
    let read = || {
        let k = current.load(Ordering::Relaxed);
        inputs[..k]
            .iter()
            .map(|i| i.source.progress_total())
            .sum::<u64>()
            + inputs.get(k).map_or(0, |i| i.source.progress())
    };
    let started = std::time::Instant::now();
    let report = archive.import_from(&mut produce, &mut |p: ImportProgress| {
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
        let inputs = inputs
            .iter()
            .map(|i| serde_json::json!({"file": i.source.label, "format": i.importer.name()}))
            .collect();
        print_json(&ImportOutput {
            report: &report,
            timezone: tz_note,
            inputs,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    for i in &inputs {
        println!(
            "{}: {}",
            render::safe(&i.source.label, true),
            i.importer.name()
        );
    }
    println!(
        "stored {}, duplicates {}, rejected {}, conversations {} ({:.1} s); local times read in {}",
        report.stored,
        report.duplicates,
        report.rejected_count,
        report.conversations,
        started.elapsed().as_secs_f64(),
        tz_note
    );
    if report.header_like > 0 {
        println!(
            "  {} line(s) look like a message header but were not read as one: each is listed below (rejected, or kept as text with a warning)",
            report.header_like
        );
    }
    for r in report.rejected.iter().take(50) {
        println!(
            "  rejected {}:{}: {}",
            render::safe(&r.file, true),
            r.line,
            render::safe(&r.reason, true)
        );
    }
    if report.rejected_count > 50 {
        println!(
            "  … and {} more (use --json for the list)",
            report.rejected_count - 50
        );
    }
    for r in report.warnings.iter().take(20) {
        println!(
            "  warning {}:{}: {}",
            render::safe(&r.file, true),
            r.line,
            render::safe(&r.reason, true)
        );
    }
    if report.warning_count > 20 {
        println!(
            "  … and {} more warnings (use --json for the list)",
            report.warning_count - 20
        );
    }
    Ok(ExitCode::SUCCESS)
}
