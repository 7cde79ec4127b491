//! The audit trail: an append-only, hash-chained log with signed checkpoints.
//!
//! Entry `n` is stored as its JSON body and `hash_n = SHA-256("chatvault/audit/v1\0" ||
//! hash_{n-1} || body)`, where the body names `seq = n` and `prev = hash_{n-1}` (32 zero
//! bytes before the first entry). Editing an entry breaks its hash; deleting or
//! reordering entries breaks the sequence or the chain; rewriting the whole chain after
//! an edit no longer matches the signed checkpoints, which the archive's audit key
//! (distinct from the message log's) signs over `(size, head hash)`. Every append signs
//! a new checkpoint; the latest one and one per 1,000 entries are kept.
//!
//! Actions are numbered in ranges per domain (1xxx sign-in, 2xxx content, 3xxx
//! requests and grants, 4xxx accounts and config, 5xxx ingest, 6xxx audit), and the
//! names are stable: scripts and the auditor's filters use them.

use chatvault_ledger::Hash;
use chatvault_store::access::{AuditRange, AuditRow};
use chrono::{Datelike, Timelike};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::{Access, AccessError, Result, Tx};

const DOMAIN: &[u8] = b"chatvault/audit/v1\0";
/// Checkpoints kept besides the latest: one per this many entries.
const KEEP_EVERY: u64 = 1000;

macro_rules! actions {
    ($($variant:ident = $num:literal, $name:literal;)*) => {
        /// What an entry records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action { $($variant,)* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];
            pub fn name(self) -> &'static str { match self { $(Action::$variant => $name,)* } }
            pub fn number(self) -> u16 { match self { $(Action::$variant => $num,)* } }
            pub fn parse(s: &str) -> Option<Action> { match s { $($name => Some(Action::$variant),)* _ => None } }
        }
    };
}

actions! {
    LoginSuccess = 1000, "login.success";
    LoginFailure = 1001, "login.failure";
    Logout = 1002, "logout";
    SessionExpired = 1003, "session.expired";
    TotpEnrolStart = 1004, "totp.enrol_start";
    TotpEnrolled = 1005, "totp.enrolled";
    Search = 2000, "search";
    View = 2001, "view";
    Export = 2002, "export";
    AccessDenied = 2003, "access.denied";
    RequestFile = 3000, "request.file";
    RequestApprove = 3001, "request.approve";
    RequestReject = 3002, "request.reject";
    GrantUse = 3003, "grant.use";
    GrantRevoke = 3004, "grant.revoke";
    UserAdd = 4000, "user.add";
    UserFreeze = 4001, "user.freeze";
    UserUnfreeze = 4002, "user.unfreeze";
    UserResetTotp = 4003, "user.reset_totp";
    UserLock = 4004, "user.lock";
    UserChange = 4005, "user.change";
    TokenCreate = 4010, "token.create";
    TokenRevoke = 4011, "token.revoke";
    ConfigChange = 4020, "config.change";
    DeletionRequest = 4030, "deletion.request";
    Ingest = 5000, "ingest";
    AuditRead = 6000, "audit.read";
    AuditVerify = 6001, "audit.verify";
    IntegrityVerify = 6002, "integrity.verify";
    RetentionPolicySet = 7000, "retention.policy_set";
    RetentionPolicyLock = 7001, "retention.policy_lock";
    RetentionPolicyRemove = 7002, "retention.policy_remove";
    TagRuleSet = 7003, "retention.tag_rule";
    TagSet = 7004, "retention.tag";
    RetentionPlan = 7005, "retention.plan";
    HoldCreate = 7010, "hold.create";
    HoldReleaseRequest = 7011, "hold.release_request";
    HoldRelease = 7012, "hold.release";
    DeletionApprove = 7030, "deletion.approve";
    DeletionReject = 7031, "deletion.reject";
    DeletionExecute = 7032, "deletion.execute";
    Purge = 7033, "deletion.purge";
    RetentionSweep = 7034, "retention.sweep";
    Restrict = 7040, "retention.restrict";
    Unrestrict = 7041, "retention.unrestrict";
    BackupRun = 7050, "backup.run";
    IdentityLink = 7060, "identity.link";
    SourceAdd = 7070, "source.add";
    SourceRemove = 7071, "source.remove";
    SourceRefused = 7072, "source.refused";
    SourceQuarantine = 7073, "source.quarantine";
    SourceReplay = 7074, "source.replay";
    Restore = 7051, "backup.restore";
    ReportView = 8000, "report.view";
    AlertAck = 8001, "alert.ack";
    StateSeal = 6003, "access.seal";
    UserLang = 4006, "user.lang";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

/// An entry to append. `details` must hold no message content, password or secret.
#[derive(Debug, Clone)]
pub struct Event {
    pub actor: String,
    pub action: Action,
    pub target: Option<String>,
    pub result: Outcome,
    pub details: serde_json::Value,
    pub ip: Option<String>,
}

impl Event {
    pub fn new(actor: &str, action: Action) -> Event {
        Event {
            actor: actor.to_owned(),
            action,
            target: None,
            result: Outcome::Ok,
            details: serde_json::Value::Null,
            ip: None,
        }
    }
    pub fn target(mut self, t: &str) -> Event {
        self.target = Some(t.to_owned());
        self
    }
    pub fn result(mut self, r: Outcome) -> Event {
        self.result = r;
        self
    }
    pub fn details(mut self, d: serde_json::Value) -> Event {
        self.details = d;
        self
    }
    pub fn ip(mut self, ip: Option<&str>) -> Event {
        self.ip = ip.map(str::to_owned);
        self
    }
}

/// A stored entry, as listed and as hashed (field order is the hashed order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub time: String,
    pub time_ms: i64,
    pub actor: String,
    pub action: String,
    pub code: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub result: Outcome,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Anomaly flags raised when the entry was written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// The access database's bound tables after this entry's change, when it changed
    /// one (see [`crate::state`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<crate::state::StateMap>,
    /// Bound tables that, when this entry's change was made, no longer matched the
    /// state signed before: edited outside chatvault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub altered: Vec<String>,
    /// Hex hash of the previous entry.
    pub prev: String,
}

