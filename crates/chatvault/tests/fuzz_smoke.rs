//! The fuzzing entry points, as a short smoke pass on stable Rust (`.ci/run` runs it;
//! the long campaigns are `cargo fuzz run TARGET` in `fuzz/`): every importer, the query
//! parser, the proof-file checker, the evidence-package checker and the backup-manifest
//! reader take random and mutated inputs without panicking.

use proptest::prelude::*;

/// One valid input per importer, to mutate.
const SEEDS: &[(&str, &str)] = &[
    ("whatsapp", "13/01/2024, 10:00 - Ann: hi\n13/01/2024, 10:01 - Bob: IMG-20240113-WA0001.jpg (file attached)\nline two\n"),
    ("telegram", r#"{"name":"A","type":"personal_chat","id":1,"messages":[{"id":1,"type":"message","date":"2024-01-02T10:00:00","date_unixtime":"1704189600","from":"A","from_id":"user1","text":["hi ",{"type":"bold","text":"x"}]}]}"#),
    ("discord", r#"{"guild":{"id":"1","name":"g"},"channel":{"id":"2","type":"GuildTextChat","name":"c"},"messages":[{"id":"3","type":"Default","timestamp":"2023-01-06T14:03:03.853+00:00","content":"a","author":{"id":"9","name":"x"}}]}"#),
    ("messenger", r#"{"participants":[{"name":"A"}],"messages":[{"sender_name":"A","timestamp_ms":1600000000000,"content":"\u00e6\u00b2\u00a1"}],"title":"A","thread_path":"inbox/a"}"#),
    ("wecom", "{\"msgid\":\"1\",\"action\":\"send\",\"from\":\"a\",\"tolist\":[\"b\"],\"roomid\":\"\",\"msgtime\":1,\"msgtype\":\"text\",\"text\":{\"content\":\"hi\"}}\n"),
    ("qq", "消息记录（此消息记录为文本格式，不支持重新导入）\n\n消息对象:测试\n\n2020-03-04 12:12:29 AM 礼(852649)\n1\n\n"),
    ("signal", "[2024-01-02 10:00:01] Ann: hi ![a.jpg](./a.jpg)\nsecond\n(- Bob: 👍 -)\n"),
    ("line", "[LINE] Chat history with Bob\nSaved on: 2018/03/25 19:57\n\n2018/03/24 Sat\n13:05\tAnn\t\"a\nb\"\n"),
    ("mbox", "From a@x Mon Jun  3 12:50:27 1996\nFrom: a@x\nSubject: s\nDate: Mon, 3 Jun 1996 12:50:27 +0800\n\nhello\nFrom here\n"),
    ("csv", "time,sender,text\n2024-01-01 10:00,bob,\"hi, there\"\n"),
    ("wechat-pywxdump", "id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime\n1,11,文本,0,wxid_a,,hi,,2024-10-04 11:42:05\n"),
    ("wechat-memotrace", "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender\n1,2,1,0,0,1700000000,2,hi,2023-11-15 06:13:20,,A,wxid_a\n"),
    ("wechat-chatlog", r#"[{"seq":1700000000001,"time":"2023-11-15T06:13:20+08:00","talker":"wxid_a","talkerName":"A","isChatRoom":false,"sender":"wxid_a","senderName":"A","isSelf":false,"type":1,"subType":0,"content":"hi"}]"#),
    ("jsonl", r#"{"platform":"wecom","conversation_id":"c","sender_id":"u","sent_at":"2024-01-01T00:00:00Z","text":"x"}"#),
];

fn mutate(seed: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for &(at, op, v) in edits {
        if b.is_empty() {
            b.push(v);
            continue;
        }
        let i = at % b.len();
        match op % 4 {
            0 => b[i] = v,
            1 => b.insert(i, v),
            2 => {
                b.remove(i);
            }
            _ => {
                let end = (i + usize::from(v % 16)).min(b.len());
                let copy = b[i..end].to_vec();
                b.splice(i..i, copy);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn importers_never_panic(which in 0..SEEDS.len(), edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..12), random in prop::collection::vec(any::<u8>(), 0..200)) {
        let (format, seed) = SEEDS[which];
        chatvault_import::fuzz::run(format, &mutate(seed.as_bytes(), &edits));
        chatvault_import::fuzz::run(format, &random);
    }

    #[test]
    fn the_query_parser_never_panics(q in "\\PC{0,60}", edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8)) {
        let _ = chatvault_index::Query::parse(&q);
        let bytes = mutate(b"a OR \"b c\" -d 13812345678", &edits);
        let _ = chatvault_index::Query::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn proof_files_and_manifests_never_panic(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..16), random in prop::collection::vec(any::<u8>(), 0..300)) {
        let proof = br#"{"format":"chatvault-proof/v1","message":{"id":"01H","leaf":"00"},"leaf_index":0,"tree_size":1,"inclusion":[],"checkpoint":"x\n1\nAAAA\n\n- x AAAA\n","verifier_key":"x+00000000+AA"}"#;
        let _ = chatvault_archive::verify_proof_file(&mutate(proof, &edits), None);
        let _ = chatvault_archive::verify_proof_file(&random, Some("sha256:00"));
        let manifest = br#"{"format":"chatvault-backup/v1","id":"01H","created_at":"","created_ms":0,"kind":"full","set":"01H","tier":"manual","recipients":[],"archive":{"archive_id":"a","verifier_key":"x+00000000+AA","checkpoint":null,"tree_size":0,"root":null,"messages":0},"files":[],"uploaded_chunks":0,"uploaded_bytes":0,"signature":"x\n\n- x AAAA\n"}"#;
        if let Ok(m) = serde_json::from_slice::<chatvault_backup::Manifest>(&mutate(manifest, &edits)) {
            let _ = chatvault_backup::check_signature(&m);
            let _ = chatvault_backup::manifest_statement(&m);
        }
        let _ = chatvault_evidence::check("fuzz.zip", std::io::Cursor::new(random));
    }
}
