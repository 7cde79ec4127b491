//! `chatvault source`: live capture sources. Each listens at `/hooks/NAME` while `serve`
//! runs; its secrets are read from files (never from the command line, where `ps` and
//! shell history would keep them), sealed in the access database, and never shown again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use zeroize::Zeroizing;

use crate::security::{console_actor, open_access};
use crate::{print_json, render};

#[derive(Subcommand)]
pub enum SourceCommand {
    /// Add a source. Its endpoint is /hooks/NAME.
    Add {
        name: String,
        /// webhook (Standard Webhooks), slack (Events API), telegram (Bot API webhook),
        /// feishu (event subscription v2), wecom (app callbacks), wecom-kf (微信客服:
        /// its callback, then sync_msg), wecom-archive (会话内容存档, through the
        /// customer's SDK), dingtalk (HTTP event subscription) or dingtalk-robot (a
        /// robot's outgoing messages).
        #[arg(long)]
        kind: String,
        /// Standard Webhooks: the file holding the signing secret (whsec_…). DingTalk
        /// robot: the file holding the robot's AppSecret.
        #[arg(long)]
        secret_file: Option<PathBuf>,
        /// WeCom, DingTalk: the file holding the callback token.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// WeCom, DingTalk: the file holding the 43-character EncodingAESKey.
        #[arg(long)]
        aes_key_file: Option<PathBuf>,
        /// WeCom, 微信客服: the CorpID (or SuiteID) the messages are for.
        #[arg(long)]
        receive_id: Option<String>,
        /// DingTalk: the AppKey, CorpId or SuiteKey the messages are for.
        #[arg(long)]
        owner_key: Option<String>,
        /// Feishu: the file holding the Encrypt Key.
        #[arg(long)]
        encrypt_key_file: Option<PathBuf>,
        /// Feishu: the file holding the Verification Token.
        #[arg(long)]
        verification_token_file: Option<PathBuf>,
        /// Slack: the file holding the signing secret.
        #[arg(long)]
        signing_secret_file: Option<PathBuf>,
        /// Telegram: the file holding the webhook's secret token.
        #[arg(long)]
        secret_token_file: Option<PathBuf>,
        /// Telegram: pull updates with getUpdates while `serve` runs (for a machine with
        /// no public URL), resuming after the last stored update_id.
        #[arg(long)]
        poll: bool,
        /// Telegram with --poll: the file holding the bot's token (from @BotFather).
        #[arg(long)]
        bot_token_file: Option<PathBuf>,
        /// Telegram with --poll: the Bot API server (default https://api.telegram.org; a
        /// local Bot API server of your own, say). 微信客服: the WeCom API server (default
        /// https://qyapi.weixin.qq.com).
        #[arg(long)]
        api_base: Option<String>,
        /// 微信客服 (wecom-kf): the file holding the Secret of the 微信客服 app, for
        /// its access token. 会话内容存档 (wecom-archive): the chat archive's Secret.
        #[arg(long)]
        corp_secret_file: Option<PathBuf>,
        /// 会话内容存档: the file holding the RSA private key (PEM) whose public key was
        /// uploaded to WeCom's admin console.
        #[arg(long)]
        private_key_file: Option<PathBuf>,
        /// 会话内容存档: the path of libWeWorkFinanceSdk_C.so, downloaded from WeCom's
        /// admin console (never shipped with chatvault).
        #[arg(long)]
        sdk_path: Option<String>,
    },
    /// Every source, its kind and settings (secrets as ***).
    List,
    /// One source.
    Show { name: String },
    /// Remove a source: its endpoint answers 404 from then on.
    Remove { name: String },
    /// The events a source keeps in quarantine: signed, but not mapped (an unknown type,
    /// a schema change), each with why. Their content is not shown.
    Quarantine { name: String },
    /// Map a source's quarantined events again (after an upgrade): what maps now is
    /// stored and leaves the quarantine; what does not stays, with why.
    Replay { name: String },
}

/// A secret from a file: its text, trimmed of the line end an editor adds.
fn secret_file(path: &std::path::Path) -> Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?,
    );
    Ok(Zeroizing::new(text.trim().to_owned()))
}