/// The anomaly rules; a flag is written into the entry that trips it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyRules {
    /// More exports than this by one user within an hour flags `exports_per_hour`.
    pub max_exports_per_hour: u32,
    /// Content access outside these hours flags `off_hours`: `"09:00-18:00"`; empty for none.
    pub working_hours: String,
    /// Working days, 1 = Monday … 7 = Sunday.
    pub working_days: Vec<u8>,
    /// The zone of the working hours (IANA name).
    pub working_timezone: String,
    /// This many failed logins for one user within 10 minutes flags `failed_logins`.
    pub failed_logins_in_10_minutes: u32,
    /// A deletion request for at least this many messages flags `bulk_deletion`.
    pub bulk_deletion_messages: u64,
}

impl Default for AnomalyRules {
    fn default() -> Self {
        AnomalyRules {
            max_exports_per_hour: 20,
            working_hours: "08:00-20:00".into(),
            working_days: vec![1, 2, 3, 4, 5],
            working_timezone: "Asia/Shanghai".into(),
            failed_logins_in_10_minutes: 10,
            bulk_deletion_messages: 1000,
        }
    }
}

impl AnomalyRules {
    pub fn validate(&self) -> Result<()> {
        self.hours()?;
        self.working_timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| {
                AccessError::invalid(
                    "working_timezone",
                    format!("`{}` is not an IANA zone", self.working_timezone),
                )
            })?;
        if self.working_days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(AccessError::invalid(
                "working_days",
                "days are 1 (Monday) to 7 (Sunday)",
            ));
        }
        Ok(())
    }

    fn hours(&self) -> Result<Option<(u32, u32)>> {
        if self.working_hours.trim().is_empty() {
            return Ok(None);
        }
        let bad = || {
            AccessError::invalid(
                "working_hours",
                format!("`{}`: write HH:MM-HH:MM", self.working_hours),
            )
        };
        let (a, b) = self.working_hours.split_once('-').ok_or_else(bad)?;
        let min = |s: &str| -> Option<u32> {
            let (h, m) = s.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
        };
        let (a, b) = (min(a).ok_or_else(bad)?, min(b).ok_or_else(bad)?);
        if a >= b {
            return Err(bad());
        }
        Ok(Some((a, b)))
    }

    fn off_hours(&self, ms: i64) -> bool {
        let (Ok(Some((a, b))), Ok(tz)) =
            (self.hours(), self.working_timezone.parse::<chrono_tz::Tz>())
        else {
            return false;
        };
        let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
            return false;
        };
        let local = t.with_timezone(&tz);
        let minute = local.hour() * 60 + local.minute();
        let day = local.weekday().number_from_monday() as u8;
        !self.working_days.contains(&day) || minute < a || minute >= b
    }
}

