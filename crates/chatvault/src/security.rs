//! The security commands: `serve`, `config`, `user`, `token`, `request`, `grant`, `audit`.
//! Each opens the archive only to get the keys it keeps for the access database; the
//! work is done by `chatvault-access` and `chatvault-server`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chatvault_access::audit::AuditFilter;
use chatvault_access::{Access, TokenScope};
use chatvault_app::Config;
use chatvault_archive::{Archive, KeyProvider};
use chatvault_policy::{Right, Role, Scope};
use clap::Subcommand;

use crate::{print_json, render};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Config file (TOML; `chatvault config example` prints one).
    #[arg(long, env = "CHATVAULT_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (overrides the config).
    #[arg(long)]
    listen: Option<String>,
    /// PEM certificate chain: serve HTTPS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Lowest TLS version: 1.2 or 1.3.
    #[arg(long)]
    tls_min: Option<String>,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print an example config with every setting at its default.
    Example,
    /// Print the effective config (file, then CHATVAULT_* overrides).
    Show {
        #[arg(long, env = "CHATVAULT_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from stdin, or generated and printed once.
    Add {
        name: String,
        /// agent, team_lead, legal, executive, auditor, admin.
        #[arg(long)]
        role: String,
        #[arg(long)]
        team: Option<String>,
        /// A platform account this person uses: PLATFORM:ID (repeatable).
        #[arg(long = "handle")]
        handles: Vec<String>,
        /// Enrol TOTP even where the role does not require it.
        #[arg(long)]
        totp: bool,
    },
    /// List accounts.
    List,
    /// Change a user's role, team or handles (audited; ends the user's sessions).
    Set {
        name: String,
        #[arg(long)]
        role: Option<String>,
        /// A team, or `-` for none.
        #[arg(long)]
        team: Option<String>,
        /// Replace the handles: PLATFORM:ID (repeatable).
        #[arg(long = "handle")]
        handles: Vec<String>,
    },
    /// Freeze an account (熔断): at once, its sessions end and its tokens are revoked.
    Freeze {
        name: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Lift a freeze or a lock-out.
    Unfreeze { name: String },
    /// Issue a new TOTP secret (prints the otpauth URI once) and end the user's sessions.
    ResetTotp { name: String },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user; it is printed once.
    Create {
        user: String,
        /// read or ingest.
        #[arg(long)]
        scope: String,
        /// Limit the token to one source (platform), e.g. wecom.
        #[arg(long)]
        source: Option<String>,
    },
    List,
    Revoke {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum RequestCommand {
    /// File a retrieval request (电子证据调取申请) as a user.
    File {
        #[arg(long = "as")]
        user: String,
        /// PLATFORM:ID (repeatable).
        #[arg(long = "conversation")]
        conversations: Vec<String>,
        /// PLATFORM:ID of a participant (repeatable).
        #[arg(long = "participant")]
        participants: Vec<String>,
        /// RFC 3339, YYYY-MM-DD or `YYYY-MM-DD HH:MM`, in the deployment's zone when
        /// none is given (`[server] timezone`).
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long = "keyword")]
        keywords: Vec<String>,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        case_number: String,
        /// view, export, pii.view (comma-separated).
        #[arg(long, default_value = "view")]
        rights: String,
    },
    /// List requests.
    List,
    /// Approve a request as a user.
    Approve {
        id: String,
        #[arg(long = "as")]
        user: String,
        #[arg(long, default_value = "")]
        comment: String,
        /// When the grant ends: RFC 3339, or a date (the end of that day) in the
        /// deployment's zone.
        #[arg(long)]
        expires: String,
    },
    /// Reject a request as a user.
    Reject {
        id: String,
        #[arg(long = "as")]
        user: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

#[derive(Subcommand)]
pub enum GrantCommand {
    List,
    Revoke {
        id: String,
        #[arg(long = "as")]
        user: String,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// List entries.
    List {
        #[arg(long)]
        actor: Option<String>,
        /// An action name (login.failure) or a prefix ending in `.` (login.).
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// Only entries with anomaly flags.
        #[arg(long)]
        flagged: bool,
    },
    /// Check the hash chain and the signed checkpoints; exits 1 on any problem.
    Verify,
}

/// Who runs a CLI command, as the audit trail names them.
pub fn console_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into())
    )
}

fn open_both(
    data: &std::path::Path,
    settings: chatvault_access::Settings,
) -> Result<(Archive, Access)> {
    let mut a = Archive::open(data, &KeyProvider::from_env())?;
    let acc = chatvault_app::service::open_access(&mut a, settings)?;
    Ok((a, acc))
}

/// The config the CLI commands share with `serve`: `CHATVAULT_CONFIG`, then overrides.
pub fn load_config() -> Result<Config> {
    Ok(Config::load(
        std::env::var_os("CHATVAULT_CONFIG")
            .map(PathBuf::from)
            .as_deref(),
        std::env::vars(),
    )?)
}

/// The application over the archive in `data`, as `serve` holds it: the archive, its
/// access database and the config, for commands that run a use case of the app.
pub fn open_app(data: &std::path::Path) -> Result<chatvault_app::App> {
    let cfg = load_config()?;
    let (a, acc) = open_both(data, cfg.security.clone())?;
    Ok(chatvault_app::App::new(a, acc, cfg))
}

/// The access database with the config's settings.
pub fn open_access(data: &std::path::Path) -> Result<(Access, Config)> {
    let cfg = load_config()?;
    Ok((open_both(data, cfg.security.clone())?.1, cfg))
}

/// A time flag in the deployment's zone; `end`: a date or minute means its last millisecond.
pub fn time_arg(s: &str, field: &str, end: bool) -> Result<i64> {
    let end = if end {
        crate::time_arg::End::To
    } else {
        crate::time_arg::End::From
    };
    crate::time_arg::parse(s, field, end, None)
}

pub fn serve(data: &std::path::Path, args: &ServeArgs) -> Result<ExitCode> {
    let mut cfg = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(l) = &args.listen {
        cfg.listen = l.clone();
    }
    if let (Some(c), Some(k)) = (&args.tls_cert, &args.tls_key) {
        cfg.tls.cert = Some(c.clone());
        cfg.tls.key = Some(k.clone());
    }
    if let Some(m) = &args.tls_min {
        cfg.tls.min_version = m.clone();
    }
    cfg.validate()?;
    let tls = match (&cfg.tls.cert, &cfg.tls.key) {
        (Some(c), Some(k)) => Some(chatvault_server::tls_config(c, k, &cfg.tls.min_version)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    run_server(data, cfg, tls, |addr| {
        println!("chatvault listening on {scheme}://{addr}");
    })
}

/// Opens the archive and the access database and serves the API and the web UI until
/// Ctrl-C or SIGTERM; `on_listening` gets the bound address.
pub fn run_server(
    data: &std::path::Path,
    cfg: Config,
    tls: Option<chatvault_server::TlsConfig>,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<ExitCode> {
    let (archive, mut access) = open_both(data, cfg.security.clone())?;
    access.note_config(&console_actor(), &cfg.digest())?;
    let state = std::sync::Arc::new(chatvault_server::Shared::new(
        archive,
        access,
        cfg,
        tls.is_some(),
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(chatvault_server::serve(state, tls, on_listening))?;
    Ok(ExitCode::SUCCESS)
}

pub fn config(cmd: &ConfigCommand) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::Example => print!("{}", chatvault_app::config::example()),
        ConfigCommand::Show { config } => {
            let cfg = Config::load(config.as_deref(), std::env::vars())?;
            print!("{}", toml::to_string_pretty(&cfg)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_password() -> Result<Option<String>> {
    if std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let mut s = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut s)
        .context("reading the password from stdin")?;
    let p = s.trim_end_matches(['\r', '\n']).to_owned();
    Ok((!p.is_empty()).then_some(p))
}

pub fn user(data: &std::path::Path, json: bool, cmd: &UserCommand) -> Result<ExitCode> {
    let (mut acc, _) = open_access(data)?;
    let actor = console_actor();
    match cmd {
        UserCommand::Add {
            name,
            role,
            team,
            handles,
            totp,
        } => {
            let role = Role::parse(role)?;
            let handles = handles
                .iter()
                .map(|h| chatvault_access::users::parse_handle(h))
                .collect::<Result<Vec<_>, _>>()?;
            let password = read_password()?;
            let e = acc.add_user(
                &actor,
                name,
                role,
                team.as_deref(),
                &handles,
                password.as_deref(),
                *totp,
            )?;
            if json {
                print_json(&e)?;
            } else {
                println!("created user {} ({})", e.user, role.as_str());
                if let Some(p) = &e.password {
                    println!("password (shown once): {p}");
                }
                if let Some(u) = &e.otpauth {
                    println!(
                        "TOTP enrolment (shown once; scan or paste into an authenticator app): {u}"
                    );
                }
            }
        }
        UserCommand::List => {
            let users = acc.users()?;
            if json {
                print_json(&users)?;
            } else {
                for u in users {
                    let hs: Vec<String> = u.handles.iter().map(|h| h.to_string()).collect();
                    println!(
                        "{:<16} {:<10} team={:<10} totp={} {}{} handles={}",
                        render::safe(&u.name, true),
                        u.role.as_str(),
                        render::safe(u.team.as_deref().unwrap_or("-"), true),
                        if u.totp { "yes" } else { "no" },
                        if u.frozen { "FROZEN " } else { "" },
                        if u.locked { "LOCKED " } else { "" },
                        render::safe(&hs.join(","), true)
                    );
                }
            }
        }
        UserCommand::Set {
            name,
            role,
            team,
            handles,
        } => {
            let role = role.as_deref().map(Role::parse).transpose()?;
            let team = team.as_deref().map(|t| (t != "-").then_some(t));
            let handles = handles
                .iter()
                .map(|h| chatvault_access::users::parse_handle(h))
                .collect::<Result<Vec<_>, _>>()?;
            let u = acc.change_user(
                &actor,
                name,
                role,
                team,
                (!handles.is_empty()).then_some(handles.as_slice()),
            )?;
            if json {
                print_json(&u)?;
            } else {
                println!(
                    "{}: role {}, team {}",
                    render::safe(&u.name, true),
                    u.role.as_str(),
                    render::safe(u.team.as_deref().unwrap_or("-"), true)
                );
            }
        }
        UserCommand::Freeze { name, reason } => {
            let (s, t) = acc.freeze(&actor, name, reason)?;
            if json {
                print_json(
                    &serde_json::json!({"user": name, "frozen": true, "sessions_ended": s, "tokens_revoked": t}),
                )?;
            } else {
                println!("froze {name}: {s} session(s) ended, {t} token(s) revoked");
            }
        }
        UserCommand::Unfreeze { name } => {
            acc.unfreeze(&actor, name)?;
            if json {
                print_json(&serde_json::json!({"user": name, "frozen": false}))?;
            } else {
                println!("unfroze {name}");
            }
        }
        UserCommand::ResetTotp { name } => {
            let e = acc.reset_totp(&actor, name)?;
            if json {
                print_json(&e)?;
            } else if let Some(u) = &e.otpauth {
                println!("new TOTP secret for {name} (shown once; sessions ended): {u}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn token(data: &std::path::Path, json: bool, cmd: &TokenCommand) -> Result<ExitCode> {
    let (mut acc, _) = open_access(data)?;
    let actor = console_actor();
    match cmd {
        TokenCommand::Create {
            user,
            scope,
            source,
        } => {
            let (info, text) =
                acc.create_token(&actor, user, TokenScope::parse(scope)?, source.as_deref())?;
            if json {
                print_json(&serde_json::json!({"token": text, "info": info}))?;
            } else {
                println!("{text}");
                eprintln!(
                    "token {} for {user} ({scope}); this is the only time it is shown",
                    info.id
                );
            }
        }
        TokenCommand::List => {
            let t = acc.tokens()?;
            if json {
                print_json(&t)?;
            } else {
                for t in t {
                    println!(
                        "{}  {}  {}  {}  {}",
                        t.id,
                        render::safe(&t.user, true),
                        t.scope.as_str(),
                        t.source.as_deref().unwrap_or("-"),
                        t.revoked_at
                            .as_deref()
                            .map_or("active".to_owned(), |r| format!("revoked {r}"))
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            acc.revoke_token(&actor, id)?;
            println!("revoked token {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_rights(s: &str) -> Result<Vec<Right>> {
    s.split(',')
        .map(|r| match r.trim() {
            "view" => Ok(Right::View),
            "export" => Ok(Right::Export),
            "pii.view" => Ok(Right::PiiView),
            "restricted.view" => Ok(Right::RestrictedView),
            other => bail!("--rights: `{other}`; use view, export, pii.view, restricted.view"),
        })
        .collect()
}

pub fn request(data: &std::path::Path, json: bool, cmd: &RequestCommand) -> Result<ExitCode> {
    let (mut acc, cfg) = open_access(data)?;
    let policy = cfg.policy();
    match cmd {
        RequestCommand::File {
            user,
            conversations,
            participants,
            from,
            to,
            keywords,
            reason,
            case_number,
            rights,
        } => {
            let scope = Scope {
                conversations: conversations.clone(),
                participants: participants
                    .iter()
                    .map(|h| chatvault_access::users::parse_handle(h))
                    .collect::<Result<_, _>>()?,
                from_ms: time_arg(from, "--from", false)?,
                to_ms: time_arg(to, "--to", true)?,
                keywords: keywords.clone(),
            };
            let r = acc.file_request(user, scope, reason, case_number, &parse_rights(rights)?)?;
            if json {
                print_json(&r)?;
            } else {
                println!("filed request {}", r.id);
            }
        }
        RequestCommand::List => {
            let rs = acc.requests(None)?;
            if json {
                print_json(&rs)?;
            } else {
                for r in rs {
                    let status = serde_json::to_value(&r.status)
                        .ok()
                        .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_owned))
                        .unwrap_or_default();
                    println!(
                        "{}  {:<8}  by {}  case {}  {}",
                        r.id,
                        status,
                        render::safe(&r.requester, true),
                        render::safe(&r.case_number, true),
                        render::safe(&r.reason, true)
                    );
                }
            }
        }
        RequestCommand::Approve {
            id,
            user,
            comment,
            expires,
        } => {
            let g = acc.approve_request(
                user,
                id,
                comment,
                // A date means the end of that day: the same in the API and the UI.
                time_arg(expires, "--expires", true)?,
                &policy,
            )?;
            if json {
                print_json(&g)?;
            } else {
                println!(
                    "approved {id}: grant {} for {} until {}",
                    g.id,
                    render::safe(&g.holder, true),
                    cfg.zone()?.rfc3339(g.expires_ms)
                );
            }
        }
        RequestCommand::Reject { id, user, comment } => {
            acc.reject_request(user, id, comment, &policy)?;
            println!("rejected {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn grant(data: &std::path::Path, json: bool, cmd: &GrantCommand) -> Result<ExitCode> {
    let (mut acc, cfg) = open_access(data)?;
    match cmd {
        GrantCommand::List => {
            let now = acc.now_ms();
            let gs = acc.grants(None)?;
            if json {
                print_json(&gs)?;
            } else {
                for g in gs {
                    let state = if g.revoked.is_some() {
                        "revoked"
                    } else if g.is_active(now) {
                        "active"
                    } else {
                        "expired"
                    };
                    println!(
                        "{}  {:<7}  holder {}  approved by {}  until {}",
                        g.id,
                        state,
                        render::safe(&g.holder, true),
                        render::safe(&g.approved_by, true),
                        cfg.zone()?.rfc3339(g.expires_ms)
                    );
                }
            }
        }
        GrantCommand::Revoke { id, user } => {
            acc.revoke_grant(user, id, &cfg.policy())?;
            println!("revoked grant {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit(data: &std::path::Path, json: bool, cmd: &AuditCommand) -> Result<ExitCode> {
    let (mut acc, _) = open_access(data)?;
    let actor = console_actor();
    match cmd {
        AuditCommand::List {
            actor: who,
            action,
            from,
            to,
            flagged,
        } => {
            let f = AuditFilter {
                actor: who.clone(),
                action: action.clone(),
                from_ms: from
                    .as_deref()
                    .map(|s| time_arg(s, "--from", false))
                    .transpose()?,
                to_ms: to
                    .as_deref()
                    .map(|s| time_arg(s, "--to", true))
                    .transpose()?,
                flagged: *flagged,
                limit: None,
            };
            let entries = acc.audit_list(&f)?;
            acc.audit(
                chatvault_access::Event::new(&actor, chatvault_access::Action::AuditRead)
                    .details(serde_json::json!({"returned": entries.len(), "via": "cli"})),
            )?;
            if json {
                print_json(&serde_json::json!({"entries": entries}))?;
            } else {
                for e in entries {
                    println!(
                        "{:>6}  {}  {:<16} {:<16} {:<8} {}{}",
                        e.seq,
                        e.time,
                        render::safe(&e.actor, true),
                        e.action,
                        serde_json::to_value(e.result)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        render::safe(e.target.as_deref().unwrap_or(""), true),
                        if e.flags.is_empty() {
                            String::new()
                        } else {
                            format!("  FLAGS {}", e.flags.join(","))
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify => {
            let r = acc.audit_verify()?;
            if json {
                print_json(&r)?;
            } else if r.ok {
                println!(
                    "ok: {} audit entries, {} signed checkpoints verified",
                    r.entries, r.checkpoints
                );
            } else {
                println!(
                    "FAILED: {} problem(s) in {} audit entries",
                    r.errors.len(),
                    r.entries
                );
                for e in &r.errors {
                    println!("  {}", render::safe(e, true));
                }
            }
            Ok(if r.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
