#!/usr/bin/env bash
# Seeds each target's corpus with the fixtures of its format.
set -euo pipefail
# CHATVAULT may be given relative to where this is run from.
[ -n "${CHATVAULT:-}" ] && CHATVAULT=$(realpath "$CHATVAULT")
cd "$(dirname "$0")"
f=../crates/chatvault-import/tests/fixtures
s=../../shared/fixtures
mkdir -p corpus
cp_to() { local t=$1; shift; mkdir -p "corpus/$t"; for x in "$@"; do [ -f "$x" ] && cp "$x" "corpus/$t/"; done; return 0; }
cp_to whatsapp $f/whatsapp/*.zip $s/whatsapp/*.txt
cp_to telegram $s/telegram/*.json
cp_to slack $f/slack/*.zip
cp_to discord $s/discord/*.json
cp_to wechat_pywxdump $s/wechat/*.csv
cp_to wechat_memotrace
cp_to wechat_chatlog
cp_to wecom $f/wecom/*
cp_to qq $f/qq/*
cp_to messenger $f/messenger_instagram/*
cp_to signal $f/signal/*
cp_to line
cp_to mbox $f/mbox/*
cp_to csv $s/wechat/*.csv
cp_to jsonl

# Formats with no fixture file: a small valid file each, written here, so the fuzzer
# starts from the format's structure rather than finding it byte by byte.
seed() { mkdir -p "corpus/$1"; printf '%s' "$3" > "corpus/$1/$2"; }
seed line chat.txt $'[LINE] Chat history with 测试\nSaved on: 2024/03/02 10:00\n\n2024/03/01 Fri\n09:00\t王女士\t我要退款\n09:01\t客服\t"您好\n请稍等"\n'
seed csv chat.csv $'time,sender,text\n2024-03-01 09:00:00,王女士,我要退款\n2024-03-01 09:01:00,客服,"您好, ""请稍等"""\n'
seed jsonl chat.jsonl '{"platform":"wecom","conversation_id":"c1","sender_id":"u1","sender_name":"王女士","sent_at":"2024-03-01T09:00:00+08:00","source_id":"1","text":"我要退款","attachments":[{"name":"a.txt","mime":"text/plain","data":"aGk="}]}
{"platform":"wecom","conversation_id":"c1","sender_id":"agent","sender_role":"agent","sent_at":"2024-03-01T09:01:00+08:00","source_id":"2","kind":"text","text":"您好"}
'
seed wechat_memotrace chat.csv $'localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender\n1,2,1,0,0,1709254800,2,我要退款,2024-03-01 09:00:00,,王女士,wxid_a\n2,2,1,0,1,1709254860,2,您好,2024-03-01 09:01:00,,客服,wxid_b\n'
seed wechat_chatlog chat.json '[{"seq":1,"time":"2024-03-01T09:00:00+08:00","talker":"wxid_a","talkerName":"王女士","isChatRoom":false,"sender":"wxid_a","senderName":"王女士","isSelf":false,"type":1,"subType":0,"content":"我要退款"},{"seq":2,"time":"2024-03-01T09:01:00+08:00","talker":"wxid_a","sender":"wxid_b","senderName":"客服","isSelf":true,"type":1,"subType":0,"content":"您好"}]'

# The checkers: a proof, a backup manifest and an evidence package made by the real binary
# (CHATVAULT=path/to/chatvault, default: the release build), and query texts.
bin=${CHATVAULT:-${CARGO_TARGET_DIR:-../target}/release/chatvault}
mkdir -p corpus/query corpus/proof corpus/manifest corpus/evidence
i=0; for q in '退款' '"发票 退款"' 'a OR b' '-订单 发票' 'refund OR 退款 -"客服"' '"' 'OR'; do printf '%s' "$q" > "corpus/query/$i"; i=$((i+1)); done
if [ -x "$bin" ]; then
  t=$(mktemp -d)
  "$bin" --data "$t/d" init >/dev/null
  cat > "$t/m.jsonl" <<'JSONL'
{"platform":"wecom","conversation_id":"c1","conversation_title":"售后","sender_id":"u1","sender_name":"王女士","sent_at":"2024-03-01T09:00:00+08:00","source_id":"1","text":"我要退款，订单 123"}
{"platform":"wecom","conversation_id":"c1","sender_id":"agent","sender_name":"客服","sender_role":"agent","sent_at":"2024-03-01T09:01:00+08:00","source_id":"2","text":"您好，发票已开"}
JSONL
  "$bin" --data "$t/d" import "$t/m.jsonl" >/dev/null || true
  "$bin" --data "$t/d" user add lisa --role legal >/dev/null
  id=$("$bin" --data "$t/d" --json search '' --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"][0]["id"])' 2>/dev/null || true)
  [ -n "$id" ] && "$bin" --data "$t/d" proof "$id" > corpus/proof/proof.json
  conv=$("$bin" --data "$t/d" --json search '' --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"][0]["conversation"])' 2>/dev/null || true)
  "$bin" --data "$t/d" user add boss --role executive >/dev/null
  req=$("$bin" --data "$t/d" --json request file --as lisa --conversation "$conv" --from 2024-01-01 --to 2025-01-01 \
        --reason seed --case-number 1 --rights view,export,pii.view | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  "$bin" --data "$t/d" request approve --as boss --expires "$(date -u -d '+30 days' +%F)" "$req" >/dev/null
  "$bin" --data "$t/d" export --as lisa --evidence --conversation "$conv" --out corpus/evidence/package.zip >/dev/null
  rec=$("$bin" --data "$t/d" --json backup keygen --out "$t/k" | python3 -c 'import json,sys; print(json.load(sys.stdin)["recipient"])')
  "$bin" --data "$t/d" backup --to "$t/b" --recipient "$rec" >/dev/null
  cp "$t"/b/manifests/* corpus/manifest/ 2>/dev/null || true
  rm -rf "$t"
else
  echo "no chatvault binary at $bin: the proof, manifest and evidence corpora start empty" >&2
fi