pub(crate) fn chain_hash(prev: &[u8; 32], body: &str) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(DOMAIN);
    h.update(prev);
    h.update(body.as_bytes());
    h.finalize().into()
}

/// A stretch of the audit chain that verifies on its own (see [`Access::audit_segment`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditSegment {
    pub from: u64,
    /// The entries' bodies from `from` to the head, exactly as hashed.
    pub bodies: Vec<String>,
    /// The newest signed audit checkpoint (C2SP note over size and head).
    pub checkpoint: String,
    pub verifier_key: String,
}

impl AuditSegment {
    /// Recomputes the chain from the first entry's `prev` and checks that it ends at the
    /// signed head, with sequence numbers in order. Returns the entries.
    pub fn verify(&self) -> std::result::Result<Vec<AuditEntry>, String> {
        let cp = chatvault_ledger::verify_checkpoint(&self.checkpoint, &self.verifier_key)
            .map_err(|e| format!("the audit checkpoint: {e}"))?;
        let mut entries = vec![];
        let mut prev: Option<[u8; 32]> = None;
        for (i, body) in self.bodies.iter().enumerate() {
            let e: AuditEntry = serde_json::from_str(body)
                .map_err(|e| format!("audit entry {}: malformed ({e})", self.from + i as u64))?;
            if e.seq != self.from + i as u64 {
                return Err(format!(
                    "audit entry {}: out of place (its body says {})",
                    self.from + i as u64,
                    e.seq
                ));
            }
            let p: [u8; 32] = match prev {
                Some(p) => p,
                None => hex::decode(&e.prev)
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or_else(|| format!("audit entry {}: bad prev", e.seq))?,
            };
            if hex::encode(p) != e.prev {
                return Err(format!("audit entry {}: does not follow its predecessor (edited, dropped or reordered)", e.seq));
            }
            prev = Some(chain_hash(&p, body));
            entries.push(e);
        }
        let size = self.from + self.bodies.len() as u64;
        if cp.size != size || prev.map(|p| p == cp.root.0) != Some(true) {
            return Err(format!("the audit chain does not end at the signed head (checkpoint size {}, chain size {size})", cp.size));
        }
        Ok(entries)
    }
}

/// Filters for `audit list` and the auditor's API; every one is optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// An action name, or a prefix ending in `.` (`login.` for every sign-in entry).
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Only entries with anomaly flags.
    #[serde(default)]
    pub flagged: bool,
    pub limit: Option<usize>,
}

/// What `audit verify` found.
#[derive(Debug, Serialize)]
pub struct AuditReport {
    pub ok: bool,
    pub entries: u64,
    pub checkpoints: u64,
    /// Entries after the newest checkpoint (normally 0: every append signs one).
    pub unsigned_tail: u64,
    pub errors: Vec<String>,
    pub verifier_key: String,
}

