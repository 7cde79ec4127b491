//! A conversation seen in two formats is one conversation only when ids prove it: the
//! same platform and the same platform id. Names never link two conversations across
//! formats.

use std::collections::BTreeSet;
use std::path::Path;

use chatvault_import::{collect, detect, ImportContext, Limits, Parsed, Source};

/// (platform, conversation id) of every message an export holds, found by content.
fn keys(dir: &Path, name: &str, bytes: &[u8]) -> BTreeSet<(String, String)> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    let source = Source::open(&path, &Limits::default()).expect("open");
    let importer = detect(&source.probe().expect("probe")).expect("detect");
    let ctx = ImportContext {
        file_label: name.into(),
        tz: "Asia/Shanghai".parse().expect("tz"),
        ..ImportContext::default()
    };
    collect(importer, &source, &ctx)
        .into_iter()
        .map(|p| match p {
            Parsed::Message(m) => (m.platform.as_str().to_owned(), m.conversation_id),
            other => panic!("{name}: {other:?}"),
        })
        .collect()
}

fn one(k: &(&str, &str)) -> BTreeSet<(String, String)> {
    [(k.0.to_owned(), k.1.to_owned())].into()
}

#[test]
fn conversations_link_across_formats_only_by_platform_ids() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // The same WeChat chat with 张三 (wxid_zhang) from two exporters that both write the
    // wxid: linked.
    let pywxdump = keys(
        d,
        "张三.csv",
        "id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime\n1,11,文本,0,wxid_zhang,wxid_zhang,你好,,2024-01-01 10:00:00\n".as_bytes(),
    );
    let chatlog = keys(
        d,
        "chatlog.json",
        r#"[{"seq":1,"time":"2024-01-01T10:00:00+08:00","talker":"wxid_zhang","talkerName":"张三","isChatRoom":false,"sender":"wxid_zhang","senderName":"张三","isSelf":false,"type":1,"subType":0,"content":"你好"}]"#.as_bytes(),
    );
    assert_eq!(pywxdump, one(&("wechat", "wxid_zhang")));
    assert_eq!(chatlog, pywxdump, "same wxid: one conversation");
    // MemoTrace names the chat by a local TalkerId, not the wxid: even with the same
    // title and sender it is not proven to be the same chat, so it stays apart.
    let memotrace = keys(
        d,
        "张三 (memotrace).csv",
        "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender\n1,7,1,0,0,1704074400,2,你好,2024-01-01 10:00:00,,张三,wxid_zhang\n".as_bytes(),
    );
    assert_eq!(memotrace, one(&("wechat", "talker:7")));
    // Chats named 张三 on WhatsApp, Signal and QQ: three platforms, three conversations,
    // none linked to the WeChat one by the name.
    let whatsapp = keys(
        d,
        "WhatsApp Chat with 张三.txt",
        "13/02/2024, 10:00 - 张三: 你好\n".as_bytes(),
    );
    let signal = keys(d, "张三.md", "[2024-01-02, 10:00] 张三: 你好\n".as_bytes());
    let qq = keys(d, "张三.txt", "消息记录（此消息记录为文本格式，不支持重新导入）\n\n2024-01-02 10:00:00 张三(10001)\n你好\n".as_bytes());
    let all: Vec<_> = [&pywxdump, &memotrace, &whatsapp, &signal, &qq]
        .into_iter()
        .flatten()
        .collect();
    let distinct: BTreeSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "{all:?}");
}
