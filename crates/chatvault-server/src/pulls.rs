//! Sources that pull (network IO, so it stays in the server): a Telegram source added
//! with `--poll` asks the Bot API's `getUpdates` in a loop while the server runs, and
//! hands each update to the application's one capture path
//! ([`chatvault_app::connectors::pulled`]). Its cursor (the last stored `update_id`) is
//! written only once the updates it covers are stored, so a restart resumes where the
//! store stands: nothing twice, nothing skipped (a redelivered update is a duplicate).
//!
//! A 微信客服 source (`wecom-kf`) pulls `sync_msg` when its callback wakes it (and every
//! five minutes regardless), with its cursor kept the same way.
//!
//! A 会话内容存档 source (`wecom-archive`) pulls by `seq` through the customer's SDK when
//! `msgaudit_notify` wakes it (and every minute regardless), its cursor kept the same way.
//!
//! A supervisor looks at the sources every few seconds: a polling source added while the
//! server runs starts polling, and a removed one stops.

use std::collections::HashMap;
use std::time::Duration;

use std::sync::Arc;

use chatvault_app::connectors::{telegram, wecom_archive, wecom_kf};
use serde_json::Value;

use crate::guard::State;
use crate::routes::blocking;

/// How often the supervisor looks for polling sources added or removed.
const LOOK_EVERY: Duration = Duration::from_secs(3);
/// The long-poll timeout asked of Telegram (it holds the request up to this long).
const LONG_POLL_S: u64 = 25;
/// A 微信客服 source pulls at least this often, callback or not: WeCom keeps messages
/// three days, so a lost callback costs minutes, not messages.
const KF_EVERY: Duration = Duration::from_secs(300);

pub fn start(state: &State) {
    tokio::spawn(supervise(state.clone()));
}