impl Tx<'_> {
    fn head(&self) -> Result<(u64, [u8; 32])> {
        match self.ops.audit_head()? {
            None => Ok((0, [0; 32])),
            Some((seq, hash)) => {
                let h: [u8; 32] = hash.try_into().map_err(|_| {
                    AccessError::Corrupt(
                        self.path.to_owned(),
                        format!("audit entry {seq} has a malformed hash"),
                    )
                })?;
                Ok((seq + 1, h))
            }
        }
    }

    fn count_since(&self, action: &str, who: &str, since: i64) -> Result<u64> {
        Ok(self.ops.audit_count(who, action, since)?)
    }

    fn flags(&self, ev: &Event) -> Result<Vec<String>> {
        let rules = &self.settings.anomalies;
        let mut flags = vec![];
        match ev.action {
            Action::Export => {
                let n = self.count_since("export", &ev.actor, self.now - 3_600_000)?;
                if n + 1 > u64::from(rules.max_exports_per_hour) {
                    flags.push("exports_per_hour".to_owned());
                }
            }
            Action::LoginFailure => {
                let n = self.count_since("login.failure", &ev.actor, self.now - 600_000)?;
                if n + 1 >= u64::from(rules.failed_logins_in_10_minutes) {
                    flags.push("failed_logins".to_owned());
                }
            }
            Action::DeletionRequest => {
                let n = ev
                    .details
                    .get("messages")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0);
                if n >= rules.bulk_deletion_messages {
                    flags.push("bulk_deletion".to_owned());
                }
            }
            _ => {}
        }
        let content = matches!(
            ev.action,
            Action::Search
                | Action::View
                | Action::Export
                | Action::GrantUse
                | Action::LoginSuccess
        );
        if content && rules.off_hours(self.now) {
            flags.push("off_hours".to_owned());
        }
        Ok(flags)
    }

    /// Appends one entry to this transaction; it is written, and a checkpoint signed
    /// over the new head, when the transaction commits ([`Tx::flush`]). Returns its
    /// sequence number.
    pub(crate) fn append(&self, ev: &Event) -> Result<u64> {
        let flags = self.flags(ev)?;
        let (head, _) = self.head()?;
        let mut pending = self.pending.borrow_mut();
        pending.push((ev.clone(), flags));
        Ok(head + pending.len() as u64 - 1)
    }

    /// Writes the transaction's entries. The last one carries the bound tables' new
    /// digests when the transaction changed any; a change with no entry of its own
    /// gets an `access.seal` entry, so no change to a bound table goes unsigned.
    pub(crate) fn flush(&self) -> Result<()> {
        let state = self.next_state()?;
        let mut pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            if state.is_none() {
                return Ok(());
            }
            pending.push((Event::new("chatvault", Action::StateSeal), vec![]));
        }
        let (state, mut altered) = match state {
            Some((map, altered)) => (Some(map), altered),
            None => (None, vec![]),
        };
        // Every append signs its head, so a head no checkpoint signs was appended
        // outside chatvault: the next entry would sign it, so it records that for good.
        let (seq, prev) = self.head()?;
        if !self.head_is_signed(seq, prev)? {
            altered.push("audit".to_owned());
        }
        let last = pending.len() - 1;
        for (i, (ev, flags)) in pending.into_iter().enumerate() {
            if i == last {
                self.write_entry(&ev, flags, state.clone(), altered.clone())?;
            } else {
                self.write_entry(&ev, flags, None, vec![])?;
            }
        }
        Ok(())
    }

    /// Whether the newest checkpoint signs the chain's head (`size` entries ending in
    /// `head`) with this archive's audit key.
    fn head_is_signed(&self, size: u64, head: [u8; 32]) -> Result<bool> {
        if size == 0 {
            return Ok(true);
        }
        let note = self.ops.audit_checkpoint(size)?;
        Ok(note
            .and_then(|n| {
                chatvault_ledger::verify_checkpoint(&n, self.keys.audit_signer.verifier_key()).ok()
            })
            .is_some_and(|cp| cp.size == size && cp.root.0 == head))
    }

    fn write_entry(
        &self,
        ev: &Event,
        flags: Vec<String>,
        state: Option<crate::state::StateMap>,
        altered: Vec<String>,
    ) -> Result<u64> {
        let (seq, prev) = self.head()?;
        let entry = AuditEntry {
            seq,
            time: crate::rfc3339(self.now),
            time_ms: self.now,
            actor: ev.actor.clone(),
            action: ev.action.name().to_owned(),
            code: ev.action.number(),
            target: ev.target.clone(),
            result: ev.result,
            details: ev.details.clone(),
            ip: ev.ip.clone(),
            flags,
            state,
            altered,
            prev: hex::encode(prev),
        };
        let body = serde_json::to_string(&entry)
            .map_err(|e| AccessError::Corrupt(self.path.to_owned(), e.to_string()))?;
        let hash = chain_hash(&prev, &body);
        self.ops.insert_audit(&chatvault_store::access::AuditRow {
            seq,
            time_ms: self.now,
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            body,
            hash: hash.to_vec(),
        })?;
        let size = seq + 1;
        let cp = self
            .keys
            .audit_signer
            .sign(size, Hash(hash), &entry.time)
            .map_err(|e| AccessError::Signing(e.to_string()))?;
        self.ops.put_audit_checkpoint(size, &cp.note)?;
        // Keep the latest checkpoint and one per KEEP_EVERY entries.
        if seq > 0 && seq % KEEP_EVERY != 0 {
            self.ops.delete_audit_checkpoint(seq)?;
        }
        Ok(seq)
    }
}

