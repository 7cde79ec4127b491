//! [`App`]: one archive, its access database, the settings and the live monitor, as a
//! running server holds them. Every use case that runs while serving takes an `&App`;
//! the server's request handlers and the coming connectors share one.
//!
//! The archive is held one request at a time; a lock poisoned by a panicking request is
//! taken back and brought in line with what is stored ([`recover`]), so a panic in one
//! request never leaves the next unable to read or ingest.

use std::sync::{Mutex, MutexGuard};

use chatvault_access::{Access, Event};
use chatvault_archive::Archive;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::live::LiveMonitor;

/// What every use case while serving shares.
pub struct App {
    archive: Mutex<Archive>,
    pub access: Mutex<Access>,
    pub config: Config,
    /// The deployment's zone (`[server] timezone`): times given without one are read in
    /// it, and times shown to people are shown in it.
    pub zone: crate::time::Zone,
    /// The live SLA monitor.
    pub monitor: LiveMonitor,
    /// Each live capture source's figures since the server started.
    pub capture: crate::connectors::stats::Stats,
    /// Ingest's group commit: batches that arrive together are written together.
    pub committer: crate::ingest::Committer,
    /// Whether ingest leaves the index commit to [`App::flush_index`] (a server, which
    /// flushes every `[server] index_commit_ms`), or commits it with each write.
    defer_index: std::sync::atomic::AtomicBool,
}

/// Locks `m`. A panic in one request must not leave the shared state unusable for the
/// next: a lock poisoned by a panicking holder is taken back, `fix` brings the value in
/// line with what is stored (or reports why it cannot), and the poison is cleared.
pub fn recover<'a, T, E>(
    m: &'a Mutex<T>,
    fix: impl FnOnce(&mut T) -> std::result::Result<(), E>,
) -> std::result::Result<MutexGuard<'a, T>, E> {
    match m.lock() {
        Ok(g) => Ok(g),
        Err(poisoned) => {
            let mut g = poisoned.into_inner();
            fix(&mut g)?;
            m.clear_poison();
            log_err!("recovered a lock poisoned by a panicking request");
            Ok(g)
        }
    }
}

/// The archive, held: one request at a time. A hold or a wait longer than
/// `[server] slow_lock_ms` (default 1000) is logged with the code that took the lock, so
/// an operator sees which work keeps ingest waiting.
pub struct ArchiveGuard<'a> {
    guard: MutexGuard<'a, Archive>,
    at: &'static std::panic::Location<'static>,
    asked: std::time::Instant,
    held: std::time::Instant,
    slow_ms: u64,
}

impl std::ops::Deref for ArchiveGuard<'_> {
    type Target = Archive;
    fn deref(&self) -> &Archive {
        &self.guard
    }
}

impl std::ops::DerefMut for ArchiveGuard<'_> {
    fn deref_mut(&mut self) -> &mut Archive {
        &mut self.guard
    }
}

impl Drop for ArchiveGuard<'_> {
    fn drop(&mut self) {
        let slow = u128::from(self.slow_ms);
        let (waited, held) = (
            self.held.duration_since(self.asked).as_millis(),
            self.held.elapsed().as_millis(),
        );
        if waited >= slow || held >= slow {
            log_err!(
                "slow archive lock: {}:{} waited {waited} ms, held {held} ms",
                self.at.file(),
                self.at.line()
            );
        }
    }
}

impl App {
    pub fn new(archive: Archive, access: Access, config: Config) -> App {
        // Storage errors are judged by this folder's disk (a full disk is `storage.full`).
        crate::error::set_data_dir(archive.data_dir());
        let monitor = LiveMonitor::new(&config.analytics, Some(archive.data_dir()));
        App {
            archive: Mutex::new(archive),
            access: Mutex::new(access),
            zone: config
                .zone()
                .unwrap_or_else(|_| crate::time::Zone::machine()),
            config,
            monitor,
            capture: Default::default(),
            committer: Default::default(),
            defer_index: Default::default(),
        }
    }

