//! What templates show, made from the archive's and the access database's values. Every
//! untrusted string passes through [`clean`] (deceptive characters made visible) before
//! askama escapes it for HTML.

use chatvault_access::sessions::Credential;
use chatvault_app::time::Zone;
use chatvault_archive::SearchHit;
use chatvault_model::{MessageKind, SenderRole, StoredMessage};
use chatvault_policy::Role;

use super::i18n::{Lang, Strings};
use crate::guard::Caller;

/// Untrusted text made safe to show: control and bidirectional characters become
/// visible escapes (askama then escapes HTML).
pub fn clean(s: &str) -> String {
    chatvault_model::display::visible(s, false)
}

/// A message's time, shown in the deployment's zone with its offset
/// (`2024-03-01 09:15:02 +08:00`; [`Zone::show`]).
pub fn fmt_time(rfc3339: &str, zone: Zone) -> String {
    clean(&zone.show(rfc3339))
}

/// An instant (ms since the epoch), to the minute, in the deployment's zone with its offset.
pub fn fmt_ms(ms: i64, zone: Zone) -> String {
    zone.minute(ms)
}

/// A query string from pairs, percent-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

pub fn conversation_href(conv: &str, around: Option<&str>) -> String {
    match around {
        Some(id) => format!(
            "/conversation?{}#m-{id}",
            query(&[("id", conv), ("around", id)])
        ),
        None => format!("/conversation?{}", query(&[("id", conv)])),
    }
}

pub fn role_label(t: &Strings, r: Role) -> &'static str {
    match r {
        Role::Agent => t.urole_agent,
        Role::TeamLead => t.urole_team_lead,
        Role::Legal => t.urole_legal,
        Role::Executive => t.urole_executive,
        Role::Auditor => t.urole_auditor,
        Role::Admin => t.urole_admin,
    }
}

pub fn sender_role_label(t: &Strings, r: SenderRole) -> &'static str {
    match r {
        SenderRole::Customer => t.role_customer,
        SenderRole::Agent => t.role_agent,
        SenderRole::System => t.role_system,
        SenderRole::Unknown => t.role_unknown,
    }
}

pub fn csrf_of(caller: &Caller) -> String {
    match &caller.principal.via {
        Credential::Session { csrf } => csrf.clone(),
        Credential::Token { .. } => String::new(),
    }
}

pub struct UserView {
    pub name: String,
    pub role: Role,
    pub role_label: &'static str,
    pub demo: bool,
}

impl UserView {
    pub fn of(c: &Caller, lang: Lang) -> UserView {
        let name = c.name().to_owned();
        UserView {
            demo: name.starts_with("demo-"),
            role: c.role(),
            role_label: role_label(lang.strings(), c.role()),
            name,
        }
    }
}

pub struct Nav {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

/// The layout's context: language, strings, who is signed in, their CSRF token, the
/// navigation their role has.
pub struct Ctx {
    pub t: &'static Strings,
    pub user: Option<UserView>,
    pub csrf: String,
    pub nav: Vec<Nav>,
    pub title: String,
    pub css: &'static str,
    pub js: &'static str,
    pub htmx: &'static str,
}

impl Ctx {
    pub fn new(lang: Lang, user: Option<UserView>, csrf: String, active: &str, title: &str) -> Ctx {
        let t = lang.strings();
        let mut nav = vec![];
        if let Some(u) = &user {
            let content = !matches!(u.role, Role::Auditor | Role::Admin);
            let mut add = |href: &'static str, label: &'static str| {
                nav.push(Nav {
                    href,
                    label,
                    active: href == active,
                })
            };
            if content {
                add("/search", t.nav_search);
                add("/timeline", t.nav_timeline);
            }
            if u.role != Role::Admin {
                add("/requests", t.nav_requests);
            }
            if u.role == Role::Auditor {
                add("/audit", t.nav_audit);
            }
            if u.role == Role::Admin {
                add("/admin/users", t.nav_users);
                add("/admin/sources", t.nav_sources);
            }
            if matches!(u.role, Role::Legal | Role::Admin) {
                add("/identities", t.nav_identities);
            }
            if matches!(u.role, Role::TeamLead | Role::Executive) {
                add("/dashboard", t.nav_dashboard);
            }
            if !matches!(u.role, Role::Legal | Role::Auditor) {
                add("/alerts", t.nav_alerts);
            }
            add("/integrity", t.nav_integrity);
        }
        Ctx {
            t,
            user,
            csrf,
            nav,
            title: title.to_owned(),
            css: super::assets::APP_CSS,
            js: super::assets::APP_JS,
            htmx: super::assets::HTMX,
        }
    }