impl Access {
    /// Appends one entry in its own transaction.
    pub fn audit(&mut self, ev: Event) -> Result<u64> {
        self.in_tx(|t| t.append(&ev))
    }

    /// Appends entries in order, in one transaction (a group commit's batches).
    pub fn audit_all(&mut self, evs: &[Event]) -> Result<()> {
        self.in_tx(|t| {
            for ev in evs {
                t.append(ev)?;
            }
            Ok(())
        })
    }

    /// Entries matching a filter, oldest first.
    pub fn audit_list(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let range = AuditRange {
            actor: f.actor.as_deref(),
            from_ms: f.from_ms,
            to_ms: f.to_ms,
            ..AuditRange::default()
        };
        let mut out = vec![];
        self.ops()
            .audit_scan(&range, &mut |row| {
                let e: AuditEntry = serde_json::from_str(&row.body).map_err(|e| {
                    chatvault_store::StoreError::Corrupt(format!("audit entry {}: {e}", row.seq))
                })?;
                let action_ok = match f.action.as_deref() {
                    None => true,
                    Some(a) if a.ends_with('.') => e.action.starts_with(a),
                    Some(a) => e.action == a,
                };
                if action_ok && (!f.flagged || !e.flags.is_empty()) {
                    out.push(e);
                }
                Ok(())
            })
            .map_err(|e| self.corrupt_or(e))?;
        if let Some(limit) = f.limit {
            let skip = out.len().saturating_sub(limit);
            out.drain(..skip);
        }
        Ok(out)
    }

    /// The chain from entry `from` to the head, as stored (the exact bodies the hashes
    /// cover), and the newest signed audit checkpoint: enough for anyone to recompute the
    /// chain from `from` and check it ends at a signed head (evidence packages carry it).
    pub fn audit_segment(&self, from: u64) -> Result<AuditSegment> {
        let mut bodies = vec![];
        self.ops().audit_scan(
            &AuditRange {
                from_seq: from,
                ..AuditRange::default()
            },
            &mut |row| {
                bodies.push(row.body);
                Ok(())
            },
        )?;
        let checkpoint = self
            .ops()
            .audit_checkpoints()?
            .pop()
            .map(|(_, note)| note)
            .ok_or_else(|| AccessError::Corrupt(self.path.clone(), "no audit checkpoint".into()))?;
        Ok(AuditSegment {
            from,
            bodies,
            checkpoint,
            verifier_key: self.audit_verifier_key().to_owned(),
        })
    }

