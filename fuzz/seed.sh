#!/usr/bin/env bash
# Seeds each target's corpus with the fixtures of its format.
set -euo pipefail
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
cp_to csv
cp_to jsonl