async fn supervise(state: State) {
    let mut running: HashMap<(String, String), tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        // A source is told by its name and when it was added: removed and added again
        // (another bot, another corp), its task starts anew, with nothing cached.
        let wanted: Vec<((String, String), Puller)> =
            match blocking(|| state.access().and_then(|a| Ok(a.sources()?))) {
                Ok(all) => all
                    .into_iter()
                    .filter_map(|s| {
                        if s.kind == telegram::KIND.name && telegram::polls(&s.settings) {
                            Some(((s.name, s.created_at), Puller::Telegram))
                        } else if s.kind == wecom_kf::KIND.name {
                            Some(((s.name, s.created_at), Puller::WecomKf))
                        } else if s.kind == wecom_archive::KIND.name {
                            Some(((s.name, s.created_at), Puller::WecomArchive))
                        } else {
                            None
                        }
                    })
                    .collect(),
                Err(e) => {
                    log_err!("capture: the sources could not be read: {}", e.message);
                    vec![]
                }
            };
        running.retain(|id, task| {
            let keep = wanted.iter().any(|(w, _)| w == id) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for (id, kind) in wanted {
            let name = id.0.clone();
            running.entry(id).or_insert_with(|| match kind {
                Puller::Telegram => tokio::spawn(poll_telegram(state.clone(), name)),
                Puller::WecomKf => tokio::spawn(pull_wecom_kf(state.clone(), name)),
                Puller::WecomArchive => tokio::spawn(pull_wecom_archive(state.clone(), name)),
            });
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// The sources that pull, by how.
#[derive(Clone, Copy)]
enum Puller {
    Telegram,
    WecomKf,
    WecomArchive,
}

/// One step's outcome, for the backoff.
enum Step {
    /// Updates were stored (or there were none after a full long poll).
    Went,
    /// Telegram answered at once with nothing: wait a little before asking again.
    Empty,
}

async fn poll_telegram(state: State, name: String) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(LONG_POLL_S + 15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            log_err!("source {name}: no HTTP client: {e}");
            return;
        }
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        match poll_once(&state, &client, &name).await {
            Ok(Step::Went) => backoff = Duration::from_secs(1),
            Ok(Step::Empty) => {
                backoff = Duration::from_secs(1);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(why) => {
                // The token is in the URL: errors are logged without it.
                log_err!(
                    "source {name}: getUpdates: {why} (again in {} s)",
                    backoff.as_secs()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

async fn poll_once(state: &State, client: &reqwest::Client, name: &str) -> Result<Step, String> {
    let p = blocking(|| chatvault_app::connectors::pulling(state, name)).map_err(|e| e.message)?;
    let (base, token, cursor) = (
        telegram::api_base(&p.info.settings).to_owned(),
        p.secret("bot_token")?,
        p.cursor,
    );
    let offset = cursor
        .and_then(|c| c.parse::<i64>().ok())
        .map_or(0, |c| c + 1);
    let started = std::time::Instant::now();
    let resp = client
        .get(format!("{base}/bot{token}/getUpdates"))
        .query(&[
            ("offset", offset.to_string()),
            ("timeout", LONG_POLL_S.to_string()),
            ("limit", "100".to_owned()),
        ])
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("{status}: {}", e.without_url()))?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{status}: the answer is not JSON: {e}"))?;
    if body["ok"] != true {
        let why = body["description"].as_str().unwrap_or("no description");
        return Err(if status == reqwest::StatusCode::CONFLICT {
            format!("{why}: the bot has a webhook set; delete it (deleteWebhook) to poll, or add the source without --poll")
        } else {
            format!("{status}: {why}")
        });
    }
    let updates = body["result"].as_array().cloned().unwrap_or_default();
    if updates.is_empty() {
        return Ok(if started.elapsed() < Duration::from_secs(1) {
            Step::Empty
        } else {
            Step::Went
        });
    }
    // The cursor is the last update of the page: Telegram confirms what is below the
    // next offset.
    let last = updates
        .iter()
        .filter_map(|u| u["update_id"].as_i64())
        .max()
        .map(|id| id.to_string());
    blocking(|| chatvault_app::connectors::pulled_page(state, name, &updates, last.as_deref()))
        .map_err(|e| e.message)?;
    Ok(Step::Went)
}

/// A 微信客服 source: waits for the callback's wake (or, every [`KF_EVERY`], pulls anyway,
/// to recover what a lost callback announced), then fetches with `sync_msg`.
async fn pull_wecom_kf(state: State, name: String) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            log_err!("source {name}: no HTTP client: {e}");
            return;
        }
    };
    let mut access_token: Option<(String, std::time::Instant)> = None;
    // The callback's token, and when it came: WeCom honours it ten minutes.
    let mut fetch_token: Option<(String, std::time::Instant)> = None;
    let mut waits = Waits::new(&name, KF_EVERY);
    loop {
        let note = waits.due(&state).await;
        if let Some(t) = note.as_ref().and_then(|n| n["token"].as_str()) {
            fetch_token = Some((t.to_owned(), std::time::Instant::now()));
        }
        fetch_token = fetch_token.filter(|(_, at)| at.elapsed() < Duration::from_secs(540));
        let r = pull_kf_once(
            &state,
            &client,
            &name,
            &mut access_token,
            fetch_token.as_ref().map(|(t, _)| t.as_str()),
        )
        .await;
        waits.after("sync_msg", r).await;
    }
}

/// When a source that pulls on its platform's notice pulls next: at once when woken,
/// else every `every`; after a failure, again after a backoff doubling from 1 s to a
/// minute.
struct Waits {
    name: String,
    every: Duration,
    last: std::time::Instant,
    backoff: Duration,
}

impl Waits {
    fn new(name: &str, every: Duration) -> Waits {
        Waits {
            name: name.to_owned(),
            every,
            last: std::time::Instant::now() - every,
            backoff: Duration::from_secs(1),
        }
    }

    /// Waits until a pull is due: the wake's note, if one came.
    async fn due(&mut self, state: &State) -> Option<Value> {
        loop {
            let woken = state.capture.take_wake(&self.name).unwrap_or_else(|e| {
                log_err!("source {}: {}", self.name, e.message);
                None
            });
            if woken.is_some() || self.last.elapsed() >= self.every {
                self.last = std::time::Instant::now();
                return woken;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// After a pull: a failure is logged, waited out, and the next pull is due at once.
    async fn after(&mut self, what: &str, r: Result<(), String>) {
        match r {
            Ok(()) => self.backoff = Duration::from_secs(1),
            Err(why) => {
                log_err!(
                    "source {}: {what}: {why} (again in {} s)",
                    self.name,
                    self.backoff.as_secs()
                );
                tokio::time::sleep(self.backoff).await;
                self.backoff = (self.backoff * 2).min(Duration::from_secs(60));
                self.last = std::time::Instant::now() - self.every;
            }
        }
    }
}

/// Fetches every page `sync_msg` holds after the cursor, storing each page before the
/// cursor moves past it.
async fn pull_kf_once(
    state: &State,
    client: &reqwest::Client,
    name: &str,
    access_token: &mut Option<(String, std::time::Instant)>,
    fetch_token: Option<&str>,
) -> Result<(), String> {
    let p = blocking(|| chatvault_app::connectors::pulling(state, name)).map_err(|e| e.message)?;
    let (base, corp, secret, mut cursor) = (
        wecom_kf::api_base(&p.info.settings).to_owned(),
        p.setting("receive_id"),
        p.secret("corp_secret")?,
        p.cursor.clone(),
    );
    for _page in 0..1000 {
        let token = match access_token {
            Some((t, until)) if std::time::Instant::now() < *until => t.clone(),
            _ => {
                let v = get_json(
                    client
                        .get(format!("{base}/cgi-bin/gettoken"))
                        .query(&[("corpid", corp.as_str()), ("corpsecret", secret.as_str())]),
                )
                .await?;
                let t = v["access_token"]
                    .as_str()
                    .ok_or("gettoken: no access_token")?
                    .to_owned();
                let ttl = v["expires_in"].as_u64().unwrap_or(7200).saturating_sub(300);
                *access_token = Some((
                    t.clone(),
                    std::time::Instant::now() + Duration::from_secs(ttl),
                ));
                t
            }
        };
        let mut body = serde_json::json!({"limit": 1000});
        if let Some(c) = &cursor {
            body["cursor"] = c.clone().into();
        }
        if let Some(t) = fetch_token {
            body["token"] = t.into();
        }
        let v = get_json(
            client
                .post(format!("{base}/cgi-bin/kf/sync_msg"))
                .query(&[("access_token", token.as_str())])
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await;
        let v = match v {
            // An expired access token: fetch another and ask again.
            Err(e) if e.contains("errcode 42001") || e.contains("errcode 40014") => {
                *access_token = None;
                continue;
            }
            other => other?,
        };
        let msgs = v["msg_list"].as_array().cloned().unwrap_or_default();
        let next = v["next_cursor"].as_str().map(str::to_owned);
        let more = v["has_more"].as_i64() == Some(1);
        blocking(|| chatvault_app::connectors::pulled_page(state, name, &msgs, next.as_deref()))
            .map_err(|e| e.message)?;
        if next.is_some() {
            cursor = next;
        }
        if !more {
            return Ok(());
        }
    }
    Err("more than 1,000 pages in one pull".into())
}

/// A WeCom API answer: its JSON, or its `errcode` and `errmsg` (never the URL, which
/// holds the access token).
async fn get_json(req: reqwest::RequestBuilder) -> Result<Value, String> {
    let resp = req.send().await.map_err(|e| e.without_url().to_string())?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("{status}: {}", e.without_url()))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{status}: the answer is not JSON: {e}"))?;
    match v["errcode"].as_i64() {
        None | Some(0) => Ok(v),
        Some(code) => Err(format!(
            "errcode {code}: {}",
            v["errmsg"].as_str().unwrap_or_default()
        )),
    }
}

/// A chat archive source pulls at least this often without a callback.
const ARCHIVE_EVERY: Duration = Duration::from_secs(60);

/// A 会话内容存档 source: waits for `msgaudit_notify` (or [`ARCHIVE_EVERY`]), then pulls by
/// `seq` through the customer's SDK, off the async workers (the SDK blocks).
async fn pull_wecom_archive(state: State, name: String) {
    let sdk = Arc::new(std::sync::Mutex::new(None));
    let mut waits = Waits::new(&name, ARCHIVE_EVERY);
    loop {
        waits.due(&state).await;
        let (s, n, k) = (state.clone(), name.clone(), sdk.clone());
        let r = tokio::task::spawn_blocking(move || pull_archive_once(&s, &n, &k))
            .await
            .unwrap_or_else(|e| Err(format!("the pull failed: {e}")));
        waits.after("chat archive", r).await;
    }
}

#[cfg(feature = "finance-sdk")]
type ArchiveSdk = chatvault_finance::Sdk;
#[cfg(not(feature = "finance-sdk"))]
type ArchiveSdk = ();

/// Pulls every record after the stored `seq`, a batch (up to 1,000) at a time; the
/// cursor moves past a batch only once all of it is stored.
#[cfg(feature = "finance-sdk")]
fn pull_archive_once(
    state: &State,
    name: &str,
    sdk: &std::sync::Mutex<Option<ArchiveSdk>>,
) -> Result<(), String> {
    let p = chatvault_app::connectors::pulling(state, name).map_err(|e| e.message)?;
    let key = chatvault_connect::finance::PrivateKey::from_pem(&p.secret("private_key")?)
        .map_err(|e| e.to_string())?;
    let mut held = sdk
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let sdk = match &mut *held {
        Some(s) => s,
        empty => {
            let (path, corp) = (p.setting("sdk_path"), p.setting("receive_id"));
            empty.insert(chatvault_finance::Sdk::open(
                std::path::Path::new(&path),
                &corp,
                &p.secret("corp_secret")?,
            )?)
        }
    };
    let mut seq: u64 = p
        .cursor
        .as_deref()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    loop {
        let bytes = sdk.chat_data(seq, 1000, 10)?;
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("GetChatData: not JSON: {e}"))?;
        if v["errcode"].as_i64().unwrap_or(-1) != 0 {
            return Err(format!(
                "GetChatData: errcode {}: {}",
                v["errcode"],
                v["errmsg"].as_str().unwrap_or_default()
            ));
        }
        let records = v["chatdata"].as_array().cloned().unwrap_or_default();
        if records.is_empty() {
            return Ok(());
        }
        for rec in &records {
            let rseq = rec["seq"].as_u64().ok_or("a record without seq")?;
            // A random key that does not open means this source's private key is not
            // the one WeCom used (another `publickey_ver`): the pull stops before the
            // record, and goes on from there once the key is right. A message the SDK
            // cannot decrypt with its opened key is a damaged record: kept whole in
            // quarantine, with why, and the pull goes on.
            let random =
                match key.random_key(rec["encrypt_random_key"].as_str().unwrap_or_default()) {
                    Ok(k) => k,
                    Err(e) => {
                        // What came before it is stored: the cursor may stand there.
                        chatvault_app::connectors::pulled_page(
                            state,
                            name,
                            &[],
                            Some(&seq.to_string()),
                        )
                        .map_err(|e| e.message)?;
                        return Err(format!("record seq {rseq}: {e}"));
                    }
                };
            let opened = sdk
                .decrypt(
                    &random,
                    rec["encrypt_chat_msg"].as_str().unwrap_or_default(),
                )
                .and_then(|plain| {
                    serde_json::from_slice::<Value>(&plain)
                        .map_err(|e| format!("the decrypted message is not JSON: {e}"))
                });
            let payload = match opened {
                Ok(msg) => serde_json::json!({"seq": rseq, "msg": msg}),
                Err(why) => serde_json::json!({"seq": rseq, "error": why, "record": rec}),
            };
            let bytes = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
            chatvault_app::connectors::pulled(state, name, &bytes).map_err(|e| e.message)?;
            seq = seq.max(rseq);
        }
        chatvault_app::connectors::pulled_page(state, name, &[], Some(&seq.to_string()))
            .map_err(|e| e.message)?;
        if records.len() < 1000 {
            return Ok(());
        }
    }
}

#[cfg(not(feature = "finance-sdk"))]
fn pull_archive_once(
    _: &State,
    _: &str,
    _: &std::sync::Mutex<Option<ArchiveSdk>>,
) -> Result<(), String> {
    Err("this build has no chat archive SDK loader (built without the finance-sdk feature)".into())
}
