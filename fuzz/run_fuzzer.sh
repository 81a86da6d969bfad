#!/usr/bin/env bash
# run_fuzzer.sh FUZZER SECONDS SEED_DIR...: a bounded libFuzzer run on a fresh
# copy of the seed corpora (the seeds stay untouched). Fails on any crash,
# leak, timeout or property violation the fuzzer finds.
set -euo pipefail
fuzzer=$1
seconds=$2
shift 2
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
for dir in "$@"; do
  [ -d "$dir" ] && cp -r "$dir"/. "$corpus"/
done
artifacts=${FEDEXEC_FUZZ_ARTIFACTS:-$corpus/}
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
  -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" 2>&1 | tail -25
exit "${PIPESTATUS[0]}"