fn show(info: &chatvault_access::sources::SourceInfo, json: bool) -> Result<()> {
    if json {
        print_json(info)?;
        return Ok(());
    }
    let settings: Vec<String> = info
        .settings
        .iter()
        .map(|(k, v)| format!("{k}={}", render::safe(v, true)))
        .chain(info.secrets.iter().map(|s| format!("{s}=***")))
        .collect();
    println!(
        "{:<20} {:<10} /hooks/{}  {}",
        render::safe(&info.name, true),
        render::safe(&info.kind, true),
        render::safe(&info.name, true),
        settings.join(" ")
    );
    Ok(())
}

pub fn source(data: &std::path::Path, json: bool, cmd: &SourceCommand) -> Result<ExitCode> {
    let (mut acc, _) = open_access(data)?;
    match cmd {
        SourceCommand::Add {
            name,
            kind,
            secret_file: secret,
            token_file,
            aes_key_file,
            receive_id,
            owner_key,
            encrypt_key_file,
            verification_token_file,
            signing_secret_file,
            secret_token_file,
            poll,
            bot_token_file,
            api_base,
            corp_secret_file,
            private_key_file,
            sdk_path,
        } => {
            let mut secrets = chatvault_access::sources::Secrets::new();
            for (field, file) in [
                ("secret", secret),
                ("token", token_file),
                ("aes_key", aes_key_file),
                ("encrypt_key", encrypt_key_file),
                ("verification_token", verification_token_file),
                ("signing_secret", signing_secret_file),
                ("secret_token", secret_token_file),
                ("bot_token", bot_token_file),
                ("corp_secret", corp_secret_file),
                ("private_key", private_key_file),
            ] {
                if let Some(f) = file {
                    secrets.insert(field.to_owned(), secret_file(f)?);
                }
            }
            let mut settings = BTreeMap::new();
            let mode = poll.then(|| "poll".to_owned());
            for (field, v) in [
                ("receive_id", receive_id),
                ("owner_key", owner_key),
                ("mode", &mode),
                ("api_base", api_base),
                ("sdk_path", sdk_path),
            ] {
                if let Some(v) = v {
                    settings.insert(field.to_owned(), v.clone());
                }
            }
            let info = chatvault_app::connectors::add(
                &mut acc,
                chatvault_app::connectors::Via::Console,
                &console_actor(),
                name,
                kind,
                settings,
                &secrets,
            )?;
            show(&info, json)?;
            if !json {
                eprintln!("source {name} added: `chatvault serve` receives it at /hooks/{name}");
            }
        }
        SourceCommand::List => {
            let all = acc.sources()?;
            if json {
                print_json(&all)?;
            } else {
                for s in &all {
                    show(s, false)?;
                }
            }
        }
        SourceCommand::Show { name } => {
            let info = acc
                .sources()?
                .into_iter()
                .find(|s| &s.name == name)
                .ok_or_else(|| chatvault_access::AccessError::NotFound(format!("source {name}")))?;
            show(&info, json)?;
        }
        SourceCommand::Remove { name } => {
            acc.remove_source(&console_actor(), name)?;
            if !json {
                println!("removed source {}", render::safe(name, true));
            }
        }
        SourceCommand::Quarantine { name } => {
            drop(acc);
            let app = crate::security::open_app(data)?;
            let held = chatvault_app::connectors::quarantine(&app, name)?;
            if json {
                print_json(&held)?;
            } else {
                for q in &held {
                    println!(
                        "{}  {}  {:>7} B  {}",
                        q.id,
                        q.received_at,
                        q.bytes,
                        render::safe(&q.reason, true)
                    );
                }
                eprintln!("{} event(s) in quarantine", held.len());
            }
        }
        SourceCommand::Replay { name } => {
            // The replay stores through the application (archive and access together).
            drop(acc);
            replay(data, json, name)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn replay(data: &std::path::Path, json: bool, name: &str) -> Result<()> {
    let app = crate::security::open_app(data)?;
    let r = chatvault_app::connectors::replay(&app, &console_actor(), name)?;
    if json {
        print_json(&r)?;
    } else {
        println!(
            "{} event(s) replayed and released: {} message(s) stored, {} already stored; {} still quarantined",
            r.released,
            r.stored,
            r.duplicates,
            r.kept.len()
        );
        for q in &r.kept {
            println!("  {}  {}", q.id, render::safe(&q.reason, true));
        }
    }
    Ok(())
}
