//! `chatvault serve`: the HTTP API over one archive, and the security core every call
//! passes through.
//!
//! This crate owns the routes ([`router`]), the guards that authenticate and authorize
//! each request ([`guard`]), the JSON error shape ([`error`]), security headers and body
//! limits, TLS through rustls, the OpenAPI document, the web UI, the schedules and the
//! delivery of alerts. The use cases, the config and the time rules are the application
//! layer's (`chatvault-app`).
//!
//! It never decides access itself: `chatvault-policy` decides, `chatvault-access` keeps
//! accounts and the audit trail, `chatvault-archive` stores and reads. And it never
//! reaches content for a caller except through the application's read use cases, which
//! take a [`guard::ContentReader`].

// `log_out!` and `log_err!`: lines of the log that never panic on a closed output.
#[macro_use]
extern crate chatvault_app;

pub mod alerts;
pub mod analytics;
pub mod cases;
/// The config lives in the application layer; re-exported under its old path.
pub use chatvault_app::config;
pub mod error;
pub mod guard;
pub mod lifecycle;
pub mod pulls;
pub mod routes;
pub mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

pub use config::Config;
pub use error::ApiError;
pub use guard::{Shared, State};
pub use rustls::ServerConfig as TlsConfig;

/// The OpenAPI 3.1 document served at `/api/v1/openapi.json`; a test checks it against
/// the routes below in both directions.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every route: method, path (axum syntax). [`router`] is built from the same list of
/// handlers; the OpenAPI test compares this list with the document.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/session"),
    ("GET", "/api/v1/session"),
    ("DELETE", "/api/v1/session"),
    ("GET", "/api/v1/search"),
    ("GET", "/api/v1/conversations/{id}/messages"),
    ("GET", "/api/v1/conversations/{id}/export"),
    ("POST", "/api/v1/exports"),
    ("GET", "/api/v1/identities"),
    ("POST", "/api/v1/identities"),
    ("DELETE", "/api/v1/identities/{id}"),
    ("GET", "/api/v1/identities/suggestions"),
    ("POST", "/api/v1/timeline"),
    ("GET", "/api/v1/reports/{kind}"),
    ("GET", "/api/v1/alerts"),
    ("POST", "/api/v1/alerts/{id}/ack"),
    ("GET", "/api/v1/alerts/stream"),
    ("GET", "/api/v1/alerts/deliveries"),
    ("GET", "/api/v1/messages/{id}"),
    ("GET", "/api/v1/messages/{id}/attachments/{sha256}"),
    ("POST", "/api/v1/messages"),
    ("GET", "/api/v1/requests"),
    ("POST", "/api/v1/requests"),
    ("POST", "/api/v1/requests/{id}/approve"),
    ("POST", "/api/v1/requests/{id}/reject"),
    ("GET", "/api/v1/grants"),
    ("POST", "/api/v1/grants/{id}/revoke"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/verify"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users/{name}/freeze"),
    ("POST", "/api/v1/users/{name}/unfreeze"),
    ("GET", "/api/v1/sources"),
    ("POST", "/api/v1/sources"),
    ("DELETE", "/api/v1/sources/{name}"),
    ("GET", "/api/v1/sources/{name}/quarantine"),
    ("POST", "/api/v1/sources/{name}/replay"),
];

/// Query strings whose rejections are the documented JSON error (400 `input.invalid`,
/// naming the parameter), not axum's plain text.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for ApiQuery<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(ApiError::new("input.invalid", r.body_text())),
        }
    }
}

/// JSON bodies whose rejections are API errors: 413 beyond the body limit, 415 for a body
/// that is not JSON, 400 otherwise, each naming what was wrong.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) => {
                // Each code has one status: a body of the wrong shape (axum's 422) is
                // `input.invalid`, 400, like every other malformed input.
                let code = match r.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => "request.too_large",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "request.content_type",
                    _ => "input.invalid",
                };
                Err(ApiError::new(code, r.body_text()))
            }
        }
    }
}

pub fn router(state: State) -> Router {
    use routes::*;
    let limit = state.config.limits.max_body_bytes;
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/session", post(login).get(whoami).delete(logout))
        .route("/api/v1/search", get(search))
        .route(
            "/api/v1/conversations/{id}/messages",
            get(conversation_messages),
        )
        .route(
            "/api/v1/conversations/{id}/export",
            get(cases::export_conversation),
        )
        .route("/api/v1/exports", post(cases::export))
        .route(
            "/api/v1/identities",
            get(cases::list_identities).post(cases::link_identity),
        )
        .route(
            "/api/v1/identities/{id}",
            axum::routing::delete(cases::unlink_identity),
        )
        .route(
            "/api/v1/identities/suggestions",
            get(cases::identity_suggestions),
        )
        .route("/api/v1/timeline", post(cases::timeline))
        .route("/api/v1/reports/{kind}", get(analytics::report_route))
        .route("/api/v1/alerts", get(alerts::list_route))
        .route("/api/v1/alerts/{id}/ack", post(alerts::ack_route))
        .route("/api/v1/alerts/stream", get(alerts::stream_route))
        .route("/api/v1/alerts/deliveries", get(alerts::deliveries_route))
        .route("/api/v1/messages/{id}", get(message))
        .route(
            "/api/v1/messages/{id}/attachments/{sha256}",
            get(attachment),
        )
        .route("/api/v1/messages", post(ingest))
        .route("/hooks/{name}", get(hook).post(hook))
        .route("/api/v1/sources", get(list_sources).post(add_source))
        .route(
            "/api/v1/sources/{name}",
            axum::routing::delete(remove_source),
        )
        .route("/api/v1/sources/{name}/quarantine", get(source_quarantine))
        .route("/api/v1/sources/{name}/replay", post(replay_source))
        .route("/metrics", get(metrics))
        .route("/api/v1/requests", get(list_requests).post(file_request))
        .route("/api/v1/requests/{id}/approve", post(approve))
        .route("/api/v1/requests/{id}/reject", post(reject))
        .route("/api/v1/grants", get(list_grants))
        .route("/api/v1/grants/{id}/revoke", post(revoke_grant))
        .route("/api/v1/audit", get(audit_list))
        .route("/api/v1/audit/verify", get(audit_verify))
        .route("/api/v1/users", get(list_users))
        .route("/api/v1/users/{name}/freeze", post(freeze_user))
        .route("/api/v1/users/{name}/unfreeze", post(unfreeze_user))
        .merge(ui::routes())
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(ui::form_csrf))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        // A panic in one request answers that request with a 500 (JSON, no detail) and
        // leaves the server serving; locks it poisoned are taken back by the next caller
        // (`guard::recover`).
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                use axum::response::IntoResponse;
                log_err!("a request panicked; answered 500");
                ApiError::internal("the request failed inside the server").into_response()
            },
        ))
        .with_state(state)
}