    pub fn for_caller(lang: Lang, caller: &Caller, active: &str, title: &str) -> Ctx {
        Ctx::new(
            lang,
            Some(UserView::of(caller, lang)),
            csrf_of(caller),
            active,
            title,
        )
    }
}

/// A piece of a snippet: highlighted or not. Templates wrap hits in `<mark>`.
pub struct Seg {
    pub text: String,
    pub hit: bool,
}

/// Splits `text` at the `[start, end)` character ranges.
pub fn segments(text: &str, ranges: &[[usize; 2]]) -> Vec<Seg> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = vec![];
    let mut at = 0;
    for r in ranges {
        let (s, e) = (r[0].min(chars.len()), r[1].min(chars.len()));
        if s < at || e <= s {
            continue;
        }
        if s > at {
            out.push(Seg {
                text: clean(&chars[at..s].iter().collect::<String>()),
                hit: false,
            });
        }
        out.push(Seg {
            text: clean(&chars[s..e].iter().collect::<String>()),
            hit: true,
        });
        at = e;
    }
    if at < chars.len() {
        out.push(Seg {
            text: clean(&chars[at..].iter().collect::<String>()),
            hit: false,
        });
    }
    out
}

pub struct HitView {
    pub id: String,
    pub conversation: String,
    pub href: String,
    pub platform: String,
    pub sender: String,
    pub sender_id: String,
    pub role_class: &'static str,
    pub role_label: &'static str,
    pub time: String,
    pub kind: &'static str,
    pub segs: Vec<Seg>,
}

impl HitView {
    pub fn of(t: &Strings, zone: Zone, h: &SearchHit) -> HitView {
        HitView {
            id: h.id.clone(),
            conversation: clean(&h.conversation),
            href: conversation_href(&h.conversation, Some(&h.id)),
            platform: h.platform.clone(),
            sender: clean(&h.sender),
            sender_id: clean(&h.sender_id),
            role_class: h.sender_role.as_str(),
            role_label: sender_role_label(t, h.sender_role),
            time: fmt_time(&h.sent_at, zone),
            kind: h.kind.as_str(),
            segs: segments(&h.snippet, &h.highlights),
        }
    }
}

pub struct AttView {
    pub name: String,
    pub mime: String,
    pub size: String,
    pub preview: Option<String>,
    pub download: String,
}

