#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each one for a
# bounded time on a scratch copy of its corpus in fuzz/corpus/<name>/. A crash
# fails the script and leaves the reproducer in build/fuzz/artifacts/.
# Usage: scripts/fuzz.sh [seconds-per-target]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-30}
bash scripts/build.sh fuzz
mkdir -p build/fuzz/artifacts
for target in build/fuzz/*_fuzz; do
  name=$(basename "$target" _fuzz)
  work="build/fuzz/corpus-$name"
  rm -rf "$work" && mkdir -p "$work"
  [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/"
  echo "fuzz: $name for ${seconds}s"
  log="build/fuzz/$name.log"
  rc=0
  "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=build/fuzz/artifacts/ "$work" >"$log" 2>&1 || rc=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)" "$log" || true
  if [ $rc -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz: $name failed; reproducer in build/fuzz/artifacts/"
    exit 1
  fi
done
