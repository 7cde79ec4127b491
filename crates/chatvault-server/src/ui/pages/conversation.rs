//! A conversation page, its exports, and attachments (images shown inline only when their bytes are an image).

use super::*;

#[derive(Deserialize)]
pub struct ConvQuery {
    id: String,
    around: Option<String>,
    offset: Option<u64>,
}

#[derive(Template)]
#[template(path = "conversation.html")]
struct ConversationPage {
    ctx: Ctx,
    key: String,
    title: String,
    platform: String,
    total: u64,
    messages: Vec<MsgView>,
    pager: Pager,
    earlier_href: Option<String>,
    later_href: Option<String>,
    masked: bool,
    may_export: bool,
    export_links: Vec<(&'static str, String)>,
}

const CONV_PAGE: u64 = 50;

pub async fn conversation_page(
    req: Req,
    reader: Result<ContentReader, ApiError>,
    Query(q): Query<ConvQuery>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let lang = req.lang_for(Some(&reader.caller));
    let p = PageParams {
        offset: q.offset,
        limit: Some(CONV_PAGE),
        around: q.around.clone(),
    };
    let (v, masked) = routes::run_conversation(&reader, &q.id, &p)
        .map_err(|e| UiError::for_caller(&req, &reader.caller, e))?;
    let t = lang.strings();
    let pager = Pager::new(v.total, v.offset, v.messages.len(), CONV_PAGE);
    let page_href = |o: u64| {
        format!(
            "/conversation?{}",
            views::query(&[("id", &v.conversation), ("offset", &o.to_string())])
        )
    };
    let page = ConversationPage {
        ctx: Ctx::for_caller(lang, &reader.caller, "/search", t.conv_title),
        key: clean(&v.conversation),
        title: clean(v.title.as_deref().unwrap_or(&v.conversation)),
        platform: v.platform.clone(),
        total: v.total,
        messages: views::thread(
            t,
            reader.state().zone,
            &v.messages.iter().collect::<Vec<_>>(),
            q.around.as_deref(),
        ),
        earlier_href: pager.prev.map(page_href),
        later_href: pager.next.map(page_href),
        pager,
        masked: masked > 0,
        may_export: may_export(&reader),
        export_links: [
            ("json", "json"),
            ("csv", "csv"),
            ("html", "html"),
            ("pdf", "pdf"),
            ("evidence", t.format_evidence),
        ]
        .iter()
        .map(|(f, label)| {
            (
                *label,
                format!(
                    "/export?{}",
                    views::query(&[("id", &v.conversation), ("format", f)])
                ),
            )
        })
        .collect(),
    };
    Ok(render(&page))
}

/// Whether downloads are offered: the role or an active grant carries the export right
/// (each download is still decided per message).
pub(super) fn may_export(reader: &ContentReader) -> bool {
    reader.may(Right::Export)
}

#[derive(Deserialize)]
pub struct ExportQuery {
    id: String,
    format: String,
}

/// A download of the conversation under the caller's export right (the API's export).
pub async fn export(
    req: Req,
    reader: Result<ContentReader, ApiError>,
    Query(q): Query<ExportQuery>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let fail = |e| UiError::for_caller(&req, &reader.caller, e);
    let kind = crate::cases::ExportKind::parse(&q.format).map_err(fail)?;
    Ok(
        crate::cases::run_export(&reader, &crate::cases::Chosen::conversation(&q.id), kind)
            .map_err(fail)?
            .into_response(),
    )
}

#[derive(Deserialize)]
pub struct AttQuery {
    message: String,
    sha256: String,
    mode: String,
}

/// Whether `bytes` really are the raster image `mime` claims (a preview is only sent
/// when the content agrees with the type).
fn image_matches(mime: &str, bytes: &[u8]) -> bool {
    match mime {
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        "image/webp" => bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        _ => false,
    }
}

pub async fn attachment(
    req: Req,
    reader: Result<ContentReader, ApiError>,
    Query(q): Query<AttQuery>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let fail = |e| UiError::for_caller(&req, &reader.caller, e);
    match q.mode.as_str() {
        "preview" => {
            let (att, bytes) = routes::run_attachment(&reader, &q.message, &q.sha256, Right::View)
                .map_err(fail)?;
            if !views::previewable(&att.mime) || !image_matches(&att.mime, &bytes) {
                return Err(fail(ApiError::new(
                    "attachment.not_image",
                    "this attachment is not an image the browser may show",
                )));
            }
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&att.mime) {
                h.insert(header::CONTENT_TYPE, v);
            }
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline"),
            );
            Ok(r)
        }
        "download" => {
            let (att, bytes) =
                routes::run_attachment(&reader, &q.message, &q.sha256, Right::Export)
                    .map_err(fail)?;
            Ok(routes::download(&att.name, bytes))
        }
        _ => Err(fail(ApiError::bad_request("mode: use preview or download"))),
    }
}
