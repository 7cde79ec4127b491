//! The live SLA monitor's state while serving: every message ingest stores is observed
//! by a [`Monitor`]; the server's tick raises and escalates alerts and delivers them (the
//! live feed and the webhooks are network IO, so they stay in the server).
//!
//! The state is kept across restarts in `alerts-state.json` in the data folder: written
//! whole or not at all, and streamed, never built as one string.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chatvault_analytics::monitor::{Monitor, Observed, Snapshot};
use chatvault_analytics::Side;

use crate::error::{Error, Result};
use crate::service::recover;

/// The state is saved (when it changed) at most this often...
pub const SAVE_EVERY: Duration = Duration::from_secs(2);
/// ...and, when a save takes long (a large state), no more than this share of the time:
/// the next waits this many times as long as the last took.
pub const SAVE_COST_FACTOR: u32 = 10;

/// The monitor, one per running server.
pub struct LiveMonitor {
    enabled: bool,
    monitor: Mutex<Monitor>,
    /// For customers' confirmation phrases.
    lexicons: chatvault_analytics::Lexicons,
    /// Where the monitor's state is kept across restarts (`alerts-state.json`).
    state_file: Option<PathBuf>,
    settings: chatvault_analytics::settings::Alerts,
}

/// What the monitor needs of a new message, taken before the archive takes the message.
pub struct Facts {
    /// `platform:conversation`.
    pub conversation: String,
    pub platform: String,
    pub side: Option<Side>,
    /// `platform:id`.
    pub sender: String,
    pub sent_ms: i64,
    /// A customer's confirmation phrase (the text itself is not kept).
    pub confirms: bool,
}

impl Facts {
    pub fn observed<'a>(&'a self, source: Option<&'a str>, received_ms: i64) -> Observed<'a> {
        Observed {
            conversation: &self.conversation,
            platform: &self.platform,
            source: source.unwrap_or(&self.platform),
            side: self.side,
            sender: &self.sender,
            sent_ms: self.sent_ms,
            received_ms,
            confirms: self.confirms,
        }
    }
}

impl LiveMonitor {
    /// `data`: the data folder, which holds the saved state.
    pub fn new(settings: &chatvault_analytics::Settings, data: Option<&Path>) -> LiveMonitor {
        let cfg = &settings.alerts;
        LiveMonitor {
            lexicons: chatvault_analytics::Lexicons::new(settings),
            state_file: data.map(|d| d.join("alerts-state.json")),
            enabled: cfg.enabled,
            monitor: Mutex::new(Monitor::new(cfg)),
            settings: cfg.clone(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn monitor(&self) -> Result<MutexGuard<'_, Monitor>> {
        // The monitor's state is rebuilt as events arrive: a panic leaves nothing to fix.
        recover(&self.monitor, |_| Ok::<(), Error>(()))
    }

    /// Where the state is saved, if anywhere.
    pub fn state_file(&self) -> Option<&Path> {
        self.state_file.as_deref()
    }

    /// Takes back the state a previous run saved, if there is one. A state file that
    /// cannot be read is an error that names it (the server does not start on it).
    pub fn restore(&self) -> std::result::Result<(), String> {
        let Some(p) = self.state_file().filter(|p| p.exists()) else {
            return Ok(());
        };
        let bad = |why: String| {
            format!(
                "{}: {why} (move the file away to start with no open alerts)",
                p.display()
            )
        };
        let text = std::fs::read(p).map_err(|e| bad(e.to_string()))?;
        let snap: Snapshot = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let m = Monitor::restore(&self.settings, snap).map_err(bad)?;
        *recover(&self.monitor, |_| Ok::<(), String>(()))? = m;
        Ok(())
    }

    /// Feeds stored messages in (ingest).
    pub fn observe(&self, msgs: &[Observed<'_>]) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let mut m = self.monitor()?;
        for o in msgs {
            m.observe(o);
        }
        Ok(())
    }

    /// A new message as the monitor sees it. Recalls and edits are no turn; system
    /// messages are no side.
    pub fn facts(&self, m: &chatvault_model::NewMessage) -> Facts {
        use chatvault_model::{MessageKind, SenderRole};
        let side = match (m.kind, m.sender.role) {
            (MessageKind::System | MessageKind::Recall | MessageKind::Edit, _) => None,
            (_, SenderRole::Customer) => Some(Side::Customer),
            (_, SenderRole::Agent) => Some(Side::Agent),
            _ => None,
        };
        let platform = m.platform.as_str().to_owned();
        Facts {
            conversation: m.conversation_key().to_string(),
            sender: format!("{platform}:{}", m.sender.id),
            platform,
            confirms: side == Some(Side::Customer) && self.lexicons.confirms(&m.text),
            side,
            sent_ms: m.sent_at.utc_ms,
        }
    }
}

/// Writes the state whole or not at all: a temporary file, synced, renamed over the old.
pub fn save(path: &Path, snap: &Snapshot) -> std::result::Result<(), String> {
    use std::io::Write;
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let tmp = path.with_extension("json.tmp");
    // Streamed through a buffer: a large state is never held a second time as one
    // JSON string (a soak found 16–64 MB strings made every two seconds).
    let mut w =
        std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&tmp).map_err(fail)?);
    serde_json::to_writer(&mut w, snap).map_err(|e| format!("{}: {e}", path.display()))?;
    w.flush().map_err(fail)?;
    let f = w.into_inner().map_err(|e| fail(e.into_error()))?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}
