//! The search page and its results (an htmx fragment), paged.

use super::*;

pub const PLATFORMS: &[&str] = &[
    "wecom",
    "wechat",
    "dingtalk",
    "qq",
    "whatsapp",
    "telegram",
    "slack",
    "discord",
    "signal",
    "messenger",
    "instagram",
    "line",
    "email",
];

#[derive(Default)]
pub struct SearchForm {
    q: String,
    from: String,
    to: String,
    sender: String,
    conversation: String,
    platform: String,
    kind: String,
}

impl SearchForm {
    fn of(f: &Fields) -> SearchForm {
        SearchForm {
            q: f.get("q").to_owned(),
            from: f.get("from").to_owned(),
            to: f.get("to").to_owned(),
            sender: f.get("sender").to_owned(),
            conversation: f.get("conversation").to_owned(),
            platform: f.get("platform").to_owned(),
            kind: f.get("kind").to_owned(),
        }
    }
}

pub struct Pager {
    pub total: u64,
    pub first: u64,
    pub last: u64,
    pub prev: Option<u64>,
    pub next: Option<u64>,
}

impl Pager {
    pub(super) fn new(total: u64, offset: u64, shown: usize, per_page: u64) -> Pager {
        let offset = offset.min(chatvault_archive::MAX_OFFSET);
        Pager {
            total,
            first: if shown == 0 { 0 } else { offset + 1 },
            last: offset + shown as u64,
            prev: (offset > 0).then(|| offset.saturating_sub(per_page)),
            next: (offset + (shown as u64) < total).then_some(offset + per_page),
        }
    }
}

pub struct ResultsView {
    hits: Vec<HitView>,
    pager: Pager,
    lag: Option<u64>,
    may_export: bool,
    /// The search again, as the export form's hidden fields.
    export_fields: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    ctx: Ctx,
    form: SearchForm,
    results: Option<ResultsView>,
    platforms: &'static [&'static str],
    kinds: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "search_results.html")]
struct SearchResults {
    ctx: Ctx,
    form: SearchForm,
    results: ResultsView,
}

pub(super) const PER_PAGE: u64 = 20;

fn kinds() -> Vec<&'static str> {
    chatvault_model::MessageKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect()
}

pub async fn search_page(req: Req, reader: Result<ContentReader, ApiError>) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let lang = req.lang_for(Some(&reader.caller));
    let ctx = Ctx::for_caller(lang, &reader.caller, "/search", lang.strings().search_title);
    Ok(render(&SearchPage {
        ctx,
        form: SearchForm::default(),
        results: None,
        platforms: PLATFORMS,
        kinds: kinds(),
    }))
}

pub async fn search_submit(
    req: Req,
    reader: Result<ContentReader, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let reader = reader_or(&req, reader)?;
    let f = form(f);
    let lang = req.lang_for(Some(&reader.caller));
    let offset: u64 = f
        .get("offset")
        .parse::<u64>()
        .unwrap_or(0)
        .min(chatvault_archive::MAX_OFFSET);
    let p = SearchParams {
        q: f.get("q").to_owned(),
        from: f.opt("from"),
        to: f.opt("to"),
        sender: f.opt("sender"),
        conversation: f.opt("conversation"),
        platform: f.opt("platform"),
        kind: f.opt("kind"),
        limit: Some(PER_PAGE as usize),
        offset: Some(offset as usize),
    };
    let r = routes::run_search(&reader, &p)
        .map_err(|e| UiError::for_caller(&req, &reader.caller, e))?;
    let t = lang.strings();
    let results = ResultsView {
        hits: r
            .hits
            .iter()
            .map(|h| HitView::of(t, reader.state().zone, h))
            .collect(),
        pager: Pager::new(r.total, offset, r.hits.len(), PER_PAGE),
        lag: r.index_lag,
        may_export: may_export(&reader),
        export_fields: [
            "q",
            "from",
            "to",
            "sender",
            "conversation",
            "platform",
            "kind",
        ]
        .into_iter()
        .map(|k| (k, f.get(k).to_owned()))
        .filter(|(_, v)| !v.is_empty())
        .collect(),
    };
    let ctx = Ctx::for_caller(lang, &reader.caller, "/search", t.search_title);
    let form = SearchForm::of(&f);
    Ok(if req.htmx {
        render(&SearchResults { ctx, form, results })
    } else {
        render(&SearchPage {
            ctx,
            form,
            results: Some(results),
            platforms: PLATFORMS,
            kinds: kinds(),
        })
    })
}
