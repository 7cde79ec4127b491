//! The case timeline: every message of a set of participants across conversations.

use super::*;

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    ctx: Ctx,
    participants: String,
    conversations: String,
    from: String,
    to: String,
    messages: Option<Vec<MsgView>>,
    pager: Option<Pager>,
    error: Option<ErrView>,
    may_export: bool,
    /// Handles the timeline took in through identity links.
    linked: Vec<String>,
    export_fields: Vec<(&'static str, String)>,
}

pub async fn timeline_page(
    req: Req,
    reader: Result<ContentReader, ApiError>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let lang = req.lang_for(Some(&reader.caller));
    let ctx = Ctx::for_caller(
        lang,
        &reader.caller,
        "/timeline",
        lang.strings().timeline_title,
    );
    Ok(render(&TimelinePage {
        ctx,
        participants: String::new(),
        conversations: String::new(),
        from: String::new(),
        to: String::new(),
        messages: None,
        pager: None,
        error: None,
        may_export: false,
        linked: vec![],
        export_fields: vec![],
    }))
}

pub async fn timeline_submit(
    req: Req,
    reader: Result<ContentReader, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let f = form(f);
    let lang = req.lang_for(Some(&reader.caller));
    let t = lang.strings();
    let offset: u64 = f
        .get("offset")
        .parse::<u64>()
        .unwrap_or(0)
        .min(chatvault_archive::MAX_OFFSET);
    let mut page = TimelinePage {
        ctx: Ctx::for_caller(lang, &reader.caller, "/timeline", t.timeline_title),
        participants: f.get("participants").to_owned(),
        conversations: f.get("conversations").to_owned(),
        from: f.get("from").to_owned(),
        to: f.get("to").to_owned(),
        messages: None,
        pager: None,
        error: None,
        may_export: may_export(&reader),
        linked: vec![],
        export_fields: ["participants", "conversations", "from", "to"]
            .into_iter()
            .map(|k| (k, f.get(k).to_owned()))
            .filter(|(_, v)| !v.is_empty())
            .collect(),
    };
    let run = || -> Result<_, ApiError> {
        let handles = f
            .lines("participants")
            .iter()
            .map(|h| chatvault_access::users::parse_handle(h).map_err(ApiError::from))
            .collect::<Result<Vec<Handle>, _>>()?;
        let linked: Vec<String> = crate::routes::blocking(|| reader.state().linked(&handles))?
            .into_iter()
            .filter(|h| !handles.contains(h))
            .map(|h| clean(&h.to_string()))
            .collect();
        let from = f
            .opt("from")
            .map(|s| parse_time(&s, "from", false, reader.state().zone))
            .transpose()?;
        let to = f
            .opt("to")
            .map(|s| parse_time(&s, "to", true, reader.state().zone))
            .transpose()?;
        let ask = routes::TimelineAsk {
            participants: handles,
            conversations: f.lines("conversations"),
            from_ms: from,
            to_ms: to,
            limit: PER_PAGE as usize * 2,
            offset: offset as usize,
        };
        let (total, msgs) = routes::run_timeline(&reader, &ask)?;
        Ok((total, msgs, linked))
    };
    if page.participants.trim().is_empty() && page.conversations.trim().is_empty() {
        page.error = Some(ErrView {
            code: "input.invalid".into(),
            message: t.timeline_empty.into(),
        });
        return Ok(render(&page));
    }
    match run() {
        Ok((total, msgs, linked)) => {
            page.linked = linked;
            page.pager = Some(Pager::new(total, offset, msgs.len(), PER_PAGE * 2));
            page.messages = Some(views::thread(
                t,
                reader.state().zone,
                &msgs.iter().map(|m| &**m).collect::<Vec<_>>(),
                None,
            ));
        }
        Err(e) if e.code == "access.denied" => {
            page.pager = Some(Pager::new(0, 0, 0, PER_PAGE * 2));
            page.messages = Some(vec![]);
        }
        Err(e) => return Err(UiError::for_caller(&req, &reader.caller, e)),
    }
    Ok(render(&page))
}