    pub fn access(&self) -> Result<MutexGuard<'_, Access>> {
        // The access database rolls back whatever a panicking request left open.
        recover(&self.access, |_| Ok::<(), Error>(()))
    }

    /// The archive, held. Content read for a caller goes through the read use cases
    /// ([`crate::read`]) and the caller's rule; use cases that store or derive (ingest,
    /// sweeps, the reports' sync) take it directly. That nothing else answers a caller
    /// from it is held by review.
    #[track_caller]
    pub fn archive(&self) -> Result<ArchiveGuard<'_>> {
        let at = std::panic::Location::caller();
        let asked = std::time::Instant::now();
        let mut a = recover(&self.archive, |a| a.resync().map_err(Error::from))?;
        a.refresh()?;
        Ok(ArchiveGuard {
            guard: a,
            at,
            asked,
            held: std::time::Instant::now(),
            slow_ms: self.config.server.slow_lock_ms,
        })
    }

    /// The archive's lock as it is, poisoned or not: for the test that poisons it.
    #[doc(hidden)]
    pub fn archive_for_tests(&self) -> MutexGuard<'_, Archive> {
        self.archive.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The archive's counts and latest checkpoint (no content).
    pub fn archive_stats(&self) -> Result<chatvault_archive::Stats> {
        Ok(self.archive()?.stats()?)
    }

    /// Verifies the whole archive (every message decrypted and re-hashed against the
    /// signed log). The report names messages by id only.
    pub fn archive_verify(&self) -> Result<chatvault_archive::VerifyReport> {
        Ok(self.archive()?.verify(&mut |_| {})?)
    }

    /// A retention sweep (the schedule's, or an admin's), with the archive and the access
    /// database locked for its duration.
    pub fn sweep(
        &self,
        actor: &str,
        now_ms: i64,
    ) -> std::result::Result<crate::lifecycle::SweepReport, crate::lifecycle::LifecycleError> {
        let state = |e: Error| crate::lifecycle::LifecycleError::State(e.message);
        let mut a = self.archive().map_err(state)?;
        let mut acc = self.access().map_err(state)?;
        crate::lifecycle::sweep(
            &mut a,
            &mut acc,
            actor,
            now_ms,
            self.config.retention.recover_days,
        )
    }

    /// Signs the archive's tail (so a backup ends at a signed checkpoint) and returns the
    /// data folder.
    pub fn prepare_backup(&self) -> Result<std::path::PathBuf> {
        let mut a = self.archive()?;
        a.checkpoint()?;
        Ok(a.data_dir().to_owned())
    }

    /// From now on, ingest makes messages durable and leaves their index commit (and the
    /// signed checkpoint) to [`App::flush_index`], which the caller must run every
    /// `[server] index_commit_ms`: what is stored becomes searchable within that.
    pub fn defer_index_commits(&self) {
        self.defer_index
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn defers_index(&self) -> bool {
        self.defer_index.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Commits what ingest stored since the last flush to the index: true if there was
    /// any.
    pub fn flush_index(&self) -> Result<bool> {
        Ok(self.archive()?.flush_index()?)
    }

    /// Appends an audit entry; a failure to audit fails the request.
    pub fn audit(&self, ev: Event) -> Result<()> {
        self.access()?.audit(ev)?;
        Ok(())
    }
}

/// Opens what `serve` and the CLI's account commands share: the access database with
/// the keys the archive keeps for it.
pub fn open_access(
    archive: &mut Archive,
    settings: chatvault_access::Settings,
) -> std::result::Result<Access, OpenError> {
    let seal = archive.service_secret("access_seal_key", &|| {
        Ok(zeroize::Zeroizing::new(
            chatvault_crypto::random_bytes::<32>().to_vec(),
        ))
    })?;
    let seal =
        chatvault_crypto::DataKey::from_secret(&seal).map_err(|e| OpenError::Key(e.to_string()))?;
    let audit_signer = archive.audit_signer()?;
    let dir = archive.data_dir().to_owned();
    Ok(Access::open(
        &dir,
        chatvault_access::AccessKeys { seal, audit_signer },
        settings,
    )?)
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Archive(#[from] chatvault_archive::ArchiveError),
    #[error(transparent)]
    Access(#[from] chatvault_access::AccessError),
    #[error("access seal key: {0}")]
    Key(String),
}

impl OpenError {
    pub fn code(&self) -> &'static str {
        match self {
            OpenError::Archive(e) => e.code(),
            OpenError::Access(e) => e.code(),
            OpenError::Key(_) => "key.invalid",
        }
    }
}
