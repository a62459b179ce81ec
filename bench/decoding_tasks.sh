#!/usr/bin/env bash
# The task files of docs/results/decoding.md: one-digit additions from keytok's `add` family,
# judged by the last number of the output (match = number) instead of the whole output (the chat
# model wraps its sum in words). Dev set: seed 1 (used to pick defaults); test set: seed 2.
#   bench/decoding_tasks.sh KEYTOK_BINARY OUT_DIR
set -euo pipefail
keytok=$1
out=$2
mkdir -p "$out"
for split in dev:1:12 test:2:48; do
  IFS=: read -r name seed per <<<"$split"
  "$keytok" tasks -f add -l 1 --per "$per" --seed "$seed" -o "$out/raw_$name.jsonl" >/dev/null
  sed -e 's/"match":"exact"/"match":"number"/' -e 's/,"reference":"[^"]*"//' \
    "$out/raw_$name.jsonl" >"$out/add1_$name.jsonl"
  rm "$out/raw_$name.jsonl"
done