/// Raster images a browser may show from the archive; never SVG (it can hold script).
pub fn previewable(mime: &str) -> bool {
    matches!(
        mime,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

pub struct EventView {
    pub label: &'static str,
    pub time: String,
    pub text: String,
}

pub struct MsgView {
    pub id: String,
    pub sender: String,
    pub sender_id: String,
    pub role_class: &'static str,
    pub role_label: &'static str,
    pub time: String,
    pub kind: &'static str,
    pub text: String,
    /// A recall or edit: shown as a line that points at its original.
    pub event: Option<&'static str>,
    pub target_anchor: Option<String>,
    /// What happened to this message later (recalls, edits), shown with the original.
    pub later: Vec<EventView>,
    pub recalled: bool,
    pub edited: bool,
    pub attachments: Vec<AttView>,
    pub focus: bool,
    pub platform: String,
    pub conversation: String,
    pub href: String,
}

impl MsgView {
    pub fn of(t: &Strings, zone: Zone, m: &StoredMessage, focus: bool) -> MsgView {
        let event = match m.kind {
            MessageKind::Recall => Some(t.event_recall),
            MessageKind::Edit => Some(t.event_edit),
            _ => None,
        };
        let attachments = m
            .attachments
            .iter()
            .map(|a| {
                let sha = hex::encode(a.sha256);
                let q = |mode: &str| {
                    format!(
                        "/attachment?{}",
                        query(&[("message", &m.id), ("sha256", &sha), ("mode", mode)])
                    )
                };
                AttView {
                    name: clean(&a.name),
                    mime: clean(&a.mime),
                    size: human_size(a.size),
                    preview: previewable(&a.mime).then(|| q("preview")),
                    download: q("download"),
                }
            })
            .collect();
        MsgView {
            id: m.id.clone(),
            sender: clean(m.sender_name.as_deref().unwrap_or(&m.sender)),
            sender_id: clean(&m.sender),
            role_class: m.sender_role.as_str(),
            role_label: sender_role_label(t, m.sender_role),
            time: fmt_time(&m.sent_at, zone),
            kind: m.kind.as_str(),
            text: clean(m.text.as_deref().unwrap_or_default()),
            event,
            target_anchor: None,
            later: vec![],
            recalled: false,
            edited: false,
            attachments,
            focus,
            platform: m.platform.as_str().to_owned(),
            conversation: clean(&m.conversation),
            href: conversation_href(&m.conversation, Some(&m.id)),
        }
    }
}

/// Messages in time order (one conversation's page, or a timeline's): recalls and edits
/// are attached to their originals (same conversation, by source id) when both are on
/// the page; the event's own line is then not shown again.
pub fn thread(
    t: &Strings,
    zone: Zone,
    msgs: &[&StoredMessage],
    focus: Option<&str>,
) -> Vec<MsgView> {
    let mut views: Vec<MsgView> = msgs
        .iter()
        .map(|m| MsgView::of(t, zone, m, focus == Some(m.id.as_str())))
        .collect();
    for (i, m) in msgs.iter().enumerate() {
        let (Some(target), Some(label)) = (m.target.as_deref(), views[i].event) else {
            continue;
        };
        let Some(j) = msgs.iter().position(|o| {
            o.conversation == m.conversation
                && o.source_id.as_deref() == Some(target)
                && o.target.is_none()
        }) else {
            continue;
        };
        let (time, text) = (views[i].time.clone(), views[i].text.clone());
        views[i].target_anchor = Some(format!("m-{}", msgs[j].id));
        let orig = &mut views[j];
        if m.kind == MessageKind::Recall {
            orig.recalled = true;
            orig.later.push(EventView {
                label,
                time,
                text: String::new(),
            });
        } else {
            orig.edited = true;
            orig.later.push(EventView { label, time, text });
        }
    }
    views
}

pub fn human_size(n: u64) -> String {
    match n {
        0..=1023 => format!("{n} B"),
        1024..=1_048_575 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_at_highlights_and_clean_each_piece() {
        type Case<'a> = (&'a str, &'a str, &'a [[usize; 2]], &'a [(&'a str, bool)]);
        let cases: &[Case<'_>] = &[
            ("none", "退款已处理", &[], &[("退款已处理", false)]),
            (
                "middle",
                "客户要求退款",
                &[[4, 6]],
                &[("客户要求", false), ("退款", true)],
            ),
            (
                "two",
                "ab退款cd退款",
                &[[2, 4], [6, 8]],
                &[("ab", false), ("退款", true), ("cd", false), ("退款", true)],
            ),
            (
                "out of range",
                "abc",
                &[[2, 9]],
                &[("ab", false), ("c", true)],
            ),
            (
                "overlap ignored",
                "abcdef",
                &[[1, 3], [2, 4]],
                &[("a", false), ("bc", true), ("def", false)],
            ),
            (
                "rtl inside",
                "x\u{202E}yz",
                &[[0, 1]],
                &[("x", true), ("\\u{202e}yz", false)],
            ),
        ];
        for (name, text, ranges, want) in cases {
            let got: Vec<(String, bool)> = segments(text, ranges)
                .into_iter()
                .map(|s| (s.text, s.hit))
                .collect();
            let want: Vec<(String, bool)> = want.iter().map(|(s, h)| (s.to_string(), *h)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn links_carry_ids_only_and_are_encoded() {
        assert_eq!(
            conversation_href("wecom:conv 1/x", None),
            "/conversation?id=wecom%3Aconv+1%2Fx"
        );
        assert_eq!(
            conversation_href("qq:c", Some("01J")),
            "/conversation?id=qq%3Ac&around=01J#m-01J"
        );
    }

    #[test]
    fn only_raster_images_are_previewed() {
        for (mime, want) in [
            ("image/png", true),
            ("image/jpeg", true),
            ("image/svg+xml", false),
            ("text/html", false),
            ("image/webp", true),
        ] {
            assert_eq!(previewable(mime), want, "{mime}");
        }
    }
}
