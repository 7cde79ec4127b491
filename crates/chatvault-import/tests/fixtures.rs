//! Every MIT and Apache-2.0 fixture copied into the project (docs/fixtures.md) imports
//! with its exact message count, and spot checks hold: senders, instants in UTC, kinds,
//! reply links and attachments.

mod common;

use std::path::Path;

use chatvault_model::MessageKind as K;
use common::{check, spot, Case, Spot};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

#[test]
fn project_fixtures_import_exactly() {
    let cases = vec![
        Case {
            path: "whatsapp/pustur-website__whatsapp-chat-parser-example.zip",
            tz: "Europe/Rome",
            format: "whatsapp",
            count: 52,
            conversations: 1,
            spots: vec![
                spot(
                    0,
                    "system",
                    "2019-06-20T13:58:47Z",
                    K::System,
                    "end-to-end encryption",
                ),
                spot(4, "John", "2019-06-20T13:58:53Z", K::Text, "Hey"),
                Spot {
                    attachments: 1,
                    ..spot(
                        15,
                        "Loris",
                        "2019-06-20T14:00:15Z",
                        K::Image,
                        "00000001-PHOTO-2019-06-20-16-00-15.jpg",
                    )
                },
                spot(
                    23,
                    "Emily",
                    "2019-06-20T14:03:07Z",
                    K::Text,
                    "Come on...\ndon't be so mysterious and show us!",
                ),
                Spot {
                    attachments: 1,
                    ..spot(
                        29,
                        "Loris",
                        "2019-06-20T14:04:37Z",
                        K::File,
                        "whatsapp-chat-parser-example.zip",
                    )
                },
                spot(
                    45,
                    "Loris",
                    "2019-06-20T14:30:44Z",
                    K::Other,
                    "OPTION: Saturday 17 evening (3 votes)",
                ),
                spot(
                    51,
                    "Loris",
                    "2019-06-20T14:45:28Z",
                    K::Text,
                    "- https://github.com/Pustur/whatsapp-chat-parser-website",
                ),
            ],
        },
        Case {
            path: "slack/slack-export-viewer__testarchive.zip",
            tz: "UTC",
            format: "slack",
            count: 158,
            conversations: 2,
            spots: vec![
                spot(
                    0,
                    "hamza",
                    "2016-01-15T05:55:18Z",
                    K::System,
                    "has joined the channel",
                ),
                spot(
                    4,
                    "hamza",
                    "2016-01-15T05:55:52Z",
                    K::Text,
                    "@abilinski: Created an issue",
                ),
            ],
        },
        Case {
            path: "wecom/wxjava__msgaudit_official_examples_A.jsonl",
            tz: "UTC",
            format: "wecom",
            count: 11,
            conversations: 10,
            spots: vec![
                spot(
                    0,
                    "XuJinSheng",
                    "2019-01-10T02:38:14.783Z",
                    K::Text,
                    "这是一条引用/回复消息",
                ),
                spot(1, "XuJinSheng", "1970-01-01T00:00:00Z", K::Image, "[图片]"),
                spot(2, "kenshin", "2020-10-28T09:00:15.723Z", K::Recall, "撤回"),
            ],
        },
        Case {
            path: "qq/log-painter__qq_message_manager_export_12h.txt",
            tz: "Asia/Shanghai",
            format: "qq",
            count: 9,
            conversations: 1,
            spots: vec![
                spot(0, "骰娘-Roll100", "2019-09-23T12:43:38Z", K::Text, "1"),
                spot(2, "系统消息", "2019-09-23T12:44:09Z", K::System, "3\n4"),
                spot(3, "暗夜", "2019-09-23T12:46:18Z", K::Text, ""),
                spot(8, "黄山真君", "2019-09-24T01:16:35Z", K::Text, "6"),
            ],
        },
        Case {
            path: "qq/log-painter__qq_export_email_sender_12h.txt",
            tz: "Asia/Shanghai",
            format: "qq",
            count: 3,
            conversations: 1,
            spots: vec![
                spot(0, "礼", "2020-03-03T16:12:29Z", K::Text, "1"),
                spot(2, "围观", "2020-03-03T16:13:41Z", K::Text, "3"),
            ],
        },
        Case {
            path: "messenger_instagram/chat-miner__instagram_testlog.json",
            tz: "UTC",
            format: "messenger",
            count: 13,
            conversations: 1,
            spots: vec![
                spot(0, "John Doe", "2022-02-28T05:25:43.621Z", K::Text, ""),
                spot(
                    9,
                    "❤️",
                    "2020-01-18T14:53:00Z",
                    K::Text,
                    "Testing username only emoji: ❤️",
                ),
                spot(
                    10,
                    "J❤️hn Doe",
                    "2020-01-18T14:53:00Z",
                    K::Text,
                    "J❤️hn Doe",
                ),
            ],
        },
        Case {
            path: "messenger_instagram/chat-miner__instagram_test_export.json",
            tz: "UTC",
            format: "messenger",
            count: 2,
            conversations: 1,
            spots: vec![
                spot(
                    0,
                    "John Doe",
                    "2020-01-17T20:49:00Z",
                    K::Text,
                    "Hello Jane!",
                ),
                spot(
                    1,
                    "Jane Doe",
                    "2019-12-24T11:23:00Z",
                    K::Text,
                    "Hello John!",
                ),
            ],
        },
        Case {
            path: "signal/chat-miner__signal_test_export.txt",
            tz: "Europe/Berlin",
            format: "signal",
            count: 2,
            conversations: 1,
            spots: vec![
                spot(
                    0,
                    "Jane Doe",
                    "2019-12-24T11:23:00Z",
                    K::Text,
                    "Hello John!",
                ),
                spot(
                    1,
                    "John Doe",
                    "2020-01-17T20:49:00Z",
                    K::Text,
                    "Hello\nJane!",
                ),
            ],
        },
        Case {
            path: "mbox/mimekit__issue1189.mbox",
            tz: "UTC",
            format: "mbox",
            count: 4,
            conversations: 4,
            spots: vec![
                spot(
                    0,
                    "Sender",
                    "2025-09-26T17:18:40Z",
                    K::Text,
                    "Body of message 1.",
                ),
                Spot {
                    attachments: 1,
                    ..spot(1, "Sender", "2025-09-26T17:19:25Z", K::Text, "Message 2")
                },
            ],
        },
    ];
    for case in &cases {
        check(root(), case);
    }
}
