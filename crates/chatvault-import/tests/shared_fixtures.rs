//! The GPL and AGPL fixtures, read from `../shared/fixtures` and never copied into the
//! project. `.ci/run` runs this suite with `--ignored`; it fails, rather than skips, when
//! the folder is missing.

mod common;

use std::path::PathBuf;

use chatvault_model::MessageKind as K;
use common::{check, spot, Case};

fn shared() -> PathBuf {
    let root = std::env::var_os("CHATVAULT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let fixtures = root.join("fixtures");
    assert!(
        fixtures.is_dir(),
        "{} is missing: clone the project beside ../shared or set CHATVAULT_SHARED",
        fixtures.display()
    );
    fixtures
}

#[test]
#[ignore = "reads the GPL/AGPL fixtures in ../shared/fixtures; .ci/run runs it"]
fn shared_fixtures_import_exactly() {
    let cases = vec![
        Case {
            path: "whatsapp/whatstk__pokemon.txt",
            tz: "Europe/Berlin",
            format: "whatsapp",
            count: 20,
            conversations: 1,
            spots: vec![
                spot(0, "Pokemon Chat", "2016-04-15T13:04:00Z", K::System, "end-to-end encrypted"),
                spot(1, "system", "2016-08-06T11:18:00Z", K::System, "Messages you send to this group"),
                spot(2, "Ash Ketchum", "2016-08-06T11:23:00Z", K::Text, "Hey guys!"),
                spot(19, "Wobbuffet", "2016-10-31T11:23:00Z", K::Text, "Wo-bbu-ffet"),
            ],
        },
        Case {
            path: "telegram/mlomb__DM_2A_7M.json",
            tz: "UTC",
            format: "telegram",
            count: 8,
            conversations: 1,
            spots: vec![
                spot(0, "Bob", "2019-07-05T16:55:32Z", K::System, "joined telegram"),
                spot(1, "Bob", "2019-07-12T16:55:32Z", K::Text, "https://google.com 👀"),
                spot(3, "Bob", "2022-05-09T22:23:53Z", K::Text, "world?"),
                spot(5, "Alice", "2022-06-10T22:06:38Z", K::Image, ""),
                spot(7, "Alice", "2023-08-11T02:11:02Z", K::System, "phone call (56 s, hangup)"),
            ],
        },
        Case {
            path: "discord/dcef__Example guild - Text Channels - general [1012224565567721552].json",
            tz: "UTC",
            format: "discord",
            count: 35,
            conversations: 1,
            spots: vec![
                spot(0, "Adam", "2023-01-06T14:03:03.853Z", K::Text, "DiscordChatExporter-frontend"),
                spot(1, "Thomas", "2023-01-06T14:12:01.593Z", K::System, "Joined the server."),
            ],
        },
        Case {
            path: "discord/dcef__Example guild - general - Thomas is Thomas [1060927310439657577].json",
            tz: "UTC",
            format: "discord",
            count: 5,
            conversations: 1,
            spots: vec![],
        },
        Case {
            path: "wechat/weclone__test_person__test_0_730.csv",
            tz: "Asia/Shanghai",
            format: "wechat-pywxdump",
            count: 96,
            conversations: 1,
            spots: vec![
                spot(0, "12345iru2zsmo22", "2024-10-04T03:42:00Z", K::Image, "图片"),
                spot(2, "我", "2024-10-04T03:43:00Z", K::Text, "小马尔代夫"),
            ],
        },
    ];
    let root = shared();
    for case in &cases {
        check(&root, case);
    }
    // Every mbox in the shared folder: the same count as Python's mailbox module.
    assert!(common::check_mbox_counts(&root.join("mbox")) >= 1);
    // Replies: the Discord messages that answer others point at them.
    let general = root
        .join("discord/dcef__Example guild - Text Channels - general [1012224565567721552].json");
    let out = common::import(&general, "UTC");
    let reply = out
        .messages
        .iter()
        .find(|m| m.source_id.as_deref() == Some("1060926395313827840"))
        .expect("reply");
    assert_eq!(reply.reply_to.as_deref(), Some("1060926346089476176"));
    let edited = out
        .messages
        .iter()
        .find(|m| m.source_id.as_deref() == Some("1060926487911485582"))
        .expect("edited");
    assert!(edited.tags.contains(&"edited".to_owned()));
    assert!(
        out.warnings > 0,
        "media files were not exported beside the JSON: warned, not rejected"
    );
    // WeChat revocations and the quoted reply.
    let wx = common::import(
        &root.join("wechat/weclone__test_person__test_0_730.csv"),
        "Asia/Shanghai",
    );
    let revokes = wx
        .messages
        .iter()
        .filter(|m| m.tags.contains(&"recall".to_owned()))
        .count();
    assert_eq!(revokes, 2);
    let quote = wx
        .messages
        .iter()
        .find(|m| m.source_id.as_deref() == Some("1244017411047763227"))
        .expect("quote");
    assert!(
        quote.text.contains("（我们两个人骑）\n\n[引用]"),
        "{:?}",
        quote.text
    );
}