    /// Checks the whole log: every body hashes to its stored hash, sequence numbers run
    /// without gaps, each entry names its predecessor's hash, and every kept checkpoint
    /// is signed by the audit key over the chain's head at its size.
    pub fn audit_verify(&self) -> Result<AuditReport> {
        // One snapshot: a server committing meanwhile must not look like tampering.
        let snap = self.db.snapshot()?;
        let mut errors = vec![];
        let mut heads: Vec<[u8; 32]> = vec![];
        let mut prev = [0u8; 32];
        let mut signed_state: Option<(u64, crate::state::StateMap)> = None;
        {
            let mut expect = 0u64;
            snap.audit_scan(&AuditRange::default(), &mut |row| {
                let AuditRow { seq, time_ms, actor, action, body, hash: stored } = row;
                if let Ok(e) = serde_json::from_str::<AuditEntry>(&body) {
                    for (column, stored_value, signed) in [
                        ("time_ms", time_ms.to_string(), e.time_ms.to_string()),
                        ("actor", actor.clone(), e.actor.clone()),
                        ("action", action.clone(), e.action.clone()),
                    ] {
                        if stored_value != signed {
                            errors.push(format!("entry {seq}: its `{column}` column says {stored_value:?} but the hashed entry says {signed:?} (edited: filters by {column} would miss or misplace it)"));
                        }
                    }
                }
                if seq != expect {
                    errors.push(format!(
                        "entries {expect}..{seq} are missing (deleted or reordered)"
                    ));
                }
                if let Ok(e) = serde_json::from_str::<AuditEntry>(&body) {
                    for t in &e.altered {
                        errors.push(crate::state::altered_problem(seq, t));
                    }
                    if let Some(m) = e.state {
                        signed_state = Some((seq, m));
                    }
                }
                match serde_json::from_str::<AuditEntry>(&body) {
                    Ok(e) if e.seq != seq => errors.push(format!("entry {seq}: its body says seq {} (moved)", e.seq)),
                    Ok(e) if e.prev != hex::encode(prev) => errors.push(format!("entry {seq}: does not follow entry {} (reordered, or a predecessor was edited or deleted)", seq.wrapping_sub(1))),
                    Ok(_) => {}
                    Err(e) => errors.push(format!("entry {seq}: malformed body ({e})")),
                }
                let h = chain_hash(&prev, &body);
                if stored != h {
                    errors.push(format!(
                        "entry {seq}: its content does not match its hash (edited)"
                    ));
                }
                prev = stored.try_into().unwrap_or(h);
                heads.push(prev);
                expect = seq + 1;
                Ok(())
            })?;
        }
        let cps = snap.audit_checkpoints()?;
        let key = self.audit_verifier_key().to_owned();
        let mut newest = 0u64;
        for (size, note) in &cps {
            let size = *size;
            match chatvault_ledger::verify_checkpoint(note, &key) {
                Err(e) => errors.push(format!("audit checkpoint at {size}: {e}")),
                Ok(cp) if cp.size != size => errors.push(format!("audit checkpoint at {size}: it signs size {}", cp.size)),
                Ok(cp) => match heads.get((size as usize).wrapping_sub(1)) {
                    None => errors.push(format!("audit checkpoint at {size} covers entries that are gone (the log was truncated to {})", heads.len())),
                    Some(h) if *h != cp.root.0 => errors.push(format!("audit checkpoint at {size}: the chain's head there is not the signed one (entries were rewritten)")),
                    Some(_) => newest = newest.max(size),
                },
            }
        }
        if cps.is_empty() && !heads.is_empty() {
            errors.push("the audit log has entries but no signed checkpoint".into());
        }
        let unsigned = (heads.len() as u64).saturating_sub(newest);
        if unsigned > 0 && !cps.is_empty() {
            errors.push(format!("{unsigned} entries after the newest signed checkpoint: every append signs one, so they were appended outside chatvault"));
        }
        errors.extend(crate::state::state_problems(
            &*snap,
            signed_state.as_ref().map(|(s, m)| (*s, m)),
        )?);
        errors.extend(self.forged_sessions(&*snap)?);
        Ok(AuditReport {
            ok: errors.is_empty(),
            entries: heads.len() as u64,
            checkpoints: cps.len() as u64,
            unsigned_tail: (heads.len() as u64).saturating_sub(newest),
            errors,
            verifier_key: key,
        })
    }
}
