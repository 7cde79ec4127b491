//! Retention and backups on the server's schedules. The sweep itself is the application
//! layer's ([`chatvault_app::lifecycle`]); this runs it, and backups, on time.

use chatvault_access::{Action, Event, Outcome};
pub use chatvault_app::lifecycle::*;

/// Runs sweeps on `schedule` (in `tz`) until the server stops. Each result is printed;
/// a failed sweep is printed and audited, and the next one runs on time.
pub async fn scheduled_sweeps(state: crate::State, schedule: croner::Cron, tz: chrono_tz::Tz) {
    loop {
        let now = chrono::Utc::now().with_timezone(&tz);
        let next = match schedule.find_next_occurrence(&now, false) {
            Ok(n) => n,
            Err(e) => {
                log_err!("retention schedule: {e}; scheduled sweeps stop");
                return;
            }
        };
        let wait = (next.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        tokio::time::sleep(wait).await;
        let s = state.clone();
        let at = chrono::Utc::now().timestamp_millis();
        let outcome = tokio::task::spawn_blocking(move || s.sweep(SCHEDULE_ACTOR, at)).await;
        match outcome {
            Ok(Ok(r)) => log_out!(
                "retention sweep at {}: {} expired, {} deleted, {} purged; report {}",
                r.at,
                r.plan.expired,
                r.deleted.values().sum::<u64>(),
                r.purge.purged,
                r.report_file.display()
            ),
            Ok(Err(e)) => {
                log_err!("retention sweep failed: {e}");
                let ev = Event::new(SCHEDULE_ACTOR, Action::RetentionSweep)
                    .result(Outcome::Failed)
                    .details(serde_json::json!({"error": e.to_string(), "code": e.code()}));
                if let Err(e) = state.audit(ev) {
                    log_err!(
                        "retention sweep: could not audit the failure: {}",
                        e.message
                    );
                }
            }
            Err(e) => log_err!("retention sweep task: {e}"),
        }
    }
}

/// Takes backups on one schedule until the server stops, pruning expired sets after each.
/// Each result is printed and audited (`backup.run`); a failure is audited as failed.
pub async fn scheduled_backups(
    state: crate::State,
    schedule: croner::Cron,
    spec: crate::config::BackupSchedule,
    tz: chrono_tz::Tz,
) {
    loop {
        let now = chrono::Utc::now().with_timezone(&tz);
        let Ok(next) = schedule.find_next_occurrence(&now, false) else {
            log_err!("backup schedule `{}`: no next time; it stops", spec.cron);
            return;
        };
        tokio::time::sleep(
            (next.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default(),
        )
        .await;
        let outcome = backup_once(&state, &spec.tier, spec.full).await;
        let ev = match &outcome {
            Ok((m, p)) => {
                log_out!(
                    "backup {} ({}, tier {}): {} new chunks; pruned {} expired sets",
                    m.id,
                    m.kind,
                    m.tier,
                    m.uploaded_chunks,
                    p.sets_removed
                );
                Event::new(BACKUP_ACTOR, Action::BackupRun).target(&m.id).details(serde_json::json!({
                    "kind": m.kind, "tier": m.tier, "set": m.set, "tree_size": m.archive.tree_size, "uploaded_chunks": m.uploaded_chunks,
                    "sets_pruned": p.sets_removed, "chunks_pruned": p.chunks_removed,
                }))
            }
            Err(e) => {
                log_err!("scheduled backup failed: {e}");
                Event::new(BACKUP_ACTOR, Action::BackupRun)
                    .result(Outcome::Failed)
                    .details(serde_json::json!({"tier": spec.tier, "error": e}))
            }
        };
        if let Err(e) = state.audit(ev) {
            log_err!("scheduled backup: could not audit it: {}", e.message);
        }
    }
}

/// One backup at a time in this server: a prune must not remove the chunks of a backup
/// whose manifest is not written yet.
static BACKUP_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn backup_once(
    state: &crate::State,
    tier: &str,
    full: bool,
) -> std::result::Result<(chatvault_backup::Manifest, chatvault_backup::PruneReport), String> {
    let _one = BACKUP_LOCK.lock().await;
    let s = state.clone();
    let data = tokio::task::spawn_blocking(move || s.prepare_backup())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.message)?;
    let cfg = &state.config.backup;
    let target = chatvault_backup::Target::parse(&cfg.to).map_err(|e| e.to_string())?;
    let signer = state.clone();
    let sign = move |text: &str| -> std::result::Result<String, String> {
        signer
            .archive()
            .map_err(|e| e.message)?
            .sign_statement(text)
            .map_err(|e| e.to_string())
    };
    let o = chatvault_backup::BackupOptions {
        recipients: &cfg.recipients,
        full,
        tier,
        now_ms: chrono::Utc::now().timestamp_millis(),
        sign: &sign,
    };
    let m = chatvault_backup::backup(&data, &target, &o)
        .await
        .map_err(|e| e.to_string())?;
    let p = chatvault_backup::prune(
        &target,
        &cfg.keep_days,
        chrono::Utc::now().timestamp_millis(),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok((m, p))
}
