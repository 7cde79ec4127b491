//! Content reads for a caller: search, a conversation, a message, an attachment, the case timeline. Each goes through the caller's `ContentReader` rule and is audited; the web UI calls the same `run_*` functions.

use super::*;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub sender: Option<String>,
    pub conversation: Option<String>,
    pub platform: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

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
) -> ApiResult<chatvault_archive::SearchResponse> {
    let from_ms = p
        .from
        .as_deref()
        .map(|s| parse_time(s, "from", false, reader.state().zone))
        .transpose()?;
    let to_ms =
        p.to.as_deref()
            .map(|s| parse_time(s, "to", true, reader.state().zone))
            .transpose()?;
    if let (Some(f), Some(t)) = (from_ms, to_ms) {
        if f > t {
            return Err(ApiError::bad_request("`from` is after `to`"));
        }
    }
    if let Some(k) = &p.kind {
        k.parse::<chatvault_model::MessageKind>()
            .map_err(|e| ApiError::bad_request(format!("kind: {e}")))?;
    }
    let limit = p
        .limit
        .unwrap_or(20)
        .min(reader.state().config.limits.max_page);
    let filters = Filters {
        from_ms,
        to_ms,
        sender: p.sender.clone(),
        conversation: p.conversation.clone(),
        platform: p.platform.clone(),
        kind: p.kind.clone(),
        conversations: None,
    };
    // What is audited: the query (personal data masked), the filters and the count.
    let details = json!({
        "query": pii::mask(&p.q),
        "filters": {"from": p.from, "to": p.to, "sender": p.sender.as_deref().map(pii::mask), "conversation": p.conversation, "platform": p.platform, "kind": p.kind},
    });
    let result = blocking(|| -> ApiResult<_> {
        // The archive's lock is held to plan and to read the page, not while the index
        // counts: ingest and other readers go on meanwhile.
        let plan = {
            let mut a = reader.archive()?;
            if !reader.might_reach(&mut a, p.conversation.as_deref(), from_ms, to_ms)? {
                return Ok(Err(details.clone()));
            }
            let (narrowed, all_visible) = reader.narrow(&mut a, &filters)?;
            a.plan_visible(
                &p.q,
                &narrowed,
                limit,
                p.offset.unwrap_or(0),
                all_visible,
                reader.personal_data(),
            )?
        };
        let found = plan.run()?;
        let mut usage = Usage::default();
        let r = reader
            .archive()?
            .finish_visible(found, &mut reader.rule(Right::View, &mut usage))?;
        Ok(Ok((r, usage)))
    })?;
    match result {
        Err(details) => Err(reader.deny("search", details)),
        Ok((r, usage)) => {
            let mut d = details;
            d["total"] = json!(r.total);
            reader.audit_read(Action::Search, None, d, &usage)?;
            Ok(r)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    /// A message id: the page is centred on it.
    pub around: Option<String>,
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
) -> ApiResult<(chatvault_archive::ConversationView, u64)> {
    let limit = p
        .limit
        .unwrap_or(50)
        .min(reader.state().config.limits.max_page as u64);
    let result = blocking(|| -> ApiResult<_> {
        let mut a = reader.archive()?;
        let mut usage = Usage::default();
        let v = a.conversation_visible(
            id,
            p.offset.unwrap_or(0),
            limit,
            p.around.as_deref(),
            &mut reader.rule(Right::View, &mut usage),
        );
        Ok((v, usage))
    })?;
    match result {
        (Ok(v), usage) => {
            reader.audit_read(Action::View, Some(&v.conversation), json!({"conversation": v.conversation, "shown": v.messages.len(), "total": v.total}), &usage)?;
            Ok((v, usage.masked))
        }
        (Err(chatvault_archive::ArchiveError::NotFound(_)), _) => {
            Err(reader.deny(id, json!({"conversation": id})))
        }
        (Err(e), _) => Err(e.into()),
    }
}

pub async fn message(reader: ContentReader, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let result = blocking(|| -> ApiResult<_> {
        let mut a = reader.archive()?;
        let mut usage = Usage::default();
        let v = a.message_visible(&id, &mut reader.rule(Right::View, &mut usage));
        Ok((v, usage))
    })?;
    match result {
        (Ok((m, _)), usage) => {
            reader.audit_read(
                Action::View,
                Some(&id),
                json!({"message": id, "conversation": m.conversation}),
                &usage,
            )?;
            Ok(Json(json!(m)))
        }
        // A message that does not exist and one outside the reach get the same answer.
        (
            Err(
                chatvault_archive::ArchiveError::NotFound(_)
                | chatvault_archive::ArchiveError::Invalid { .. },
            ),
            _,
        ) => Err(reader.deny(&id, json!({"message": id}))),
        (Err(e), _) => Err(e.into()),
    }
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
) -> ApiResult<(chatvault_model::AttachmentRef, Vec<u8>)> {
    let result = blocking(|| -> ApiResult<_> {
        let mut a = reader.archive()?;
        let mut usage = Usage::default();
        let v = a.attachment_visible(id, sha, &mut reader.rule(right, &mut usage));
        Ok((v, usage))
    })?;
    let action = if right == Right::Export {
        Action::Export
    } else {
        Action::View
    };
    match result {
        (Ok((att, bytes)), usage) => {
            let Some(bytes) = bytes else {
                return Err(ApiError::new("attachment.absent", "the export recorded this attachment by hash only; its bytes were never archived"));
            };
            reader.audit_read(
                action,
                Some(id),
                json!({"message": id, "attachment": sha, "bytes": bytes.len()}),
                &usage,
            )?;
            Ok((att, bytes))
        }
        (
            Err(
                chatvault_archive::ArchiveError::NotFound(_)
                | chatvault_archive::ArchiveError::Invalid { .. },
            ),
            _,
        ) => Err(reader.deny(
            id,
            json!({"message": id, "attachment": sha, "right": right}),
        )),
        (Err(e), _) => Err(e.into()),
    }
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

/// A case timeline: the messages of `conversations` and of every conversation the
/// `participants` (and every handle an identity link joins to them) took part in, within
/// the caller's reach, oldest first. Returns the total and one page. Audited as a search.
pub fn run_timeline(
    reader: &ContentReader,
    participants: &[Handle],
    conversations: &[String],
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    limit: usize,
    offset: usize,
) -> ApiResult<(u64, Vec<chatvault_model::StoredMessage>)> {
    if let (Some(f), Some(t)) = (from_ms, to_ms) {
        if f > t {
            return Err(ApiError::bad_request("`from` is after `to`"));
        }
    }
    let details = json!({
        "timeline": true,
        "participants": participants.iter().map(|h| pii::mask(&format!("{}:{}", h.platform, h.id))).collect::<Vec<_>>(),
        "conversations": conversations,
        "from_ms": from_ms, "to_ms": to_ms,
    });
    let participants = crate::cases::linked(reader.state(), participants)?;
    let result = blocking(|| -> ApiResult<_> {
        let mut a = reader.archive()?;
        let mut wanted: std::collections::BTreeSet<String> =
            conversations.iter().cloned().collect();
        wanted.extend(a.conversations_of(&participants)?);
        let base = Filters {
            from_ms,
            to_ms,
            conversations: Some(wanted.iter().cloned().collect()),
            ..Filters::default()
        };
        let (mut narrowed, all_visible) = reader.narrow(&mut a, &base)?;
        // `narrow` replaces the conversation list with the caller's reach: intersect.
        narrowed.conversations = Some(match narrowed.conversations.take() {
            Some(reach) if !all_visible => {
                reach.into_iter().filter(|c| wanted.contains(c)).collect()
            }
            _ => wanted.iter().cloned().collect(),
        });
        let mut usage = Usage::default();
        // The index orders newest first; a timeline reads oldest first, so the page is
        // taken from the end and reversed.
        let total = a
            .search_visible(
                "",
                &narrowed,
                1,
                0,
                all_visible,
                reader.personal_data(),
                &mut reader.rule(Right::View, &mut Usage::default()),
            )?
            .total as usize;
        let end = total.saturating_sub(offset);
        let start = end.saturating_sub(limit);
        if end == 0 {
            return Ok((total as u64, vec![], usage));
        }
        let r = a.search_visible(
            "",
            &narrowed,
            end - start,
            start,
            all_visible,
            reader.personal_data(),
            &mut reader.rule(Right::View, &mut usage),
        )?;
        let mut msgs = vec![];
        for h in r.hits.iter().rev() {
            // Each message is read again through the caller's rule, which masks every
            // field that may carry personal data (sender, name, attachments), not only
            // the text the hit carries. (The uses were counted by the search above.)
            match a.message_visible(&h.id, &mut reader.rule(Right::View, &mut Usage::default())) {
                Ok((m, _)) => msgs.push(m),
                Err(chatvault_archive::ArchiveError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((total as u64, msgs, usage))
    })?;
    let (total, msgs, usage) = result;
    let mut d = details;
    d["total"] = json!(total);
    reader.audit_read(Action::Search, None, d, &usage)?;
    Ok((total, msgs))
}
