#!/usr/bin/env bash
# Builds every libFuzzer target with clang, ASan and UBSan, and runs each for a
# bounded time (FUZZ_SECONDS, default 60) from its seed corpus. Exits non-zero on
# any finding; the crashing input is left in $FUZZ_OUT (default: a temp dir).
# Prints "fuzz: <target> <execs> execs, <exec/s> exec/s, cov <n>" per target.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
out=${FUZZ_OUT:-$(mktemp -d)}
mkdir -p "$out"

targets=$(bazel query 'attr(name, "_fuzzer$", kind(cc_binary, //fuzz:*))' 2>/dev/null)
if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi
bazel build --config=fuzz $targets || exit 1

status=0
for target in $targets; do
  name=${target##*:}
  binary="bazel-bin/fuzz/$name"
  corpus="fuzz/corpus/${name%_fuzzer}"
  work="$out/$name"
  mkdir -p "$work/corpus"
  log="$work/log"
  (cd "$work" && "$OLDPWD/$binary" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 corpus "$OLDPWD/$corpus") >"$log" 2>&1
  rc=$?
  execs=$(grep -oP 'stat::number_of_executed_units: \K[0-9]+' "$log")
  rate=$(grep -oP 'stat::average_exec_per_sec: *\K[0-9]+' "$log")
  cov=$(grep -oP 'cov: \K[0-9]+' "$log" | tail -1)
  echo "fuzz: $name ${execs:-0} execs, ${rate:-0} exec/s, cov ${cov:-0}"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $name FOUND A PROBLEM (exit $rc); input and log in $work" >&2
    grep -E 'ERROR|SUMMARY|what\(\)|runtime error' "$log" | head -5 >&2
    status=1
  fi
done
exit $status
