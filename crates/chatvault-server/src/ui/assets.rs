//! Static files compiled into the binary: the UI's own CSS and script, and the vendored
//! htmx and Apache ECharts (licences in `assets/vendor/`). Names carry the version, so
//! they may be cached for a year.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub const HTMX: &str = "htmx-2.0.11.min.js";
pub const ECHARTS: &str = "echarts-5.6.0.min.js";
/// The UI's own files change with the program: their names carry its version.
pub const APP_CSS: &str = concat!("app-", env!("CARGO_PKG_VERSION"), ".css");
pub const APP_JS: &str = concat!("app-", env!("CARGO_PKG_VERSION"), ".js");

const FILES: &[(&str, &str, &[u8])] = &[
    (
        HTMX,
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/htmx-2.0.11.min.js"),
    ),
    (
        ECHARTS,
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/echarts-5.6.0.min.js"),
    ),
    (
        APP_CSS,
        "text/css; charset=utf-8",
        include_bytes!("../../assets/app.css"),
    ),
    (
        APP_JS,
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../assets/favicon.svg"),
    ),
];

pub async fn serve(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, bytes)) => {
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            r
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