/// Unknown paths: JSON under `/api/`, an HTML page elsewhere.
async fn fallback(uri: axum::http::Uri, req: ui::Req) -> Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        return routes::not_found().await.into_response();
    }
    ui::not_found(req).await
}

/// Headers on every response: no sniffing, no framing, no referrer, no caching (unless
/// the handler set its own, as the versioned assets do), a CSP that allows nothing for
/// API responses and only same-origin scripts and styles for pages, and HSTS under TLS.
async fn security_headers(
    axum::extract::State(state): axum::extract::State<State>,
    req: Request,
    next: Next,
) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        let csp = if api {
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        } else {
            ui::PAGE_CSP
        };
        set(h, header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if state.tls {
        set(
            h,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        );
    }
    r
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("tls {path}: {why}")]
    Tls { path: String, why: String },
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("config: {0}")]
    Config(String),
}

/// A rustls server config from PEM files, accepting `min_version` ("1.2" or "1.3") and up.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    min_version: &str,
) -> Result<rustls::ServerConfig, ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |p: &std::path::Path, why: String| ServeError::Tls {
        path: p.display().to_string(),
        why,
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(cert, "no certificate in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
    let versions: &[&rustls::SupportedProtocolVersion] = match min_version {
        "1.3" => &[&rustls::version::TLS13],
        "1.2" => &[&rustls::version::TLS13, &rustls::version::TLS12],
        other => return Err(bad(cert, format!("--tls-min {other}: use 1.2 or 1.3"))),
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .map_err(|e| bad(cert, e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key_der)
    .map_err(|e| bad(key, e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Binds, calls `on_listening` with the bound address (so `--listen 127.0.0.1:0` can be
/// reported), and serves until Ctrl-C or SIGTERM.
pub async fn serve(
    state: State,
    tls: Option<rustls::ServerConfig>,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    if let Some(dir) = state
        .access
        .lock()
        .ok()
        .and_then(|a| a.path().parent().map(|p| p.to_owned()))
    {
        chatvault_app::error::set_data_dir(&dir);
    }
    let addr = state.config.listen.clone();
    let schedule = state
        .config
        .retention
        .schedule()
        .map_err(|e| ServeError::Config(e.to_string()))?;
    let tz = state
        .config
        .retention
        .tz()
        .map_err(|e| ServeError::Config(e.to_string()))?;
    if let Some(cron) = schedule {
        tokio::spawn(lifecycle::scheduled_sweeps(state.clone(), cron, tz));
    }
    for (cron, spec) in state
        .config
        .backup
        .parsed_schedules()
        .map_err(|e| ServeError::Config(e.to_string()))?
    {
        tokio::spawn(lifecycle::scheduled_backups(state.clone(), cron, spec, tz));
    }
    alerts::start(&state).map_err(ServeError::Config)?;
    pulls::start(&state);
    // Ingest makes messages durable before it answers; the index follows within
    // `index_commit_ms` (one segment per flush, not per request).
    state.defer_index_commits();
    tokio::spawn(flush_index(
        state.clone(),
        std::time::Duration::from_millis(state.config.server.index_commit_ms),
    ));
    let listener = std::net::TcpListener::bind(&addr).map_err(|source| ServeError::Listen {
        addr: addr.clone(),
        source,
    })?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let at_exit = state.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    on_listening(local);
    match tls {
        Some(cfg) => {
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                h.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            });
            let rustls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(cfg));
            axum_server::from_tcp_rustls(listener, rustls)
                .handle(handle)
                .serve(app)
                .await?;
        }
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await?;
        }
    }
    // A clean stop leaves nothing stored but unsearchable (a crash would not lose it
    // either: the index catches up at the next start).
    match tokio::task::spawn_blocking(move || at_exit.flush_index()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => log_err!("index: the last flush failed: {}", e.message),
        Err(e) => log_err!("index: the last flush failed: {e}"),
    }
    Ok(())
}

/// Commits what ingest stored to the search index every `every`.
async fn flush_index(state: State, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = state.clone();
        let done = tokio::task::spawn_blocking(move || s.flush_index()).await;
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log_err!("index: {}", e.message),
            Err(e) => log_err!("index: the flush failed: {e}"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Opening the access database with the archive's keys is the application layer's.
pub use chatvault_app::service::{open_access, OpenError};
