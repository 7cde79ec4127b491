//! One person across platforms: explicit identity links between handles, and suggested
//! links (the same mobile number, e-mail, id or name) for a person to confirm.

use chatvault_model::normalize::normalize;
use serde::{Deserialize, Serialize};

use crate::Handle;

/// Handles known to be one person across platforms (set by hand: an explicit link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityLink {
    pub id: String,
    pub handles: Vec<Handle>,
    #[serde(default)]
    pub name: Option<String>,
    pub by: String,
    pub created_ms: i64,
}

/// A participant as the archive knows it, for identity suggestions.
#[derive(Debug, Clone)]
pub struct Known {
    pub handle: Handle,
    pub display_name: Option<String>,
}

/// The handles of a person: those given, and every handle an explicit link joins to them
/// (transitively: links that share a handle are one person).
pub fn expand_linked(given: &[Handle], links: &[IdentityLink]) -> Vec<Handle> {
    let mut out: std::collections::BTreeSet<Handle> = given.iter().cloned().collect();
    loop {
        let before = out.len();
        let joined: Vec<Handle> = links
            .iter()
            .filter(|l| l.handles.iter().any(|h| out.contains(h)))
            .flat_map(|l| l.handles.iter().cloned())
            .collect();
        out.extend(joined);
        if out.len() == before {
            return out.into_iter().collect();
        }
    }
}

/// A suggested link between two handles, with why and how sure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub a: Handle,
    pub b: Handle,
    pub reason: &'static str,
    /// 0 to 1.
    pub confidence: f32,
}

/// The digits of a mainland mobile number in `s` (`+86 138 0013 8000` → `13800138000`).
fn mobile(s: &str) -> Option<String> {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    let d = d
        .strip_prefix("86")
        .filter(|r| r.len() == 11)
        .map(str::to_owned)
        .unwrap_or(d);
    (d.len() == 11 && d.starts_with('1')).then_some(d)
}

fn email(s: &str) -> Option<String> {
    let t = s.trim().to_lowercase();
    (t.contains('@') && t.contains('.') && !t.contains(' ')).then_some(t)
}

/// Suggests links between handles on different platforms: the same mobile number (0.9),
/// the same e-mail address (0.9), the same id (0.6), the same display name (0.5).
/// Handles already linked are left out. Confidence is a heuristic the UI shows as such.
pub fn suggest_links(known: &[Known], linked: &[IdentityLink]) -> Vec<Suggestion> {
    let together = |a: &Handle, b: &Handle| {
        linked
            .iter()
            .any(|l| l.handles.contains(a) && l.handles.contains(b))
    };
    let mut out = vec![];
    for (i, x) in known.iter().enumerate() {
        for y in &known[i + 1..] {
            if x.handle.platform == y.handle.platform || together(&x.handle, &y.handle) {
                continue;
            }
            let names = |k: &Known| {
                [Some(k.handle.id.clone()), k.display_name.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
            };
            let (nx, ny) = (names(x), names(y));
            let any = |f: &dyn Fn(&str) -> Option<String>| {
                nx.iter()
                    .filter_map(|s| f(s))
                    .any(|v| ny.iter().filter_map(|s| f(s)).any(|w| w == v))
            };
            let (reason, confidence) = if any(&mobile) {
                ("the same mobile number", 0.9)
            } else if any(&email) {
                ("the same e-mail address", 0.9)
            } else if x.handle.id == y.handle.id && x.handle.id.chars().count() >= 3 {
                ("the same id", 0.6)
            } else if x
                .display_name
                .as_deref()
                .map(normalize)
                .filter(|n| n.chars().count() >= 2)
                == y.display_name.as_deref().map(normalize)
                && x.display_name.is_some()
            {
                ("the same display name", 0.5)
            } else {
                continue;
            };
            out.push(Suggestion {
                a: x.handle.clone(),
                b: y.handle.clone(),
                reason,
                confidence,
            });
        }
    }
    out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod identity_tests {
    use super::*;

    #[test]
    fn suggestions_by_phone_email_id_and_name() {
        let k = |p: &str, id: &str, name: Option<&str>| Known {
            handle: Handle::new(p, id),
            display_name: name.map(str::to_owned),
        };
        let known = vec![
            k("whatsapp", "+8613800138000", Some("Wang")),
            k("wecom", "cust-9", Some("王女士 138 0013 8000")),
            k("slack", "li@example.com", Some("Li")),
            k("mbox", "LI@example.com", None),
            k("qq", "zhang", Some("张三")),
            k("wechat", "zhang", Some("张三")),
            k("telegram", "x", Some("张三")),
            k("wecom", "other", Some("Wang")),
        ];
        let s = suggest_links(&known, &[]);
        let find = |a: &str, b: &str| {
            s.iter()
                .find(|x| (x.a.id == a && x.b.id == b) || (x.a.id == b && x.b.id == a))
                .map(|x| (x.reason, x.confidence))
        };
        assert_eq!(
            find("+8613800138000", "cust-9"),
            Some(("the same mobile number", 0.9))
        );
        assert_eq!(
            find("li@example.com", "LI@example.com"),
            Some(("the same e-mail address", 0.9))
        );
        assert_eq!(find("zhang", "zhang"), Some(("the same id", 0.6)));
        assert_eq!(find("zhang", "x"), Some(("the same display name", 0.5)));
        assert_eq!(
            find("+8613800138000", "other"),
            Some(("the same display name", 0.5))
        );
        assert!(
            s.windows(2).all(|w| w[0].confidence >= w[1].confidence),
            "most certain first"
        );
        let linked = vec![IdentityLink {
            id: "l".into(),
            handles: vec![
                Handle::new("whatsapp", "+8613800138000"),
                Handle::new("wecom", "cust-9"),
            ],
            name: None,
            by: "x".into(),
            created_ms: 0,
        }];
        assert_eq!(
            suggest_links(&known, &linked)
                .iter()
                .filter(|x| x.reason == "the same mobile number")
                .count(),
            0,
            "linked already"
        );
    }

    #[test]
    fn links_expand_transitively_and_only_through_shared_handles() {
        let h = |s: &str| {
            let (p, id) = s.split_once(':').unwrap();
            Handle::new(p, id)
        };
        let link = |id: &str, hs: &[&str]| IdentityLink {
            id: id.into(),
            handles: hs.iter().map(|x| h(x)).collect(),
            name: None,
            by: "x".into(),
            created_ms: 0,
        };
        let links = vec![
            link("1", &["wecom:a", "whatsapp:b"]),
            link("2", &["whatsapp:b", "qq:c"]),
            link("3", &["slack:x", "mbox:y"]),
        ];
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("no link: itself", &["telegram:z"], &["telegram:z"]),
            ("one hop", &["qq:c"], &["qq:c", "wecom:a", "whatsapp:b"]),
            (
                "two hops through a shared handle",
                &["wecom:a"],
                &["qq:c", "wecom:a", "whatsapp:b"],
            ),
            (
                "two people given",
                &["wecom:a", "slack:x"],
                &["mbox:y", "qq:c", "slack:x", "wecom:a", "whatsapp:b"],
            ),
            ("nothing given", &[], &[]),
        ];
        for (name, given, want) in cases {
            let got = expand_linked(&given.iter().map(|x| h(x)).collect::<Vec<_>>(), &links);
            let mut want: Vec<Handle> = want.iter().map(|x| h(x)).collect();
            want.sort();
            assert_eq!(got, want, "{name}");
        }
    }
}
