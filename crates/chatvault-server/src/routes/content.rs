//! Content reads for a caller over HTTP: search, a conversation, a message, an
//! attachment, the case timeline. Each is the application's use case (`chatvault_app::read`)
//! run for the request's `ContentReader`; the web UI calls the same `run_*` functions.

use super::*;
use chatvault_archive::Visible;

pub use chatvault_app::read::{PageParams, SearchParams, TimelineAsk};

pub async fn search(
    reader: ContentReader,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(run_search(&reader, &p)?)))
}

/// A search as the caller may see it, audited: the API's and the web UI's.
pub fn run_search(
    reader: &ContentReader,
    p: &SearchParams,
) -> ApiResult<Visible<chatvault_archive::SearchResponse>> {
    Ok(blocking(|| reader.state().search(reader, p))?)
}

pub async fn conversation_messages(
    reader: ContentReader,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(run_conversation(&reader, &id, &p)?.0)))
}

/// One page of a conversation as the caller may see it, audited, and how many of its
/// messages were masked.
pub fn run_conversation(
    reader: &ContentReader,
    id: &str,
    p: &PageParams,
) -> ApiResult<(Visible<chatvault_archive::ConversationView>, u64)> {
    Ok(blocking(|| reader.state().conversation(reader, id, p))?)
}

pub async fn message(reader: ContentReader, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let m = blocking(|| reader.state().message(&reader, &id))?;
    Ok(Json(json!(m)))
}

pub async fn attachment(
    reader: ContentReader,
    Path((id, sha)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (att, bytes) = run_attachment(&reader, &id, &sha, Right::Export)?;
    Ok(download(&att.name, bytes))
}

/// An attachment's bytes, read under `right` (export to download, view to preview),
/// audited.
pub fn run_attachment(
    reader: &ContentReader,
    id: &str,
    sha: &str,
    right: Right,
) -> ApiResult<(Visible<chatvault_model::AttachmentRef>, Vec<u8>)> {
    Ok(blocking(|| {
        reader.state().attachment(reader, id, sha, right)
    })?)
}

/// Bytes as a download, never rendered: the bytes and the name are untrusted.
pub fn download(name: &str, bytes: Vec<u8>) -> Response {
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// A case timeline as the caller may see it, audited: the total and one page, oldest
/// first.
pub fn run_timeline(
    reader: &ContentReader,
    ask: &TimelineAsk,
) -> ApiResult<(u64, Vec<Visible<chatvault_model::StoredMessage>>)> {
    Ok(blocking(|| reader.state().timeline(reader, ask))?)
}
