//! Sources that pull (network IO, so it stays in the server): a Telegram source added
//! with `--poll` asks the Bot API's `getUpdates` in a loop while the server runs, and
//! hands each update to the application's one capture path
//! ([`chatvault_app::connectors::pulled`]). Its cursor (the last stored `update_id`) is
//! written only once the updates it covers are stored, so a restart resumes where the
//! store stands: nothing twice, nothing skipped (a redelivered update is a duplicate).
//!
//! A supervisor looks at the sources every few seconds: a polling source added while the
//! server runs starts polling, and a removed one stops.

use std::collections::HashMap;
use std::time::Duration;

use chatvault_app::connectors::telegram;
use serde_json::Value;

use crate::guard::State;
use crate::routes::blocking;

/// How often the supervisor looks for polling sources added or removed.
const LOOK_EVERY: Duration = Duration::from_secs(3);
/// The long-poll timeout asked of Telegram (it holds the request up to this long).
const LONG_POLL_S: u64 = 25;

pub fn start(state: &State) {
    tokio::spawn(supervise(state.clone()));
}

async fn supervise(state: State) {
    let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        let wanted: Vec<String> = match blocking(|| state.access().and_then(|a| Ok(a.sources()?))) {
            Ok(all) => all
                .into_iter()
                .filter(|s| s.kind == telegram::KIND.name && telegram::polls(&s.settings))
                .map(|s| s.name)
                .collect(),
            Err(e) => {
                log_err!("capture: the sources could not be read: {}", e.message);
                vec![]
            }
        };
        running.retain(|name, task| {
            let keep = wanted.contains(name) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for name in wanted {
            running
                .entry(name.clone())
                .or_insert_with(|| tokio::spawn(poll_telegram(state.clone(), name)));
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
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
    let (base, token, cursor) = blocking(|| -> Result<_, String> {
        let acc = state.access().map_err(|e| e.message)?;
        let (info, secrets) = acc
            .source_secrets(name)
            .map_err(|e| e.to_string())?
            .ok_or("the source is gone")?;
        let token = secrets
            .get("bot_token")
            .ok_or("the source has no bot token")?
            .to_string();
        let cursor = acc.source_cursor(name).map_err(|e| e.to_string())?;
        Ok((telegram::api_base(&info.settings).to_owned(), token, cursor))
    })?;
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
    let name = name.to_owned();
    let state = state.clone();
    blocking(move || -> Result<(), String> {
        for u in updates {
            let id = u["update_id"]
                .as_i64()
                .ok_or("an update without update_id")?;
            let bytes = serde_json::to_vec(&u).map_err(|e| e.to_string())?;
            chatvault_app::connectors::pulled(&state, &name, &bytes).map_err(|e| e.message)?;
            state
                .access()
                .map_err(|e| e.message)?
                .set_source_cursor(&name, &id.to_string())
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })?;
    Ok(Step::Went)
}
